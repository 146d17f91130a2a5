/*
 * test_log.c - unit tests for the audit log as an investigator uses it
 * (audit/log.c over the SQLite store's Merkle tree): a 100,000-event log
 * with a signed checkpoint every 10,000 verifies and its tree equals the
 * one recomputed from the bodies; tampering with the database file behind
 * twokey's back (an edited byte, with and without its hash rewritten, a
 * deleted event, a truncated tail, swapped bodies, a whole log replaced
 * under a new key) is caught by the store verifier and by the offline
 * verifier of an export taken after the tampering, each with its kind and
 * first bad event; checkpoints refuse to sign a truncated or edited log
 * and never sign a second root for a size; case receipts; the migration
 * from the schema-1 hash chain; malformed and foreign export bundles.
 *
 * The big log is built once (group setup) and copied for each test that
 * tampers with it.
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
#include <openssl/evp.h>
#include <sqlite3.h>

#include "audit/chain.h"
#include "audit/log.h"
#include "audit/merkle.h"
#include "store/store.h"

#define NBIG 100000          /* events in the big log */
#define BATCH 1000           /* events per transaction */
#define CP_EVERY 10000       /* a checkpoint every this many events */
#define T0 ((tk_time)1795426200) /* 2026-11-23T09:30:00Z */
#define ORIGIN "log.example/twokey"

/* The big log, built once: its database file (tests that change it work
 * on copies), key (BASE.audit-key), mirror and two checkpoints captured
 * before anyone tampered. */
struct world {
	char dir[64];
	char base[128];                /* pristine database */
	char mirror[160];              /* its checkpoint mirror */
	char vkey[TK_NOTE_VKEY_MAX];   /* its verifier key */
	char *cp_last;                 /* note of the checkpoint at NBIG */
	char *cp_half;                 /* note of the checkpoint at NBIG/2 */
	int copies;
	char last[160];                /* the latest copy, removed by the next */
};

/* ---- helpers ------------------------------------------------------------ */

static void
copy_file(const char *from, const char *to)
{
	FILE *in = fopen(from, "rb"), *out;
	char buf[65536];
	size_t n;

	if (in == NULL)
		return; /* nothing to copy (e.g. no -wal file) */
	out = fopen(to, "wb");
	assert_non_null(out);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	assert_int_equal(ferror(in), 0);
	assert_int_equal(fclose(in), 0);
	assert_int_equal(fclose(out), 0);
}

/* Removes a copy's files (about 30 MB each). */
static void
drop_copy(const char *path)
{
	static const char *const sfx[] = {"", "-wal", "-shm", "-journal",
	    ".checkpoints", ".audit-key"};
	char p[200];

	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		(void)snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
		(void)unlink(p);
	}
}

/* A fresh copy of the big log (database and mirror) named name; path and
 * mirror receive its paths. The previous copy is removed. */
static void
copy_world(struct world *w, const char *name, char *path, size_t psize,
    char *mirror, size_t msize)
{
	char from[200], to[200];

	if (w->last[0] != '\0')
		drop_copy(w->last);

	(void)snprintf(path, psize, "%s/%s-%d.db", w->dir, name, w->copies++);
	(void)snprintf(mirror, msize, "%s.checkpoints", path);
	copy_file(w->base, path);
	(void)snprintf(from, sizeof(from), "%s-wal", w->base);
	(void)snprintf(to, sizeof(to), "%s-wal", path);
	copy_file(from, to);
	copy_file(w->mirror, mirror);
	(void)tk_strlcpy(w->last, path, sizeof(w->last));
}

/* Runs SQL on the database through a separate raw connection, as an
 * attacker with file access would. */
static void
tamper(const char *path, const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("tamper: %s", msg);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* One text value from a raw query (malloc'd), or NULL when no row. */
static char *
raw_text(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	char *out = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL),
	    SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW) {
		out = strdup((const char *)sqlite3_column_text(st, 0));
		assert_non_null(out);
	}
	assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	return out;
}

/* Replaces the first `from` in event seq's body by `to` (same length),
 * and when rehash also its hash column by the new leaf hash. */
static void
edit_event(const char *path, int64_t seq, const char *from, const char *to,
    bool rehash)
{
	char sql[1024], hx[65], *body, *p;
	unsigned char h[32];

	assert_int_equal(strlen(from), strlen(to));
	(void)snprintf(sql, sizeof(sql), "SELECT body FROM events WHERE seq = "
	    "%lld", (long long)seq);
	body = raw_text(path, sql);
	assert_non_null(body);
	p = strstr(body, from);
	assert_non_null(p);
	memcpy(p, to, strlen(to));
	assert_int_equal(tk_merkle_leaf_hash(body, strlen(body), h), 0);
	tk_hex_encode(h, 32, hx);
	if (rehash)
		(void)snprintf(sql, sizeof(sql), "UPDATE events SET body = '%s', "
		    "hash = x'%s' WHERE seq = %lld", body, hx, (long long)seq);
	else
		(void)snprintf(sql, sizeof(sql), "UPDATE events SET body = '%s' "
		    "WHERE seq = %lld", body, (long long)seq);
	free(body);
	tamper(path, sql);
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

/* Appends events first..first+n-1, batch per transaction, with a
 * checkpoint every cp_every events (0: none) signed by k. */
static int
add_events(tk_store *s, int64_t first, int64_t n, int64_t batch,
    const tk_note_signer *k, int64_t cp_every, const char *mirror,
    const char *actor, tk_error *err)
{
	int64_t i, last = first + n - 1, signed_size;
	char note[64], case_id[16];
	json_t *data;
	int rc;

	for (i = first; i <= last; i++) {
		if ((i - first) % batch == 0 && tk_store_begin(s, err) != 0)
			return -1;
		(void)snprintf(note, sizeof(note), "event number %lld",
		    (long long)i);
		(void)snprintf(case_id, sizeof(case_id), "c_%03lld",
		    (long long)(i % 100));
		data = json_pack("{s:I, s:s}", "n", (json_int_t)i, "note", note);
		if (data == NULL)
			return tk_fail(err, TK_ERR_INTERNAL, "out of memory"), -1;
		rc = tk_store_event_append(s, T0 + i, i % 5 ? case_id : "",
		    i % 2 ? "case.opened" : "approval.added", actor,
		    i % 1000 == 0, data, NULL, err);
		json_decref(data);
		if (rc != 0) {
			tk_store_rollback(s);
			return -1;
		}
		if (((i - first + 1) % batch == 0 || i == last) &&
		    tk_store_commit(s, err) != 0)
			return -1;
		if (cp_every > 0 && i % cp_every == 0 &&
		    ((i - first + 1) % batch == 0 || i == last)) {
			if (tk_audit_checkpoint(s, k, T0 + i, mirror,
			    &signed_size, err) != 0)
				return -1;
			if (signed_size != i)
				return tk_fail(err, TK_ERR_INTERNAL, "signed %lld "
				    "at %lld", (long long)signed_size,
				    (long long)i), -1;
		}
	}
	return 0;
}

/* A new database at path with its key (path.audit-key, vkey out) and n
 * events, a checkpoint every cp_every. */
static tk_store *
new_log(const char *path, const char *origin, int64_t n, int64_t batch,
    int64_t cp_every, const char *actor, char *vkey)
{
	tk_error err;
	tk_note_signer k;
	char key[200], mirror[200];
	tk_store *s = tk_store_open(path, true, &err);

	if (s == NULL)
		fail_msg("create %s: %s", path, err.msg);
	(void)snprintf(key, sizeof(key), "%s.audit-key", path);
	(void)snprintf(mirror, sizeof(mirror), "%s.checkpoints", path);
	if (tk_audit_key_create(s, key, origin, T0, vkey, TK_NOTE_VKEY_MAX,
	    &err) != 0 || tk_audit_key_load(key, &k, &err) != 0)
		fail_msg("key: %s", err.msg);
	if (add_events(s, 1, n, batch, &k, cp_every, mirror, actor, &err) != 0)
		fail_msg("build: %s", err.msg);
	tk_note_signer_wipe(&k);
	return s;
}

static void
load_key(const char *db, tk_note_signer *k)
{
	char key[200];
	tk_error err;

	(void)snprintf(key, sizeof(key), "%s.audit-key", db);
	if (tk_audit_key_load(key, k, &err) != 0)
		fail_msg("key: %s", err.msg);
}

static char *
checkpoint_note(tk_store *s, int64_t size)
{
	tk_checkpoint_row r;
	tk_error err;
	char *note;

	if (tk_store_checkpoint_get(s, size, &r, &err) != 0)
		fail_msg("checkpoint %lld: %s", (long long)size, err.msg);
	note = r.note;
	r.note = NULL;
	tk_checkpoint_row_clear(&r);
	return note;
}

static void
trust_init(tk_audit_trust *t, const char *vkey, const char *mirror,
    const char *note)
{
	tk_error err;

	memset(t, 0, sizeof(*t));
	if (vkey != NULL && tk_audit_trust_add(t, vkey, &err) != 0)
		fail_msg("trust: %s", err.msg);
	t->mirror_path = mirror;
	t->checkpoint = note;
	t->checkpoint_len = note != NULL ? strlen(note) : 0;
}

static void
expect_report(const char *what, const tk_audit_report *rep,
    const char *kind, int64_t seq, const char *detail)
{
	if (kind == NULL) {
		if (!rep->ok)
			fail_msg("%s: expected ok; got %s at %lld: %s", what,
			    rep->kind, (long long)rep->bad_seq, rep->detail);
		return;
	}
	if (rep->ok || strcmp(rep->kind, kind) != 0 || rep->bad_seq != seq ||
	    (detail != NULL && strstr(rep->detail, detail) == NULL))
		fail_msg("%s: expected %s at %lld (\"%s\"); got ok=%d %s at "
		    "%lld: %s", what, kind, (long long)seq,
		    detail != NULL ? detail : "", rep->ok, rep->kind,
		    (long long)rep->bad_seq, rep->detail);
}

/* tk_audit_verify_store on the database at path. */
static void
expect_store(const char *path, const tk_audit_trust *t, const char *kind,
    int64_t seq, const char *detail, tk_audit_report *rep_out)
{
	tk_store *s = open_db(path);
	tk_audit_report rep;
	tk_error err;

	if (tk_audit_verify_store(s, t, &rep, &err) != 0)
		fail_msg("verify store: %s", err.msg);
	tk_store_close(s);
	expect_report("store", &rep, kind, seq, detail);
	if (rep_out != NULL)
		*rep_out = rep;
}

/* Exports the database at path to a temporary file. */
static FILE *
export_db(const char *path)
{
	tk_store *s = open_db(path);
	FILE *fp = tmpfile();
	tk_error err;

	assert_non_null(fp);
	if (tk_audit_export(s, fp, &err) != 0)
		fail_msg("export: %s", err.msg);
	tk_store_close(s);
	rewind(fp);
	return fp;
}

static void
expect_bundle(FILE *fp, const tk_audit_trust *t, const char *kind,
    int64_t seq, const char *detail, tk_audit_report *rep_out)
{
	tk_audit_report rep;
	tk_error err;

	rewind(fp);
	if (tk_audit_verify_export(fp, t, &rep, &err) != 0)
		fail_msg("verify export: %s", err.msg);
	expect_report("export", &rep, kind, seq, detail);
	if (rep_out != NULL)
		*rep_out = rep;
}

/* tk_audit_verify_export on an export of path taken now (after any
 * tampering), holding t. */
static void
expect_export(const char *path, const tk_audit_trust *t, const char *kind,
    int64_t seq, const char *detail, tk_audit_report *rep_out)
{
	FILE *fp = export_db(path);

	expect_bundle(fp, t, kind, seq, detail, rep_out);
	assert_int_equal(fclose(fp), 0);
}

/* ---- group setup: the big log ------------------------------------------- */

static int
group_setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	tk_store *s;

	if (w == NULL)
		return -1;
	(void)snprintf(w->dir, sizeof(w->dir), "/tmp/tk_log_XXXXXX");
	if (mkdtemp(w->dir) == NULL)
		return -1;
	(void)snprintf(w->base, sizeof(w->base), "%s/base.db", w->dir);
	(void)snprintf(w->mirror, sizeof(w->mirror), "%s.checkpoints",
	    w->base);
	s = new_log(w->base, ORIGIN, NBIG, BATCH, CP_EVERY, "alice", w->vkey);
	w->cp_last = checkpoint_note(s, NBIG);
	w->cp_half = checkpoint_note(s, NBIG / 2);
	tk_store_close(s); /* the last connection: the WAL is folded in */
	*state = w;
	return 0;
}

static int
group_teardown(void **state)
{
	struct world *w = *state;
	char cmd[160];

	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w->dir);
	if (system(cmd) != 0)
		return -1;
	free(w->cp_last);
	free(w->cp_half);
	free(w);
	return 0;
}

/* ---- the big log verifies ----------------------------------------------- */

struct leaves {
	unsigned char *h; /* NBIG * 32 */
	int64_t n;
};

static int
leaves_cb(void *arg, const tk_event_row *r)
{
	struct leaves *l = arg;

	assert_int_equal(r->seq, l->n + 1);
	assert_true(l->n < NBIG);
	assert_int_equal(tk_merkle_leaf_hash(r->body, strlen(r->body),
	    l->h + 32 * l->n), 0);
	l->n++;
	return 0;
}

static void
test_big_log_verifies(void **state)
{
	struct world *w = *state;
	static const uint64_t sizes[] = {1, 2, 3, 7, 255, 256, 257, 511, 4097,
	    10000, 65535, 65536, 65537, 77777, 99999, NBIG};
	tk_store *s = open_db(w->base);
	tk_audit_trust t;
	tk_audit_report rep;
	struct leaves l;
	tk_error err;
	unsigned char root[32], mine[32], root2[32];
	unsigned char proof[TK_MERKLE_MAX_PROOF * 32];
	uint64_t size = 0;
	size_t i, n;

	/* The store's tree against the one recomputed from the bodies. */
	l.h = malloc((size_t)NBIG * 32);
	assert_non_null(l.h);
	l.n = 0;
	assert_int_equal(tk_store_event_scan(s, 1, 0, leaves_cb, &l, &err), 0);
	assert_int_equal(l.n, NBIG);
	assert_int_equal(tk_store_log_size(s, &size, &err), 0);
	assert_int_equal(size, NBIG);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		if (tk_store_log_root(s, sizes[i], root, &err) != 0)
			fail_msg("root %llu: %s", (unsigned long long)sizes[i],
			    err.msg);
		assert_int_equal(tk_merkle_root(l.h, sizes[i], mine, &err), 0);
		if (memcmp(root, mine, 32) != 0)
			fail_msg("root at %llu differs",
			    (unsigned long long)sizes[i]);
	}
	/* Proofs from the store verify against the recomputed roots. */
	assert_int_equal(tk_merkle_root(l.h, NBIG, root, &err), 0);
	for (i = 0; i < 5; i++) {
		uint64_t idx = (uint64_t)(i * 24989 + 3);

		assert_int_equal(tk_store_log_inclusion(s, idx, NBIG, proof,
		    TK_MERKLE_MAX_PROOF, &n, &err), 0);
		assert_int_equal(tk_merkle_verify_inclusion(idx, NBIG,
		    l.h + 32 * idx, proof, n, root, &err), 0);
	}
	assert_int_equal(tk_merkle_root(l.h, 65537, root2, &err), 0);
	assert_int_equal(tk_store_log_consistency(s, 65537, NBIG, proof,
	    TK_MERKLE_MAX_PROOF, &n, &err), 0);
	assert_int_equal(tk_merkle_verify_consistency(65537, NBIG, root2, root,
	    proof, n, &err), 0);
	free(l.h);

	/* Full verification, with the store's own listed key ... */
	trust_init(&t, NULL, NULL, NULL);
	if (tk_audit_verify_store(s, &t, &rep, &err) != 0)
		fail_msg("verify: %s", err.msg);
	expect_report("store", &rep, NULL, 0, NULL);
	assert_int_equal(rep.events, NBIG);
	assert_int_equal(rep.checkpoints, NBIG / CP_EVERY);
	/* ... and with the key, mirror and a checkpoint from outside. */
	trust_init(&t, w->vkey, w->mirror, w->cp_half);
	assert_int_equal(tk_audit_verify_store(s, &t, &rep, &err), 0);
	expect_report("store", &rep, NULL, 0, NULL);
	assert_int_equal(rep.events, NBIG);
	assert_int_equal(rep.checkpoints, NBIG / CP_EVERY);
	/* Nothing new: no checkpoint is due. */
	{
		tk_note_signer k;
		int64_t signed_size = 0;

		load_key(w->base, &k);
		assert_int_equal(tk_audit_checkpoint(s, &k, T0, NULL,
		    &signed_size, &err), 0);
		assert_int_equal(signed_size, -1);
		tk_note_signer_wipe(&k);
	}
	tk_store_close(s);

	/* The export verifies offline. */
	trust_init(&t, w->vkey, NULL, w->cp_half);
	expect_export(w->base, &t, NULL, 0, NULL, &rep);
	assert_int_equal(rep.events, NBIG);
	assert_int_equal(rep.checkpoints, NBIG / CP_EVERY);
}

/* ---- tampering, caught online and offline -------------------------------- */

/* The row of event seq matches itself: its hash is its body's leaf. */
static int
row_cb(void *arg, const tk_event_row *r)
{
	unsigned char h[32];

	assert_int_equal(tk_merkle_leaf_hash(r->body, strlen(r->body), h), 0);
	*(bool *)arg = memcmp(h, r->hash, 32) == 0;
	return 0;
}

static bool
row_matches(const char *path, int64_t seq)
{
	tk_store *s = open_db(path);
	tk_error err;
	bool same = false;

	assert_int_equal(tk_store_event_scan(s, seq, 1, row_cb, &same, &err),
	    0);
	tk_store_close(s);
	return same;
}

/*
 * Each tampering below is checked by the store verifier (cheap: it stops
 * at the first finding) in several variants, and by the offline verifier
 * of an export taken after the tampering, holding the log's key and a
 * checkpoint captured before it, once per kind (an export of 100,000
 * events and its check cost about 2.5 s under ASan).
 */

static void
test_tamper_edit_byte(void **state)
{
	struct world *w = *state;
	char path[160], mirror[200];
	tk_audit_trust t;

	/* Body only: the row's own hash no longer matches. */
	copy_world(w, "edit", path, sizeof(path), mirror, sizeof(mirror));
	edit_event(path, 55555, "number", "numbeR", false);
	assert_false(row_matches(path, 55555));
	trust_init(&t, w->vkey, mirror, NULL);
	expect_store(path, &t, "edited", 55555, "event 55555 was edited: its "
	    "bytes no longer hash to its recorded leaf", NULL);

	/* Body and hash column: the row matches itself, so only the tree
	 * and the checkpoints know. The tiles still hold the signed leaf,
	 * so the store verifier names the event. */
	copy_world(w, "edit", path, sizeof(path), mirror, sizeof(mirror));
	edit_event(path, 55555, "number", "numbeR", true);
	assert_true(row_matches(path, 55555));
	trust_init(&t, w->vkey, mirror, NULL);
	expect_store(path, &t, "edited", 55555, "signed under checkpoint "
	    "60000", NULL);
	trust_init(&t, NULL, NULL, NULL);
	expect_store(path, &t, "edited", 55555, NULL, NULL);

	/* The attacker also drops the later checkpoints from the database:
	 * the mirror, or the checkpoint the verifier kept, still holds. */
	tamper(path, "DELETE FROM checkpoints WHERE size > 50000");
	trust_init(&t, w->vkey, mirror, NULL);
	expect_store(path, &t, "edited", 55555, NULL, NULL);
	trust_init(&t, w->vkey, NULL, w->cp_last);
	expect_store(path, &t, "edited", 55555, "signed under checkpoint "
	    "100000", NULL);
	/* Offline there are no tiles to ask: the range is reported. */
	expect_export(path, &t, "rewritten", 50001, "events 50001..100000",
	    NULL);

	/* And truncates the tail, so the tree cannot be opened: the leaf
	 * tiles, rebuilt during the walk, still name the edited event. */
	tamper(path, "DELETE FROM events WHERE seq > 99990");
	trust_init(&t, w->vkey, mirror, NULL);
	expect_store(path, &t, "edited", 55555, "signed under checkpoint "
	    "60000", NULL);
}

static void
test_tamper_delete_middle(void **state)
{
	struct world *w = *state;
	char path[160], mirror[200];
	tk_audit_trust t;

	copy_world(w, "delete", path, sizeof(path), mirror, sizeof(mirror));
	tamper(path, "DELETE FROM events WHERE seq = 50000");
	trust_init(&t, w->vkey, mirror, NULL);
	expect_store(path, &t, "missing", 50000, "event 50000 is missing",
	    NULL);
	trust_init(&t, w->vkey, NULL, w->cp_half);
	expect_export(path, &t, "missing", 50000, "event 50000 is missing",
	    NULL);

	/* Deleted and the rest renumbered (bodies untouched): the bodies
	 * disagree with their places. */
	copy_world(w, "delete", path, sizeof(path), mirror, sizeof(mirror));
	tamper(path, "DELETE FROM events WHERE seq = 99000;"
	    "UPDATE events SET seq = -seq WHERE seq > 99000;"
	    "UPDATE events SET seq = -seq - 1 WHERE seq < 0;");
	trust_init(&t, w->vkey, mirror, NULL);
	expect_store(path, &t, "reordered", 99000, "holds the bytes of event "
	    "99001", NULL);
}

static void
test_tamper_truncate(void **state)
{
	struct world *w = *state;
	char path[160], mirror[200];
	tk_audit_trust t;
	tk_audit_report rep;

	/* The last ten events, all under the checkpoint at NBIG. */
	copy_world(w, "trunc", path, sizeof(path), mirror, sizeof(mirror));
	tamper(path, "DELETE FROM events WHERE seq > 99990");
	trust_init(&t, w->vkey, mirror, NULL);
	expect_store(path, &t, "truncated", 99991, "truncated after "
	    "checkpoint 90000", &rep);
	assert_int_equal(rep.events, 99990);
	assert_int_equal(rep.checkpoints, 9);

	/* With the checkpoints deleted as well, the mirror and the kept
	 * checkpoint still know the size. */
	tamper(path, "DELETE FROM checkpoints WHERE size > 90000");
	trust_init(&t, w->vkey, mirror, NULL);
	expect_store(path, &t, "truncated", 99991, NULL, NULL);
	trust_init(&t, NULL, NULL, w->cp_last);
	expect_store(path, &t, "truncated", 99991, NULL, NULL);
	/* The export of the truncated database (whose tiles no longer match
	 * its events) still goes out, and the kept checkpoint catches it. */
	trust_init(&t, w->vkey, NULL, w->cp_last);
	expect_export(path, &t, "truncated", 99991, "checkpoint of size "
	    "100000", NULL);
}

static void
test_tamper_swap(void **state)
{
	struct world *w = *state;
	char path[160], mirror[200];
	tk_audit_trust t;

	/* Bodies and hashes swapped, so each row still matches itself. */
	copy_world(w, "swap", path, sizeof(path), mirror, sizeof(mirror));
	tamper(path, "BEGIN;"
	    "CREATE TEMP TABLE t AS SELECT seq, body, hash FROM events "
	    "WHERE seq IN (30000, 70000);"
	    "UPDATE events SET body = (SELECT body FROM t WHERE seq = 70000), "
	    "hash = (SELECT hash FROM t WHERE seq = 70000) WHERE seq = 30000;"
	    "UPDATE events SET body = (SELECT body FROM t WHERE seq = 30000), "
	    "hash = (SELECT hash FROM t WHERE seq = 30000) WHERE seq = 70000;"
	    "COMMIT;");
	assert_true(row_matches(path, 30000));
	trust_init(&t, w->vkey, mirror, NULL);
	expect_store(path, &t, "reordered", 30000, "holds the bytes of event "
	    "70000", NULL);
	trust_init(&t, w->vkey, NULL, w->cp_last);
	expect_export(path, &t, "reordered", 30000, "holds the bytes of event "
	    "70000", NULL);

	/* Two neighbours' payloads swapped, each body keeping its own seq:
	 * edits, which the signed root over them catches. */
	copy_world(w, "swap", path, sizeof(path), mirror, sizeof(mirror));
	edit_event(path, 30001, "number 30001", "number 30002", true);
	edit_event(path, 30002, "number 30002", "number 30001", true);
	trust_init(&t, w->vkey, mirror, NULL);
	expect_store(path, &t, "edited", 30001, NULL, NULL);
}

/*
 * The store verifier reads the log in chunks of 16,384 events on two
 * threads (odd chunks on the second). Findings at and across the chunk
 * edges, in either thread's chunks, must come out exactly as from one
 * pass: the first problem in log order, with its seq and words.
 */
static void
test_tamper_chunk_edges(void **state)
{
	struct world *w = *state;
	char path[160], mirror[200];
	tk_audit_trust t;
	tk_audit_report rep;
	tk_error err;
	tk_store *s;

	/* The last event of the first chunk, and the first of the second. */
	copy_world(w, "chunk", path, sizeof(path), mirror, sizeof(mirror));
	tamper(path, "DELETE FROM events WHERE seq = 16384");
	trust_init(&t, w->vkey, mirror, NULL);
	expect_store(path, &t, "missing", 16384, "event 16384 is missing (the "
	    "next stored is 16385)", NULL);
	copy_world(w, "chunk", path, sizeof(path), mirror, sizeof(mirror));
	tamper(path, "DELETE FROM events WHERE seq BETWEEN 16385 AND 40000");
	trust_init(&t, w->vkey, mirror, NULL);
	expect_store(path, &t, "missing", 16385, "event 16385 is missing (the "
	    "next stored is 40001)", NULL);

	/* A column edited in a chunk of the first thread after a body
	 * edited in one of the second: the earlier is the finding. */
	copy_world(w, "chunk", path, sizeof(path), mirror, sizeof(mirror));
	tamper(path, "UPDATE events SET kind = 'case.closed' "
	    "WHERE seq = 32769");
	trust_init(&t, w->vkey, mirror, NULL);
	expect_store(path, &t, "edited", 32769, "kind column", NULL);
	edit_event(path, 20000, "number", "numbeR", false);
	expect_store(path, &t, "edited", 20000, "no longer hash to its "
	    "recorded leaf", NULL);

	/* A row the store cannot read (a body stored as a blob) fails the
	 * verification with the store's error, unless an earlier event is
	 * already the finding (the walk stops there, before that row). */
	copy_world(w, "chunk", path, sizeof(path), mirror, sizeof(mirror));
	tamper(path, "UPDATE events SET body = CAST(body AS BLOB) "
	    "WHERE seq = 40000");
	trust_init(&t, w->vkey, mirror, NULL);
	s = open_db(path);
	assert_int_equal(tk_audit_verify_store(s, &t, &rep, &err), -1);
	assert_non_null(strstr(err.msg, "seq 40000"));
	tk_store_close(s);
	tamper(path, "DELETE FROM events WHERE seq = 39998");
	expect_store(path, &t, "missing", 39998, "the next stored is 39999",
	    NULL);
	tamper(path, "DELETE FROM events WHERE seq = 16000");
	expect_store(path, &t, "missing", 16000, NULL, &rep);
	assert_int_equal(rep.events, 15999);
}

static void
test_tamper_replace(void **state)
{
	struct world *w = *state;
	char path[160], mirror[200], vkey2[TK_NOTE_VKEY_MAX], key2[200];
	tk_note_signer k2;
	tk_audit_trust t;
	tk_audit_report rep;
	tk_error err;
	tk_store *s;
	int64_t signed_size;

	/* The whole log replaced by a valid-looking one under a new key of
	 * the same origin, as long as the old: history rewritten (events
	 * 40000..40100 now by "mallo"), the tree rebuilt from the rewritten
	 * bytes (here by making the file look like schema 1, which the
	 * store migrates; as fast as building anew, and what an attacker
	 * holding twokey's code would do), a new key listed and a fresh
	 * checkpoint signed. */
	copy_world(w, "replaced", path, sizeof(path), mirror, sizeof(mirror));
	(void)unlink(mirror);
	tamper(path, "UPDATE events SET body = replace(body, "
	    "'\"actor\":\"alice\"', '\"actor\":\"mallo\"'), actor = 'mallo' "
	    "WHERE seq BETWEEN 40000 AND 40100;"
	    "UPDATE meta SET value = '1' WHERE key = 'schema_version';"
	    "DROP TABLE tiles; DROP TABLE checkpoints; DROP TABLE cosignatures;"
	    "DROP TABLE audit_keys;");
	s = open_db(path);
	(void)snprintf(key2, sizeof(key2), "%s.audit-key", path);
	if (tk_audit_key_create(s, key2, ORIGIN, T0, vkey2, sizeof(vkey2),
	    &err) != 0 || tk_audit_key_load(key2, &k2, &err) != 0)
		fail_msg("new key: %s", err.msg);
	if (tk_audit_checkpoint(s, &k2, T0 + NBIG, mirror, &signed_size,
	    &err) != 0)
		fail_msg("new checkpoint: %s", err.msg);
	assert_int_equal(signed_size, NBIG);
	tk_note_signer_wipe(&k2);
	tk_store_close(s);
	assert_string_not_equal(vkey2, w->vkey);

	/* In itself it verifies, with its own listed key and mirror. */
	trust_init(&t, NULL, mirror, NULL);
	expect_store(path, &t, NULL, 0, NULL, &rep);
	assert_int_equal(rep.events, NBIG);
	assert_int_equal(rep.checkpoints, 1);
	/* Held to the old mirror file, it does not. */
	trust_init(&t, NULL, w->mirror, NULL);
	expect_store(path, &t, "signature", 0, "mirror checkpoint", NULL);
	/* Nor given the old key: the new key the database lists is not
	 * trusted then. */
	trust_init(&t, w->vkey, NULL, NULL);
	expect_store(path, &t, "signature", 0, "database checkpoint", NULL);
	trust_init(&t, w->vkey, w->mirror, w->cp_last);
	expect_store(path, &t, "signature", 0, NULL, NULL);
	/* Trusting both keys, two roots signed for one size: rewritten. */
	trust_init(&t, w->vkey, NULL, w->cp_last);
	assert_int_equal(tk_audit_trust_add(&t, vkey2, &err), 0);
	expect_store(path, &t, "rewritten", NBIG, "two different roots",
	    NULL);
	/* Offline, with the old key and a checkpoint it signed earlier. */
	trust_init(&t, w->vkey, NULL, w->cp_half);
	expect_export(path, &t, "signature", 0, "bundle checkpoint", NULL);
}

/* ---- checkpoints refuse ------------------------------------------------ */

static void
test_checkpoint_refusals(void **state)
{
	struct world *w = *state;
	char path[160], mirror[200], *count;
	tk_note_signer k;
	tk_checkpoint_row cp;
	tk_store *s;
	tk_error err;
	int64_t signed_size;

	/* An edit of a not yet signed event whose tile still holds the old
	 * leaf: not signed over. */
	copy_world(w, "cp", path, sizeof(path), mirror, sizeof(mirror));
	s = open_db(path);
	load_key(w->base, &k);
	if (add_events(s, NBIG + 1, 500, 250, &k, 0, mirror, "bob", &err) != 0)
		fail_msg("append: %s", err.msg);
	edit_event(path, NBIG + 123, "number", "Number", true);
	signed_size = 0;
	assert_int_equal(tk_audit_checkpoint(s, &k, T0, mirror, &signed_size,
	    &err), -1);
	assert_int_equal(signed_size, -1);
	assert_non_null(strstr(err.msg, "event 100123's stored bytes no longer "
	    "hash to its leaf"));
	/* Put back, it signs. */
	edit_event(path, NBIG + 123, "Number", "number", true);
	assert_int_equal(tk_audit_checkpoint(s, &k, T0, mirror, &signed_size,
	    &err), 0);
	assert_int_equal(signed_size, NBIG + 500);

	/* Never a second root for a size. */
	memset(&cp, 0, sizeof(cp));
	cp.size = NBIG;
	memset(cp.root, 0x5a, 32);
	(void)tk_strlcpy(cp.origin, ORIGIN, sizeof(cp.origin));
	cp.note = (char *)"forged\n";
	cp.created = T0;
	assert_int_equal(tk_store_checkpoint_put(s, &cp, &err), -1);
	assert_int_equal(err.status, TK_ERR_WRONG_STATE);
	cp.size = NBIG + 500;
	assert_int_equal(tk_store_checkpoint_put(s, &cp, &err), -1);
	assert_int_equal(err.status, TK_ERR_WRONG_STATE);
	tk_store_close(s);

	/* Truncation below the last checkpoint: on a tile boundary (the
	 * tree still opens at the smaller size) ... */
	copy_world(w, "cp", path, sizeof(path), mirror, sizeof(mirror));
	tamper(path, "DELETE FROM events WHERE seq > 99840");
	s = open_db(path);
	assert_int_equal(tk_audit_checkpoint(s, &k, T0, mirror, &signed_size,
	    &err), -1);
	assert_int_equal(signed_size, -1);
	assert_non_null(strstr(err.msg, "truncated"));
	tk_store_close(s);
	/* ... and inside a tile. */
	copy_world(w, "cp", path, sizeof(path), mirror, sizeof(mirror));
	tamper(path, "DELETE FROM events WHERE seq > 99990");
	s = open_db(path);
	assert_int_equal(tk_audit_checkpoint(s, &k, T0, mirror, &signed_size,
	    &err), -1);
	assert_int_equal(signed_size, -1);
	tk_store_close(s);
	count = raw_text(path, "SELECT count(*) FROM checkpoints");
	assert_string_equal(count, "10");
	free(count);

	/* A tile rewritten behind the store's back: the tree no longer has
	 * the signed root at the signed size. (Level-2 tile 0 holds the
	 * root of the first 65536 leaves, which the root at NBIG uses.) */
	copy_world(w, "cp", path, sizeof(path), mirror, sizeof(mirror));
	tamper(path, "UPDATE tiles SET hashes = zeroblob(32) "
	    "WHERE id = 144115188075855872"); /* level 2 << 56 | 0 */
	s = open_db(path);
	assert_int_equal(tk_store_begin(s, &err), 0);
	assert_int_equal(tk_store_event_append(s, T0, "", "late.event", "bob",
	    false, NULL, NULL, &err), 0);
	assert_int_equal(tk_store_commit(s, &err), 0);
	assert_int_equal(tk_audit_checkpoint(s, &k, T0, mirror, &signed_size,
	    &err), -1);
	assert_int_equal(signed_size, -1);
	assert_non_null(strstr(err.msg, "differs from the one signed"));
	tk_store_close(s);
	{
		tk_audit_trust t;

		trust_init(&t, w->vkey, mirror, NULL);
		expect_store(path, &t, "rewritten", 0, "stored tree (tile 2/0",
		    NULL);
	}

	/* One leaf hash inside a leaf tile rewritten: the root above it is
	 * stored separately and still right, but a proof for that event
	 * would fail. Verification rebuilds every tile and names it. */
	copy_world(w, "cp", path, sizeof(path), mirror, sizeof(mirror));
	tamper(path, "UPDATE tiles SET hashes = CAST(substr(hashes, 1, 64) || "
	    "zeroblob(32) || substr(hashes, 97) AS BLOB) WHERE id = 3");
	{
		tk_audit_trust t;

		trust_init(&t, w->vkey, mirror, NULL);
		expect_store(path, &t, "rewritten", 3 * 256 + 2 + 1,
		    "leaf for event 771", NULL);
	}
	tk_note_signer_wipe(&k);
}

/* ---- receipts ------------------------------------------------------------ */

/* Re-encodes the base64 string at j[key] after flipping one bit of byte
 * at. */
static void
flip_b64(json_t *obj, const char *key, size_t at)
{
	const char *b = json_string_value(json_object_get(obj, key));
	unsigned char raw[4096];
	char enc[8192];
	int n;
	size_t len, pad = 0;

	assert_non_null(b);
	len = strlen(b);
	assert_true(len < sizeof(enc) && len / 4 * 3 <= sizeof(raw));
	if (len >= 1 && b[len - 1] == '=')
		pad = len >= 2 && b[len - 2] == '=' ? 2 : 1;
	n = EVP_DecodeBlock(raw, (const unsigned char *)b, (int)len);
	assert_true(n > 0);
	n -= (int)pad;
	assert_true(at < (size_t)n);
	raw[at] ^= 0x01;
	(void)EVP_EncodeBlock((unsigned char *)enc, raw, n);
	assert_int_equal(json_object_set_new(obj, key, json_string(enc)), 0);
}

static void
test_receipts(void **state)
{
	struct world *w = *state;
	char path[160], vkey[TK_NOTE_VKEY_MAX], vkey2[TK_NOTE_VKEY_MAX];
	char other[200];
	tk_note_signer k;
	tk_audit_trust t;
	tk_audit_report rep;
	tk_error err;
	tk_store *s, *s2;
	json_t *r, *copy, *ev;
	int64_t signed_size;
	size_t i;

	(void)snprintf(path, sizeof(path), "%s/receipts.db", w->dir);
	s = new_log(path, ORIGIN, 1000, 100, 500, "alice", vkey);
	/* c_042: events 42, 142, ..., 942, all under the checkpoint at 1000
	 * (every fifth event is about no case; 42 % 5 != 0 and so on). */
	r = tk_audit_receipt(s, "c_042", &err);
	if (r == NULL)
		fail_msg("receipt: %s", err.msg);
	assert_string_equal(json_string_value(json_object_get(r, "format")),
	    TK_AUDIT_RECEIPT_FORMAT);
	assert_int_equal(json_integer_value(json_object_get(r, "size")), 1000);
	assert_int_equal(json_array_size(json_object_get(r, "events")), 10);
	trust_init(&t, vkey, NULL, NULL);
	assert_int_equal(tk_audit_receipt_check(r, &t, &rep, &err), 0);
	expect_report("receipt", &rep, NULL, 0, NULL);
	assert_int_equal(rep.events, 10);
	assert_int_equal(rep.checkpoints, 1);
	/* It survives a trip through text. */
	{
		char *text = json_dumps(r, JSON_COMPACT);
		json_t *back = json_loads(text, 0, NULL);

		assert_non_null(back);
		assert_int_equal(tk_audit_receipt_check(back, &t, &rep, &err),
		    0);
		expect_report("receipt", &rep, NULL, 0, NULL);
		json_decref(back);
		free(text);
	}

	/* Another log's key: refused. */
	(void)snprintf(other, sizeof(other), "%s/receipts-other.db", w->dir);
	s2 = new_log(other, "other.example/twokey", 3, 3, 0, "bob", vkey2);
	tk_store_close(s2);
	trust_init(&t, vkey2, NULL, NULL);
	assert_int_equal(tk_audit_receipt_check(r, &t, &rep, &err), 0);
	expect_report("other key", &rep, "signature", 0, NULL);
	trust_init(&t, NULL, NULL, NULL);
	assert_int_equal(tk_audit_receipt_check(r, &t, &rep, &err), -1);
	assert_int_equal(err.status, TK_ERR_INVALID);

	/* One leaf byte changed (inside the note text, so the body still
	 * names its seq and case): not in the signed tree. */
	trust_init(&t, vkey, NULL, NULL);
	copy = json_deep_copy(r);
	ev = json_array_get(json_object_get(copy, "events"), 3);
	{
		const char *b = json_string_value(json_object_get(ev, "leaf"));
		size_t at = 0;
		unsigned char raw[1024];
		int n = EVP_DecodeBlock(raw, (const unsigned char *)b,
		    (int)strlen(b));
		const char *p;

		assert_true(n > 0);
		raw[n] = '\0';
		p = strstr((const char *)raw, "event number");
		assert_non_null(p);
		at = (size_t)(p - (const char *)raw);
		flip_b64(ev, "leaf", at);
	}
	assert_int_equal(tk_audit_receipt_check(copy, &t, &rep, &err), 0);
	expect_report("leaf byte", &rep, "edited", 342, "not in the signed log");
	json_decref(copy);

	/* One proof hash changed, in each event in turn. */
	for (i = 0; i < 10; i++) {
		copy = json_deep_copy(r);
		ev = json_array_get(json_object_get(copy, "events"), i);
		{
			json_t *proof = json_object_get(ev, "proof");
			json_t *holder = json_object();
			size_t last = json_array_size(proof) - 1;

			assert_true(json_array_size(proof) > 0);
			assert_int_equal(json_object_set(holder, "h",
			    json_array_get(proof, last)), 0);
			flip_b64(holder, "h", 31);
			assert_int_equal(json_array_set(proof, last,
			    json_object_get(holder, "h")), 0);
			json_decref(holder);
		}
		assert_int_equal(tk_audit_receipt_check(copy, &t, &rep, &err),
		    0);
		expect_report("proof hash", &rep, "edited", 42 + 100 *
		    (int64_t)i, "not in the signed log");
		json_decref(copy);
	}
	/* An index at the edge of the integers. */
	copy = json_deep_copy(r);
	ev = json_array_get(json_object_get(copy, "events"), 0);
	assert_int_equal(json_object_set_new(ev, "index",
	    json_integer(INT64_MAX)), 0);
	assert_int_equal(tk_audit_receipt_check(copy, &t, &rep, &err), 0);
	assert_false(rep.ok);
	assert_string_equal(rep.kind, "malformed");
	json_decref(copy);
	/* A proof hash dropped, or a leaf moved to another index. */
	copy = json_deep_copy(r);
	ev = json_array_get(json_object_get(copy, "events"), 0);
	assert_int_equal(json_array_remove(json_object_get(ev, "proof"), 0), 0);
	assert_int_equal(tk_audit_receipt_check(copy, &t, &rep, &err), 0);
	expect_report("short proof", &rep, "edited", 42, NULL);
	json_decref(copy);
	copy = json_deep_copy(r);
	ev = json_array_get(json_object_get(copy, "events"), 0);
	assert_int_equal(json_object_set_new(ev, "index", json_integer(43)),
	    0);
	assert_int_equal(tk_audit_receipt_check(copy, &t, &rep, &err), 0);
	expect_report("moved leaf", &rep, "edited", 44, NULL);
	json_decref(copy);
	json_decref(r);

	/* Unknown case; a case whose last event is not yet signed. */
	assert_null(tk_audit_receipt(s, "c_nope", &err));
	assert_int_equal(err.status, TK_ERR_NOT_FOUND);
	assert_int_equal(tk_store_event_append(s, T0, "c_042", "case.closed",
	    "alice", false, NULL, NULL, &err), 0);
	assert_null(tk_audit_receipt(s, "c_042", &err));
	assert_int_equal(err.status, TK_ERR_WRONG_STATE);
	/* Others' receipts still come. */
	r = tk_audit_receipt(s, "c_041", &err);
	assert_non_null(r);
	json_decref(r);
	/* After the next checkpoint, c_042's does too. */
	load_key(path, &k);
	assert_int_equal(tk_audit_checkpoint(s, &k, T0, NULL, &signed_size,
	    &err), 0);
	assert_int_equal(signed_size, 1001);
	tk_note_signer_wipe(&k);
	r = tk_audit_receipt(s, "c_042", &err);
	assert_non_null(r);
	assert_int_equal(json_array_size(json_object_get(r, "events")), 11);
	trust_init(&t, vkey, NULL, NULL);
	assert_int_equal(tk_audit_receipt_check(r, &t, &rep, &err), 0);
	expect_report("receipt", &rep, NULL, 0, NULL);
	assert_int_equal(rep.events, 11);
	json_decref(r);
	tk_store_close(s);
}

/* ---- migration from schema 1 -------------------------------------------- */

static void
test_migration(void **state)
{
	struct world *w = *state;
	char path[160], vkey[TK_NOTE_VKEY_MAX], *v;
	unsigned char before[32], after[32], mine[32];
	struct leaves l;
	tk_audit_trust t;
	tk_audit_report rep;
	tk_store *s;
	tk_error err;
	int64_t count = 0, bad = -1;
	uint64_t size = 0;

	(void)snprintf(path, sizeof(path), "%s/migrate.db", w->dir);
	s = new_log(path, ORIGIN, 700, 100, 0, "alice", vkey);
	assert_int_equal(tk_store_log_root(s, 700, before, &err), 0);
	tk_store_close(s);
	/* What a schema-1 database looks like to this code: no log tables
	 * and chain hashes (here zeros) in events.hash. */
	tamper(path, "UPDATE meta SET value = '1' WHERE key = "
	    "'schema_version';"
	    "DROP TABLE tiles; DROP TABLE checkpoints; DROP TABLE cosignatures;"
	    "DROP TABLE audit_keys;"
	    "UPDATE events SET hash = zeroblob(32);");
	s = open_db(path);
	v = raw_text(path, "SELECT value FROM meta WHERE key = "
	    "'schema_version'");
	assert_string_equal(v, "2");
	free(v);
	v = raw_text(path, "SELECT count(*) FROM tiles "
	    "WHERE id < 72057594037927936"); /* level 0 */
	assert_string_equal(v, "3"); /* 256 + 256 + 188 leaves */
	free(v);
	if (tk_chain_verify(s, &count, &bad, &err) != 0)
		fail_msg("rows after migration: %s", err.msg);
	assert_int_equal(count, 700);
	assert_int_equal(tk_store_log_size(s, &size, &err), 0);
	assert_int_equal(size, 700);
	assert_int_equal(tk_store_log_root(s, 700, after, &err), 0);
	assert_memory_equal(before, after, 32);
	l.h = malloc(700 * 32);
	assert_non_null(l.h);
	l.n = 0;
	assert_int_equal(tk_store_event_scan(s, 1, 0, leaves_cb, &l, &err), 0);
	assert_int_equal(tk_merkle_root(l.h, 700, mine, &err), 0);
	assert_memory_equal(mine, after, 32);
	assert_int_equal(tk_store_log_root(s, 333, after, &err), 0);
	assert_int_equal(tk_merkle_root(l.h, 333, mine, &err), 0);
	assert_memory_equal(mine, after, 32);
	free(l.h);
	trust_init(&t, NULL, NULL, NULL);
	assert_int_equal(tk_audit_verify_store(s, &t, &rep, &err), 0);
	expect_report("migrated", &rep, NULL, 0, NULL);
	/* The log goes on. */
	assert_int_equal(tk_store_event_append(s, T0, "", "after.migration",
	    "olivia", false, NULL, NULL, &err), 0);
	assert_int_equal(tk_store_log_size(s, &size, &err), 0);
	assert_int_equal(size, 701);
	tk_store_close(s);

	/* A schema-1 database with a broken chain is not migrated. */
	tamper(path, "UPDATE meta SET value = '1' WHERE key = "
	    "'schema_version';"
	    "DROP TABLE tiles; DROP TABLE checkpoints; DROP TABLE cosignatures;"
	    "DROP TABLE audit_keys; DELETE FROM events WHERE seq = 100;");
	assert_null(tk_store_open(path, false, &err));
	assert_non_null(strstr(err.msg, "event 100 is missing"));
	v = raw_text(path, "SELECT value FROM meta WHERE key = "
	    "'schema_version'");
	assert_string_equal(v, "1");
	free(v);
}

/* ---- export bundles refused ---------------------------------------------- */

/* The bundle in fp with line number lineno (1-based) replaced by line
 * (NULL: dropped) or, when insert, line inserted before it; a new
 * tmpfile. */
static FILE *
edit_bundle(FILE *fp, int lineno, const char *line, bool insert)
{
	FILE *out = tmpfile();
	char *buf = NULL;
	size_t cap = 0;
	int no = 0;

	assert_non_null(out);
	rewind(fp);
	while (getline(&buf, &cap, fp) > 0) {
		no++;
		if (no == lineno && line != NULL)
			assert_true(fputs(line, out) >= 0);
		if (no != lineno || insert)
			assert_true(fputs(buf, out) >= 0);
	}
	free(buf);
	rewind(out);
	return out;
}

static void
test_export_refused(void **state)
{
	struct world *w = *state;
	char path[160], vkey[TK_NOTE_VKEY_MAX], vkey2[TK_NOTE_VKEY_MAX];
	char other[200], *note2, line[4096];
	tk_audit_trust t;
	tk_audit_report rep;
	tk_error err;
	tk_store *s;
	FILE *fp, *bad;
	json_t *j;
	char *enc;

	(void)snprintf(path, sizeof(path), "%s/bundle.db", w->dir);
	s = new_log(path, ORIGIN, 300, 100, 100, "alice", vkey);
	tk_store_close(s);
	fp = export_db(path);
	trust_init(&t, vkey, NULL, NULL);
	expect_bundle(fp, &t, NULL, 0, NULL, &rep);
	assert_int_equal(rep.events, 300);
	assert_int_equal(rep.checkpoints, 3);

	/* No key: the check cannot run. */
	trust_init(&t, NULL, NULL, NULL);
	rewind(fp);
	assert_int_equal(tk_audit_verify_export(fp, &t, &rep, &err), -1);
	assert_int_equal(err.status, TK_ERR_INVALID);

	/* Malformed lines. Lines: 1 header, 2-4 checkpoints, 5.. leaves. */
	trust_init(&t, vkey, NULL, NULL);
	bad = edit_bundle(fp, 50, "{\"index\":45,\"leaf\"\n", false);
	expect_bundle(bad, &t, "malformed", 0, "line 50 is not a JSON object",
	    NULL);
	assert_int_equal(fclose(bad), 0);
	bad = edit_bundle(fp, 50, "{\"index\":45,\"leaf\":\"not base64!\"}\n",
	    false);
	expect_bundle(bad, &t, "malformed", 46, "line 50 is not an event",
	    NULL);
	assert_int_equal(fclose(bad), 0);
	bad = edit_bundle(fp, 1, "{\"format\":\"something-else/1\"}\n",
	    false);
	expect_bundle(bad, &t, "malformed", 0, "not a twokey audit export",
	    NULL);
	assert_int_equal(fclose(bad), 0);
	/* Indexes at the edge of the integers are refused, not wrapped. */
	bad = edit_bundle(fp, 50, "{\"index\":9223372036854775807,"
	    "\"leaf\":\"e30=\"}\n", false);
	expect_bundle(bad, &t, "malformed", 0, "line 50 is not an event",
	    NULL);
	assert_int_equal(fclose(bad), 0);
	bad = edit_bundle(fp, 50, "{\"index\":-9223372036854775807,"
	    "\"leaf\":\"e30=\"}\n", false);
	expect_bundle(bad, &t, "malformed", 0, "line 50 is not an event",
	    NULL);
	assert_int_equal(fclose(bad), 0);
	bad = edit_bundle(fp, 50, NULL, false); /* a leaf dropped */
	expect_bundle(bad, &t, "missing", 46, NULL, NULL);
	assert_int_equal(fclose(bad), 0);
	bad = edit_bundle(fp, 304, NULL, false); /* the last leaf dropped */
	expect_bundle(bad, &t, "truncated", 300, NULL, NULL);
	assert_int_equal(fclose(bad), 0);

	/* A checkpoint signed by a key the verifier does not know, added to
	 * the bundle: refused, even next to validly signed ones. */
	(void)snprintf(other, sizeof(other), "%s/bundle-other.db", w->dir);
	s = new_log(other, ORIGIN, 300, 100, 100, "mallory", vkey2);
	note2 = checkpoint_note(s, 200);
	tk_store_close(s);
	j = json_pack("{s:s}", "checkpoint", note2);
	enc = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	(void)snprintf(line, sizeof(line), "%s\n", enc);
	free(enc);
	bad = edit_bundle(fp, 3, line, true);
	expect_bundle(bad, &t, "signature", 0, "bundle checkpoint", NULL);
	assert_int_equal(fclose(bad), 0);
	/* Replacing the real one, likewise. */
	bad = edit_bundle(fp, 3, line, false);
	expect_bundle(bad, &t, "signature", 0, NULL, NULL);
	assert_int_equal(fclose(bad), 0);
	/* A bundle whose every checkpoint is signed by another key. */
	trust_init(&t, vkey2, NULL, NULL);
	expect_bundle(fp, &t, "signature", 0, NULL, NULL);
	/* No checkpoint at all: nothing vouches for it. */
	trust_init(&t, vkey, NULL, NULL);
	bad = edit_bundle(fp, 2, NULL, false);
	{
		FILE *b2 = edit_bundle(bad, 2, NULL, false);
		FILE *b3 = edit_bundle(b2, 2, NULL, false);

		expect_bundle(b3, &t, "signature", 0, "nothing vouches", NULL);
		assert_int_equal(fclose(b3), 0);
		assert_int_equal(fclose(b2), 0);
	}
	assert_int_equal(fclose(bad), 0);
	free(note2);
	assert_int_equal(fclose(fp), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_big_log_verifies),
		cmocka_unit_test(test_tamper_edit_byte),
		cmocka_unit_test(test_tamper_delete_middle),
		cmocka_unit_test(test_tamper_truncate),
		cmocka_unit_test(test_tamper_swap),
		cmocka_unit_test(test_tamper_chunk_edges),
		cmocka_unit_test(test_tamper_replace),
		cmocka_unit_test(test_checkpoint_refusals),
		cmocka_unit_test(test_receipts),
		cmocka_unit_test(test_migration),
		cmocka_unit_test(test_export_refused),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
