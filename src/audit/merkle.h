/*
 * merkle.h - the RFC 6962 / RFC 9162 section 2 Merkle tree over the audit
 * log's leaves: hashing, tree roots, inclusion and consistency proofs
 * (generation and verification), and a frontier for streaming roots.
 *
 * Owns: the hashing rules and the proof algorithms. Pure: no I/O and no
 * allocation. Generation reads the tree through a caller's callback that
 * returns complete subtrees only (tlog.c answers it from tiles).
 *
 * Hashes are SHA-256, 32 bytes: leaf = SHA-256(0x00 || data), node =
 * SHA-256(0x01 || left || right), root of the empty tree = SHA-256("").
 * Proofs are flat arrays of count hashes (hash i at proof + 32 * i), in
 * RFC 9162 order (nearest the leaf first). Sizes are leaf counts; leaf
 * indexes count from 0. Thread-safe: no shared state.
 */
#ifndef TK_MERKLE_H
#define TK_MERKLE_H

#include "core/tk.h"

#define TK_MERKLE_HASH_LEN 32
/* Longest possible proof, inclusion or consistency, for any size below
 * 2^64; a buffer of TK_MERKLE_MAX_PROOF hashes always suffices. */
#define TK_MERKLE_MAX_PROOF 65

/* Hashing. Each returns 0, or -1 if OpenSSL fails (never seen in
 * practice; checked anyway). No err: callers say what they were doing. */
int tk_merkle_leaf_hash(const void *data, size_t len, unsigned char out[32]);
int tk_merkle_node_hash(const unsigned char left[32],
    const unsigned char right[32], unsigned char out[32]);
void tk_merkle_empty_root(unsigned char out[32]);

/* MTH of n leaf hashes stored consecutively in leaves (n * 32 bytes;
 * NULL allowed when n is 0). Returns 0 or -1 (err filled). */
int tk_merkle_root(const unsigned char *leaves, uint64_t n,
    unsigned char out[32], tk_error *err);

/* A compact range [0, size): for each set bit l of size, hash[l] is the
 * root of one complete subtree of 2^l leaves, the larger ones to the
 * left. Appending is O(log n) hashes and the root is O(log n), with
 * constant memory, for recomputing a root from a stream of leaves. */
typedef struct tk_merkle_frontier {
	uint64_t size;            /* leaves appended */
	unsigned char hash[64][32]; /* hash[l] valid when bit l of size set */
} tk_merkle_frontier;

void tk_merkle_frontier_init(tk_merkle_frontier *f);
/* Appends one leaf hash. Returns 0, or -1 (err filled; f unchanged) when
 * the frontier is full (size 2^64 - 1) or hashing fails. */
int tk_merkle_frontier_append(tk_merkle_frontier *f,
    const unsigned char leaf[32], tk_error *err);
/* MTH(D[0:size]). Returns 0 or -1 (err filled). */
int tk_merkle_frontier_root(const tk_merkle_frontier *f,
    unsigned char out[32], tk_error *err);

/* Supplies the hash of the complete subtree at (level, index): the root
 * over leaves [index << level, (index + 1) << level), which the generators
 * below only ask for when it lies wholly inside the tree. Returns 0, or -1
 * with err filled; any other value is treated as an error. */
typedef int (*tk_merkle_node_fn)(void *arg, int level, uint64_t index,
    unsigned char out[32], tk_error *err);

/* Proof lengths in hashes: the exact number RFC 9162 prescribes, or -1
 * when no proof exists (index >= size; size1 == 0 or size1 > size2).
 * A consistency proof between equal sizes is empty (0). */
int tk_merkle_inclusion_len(uint64_t index, uint64_t size);
int tk_merkle_consistency_len(uint64_t size1, uint64_t size2);

/* MTH(D[0:size]) composed from complete subtrees (at most 64 node calls
 * and 63 hashes). size 0 gives the empty root without calling node. */
int tk_merkle_tree_root(tk_merkle_node_fn node, void *arg, uint64_t size,
    unsigned char out[32], tk_error *err);

/* Writes the inclusion proof of leaf index in the tree of size leaves
 * (RFC 9162 2.1.3.1) into proof, which has room for cap hashes, and its
 * length into *count. Returns 0; -1 with err filled: TK_ERR_INVALID when
 * index >= size, TK_ERR_TOO_LARGE when cap is too small, or what node
 * reported. */
int tk_merkle_prove_inclusion(tk_merkle_node_fn node, void *arg,
    uint64_t index, uint64_t size, unsigned char *proof, size_t cap,
    size_t *count, tk_error *err);

/* Writes the consistency proof from size1 to size2 (RFC 9162 2.1.4.1)
 * like tk_merkle_prove_inclusion. 0 < size1 <= size2 (equal sizes give
 * an empty proof); size1 == 0 is refused (TK_ERR_INVALID): every tree
 * extends the empty one, so the verifier below rejects such proofs. */
int tk_merkle_prove_consistency(tk_merkle_node_fn node, void *arg,
    uint64_t size1, uint64_t size2, unsigned char *proof, size_t cap,
    size_t *count, tk_error *err);

/* Verifies that leaf is the leaf at index of the tree of size leaves
 * whose root is root, with RFC 9162 2.1.3.2. Returns 0 only when the
 * proof verifies; -1 otherwise with err filled: TK_ERR_INVALID for a
 * proof that does not verify or is malformed (index >= size, too few or
 * too many hashes), TK_ERR_INTERNAL if hashing fails. */
int tk_merkle_verify_inclusion(uint64_t index, uint64_t size,
    const unsigned char leaf[32], const unsigned char *proof, size_t count,
    const unsigned char root[32], tk_error *err);

/* Verifies that the tree of size2 leaves with root2 extends the tree of
 * size1 leaves with root1, with RFC 9162 2.1.4.2. Returns 0 only when it
 * does; -1 otherwise (errors as for inclusion). Refused: size1 > size2;
 * size1 == 0 (a check against the empty tree proves nothing); equal
 * sizes with a non-empty proof or different roots. */
int tk_merkle_verify_consistency(uint64_t size1, uint64_t size2,
    const unsigned char root1[32], const unsigned char root2[32],
    const unsigned char *proof, size_t count, tk_error *err);

#endif
