/*
 * test_seal.c - unit tests for sealed seeds (verify/seal.c): the key
 * file (created 0600 whatever the umask, never overwritten, refused when
 * group/other may read it, truncated, padded, mis-prefixed, a symlink or
 * a directory), seal/unseal round trips, the documented format opened
 * with plain OpenSSL calls, and every way a blob can fail to open (wrong
 * aad, wrong key, any byte flipped, truncated, other version) with the
 * output buffer left wiped.
 *
 * Key files live in a fresh directory under $TMPDIR (default /tmp),
 * removed at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "core/b64.h"
#include "verify/seal.h"

#define SEED "12345678901234567890"
#define AAD "factor:alice"

static char dir[256];

static int
setup(void **state)
{
	const char *t = getenv("TMPDIR");

	(void)state;
	if (t == NULL || t[0] == '\0')
		t = "/tmp";
	if (snprintf(dir, sizeof(dir), "%s/test_seal.XXXXXX", t) >=
	    (int)sizeof(dir))
		return -1;
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static void
rm_rf(const char *d)
{
	char cmd[600];

	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	if (system(cmd) != 0)
		fprintf(stderr, "test_seal: could not remove %s\n", d);
}

static int
teardown(void **state)
{
	(void)state;
	rm_rf(dir);
	return 0;
}

static void
path_of(char *buf, size_t size, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);

	assert_true(n > 0 && (size_t)n < size);
}

static void
write_file(const char *path, const char *data, size_t n, mode_t mode)
{
	FILE *f;

	(void)unlink(path);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static size_t
read_file(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, size, f);
	assert_int_equal(fclose(f), 0);
	return n;
}

#define EXPECT_FAIL(call, err, needle) do { \
	memset(&(err), 0, sizeof(err)); \
	assert_int_equal((call), -1); \
	if (strstr((err).msg, (needle)) == NULL) \
		fail_msg("message \"%s\" lacks \"%s\"", (err).msg, (needle)); \
} while (0)

/* ---- key file ---- */

static void
test_key_create_load(void **state)
{
	char path[512], path2[512], before[128], after[128];
	unsigned char k1[TK_SEAL_KEY_LEN], k2[TK_SEAL_KEY_LEN], raw[64];
	struct stat st;
	tk_error err;
	size_t n, rawlen;
	mode_t old;

	(void)state;
	path_of(path, sizeof(path), "seal.key");
	assert_int_equal(tk_seal_key_create(path, &err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 60);
	/* the documented format */
	n = read_file(path, before, sizeof(before));
	assert_int_equal(n, 60);
	assert_memory_equal(before, "twokey-seal-v1 ", 15);
	assert_int_equal(before[59], '\n');
	assert_int_equal(tk_b64_decode(before + 15, 44, raw, sizeof(raw),
	    &rawlen), 0);
	assert_int_equal(rawlen, 32);
	assert_int_equal(tk_seal_key_load(path, k1, &err), 0);
	assert_memory_equal(k1, raw, 32);

	/* never overwritten */
	EXPECT_FAIL(tk_seal_key_create(path, &err), err, "already exists");
	assert_int_equal(read_file(path, after, sizeof(after)), 60);
	assert_memory_equal(before, after, 60);

	/* a second key differs; a lax umask still gives 0600 */
	path_of(path2, sizeof(path2), "seal2.key");
	old = umask(0);
	assert_int_equal(tk_seal_key_create(path2, &err), 0);
	(void)umask(old);
	assert_int_equal(stat(path2, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(tk_seal_key_load(path2, k2, &err), 0);
	assert_memory_not_equal(k1, k2, 32);

	/* a file name in the working directory (directory sync of ".") */
	EXPECT_FAIL(tk_seal_key_create("", &err), err, "no file name");
	EXPECT_FAIL(tk_seal_key_create(NULL, &err), err, "no file name");
	path_of(path2, sizeof(path2), "no/such/dir/seal.key");
	EXPECT_FAIL(tk_seal_key_create(path2, &err), err, "cannot create");
}

static void
test_key_modes(void **state)
{
	static const mode_t bad[] = { 0644, 0640, 0604, 0620, 0602, 0660 };
	unsigned char k1[TK_SEAL_KEY_LEN], k2[TK_SEAL_KEY_LEN];
	char path[512];
	tk_error err;
	size_t i;

	(void)state;
	path_of(path, sizeof(path), "mode.key");
	assert_int_equal(tk_seal_key_create(path, &err), 0);
	assert_int_equal(tk_seal_key_load(path, k1, &err), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(chmod(path, bad[i]), 0);
		memset(k2, 0xaa, sizeof(k2));
		EXPECT_FAIL(tk_seal_key_load(path, k2, &err), err,
		    "chmod 600");
		/* nothing of the key is handed back */
		for (size_t j = 0; j < sizeof(k2); j++)
			assert_int_equal(k2[j], 0);
	}
	/* owner-only modes are fine */
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(tk_seal_key_load(path, k2, &err), 0);
	assert_memory_equal(k1, k2, 32);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(tk_seal_key_load(path, k2, &err), 0);
	assert_memory_equal(k1, k2, 32);
}

static void
test_key_malformed(void **state)
{
	char path[512], good[128], buf[128], link[512];
	unsigned char k[TK_SEAL_KEY_LEN];
	tk_error err;
	size_t n;

	(void)state;
	path_of(path, sizeof(path), "bad.key");
	assert_int_equal(tk_seal_key_create(path, &err), 0);
	n = read_file(path, good, sizeof(good));
	assert_int_equal(n, 60);

	/* truncated: each shorter length, the empty file included */
	for (n = 0; n < 60; n++) {
		write_file(path, good, n, 0600);
		EXPECT_FAIL(tk_seal_key_load(path, k, &err), err,
		    "not a twokey seal key");
	}
	/* one byte more, CRLF, two lines */
	memcpy(buf, good, 60);
	buf[60] = '\n';
	write_file(path, buf, 61, 0600);
	EXPECT_FAIL(tk_seal_key_load(path, k, &err), err, "found 61");
	memcpy(buf, good, 59);
	memcpy(buf + 59, "\r\n", 2);
	write_file(path, buf, 61, 0600);
	EXPECT_FAIL(tk_seal_key_load(path, k, &err), err, "seal key");
	/* another prefix */
	memcpy(buf, good, 60);
	buf[13] = '2';
	write_file(path, buf, 60, 0600);
	EXPECT_FAIL(tk_seal_key_load(path, k, &err), err, "twokey-seal-v1");
	/* not base64, or not canonical (last character's unused bits) */
	memcpy(buf, good, 60);
	buf[20] = '*';
	write_file(path, buf, 60, 0600);
	EXPECT_FAIL(tk_seal_key_load(path, k, &err), err, "base64");
	memcpy(buf, good, 60);
	buf[57] = buf[57] == 'B' ? 'C' : 'B'; /* unused low bits set */
	write_file(path, buf, 60, 0600);
	EXPECT_FAIL(tk_seal_key_load(path, k, &err), err, "base64");
	/* the original again: fine */
	write_file(path, good, 60, 0600);
	assert_int_equal(tk_seal_key_load(path, k, &err), 0);

	/* a symlink to a good key is refused */
	path_of(link, sizeof(link), "link.key");
	assert_int_equal(symlink(path, link), 0);
	EXPECT_FAIL(tk_seal_key_load(link, k, &err), err, "symbolic link");
	/* a directory, a missing file */
	EXPECT_FAIL(tk_seal_key_load(dir, k, &err), err, "regular file");
	path_of(path, sizeof(path), "missing.key");
	EXPECT_FAIL(tk_seal_key_load(path, k, &err), err, "twokey init");
	EXPECT_FAIL(tk_seal_key_load(NULL, k, &err), err, "no file name");
}

/* ---- seal / unseal ---- */

static void
fixed_key(unsigned char key[TK_SEAL_KEY_LEN], unsigned char v)
{
	for (int i = 0; i < TK_SEAL_KEY_LEN; i++)
		key[i] = (unsigned char)(v + i);
}

static void
assert_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			fail_msg("byte %zu of the output is %02x, not wiped", i,
			    p[i]);
}

static void
test_roundtrip(void **state)
{
	unsigned char key[TK_SEAL_KEY_LEN], blob[128], blob2[128], out[64];
	size_t blen, blen2, olen;
	tk_error err;

	(void)state;
	fixed_key(key, 1);
	assert_int_equal(tk_seal(key, AAD, (const unsigned char *)SEED, 20,
	    blob, sizeof(blob), &blen, &err), 0);
	assert_int_equal(blen, 20 + TK_SEAL_OVERHEAD);
	assert_int_equal(blob[0], 0x01);
	/* the ciphertext is not the seed */
	assert_memory_not_equal(blob + 13, SEED, 20);
	assert_int_equal(tk_unseal(key, AAD, blob, blen, out, sizeof(out),
	    &olen, &err), 0);
	assert_int_equal(olen, 20);
	assert_memory_equal(out, SEED, 20);
	/* a random nonce: sealing again gives another blob */
	assert_int_equal(tk_seal(key, AAD, (const unsigned char *)SEED, 20,
	    blob2, sizeof(blob2), &blen2, &err), 0);
	assert_int_equal(blen2, blen);
	assert_memory_not_equal(blob + 1, blob2 + 1, 12);
	assert_memory_not_equal(blob, blob2, blen);
	/* exactly sized buffers */
	assert_int_equal(tk_seal(key, AAD, (const unsigned char *)SEED, 20,
	    blob2, 20 + TK_SEAL_OVERHEAD, &blen2, &err), 0);
	assert_int_equal(tk_unseal(key, AAD, blob2, blen2, out, 20, &olen,
	    &err), 0);
	assert_memory_equal(out, SEED, 20);
	/* empty plaintext; NULL aad is the empty aad */
	assert_int_equal(tk_seal(key, NULL, NULL, 0, blob, sizeof(blob), &blen,
	    &err), 0);
	assert_int_equal(blen, TK_SEAL_OVERHEAD);
	assert_int_equal(tk_unseal(key, "", blob, blen, out, sizeof(out),
	    &olen, &err), 0);
	assert_int_equal(olen, 0);
	EXPECT_FAIL(tk_unseal(key, "x", blob, blen, out, sizeof(out), &olen,
	    &err), err, "does not open");
	/* buffers too small */
	EXPECT_FAIL(tk_seal(key, AAD, (const unsigned char *)SEED, 20, blob,
	    20 + TK_SEAL_OVERHEAD - 1, &blen, &err), err, "too small");
	assert_int_equal(blen, 0);
	assert_int_equal(tk_seal(key, AAD, (const unsigned char *)SEED, 20,
	    blob, sizeof(blob), &blen, &err), 0);
	memset(out, 0xaa, sizeof(out));
	EXPECT_FAIL(tk_unseal(key, AAD, blob, blen, out, 19, &olen, &err), err,
	    "too small");
	assert_zero(out, 19);
}

/* The format as documented in seal.h, opened with plain OpenSSL. */
static void
test_format_openssl(void **state)
{
	unsigned char key[TK_SEAL_KEY_LEN], blob[128], out[64], aad[64];
	size_t blen;
	tk_error err;
	EVP_CIPHER_CTX *c;
	int l1, l2;

	(void)state;
	fixed_key(key, 9);
	assert_int_equal(tk_seal(key, AAD, (const unsigned char *)SEED, 20,
	    blob, sizeof(blob), &blen, &err), 0);
	aad[0] = 0x01;
	memcpy(aad + 1, AAD, strlen(AAD));
	c = EVP_CIPHER_CTX_new();
	assert_non_null(c);
	assert_int_equal(EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key,
	    blob + 1), 1);
	assert_int_equal(EVP_DecryptUpdate(c, NULL, &l1, aad,
	    (int)(1 + strlen(AAD))), 1);
	assert_int_equal(EVP_DecryptUpdate(c, out, &l1, blob + 13, 20), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16,
	    blob + 33), 1);
	assert_int_equal(EVP_DecryptFinal_ex(c, out + l1, &l2), 1);
	EVP_CIPHER_CTX_free(c);
	assert_int_equal(l1 + l2, 20);
	assert_memory_equal(out, SEED, 20);
}

static void
test_unseal_refusals(void **state)
{
	unsigned char key[TK_SEAL_KEY_LEN], other[TK_SEAL_KEY_LEN];
	unsigned char blob[128], bad[128], out[64];
	size_t blen, olen, i;
	tk_error err;
	int bit;

	(void)state;
	fixed_key(key, 1);
	fixed_key(other, 2);
	assert_int_equal(tk_seal(key, AAD, (const unsigned char *)SEED, 20,
	    blob, sizeof(blob), &blen, &err), 0);

	/* wrong context, wrong key */
	memset(out, 0xaa, sizeof(out));
	EXPECT_FAIL(tk_unseal(key, "factor:bob", blob, blen, out, sizeof(out),
	    &olen, &err), err, "does not open");
	assert_int_equal(olen, 0);
	assert_zero(out, sizeof(out));
	EXPECT_FAIL(tk_unseal(key, "factor:alic", blob, blen, out, sizeof(out),
	    &olen, &err), err, "does not open");
	EXPECT_FAIL(tk_unseal(key, NULL, blob, blen, out, sizeof(out), &olen,
	    &err), err, "does not open");
	EXPECT_FAIL(tk_unseal(other, AAD, blob, blen, out, sizeof(out), &olen,
	    &err), err, "does not open");
	assert_zero(out, sizeof(out));
	/* the message never holds the seed */
	assert_null(strstr(err.msg, SEED));

	/* every byte flipped, one bit at a time: version, nonce,
	 * ciphertext, tag */
	for (i = 0; i < blen; i++) {
		for (bit = 0; bit < 8; bit++) {
			memcpy(bad, blob, blen);
			bad[i] ^= (unsigned char)(1u << bit);
			memset(out, 0xaa, sizeof(out));
			olen = 99;
			memset(&err, 0, sizeof(err));
			if (tk_unseal(key, AAD, bad, blen, out, sizeof(out),
			    &olen, &err) != -1)
				fail_msg("byte %zu bit %d flipped: opened", i,
				    bit);
			assert_int_equal(olen, 0);
			assert_zero(out, sizeof(out));
			assert_true(err.msg[0] != '\0');
		}
	}
	/* truncated at every length, and one byte longer */
	for (i = 0; i < blen; i++) {
		memset(out, 0xaa, sizeof(out));
		assert_int_equal(tk_unseal(key, AAD, blob, i, out, sizeof(out),
		    &olen, &err), -1);
		assert_zero(out, sizeof(out));
	}
	memcpy(bad, blob, blen);
	bad[blen] = 0;
	assert_int_equal(tk_unseal(key, AAD, bad, blen + 1, out, sizeof(out),
	    &olen, &err), -1);
	assert_zero(out, sizeof(out));
	/* another version byte */
	memcpy(bad, blob, blen);
	bad[0] = 0x02;
	EXPECT_FAIL(tk_unseal(key, AAD, bad, blen, out, sizeof(out), &olen,
	    &err), err, "version");
	/* the original still opens */
	assert_int_equal(tk_unseal(key, AAD, blob, blen, out, sizeof(out),
	    &olen, &err), 0);
	assert_memory_equal(out, SEED, 20);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_create_load),
		cmocka_unit_test(test_key_modes),
		cmocka_unit_test(test_key_malformed),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_format_openssl),
		cmocka_unit_test(test_unseal_refusals),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
