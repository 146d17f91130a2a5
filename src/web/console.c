/*
 * console.c - the web console's front door (tk_web_handle): assets, the
 * sign-in form and its double-submit CSRF cookie, sign-in through the
 * OpenID provider and its callback, sign-out, and for every other page
 * the session cookie check and the CSRF check on POST before web_pages.
 *
 * Owns: the tk_web handle, the console's cookies (tk_session, tk_pre,
 * tk_oidc, tk_sso) and their flags, the `next` check (only local paths),
 * and the fresh SSO logins waiting for the session cookie (tickets, in
 * memory, two minutes each). Secrets that pass through here (session tokens,
 * passwords in forms) are wiped after use.
 *
 * Why tickets: the provider's redirect to /sso/callback is a cross-site
 * navigation, so the SameSite=Strict session cookie is not sent with it.
 * The callback answers 200 with a page that moves on by meta refresh to
 * /sso/continue?t=TICKET, a same-site navigation that carries the
 * cookie; only then is the re-authentication stamped on that session.
 * The ticket is bound to that browser by the tk_sso cookie the callback
 * sets: a ticket link opened anywhere else signs nobody in (no login
 * CSRF, no swapped session).
 */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/signin.h"
#include "core/b64.h"
#include "web/pages.h"
#include "web/web_int.h"

#define COOKIE_SESSION "tk_session"
#define COOKIE_PRE "tk_pre"
#define COOKIE_OIDC "tk_oidc"
#define COOKIE_TICKET "tk_sso"
#define TOKEN_LEN 43             /* base64url of 32 bytes */
#define NEXT_MAX 256
#define TICKETS_MAX 64
#define TICKET_TTL 120
#define DEFAULT_NEXT "/queues"

#define CSRF_TEXT "This form has expired or did not come from twokey; " \
	"reload the page and try again."

struct web_ticket {
	char t[TOKEN_LEN + 1];   /* "" when free */
	char bind[TOKEN_LEN + 1]; /* the tk_sso cookie of the browser that
	                            came back from the provider */
	char login[TK_ID_MAX];
	char next[NEXT_MAX];
	tk_time auth_time, expires;
};

struct web_tickets {
	pthread_mutex_t mu;
	struct web_ticket t[TICKETS_MAX];
};

/* ---- helpers -------------------------------------------------------------- */

static bool
is(const tk_http_req *req, const char *method)
{
	return req->method != NULL && strcmp(req->method, method) == 0;
}

static bool
secure(const tk_web *w, const tk_http_req *req)
{
	return w->tls || req->tls;
}

/* RAW random bytes as base64url, TOKEN_LEN characters. */
static int
random_token(char out[TOKEN_LEN + 1])
{
	unsigned char raw[32];
	char b64[TK_B64_LEN(32) + 1];
	size_t i;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	tk_b64_encode(raw, sizeof(raw), b64);
	for (i = 0; i < TOKEN_LEN; i++)
		out[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
	out[i] = '\0';
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(b64, sizeof(b64));
	return 0;
}

static bool
token_shaped(const char *s)
{
	return s != NULL && strlen(s) == TOKEN_LEN && strspn(s, "ABCDEFGHIJ"
	    "KLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
	    TOKEN_LEN;
}

/* Constant-time equality of two tokens of TOKEN_LEN characters. */
static bool
token_equal(const char *a, const char *b)
{
	return token_shaped(a) && token_shaped(b) &&
	    CRYPTO_memcmp(a, b, TOKEN_LEN) == 0;
}

/* Adds a Set-Cookie header; false when all slots are taken. */
static bool
set_cookie(tk_http_resp *resp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static bool
set_cookie(tk_http_resp *resp, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (int i = 0; i < TK_RESP_COOKIES; i++) {
		if (resp->set_cookie[i][0] != '\0')
			continue;
		va_start(ap, fmt);
		n = vsnprintf(resp->set_cookie[i], sizeof(resp->set_cookie[i]),
		    fmt, ap);
		va_end(ap);
		if (n < 0 || (size_t)n >= sizeof(resp->set_cookie[i])) {
			resp->set_cookie[i][0] = '\0';
			return false;
		}
		return true;
	}
	return false;
}

static void
session_cookie(const tk_web *w, const tk_http_req *req, tk_http_resp *resp,
    const char *tok)
{
	(void)set_cookie(resp, COOKIE_SESSION "=%s; Path=/; HttpOnly; "
	    "SameSite=Strict%s", tok, secure(w, req) ? "; Secure" : "");
}

static void
session_cookie_clear(const tk_web *w, const tk_http_req *req,
    tk_http_resp *resp)
{
	(void)set_cookie(resp, COOKIE_SESSION "=; Path=/; Max-Age=0; "
	    "HttpOnly; SameSite=Strict%s", secure(w, req) ? "; Secure" : "");
}

/* A local path to go to after sign-in: "/" then only characters that
 * need no escaping in a URL or an attribute besides '&'; never "//"
 * (another host) or a backslash. NULL when next is not one. */
static const char *
next_ok(const char *next)
{
	size_t n;

	if (next == NULL || next[0] != '/' || next[1] == '/' ||
	    (n = strlen(next)) >= NEXT_MAX)
		return NULL;
	if (strspn(next, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789/_.~?=&%+-") != n)
		return NULL;
	return next;
}

/* Appends s percent-encoded (everything but unreserved and '/') to out. */
static int
url_escape(char *out, size_t size, size_t *len, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == '~' || c == '/';

		if (*len + (plain ? 1 : 3) >= size)
			return -1;
		if (plain) {
			out[(*len)++] = (char)c;
		} else {
			out[(*len)++] = '%';
			out[(*len)++] = hex[c >> 4];
			out[(*len)++] = hex[c & 15];
		}
	}
	out[*len] = '\0';
	return 0;
}

/* The path and query of req as a `next` value ("" when it does not fit
 * or would not pass next_ok). */
static void
here(const tk_http_req *req, char *out, size_t size)
{
	size_t len = 0;

	out[0] = '\0';
	if (url_escape(out, size, &len, req->path) != 0)
		goto none;
	for (size_t i = 0; i < req->nquery; i++) {
		if (len + 2 >= size)
			goto none;
		out[len++] = i == 0 ? '?' : '&';
		out[len] = '\0';
		if (url_escape(out, size, &len, req->query[i].key) != 0)
			goto none;
		if (len + 2 >= size)
			goto none;
		out[len++] = '=';
		out[len] = '\0';
		if (url_escape(out, size, &len, req->query[i].value) != 0)
			goto none;
	}
	if (next_ok(out) != NULL)
		return;
none:
	out[0] = '\0';
}

/* A small HTML page of our own text (already safe) into resp. */
static void
raw_page(tk_http_resp *resp, int status, const char *html)
{
	size_t n = strlen(html);

	resp->body = NULL;
	resp->html = true;
	resp->console = true;
	resp->ctype = NULL;
	resp->text = malloc(n + 1);
	if (resp->text == NULL) {
		resp->status = 500;
		resp->text_len = 0;
		return;
	}
	memcpy(resp->text, html, n + 1);
	resp->text_len = n;
	resp->status = status;
}

void
web_redirect(tk_http_resp *resp, const char *location)
{
	if (location == NULL || tk_strlcpy(resp->location, location,
	    sizeof(resp->location)) != 0)
		(void)tk_strlcpy(resp->location, DEFAULT_NEXT,
		    sizeof(resp->location));
	raw_page(resp, 303, "<!doctype html>\n<title>twokey</title>\n"
	    "<p>Moved on.</p>\n");
	if (resp->status != 500)
		resp->status = 303;
}

bool
web_reauth_fresh(const tk_web *w, const web_session *s)
{
	tk_time now = tk_app_now(w->app);

	return s != NULL && s->reauth_at > 0 && s->reauth_at <= now + 60 &&
	    now - s->reauth_at <= WEB_REAUTH_SECONDS;
}

/* A message page in the layout, without a signed-in user. */
static void
message(tk_web *w, const web_session *s, tk_http_resp *resp, int status,
    const char *heading, const char *text)
{
	pg_notice(w, s, resp, status, heading, text, s != NULL ? "/queues" :
	    "/login", s != NULL ? "Go to the queues" : "Go to sign-in");
}

/* ---- the handle ----------------------------------------------------------- */

tk_web *
tk_web_new(tk_app *app, const tk_web_opts *o, tk_error *err)
{
	tk_web *w = calloc(1, sizeof(*w));

	if (w == NULL) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "out of memory");
		return NULL;
	}
	w->tickets = calloc(1, sizeof(*w->tickets));
	if (w->tickets == NULL ||
	    pthread_mutex_init(&w->tickets->mu, NULL) != 0) {
		free(w->tickets);
		free(w);
		(void)tk_fail(err, TK_ERR_INTERNAL, "out of memory");
		return NULL;
	}
	w->app = app;
	w->tls = o != NULL && o->tls;
	w->idle_seconds = o != NULL ? o->idle_seconds : 0;
	w->max_seconds = o != NULL ? o->max_seconds : 0;
	if (o != NULL && o->oidc != NULL) {
		w->oidc = tk_oidc_load(o->oidc, err);
		if (w->oidc == NULL) {
			tk_web_free(w);
			return NULL;
		}
	}
	return w;
}

void
tk_web_free(tk_web *w)
{
	if (w == NULL)
		return;
	if (w->oidc != NULL)
		tk_oidc_free(w->oidc);
	if (w->tickets != NULL) {
		OPENSSL_cleanse(w->tickets->t, sizeof(w->tickets->t));
		(void)pthread_mutex_destroy(&w->tickets->mu);
		free(w->tickets);
	}
	free(w);
}

static bool
under(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(path, prefix, n) == 0 && (path[n] == '\0' ||
	    path[n] == '/');
}

bool
tk_web_owns(const char *path)
{
	return path != NULL && path[0] == '/' && !under(path, "/v1") &&
	    !under(path, "/confirm");
}

/* ---- sign-in form --------------------------------------------------------- */

/* The pre-session token: the tk_pre cookie when it has the right shape,
 * else a new one (and the cookie to set). */
static int
pre_token(const tk_web *w, const tk_http_req *req, tk_http_resp *resp,
    char out[TOKEN_LEN + 1])
{
	char c[TOKEN_LEN + 2];

	if (web_cookie(req->cookie, COOKIE_PRE, c, sizeof(c)) &&
	    token_shaped(c)) {
		memcpy(out, c, TOKEN_LEN + 1);
		return 0;
	}
	if (random_token(out) != 0)
		return -1;
	(void)set_cookie(resp, COOKIE_PRE "=%s; Path=/login; HttpOnly; "
	    "SameSite=Strict%s", out, secure(w, req) ? "; Secure" : "");
	return 0;
}

static void
login_page(tk_web *w, const tk_http_req *req, tk_http_resp *resp,
    int status, const char *next, const char *login, const char *alert)
{
	char pre[TOKEN_LEN + 1], nq[NEXT_MAX * 3];
	size_t nql = 0;
	json_t *d;
	bool bad = false;

	if (pre_token(w, req, resp, pre) != 0) {
		message(w, NULL, resp, 500, "Sign-in is not available",
		    "twokey could not make a sign-in form (no randomness); "
		    "try again, and tell the administrator if it persists.");
		return;
	}
	if (next == NULL)
		next = DEFAULT_NEXT;
	if (url_escape(nq, sizeof(nq), &nql, next) != 0)
		nq[0] = '\0';
	d = pg_data(w, NULL, "Sign in", NULL);
	if (d == NULL) {
		pg_oom(w, NULL, resp);
		return;
	}
	pg_set(d, "csrf", json_string(pre), &bad);
	pg_set(d, "next", json_string(next), &bad);
	pg_set(d, "next_q", json_string(nq), &bad);
	pg_set(d, "login", json_string(login != NULL ? login : ""), &bad);
	pg_set(d, "sso", json_boolean(w->oidc != NULL), &bad);
	if (alert != NULL) {
		pg_set(d, "alert", json_string(alert), &bad);
		pg_set(d, "alert_title", json_string(status == 429 ?
		    "Try again later" : "Not signed in"), &bad);
	}
	OPENSSL_cleanse(pre, sizeof(pre));
	if (bad) {
		json_decref(d);
		pg_oom(w, NULL, resp);
		return;
	}
	web_page_send(resp, status, "login", d);
	json_decref(d);
}

static bool
form_content(const tk_http_req *req)
{
	const char *ct = req->content_type;
	static const char want[] = "application/x-www-form-urlencoded";

	return ct != NULL && strncmp(ct, want, sizeof(want) - 1) == 0 &&
	    (ct[sizeof(want) - 1] == '\0' || ct[sizeof(want) - 1] == ';');
}

static void
csrf_refused(tk_web *w, const tk_http_req *req, const web_session *s,
    tk_http_resp *resp)
{
	tk_app_err err;

	if (tk_app_csrf_refused(w->app, s != NULL ? s->login : "",
	    req->remote, req->path, &err) != TK_OK)
		fprintf(stderr, "twokey: console: cannot record a refused "
		    "form: %s\n", err.e.msg);
	message(w, s, resp, 403, "Form refused", CSRF_TEXT);
}

static void
login_post(tk_web *w, const tk_http_req *req, tk_http_resp *resp)
{
	char pre[TOKEN_LEN + 2], tok[TK_SESSION_TOKEN_MAX];
	const char *next, *login;
	tk_signin_req r;
	tk_app_err err;
	web_form f;
	enum tk_status st;

	memset(&f, 0, sizeof(f));
	if (!form_content(req) || web_form_parse(&f, req->body != NULL ?
	    req->body : "", req->body_len) != 0) {
		web_form_free(&f);
		message(w, NULL, resp, 400, "Sign-in form not understood",
		    "The sign-in form did not arrive as a form; reload the "
		    "sign-in page and try again.");
		return;
	}
	if (!web_cookie(req->cookie, COOKIE_PRE, pre, sizeof(pre)) ||
	    !token_equal(pre, web_form_get(&f, "csrf"))) {
		web_form_free(&f);
		OPENSSL_cleanse(pre, sizeof(pre));
		csrf_refused(w, req, NULL, resp);
		return;
	}
	OPENSSL_cleanse(pre, sizeof(pre));
	next = next_ok(web_form_get(&f, "next"));
	login = web_form_get(&f, "login");
	r.login = login;
	r.password = web_form_get(&f, "password");
	r.code = web_form_get(&f, "code");
	r.remote = req->remote;
	st = tk_app_signin_local(w->app, &r, tok, sizeof(tok), &err);
	if (st == TK_OK) {
		session_cookie(w, req, resp, tok);
		OPENSSL_cleanse(tok, sizeof(tok));
		(void)set_cookie(resp, COOKIE_PRE "=; Path=/login; Max-Age=0; "
		    "HttpOnly; SameSite=Strict%s", secure(w, req) ?
		    "; Secure" : "");
		web_redirect(resp, next != NULL ? next : DEFAULT_NEXT);
		web_form_free(&f);
		return;
	}
	if (st == TK_ERR_UNAUTH || st == TK_ERR_TOO_MANY)
		login_page(w, req, resp, tk_status_http(st), next, login,
		    err.e.msg);
	else
		message(w, NULL, resp, 500, "Sign-in failed", "twokey could not "
		    "complete the sign-in because of an internal error; try "
		    "again, and tell the administrator if it persists.");
	web_form_free(&f);
}

/* ---- single sign-on -------------------------------------------------------- */

static void
sso_begin(tk_web *w, const tk_http_req *req, tk_http_resp *resp)
{
	char url[sizeof(resp->location)], binding[128];
	const char *next = next_ok(web_query(req, "next"));
	const char *fresh = web_query(req, "fresh");
	tk_error err;

	if (w->oidc == NULL) {
		message(w, NULL, resp, 404, "Single sign-on is not set up",
		    "This twokey server signs staff in with local accounts "
		    "only; use your login, password and code.");
		return;
	}
	memset(&err, 0, sizeof(err));
	if (tk_oidc_begin(w->oidc, fresh != NULL && strcmp(fresh, "1") == 0,
	    next != NULL ? next : DEFAULT_NEXT, tk_app_now(w->app), url,
	    sizeof(url), binding, sizeof(binding), &err) != 0) {
		message(w, NULL, resp, err.status == TK_ERR_INVALID ? 400 : 502,
		    "Single sign-on is not available", err.msg);
		return;
	}
	if (!set_cookie(resp, COOKIE_OIDC "=%s; Path=/sso; Max-Age=600; "
	    "HttpOnly; SameSite=Lax%s", binding, secure(w, req) ?
	    "; Secure" : "")) {
		OPENSSL_cleanse(binding, sizeof(binding));
		pg_oom(w, NULL, resp);
		return;
	}
	OPENSSL_cleanse(binding, sizeof(binding));
	web_redirect(resp, url);
	resp->status = 302;
}

/* The page that moves on to url (validated: next_ok or our own ticket
 * path) by meta refresh, so the next navigation is same-site. */
static void
move_on(tk_http_resp *resp, const char *url)
{
	char esc[NEXT_MAX * 5], page[NEXT_MAX * 12];
	size_t o = 0;

	for (const char *p = url; *p != '\0' && o + 6 < sizeof(esc); p++) {
		if (*p == '&') {
			memcpy(esc + o, "&amp;", 5);
			o += 5;
		} else {
			esc[o++] = *p;
		}
	}
	esc[o] = '\0';
	(void)snprintf(page, sizeof(page), "<!doctype html>\n<html lang=\"en\">"
	    "<head><meta charset=\"utf-8\">"
	    "<meta http-equiv=\"refresh\" content=\"0;url=%s\">"
	    "<title>Signing in · twokey</title>"
	    "<link rel=\"stylesheet\" href=\"/assets/console.css\"></head>"
	    "<body><main id=\"main\"><h1>Signing in</h1>"
	    "<p><a href=\"%s\">Continue</a></p></main></body></html>\n",
	    esc, esc);
	raw_page(resp, 200, page);
}

static void
sso_callback(tk_web *w, const tk_http_req *req, tk_http_resp *resp)
{
	char binding[128], tok[TK_SESSION_TOKEN_MAX], url[NEXT_MAX + 32];
	const char *next;
	tk_oidc_result res;
	tk_app_err ae;
	tk_error err;
	bool have;

	if (w->oidc == NULL) {
		message(w, NULL, resp, 404, "Single sign-on is not set up",
		    "This twokey server signs staff in with local accounts "
		    "only.");
		return;
	}
	have = web_cookie(req->cookie, COOKIE_OIDC, binding, sizeof(binding));
	(void)set_cookie(resp, COOKIE_OIDC "=; Path=/sso; Max-Age=0; "
	    "HttpOnly; SameSite=Lax%s", secure(w, req) ? "; Secure" : "");
	memset(&err, 0, sizeof(err));
	memset(&res, 0, sizeof(res));
	if (tk_oidc_finish(w->oidc, web_query(req, "state"), web_query(req,
	    "code"), web_query(req, "error"), have ? binding : "",
	    tk_app_now(w->app), &res, &err) != 0) {
		OPENSSL_cleanse(binding, sizeof(binding));
		if (tk_app_signin_sso_failed(w->app, req->remote, err.msg,
		    &ae) != TK_OK)
			fprintf(stderr, "twokey: console: cannot record a failed "
			    "SSO sign-in: %s\n", ae.e.msg);
		message(w, NULL, resp, 401, "Single sign-on did not complete",
		    err.msg[0] ? err.msg : "the identity provider's answer "
		    "could not be verified; sign in again");
		return;
	}
	OPENSSL_cleanse(binding, sizeof(binding));
	next = next_ok(res.next) != NULL ? res.next : DEFAULT_NEXT;
	if (res.fresh) {
		/* Re-authentication: finished on /sso/continue, where the
		 * session cookie is sent. */
		struct web_tickets *tk = w->tickets;
		struct web_ticket *slot = NULL;
		tk_time now = tk_app_now(w->app);

		(void)pthread_mutex_lock(&tk->mu);
		for (int i = 0; i < TICKETS_MAX; i++) {
			struct web_ticket *t = &tk->t[i];

			if (t->t[0] == '\0' || t->expires <= now) {
				slot = t;
				break;
			}
		}
		if (slot == NULL || random_token(slot->t) != 0 ||
		    random_token(slot->bind) != 0 ||
		    !set_cookie(resp, COOKIE_TICKET "=%s; Path=/sso/continue; "
		    "Max-Age=%d; HttpOnly; SameSite=Lax%s", slot->bind,
		    TICKET_TTL, secure(w, req) ? "; Secure" : "")) {
			if (slot != NULL)
				OPENSSL_cleanse(slot, sizeof(*slot));
			(void)pthread_mutex_unlock(&tk->mu);
			message(w, NULL, resp, 503, "Too many sign-ins at once",
			    "Too many re-authentications are in progress; try "
			    "again in a minute.");
			return;
		}
		(void)tk_strlcpy(slot->login, res.login, sizeof(slot->login));
		(void)tk_strlcpy(slot->next, next, sizeof(slot->next));
		slot->auth_time = res.auth_time;
		slot->expires = now + TICKET_TTL;
		(void)snprintf(url, sizeof(url), "/sso/continue?t=%s", slot->t);
		(void)pthread_mutex_unlock(&tk->mu);
		move_on(resp, url);
		OPENSSL_cleanse(url, sizeof(url));
		return;
	}
	if (tk_app_signin_sso(w->app, res.login, req->remote, res.auth_time,
	    tok, sizeof(tok), &ae) != TK_OK) {
		message(w, NULL, resp, tk_status_http(ae.e.status) == 500 ?
		    500 : 403, "Not signed in", ae.e.msg);
		return;
	}
	session_cookie(w, req, resp, tok);
	OPENSSL_cleanse(tok, sizeof(tok));
	move_on(resp, next);
}

/* /sso/continue?t=TICKET: a fresh SSO login lands on the session the
 * browser holds (re-authentication), or signs in when it holds none. */
static void
sso_continue(tk_web *w, const tk_http_req *req, tk_http_resp *resp)
{
	struct web_tickets *tk = w->tickets;
	struct web_ticket got;
	const char *t = web_query(req, "t");
	char tok[TK_SESSION_TOKEN_MAX], bind[TOKEN_LEN + 2];
	tk_session_info si;
	tk_app_err ae;
	tk_time now = tk_app_now(w->app);
	bool found = false, have;

	memset(&got, 0, sizeof(got));
	have = web_cookie(req->cookie, COOKIE_TICKET, bind, sizeof(bind));
	(void)set_cookie(resp, COOKIE_TICKET "=; Path=/sso/continue; "
	    "Max-Age=0; HttpOnly; SameSite=Lax%s", secure(w, req) ?
	    "; Secure" : "");
	if (token_shaped(t) && have) {
		(void)pthread_mutex_lock(&tk->mu);
		for (int i = 0; i < TICKETS_MAX; i++) {
			struct web_ticket *x = &tk->t[i];

			/* only the browser the ticket was given to uses it */
			if (x->t[0] != '\0' && token_equal(x->t, t) &&
			    token_equal(x->bind, bind)) {
				found = x->expires > now;
				got = *x;
				OPENSSL_cleanse(x, sizeof(*x)); /* used once */
				break;
			}
		}
		(void)pthread_mutex_unlock(&tk->mu);
	}
	OPENSSL_cleanse(bind, sizeof(bind));
	if (!found) {
		OPENSSL_cleanse(&got, sizeof(got));
		message(w, NULL, resp, 401, "Single sign-on did not complete",
		    "This sign-in link is unknown, used or expired; start "
		    "again from the page you were on.");
		return;
	}
	if (web_cookie(req->cookie, COOKIE_SESSION, tok, sizeof(tok)) &&
	    tk_app_session_check(w->app, tok, w->idle_seconds, w->max_seconds,
	    &si, &ae) == TK_OK) {
		if (tk_app_session_reauth_sso(w->app, tok, got.login,
		    got.auth_time, &ae) != TK_OK) {
			web_session s;

			memset(&s, 0, sizeof(s));
			(void)tk_strlcpy(s.login, si.login, sizeof(s.login));
			(void)tk_strlcpy(s.csrf, si.csrf, sizeof(s.csrf));
			OPENSSL_cleanse(tok, sizeof(tok));
			message(w, &s, resp, tk_status_http(ae.e.status),
			    "Re-authentication refused", ae.e.msg);
			OPENSSL_cleanse(&s, sizeof(s));
			OPENSSL_cleanse(&got, sizeof(got));
			return;
		}
		OPENSSL_cleanse(tok, sizeof(tok));
		web_redirect(resp, got.next);
		OPENSSL_cleanse(&got, sizeof(got));
		return;
	}
	OPENSSL_cleanse(tok, sizeof(tok));
	if (tk_app_signin_sso(w->app, got.login, req->remote, got.auth_time,
	    tok, sizeof(tok), &ae) != TK_OK) {
		OPENSSL_cleanse(&got, sizeof(got));
		message(w, NULL, resp, tk_status_http(ae.e.status) == 500 ?
		    500 : 403, "Not signed in", ae.e.msg);
		return;
	}
	session_cookie(w, req, resp, tok);
	OPENSSL_cleanse(tok, sizeof(tok));
	web_redirect(resp, got.next);
	OPENSSL_cleanse(&got, sizeof(got));
}

/* ---- signed-in pages ------------------------------------------------------- */

/* The CSRF field of a POST body equals s's token. */
static bool
csrf_ok(const tk_http_req *req, const web_session *s)
{
	web_form f;
	bool ok;

	memset(&f, 0, sizeof(f));
	if (!form_content(req) || web_form_parse(&f, req->body != NULL ?
	    req->body : "", req->body_len) != 0) {
		web_form_free(&f);
		return false;
	}
	ok = token_equal(s->csrf, web_form_get(&f, "csrf"));
	web_form_free(&f);
	return ok;
}

/* The session of req into s (false: not signed in, resp filled). */
static bool
session_of(tk_web *w, const tk_http_req *req, tk_http_resp *resp,
    web_session *s)
{
	char tok[TK_SESSION_TOKEN_MAX], next[NEXT_MAX], loc[NEXT_MAX * 3 + 16];
	tk_session_info si;
	tk_app_err err;
	enum tk_status st = TK_ERR_UNAUTH;
	size_t len;

	memset(s, 0, sizeof(*s));
	if (web_cookie(req->cookie, COOKIE_SESSION, tok, sizeof(tok)))
		st = tk_app_session_check(w->app, tok, w->idle_seconds,
		    w->max_seconds, &si, &err);
	if (st == TK_OK) {
		(void)tk_strlcpy(s->login, si.login, sizeof(s->login));
		(void)tk_strlcpy(s->csrf, si.csrf, sizeof(s->csrf));
		s->reauth_at = si.reauth_at;
		s->sso = si.sso;
		(void)tk_strlcpy(s->token, tok, sizeof(s->token));
		OPENSSL_cleanse(tok, sizeof(tok));
		OPENSSL_cleanse(&si, sizeof(si));
		return true;
	}
	OPENSSL_cleanse(tok, sizeof(tok));
	if (st != TK_ERR_UNAUTH) {
		message(w, NULL, resp, 500, "Something went wrong", "twokey "
		    "could not check your session because of an internal "
		    "error; try again, and tell the administrator if it "
		    "persists.");
		return false;
	}
	/* Not signed in: to the sign-in form, coming back here after. */
	(void)tk_strlcpy(loc, "/login", sizeof(loc));
	if (is(req, "GET")) {
		here(req, next, sizeof(next));
		len = strlen(loc);
		if (next[0] != '\0' && strcmp(next, DEFAULT_NEXT) != 0 &&
		    strcmp(next, "/") != 0) {
			(void)tk_strlcpy(loc + len, "?next=", sizeof(loc) - len);
			len = strlen(loc);
			if (url_escape(loc, sizeof(loc), &len, next) != 0)
				(void)tk_strlcpy(loc, "/login", sizeof(loc));
		}
	}
	if (req->cookie != NULL && strstr(req->cookie, COOKIE_SESSION "=") !=
	    NULL)
		session_cookie_clear(w, req, resp);
	web_redirect(resp, loc);
	return false;
}

static void
logout(tk_web *w, const tk_http_req *req, tk_http_resp *resp)
{
	web_session s;
	tk_app_err err;

	if (!session_of(w, req, resp, &s)) {
		/* nothing to end: straight to the form */
		if (resp->status == 303)
			(void)tk_strlcpy(resp->location, "/login",
			    sizeof(resp->location));
		return;
	}
	if (!csrf_ok(req, &s)) {
		csrf_refused(w, req, &s, resp);
		OPENSSL_cleanse(&s, sizeof(s));
		return;
	}
	if (tk_app_signout(w->app, s.token, &err) != TK_OK) {
		OPENSSL_cleanse(&s, sizeof(s));
		message(w, NULL, resp, 500, "Sign-out failed", "twokey could "
		    "not end your session because of an internal error; try "
		    "again.");
		return;
	}
	OPENSSL_cleanse(&s, sizeof(s));
	session_cookie_clear(w, req, resp);
	web_redirect(resp, "/login");
}

void
tk_web_handle(tk_web *w, const tk_http_req *req, tk_http_resp *resp)
{
	const char *p = req->path != NULL ? req->path : "/";
	web_session s;

	resp->console = true;
	resp->html = true;
	if (!is(req, "GET") && !is(req, "POST")) {
		message(w, NULL, resp, 405, "Method not allowed", "The console "
		    "answers GET and POST only.");
		return;
	}
	if (strncmp(p, "/assets/", 8) == 0) {
		if (!is(req, "GET") || !web_asset(p, resp))
			message(w, NULL, resp, 404, "Not found", "There is no "
			    "such file.");
		return;
	}
	if (strcmp(p, "/login") == 0) {
		if (is(req, "POST")) {
			login_post(w, req, resp);
			return;
		}
		/* Already signed in: straight on. */
		char tok[TK_SESSION_TOKEN_MAX];
		const char *next = next_ok(web_query(req, "next"));
		tk_session_info si;
		tk_app_err err;

		if (web_cookie(req->cookie, COOKIE_SESSION, tok, sizeof(tok)) &&
		    tk_app_session_check(w->app, tok, w->idle_seconds,
		    w->max_seconds, &si, &err) == TK_OK) {
			OPENSSL_cleanse(tok, sizeof(tok));
			web_redirect(resp, next != NULL ? next : DEFAULT_NEXT);
			return;
		}
		OPENSSL_cleanse(tok, sizeof(tok));
		login_page(w, req, resp, 200, next, NULL, NULL);
		return;
	}
	if (strcmp(p, "/login/sso") == 0 && is(req, "GET")) {
		sso_begin(w, req, resp);
		return;
	}
	if (strcmp(p, "/sso/callback") == 0 && is(req, "GET")) {
		sso_callback(w, req, resp);
		return;
	}
	if (strcmp(p, "/sso/continue") == 0 && is(req, "GET")) {
		sso_continue(w, req, resp);
		return;
	}
	if (strcmp(p, "/logout") == 0 && is(req, "POST")) {
		logout(w, req, resp);
		return;
	}
	if (!session_of(w, req, resp, &s))
		return;
	if (is(req, "POST") && !csrf_ok(req, &s)) {
		csrf_refused(w, req, &s, resp);
		OPENSSL_cleanse(&s, sizeof(s));
		return;
	}
	web_pages(w, req, &s, resp);
	OPENSSL_cleanse(&s, sizeof(s));
}
