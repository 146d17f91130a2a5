/*
 * test_otp.c - unit tests for registered-factor codes (verify/otp.c) and
 * the enrolment QR code (verify/qr.c): every HOTP code of RFC 4226
 * appendix D and every TOTP code of RFC 6238 appendix B (read from the
 * shared vectors), the HMAC against OpenSSL's own for keys around the
 * block size, the window (+-1 accepted, +-2 refused), replay refusal,
 * malformed codes, base32 against RFC 4648 section 10, the otpauth URI
 * against the Key Uri Format's example, and the QR drawing module by
 * module against libqrencode's symbol.
 *
 * Vectors are read from $TWOKEY_VECTORS (else $TK_VECTORS_DIR), else
 * ../shared/vectors relative to the working directory (the repository
 * root, as run-units.sh runs).
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
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <qrencode.h>

#include "verify/otp.h"
#include "verify/qr.h"

#define RFC_KEY "12345678901234567890"
#define RFC_KEYLEN 20

/* ---- helpers ---- */

static json_t *
load_vectors(void)
{
	char path[512];
	const char *dir = getenv("TWOKEY_VECTORS");
	json_error_t jerr;
	json_t *j;
	int n;

	if (dir == NULL || dir[0] == '\0')
		dir = getenv("TK_VECTORS_DIR");
	if (dir == NULL || dir[0] == '\0')
		dir = "../shared/vectors";
	n = snprintf(path, sizeof(path), "%s/otp/rfc4226-rfc6238.json", dir);
	assert_true(n > 0 && (size_t)n < sizeof(path));
	j = json_load_file(path, 0, &jerr);
	if (j == NULL)
		fail_msg("cannot load %s: %s (set TWOKEY_VECTORS?)", path,
		    jerr.text);
	return j;
}

static const char *
jstr(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	assert_true(json_is_string(v));
	return json_string_value(v);
}

static json_int_t
jint(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static enum tk_otp_alg
jalg(const json_t *o)
{
	int a = tk_otp_alg_parse(jstr(o, "algorithm"));

	assert_true(a >= 0);
	return (enum tk_otp_alg)a;
}

/* ---- RFC vectors ---- */

static void
test_hotp_rfc4226(void **state)
{
	json_t *root = load_vectors(), *arr, *v;
	char code[TK_OTP_CODE_MAX];
	const char *secret;
	size_t i;

	(void)state;
	arr = json_object_get(root, "hotp");
	assert_true(json_is_array(arr));
	assert_int_equal(json_array_size(arr), 10);
	json_array_foreach(arr, i, v) {
		secret = jstr(v, "secret_ascii");
		assert_int_equal(tk_hotp((const unsigned char *)secret,
		    strlen(secret), jalg(v), (uint64_t)jint(v, "counter"),
		    (int)jint(v, "digits"), code), 0);
		assert_string_equal(code, jstr(v, "code"));
	}
	json_decref(root);
}

static void
test_totp_rfc6238(void **state)
{
	json_t *root = load_vectors(), *arr, *v;
	char code[TK_OTP_CODE_MAX];
	const char *secret, *want;
	int64_t t, step;
	int digits, period;
	size_t i;

	(void)state;
	arr = json_object_get(root, "totp");
	assert_true(json_is_array(arr));
	assert_int_equal(json_array_size(arr), 18);
	json_array_foreach(arr, i, v) {
		secret = jstr(v, "secret_ascii");
		want = jstr(v, "code");
		t = (int64_t)jint(v, "unix_time");
		digits = (int)jint(v, "digits");
		period = (int)jint(v, "period");
		step = t / period;
		/* the code for the step ... */
		assert_int_equal(tk_hotp((const unsigned char *)secret,
		    strlen(secret), jalg(v), (uint64_t)step, digits, code), 0);
		assert_string_equal(code, want);
		/* ... is accepted at that time, with or without a window */
		assert_int_equal(tk_totp_match((const unsigned char *)secret,
		    strlen(secret), jalg(v), digits, period, t, want, 0, -1),
		    step);
		assert_int_equal(tk_totp_match((const unsigned char *)secret,
		    strlen(secret), jalg(v), digits, period, t, want, 1, -1),
		    step);
		/* and not with another algorithm's key set-up */
		assert_int_equal(tk_totp_match((const unsigned char *)secret,
		    strlen(secret), (enum tk_otp_alg)((jalg(v) + 1) % 3),
		    digits, period, t, want, 1, -1), -1);
	}
	json_decref(root);
}

/* The hand-built HMAC against OpenSSL's, for keys shorter than, equal
 * to and longer than the block (which are hashed first). */
static void
test_hmac_matches_openssl(void **state)
{
	static const size_t lens[] = { 1, 19, 20, 63, 64, 65, 100, 127, 128 };
	static const char *names[] = { "SHA1", "SHA256", "SHA512" };
	unsigned char key[TK_OTP_KEY_MAX], msg[8], mac[EVP_MAX_MD_SIZE];
	char want[TK_OTP_CODE_MAX], got[TK_OTP_CODE_MAX];
	size_t maclen, li;
	uint64_t counter = 0x0123456789abcdefULL;
	uint32_t bin;
	unsigned off;
	int a, i;

	(void)state;
	for (i = 0; i < 8; i++)
		msg[i] = (unsigned char)(counter >> (56 - 8 * i));
	for (a = 0; a < 3; a++) {
		for (li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
			assert_int_equal(RAND_bytes(key, (int)lens[li]), 1);
			assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, names[a],
			    NULL, key, lens[li], msg, sizeof(msg), mac,
			    sizeof(mac), &maclen));
			off = mac[maclen - 1] & 0x0f;
			bin = ((uint32_t)(mac[off] & 0x7f) << 24) |
			    ((uint32_t)mac[off + 1] << 16) |
			    ((uint32_t)mac[off + 2] << 8) | mac[off + 3];
			(void)snprintf(want, sizeof(want), "%08u",
			    (unsigned)(bin % 100000000u));
			assert_int_equal(tk_hotp(key, lens[li],
			    (enum tk_otp_alg)a, counter, 8, got), 0);
			assert_string_equal(got, want);
		}
	}
}

static void
test_hotp_args(void **state)
{
	char code[TK_OTP_CODE_MAX];
	unsigned char big[TK_OTP_KEY_MAX + 1];

	(void)state;
	memset(big, 7, sizeof(big));
	assert_int_equal(tk_hotp((const unsigned char *)RFC_KEY, RFC_KEYLEN,
	    TK_OTP_SHA1, 0, 5, code), -1);
	assert_string_equal(code, "");
	assert_int_equal(tk_hotp((const unsigned char *)RFC_KEY, RFC_KEYLEN,
	    TK_OTP_SHA1, 0, 9, code), -1);
	assert_int_equal(tk_hotp(NULL, 20, TK_OTP_SHA1, 0, 6, code), -1);
	assert_int_equal(tk_hotp((const unsigned char *)RFC_KEY, 0,
	    TK_OTP_SHA1, 0, 6, code), -1);
	assert_int_equal(tk_hotp(big, sizeof(big), TK_OTP_SHA1, 0, 6, code),
	    -1);
	assert_int_equal(tk_hotp((const unsigned char *)RFC_KEY, RFC_KEYLEN,
	    (enum tk_otp_alg)3, 0, 6, code), -1);
	assert_int_equal(tk_hotp((const unsigned char *)RFC_KEY, RFC_KEYLEN,
	    TK_OTP_SHA1, 0, 6, NULL), -1);
	/* 7 and 8 digits: the low digits of the same truncation */
	assert_int_equal(tk_hotp((const unsigned char *)RFC_KEY, RFC_KEYLEN,
	    TK_OTP_SHA1, 0, 7, code), 0);
	assert_int_equal(strlen(code), 7);
	assert_string_equal(code + 1, "755224");
}

static void
test_alg_names(void **state)
{
	(void)state;
	assert_string_equal(tk_otp_alg_name(TK_OTP_SHA1), "SHA1");
	assert_string_equal(tk_otp_alg_name(TK_OTP_SHA256), "SHA256");
	assert_string_equal(tk_otp_alg_name(TK_OTP_SHA512), "SHA512");
	assert_string_equal(tk_otp_alg_name((enum tk_otp_alg)7), "?");
	assert_int_equal(tk_otp_alg_parse("sha1"), TK_OTP_SHA1);
	assert_int_equal(tk_otp_alg_parse("SHA1"), TK_OTP_SHA1);
	assert_int_equal(tk_otp_alg_parse("Sha256"), TK_OTP_SHA256);
	assert_int_equal(tk_otp_alg_parse("SHA512"), TK_OTP_SHA512);
	assert_int_equal(tk_otp_alg_parse("md5"), -1);
	assert_int_equal(tk_otp_alg_parse("sha"), -1);
	assert_int_equal(tk_otp_alg_parse(""), -1);
	assert_int_equal(tk_otp_alg_parse(NULL), -1);
}

/* ---- window, replay, malformed codes ---- */

static int64_t
match(const char *code, int64_t now, int window, int64_t last)
{
	return tk_totp_match((const unsigned char *)RFC_KEY, RFC_KEYLEN,
	    TK_OTP_SHA1, 6, 30, now, code, window, last);
}

static void
code_at(int64_t step, char *code)
{
	assert_int_equal(tk_hotp((const unsigned char *)RFC_KEY, RFC_KEYLEN,
	    TK_OTP_SHA1, (uint64_t)step, 6, code), 0);
}

static void
test_totp_window(void **state)
{
	const int64_t now = 1111111109, s = now / 30;
	char c[5][TK_OTP_CODE_MAX]; /* steps s-2 .. s+2 */
	int i, j;

	(void)state;
	for (i = 0; i < 5; i++)
		code_at(s - 2 + i, c[i]);
	/* the test means something only if the five codes differ */
	for (i = 0; i < 5; i++)
		for (j = i + 1; j < 5; j++)
			assert_string_not_equal(c[i], c[j]);
	assert_int_equal(match(c[2], now, 1, -1), s);
	assert_int_equal(match(c[1], now, 1, -1), s - 1);
	assert_int_equal(match(c[3], now, 1, -1), s + 1);
	assert_int_equal(match(c[0], now, 1, -1), -1);
	assert_int_equal(match(c[4], now, 1, -1), -1);
	/* window 0: the current step only */
	assert_int_equal(match(c[1], now, 0, -1), -1);
	assert_int_equal(match(c[3], now, 0, -1), -1);
	/* window 2 does reach them, so the refusals above are the window's */
	assert_int_equal(match(c[0], now, 2, -1), s - 2);
	assert_int_equal(match(c[4], now, 2, -1), s + 2);
	/* the first and last second of a step */
	assert_int_equal(match(c[2], s * 30, 0, -1), s);
	assert_int_equal(match(c[2], s * 30 + 29, 0, -1), s);
	assert_int_equal(match(c[2], s * 30 + 30, 0, -1), -1);
	/* near the epoch steps below 0 do not exist */
	code_at(0, c[0]);
	assert_int_equal(match(c[0], 5, 1, -1), 0);
	assert_int_equal(match(c[0], 5, 10, -1), 0);
	/* before the epoch: floor(-1 / 30) = -1, step 0 is its +1 */
	assert_int_equal(match(c[0], -1, 1, -1), 0);
	assert_int_equal(match(c[0], -1, 0, -1), -1);
	/* at the end of time nothing overflows */
	code_at(INT64_MAX, c[1]);
	assert_int_equal(tk_totp_match((const unsigned char *)RFC_KEY,
	    RFC_KEYLEN, TK_OTP_SHA1, 6, 1, INT64_MAX, c[1], 3, -1), INT64_MAX);
}

static void
test_totp_replay(void **state)
{
	const int64_t now = 1234567890, s = now / 30;
	char cur[TK_OTP_CODE_MAX], prev[TK_OTP_CODE_MAX], next[TK_OTP_CODE_MAX];
	int64_t last;

	(void)state;
	code_at(s, cur);
	code_at(s - 1, prev);
	code_at(s + 1, next);
	last = match(cur, now, 1, -1);
	assert_int_equal(last, s);
	/* the same code again, with the stored step: refused */
	assert_int_equal(match(cur, now, 1, last), -1);
	assert_int_equal(match(cur, now + 15, 1, last), -1);
	/* an older code in the window: refused too */
	assert_int_equal(match(prev, now, 1, last), -1);
	/* the next step's code is still new */
	assert_int_equal(match(next, now, 1, last), s + 1);
	/* a stored step beyond the window refuses everything in it */
	assert_int_equal(match(next, now, 1, s + 1), -1);
	/* last_step just below: accepted */
	assert_int_equal(match(cur, now, 1, s - 1), s);
}

static void
test_totp_malformed(void **state)
{
	const int64_t now = 59, s = now / 30;
	char cur[TK_OTP_CODE_MAX], buf[16];
	static const char *bad[] = {
		"", "1", "12345", "1234567", "12345678", "12345a", "a23456",
		" 12345", "12345 ", "-12345", "+12345", "12 345", "１２３",
	};
	size_t i;

	(void)state;
	code_at(s, cur);
	assert_int_equal(match(cur, now, 1, -1), s);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(match(bad[i], now, 1, -1), -1);
	/* the right code with something after it */
	(void)snprintf(buf, sizeof(buf), "%s\n", cur);
	assert_int_equal(match(buf, now, 1, -1), -1);
	(void)snprintf(buf, sizeof(buf), "%s0", cur);
	assert_int_equal(match(buf, now, 1, -1), -1);
	/* or a leading zero too many / missing */
	(void)snprintf(buf, sizeof(buf), "0%s", cur);
	assert_int_equal(match(buf, now, 1, -1), -1);
	assert_int_equal(match(cur + 1, now, 1, -1), -1);
	assert_int_equal(match(NULL, now, 1, -1), -1);
	/* bad arguments */
	assert_int_equal(tk_totp_match((const unsigned char *)RFC_KEY,
	    RFC_KEYLEN, TK_OTP_SHA1, 6, 0, now, cur, 1, -1), -1);
	assert_int_equal(tk_totp_match((const unsigned char *)RFC_KEY,
	    RFC_KEYLEN, TK_OTP_SHA1, 6, -30, now, cur, 1, -1), -1);
	assert_int_equal(tk_totp_match((const unsigned char *)RFC_KEY,
	    RFC_KEYLEN, TK_OTP_SHA1, 6, 30, now, cur, -1, -1), -1);
	assert_int_equal(tk_totp_match((const unsigned char *)RFC_KEY,
	    RFC_KEYLEN, TK_OTP_SHA1, 6, 30, now, cur, TK_OTP_WINDOW_MAX + 1,
	    -1), -1);
	assert_int_equal(tk_totp_match((const unsigned char *)RFC_KEY,
	    RFC_KEYLEN, TK_OTP_SHA1, 5, 30, now, cur, 1, -1), -1);
	assert_int_equal(tk_totp_match((const unsigned char *)RFC_KEY,
	    RFC_KEYLEN, TK_OTP_SHA1, 9, 30, now, cur, 1, -1), -1);
	assert_int_equal(tk_totp_match(NULL, 0, TK_OTP_SHA1, 6, 30, now, cur,
	    1, -1), -1);
	/* the wrong key */
	assert_int_equal(tk_totp_match((const unsigned char *)"x2345678901234567890",
	    RFC_KEYLEN, TK_OTP_SHA1, 6, 30, now, cur, 1, -1), -1);
}

/* ---- base32 ---- */

static void
test_base32_rfc4648(void **state)
{
	/* RFC 4648 section 10 */
	static const char *vec[][2] = {
		{ "", "" },
		{ "f", "MY======" },
		{ "fo", "MZXQ====" },
		{ "foo", "MZXW6===" },
		{ "foob", "MZXW6YQ=" },
		{ "fooba", "MZXW6YTB" },
		{ "foobar", "MZXW6YTBOI======" },
	};
	char enc[32], unpadded[32], lower[64];
	unsigned char dec[16];
	size_t i, j, n, len, k;

	(void)state;
	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		n = strlen(vec[i][0]);
		assert_int_equal(tk_base32_encode((const unsigned char *)vec[i][0],
		    n, enc, sizeof(enc)), 0);
		(void)snprintf(unpadded, sizeof(unpadded), "%s", vec[i][1]);
		unpadded[strcspn(unpadded, "=")] = '\0';
		assert_string_equal(enc, unpadded);
		assert_int_equal(strlen(enc), TK_BASE32_LEN(n));
		/* decode the padded and the unpadded form */
		assert_int_equal(tk_base32_decode(vec[i][1], dec, sizeof(dec),
		    &len), 0);
		assert_int_equal(len, n);
		assert_memory_equal(dec, vec[i][0], n);
		assert_int_equal(tk_base32_decode(unpadded, dec, sizeof(dec),
		    &len), 0);
		assert_int_equal(len, n);
		assert_memory_equal(dec, vec[i][0], n);
		/* lower case with spaces, as people type it */
		for (j = 0, k = 0; vec[i][1][j] != '\0'; j++) {
			char ch = vec[i][1][j];
			lower[k++] = (ch >= 'A' && ch <= 'Z') ?
			    (char)(ch - 'A' + 'a') : ch;
			if (j % 4 == 3)
				lower[k++] = ' ';
		}
		lower[k] = '\0';
		assert_int_equal(tk_base32_decode(lower, dec, sizeof(dec),
		    &len), 0);
		assert_int_equal(len, n);
		assert_memory_equal(dec, vec[i][0], n);
	}
}

static void
test_base32_bad(void **state)
{
	static const char *bad[] = {
		"M", "MZX", "MZXW6Y", "MZXW6YTBO",   /* lengths no encoding has */
		"MZXW6YQ1", "MZXW6YQ8", "MZXW-6YQ", "MZXW6YQ\n",
		"MY=A", "MY======A", "MY=====", "MY=======", "=MY",
		"MZXW6YTB========",
	};
	unsigned char dec[16];
	char enc[16];
	size_t i, len = 99;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		len = 99;
		if (tk_base32_decode(bad[i], dec, sizeof(dec), &len) != -1)
			fail_msg("\"%s\" was accepted", bad[i]);
		assert_int_equal(len, 0);
	}
	/* too small an output: refused and wiped */
	memset(dec, 0xaa, sizeof(dec));
	assert_int_equal(tk_base32_decode("MZXW6YTBOI", dec, 5, &len), -1);
	for (i = 0; i < 5; i++)
		assert_int_equal(dec[i], 0);
	assert_int_equal(tk_base32_decode("MZXW6YTBOI", dec, 6, &len), 0);
	assert_int_equal(len, 6);
	assert_int_equal(tk_base32_decode(NULL, dec, 6, &len), -1);
	/* encode into too small a buffer */
	assert_int_equal(tk_base32_encode((const unsigned char *)"foobar", 6,
	    enc, 10), -1);
	assert_string_equal(enc, "");
	assert_int_equal(tk_base32_encode((const unsigned char *)"fooba", 5,
	    enc, 8), -1);
	assert_int_equal(tk_base32_encode((const unsigned char *)"fooba", 5,
	    enc, 9), 0);
	assert_string_equal(enc, "MZXW6YTB");
}

static void
test_base32_roundtrip(void **state)
{
	unsigned char in[64], out[64];
	char enc[TK_BASE32_LEN(64) + 1];
	size_t n, len;
	int r;

	(void)state;
	for (r = 0; r < 20; r++) {
		for (n = 0; n <= sizeof(in); n++) {
			assert_int_equal(RAND_bytes(in, (int)sizeof(in)), 1);
			assert_int_equal(tk_base32_encode(in, n, enc,
			    sizeof(enc)), 0);
			assert_int_equal(strlen(enc), TK_BASE32_LEN(n));
			assert_int_equal(tk_base32_decode(enc, out, n, &len),
			    0);
			assert_int_equal(len, n);
			assert_memory_equal(in, out, n);
		}
	}
	/* the RFC 6238 seed is the base32 every authenticator app knows */
	assert_int_equal(tk_base32_encode((const unsigned char *)RFC_KEY,
	    RFC_KEYLEN, enc, sizeof(enc)), 0);
	assert_string_equal(enc, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
}

/* ---- otpauth URI ---- */

static void
test_otpauth_uri(void **state)
{
	/* The Key Uri Format's own example (google-authenticator wiki). */
	static const char ex[] = "otpauth://totp/ACME%20Co:john.doe@email.com"
	    "?secret=HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ&issuer=ACME%20Co"
	    "&algorithm=SHA1&digits=6&period=30";
	unsigned char key[32];
	char uri[512];
	size_t keylen, i;

	(void)state;
	assert_int_equal(tk_base32_decode("HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ",
	    key, sizeof(key), &keylen), 0);
	assert_int_equal(keylen, 20);
	assert_int_equal(tk_otpauth_uri("ACME Co", "john.doe@email.com", key,
	    keylen, TK_OTP_SHA1, 6, 30, uri, sizeof(uri)), 0);
	assert_string_equal(uri, ex);

	/* a colon and a space in both parts, other parameters */
	assert_int_equal(tk_otpauth_uri("twokey: prod", "ops team:alice",
	    (const unsigned char *)RFC_KEY, RFC_KEYLEN, TK_OTP_SHA256, 8, 60,
	    uri, sizeof(uri)), 0);
	assert_string_equal(uri, "otpauth://totp/twokey%3A%20prod:"
	    "ops%20team%3Aalice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	    "&issuer=twokey%3A%20prod&algorithm=SHA256&digits=8&period=60");

	/* non-ASCII and reserved characters */
	assert_int_equal(tk_otpauth_uri("Ünï&co", "a/b?c#d",
	    (const unsigned char *)RFC_KEY, RFC_KEYLEN, TK_OTP_SHA512, 6, 30,
	    uri, sizeof(uri)), 0);
	assert_string_equal(uri, "otpauth://totp/%C3%9Cn%C3%AF%26co:"
	    "a%2Fb%3Fc%23d?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	    "&issuer=%C3%9Cn%C3%AF%26co&algorithm=SHA512&digits=6&period=30");

	/* no issuer */
	assert_int_equal(tk_otpauth_uri(NULL, "alice",
	    (const unsigned char *)RFC_KEY, RFC_KEYLEN, TK_OTP_SHA1, 6, 30,
	    uri, sizeof(uri)), 0);
	assert_string_equal(uri, "otpauth://totp/alice?secret="
	    "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&algorithm=SHA1&digits=6"
	    "&period=30");

	/* every buffer size short of the length is refused, empty */
	for (i = 1; i <= strlen(ex); i++) {
		memset(uri, 'x', sizeof(uri));
		assert_int_equal(tk_otpauth_uri("ACME Co",
		    "john.doe@email.com", key, keylen, TK_OTP_SHA1, 6, 30, uri,
		    i), -1);
		assert_string_equal(uri, "");
	}
	assert_int_equal(tk_otpauth_uri("ACME Co", "john.doe@email.com", key,
	    keylen, TK_OTP_SHA1, 6, 30, uri, strlen(ex) + 1), 0);
	assert_string_equal(uri, ex);

	/* bad arguments */
	assert_int_equal(tk_otpauth_uri("x", "", key, keylen, TK_OTP_SHA1, 6,
	    30, uri, sizeof(uri)), -1);
	assert_int_equal(tk_otpauth_uri("x", NULL, key, keylen, TK_OTP_SHA1,
	    6, 30, uri, sizeof(uri)), -1);
	assert_int_equal(tk_otpauth_uri("x", "a", key, 0, TK_OTP_SHA1, 6, 30,
	    uri, sizeof(uri)), -1);
	assert_int_equal(tk_otpauth_uri("x", "a", key, keylen, TK_OTP_SHA1, 5,
	    30, uri, sizeof(uri)), -1);
	assert_int_equal(tk_otpauth_uri("x", "a", key, keylen, TK_OTP_SHA1, 6,
	    0, uri, sizeof(uri)), -1);
}

/* ---- QR ---- */

/* Code points in the n bytes at s. */
static size_t
utf8_chars(const char *s, size_t n)
{
	size_t i, c = 0;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			c++;
	return c;
}

/* Whether the cell at s shows (top, bottom) as (light, light) etc. */
static void
cell(const char **s, int *top, int *bot)
{
	if (strncmp(*s, "\xe2\x96\x88", 3) == 0) {
		*top = 1, *bot = 1;
		*s += 3;
	} else if (strncmp(*s, "\xe2\x96\x80", 3) == 0) {
		*top = 1, *bot = 0;
		*s += 3;
	} else if (strncmp(*s, "\xe2\x96\x84", 3) == 0) {
		*top = 0, *bot = 1;
		*s += 3;
	} else {
		assert_int_equal(**s, ' ');
		*top = 0, *bot = 0;
		*s += 1;
	}
}

static void
test_qr_terminal(void **state)
{
	static const char text[] = "otpauth://totp/ACME%20Co:john.doe@email.com"
	    "?secret=HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ&issuer=ACME%20Co"
	    "&algorithm=SHA1&digits=6&period=30";
	char *qr, *big;
	const char *p, *nl;
	QRcode *q;
	size_t width = 0, lines = 0, w, full;
	int x, y, top, bot, sx, sy, want;

	(void)state;
	qr = tk_qr_terminal(text);
	assert_non_null(qr);
	assert_true(strlen(qr) > 0);
	/* every line the same number of characters, newline-terminated */
	for (p = qr; *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		assert_non_null(nl);
		w = utf8_chars(p, (size_t)(nl - p));
		if (lines == 0)
			width = w;
		assert_int_equal(w, width);
		lines++;
	}
	/* a QR symbol is 21 + 4k modules wide, plus the quiet zone */
	assert_true(width >= 21 + 2 * TK_QR_QUIET);
	assert_int_equal((width - 2 * TK_QR_QUIET - 21) % 4, 0);
	assert_int_equal(lines, (width + 1) / 2);

	/* module by module against libqrencode's symbol */
	q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	assert_non_null(q);
	full = (size_t)q->width + 2 * TK_QR_QUIET;
	assert_int_equal(full, width);
	p = qr;
	for (y = 0; y < (int)full; y += 2) {
		for (x = 0; x < (int)full; x++) {
			cell(&p, &top, &bot);
			for (int half = 0; half < 2; half++) {
				int yy = y + half;
				sx = x - TK_QR_QUIET;
				sy = yy - TK_QR_QUIET;
				if (yy >= (int)full)
					want = 0;
				else if (sx < 0 || sy < 0 || sx >= q->width ||
				    sy >= q->width)
					want = 1; /* quiet zone: light */
				else
					want = !(q->data[sy * q->width + sx] & 1);
				assert_int_equal(half ? bot : top, want);
			}
		}
		assert_int_equal(*p, '\n');
		p++;
	}
	assert_int_equal(*p, '\0');
	QRcode_free(q);
	free(qr);

	/* too long for any QR version: NULL, not a crash */
	big = malloc(8001);
	assert_non_null(big);
	memset(big, 'a', 8000);
	big[8000] = '\0';
	assert_null(tk_qr_terminal(big));
	free(big);
	assert_null(tk_qr_terminal(NULL));
	assert_null(tk_qr_terminal(""));
	/* the largest byte-mode text at level M (version 40: 2331 bytes)
	 * fits, one more byte does not */
	big = malloc(2333);
	assert_non_null(big);
	memset(big, 'a', 2332);
	big[2332] = '\0';
	assert_null(tk_qr_terminal(big));
	big[2331] = '\0';
	qr = tk_qr_terminal(big);
	assert_non_null(qr);
	assert_int_equal(utf8_chars(qr, strcspn(qr, "\n")),
	    177 + 2 * TK_QR_QUIET);
	free(qr);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hotp_rfc4226),
		cmocka_unit_test(test_totp_rfc6238),
		cmocka_unit_test(test_hmac_matches_openssl),
		cmocka_unit_test(test_hotp_args),
		cmocka_unit_test(test_alg_names),
		cmocka_unit_test(test_totp_window),
		cmocka_unit_test(test_totp_replay),
		cmocka_unit_test(test_totp_malformed),
		cmocka_unit_test(test_base32_rfc4648),
		cmocka_unit_test(test_base32_bad),
		cmocka_unit_test(test_base32_roundtrip),
		cmocka_unit_test(test_otpauth_uri),
		cmocka_unit_test(test_qr_terminal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
