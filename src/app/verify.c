/*
 * verify.c - verification through channels the caller does not control:
 * the subject's registered TOTP factor (enrolment, code checks with
 * replay protection and lockout), one-time confirmation links sent to a
 * contact on file ("Yes, this was me" records out_of_band evidence, "No,
 * this was not me" cancels the case with an alert), and the notices sent
 * when a hold starts (queued in the outbox by app.c, sent here).
 *
 * Owns: the seal key in memory, token generation for links (only their
 * SHA-256 is stored), the wording of the messages, and the order of each
 * flow: decide and record under the app mutex, send without it, record
 * the outcome. Tokens live in memory only for the length of a call and
 * are wiped.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app_int.h"
#include "core/action.h"
#include "core/b64.h"
#include "verify/notify.h"
#include "verify/otp.h"

#define FACTOR_MAX_FAILURES 5
#define FACTOR_LOCK_SECONDS (15 * 60)
#define CONFIRM_TTL (15 * 60)
#define TOKEN_BYTES 32
#define TOKEN_TEXT 48            /* base64url of 32 bytes + NUL fits */
#define OUTBOX_BATCH 32
#define OUTBOX_MAX_ATTEMPTS 5
#define NO_ANSWER_WINDOW (7 * 24 * 60 * 60)

/* ---- small helpers -------------------------------------------------------- */

/* Adds an event to the list an operation persists with the case. */
static void
ev_add(tk_events *ev, const char *kind, const char *actor, bool alert,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void
ev_add(tk_events *ev, const char *kind, const char *actor, bool alert,
    const char *fmt, ...)
{
	tk_event *e;
	va_list ap;

	if (ev->n >= TK_EVENTS_MAX)
		return;
	e = &ev->ev[ev->n++];
	memset(e, 0, sizeof(*e));
	(void)tk_strlcpy(e->kind, kind, sizeof(e->kind));
	(void)tk_strlcpy(e->actor, actor, sizeof(e->actor));
	e->alert = alert;
	va_start(ap, fmt);
	vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
	va_end(ap);
	tk_utf8_trim(e->detail);
}

/* A new link token (base64url text) and its SHA-256. */
static int
token_new(char text[TOKEN_TEXT], unsigned char hash[32], tk_error *err)
{
	unsigned char raw[TOKEN_BYTES];

	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "no randomness for a link");
		return -1;
	}
	tk_b64_encode(raw, sizeof(raw), text); /* 44 characters + NUL */
	for (char *p = text; *p != '\0'; p++) {
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
		else if (*p == '=')
			*p = '\0'; /* base64url without padding */
	}
	if (EVP_Digest(text, strlen(text), hash, NULL, EVP_sha256(),
	    NULL) != 1) {
		OPENSSL_cleanse(raw, sizeof(raw));
		(void)tk_fail(err, TK_ERR_INTERNAL, "cannot encode a link");
		return -1;
	}
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

/* SHA-256 of a presented token; -1 when it cannot be one of ours. */
static int
token_hash(const char *token, unsigned char hash[32])
{
	size_t n = token != NULL ? strlen(token) : 0;

	if (n < 40 || n >= TOKEN_TEXT || strspn(token, "ABCDEFGHIJKLMNOPQRSTU"
	    "VWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != n)
		return -1;
	return EVP_Digest(token, n, hash, NULL, EVP_sha256(), NULL) == 1 ?
	    0 : -1;
}

static const char *
action_summary(const char *action)
{
	const tk_action *ac = tk_action_find(action);

	return ac != NULL ? ac->summary : action;
}

/* ---- attach / close ------------------------------------------------------ */

int
tk_app_seal_attach(tk_app *a, const char *path, tk_error *err)
{
	struct app_fx *fx = app_fx(a);

	if (tk_seal_key_load(path, fx->seal_key, err) != 0)
		return -1;
	fx->have_seal = true;
	return 0;
}

void
app_fx_close(tk_app *a)
{
	struct app_fx *fx = app_fx(a);

	for (int i = 0; i < fx->nconn; i++)
		tk_connector_close(&fx->conn[i]);
	fx->nconn = 0;
	OPENSSL_cleanse(fx->seal_key, sizeof(fx->seal_key));
	fx->have_seal = false;
}

/* ---- registered factor ---------------------------------------------------- */

struct enroll_job {
	tk_factor_row f;
	const char *alg_name;
};

static int
enroll_tx(tk_app *a, tk_time now, void *arg, tk_error *err)
{
	struct enroll_job *j = arg;

	j->f.created = now;
	if (tk_store_factor_put(app_store(a), &j->f, err) != 0)
		return -1;
	return app_event(a, now, "", "factor.enrolled", "operator", true,
	    json_pack("{s:s, s:s, s:s, s:i, s:i}", "detail", "a new TOTP "
	    "factor was enrolled for the subject on the server host; any "
	    "earlier one no longer works", "subject", j->f.subject,
	    "algorithm", j->alg_name, "digits", j->f.digits, "period",
	    j->f.period), err);
}

enum tk_status
tk_app_factor_enroll(tk_app *a, const char *subject, const char *alg_name,
    const char *issuer, char *uri, size_t uri_size, tk_app_err *err)
{
	struct app_fx *fx = app_fx(a);
	struct enroll_job j;
	unsigned char seed[32];
	char aad[TK_ID_MAX + 16];
	tk_subject s;
	size_t seedlen;
	int alg;

	memset(err, 0, sizeof(*err));
	if (!fx->have_seal)
		return tk_fail(&err->e, TK_ERR_INTERNAL, "no seal key loaded; "
		    "factor seeds are encrypted with DB.seal-key, which "
		    "`twokey init` creates");
	if (!app_subject(a, subject, &s))
		return tk_fail(&err->e, TK_ERR_NOT_FOUND, "%s is not a subject "
		    "in the org file", subject);
	alg = tk_otp_alg_parse(alg_name != NULL ? alg_name : "sha1");
	if (alg < 0 || alg == TK_OTP_SHA512)
		return tk_fail(&err->e, TK_ERR_INVALID, "algorithm must be "
		    "sha1 (what most authenticator apps support) or sha256");
	seedlen = alg == TK_OTP_SHA1 ? 20 : 32;
	memset(&j, 0, sizeof(j));
	j.alg_name = tk_otp_alg_name((enum tk_otp_alg)alg);
	(void)tk_strlcpy(j.f.subject, subject, sizeof(j.f.subject));
	j.f.alg = alg;
	j.f.digits = 6;
	j.f.period = 30;
	j.f.last_step = -1;
	snprintf(aad, sizeof(aad), "factor:%s", subject);
	if (RAND_bytes(seed, (int)seedlen) != 1 ||
	    tk_seal(fx->seal_key, aad, seed, seedlen, j.f.sealed,
	    sizeof(j.f.sealed), &j.f.sealed_len, &err->e) != 0 ||
	    tk_otpauth_uri(issuer != NULL ? issuer : "twokey", subject, seed,
	    seedlen, (enum tk_otp_alg)alg, j.f.digits, j.f.period, uri,
	    uri_size) != 0) {
		OPENSSL_cleanse(seed, sizeof(seed));
		if (err->e.status == TK_OK)
			(void)tk_fail(&err->e, TK_ERR_INTERNAL, "cannot create "
			    "the factor (randomness or URI space)");
		return err->e.status;
	}
	OPENSSL_cleanse(seed, sizeof(seed));
	if (app_tx(a, enroll_tx, &j, &err->e) != 0) {
		OPENSSL_cleanse(uri, uri_size);
		return err->e.status != TK_OK ? err->e.status : TK_ERR_INTERNAL;
	}
	return TK_OK;
}

/* Would the engine accept evidence r by actor on c? Asked on a copy, so
 * nothing changes: the check comes before a code is spent or a message
 * is sent. */
static enum tk_status
may_record(const tk_ctx *x, const tk_case *c, const char *actor,
    const tk_evidence_req *r, tk_error *err)
{
	tk_events scratch;
	tk_case *probe = malloc(sizeof(*probe));
	enum tk_status st;

	if (probe == NULL)
		return tk_fail(err, TK_ERR_INTERNAL, "out of memory");
	*probe = *c;
	scratch.n = 0;
	st = tk_engine_add_evidence(x, probe, actor, r, &scratch, err);
	free(probe);
	return st;
}

struct totp_arg {
	tk_app *a;
	const char *code;
};

/* Checks the code against the subject's factor and, when it matches,
 * records registered_factor evidence. Runs under the mutex; the factor's
 * counters are kept even when the code is refused (keep). */
static enum tk_status
op_totp(const tk_ctx *x, tk_case *c, const char *actor, const void *arg,
    tk_events *ev, tk_error *err)
{
	const struct totp_arg *t = arg;
	struct app_fx *fx = app_fx(t->a);
	tk_store *s = app_store(t->a);
	tk_evidence_req r = {"registered_factor", NULL, "pass", NULL, true};
	unsigned char seed[TK_OTP_KEY_MAX];
	char aad[TK_ID_MAX + 16], when[32], ref[64];
	tk_factor_row f;
	enum tk_status st;
	size_t seedlen;
	int64_t step;
	tk_error e;

	/* Do not spend the subject's attempts on someone the engine would
	 * refuse anyway. */
	if ((st = may_record(x, c, actor, &r, err)) != TK_OK)
		return st;
	if (tk_store_factor_get(s, c->subject, &f, &e) != 0)
		return e.status == TK_ERR_NOT_FOUND ? tk_fail(err,
		    TK_ERR_POLICY_DENIED, "%s has no registered factor; use "
		    "another method the tier accepts (or enrol one on the "
		    "server host with `twokey factor enroll`)", c->subject) :
		    tk_fail(err, TK_ERR_INTERNAL, "%s", e.msg);
	if (f.locked_until > x->now) {
		tk_time_format(f.locked_until, when, sizeof(when));
		return tk_fail(err, TK_ERR_FORBIDDEN, "%s's factor is locked "
		    "until %s after %d wrong codes; verify by another method "
		    "(callback to the number on file)", c->subject, when,
		    FACTOR_MAX_FAILURES);
	}
	snprintf(aad, sizeof(aad), "factor:%s", c->subject);
	if (tk_unseal(fx->seal_key, aad, f.sealed, f.sealed_len, seed,
	    sizeof(seed), &seedlen, &e) != 0)
		return tk_fail(err, TK_ERR_INTERNAL, "the factor of %s cannot "
		    "be decrypted with this seal key (%s)", c->subject, e.msg);
	step = tk_totp_match(seed, seedlen, (enum tk_otp_alg)f.alg, f.digits,
	    f.period, x->now, t->code, 1, f.last_step);
	OPENSSL_cleanse(seed, sizeof(seed));
	if (step < 0) {
		bool lock = f.failures + 1 >= FACTOR_MAX_FAILURES;
		int left = FACTOR_MAX_FAILURES - f.failures - 1;

		if (tk_store_factor_update(s, c->subject, f.last_step,
		    lock ? 0 : f.failures + 1, lock ? x->now +
		    FACTOR_LOCK_SECONDS : 0, &e) != 0 ||
		    app_event(t->a, x->now, c->id, lock ? "factor.locked" :
		    "factor.failed", actor, lock, json_pack("{s:s, s:s}",
		    "detail", lock ? "five wrong TOTP codes in a row: the "
		    "factor is locked for 15 minutes; someone may be guessing "
		    "or the caller cannot read the subject's authenticator" :
		    "a wrong or reused TOTP code was entered", "subject",
		    c->subject), &e) != 0)
			return tk_fail(err, TK_ERR_INTERNAL, "%s", e.msg);
		if (lock)
			return tk_fail(err, TK_ERR_FORBIDDEN, "the code did not "
			    "match; that was the %dth wrong code, so %s's "
			    "factor is locked for 15 minutes and the security "
			    "team is alerted", FACTOR_MAX_FAILURES, c->subject);
		return tk_fail(err, TK_ERR_INVALID, "the code did not match "
		    "(or was already used); ask the subject to read the "
		    "current code again; %d tr%s left before the factor "
		    "locks", left, left == 1 ? "y" : "ies");
	}
	if (tk_store_factor_update(s, c->subject, step, 0, 0, &e) != 0)
		return tk_fail(err, TK_ERR_INTERNAL, "%s", e.msg);
	snprintf(ref, sizeof(ref), "TOTP code accepted (step %lld)",
	    (long long)step);
	r.reference = ref;
	return tk_engine_add_evidence(x, c, actor, &r, ev, err);
}

enum tk_status
tk_app_case_totp(tk_app *a, const char *actor, const char *id,
    const char *code, json_t **out, tk_app_err *err)
{
	struct totp_arg t = {a, code};

	if (!app_fx(a)->have_seal) {
		memset(err, 0, sizeof(*err));
		return tk_fail(&err->e, TK_ERR_POLICY_DENIED, "registered "
		    "factors are not set up on this server (no seal key); use "
		    "another method");
	}
	if (code == NULL || code[0] == '\0' || strlen(code) > 10) {
		memset(err, 0, sizeof(*err));
		return tk_fail(&err->e, TK_ERR_INVALID, "\"code\" must be the "
		    "6-digit code the subject reads from their authenticator");
	}
	return app_case_op(a, actor, id, "evidence", op_totp, &t, true, out,
	    err, NULL);
}

/* ---- confirmation links ----------------------------------------------- */

struct confirm_prep {
	tk_app *a;
	const char *contact;
	char token[TOKEN_TEXT];
	tk_time expires;
};

static enum tk_status
op_confirm_prepare(const tk_ctx *x, tk_case *c, const char *actor,
    const void *arg, tk_events *ev, tk_error *err)
{
	struct confirm_prep *p = (struct confirm_prep *)arg;
	tk_evidence_req r = {"out_of_band", p->contact, "pass", NULL, true};
	tk_confirm_row row;
	enum tk_status st;

	if ((st = may_record(x, c, actor, &r, err)) != TK_OK)
		return st;
	memset(&row, 0, sizeof(row));
	if (token_new(p->token, row.hash, err) != 0)
		return TK_ERR_INTERNAL;
	(void)tk_strlcpy(row.case_id, c->id, sizeof(row.case_id));
	(void)tk_strlcpy(row.contact, p->contact, sizeof(row.contact));
	(void)tk_strlcpy(row.purpose, "verify", sizeof(row.purpose));
	(void)tk_strlcpy(row.sender, actor, sizeof(row.sender));
	memcpy(row.digest, c->digest, 32);
	row.created = x->now;
	row.expires = p->expires = x->now + CONFIRM_TTL;
	if (tk_store_confirm_put(app_store(p->a), &row, err) != 0)
		return TK_ERR_INTERNAL;
	ev_add(ev, "confirmation.created", actor, false, "%s asked twokey to "
	    "send %s a one-time confirmation at %s (contact on file)", actor,
	    c->subject, p->contact);
	return TK_OK;
}

/* The message asking the subject to confirm or deny. */
static void
confirm_text(const tk_notify_config *n, const tk_case *c, const char *token,
    bool hold, char *subject, size_t ssize, char *text, size_t tsize)
{
	char when[32], until[32];

	tk_time_format(c->created, when, sizeof(when));
	tk_time_format(c->hold_until, until, sizeof(until));
	if (hold) {
		snprintf(subject, ssize, "twokey: a change to your account "
		    "is about to be made");
		snprintf(text, tsize,
		    "Someone asked the help desk to make this change to the "
		    "account %s:\n\n  %s\n  asked by %s channel, %s (case %s)"
		    "\n\nIt is on hold and will be made after %s unless you "
		    "stop it.\n\nNo, this was not me (the change is stopped "
		    "at once and the security team is told):\n  "
		    "%s/confirm/%s?answer=no\n\nThe link works once; twokey "
		    "never asks you for a password or a code by e-mail or "
		    "text message.\n", c->subject, action_summary(c->action),
		    c->channel, when, c->id, until, n->public_url, token);
		return;
	}
	snprintf(subject, ssize, "twokey: did you ask for this change?");
	snprintf(text, tsize,
	    "Someone asked the help desk to make this change to the account "
	    "%s:\n\n  %s\n  asked by %s channel, %s (case %s)\n\n"
	    "Yes, this was me:\n  %s/confirm/%s?answer=yes\n\n"
	    "No, this was not me (the change is stopped at once and the "
	    "security team is told):\n  %s/confirm/%s?answer=no\n\n"
	    "The links work once and expire in 15 minutes; twokey never asks "
	    "you for a password or a code by e-mail or text message.\n",
	    c->subject, action_summary(c->action), c->channel, when, c->id,
	    n->public_url, token, n->public_url, token);
}

/* Sends a confirmation message; -1 with err on failure. */
static int
confirm_send(tk_app *a, const tk_case *c, const char *contact,
    const char *token, bool hold, tk_error *err)
{
	const tk_notify_config *n = &app_fx(a)->dir.notify;
	char subject[160], text[4096];
	tk_message m;
	int rc;

	if (!app_fx(a)->have_dir || n->public_url[0] == '\0') {
		(void)tk_fail(err, TK_ERR_INTERNAL, "no public_url in the "
		    "directory file's notify section, so twokey cannot build "
		    "links; set it and restart");
		return -1;
	}
	confirm_text(n, c, token, hold, subject, sizeof(subject), text,
	    sizeof(text));
	m.to = contact;
	m.subject = subject;
	m.text = text;
	rc = tk_notify_send(n, contact, &m, err);
	OPENSSL_cleanse(text, sizeof(text));
	return rc;
}

struct confirm_done {
	const char *case_id, *contact, *actor, *kind, *detail;
	bool alert;
	const unsigned char *kill; /* hash to mark unusable, or NULL */
};

static int
confirm_done_tx(tk_app *a, tk_time now, void *arg, tk_error *err)
{
	struct confirm_done *d = arg;
	bool won;

	if (d->kill != NULL && tk_store_confirm_use(app_store(a), d->kill,
	    "failed", now, &won, err) != 0)
		return -1;
	return app_event(a, now, d->case_id, d->kind, d->actor, d->alert,
	    json_pack("{s:s, s:s}", "detail", d->detail, "contact",
	    d->contact), err);
}

enum tk_status
tk_app_confirm_send(tk_app *a, const char *actor, const char *id,
    const char *contact, json_t **out, tk_app_err *err)
{
	struct confirm_prep p;
	struct confirm_done d;
	unsigned char hash[32];
	char detail[TK_TEXT_MAX], until[32];
	enum tk_status st;
	tk_case *c;
	tk_error e;

	if (contact == NULL || contact[0] == '\0') {
		memset(err, 0, sizeof(*err));
		return tk_fail(&err->e, TK_ERR_INVALID, "give \"contact\": one "
		    "of the subject's contacts on file (GET the case to see "
		    "them)");
	}
	c = malloc(sizeof(*c));
	if (c == NULL) {
		memset(err, 0, sizeof(*err));
		return tk_fail(&err->e, TK_ERR_INTERNAL, "out of memory");
	}
	memset(&p, 0, sizeof(p));
	p.a = a;
	p.contact = contact;
	st = app_case_op(a, actor, id, "confirmation", op_confirm_prepare, &p,
	    false, NULL, err, c);
	if (st != TK_OK) {
		free(c);
		return st;
	}
	memset(&d, 0, sizeof(d));
	d.case_id = id;
	d.contact = contact;
	d.actor = actor;
	if (confirm_send(a, c, contact, p.token, false, &e) != 0) {
		(void)token_hash(p.token, hash);
		snprintf(detail, sizeof(detail), "the confirmation to %s could "
		    "not be sent: %.400s", contact, e.msg);
		d.kind = "confirmation.failed";
		d.detail = detail;
		d.alert = true;
		d.kill = hash;
		OPENSSL_cleanse(p.token, sizeof(p.token));
		free(c);
		if (app_tx(a, confirm_done_tx, &d, &e) != 0) {
			memset(err, 0, sizeof(*err));
			return tk_fail(&err->e, TK_ERR_INTERNAL, "the "
			    "confirmation could not be sent and its link could "
			    "not be disabled (%.300s); do not rely on it",
			    e.msg);
		}
		memset(err, 0, sizeof(*err));
		return tk_fail(&err->e, TK_ERR_INTERNAL, "the confirmation "
		    "could not be sent to %s: %.400s; nothing counts as "
		    "evidence; fix the notify settings or use another method",
		    contact, detail);
	}
	OPENSSL_cleanse(p.token, sizeof(p.token));
	free(c);
	tk_time_format(p.expires, until, sizeof(until));
	snprintf(detail, sizeof(detail), "a one-time confirmation went to %s "
	    "(contact on file); it expires at %s", contact, until);
	d.kind = "confirmation.sent";
	d.detail = detail;
	if (app_tx(a, confirm_done_tx, &d, &e) != 0) {
		memset(err, 0, sizeof(*err));
		return tk_fail(&err->e, TK_ERR_INTERNAL, "sent, but the record "
		    "of it failed: %.400s", e.msg);
	}
	return tk_app_case_get(a, actor, id, out, err);
}

/* ---- answering a link (public: the token is the credential) ---------- */

struct confirm_read {
	unsigned char hash[32];
	tk_confirm_row row;
	int found; /* 1 found, 0 not, -1 store error */
	tk_error e;
};

static int
confirm_read_tx(tk_app *a, tk_time now, void *arg, tk_error *err)
{
	struct confirm_read *r = arg;

	(void)now;
	(void)err;
	if (tk_store_confirm_get(app_store(a), r->hash, &r->row, &r->e) == 0)
		r->found = 1;
	else
		r->found = r->e.status == TK_ERR_NOT_FOUND ? 0 : -1;
	return 0;
}

static enum tk_status
confirm_lookup(tk_app *a, const char *token, struct confirm_read *r,
    tk_app_err *err)
{
	tk_error e;

	memset(err, 0, sizeof(*err));
	memset(r, 0, sizeof(*r));
	if (token_hash(token, r->hash) != 0)
		return tk_fail(&err->e, TK_ERR_NOT_FOUND, "this confirmation "
		    "link is not valid; use the link in the latest message");
	r->found = -1;
	(void)app_read(a, confirm_read_tx, r, &e);
	if (r->found < 0)
		return tk_fail(&err->e, TK_ERR_INTERNAL, "cannot read the "
		    "confirmation: %.400s", r->e.msg);
	if (r->found == 0)
		return tk_fail(&err->e, TK_ERR_NOT_FOUND, "this confirmation "
		    "link is not valid; use the link in the latest message");
	return TK_OK;
}

enum tk_status
tk_app_confirm_view(tk_app *a, const char *token, json_t **out,
    tk_app_err *err)
{
	struct confirm_read r;
	enum tk_status st;
	tk_case *c;
	char when[32], exp[32];

	*out = NULL;
	if ((st = confirm_lookup(a, token, &r, err)) != TK_OK)
		return st;
	c = malloc(sizeof(*c));
	if (c == NULL)
		return tk_fail(&err->e, TK_ERR_INTERNAL, "out of memory");
	if ((st = app_case_read(a, r.row.case_id, c, err)) != TK_OK) {
		free(c);
		return st;
	}
	tk_time_format(c->created, when, sizeof(when));
	tk_time_format(r.row.expires, exp, sizeof(exp));
	*out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, "
	    "s:s, s:b}", "case", c->id, "subject", c->subject, "action",
	    c->action, "summary", action_summary(c->action), "channel",
	    c->channel, "requested", when, "purpose", r.row.purpose,
	    "contact", r.row.contact, "expires", exp, "answer",
	    r.row.answer, "open", tk_state_is_open(c->state));
	free(c);
	return *out != NULL ? TK_OK : tk_fail(&err->e, TK_ERR_INTERNAL,
	    "out of memory");
}

struct answer_arg {
	tk_app *a;
	const unsigned char *hash;
	bool yes;
	const char *outcome; /* set: what happened, for the answer page */
};

static enum tk_status
op_confirm_answer(const tk_ctx *x, tk_case *c, const char *actor,
    const void *arg, tk_events *ev, tk_error *err)
{
	struct answer_arg *q = (struct answer_arg *)arg;
	tk_evidence_req r = {"out_of_band", NULL, "pass",
	    "the subject answered \"Yes, this was me\" to the link sent to "
	    "a contact on file", true};
	tk_confirm_row row;
	char when[32];
	bool won;
	tk_error e;

	if (tk_store_confirm_get(app_store(q->a), q->hash, &row, &e) != 0)
		return tk_fail(err, e.status == TK_ERR_NOT_FOUND ?
		    TK_ERR_NOT_FOUND : TK_ERR_INTERNAL, "%s", e.msg);
	if (row.used != 0)
		return tk_fail(err, TK_ERR_WRONG_STATE, "this link was already "
		    "used; nothing more was recorded");
	/* "No, this was not me" is always heard (for a week): neither an
	 * expiry nor a change to the case may silence the subject. */
	if (!q->yes && x->now < row.created + NO_ANSWER_WINDOW)
		goto answer;
	if (x->now >= row.expires) {
		tk_time_format(row.expires, when, sizeof(when));
		return tk_fail(err, TK_ERR_WRONG_STATE, "this link expired at "
		    "%s; if you did not ask for this change, call your help "
		    "desk on the number you know", when);
	}
	if (CRYPTO_memcmp(row.digest, c->digest, 32) != 0)
		return tk_fail(err, TK_ERR_WRONG_STATE, "the request changed "
		    "after this message was sent, so this link no longer "
		    "applies; nothing was recorded");
answer:
	if (tk_store_confirm_use(app_store(q->a), q->hash, q->yes ? "yes" :
	    "no", x->now, &won, &e) != 0)
		return tk_fail(err, TK_ERR_INTERNAL, "%s", e.msg);
	if (!won)
		return tk_fail(err, TK_ERR_WRONG_STATE, "this link was already "
		    "used; nothing more was recorded");
	if (!q->yes) {
		enum tk_status st;

		if (!tk_state_is_open(c->state) ||
		    c->state == TK_STATE_EXECUTING ||
		    c->state == TK_STATE_OUTCOME_UNKNOWN ||
		    c->state == TK_STATE_REVOCATION_PENDING) {
			ev_add(ev, "confirmation.denied", c->subject, true,
			    "%s answered \"No, this was not me\" via %s, but "
			    "the case is already %s: investigate at once",
			    c->subject, row.contact, tk_state_name(c->state));
			q->outcome = "too_late";
			return TK_OK;
		}
		ev_add(ev, "confirmation.denied", c->subject, true, "%s "
		    "answered \"No, this was not me\" via %s: the request may "
		    "be social engineering; the case is cancelled",
		    c->subject, row.contact);
		st = tk_engine_cancel(x, c, c->subject, "the subject answered "
		    "\"No, this was not me\" to a confirmation sent to a "
		    "contact on file", ev, err);
		q->outcome = "cancelled";
		return st;
	}
	(void)actor;
	if (strcmp(row.purpose, "hold") == 0) {
		ev_add(ev, "hold.acknowledged", c->subject, false, "%s "
		    "acknowledged the hold notice sent to %s", c->subject,
		    row.contact);
		q->outcome = "acknowledged";
		return TK_OK;
	}
	r.contact = row.contact;
	q->outcome = "verified";
	return tk_engine_add_evidence(x, c, row.sender, &r, ev, err);
}

enum tk_status
tk_app_confirm_answer(tk_app *a, const char *token, bool yes, json_t **out,
    tk_app_err *err)
{
	struct confirm_read r;
	struct answer_arg q;
	enum tk_status st;
	const char *actor;

	*out = NULL;
	if ((st = confirm_lookup(a, token, &r, err)) != TK_OK)
		return st;
	q.a = a;
	q.hash = r.hash;
	q.yes = yes;
	q.outcome = "";
	/* "no" is the subject cancelling; "yes" is evidence the sender
	 * asked for (hold notices come from "system"). */
	actor = !yes ? NULL : r.row.sender;
	if (actor == NULL) {
		tk_case *c = malloc(sizeof(*c));

		if (c == NULL)
			return tk_fail(&err->e, TK_ERR_INTERNAL, "out of memory");
		if ((st = app_case_read(a, r.row.case_id, c, err)) != TK_OK) {
			free(c);
			return st;
		}
		/* the subject's id is the actor the engine knows */
		st = app_case_op(a, c->subject, r.row.case_id, "confirmation",
		    op_confirm_answer, &q, true, NULL, err, NULL);
		free(c);
	} else {
		st = app_case_op(a, actor, r.row.case_id, "confirmation",
		    op_confirm_answer, &q, true, NULL, err, NULL);
	}
	if (st != TK_OK)
		return st;
	*out = json_pack("{s:s, s:s}", "case", r.row.case_id, "outcome",
	    q.outcome);
	return *out != NULL ? TK_OK : tk_fail(&err->e, TK_ERR_INTERNAL,
	    "out of memory");
}

/* ---- hold notices (outbox) ---------------------------------------------- */

struct outbox_job {
	tk_outbox_row rows[OUTBOX_BATCH];
	int n;
};

static int
outbox_read_tx(tk_app *a, tk_time now, void *arg, tk_error *err)
{
	struct outbox_job *j = arg;

	(void)now;
	return tk_store_outbox_pending(app_store(a), OUTBOX_MAX_ATTEMPTS,
	    j->rows, OUTBOX_BATCH, &j->n, err);
}

struct notice_tx {
	const tk_outbox_row *row;
	tk_case *c;
	char token[TOKEN_TEXT];
	bool sent, skipped;
	const char *error;
	int stage; /* 0: create the link, 1: record the outcome */
	unsigned char hash[32]; /* the link's, to kill it when unsent */
};

static int
notice_tx(tk_app *a, tk_time now, void *arg, tk_error *err)
{
	struct notice_tx *t = arg;
	tk_confirm_row row;
	char detail[TK_TEXT_MAX];

	if (t->stage == 0) {
		memset(&row, 0, sizeof(row));
		if (token_new(t->token, row.hash, err) != 0)
			return -1;
		memcpy(t->hash, row.hash, sizeof(t->hash));
		(void)tk_strlcpy(row.case_id, t->c->id, sizeof(row.case_id));
		(void)tk_strlcpy(row.contact, t->row->contact,
		    sizeof(row.contact));
		(void)tk_strlcpy(row.purpose, "hold", sizeof(row.purpose));
		(void)tk_strlcpy(row.sender, "system", sizeof(row.sender));
		memcpy(row.digest, t->c->digest, 32);
		row.created = now;
		row.expires = t->c->hold_until > now + CONFIRM_TTL ?
		    t->c->hold_until : now + CONFIRM_TTL;
		return tk_store_confirm_put(app_store(a), &row, err);
	}
	if (tk_store_outbox_mark(app_store(a), t->row->id, t->sent, t->error,
	    err) != 0)
		return -1;
	if (t->skipped)
		return 0;
	if (!t->sent) {
		bool won;

		/* an unsent link must not work: its token may be in the
		 * mail server's or gateway's error */
		if (tk_store_confirm_use(app_store(a), t->hash, "failed", now,
		    &won, err) != 0)
			return -1;
	}
	if (t->sent)
		snprintf(detail, sizeof(detail), "%s was told about the hold "
		    "at %s (contact on file), with a \"not me\" link",
		    t->c->subject, t->row->contact);
	else
		snprintf(detail, sizeof(detail), "the hold notice to %s could "
		    "not be sent (attempt %d of %d): %.600s", t->row->contact,
		    t->row->attempts + 1, OUTBOX_MAX_ATTEMPTS, t->error);
	return app_event(a, now, t->c->id, t->sent ? "notice.sent" :
	    "notice.failed", "system", !t->sent, json_pack("{s:s, s:s}",
	    "detail", detail, "contact", t->row->contact), err);
}

int
app_outbox_flush(tk_app *a)
{
	struct app_fx *fx = app_fx(a);
	struct outbox_job *j;
	struct notice_tx t;
	tk_app_err aerr;
	tk_error e;
	char why[sizeof(e.msg)];
	int sent = 0;
	bool expect = false;

	if (!atomic_compare_exchange_strong(&fx->flushing, &expect, true))
		return 0;
	j = calloc(1, sizeof(*j));
	memset(&t, 0, sizeof(t));
	t.c = malloc(sizeof(*t.c));
	if (j == NULL || t.c == NULL)
		goto out;
	(void)app_read(a, outbox_read_tx, j, &e);
	for (int i = 0; i < j->n; i++) {
		t.row = &j->rows[i];
		t.stage = 0;
		t.sent = t.skipped = false;
		t.error = "";
		memset(t.hash, 0, sizeof(t.hash));
		if (app_case_read(a, t.row->case_id, t.c, &aerr) != TK_OK)
			continue;
		if (t.c->state != TK_STATE_ON_HOLD) {
			/* cancelled, ended or executed meanwhile: nothing to
			 * warn about any more */
			t.stage = 1;
			t.sent = true;
			t.skipped = true;
			(void)app_tx(a, notice_tx, &t, &e);
			continue;
		}
		if (app_tx(a, notice_tx, &t, &e) != 0) {
			t.stage = 1;
			t.error = "could not create the link";
			(void)app_tx(a, notice_tx, &t, &e);
			continue;
		}
		if (confirm_send(a, t.c, t.row->contact, t.token, true,
		    &e) == 0)
			t.sent = true;
		else {
			(void)tk_strlcpy(why, e.msg, sizeof(why));
			t.error = why;
		}
		OPENSSL_cleanse(t.token, sizeof(t.token));
		t.stage = 1;
		if (app_tx(a, notice_tx, &t, &e) == 0 && t.sent)
			sent++;
	}
out:
	free(t.c);
	free(j);
	atomic_store(&fx->flushing, false);
	return sent;
}
