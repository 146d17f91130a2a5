/*
 * bench_merkle.c - measures the audit log's Merkle tree (audit/tlog.c over
 * audit/merkle.c): leaf-hash appends per second, then inclusion and
 * consistency proofs on a 10,000,000-leaf log, with the tile cache warm
 * and cold.
 *
 * The tiles live in an in-memory store (one 8 KiB buffer per tile, a get
 * is a memcpy), so "cold" counts tile reads and the hashing of the tiles'
 * interior nodes but not a database's read cost. Steps:
 *   build   append N leaf hashes (SHA-256 of the 8-byte index, computed
 *           outside the timed loop), flush and commit every --batch
 *           leaves; appends/s is timed over the appends alone and also
 *           over appends + flush + commit
 *   warm    --pairs random (index, size) and (size1, size2) pairs, all
 *           sizes uniform in [1, N]: one pass to fill the cache
 *           (--cache tiles), then --runs timed passes; the median pass
 *           gives microseconds per proof
 *   cold    the same pairs, the cache emptied before each proof (not
 *           timed); each proof timed alone; median and 99th percentile
 *   latest  the same again with every proof against the current size
 *           (what a server mostly answers: its right edge is in memory)
 * Tile reads per proof are counted for warm and cold. Every proof is
 * checked with the verifier outside the timed regions (that time is
 * printed too: the client's side).
 *
 * Usage: bench_merkle [--leaves N] [--pairs P] [--runs R] [--cache C]
 *                     [--batch B] [--json]
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/merkle.h"
#include "audit/tlog.h"

#define TILE_BYTES (TK_TLOG_TILE_WIDTH * 32)

/* ---- in-memory tile store ---------------------------------------------- */

struct mtile {
	size_t width;
	unsigned char h[TILE_BYTES];
};

struct store {
	struct mtile **t[TK_TLOG_LEVELS];
	size_t cap[TK_TLOG_LEVELS];
	long gets, puts;
};

static int
st_get(void *arg, int level, uint64_t index, unsigned char *hashes,
    size_t *width, tk_error *err)
{
	struct store *s = arg;
	struct mtile *x;

	(void)err;
	s->gets++;
	if (level < 0 || level >= TK_TLOG_LEVELS || index >= s->cap[level] ||
	    (x = s->t[level][index]) == NULL)
		return 1;
	memcpy(hashes, x->h, 32 * x->width);
	*width = x->width;
	return 0;
}

static int
st_put(void *arg, int level, uint64_t index, const unsigned char *hashes,
    size_t width, tk_error *err)
{
	struct store *s = arg;
	struct mtile **nt, *x;
	size_t ncap;

	s->puts++;
	if (level < 0 || level >= TK_TLOG_LEVELS || width == 0 ||
	    width > TK_TLOG_TILE_WIDTH)
		return tk_fail(err, TK_ERR_INTERNAL, "bad tile"), -1;
	if (index >= s->cap[level]) {
		ncap = s->cap[level] ? s->cap[level] : 1024;
		while (ncap <= index)
			ncap *= 2;
		nt = realloc(s->t[level], ncap * sizeof(*nt));
		if (nt == NULL)
			return tk_fail(err, TK_ERR_INTERNAL, "out of memory"), -1;
		memset(nt + s->cap[level], 0,
		    (ncap - s->cap[level]) * sizeof(*nt));
		s->t[level] = nt;
		s->cap[level] = ncap;
	}
	x = s->t[level][index];
	if (x == NULL) {
		x = malloc(sizeof(*x));
		if (x == NULL)
			return tk_fail(err, TK_ERR_INTERNAL, "out of memory"), -1;
		s->t[level][index] = x;
	}
	memcpy(x->h, hashes, 32 * width);
	x->width = width;
	return 0;
}

static void
st_free(struct store *s)
{
	size_t i;
	int l;

	for (l = 0; l < TK_TLOG_LEVELS; l++) {
		for (i = 0; i < s->cap[l]; i++)
			free(s->t[l][i]);
		free(s->t[l]);
	}
}

/* ---- helpers ------------------------------------------------------------ */

static double
now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
		perror("clock_gettime");
		exit(1);
	}
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static uint64_t rng = 0x853c49e6748fea9bULL;

/* splitmix64: a fixed sequence, so runs pick the same pairs. */
static uint64_t
rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void
leaf_of(uint64_t i, unsigned char out[32])
{
	unsigned char b[8];
	int k;

	for (k = 0; k < 8; k++)
		b[k] = (unsigned char)(i >> (8 * k));
	if (tk_merkle_leaf_hash(b, sizeof(b), out) != 0) {
		fprintf(stderr, "bench_merkle: leaf hash failed\n");
		exit(1);
	}
}

static long
parse_long(const char *s, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v <= 0) {
		fprintf(stderr, "bench_merkle: bad %s \"%s\"\n", what, s);
		exit(2);
	}
	return v;
}

static void
die(const char *what, const tk_error *err)
{
	fprintf(stderr, "bench_merkle: %s: %s\n", what, err->msg);
	exit(1);
}

/* ---- proofs ---------------------------------------------------------------- */

struct pair {
	uint64_t a, b; /* inclusion: index, size; consistency: size1, size2 */
};

enum kind { INCLUSION, CONSISTENCY };

static void
prove(tk_tlog *t, enum kind k, const struct pair *p, unsigned char *proof,
    size_t *n)
{
	tk_error err;
	int rc;

	rc = k == INCLUSION ?
	    tk_tlog_prove_inclusion(t, p->a, p->b, proof, TK_MERKLE_MAX_PROOF,
	    n, &err) :
	    tk_tlog_prove_consistency(t, p->a, p->b, proof, TK_MERKLE_MAX_PROOF,
	    n, &err);
	if (rc != 0)
		die(k == INCLUSION ? "inclusion proof" : "consistency proof",
		    &err);
}

/* Checks every pair's proof with the verifier; returns the mean time
 * of one verification in ns. */
static double
verify_all(tk_tlog *t, enum kind k, const struct pair *ps, size_t np)
{
	unsigned char proof[TK_MERKLE_MAX_PROOF * 32], r1[32], r2[32], leaf[32];
	tk_error err;
	double t0, total = 0;
	size_t i, n;
	int rc;

	for (i = 0; i < np; i++) {
		prove(t, k, &ps[i], proof, &n);
		if (tk_tlog_root(t, ps[i].b, r2, &err) != 0 ||
		    (k == CONSISTENCY &&
		    tk_tlog_root(t, ps[i].a, r1, &err) != 0))
			die("root", &err);
		leaf_of(ps[i].a, leaf);
		t0 = now_ns();
		rc = k == INCLUSION ?
		    tk_merkle_verify_inclusion(ps[i].a, ps[i].b, leaf, proof, n,
		    r2, &err) :
		    tk_merkle_verify_consistency(ps[i].a, ps[i].b, r1, r2, proof,
		    n, &err);
		total += now_ns() - t0;
		if (rc != 0)
			die("a proof did not verify", &err);
	}
	return total / (double)np;
}

/* Median over runs of the mean time per proof with a warm cache; *reads
 * gets the tile reads per proof during the timed runs (0 when the pairs'
 * tiles fit in the cache). */
static double
warm(tk_tlog *t, struct store *s, enum kind k, const struct pair *ps,
    size_t np, int runs, double *samples, double *reads)
{
	unsigned char proof[TK_MERKLE_MAX_PROOF * 32];
	size_t i, n;
	long g0;
	double t0;
	int r;

	for (i = 0; i < np; i++) /* fill the cache */
		prove(t, k, &ps[i], proof, &n);
	g0 = s->gets;
	for (r = 0; r < runs; r++) {
		t0 = now_ns();
		for (i = 0; i < np; i++)
			prove(t, k, &ps[i], proof, &n);
		samples[r] = (now_ns() - t0) / (double)np;
	}
	*reads = (double)(s->gets - g0) / ((double)np * runs);
	qsort(samples, (size_t)runs, sizeof(double), cmp_double);
	return samples[runs / 2];
}

/* Each proof alone after emptying the cache: median, p99 and mean tile
 * reads per proof. */
static void
cold(tk_tlog *t, struct store *s, enum kind k, const struct pair *ps,
    size_t np, double *samples, double *med, double *p99, double *reads)
{
	unsigned char proof[TK_MERKLE_MAX_PROOF * 32];
	size_t i, n;
	long g0 = s->gets;
	double t0;

	for (i = 0; i < np; i++) {
		tk_tlog_drop_cache(t);
		t0 = now_ns();
		prove(t, k, &ps[i], proof, &n);
		samples[i] = now_ns() - t0;
	}
	*reads = (double)(s->gets - g0) / (double)np;
	qsort(samples, np, sizeof(double), cmp_double);
	*med = samples[np / 2];
	*p99 = samples[np * 99 / 100];
}

/* One row of results: a kind of proof over one set of pairs. */
struct result {
	const char *name;
	double warm_us, warm_reads, cold_us, cold_p99_us, cold_reads,
	    verify_us;
};

static void
measure(tk_tlog *t, struct store *s, enum kind k, const struct pair *ps,
    size_t np, int runs, double *samples, struct result *res)
{
	double w, wr, cm, cp, cr;

	res->verify_us = verify_all(t, k, ps, np) / 1e3;
	w = warm(t, s, k, ps, np, runs, samples, &wr);
	cold(t, s, k, ps, np, samples, &cm, &cp, &cr);
	res->warm_us = w / 1e3;
	res->warm_reads = wr;
	res->cold_us = cm / 1e3;
	res->cold_p99_us = cp / 1e3;
	res->cold_reads = cr;
}

int
main(int argc, char **argv)
{
	long leaves = 10000000, npairs = 2000, cache = 8192, batch = 4096;
	int runs = 5;
	bool json = false;
	struct store s;
	tk_tile_io io = {&s, st_get, st_put};
	tk_tlog *t;
	tk_error err;
	unsigned char *buf, root[32];
	struct pair *inc, *con, *inc_now, *con_now;
	struct result res[4];
	static const char *const keys[4] = {"inclusion_random",
	    "consistency_random", "inclusion_latest", "consistency_latest"};
	double *samples, t0, t_append = 0, t_total = 0;
	uint64_t i, n, done;
	size_t k;

	for (int a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--leaves") == 0 && a + 1 < argc)
			leaves = parse_long(argv[++a], "--leaves");
		else if (strcmp(argv[a], "--pairs") == 0 && a + 1 < argc)
			npairs = parse_long(argv[++a], "--pairs");
		else if (strcmp(argv[a], "--runs") == 0 && a + 1 < argc)
			runs = (int)parse_long(argv[++a], "--runs");
		else if (strcmp(argv[a], "--cache") == 0 && a + 1 < argc)
			cache = parse_long(argv[++a], "--cache");
		else if (strcmp(argv[a], "--batch") == 0 && a + 1 < argc)
			batch = parse_long(argv[++a], "--batch");
		else if (strcmp(argv[a], "--json") == 0)
			json = true;
		else {
			fprintf(stderr, "usage: bench_merkle [--leaves N] "
			    "[--pairs P] [--runs R] [--cache C] [--batch B] "
			    "[--json]\n");
			return 2;
		}
	}
	if (runs > 64)
		runs = 64;
	memset(&s, 0, sizeof(s));
	buf = malloc(32 * (size_t)batch);
	inc = malloc(sizeof(*inc) * (size_t)npairs);
	con = malloc(sizeof(*con) * (size_t)npairs);
	inc_now = malloc(sizeof(*inc_now) * (size_t)npairs);
	con_now = malloc(sizeof(*con_now) * (size_t)npairs);
	samples = malloc(sizeof(double) * (size_t)(npairs > 64 ? npairs : 64));
	if (buf == NULL || inc == NULL || con == NULL || inc_now == NULL ||
	    con_now == NULL || samples == NULL) {
		fprintf(stderr, "bench_merkle: out of memory\n");
		return 1;
	}
	t = tk_tlog_open(&io, 0, (size_t)cache, &err);
	if (t == NULL)
		die("open", &err);

	/* build: appends timed alone and with flush + commit */
	for (done = 0; done < (uint64_t)leaves; done += n) {
		n = (uint64_t)leaves - done;
		if (n > (uint64_t)batch)
			n = (uint64_t)batch;
		for (i = 0; i < n; i++)
			leaf_of(done + i, buf + 32 * i);
		t0 = now_ns();
		for (i = 0; i < n; i++)
			if (tk_tlog_append(t, buf + 32 * i, NULL, &err) != 0)
				die("append", &err);
		t_append += now_ns() - t0;
		t0 = now_ns();
		if (tk_tlog_flush(t, &err) != 0 ||
		    tk_tlog_committed(t, &err) != 0)
			die("flush", &err);
		t_total += now_ns() - t0;
	}
	t_total += t_append;
	if (tk_tlog_root(t, (uint64_t)leaves, root, &err) != 0)
		die("root", &err);

	/* Random sizes: sizes uniform in [1, N]. Latest: against the
	 * current size, what a server mostly answers. */
	for (k = 0; k < (size_t)npairs; k++) {
		inc[k].b = 1 + rnd() % (uint64_t)leaves;
		inc[k].a = rnd() % inc[k].b;
		con[k].b = 1 + rnd() % (uint64_t)leaves;
		con[k].a = 1 + rnd() % con[k].b;
		inc_now[k].b = con_now[k].b = (uint64_t)leaves;
		inc_now[k].a = rnd() % (uint64_t)leaves;
		con_now[k].a = 1 + rnd() % (uint64_t)leaves;
	}
	res[0].name = "inclusion, random sizes";
	measure(t, &s, INCLUSION, inc, (size_t)npairs, runs, samples, &res[0]);
	res[1].name = "consistency, random sizes";
	measure(t, &s, CONSISTENCY, con, (size_t)npairs, runs, samples,
	    &res[1]);
	res[2].name = "inclusion, latest size";
	measure(t, &s, INCLUSION, inc_now, (size_t)npairs, runs, samples,
	    &res[2]);
	res[3].name = "consistency to latest size";
	measure(t, &s, CONSISTENCY, con_now, (size_t)npairs, runs, samples,
	    &res[3]);

	if (json) {
		printf("{\"leaves\": %ld, \"append_per_s\": %.0f, "
		    "\"append_commit_per_s\": %.0f, \"pairs\": %ld, "
		    "\"cache_tiles\": %ld", leaves,
		    (double)leaves / (t_append / 1e9),
		    (double)leaves / (t_total / 1e9), npairs, cache);
		for (k = 0; k < 4; k++)
			printf(", \"%s\": {\"warm_us\": %.2f, "
			    "\"warm_reads\": %.2f, \"cold_us\": %.2f, "
			    "\"cold_p99_us\": %.2f, \"cold_reads\": %.2f, "
			    "\"verify_us\": %.2f}", keys[k], res[k].warm_us,
			    res[k].warm_reads, res[k].cold_us,
			    res[k].cold_p99_us, res[k].cold_reads,
			    res[k].verify_us);
		printf("}\n");
	} else {
		printf("Merkle log of %ld leaves (tiles in memory, flush and"
		    " commit every %ld):\n", leaves, batch);
		printf("  append (leaf hash given)   %10.0f leaves/s\n",
		    (double)leaves / (t_append / 1e9));
		printf("  append + flush + commit    %10.0f leaves/s (leaf"
		    " hashing excluded)\n", (double)leaves / (t_total / 1e9));
		printf("proofs, %ld random pairs per row; warm: median of %d"
		    " passes, cache %ld tiles; cold: cache emptied before each"
		    " proof:\n", npairs, runs, cache);
		printf("  %-28s %9s %7s %9s %9s %7s %9s\n", "", "warm us",
		    "reads", "cold us", "cold p99", "reads", "verify us");
		for (k = 0; k < 4; k++)
			printf("  %-28s %9.2f %7.2f %9.2f %9.2f %7.2f %9.2f\n",
			    res[k].name, res[k].warm_us, res[k].warm_reads,
			    res[k].cold_us, res[k].cold_p99_us,
			    res[k].cold_reads, res[k].verify_us);
	}
	tk_tlog_free(t);
	st_free(&s);
	free(buf);
	free(inc);
	free(con);
	free(inc_now);
	free(con_now);
	free(samples);
	return 0;
}
