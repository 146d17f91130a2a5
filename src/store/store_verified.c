/*
 * store_verified.c - finding the newest `audit.verified` event (the
 * record each full verification of the log leaves, app/audit_verify.c)
 * without reading the log.
 *
 * Owns: the partial index events_verified, which holds only the rows of
 * that kind: every other append skips it (SQLite evaluates the index's
 * WHERE and writes nothing), so it costs the event log's write path
 * nothing, unlike an index on events(kind) that every append would
 * update. The query names the kind as a literal, as SQLite needs to use
 * a partial index.
 */
#include "store/store_int.h"

#define VERIFIED_SCHEMA \
    "CREATE INDEX IF NOT EXISTS events_verified ON events (seq)" \
    " WHERE kind = '" TK_EVENT_AUDIT_VERIFIED "';"

int
tk_store_verified_schema(tk_store *s, tk_error *err)
{
	if (sqlite3_exec(tk_store_sqlite(s), VERIFIED_SCHEMA, NULL, NULL,
	    NULL) != SQLITE_OK)
		return tk_fail(err, TK_ERR_INTERNAL, "store: create the index "
		    "of verification events: %s",
		    sqlite3_errmsg(tk_store_sqlite(s))), -1;
	return 0;
}

int
tk_store_event_latest_verified(tk_store *s, int64_t *seq, tk_error *err)
{
	static const char sql[] = "SELECT max(seq) FROM events WHERE kind = '"
	    TK_EVENT_AUDIT_VERIFIED "'";
	sqlite3_stmt *st;
	int rc;

	*seq = 0;
	st = tk_store_stmt(s, sql, err);
	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER)
		*seq = (int64_t)sqlite3_column_int64(st, 0);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "store: find the latest "
		    "verification: %s", sqlite3_errmsg(tk_store_sqlite(s)));
		tk_store_stmt_done(st);
		return -1;
	}
	tk_store_stmt_done(st);
	if (*seq < 0)
		return tk_fail(err, TK_ERR_INTERNAL, "store: a verification "
		    "event has a negative sequence number"), -1;
	return 0;
}
