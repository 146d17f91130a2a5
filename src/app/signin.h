/*
 * signin.h - staff sign-in for the console: local accounts (argon2id
 * password hash plus a TOTP factor), sessions (idle and absolute expiry,
 * per-session CSRF token, re-authentication stamp), sign-in through an
 * OpenID provider once the console has verified the ID token, and login
 * throttling (per-login lockout, per-address rate limit). Every failure,
 * lockout, sign-in and sign-out is an audit event.
 *
 * Owns: the accounts and sessions tables (src/store/store_signin.c) and
 * their rules. Session tokens are 256-bit random, given to the caller
 * once; only their SHA-256 is stored.
 */
#ifndef TK_APP_SIGNIN_H
#define TK_APP_SIGNIN_H

#include "app/app.h"

#define TK_SESSION_TOKEN_MAX 64 /* base64url of 32 bytes + NUL fits */
#define TK_CSRF_MAX 64

/* Sets (or replaces) login's local password; login must be staff in the
 * org. With password NULL a random one is generated and written to
 * gen_out (gen_size >= 32). Replacing a password ends the login's
 * sessions. */
enum tk_status tk_app_account_password(tk_app *a, const char *actor,
    const char *login, const char *password, char *gen_out, size_t gen_size,
    tk_app_err *err);
/* Enrolls (or replaces) login's sign-in TOTP factor; the otpauth:// URI
 * goes to uri_out (the only time the seed is shown). */
enum tk_status tk_app_account_totp(tk_app *a, const char *actor,
    const char *login, char *uri_out, size_t uri_size, tk_app_err *err);

typedef struct tk_signin_req {
	const char *login, *password, *code; /* code: the TOTP code */
	const char *remote;                  /* client address, for throttling
	                                        and the audit event */
} tk_signin_req;

typedef struct tk_session_info {
	char login[TK_ID_MAX];
	char csrf[TK_CSRF_MAX];
	tk_time created, last_seen;
	tk_time reauth_at;     /* last re-authentication, 0 none */
	bool sso;
} tk_session_info;

/* Local sign-in: password and TOTP code both right, account not locked,
 * address not throttled. On success a new session token goes to tok
 * (tok_size >= TK_SESSION_TOKEN_MAX). Five failures in a row lock the
 * login for 15 minutes (the fifth already answers TK_ERR_TOO_MANY);
 * after 20 failures from one address within 10 minutes its attempts are
 * refused until the oldest of them is 10 minutes old. Passwords are
 * argon2id (t=2, m=19 MiB, p=1).
 * Errors: TK_ERR_UNAUTH (wrong login, password or code: one
 * message for all three), TK_ERR_TOO_MANY (429 rate_limited: locked or
 * throttled; the message says until when). */
enum tk_status tk_app_signin_local(tk_app *a, const tk_signin_req *r,
    char *tok, size_t tok_size, tk_app_err *err);
/* Sign-in after the console verified an ID token whose claim named
 * login (staff in the org); auth_time from the token. */
enum tk_status tk_app_signin_sso(tk_app *a, const char *login,
    const char *remote, tk_time auth_time, char *tok, size_t tok_size,
    tk_app_err *err);
/* Looks the session up, enforces idle and absolute expiry (ending an
 * expired one with a `session.expired` event; 0 = 30 min / 12 h) and
 * marks it used (last_seen written at most once a minute).
 * TK_ERR_UNAUTH when unknown, ended, expired or no longer staff. */
enum tk_status tk_app_session_check(tk_app *a, const char *tok,
    int64_t idle_seconds, int64_t max_seconds, tk_session_info *out,
    tk_app_err *err);
/* Re-authentication inside a session: by the login's TOTP code (a wrong
 * one counts towards the lockout: TK_ERR_UNAUTH, TK_ERR_TOO_MANY), or
 * (sso) after a fresh OIDC login with auth_time naming the session's
 * login (else TK_ERR_FORBIDDEN). Stamps reauth_at (now, or auth_time). */
enum tk_status tk_app_session_reauth_totp(tk_app *a, const char *tok,
    const char *code, const char *remote, tk_app_err *err);
enum tk_status tk_app_session_reauth_sso(tk_app *a, const char *tok,
    const char *login, tk_time auth_time, tk_app_err *err);
/* Ends the session (sign-out). Unknown tokens are not an error. */
enum tk_status tk_app_signout(tk_app *a, const char *tok, tk_app_err *err);

/* Audit events for refusals the console decides itself: an OIDC login
 * that did not finish (reason: the client's message, for the record
 * only), and a POST whose CSRF token was missing or wrong (login "" when
 * there was no session). */
enum tk_status tk_app_signin_sso_failed(tk_app *a, const char *remote,
    const char *reason, tk_app_err *err);
enum tk_status tk_app_csrf_refused(tk_app *a, const char *login,
    const char *remote, const char *path, tk_app_err *err);

#endif
