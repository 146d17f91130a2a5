/*
 * store_fx.c - the store's tables for verification and execution: TOTP
 * factors (sealed seeds, replay step, lockout), one-time confirmation
 * links (token hashes only), the outbox of notices to send, and the
 * expiries: role grants to remove and temporary credentials to disable
 * when their time ends.
 *
 * Owns: those four tables and their statements, prepared once per
 * connection (tk_store_stmt: a factor is looked up at every case open);
 * every call runs inside the caller's transaction (the app's group
 * commit) or alone.
 */
#include <string.h>

#include "store/store_int.h"

#define FX_SCHEMA \
    "CREATE TABLE IF NOT EXISTS factors (" \
    " subject TEXT PRIMARY KEY," \
    " sealed BLOB NOT NULL," \
    " alg INTEGER NOT NULL," \
    " digits INTEGER NOT NULL," \
    " period INTEGER NOT NULL," \
    " last_step INTEGER NOT NULL," \
    " failures INTEGER NOT NULL," \
    " locked_until INTEGER NOT NULL," \
    " created INTEGER NOT NULL);" \
    "CREATE TABLE IF NOT EXISTS confirmations (" \
    " hash BLOB PRIMARY KEY," \
    " case_id TEXT NOT NULL," \
    " contact TEXT NOT NULL," \
    " purpose TEXT NOT NULL," \
    " sender TEXT NOT NULL," \
    " digest BLOB NOT NULL," \
    " created INTEGER NOT NULL," \
    " expires INTEGER NOT NULL," \
    " used INTEGER NOT NULL DEFAULT 0," \
    " answer TEXT NOT NULL DEFAULT '');" \
    "CREATE TABLE IF NOT EXISTS outbox (" \
    " id INTEGER PRIMARY KEY," \
    " case_id TEXT NOT NULL," \
    " kind TEXT NOT NULL," \
    " contact TEXT NOT NULL," \
    " created INTEGER NOT NULL," \
    " sent INTEGER NOT NULL DEFAULT 0," \
    " attempts INTEGER NOT NULL DEFAULT 0," \
    " error TEXT NOT NULL DEFAULT '');" \
    "CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (sent, id);" \
    "CREATE TABLE IF NOT EXISTS expiries (" \
    " case_id TEXT NOT NULL," \
    " op TEXT NOT NULL," \
    " subject TEXT NOT NULL," \
    " grp TEXT NOT NULL," \
    " connector TEXT NOT NULL," \
    " until INTEGER NOT NULL," \
    " removed INTEGER NOT NULL DEFAULT 0," \
    " attempts INTEGER NOT NULL DEFAULT 0," \
    " PRIMARY KEY (case_id, op));" \
    "CREATE INDEX IF NOT EXISTS expiries_due ON expiries (removed, until);"

static int
fx_fail(tk_store *s, tk_error *err, const char *what)
{
	return tk_fail(err, TK_ERR_INTERNAL, "store: %s: %s", what,
	    sqlite3_errmsg(tk_store_sqlite(s))) == TK_OK ? 0 : -1;
}

int
tk_store_fx_schema(tk_store *s, tk_error *err)
{
	if (sqlite3_exec(tk_store_sqlite(s), FX_SCHEMA, NULL, NULL, NULL) !=
	    SQLITE_OK)
		return fx_fail(s, err, "create verification tables");
	return 0;
}

/* The cached statement for sql (a literal); binds nothing. NULL with
 * err filled on failure. Given back with tk_store_stmt_done. */
static sqlite3_stmt *
prep(tk_store *s, const char *sql, tk_error *err)
{
	return tk_store_stmt(s, sql, err);
}

/* Steps a statement that returns no row, gives it back. */
static int
run(tk_store *s, sqlite3_stmt *st, int bind_rc, const char *what,
    tk_error *err)
{
	int rc;

	if (bind_rc != SQLITE_OK) {
		(void)fx_fail(s, err, what);
		tk_store_stmt_done(st);
		return -1;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		(void)fx_fail(s, err, what);
		tk_store_stmt_done(st);
		return -1;
	}
	tk_store_stmt_done(st);
	return 0;
}

/* Copies text column i into dst; -1 when it does not fit. */
static int
col_copy(sqlite3_stmt *st, int i, char *dst, size_t size)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return tk_strlcpy(dst, t != NULL ? (const char *)t : "", size);
}

static int
col_blob(sqlite3_stmt *st, int i, unsigned char *dst, size_t size,
    size_t *len)
{
	const void *b = sqlite3_column_blob(st, i);
	int n = sqlite3_column_bytes(st, i);

	if (n < 0 || (size_t)n > size || (len == NULL && (size_t)n != size))
		return -1;
	if (n > 0)
		memcpy(dst, b, (size_t)n);
	if (len != NULL)
		*len = (size_t)n;
	return 0;
}

/* Steps st (bound already) and reads up to max rows with read_row into
 * rows[elem * i]; *n gets how many. Gives st back. */
static int
read_rows(tk_store *s, sqlite3_stmt *st, int (*read_row)(sqlite3_stmt *,
    void *), void *rows, size_t elem, int max, int *n, const char *what,
    tk_error *err)
{
	int rc = SQLITE_DONE;

	*n = 0;
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		void *row = (char *)rows + elem * (size_t)*n;

		memset(row, 0, elem);
		if (read_row(st, row) != 0) {
			(void)tk_fail(err, TK_ERR_INTERNAL, "%s: a row is stored "
			    "malformed", what);
			tk_store_stmt_done(st);
			return -1;
		}
		(*n)++;
	}
	if (*n < max && rc != SQLITE_DONE) {
		(void)fx_fail(s, err, what);
		tk_store_stmt_done(st);
		return -1;
	}
	tk_store_stmt_done(st);
	return 0;
}

#define B_TEXT(st, i, v) sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC)
#define B_INT(st, i, v) sqlite3_bind_int64(st, i, (sqlite3_int64)(v))
#define B_BLOB(st, i, v, n) sqlite3_bind_blob(st, i, v, (int)(n), \
	SQLITE_STATIC)

/* ---- factors ------------------------------------------------------------ */

int
tk_store_factor_put(tk_store *s, const tk_factor_row *f, tk_error *err)
{
	sqlite3_stmt *st = prep(s, "INSERT OR REPLACE INTO factors (subject,"
	    " sealed, alg, digits, period, last_step, failures, locked_until,"
	    " created) VALUES (?,?,?,?,?,?,?,?,?)", err);
	int rc;

	if (st == NULL)
		return -1;
	rc = B_TEXT(st, 1, f->subject);
	rc |= B_BLOB(st, 2, f->sealed, f->sealed_len);
	rc |= B_INT(st, 3, f->alg);
	rc |= B_INT(st, 4, f->digits);
	rc |= B_INT(st, 5, f->period);
	rc |= B_INT(st, 6, f->last_step);
	rc |= B_INT(st, 7, f->failures);
	rc |= B_INT(st, 8, f->locked_until);
	rc |= B_INT(st, 9, f->created);
	return run(s, st, rc, "store factor", err);
}

int
tk_store_factor_get(tk_store *s, const char *subject, tk_factor_row *f,
    tk_error *err)
{
	sqlite3_stmt *st = prep(s, "SELECT sealed, alg, digits, period,"
	    " last_step, failures, locked_until, created FROM factors"
	    " WHERE subject = ?", err);
	int rc, ret = -1;

	if (st == NULL)
		return -1;
	memset(f, 0, sizeof(*f));
	if (B_TEXT(st, 1, subject) != SQLITE_OK) {
		(void)fx_fail(s, err, "read factor");
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		(void)tk_fail(err, TK_ERR_NOT_FOUND, "%s has no registered "
		    "factor; enrol one with `twokey factor enroll`", subject);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		(void)fx_fail(s, err, "read factor");
		goto out;
	}
	if (tk_strlcpy(f->subject, subject, sizeof(f->subject)) != 0 ||
	    col_blob(st, 0, f->sealed, sizeof(f->sealed),
	    &f->sealed_len) != 0) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "the factor of %s is "
		    "stored malformed", subject);
		goto out;
	}
	f->alg = sqlite3_column_int(st, 1);
	f->digits = sqlite3_column_int(st, 2);
	f->period = sqlite3_column_int(st, 3);
	f->last_step = sqlite3_column_int64(st, 4);
	f->failures = sqlite3_column_int(st, 5);
	f->locked_until = sqlite3_column_int64(st, 6);
	f->created = sqlite3_column_int64(st, 7);
	ret = 0;
out:
	tk_store_stmt_done(st);
	return ret;
}

int
tk_store_factor_update(tk_store *s, const char *subject, int64_t last_step,
    int failures, tk_time locked_until, tk_error *err)
{
	sqlite3_stmt *st = prep(s, "UPDATE factors SET last_step = ?,"
	    " failures = ?, locked_until = ? WHERE subject = ?", err);
	int rc;

	if (st == NULL)
		return -1;
	rc = B_INT(st, 1, last_step);
	rc |= B_INT(st, 2, failures);
	rc |= B_INT(st, 3, locked_until);
	rc |= B_TEXT(st, 4, subject);
	return run(s, st, rc, "update factor", err);
}

/* ---- confirmations -------------------------------------------------------- */

int
tk_store_confirm_put(tk_store *s, const tk_confirm_row *r, tk_error *err)
{
	sqlite3_stmt *st = prep(s, "INSERT INTO confirmations (hash, case_id,"
	    " contact, purpose, sender, digest, created, expires) VALUES"
	    " (?,?,?,?,?,?,?,?)", err);
	int rc;

	if (st == NULL)
		return -1;
	rc = B_BLOB(st, 1, r->hash, 32);
	rc |= B_TEXT(st, 2, r->case_id);
	rc |= B_TEXT(st, 3, r->contact);
	rc |= B_TEXT(st, 4, r->purpose);
	rc |= B_TEXT(st, 5, r->sender);
	rc |= B_BLOB(st, 6, r->digest, 32);
	rc |= B_INT(st, 7, r->created);
	rc |= B_INT(st, 8, r->expires);
	return run(s, st, rc, "store confirmation", err);
}

int
tk_store_confirm_get(tk_store *s, const unsigned char hash[32],
    tk_confirm_row *r, tk_error *err)
{
	sqlite3_stmt *st = prep(s, "SELECT case_id, contact, purpose, sender,"
	    " digest, created, expires, used, answer FROM confirmations"
	    " WHERE hash = ?", err);
	int rc, ret = -1;

	if (st == NULL)
		return -1;
	memset(r, 0, sizeof(*r));
	if (B_BLOB(st, 1, hash, 32) != SQLITE_OK) {
		(void)fx_fail(s, err, "read confirmation");
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		(void)tk_fail(err, TK_ERR_NOT_FOUND, "this confirmation link "
		    "is not valid; use the latest message twokey sent");
		goto out;
	}
	if (rc != SQLITE_ROW) {
		(void)fx_fail(s, err, "read confirmation");
		goto out;
	}
	memcpy(r->hash, hash, 32);
	if (col_copy(st, 0, r->case_id, sizeof(r->case_id)) != 0 ||
	    col_copy(st, 1, r->contact, sizeof(r->contact)) != 0 ||
	    col_copy(st, 2, r->purpose, sizeof(r->purpose)) != 0 ||
	    col_copy(st, 3, r->sender, sizeof(r->sender)) != 0 ||
	    col_blob(st, 4, r->digest, 32, NULL) != 0 ||
	    col_copy(st, 8, r->answer, sizeof(r->answer)) != 0) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "a confirmation is stored "
		    "malformed");
		goto out;
	}
	r->created = sqlite3_column_int64(st, 5);
	r->expires = sqlite3_column_int64(st, 6);
	r->used = sqlite3_column_int64(st, 7);
	ret = 0;
out:
	tk_store_stmt_done(st);
	return ret;
}

int
tk_store_confirm_use(tk_store *s, const unsigned char hash[32],
    const char *answer, tk_time at, bool *won, tk_error *err)
{
	sqlite3_stmt *st = prep(s, "UPDATE confirmations SET used = ?,"
	    " answer = ? WHERE hash = ? AND used = 0", err);
	int rc;

	*won = false;
	if (st == NULL)
		return -1;
	rc = B_INT(st, 1, at);
	rc |= B_TEXT(st, 2, answer);
	rc |= B_BLOB(st, 3, hash, 32);
	if (run(s, st, rc, "use confirmation", err) != 0)
		return -1;
	*won = sqlite3_changes(tk_store_sqlite(s)) == 1;
	return 0;
}

/* ---- outbox ------------------------------------------------------------------ */

int
tk_store_outbox_add(tk_store *s, const char *case_id, const char *kind,
    const char *contact, tk_time now, tk_error *err)
{
	sqlite3_stmt *st = prep(s, "INSERT INTO outbox (case_id, kind,"
	    " contact, created) VALUES (?,?,?,?)", err);
	int rc;

	if (st == NULL)
		return -1;
	rc = B_TEXT(st, 1, case_id);
	rc |= B_TEXT(st, 2, kind);
	rc |= B_TEXT(st, 3, contact);
	rc |= B_INT(st, 4, now);
	return run(s, st, rc, "queue notice", err);
}

static int
outbox_row(sqlite3_stmt *st, void *row)
{
	tk_outbox_row *r = row;

	r->id = sqlite3_column_int64(st, 0);
	if (col_copy(st, 1, r->case_id, sizeof(r->case_id)) != 0 ||
	    col_copy(st, 2, r->kind, sizeof(r->kind)) != 0 ||
	    col_copy(st, 3, r->contact, sizeof(r->contact)) != 0)
		return -1;
	r->created = sqlite3_column_int64(st, 4);
	r->attempts = sqlite3_column_int(st, 5);
	return 0;
}

int
tk_store_outbox_pending(tk_store *s, int max_attempts, tk_outbox_row *rows,
    int max, int *n, tk_error *err)
{
	sqlite3_stmt *st = prep(s, "SELECT id, case_id, kind, contact,"
	    " created, attempts FROM outbox WHERE sent = 0 AND attempts < ?"
	    " ORDER BY id LIMIT ?", err);

	*n = 0;
	if (st == NULL)
		return -1;
	if (B_INT(st, 1, max_attempts) != SQLITE_OK ||
	    B_INT(st, 2, max) != SQLITE_OK) {
		tk_store_stmt_done(st);
		return fx_fail(s, err, "read outbox");
	}
	return read_rows(s, st, outbox_row, rows, sizeof(*rows), max, n,
	    "read outbox", err);
}

int
tk_store_outbox_mark(tk_store *s, int64_t id, bool sent, const char *error,
    tk_error *err)
{
	sqlite3_stmt *st = prep(s, "UPDATE outbox SET sent = ?, attempts ="
	    " attempts + 1, error = ? WHERE id = ?", err);
	int rc;

	if (st == NULL)
		return -1;
	rc = B_INT(st, 1, sent ? 1 : 0);
	rc |= B_TEXT(st, 2, error != NULL ? error : "");
	rc |= B_INT(st, 3, id);
	return run(s, st, rc, "mark notice", err);
}

/* ---- expiries --------------------------------------------------------- */

int
tk_store_expiry_put(tk_store *s, const tk_expiry_row *g, tk_error *err)
{
	sqlite3_stmt *st = prep(s, "INSERT OR REPLACE INTO expiries (case_id,"
	    " op, subject, grp, connector, until) VALUES (?,?,?,?,?,?)", err);
	int rc;

	if (st == NULL)
		return -1;
	rc = B_TEXT(st, 1, g->case_id);
	rc |= B_TEXT(st, 2, g->op);
	rc |= B_TEXT(st, 3, g->subject);
	rc |= B_TEXT(st, 4, g->group);
	rc |= B_TEXT(st, 5, g->connector);
	rc |= B_INT(st, 6, g->until);
	return run(s, st, rc, "store expiry", err);
}

static int
expiry_row(sqlite3_stmt *st, void *row)
{
	tk_expiry_row *g = row;

	if (col_copy(st, 0, g->case_id, sizeof(g->case_id)) != 0 ||
	    col_copy(st, 1, g->op, sizeof(g->op)) != 0 ||
	    col_copy(st, 2, g->subject, sizeof(g->subject)) != 0 ||
	    col_copy(st, 3, g->group, sizeof(g->group)) != 0 ||
	    col_copy(st, 4, g->connector, sizeof(g->connector)) != 0)
		return -1;
	g->until = sqlite3_column_int64(st, 5);
	g->attempts = sqlite3_column_int(st, 6);
	return 0;
}

int
tk_store_expiry_due(tk_store *s, tk_time now, int max_attempts,
    tk_expiry_row *rows, int max, int *n, tk_error *err)
{
	sqlite3_stmt *st = prep(s, "SELECT case_id, op, subject, grp,"
	    " connector, until, attempts FROM expiries WHERE removed = 0 AND"
	    " until <= ? AND attempts < ? ORDER BY until LIMIT ?", err);

	*n = 0;
	if (st == NULL)
		return -1;
	if (B_INT(st, 1, now) != SQLITE_OK ||
	    B_INT(st, 2, max_attempts) != SQLITE_OK ||
	    B_INT(st, 3, max) != SQLITE_OK) {
		tk_store_stmt_done(st);
		return fx_fail(s, err, "read expiries");
	}
	return read_rows(s, st, expiry_row, rows, sizeof(*rows), max, n,
	    "read expiries", err);
}

int
tk_store_expiry_mark(tk_store *s, const char *case_id, const char *op,
    tk_time removed, tk_error *err)
{
	sqlite3_stmt *st = prep(s, op != NULL ? "UPDATE expiries SET"
	    " removed = ?, attempts = attempts + 1 WHERE case_id = ? AND"
	    " op = ?" : "UPDATE expiries SET removed = ?, attempts ="
	    " attempts + 1 WHERE case_id = ?", err);
	int rc;

	if (st == NULL)
		return -1;
	rc = B_INT(st, 1, removed);
	rc |= B_TEXT(st, 2, case_id);
	if (op != NULL)
		rc |= B_TEXT(st, 3, op);
	return run(s, st, rc, "mark expiry", err);
}
