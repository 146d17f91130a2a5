/*
 * routes.h - the API's routes, independent of the HTTP library: a parsed
 * request in, a status and a JSON body out. server.c adapts
 * libmicrohttpd to this; tests can drive it directly.
 *
 * Owns: the request/response records passed between server and routes.
 */
#ifndef TK_HTTP_ROUTES_H
#define TK_HTTP_ROUTES_H

#include <jansson.h>

#include "app/app.h"
#include "core/tk.h"

#define TK_BODY_MAX (64 * 1024) /* request body cap (bytes) */
#define TK_QUERY_MAX 16         /* query parameters accepted */

typedef struct tk_qparam {
	const char *key, *value; /* borrowed, NUL-terminated */
} tk_qparam;

typedef struct tk_http_req {
	const char *method;   /* "GET" ... */
	const char *path;     /* "/v1/cases/c_..." (no query) */
	const char *body;     /* may be NULL when len is 0 */
	size_t body_len;
	const char *auth;     /* Authorization header value or NULL */
	tk_qparam query[TK_QUERY_MAX];
	size_t nquery;
	bool query_overflow;  /* more than TK_QUERY_MAX parameters */
	bool query_dup;       /* a parameter given twice */
	/* For the console (src/web): */
	const char *cookie;   /* Cookie header value or NULL */
	const char *content_type; /* Content-Type header value or NULL */
	char remote[64];      /* client address ("127.0.0.1", "::1"), "" unknown */
	bool tls;             /* served over TLS by twokey itself */
} tk_http_req;

#define TK_RESP_COOKIES 3 /* Set-Cookie headers one response may carry */

typedef struct tk_http_resp {
	int status;           /* HTTP status */
	json_t *body;         /* owned; NULL only when out of memory... */
	char *text;           /* ...or when the body is ready-made JSON text
	                       * (malloc'd, owned) */
	size_t text_len;
	bool html;            /* text is an HTML page, not JSON */
	char login[TK_ID_MAX];/* authenticated login, "" when none */
	/* For the console (src/web): */
	const char *ctype;    /* Content-Type of text when not JSON or the
	                         default HTML (static string), or NULL */
	bool console;         /* add the console's security headers: CSP,
	                         frame, referrer and nosniff, no-store */
	bool cacheable;       /* static asset: may be cached (not no-store) */
	bool secret;          /* text holds a secret shown once (a walk-in's
	                         credential): wiped when it has been sent */
	char location[1024];  /* Location header ("" none); status 302/303 */
	char set_cookie[TK_RESP_COOKIES][320]; /* Set-Cookie values, "" none */
} tk_http_resp;

/* Handles one request. Always fills resp (on out-of-memory body is NULL
 * and status 500). */
void tk_routes_handle(tk_app *app, const tk_http_req *req,
    tk_http_resp *resp);

/* The error body {"error":{...}} for err (new reference or NULL). */
json_t *tk_routes_error_json(const tk_app_err *err);

#endif
