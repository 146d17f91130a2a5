/*
 * test_merkle.c - unit tests for the RFC 6962 Merkle tree (audit/merkle.c)
 * and its tile-backed log state (audit/tlog.c).
 *
 * merkle: every vector in ../shared/vectors/rfc6962-merkle (positive ones
 * verify, every wantErr case is rejected, and where a vector's tree is
 * the trees.json one the generated proof equals the vector's proof byte
 * for byte); the trees.json roots for sizes 0-8; generated proofs against
 * a recursive model of RFC 6962 2.1.1/2.1.2 (hashing through EVP, not the
 * library) for every pair in small trees; tampered, truncated and
 * extended proofs refused; generation asking only for complete subtrees.
 *
 * tlog: an in-memory tile store with transactions, call counters and
 * fault injection; 70,000 leaves (full and partial tiles at three tile
 * levels) appended in committed and failed transactions; roots and proofs
 * for many sizes checked against the frontier and the verifier; reopening;
 * flush / committed / rollback rules; failing and misbehaving get / put
 * reported, never crashing; tile reads per cold and warm proof.
 *
 * The vectors' directory is ../shared/vectors/rfc6962-merkle relative to
 * the repository root (where scripts/run-units.sh runs tests), or
 * $TK_MERKLE_VECTORS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include "audit/merkle.h"
#include "audit/tlog.h"

#define VEC_DEFAULT "../shared/vectors/rfc6962-merkle"
#define VEC_INCLUSION 98   /* files in inclusion/, as checked in */
#define VEC_CONSISTENCY 98 /* files in consistency/ */
#define VEC_POSITIVE 12    /* of which wantErr is false */
#define MAXP TK_MERKLE_MAX_PROOF

/* ---- small helpers -------------------------------------------------------- */

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

/* splitmix64: deterministic, so failures reproduce. */
static uint64_t
rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t
rnd_below(uint64_t n)
{
	return rnd() % n;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0 || (buf = malloc((size_t)n + 1)) == NULL) {
		(void)fclose(f);
		return NULL;
	}
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		(void)fclose(f);
		return NULL;
	}
	(void)fclose(f);
	buf[n] = '\0';
	if (len != NULL)
		*len = (size_t)n;
	return buf;
}

static int
hex_decode(const char *s, unsigned char *out, size_t cap, size_t *len)
{
	size_t n = strlen(s), i;
	unsigned v;

	if (n % 2 != 0 || n / 2 > cap)
		return -1;
	for (i = 0; i < n / 2; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (unsigned char)v;
	}
	*len = n / 2;
	return 0;
}

static int
b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict standard base64 with padding. */
static int
b64_decode(const char *s, unsigned char *out, size_t cap, size_t *len)
{
	size_t n = strlen(s), i, o = 0;
	int j, pad, v[4];
	uint32_t w;

	if (n % 4 != 0)
		return -1;
	for (i = 0; i < n; i += 4) {
		pad = 0;
		if (i + 4 == n && s[i + 3] == '=')
			pad = s[i + 2] == '=' ? 2 : 1;
		for (j = 0; j < 4 - pad; j++)
			if ((v[j] = b64_value(s[i + (size_t)j])) < 0)
				return -1;
		for (; j < 4; j++)
			v[j] = 0;
		w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
		    (uint32_t)v[2] << 6 | (uint32_t)v[3];
		if (o + (size_t)(3 - pad) > cap)
			return -1;
		out[o++] = (unsigned char)(w >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(w >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)w;
	}
	*len = o;
	return 0;
}

/* ---- an independent model of RFC 6962 2.1 -------------------------------- */

/* The model's context, reused (freed by model_teardown). */
static EVP_MD_CTX *ref_ctx;

/* SHA-256(prefix || a || b) through EVP, not the library's hashing. */
static void
ref_hash(unsigned char prefix, const unsigned char *a, size_t alen,
    const unsigned char *b, size_t blen, unsigned char out[32])
{
	unsigned int n = 0;

	if (ref_ctx == NULL)
		ref_ctx = EVP_MD_CTX_new();
	assert_non_null(ref_ctx);
	assert_int_equal(EVP_DigestInit_ex(ref_ctx, EVP_sha256(), NULL), 1);
	assert_int_equal(EVP_DigestUpdate(ref_ctx, &prefix, 1), 1);
	if (alen > 0)
		assert_int_equal(EVP_DigestUpdate(ref_ctx, a, alen), 1);
	if (blen > 0)
		assert_int_equal(EVP_DigestUpdate(ref_ctx, b, blen), 1);
	assert_int_equal(EVP_DigestFinal_ex(ref_ctx, out, &n), 1);
	assert_int_equal(n, 32);
}

static int
model_teardown(void **state)
{
	(void)state;
	EVP_MD_CTX_free(ref_ctx);
	ref_ctx = NULL;
	return 0;
}

static uint64_t
split_point(uint64_t n) /* largest power of two below n (n >= 2) */
{
	uint64_t k = 1;

	while (k * 2 < n)
		k *= 2;
	return k;
}

/* MTH(D[0:n]) by the recursive definition; leaves are leaf hashes. */
static void
ref_mth(const unsigned char *leaves, uint64_t n, unsigned char out[32])
{
	unsigned char l[32], r[32];
	uint64_t k;

	if (n == 0) {
		assert_int_equal(EVP_Digest("", 0, out, NULL, EVP_sha256(),
		    NULL), 1);
		return;
	}
	if (n == 1) {
		memcpy(out, leaves, 32);
		return;
	}
	k = split_point(n);
	ref_mth(leaves, k, l);
	ref_mth(leaves + 32 * k, n - k, r);
	ref_hash(0x01, l, 32, r, 32, out);
}

#define SMALL 70 /* every (m, n) up to this size is compared with the model */

/* Subtree roots of the model's leaves, memoised: MTH(D[a:a+n]). */
struct model {
	const unsigned char *leaves;
	unsigned char mth[SMALL + 1][SMALL + 1][32]; /* [a][n] */
	bool known[SMALL + 1][SMALL + 1];
};

static const unsigned char *
model_mth(struct model *md, uint64_t a, uint64_t n)
{
	assert_true(a + n <= SMALL);
	if (!md->known[a][n]) {
		ref_mth(md->leaves + 32 * a, n, md->mth[a][n]);
		md->known[a][n] = true;
	}
	return md->mth[a][n];
}

/* PATH(m, D[a:a+n]) appended to out. */
static void
ref_path(struct model *md, uint64_t m, uint64_t a, uint64_t n,
    unsigned char *out, size_t *cnt)
{
	uint64_t k;

	if (n <= 1)
		return;
	k = split_point(n);
	if (m < k) {
		ref_path(md, m, a, k, out, cnt);
		memcpy(out + 32 * (*cnt)++, model_mth(md, a + k, n - k), 32);
	} else {
		ref_path(md, m - k, a + k, n - k, out, cnt);
		memcpy(out + 32 * (*cnt)++, model_mth(md, a, k), 32);
	}
}

/* SUBPROOF(m, D[a:a+n], b) appended to out. */
static void
ref_subproof(struct model *md, uint64_t m, uint64_t a, uint64_t n, int b,
    unsigned char *out, size_t *cnt)
{
	uint64_t k;

	if (m == n) {
		if (!b)
			memcpy(out + 32 * (*cnt)++, model_mth(md, a, n), 32);
		return;
	}
	k = split_point(n);
	if (m <= k) {
		ref_subproof(md, m, a, k, b, out, cnt);
		memcpy(out + 32 * (*cnt)++, model_mth(md, a + k, n - k), 32);
	} else {
		ref_subproof(md, m - k, a + k, n - k, 0, out, cnt);
		memcpy(out + 32 * (*cnt)++, model_mth(md, a, k), 32);
	}
}

/* n leaf hashes of "leaf <i>" (or "<tag> <i>"), malloc'd. */
static unsigned char *
make_leaves(const char *tag, uint64_t n)
{
	unsigned char *l = malloc(32 * (size_t)(n ? n : 1));
	char buf[64];
	uint64_t i;
	int len;

	assert_non_null(l);
	for (i = 0; i < n; i++) {
		len = snprintf(buf, sizeof(buf), "%s %llu", tag,
		    (unsigned long long)i);
		assert_int_equal(tk_merkle_leaf_hash(buf, (size_t)len,
		    l + 32 * i), 0);
	}
	return l;
}

/* ---- a node source over an array of leaves -------------------------------- */

#define ARR_LEVELS 16

struct arr {
	unsigned char *lv[ARR_LEVELS]; /* lv[l]: complete nodes of level l */
	uint64_t n;                    /* leaves */
	uint64_t limit;  /* tree size being proven: only complete nodes in it */
	long calls, bad; /* bad: incomplete or out-of-range requests */
	long fail_at;    /* fail the fail_at-th call (1-based), 0: never */
	int fail_quiet;  /* fail without filling err */
};

static void
arr_init(struct arr *a, const unsigned char *leaves, uint64_t n)
{
	uint64_t i, m;
	int l;

	memset(a, 0, sizeof(*a));
	a->n = n;
	for (l = 0; l < ARR_LEVELS; l++) {
		m = n >> l;
		a->lv[l] = malloc(32 * (size_t)(m ? m : 1));
		assert_non_null(a->lv[l]);
		for (i = 0; i < m; i++) {
			if (l == 0)
				memcpy(a->lv[0] + 32 * i, leaves + 32 * i, 32);
			else
				ref_hash(0x01, a->lv[l - 1] + 64 * i, 32,
				    a->lv[l - 1] + 64 * i + 32, 32,
				    a->lv[l] + 32 * i);
		}
	}
}

static void
arr_free(struct arr *a)
{
	int l;

	for (l = 0; l < ARR_LEVELS; l++)
		free(a->lv[l]);
}

static int
arr_node(void *arg, int level, uint64_t index, unsigned char out[32],
    tk_error *err)
{
	struct arr *a = arg;

	a->calls++;
	if (a->fail_at != 0 && a->calls == a->fail_at) {
		if (a->fail_quiet)
			return -1;
		return tk_fail(err, TK_ERR_NOT_FOUND, "arr: node gone"), -1;
	}
	if (level < 0 || level >= ARR_LEVELS || index >= (a->limit >> level)) {
		a->bad++;
		return tk_fail(err, TK_ERR_INTERNAL, "arr: incomplete node"),
		    -1;
	}
	memcpy(out, a->lv[level] + 32 * index, 32);
	return 0;
}

/* ---- vectors ----------------------------------------------------------- */

struct paths {
	char **p;
	size_t n, cap;
};

static void
walk(const char *dir, struct paths *out)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct stat st;
	char path[1024];
	size_t len;

	if (d == NULL)
		fail_msg("cannot open %s: %s (set TK_MERKLE_VECTORS or run"
		    " from the repository root)", dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		assert_true(snprintf(path, sizeof(path), "%s/%s", dir,
		    e->d_name) < (int)sizeof(path));
		assert_int_equal(stat(path, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			walk(path, out);
			continue;
		}
		len = strlen(path);
		if (len < 5 || strcmp(path + len - 5, ".json") != 0)
			continue;
		if (out->n == out->cap) {
			out->cap = out->cap ? 2 * out->cap : 64;
			out->p = realloc(out->p, out->cap * sizeof(*out->p));
			assert_non_null(out->p);
		}
		out->p[out->n] = strdup(path);
		assert_non_null(out->p[out->n]);
		out->n++;
	}
	assert_int_equal(closedir(d), 0);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *
vec_dir(void)
{
	const char *d = getenv("TK_MERKLE_VECTORS");

	return d != NULL && *d != '\0' ? d : VEC_DEFAULT;
}

/* trees.json: the eight leaves and the roots of sizes 0-8. */
struct trees {
	unsigned char leaves[8][32]; /* leaf hashes */
	unsigned char roots[9][32];
};

static void
load_trees(struct trees *t)
{
	char path[1024];
	json_t *root, *ins, *roots;
	json_error_t je;
	unsigned char buf[64], want[32];
	size_t len, i;
	const char *s;

	(void)snprintf(path, sizeof(path), "%s/trees.json", vec_dir());
	root = json_load_file(path, 0, &je);
	if (root == NULL)
		fail_msg("%s: %s", path, je.text);
	ins = json_object_get(root, "leaf_inputs_hex");
	roots = json_object_get(root, "root_by_tree_size_hex");
	assert_int_equal(json_array_size(ins), 8);
	assert_int_equal(json_array_size(roots), 9);
	for (i = 0; i < 8; i++) {
		s = json_string_value(json_array_get(ins, i));
		assert_non_null(s);
		assert_int_equal(hex_decode(s, buf, sizeof(buf), &len), 0);
		assert_int_equal(tk_merkle_leaf_hash(buf, len, t->leaves[i]), 0);
		/* The library's leaf hash is SHA-256(0x00 || data). */
		ref_hash(0x00, buf, len, NULL, 0, want);
		assert_memory_equal(t->leaves[i], want, 32);
	}
	for (i = 0; i < 9; i++) {
		s = json_string_value(json_array_get(roots, i));
		assert_non_null(s);
		assert_int_equal(hex_decode(s, t->roots[i], 32, &len), 0);
		assert_int_equal(len, 32);
	}
	json_decref(root);
}

/* An integer field read exactly from the text: jansson holds integers as
 * signed 64-bit and leafIdx 2^64 - 1 does not fit, so the document is
 * parsed with integers as reals and the digits are read here, then
 * cross-checked against jansson's value. */
static uint64_t
field_u64(const char *file, const char *text, const json_t *obj,
    const char *key)
{
	char pat[64], *end;
	const char *p;
	unsigned long long u;
	double d, diff;

	(void)snprintf(pat, sizeof(pat), "\"%s\"", key);
	p = strstr(text, pat);
	if (p == NULL || strstr(p + 1, pat) != NULL)
		fail_msg("%s: %s missing or repeated", file, key);
	p += strlen(pat);
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	if (*p++ != ':')
		fail_msg("%s: %s is not a key", file, key);
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	if (*p < '0' || *p > '9')
		fail_msg("%s: %s is not a non-negative integer", file, key);
	errno = 0;
	u = strtoull(p, &end, 10);
	if (errno != 0)
		fail_msg("%s: %s out of range", file, key);
	d = json_number_value(json_object_get(obj, key));
	diff = d > (double)u ? d - (double)u : (double)u - d;
	if (!json_is_number(json_object_get(obj, key)) ||
	    diff > 1e-9 * (double)u + 0.5)
		fail_msg("%s: %s read as %llu, jansson says %g", file, key, u,
		    d);
	return (uint64_t)u;
}

/* A leaf hash or proof hash: exactly 32 bytes, or the vector is
 * malformed (a client decoding a proof refuses other lengths; the
 * library's API takes 32-byte hashes). */
static void
field_hash(const char *file, const json_t *v, unsigned char out[32],
    bool *malformed)
{
	unsigned char buf[128];
	size_t len;
	const char *s = json_string_value(v);

	if (s == NULL || b64_decode(s, buf, sizeof(buf), &len) != 0)
		fail_msg("%s: not a base64 string", file);
	if (len != 32) {
		*malformed = true;
		memset(out, 0, 32);
		return;
	}
	memcpy(out, buf, 32);
}

/* A root the verifier compares with. The vectors (from Go, which
 * compares roots as byte strings) use roots of other lengths such as
 * "don't care 1"; such a value is mapped to SHA-256("not a hash" ||
 * bytes): equal values stay equal, different ones differ, and none can
 * equal a computed root. */
static void
field_root(const char *file, const json_t *v, unsigned char out[32],
    long *mapped)
{
	static const char tag[] = "not a hash";
	unsigned char buf[128];
	size_t len;
	const char *s = json_string_value(v);

	if (s == NULL || b64_decode(s, buf, sizeof(buf), &len) != 0)
		fail_msg("%s: not a base64 string", file);
	if (len == 32) {
		memcpy(out, buf, 32);
		return;
	}
	ref_hash((unsigned char)tag[0], (const unsigned char *)tag + 1,
	    sizeof(tag) - 2, buf, len, out);
	(*mapped)++;
}

static void
field_proof(const char *file, const json_t *v, unsigned char *out,
    size_t *n, bool *malformed)
{
	size_t i;

	*n = 0;
	if (json_is_null(v))
		return;
	if (!json_is_array(v) || json_array_size(v) > MAXP)
		fail_msg("%s: proof is not a (short) array", file);
	for (i = 0; i < json_array_size(v); i++)
		field_hash(file, json_array_get(v, i), out + 32 * i, malformed);
	*n = json_array_size(v);
}

struct vstats {
	long files, accepted, rejected, malformed, mapped, regenerated;
};

static void
check_vector(const char *file, const struct trees *tr, struct arr *a,
    struct vstats *st, bool inclusion)
{
	char *text = slurp(file, NULL);
	json_t *o;
	json_error_t je;
	unsigned char leaf[32], r1[32], r2[32], proof[MAXP * 32];
	unsigned char gen[MAXP * 32];
	size_t np, ng;
	uint64_t x, y;
	bool malformed = false, want_err;
	tk_error err;
	int rc;

	if (text == NULL)
		fail_msg("%s: cannot read", file);
	o = json_loads(text, JSON_DECODE_INT_AS_REAL, &je);
	if (o == NULL)
		fail_msg("%s: %s", file, je.text);
	if (!json_is_boolean(json_object_get(o, "wantErr")))
		fail_msg("%s: no wantErr", file);
	want_err = json_is_true(json_object_get(o, "wantErr"));
	if (inclusion) {
		x = field_u64(file, text, o, "leafIdx");
		y = field_u64(file, text, o, "treeSize");
		field_hash(file, json_object_get(o, "leafHash"), leaf,
		    &malformed);
		field_root(file, json_object_get(o, "root"), r1, &st->mapped);
	} else {
		x = field_u64(file, text, o, "size1");
		y = field_u64(file, text, o, "size2");
		field_root(file, json_object_get(o, "root1"), r1, &st->mapped);
		field_root(file, json_object_get(o, "root2"), r2, &st->mapped);
	}
	field_proof(file, json_object_get(o, "proof"), proof, &np, &malformed);
	st->files++;
	if (malformed) {
		if (!want_err)
			fail_msg("%s: a hash is not 32 bytes but wantErr is"
			    " false", file);
		st->malformed++;
		goto done;
	}
	memset(&err, 0, sizeof(err));
	rc = inclusion ?
	    tk_merkle_verify_inclusion(x, y, leaf, proof, np, r1, &err) :
	    tk_merkle_verify_consistency(x, y, r1, r2, proof, np, &err);
	if (want_err && rc == 0)
		fail_msg("%s: accepted, but the vector expects an error", file);
	if (!want_err && rc != 0)
		fail_msg("%s: rejected: %s", file, err.msg);
	if (rc != 0) {
		assert_int_equal(err.status, TK_ERR_INVALID);
		assert_true(err.msg[0] != '\0');
		st->rejected++;
		goto done;
	}
	st->accepted++;
	/* A positive vector over the trees.json tree: generation must
	 * reproduce its proof exactly. */
	if (y > 8 || x > 8 || memcmp(inclusion ? r1 : r2, tr->roots[y], 32) != 0)
		goto done;
	if (!inclusion && memcmp(r1, tr->roots[x], 32) != 0)
		goto done;
	if (inclusion && memcmp(leaf, tr->leaves[x], 32) != 0)
		goto done;
	a->limit = y;
	rc = inclusion ?
	    tk_merkle_prove_inclusion(arr_node, a, x, y, gen, MAXP, &ng, &err) :
	    tk_merkle_prove_consistency(arr_node, a, x, y, gen, MAXP, &ng,
	    &err);
	if (rc != 0)
		fail_msg("%s: generating: %s", file, err.msg);
	assert_int_equal(ng, np);
	if (np > 0)
		assert_memory_equal(gen, proof, 32 * np);
	st->regenerated++;
done:
	json_decref(o);
	free(text);
}

/* The hashing pads its blocks itself: every length around the block
 * boundaries (and a long one) against EVP's SHA-256, for leaves and for
 * nodes of varied bytes, aliasing included. */
static void
test_hash_padding(void **state)
{
	unsigned char data[1100], a[32], b[32], want[32], got[32];
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 131 + 7);
	for (len = 0; len <= 300; len++) {
		ref_hash(0x00, data, len, NULL, 0, want);
		assert_int_equal(tk_merkle_leaf_hash(data, len, got), 0);
		assert_memory_equal(got, want, 32);
	}
	len = sizeof(data);
	ref_hash(0x00, data + 1, len - 1, NULL, 0, want); /* unaligned */
	assert_int_equal(tk_merkle_leaf_hash(data + 1, len - 1, got), 0);
	assert_memory_equal(got, want, 32);
	assert_int_equal(tk_merkle_leaf_hash(NULL, 1, got), -1);
	for (int i = 0; i < 64; i++) {
		memcpy(a, data + i, 32);
		memcpy(b, data + 200 + 3 * i, 32);
		ref_hash(0x01, a, 32, b, 32, want);
		assert_int_equal(tk_merkle_node_hash(a, b, got), 0);
		assert_memory_equal(got, want, 32);
		assert_int_equal(tk_merkle_node_hash(a, b, a), 0);
		assert_memory_equal(a, want, 32);
	}
}

static void
test_vectors(void **state)
{
	struct paths ps = {0};
	struct trees tr;
	struct vstats inc = {0}, con = {0};
	struct arr a;
	char dir[1024];
	size_t i, base;
	bool is_inc;

	(void)state;
	load_trees(&tr);
	arr_init(&a, tr.leaves[0], 8);
	(void)snprintf(dir, sizeof(dir), "%s/inclusion", vec_dir());
	walk(dir, &ps);
	base = ps.n;
	(void)snprintf(dir, sizeof(dir), "%s/consistency", vec_dir());
	walk(dir, &ps);
	qsort(ps.p, base, sizeof(*ps.p), cmp_str);
	qsort(ps.p + base, ps.n - base, sizeof(*ps.p), cmp_str);
	for (i = 0; i < ps.n; i++) {
		is_inc = i < base;
		check_vector(ps.p[i], &tr, &a, is_inc ? &inc : &con, is_inc);
		free(ps.p[i]);
	}
	free(ps.p);
	arr_free(&a);
	assert_int_equal(a.bad, 0);
	printf("vectors: inclusion %ld (accepted %ld, rejected by the"
	    " verifier %ld, malformed hash %ld, regenerated %ld);"
	    " consistency %ld (accepted %ld, rejected %ld, malformed %ld,"
	    " regenerated %ld); %ld odd-length roots mapped\n", inc.files,
	    inc.accepted, inc.rejected, inc.malformed, inc.regenerated,
	    con.files, con.accepted, con.rejected, con.malformed,
	    con.regenerated, inc.mapped + con.mapped);
	assert_int_equal(inc.files, VEC_INCLUSION);
	assert_int_equal(con.files, VEC_CONSISTENCY);
	assert_int_equal(inc.accepted + con.accepted, VEC_POSITIVE);
	/* The happy paths of inclusion/0-4 and consistency/0-4 are over
	 * the trees.json tree; the others use made-up hashes. */
	assert_int_equal(inc.regenerated, 5);
	assert_int_equal(con.regenerated, 5);
}

static void
test_trees(void **state)
{
	struct trees tr;
	struct arr a;
	tk_merkle_frontier f;
	unsigned char h[32], want[32];
	tk_error err;
	uint64_t n;

	(void)state;
	load_trees(&tr);
	arr_init(&a, tr.leaves[0], 8);
	tk_merkle_frontier_init(&f);
	for (n = 0; n <= 8; n++) {
		assert_int_equal(tk_merkle_root(tr.leaves[0], n, h, &err), 0);
		assert_memory_equal(h, tr.roots[n], 32);
		ref_mth(tr.leaves[0], n, want);
		assert_memory_equal(want, tr.roots[n], 32);
		assert_int_equal(tk_merkle_frontier_root(&f, h, &err), 0);
		assert_memory_equal(h, tr.roots[n], 32);
		a.limit = n;
		assert_int_equal(tk_merkle_tree_root(arr_node, &a, n, h, &err),
		    0);
		assert_memory_equal(h, tr.roots[n], 32);
		if (n < 8)
			assert_int_equal(tk_merkle_frontier_append(&f,
			    tr.leaves[n], &err), 0);
	}
	tk_merkle_empty_root(h);
	assert_memory_equal(h, tr.roots[0], 32);
	assert_int_equal(a.bad, 0);
	arr_free(&a);
}

/* ---- generation against the model, tampering ------------------------------ */

/* Every proof variant that must fail: each hash bit-flipped, one hash
 * fewer, one more, and a different leaf or root. */
static void
tamper_inclusion(uint64_t m, uint64_t n, const unsigned char *leaf,
    const unsigned char *proof, size_t np, const unsigned char *root)
{
	unsigned char p[(MAXP + 1) * 32], other[32];
	tk_error err;
	size_t i;

	memcpy(p, proof, 32 * np);
	for (i = 0; i < np; i++) {
		p[32 * i + (i % 32)] ^= 0x10;
		assert_int_not_equal(tk_merkle_verify_inclusion(m, n, leaf, p,
		    np, root, &err), 0);
		p[32 * i + (i % 32)] ^= 0x10;
	}
	if (np > 0)
		assert_int_not_equal(tk_merkle_verify_inclusion(m, n, leaf, p,
		    np - 1, root, &err), 0);
	memcpy(p + 32 * np, root, 32);
	assert_int_not_equal(tk_merkle_verify_inclusion(m, n, leaf, p, np + 1,
	    root, &err), 0);
	memcpy(other, leaf, 32);
	other[31] ^= 1;
	assert_int_not_equal(tk_merkle_verify_inclusion(m, n, other, proof, np,
	    root, &err), 0);
	assert_int_not_equal(tk_merkle_verify_inclusion(m, n, leaf, proof, np,
	    other, &err), 0);
	assert_int_not_equal(tk_merkle_verify_inclusion(n, n, leaf, proof, np,
	    root, &err), 0);
	assert_int_equal(err.status, TK_ERR_INVALID);
}

static void
tamper_consistency(uint64_t m, uint64_t n, const unsigned char *r1,
    const unsigned char *r2, const unsigned char *proof, size_t np)
{
	unsigned char p[(MAXP + 1) * 32], other[32];
	tk_error err;
	size_t i;

	memcpy(p, proof, 32 * np);
	for (i = 0; i < np; i++) {
		p[32 * i + (i % 32)] ^= 0x01;
		assert_int_not_equal(tk_merkle_verify_consistency(m, n, r1, r2,
		    p, np, &err), 0);
		p[32 * i + (i % 32)] ^= 0x01;
	}
	if (np > 0)
		assert_int_not_equal(tk_merkle_verify_consistency(m, n, r1, r2,
		    p, np - 1, &err), 0);
	memcpy(p + 32 * np, r1, 32);
	assert_int_not_equal(tk_merkle_verify_consistency(m, n, r1, r2, p,
	    np + 1, &err), 0);
	memcpy(other, r1, 32);
	other[0] ^= 0x80;
	assert_int_not_equal(tk_merkle_verify_consistency(m, n, other, r2,
	    proof, np, &err), 0);
	assert_int_not_equal(tk_merkle_verify_consistency(m, n, r1, other,
	    proof, np, &err), 0);
	if (m != n)
		assert_int_not_equal(tk_merkle_verify_consistency(m, n, r2, r1,
		    proof, np, &err), 0);
	assert_int_equal(err.status, TK_ERR_INVALID);
}

static void
test_generation_model(void **state)
{
	unsigned char *leaves = make_leaves("leaf", SMALL);
	unsigned char roots[SMALL + 1][32], gen[MAXP * 32], ref[MAXP * 32];
	struct model *md = calloc(1, sizeof(*md));
	struct arr a;
	tk_error err;
	size_t ng, nr;
	uint64_t m, n;
	long pairs = 0;

	(void)state;
	assert_non_null(md);
	md->leaves = leaves;
	arr_init(&a, leaves, SMALL);
	for (n = 0; n <= SMALL; n++)
		memcpy(roots[n], model_mth(md, 0, n), 32);
	for (n = 1; n <= SMALL; n++) {
		a.limit = n;
		for (m = 0; m < n; m++) {
			assert_int_equal(tk_merkle_prove_inclusion(arr_node, &a, m,
			    n, gen, MAXP, &ng, &err), 0);
			nr = 0;
			ref_path(md, m, 0, n, ref, &nr);
			assert_int_equal(ng, nr);
			assert_int_equal((int)ng, tk_merkle_inclusion_len(m, n));
			if (ng > 0)
				assert_memory_equal(gen, ref, 32 * ng);
			assert_int_equal(tk_merkle_verify_inclusion(m, n,
			    leaves + 32 * m, gen, ng, roots[n], &err), 0);
			tamper_inclusion(m, n, leaves + 32 * m, gen, ng,
			    roots[n]);
			pairs++;
		}
		for (m = 1; m <= n; m++) {
			assert_int_equal(tk_merkle_prove_consistency(arr_node, &a,
			    m, n, gen, MAXP, &ng, &err), 0);
			nr = 0;
			ref_subproof(md, m, 0, n, 1, ref, &nr);
			assert_int_equal(ng, nr);
			assert_int_equal((int)ng,
			    tk_merkle_consistency_len(m, n));
			if (ng > 0)
				assert_memory_equal(gen, ref, 32 * ng);
			assert_int_equal(tk_merkle_verify_consistency(m, n,
			    roots[m], roots[n], gen, ng, &err), 0);
			tamper_consistency(m, n, roots[m], roots[n], gen, ng);
			pairs++;
		}
	}
	/* Only complete subtrees of the tree being proven were asked for. */
	assert_int_equal(a.bad, 0);
	assert_true(pairs == SMALL * (SMALL + 1));
	arr_free(&a);
	free(md);
	free(leaves);
}

/* Larger trees: random pairs, generated proofs against the verifier
 * (exact per the RFC and the vectors) and the model's roots. */
static void
test_generation_random(void **state)
{
	const uint64_t N = 5000;
	unsigned char *leaves = make_leaves("leaf", N);
	unsigned char *roots = malloc(32 * (N + 1));
	unsigned char gen[MAXP * 32], h[32];
	tk_merkle_frontier f;
	struct arr a;
	tk_error err;
	size_t ng;
	uint64_t m, n;
	int i;

	(void)state;
	assert_non_null(roots);
	arr_init(&a, leaves, N);
	/* The roots of every size from the frontier, checked against the
	 * model up to 300 and at a few larger sizes, and against roots
	 * composed from complete subtrees at every size. */
	tk_merkle_frontier_init(&f);
	for (n = 0; n <= N; n++) {
		assert_int_equal(tk_merkle_frontier_root(&f, roots + 32 * n,
		    &err), 0);
		if (n <= 300 || n % 1021 == 0 || n == N) {
			ref_mth(leaves, n, h);
			assert_memory_equal(roots + 32 * n, h, 32);
		}
		a.limit = n;
		assert_int_equal(tk_merkle_tree_root(arr_node, &a, n, h, &err),
		    0);
		assert_memory_equal(roots + 32 * n, h, 32);
		if (n < N)
			assert_int_equal(tk_merkle_frontier_append(&f,
			    leaves + 32 * n, &err), 0);
	}
	assert_int_equal(tk_merkle_root(leaves, N, h, &err), 0);
	assert_memory_equal(roots + 32 * N, h, 32);
	for (i = 0; i < 1000; i++) {
		n = 1 + rnd_below(N);
		m = rnd_below(n);
		a.limit = n;
		assert_int_equal(tk_merkle_prove_inclusion(arr_node, &a, m, n,
		    gen, MAXP, &ng, &err), 0);
		assert_int_equal(tk_merkle_verify_inclusion(m, n,
		    leaves + 32 * m, gen, ng, roots + 32 * n, &err), 0);
		m = 1 + rnd_below(n);
		assert_int_equal(tk_merkle_prove_consistency(arr_node, &a, m, n,
		    gen, MAXP, &ng, &err), 0);
		assert_int_equal(tk_merkle_verify_consistency(m, n,
		    roots + 32 * m, roots + 32 * n, gen, ng, &err), 0);
	}
	assert_int_equal(a.bad, 0);
	arr_free(&a);
	free(roots);
	free(leaves);
}

static void
test_merkle_edges(void **state)
{
	unsigned char *leaves = make_leaves("leaf", 16);
	unsigned char gen[MAXP * 32], h[32], r[32];
	struct arr a;
	tk_error err;
	size_t ng = 99;

	(void)state;
	arr_init(&a, leaves, 16);
	a.limit = 16;
	/* No proof exists. */
	assert_int_equal(tk_merkle_prove_inclusion(arr_node, &a, 16, 16, gen,
	    MAXP, &ng, &err), -1);
	assert_int_equal(err.status, TK_ERR_INVALID);
	assert_int_equal(ng, 0);
	assert_int_equal(tk_merkle_prove_inclusion(arr_node, &a, 0, 0, gen,
	    MAXP, &ng, &err), -1);
	assert_int_equal(tk_merkle_prove_consistency(arr_node, &a, 0, 16, gen,
	    MAXP, &ng, &err), -1);
	assert_int_equal(err.status, TK_ERR_INVALID);
	assert_int_equal(tk_merkle_prove_consistency(arr_node, &a, 9, 8, gen,
	    MAXP, &ng, &err), -1);
	assert_int_equal(tk_merkle_inclusion_len(3, 3), -1);
	assert_int_equal(tk_merkle_consistency_len(0, 3), -1);
	assert_int_equal(tk_merkle_consistency_len(4, 3), -1);
	assert_int_equal(tk_merkle_consistency_len(5, 5), 0);
	/* Equal sizes: an empty proof, and no node is read. */
	a.calls = 0;
	assert_int_equal(tk_merkle_prove_consistency(arr_node, &a, 7, 7, gen,
	    MAXP, &ng, &err), 0);
	assert_int_equal(ng, 0);
	assert_int_equal(a.calls, 0);
	/* Too little room. */
	assert_int_equal(tk_merkle_prove_inclusion(arr_node, &a, 5, 16, gen, 3,
	    &ng, &err), -1);
	assert_int_equal(err.status, TK_ERR_TOO_LARGE);
	assert_int_equal(tk_merkle_prove_consistency(arr_node, &a, 3, 16, gen,
	    1, &ng, &err), -1);
	assert_int_equal(err.status, TK_ERR_TOO_LARGE);
	/* A failing node source, with and without a message, on every
	 * call position of a proof. */
	for (a.fail_at = 1; a.fail_at <= 4; a.fail_at++) {
		a.calls = 0;
		a.limit = 13;
		a.fail_quiet = (int)(a.fail_at % 2);
		assert_int_equal(tk_merkle_prove_inclusion(arr_node, &a, 2, 13,
		    gen, MAXP, &ng, &err), -1);
		assert_int_equal(err.status, a.fail_quiet ? TK_ERR_INTERNAL :
		    TK_ERR_NOT_FOUND);
		assert_true(strstr(err.msg, a.fail_quiet ? "callback returned" :
		    "node gone") != NULL);
		a.calls = 0;
		assert_int_equal(tk_merkle_prove_consistency(arr_node, &a, 3, 13,
		    gen, MAXP, &ng, &err), -1);
		a.calls = 0;
		/* 13 = 8 + 4 + 1: three nodes. */
		assert_int_equal(tk_merkle_tree_root(arr_node, &a, 13, h, &err),
		    a.fail_at <= 3 ? -1 : 0);
	}
	a.fail_at = 0;
	/* Verification of the degenerate cases. */
	assert_int_equal(tk_merkle_root(leaves, 1, r, &err), 0);
	assert_memory_equal(r, leaves, 32);
	assert_int_equal(tk_merkle_verify_inclusion(0, 1, leaves, NULL, 0, r,
	    &err), 0);
	assert_int_equal(tk_merkle_verify_inclusion(0, 0, leaves, NULL, 0, r,
	    &err), -1);
	assert_int_equal(tk_merkle_verify_inclusion(UINT64_MAX, 1, leaves, NULL,
	    0, r, &err), -1);
	assert_int_equal(tk_merkle_verify_consistency(1, 1, r, r, NULL, 0, &err),
	    0);
	tk_merkle_empty_root(h);
	assert_int_equal(tk_merkle_verify_consistency(0, 0, h, h, NULL, 0, &err),
	    -1);
	assert_int_equal(tk_merkle_verify_consistency(0, 1, h, r, NULL, 0, &err),
	    -1);
	/* A proof count far beyond any tree is refused before hashing. */
	assert_int_equal(tk_merkle_verify_inclusion(1, 16, leaves + 32, gen,
	    (size_t)1 << 40, r, &err), -1);
	assert_true(strstr(err.msg, "needs 4") != NULL);
	assert_int_equal(tk_merkle_verify_consistency(3, 16, r, r, gen,
	    (size_t)1 << 40, &err), -1);
	/* Sizes near 2^64: lengths are computed without overflow. */
	assert_int_equal(tk_merkle_inclusion_len(0, UINT64_MAX), 64);
	assert_int_equal(tk_merkle_inclusion_len(UINT64_MAX - 1, UINT64_MAX),
	    63);
	assert_true(tk_merkle_consistency_len(3, UINT64_MAX) <= MAXP);
	assert_int_equal(tk_merkle_consistency_len((uint64_t)1 << 63,
	    UINT64_MAX), 1);
	assert_int_equal(tk_merkle_consistency_len(3, 4), 3);
	/* An empty tree's root. */
	assert_int_equal(tk_merkle_root(NULL, 0, h, &err), 0);
	ref_mth(NULL, 0, r);
	assert_memory_equal(h, r, 32);
	assert_int_equal(tk_merkle_leaf_hash(NULL, 0, h), 0);
	ref_hash(0x00, NULL, 0, NULL, 0, r);
	assert_memory_equal(h, r, 32);
	assert_int_equal(a.bad, 0);
	arr_free(&a);
	free(leaves);
}

/* ---- an in-memory tile store -------------------------------------------- */

struct mtile {
	size_t width;
	unsigned char h[TK_TLOG_TILE_WIDTH * 32];
};

/* Undo record for one tile written in a transaction. */
struct jent {
	int level;
	uint64_t index;
	struct mtile *old; /* NULL: the tile did not exist */
	struct jent *next;
};

enum get_fault {
	GF_ERR,      /* -1 with a message */
	GF_QUIET,    /* -1, err untouched */
	GF_ODD_RC,   /* returns 7 */
	GF_WIDE,     /* claims 300 hashes */
	GF_MISSING,  /* says the tile does not exist */
};

struct mstore {
	struct mtile **t[TK_TLOG_LEVELS];
	size_t cap[TK_TLOG_LEVELS];
	bool txn;
	struct jent *journal;
	long gets, puts;
	long get_fail_in, put_fail_in; /* the n-th next call fails; 0: no */
	enum get_fault get_fault;
	long full_rewrites, shrinks, bad_width; /* contract breaches seen */
};

static struct mtile **
ms_slot(struct mstore *s, int level, uint64_t index, bool grow)
{
	size_t ncap;

	assert_true(level >= 0 && level < TK_TLOG_LEVELS);
	if (index >= s->cap[level]) {
		if (!grow)
			return NULL;
		ncap = s->cap[level] ? s->cap[level] : 16;
		while (ncap <= index)
			ncap *= 2;
		s->t[level] = realloc(s->t[level], ncap * sizeof(**s->t));
		assert_non_null(s->t[level]);
		memset(s->t[level] + s->cap[level], 0,
		    (ncap - s->cap[level]) * sizeof(**s->t));
		s->cap[level] = ncap;
	}
	return &s->t[level][index];
}

static int
ms_get(void *arg, int level, uint64_t index, unsigned char *hashes,
    size_t *width, tk_error *err)
{
	struct mstore *s = arg;
	struct mtile **slot;

	s->gets++;
	if (s->get_fail_in > 0 && --s->get_fail_in == 0) {
		switch (s->get_fault) {
		case GF_ERR:
			tk_fail(err, TK_ERR_INTERNAL, "disk on fire");
			return -1;
		case GF_QUIET:
			return -1;
		case GF_ODD_RC:
			return 7;
		case GF_WIDE:
			*width = 300;
			return 0;
		case GF_MISSING:
			return 1;
		}
	}
	slot = ms_slot(s, level, index, false);
	if (slot == NULL || *slot == NULL)
		return 1;
	memcpy(hashes, (*slot)->h, 32 * (*slot)->width);
	*width = (*slot)->width;
	return 0;
}

static int
ms_put(void *arg, int level, uint64_t index, const unsigned char *hashes,
    size_t width, tk_error *err)
{
	struct mstore *s = arg;
	struct mtile **slot, *x;
	struct jent *j;

	s->puts++;
	if (s->put_fail_in > 0 && --s->put_fail_in == 0) {
		tk_fail(err, TK_ERR_INTERNAL, "database is locked");
		return -1;
	}
	if (width == 0 || width > TK_TLOG_TILE_WIDTH) {
		s->bad_width++;
		tk_fail(err, TK_ERR_INTERNAL, "bad width %zu", width);
		return -1;
	}
	slot = ms_slot(s, level, index, true);
	if (*slot != NULL && (*slot)->width == TK_TLOG_TILE_WIDTH)
		s->full_rewrites++;
	if (*slot != NULL && width < (*slot)->width)
		s->shrinks++;
	if (s->txn) {
		for (j = s->journal; j != NULL; j = j->next)
			if (j->level == level && j->index == index)
				break;
		if (j == NULL) {
			j = calloc(1, sizeof(*j));
			assert_non_null(j);
			j->level = level;
			j->index = index;
			j->old = *slot;
			j->next = s->journal;
			s->journal = j;
			*slot = NULL;
		}
	}
	x = *slot;
	if (x == NULL) {
		x = malloc(sizeof(*x));
		assert_non_null(x);
		*slot = x;
	}
	memcpy(x->h, hashes, 32 * width);
	x->width = width;
	return 0;
}

static void
ms_begin(struct mstore *s)
{
	assert_false(s->txn);
	s->txn = true;
}

static void
ms_end(struct mstore *s, bool commit)
{
	struct jent *j, *next;
	struct mtile **slot;

	assert_true(s->txn);
	for (j = s->journal; j != NULL; j = next) {
		next = j->next;
		if (commit) {
			free(j->old);
		} else {
			slot = ms_slot(s, j->level, j->index, false);
			assert_non_null(slot);
			free(*slot);
			*slot = j->old;
		}
		free(j);
	}
	s->journal = NULL;
	s->txn = false;
}

static void
ms_free(struct mstore *s)
{
	size_t i;
	int l;

	for (l = 0; l < TK_TLOG_LEVELS; l++) {
		for (i = 0; i < s->cap[l]; i++)
			free(s->t[l][i]);
		free(s->t[l]);
	}
	memset(s, 0, sizeof(*s));
}

static tk_tile_io
ms_io(struct mstore *s)
{
	tk_tile_io io = {s, ms_get, ms_put};

	return io;
}

/* One committed transaction around a flush. */
static void
commit(tk_tlog *t, struct mstore *s)
{
	tk_error err;

	ms_begin(s);
	if (tk_tlog_flush(t, &err) != 0)
		fail_msg("flush: %s", err.msg);
	ms_end(s, true);
	if (tk_tlog_committed(t, &err) != 0)
		fail_msg("committed: %s", err.msg);
}

static void
append(tk_tlog *t, const unsigned char *leaf, uint64_t want_index)
{
	tk_error err;
	uint64_t idx = UINT64_MAX;

	if (tk_tlog_append(t, leaf, &idx, &err) != 0)
		fail_msg("append: %s", err.msg);
	assert_int_equal(idx, want_index);
}

static void
check_root(tk_tlog *t, uint64_t size, const unsigned char *want)
{
	unsigned char h[32];
	tk_error err;

	if (tk_tlog_root(t, size, h, &err) != 0)
		fail_msg("root(%llu): %s", (unsigned long long)size, err.msg);
	assert_memory_equal(h, want, 32);
}

/* ---- the big log ------------------------------------------------------------ */

#define BIG 70000

struct big {
	struct mstore s;
	unsigned char *leaves;
	uint64_t *sizes;      /* sampled sizes, sorted, distinct */
	unsigned char *roots; /* roots[i]: MTH of the first sizes[i] leaves */
	size_t nsizes;
	tk_tlog *t;
};

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static void
big_samples(struct big *b)
{
	size_t cap = 8000, n = 0, i, j;
	uint64_t s, k;
	int d;

	b->sizes = malloc(cap * sizeof(*b->sizes));
	assert_non_null(b->sizes);
	for (s = 0; s <= 600; s++)
		b->sizes[n++] = s;
	for (k = 256; k <= BIG; k += 256)
		for (d = -2; d <= 2; d++)
			b->sizes[n++] = k + (uint64_t)(int64_t)d;
	for (k = 65536; k <= BIG; k += 65536)
		for (d = -3; d <= 3; d++)
			b->sizes[n++] = k + (uint64_t)(int64_t)d;
	b->sizes[n++] = BIG;
	while (n < cap - 16)
		b->sizes[n++] = 1 + rnd_below(BIG);
	qsort(b->sizes, n, sizeof(*b->sizes), cmp_u64);
	for (i = j = 0; i < n; i++)
		if (b->sizes[i] <= BIG && (j == 0 || b->sizes[i] != b->sizes[j - 1]))
			b->sizes[j++] = b->sizes[i];
	b->nsizes = j;
	b->roots = malloc(32 * b->nsizes);
	assert_non_null(b->roots);
}

/* Builds the log in transactions of random length, some of which fail
 * (with and without a flush) and are rolled back; checks the root after
 * each, and records the model roots of the sampled sizes. */
static int
big_setup(void **state)
{
	struct big *b = calloc(1, sizeof(*b));
	unsigned char *junk, h[32];
	tk_merkle_frontier f;
	tk_tile_io io;
	tk_error err;
	uint64_t done = 0, n, i;
	size_t si = 0;
	int batch = 0;

	assert_non_null(b);
	b->leaves = make_leaves("leaf", BIG);
	junk = make_leaves("junk", 3000);
	big_samples(b);
	io = ms_io(&b->s);
	b->t = tk_tlog_open(&io, 0, 0, &err);
	if (b->t == NULL)
		fail_msg("open: %s", err.msg);
	tk_merkle_frontier_init(&f);
	assert_int_equal(b->sizes[0], 0);
	tk_merkle_empty_root(b->roots);
	si = 1;
	while (done < BIG) {
		n = batch % 5 == 0 ? 1 : 1 + rnd_below(3000);
		if (n > BIG - done)
			n = BIG - done;
		if (batch % 4 == 3) {
			/* A transaction that fails after its appends. */
			ms_begin(&b->s);
			for (i = 0; i < n; i++)
				append(b->t, junk + 32 * i, done + i);
			if (batch % 8 == 3)
				assert_int_equal(tk_tlog_flush(b->t, &err), 0);
			ms_end(&b->s, false);
			assert_int_equal(tk_tlog_rollback(b->t, &err), 0);
			assert_int_equal(tk_tlog_size(b->t), done);
			assert_int_equal(tk_tlog_committed_size(b->t), done);
			assert_int_equal(tk_merkle_frontier_root(&f, h, &err), 0);
			check_root(b->t, done, h);
		}
		for (i = 0; i < n; i++) {
			append(b->t, b->leaves + 32 * (done + i), done + i);
			assert_int_equal(tk_merkle_frontier_append(&f,
			    b->leaves + 32 * (done + i), &err), 0);
			while (si < b->nsizes && b->sizes[si] == f.size) {
				assert_int_equal(tk_merkle_frontier_root(&f,
				    b->roots + 32 * si, &err), 0);
				si++;
			}
		}
		commit(b->t, &b->s);
		done += n;
		assert_int_equal(tk_tlog_size(b->t), done);
		assert_int_equal(tk_tlog_committed_size(b->t), done);
		assert_int_equal(tk_merkle_frontier_root(&f, h, &err), 0);
		check_root(b->t, done, h);
		batch++;
	}
	assert_int_equal(si, b->nsizes);
	assert_int_equal(b->s.full_rewrites + b->s.shrinks + b->s.bad_width, 0);
	free(junk);
	*state = b;
	return 0;
}

static int
big_teardown(void **state)
{
	struct big *b = *state;

	tk_tlog_free(b->t);
	ms_free(&b->s);
	free(b->leaves);
	free(b->sizes);
	free(b->roots);
	free(b);
	return 0;
}

/* Index of a random sampled size >= lo. */
static size_t
pick(const struct big *b, uint64_t lo)
{
	size_t i;

	do
		i = (size_t)rnd_below(b->nsizes);
	while (b->sizes[i] < lo);
	return i;
}

/* Proofs from t for random sampled sizes, checked by the verifier. */
static void
big_proofs(const struct big *b, tk_tlog *t, int count)
{
	unsigned char proof[MAXP * 32];
	tk_error err;
	size_t np, i, j;
	uint64_t m, n;
	int k;

	for (k = 0; k < count; k++) {
		i = pick(b, 1);
		n = b->sizes[i];
		m = k % 5 == 0 ? n - 1 : (k % 5 == 1 ? 0 : rnd_below(n));
		if (tk_tlog_prove_inclusion(t, m, n, proof, MAXP, &np, &err) != 0)
			fail_msg("inclusion %llu/%llu: %s", (unsigned long long)m,
			    (unsigned long long)n, err.msg);
		if (tk_merkle_verify_inclusion(m, n, b->leaves + 32 * m, proof,
		    np, b->roots + 32 * i, &err) != 0)
			fail_msg("inclusion %llu/%llu does not verify: %s",
			    (unsigned long long)m, (unsigned long long)n,
			    err.msg);
		if (k % 50 == 0)
			tamper_inclusion(m, n, b->leaves + 32 * m, proof, np,
			    b->roots + 32 * i);

		j = pick(b, 1);
		if (b->sizes[j] > n) {
			size_t x = i;
			i = j;
			j = x;
		}
		m = b->sizes[j];
		n = b->sizes[i];
		if (tk_tlog_prove_consistency(t, m, n, proof, MAXP, &np, &err)
		    != 0)
			fail_msg("consistency %llu->%llu: %s",
			    (unsigned long long)m, (unsigned long long)n,
			    err.msg);
		if (tk_merkle_verify_consistency(m, n, b->roots + 32 * j,
		    b->roots + 32 * i, proof, np, &err) != 0)
			fail_msg("consistency %llu->%llu does not verify: %s",
			    (unsigned long long)m, (unsigned long long)n,
			    err.msg);
		if (k % 50 == 0)
			tamper_consistency(m, n, b->roots + 32 * j,
			    b->roots + 32 * i, proof, np);
	}
}

static void
test_tlog_roots(void **state)
{
	struct big *b = *state;
	unsigned char h[32];
	tk_error err;
	uint64_t i;
	size_t k;

	for (k = 0; k < b->nsizes; k++)
		check_root(b->t, b->sizes[k], b->roots + 32 * k);
	/* Every level-0 node is the leaf; complete higher nodes agree with
	 * the roots of power-of-two sizes. */
	for (i = 0; i < BIG; i += 1 + rnd_below(97)) {
		assert_int_equal(tk_tlog_node(b->t, 0, i, h, &err), 0);
		assert_memory_equal(h, b->leaves + 32 * i, 32);
	}
	for (k = 0; k < b->nsizes; k++) {
		uint64_t s = b->sizes[k];
		if (s == 0 || (s & (s - 1)) != 0)
			continue;
		assert_int_equal(tk_tlog_node(b->t, __builtin_ctzll(s), 0, h,
		    &err), 0);
		assert_memory_equal(h, b->roots + 32 * k, 32);
	}
	/* Nodes that are not complete subtrees, sizes beyond the log. */
	assert_int_equal(tk_tlog_node(b->t, 0, BIG, h, &err), -1);
	assert_int_equal(err.status, TK_ERR_INVALID);
	assert_int_equal(tk_tlog_node(b->t, 8, BIG / 256, h, &err), -1);
	assert_int_equal(tk_tlog_node(b->t, 17, 0, h, &err), -1);
	assert_int_equal(tk_tlog_node(b->t, 64, 0, h, &err), -1);
	assert_int_equal(tk_tlog_node(b->t, -1, 0, h, &err), -1);
	assert_int_equal(tk_tlog_root(b->t, BIG + 1, h, &err), -1);
	assert_int_equal(err.status, TK_ERR_INVALID);
}

static void
test_tlog_proofs(void **state)
{
	struct big *b = *state;
	unsigned char proof[MAXP * 32];
	tk_error err;
	size_t np;

	big_proofs(b, b->t, 1500);
	/* Refusals. */
	assert_int_equal(tk_tlog_prove_inclusion(b->t, 5, BIG + 1, proof, MAXP,
	    &np, &err), -1);
	assert_int_equal(err.status, TK_ERR_INVALID);
	assert_int_equal(tk_tlog_prove_inclusion(b->t, 500, 500, proof, MAXP,
	    &np, &err), -1);
	assert_int_equal(tk_tlog_prove_consistency(b->t, 0, 500, proof, MAXP,
	    &np, &err), -1);
	assert_int_equal(tk_tlog_prove_consistency(b->t, 501, 500, proof, MAXP,
	    &np, &err), -1);
	assert_int_equal(tk_tlog_prove_consistency(b->t, 500, BIG + 1, proof,
	    MAXP, &np, &err), -1);
	assert_int_equal(tk_tlog_prove_inclusion(b->t, 5, BIG, proof, 2, &np,
	    &err), -1);
	assert_int_equal(err.status, TK_ERR_TOO_LARGE);
	assert_int_equal(tk_tlog_prove_consistency(b->t, BIG, BIG, proof, MAXP,
	    &np, &err), 0);
	assert_int_equal(np, 0);
}

/* Reopening at the committed size gives the same tree, with any cache
 * size; opening at a size the store does not hold is refused. */
static void
test_tlog_reopen(void **state)
{
	struct big *b = *state;
	tk_tile_io io = ms_io(&b->s);
	tk_tlog *t;
	tk_error err;
	size_t k;

	t = tk_tlog_open(&io, BIG, 1, &err);
	if (t == NULL)
		fail_msg("reopen: %s", err.msg);
	assert_int_equal(tk_tlog_size(t), BIG);
	for (k = 0; k < b->nsizes; k += 11)
		check_root(t, b->sizes[k], b->roots + 32 * k);
	big_proofs(b, t, 60);
	tk_tlog_free(t);
	t = tk_tlog_open(&io, BIG, 0, &err);
	if (t == NULL)
		fail_msg("reopen: %s", err.msg);
	for (k = 0; k < b->nsizes; k++)
		check_root(t, b->sizes[k], b->roots + 32 * k);
	big_proofs(b, t, 150);
	tk_tlog_free(t);

	t = tk_tlog_open(&io, 1000, 0, &err); /* tile 0/3 holds 256, not 232 */
	assert_null(t);
	assert_true(strstr(err.msg, "does not match") != NULL);
	t = tk_tlog_open(&io, BIG + 1, 0, &err);
	assert_null(t);
	t = tk_tlog_open(&io, BIG + 256 * 256, 0, &err); /* a missing tile */
	assert_null(t);
	assert_true(strstr(err.msg, "missing") != NULL);
	t = tk_tlog_open(&io, TK_TLOG_MAX_SIZE + 1, 0, &err);
	assert_null(t);
	assert_int_equal(err.status, TK_ERR_INVALID);
	io.get = NULL;
	assert_null(tk_tlog_open(&io, 0, 0, &err));
	assert_null(tk_tlog_open(NULL, 0, 0, &err));
}

/* Tile reads per proof: none with a warm cache, a few when cold. */
static void
test_tlog_reads(void **state)
{
	struct big *b = *state;
	unsigned char proof[MAXP * 32];
	tk_tile_io io = ms_io(&b->s);
	tk_tlog *t;
	tk_error err;
	size_t np;
	uint64_t m, n;
	long g0, cold, max_inc = 0, max_con = 0;
	int k;

	t = tk_tlog_open(&io, BIG, 64, &err);
	if (t == NULL)
		fail_msg("open: %s", err.msg);
	for (k = 0; k < 300; k++) {
		n = k % 2 ? BIG : 1 + rnd_below(BIG);
		m = rnd_below(n);
		tk_tlog_drop_cache(t);
		g0 = b->s.gets;
		assert_int_equal(tk_tlog_prove_inclusion(t, m, n, proof, MAXP,
		    &np, &err), 0);
		cold = b->s.gets - g0;
		if (cold > max_inc)
			max_inc = cold;
		g0 = b->s.gets;
		assert_int_equal(tk_tlog_prove_inclusion(t, m, n, proof, MAXP,
		    &np, &err), 0);
		assert_int_equal(b->s.gets - g0, 0);

		m = 1 + rnd_below(n);
		tk_tlog_drop_cache(t);
		g0 = b->s.gets;
		assert_int_equal(tk_tlog_prove_consistency(t, m, n, proof, MAXP,
		    &np, &err), 0);
		cold = b->s.gets - g0;
		if (cold > max_con)
			max_con = cold;
		g0 = b->s.gets;
		assert_int_equal(tk_tlog_prove_consistency(t, m, n, proof, MAXP,
		    &np, &err), 0);
		assert_int_equal(b->s.gets - g0, 0);
	}
	printf("tile reads per cold proof on %d leaves: inclusion <= %ld,"
	    " consistency <= %ld\n", BIG, max_inc, max_con);
	/* Three tile levels: at most two full tiles per level. */
	assert_true(max_inc <= 4);
	assert_true(max_con <= 6);
	tk_tlog_free(t);
}

/* A failing or misbehaving get while reading full tiles for a proof. */
static void
test_tlog_get_faults(void **state)
{
	struct big *b = *state;
	unsigned char proof[MAXP * 32], h[32];
	tk_tile_io io = ms_io(&b->s);
	tk_tlog *t;
	tk_error err;
	size_t np;
	enum get_fault gf;
	static const char *const want[] = {
		[GF_ERR] = "disk on fire", [GF_QUIET] = "tile store failed",
		[GF_ODD_RC] = "tile store failed", [GF_WIDE] = "at most 256",
		[GF_MISSING] = "missing",
	};

	t = tk_tlog_open(&io, BIG, 4, &err);
	if (t == NULL)
		fail_msg("open: %s", err.msg);
	for (gf = GF_ERR; gf <= GF_MISSING; gf++) {
		tk_tlog_drop_cache(t);
		b->s.get_fault = gf;
		b->s.get_fail_in = 1;
		memset(&err, 0, sizeof(err));
		assert_int_equal(tk_tlog_prove_inclusion(t, 3, BIG, proof, MAXP,
		    &np, &err), -1);
		assert_int_equal(err.status, TK_ERR_INTERNAL);
		if (strstr(err.msg, want[gf]) == NULL)
			fail_msg("fault %d: message \"%s\"", (int)gf, err.msg);
		assert_int_equal(np, 0);
		/* Nothing is broken: the next proof reads again. */
		assert_int_equal(tk_tlog_prove_inclusion(t, 3, BIG, proof, MAXP,
		    &np, &err), 0);
		assert_int_equal(tk_merkle_verify_inclusion(3, BIG,
		    b->leaves + 96, proof, np, b->roots + 32 * (b->nsizes - 1),
		    &err), 0);
		/* Opening reads the right edge: the same faults refuse it. */
		b->s.get_fail_in = 1;
		assert_null(tk_tlog_open(&io, BIG, 0, &err));
		if (strstr(err.msg, want[gf]) == NULL)
			fail_msg("open, fault %d: message \"%s\"", (int)gf,
			    err.msg);
		b->s.get_fail_in = 0;
	}
	/* A root of an older size reading a full tile that fails. */
	tk_tlog_drop_cache(t);
	b->s.get_fault = GF_ERR;
	b->s.get_fail_in = 1;
	assert_int_equal(tk_tlog_root(t, 1000, h, &err), -1);
	b->s.get_fail_in = 0;
	tk_tlog_free(t);
}

/* ---- flush, commit and rollback rules ------------------------------------- */

static void
test_tlog_transactions(void **state)
{
	const uint64_t N = 2000;
	unsigned char *leaves = make_leaves("leaf", N);
	unsigned char *junk = make_leaves("junk", N);
	unsigned char roots[2001][32], proof[MAXP * 32];
	struct mstore s;
	tk_tile_io io;
	tk_tlog *t, *t2;
	tk_error err;
	uint64_t i;
	size_t np;
	long puts0;
	tk_merkle_frontier f;

	(void)state;
	memset(&s, 0, sizeof(s));
	io = ms_io(&s);
	tk_merkle_frontier_init(&f);
	for (i = 0; i <= N; i++) {
		assert_int_equal(tk_merkle_frontier_root(&f, roots[i], &err), 0);
		if (i < N)
			assert_int_equal(tk_merkle_frontier_append(&f,
			    leaves + 32 * i, &err), 0);
	}
	t = tk_tlog_open(&io, 0, 0, &err);
	assert_non_null(t);
	check_root(t, 0, roots[0]);
	/* Nothing to flush in an empty log; committing nothing is fine. */
	commit(t, &s);
	assert_int_equal(s.puts, 0);

	for (i = 0; i < 600; i++)
		append(t, leaves + 32 * i, i);
	commit(t, &s);
	assert_int_equal(tk_tlog_committed_size(t), 600);

	/* Append across a tile boundary, flush, the transaction fails. */
	ms_begin(&s);
	for (i = 600; i < 900; i++)
		append(t, junk + 32 * i, i);
	assert_int_equal(tk_tlog_size(t), 900);
	assert_int_equal(tk_tlog_committed_size(t), 600);
	assert_int_equal(tk_tlog_flush(t, &err), 0);
	ms_end(&s, false);
	assert_int_equal(tk_tlog_rollback(t, &err), 0);
	assert_int_equal(tk_tlog_size(t), 600);
	check_root(t, 600, roots[600]);
	assert_int_equal(tk_tlog_root(t, 601, proof, &err), -1);
	assert_int_equal(tk_tlog_prove_inclusion(t, 599, 600, proof, MAXP, &np,
	    &err), 0);
	assert_int_equal(tk_merkle_verify_inclusion(599, 600,
	    leaves + 32 * 599, proof, np, roots[600], &err), 0);

	/* Rolled back before any flush. */
	for (i = 600; i < 800; i++)
		append(t, junk + 32 * i, i);
	assert_int_equal(tk_tlog_rollback(t, &err), 0);
	check_root(t, 600, roots[600]);

	/* committed() needs a flush covering every append. */
	append(t, leaves + 32 * 600, 600);
	assert_int_equal(tk_tlog_committed(t, &err), -1);
	assert_true(strstr(err.msg, "after the last flush") != NULL);
	ms_begin(&s);
	assert_int_equal(tk_tlog_flush(t, &err), 0);
	append(t, leaves + 32 * 601, 601);
	assert_int_equal(tk_tlog_committed(t, &err), -1);
	assert_int_equal(tk_tlog_flush(t, &err), 0);
	assert_int_equal(tk_tlog_flush(t, &err), 0); /* twice is harmless */
	ms_end(&s, true);
	assert_int_equal(tk_tlog_committed(t, &err), 0);
	assert_int_equal(tk_tlog_committed_size(t), 602);
	check_root(t, 602, roots[602]);

	/* A flush writes only what changed: nothing; one partial tile; at
	 * a 256 boundary the full tile and the level-1 edge, no empty
	 * tile. */
	puts0 = s.puts;
	commit(t, &s);
	assert_int_equal(s.puts, puts0);
	append(t, leaves + 32 * 602, 602);
	commit(t, &s);
	assert_int_equal(s.puts, puts0 + 1);
	for (i = 603; i < 767; i++)
		append(t, leaves + 32 * i, i);
	commit(t, &s);
	assert_int_equal(s.puts, puts0 + 2);
	append(t, leaves + 32 * 767, 767);
	commit(t, &s);
	assert_int_equal(s.puts, puts0 + 4);
	assert_null(*ms_slot(&s, 0, 3, true));
	assert_int_equal((*ms_slot(&s, 1, 0, true))->width, 3);
	check_root(t, 768, roots[768]);

	/* A put fails during the flush: the log refuses work until rolled
	 * back, and the rollback restores the committed tree. */
	for (i = 768; i < 1100; i++)
		append(t, leaves + 32 * i, i);
	ms_begin(&s);
	s.put_fail_in = 2;
	assert_int_equal(tk_tlog_flush(t, &err), -1);
	assert_true(strstr(err.msg, "database is locked") != NULL);
	assert_int_equal(tk_tlog_append(t, leaves, NULL, &err), -1);
	assert_true(strstr(err.msg, "roll back") != NULL);
	assert_int_equal(tk_tlog_root(t, 10, proof, &err), -1);
	assert_int_equal(tk_tlog_committed(t, &err), -1);
	assert_int_equal(tk_tlog_flush(t, &err), -1);
	ms_end(&s, false);
	/* The reload itself fails once: still refused; then succeeds. */
	s.get_fault = GF_ERR;
	s.get_fail_in = 1;
	assert_int_equal(tk_tlog_rollback(t, &err), -1);
	assert_true(strstr(err.msg, "disk on fire") != NULL);
	assert_int_equal(tk_tlog_append(t, leaves, NULL, &err), -1);
	assert_int_equal(tk_tlog_rollback(t, &err), 0);
	assert_int_equal(tk_tlog_size(t), 768);
	check_root(t, 768, roots[768]);

	/* The rest, in one transaction; then a second tk_tlog reopened on
	 * the store agrees for every size. */
	for (i = 768; i < N; i++)
		append(t, leaves + 32 * i, i);
	commit(t, &s);
	t2 = tk_tlog_open(&io, N, 2, &err);
	assert_non_null(t2);
	for (i = 0; i <= N; i++) {
		check_root(t, i, roots[i]);
		if (i % 7 == 0 || i == N)
			check_root(t2, i, roots[i]);
	}
	assert_int_equal(s.full_rewrites + s.shrinks + s.bad_width, 0);
	tk_tlog_free(t2);
	tk_tlog_free(t);
	ms_free(&s);
	free(leaves);
	free(junk);
}

#ifdef TK_TEST_HOOKS
/* Every allocation in tlog.c failing in turn: open returns NULL, append
 * changes nothing (checked at a boundary where two tile levels fill at
 * once, with fresh pending arrays), a tile read for a proof fails. */
static void
test_tlog_alloc_failures(void **state)
{
	const uint64_t N = 65536;
	unsigned char *leaves = make_leaves("leaf", N);
	unsigned char r0[32], r1[32], proof[MAXP * 32];
	struct mstore s;
	tk_tile_io io;
	tk_tlog *t, *t2;
	tk_error err;
	uint64_t i;
	size_t np;
	long k, fails = 0;

	(void)state;
	memset(&s, 0, sizeof(s));
	io = ms_io(&s);
	for (k = 1;; k++) {
		tk_tlog_test_alloc_fail = k;
		t = tk_tlog_open(&io, 0, 0, &err);
		if (t != NULL)
			break;
		assert_true(strstr(err.msg, "out of memory") != NULL);
		fails++;
	}
	tk_tlog_test_alloc_fail = 0;
	assert_int_equal(fails, 10); /* tk_tlog, cache, 8 edge tiles */
	for (i = 0; i < N - 1; i++) {
		append(t, leaves + 32 * i, i);
		if (i % 4096 == 0)
			commit(t, &s);
	}
	commit(t, &s);
	t2 = tk_tlog_open(&io, N - 1, 0, &err);
	assert_non_null(t2);
	assert_int_equal(tk_merkle_root(leaves, N - 1, r0, &err), 0);
	assert_int_equal(tk_merkle_root(leaves, N, r1, &err), 0);
	/* Four allocations (two pending arrays, two tiles); a grown array
	 * is kept, so each retry fails one allocation further on. */
	fails = 0;
	for (k = 1;; k++) {
		tk_tlog_test_alloc_fail = k;
		if (tk_tlog_append(t2, leaves + 32 * (N - 1), &i, &err) == 0)
			break;
		assert_true(strstr(err.msg, "out of memory") != NULL);
		assert_int_equal(tk_tlog_size(t2), N - 1);
		check_root(t2, N - 1, r0);
		fails++;
	}
	tk_tlog_test_alloc_fail = 0;
	assert_int_equal(fails, 3);
	assert_int_equal(i, N - 1);
	check_root(t2, N, r1);
	commit(t2, &s);
	tk_tlog_drop_cache(t2);
	tk_tlog_test_alloc_fail = 1;
	assert_int_equal(tk_tlog_prove_inclusion(t2, 0, N - 1, proof, MAXP, &np,
	    &err), -1);
	assert_true(strstr(err.msg, "out of memory") != NULL);
	tk_tlog_test_alloc_fail = 0;
	assert_int_equal(tk_tlog_prove_inclusion(t2, 0, N - 1, proof, MAXP, &np,
	    &err), 0);
	assert_int_equal(tk_merkle_verify_inclusion(0, N - 1, leaves, proof, np,
	    r0, &err), 0);
	tk_tlog_free(t2);
	tk_tlog_free(t);
	ms_free(&s);
	free(leaves);
}
#endif

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_padding),
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_trees),
		cmocka_unit_test(test_generation_model),
		cmocka_unit_test(test_generation_random),
		cmocka_unit_test(test_merkle_edges),
		cmocka_unit_test(test_tlog_transactions),
#ifdef TK_TEST_HOOKS
		cmocka_unit_test(test_tlog_alloc_failures),
#endif
	};
	/* One 70,000-leaf log shared by these (built once, read only). */
	const struct CMUnitTest big_tests[] = {
		cmocka_unit_test(test_tlog_roots),
		cmocka_unit_test(test_tlog_proofs),
		cmocka_unit_test(test_tlog_reopen),
		cmocka_unit_test(test_tlog_reads),
		cmocka_unit_test(test_tlog_get_faults),
	};
	int failed;

	failed = cmocka_run_group_tests(tests, NULL, model_teardown);
	failed += cmocka_run_group_tests(big_tests, big_setup, big_teardown);
	(void)model_teardown(NULL);
	return failed != 0;
}
