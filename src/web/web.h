/*
 * web.h - the web console's entry point for the HTTP server: every path
 * that is not the REST API (/v1/...) or a confirmation link (/confirm/...)
 * is the console's. server.c creates one tk_web per server and hands it
 * the parsed request; the console answers with HTML, a redirect or an
 * asset.
 *
 * Owns: the tk_web handle and its options.
 */
#ifndef TK_WEB_H
#define TK_WEB_H

#include "app/app.h"
#include "core/tk.h"
#include "http/routes.h"

typedef struct tk_web tk_web;

typedef struct tk_web_opts {
	bool tls;              /* served over TLS: cookies get Secure */
	int64_t idle_seconds;  /* session idle expiry: 0 = 30 minutes */
	int64_t max_seconds;   /* session absolute expiry: 0 = 12 hours */
	const char *oidc;      /* OIDC configuration file (docs/console.md),
	                          or NULL: local accounts only */
} tk_web_opts;

/* NULL with err filled when the OIDC configuration does not load. */
tk_web *tk_web_new(tk_app *app, const tk_web_opts *o, tk_error *err);
void tk_web_free(tk_web *w);

/* True when path belongs to the console rather than the API. */
bool tk_web_owns(const char *path);

/* Handles one console request; always fills resp (as tk_routes_handle). */
void tk_web_handle(tk_web *w, const tk_http_req *req, tk_http_resp *resp);

#endif
