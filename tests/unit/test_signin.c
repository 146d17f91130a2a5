/*
 * test_signin.c - unit tests for console sign-in (app/signin.c and
 * store/store_signin.c) against a temporary database made from the demo
 * org, with an injected clock: password and TOTP right and wrong, a
 * replayed code, lockout after five failures and its end, throttling of
 * one address, idle and absolute session expiry, sign-out, a password
 * change ending the login's sessions, re-authentication (TOTP and SSO),
 * SSO sign-in, generated passwords and the real argon2id parameters, and
 * the audit events each of these leaves (the audit chain verifies after
 * every test).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "app/app.h"
#include "app/signin.h"
#include "audit/chain.h"
#include "store/store.h"
#include "store/store_signin.h"
#include "verify/otp.h"
#include "verify/seal.h"

#define T0 ((tk_time)1795000000) /* a fixed "now" (10 s into a TOTP step) */

#include "app_fixture.h"

struct fixture {
	char dir[64];
	char path[128];
	tk_app *app;
	tk_time now;
	unsigned char seed[64]; /* alice's sign-in TOTP seed */
	size_t seedlen;
};

static tk_time
test_clock(void *arg)
{
	return ((struct fixture *)arg)->now;
}

/* alice gets a password and a sign-in factor; the seed is kept so the
 * test can compute codes as her authenticator would. */
static void
enroll_alice(struct fixture *f)
{
	char uri[512], *p, *q;
	tk_app_err err;

	assert_int_equal(tk_app_account_password(f->app, NULL, "alice",
	    "correct horse battery", NULL, 0, &err), TK_OK);
	assert_int_equal(tk_app_account_totp(f->app, NULL, "alice", uri,
	    sizeof(uri), &err), TK_OK);
	assert_non_null(strstr(uri, "otpauth://totp/"));
	p = strstr(uri, "secret=");
	assert_non_null(p);
	p += 7;
	q = strchr(p, '&');
	assert_non_null(q);
	*q = '\0';
	assert_int_equal(tk_base32_decode(p, f->seed, sizeof(f->seed),
	    &f->seedlen), 0);
	assert_int_equal(f->seedlen, 20);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char seal[160];
	tk_error err;

	if (f == NULL)
		return -1;
	(void)setenv("TWOKEY_TEST_FAST_HASH", "1", 1);
	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/tk_signin_XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	(void)snprintf(f->path, sizeof(f->path), "%s/tk.db", f->dir);
	(void)snprintf(seal, sizeof(seal), "%s.seal-key", f->path);
	if (init_db(f->path) != 0 || tk_seal_key_create(seal, &err) != 0)
		return -1;
	f->app = tk_app_open(f->path, &err);
	if (f->app == NULL) {
		fprintf(stderr, "open: %s\n", err.msg);
		return -1;
	}
	if (tk_app_seal_attach(f->app, seal, &err) != 0) {
		fprintf(stderr, "seal: %s\n", err.msg);
		return -1;
	}
	f->now = T0;
	tk_app_set_clock(f->app, test_clock, f);
	enroll_alice(f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	static const char *const sfx[] = {"", "-wal", "-shm", "-journal",
	    ".seal-key"};
	int64_t count = 0, bad = 0;
	char p[160];
	tk_error err;
	tk_store *s;

	tk_app_close(f->app);
	s = tk_store_open(f->path, false, &err);
	assert_non_null(s);
	if (tk_chain_verify(s, &count, &bad, &err) != 0)
		fail_msg("audit rows: %s", err.msg);
	assert_int_equal(bad, 0);
	tk_store_close(s);
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		(void)snprintf(p, sizeof(p), "%s%s", f->path, sfx[i]);
		(void)unlink(p);
	}
	(void)rmdir(f->dir);
	free(f);
	return 0;
}

/* ---- helpers ------------------------------------------------------------ */

/* alice's code for time t. */
static void
code_at(const struct fixture *f, tk_time t, char out[TK_OTP_CODE_MAX])
{
	assert_int_equal(tk_hotp(f->seed, f->seedlen, TK_OTP_SHA1,
	    (uint64_t)(t / 30), 6, out), 0);
}

static enum tk_status
signin(struct fixture *f, const char *login, const char *pw,
    const char *code, const char *remote, char *tok, tk_app_err *err)
{
	tk_signin_req r = {login, pw, code, remote};

	return tk_app_signin_local(f->app, &r, tok, TK_SESSION_TOKEN_MAX, err);
}

/* Signs alice in with the code of the current step (moving the clock to
 * the next step first, so no code is reused). */
static void
signin_ok(struct fixture *f, char *tok)
{
	char code[TK_OTP_CODE_MAX];
	tk_app_err err;
	enum tk_status st;

	f->now += 30;
	code_at(f, f->now, code);
	st = signin(f, "alice", "correct horse battery", code, "127.0.0.1",
	    tok, &err);
	if (st != TK_OK)
		fail_msg("sign-in: %s", err.e.msg);
	assert_int_equal(strlen(tok), 43);
}

/* The events of kind (and, when non-NULL, data.reason), counted. */
static int
events(struct fixture *f, const char *kind, const char *reason)
{
	tk_app_err err;
	json_t *out = NULL, *e;
	size_t i;
	int n = 0;

	assert_int_equal(tk_app_events(f->app, "olivia", 0, 1000, &out,
	    &err), TK_OK);
	json_array_foreach(json_object_get(out, "events"), i, e) {
		const char *k = json_string_value(json_object_get(e, "kind"));
		const char *r = json_string_value(json_object_get(
		    json_object_get(e, "data"), "reason"));

		if (k != NULL && strcmp(k, kind) == 0 && (reason == NULL ||
		    (r != NULL && strcmp(r, reason) == 0)))
			n++;
	}
	json_decref(out);
	return n;
}

/* No event carries the password or a session token. */
static void
assert_no_secret_in_events(struct fixture *f, const char *secret)
{
	tk_app_err err;
	json_t *out = NULL;
	char *text;

	assert_int_equal(tk_app_events(f->app, "olivia", 0, 1000, &out,
	    &err), TK_OK);
	text = json_dumps(out, 0);
	assert_non_null(text);
	assert_null(strstr(text, secret));
	free(text);
	json_decref(out);
}

/* ---- tests -------------------------------------------------------------- */

static void
test_password_and_code(void **state)
{
	struct fixture *f = *state;
	char tok[TK_SESSION_TOKEN_MAX], tok2[TK_SESSION_TOKEN_MAX];
	char code[TK_OTP_CODE_MAX], wrong[TK_OTP_CODE_MAX], msg[512];
	char uri[512];
	tk_session_info si;
	tk_app_err err;

	code_at(f, f->now, code);
	memcpy(wrong, code, sizeof(wrong));
	wrong[5] = code[5] == '9' ? '0' : (char)(code[5] + 1);

	/* wrong password, right code */
	assert_int_equal(signin(f, "alice", "wrong horse battery", code,
	    "127.0.0.1", tok, &err), TK_ERR_UNAUTH);
	(void)tk_strlcpy(msg, err.e.msg, sizeof(msg));
	/* right password, wrong code: the same message */
	assert_int_equal(signin(f, "alice", "correct horse battery", wrong,
	    "127.0.0.1", tok, &err), TK_ERR_UNAUTH);
	assert_string_equal(err.e.msg, msg);
	/* unknown login: the same message */
	assert_int_equal(signin(f, "mallory", "correct horse battery", code,
	    "127.0.0.1", tok, &err), TK_ERR_UNAUTH);
	assert_string_equal(err.e.msg, msg);
	/* staff with a factor but no password (bob): the same */
	assert_int_equal(tk_app_account_totp(f->app, NULL, "bob", uri,
	    sizeof(uri), &err), TK_OK);
	assert_int_equal(signin(f, "bob", "correct horse battery", code,
	    "127.0.0.1", tok, &err), TK_ERR_UNAUTH);
	assert_string_equal(err.e.msg, msg);
	assert_null(strstr(msg, "password is"));
	/* no code at all */
	assert_int_equal(signin(f, "alice", "correct horse battery", NULL,
	    "127.0.0.1", tok, &err), TK_ERR_UNAUTH);

	/* both right */
	assert_int_equal(signin(f, "alice", "correct horse battery", code,
	    "127.0.0.1", tok, &err), TK_OK);
	assert_int_equal(strlen(tok), 43);
	assert_int_equal(tk_app_session_check(f->app, tok, 0, 0, &si, &err),
	    TK_OK);
	assert_string_equal(si.login, "alice");
	assert_int_equal(strlen(si.csrf), 43);
	assert_false(si.sso);
	assert_int_equal(si.reauth_at, 0);
	assert_int_equal(si.created, f->now);

	/* the same code again (replay), even with the right password */
	assert_int_equal(signin(f, "alice", "correct horse battery", code,
	    "127.0.0.1", tok2, &err), TK_ERR_UNAUTH);
	assert_string_equal(err.e.msg, msg);
	/* the next step's code works and gives another session */
	f->now += 30;
	code_at(f, f->now, code);
	assert_int_equal(signin(f, "alice", "correct horse battery", code,
	    "127.0.0.1", tok2, &err), TK_OK);
	assert_string_not_equal(tok, tok2);
	assert_int_equal(tk_app_session_check(f->app, tok2, 0, 0, &si, &err),
	    TK_OK);

	/* made-up tokens */
	assert_int_equal(tk_app_session_check(f->app, "nope", 0, 0, &si,
	    &err), TK_ERR_UNAUTH);
	tok2[0] = tok2[0] == 'A' ? 'B' : 'A';
	assert_int_equal(tk_app_session_check(f->app, tok2, 0, 0, &si, &err),
	    TK_ERR_UNAUTH);

	assert_int_equal(events(f, "signin.failed", "bad_password"), 1);
	assert_int_equal(events(f, "signin.failed", "bad_code"), 3);
	assert_int_equal(events(f, "signin.failed", "unknown_login"), 1);
	assert_int_equal(events(f, "signin.failed", "no_password"), 1);
	assert_int_equal(events(f, "signin", NULL), 2);
	assert_int_equal(events(f, "account.password_set", NULL), 1);
	assert_int_equal(events(f, "account.totp_enrolled", NULL), 2);
	assert_no_secret_in_events(f, "horse");
	assert_no_secret_in_events(f, tok);
}

static void
test_lockout(void **state)
{
	struct fixture *f = *state;
	char tok[TK_SESSION_TOKEN_MAX], code[TK_OTP_CODE_MAX];
	tk_app_err err;

	for (int i = 0; i < 4; i++) {
		f->now += 1;
		assert_int_equal(signin(f, "alice", "not the password",
		    "000000", "10.1.1.1", tok, &err), TK_ERR_UNAUTH);
	}
	/* the fifth in a row locks, and says until when */
	f->now += 1;
	assert_int_equal(signin(f, "alice", "not the password", "000000",
	    "10.1.1.1", tok, &err), TK_ERR_TOO_MANY);
	assert_non_null(strstr(err.e.msg, "locked until"));
	assert_int_equal(events(f, "signin.locked", NULL), 1);
	/* locked: the right password and code are refused too */
	f->now += 30;
	code_at(f, f->now, code);
	assert_int_equal(signin(f, "alice", "correct horse battery", code,
	    "10.1.1.2", tok, &err), TK_ERR_TOO_MANY);
	assert_int_equal(events(f, "signin.failed", "locked"), 1);
	/* 15 minutes after the lock it works again */
	f->now += 15 * 60 - 31;
	code_at(f, f->now, code);
	assert_int_equal(signin(f, "alice", "correct horse battery", code,
	    "10.1.1.2", tok, &err), TK_ERR_TOO_MANY);
	f->now += 30;
	code_at(f, f->now, code);
	assert_int_equal(signin(f, "alice", "correct horse battery", code,
	    "10.1.1.2", tok, &err), TK_OK);
	/* a success clears the count: four failures do not lock */
	for (int i = 0; i < 4; i++)
		assert_int_equal(signin(f, "alice", "not the password",
		    "000000", "10.1.1.3", tok, &err), TK_ERR_UNAUTH);
	signin_ok(f, tok);
	for (int i = 0; i < 4; i++)
		assert_int_equal(signin(f, "alice", "not the password",
		    "000000", "10.1.1.3", tok, &err), TK_ERR_UNAUTH);
	signin_ok(f, tok);
	assert_int_equal(events(f, "signin.locked", NULL), 1);
}

static void
test_throttle(void **state)
{
	struct fixture *f = *state;
	char tok[TK_SESSION_TOKEN_MAX], code[TK_OTP_CODE_MAX], login[16];
	tk_app_err err;

	/* twenty failures from one address (different logins: no lock) */
	for (int i = 0; i < 20; i++) {
		(void)snprintf(login, sizeof(login), "guess%d", i);
		f->now += 10;
		assert_int_equal(signin(f, login, "password1234", "123456",
		    "192.0.2.7", tok, &err), TK_ERR_UNAUTH);
	}
	/* the next attempt from there is throttled, right or wrong */
	f->now += 30;
	code_at(f, f->now, code);
	assert_int_equal(signin(f, "alice", "correct horse battery", code,
	    "192.0.2.7", tok, &err), TK_ERR_TOO_MANY);
	assert_non_null(strstr(err.e.msg, "your address"));
	assert_int_equal(events(f, "signin.failed", "throttled"), 1);
	/* another address is not affected */
	assert_int_equal(signin(f, "alice", "correct horse battery", code,
	    "192.0.2.8", tok, &err), TK_OK);
	/* once the first failure is ten minutes old, one more try is
	 * allowed (it is the window, not a fixed penalty) */
	f->now = T0 + 10 + 600;
	f->now += 30 - f->now % 30; /* a fresh step */
	code_at(f, f->now, code);
	assert_int_equal(signin(f, "alice", "correct horse battery", code,
	    "192.0.2.7", tok, &err), TK_OK);
}

static void
test_idle_and_absolute_expiry(void **state)
{
	struct fixture *f = *state;
	char tok[TK_SESSION_TOKEN_MAX];
	tk_session_info si;
	tk_app_err err;

	/* idle: 10 minutes; absolute: 1 hour */
	signin_ok(f, tok);
	f->now += 9 * 60;
	assert_int_equal(tk_app_session_check(f->app, tok, 600, 3600, &si,
	    &err), TK_OK);
	f->now += 9 * 60; /* 18 min after sign-in, 9 after last use */
	assert_int_equal(tk_app_session_check(f->app, tok, 600, 3600, &si,
	    &err), TK_OK);
	f->now += 10 * 60;
	assert_int_equal(tk_app_session_check(f->app, tok, 600, 3600, &si,
	    &err), TK_ERR_UNAUTH);
	assert_non_null(strstr(err.e.msg, "without use"));
	assert_int_equal(events(f, "session.expired", "idle"), 1);
	/* ended for good, also with a longer idle time */
	assert_int_equal(tk_app_session_check(f->app, tok, 86400, 86400, &si,
	    &err), TK_ERR_UNAUTH);
	assert_int_equal(events(f, "session.expired", NULL), 1);

	/* absolute: used every 5 minutes, still ends after an hour */
	signin_ok(f, tok);
	for (int i = 0; i < 11; i++) {
		f->now += 5 * 60;
		assert_int_equal(tk_app_session_check(f->app, tok, 600, 3600,
		    &si, &err), TK_OK);
	}
	f->now += 5 * 60;
	assert_int_equal(tk_app_session_check(f->app, tok, 600, 3600, &si,
	    &err), TK_ERR_UNAUTH);
	assert_non_null(strstr(err.e.msg, "longest"));
	assert_int_equal(events(f, "session.expired", "absolute"), 1);

	/* the defaults: 30 minutes idle */
	signin_ok(f, tok);
	f->now += 29 * 60;
	assert_int_equal(tk_app_session_check(f->app, tok, 0, 0, &si, &err),
	    TK_OK);
	f->now += 30 * 60;
	assert_int_equal(tk_app_session_check(f->app, tok, 0, 0, &si, &err),
	    TK_ERR_UNAUTH);
}

static void
test_signout(void **state)
{
	struct fixture *f = *state;
	char tok[TK_SESSION_TOKEN_MAX], other[TK_SESSION_TOKEN_MAX];
	tk_session_info si;
	tk_app_err err;

	signin_ok(f, tok);
	signin_ok(f, other);
	assert_int_equal(tk_app_signout(f->app, tok, &err), TK_OK);
	assert_int_equal(tk_app_session_check(f->app, tok, 0, 0, &si, &err),
	    TK_ERR_UNAUTH);
	/* the other session goes on */
	assert_int_equal(tk_app_session_check(f->app, other, 0, 0, &si,
	    &err), TK_OK);
	/* twice, or with junk: not an error, and no second event */
	assert_int_equal(tk_app_signout(f->app, tok, &err), TK_OK);
	assert_int_equal(tk_app_signout(f->app, "junk", &err), TK_OK);
	assert_int_equal(tk_app_signout(f->app, NULL, &err), TK_OK);
	assert_int_equal(events(f, "signout", NULL), 1);
}

static void
test_password_change_ends_sessions(void **state)
{
	struct fixture *f = *state;
	char tok[TK_SESSION_TOKEN_MAX], tok2[TK_SESSION_TOKEN_MAX];
	char gen[32], code[TK_OTP_CODE_MAX];
	tk_session_info si;
	tk_app_err err;

	signin_ok(f, tok);
	signin_ok(f, tok2);
	assert_int_equal(tk_app_account_password(f->app, "olivia", "alice",
	    NULL, gen, sizeof(gen), &err), TK_OK);
	assert_int_equal(strlen(gen), 23);
	assert_int_equal(tk_app_session_check(f->app, tok, 0, 0, &si, &err),
	    TK_ERR_UNAUTH);
	assert_int_equal(tk_app_session_check(f->app, tok2, 0, 0, &si, &err),
	    TK_ERR_UNAUTH);
	/* the old password no longer works, the generated one does */
	f->now += 30;
	code_at(f, f->now, code);
	assert_int_equal(signin(f, "alice", "correct horse battery", code,
	    "127.0.0.1", tok, &err), TK_ERR_UNAUTH);
	assert_int_equal(signin(f, "alice", gen, code, "127.0.0.1", tok,
	    &err), TK_OK);
	assert_no_secret_in_events(f, gen);

	/* refusals: too short, not staff */
	assert_int_equal(tk_app_account_password(f->app, NULL, "alice",
	    "short", NULL, 0, &err), TK_ERR_INVALID);
	assert_int_equal(tk_app_account_password(f->app, NULL, "jsmith",
	    "a long enough password", NULL, 0, &err), TK_ERR_NOT_FOUND);
	assert_int_equal(tk_app_account_totp(f->app, NULL, "mallory", gen,
	    sizeof(gen), &err), TK_ERR_NOT_FOUND);
}

static void
test_reauth(void **state)
{
	struct fixture *f = *state;
	char tok[TK_SESSION_TOKEN_MAX], code[TK_OTP_CODE_MAX];
	tk_session_info si;
	tk_app_err err;

	signin_ok(f, tok);
	/* the code just used to sign in cannot re-authenticate */
	code_at(f, f->now, code);
	assert_int_equal(tk_app_session_reauth_totp(f->app, tok, code,
	    "127.0.0.1", &err), TK_ERR_UNAUTH);
	assert_int_equal(tk_app_session_reauth_totp(f->app, tok, "12345x",
	    "127.0.0.1", &err), TK_ERR_UNAUTH);
	f->now += 60;
	code_at(f, f->now, code);
	assert_int_equal(tk_app_session_reauth_totp(f->app, tok, code,
	    "127.0.0.1", &err), TK_OK);
	assert_int_equal(tk_app_session_check(f->app, tok, 0, 0, &si, &err),
	    TK_OK);
	assert_int_equal(si.reauth_at, f->now);
	assert_int_equal(events(f, "signin.reauth", NULL), 1);
	assert_int_equal(events(f, "signin.reauth_failed", "bad_code"), 2);
	/* no session, no re-authentication */
	assert_int_equal(tk_app_signout(f->app, tok, &err), TK_OK);
	f->now += 30;
	code_at(f, f->now, code);
	assert_int_equal(tk_app_session_reauth_totp(f->app, tok, code,
	    "127.0.0.1", &err), TK_ERR_UNAUTH);

	/* wrong re-authentication codes count towards the lockout */
	signin_ok(f, tok);
	for (int i = 0; i < 4; i++)
		assert_int_equal(tk_app_session_reauth_totp(f->app, tok,
		    "000000", "127.0.0.1", &err), TK_ERR_UNAUTH);
	assert_int_equal(tk_app_session_reauth_totp(f->app, tok, "000000",
	    "127.0.0.1", &err), TK_ERR_TOO_MANY);
	assert_int_equal(events(f, "signin.locked", NULL), 1);
}

static void
test_sso(void **state)
{
	struct fixture *f = *state;
	char tok[TK_SESSION_TOKEN_MAX];
	tk_session_info si;
	tk_app_err err;

	/* bob has no local account; SSO signs him in */
	assert_int_equal(tk_app_signin_sso(f->app, "bob", "127.0.0.1",
	    f->now - 5, tok, sizeof(tok), &err), TK_OK);
	assert_int_equal(tk_app_session_check(f->app, tok, 0, 0, &si, &err),
	    TK_OK);
	assert_string_equal(si.login, "bob");
	assert_true(si.sso);
	assert_int_equal(si.reauth_at, 0);
	/* a fresh login naming someone else does not count */
	assert_int_equal(tk_app_session_reauth_sso(f->app, tok, "alice",
	    f->now, &err), TK_ERR_FORBIDDEN);
	f->now += 100;
	assert_int_equal(tk_app_session_reauth_sso(f->app, tok, "bob",
	    f->now - 3, &err), TK_OK);
	assert_int_equal(tk_app_session_check(f->app, tok, 0, 0, &si, &err),
	    TK_OK);
	assert_int_equal(si.reauth_at, f->now - 3);
	/* not staff */
	assert_int_equal(tk_app_signin_sso(f->app, "jsmith", "127.0.0.1",
	    f->now, tok, sizeof(tok), &err), TK_ERR_UNAUTH);
	assert_int_equal(events(f, "signin.failed", "sso_not_staff"), 1);
	assert_int_equal(events(f, "signin.reauth_failed", "other_login"), 1);
	/* the console's own refusals */
	assert_int_equal(tk_app_signin_sso_failed(f->app, "127.0.0.1",
	    "state mismatch", &err), TK_OK);
	assert_int_equal(events(f, "signin.failed", "sso"), 1);
	assert_int_equal(tk_app_csrf_refused(f->app, "bob", "127.0.0.1",
	    "/cases/new", &err), TK_OK);
	assert_int_equal(events(f, "console.csrf_refused", NULL), 1);
}

/* Seconds the sign-in of login with a wrong password takes. */
static double
signin_seconds(struct fixture *f, const char *login)
{
	char tok[TK_SESSION_TOKEN_MAX], code[TK_OTP_CODE_MAX];
	struct timespec a, b;
	tk_app_err err;

	code_at(f, f->now, code);
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &a), 0);
	assert_int_equal(signin(f, login, "not the password at all", code,
	    "127.0.0.1", tok, &err), TK_ERR_UNAUTH);
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &b), 0);
	return (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec -
	    a.tv_nsec) / 1e9;
}

/* An unknown login, or staff without a console password, costs about as
 * much time as a known login with a wrong password (one argon2id check
 * each): the time of an answer does not tell which logins exist. Runs
 * first, so the dummy hash is made with the real parameters. */
static void
test_unknown_login_same_cost(void **state)
{
	struct fixture *f = *state;
	double known, unknown, nopw;
	tk_app_err err;

	(void)unsetenv("TWOKEY_TEST_FAST_HASH");
	assert_int_equal(tk_app_account_password(f->app, NULL, "alice",
	    "another good passphrase", NULL, 0, &err), TK_OK);
	known = signin_seconds(f, "alice");
	unknown = signin_seconds(f, "mallory");
	if (unknown < known / 4) /* a second look, should the first mislead */
		unknown = signin_seconds(f, "mallory");
	nopw = signin_seconds(f, "bob");
	if (nopw < known / 4)
		nopw = signin_seconds(f, "bob");
	(void)setenv("TWOKEY_TEST_FAST_HASH", "1", 1);
	if (unknown < known / 4 || nopw < known / 4)
		fail_msg("a known login takes %.1f ms, an unknown one %.1f ms "
		    "and staff without a password %.1f ms: the answer's time "
		    "names the logins that exist", known * 1e3, unknown * 1e3,
		    nopw * 1e3);
}

/* Without the test hook, hashes use t=2, m=19 MiB, p=1. */
static void
test_real_hash_params(void **state)
{
	struct fixture *f = *state;
	tk_account_row acct;
	char tok[TK_SESSION_TOKEN_MAX], code[TK_OTP_CODE_MAX];
	tk_app_err err;
	tk_error e;
	tk_store *s;

	(void)unsetenv("TWOKEY_TEST_FAST_HASH");
	assert_int_equal(tk_app_account_password(f->app, NULL, "alice",
	    "another good passphrase", NULL, 0, &err), TK_OK);
	s = tk_store_open(f->path, false, &e);
	assert_non_null(s);
	assert_int_equal(tk_store_account_get(s, "alice", &acct, &e), 0);
	tk_store_close(s);
	assert_non_null(strstr(acct.pwhash, "$argon2id$v=19$m=19456,t=2,p=1$"));
	f->now += 30;
	code_at(f, f->now, code);
	assert_int_equal(signin(f, "alice", "another good passphrase", code,
	    "127.0.0.1", tok, &err), TK_OK);
	(void)setenv("TWOKEY_TEST_FAST_HASH", "1", 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		/* first: it needs the dummy hash made with real parameters */
		cmocka_unit_test_setup_teardown(test_unknown_login_same_cost,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_password_and_code, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_lockout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_throttle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_and_absolute_expiry,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_signout, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_password_change_ends_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reauth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sso, setup, teardown),
		cmocka_unit_test_setup_teardown(test_real_hash_params, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
