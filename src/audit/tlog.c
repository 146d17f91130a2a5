/*
 * tlog.c - the audit log's Merkle tree as C2SP tlog-tiles: appends in
 * memory, flush/commit/rollback around the caller's transaction, and
 * roots and proofs for any size up to the current one, read from tiles.
 *
 * Owns, per tile level L (0..7): the right-edge tile (partial, or empty
 * at a 256 boundary), kept in memory with its interior nodes; the full
 * tiles appended since the last commit ("pending"), kept in memory until
 * the commit; and an LRU cache of full committed tiles. Full tiles never
 * change, so a cached one stays valid for the life of the tk_tlog; a
 * tile read back is checked for the width the tree implies. Storage is
 * the caller's, through tk_tile_io.
 *
 * Every tile carries rows 0..8: row 0 the stored hashes (tree level 8L),
 * row r the nodes of tree level 8L + r computed from them, row 8 the
 * tile's root (a row-0 hash of the tile above). A node of tree level
 * 8L + r (r < 8) is answered from the level-L tile that holds its 2^r
 * row-0 hashes, so a proof touches about one tile per tile level.
 * Interior nodes are computed when first asked for and kept: appends
 * compute the ones they complete; a tile read for a proof computes only
 * the subtrees the proof needs (a right edge of an older size is often
 * half a tile), then serves them from the cache.
 *
 * Failure: an allocation failure in tk_tlog_append changes nothing.
 * Anything that can leave memory and storage disagreeing (a failed put,
 * a hash failure half-way through an append, a failed reload) marks the
 * tk_tlog broken; it then refuses everything until a rollback succeeds.
 */
#include "audit/tlog.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define WIDTH TK_TLOG_TILE_WIDTH
#define ROWS 9         /* rows 0..8 of a tile */
#define TILE_NODES 511 /* 256 + 128 + ... + 1 */
#define CACHE_MAX ((size_t)1 << 20) /* refuse absurd cache sizes */

struct tile {
	int level;                  /* tile level L: row 0 is tree level 8L */
	uint64_t index;             /* tile index at that level */
	size_t width;               /* row-0 hashes present, 0..256 */
	bool dirty;                 /* changed since the last flush */
	struct tile *hnext;         /* cache: next in the hash bucket */
	struct tile *newer, *older; /* cache: recency list */
	/* Bit k - 256 set: interior node k (rows 1..8) has been computed. */
	uint64_t have[4];
	/* Node j of row r at h[row_off(r) + j]. It exists when its 2^r
	 * row-0 hashes are present (j < width >> r); rows >= 1 are valid
	 * once computed (see have). */
	unsigned char h[TILE_NODES][32];
};

/* Full tiles of one level appended since the last commit: indexes
 * first .. first + n - 1, in order. */
struct pending {
	struct tile **t;
	size_t n, cap;
	uint64_t first; /* the edge tile's index at the last commit */
};

/* LRU of full committed tiles: a hash table plus a recency list. */
struct cache {
	struct tile **bucket;
	size_t nbucket;              /* power of two, >= 2 * cap */
	size_t n, cap;
	struct tile *newest, *oldest;
};

struct tk_tlog {
	tk_tile_io io;
	uint64_t size;      /* leaves, committed or not */
	uint64_t committed; /* leaves at the last commit */
	uint64_t flushed;   /* size at the last successful flush */
	bool broken;        /* refuse all but rollback and free */
	struct tile *edge[TK_TLOG_LEVELS];
	struct pending pend[TK_TLOG_LEVELS];
	struct cache cache;
};

#ifdef TK_TEST_HOOKS
long tk_tlog_test_alloc_fail;

/* Counts down tk_tlog_test_alloc_fail; true on the allocation to fail. */
static bool
alloc_fails(void)
{
	return tk_tlog_test_alloc_fail > 0 && --tk_tlog_test_alloc_fail == 0;
}
#else
static bool
alloc_fails(void)
{
	return false;
}
#endif

static size_t
row_off(int r)
{
	return (size_t)(512 - (512 >> r));
}

static int
hash2(const unsigned char *l, const unsigned char *r, unsigned char *out,
    tk_error *err)
{
	if (tk_merkle_node_hash(l, r, out) != 0) {
		tk_fail(err, TK_ERR_INTERNAL, "tlog: SHA-256 failed in OpenSSL");
		return -1;
	}
	return 0;
}

/* ---- tiles ---------------------------------------------------------- */

static void
tile_reset(struct tile *x, int level, uint64_t index)
{
	x->level = level;
	x->index = index;
	x->width = 0;
	x->dirty = false;
	x->hnext = x->newer = x->older = NULL;
	memset(x->have, 0, sizeof(x->have));
}

static struct tile *
tile_new(int level, uint64_t index, tk_error *err)
{
	struct tile *x = alloc_fails() ? NULL : malloc(sizeof(*x));

	if (x == NULL) {
		tk_fail(err, TK_ERR_INTERNAL, "tlog: out of memory for a tile");
		return NULL;
	}
	tile_reset(x, level, index);
	return x;
}

/* Node j of row r, computed from row 0 (and kept) if need be; the
 * caller has checked that it exists ((j + 1) << r <= width). Returns
 * NULL only if hashing fails. */
static const unsigned char *
tile_node(struct tile *x, int r, size_t j, tk_error *err)
{
	size_t k, b;
	const unsigned char *left, *right;

	if (r == 0)
		return x->h[j];
	k = row_off(r) + j;
	b = k - WIDTH;
	if ((x->have[b / 64] >> (b % 64)) & 1)
		return x->h[k];
	if ((left = tile_node(x, r - 1, 2 * j, err)) == NULL ||
	    (right = tile_node(x, r - 1, 2 * j + 1, err)) == NULL ||
	    hash2(left, right, x->h[k], err) != 0)
		return NULL;
	x->have[b / 64] |= (uint64_t)1 << (b % 64);
	return x->h[k];
}

/* Adds one row-0 hash and computes the interior nodes it completes (row
 * 8, the tile's root, when the tile fills). */
static int
tile_push(struct tile *x, const unsigned char hash[32], tk_error *err)
{
	size_t pos = x->width;
	int r;

	memcpy(x->h[pos], hash, 32);
	x->width = pos + 1;
	x->dirty = true;
	for (r = 1; r < ROWS && ((pos + 1) & (((size_t)1 << r) - 1)) == 0;
	    r++)
		if (tile_node(x, r, ((pos + 1) >> r) - 1, err) == NULL)
			return -1;
	return 0;
}

/* ---- the caller's storage -------------------------------------------- */

/* io->get into x's row 0; *width = hashes read. */
static int
io_get(tk_tlog *t, int level, uint64_t index, struct tile *x, size_t *width,
    tk_error *err)
{
	tk_error e;
	size_t w = 0;
	int rc;

	memset(&e, 0, sizeof(e));
	rc = t->io.get(t->io.arg, level, index, &x->h[0][0], &w, &e);
	if (rc == 1) {
		tk_fail(err, TK_ERR_INTERNAL, "tlog: tile %d/%" PRIu64 " is"
		    " missing from the tile store", level, index);
		return -1;
	}
	if (rc != 0) {
		tk_fail(err, e.status != TK_OK ? e.status : TK_ERR_INTERNAL,
		    "tlog: reading tile %d/%" PRIu64 ": %s", level, index,
		    e.msg[0] != '\0' ? e.msg : "the tile store failed");
		return -1;
	}
	if (w > WIDTH) {
		tk_fail(err, TK_ERR_INTERNAL, "tlog: the tile store returned %zu"
		    " hashes for tile %d/%" PRIu64 " (at most 256)", w, level,
		    index);
		return -1;
	}
	*width = w;
	return 0;
}

static int
io_put(tk_tlog *t, const struct tile *x, tk_error *err)
{
	tk_error e;
	int rc;

	memset(&e, 0, sizeof(e));
	rc = t->io.put(t->io.arg, x->level, x->index, &x->h[0][0], x->width,
	    &e);
	if (rc != 0) {
		tk_fail(err, e.status != TK_OK ? e.status : TK_ERR_INTERNAL,
		    "tlog: writing tile %d/%" PRIu64 ": %s", x->level, x->index,
		    e.msg[0] != '\0' ? e.msg : "the tile store failed");
		return -1;
	}
	return 0;
}

/* ---- cache of full tiles ----------------------------------------------- */

static size_t
bucket_of(const struct cache *c, int level, uint64_t index)
{
	uint64_t k = (index ^ ((uint64_t)level << 59)) *
	    UINT64_C(0x9e3779b97f4a7c15);

	return (size_t)(k >> 32) & (c->nbucket - 1);
}

static int
cache_init(struct cache *c, size_t cap, tk_error *err)
{
	size_t nb = 16;

	while (nb < 2 * cap)
		nb *= 2;
	c->bucket = alloc_fails() ? NULL : calloc(nb, sizeof(*c->bucket));
	if (c->bucket == NULL) {
		tk_fail(err, TK_ERR_INTERNAL, "tlog: out of memory for the tile"
		    " cache");
		return -1;
	}
	c->nbucket = nb;
	c->cap = cap;
	c->n = 0;
	c->newest = c->oldest = NULL;
	return 0;
}

static void
list_unlink(struct cache *c, struct tile *x)
{
	if (x->newer != NULL)
		x->newer->older = x->older;
	else
		c->newest = x->older;
	if (x->older != NULL)
		x->older->newer = x->newer;
	else
		c->oldest = x->newer;
	x->newer = x->older = NULL;
}

static void
list_push_newest(struct cache *c, struct tile *x)
{
	x->newer = NULL;
	x->older = c->newest;
	if (c->newest != NULL)
		c->newest->newer = x;
	c->newest = x;
	if (c->oldest == NULL)
		c->oldest = x;
}

static struct tile *
cache_find(struct cache *c, int level, uint64_t index)
{
	struct tile *x = c->bucket[bucket_of(c, level, index)];

	for (; x != NULL; x = x->hnext) {
		if (x->level == level && x->index == index) {
			if (c->newest != x) {
				list_unlink(c, x);
				list_push_newest(c, x);
			}
			return x;
		}
	}
	return NULL;
}

/* Evicts the least recently used leaf-level tile, or the oldest tile
 * when none is near the old end: a random proof needs one of ~n/256
 * leaf tiles but one of only ~n/65536 tiles above, so keeping the upper
 * levels makes most cold proofs a single read. */
static void
cache_evict_oldest(struct cache *c)
{
	struct tile *x = c->oldest, *y, **pp;
	int steps = 0;

	if (x == NULL)
		return;
	for (y = c->oldest; y != NULL && steps < 512; y = y->newer, steps++)
		if (y->level == 0) {
			x = y;
			break;
		}
	for (pp = &c->bucket[bucket_of(c, x->level, x->index)]; *pp != x;
	    pp = &(*pp)->hnext)
		;
	*pp = x->hnext;
	list_unlink(c, x);
	c->n--;
	free(x);
}

/* Takes ownership of x, a full tile not already cached. */
static void
cache_insert(struct cache *c, struct tile *x)
{
	size_t b = bucket_of(c, x->level, x->index);

	while (c->n >= c->cap && c->n > 0)
		cache_evict_oldest(c);
	x->hnext = c->bucket[b];
	c->bucket[b] = x;
	list_push_newest(c, x);
	c->n++;
}

static void
cache_clear(struct cache *c)
{
	while (c->n > 0)
		cache_evict_oldest(c);
}

/* ---- finding a tile ------------------------------------------------------ */

/* Reads full committed tile (level, index) into the cache. */
static struct tile *
load_full(tk_tlog *t, int level, uint64_t index, tk_error *err)
{
	struct tile *x = tile_new(level, index, err);
	size_t w;

	if (x == NULL)
		return NULL;
	if (io_get(t, level, index, x, &w, err) != 0)
		goto fail;
	if (w != WIDTH) {
		tk_fail(err, TK_ERR_INTERNAL, "tlog: tile %d/%" PRIu64 " holds"
		    " %zu hashes but is below the right edge, so must hold 256",
		    level, index, w);
		goto fail;
	}
	x->width = w;
	cache_insert(&t->cache, x);
	return x;
fail:
	free(x);
	return NULL;
}

static struct tile *
find_tile(tk_tlog *t, int level, uint64_t index, tk_error *err)
{
	struct pending *p = &t->pend[level];
	struct tile *x;

	if (t->edge[level]->index == index)
		return t->edge[level];
	if (index >= p->first) {
		if (index - p->first < p->n)
			return p->t[index - p->first];
		tk_fail(err, TK_ERR_INTERNAL, "tlog: tile %d/%" PRIu64 " is"
		    " beyond the right edge", level, index);
		return NULL;
	}
	x = cache_find(&t->cache, level, index);
	if (x != NULL)
		return x;
	return load_full(t, level, index, err);
}

/* ---- open, edges, rollback ------------------------------------------------ */

/* Points every level's edge tile at the right edge of a tree of size
 * leaves and reads the partial ones. */
static int
load_edges(tk_tlog *t, uint64_t size, tk_error *err)
{
	struct tile *e;
	uint64_t n;
	size_t w, got;
	int l;

	for (l = 0; l < TK_TLOG_LEVELS; l++) {
		n = size >> (TK_TLOG_TILE_HEIGHT * l); /* nodes at tree level 8l */
		e = t->edge[l];
		tile_reset(e, l, n / WIDTH);
		w = (size_t)(n % WIDTH);
		if (w == 0)
			continue;
		if (io_get(t, l, e->index, e, &got, err) != 0)
			return -1;
		if (got != w) {
			tk_fail(err, TK_ERR_INTERNAL, "tlog: tile %d/%" PRIu64
			    " holds %zu hashes; a log of %" PRIu64 " leaves needs"
			    " %zu: the tile store does not match the log size",
			    l, e->index, got, size, w);
			return -1;
		}
		e->width = w;
	}
	for (l = 0; l < TK_TLOG_LEVELS; l++)
		t->pend[l].first = t->edge[l]->index;
	return 0;
}

static void
drop_pending(tk_tlog *t)
{
	size_t i;
	int l;

	for (l = 0; l < TK_TLOG_LEVELS; l++) {
		for (i = 0; i < t->pend[l].n; i++)
			free(t->pend[l].t[i]);
		t->pend[l].n = 0;
	}
}

tk_tlog *
tk_tlog_open(const tk_tile_io *io, uint64_t size, size_t cache_tiles,
    tk_error *err)
{
	tk_tlog *t;
	int l;

	if (io == NULL || io->get == NULL || io->put == NULL) {
		tk_fail(err, TK_ERR_INVALID, "tlog: no tile storage given");
		return NULL;
	}
	if (size > TK_TLOG_MAX_SIZE) {
		tk_fail(err, TK_ERR_INVALID, "tlog: size %" PRIu64 " is above"
		    " the limit 2^63", size);
		return NULL;
	}
	if (cache_tiles == 0)
		cache_tiles = TK_TLOG_CACHE_DEFAULT;
	if (cache_tiles > CACHE_MAX) {
		tk_fail(err, TK_ERR_INVALID, "tlog: a cache of %zu tiles is"
		    " above the limit %zu", cache_tiles, CACHE_MAX);
		return NULL;
	}
	t = alloc_fails() ? NULL : calloc(1, sizeof(*t));
	if (t == NULL) {
		tk_fail(err, TK_ERR_INTERNAL, "tlog: out of memory");
		return NULL;
	}
	t->io = *io;
	if (cache_init(&t->cache, cache_tiles, err) != 0)
		goto fail;
	for (l = 0; l < TK_TLOG_LEVELS; l++)
		if ((t->edge[l] = tile_new(l, 0, err)) == NULL)
			goto fail;
	if (load_edges(t, size, err) != 0)
		goto fail;
	t->size = t->committed = t->flushed = size;
	return t;
fail:
	tk_tlog_free(t);
	return NULL;
}

void
tk_tlog_free(tk_tlog *t)
{
	int l;

	if (t == NULL)
		return;
	drop_pending(t);
	for (l = 0; l < TK_TLOG_LEVELS; l++) {
		free(t->pend[l].t);
		free(t->edge[l]);
	}
	if (t->cache.bucket != NULL)
		cache_clear(&t->cache);
	free(t->cache.bucket);
	free(t);
}

uint64_t
tk_tlog_size(const tk_tlog *t)
{
	return t->size;
}

uint64_t
tk_tlog_committed_size(const tk_tlog *t)
{
	return t->committed;
}

static int
refuse_broken(const tk_tlog *t, tk_error *err)
{
	if (!t->broken)
		return 0;
	tk_fail(err, TK_ERR_INTERNAL, "tlog: an earlier failure left the tree"
	    " out of step with storage; roll back first");
	return -1;
}

int
tk_tlog_rollback(tk_tlog *t, tk_error *err)
{
	drop_pending(t);
	t->broken = true;
	if (load_edges(t, t->committed, err) != 0)
		return -1;
	t->size = t->flushed = t->committed;
	t->broken = false;
	return 0;
}

/* ---- append, flush, commit ------------------------------------------------ */

static int
pending_reserve(struct pending *p, tk_error *err)
{
	struct tile **nt;
	size_t ncap;

	if (p->n < p->cap)
		return 0;
	ncap = p->cap == 0 ? 16 : 2 * p->cap;
	nt = alloc_fails() ? NULL : realloc(p->t, ncap * sizeof(*nt));
	if (nt == NULL) {
		tk_fail(err, TK_ERR_INTERNAL, "tlog: out of memory");
		return -1;
	}
	p->t = nt;
	p->cap = ncap;
	return 0;
}

int
tk_tlog_append(tk_tlog *t, const unsigned char leaf[32], uint64_t *index,
    tk_error *err)
{
	struct tile *fresh[TK_TLOG_LEVELS] = {NULL};
	unsigned char h[32];
	int k, l, rc = -1;

	if (refuse_broken(t, err) != 0)
		return -1;
	if (t->size >= TK_TLOG_MAX_SIZE) {
		tk_fail(err, TK_ERR_TOO_LARGE, "tlog: the log is full (2^63"
		    " leaves)");
		return -1;
	}
	/* Levels 0..k-1 fill up with this leaf; level k takes one hash
	 * without filling. Allocate everything first. */
	for (k = 0; k < TK_TLOG_LEVELS && t->edge[k]->width == WIDTH - 1; k++)
		;
	if (k == TK_TLOG_LEVELS) {
		tk_fail(err, TK_ERR_INTERNAL, "tlog: every tile level is full");
		return -1;
	}
	for (l = 0; l < k; l++)
		if (pending_reserve(&t->pend[l], err) != 0 ||
		    (fresh[l] = tile_new(l, t->edge[l]->index + 1, err)) == NULL)
			goto out;
	memcpy(h, leaf, 32);
	for (l = 0;; l++) {
		if (tile_push(t->edge[l], h, err) != 0) {
			t->broken = true;
			goto out;
		}
		if (l == k)
			break;
		/* The full tile's root is the next level's new hash. */
		memcpy(h, t->edge[l]->h[row_off(ROWS - 1)], 32);
		t->pend[l].t[t->pend[l].n++] = t->edge[l];
		t->edge[l] = fresh[l];
		fresh[l] = NULL;
	}
	if (index != NULL)
		*index = t->size;
	t->size++;
	rc = 0;
out:
	for (l = 0; l < TK_TLOG_LEVELS; l++)
		free(fresh[l]);
	return rc;
}

int
tk_tlog_flush(tk_tlog *t, tk_error *err)
{
	struct pending *p;
	struct tile *x;
	size_t i;
	int l;

	if (refuse_broken(t, err) != 0)
		return -1;
	for (l = 0; l < TK_TLOG_LEVELS; l++) {
		p = &t->pend[l];
		for (i = 0; i < p->n; i++) {
			x = p->t[i];
			if (!x->dirty)
				continue;
			if (io_put(t, x, err) != 0)
				goto fail;
			x->dirty = false;
		}
		x = t->edge[l];
		if (x->dirty && x->width > 0) {
			if (io_put(t, x, err) != 0)
				goto fail;
			x->dirty = false;
		}
	}
	t->flushed = t->size;
	return 0;
fail:
	t->broken = true;
	return -1;
}

int
tk_tlog_committed(tk_tlog *t, tk_error *err)
{
	struct pending *p;
	size_t i;
	int l;

	if (refuse_broken(t, err) != 0)
		return -1;
	if (t->flushed != t->size) {
		tk_fail(err, TK_ERR_INTERNAL, "tlog: %" PRIu64 " leaves were"
		    " appended after the last flush; flush inside the"
		    " transaction, then commit", t->size - t->flushed);
		return -1;
	}
	/* Full tiles are immutable from now on: hand them to the cache. */
	for (l = 0; l < TK_TLOG_LEVELS; l++) {
		p = &t->pend[l];
		for (i = 0; i < p->n; i++)
			cache_insert(&t->cache, p->t[i]);
		p->n = 0;
		p->first = t->edge[l]->index;
	}
	t->committed = t->size;
	return 0;
}

/* ---- reading ------------------------------------------------------------- */

int
tk_tlog_node(tk_tlog *t, int level, uint64_t index, unsigned char out[32],
    tk_error *err)
{
	struct tile *x;
	const unsigned char *h;
	uint64_t base;
	size_t j;
	int r;

	if (refuse_broken(t, err) != 0)
		return -1;
	if (level < 0 || level > 63 || index >= (t->size >> level)) {
		tk_fail(err, TK_ERR_INVALID, "tlog: node (%d, %" PRIu64 ") is"
		    " not a complete subtree of the %" PRIu64 "-leaf tree",
		    level, index, t->size);
		return -1;
	}
	r = level % TK_TLOG_TILE_HEIGHT;
	base = index << r; /* its first node at tree level 8L */
	x = find_tile(t, level / TK_TLOG_TILE_HEIGHT, base / WIDTH, err);
	if (x == NULL)
		return -1;
	j = (size_t)(base % WIDTH) >> r;
	if (((j + 1) << r) > x->width) {
		tk_fail(err, TK_ERR_INTERNAL, "tlog: tile %d/%" PRIu64 " holds"
		    " %zu hashes, too few for node (%d, %" PRIu64 ")", x->level,
		    x->index, x->width, level, index);
		return -1;
	}
	if ((h = tile_node(x, r, j, err)) == NULL)
		return -1;
	memcpy(out, h, 32);
	return 0;
}

static int
node_cb(void *arg, int level, uint64_t index, unsigned char out[32],
    tk_error *err)
{
	return tk_tlog_node(arg, level, index, out, err);
}

static int
check_size(const tk_tlog *t, uint64_t size, tk_error *err)
{
	if (refuse_broken(t, err) != 0)
		return -1;
	if (size > t->size) {
		tk_fail(err, TK_ERR_INVALID, "tlog: size %" PRIu64 " is beyond"
		    " the log's %" PRIu64 " leaves", size, t->size);
		return -1;
	}
	return 0;
}

int
tk_tlog_root(tk_tlog *t, uint64_t size, unsigned char out[32], tk_error *err)
{
	if (check_size(t, size, err) != 0)
		return -1;
	return tk_merkle_tree_root(node_cb, t, size, out, err);
}

int
tk_tlog_prove_inclusion(tk_tlog *t, uint64_t index, uint64_t size,
    unsigned char *proof, size_t cap, size_t *count, tk_error *err)
{
	*count = 0;
	if (check_size(t, size, err) != 0)
		return -1;
	return tk_merkle_prove_inclusion(node_cb, t, index, size, proof, cap,
	    count, err);
}

int
tk_tlog_prove_consistency(tk_tlog *t, uint64_t size1, uint64_t size2,
    unsigned char *proof, size_t cap, size_t *count, tk_error *err)
{
	*count = 0;
	if (check_size(t, size2, err) != 0)
		return -1;
	return tk_merkle_prove_consistency(node_cb, t, size1, size2, proof, cap,
	    count, err);
}

void
tk_tlog_drop_cache(tk_tlog *t)
{
	cache_clear(&t->cache);
}
