/*
 * test_chain.c - unit tests for the audit events as rows (audit/chain.c)
 * over the SQLite store: the canonical body and its RFC 6962 leaf hash
 * against fixed vectors, a 1000-event log whose rows verify, and
 * tampering with the database behind twokey's back (edited body, deleted
 * row, swapped bodies, edited column, malformed hash) each caught by the
 * row checks at the right first bad sequence number. A body edited with
 * its hash rewritten to match passes the row checks by design; the
 * signed checkpoint over the Merkle tree catches it (audit/log.c).
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
#include "audit/log.h"
#include "audit/merkle.h"
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
	unsigned char h[32];
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
	/* The leaf hash SHA-256(0x00 || body), computed independently. */
	assert_int_equal(tk_merkle_leaf_hash(body, strlen(body), h), 0);
	hex(h, 32, hx);
	assert_string_equal(hx, "c50ec106f1a83a234bff280608b52a0e"
	    "4573579fd4f2202295b09cd4d270b05a");
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

	assert_int_equal(tk_merkle_leaf_hash("{}", 2, h), 0);
	hex(h, 32, hx);
	assert_string_equal(hx, "28a3a18f6cd6406b086e9ffda1f9b8a1"
	    "3dbcf44b0f3f32cb9031a11fd053acf9");
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
	expect_bad(f, 500, "seq 500: body does not match its leaf hash "
	    "(edited?)");
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
	expect_bad(f, 321, "seq 321: body does not match its leaf hash");
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
test_rewritten_hash_caught_by_tree(void **state)
{
	struct fixture *f = *state;
	tk_error err;
	tk_note_signer k;
	tk_audit_trust t;
	tk_audit_report rep;
	char key[160], mirror[160], vkey[TK_NOTE_VKEY_MAX], sql[512], hx[65];
	char *body, *p;
	unsigned char h[32];
	int64_t count = 0, bad = -1, signed_size = 0;
	sqlite3 *db;
	sqlite3_stmt *st;

	/* A checkpoint covering every event, signed before the edit. */
	(void)snprintf(key, sizeof(key), "%s.audit-key", f->path);
	(void)snprintf(mirror, sizeof(mirror), "%s.checkpoints", f->path);
	if (tk_audit_key_create(f->s, key, "test.example/twokey", T0, vkey,
	    sizeof(vkey), &err) != 0 || tk_audit_key_load(key, &k, &err) != 0)
		fail_msg("key: %s", err.msg);
	if (tk_audit_checkpoint(f->s, &k, T0 + NEVENTS + 1, mirror,
	    &signed_size, &err) != 0)
		fail_msg("checkpoint: %s", err.msg);
	assert_int_equal(signed_size, NEVENTS);
	tk_note_signer_wipe(&k);

	/* The attacker edits seq 600 and rewrites its leaf hash to match. */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT body FROM events "
	    "WHERE seq = 600", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	body = strdup((const char *)sqlite3_column_text(st, 0));
	assert_non_null(body);
	assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	p = strstr(body, "number");
	assert_non_null(p);
	p[0] = 'N';
	assert_int_equal(tk_merkle_leaf_hash(body, strlen(body), h), 0);
	hex(h, 32, hx);
	(void)snprintf(sql, sizeof(sql), "UPDATE events SET body = '%s', "
	    "hash = x'%s' WHERE seq = 600", body, hx);
	free(body);
	tamper(f, sql);

	/* Each row still vouches for itself: the row checks pass. */
	if (tk_chain_verify(f->s, &count, &bad, &err) != 0)
		fail_msg("row checks: bad %lld: %s", (long long)bad, err.msg);
	assert_int_equal(count, NEVENTS);
	assert_int_equal(bad, 0);

	/* The signed root does not: the tiles still hold the original
	 * leaf, so the verifier names the event. */
	memset(&t, 0, sizeof(t));
	assert_int_equal(tk_audit_trust_add(&t, vkey, &err), 0);
	t.mirror_path = mirror;
	if (tk_audit_verify_store(f->s, &t, &rep, &err) != 0)
		fail_msg("verify: %s", err.msg);
	if (rep.ok || rep.bad_seq != 600 || strcmp(rep.kind, "edited") != 0)
		fail_msg("expected edited at 600; got ok=%d %s at %lld: %s",
		    rep.ok, rep.kind, (long long)rep.bad_seq, rep.detail);
	assert_int_equal(rep.checkpoints, 0);

	/* The store's own listed key and checkpoints alone catch it too. */
	memset(&t, 0, sizeof(t));
	assert_int_equal(tk_audit_verify_store(f->s, &t, &rep, &err), 0);
	assert_false(rep.ok);
	assert_int_equal(rep.bad_seq, 600);
	assert_string_equal(rep.kind, "edited");
}

static void
test_malformed_hash_column(void **state)
{
	struct fixture *f = *state;

	tamper(f, "UPDATE events SET hash = x'0102' WHERE seq = 250");
	expect_bad(f, 250, "seq 250:");
	tamper(f, "UPDATE events SET hash = zeroblob(32) WHERE seq = 250");
	expect_bad(f, 250, "seq 250: body does not match its leaf hash");
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
		cmocka_unit_test_setup_teardown(
		    test_rewritten_hash_caught_by_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_hash_column,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_after_verify, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
