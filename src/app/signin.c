/*
 * signin.c - staff sign-in for the web console: local accounts (argon2id
 * password plus a sign-in TOTP factor of their own), per-login lockout
 * and per-address throttling, sessions (random token, only its SHA-256
 * stored; a CSRF token each; idle and absolute expiry), sign-in through
 * an OpenID provider, re-authentication and sign-out. Every failure (its
 * reason in the event only), lockout, sign-in, sign-out, expiry and
 * re-authentication is an audit event in the app's log.
 *
 * Owns: the rules above and the order of each flow. The password hash is
 * checked outside the app mutex (argon2id takes tens of milliseconds);
 * everything that counts (lock, throttle, TOTP replay step, the session
 * row and the events) is decided again inside one app_tx, so concurrent
 * attempts cannot slip past a lock or reuse a code.
 *
 * Password hashing: argon2id, t=2, m=19 MiB (19456 KiB), p=1, 16-byte
 * salt, 32-byte hash: OWASP's minimum recommended argon2id setting, about
 * 40 ms on one core here, cheap enough for the sanitizer builds' tests.
 * The parameters travel in the encoded hash, so they can be raised later
 * without breaking stored ones.
 */
#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app_int.h"
#include "app/signin.h"
#include "core/b64.h"
#include "store/store_signin.h"
#include "verify/otp.h"

#define PW_T_COST 2
#define PW_M_COST 19456          /* KiB: 19 MiB */
#define PW_PARALLEL 1
#define PW_SALT_LEN 16
#define PW_HASH_LEN 32
#define PW_MIN 12                /* shortest password accepted */
#define PW_MAX 128               /* longest, in bytes */
#define PW_GEN_GROUPS 4          /* generated: 4 groups of 5, '-' between */

#define LOGIN_MAX_FAILURES 5     /* in a row, then locked */
#define LOGIN_LOCK_SECONDS (15 * 60)
#define ADDR_WINDOW (10 * 60)
#define ADDR_MAX_FAILURES 20     /* more in the window: throttled */

#define IDLE_DEFAULT (30 * 60)
#define MAX_DEFAULT (12 * 60 * 60)
#define TOUCH_SECONDS 60         /* last_seen written at most this often */
#define SESSION_KEEP (30 * 24 * 60 * 60) /* rows kept for the record */
#define RAW_TOKEN 32             /* bytes of a session or CSRF token */
#define TOKEN_LEN 43             /* its base64url length, no padding */
#define CODE_MAX 10

#define GENERIC_UNAUTH "the login, password or code is not right; check " \
	"them and try again (after 5 failures in a row the account is " \
	"locked for 15 minutes)"

/* ---- small helpers -------------------------------------------------------- */

static void
err_clear(tk_app_err *err)
{
	memset(err, 0, sizeof(*err));
}

/* RAW_TOKEN random bytes as base64url without padding (TOKEN_LEN chars). */
static int
token_random(char *out, size_t size)
{
	unsigned char raw[RAW_TOKEN];
	char b64[TK_B64_LEN(RAW_TOKEN) + 1];
	size_t i;

	if (size < TOKEN_LEN + 1 || RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	tk_b64_encode(raw, sizeof(raw), b64);
	for (i = 0; i < TOKEN_LEN; i++)
		out[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
	out[i] = '\0';
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(b64, sizeof(b64));
	return 0;
}

/* SHA-256 of a presented session token; -1 when it cannot be one. */
static int
token_hash(const char *tok, unsigned char hash[32])
{
	size_t n = tok != NULL ? strnlen(tok, TOKEN_LEN + 1) : 0;

	if (n != TOKEN_LEN || strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"
	    "ghijklmnopqrstuvwxyz0123456789-_") != n)
		return -1;
	return EVP_Digest(tok, n, hash, NULL, EVP_sha256(), NULL) == 1 ?
	    0 : -1;
}

/* The session's name in events: the first 8 bytes of its hash in hex
 * (the token itself never leaves the browser and this file). */
static void
session_id(const unsigned char hash[32], char out[17])
{
	tk_hex_encode(hash, 8, out);
}

/* login as the events may carry it: printable ASCII only, bounded. */
static void
login_label(const char *in, char *out, size_t size)
{
	size_t i;

	if (in == NULL || in[0] == '\0') {
		(void)tk_strlcpy(out, "(none)", size);
		return;
	}
	for (i = 0; in[i] != '\0' && i + 1 < size; i++)
		out[i] = in[i] >= 0x20 && in[i] < 0x7f ? in[i] : '?';
	out[i] = '\0';
}

static const char *
remote_of(const char *remote)
{
	return remote != NULL ? remote : "";
}

/* True when login is staff in the org in force (takes the app mutex:
 * never call inside app_tx's fn). */
static bool
is_staff(tk_app *a, const char *login)
{
	tk_app_err e;
	json_t *me = NULL;
	bool ok;

	if (login == NULL || login[0] == '\0' ||
	    strnlen(login, TK_ID_MAX) >= TK_ID_MAX)
		return false;
	ok = tk_app_me(a, login, &me, &e) == TK_OK;
	json_decref(me);
	return ok;
}

/* The store error of a step inside app_tx, kept as the answer. */
static int
store_failed(tk_error *err, const tk_error *e)
{
	(void)tk_fail(err, TK_ERR_INTERNAL, "%s", e->msg);
	return -1;
}

/* ---- password hashing ----------------------------------------------------- */

static void
pw_params(uint32_t *t, uint32_t *m)
{
	*t = PW_T_COST;
	*m = PW_M_COST;
#ifdef TK_TEST_HOOKS
	/* Test builds only: cheap hashes, so hundreds of sign-ins under
	 * valgrind stay quick. Release builds ignore it. */
	const char *fast = getenv("TWOKEY_TEST_FAST_HASH");

	if (fast != NULL && fast[0] == '1') {
		*t = 1;
		*m = 64;
	}
#endif
}

static int
pw_hash(const char *pw, char *out, size_t size, tk_error *err)
{
	unsigned char salt[PW_SALT_LEN];
	uint32_t t, m;
	int rc;

	pw_params(&t, &m);
	if (argon2_encodedlen(t, m, PW_PARALLEL, PW_SALT_LEN, PW_HASH_LEN,
	    Argon2_id) > size) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "password hash buffer too "
		    "small");
		return -1;
	}
	if (RAND_bytes(salt, sizeof(salt)) != 1) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "the system random "
		    "generator failed");
		return -1;
	}
	rc = argon2id_hash_encoded(t, m, PW_PARALLEL, pw, strlen(pw), salt,
	    sizeof(salt), PW_HASH_LEN, out, size);
	OPENSSL_cleanse(salt, sizeof(salt));
	if (rc != ARGON2_OK) {
		OPENSSL_cleanse(out, size);
		(void)tk_fail(err, TK_ERR_INTERNAL, "cannot hash the password: "
		    "%s", argon2_error_message(rc));
		return -1;
	}
	return 0;
}

/* A hash of a random password that nobody knows, checked for logins
 * without one, so an unknown login costs as much time as a known one. */
static char dummy_hash[TK_PWHASH_MAX];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void
dummy_init(void)
{
	char pw[TOKEN_LEN + 1];
	tk_error e;

	if (token_random(pw, sizeof(pw)) != 0 ||
	    pw_hash(pw, dummy_hash, sizeof(dummy_hash), &e) != 0)
		dummy_hash[0] = '\0';
	OPENSSL_cleanse(pw, sizeof(pw));
}

/* True when pw matches encoded (an argon2id hash). */
static bool
pw_verify(const char *encoded, const char *pw)
{
	if (encoded == NULL || strncmp(encoded, "$argon2id$", 10) != 0) {
		(void)pthread_once(&dummy_once, dummy_init);
		if (dummy_hash[0] != '\0')
			(void)argon2id_verify(dummy_hash, pw, strlen(pw));
		return false;
	}
	return argon2id_verify(encoded, pw, strlen(pw)) == ARGON2_OK;
}

/* A password a person can type: PW_GEN_GROUPS groups of five characters
 * from an alphabet without look-alikes (56 symbols: about 116 bits). */
static int
pw_generate(char *out, size_t size)
{
	static const char alpha[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLM"
	    "NPQRSTUVWXYZ23456789";
	const size_t na = sizeof(alpha) - 1;
	unsigned char r;
	size_t o = 0;

	if (size < PW_GEN_GROUPS * 6)
		return -1;
	for (int g = 0; g < PW_GEN_GROUPS; g++) {
		if (g > 0)
			out[o++] = '-';
		for (int i = 0; i < 5; ) {
			if (RAND_bytes(&r, 1) != 1)
				return -1;
			if (r >= 256 - 256 % na)
				continue; /* no modulo bias */
			out[o++] = alpha[r % na];
			i++;
		}
	}
	out[o] = '\0';
	r = 0;
	return 0;
}

/* ---- TOTP ----------------------------------------------------------------- */

static void
factor_aad(const char *login, char *aad, size_t size)
{
	(void)snprintf(aad, size, "signin:%s", login);
}

/* Checks code against login's sign-in factor. *step gets the matching
 * step, or -1 for a wrong or replayed code. -1 with err on a store or
 * seal failure; *none is set when login has no factor. */
static int
code_check(tk_app *a, tk_time now, const char *login, const char *code,
    int64_t *step, bool *none, tk_error *err)
{
	struct app_fx *fx = app_fx(a);
	unsigned char seed[TK_OTP_KEY_MAX];
	char aad[TK_ID_MAX + 16];
	tk_signin_factor_row f;
	size_t seedlen;
	tk_error e;

	*step = -1;
	*none = false;
	if (tk_store_signin_factor_get(app_store(a), login, &f, &e) != 0) {
		if (e.status != TK_ERR_NOT_FOUND)
			return store_failed(err, &e);
		*none = true;
		return 0;
	}
	if (!fx->have_seal) {
		*none = true;
		return 0;
	}
	factor_aad(login, aad, sizeof(aad));
	if (tk_unseal(fx->seal_key, aad, f.sealed, f.sealed_len, seed,
	    sizeof(seed), &seedlen, &e) != 0) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "the sign-in factor of %s "
		    "cannot be decrypted with this seal key (%s)", login,
		    e.msg);
		return -1;
	}
	*step = tk_totp_match(seed, seedlen, (enum tk_otp_alg)f.alg, f.digits,
	    f.period, now, code != NULL ? code : "", 1, f.last_step);
	OPENSSL_cleanse(seed, sizeof(seed));
	if (*step >= 0 && tk_store_signin_factor_step(app_store(a), login,
	    *step, &e) != 0)
		return store_failed(err, &e);
	return 0;
}

/* ---- accounts ------------------------------------------------------------- */

struct pw_job {
	const char *actor, *login;
	const char *hash;
	int ended;
};

static int
pw_tx(tk_app *a, tk_time now, void *arg, tk_error *err)
{
	struct pw_job *j = arg;
	tk_store *s = app_store(a);
	tk_error e;

	if (tk_store_account_password(s, j->login, j->hash, now, &e) != 0 ||
	    tk_store_session_end_login(s, j->login, now, &j->ended, &e) != 0)
		return store_failed(err, &e);
	return app_event(a, now, "", "account.password_set", j->actor, false,
	    json_pack("{s:s, s:s, s:i}", "detail", "a new console password "
	    "was set; the login's console sessions ended", "login", j->login,
	    "sessions_ended", j->ended), err);
}

enum tk_status
tk_app_account_password(tk_app *a, const char *actor, const char *login,
    const char *password, char *gen_out, size_t gen_size, tk_app_err *err)
{
	char gen[PW_GEN_GROUPS * 6], hash[TK_PWHASH_MAX];
	struct pw_job j;
	const char *pw = password;
	size_t n;
	enum tk_status st = TK_OK;

	err_clear(err);
	if (!is_staff(a, login))
		return tk_fail(&err->e, TK_ERR_NOT_FOUND, "'%s' is not staff in "
		    "the org; only staff members sign in to the console",
		    login != NULL ? login : "");
	if (pw == NULL) {
		if (gen_out == NULL || gen_size < 32)
			return tk_fail(&err->e, TK_ERR_INTERNAL, "password "
			    "buffer too small");
		if (pw_generate(gen, sizeof(gen)) != 0)
			return tk_fail(&err->e, TK_ERR_INTERNAL, "the system "
			    "random generator failed");
		pw = gen;
	}
	n = strnlen(pw, PW_MAX + 1);
	if (n < PW_MIN || n > PW_MAX) {
		st = tk_fail(&err->e, TK_ERR_INVALID, "a console password must "
		    "be %d to %d characters long; choose a longer passphrase "
		    "(or let twokey generate one)", PW_MIN, PW_MAX);
		goto out;
	}
	if (pw_hash(pw, hash, sizeof(hash), &err->e) != 0) {
		st = err->e.status;
		goto out;
	}
	j.actor = actor != NULL ? actor : "operator";
	j.login = login;
	j.hash = hash;
	j.ended = 0;
	if (app_tx(a, pw_tx, &j, &err->e) != 0) {
		st = err->e.status != TK_OK ? err->e.status : TK_ERR_INTERNAL;
		goto out;
	}
	if (password == NULL && tk_strlcpy(gen_out, gen, gen_size) != 0)
		st = tk_fail(&err->e, TK_ERR_INTERNAL, "password buffer too "
		    "small");
out:
	OPENSSL_cleanse(gen, sizeof(gen));
	OPENSSL_cleanse(hash, sizeof(hash));
	return st;
}

struct totp_job {
	const char *actor;
	tk_signin_factor_row f;
};

static int
totp_tx(tk_app *a, tk_time now, void *arg, tk_error *err)
{
	struct totp_job *j = arg;
	tk_error e;

	j->f.created = now;
	if (tk_store_signin_factor_put(app_store(a), &j->f, &e) != 0 ||
	    tk_store_account_ensure(app_store(a), j->f.login, now, &e) != 0)
		return store_failed(err, &e);
	return app_event(a, now, "", "account.totp_enrolled", j->actor, false,
	    json_pack("{s:s, s:s}", "detail", "a new sign-in TOTP factor was "
	    "enrolled for the console; any earlier one no longer works",
	    "login", j->f.login), err);
}

enum tk_status
tk_app_account_totp(tk_app *a, const char *actor, const char *login,
    char *uri_out, size_t uri_size, tk_app_err *err)
{
	struct app_fx *fx = app_fx(a);
	unsigned char seed[20];
	char aad[TK_ID_MAX + 16];
	struct totp_job j;

	err_clear(err);
	if (!fx->have_seal)
		return tk_fail(&err->e, TK_ERR_INTERNAL, "no seal key loaded; "
		    "sign-in factor seeds are encrypted with DB.seal-key, "
		    "which `twokey init` creates");
	if (!is_staff(a, login))
		return tk_fail(&err->e, TK_ERR_NOT_FOUND, "'%s' is not staff in "
		    "the org; only staff members sign in to the console",
		    login != NULL ? login : "");
	memset(&j, 0, sizeof(j));
	j.actor = actor != NULL ? actor : "operator";
	(void)tk_strlcpy(j.f.login, login, sizeof(j.f.login));
	j.f.alg = TK_OTP_SHA1;
	j.f.digits = 6;
	j.f.period = 30;
	j.f.last_step = -1;
	factor_aad(login, aad, sizeof(aad));
	if (RAND_bytes(seed, sizeof(seed)) != 1 ||
	    tk_seal(fx->seal_key, aad, seed, sizeof(seed), j.f.sealed,
	    sizeof(j.f.sealed), &j.f.sealed_len, &err->e) != 0 ||
	    tk_otpauth_uri("twokey console", login, seed, sizeof(seed),
	    TK_OTP_SHA1, j.f.digits, j.f.period, uri_out, uri_size) != 0) {
		OPENSSL_cleanse(seed, sizeof(seed));
		if (err->e.status == TK_OK)
			(void)tk_fail(&err->e, TK_ERR_INTERNAL, "cannot create "
			    "the factor (randomness or URI space)");
		return err->e.status;
	}
	OPENSSL_cleanse(seed, sizeof(seed));
	if (app_tx(a, totp_tx, &j, &err->e) != 0) {
		OPENSSL_cleanse(uri_out, uri_size);
		return err->e.status != TK_OK ? err->e.status : TK_ERR_INTERNAL;
	}
	return TK_OK;
}

/* ---- sessions ------------------------------------------------------------- */

/* Creates a session for login inside a transaction and appends the
 * `signin` event; the token goes to tok. */
static int
session_new(tk_app *a, tk_time now, const char *login, const char *remote,
    bool sso, tk_time auth_time, char *tok, size_t tok_size, tk_error *err)
{
	tk_session_row r;
	char sid[17];
	tk_error e;
	int rc;

	memset(&r, 0, sizeof(r));
	if (tok_size < TOKEN_LEN + 1 || token_random(tok, tok_size) != 0 ||
	    token_random(r.csrf, sizeof(r.csrf)) != 0 ||
	    token_hash(tok, r.hash) != 0) {
		OPENSSL_cleanse(tok, tok_size);
		return tk_fail(err, TK_ERR_INTERNAL, "cannot create a session "
		    "token (randomness)") == TK_OK ? 0 : -1;
	}
	(void)tk_strlcpy(r.login, login, sizeof(r.login));
	(void)tk_strlcpy(r.remote, remote_of(remote), sizeof(r.remote));
	r.created = r.last_seen = now;
	r.sso = sso;
	session_id(r.hash, sid);
	rc = tk_store_session_put(app_store(a), &r, &e) != 0 ||
	    tk_store_session_prune(app_store(a), now - SESSION_KEEP, &e) != 0 ?
	    store_failed(err, &e) : 0;
	OPENSSL_cleanse(&r, sizeof(r));
	if (rc != 0) {
		OPENSSL_cleanse(tok, tok_size);
		return -1;
	}
	if (app_event(a, now, "", "signin", login, false, sso ?
	    json_pack("{s:s, s:s, s:s, s:s, s:I}", "detail", "signed in to "
	    "the console through the OpenID provider", "method", "sso",
	    "remote", remote_of(remote), "session", sid, "auth_time",
	    (json_int_t)auth_time) :
	    json_pack("{s:s, s:s, s:s, s:s}", "detail", "signed in to the "
	    "console with password and TOTP code", "method", "local",
	    "remote", remote_of(remote), "session", sid), err) != 0) {
		OPENSSL_cleanse(tok, tok_size);
		return -1;
	}
	return 0;
}

/* ---- local sign-in ------------------------------------------------------- */

struct si_job {
	const tk_signin_req *r;
	bool staff;              /* login is staff in the org */
	char label[TK_ID_MAX];   /* login as the events name it */
	/* read before the password check */
	bool throttled, locked;
	tk_account_row acct;     /* acct.login "" when none */
	/* after the password check */
	bool pw_ok;
	/* the answer */
	enum tk_status st;
	tk_time until;           /* lock or throttle end */
	char *tok;
	size_t tok_size;
};

/* Throttle state of remote at now: *until is when it ends, 0 if none. */
static int
throttle_until(tk_app *a, tk_time now, const char *remote, tk_time *until,
    tk_error *err)
{
	tk_time nth;
	tk_error e;
	int n;

	*until = 0;
	if (tk_store_signin_failures(app_store(a), remote_of(remote),
	    now - ADDR_WINDOW + 1, ADDR_MAX_FAILURES - 1, &n, &nth, &e) != 0)
		return store_failed(err, &e);
	/* ADDR_MAX_FAILURES in the window: the next attempt would be one
	 * more; it waits until the oldest of those leaves the window. */
	if (n >= ADDR_MAX_FAILURES)
		*until = nth + ADDR_WINDOW;
	return 0;
}

static int
si_read(tk_app *a, tk_time now, void *arg, tk_error *err)
{
	struct si_job *j = arg;
	tk_error e;

	if (throttle_until(a, now, j->r->remote, &j->until, err) != 0)
		return -1;
	if (j->until != 0) {
		j->throttled = true;
		return 0;
	}
	if (!j->staff)
		return 0;
	if (tk_store_account_get(app_store(a), j->r->login, &j->acct,
	    &e) != 0) {
		if (e.status != TK_ERR_NOT_FOUND)
			return store_failed(err, &e);
		j->acct.login[0] = '\0';
		return 0;
	}
	if (j->acct.locked_until > now) {
		j->locked = true;
		j->until = j->acct.locked_until;
	}
	return 0;
}

/* One failed attempt: the event, the address's count and, for a known
 * account, its consecutive failures (locking it at the fifth). */
static int
si_failure(tk_app *a, tk_time now, struct si_job *j, const char *reason,
    const tk_account_row *acct, tk_error *err)
{
	const char *remote = remote_of(j->r->remote);
	tk_store *s = app_store(a);
	char when[32];
	tk_error e;

	if (tk_store_signin_failure_add(s, remote, now, &e) != 0 ||
	    tk_store_signin_failure_prune(s, now - 2 * ADDR_WINDOW, &e) != 0)
		return store_failed(err, &e);
	if (app_event(a, now, "", "signin.failed", j->staff ? j->label :
	    "anonymous", false, json_pack("{s:s, s:s, s:s, s:s}", "detail",
	    "a console sign-in was refused", "login", j->label, "remote",
	    remote, "reason", reason), err) != 0)
		return -1;
	j->st = TK_ERR_UNAUTH;
	if (acct == NULL || acct->login[0] == '\0' ||
	    strcmp(reason, "locked") == 0)
		return 0;
	if (acct->failures + 1 < LOGIN_MAX_FAILURES) {
		if (tk_store_account_update(s, acct->login, acct->failures + 1,
		    0, &e) != 0)
			return store_failed(err, &e);
		return 0;
	}
	j->until = now + LOGIN_LOCK_SECONDS;
	j->st = TK_ERR_TOO_MANY;
	tk_time_format(j->until, when, sizeof(when));
	if (tk_store_account_update(s, acct->login, 0, j->until, &e) != 0)
		return store_failed(err, &e);
	return app_event(a, now, "", "signin.locked", acct->login, true,
	    json_pack("{s:s, s:s, s:s, s:s}", "detail", "five failed console "
	    "sign-ins in a row: the account is locked for 15 minutes; "
	    "someone may be guessing its password", "login", acct->login,
	    "remote", remote, "until", when), err);
}

static int
si_decide(tk_app *a, tk_time now, void *arg, tk_error *err)
{
	struct si_job *j = arg;
	const char *remote = remote_of(j->r->remote);
	tk_account_row acct;
	int64_t step;
	bool none;
	tk_error e;

	/* Decide again under the mutex: another attempt may have locked or
	 * throttled in between, or the password changed. */
	if (throttle_until(a, now, remote, &j->until, err) != 0)
		return -1;
	if (j->until != 0) {
		j->st = TK_ERR_TOO_MANY;
		j->throttled = true;
		return app_event(a, now, "", "signin.failed", j->staff ?
		    j->label : "anonymous", false, json_pack("{s:s, s:s, s:s,"
		    " s:s}", "detail", "a console sign-in was refused: too "
		    "many failures from this address", "login", j->label,
		    "remote", remote, "reason", "throttled"), err);
	}
	memset(&acct, 0, sizeof(acct));
	if (j->staff && tk_store_account_get(app_store(a), j->r->login, &acct,
	    &e) != 0) {
		if (e.status != TK_ERR_NOT_FOUND)
			return store_failed(err, &e);
		acct.login[0] = '\0';
	}
	if (!j->staff || acct.login[0] == '\0')
		return si_failure(a, now, j, "unknown_login", NULL, err);
	if (acct.locked_until > now) {
		j->until = acct.locked_until;
		if (si_failure(a, now, j, "locked", &acct, err) != 0)
			return -1;
		j->st = TK_ERR_TOO_MANY;
		return 0;
	}
	if (!j->pw_ok || strcmp(acct.pwhash, j->acct.pwhash) != 0)
		return si_failure(a, now, j, acct.pwhash[0] == '\0' ?
		    "no_password" : "bad_password", &acct, err);
	if (code_check(a, now, acct.login, j->r->code, &step, &none,
	    err) != 0)
		return -1;
	if (none)
		return si_failure(a, now, j, "no_totp_factor", &acct, err);
	if (step < 0)
		return si_failure(a, now, j, "bad_code", &acct, err);
	if (acct.failures != 0 && tk_store_account_update(app_store(a),
	    acct.login, 0, 0, &e) != 0)
		return store_failed(err, &e);
	if (session_new(a, now, acct.login, remote, false, 0, j->tok,
	    j->tok_size, err) != 0)
		return -1;
	j->st = TK_OK;
	return 0;
}

enum tk_status
tk_app_signin_local(tk_app *a, const tk_signin_req *r, char *tok,
    size_t tok_size, tk_app_err *err)
{
	struct si_job j;
	const char *pw = r->password != NULL ? r->password : "";
	char when[32];

	err_clear(err);
	memset(&j, 0, sizeof(j));
	j.r = r;
	j.tok = tok;
	j.tok_size = tok_size;
	j.st = TK_ERR_UNAUTH;
	login_label(r->login, j.label, sizeof(j.label));
	j.staff = is_staff(a, r->login);
	if (tok_size < TK_SESSION_TOKEN_MAX)
		return tk_fail(&err->e, TK_ERR_INTERNAL, "session token buffer "
		    "too small");
	if (app_read(a, si_read, &j, &err->e) != 0)
		return err->e.status != TK_OK ? err->e.status : TK_ERR_INTERNAL;
	/* The password is checked only when it could count, and outside the
	 * mutex; an unknown login costs the same time as a known one. */
	if (!j.throttled && !j.locked)
		j.pw_ok = strnlen(pw, PW_MAX + 1) <= PW_MAX &&
		    pw_verify(j.acct.login[0] != '\0' ? j.acct.pwhash : NULL,
		    pw) && j.acct.login[0] != '\0';
	if (app_tx(a, si_decide, &j, &err->e) != 0) {
		OPENSSL_cleanse(&j.acct, sizeof(j.acct));
		return err->e.status != TK_OK ? err->e.status : TK_ERR_INTERNAL;
	}
	OPENSSL_cleanse(&j.acct, sizeof(j.acct));
	if (j.st == TK_OK)
		return TK_OK;
	if (j.st == TK_ERR_TOO_MANY) {
		tk_time_format(j.until, when, sizeof(when));
		return tk_fail(&err->e, TK_ERR_TOO_MANY, j.throttled ?
		    "too many failed sign-ins from your address; try again "
		    "after %s (UTC)" : "too many failed sign-ins for this "
		    "account: it is locked until %s (UTC); try again then or "
		    "ask an administrator", when);
	}
	return tk_fail(&err->e, TK_ERR_UNAUTH, GENERIC_UNAUTH);
}

/* ---- sign-in through an OpenID provider ---------------------------------- */

struct sso_job {
	const char *login, *remote;
	tk_time auth_time;
	char *tok;
	size_t tok_size;
};

static int
sso_tx(tk_app *a, tk_time now, void *arg, tk_error *err)
{
	struct sso_job *j = arg;

	return session_new(a, now, j->login, j->remote, true, j->auth_time,
	    j->tok, j->tok_size, err);
}

struct note_job {
	const char *kind, *actor;
	bool alert;
	json_t *data;
};

static int
note_tx(tk_app *a, tk_time now, void *arg, tk_error *err)
{
	struct note_job *j = arg;
	json_t *d = j->data;

	j->data = NULL; /* stolen by app_event */
	return app_event(a, now, "", j->kind, j->actor, j->alert, d, err);
}

/* Appends one event outside any other work. data is stolen. */
static enum tk_status
note(tk_app *a, const char *kind, const char *actor, bool alert,
    json_t *data, tk_app_err *err)
{
	struct note_job j = {kind, actor, alert, data};

	if (data == NULL)
		return tk_fail(&err->e, TK_ERR_INTERNAL, "out of memory");
	if (app_tx(a, note_tx, &j, &err->e) != 0) {
		json_decref(j.data);
		return err->e.status != TK_OK ? err->e.status : TK_ERR_INTERNAL;
	}
	return TK_OK;
}

enum tk_status
tk_app_signin_sso(tk_app *a, const char *login, const char *remote,
    tk_time auth_time, char *tok, size_t tok_size, tk_app_err *err)
{
	struct sso_job j = {login, remote, auth_time, tok, tok_size};
	char label[TK_ID_MAX];

	err_clear(err);
	if (tok_size < TK_SESSION_TOKEN_MAX)
		return tk_fail(&err->e, TK_ERR_INTERNAL, "session token buffer "
		    "too small");
	if (!is_staff(a, login)) {
		login_label(login, label, sizeof(label));
		if (note(a, "signin.failed", "anonymous", false, json_pack(
		    "{s:s, s:s, s:s, s:s}", "detail", "a console sign-in "
		    "through the OpenID provider was refused", "login", label,
		    "remote", remote_of(remote), "reason", "sso_not_staff"),
		    err) != TK_OK)
			return err->e.status;
		return tk_fail(&err->e, TK_ERR_UNAUTH, "the identity provider "
		    "signed you in as '%s', who is not staff in twokey; ask "
		    "an administrator", label);
	}
	if (app_tx(a, sso_tx, &j, &err->e) != 0)
		return err->e.status != TK_OK ? err->e.status : TK_ERR_INTERNAL;
	return TK_OK;
}

enum tk_status
tk_app_signin_sso_failed(tk_app *a, const char *remote, const char *reason,
    tk_app_err *err)
{
	char why[256];

	err_clear(err);
	login_label(reason, why, sizeof(why));
	return note(a, "signin.failed", "anonymous", false, json_pack(
	    "{s:s, s:s, s:s, s:s}", "detail", "a console sign-in through the "
	    "OpenID provider failed", "remote", remote_of(remote), "reason",
	    "sso", "error", why), err);
}

enum tk_status
tk_app_csrf_refused(tk_app *a, const char *login, const char *remote,
    const char *path, tk_app_err *err)
{
	char p[256], l[TK_ID_MAX];

	err_clear(err);
	login_label(path, p, sizeof(p));
	login_label(login, l, sizeof(l));
	return note(a, "console.csrf_refused", login != NULL && login[0] ?
	    l : "anonymous", false, json_pack("{s:s, s:s, s:s}", "detail",
	    "a console form was refused: its CSRF token was missing or "
	    "wrong (expired form, or a request from another site); nothing "
	    "changed", "remote", remote_of(remote), "path", p), err);
}

/* ---- session checks ------------------------------------------------------- */

struct sc_job {
	unsigned char hash[32];
	tk_session_row row;
	bool found;
	tk_time now;
	const char *why;         /* expiry: "idle" | "absolute" */
};

static int
sc_read(tk_app *a, tk_time now, void *arg, tk_error *err)
{
	struct sc_job *j = arg;
	tk_error e;

	j->now = now;
	if (tk_store_session_get(app_store(a), j->hash, &j->row, &e) != 0) {
		if (e.status != TK_ERR_NOT_FOUND)
			return store_failed(err, &e);
		return 0;
	}
	j->found = true;
	return 0;
}

static int
sc_expire(tk_app *a, tk_time now, void *arg, tk_error *err)
{
	struct sc_job *j = arg;
	char sid[17];
	bool ended;
	tk_error e;

	if (tk_store_session_end(app_store(a), j->hash, now, &ended, &e) != 0)
		return store_failed(err, &e);
	if (!ended)
		return 0;
	session_id(j->hash, sid);
	return app_event(a, now, "", "session.expired", j->row.login, false,
	    json_pack("{s:s, s:s, s:s, s:s}", "detail", strcmp(j->why,
	    "idle") == 0 ? "the console session ended after a time without "
	    "use" : "the console session reached its longest allowed "
	    "length", "login", j->row.login, "session", sid, "reason",
	    j->why), err);
}

static int
sc_touch(tk_app *a, tk_time now, void *arg, tk_error *err)
{
	struct sc_job *j = arg;
	tk_error e;

	if (tk_store_session_touch(app_store(a), j->hash, now, &e) != 0)
		return store_failed(err, &e);
	return 0;
}

enum tk_status
tk_app_session_check(tk_app *a, const char *tok, int64_t idle_seconds,
    int64_t max_seconds, tk_session_info *out, tk_app_err *err)
{
	struct sc_job j;
	int64_t idle = idle_seconds > 0 ? idle_seconds : IDLE_DEFAULT;
	int64_t max = max_seconds > 0 ? max_seconds : MAX_DEFAULT;
	enum tk_status st = TK_OK;

	err_clear(err);
	memset(out, 0, sizeof(*out));
	memset(&j, 0, sizeof(j));
	if (token_hash(tok, j.hash) != 0)
		return tk_fail(&err->e, TK_ERR_UNAUTH, "you are not signed in; "
		    "sign in first");
	if (app_read(a, sc_read, &j, &err->e) != 0) {
		st = err->e.status != TK_OK ? err->e.status : TK_ERR_INTERNAL;
		goto out;
	}
	if (!j.found) {
		st = tk_fail(&err->e, TK_ERR_UNAUTH, "you are not signed in; "
		    "sign in first");
		goto out;
	}
	if (j.row.ended != 0) {
		st = tk_fail(&err->e, TK_ERR_UNAUTH, "your session has ended; "
		    "sign in again");
		goto out;
	}
	if (j.now - j.row.created >= max || j.now - j.row.last_seen >= idle) {
		j.why = j.now - j.row.created >= max ? "absolute" : "idle";
		if (app_tx(a, sc_expire, &j, &err->e) != 0) {
			st = err->e.status != TK_OK ? err->e.status :
			    TK_ERR_INTERNAL;
			goto out;
		}
		st = tk_fail(&err->e, TK_ERR_UNAUTH, strcmp(j.why, "idle") ==
		    0 ? "your session expired after %lld minutes without use; "
		    "sign in again" : "your session reached its longest "
		    "allowed length (%lld minutes); sign in again",
		    (long long)((strcmp(j.why, "idle") == 0 ? idle : max) /
		    60));
		goto out;
	}
	if (!is_staff(a, j.row.login)) {
		st = tk_fail(&err->e, TK_ERR_UNAUTH, "'%s' is no longer staff "
		    "in the org", j.row.login);
		goto out;
	}
	if (j.now - j.row.last_seen >= TOUCH_SECONDS &&
	    app_tx(a, sc_touch, &j, &err->e) != 0) {
		st = err->e.status != TK_OK ? err->e.status : TK_ERR_INTERNAL;
		goto out;
	}
	(void)tk_strlcpy(out->login, j.row.login, sizeof(out->login));
	(void)tk_strlcpy(out->csrf, j.row.csrf, sizeof(out->csrf));
	out->created = j.row.created;
	out->last_seen = j.now;
	out->reauth_at = j.row.reauth_at;
	out->sso = j.row.sso;
out:
	OPENSSL_cleanse(&j, sizeof(j));
	return st;
}

/* ---- re-authentication ------------------------------------------------------ */

struct ra_job {
	unsigned char hash[32];
	const char *code, *remote;
	const char *login;       /* sso: the login the provider named */
	tk_time auth_time;       /* sso */
	enum tk_status st;
	tk_time until;
	char msg[160];
};

/* The live session of j->hash into row; j->st set when there is none. */
static int
ra_session(tk_app *a, struct ra_job *j, tk_session_row *row, tk_error *err)
{
	tk_error e;

	if (tk_store_session_get(app_store(a), j->hash, row, &e) != 0) {
		if (e.status != TK_ERR_NOT_FOUND)
			return store_failed(err, &e);
		row->login[0] = '\0';
	}
	if (row->login[0] == '\0' || row->ended != 0) {
		j->st = TK_ERR_UNAUTH;
		(void)tk_strlcpy(j->msg, "you are not signed in; sign in again",
		    sizeof(j->msg));
	}
	return 0;
}

static int
ra_totp(tk_app *a, tk_time now, void *arg, tk_error *err)
{
	struct ra_job *j = arg;
	tk_session_row row;
	tk_account_row acct;
	int64_t step;
	bool none;
	char sid[17], when[32];
	tk_error e;

	j->st = TK_OK;
	if (ra_session(a, j, &row, err) != 0)
		return -1;
	if (j->st != TK_OK)
		return 0;
	session_id(j->hash, sid);
	if (tk_store_account_get(app_store(a), row.login, &acct, &e) != 0) {
		if (e.status != TK_ERR_NOT_FOUND)
			return store_failed(err, &e);
		acct.login[0] = '\0';
	}
	if (acct.login[0] != '\0' && acct.locked_until > now) {
		j->st = TK_ERR_TOO_MANY;
		j->until = acct.locked_until;
		return app_event(a, now, "", "signin.reauth_failed", row.login,
		    false, json_pack("{s:s, s:s, s:s, s:s}", "detail", "a "
		    "re-authentication was refused", "login", row.login,
		    "session", sid, "reason", "locked"), err);
	}
	if (code_check(a, now, row.login, j->code, &step, &none, err) != 0)
		return -1;
	if (step >= 0) {
		if ((acct.login[0] != '\0' && acct.failures != 0 &&
		    tk_store_account_update(app_store(a), row.login, 0, 0,
		    &e) != 0) || tk_store_session_reauth(app_store(a), j->hash,
		    now, &e) != 0)
			return store_failed(err, &e);
		return app_event(a, now, "", "signin.reauth", row.login, false,
		    json_pack("{s:s, s:s, s:s, s:s}", "detail", "re-"
		    "authenticated in the console with a TOTP code", "login",
		    row.login, "session", sid, "method", "totp"), err);
	}
	j->st = TK_ERR_UNAUTH;
	(void)tk_strlcpy(j->msg, none ? "you have no sign-in TOTP factor; "
	    "ask an administrator to enrol one (`twokey account totp`)" :
	    "the code did not match (or was already used); enter the current "
	    "code from your authenticator", sizeof(j->msg));
	if (app_event(a, now, "", "signin.reauth_failed", row.login, false,
	    json_pack("{s:s, s:s, s:s, s:s}", "detail", "a re-authentication "
	    "was refused", "login", row.login, "session", sid, "reason",
	    none ? "no_totp_factor" : "bad_code"), err) != 0)
		return -1;
	if (none || acct.login[0] == '\0')
		return 0;
	/* A wrong code counts towards the account's lockout. */
	if (acct.failures + 1 < LOGIN_MAX_FAILURES) {
		if (tk_store_account_update(app_store(a), row.login,
		    acct.failures + 1, 0, &e) != 0)
			return store_failed(err, &e);
		return 0;
	}
	j->st = TK_ERR_TOO_MANY;
	j->until = now + LOGIN_LOCK_SECONDS;
	tk_time_format(j->until, when, sizeof(when));
	if (tk_store_account_update(app_store(a), row.login, 0, j->until,
	    &e) != 0)
		return store_failed(err, &e);
	return app_event(a, now, "", "signin.locked", row.login, true,
	    json_pack("{s:s, s:s, s:s, s:s}", "detail", "five wrong codes in "
	    "a row: the account is locked for 15 minutes", "login",
	    row.login, "remote", remote_of(j->remote), "until", when), err);
}

static enum tk_status
ra_answer(const struct ra_job *j, tk_app_err *err)
{
	char when[32];

	if (j->st == TK_OK)
		return TK_OK;
	if (j->st == TK_ERR_TOO_MANY) {
		tk_time_format(j->until, when, sizeof(when));
		return tk_fail(&err->e, TK_ERR_TOO_MANY, "too many wrong codes: "
		    "your account is locked until %s (UTC)", when);
	}
	return tk_fail(&err->e, j->st, "%s", j->msg);
}

enum tk_status
tk_app_session_reauth_totp(tk_app *a, const char *tok, const char *code,
    const char *remote, tk_app_err *err)
{
	struct ra_job j;
	enum tk_status st;

	err_clear(err);
	memset(&j, 0, sizeof(j));
	if (token_hash(tok, j.hash) != 0)
		return tk_fail(&err->e, TK_ERR_UNAUTH, "you are not signed in; "
		    "sign in again");
	if (code == NULL || code[0] == '\0' ||
	    strnlen(code, CODE_MAX + 1) > CODE_MAX)
		return tk_fail(&err->e, TK_ERR_INVALID, "enter the 6-digit code "
		    "from your authenticator");
	j.code = code;
	j.remote = remote;
	if (app_tx(a, ra_totp, &j, &err->e) != 0)
		return err->e.status != TK_OK ? err->e.status : TK_ERR_INTERNAL;
	st = ra_answer(&j, err);
	OPENSSL_cleanse(j.hash, sizeof(j.hash));
	return st;
}

static int
ra_sso(tk_app *a, tk_time now, void *arg, tk_error *err)
{
	struct ra_job *j = arg;
	tk_session_row row;
	char sid[17];
	tk_time at = j->auth_time < now ? j->auth_time : now;
	tk_error e;

	j->st = TK_OK;
	if (ra_session(a, j, &row, err) != 0)
		return -1;
	if (j->st != TK_OK)
		return 0;
	session_id(j->hash, sid);
	if (j->login == NULL || strcmp(row.login, j->login) != 0) {
		char label[TK_ID_MAX];

		login_label(j->login, label, sizeof(label));
		j->st = TK_ERR_FORBIDDEN;
		(void)snprintf(j->msg, sizeof(j->msg), "the identity provider "
		    "re-authenticated someone else; sign in as %s there",
		    row.login);
		return app_event(a, now, "", "signin.reauth_failed", row.login,
		    true, json_pack("{s:s, s:s, s:s, s:s, s:s}", "detail", "a "
		    "re-authentication through the OpenID provider named "
		    "another login than the session's", "login", row.login,
		    "provider_login", label, "session", sid, "reason",
		    "other_login"), err);
	}
	if (tk_store_session_reauth(app_store(a), j->hash, at, &e) != 0)
		return store_failed(err, &e);
	return app_event(a, now, "", "signin.reauth", row.login, false,
	    json_pack("{s:s, s:s, s:s, s:s, s:I}", "detail", "re-"
	    "authenticated in the console through the OpenID provider",
	    "login", row.login, "session", sid, "method", "sso", "auth_time",
	    (json_int_t)j->auth_time), err);
}

enum tk_status
tk_app_session_reauth_sso(tk_app *a, const char *tok, const char *login,
    tk_time auth_time, tk_app_err *err)
{
	struct ra_job j;

	err_clear(err);
	memset(&j, 0, sizeof(j));
	if (token_hash(tok, j.hash) != 0)
		return tk_fail(&err->e, TK_ERR_UNAUTH, "you are not signed in; "
		    "sign in again");
	j.login = login;
	j.auth_time = auth_time;
	if (app_tx(a, ra_sso, &j, &err->e) != 0)
		return err->e.status != TK_OK ? err->e.status : TK_ERR_INTERNAL;
	return ra_answer(&j, err);
}

/* ---- sign-out --------------------------------------------------------------- */

static int
so_tx(tk_app *a, tk_time now, void *arg, tk_error *err)
{
	struct sc_job *j = arg;
	char sid[17];
	bool ended;
	tk_error e;

	if (tk_store_session_get(app_store(a), j->hash, &j->row, &e) != 0)
		return e.status == TK_ERR_NOT_FOUND ? 0 : store_failed(err, &e);
	if (tk_store_session_end(app_store(a), j->hash, now, &ended, &e) != 0)
		return store_failed(err, &e);
	if (!ended)
		return 0;
	session_id(j->hash, sid);
	return app_event(a, now, "", "signout", j->row.login, false,
	    json_pack("{s:s, s:s, s:s}", "detail", "signed out of the "
	    "console", "login", j->row.login, "session", sid), err);
}

enum tk_status
tk_app_signout(tk_app *a, const char *tok, tk_app_err *err)
{
	struct sc_job j;
	enum tk_status st = TK_OK;

	err_clear(err);
	memset(&j, 0, sizeof(j));
	if (token_hash(tok, j.hash) != 0)
		return TK_OK;
	if (app_tx(a, so_tx, &j, &err->e) != 0)
		st = err->e.status != TK_OK ? err->e.status : TK_ERR_INTERNAL;
	OPENSSL_cleanse(&j, sizeof(j));
	return st;
}
