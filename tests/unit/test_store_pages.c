/*
 * test_store_pages.c - unit tests for store/store_pages.c, the audit walk's
 * direct reader of the SQLite file: it gives exactly the rows and tiles
 * SQLite gives (events whose bodies spill onto overflow pages included),
 * leaves to SQLite what it does not read (a row larger than it takes, a
 * write-ahead log holding frames) with the verification still whole,
 * and through it `audit verify` still names the event behind every
 * changed byte of an event's row in the file (columns, body on its own
 * page and on an overflow page, recorded hash), and catches a change
 * to the row's cell header.
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

#include "audit/log.h"
#include "store/store.h"
#include "store/store_pages.h"

#define NEV 700                 /* events in the test log */
#define BIG_EVERY 97            /* every 97th event has a 6 KB note */
#define T0 ((tk_time)1795426200) /* 2026-11-23T09:30:00Z, 4-byte int */
#define FLIP_SEQ 300            /* the event whose bytes are flipped */

struct fx {
	char dir[64];
	char db[128];               /* pristine log */
	char huge[128];             /* one with a 70 KB event */
	char work[128];             /* the copy a test changes */
	char vkey[TK_NOTE_VKEY_MAX];
	unsigned char *file;        /* the pristine file's bytes */
	size_t len;
};

/* ---- helpers ------------------------------------------------------------ */

static unsigned char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *b;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	assert_int_equal(fseek(f, 0, SEEK_SET), 0);
	b = malloc((size_t)n);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	assert_int_equal(fclose(f), 0);
	*len = (size_t)n;
	return b;
}

static void
spill(const char *path, const unsigned char *b, size_t len)
{
	FILE *f = fopen(path, "wb");
	char p[200];

	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	(void)snprintf(p, sizeof(p), "%s-wal", path);
	(void)unlink(p);
	(void)snprintf(p, sizeof(p), "%s-shm", path);
	(void)unlink(p);
}

static tk_store *
open_db(const char *path)
{
	tk_error err;
	tk_store *s = tk_store_open(path, false, &err);

	if (s == NULL)
		fail_msg("open %s: %s", path, err.msg);
	return s;
}

/* A log of n events at path (key at path.audit-key, one checkpoint at
 * the end); event `huge` (0: none) carries a 70 KB note. Closed, so the
 * write-ahead log is folded into the file. */
static void
build(const char *path, int64_t n, int64_t huge, char *vkey)
{
	tk_error err;
	tk_note_signer k;
	char key[200], *note;
	int64_t size;
	tk_store *s = tk_store_open(path, true, &err);

	if (s == NULL)
		fail_msg("create %s: %s", path, err.msg);
	(void)snprintf(key, sizeof(key), "%s.audit-key", path);
	if (tk_audit_key_create(s, key, "pages.example/twokey", T0, vkey,
	    TK_NOTE_VKEY_MAX, &err) != 0 || tk_audit_key_load(key, &k,
	    &err) != 0)
		fail_msg("key: %s", err.msg);
	note = malloc(70001);
	assert_non_null(note);
	assert_int_equal(tk_store_begin(s, &err), 0);
	for (int64_t i = 1; i <= n; i++) {
		size_t nl = i == huge ? 70000 : i % BIG_EVERY == 0 ? 6000 : 20;
		char case_id[16];
		json_t *data;

		memset(note, 'a' + (int)(i % 26), nl);
		note[nl] = '\0';
		if (nl > 5000) /* a mark on the overflow page */
			(void)snprintf(note + 5000, 20, "MARK-%06lld-",
			    (long long)i);
		if (nl > 5000)
			note[5000 + 12] = 'z';
		(void)snprintf(case_id, sizeof(case_id), "c_%03lld",
		    (long long)(i % 100));
		data = json_pack("{s:I, s:s}", "n", (json_int_t)i, "note", note);
		assert_non_null(data);
		if (tk_store_event_append(s, T0 + i, i % 5 ? case_id : "",
		    i % 2 ? "case.opened" : "approval.added", "alice",
		    i % 50 == 0, data, NULL, &err) != 0)
			fail_msg("append %lld: %s", (long long)i, err.msg);
		json_decref(data);
	}
	assert_int_equal(tk_store_commit(s, &err), 0);
	free(note);
	if (tk_audit_checkpoint(s, &k, T0 + n, NULL, &size, &err) != 0)
		fail_msg("checkpoint: %s", err.msg);
	assert_int_equal(size, n);
	tk_note_signer_wipe(&k);
	tk_store_close(s);
}

/* Verifies the database at path trusting vkey: 0 with rep, or -1. */
static int
verify(const char *path, const char *vkey, tk_audit_report *rep)
{
	tk_audit_trust t;
	tk_error err;
	tk_store *s = open_db(path);
	int rc;

	memset(&t, 0, sizeof(t));
	if (tk_audit_trust_add(&t, vkey, &err) != 0)
		fail_msg("trust: %s", err.msg);
	rc = tk_audit_verify_store(s, &t, rep, &err);
	tk_store_close(s);
	return rc;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/tk-pages-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	(void)snprintf(f->db, sizeof(f->db), "%s/log.db", f->dir);
	(void)snprintf(f->huge, sizeof(f->huge), "%s/huge.db", f->dir);
	(void)snprintf(f->work, sizeof(f->work), "%s/work.db", f->dir);
	build(f->db, NEV, 0, f->vkey);
	f->file = slurp(f->db, &f->len);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	static const char *const sfx[] = {"", "-wal", "-shm", ".audit-key",
	    ".checkpoints"};
	const char *dbs[] = {f->db, f->huge, f->work};
	char p[200];

	for (size_t d = 0; d < 3; d++)
		for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
			(void)snprintf(p, sizeof(p), "%s%s", dbs[d], sfx[i]);
			(void)unlink(p);
		}
	(void)rmdir(f->dir);
	free(f->file);
	free(f);
	return 0;
}

/* ---- the same rows as SQLite -------------------------------------------- */

struct got {
	int64_t seq, ts;
	char case_id[TK_ID_MAX], kind[64], actor[TK_ID_MAX];
	bool alert;
	char *body;
	size_t len;
	unsigned char hash[32];
};

struct rows {
	struct got g[NEV + 2];
	size_t n;
};

static int
keep_row(void *arg, const tk_leaf *l)
{
	struct rows *r = arg;
	struct got *g = &r->g[r->n++];

	assert_true(r->n <= NEV);
	g->seq = l->seq;
	g->ts = l->ts;
	assert_true(strlen(l->case_id) < sizeof(g->case_id));
	(void)snprintf(g->case_id, sizeof(g->case_id), "%s", l->case_id);
	(void)snprintf(g->kind, sizeof(g->kind), "%s", l->kind);
	(void)snprintf(g->actor, sizeof(g->actor), "%s", l->actor);
	g->alert = l->alert;
	g->body = malloc(l->len + 1);
	assert_non_null(g->body);
	memcpy(g->body, l->body, l->len);
	g->len = l->len;
	memcpy(g->hash, l->hash, 32);
	return 0;
}

static void
rows_free(struct rows *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->g[i].body);
	r->n = 0;
}

static void
same_rows(const struct rows *a, const struct rows *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		const struct got *x = &a->g[i], *y = &b->g[i];

		assert_int_equal(x->seq, y->seq);
		assert_int_equal(x->ts, y->ts);
		assert_string_equal(x->case_id, y->case_id);
		assert_string_equal(x->kind, y->kind);
		assert_string_equal(x->actor, y->actor);
		assert_int_equal(x->alert, y->alert);
		assert_int_equal(x->len, y->len);
		assert_memory_equal(x->body, y->body, x->len);
		assert_memory_equal(x->hash, y->hash, 32);
	}
}

static void
test_same_as_sqlite(void **state)
{
	struct fx *f = *state;
	static struct rows a, b;
	static const int64_t ranges[][2] = {{1, NEV}, {350, 17}, {97, 1},
	    {NEV, 5}, {NEV + 1, 5}, {1, 1}};
	tk_store *s = open_db(f->db);
	char why[256];
	tk_pages *p = tk_pages_open(s, why, sizeof(why));
	tk_pages_reader *r;
	tk_error err;
	unsigned char h1[256 * 32], h2[256 * 32];
	size_t w1, w2;

	if (p == NULL)
		fail_msg("pages: %s", why);
	r = tk_pages_reader_new(p);
	assert_non_null(r);
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		assert_int_equal(tk_pages_event_leaves(r, ranges[i][0],
		    ranges[i][1], keep_row, &a), 0);
		assert_int_equal(tk_store_event_leaves(s, ranges[i][0],
		    ranges[i][1], keep_row, &b, &err), 0);
		same_rows(&a, &b);
		if (i == 0) {
			assert_int_equal(a.n, NEV);
			/* the 6 KB bodies came off their overflow pages */
			assert_true(a.g[BIG_EVERY - 1].len > 6000);
			assert_non_null(strstr(a.g[BIG_EVERY - 1].body,
			    "MARK-000097-z"));
		}
		rows_free(&a);
		rows_free(&b);
	}
	/* Tiles: two full ones, the partial one, the level above, none. */
	for (int i = 0; i < 5; i++) {
		int level = i < 3 ? 0 : i == 3 ? 1 : 0;
		uint64_t idx = i < 3 ? (uint64_t)i : i == 3 ? 0 : 9;
		int rc1 = tk_pages_tile_read(r, level, idx, h1, &w1);
		int rc2 = tk_store_tile_read(s, level, idx, h2, &w2, &err);

		assert_int_equal(rc1, rc2);
		assert_int_equal(rc1, i == 4 ? 1 : 0);
		if (rc1 == 0) {
			assert_int_equal(w1, w2);
			assert_memory_equal(h1, h2, w1 * 32);
		}
	}
	assert_int_equal(tk_pages_tile_read(r, 0, 0, h1, &w1), 0);
	assert_int_equal(w1, 256);
	tk_pages_reader_free(r);
	tk_pages_close(p);
	tk_store_close(s);
}

/* ---- what it leaves to SQLite ------------------------------------------- */

static void
test_huge_row_to_sqlite(void **state)
{
	struct fx *f = *state;
	char vkey[TK_NOTE_VKEY_MAX], why[256];
	static struct rows a;
	tk_audit_report rep;
	tk_pages *p;
	tk_pages_reader *r;
	tk_store *s;

	build(f->huge, 40, 20, vkey);
	s = open_db(f->huge);
	p = tk_pages_open(s, why, sizeof(why));
	if (p == NULL)
		fail_msg("pages: %s", why);
	r = tk_pages_reader_new(p);
	assert_non_null(r);
	assert_int_equal(tk_pages_event_leaves(r, 1, 19, keep_row, &a), 0);
	assert_int_equal(a.n, 19);
	rows_free(&a);
	assert_int_equal(tk_pages_event_leaves(r, 1, 40, keep_row, &a),
	    TK_PAGES_ASK_SQLITE);
	rows_free(&a);
	tk_pages_reader_free(r);
	tk_pages_close(p);
	tk_store_close(s);
	/* The walk reads that chunk through SQLite and is whole. */
	assert_int_equal(verify(f->huge, vkey, &rep), 0);
	assert_true(rep.ok);
	assert_int_equal(rep.events, 40);
	assert_int_equal(rep.checkpoints, 1);
}

static void
test_wal_frames_to_sqlite(void **state)
{
	struct fx *f = *state;
	tk_store *s1, *s2;
	tk_audit_report rep;
	tk_error err;
	char why[256];
	json_t *data = json_pack("{s:s}", "note", "late");

	assert_non_null(data);
	spill(f->work, f->file, f->len);
	s1 = open_db(f->work);
	assert_int_equal(tk_store_begin(s1, &err), 0);
	assert_int_equal(tk_store_event_append(s1, T0 + NEV + 1, "", "case.opened",
	    "alice", false, data, NULL, &err), 0);
	assert_int_equal(tk_store_commit(s1, &err), 0);
	json_decref(data);
	/* s1 stays open: its commit is in the write-ahead log only. */
	s2 = open_db(f->work);
	assert_null(tk_pages_open(s2, why, sizeof(why)));
	assert_non_null(strstr(why, "write-ahead log"));
	tk_store_close(s2);
	assert_int_equal(verify(f->work, f->vkey, &rep), 0);
	if (!rep.ok)
		fail_msg("%s at %lld: %s", rep.kind, (long long)rep.bad_seq,
		    rep.detail);
	assert_int_equal(rep.events, NEV + 1);
	tk_store_close(s1);
}

/* ---- every changed byte of a row is named ------------------------------- */

/* Where event seq's row lies in the file: its columns from ts to the
 * end of its hash (ts, case id, kind, actor; alert takes no bytes; then
 * body and hash), found by its body and checked byte by byte. */
static void
row_span(const struct fx *f, int64_t seq, size_t *from, size_t *to)
{
	char pre[32], case_id[16];
	size_t n = (size_t)snprintf(pre, sizeof(pre), "{\"seq\":%lld,",
	    (long long)seq), at = 0, body_len, cols;
	const char *kind = seq % 2 ? "case.opened" : "approval.added";
	uint32_t ts = (uint32_t)(T0 + seq);
	unsigned char be[4] = {ts >> 24, ts >> 16, ts >> 8, ts};
	const unsigned char *b;
	int found = 0;

	for (size_t i = 0; i + n <= f->len; i++)
		if (memcmp(f->file + i, pre, n) == 0) {
			at = i;
			found++;
		}
	assert_int_equal(found, 1);
	b = f->file + at;
	/* the body ends with "}}" followed by the 32-byte hash */
	for (body_len = n; at + body_len + 1 < f->len; body_len++)
		if (b[body_len] == '}' && b[body_len + 1] == '}')
			break;
	body_len += 2;
	(void)snprintf(case_id, sizeof(case_id), "c_%03lld",
	    (long long)(seq % 100));
	cols = 4 + (seq % 5 ? strlen(case_id) : 0) + strlen(kind) + 5;
	assert_true(at >= cols);
	assert_memory_equal(f->file + at - cols, be, 4);
	assert_memory_equal(f->file + at - 5, "alice", 5);
	*from = at - cols;
	*to = at + body_len + 32;
}

static void
flip_at(struct fx *f, size_t off, int64_t seq, bool exact)
{
	tk_audit_report rep;
	int rc;

	f->file[off] ^= 0x01;
	spill(f->work, f->file, f->len);
	f->file[off] ^= 0x01;
	rc = verify(f->work, f->vkey, &rep);
	if (rc == 0 && rep.ok)
		fail_msg("byte %zu of event %lld changed: verified intact", off,
		    (long long)seq);
	if (exact && (rc != 0 || rep.bad_seq != seq))
		fail_msg("byte %zu of event %lld changed: rc %d, %s at %lld: %s",
		    off, (long long)seq, rc, rep.kind, (long long)rep.bad_seq,
		    rep.detail);
}

static void
test_every_byte_named(void **state)
{
	struct fx *f = *state;
	tk_audit_report rep;
	size_t from, to, mark = 0;
	const char *m = "MARK-000194-z";

	/* Untouched, the file verifies through the pages. */
	spill(f->work, f->file, f->len);
	assert_int_equal(verify(f->work, f->vkey, &rep), 0);
	assert_true(rep.ok);
	assert_int_equal(rep.events, NEV);
	row_span(f, FLIP_SEQ, &from, &to);
	for (size_t off = from; off < to; off++)
		flip_at(f, off, FLIP_SEQ, true);
	/* The cell's header and the record's (sizes, row id, types):
	 * caught, whatever it is then taken for. */
	for (size_t off = from - 14; off < from; off++)
		flip_at(f, off, FLIP_SEQ, false);
	/* A body byte on an overflow page (event 194's 6 KB note). */
	for (size_t i = 0; i + strlen(m) <= f->len; i++)
		if (memcmp(f->file + i, m, strlen(m)) == 0)
			mark = i;
	assert_true(mark > 0);
	flip_at(f, mark + 7, 194, true);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_as_sqlite),
		cmocka_unit_test(test_huge_row_to_sqlite),
		cmocka_unit_test(test_wal_frames_to_sqlite),
		cmocka_unit_test(test_every_byte_named),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
