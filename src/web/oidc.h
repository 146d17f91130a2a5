/*
 * oidc.h - the console's OpenID Connect client (relying party):
 * authorization code flow with PKCE (S256), state and nonce; ID tokens
 * verified against the provider's JWKS (RS256 and ES256 only; "none",
 * HS256 and every other alg refused), with iss, aud, azp, exp, iat,
 * nonce and, for a fresh login, auth_time checked.
 *
 * Owns: the configuration file, provider discovery and the JWKS cache,
 * and the logins in flight (in memory, bounded, ten minutes each).
 */
#ifndef TK_WEB_OIDC_H
#define TK_WEB_OIDC_H

#include <jansson.h>

#include "core/tk.h"

typedef struct tk_oidc tk_oidc;

/* Loads the configuration (YAML; docs/console.md): issuer, client_id,
 * client_secret_file (optional: public client with PKCE only),
 * redirect_uri, claim (the ID token claim that holds the staff login,
 * default preferred_username), scopes (default "openid profile").
 * Discovery and the JWKS are fetched on first use, not here. */
tk_oidc *tk_oidc_load(const char *path, tk_error *err);
void tk_oidc_free(tk_oidc *o);

/* Starts a login. fresh asks the provider to authenticate again
 * (prompt=login, max_age=0) for a re-authentication. next is the
 * console path to return to. Fills url (the authorization request) and
 * binding (a random value the console sets as a cookie, so only the
 * browser that started the login can finish it). */
int tk_oidc_begin(tk_oidc *o, bool fresh, const char *next, tk_time now,
    char *url, size_t url_size, char *binding, size_t binding_size,
    tk_error *err);

typedef struct tk_oidc_result {
	char login[TK_ID_MAX]; /* the configured claim's value */
	tk_time auth_time;     /* from the token, or iat when absent */
	char next[256];
	bool fresh;
} tk_oidc_result;

/* Finishes a login on the callback: state and code (or the provider's
 * error) from the query, binding from the cookie. Exchanges the code
 * with the PKCE verifier and verifies the ID token. -1 with err (for a
 * person) on any failure; the login in flight is used up either way. */
int tk_oidc_finish(tk_oidc *o, const char *state, const char *code,
    const char *error, const char *binding, tk_time now,
    tk_oidc_result *out, tk_error *err);

/* Verifies a compact JWS ID token against jwks ({"keys":[...]}) and the
 * expected issuer, audience and nonce at now (60 s leeway). *claims gets
 * the payload (new reference). Exposed for the unit tests. */
int tk_oidc_verify_id_token(const char *jwt, const json_t *jwks,
    const char *issuer, const char *audience, const char *nonce,
    tk_time now, json_t **claims, tk_error *err);

#endif
