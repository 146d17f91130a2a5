/*
 * store_signin.c - the store's tables for console sign-in: accounts
 * (argon2id hashes, consecutive failures, lockout), sign-in TOTP factors
 * of staff (sealed seeds and replay step, apart from the subjects'
 * `factors`), sessions (token SHA-256, CSRF token, times) and failed
 * attempts per client address.
 *
 * Owns: those four tables and their statements. Sign-in runs at human
 * rates, so statements are prepared per call; every call runs inside the
 * caller's transaction (the app's group commit) or alone.
 */
#include <string.h>

#include "store/store_int.h"
#include "store/store_signin.h"

#define SIGNIN_SCHEMA \
    "CREATE TABLE IF NOT EXISTS accounts (" \
    " login TEXT PRIMARY KEY," \
    " pwhash TEXT NOT NULL DEFAULT ''," \
    " failures INTEGER NOT NULL DEFAULT 0," \
    " locked_until INTEGER NOT NULL DEFAULT 0," \
    " pw_changed INTEGER NOT NULL DEFAULT 0," \
    " created INTEGER NOT NULL);" \
    "CREATE TABLE IF NOT EXISTS signin_factors (" \
    " login TEXT PRIMARY KEY," \
    " sealed BLOB NOT NULL," \
    " alg INTEGER NOT NULL," \
    " digits INTEGER NOT NULL," \
    " period INTEGER NOT NULL," \
    " last_step INTEGER NOT NULL," \
    " created INTEGER NOT NULL);" \
    "CREATE TABLE IF NOT EXISTS sessions (" \
    " hash BLOB PRIMARY KEY," \
    " login TEXT NOT NULL," \
    " csrf TEXT NOT NULL," \
    " created INTEGER NOT NULL," \
    " last_seen INTEGER NOT NULL," \
    " reauth_at INTEGER NOT NULL DEFAULT 0," \
    " sso INTEGER NOT NULL DEFAULT 0," \
    " ended INTEGER NOT NULL DEFAULT 0," \
    " remote TEXT NOT NULL DEFAULT '');" \
    "CREATE INDEX IF NOT EXISTS sessions_login ON sessions (login, ended);" \
    "CREATE INDEX IF NOT EXISTS sessions_created ON sessions (created);" \
    "CREATE TABLE IF NOT EXISTS signin_failures (" \
    " id INTEGER PRIMARY KEY," \
    " remote TEXT NOT NULL," \
    " at INTEGER NOT NULL);" \
    "CREATE INDEX IF NOT EXISTS signin_failures_remote ON signin_failures" \
    " (remote, at);"

static int
si_fail(tk_store *s, tk_error *err, const char *what)
{
	(void)tk_fail(err, TK_ERR_INTERNAL, "store: %s: %s", what,
	    sqlite3_errmsg(tk_store_sqlite(s)));
	return -1;
}

int
tk_store_signin_schema(tk_store *s, tk_error *err)
{
	if (sqlite3_exec(tk_store_sqlite(s), SIGNIN_SCHEMA, NULL, NULL, NULL) !=
	    SQLITE_OK)
		return si_fail(s, err, "create sign-in tables");
	return 0;
}

/* Prepares sql; NULL with err filled on failure. */
static sqlite3_stmt *
prep(tk_store *s, const char *sql, tk_error *err)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(tk_store_sqlite(s), sql, -1, &st, NULL) !=
	    SQLITE_OK) {
		(void)si_fail(s, err, "prepare");
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

/* Steps a statement that returns no row, finalizes it. */
static int
run(tk_store *s, sqlite3_stmt *st, int bind_rc, const char *what,
    tk_error *err)
{
	int rc;

	if (bind_rc != SQLITE_OK) {
		(void)si_fail(s, err, what);
		sqlite3_finalize(st);
		return -1;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		(void)si_fail(s, err, what);
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

/* Steps st for at most one row: 1 row, 0 none, -1 error (err filled). */
static int
one_row(tk_store *s, sqlite3_stmt *st, const char *what, tk_error *err)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return si_fail(s, err, what);
}

static int
col_copy(sqlite3_stmt *st, int i, char *dst, size_t size)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return tk_strlcpy(dst, t != NULL ? (const char *)t : "", size);
}

#define B_TEXT(st, i, v) sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC)
#define B_INT(st, i, v) sqlite3_bind_int64(st, i, (sqlite3_int64)(v))
#define B_BLOB(st, i, v, n) sqlite3_bind_blob(st, i, v, (int)(n), \
	SQLITE_STATIC)

/* ---- accounts ------------------------------------------------------------ */

int
tk_store_account_password(tk_store *s, const char *login, const char *pwhash,
    tk_time now, tk_error *err)
{
	sqlite3_stmt *st = prep(s, "INSERT INTO accounts (login, pwhash,"
	    " failures, locked_until, pw_changed, created) VALUES"
	    " (?1,?2,0,0,?3,?3) ON CONFLICT (login) DO UPDATE SET"
	    " pwhash = ?2, failures = 0, locked_until = 0, pw_changed = ?3",
	    err);
	int rc;

	if (st == NULL)
		return -1;
	rc = B_TEXT(st, 1, login);
	rc |= B_TEXT(st, 2, pwhash);
	rc |= B_INT(st, 3, now);
	return run(s, st, rc, "store password", err);
}

int
tk_store_account_ensure(tk_store *s, const char *login, tk_time now,
    tk_error *err)
{
	sqlite3_stmt *st = prep(s, "INSERT OR IGNORE INTO accounts (login,"
	    " created) VALUES (?,?)", err);
	int rc;

	if (st == NULL)
		return -1;
	rc = B_TEXT(st, 1, login);
	rc |= B_INT(st, 2, now);
	return run(s, st, rc, "create account", err);
}

int
tk_store_account_get(tk_store *s, const char *login, tk_account_row *a,
    tk_error *err)
{
	sqlite3_stmt *st = prep(s, "SELECT pwhash, failures, locked_until,"
	    " pw_changed FROM accounts WHERE login = ?", err);
	int rc, ret = -1;

	memset(a, 0, sizeof(*a));
	if (st == NULL)
		return -1;
	if (B_TEXT(st, 1, login) != SQLITE_OK) {
		(void)si_fail(s, err, "read account");
		goto out;
	}
	if ((rc = one_row(s, st, "read account", err)) <= 0) {
		if (rc == 0)
			(void)tk_fail(err, TK_ERR_NOT_FOUND, "%s has no console "
			    "account; set a password with `twokey account "
			    "password`", login);
		goto out;
	}
	if (tk_strlcpy(a->login, login, sizeof(a->login)) != 0 ||
	    col_copy(st, 0, a->pwhash, sizeof(a->pwhash)) != 0) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "the account of %s is "
		    "stored malformed", login);
		goto out;
	}
	a->failures = sqlite3_column_int(st, 1);
	a->locked_until = sqlite3_column_int64(st, 2);
	a->pw_changed = sqlite3_column_int64(st, 3);
	ret = 0;
out:
	sqlite3_finalize(st);
	return ret;
}

int
tk_store_account_update(tk_store *s, const char *login, int failures,
    tk_time locked_until, tk_error *err)
{
	sqlite3_stmt *st = prep(s, "UPDATE accounts SET failures = ?,"
	    " locked_until = ? WHERE login = ?", err);
	int rc;

	if (st == NULL)
		return -1;
	rc = B_INT(st, 1, failures);
	rc |= B_INT(st, 2, locked_until);
	rc |= B_TEXT(st, 3, login);
	return run(s, st, rc, "update account", err);
}

/* ---- sign-in factors ------------------------------------------------------ */

int
tk_store_signin_factor_put(tk_store *s, const tk_signin_factor_row *f,
    tk_error *err)
{
	sqlite3_stmt *st = prep(s, "INSERT OR REPLACE INTO signin_factors"
	    " (login, sealed, alg, digits, period, last_step, created) VALUES"
	    " (?,?,?,?,?,?,?)", err);
	int rc;

	if (st == NULL)
		return -1;
	rc = B_TEXT(st, 1, f->login);
	rc |= B_BLOB(st, 2, f->sealed, f->sealed_len);
	rc |= B_INT(st, 3, f->alg);
	rc |= B_INT(st, 4, f->digits);
	rc |= B_INT(st, 5, f->period);
	rc |= B_INT(st, 6, f->last_step);
	rc |= B_INT(st, 7, f->created);
	return run(s, st, rc, "store sign-in factor", err);
}

int
tk_store_signin_factor_get(tk_store *s, const char *login,
    tk_signin_factor_row *f, tk_error *err)
{
	sqlite3_stmt *st = prep(s, "SELECT sealed, alg, digits, period,"
	    " last_step, created FROM signin_factors WHERE login = ?", err);
	const void *b;
	int rc, n, ret = -1;

	memset(f, 0, sizeof(*f));
	if (st == NULL)
		return -1;
	if (B_TEXT(st, 1, login) != SQLITE_OK) {
		(void)si_fail(s, err, "read sign-in factor");
		goto out;
	}
	if ((rc = one_row(s, st, "read sign-in factor", err)) <= 0) {
		if (rc == 0)
			(void)tk_fail(err, TK_ERR_NOT_FOUND, "%s has no sign-in "
			    "TOTP factor; enrol one with `twokey account totp`",
			    login);
		goto out;
	}
	b = sqlite3_column_blob(st, 0);
	n = sqlite3_column_bytes(st, 0);
	if (tk_strlcpy(f->login, login, sizeof(f->login)) != 0 || n <= 0 ||
	    (size_t)n > sizeof(f->sealed) || b == NULL) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "the sign-in factor of %s "
		    "is stored malformed", login);
		goto out;
	}
	memcpy(f->sealed, b, (size_t)n);
	f->sealed_len = (size_t)n;
	f->alg = sqlite3_column_int(st, 1);
	f->digits = sqlite3_column_int(st, 2);
	f->period = sqlite3_column_int(st, 3);
	f->last_step = sqlite3_column_int64(st, 4);
	f->created = sqlite3_column_int64(st, 5);
	ret = 0;
out:
	sqlite3_finalize(st);
	return ret;
}

int
tk_store_signin_factor_step(tk_store *s, const char *login,
    int64_t last_step, tk_error *err)
{
	sqlite3_stmt *st = prep(s, "UPDATE signin_factors SET last_step = ?"
	    " WHERE login = ?", err);
	int rc;

	if (st == NULL)
		return -1;
	rc = B_INT(st, 1, last_step);
	rc |= B_TEXT(st, 2, login);
	return run(s, st, rc, "update sign-in factor", err);
}

/* ---- sessions ------------------------------------------------------------- */

int
tk_store_session_put(tk_store *s, const tk_session_row *r, tk_error *err)
{
	sqlite3_stmt *st = prep(s, "INSERT INTO sessions (hash, login, csrf,"
	    " created, last_seen, reauth_at, sso, ended, remote) VALUES"
	    " (?,?,?,?,?,?,?,?,?)", err);
	int rc;

	if (st == NULL)
		return -1;
	rc = B_BLOB(st, 1, r->hash, 32);
	rc |= B_TEXT(st, 2, r->login);
	rc |= B_TEXT(st, 3, r->csrf);
	rc |= B_INT(st, 4, r->created);
	rc |= B_INT(st, 5, r->last_seen);
	rc |= B_INT(st, 6, r->reauth_at);
	rc |= B_INT(st, 7, r->sso ? 1 : 0);
	rc |= B_INT(st, 8, r->ended);
	rc |= B_TEXT(st, 9, r->remote);
	return run(s, st, rc, "store session", err);
}

int
tk_store_session_get(tk_store *s, const unsigned char hash[32],
    tk_session_row *r, tk_error *err)
{
	sqlite3_stmt *st = prep(s, "SELECT login, csrf, created, last_seen,"
	    " reauth_at, sso, ended, remote FROM sessions WHERE hash = ?",
	    err);
	int rc, ret = -1;

	memset(r, 0, sizeof(*r));
	if (st == NULL)
		return -1;
	if (B_BLOB(st, 1, hash, 32) != SQLITE_OK) {
		(void)si_fail(s, err, "read session");
		goto out;
	}
	if ((rc = one_row(s, st, "read session", err)) <= 0) {
		if (rc == 0)
			(void)tk_fail(err, TK_ERR_NOT_FOUND, "no such session");
		goto out;
	}
	memcpy(r->hash, hash, 32);
	if (col_copy(st, 0, r->login, sizeof(r->login)) != 0 ||
	    col_copy(st, 1, r->csrf, sizeof(r->csrf)) != 0 ||
	    col_copy(st, 7, r->remote, sizeof(r->remote)) != 0 ||
	    r->login[0] == '\0' || r->csrf[0] == '\0') {
		(void)tk_fail(err, TK_ERR_INTERNAL, "a session is stored "
		    "malformed");
		goto out;
	}
	r->created = sqlite3_column_int64(st, 2);
	r->last_seen = sqlite3_column_int64(st, 3);
	r->reauth_at = sqlite3_column_int64(st, 4);
	r->sso = sqlite3_column_int(st, 5) != 0;
	r->ended = sqlite3_column_int64(st, 6);
	ret = 0;
out:
	sqlite3_finalize(st);
	return ret;
}

/* UPDATE sessions SET col = at WHERE hash = ? (col from a fixed list). */
static int
session_set(tk_store *s, const char *sql, const unsigned char hash[32],
    tk_time at, const char *what, tk_error *err)
{
	sqlite3_stmt *st = prep(s, sql, err);
	int rc;

	if (st == NULL)
		return -1;
	rc = B_INT(st, 1, at);
	rc |= B_BLOB(st, 2, hash, 32);
	return run(s, st, rc, what, err);
}

int
tk_store_session_touch(tk_store *s, const unsigned char hash[32],
    tk_time last_seen, tk_error *err)
{
	return session_set(s, "UPDATE sessions SET last_seen = ? WHERE"
	    " hash = ? AND ended = 0", hash, last_seen, "touch session", err);
}

int
tk_store_session_reauth(tk_store *s, const unsigned char hash[32],
    tk_time at, tk_error *err)
{
	return session_set(s, "UPDATE sessions SET reauth_at = ? WHERE"
	    " hash = ? AND ended = 0", hash, at, "stamp re-authentication",
	    err);
}

int
tk_store_session_end(tk_store *s, const unsigned char hash[32], tk_time at,
    bool *ended, tk_error *err)
{
	*ended = false;
	if (session_set(s, "UPDATE sessions SET ended = ? WHERE hash = ? AND"
	    " ended = 0", hash, at, "end session", err) != 0)
		return -1;
	*ended = sqlite3_changes(tk_store_sqlite(s)) == 1;
	return 0;
}

int
tk_store_session_end_login(tk_store *s, const char *login, tk_time at,
    int *n, tk_error *err)
{
	sqlite3_stmt *st = prep(s, "UPDATE sessions SET ended = ? WHERE"
	    " login = ? AND ended = 0", err);
	int rc;

	*n = 0;
	if (st == NULL)
		return -1;
	rc = B_INT(st, 1, at);
	rc |= B_TEXT(st, 2, login);
	if (run(s, st, rc, "end sessions", err) != 0)
		return -1;
	*n = sqlite3_changes(tk_store_sqlite(s));
	return 0;
}

int
tk_store_session_prune(tk_store *s, tk_time before, tk_error *err)
{
	sqlite3_stmt *st = prep(s, "DELETE FROM sessions WHERE created < ?",
	    err);

	if (st == NULL)
		return -1;
	return run(s, st, B_INT(st, 1, before), "prune sessions", err);
}

/* ---- failures per address ------------------------------------------------- */

int
tk_store_signin_failure_add(tk_store *s, const char *remote, tk_time at,
    tk_error *err)
{
	sqlite3_stmt *st = prep(s, "INSERT INTO signin_failures (remote, at)"
	    " VALUES (?,?)", err);
	int rc;

	if (st == NULL)
		return -1;
	rc = B_TEXT(st, 1, remote);
	rc |= B_INT(st, 2, at);
	return run(s, st, rc, "record failed sign-in", err);
}

int
tk_store_signin_failures(tk_store *s, const char *remote, tk_time since,
    int nth_index, int *n, tk_time *nth, tk_error *err)
{
	sqlite3_stmt *st = prep(s, "SELECT at FROM signin_failures WHERE"
	    " remote = ? AND at >= ? ORDER BY at DESC, id DESC", err);
	int rc, i = 0;

	*n = 0;
	*nth = 0;
	if (st == NULL)
		return -1;
	if (B_TEXT(st, 1, remote) != SQLITE_OK ||
	    B_INT(st, 2, since) != SQLITE_OK) {
		(void)si_fail(s, err, "count failed sign-ins");
		sqlite3_finalize(st);
		return -1;
	}
	/* The window holds at most a few dozen rows: the throttle stops
	 * adding to it once it is full. */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (i == nth_index)
			*nth = sqlite3_column_int64(st, 0);
		i++;
	}
	if (rc != SQLITE_DONE) {
		(void)si_fail(s, err, "count failed sign-ins");
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	*n = i;
	return 0;
}

int
tk_store_signin_failure_prune(tk_store *s, tk_time before, tk_error *err)
{
	sqlite3_stmt *st = prep(s, "DELETE FROM signin_failures WHERE at < ?",
	    err);

	if (st == NULL)
		return -1;
	return run(s, st, B_INT(st, 1, before), "prune failed sign-ins", err);
}
