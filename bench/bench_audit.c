/*
 * bench_audit.c - measures the audit log through the real store (issue 3's
 * speed targets): durable appends with group commit against raw SQLite in
 * the same run, single-event commits, full verification of a log with
 * signed checkpoints, and inclusion / consistency proofs and receipts read
 * from a SQLite database holding millions of events' tiles.
 *
 * Parts (--parts, comma-separated; default all):
 *   append  tk_store_begin, --batch x tk_store_event_append, tk_store_commit,
 *           repeated for --seconds on a fresh database -> events/s
 *   ref     raw SQLite, same schema (the store's events table and index),
 *           WAL + synchronous=FULL, the same bodies and --batch rows per
 *           COMMIT -> rows/s (the ceiling for the group-commit figure)
 *   single  tk_store_event_append with no transaction open (one event per
 *           commit) for --seconds, and raw SQLite one row per commit
 *   verify  a log of --verify-events events with a signed checkpoint every
 *           --checkpoint-every (tk_audit_key_create/load, tk_audit_checkpoint
 *           with a mirror file); then tk_audit_verify_store (median of 3,
 *           database in the page cache; once more with the file dropped from
 *           the page cache; since it also checks every row against its
 *           columns, this is what `twokey audit verify` does, in one
 *           pass), and tk_chain_verify (the row check alone)
 *   proofs  a log of --proof-events events (built once into --proof-db and
 *           reused when it is complete; the build is timed), then
 *           tk_store_log_inclusion / tk_store_log_consistency for --pairs
 *           random pairs (sizes uniform in [1, N]) with the file in the page
 *           cache and the store's default tile cache ("warm"), the same proof
 *           repeated ("hot": its tiles cached), and --cold pairs each on a
 *           store opened afresh with the file dropped from the page cache
 *           (POSIX_FADV_DONTNEED; the VM's host may still cache the disk);
 *           tk_audit_receipt for a case with 30 events spread over the log,
 *           warm and cold. Every proof and receipt is checked outside the
 *           timed region.
 * Counting modes, for `strace -c -f` (scripts/bench.sh): --single-count N
 * makes exactly N single-event commits, --batch-count N exactly N commits
 * of --batch events, on a fresh database, and print nothing else.
 *
 * Events are typical of a case's life (case.opened, evidence.added, two
 * approval.added, case.executed; detail texts like the engine's, random
 * case ids, as the server makes them); the mean body size is printed
 * (about 300 bytes). --case-ids seq (a diagnostic) numbers the cases in
 * creation order instead, so the case_id index grows at its right edge.
 *
 * Output: one figure per line, "name value unit  (notes)".
 *
 * Usage: bench_audit [--parts LIST] [--dir DIR] [--keep] [--seconds S]
 *          [--batch B] [--verify-events N] [--checkpoint-every K]
 *          [--proof-db PATH] [--proof-events N] [--pairs P] [--cold C]
 *          [--single-count N | --batch-count N] [--case-ids random|seq]
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "audit/chain.h"
#include "audit/log.h"
#include "audit/merkle.h"
#include "store/store.h"
#include "store/store_pages.h"

#define NPOOL 1000             /* prepared event data objects (x5 kinds) */
#define RECEIPT_CASE "c_bench30events00"
#define RECEIPT_EVENTS 30
#define ORIGIN "bench.example/twokey"
#define T0 ((tk_time)1795420800) /* 2026-11-23T00:00:00Z */

static struct cfg {
	char parts[128];
	const char *dir;
	bool keep;
	double seconds;
	long batch;
	long verify_events;
	long checkpoint_every;
	const char *proof_db;
	long proof_events;
	long pairs;
	long cold;
	long single_count;
	long batch_count;
	bool seq_ids;
} cfg = {
	.parts = "append,ref,single,verify,proofs",
	.seconds = 2.0,
	.batch = 256,
	.verify_events = 1000000,
	.checkpoint_every = 100000,
	.proof_events = 10000000,
	.pairs = 2000,
	.cold = 200,
	.single_count = -1,
	.batch_count = -1,
};

static char workdir[1024];

/* ---- helpers ------------------------------------------------------------ */

static double
now_s(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
		perror("clock_gettime");
		exit(1);
	}
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void
die(const char *what, const tk_error *err)
{
	fprintf(stderr, "bench_audit: %s: %s\n", what, err->msg);
	exit(1);
}

static void
die_sql(sqlite3 *db, const char *what)
{
	fprintf(stderr, "bench_audit: %s: %s\n", what, sqlite3_errmsg(db));
	exit(1);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Sorts v and returns its q-quantile (0.5 median, 0.99 p99). */
static double
quantile(double *v, size_t n, double q)
{
	size_t i;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	i = (size_t)(q * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

static uint64_t rng = 0x853c49e6748fea9bULL;

/* splitmix64: a fixed sequence, so runs pick the same pairs. */
static uint64_t
mix(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t
rnd(void)
{
	rng += 0x9e3779b97f4a7c15ULL;
	return mix(rng);
}

/* Uniform in [lo, hi]. */
static uint64_t
rnd_in(uint64_t lo, uint64_t hi)
{
	return lo + rnd() % (hi - lo + 1);
}

static void
path_in(char *out, size_t size, const char *name)
{
	if ((size_t)snprintf(out, size, "%s/%s", workdir, name) >= size) {
		fprintf(stderr, "bench_audit: path too long\n");
		exit(2);
	}
}

/* Removes a database and the files that live next to it. */
static void
remove_db(const char *db)
{
	static const char *const sfx[] = {"", "-wal", "-shm", ".audit-key",
		".checkpoints", "-journal"};
	char p[1200];

	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		(void)snprintf(p, sizeof(p), "%s%s", db, sfx[i]);
		if (unlink(p) != 0 && errno != ENOENT)
			fprintf(stderr, "bench_audit: cannot remove %s: %s\n", p,
			    strerror(errno));
	}
}

/* Drops a file's pages from the page cache (clean pages only). */
static void
drop_cache(const char *db)
{
	static const char *const sfx[] = {"", "-wal"};
	char p[1200];
	int fd;

	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		(void)snprintf(p, sizeof(p), "%s%s", db, sfx[i]);
		fd = open(p, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		(void)fdatasync(fd);
		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		(void)close(fd);
	}
}

static tk_store *
store_open(const char *path, bool create)
{
	tk_error err;
	tk_store *s = tk_store_open(path, create, &err);

	if (s == NULL)
		die(path, &err);
	return s;
}

static bool
part(const char *name)
{
	const char *p = cfg.parts;
	size_t n = strlen(name);

	while ((p = strstr(p, name)) != NULL) {
		if ((p == cfg.parts || p[-1] == ',') &&
		    (p[n] == '\0' || p[n] == ','))
			return true;
		p += n;
	}
	return false;
}

/* ---- typical events ------------------------------------------------------ */

static const char *const kinds[5] = {"case.opened", "evidence.added",
	"approval.added", "approval.added", "case.executed"};
static const char *const actors[5] = {"alice", "dave", "bob", "carol",
	"erin"};
static json_t *pool[NPOOL];
static char *bodies[NPOOL]; /* the canonical bodies, for raw SQLite */
static size_t body_bytes;   /* their total size */

static void
pool_init(void)
{
	static const char *const actions[] = {"password_reset", "mfa_reset",
		"device_enrolment", "contact_change", "role_grant"};
	static const char *const tiers[] = {"standard", "elevated",
		"critical"};
	char detail[512], cid[32];
	const char *action, *tier;
	uint64_t h;
	int i, k;

	for (i = 0; i < NPOOL; i++) {
		k = i % 5;
		h = mix((uint64_t)i);
		action = actions[h % 5];
		tier = tiers[(h >> 8) % 3];
		(void)snprintf(cid, sizeof(cid), "c_%016" PRIx64, mix(h));
		switch (k) {
		case 0:
			(void)snprintf(detail, sizeof(detail), "alice opened %s "
			    "for u%d by phone, ticket INC-%05d; tier %s (rule "
			    "line %d, owner carol, policy %016" PRIx64 ")",
			    action, i, (int)(h % 100000), tier,
			    (int)(h % 90) + 10, mix(7));
			break;
		case 1:
			(void)snprintf(detail, sizeof(detail), "dave verified u%d "
			    "by callback_on_file via contact on file +1 555 "
			    "%07d", i, (int)(h % 10000000));
			break;
		case 2:
		case 3:
			(void)snprintf(detail, sizeof(detail), "%s (%s) approved "
			    "under policy %016" PRIx64 "; %s", actors[k],
			    k == 2 ? "helpdesk" : "security", mix(7), cid);
			break;
		default:
			(void)snprintf(detail, sizeof(detail), "erin executed %s "
			    "for u%d: MFA factors removed in IdP; revoked "
			    "sessions, tokens", action, i);
			break;
		}
		(void)snprintf(cid, sizeof(cid), "u%d", i);
		pool[i] = json_pack("{s:s, s:s, s:s, s:s}", "action", action,
		    "detail", detail, "subject", cid, "tier", tier);
		if (pool[i] == NULL) {
			fprintf(stderr, "bench_audit: out of memory\n");
			exit(1);
		}
	}
}

/* Event i of a generated log: five events per case, random case ids.
 * With spread > 0, events spread * j + 7 (j < 30) belong to RECEIPT_CASE
 * instead. */
static const json_t *
gen_event(uint64_t i, uint64_t spread, char *case_id, size_t size,
    const char **kind, const char **actor)
{
	int k = (int)(i % 5);

	if (spread > 0 && i % spread == 7 && i / spread < RECEIPT_EVENTS)
		(void)tk_strlcpy(case_id, RECEIPT_CASE, size);
	else if (cfg.seq_ids) /* diagnostic: ids in creation order */
		(void)snprintf(case_id, size, "c_%016" PRIx64, i / 5);
	else
		(void)snprintf(case_id, size, "c_%016" PRIx64, mix(i / 5));
	*kind = kinds[k];
	*actor = actors[k];
	return pool[i % NPOOL];
}

static void
bodies_init(void)
{
	char cid[TK_ID_MAX];
	const char *kind, *actor;
	const json_t *data;

	for (uint64_t i = 0; i < NPOOL; i++) {
		data = gen_event(i, 0, cid, sizeof(cid), &kind, &actor);
		bodies[i] = tk_chain_body((int64_t)i + 1, T0 + (tk_time)i, cid,
		    kind, actor, false, data);
		if (bodies[i] == NULL) {
			fprintf(stderr, "bench_audit: tk_chain_body failed\n");
			exit(1);
		}
		body_bytes += strlen(bodies[i]);
	}
}

static void
append_one(tk_store *s, uint64_t i, uint64_t spread)
{
	char cid[TK_ID_MAX];
	const char *kind, *actor;
	const json_t *data;
	tk_error err;

	data = gen_event(i, spread, cid, sizeof(cid), &kind, &actor);
	if (tk_store_event_append(s, T0 + (tk_time)(i / 1000), cid, kind,
	    actor, false, data, NULL, &err) != 0)
		die("tk_store_event_append", &err);
}

/* One transaction of n events starting at event *next. */
static void
append_batch(tk_store *s, uint64_t *next, long n, uint64_t spread)
{
	tk_error err;

	if (tk_store_begin(s, &err) != 0)
		die("tk_store_begin", &err);
	for (long j = 0; j < n; j++)
		append_one(s, (*next)++, spread);
	if (tk_store_commit(s, &err) != 0)
		die("tk_store_commit", &err);
}

/* ---- (a) appends ---------------------------------------------------------- */

static void
part_append(void)
{
	char path[1200];
	tk_store *s;
	tk_error err;
	uint64_t next = 0, events = 0;
	double t0, t, el, c0, tc = 0, commits = 0;

	path_in(path, sizeof(path), "append.db");
	remove_db(path);
	s = store_open(path, true);
	for (int w = 0; w < 8; w++)
		append_batch(s, &next, cfg.batch, 0);
	c0 = cpu_s();
	t0 = now_s();
	do {
		if (tk_store_begin(s, &err) != 0)
			die("tk_store_begin", &err);
		for (long j = 0; j < cfg.batch; j++)
			append_one(s, next++, 0);
		t = now_s();
		if (tk_store_commit(s, &err) != 0)
			die("tk_store_commit", &err);
		el = now_s();
		tc += el - t;
		el -= t0;
		commits++;
		events += (uint64_t)cfg.batch;
	} while (el < cfg.seconds);
	printf("append.group %.0f events/s  (%ld events per commit, %.2f s, "
	    "%.0f commits, commit incl. tiles + fsync %.2f ms each = %.0f%% of "
	    "the time, CPU %.2f, mean body %zu B)\n", (double)events / el,
	    cfg.batch, el, commits, tc / commits * 1e3, tc / el * 100,
	    (cpu_s() - c0) / el, body_bytes / NPOOL);
	tk_store_close(s);
	remove_db(path);
}

/* The reference: rows of an event's size in a plain table. */
static const char ref_plain[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE rows (seq INTEGER PRIMARY KEY, body TEXT NOT NULL);";

/* Like for like: the store's events table and index (store_sqlite.c,
 * schema 2), the same case ids. */
static const char ref_events[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE events ("
    " seq INTEGER PRIMARY KEY,"
    " ts INTEGER NOT NULL,"
    " case_id TEXT NOT NULL,"
    " kind TEXT NOT NULL,"
    " actor TEXT NOT NULL,"
    " alert INTEGER NOT NULL,"
    " body TEXT NOT NULL,"
    " hash BLOB NOT NULL);"
    "CREATE INDEX events_case ON events (case_id);";

struct ref {
	bool plain;
	sqlite3 *db;
	sqlite3_stmt *ins, *begin, *commit;
	int64_t seq;
};

static void
ref_open(struct ref *r, const char *path, bool plain)
{
	memset(r, 0, sizeof(*r));
	r->plain = plain;
	remove_db(path);
	if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		die_sql(r->db, "open");
	if (sqlite3_exec(r->db, plain ? ref_plain : ref_events, NULL, NULL,
	    NULL) != SQLITE_OK)
		die_sql(r->db, "schema");
	if (sqlite3_prepare_v2(r->db, plain ? "INSERT INTO rows (seq, body) "
	    "VALUES (?,?)" : "INSERT INTO events (seq, ts, case_id, kind, "
	    "actor, alert, body, hash) VALUES (?,?,?,?,?,?,?,?)", -1,
	    &r->ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(r->db, "BEGIN IMMEDIATE", -1, &r->begin, NULL)
	    != SQLITE_OK ||
	    sqlite3_prepare_v2(r->db, "COMMIT", -1, &r->commit, NULL)
	    != SQLITE_OK)
		die_sql(r->db, "prepare");
}

static void
ref_step(struct ref *r, sqlite3_stmt *st)
{
	if (sqlite3_step(st) != SQLITE_DONE)
		die_sql(r->db, "step");
	(void)sqlite3_reset(st);
}

static void
ref_insert(struct ref *r)
{
	static const unsigned char hash[32] = {1, 2, 3};
	char cid[TK_ID_MAX];
	const char *kind, *actor;
	uint64_t i = (uint64_t)r->seq;
	const char *body = bodies[i % NPOOL];

	r->seq++;
	if (r->plain) {
		if (sqlite3_bind_int64(r->ins, 1, r->seq) != SQLITE_OK ||
		    sqlite3_bind_text(r->ins, 2, body, -1, SQLITE_STATIC)
		    != SQLITE_OK)
			die_sql(r->db, "bind");
		ref_step(r, r->ins);
		return;
	}
	(void)gen_event(i, 0, cid, sizeof(cid), &kind, &actor);
	if (sqlite3_bind_int64(r->ins, 1, r->seq) != SQLITE_OK ||
	    sqlite3_bind_int64(r->ins, 2, T0 + r->seq / 1000) != SQLITE_OK ||
	    sqlite3_bind_text(r->ins, 3, cid, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(r->ins, 4, kind, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(r->ins, 5, actor, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int(r->ins, 6, 0) != SQLITE_OK ||
	    sqlite3_bind_text(r->ins, 7, body, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_blob(r->ins, 8, hash, 32, SQLITE_STATIC) != SQLITE_OK)
		die_sql(r->db, "bind");
	ref_step(r, r->ins);
}

static void
ref_close(struct ref *r)
{
	(void)sqlite3_finalize(r->ins);
	(void)sqlite3_finalize(r->begin);
	(void)sqlite3_finalize(r->commit);
	(void)sqlite3_close(r->db);
}

static void
part_ref(void)
{
	char path[1200];
	struct ref r;
	uint64_t rows;
	double t0, el, c0;

	for (int plain = 1; plain >= 0; plain--) {
		path_in(path, sizeof(path), "ref.db");
		ref_open(&r, path, plain);
		for (int w = 0; w < 8; w++) {
			ref_step(&r, r.begin);
			for (long j = 0; j < cfg.batch; j++)
				ref_insert(&r);
			ref_step(&r, r.commit);
		}
		rows = 0;
		c0 = cpu_s();
		t0 = now_s();
		do {
			ref_step(&r, r.begin);
			for (long j = 0; j < cfg.batch; j++)
				ref_insert(&r);
			ref_step(&r, r.commit);
			rows += (uint64_t)cfg.batch;
			el = now_s() - t0;
		} while (el < cfg.seconds);
		if (plain)
			printf("ref.sqlite.group %.0f rows/s  (raw SQLite %s, WAL, "
			    "synchronous=FULL, %ld rows of %zu B per COMMIT in a "
			    "plain table; %.2f s, CPU %.2f)\n", (double)rows / el,
			    sqlite3_libversion(), cfg.batch, body_bytes / NPOOL, el,
			    (cpu_s() - c0) / el);
		else
			printf("ref.sqlite.group.events %.0f rows/s  (the same into "
			    "the store's events table and its case_id index, the "
			    "same rows and case ids, no hashing or JSON; %.2f s, "
			    "CPU %.2f)\n", (double)rows / el, el,
			    (cpu_s() - c0) / el);
		ref_close(&r);
		remove_db(path);
	}
}

static void
part_single(void)
{
	char path[1200];
	struct ref r;
	tk_store *s;
	uint64_t next = 0, n = 0;
	double t0, el, c0;

	path_in(path, sizeof(path), "single.db");
	remove_db(path);
	s = store_open(path, true);
	for (int w = 0; w < 20; w++)
		append_one(s, next++, 0);
	c0 = cpu_s();
	t0 = now_s();
	do {
		append_one(s, next++, 0); /* no transaction: its own commit */
		n++;
		el = now_s() - t0;
	} while (el < cfg.seconds);
	printf("append.single %.0f events/s  (one event per commit, %.3f ms "
	    "each, %.2f s, CPU %.2f)\n", (double)n / el, el / (double)n * 1e3,
	    el, (cpu_s() - c0) / el);
	tk_store_close(s);
	remove_db(path);

	path_in(path, sizeof(path), "ref-single.db");
	ref_open(&r, path, false);
	for (int w = 0; w < 20; w++)
		ref_insert(&r);
	n = 0;
	t0 = now_s();
	do {
		ref_insert(&r); /* autocommit */
		n++;
		el = now_s() - t0;
	} while (el < cfg.seconds);
	printf("ref.sqlite.single %.0f rows/s  (raw SQLite, events table, one "
	    "row per COMMIT, %.3f ms each)\n", (double)n / el, el / (double)n * 1e3);
	ref_close(&r);
	remove_db(path);
}

/* For strace: exactly N commits on a fresh database, nothing printed. */
static void
count_mode(void)
{
	char path[1200];
	tk_store *s;
	uint64_t next = 0;

	path_in(path, sizeof(path), "count.db");
	if (part("ref") && !part("append")) { /* raw SQLite instead */
		struct ref r;

		ref_open(&r, path, part("plain"));
		if (cfg.single_count >= 0) {
			for (long i = 0; i < cfg.single_count; i++)
				ref_insert(&r);
		} else {
			for (long i = 0; i < cfg.batch_count; i++) {
				ref_step(&r, r.begin);
				for (long j = 0; j < cfg.batch; j++)
					ref_insert(&r);
				ref_step(&r, r.commit);
			}
		}
		ref_close(&r);
		remove_db(path);
		return;
	}
	remove_db(path);
	s = store_open(path, true);
	if (cfg.single_count >= 0)
		for (long i = 0; i < cfg.single_count; i++)
			append_one(s, next++, 0);
	else
		for (long i = 0; i < cfg.batch_count; i++)
			append_batch(s, &next, cfg.batch, 0);
	tk_store_close(s);
	remove_db(path);
}

/* ---- building a log with checkpoints -------------------------------------- */

struct built {
	double append_s;     /* appends and commits */
	double checkpoint_s; /* tk_audit_checkpoint calls */
	long checkpoints;
	char vkey[TK_NOTE_VKEY_MAX];
};

/* A fresh log of n events at path, committed txn events at a time, a
 * signed checkpoint every `every` events and at the end. */
static void
build_log(const char *path, uint64_t n, long txn, long every, struct built *b)
{
	char key[1200], mirror[1200];
	tk_note_signer signer;
	tk_store *s;
	tk_error err;
	uint64_t next = 0, spread = n / RECEIPT_EVENTS;
	int64_t signed_size;
	double t;

	memset(b, 0, sizeof(*b));
	remove_db(path);
	s = store_open(path, true);
	if (tk_audit_key_path(path, key, sizeof(key), &err) != 0 ||
	    tk_audit_mirror_path(path, mirror, sizeof(mirror), &err) != 0 ||
	    tk_audit_key_create(s, key, ORIGIN, T0, b->vkey, sizeof(b->vkey),
	    &err) != 0 || tk_audit_key_load(key, &signer, &err) != 0)
		die("audit key", &err);
	while (next < n) {
		uint64_t stop = next + (uint64_t)every;

		if (stop > n)
			stop = n;
		t = now_s();
		while (next < stop) {
			uint64_t k = stop - next;

			append_batch(s, &next, k < (uint64_t)txn ? (long)k : txn,
			    spread);
		}
		b->append_s += now_s() - t;
		t = now_s();
		if (tk_audit_checkpoint(s, &signer, T0 + (tk_time)(next / 1000),
		    mirror, &signed_size, &err) != 0)
			die("tk_audit_checkpoint", &err);
		b->checkpoint_s += now_s() - t;
		if (signed_size != (int64_t)next) {
			fprintf(stderr, "bench_audit: checkpoint signed %" PRId64
			    ", expected %" PRIu64 "\n", signed_size, next);
			exit(1);
		}
		b->checkpoints++;
	}
	tk_note_signer_wipe(&signer);
	tk_store_close(s);
}

static int
vkey_cb(void *arg, const tk_audit_key_row *k)
{
	if (k->retired == 0)
		(void)tk_strlcpy(arg, k->verifier, TK_NOTE_VKEY_MAX);
	return 0;
}

static void
trust_for(const char *path, tk_store *s, tk_audit_trust *t, char *mirror,
    size_t msize)
{
	char vkey[TK_NOTE_VKEY_MAX] = "";
	tk_error err;

	memset(t, 0, sizeof(*t));
	if (tk_store_audit_key_list(s, vkey_cb, vkey, &err) != 0)
		die("audit key list", &err);
	if (tk_audit_trust_add(t, vkey, &err) != 0)
		die("trust", &err);
	if (tk_audit_mirror_path(path, mirror, msize, &err) != 0)
		die("mirror path", &err);
	t->mirror_path = mirror;
}

/* ---- (b) verification ------------------------------------------------------- */

/* Says whether the walk will read the file's pages itself or through
 * SQLite (a write-ahead log holding frames, say), since the figures
 * differ about twofold. */
static void
reader_line(tk_store *s)
{
	char why[256];
	tk_pages *p = tk_pages_open(s, why, sizeof(why));

	if (p != NULL)
		printf("verify.reader pages  (events and tiles read from the "
		    "database file's pages)\n");
	else
		printf("verify.reader sqlite  (through SQLite: %s)\n", why);
	tk_pages_close(p);
}

static double
verify_store_once(tk_store *s, const tk_audit_trust *t, uint64_t n)
{
	tk_audit_report rep;
	tk_error err;
	double t0 = now_s(), el;

	if (tk_audit_verify_store(s, t, &rep, &err) != 0)
		die("tk_audit_verify_store", &err);
	el = now_s() - t0;
	if (!rep.ok || rep.events != (int64_t)n) {
		fprintf(stderr, "bench_audit: verification failed: %s (%s)\n",
		    rep.kind, rep.detail);
		exit(1);
	}
	return el;
}

static double
chain_once(tk_store *s, uint64_t n)
{
	int64_t count, bad;
	tk_error err;
	double t0 = now_s(), el;

	if (tk_chain_verify(s, &count, &bad, &err) != 0)
		die("tk_chain_verify", &err);
	el = now_s() - t0;
	if (count != (int64_t)n) {
		fprintf(stderr, "bench_audit: chain verified %" PRId64 " rows\n",
		    count);
		exit(1);
	}
	return el;
}

static void part_receipt(const char *path, uint64_t n);

/* The hashing verification cannot avoid, with the bodies in memory: leaf
 * hash and compact-range append per event (no store, no checks). */
static void
hash_only(uint64_t n)
{
	tk_merkle_frontier f;
	unsigned char h[32];
	size_t len[NPOOL];
	tk_error err;
	double t0, el;

	for (int i = 0; i < NPOOL; i++)
		len[i] = strlen(bodies[i]);
	tk_merkle_frontier_init(&f);
	t0 = now_s();
	for (uint64_t i = 0; i < n; i++) {
		if (tk_merkle_leaf_hash(bodies[i % NPOOL], len[i % NPOOL], h)
		    != 0 || tk_merkle_frontier_append(&f, h, &err) != 0) {
			fprintf(stderr, "bench_audit: hashing failed\n");
			exit(1);
		}
	}
	el = now_s() - t0;
	if (tk_merkle_frontier_root(&f, h, &err) != 0)
		die("root", &err);
	printf("verify.hashonly %.0f events/s  (leaf hash + compact-range "
	    "append of %" PRIu64 " bodies of %zu B held in memory: the SHA-256 "
	    "work any full verification does, %.3f s)\n", (double)n / el, n,
	    body_bytes / NPOOL, el);
}

static void
part_verify(void)
{
	char path[1200], mirror[1200];
	uint64_t n = (uint64_t)cfg.verify_events;
	tk_audit_trust t;
	struct built b;
	tk_store *s;
	double v[3], el, chain;
	struct stat sb;

	path_in(path, sizeof(path), "verify.db");
	build_log(path, n, 4096, cfg.checkpoint_every, &b);
	if (stat(path, &sb) != 0)
		sb.st_size = 0;
	printf("verify.build %.0f events/s  (%" PRIu64 " events in "
	    "transactions of 4096: %.1f s; database %.0f MB)\n",
	    (double)n / b.append_s, n, b.append_s, (double)sb.st_size / 1e6);
	printf("checkpoint.sign %.1f ms  (per checkpoint of %ld new events, "
	    "rehashing them from the stored bytes; %ld signed, %.2f s in "
	    "all)\n", b.checkpoint_s / (double)b.checkpoints * 1e3,
	    cfg.checkpoint_every, b.checkpoints, b.checkpoint_s);

	hash_only(n);
	s = store_open(path, false);
	trust_for(path, s, &t, mirror, sizeof(mirror));
	reader_line(s);
	for (int i = 0; i < 3; i++)
		v[i] = verify_store_once(s, &t, n);
	el = quantile(v, 3, 0.5);
	printf("verify.tree %.0f events/s  (tk_audit_verify_store = `twokey "
	    "audit verify`: rows, leaves, tree, checkpoints in one pass; %"
	    PRIu64 " events, %ld checkpoints, file in the page cache: %.3f s, "
	    "median of 3)\n", (double)n / el, n, b.checkpoints, el);
	chain = chain_once(s, n);
	printf("verify.rows %.0f events/s  (tk_chain_verify, the row check "
	    "alone: %.3f s)\n", (double)n / chain, chain);
	tk_store_close(s);

	drop_cache(path);
	s = store_open(path, false);
	el = verify_store_once(s, &t, n);
	printf("verify.tree.cold %.0f events/s  (tk_audit_verify_store with "
	    "the file dropped from the page cache first: %.3f s)\n",
	    (double)n / el, el);
	tk_store_close(s);
	part_receipt(path, n);
	if (!cfg.keep)
		remove_db(path);
}

/* ---- (c) proofs and receipts --------------------------------------------- */

struct pair {
	uint64_t a, b; /* inclusion: index, size; consistency: size1, size2 */
};

enum kind { INCLUSION, CONSISTENCY };

static void
prove(tk_store *s, enum kind k, const struct pair *p, unsigned char *proof,
    size_t *n)
{
	tk_error err;
	int rc;

	rc = k == INCLUSION ?
	    tk_store_log_inclusion(s, p->a, p->b, proof, TK_MERKLE_MAX_PROOF,
	    n, &err) :
	    tk_store_log_consistency(s, p->a, p->b, proof, TK_MERKLE_MAX_PROOF,
	    n, &err);
	if (rc != 0)
		die(k == INCLUSION ? "tk_store_log_inclusion" :
		    "tk_store_log_consistency", &err);
}

static double
prove_timed(tk_store *s, enum kind k, const struct pair *p)
{
	unsigned char proof[TK_MERKLE_MAX_PROOF * 32];
	size_t n;
	double t0 = now_s();

	prove(s, k, p, proof, &n);
	return (now_s() - t0) * 1e6;
}

/* Checks one proof against the tree's own roots and leaves. */
static void
check_proof(tk_store *s, enum kind k, const struct pair *p)
{
	unsigned char proof[TK_MERKLE_MAX_PROOF * 32], r1[32], r2[32], leaf[32];
	tk_error err;
	size_t n;
	int rc;

	prove(s, k, p, proof, &n);
	if (tk_store_log_root(s, p->b, r2, &err) != 0)
		die("root", &err);
	if (k == INCLUSION) {
		if (tk_store_log_leaf(s, p->a, leaf, &err) != 0)
			die("leaf", &err);
		rc = tk_merkle_verify_inclusion(p->a, p->b, leaf, proof, n, r2,
		    &err);
	} else {
		if (tk_store_log_root(s, p->a, r1, &err) != 0)
			die("root", &err);
		rc = tk_merkle_verify_consistency(p->a, p->b, r1, r2, proof, n,
		    &err);
	}
	if (rc != 0)
		die("proof does not verify", &err);
}

static void
gen_pairs(struct pair *ps, size_t np, enum kind k, uint64_t size,
    bool latest)
{
	for (size_t i = 0; i < np; i++) {
		if (latest) {
			ps[i].b = size;
			ps[i].a = k == INCLUSION ? rnd_in(0, size - 1) :
			    rnd_in(1, size);
		} else if (k == INCLUSION) {
			ps[i].b = rnd_in(1, size);
			ps[i].a = rnd_in(0, ps[i].b - 1);
		} else {
			uint64_t x = rnd_in(1, size), y = rnd_in(1, size);

			ps[i].a = x < y ? x : y;
			ps[i].b = x < y ? y : x;
		}
	}
}

static void
report(const char *name, double *v, size_t n, const char *note)
{
	double med = quantile(v, n, 0.5), p99 = quantile(v, n, 0.99);

	printf("%s %.1f us  (median of %zu; p99 %.1f us; %s)\n", name, med, n,
	    p99, note);
}

static void
proofs_on(const char *path, uint64_t size)
{
	static const char *const kname[2] = {"inclusion", "consistency"};
	size_t np = (size_t)cfg.pairs, nc = (size_t)cfg.cold;
	struct pair *ps = calloc(np, sizeof(*ps)), hot;
	double *v = calloc(np > 1000 ? np : 1000, sizeof(*v));
	char name[128];
	tk_store *s;
	uint64_t got;
	tk_error err;

	if (ps == NULL || v == NULL) {
		fprintf(stderr, "bench_audit: out of memory\n");
		exit(1);
	}
	if (nc > np)
		nc = np;
	for (int k = INCLUSION; k <= CONSISTENCY; k++) {
		for (int latest = 0; latest <= 1; latest++) {
			gen_pairs(ps, np, (enum kind)k, size, latest);
			s = store_open(path, false);
			if (tk_store_log_size(s, &got, &err) != 0)
				die("log size", &err);
			if (got != size) {
				fprintf(stderr, "bench_audit: log size %" PRIu64
				    " != %" PRIu64 "\n", got, size);
				exit(1);
			}
			for (size_t i = 0; i < np; i++) /* page cache warm */
				(void)prove_timed(s, (enum kind)k, &ps[i]);
			for (size_t i = 0; i < np; i++)
				v[i] = prove_timed(s, (enum kind)k, &ps[i]);
			(void)snprintf(name, sizeof(name), "proof.%s.%s.warm",
			    kname[k], latest ? "latest" : "random");
			report(name, v, np, latest ? "size = the log's size, "
			    "index or size1 random; file in the page cache, "
			    "default tile cache" : "random sizes in [1, N]; file "
			    "in the page cache, default tile cache");
			if (!latest) {
				hot = ps[0];
				for (size_t i = 0; i < 1000; i++)
					v[i] = prove_timed(s, (enum kind)k, &hot);
				(void)snprintf(name, sizeof(name), "proof.%s.hot",
				    kname[k]);
				report(name, v, 1000, "one random pair repeated: "
				    "its tiles in the tree's cache");
			}
			for (size_t i = 0; i < np; i++)
				check_proof(s, (enum kind)k, &ps[i]);
			tk_store_close(s);
			if (latest)
				continue;
			for (size_t i = 0; i < nc; i++) {
				drop_cache(path);
				s = store_open(path, false);
				if (tk_store_log_size(s, &got, &err) != 0)
					die("log size", &err);
				v[i] = prove_timed(s, (enum kind)k, &ps[i]);
				tk_store_close(s);
			}
			(void)snprintf(name, sizeof(name), "proof.%s.cold",
			    kname[k]);
			report(name, v, nc, "store opened afresh, file dropped "
			    "from the page cache, random sizes");
		}
	}
	free(ps);
	free(v);
}

static json_t *
receipt_timed(tk_store *s, double *us)
{
	tk_error err;
	json_t *r;
	double t0 = now_s();

	r = tk_audit_receipt(s, RECEIPT_CASE, &err);
	*us = (now_s() - t0) * 1e6;
	if (r == NULL)
		die("tk_audit_receipt", &err);
	return r;
}

static void
part_receipt(const char *path, uint64_t n)
{
	char mirror[1200], note[200], name[64];
	double v[100];
	tk_audit_trust t;
	tk_audit_report rep;
	tk_error err;
	tk_store *s;
	json_t *r;
	size_t i;
	size_t nw = 50, nc = 20;

	s = store_open(path, false);
	trust_for(path, s, &t, mirror, sizeof(mirror));
	r = receipt_timed(s, &v[0]);
	if (json_array_size(json_object_get(r, "events")) != RECEIPT_EVENTS ||
	    tk_audit_receipt_check(r, &t, &rep, &err) != 0 || !rep.ok) {
		fprintf(stderr, "bench_audit: receipt does not check: %s %s\n",
		    rep.kind, rep.detail);
		exit(1);
	}
	json_decref(r);
	for (i = 0; i < nw; i++)
		json_decref(receipt_timed(s, &v[i]));
	tk_store_close(s);
	(void)snprintf(note, sizeof(note), "%d events spread over a log of %"
	    PRIu64 ", file in the page cache", RECEIPT_EVENTS, n);
	(void)snprintf(name, sizeof(name), "receipt.warm.%" PRIu64, n);
	report(name, v, nw, note);
	for (i = 0; i < nc; i++) {
		drop_cache(path);
		s = store_open(path, false);
		json_decref(receipt_timed(s, &v[i]));
		tk_store_close(s);
	}
	(void)snprintf(name, sizeof(name), "receipt.cold.%" PRIu64, n);
	report(name, v, nc, "store opened afresh, file dropped from the page "
	    "cache");
}

/* Reuses the database at path when it is a complete log of n events with
 * a checkpoint at n; *built says whether it was built now. */
static bool
proof_db_ok(const char *path, uint64_t n)
{
	tk_checkpoint_row cp;
	tk_store *s;
	tk_error err;
	uint64_t size;
	bool ok;

	if (access(path, F_OK) != 0)
		return false;
	s = tk_store_open(path, false, &err);
	if (s == NULL)
		return false;
	memset(&cp, 0, sizeof(cp));
	ok = tk_store_log_size(s, &size, &err) == 0 && size == n &&
	    tk_store_checkpoint_latest(s, &cp, &err) == 0 &&
	    cp.size == (int64_t)n;
	tk_checkpoint_row_clear(&cp);
	tk_store_close(s);
	return ok;
}

static void
part_proofs(void)
{
	char path[1200], tmp[1300], from[1400], to[1400];
	static const char *const sfx[] = {"", ".audit-key", ".checkpoints"};
	uint64_t n = (uint64_t)cfg.proof_events;
	struct built b;
	struct stat sb;

	if (cfg.proof_db != NULL)
		(void)tk_strlcpy(path, cfg.proof_db, sizeof(path));
	else
		path_in(path, sizeof(path), "proof.db");
	if (proof_db_ok(path, n)) {
		printf("# proofs: reusing %s (%" PRIu64 " events)\n", path, n);
	} else {
		/* Built under another name, renamed when complete. */
		remove_db(path);
		(void)snprintf(tmp, sizeof(tmp), "%s.building", path);
		build_log(tmp, n, 65536, n >= 10000000 ? 1000000 :
		    cfg.checkpoint_every, &b);
		for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
			(void)snprintf(from, sizeof(from), "%s%s", tmp, sfx[i]);
			(void)snprintf(to, sizeof(to), "%s%s", path, sfx[i]);
			if (rename(from, to) != 0) {
				fprintf(stderr, "bench_audit: rename %s: %s\n", from,
				    strerror(errno));
				exit(1);
			}
		}
		if (stat(path, &sb) != 0)
			sb.st_size = 0;
		printf("proof.build %.0f events/s  (%" PRIu64 " events through "
		    "tk_store_event_append in transactions of 65536: %.1f s, "
		    "plus %ld checkpoints %.1f s; database %.0f MB)\n",
		    (double)n / b.append_s, n, b.append_s, b.checkpoints,
		    b.checkpoint_s, (double)sb.st_size / 1e6);
	}
	proofs_on(path, n);
	part_receipt(path, n);
	if (cfg.proof_db == NULL && !cfg.keep)
		remove_db(path);
}

/* ---- main ---------------------------------------------------------------- */

static long
parse_long(const char *s, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0) {
		fprintf(stderr, "bench_audit: bad %s \"%s\"\n", what, s);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	bool made = false;

	for (int a = 1; a < argc; a++) {
		const char *o = argv[a], *v = a + 1 < argc ? argv[a + 1] : NULL;

		if (strcmp(o, "--keep") == 0) {
			cfg.keep = true;
			continue;
		}
		if (v == NULL)
			goto usage;
		a++;
		if (strcmp(o, "--parts") == 0)
			(void)tk_strlcpy(cfg.parts, v, sizeof(cfg.parts));
		else if (strcmp(o, "--dir") == 0)
			cfg.dir = v;
		else if (strcmp(o, "--seconds") == 0)
			cfg.seconds = (double)parse_long(v, o);
		else if (strcmp(o, "--batch") == 0)
			cfg.batch = parse_long(v, o);
		else if (strcmp(o, "--verify-events") == 0)
			cfg.verify_events = parse_long(v, o);
		else if (strcmp(o, "--checkpoint-every") == 0)
			cfg.checkpoint_every = parse_long(v, o);
		else if (strcmp(o, "--proof-db") == 0)
			cfg.proof_db = v;
		else if (strcmp(o, "--proof-events") == 0)
			cfg.proof_events = parse_long(v, o);
		else if (strcmp(o, "--pairs") == 0)
			cfg.pairs = parse_long(v, o);
		else if (strcmp(o, "--cold") == 0)
			cfg.cold = parse_long(v, o);
		else if (strcmp(o, "--single-count") == 0)
			cfg.single_count = parse_long(v, o);
		else if (strcmp(o, "--batch-count") == 0)
			cfg.batch_count = parse_long(v, o);
		else if (strcmp(o, "--case-ids") == 0 && (strcmp(v, "seq") == 0 ||
		    strcmp(v, "random") == 0))
			cfg.seq_ids = strcmp(v, "seq") == 0;
		else
			goto usage;
	}
	if (cfg.batch < 1 || cfg.seconds < 1 || cfg.pairs < 1 ||
	    cfg.verify_events < RECEIPT_EVENTS * 8 ||
	    cfg.proof_events < RECEIPT_EVENTS * 8 || cfg.checkpoint_every < 1)
		goto usage;
	if (cfg.dir != NULL) {
		(void)tk_strlcpy(workdir, cfg.dir, sizeof(workdir));
	} else {
		const char *t = getenv("TMPDIR");

		(void)snprintf(workdir, sizeof(workdir), "%s/twokey-bench-audit."
		    "XXXXXX", t != NULL && t[0] != '\0' ? t : "/tmp");
		if (mkdtemp(workdir) == NULL) {
			perror("bench_audit: mkdtemp");
			return 1;
		}
		made = true;
	}
	pool_init();
	bodies_init();
	if (cfg.single_count >= 0 || cfg.batch_count >= 0) {
		count_mode();
	} else {
		printf("# bench_audit: SQLite %s, work dir %s\n",
		    sqlite3_libversion(), workdir);
		if (part("append"))
			part_append();
		if (part("ref"))
			part_ref();
		if (part("single"))
			part_single();
		if (part("verify"))
			part_verify();
		if (part("proofs"))
			part_proofs();
	}
	for (int i = 0; i < NPOOL; i++) {
		json_decref(pool[i]);
		free(bodies[i]);
	}
	if (made && !cfg.keep && rmdir(workdir) != 0)
		fprintf(stderr, "bench_audit: %s left behind: %s\n", workdir,
		    strerror(errno));
	return 0;
usage:
	fprintf(stderr, "usage: bench_audit [--parts append,ref,single,verify,"
	    "proofs] [--dir DIR] [--keep] [--seconds S] [--batch B]\n"
	    "         [--verify-events N] [--checkpoint-every K] [--proof-db "
	    "PATH]\n         [--proof-events N] [--pairs P] [--cold C] "
	    "[--single-count N | --batch-count N]\n         [--case-ids "
	    "random|seq]\n");
	return 2;
}
