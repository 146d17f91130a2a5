/*
 * test_note.c - unit tests for signed checkpoints (audit/note.c):
 * Ed25519 against the RFC 8032 vectors, the signed-note checkpoint
 * vector signed by an independent implementation, Go sumdb/note's
 * published key and signature, round trips of keys, key strings, notes
 * with several signatures and witness cosignatures, and malformed input
 * of every kind rejected with a message that says what was wrong.
 *
 * Vectors are read from $TK_VECTORS_DIR, else ../shared/vectors relative
 * to the working directory (the repository root, as run-units.sh runs).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "audit/note.h"

#define TS ((tk_time)1679315147) /* the tlog-cosignature spec's example */

/* Go's golang.org/x/mod/sumdb/note documentation and tests publish this
 * key pair and this signed note. */
#define GO_VKEY "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
#define GO_SKEY "PRIVATE+KEY+PeterNeumann+c74f20a3+" \
	"AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
#define GO_TEXT "If you think cryptography is the answer to your problem,\n" \
	"then you don't know what your problem is.\n"
#define GO_SIG "\xE2\x80\x94 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8p" \
	"AcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"

#define EM "\xE2\x80\x94 "
/* The root of the signed-note vector, for hand-made checkpoints. */
#define ROOT "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg="

/* ---- helpers ---- */

static void
vec_path(char *buf, size_t size, const char *rel)
{
	const char *dir = getenv("TK_VECTORS_DIR");
	int n;

	if (dir == NULL || dir[0] == '\0')
		dir = "../shared/vectors";
	n = snprintf(buf, size, "%s/%s", dir, rel);
	assert_true(n > 0 && (size_t)n < size);
}

static char *
slurp(const char *rel, size_t *len)
{
	char path[512];
	FILE *f;
	char *buf;
	long n;

	vec_path(path, sizeof(path), rel);
	f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open vector %s (set TK_VECTORS_DIR?)", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	assert_int_equal(fseek(f, 0, SEEK_SET), 0);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	(void)fclose(f);
	*len = (size_t)n;
	return buf;
}

static json_t *
load_json(const char *rel)
{
	char path[512];
	json_error_t jerr;
	json_t *j;

	vec_path(path, sizeof(path), rel);
	j = json_load_file(path, 0, &jerr);
	if (j == NULL)
		fail_msg("cannot load %s: %s", path, jerr.text);
	return j;
}

static size_t
unhex(const char *s, unsigned char *out, size_t max)
{
	size_t n = strlen(s), i;
	unsigned int b;

	assert_true(n % 2 == 0 && n / 2 <= max);
	for (i = 0; i < n / 2; i++) {
		assert_int_equal(sscanf(s + 2 * i, "%2x", &b), 1);
		out[i] = (unsigned char)b;
	}
	return n / 2;
}

static const char *
jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	assert_non_null(s);
	return s;
}

static void
check_err(int rc, const tk_error *e, enum tk_status st, const char *sub,
    int line)
{
	if (rc != -1 || e->status != st || strstr(e->msg, sub) == NULL)
		fail_msg("line %d: rc %d, status %d, message \"%s\"; wanted "
		    "status %d and a message with \"%s\"", line, rc,
		    (int)e->status, e->msg, (int)st, sub);
}
#define EXPECT_ERR(rc, e, st, sub) check_err((rc), &(e), (st), (sub), __LINE__)

/* Verifies note against one key. */
static int
verify1(const char *note, size_t len, const tk_note_key *k, tk_error *err)
{
	return tk_note_verify(note, len, k, 1, NULL, NULL, err);
}

static void
gen(tk_note_signer *s, const char *name, uint8_t alg)
{
	tk_error err;

	if (tk_note_signer_generate(name, alg, s, &err) != 0)
		fail_msg("generate %s: %s", name, err.msg);
}

/* text signed by s: a malloc'd note. */
static char *
sign1(const char *text, const tk_note_signer *s, size_t *len)
{
	tk_error err;
	char *out;

	if (tk_note_sign(text, strlen(text), s, 1, TS, &out, len, &err) != 0)
		fail_msg("sign: %s", err.msg);
	return out;
}

/* "— name base64(payload)\n" into buf. */
static void
make_line(char *buf, size_t size, const char *name,
    const unsigned char *payload, size_t plen)
{
	unsigned char b64[512];

	assert_true(plen <= 300);
	(void)EVP_EncodeBlock(b64, payload, (int)plen);
	assert_true((size_t)snprintf(buf, size, EM "%s %s\n", name,
	    (char *)b64) < size);
}

/* Decodes the base64 of the last signature line of note into payload. */
static size_t
last_payload(const char *note, unsigned char *payload, size_t max)
{
	const char *end = note + strlen(note) - 1, *p = end, *sp;
	unsigned char buf[512];
	int n;
	size_t len, pad = 0;

	while (p > note && p[-1] != '\n')
		p--;
	sp = memchr(p, ' ', (size_t)(end - p));
	assert_non_null(sp);
	sp = memchr(sp + 1, ' ', (size_t)(end - sp - 1));
	assert_non_null(sp);
	len = (size_t)(end - sp - 1);
	n = EVP_DecodeBlock(buf, (const unsigned char *)sp + 1, (int)len);
	assert_true(n > 0);
	if (sp[len] == '=')
		pad = sp[len - 1] == '=' ? 2 : 1;
	assert_true((size_t)n - pad <= max);
	memcpy(payload, buf, (size_t)n - pad);
	return (size_t)n - pad;
}

/* A note made of pieces, as a malloc'd string. */
static char *
cat(const char *a, const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
	char *s = malloc(la + lb + lc + 1);

	assert_non_null(s);
	memcpy(s, a, la);
	memcpy(s + la, b, lb);
	memcpy(s + la + lb, c, lc + 1);
	return s;
}

/* ---- Ed25519 ---- */

static void
test_ed25519_rfc8032(void **state)
{
	json_t *j = load_json("ed25519/rfc8032.json"), *cases, *c;
	unsigned char seed[32], pub[32], want_pub[32], sig[64], want_sig[64];
	unsigned char msg[256], bad[256];
	size_t i, mlen, bit;
	tk_error err;

	(void)state;
	cases = json_object_get(j, "cases");
	assert_int_equal(json_array_size(cases), 3);
	json_array_foreach(cases, i, c) {
		assert_int_equal(unhex(jstr(c, "secret_key_hex"), seed, 32), 32);
		assert_int_equal(unhex(jstr(c, "public_key_hex"), want_pub, 32),
		    32);
		assert_int_equal(unhex(jstr(c, "signature_hex"), want_sig, 64),
		    64);
		mlen = unhex(jstr(c, "message_hex"), msg, sizeof(msg));

		assert_int_equal(tk_ed25519_public(seed, pub, &err), 0);
		assert_memory_equal(pub, want_pub, 32);
		assert_int_equal(tk_ed25519_sign(seed, mlen ? msg : NULL, mlen,
		    sig, &err), 0);
		assert_memory_equal(sig, want_sig, 64);
		assert_int_equal(tk_ed25519_verify(pub, msg, mlen, sig, &err), 0);

		/* Any flipped bit of the signature is rejected. */
		for (bit = 0; bit < 64 * 8; bit += 7) {
			memcpy(bad, sig, 64);
			bad[bit / 8] ^= (unsigned char)(1u << (bit % 8));
			EXPECT_ERR(tk_ed25519_verify(pub, msg, mlen, bad, &err),
			    err, TK_ERR_INVALID, "does not verify");
		}
		/* So is a flipped bit of the message or the key. */
		if (mlen > 0) {
			memcpy(bad, msg, mlen);
			bad[0] ^= 1;
			EXPECT_ERR(tk_ed25519_verify(pub, bad, mlen, sig, &err),
			    err, TK_ERR_INVALID, "");
		}
		memcpy(bad, msg, mlen);
		bad[mlen] = 0;
		EXPECT_ERR(tk_ed25519_verify(pub, bad, mlen + 1, sig, &err), err,
		    TK_ERR_INVALID, "");
		memcpy(bad, pub, 32);
		bad[5] ^= 0x10;
		EXPECT_ERR(tk_ed25519_verify(bad, msg, mlen, sig, &err), err,
		    TK_ERR_INVALID, "");
	}
	json_decref(j);
}

static void
test_ed25519_keygen(void **state)
{
	unsigned char s1[32], p1[32], s2[32], p2[32], sig[64];
	const char msg[] = "twokey checkpoint";
	tk_error err;

	(void)state;
	assert_int_equal(tk_ed25519_keygen(s1, p1, &err), 0);
	assert_int_equal(tk_ed25519_keygen(s2, p2, &err), 0);
	assert_memory_not_equal(s1, s2, 32);
	assert_memory_not_equal(p1, p2, 32);
	assert_int_equal(tk_ed25519_sign(s1, msg, sizeof(msg), sig, &err), 0);
	assert_int_equal(tk_ed25519_verify(p1, msg, sizeof(msg), sig, &err), 0);
	EXPECT_ERR(tk_ed25519_verify(p2, msg, sizeof(msg), sig, &err), err,
	    TK_ERR_INVALID, "does not verify");
	EXPECT_ERR(tk_ed25519_sign(s1, NULL, 3, sig, &err), err,
	    TK_ERR_INVALID, "no message");
	OPENSSL_cleanse(s1, sizeof(s1));
	OPENSSL_cleanse(s2, sizeof(s2));
}

/* ---- Vectors from other implementations ---- */

static void
test_signed_note_vector(void **state)
{
	json_t *readme = load_json("signed-note/README.json");
	json_t *trees = load_json("rfc6962-merkle/trees.json");
	unsigned char pub[32], id[4], root[32];
	char *note, *bad, hex[9], vkey[TK_NOTE_VKEY_MAX];
	size_t len, blen, text_len;
	tk_note_result res;
	tk_checkpoint cp;
	tk_note_key k;
	tk_error err;

	(void)state;
	assert_int_equal(tk_note_vkey_parse(jstr(readme, "verifier_key"), &k,
	    &err), 0);
	assert_string_equal(k.name, jstr(readme, "key_name"));
	assert_int_equal(k.alg, TK_NOTE_ALG_ED25519);
	tk_hex_encode(k.id, 4, hex);
	assert_string_equal(hex, jstr(readme, "key_id_hex"));
	unhex(jstr(readme, "public_key_hex"), pub, 32);
	assert_memory_equal(k.pub, pub, 32);
	/* The id rule, computed directly. */
	assert_int_equal(tk_note_key_id(k.name, 0x01, pub, id, &err), 0);
	tk_hex_encode(id, 4, hex);
	assert_string_equal(hex, jstr(readme, "key_id_hex"));
	/* And the string round-trips exactly. */
	assert_int_equal(tk_note_vkey_format(&k, vkey, sizeof(vkey), &err), 0);
	assert_string_equal(vkey, jstr(readme, "verifier_key"));

	note = slurp("signed-note/checkpoint-size8.txt", &len);
	if (tk_note_verify(note, len, &k, 1, &res, &text_len, &err) != 0)
		fail_msg("vector does not verify: %s", err.msg);
	assert_true(res.ok);
	assert_int_equal(res.timestamp, -1);
	assert_int_equal(tk_checkpoint_parse(note, text_len, &cp, &err), 0);
	assert_string_equal(cp.origin, jstr(readme, "key_name"));
	assert_int_equal(cp.size, 8);
	unhex(json_string_value(json_array_get(json_object_get(trees,
	    "root_by_tree_size_hex"), 8)), root, 32);
	assert_memory_equal(cp.root, root, 32);
	assert_null(cp.ext);
	assert_int_equal(cp.ext_len, 0);

	bad = slurp("signed-note/checkpoint-size8-tampered.txt", &blen);
	EXPECT_ERR(verify1(bad, blen, &k, &err), err, TK_ERR_INVALID,
	    "does not verify");
	free(bad);
	free(note);
	json_decref(readme);
	json_decref(trees);
}

static void
test_go_vectors(void **state)
{
	tk_note_signer s;
	tk_note_key k;
	tk_error err;
	char buf[TK_NOTE_SKEY_MAX], *note;
	size_t len, text_len;
	tk_note_result res;

	(void)state;
	assert_int_equal(tk_note_vkey_parse(GO_VKEY, &k, &err), 0);
	assert_string_equal(k.name, "PeterNeumann");
	assert_int_equal(tk_note_skey_parse(GO_SKEY, &s, &err), 0);
	assert_memory_equal(s.key.pub, k.pub, 32);
	assert_memory_equal(s.key.id, k.id, 4);
	assert_int_equal(tk_note_skey_format(&s, buf, sizeof(buf), &err), 0);
	assert_string_equal(buf, GO_SKEY);
	OPENSSL_cleanse(buf, sizeof(buf));
	assert_int_equal(tk_note_vkey_format(&s.key, buf, sizeof(buf), &err),
	    0);
	assert_string_equal(buf, GO_VKEY);

	/* Ed25519 is deterministic: the note is byte for byte Go's. */
	note = sign1(GO_TEXT, &s, &len);
	assert_string_equal(note, GO_TEXT "\n" GO_SIG);
	assert_int_equal(tk_note_verify(note, len, &k, 1, &res, &text_len,
	    &err), 0);
	assert_true(res.ok);
	assert_int_equal(text_len, strlen(GO_TEXT));
	free(note);
	tk_note_signer_wipe(&s);
}

/* ---- Keys ---- */

static void
test_key_roundtrip(void **state)
{
	static const uint8_t algs[] = {TK_NOTE_ALG_ED25519, TK_NOTE_ALG_COSIG_V1};
	char vkey[TK_NOTE_VKEY_MAX], skey[TK_NOTE_SKEY_MAX], *b64;
	tk_note_signer s, s2;
	tk_note_key k;
	tk_error err;
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		gen(&s, "log.example/twokey", algs[i]);
		assert_int_equal(tk_note_vkey_format(&s.key, vkey, sizeof(vkey),
		    &err), 0);
		assert_int_equal(tk_note_vkey_parse(vkey, &k, &err), 0);
		assert_memory_equal(&k, &s.key, sizeof(k));
		/* The algorithm byte leads the base64: 0x01 -> 'A', 0x04 -> 'B'. */
		/* (the base64 may hold '+': skip exactly two fields) */
		b64 = strchr(strchr(vkey, '+') + 1, '+') + 1;
		assert_int_equal(b64[0], algs[i] == 1 ? 'A' : 'B');

		assert_int_equal(tk_note_skey_format(&s, skey, sizeof(skey),
		    &err), 0);
		assert_true(strncmp(skey, "PRIVATE+KEY+log.example/twokey+",
		    31) == 0);
		assert_int_equal(tk_note_skey_parse(skey, &s2, &err), 0);
		assert_memory_equal(&s2, &s, sizeof(s));
		OPENSSL_cleanse(skey, sizeof(skey));
		tk_note_signer_wipe(&s2);
		tk_note_signer_wipe(&s);
	}

	/* The same key has different ids as a signer and as a witness. */
	{
		unsigned char seed[32] = {7};
		tk_note_signer a, b;

		assert_int_equal(tk_note_signer_from_seed("w", 1, seed, &a, &err),
		    0);
		assert_int_equal(tk_note_signer_from_seed("w", 4, seed, &b, &err),
		    0);
		assert_memory_equal(a.key.pub, b.key.pub, 32);
		assert_memory_not_equal(a.key.id, b.key.id, 4);
		/* Aliasing: rebuilding a signer from its own fields works. */
		assert_int_equal(tk_note_signer_from_seed(a.key.name, 4, a.seed,
		    &a, &err), 0);
		assert_memory_equal(&a, &b, sizeof(a));
		tk_note_signer_wipe(&a);
		tk_note_signer_wipe(&b);
	}

	/* Too small a buffer: refused, and nothing secret left in it. */
	gen(&s, "x", 1);
	memset(skey, 'Z', sizeof(skey));
	EXPECT_ERR(tk_note_skey_format(&s, skey, 20, &err), err,
	    TK_ERR_TOO_LARGE, "bytes");
	for (i = 0; i < 20; i++)
		assert_int_equal(skey[i], 0);
	EXPECT_ERR(tk_note_vkey_format(&s.key, vkey, 10, &err), err,
	    TK_ERR_TOO_LARGE, "bytes");
	/* A key whose id was changed is not written out. */
	s.key.id[0] ^= 1;
	EXPECT_ERR(tk_note_vkey_format(&s.key, vkey, sizeof(vkey), &err), err,
	    TK_ERR_INVALID, "key id");
	EXPECT_ERR(tk_note_skey_format(&s, skey, sizeof(skey), &err), err,
	    TK_ERR_INVALID, "does not match");
	tk_note_signer_wipe(&s);
}

static void
test_key_names(void **state)
{
	char longname[300];
	tk_note_signer s;
	tk_error err;

	(void)state;
	assert_true(tk_note_name_valid("example.com/log"));
	assert_true(tk_note_name_valid("\xC3\xA9t\xC3\xA9"));
	assert_false(tk_note_name_valid(""));
	assert_false(tk_note_name_valid("a+b"));
	assert_false(tk_note_name_valid("a b"));
	assert_false(tk_note_name_valid("a\tb"));
	assert_false(tk_note_name_valid("a\nb"));
	assert_false(tk_note_name_valid("a\xC2\xA0" "b"));     /* NBSP */
	assert_false(tk_note_name_valid("a\xE3\x80\x80" "b")); /* U+3000 */
	assert_false(tk_note_name_valid("a\xC3"));             /* truncated */
	assert_false(tk_note_name_valid("\xC0\xAF"));          /* overlong */
	assert_false(tk_note_name_valid("\xED\xA0\x80"));      /* surrogate */
	memset(longname, 'a', sizeof(longname));
	longname[255] = '\0';
	assert_true(tk_note_name_valid(longname));
	/* The longest name fits in every buffer: key strings and a
	 * cosignature line (the longest signature line). */
	{
		char vkey[TK_NOTE_VKEY_MAX], skey[TK_NOTE_SKEY_MAX], *note;
		const char *body = "o\n1\n" ROOT "\n";
		size_t len;

		gen(&s, longname, TK_NOTE_ALG_COSIG_V1);
		assert_int_equal(tk_note_vkey_format(&s.key, vkey, sizeof(vkey),
		    &err), 0);
		assert_int_equal(tk_note_skey_format(&s, skey, sizeof(skey),
		    &err), 0);
		OPENSSL_cleanse(skey, sizeof(skey));
		assert_int_equal(tk_note_sign(body, strlen(body), &s, 1, INT64_MAX,
		    &note, &len, &err), 0);
		assert_int_equal(verify1(note, len, &s.key, &err), 0);
		free(note);
		tk_note_signer_wipe(&s);
	}
	longname[255] = 'a';
	longname[256] = '\0';
	assert_false(tk_note_name_valid(longname));

	EXPECT_ERR(tk_note_signer_generate("bad+name", 1, &s, &err), err,
	    TK_ERR_INVALID, "'+'");
	EXPECT_ERR(tk_note_signer_generate("bad name", 1, &s, &err), err,
	    TK_ERR_INVALID, "space");
	EXPECT_ERR(tk_note_signer_generate("", 1, &s, &err), err,
	    TK_ERR_INVALID, "empty");
	EXPECT_ERR(tk_note_signer_generate(longname, 1, &s, &err), err,
	    TK_ERR_INVALID, "256 bytes");
	EXPECT_ERR(tk_note_signer_generate("\xFF", 1, &s, &err), err,
	    TK_ERR_INVALID, "UTF-8");
	EXPECT_ERR(tk_note_signer_generate("ok", 2, &s, &err), err,
	    TK_ERR_INVALID, "algorithm 0x02");
}

/* Every proper substring and every single-byte change of a key string is
 * refused (as Go's note tests do for theirs). */
static void
mangle(const char *key, int (*parse)(const char *, tk_error *))
{
	char b[TK_NOTE_SKEY_MAX];
	size_t n = strlen(key), i, j;
	tk_error err;

	assert_true(n < sizeof(b));
	for (i = 0; i <= n; i++)
		for (j = i + 1; j <= n; j++) {
			if (i == 0 && j == n)
				continue;
			memcpy(b, key + i, j - i);
			b[j - i] = '\0';
			if (parse(b, &err) == 0)
				fail_msg("substring \"%s\" was accepted", b);
		}
	for (i = 0; i < n; i++) {
		memcpy(b, key, n + 1);
		b[i]++;
		if (parse(b, &err) == 0)
			fail_msg("changed key \"%s\" was accepted", b);
	}
}

static int
parse_v(const char *s, tk_error *err)
{
	tk_note_key k;

	return tk_note_vkey_parse(s, &k, err);
}

static int
parse_s(const char *s, tk_error *err)
{
	tk_note_signer k;
	int rc = tk_note_skey_parse(s, &k, err);

	tk_note_signer_wipe(&k);
	return rc;
}

static void
test_key_strings_strict(void **state)
{
	tk_note_key k;
	tk_note_signer s;
	tk_error err;
	char buf[TK_NOTE_VKEY_MAX + 10];
	unsigned char raw[33], b64[64];

	(void)state;
	mangle(GO_VKEY, parse_v);
	mangle(GO_SKEY, parse_s);

	EXPECT_ERR(tk_note_vkey_parse("PeterNeumann+c74f20a3", &k, &err), err,
	    TK_ERR_INVALID, "<name>+<8 hex key id>+<base64 key>");
	EXPECT_ERR(tk_note_vkey_parse("Peter+Neumann+c74f20a3+ARpc2QcUPDhMQegw"
	    "xbzhKqiBfsVkmqq/LDE4izWy10TW", &k, &err), err, TK_ERR_INVALID,
	    "8 hex digits");
	EXPECT_ERR(tk_note_vkey_parse("PeterNeumann+c74f20a+ARpc2QcUPDhMQegwx"
	    "bzhKqiBfsVkmqq/LDE4izWy10TW", &k, &err), err, TK_ERR_INVALID,
	    "8 hex digits");
	EXPECT_ERR(tk_note_vkey_parse("PeterNeumann+00000000+ARpc2QcUPDhMQegw"
	    "xbzhKqiBfsVkmqq/LDE4izWy10TW", &k, &err), err, TK_ERR_INVALID,
	    "key id 00000000 does not match the key (its id is c74f20a3)");
	EXPECT_ERR(tk_note_vkey_parse("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegw"
	    "xbzhKqiBfsVkmqq/LDE4izWy10T", &k, &err), err, TK_ERR_INVALID,
	    "base64");
	EXPECT_ERR(tk_note_vkey_parse("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegw"
	    "xbzhKqiBfsVkmqq/LDE4izWy10TW AAAA", &k, &err), err,
	    TK_ERR_INVALID, "base64");
	EXPECT_ERR(tk_note_vkey_parse(" PeterNeumann+c74f20a3+ARpc2QcUPDhMQegw"
	    "xbzhKqiBfsVkmqq/LDE4izWy10TW", &k, &err), err, TK_ERR_INVALID,
	    "space");
	/* Uppercase hex names the same id. */
	assert_int_equal(tk_note_vkey_parse("PeterNeumann+C74F20A3+ARpc2QcUPDh"
	    "MQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", &k, &err), 0);

	/* Wrong length and unknown algorithm, each with a matching id. */
	memset(raw, 0x11, sizeof(raw));
	raw[0] = 0x01;
	(void)EVP_EncodeBlock(b64, raw, 32);
	(void)snprintf(buf, sizeof(buf), "n+00000000+%s", (char *)b64);
	EXPECT_ERR(tk_note_vkey_parse(buf, &k, &err), err, TK_ERR_INVALID,
	    "decodes to 32 bytes; want 33");
	raw[0] = 0x02;
	(void)EVP_EncodeBlock(b64, raw, 33);
	(void)snprintf(buf, sizeof(buf), "n+00000000+%s", (char *)b64);
	EXPECT_ERR(tk_note_vkey_parse(buf, &k, &err), err, TK_ERR_INVALID,
	    "unknown signature algorithm 0x02");
	memset(buf, 'a', sizeof(buf));
	buf[sizeof(buf) - 1] = '\0';
	EXPECT_ERR(tk_note_vkey_parse(buf, &k, &err), err, TK_ERR_TOO_LARGE,
	    "longer");

	EXPECT_ERR(tk_note_skey_parse("PRIVATE+KEYS+PeterNeumann+c74f20a3+"
	    "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz", &s, &err), err,
	    TK_ERR_INVALID, "PRIVATE+KEY+");
	EXPECT_ERR(tk_note_skey_parse("PRIVATE+KEY+PeterNeumann+c74f20a4+"
	    "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz", &s, &err), err,
	    TK_ERR_INVALID, "does not match");
	EXPECT_ERR(tk_note_skey_parse(GO_VKEY, &s, &err), err,
	    TK_ERR_INVALID, "PRIVATE+KEY+");
	/* A failed parse leaves no key material behind. */
	{
		tk_note_signer zero;

		memset(&zero, 0, sizeof(zero));
		assert_memory_equal(&s, &zero, sizeof(s));
	}
}

/* ---- Checkpoints ---- */

static void
test_checkpoint(void **state)
{
	tk_checkpoint cp, back;
	char buf[512], *t;
	size_t n;
	tk_error err;
	int i;

	(void)state;
	memset(&cp, 0, sizeof(cp));
	(void)tk_strlcpy(cp.origin, "example.com/twokey", sizeof(cp.origin));
	cp.size = 8;
	for (i = 0; i < 32; i++)
		cp.root[i] = (unsigned char)i;
	assert_int_equal(tk_checkpoint_format(&cp, buf, sizeof(buf), &n, &err),
	    0);
	assert_string_equal(buf, "example.com/twokey\n8\n"
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n");
	assert_int_equal(n, strlen(buf));
	assert_int_equal(tk_checkpoint_parse(buf, n, &back, &err), 0);
	assert_string_equal(back.origin, cp.origin);
	assert_int_equal(back.size, 8);
	assert_memory_equal(back.root, cp.root, 32);
	assert_null(back.ext);

	/* Extension lines survive, and point into the parsed body. */
	cp.ext = "ext one\n\xC3\xA9tendu\n";
	cp.ext_len = strlen(cp.ext);
	cp.size = 0;
	assert_int_equal(tk_checkpoint_format(&cp, buf, sizeof(buf), &n, &err),
	    0);
	assert_int_equal(tk_checkpoint_parse(buf, n, &back, &err), 0);
	assert_int_equal(back.size, 0);
	assert_int_equal(back.ext_len, cp.ext_len);
	assert_memory_equal(back.ext, cp.ext, cp.ext_len);
	assert_ptr_equal(back.ext, buf + n - cp.ext_len);

	cp.ext = NULL;
	cp.ext_len = 0;
	cp.size = UINT64_MAX;
	assert_int_equal(tk_checkpoint_format(&cp, buf, sizeof(buf), &n, &err),
	    0);
	assert_non_null(strstr(buf, "\n18446744073709551615\n"));
	assert_int_equal(tk_checkpoint_parse(buf, n, &back, &err), 0);
	assert_true(back.size == UINT64_MAX);

	/* Formatting refuses what a checkpoint may not hold. */
	EXPECT_ERR(tk_checkpoint_format(&cp, buf, 30, &n, &err), err,
	    TK_ERR_TOO_LARGE, "bytes");
	(void)tk_strlcpy(cp.origin, "bad origin", sizeof(cp.origin));
	EXPECT_ERR(tk_checkpoint_format(&cp, buf, sizeof(buf), &n, &err), err,
	    TK_ERR_INVALID, "space");
	(void)tk_strlcpy(cp.origin, "o", sizeof(cp.origin));
	cp.ext = "a\n\nb\n";
	cp.ext_len = 5;
	EXPECT_ERR(tk_checkpoint_format(&cp, buf, sizeof(buf), &n, &err), err,
	    TK_ERR_INVALID, "empty extension line");
	cp.ext = "a";
	cp.ext_len = 1;
	EXPECT_ERR(tk_checkpoint_format(&cp, buf, sizeof(buf), &n, &err), err,
	    TK_ERR_INVALID, "newline");

#define BAD_CP(text, sub) do { \
	t = (text); \
	EXPECT_ERR(tk_checkpoint_parse(t, strlen(t), &back, &err), err, \
	    TK_ERR_INVALID, sub); \
} while (0)
	BAD_CP("o\n08\n" ROOT "\n", "leading zero");
	BAD_CP("o\n00\n" ROOT "\n", "leading zero");
	BAD_CP("o\n+8\n" ROOT "\n", "decimal digits only");
	BAD_CP("o\n-8\n" ROOT "\n", "decimal digits only");
	BAD_CP("o\n 8\n" ROOT "\n", "decimal digits only");
	BAD_CP("o\n8 \n" ROOT "\n", "decimal digits only");
	BAD_CP("o\n0x8\n" ROOT "\n", "decimal digits only");
	BAD_CP("o\n\n" ROOT "\n", "tree size is empty");
	BAD_CP("o\n18446744073709551616\n" ROOT "\n", "64 bits");
	BAD_CP("o\n99999999999999999999\n" ROOT "\n", "64 bits");
	BAD_CP("\n8\n" ROOT "\n", "origin is empty");
	BAD_CP("o\n8\n" ROOT, "newline");
	BAD_CP("o\n8\n", "needs an origin, a tree size and a root hash");
	BAD_CP("", "newline");
	BAD_CP("o\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg\n", "44");
	BAD_CP("o\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyh=\n",
	    "canonical");
	BAD_CP("o\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz-Nw7_RgQyg=\n",
	    "base64");
	BAD_CP("o\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=AAAA\n",
	    "44");
	BAD_CP("o\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQ===\n", "base64");
	BAD_CP("o\n8\n" ROOT "\n\next\n", "empty extension line");
	BAD_CP("o\n8\n" ROOT "\n\n", "empty extension line");
	BAD_CP("o\r\n8\n" ROOT "\n", "control character 0x0d");
	BAD_CP("o\xFF\n8\n" ROOT "\n", "UTF-8");
	/* A NUL inside is caught because lengths are explicit. */
	EXPECT_ERR(tk_checkpoint_parse("o\0\n8\n" ROOT "\n",
	    sizeof("o\0\n8\n" ROOT "\n") - 1, &back, &err), err,
	    TK_ERR_INVALID, "control character 0x00");
}

/* ---- Signed notes ---- */

static void
test_note_two_signatures(void **state)
{
	const char *text = "twokey audit\nsize 3\n";
	tk_note_signer sg[3];
	tk_note_key keys[3];
	tk_note_result res[3];
	char *note, *more, *bad, prefix[128];
	size_t len, mlen, tlen;
	tk_error err;

	(void)state;
	gen(&sg[0], "a.example/log", 1);
	gen(&sg[1], "b.example/log", 1);
	gen(&sg[2], "c.example/log", 1);
	keys[0] = sg[0].key;
	keys[1] = sg[1].key;
	keys[2] = sg[2].key;

	assert_int_equal(tk_note_sign(text, strlen(text), sg, 2, 0, &note, &len,
	    &err), 0);
	assert_int_equal(strlen(note), len);
	/* text, blank line, then one line per signer, in order. */
	(void)snprintf(prefix, sizeof(prefix), "%s\n" EM "a.example/log ", text);
	assert_true(strncmp(note, prefix, strlen(prefix)) == 0);
	assert_non_null(strstr(note, "=\n" EM "b.example/log "));
	assert_int_equal(note[len - 1], '\n');

	/* Each key alone, and both together. */
	assert_int_equal(tk_note_verify(note, len, &keys[0], 1, res, &tlen,
	    &err), 0);
	assert_int_equal(tlen, strlen(text));
	assert_int_equal(verify1(note, len, &keys[1], &err), 0);
	assert_int_equal(tk_note_verify(note, len, keys, 3, res, NULL, &err), 0);
	assert_true(res[0].ok && res[1].ok && !res[2].ok);
	/* Only unknown keys: nothing vouches for the text. */
	EXPECT_ERR(verify1(note, len, &keys[2], &err), err, TK_ERR_INVALID,
	    "no signature by a known key");

	/* A third signature added later. */
	assert_int_equal(tk_note_add_signature(note, len, &sg[2], 0, &more,
	    &mlen, &err), 0);
	assert_int_equal(mlen, len + strlen(more + len));
	assert_memory_equal(more, note, len);
	assert_int_equal(tk_note_verify(more, mlen, keys, 3, res, &tlen, &err),
	    0);
	assert_true(res[0].ok && res[1].ok && res[2].ok);
	assert_int_equal(tlen, strlen(text));
	EXPECT_ERR(tk_note_add_signature(more, mlen, &sg[0], 0, &bad, &tlen,
	    &err), err, TK_ERR_INVALID, "already carries a signature by "
	    "a.example/log+");
	assert_null(bad);
	free(more);

	/* Changed text: every known signature fails. */
	bad = strdup(note);
	assert_non_null(bad);
	bad[0] = 'T';
	EXPECT_ERR(verify1(bad, strlen(bad), &keys[0], &err), err,
	    TK_ERR_INVALID, "signature by known key a.example/log+");
	free(bad);

	/* A known key whose signature fails rejects the note even though
	 * another known key's signature is good; a verifier that does not
	 * know that key ignores the line. */
	bad = strdup(note);
	assert_non_null(bad);
	{
		char *b = strstr(bad, EM "b.example/log ");

		assert_non_null(b);
		b += strlen(EM "b.example/log ") + 30;
		*b = *b == 'A' ? 'B' : 'A';
	}
	EXPECT_ERR(tk_note_verify(bad, len, keys, 2, res, NULL, &err), err,
	    TK_ERR_INVALID, "signature by known key b.example/log+");
	assert_int_equal(verify1(bad, len, &keys[0], &err), 0);
	free(bad);

	free(note);
	tk_note_signer_wipe(&sg[0]);
	tk_note_signer_wipe(&sg[1]);
	tk_note_signer_wipe(&sg[2]);
}

static void
test_note_text_forms(void **state)
{
	/* Blank lines inside the text are fine: the last one separates. */
	static const char *texts[] = {"a\n\nb\n", "Note\n\n", "\n", "x\n\n\n",
	    "\xE2\x80\x94 looks like a signature\n"};
	tk_note_signer s;
	char *note;
	size_t len, tlen, i;
	tk_error err;

	(void)state;
	gen(&s, "k", 1);
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		note = sign1(texts[i], &s, &len);
		if (tk_note_verify(note, len, &s.key, 1, NULL, &tlen, &err) != 0)
			fail_msg("text %zu: %s", i, err.msg);
		assert_int_equal(tlen, strlen(texts[i]));
		assert_memory_equal(note, texts[i], tlen);
		free(note);
	}

	/* What cannot be signed. */
	EXPECT_ERR(tk_note_sign("", 0, &s, 1, 0, &note, &len, &err), err,
	    TK_ERR_INVALID, "empty");
	assert_null(note);
	EXPECT_ERR(tk_note_sign("abc", 3, &s, 1, 0, &note, &len, &err), err,
	    TK_ERR_INVALID, "end with a newline");
	EXPECT_ERR(tk_note_sign("a\0b\n", 4, &s, 1, 0, &note, &len, &err), err,
	    TK_ERR_INVALID, "control character 0x00");
	EXPECT_ERR(tk_note_sign("a\tb\n", 4, &s, 1, 0, &note, &len, &err), err,
	    TK_ERR_INVALID, "control character 0x09");
	EXPECT_ERR(tk_note_sign("a\r\n", 3, &s, 1, 0, &note, &len, &err), err,
	    TK_ERR_INVALID, "control character 0x0d");
	EXPECT_ERR(tk_note_sign("\xC3\x28\n", 3, &s, 1, 0, &note, &len, &err),
	    err, TK_ERR_INVALID, "UTF-8");
	EXPECT_ERR(tk_note_sign("ok\n", 3, &s, 0, 0, &note, &len, &err), err,
	    TK_ERR_INVALID, "1 to 100 signers");
	{
		tk_note_signer two[2];

		two[0] = s;
		two[1] = s;
		EXPECT_ERR(tk_note_sign("ok\n", 3, two, 2, 0, &note, &len, &err),
		    err, TK_ERR_INVALID, "signers 1 and 2 are the same key k+");
		tk_note_signer_wipe(&two[0]);
		tk_note_signer_wipe(&two[1]);
	}
	tk_note_signer_wipe(&s);
}

/* ---- Cosignatures ---- */

static void
test_cosignature(void **state)
{
	tk_note_signer log, wit, wit1;
	tk_note_key keys[2], k;
	tk_note_result res[2];
	tk_checkpoint cp;
	char body[TK_CHECKPOINT_BASE_MAX], vkey[TK_NOTE_VKEY_MAX], line[256];
	char *note, *cos, *bad, *msg;
	unsigned char payload[128], sig[64];
	size_t blen, len, clen, plen;
	uint64_t ts;
	tk_error err;
	int i;

	(void)state;
	gen(&log, "example.com/twokey", TK_NOTE_ALG_ED25519);
	gen(&wit, "witness.example/w1", TK_NOTE_ALG_COSIG_V1);
	keys[0] = log.key;
	keys[1] = wit.key;

	memset(&cp, 0, sizeof(cp));
	(void)tk_strlcpy(cp.origin, "example.com/twokey", sizeof(cp.origin));
	cp.size = 20852163;
	for (i = 0; i < 32; i++)
		cp.root[i] = (unsigned char)(0xA0 ^ i);
	assert_int_equal(tk_checkpoint_format(&cp, body, sizeof(body), &blen,
	    &err), 0);

	/* The log signs, then a witness cosigns at TS. */
	note = sign1(body, &log, &len);
	assert_int_equal(tk_note_add_signature(note, len, &wit, TS, &cos, &clen,
	    &err), 0);
	assert_int_equal(tk_note_verify(cos, clen, keys, 2, res, NULL, &err),
	    0);
	assert_true(res[0].ok && res[1].ok);
	assert_int_equal(res[0].timestamp, -1);
	assert_int_equal(res[1].timestamp, TS);

	/* The witness's verifier key carries 0x04 and round-trips. */
	assert_int_equal(tk_note_vkey_format(&wit.key, vkey, sizeof(vkey), &err),
	    0);
	assert_non_null(strstr(vkey, "witness.example/w1+"));
	assert_int_equal(vkey[strlen("witness.example/w1+00000000+")], 'B');
	assert_int_equal(tk_note_vkey_parse(vkey, &k, &err), 0);
	assert_int_equal(k.alg, TK_NOTE_ALG_COSIG_V1);
	assert_int_equal(verify1(cos, clen, &k, &err), 0);

	/* Independently of the module: the line is id || big-endian time ||
	 * Ed25519 over "cosignature/v1\ntime <ts>\n" || body. */
	plen = last_payload(cos, payload, sizeof(payload));
	assert_int_equal(plen, 4 + 8 + 64);
	assert_memory_equal(payload, wit.key.id, 4);
	for (ts = 0, i = 0; i < 8; i++)
		ts = ts << 8 | payload[4 + i];
	assert_true(ts == (uint64_t)TS);
	msg = cat("cosignature/v1\ntime 1679315147\n", body, "");
	assert_int_equal(tk_ed25519_verify(wit.key.pub, msg, strlen(msg),
	    payload + 12, &err), 0);
	free(msg);
	assert_int_equal(tk_cosig_verify(wit.key.pub, body, blen, TS,
	    payload + 12, &err), 0);
	EXPECT_ERR(tk_cosig_verify(wit.key.pub, body, blen, TS + 1,
	    payload + 12, &err), err, TK_ERR_INVALID, "does not verify");
	assert_int_equal(tk_cosig_sign(wit.seed, body, blen, TS, sig, &err), 0);
	assert_memory_equal(sig, payload + 12, 64);

	/* A moved timestamp breaks the cosignature. */
	payload[4 + 7] ^= 1;
	make_line(line, sizeof(line), "witness.example/w1", payload, plen);
	bad = cat(note, line, "");
	EXPECT_ERR(tk_note_verify(bad, strlen(bad), keys, 2, res, NULL, &err),
	    err, TK_ERR_INVALID, "cosignature by known key witness.example/w1+");
	free(bad);
	/* A timestamp above 2^63-1 is malformed. */
	payload[4] = 0x80;
	make_line(line, sizeof(line), "witness.example/w1", payload, plen);
	bad = cat(note, line, "");
	EXPECT_ERR(tk_note_verify(bad, strlen(bad), keys, 2, res, NULL, &err),
	    err, TK_ERR_INVALID, "2^63-1");
	free(bad);
	/* A cosignature the length of a plain signature is refused. */
	make_line(line, sizeof(line), "witness.example/w1", payload, 68);
	bad = cat(note, line, "");
	EXPECT_ERR(tk_note_verify(bad, strlen(bad), keys, 2, res, NULL, &err),
	    err, TK_ERR_INVALID, "is 68 bytes; a key id, timestamp and");
	free(bad);

	/* The same key as a plain Ed25519 key has another id: the
	 * cosignature is not its, so the note has nothing it trusts. */
	assert_int_equal(tk_note_signer_from_seed("witness.example/w1", 1,
	    wit.seed, &wit1, &err), 0);
	EXPECT_ERR(verify1(cos, clen, &wit1.key, &err), err, TK_ERR_INVALID,
	    "no signature by a known key");
	tk_note_signer_wipe(&wit1);

	/* Log and witness in one call. */
	{
		tk_note_signer both[2];
		char *n2;
		size_t l2;

		both[0] = log;
		both[1] = wit;
		assert_int_equal(tk_note_sign(body, blen, both, 2, TS + 60, &n2,
		    &l2, &err), 0);
		assert_int_equal(tk_note_verify(n2, l2, keys, 2, res, NULL,
		    &err), 0);
		assert_int_equal(res[1].timestamp, TS + 60);
		free(n2);
		tk_note_signer_wipe(&both[0]);
		tk_note_signer_wipe(&both[1]);
	}

	/* Cosignatures are for checkpoints only, at times >= 0. */
	EXPECT_ERR(tk_note_sign("hello\n", 6, &wit, 1, TS, &bad, &len, &err),
	    err, TK_ERR_INVALID, "not one");
	EXPECT_ERR(tk_cosig_sign(wit.seed, body, blen, -1, sig, &err), err,
	    TK_ERR_INVALID, "before 1970");
	EXPECT_ERR(tk_note_add_signature(cos, clen, &wit, TS, &bad, &len, &err),
	    err, TK_ERR_INVALID, "already carries");

	free(cos);
	free(note);
	tk_note_signer_wipe(&log);
	tk_note_signer_wipe(&wit);
}

/* ---- Malformed notes ---- */

static void
test_note_malformed(void **state)
{
	tk_note_signer s;
	tk_note_key keys[2];
	unsigned char payload[80];
	char *note, *bad, *text, *sigs, line[256];
	size_t len, i, tlen;
	tk_error err;

	(void)state;
	gen(&s, "example.com/log", 1);
	note = sign1("o\n1\n" ROOT "\n", &s, &len);
	tlen = strlen("o\n1\n" ROOT "\n");
	text = strndup(note, tlen);
	sigs = strdup(note + tlen + 1); /* the signature line */
	assert_non_null(text);
	assert_non_null(sigs);

#define BAD_NOTE(n, sub) do { \
	bad = (n); \
	EXPECT_ERR(verify1(bad, strlen(bad), &s.key, &err), err, \
	    TK_ERR_INVALID, sub); \
	free(bad); \
} while (0)
	BAD_NOTE(cat(text, "", sigs), "no blank line");
	BAD_NOTE(cat(text, "\n", ""), "no signature lines");
	BAD_NOTE(cat(text, "\n", "-- example.com/log AAAA\n"), "em dash");
	BAD_NOTE(cat(text, "\n", sigs + 4), "em dash"); /* no dash */
	BAD_NOTE(cat(text, "\n", "\xE2\x80\x93 example.com/log AAAA\n"),
	    "em dash"); /* en dash */
	BAD_NOTE(cat(text, "\n", "\xE2\x80\x94" "example.com/log AAAA\n"),
	    "em dash"); /* no space after it */
	BAD_NOTE(cat(text, "\n", EM "example.com/log\n"), "no space");
	BAD_NOTE(cat(text, "\n", EM " AAAAAAAA\n"), "is empty");
	BAD_NOTE(cat(text, "\n", EM "example.com+log AAAAAAAA\n"), "'+'");
	BAD_NOTE(cat(text, "\n", EM "example.com/log \n"), "base64");
	BAD_NOTE(cat(text, "\n", EM "example.com/log AAAA!AAA\n"), "base64");
	BAD_NOTE(cat(text, "\n", EM "example.com/log AAAAAA\n"), "base64");
	BAD_NOTE(cat(text, "\n", EM "example.com/log AAAAAAA=AAAA\n"),
	    "base64");
	BAD_NOTE(cat(text, "\n", EM "example.com/log AAAAAAA= \n"), "base64");
	BAD_NOTE(cat(text, "\n", EM "example.com/log AAAAAAB=\n"), "base64");
	BAD_NOTE(cat(text, "\n", EM "example.com/log AAAAAA==\n"), "too short");
	/* A signature line cut short: the note loses its final newline. */
	{
		char *cut = strdup(note);

		assert_non_null(cut);
		cut[len - 1] = '\0';
		BAD_NOTE(cut, "does not end with a newline");
	}
	{
		char *cut = strdup(note);

		assert_non_null(cut);
		cut[len - 10] = '\n';
		cut[len - 9] = '\0';
		BAD_NOTE(cut, "base64");
	}
	/* A truncated signature from the known key, validly encoded. */
	i = last_payload(note, payload, sizeof(payload));
	assert_int_equal(i, 68);
	make_line(line, sizeof(line), "example.com/log", payload, 67);
	BAD_NOTE(cat(text, "\n", line), "is 67 bytes; a key id and Ed25519 "
	    "signature is 68");
	/* Two lines from the same known key. */
	BAD_NOTE(cat(note, sigs, ""), "more than one signature by "
	    "example.com/log+");
	/* Whole-note rules. */
	BAD_NOTE(cat("o\r\n1\n" ROOT "\n\n", sigs, ""), "control character");
	BAD_NOTE(cat("o\xC0\x80\n1\n" ROOT "\n\n", sigs, ""), "UTF-8");
	EXPECT_ERR(verify1("a\n\0\n" EM "x AAAAAAA=\n",
	    sizeof("a\n\0\n" EM "x AAAAAAA=\n") - 1, &s.key, &err), err,
	    TK_ERR_INVALID, "control character 0x00");

	/* The key set itself must make sense. */
	keys[0] = s.key;
	keys[1] = s.key;
	EXPECT_ERR(tk_note_verify(note, len, keys, 2, NULL, NULL, &err), err,
	    TK_ERR_INVALID, "same name and key id");
	EXPECT_ERR(tk_note_verify(note, len, keys, 0, NULL, NULL, &err), err,
	    TK_ERR_INVALID, "1 to 100 keys");
	keys[1].pub[0] ^= 1;
	EXPECT_ERR(tk_note_verify(note, len, &keys[1], 1, NULL, NULL, &err),
	    err, TK_ERR_INVALID, "does not match its public key");

	free(text);
	free(sigs);
	free(note);
	tk_note_signer_wipe(&s);
}

/* 100 signature lines are accepted; 101 are too many. */
static void
test_note_limits(void **state)
{
	tk_note_signer s;
	unsigned char payload[68];
	char *note, *buf, line[256];
	size_t len, i, off, cap;
	tk_error err;

	(void)state;
	gen(&s, "log", 1);
	note = sign1("text\n", &s, &len);
	memset(payload, 0x5A, sizeof(payload));
	cap = len + 101 * sizeof(line);
	buf = malloc(cap);
	assert_non_null(buf);
	memcpy(buf, note, len);
	off = len;
	for (i = 0; i < 99; i++) {
		char name[32];

		(void)snprintf(name, sizeof(name), "other%zu", i);
		make_line(line, sizeof(line), name, payload, sizeof(payload));
		memcpy(buf + off, line, strlen(line));
		off += strlen(line);
	}
	buf[off] = '\0';
	if (verify1(buf, off, &s.key, &err) != 0)
		fail_msg("100 signatures: %s", err.msg);
	make_line(line, sizeof(line), "one-too-many", payload, sizeof(payload));
	memcpy(buf + off, line, strlen(line) + 1);
	off += strlen(line);
	EXPECT_ERR(verify1(buf, off, &s.key, &err), err, TK_ERR_INVALID,
	    "more than 100 signature lines");
	/* Adding to a full note is refused too. */
	buf[off - strlen(line)] = '\0';
	{
		tk_note_signer t;
		char *out;
		size_t olen;

		EXPECT_ERR(tk_note_add_signature(buf, off - strlen(line), &s, 0,
		    &out, &olen, &err), err, TK_ERR_INVALID, "already carries");
		assert_null(out);
		gen(&t, "fresh", 1);
		EXPECT_ERR(tk_note_add_signature(buf, off - strlen(line), &t, 0,
		    &out, &olen, &err), err, TK_ERR_INVALID, "100 signatures");
		tk_note_signer_wipe(&t);
	}
	free(buf);
	free(note);

	/* Oversized notes are refused before any parsing. */
	buf = malloc(TK_NOTE_MAX_LEN + 2);
	assert_non_null(buf);
	memset(buf, 'a', TK_NOTE_MAX_LEN + 1);
	buf[TK_NOTE_MAX_LEN] = '\n';
	EXPECT_ERR(verify1(buf, TK_NOTE_MAX_LEN + 1, &s.key, &err), err,
	    TK_ERR_TOO_LARGE, "at most");
	EXPECT_ERR(tk_note_sign(buf, TK_NOTE_MAX_LEN + 1, &s, 1, 0, &note, &len,
	    &err), err, TK_ERR_TOO_LARGE, "at most");
	free(buf);
	tk_note_signer_wipe(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ed25519_rfc8032),
		cmocka_unit_test(test_ed25519_keygen),
		cmocka_unit_test(test_signed_note_vector),
		cmocka_unit_test(test_go_vectors),
		cmocka_unit_test(test_key_roundtrip),
		cmocka_unit_test(test_key_names),
		cmocka_unit_test(test_key_strings_strict),
		cmocka_unit_test(test_checkpoint),
		cmocka_unit_test(test_note_two_signatures),
		cmocka_unit_test(test_note_text_forms),
		cmocka_unit_test(test_cosignature),
		cmocka_unit_test(test_note_malformed),
		cmocka_unit_test(test_note_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
