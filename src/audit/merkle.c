/*
 * merkle.c - the RFC 6962 / RFC 9162 section 2 Merkle tree: leaf and node
 * hashing, roots (from an array, a frontier or complete subtrees), proof
 * generation from complete subtrees and proof verification.
 *
 * Owns: the tree's arithmetic. Verification follows RFC 9162 2.1.3.2 and
 * 2.1.4.2 step by step, after an exact length check (which the algorithms
 * imply anyway) so that a malformed proof is refused before any hashing.
 * Generation follows the node layout of transparency-dev/merkle: an
 * inclusion path is an "inner" part (siblings below the level where the
 * leaf's path leaves the right edge of the tree, the topmost of which may
 * be an incomplete subtree on the right edge, composed here from complete
 * subtrees) and a "border" part (left siblings along the right edge).
 *
 * Hashing uses OpenSSL's low-level SHA-256 (SHA256_Init, and
 * SHA256_Transform on blocks padded here): deprecated in OpenSSL 3 but
 * still supported, allocation-free, and much faster than the EVP
 * one-shots (about 100 ns against 350 ns per node hash here, less with
 * the padding done here), which matters with a proof costing up to a
 * few hundred hashes and a full verification one leaf and one node per
 * event.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "audit/merkle.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

/* SHA-256(""), the root of the empty tree. */
static const unsigned char empty_root[32] = {
	0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14,
	0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
	0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
	0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
};

/* Number of bits needed for x (0 for 0). */
static int
bit_len(uint64_t x)
{
	return x == 0 ? 0 : 64 - __builtin_clzll(x);
}

/* The digest of a context whose message, padding included, has been
 * compressed: its state words, big-endian. */
static void
digest_out(const SHA256_CTX *c, unsigned char out[32])
{
	for (int i = 0; i < 8; i++) {
		out[4 * i] = (unsigned char)(c->h[i] >> 24);
		out[4 * i + 1] = (unsigned char)(c->h[i] >> 16);
		out[4 * i + 2] = (unsigned char)(c->h[i] >> 8);
		out[4 * i + 3] = (unsigned char)c->h[i];
	}
}

/*
 * SHA-256(0x00 || data), compressed block by block with the padding laid
 * out here (FIPS 180-4 5.1.1): the whole blocks of data are compressed
 * where they lie, and no buffering or clean-up runs per call. A full
 * verification hashes one leaf per event, so this is its hottest code.
 * (Nothing here is secret: leaves and nodes are public.)
 */
int
tk_merkle_leaf_hash(const void *data, size_t len, unsigned char out[32])
{
	const unsigned char *p = data;
	unsigned char blk[64];
	SHA256_CTX c;
	uint64_t bits;
	size_t n, k;

	if (len > 0 && data == NULL)
		return -1;
	if (len >= (SIZE_MAX >> 3) - 1)
		return -1; /* (its length in bits would not fit) */
	if (SHA256_Init(&c) != 1)
		return -1;
	blk[0] = 0x00;
	k = len < 63 ? len : 63;
	if (k > 0)
		memcpy(blk + 1, p, k);
	n = 1 + k;
	if (n == 64) {
		SHA256_Transform(&c, blk);
		p += k;
		for (k = len - k; k >= 64; k -= 64, p += 64)
			SHA256_Transform(&c, p);
		if (k > 0)
			memcpy(blk, p, k);
		n = k;
	}
	blk[n++] = 0x80;
	if (n > 56) {
		memset(blk + n, 0, 64 - n);
		SHA256_Transform(&c, blk);
		n = 0;
	}
	memset(blk + n, 0, 56 - n);
	bits = ((uint64_t)len + 1) * 8;
	for (int i = 0; i < 8; i++)
		blk[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
	SHA256_Transform(&c, blk);
	digest_out(&c, out);
	return 0;
}

/* out may alias left or right. The 65 bytes, padded, are exactly two
 * blocks, laid out here and compressed directly (as for leaves). */
int
tk_merkle_node_hash(const unsigned char left[32],
    const unsigned char right[32], unsigned char out[32])
{
	SHA256_CTX c;
	unsigned char buf[128];

	buf[0] = 0x01;
	memcpy(buf + 1, left, 32);
	memcpy(buf + 33, right, 32);
	buf[65] = 0x80;                 /* the padding bit */
	memset(buf + 66, 0, 126 - 66);
	buf[126] = (65 * 8) >> 8;       /* the length in bits, big-endian */
	buf[127] = (65 * 8) & 0xff;
	if (SHA256_Init(&c) != 1)
		return -1;
	SHA256_Transform(&c, buf);
	SHA256_Transform(&c, buf + 64);
	digest_out(&c, out);
	return 0;
}

void
tk_merkle_empty_root(unsigned char out[32])
{
	memcpy(out, empty_root, 32);
}

/* Fills err with TK_ERR_INVALID and returns -1: a proof or request that
 * is wrong, as opposed to a failure. */
static int
reject(tk_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
reject(tk_error *err, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL) {
		err->status = TK_ERR_INVALID;
		err->invariant = 0;
		va_start(ap, fmt);
		(void)vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* A node hash that fills err on the (theoretical) OpenSSL failure. */
static int
node_hash(const unsigned char *l, const unsigned char *r, unsigned char *out,
    tk_error *err)
{
	if (tk_merkle_node_hash(l, r, out) != 0) {
		tk_fail(err, TK_ERR_INTERNAL, "merkle: SHA-256 failed in OpenSSL");
		return -1;
	}
	return 0;
}

/* ---- frontier ------------------------------------------------------- */

void
tk_merkle_frontier_init(tk_merkle_frontier *f)
{
	memset(f, 0, sizeof(*f));
}

int
tk_merkle_frontier_append(tk_merkle_frontier *f, const unsigned char leaf[32],
    tk_error *err)
{
	unsigned char h[32];
	int l;

	if (f->size == UINT64_MAX) {
		tk_fail(err, TK_ERR_TOO_LARGE, "merkle: tree is full (2^64 - 1"
		    " leaves)");
		return -1;
	}
	memcpy(h, leaf, 32);
	/* Each set low bit is a complete left sibling: merge upwards. */
	for (l = 0; (f->size >> l) & 1; l++)
		if (node_hash(f->hash[l], h, h, err) != 0)
			return -1;
	memcpy(f->hash[l], h, 32);
	f->size++;
	return 0;
}

int
tk_merkle_frontier_root(const tk_merkle_frontier *f, unsigned char out[32],
    tk_error *err)
{
	unsigned char acc[32];
	int l;

	if (f->size == 0) {
		tk_merkle_empty_root(out);
		return 0;
	}
	/* The smallest subtree is rightmost; fold the larger ones in from
	 * the left. */
	l = __builtin_ctzll(f->size);
	memcpy(acc, f->hash[l], 32);
	for (l++; l < 64; l++)
		if (((f->size >> l) & 1) &&
		    node_hash(f->hash[l], acc, acc, err) != 0)
			return -1;
	memcpy(out, acc, 32);
	return 0;
}

int
tk_merkle_root(const unsigned char *leaves, uint64_t n, unsigned char out[32],
    tk_error *err)
{
	tk_merkle_frontier f;
	uint64_t i;

	if (n > 0 && leaves == NULL) {
		tk_fail(err, TK_ERR_INVALID, "merkle: no leaves given");
		return -1;
	}
	tk_merkle_frontier_init(&f);
	for (i = 0; i < n; i++)
		if (tk_merkle_frontier_append(&f, leaves + 32 * i, err) != 0)
			return -1;
	return tk_merkle_frontier_root(&f, out, err);
}

/* ---- proof lengths ---------------------------------------------------- */

int
tk_merkle_inclusion_len(uint64_t index, uint64_t size)
{
	int inner;

	if (index >= size)
		return -1;
	/* Below level inner the leaf's path and the right edge's path
	 * differ (one sibling per level); above it they coincide and only
	 * left siblings (set bits of the index) are in the proof. */
	inner = bit_len(index ^ (size - 1));
	return inner + __builtin_popcountll(inner == 64 ? 0 : index >> inner);
}

/* The consistency proof from size1 to size2 is the node at (level, idx),
 * the largest complete subtree ending at size1 (left out when it is the
 * whole old tree, i.e. size1 is a power of two), and that node's
 * inclusion path in the tree of size2. */
static void
consistency_seed(uint64_t size1, uint64_t size2, int *level, uint64_t *idx,
    uint64_t *nodes)
{
	*level = __builtin_ctzll(size1);
	*idx = (size1 - 1) >> *level;
	*nodes = ((size2 - 1) >> *level) + 1; /* nodes at that level */
}

int
tk_merkle_consistency_len(uint64_t size1, uint64_t size2)
{
	int level;
	uint64_t idx, nodes;

	if (size1 == 0 || size1 > size2)
		return -1;
	if (size1 == size2)
		return 0;
	consistency_seed(size1, size2, &level, &idx, &nodes);
	return (idx != 0) + tk_merkle_inclusion_len(idx, nodes);
}

/* ---- generation from complete subtrees ----------------------------- */

static int
get_node(tk_merkle_node_fn node, void *arg, int level, uint64_t index,
    unsigned char out[32], tk_error *err)
{
	int rc;

	if (err != NULL)
		err->status = TK_OK;
	rc = node(arg, level, index, out, err);
	if (rc == 0)
		return 0;
	if (rc != -1 || err == NULL || err->status == TK_OK)
		tk_fail(err, TK_ERR_INTERNAL, "merkle: node (%d, %" PRIu64
		    ") could not be read (callback returned %d)", level, index,
		    rc);
	return -1;
}

/* Root over leaves [start, end), start < end, where start is a multiple
 * of a power of two >= end - start (so the range is a subtree of the RFC
 * 6962 tree, complete or on its right edge). It is the complete subtrees
 * of the binary decomposition of end - start, largest leftmost, folded
 * from the right. */
static int
range_root(tk_merkle_node_fn node, void *arg, uint64_t start, uint64_t end,
    unsigned char out[32], tk_error *err)
{
	uint64_t n = end - start, left;
	unsigned char h[32], acc[32];
	int l, first = 1;

	for (l = 0; l < 64; l++) {
		if (!((n >> l) & 1))
			continue;
		/* The subtree for bit l starts after the larger ones, which
		 * are the bits of n above l. */
		left = start + (l == 63 ? 0 : (n >> (l + 1)) << (l + 1));
		if (get_node(node, arg, l, left >> l, first ? acc : h, err) != 0)
			return -1;
		if (!first && node_hash(h, acc, acc, err) != 0)
			return -1;
		first = 0;
	}
	memcpy(out, acc, 32);
	return 0;
}

int
tk_merkle_tree_root(tk_merkle_node_fn node, void *arg, uint64_t size,
    unsigned char out[32], tk_error *err)
{
	if (size == 0) {
		tk_merkle_empty_root(out);
		return 0;
	}
	return range_root(node, arg, 0, size, out, err);
}

/* Appends to out the inclusion path of the node (shift, idx) in the tree
 * of size leaves; that node must be complete. *n counts hashes written;
 * the caller has checked the room. */
static int
node_path(tk_merkle_node_fn node, void *arg, int shift, uint64_t idx,
    uint64_t size, unsigned char *out, size_t *n, tk_error *err)
{
	uint64_t last = (size - 1) >> shift, sib;
	int inner = bit_len(idx ^ last), i, lvl;

	for (i = 0; i < inner; i++) {
		lvl = shift + i;
		sib = (idx >> i) ^ 1;
		if (sib > ((size - 1) >> lvl)) {
			/* Cannot happen below `inner`: the sibling starts
			 * before the right edge. */
			tk_fail(err, TK_ERR_INTERNAL, "merkle: sibling (%d, %"
			    PRIu64 ") outside a tree of %" PRIu64 " leaves",
			    lvl, sib, size);
			return -1;
		}
		if (sib < (size >> lvl)) {
			if (get_node(node, arg, lvl, sib, out + 32 * *n,
			    err) != 0)
				return -1;
		} else if (range_root(node, arg, sib << lvl, size,
		    out + 32 * *n, err) != 0) {
			/* The topmost inner sibling, on the right edge. */
			return -1;
		}
		(*n)++;
	}
	for (i = inner; shift + i < 64 && (idx >> i) != 0; i++) {
		if (!((idx >> i) & 1))
			continue;
		if (get_node(node, arg, shift + i, (idx >> i) ^ 1, out + 32 * *n,
		    err) != 0)
			return -1;
		(*n)++;
	}
	return 0;
}

static int
check_room(int want, size_t cap, tk_error *err)
{
	if ((size_t)want > cap) {
		tk_fail(err, TK_ERR_TOO_LARGE, "merkle: the proof needs %d"
		    " hashes, room for %zu", want, cap);
		return -1;
	}
	return 0;
}

/* Confirms that generation produced the length the RFC prescribes. */
static int
check_len(size_t got, int want, tk_error *err)
{
	if (got != (size_t)want) {
		tk_fail(err, TK_ERR_INTERNAL, "merkle: generated %zu proof"
		    " hashes, expected %d", got, want);
		return -1;
	}
	return 0;
}

int
tk_merkle_prove_inclusion(tk_merkle_node_fn node, void *arg, uint64_t index,
    uint64_t size, unsigned char *proof, size_t cap, size_t *count,
    tk_error *err)
{
	int want = tk_merkle_inclusion_len(index, size);
	size_t n = 0;

	*count = 0;
	if (want < 0) {
		tk_fail(err, TK_ERR_INVALID, "merkle: leaf %" PRIu64 " is not in"
		    " a tree of %" PRIu64 " leaves", index, size);
		return -1;
	}
	if (check_room(want, cap, err) != 0 ||
	    node_path(node, arg, 0, index, size, proof, &n, err) != 0 ||
	    check_len(n, want, err) != 0)
		return -1;
	*count = n;
	return 0;
}

int
tk_merkle_prove_consistency(tk_merkle_node_fn node, void *arg,
    uint64_t size1, uint64_t size2, unsigned char *proof, size_t cap,
    size_t *count, tk_error *err)
{
	int want = tk_merkle_consistency_len(size1, size2), level;
	uint64_t idx, nodes;
	size_t n = 0;

	*count = 0;
	if (want < 0) {
		tk_fail(err, TK_ERR_INVALID, "merkle: no consistency proof from"
		    " size %" PRIu64 " to size %" PRIu64 " (need 0 < size1 <="
		    " size2)", size1, size2);
		return -1;
	}
	if (want == 0)
		return 0;
	if (check_room(want, cap, err) != 0)
		return -1;
	consistency_seed(size1, size2, &level, &idx, &nodes);
	(void)nodes;
	if (idx != 0) {
		if (get_node(node, arg, level, idx, proof, err) != 0)
			return -1;
		n = 1;
	}
	if (node_path(node, arg, level, idx, size2, proof, &n, err) != 0 ||
	    check_len(n, want, err) != 0)
		return -1;
	*count = n;
	return 0;
}

/* ---- verification ------------------------------------------------------ */

int
tk_merkle_verify_inclusion(uint64_t index, uint64_t size,
    const unsigned char leaf[32], const unsigned char *proof, size_t count,
    const unsigned char root[32], tk_error *err)
{
	int want = tk_merkle_inclusion_len(index, size);
	uint64_t fn, sn;
	unsigned char r[32];
	const unsigned char *p;
	size_t i;

	/* 1. leaf_index < tree_size. */
	if (want < 0)
		return reject(err, "merkle: leaf index %" PRIu64
		    " is not below the tree size %" PRIu64, index, size);
	if (count != (size_t)want)
		return reject(err, "merkle: inclusion proof"
		    " has %zu hashes, a tree of %" PRIu64 " leaves needs %d for"
		    " leaf %" PRIu64, count, size, want, index);
	if (count > 0 && proof == NULL)
		return reject(err, "merkle: no proof");
	/* 2.-3. */
	fn = index;
	sn = size - 1;
	memcpy(r, leaf, 32);
	/* 4. */
	for (i = 0; i < count; i++) {
		p = proof + 32 * i;
		if (sn == 0) /* a. */
			return reject(err, "merkle: inclusion"
			    " proof is too long");
		if ((fn & 1) || fn == sn) { /* b. */
			if (node_hash(p, r, r, err) != 0)
				return -1;
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else if (node_hash(r, p, r, err) != 0) {
			return -1;
		}
		fn >>= 1; /* c. */
		sn >>= 1;
	}
	/* 5. */
	if (sn != 0)
		return reject(err, "merkle: inclusion proof is"
		    " too short");
	if (memcmp(r, root, 32) != 0)
		return reject(err, "merkle: inclusion proof"
		    " does not lead to the root");
	return 0;
}

int
tk_merkle_verify_consistency(uint64_t size1, uint64_t size2,
    const unsigned char root1[32], const unsigned char root2[32],
    const unsigned char *proof, size_t count, tk_error *err)
{
	uint64_t fn, sn;
	unsigned char fr[32], sr[32];
	const unsigned char *c;
	size_t i, start;
	int want;

	/* Preconditions of 2.1.4.2: 0 < first < second, or equal trees. */
	if (size1 > size2)
		return reject(err, "merkle: old size %" PRIu64
		    " is above new size %" PRIu64, size1, size2);
	if (size1 == 0)
		return reject(err, "merkle: a consistency proof"
		    " from the empty tree proves nothing");
	if (size1 == size2) {
		if (count != 0)
			return reject(err, "merkle: equal sizes"
			    " need an empty proof, got %zu hashes", count);
		if (memcmp(root1, root2, 32) != 0)
			return reject(err, "merkle: equal sizes"
			    " but different roots");
		return 0;
	}
	/* 1. */
	if (count == 0)
		return reject(err, "merkle: empty consistency"
		    " proof");
	want = tk_merkle_consistency_len(size1, size2);
	if (count != (size_t)want)
		return reject(err, "merkle: consistency proof"
		    " has %zu hashes, %" PRIu64 " -> %" PRIu64 " needs %d",
		    count, size1, size2, want);
	if (proof == NULL)
		return reject(err, "merkle: no proof");
	/* 2. A power-of-two size1 gets first_hash prepended: the path then
	 * starts at root1 and every proof hash is a "subsequent value". */
	if ((size1 & (size1 - 1)) == 0) {
		memcpy(fr, root1, 32);
		start = 0;
	} else {
		memcpy(fr, proof, 32);
		start = 1;
	}
	/* 3.-5. */
	fn = size1 - 1;
	sn = size2 - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	memcpy(sr, fr, 32);
	/* 6. */
	for (i = start; i < count; i++) {
		c = proof + 32 * i;
		if (sn == 0) /* a. */
			return reject(err, "merkle: consistency"
			    " proof is too long");
		if ((fn & 1) || fn == sn) { /* b. */
			if (node_hash(c, fr, fr, err) != 0 ||
			    node_hash(c, sr, sr, err) != 0)
				return -1;
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else if (node_hash(sr, c, sr, err) != 0) {
			return -1;
		}
		fn >>= 1; /* c. */
		sn >>= 1;
	}
	/* 7. */
	if (sn != 0)
		return reject(err, "merkle: consistency proof"
		    " is too short");
	if (memcmp(fr, root1, 32) != 0)
		return reject(err, "merkle: consistency proof"
		    " does not lead to the old root");
	if (memcmp(sr, root2, 32) != 0)
		return reject(err, "merkle: consistency proof"
		    " does not lead to the new root");
	return 0;
}
