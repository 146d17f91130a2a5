/*
 * store_queue.c - the counts behind the console's queue tabs: how many
 * cases each queue (family) holds in one state or in any open state, in
 * one indexed GROUP BY (cases_family_state) instead of reading records.
 *
 * Owns: tk_store_case_counts (store.h).
 */
#include <stdio.h>
#include <string.h>

#include "core/case.h"
#include "store/store_int.h"

int
tk_store_case_counts(tk_store *s, const char *state, tk_count_cb cb,
    void *arg, tk_error *err)
{
	char sql[512];
	size_t n;
	sqlite3_stmt *st = NULL;
	int rc, ret = -1;

	n = (size_t)snprintf(sql, sizeof(sql), "SELECT family, count(*) FROM "
	    "cases WHERE state IN (");
	if (state == NULL || strcmp(state, "open") == 0) {
		bool first = true;

		for (int i = 0; i < TK_STATE__COUNT && n < sizeof(sql); i++) {
			if (!tk_state_is_open((enum tk_state)i))
				continue;
			n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s'%s'",
			    first ? "" : ",", tk_state_name((enum tk_state)i));
			first = false;
		}
	} else {
		if (tk_state_parse(state) < 0)
			return tk_fail(err, TK_ERR_INVALID, "unknown state "
			    "'%.40s'", state), -1;
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, "?1");
	}
	if (n < sizeof(sql))
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, ") GROUP BY "
		    "family");
	if (n >= sizeof(sql))
		return tk_fail(err, TK_ERR_INTERNAL, "store: count query too "
		    "long"), -1;
	if (sqlite3_prepare_v2(tk_store_sqlite(s), sql, -1, &st, NULL) !=
	    SQLITE_OK) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "store: cannot count cases: "
		    "%s", sqlite3_errmsg(tk_store_sqlite(s)));
		return -1;
	}
	if (state != NULL && strcmp(state, "open") != 0 &&
	    sqlite3_bind_text(st, 1, state, -1, SQLITE_TRANSIENT) !=
	    SQLITE_OK) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "store: cannot count cases: "
		    "%s", sqlite3_errmsg(tk_store_sqlite(s)));
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *fam = sqlite3_column_text(st, 0);

		if (fam == NULL)
			continue;
		cb(arg, (const char *)fam, sqlite3_column_int64(st, 1));
	}
	if (rc != SQLITE_DONE) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "store: cannot count cases: "
		    "%s", sqlite3_errmsg(tk_store_sqlite(s)));
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(st);
	return ret;
}
