/*
 * store_signin.h - the store's tables for console sign-in (store_signin.c):
 * local accounts (argon2id password hash, consecutive failures, lockout),
 * staff sign-in TOTP factors (sealed seeds, replay step; apart from the
 * subjects' registered factors), sessions (SHA-256 of the token only) and
 * the failed attempts per client address that throttling counts.
 *
 * Every call runs inside the caller's transaction (app_tx) or alone
 * (app_read); statements are prepared per call (human rates).
 */
#ifndef TK_STORE_SIGNIN_H
#define TK_STORE_SIGNIN_H

#include "store/store.h"

#define TK_PWHASH_MAX 192 /* an argon2id encoded hash, NUL included */

typedef struct tk_account_row {
	char login[TK_ID_MAX];
	char pwhash[TK_PWHASH_MAX]; /* argon2id encoded ("$argon2id$..."),
	                               "" when no password is set */
	int failures;           /* consecutive failed sign-ins */
	tk_time locked_until;   /* 0 when not locked */
	tk_time pw_changed;     /* when the password was last set */
} tk_account_row;

/* Sets login's password hash (creating the account), clearing failures
 * and any lock. */
int tk_store_account_password(tk_store *s, const char *login,
    const char *pwhash, tk_time now, tk_error *err);
/* TK_ERR_NOT_FOUND when login has no account. */
int tk_store_account_get(tk_store *s, const char *login, tk_account_row *a,
    tk_error *err);
/* Creates the account row (without a password) when absent. */
int tk_store_account_ensure(tk_store *s, const char *login, tk_time now,
    tk_error *err);
int tk_store_account_update(tk_store *s, const char *login, int failures,
    tk_time locked_until, tk_error *err);

/* A staff member's sign-in TOTP factor: the seed sealed under the seal
 * key with aad "signin:LOGIN". */
typedef struct tk_signin_factor_row {
	char login[TK_ID_MAX];
	unsigned char sealed[TK_SEALED_MAX];
	size_t sealed_len;
	int alg, digits, period;
	int64_t last_step;      /* highest step accepted (replay), -1 none */
	tk_time created;
} tk_signin_factor_row;

/* Replaces login's sign-in factor. */
int tk_store_signin_factor_put(tk_store *s, const tk_signin_factor_row *f,
    tk_error *err);
/* TK_ERR_NOT_FOUND when login has none. */
int tk_store_signin_factor_get(tk_store *s, const char *login,
    tk_signin_factor_row *f, tk_error *err);
int tk_store_signin_factor_step(tk_store *s, const char *login,
    int64_t last_step, tk_error *err);

typedef struct tk_session_row {
	unsigned char hash[32]; /* SHA-256 of the token */
	char login[TK_ID_MAX];
	char csrf[64];          /* the session's CSRF token (base64url) */
	tk_time created, last_seen;
	tk_time reauth_at;      /* 0 none */
	bool sso;
	tk_time ended;          /* 0 while the session lasts */
	char remote[64];        /* address it was created from */
} tk_session_row;

int tk_store_session_put(tk_store *s, const tk_session_row *r,
    tk_error *err);
/* TK_ERR_NOT_FOUND when no session has that hash. */
int tk_store_session_get(tk_store *s, const unsigned char hash[32],
    tk_session_row *r, tk_error *err);
int tk_store_session_touch(tk_store *s, const unsigned char hash[32],
    tk_time last_seen, tk_error *err);
int tk_store_session_reauth(tk_store *s, const unsigned char hash[32],
    tk_time at, tk_error *err);
/* Ends one session; *ended says whether it was still going. */
int tk_store_session_end(tk_store *s, const unsigned char hash[32],
    tk_time at, bool *ended, tk_error *err);
/* Ends every session of login; *n gets how many were still going. */
int tk_store_session_end_login(tk_store *s, const char *login, tk_time at,
    int *n, tk_error *err);
/* Deletes sessions created before `before` (long over either way). */
int tk_store_session_prune(tk_store *s, tk_time before, tk_error *err);

/* Failed sign-ins per client address, for throttling. */
int tk_store_signin_failure_add(tk_store *s, const char *remote, tk_time at,
    tk_error *err);
/* Failures from remote at or after since: *n gets their number and *nth
 * (when n >= nth_index + 1) the time of the nth_index-th newest one
 * (0-based), else 0. */
int tk_store_signin_failures(tk_store *s, const char *remote, tk_time since,
    int nth_index, int *n, tk_time *nth, tk_error *err);
/* Deletes failures older than before. */
int tk_store_signin_failure_prune(tk_store *s, tk_time before,
    tk_error *err);

#endif
