/*
 * test_store.c - unit tests for the SQLite store (store/store_sqlite.c):
 * open and create, configuration versions, cases (put, get, find_open,
 * list with filters and paging), tokens, event append with its leaf
 * hashes and the Merkle tree over them, transactions (rollback leaves
 * nothing, in the tree neither), persistence across reopen, two
 * connections appending to one log, schema version refusal, and rows
 * edited behind the store's back read as errors, not crashes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "audit/chain.h"
#include "audit/merkle.h"
#include "store/store.h"

struct fixture {
	char dir[64];
	char path[128];
	tk_store *s;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	tk_error err;

	if (f == NULL)
		return -1;
	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/tk_store_XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	(void)snprintf(f->path, sizeof(f->path), "%s/tk.db", f->dir);
	f->s = tk_store_open(f->path, true, &err);
	if (f->s == NULL) {
		fprintf(stderr, "open: %s\n", err.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[160];

	tk_store_close(f->s);
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void
raw_exec(const char *path, const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("sql: %s", msg);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void
reopen(struct fixture *f)
{
	tk_error err;

	tk_store_close(f->s);
	f->s = tk_store_open(f->path, false, &err);
	if (f->s == NULL)
		fail_msg("reopen: %s", err.msg);
}

/* ------------------------------------------------------------------ */

static void
test_open_missing(void **state)
{
	struct fixture *f = *state;
	char path[160];
	tk_error err;
	struct stat sb;

	(void)snprintf(path, sizeof(path), "%s/none.db", f->dir);
	assert_null(tk_store_open(path, false, &err));
	assert_int_equal(err.status, TK_ERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, "no database at "));
	assert_non_null(strstr(err.msg, "none.db; run `twokey init` first"));
	assert_int_not_equal(stat(path, &sb), 0); /* nothing created */

	/* An empty file is not a database either. */
	raw_exec(path, "SELECT 1");
	assert_null(tk_store_open(path, false, &err));
	assert_non_null(strstr(err.msg, "run `twokey init` first"));

	/* Created databases are private to their owner. */
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 077, 0);

	assert_null(tk_store_open("", true, &err));
	assert_int_equal(err.status, TK_ERR_INVALID);
}

static void
test_open_settings(void **state)
{
	struct fixture *f = *state;
	sqlite3 *db;
	sqlite3_stmt *st;

	(void)state;
	/* WAL persists in the file. */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE "
	    "key = 'schema_version'", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "2");
	assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void
test_newer_schema_refused(void **state)
{
	struct fixture *f = *state;
	tk_error err;

	raw_exec(f->path, "UPDATE meta SET value = '3' WHERE key = "
	    "'schema_version'");
	tk_store_close(f->s);
	f->s = tk_store_open(f->path, false, &err);
	assert_null(f->s);
	assert_non_null(strstr(err.msg, "schema version 3"));
	assert_non_null(strstr(err.msg, "use a newer twokey"));
	raw_exec(f->path, "UPDATE meta SET value = '2' WHERE key = "
	    "'schema_version'");
	reopen(f);
}

static void
test_foreign_db_refused(void **state)
{
	struct fixture *f = *state;
	char path[160];
	tk_error err;

	(void)snprintf(path, sizeof(path), "%s/other.db", f->dir);
	raw_exec(path, "CREATE TABLE t (x)");
	assert_null(tk_store_open(path, true, &err));
	assert_non_null(strstr(err.msg, "is not a twokey database"));
}

static void
test_config(void **state)
{
	struct fixture *f = *state;
	tk_error err;
	char *text = (char *)"x";

	assert_int_equal(tk_store_config_get(f->s, "org", &text, &err), -1);
	assert_int_equal(err.status, TK_ERR_NOT_FOUND);
	assert_null(text);
	assert_int_equal(tk_store_config_put(f->s, "org", "version: 1\n",
	    &err), 0);
	assert_int_equal(tk_store_config_put(f->s, "policy", "p1", &err), 0);
	assert_int_equal(tk_store_config_put(f->s, "org", "version: 1\n#2\n",
	    &err), 0);
	assert_int_equal(tk_store_config_get(f->s, "org", &text, &err), 0);
	assert_string_equal(text, "version: 1\n#2\n");
	free(text);
	assert_int_equal(tk_store_config_get(f->s, "policy", &text, &err), 0);
	assert_string_equal(text, "p1");
	free(text);
	reopen(f);
	assert_int_equal(tk_store_config_get(f->s, "org", &text, &err), 0);
	assert_string_equal(text, "version: 1\n#2\n");
	free(text);
	assert_int_equal(tk_store_config_put(f->s, "", "x", &err), -1);
	assert_int_equal(err.status, TK_ERR_INVALID);
}

/* ------------------------------------------------------------------ */
/* cases */

static void
put_case(tk_store *s, const char *id, const char *subject,
    const char *family, const char *state, tk_time updated)
{
	tk_error err;
	json_t *rec;

	rec = json_pack("{s:s, s:s, s:s, s:s}", "id", id, "subject", subject,
	    "queue", family, "state", state);
	assert_non_null(rec);
	if (tk_store_case_put(s, id, subject, family, state, updated, rec,
	    &err) != 0)
		fail_msg("case put: %s", err.msg);
	json_decref(rec);
}

struct collect {
	int n;
	char ids[64][TK_ID_MAX];
	int64_t last;
	int stop_after;
};

static int
collect_cb(void *arg, int64_t rowid, const json_t *c)
{
	struct collect *col = arg;
	const char *id = json_string_value(json_object_get(c, "id"));

	assert_non_null(id);
	assert_true(rowid > col->last);
	col->last = rowid;
	if (col->n < 64)
		(void)snprintf(col->ids[col->n], TK_ID_MAX, "%s", id);
	col->n++;
	return col->stop_after > 0 && col->n >= col->stop_after;
}

static int
list(tk_store *s, const char *queue, const char *st, const char *subject,
    int limit, int64_t after, struct collect *col)
{
	tk_case_filter fl = {queue, st, subject, limit, after};
	tk_error err;

	memset(col, 0, sizeof(*col));
	col->last = after;
	if (tk_store_case_list(s, &fl, collect_cb, col, &err) != 0)
		fail_msg("list: %s", err.msg);
	return col->n;
}

static void
test_cases(void **state)
{
	struct fixture *f = *state;
	tk_error err;
	json_t *rec;
	char id[TK_ID_MAX];
	struct collect col;

	put_case(f->s, "c_01", "jsmith", "password", "verifying", 100);
	put_case(f->s, "c_02", "radmin", "mfa", "approving", 101);
	put_case(f->s, "c_03", "jsmith", "mfa", "executed", 102);
	put_case(f->s, "c_04", "pwhite", "mfa", "on_hold", 103);
	put_case(f->s, "c_05", "jsmith", "password", "closed", 104);
	put_case(f->s, "c_06", "svc-payments", "nhi", "failed", 105);

	assert_int_equal(tk_store_case_get(f->s, "c_02", &rec, &err), 0);
	assert_string_equal(json_string_value(json_object_get(rec,
	    "subject")), "radmin");
	json_decref(rec);
	assert_int_equal(tk_store_case_get(f->s, "c_99", &rec, &err), -1);
	assert_int_equal(err.status, TK_ERR_NOT_FOUND);
	assert_null(rec);

	/* find_open: any open state; closed and executed are not. */
	assert_int_equal(tk_store_case_find_open(f->s, "jsmith", "password",
	    id, sizeof(id), &err), 0);
	assert_string_equal(id, "c_01");
	assert_int_equal(tk_store_case_find_open(f->s, "jsmith", "mfa", id,
	    sizeof(id), &err), -1);
	assert_int_equal(err.status, TK_ERR_NOT_FOUND);
	assert_string_equal(id, "");
	assert_int_equal(tk_store_case_find_open(f->s, "svc-payments", "nhi",
	    id, sizeof(id), &err), 0);
	assert_string_equal(id, "c_06");

	/* put replaces, keeping the row's place (rowid) for paging. */
	put_case(f->s, "c_01", "jsmith", "password", "executed", 200);
	assert_int_equal(tk_store_case_find_open(f->s, "jsmith", "password",
	    id, sizeof(id), &err), -1);
	assert_int_equal(tk_store_case_get(f->s, "c_01", &rec, &err), 0);
	assert_string_equal(json_string_value(json_object_get(rec, "state")),
	    "executed");
	json_decref(rec);

	assert_int_equal(list(f->s, NULL, NULL, NULL, 0, 0, &col), 6);
	assert_string_equal(col.ids[0], "c_01");
	assert_string_equal(col.ids[5], "c_06");
	assert_int_equal(list(f->s, "mfa", NULL, NULL, 0, 0, &col), 3);
	assert_int_equal(list(f->s, "mfa", "open", NULL, 0, 0, &col), 2);
	assert_string_equal(col.ids[0], "c_02");
	assert_string_equal(col.ids[1], "c_04");
	assert_int_equal(list(f->s, NULL, "open", NULL, 0, 0, &col), 3);
	assert_int_equal(list(f->s, NULL, "executed", NULL, 0, 0, &col), 2);
	assert_int_equal(list(f->s, NULL, NULL, "jsmith", 0, 0, &col), 3);
	assert_int_equal(list(f->s, "mfa", "executed", "jsmith", 0, 0, &col),
	    1);
	assert_string_equal(col.ids[0], "c_03");
	assert_int_equal(list(f->s, NULL, NULL, "nobody", 0, 0, &col), 0);
	assert_int_equal(list(f->s, "role", "open", "jsmith", 0, 0, &col), 0);

	/* Paging: limit and after. */
	assert_int_equal(list(f->s, NULL, NULL, NULL, 4, 0, &col), 4);
	assert_string_equal(col.ids[3], "c_04");
	assert_int_equal(list(f->s, NULL, NULL, NULL, 4, col.last, &col), 2);
	assert_string_equal(col.ids[0], "c_05");
	assert_string_equal(col.ids[1], "c_06");

	/* A callback can stop the walk. */
	memset(&col, 0, sizeof(col));
	col.stop_after = 2;
	{
		tk_case_filter fl = {NULL, NULL, NULL, 0, 0};

		assert_int_equal(tk_store_case_list(f->s, &fl, collect_cb, &col,
		    &err), 0);
	}
	assert_int_equal(col.n, 2);

	/* Refused arguments. */
	rec = json_array();
	assert_int_equal(tk_store_case_put(f->s, "c_07", "x", "mfa", "open",
	    1, rec, &err), -1);
	assert_int_equal(err.status, TK_ERR_INVALID);
	json_decref(rec);
	rec = json_object();
	assert_int_equal(tk_store_case_put(f->s, "", "x", "mfa", "open", 1,
	    rec, &err), -1);
	json_decref(rec);

	reopen(f);
	assert_int_equal(list(f->s, NULL, NULL, NULL, 0, 0, &col), 6);
}

static void
test_case_list_many(void **state)
{
	struct fixture *f = *state;
	struct collect col;
	tk_error err;
	char id[TK_ID_MAX];
	int i, total = 0;
	int64_t after = 0;

	assert_int_equal(tk_store_begin(f->s, &err), 0);
	for (i = 0; i < 250; i++) {
		(void)snprintf(id, sizeof(id), "c_%04d", i);
		put_case(f->s, id, i % 2 ? "jsmith" : "pwhite",
		    i % 3 ? "mfa" : "password", i % 5 ? "closed" : "approving",
		    i);
	}
	assert_int_equal(tk_store_commit(f->s, &err), 0);
	/* Default limit is 100. */
	assert_int_equal(list(f->s, NULL, NULL, NULL, 0, 0, &col), 100);
	for (;;) {
		int n = list(f->s, "mfa", NULL, NULL, 7, after, &col);

		total += n;
		if (n < 7)
			break;
		after = col.last;
	}
	assert_int_equal(total, 166); /* i % 3 != 0 for 0..249 */
	assert_int_equal(list(f->s, "password", "open", "pwhite", 500, 0,
	    &col), 9); /* even, multiple of 3 and of 5: i % 30 == 0 */
}

static void
test_case_record_edited(void **state)
{
	struct fixture *f = *state;
	tk_error err;
	json_t *rec;
	struct collect col;
	tk_case_filter fl = {NULL, NULL, NULL, 0, 0};

	put_case(f->s, "c_01", "jsmith", "password", "verifying", 100);
	raw_exec(f->path, "UPDATE cases SET record = '[1,2' WHERE id = "
	    "'c_01'");
	assert_int_equal(tk_store_case_get(f->s, "c_01", &rec, &err), -1);
	assert_int_equal(err.status, TK_ERR_INTERNAL);
	assert_non_null(strstr(err.msg, "not a JSON object"));
	raw_exec(f->path, "UPDATE cases SET record = x'7b7d' WHERE id = "
	    "'c_01'");
	assert_int_equal(tk_store_case_get(f->s, "c_01", &rec, &err), -1);
	assert_non_null(strstr(err.msg, "not text"));
	memset(&col, 0, sizeof(col));
	assert_int_equal(tk_store_case_list(f->s, &fl, collect_cb, &col, &err),
	    -1);
	raw_exec(f->path, "UPDATE cases SET record = 42, id = 'x' WHERE id = "
	    "'c_01'");
	assert_int_equal(tk_store_case_get(f->s, "x", &rec, &err), -1);
	raw_exec(f->path, "INSERT INTO cases VALUES ('c_02', 'jsmith', "
	    "'mfa', 'open', 1, '{}');"
	    "UPDATE cases SET id = 12345678 WHERE id = 'c_02'");
	{
		char id[TK_ID_MAX];

		assert_int_equal(tk_store_case_find_open(f->s, "jsmith", "mfa",
		    id, sizeof(id), &err), 0);
		assert_string_equal(id, "12345678"); /* text affinity */
	}
}

/* ------------------------------------------------------------------ */
/* tokens */

static void
test_tokens(void **state)
{
	struct fixture *f = *state;
	tk_error err;
	unsigned char h1[32], h2[32], h3[32];
	char login[TK_ID_MAX];

	memset(h1, 1, sizeof(h1));
	memset(h2, 2, sizeof(h2));
	memset(h3, 3, sizeof(h3));
	assert_int_equal(tk_store_token_put(f->s, "alice", h1, 10, &err), 0);
	assert_int_equal(tk_store_token_put(f->s, "alice", h2, 11, &err), 0);
	assert_int_equal(tk_store_token_put(f->s, "bob", h3, 12, &err), 0);
	assert_int_equal(tk_store_token_put(f->s, "bob", h3, 12, &err), -1);
	assert_int_equal(err.status, TK_ERR_INTERNAL);

	assert_int_equal(tk_store_token_lookup(f->s, h2, login, sizeof(login),
	    &err), 0);
	assert_string_equal(login, "alice");
	assert_int_equal(tk_store_token_lookup(f->s, h3, login, sizeof(login),
	    &err), 0);
	assert_string_equal(login, "bob");
	assert_int_equal(tk_store_token_revoke_user(f->s, "alice", &err), 0);
	assert_int_equal(tk_store_token_lookup(f->s, h1, login, sizeof(login),
	    &err), -1);
	assert_int_equal(err.status, TK_ERR_NOT_FOUND);
	assert_int_equal(tk_store_token_lookup(f->s, h2, login, sizeof(login),
	    &err), -1);
	assert_int_equal(tk_store_token_lookup(f->s, h3, login, sizeof(login),
	    &err), 0);
	/* Revoking someone with no tokens is fine. */
	assert_int_equal(tk_store_token_revoke_user(f->s, "nobody", &err), 0);
	/* A login that does not fit the caller's buffer is an error. */
	assert_int_equal(tk_store_token_lookup(f->s, h3, login, 3, &err), -1);
	reopen(f);
	assert_int_equal(tk_store_token_lookup(f->s, h3, login, sizeof(login),
	    &err), 0);
	assert_int_equal(tk_store_token_lookup(f->s, h1, login, sizeof(login),
	    &err), -1);
}

/* ------------------------------------------------------------------ */
/* events */

struct ev_collect {
	int n;
	int64_t seqs[64];
	unsigned char leaves[64][32]; /* recomputed leaf hashes */
	bool hashes_ok;
};

/* Collects rows; each row's hash must be the leaf hash of its body. */
static int
ev_cb(void *arg, const tk_event_row *r)
{
	struct ev_collect *c = arg;
	unsigned char h[32];

	if (tk_merkle_leaf_hash(r->body, strlen(r->body), h) != 0 ||
	    memcmp(h, r->hash, 32) != 0)
		c->hashes_ok = false;
	if (c->n < 64) {
		c->seqs[c->n] = r->seq;
		memcpy(c->leaves[c->n], h, 32);
	}
	c->n++;
	return 0;
}

/* The store's tree over the committed events equals the tree recomputed
 * from the rows' bodies, at every size, and each leaf is the body's. */
static void
check_tree(tk_store *s, int64_t want)
{
	struct ev_collect c;
	tk_error err;
	unsigned char root[32], mine[32], leaf[32];
	uint64_t size = 0;

	memset(&c, 0, sizeof(c));
	c.hashes_ok = true;
	if (tk_store_event_scan(s, 1, 0, ev_cb, &c, &err) != 0)
		fail_msg("scan: %s", err.msg);
	assert_true(c.hashes_ok);
	assert_int_equal(c.n, want);
	assert_true(want <= 64);
	if (tk_store_log_size(s, &size, &err) != 0)
		fail_msg("log size: %s", err.msg);
	assert_int_equal(size, (uint64_t)want);
	for (uint64_t n = 0; n <= size; n++) {
		if (tk_store_log_root(s, n, root, &err) != 0)
			fail_msg("root %llu: %s", (unsigned long long)n,
			    err.msg);
		assert_int_equal(tk_merkle_root(n ? c.leaves[0] : NULL, n,
		    mine, &err), 0);
		assert_memory_equal(root, mine, 32);
		if (n < size) {
			assert_int_equal(tk_store_log_leaf(s, n, leaf, &err), 0);
			assert_memory_equal(leaf, c.leaves[n], 32);
		}
	}
	/* Beyond the log is refused. */
	assert_int_equal(tk_store_log_root(s, size + 1, root, &err), -1);
	assert_int_equal(err.status, TK_ERR_INVALID);
}

static void
append(tk_store *s, const char *case_id, const char *kind, int64_t want)
{
	tk_error err;
	tk_event_row row;
	json_t *d = json_pack("{s:s}", "k", kind);

	assert_non_null(d);
	if (tk_store_event_append(s, 1000 + want, case_id, kind, "alice",
	    false, d, &row, &err) != 0)
		fail_msg("append: %s", err.msg);
	json_decref(d);
	assert_int_equal(row.seq, want);
	assert_string_equal(row.kind, kind);
	assert_non_null(row.body);
	tk_event_row_clear(&row);
	assert_null(row.body);
}

static void
test_events(void **state)
{
	struct fixture *f = *state;
	tk_error err;
	tk_event_row row;
	struct ev_collect c;
	unsigned char h[32];
	char *body;
	json_t *d;
	int64_t count = 0, bad = 0;

	d = json_pack("{s:s, s:i}", "z", "last", "a", 1);
	assert_non_null(d);
	assert_int_equal(tk_store_event_append(f->s, 1700000000, "c_01",
	    "case.opened", "alice", true, d, &row, &err), 0);
	assert_int_equal(row.seq, 1);
	assert_int_equal(row.ts, 1700000000);
	assert_string_equal(row.case_id, "c_01");
	assert_string_equal(row.actor, "alice");
	assert_true(row.alert);
	body = tk_chain_body(1, 1700000000, "c_01", "case.opened", "alice",
	    true, d);
	assert_non_null(body);
	assert_string_equal(row.body, body);
	assert_int_equal(tk_merkle_leaf_hash(body, strlen(body), h), 0);
	assert_memory_equal(row.hash, h, 32);
	free(body);
	json_decref(d);
	tk_event_row_clear(&row);

	append(f->s, "c_02", "case.opened", 2);
	append(f->s, "", "token.issued", 3);
	append(f->s, "c_01", "approval.added", 4);
	/* A NULL row and NULL data are fine. */
	assert_int_equal(tk_store_event_append(f->s, 5, NULL, "ping", NULL,
	    false, NULL, NULL, &err), 0);

	memset(&c, 0, sizeof(c));
	c.hashes_ok = true;
	assert_int_equal(tk_store_event_scan(f->s, 1, 0, ev_cb, &c, &err), 0);
	assert_int_equal(c.n, 5);
	assert_true(c.hashes_ok);
	check_tree(f->s, 5);

	memset(&c, 0, sizeof(c));
	assert_int_equal(tk_store_event_list_case(f->s, "c_01", ev_cb, &c,
	    &err), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.seqs[0], 1);
	assert_int_equal(c.seqs[1], 4);

	memset(&c, 0, sizeof(c));
	assert_int_equal(tk_store_event_scan(f->s, 2, 2, ev_cb, &c, &err), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.seqs[0], 2);
	assert_int_equal(c.seqs[1], 3);

	/* Bad arguments are refused before anything is written. */
	d = json_array();
	assert_int_equal(tk_store_event_append(f->s, 1, "", "k", "a", false,
	    d, NULL, &err), -1);
	assert_int_equal(err.status, TK_ERR_INVALID);
	json_decref(d);
	assert_int_equal(tk_store_event_append(f->s, 1, "", "", "a", false,
	    NULL, NULL, &err), -1);

	reopen(f);
	append(f->s, "c_01", "case.executed", 6);
	assert_int_equal(tk_chain_verify(f->s, &count, &bad, &err), 0);
	assert_int_equal(count, 6);
	check_tree(f->s, 6);
}

static void
test_rollback(void **state)
{
	struct fixture *f = *state;
	tk_error err;
	json_t *rec;
	char *text;
	unsigned char h[32];
	char login[TK_ID_MAX];
	struct collect col;
	int64_t count = 0, bad = 0;

	append(f->s, "", "store.created", 1);
	assert_int_equal(tk_store_begin(f->s, &err), 0);
	/* No nested transactions. */
	assert_int_equal(tk_store_begin(f->s, &err), -1);
	put_case(f->s, "c_01", "jsmith", "password", "verifying", 1);
	append(f->s, "c_01", "case.opened", 2);
	append(f->s, "c_01", "evidence.added", 3);
	memset(h, 7, sizeof(h));
	assert_int_equal(tk_store_token_put(f->s, "alice", h, 1, &err), 0);
	assert_int_equal(tk_store_config_put(f->s, "org", "x", &err), 0);
	tk_store_rollback(f->s);

	assert_int_equal(tk_store_case_get(f->s, "c_01", &rec, &err), -1);
	assert_int_equal(err.status, TK_ERR_NOT_FOUND);
	assert_int_equal(list(f->s, NULL, NULL, NULL, 0, 0, &col), 0);
	assert_int_equal(tk_store_token_lookup(f->s, h, login, sizeof(login),
	    &err), -1);
	assert_int_equal(tk_store_config_get(f->s, "org", &text, &err), -1);
	/* The log continues from the last committed event; the rolled
	 * back leaves never entered the tree. */
	append(f->s, "", "after.rollback", 2);
	assert_int_equal(tk_chain_verify(f->s, &count, &bad, &err), 0);
	assert_int_equal(count, 2);
	check_tree(f->s, 2);

	/* Commit makes a transaction's writes durable together. */
	assert_int_equal(tk_store_begin(f->s, &err), 0);
	put_case(f->s, "c_01", "jsmith", "password", "verifying", 1);
	append(f->s, "c_01", "case.opened", 3);
	assert_int_equal(tk_store_commit(f->s, &err), 0);
	reopen(f);
	assert_int_equal(tk_store_case_get(f->s, "c_01", &rec, &err), 0);
	json_decref(rec);
	assert_int_equal(tk_chain_verify(f->s, &count, &bad, &err), 0);
	assert_int_equal(count, 3);
	check_tree(f->s, 3);

	/* Savepoints (group commit): leaves appended after the savepoint
	 * and rolled back to it never reach the tree; the rest do. */
	assert_int_equal(tk_store_begin(f->s, &err), 0);
	append(f->s, "c_01", "op.one", 4);
	assert_int_equal(tk_store_savepoint(f->s, &err), 0);
	append(f->s, "c_01", "op.two", 5);
	append(f->s, "c_01", "op.two", 6);
	assert_int_equal(tk_store_rollback_to(f->s, &err), 0);
	assert_int_equal(tk_store_savepoint(f->s, &err), 0);
	append(f->s, "c_01", "op.three", 5);
	assert_int_equal(tk_store_release(f->s, &err), 0);
	append(f->s, "c_01", "op.four", 6);
	/* The tree is not read while leaves are uncommitted. */
	{
		uint64_t size;

		assert_int_equal(tk_store_log_size(f->s, &size, &err), -1);
	}
	assert_int_equal(tk_store_commit(f->s, &err), 0);
	check_tree(f->s, 6);
	reopen(f);
	check_tree(f->s, 6);
	/* Rollback with nothing open is harmless. */
	tk_store_rollback(f->s);
}

static void
test_two_connections(void **state)
{
	struct fixture *f = *state;
	tk_store *b;
	tk_error err;
	int64_t count = 0, bad = 0;
	int i;

	b = tk_store_open(f->path, false, &err);
	assert_non_null(b);
	for (i = 0; i < 10; i++) {
		append(f->s, "", "from.a", 2 * i + 1);
		append(b, "", "from.b", 2 * i + 2);
	}
	/* While b holds the write lock, a waits (busy timeout), here we
	 * only check that a's transaction sees b's appends. */
	assert_int_equal(tk_store_begin(b, &err), 0);
	append(b, "", "from.b", 21);
	assert_int_equal(tk_store_commit(b, &err), 0);
	assert_int_equal(tk_store_begin(f->s, &err), 0);
	append(f->s, "", "from.a", 22);
	assert_int_equal(tk_store_commit(f->s, &err), 0);
	assert_int_equal(tk_chain_verify(b, &count, &bad, &err), 0);
	assert_int_equal(count, 22);
	/* Both connections see one tree over the interleaved appends. */
	check_tree(b, 22);
	check_tree(f->s, 22);
	tk_store_close(b);
}

static void
test_event_row_edited(void **state)
{
	struct fixture *f = *state;
	tk_error err;
	struct ev_collect c;

	append(f->s, "c_01", "case.opened", 1);
	append(f->s, "c_01", "case.closed", 2);
	raw_exec(f->path, "UPDATE events SET kind = "
	    "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'"
	    " WHERE seq = 2");
	memset(&c, 0, sizeof(c));
	assert_int_equal(tk_store_event_list_case(f->s, "c_01", ev_cb, &c,
	    &err), -1);
	assert_int_equal(err.status, TK_ERR_INTERNAL);
	assert_non_null(strstr(err.msg, "seq 2: "));
	raw_exec(f->path, "UPDATE events SET kind = 'x', body = x'3535' WHERE "
	    "seq = 2");
	assert_int_equal(tk_store_event_scan(f->s, 1, 0, ev_cb, &c, &err), -1);
	assert_non_null(strstr(err.msg, "event body is not text"));
	raw_exec(f->path, "UPDATE events SET body = '{}', alert = 7 WHERE "
	    "seq = 2");
	assert_int_equal(tk_store_event_scan(f->s, 1, 0, ev_cb, &c, &err), -1);
	assert_non_null(strstr(err.msg, "alert"));
	/* A malformed hash column: appending no longer builds on earlier
	 * rows' hashes (the tree holds the leaves), so it goes on; the row
	 * checks name the row, and the tree keeps the leaf appended. */
	raw_exec(f->path, "UPDATE events SET alert = 0, hash = x'00' WHERE "
	    "seq = 2");
	{
		tk_store *b = tk_store_open(f->path, false, &err);
		int64_t count = 0, bad = 0;
		uint64_t size = 0;

		assert_non_null(b);
		assert_int_equal(tk_store_event_append(b, 1, "", "k", "a", false,
		    NULL, NULL, &err), 0);
		assert_int_equal(tk_chain_verify(b, &count, &bad, &err), -1);
		assert_int_equal(bad, 2);
		assert_int_equal(count, 1);
		assert_non_null(strstr(err.msg, "32-byte hash"));
		assert_int_equal(tk_store_log_size(b, &size, &err), 0);
		assert_int_equal(size, 3);
		tk_store_close(b);
	}
}

static void
test_memory(void **state)
{
	tk_store *m;
	tk_error err;
	int64_t count = 0, bad = 0;

	(void)state;
	m = tk_store_open(":memory:", false, &err);
	assert_non_null(m);
	append(m, "", "a", 1);
	append(m, "", "b", 2);
	assert_int_equal(tk_chain_verify(m, &count, &bad, &err), 0);
	assert_int_equal(count, 2);
	check_tree(m, 2);
	tk_store_close(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_missing, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_open_settings, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_foreign_db_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_case_list_many, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_case_record_edited, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_connections, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_event_row_edited, setup,
		    teardown),
		cmocka_unit_test(test_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
