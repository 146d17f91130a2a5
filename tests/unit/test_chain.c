/*
 * test_chain.c - unit tests for the hash-chained audit trail
 * (audit/chain.c) over the SQLite store: the canonical body and hash
 * against fixed vectors, a 1000-event chain that verifies, and tampering
 * with the database behind twokey's back (edited body, deleted row,
 * swapped bodies, edited column, rewritten hash) each caught at the right
 * first bad sequence number.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "audit/chain.h"
#include "store/store.h"

#define NEVENTS 1000
#define T0 ((tk_time)1795426200) /* 2026-11-23T09:30:00Z */

struct fixture {
	char dir[64];
	char path[128];
	tk_store *s;
};

static void
hex(const unsigned char *h, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		(void)snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static void
test_body_vector(void **state)
{
	json_t *data;
	char *body;
	unsigned char zero[32] = {0}, h[32];
	char hx[65];

	(void)state;
	data = json_pack("{s:i, s:s}", "b", 1, "a", "\xc3\xa9\"");
	assert_non_null(data);
	body = tk_chain_body(1, T0, "c_1", "case.opened", "alice", false,
	    data);
	assert_non_null(body);
	assert_string_equal(body, "{\"seq\":1,\"ts\":\"2026-11-23T09:30:00Z\","
	    "\"case\":\"c_1\",\"kind\":\"case.opened\",\"actor\":\"alice\","
	    "\"alert\":false,\"data\":{\"a\":\"\\u00E9\\\"\",\"b\":1}}");
	tk_chain_hash(zero, body, strlen(body), h);
	hex(h, 32, hx);
	assert_string_equal(hx, "e5df0ed8f0cfa71291fc7cc90807cec6"
	    "218af62948b0f7d3966597e38002f472");
	free(body);
	json_decref(data);

	/* NULL data is an empty object; alert true; empty case. */
	body = tk_chain_body(7, 0, "", "policy.loaded", "olivia", true, NULL);
	assert_non_null(body);
	assert_string_equal(body, "{\"seq\":7,\"ts\":\"1970-01-01T00:00:00Z\","
	    "\"case\":\"\",\"kind\":\"policy.loaded\",\"actor\":\"olivia\","
	    "\"alert\":true,\"data\":{}}");
	free(body);

	/* Data must be an object. */
	data = json_integer(3);
	assert_null(tk_chain_body(1, 0, "", "k", "a", false, data));
	json_decref(data);

	tk_chain_hash(zero, "{}", 2, h);
	hex(h, 32, hx);
	assert_string_equal(hx, "fb1634c4e6cd4b1f1afe3ce2d6ef080f"
	    "7ac5d1f357d723ad4dfca782733b62db");
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	tk_error err;
	json_t *data;
	int i;

	if (f == NULL)
		return -1;
	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/tk_chain_XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	(void)snprintf(f->path, sizeof(f->path), "%s/tk.db", f->dir);
	f->s = tk_store_open(f->path, true, &err);
	if (f->s == NULL)
		return -1;
	/* Most events in one transaction (fast); the last ten each in
	 * their own, as the store wraps a bare append. */
	if (tk_store_begin(f->s, &err) != 0)
		return -1;
	for (i = 1; i <= NEVENTS; i++) {
		char note[64];

		if (i == NEVENTS - 9 && tk_store_commit(f->s, &err) != 0)
			return -1;
		(void)snprintf(note, sizeof(note), "event number %d", i);
		data = json_pack("{s:i, s:s}", "n", i, "note", note);
		if (data == NULL)
			return -1;
		if (tk_store_event_append(f->s, T0 + i, i % 3 ? "c_1" : "",
		    i % 2 ? "case.opened" : "approval.added", "alice",
		    i % 50 == 0, data, NULL, &err) != 0) {
			json_decref(data);
			return -1;
		}
		json_decref(data);
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

/* Runs SQL on the database through a separate raw connection, as an
 * attacker with file access would. */
static void
tamper(struct fixture *f, const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("tamper: %s", msg);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void
expect_bad(struct fixture *f, int64_t seq, const char *text)
{
	tk_error err;
	int64_t count = -1, bad = -1;

	memset(&err, 0, sizeof(err));
	assert_int_equal(tk_chain_verify(f->s, &count, &bad, &err), -1);
	if (bad != seq || strstr(err.msg, text) == NULL)
		fail_msg("expected bad seq %lld with \"%s\"; got %lld: %s",
		    (long long)seq, text, (long long)bad, err.msg);
}

static void
test_verify_intact(void **state)
{
	struct fixture *f = *state;
	tk_error err;
	int64_t count = 0, bad = -1;

	assert_int_equal(tk_chain_verify(f->s, &count, &bad, &err), 0);
	assert_int_equal(count, NEVENTS);
	assert_int_equal(bad, 0);
}

static void
test_edit_body_byte(void **state)
{
	struct fixture *f = *state;

	/* "event number 500" -> "event numbeR 500": still canonical. */
	tamper(f, "UPDATE events SET body = replace(body, 'number', "
	    "'numbeR') WHERE seq = 500");
	expect_bad(f, 500, "seq 500: body does not match its hash (edited?)");
}

static void
test_edit_body_breaks_json(void **state)
{
	struct fixture *f = *state;

	tamper(f, "UPDATE events SET body = substr(body, 1, length(body) - 1)"
	    " WHERE seq = 77");
	expect_bad(f, 77, "seq 77: body is not a JSON object");
}

static void
test_edit_body_data_value(void **state)
{
	struct fixture *f = *state;

	tamper(f, "UPDATE events SET body = replace(body, '\"n\":321', "
	    "'\"n\":322') WHERE seq = 321");
	expect_bad(f, 321, "seq 321: body does not match its hash");
}

static void
test_delete_middle(void **state)
{
	struct fixture *f = *state;

	tamper(f, "DELETE FROM events WHERE seq = 500");
	expect_bad(f, 500, "seq 500 missing: sequence jumps from 499 to 501 "
	    "(deleted?)");
}

static void
test_delete_first(void **state)
{
	struct fixture *f = *state;

	tamper(f, "DELETE FROM events WHERE seq <= 3");
	expect_bad(f, 1, "seq 1 missing: sequence jumps from 0 to 4");
}

static void
test_swap_bodies(void **state)
{
	struct fixture *f = *state;

	tamper(f, "BEGIN;"
	    "CREATE TEMP TABLE t AS SELECT seq, body FROM events "
	    "WHERE seq IN (300, 700);"
	    "UPDATE events SET body = (SELECT body FROM t WHERE seq = 700) "
	    "WHERE seq = 300;"
	    "UPDATE events SET body = (SELECT body FROM t WHERE seq = 300) "
	    "WHERE seq = 700;"
	    "COMMIT;");
	expect_bad(f, 300, "seq 300: the body says seq 700");
}

static void
test_edit_kind_column(void **state)
{
	struct fixture *f = *state;

	tamper(f, "UPDATE events SET kind = 'case.cancelled' WHERE seq = 42");
	expect_bad(f, 42, "seq 42: kind column \"case.cancelled\" does not "
	    "match the body");
}

static void
test_edit_other_columns(void **state)
{
	struct fixture *f = *state;

	tamper(f, "UPDATE events SET ts = ts + 1 WHERE seq = 900;"
	    "UPDATE events SET actor = 'mallory' WHERE seq = 901;");
	expect_bad(f, 900, "seq 900: ts column");
	tamper(f, "UPDATE events SET ts = ts - 1 WHERE seq = 900");
	expect_bad(f, 901, "seq 901: actor column \"mallory\"");
	tamper(f, "UPDATE events SET actor = 'alice' WHERE seq = 901;"
	    "UPDATE events SET alert = 1 - alert WHERE seq = 902;");
	expect_bad(f, 902, "seq 902: alert column");
	tamper(f, "UPDATE events SET alert = 1 - alert WHERE seq = 902;"
	    "UPDATE events SET case_id = 'c_2' WHERE seq = 904");
	expect_bad(f, 904, "seq 904: case column \"c_2\"");
}

static void
test_rewritten_hash_caught_next(void **state)
{
	struct fixture *f = *state;
	char sql[512];
	unsigned char prev[32], h[32];
	char hx[65];
	struct {
		char *body;
		unsigned char hash[32];
	} rows[2];
	int i;

	/* An attacker who edits seq 600 and recomputes its hash is still
	 * caught, at 601, whose hash covers the old 600. */
	memset(rows, 0, sizeof(rows));
	for (i = 0; i < 2; i++) {
		sqlite3 *db;
		sqlite3_stmt *st;

		assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db, "SELECT body, hash FROM "
		    "events WHERE seq = ?", -1, &st, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_bind_int(st, 1, 599 + i), SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		rows[i].body = strdup((const char *)sqlite3_column_text(st, 0));
		memcpy(rows[i].hash, sqlite3_column_blob(st, 1), 32);
		assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
		assert_int_equal(sqlite3_close(db), SQLITE_OK);
	}
	memcpy(prev, rows[0].hash, 32);
	{
		char *p = strstr(rows[1].body, "number");

		assert_non_null(p);
		p[0] = 'N';
	}
	tk_chain_hash(prev, rows[1].body, strlen(rows[1].body), h);
	hex(h, 32, hx);
	(void)snprintf(sql, sizeof(sql), "UPDATE events SET body = '%s', "
	    "hash = x'%s' WHERE seq = 600", rows[1].body, hx);
	tamper(f, sql);
	expect_bad(f, 601, "seq 601: body does not match its hash");
	free(rows[0].body);
	free(rows[1].body);
}

static void
test_malformed_hash_column(void **state)
{
	struct fixture *f = *state;

	tamper(f, "UPDATE events SET hash = x'0102' WHERE seq = 250");
	expect_bad(f, 250, "seq 250:");
	tamper(f, "UPDATE events SET hash = zeroblob(32) WHERE seq = 250");
	expect_bad(f, 250, "seq 250: body does not match its hash");
}

static void
test_append_after_verify(void **state)
{
	struct fixture *f = *state;
	tk_error err;
	tk_event_row row;
	int64_t count = 0, bad = 0;

	assert_int_equal(tk_store_event_append(f->s, T0, "", "audit.verified",
	    "ivan", false, NULL, &row, &err), 0);
	assert_int_equal(row.seq, NEVENTS + 1);
	tk_event_row_clear(&row);
	assert_int_equal(tk_chain_verify(f->s, &count, &bad, &err), 0);
	assert_int_equal(count, NEVENTS + 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_body_vector),
		cmocka_unit_test_setup_teardown(test_verify_intact, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_edit_body_byte, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_edit_body_breaks_json,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_edit_body_data_value,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_middle, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_delete_first, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_swap_bodies, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_edit_kind_column, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_edit_other_columns, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rewritten_hash_caught_next,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_hash_column,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_after_verify, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
