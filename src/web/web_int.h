/*
 * web_int.h - what the console's files share: the tk_web record, the
 * signed-in session a page is rendered for, form and cookie parsing,
 * the template renderer and the page handlers.
 *
 * Files: console.c (tk_web_handle: assets, sign-in and sign-out, session
 * and CSRF checks, then the pages), form.c (request parsing), render.c
 * (templates), pages_*.c (one file per group of pages), assets.S (the
 * embedded templates and assets), oidc.c (the OpenID Connect client).
 */
#ifndef TK_WEB_INT_H
#define TK_WEB_INT_H

#include <jansson.h>

#include "app/app.h"
#include "web/oidc.h"
#include "web/web.h"

#define WEB_REAUTH_SECONDS 300 /* a re-authentication counts this long */

struct tk_web {
	tk_app *app;
	tk_oidc *oidc;         /* NULL when SSO is not configured */
	bool tls;
	int64_t idle_seconds, max_seconds;
	struct web_tickets *tickets; /* console.c: fresh SSO logins waiting
	                                for the session cookie */
};

/* The signed-in user a page is rendered for. */
typedef struct web_session {
	char login[TK_ID_MAX];
	char csrf[64];         /* this session's CSRF token (base64url) */
	tk_time reauth_at;     /* last re-authentication (TOTP or fresh SSO
	                          login), 0 = only the sign-in itself */
	bool sso;              /* signed in through OIDC */
	char token[64];        /* the session token (tk_session cookie), for
	                          tk_app_session_reauth_totp before a
	                          decision; wiped by console.c after use */
} web_session;

/* ---- form.c: request parsing ------------------------------------------ */

#define WEB_FORM_MAX 32

typedef struct web_form {
	char *buf;             /* decoded copy, owned; wiped when freed */
	size_t cap;            /* bytes at buf */
	struct { const char *key, *value; } f[WEB_FORM_MAX];
	size_t n;
} web_form;

/* Parses an application/x-www-form-urlencoded body (percent and '+'
 * decoded). -1 when it is malformed or has more than WEB_FORM_MAX
 * fields. */
int web_form_parse(web_form *f, const char *body, size_t len);
void web_form_free(web_form *f);
/* The value of the first field named key, or NULL. */
const char *web_form_get(const web_form *f, const char *key);
/* Every value of key in order into out (at most max); returns how many. */
size_t web_form_all(const web_form *f, const char *key, const char **out,
    size_t max);
/* The value of cookie name from a Cookie header into out; false when
 * absent or longer than size - 1. */
bool web_cookie(const char *header, const char *name, char *out,
    size_t size);
/* The query parameter key of req, or NULL. */
const char *web_query(const tk_http_req *req, const char *key);

/* ---- render.c: templates -------------------------------------------------
 *
 * Templates live in src/web/templates/NAME.html and are embedded in the
 * binary. Syntax (a small Mustache subset, documented in docs/console.md):
 * {{name}} and {{a.b}} insert a value HTML-escaped; {{#name}}...{{/name}}
 * repeats for each item of an array (the item becomes the context) or
 * renders once when the value is true, a non-empty string or an object;
 * {{^name}}...{{/name}} renders when it is missing, false, null, "" or [];
 * {{.}} is the current item; {{a.0}} is an array's first item ("has
 * any" tests); {{>name}} includes another template. There
 * is no unescaped form: nothing a user typed can become markup. */

/* Renders template name with data; malloc'd text, *len set. NULL with
 * err filled when the template is unknown or broken (a bug) or on OOM. */
char *web_render(const char *name, const json_t *data, size_t *len,
    tk_error *err);
/* Renders the template text src[0..srclen) (not embedded; partials
 * name embedded templates) as web_render does: tests and tools. */
char *web_render_string(const char *src, size_t srclen, const json_t *data,
    size_t *len, tk_error *err);
/* Renders name inside the page layout (layout.html): data gets "title",
 * "user" (login, name, function), "csrf" and "nav" (active section) added
 * by the caller. Fills resp as an HTML page with status. */
void web_page_send(tk_http_resp *resp, int status, const char *name,
    const json_t *data);
/* The asset at path ("/assets/console.css"...) into resp; false when
 * there is none. */
bool web_asset(const char *path, tk_http_resp *resp);

/* ---- pages_*.c -------------------------------------------------------- */

/* Serves every signed-in page (queues, cases, new case, break-glass,
 * reviews, audit, policy) for session s. console.c has already checked
 * the session, and the CSRF token on POST. */
void web_pages(tk_web *w, const tk_http_req *req, const web_session *s,
    tk_http_resp *resp);

/* console.c: sends a 303 to location. */
void web_redirect(tk_http_resp *resp, const char *location);
/* console.c: true when s re-authenticated within WEB_REAUTH_SECONDS. */
bool web_reauth_fresh(const tk_web *w, const web_session *s);

#endif
