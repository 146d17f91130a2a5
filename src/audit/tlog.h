/*
 * tlog.h - the audit log's Merkle tree state, kept as hash tiles in the
 * C2SP tlog-tiles layout, with roots and proofs for any size up to the
 * current one.
 *
 * Layout: the tile at tile level L and index i holds up to 256 hashes of
 * tree level 8L, node indexes [256i, 256i + 256); a partial tile (the
 * right edge of its level) has fewer. Level-0 tiles hold the leaf hashes.
 * The levels in between (8L+1 .. 8L+7) are computed from the tiles.
 *
 * Owns: the in-memory tree (the right-edge partial tile of every level,
 * full tiles appended since the last commit, and an LRU cache of full
 * tiles with their interior nodes) and the rule that full tiles never
 * change. Storage belongs to the caller, through tk_tile_io; this module
 * does no I/O of its own.
 *
 * Transactions are the caller's: append in memory, tk_tlog_flush inside
 * the caller's transaction just before its commit, then tk_tlog_committed
 * when the commit succeeded or tk_tlog_rollback when it failed (or when
 * anything in between failed). Not thread-safe: the caller serialises
 * every call on one tk_tlog.
 */
#ifndef TK_TLOG_H
#define TK_TLOG_H

#include "audit/merkle.h"
#include "core/tk.h"

#define TK_TLOG_TILE_HEIGHT 8   /* tree levels per tile level */
#define TK_TLOG_TILE_WIDTH 256  /* hashes in a full tile */
#define TK_TLOG_LEVELS 8        /* tile levels 0..7 */
/* Most leaves a tk_tlog holds (the level-7 tiles never fill). */
#define TK_TLOG_MAX_SIZE ((uint64_t)1 << 63)
#define TK_TLOG_CACHE_DEFAULT 256 /* full tiles cached, about 16 KiB each */

/* The caller's tile storage (a table in its database). */
typedef struct tk_tile_io {
	void *arg;
	/* Reads tile (level, index) into hashes (room for 256 * 32 bytes)
	 * and sets *width to the number of hashes present. Returns 0; 1
	 * when the tile does not exist; -1 on error with err filled. */
	int (*get)(void *arg, int level, uint64_t index, unsigned char *hashes,
	    size_t *width, tk_error *err);
	/* Writes (inserts or replaces) tile (level, index) with width
	 * hashes (1..256). Returns 0, or -1 with err filled. */
	int (*put)(void *arg, int level, uint64_t index,
	    const unsigned char *hashes, size_t width, tk_error *err);
} tk_tile_io;

typedef struct tk_tlog tk_tlog;

/* Opens the tree of size leaves (the committed size) over io, which is
 * copied; io->arg must outlive the tk_tlog. Reads the right-edge partial
 * tile of each level (at most 8 reads) and checks each has exactly the
 * width size implies. cache_tiles is the LRU capacity in full tiles (0:
 * TK_TLOG_CACHE_DEFAULT). Returns NULL with err filled on failure. */
tk_tlog *tk_tlog_open(const tk_tile_io *io, uint64_t size,
    size_t cache_tiles, tk_error *err);
void tk_tlog_free(tk_tlog *t);

uint64_t tk_tlog_size(const tk_tlog *t);           /* leaves, incl. uncommitted */
uint64_t tk_tlog_committed_size(const tk_tlog *t); /* at the last commit */

/* Appends one leaf hash (see tk_merkle_leaf_hash) in memory; *index (may
 * be NULL) receives its leaf index. Returns 0, or -1 with err filled:
 * out of memory (nothing changed), the log is full, or the tk_tlog must
 * first be rolled back after an earlier failure. */
int tk_tlog_append(tk_tlog *t, const unsigned char leaf[32], uint64_t *index,
    tk_error *err);

/* Writes every tile changed since the last flush through io->put. Call it
 * inside the caller's transaction. On failure (err filled) the caller
 * must abandon its transaction and call tk_tlog_rollback. */
int tk_tlog_flush(tk_tlog *t, tk_error *err);

/* The caller's transaction holding the last flush committed: the current
 * size becomes the committed size. Refused (-1, err filled, nothing
 * changed) when leaves were appended after that flush, or after a
 * failure that needs a rollback. */
int tk_tlog_committed(tk_tlog *t, tk_error *err);

/* The caller's transaction failed: forgets everything after the last
 * commit and reloads the right edge from io. Returns 0, or -1 with err
 * filled (the tk_tlog then refuses everything but another rollback and
 * tk_tlog_free). */
int tk_tlog_rollback(tk_tlog *t, tk_error *err);

/* MTH of the first size leaves, for any size <= tk_tlog_size. */
int tk_tlog_root(tk_tlog *t, uint64_t size, unsigned char out[32],
    tk_error *err);

/* The hash of the complete subtree at (level, index) (level 0: the leaf
 * hash at index); refused unless it lies wholly within the tree. */
int tk_tlog_node(tk_tlog *t, int level, uint64_t index,
    unsigned char out[32], tk_error *err);

/* Proofs for any sizes <= tk_tlog_size, written to proof (room for cap
 * hashes; TK_MERKLE_MAX_PROOF always suffices), length in *count. As
 * tk_merkle_prove_inclusion / tk_merkle_prove_consistency. */
int tk_tlog_prove_inclusion(tk_tlog *t, uint64_t index, uint64_t size,
    unsigned char *proof, size_t cap, size_t *count, tk_error *err);
int tk_tlog_prove_consistency(tk_tlog *t, uint64_t size1, uint64_t size2,
    unsigned char *proof, size_t cap, size_t *count, tk_error *err);

/* Empties the cache of full tiles (they are read again when needed). */
void tk_tlog_drop_cache(tk_tlog *t);

#ifdef TK_TEST_HOOKS
/* Tests only: when > 0, the tk_tlog_test_alloc_fail-th next allocation
 * in tlog.c fails (then the counter stays 0). */
extern long tk_tlog_test_alloc_fail;
#endif

#endif
