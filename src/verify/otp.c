/*
 * otp.c - HOTP/TOTP codes (RFC 4226, RFC 6238) over OpenSSL's HMAC,
 * base32 (RFC 4648) and the otpauth:// enrolment URI.
 *
 * Owns: nothing beyond each call. The HMAC key is prepared once per call
 * (one digest fetch, the padded keys) and reused for each time step, so
 * a window of 1 costs one key set-up and three short HMACs.
 */
#include "verify/otp.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

static const char b32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

static const uint32_t pow10[TK_OTP_DIGITS_MAX + 1] = {
	1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000,
};

const char *
tk_otp_alg_name(enum tk_otp_alg a)
{
	switch (a) {
	case TK_OTP_SHA1: return "SHA1";
	case TK_OTP_SHA256: return "SHA256";
	case TK_OTP_SHA512: return "SHA512";
	}
	return "?";
}

int
tk_otp_alg_parse(const char *name)
{
	if (name == NULL)
		return -1;
	if (strcasecmp(name, "sha1") == 0 || strcasecmp(name, "sha-1") == 0)
		return TK_OTP_SHA1;
	if (strcasecmp(name, "sha256") == 0 ||
	    strcasecmp(name, "sha-256") == 0)
		return TK_OTP_SHA256;
	if (strcasecmp(name, "sha512") == 0 ||
	    strcasecmp(name, "sha-512") == 0)
		return TK_OTP_SHA512;
	return -1;
}

/* ---- HMAC -------------------------------------------------------------- */

/*
 * HMAC (RFC 2104) over one fetched digest, keyed once per call. This is
 * the HMAC construction written out over EVP digests rather than
 * EVP_MAC: EVP_MAC re-initialisation copies provider contexts (several
 * allocations per step) and took 2.4 us for a window of 1 against
 * 1.2 us for this (bench/bench_otp.c, OpenSSL 3.0, shared 2-core box).
 * The unit tests check it against EVP_Q_mac for keys shorter and
 * longer than a block.
 */
struct otp_mac {
	EVP_MD *md;
	EVP_MD_CTX *ctx;
	size_t block;                  /* the digest's block size */
	unsigned char ipad[128];       /* key ^ 0x36, block bytes */
	unsigned char opad[128];       /* key ^ 0x5c, block bytes */
};

static void
mac_close(struct otp_mac *m)
{
	EVP_MD_CTX_free(m->ctx); /* OpenSSL cleanses the digest state */
	EVP_MD_free(m->md);
	m->ctx = NULL;
	m->md = NULL;
	OPENSSL_cleanse(m->ipad, sizeof(m->ipad));
	OPENSSL_cleanse(m->opad, sizeof(m->opad));
}

static int
mac_open(struct otp_mac *m, const unsigned char *key, size_t keylen,
    enum tk_otp_alg alg)
{
	unsigned char kh[EVP_MAX_MD_SIZE];
	unsigned int khlen = 0;
	const char *name;
	int bs;
	size_t i;

	m->md = NULL;
	m->ctx = NULL;
	memset(m->ipad, 0x36, sizeof(m->ipad));
	memset(m->opad, 0x5c, sizeof(m->opad));
	name = tk_otp_alg_name(alg);
	if (key == NULL || keylen == 0 || keylen > TK_OTP_KEY_MAX ||
	    name[0] == '?')
		return -1;
	if ((m->md = EVP_MD_fetch(NULL, name, NULL)) == NULL ||
	    (m->ctx = EVP_MD_CTX_new()) == NULL)
		goto fail;
	bs = EVP_MD_get_block_size(m->md);
	if (bs <= 0 || (size_t)bs > sizeof(m->ipad))
		goto fail;
	m->block = (size_t)bs;
	if (keylen > m->block) {
		/* A key longer than a block is replaced by its hash. */
		if (EVP_DigestInit_ex2(m->ctx, m->md, NULL) != 1 ||
		    EVP_DigestUpdate(m->ctx, key, keylen) != 1 ||
		    EVP_DigestFinal_ex(m->ctx, kh, &khlen) != 1)
			goto fail;
		key = kh;
		keylen = khlen;
	}
	for (i = 0; i < keylen; i++) {
		m->ipad[i] ^= key[i];
		m->opad[i] ^= key[i];
	}
	OPENSSL_cleanse(kh, sizeof(kh));
	return 0;
fail:
	OPENSSL_cleanse(kh, sizeof(kh));
	mac_close(m);
	return -1;
}

/* The HOTP code for counter into out (digits + 1 bytes). */
static int
mac_code(struct otp_mac *m, uint64_t counter, int digits, char *out)
{
	unsigned char msg[8], in[EVP_MAX_MD_SIZE], h[EVP_MAX_MD_SIZE];
	unsigned int inlen = 0, hlen = 0;
	uint32_t bin;
	unsigned off;
	int i, rc = -1;

	for (i = 7; i >= 0; i--) {
		msg[i] = (unsigned char)(counter & 0xff);
		counter >>= 8;
	}
	if (EVP_DigestInit_ex2(m->ctx, m->md, NULL) != 1 ||
	    EVP_DigestUpdate(m->ctx, m->ipad, m->block) != 1 ||
	    EVP_DigestUpdate(m->ctx, msg, sizeof(msg)) != 1 ||
	    EVP_DigestFinal_ex(m->ctx, in, &inlen) != 1 ||
	    EVP_DigestInit_ex2(m->ctx, m->md, NULL) != 1 ||
	    EVP_DigestUpdate(m->ctx, m->opad, m->block) != 1 ||
	    EVP_DigestUpdate(m->ctx, in, inlen) != 1 ||
	    EVP_DigestFinal_ex(m->ctx, h, &hlen) != 1 || hlen < 20)
		goto out;
	/* RFC 4226 section 5.3: dynamic truncation. */
	off = h[hlen - 1] & 0x0f;
	bin = ((uint32_t)(h[off] & 0x7f) << 24) |
	    ((uint32_t)h[off + 1] << 16) | ((uint32_t)h[off + 2] << 8) |
	    (uint32_t)h[off + 3];
	bin %= pow10[digits];
	for (i = digits - 1; i >= 0; i--) {
		out[i] = (char)('0' + bin % 10);
		bin /= 10;
	}
	out[digits] = '\0';
	rc = 0;
out:
	OPENSSL_cleanse(in, sizeof(in));
	OPENSSL_cleanse(h, sizeof(h));
	return rc;
}

int
tk_hotp(const unsigned char *key, size_t keylen, enum tk_otp_alg alg,
    uint64_t counter, int digits, char *out)
{
	struct otp_mac m;
	int rc;

	if (out == NULL)
		return -1;
	out[0] = '\0';
	if (digits < TK_OTP_DIGITS_MIN || digits > TK_OTP_DIGITS_MAX ||
	    mac_open(&m, key, keylen, alg) != 0)
		return -1;
	rc = mac_code(&m, counter, digits, out);
	mac_close(&m);
	if (rc != 0)
		out[0] = '\0';
	return rc;
}

int64_t
tk_totp_match(const unsigned char *key, size_t keylen, enum tk_otp_alg alg,
    int digits, int period, int64_t now, const char *code, int window,
    int64_t last_step)
{
	struct otp_mac m;
	char want[TK_OTP_CODE_MAX];
	int64_t base, s, found = -1;
	int i, bad = 0;

	if (code == NULL || digits < TK_OTP_DIGITS_MIN ||
	    digits > TK_OTP_DIGITS_MAX || period <= 0 || window < 0 ||
	    window > TK_OTP_WINDOW_MAX)
		return -1;
	/* The shape of the submitted code is not secret: check it first. */
	if (strnlen(code, (size_t)digits + 1) != (size_t)digits)
		return -1;
	for (i = 0; i < digits; i++)
		if (code[i] < '0' || code[i] > '9')
			return -1;
	/* floor(now / period), also for times before the epoch */
	base = now / period;
	if (now % period != 0 && now < 0)
		base--;
	if (mac_open(&m, key, keylen, alg) != 0)
		return -1;
	for (i = -window; i <= window; i++) {
		if (i > 0 && base > INT64_MAX - i)
			break;
		s = base + i;
		if (s < 0 || s <= last_step)
			continue;
		if (mac_code(&m, (uint64_t)s, digits, want) != 0) {
			bad = 1;
			break;
		}
		/* No early exit: every step is computed and compared. */
		if (CRYPTO_memcmp(want, code, (size_t)digits) == 0)
			found = s;
	}
	OPENSSL_cleanse(want, sizeof(want));
	mac_close(&m);
	return bad ? -1 : found;
}

/* ---- base32 ------------------------------------------------------------ */

int
tk_base32_encode(const unsigned char *in, size_t n, char *out,
    size_t out_size)
{
	size_t i, o = 0;
	uint32_t acc = 0;
	int bits = 0;

	if (out == NULL || out_size == 0)
		return -1;
	out[0] = '\0';
	if (n > (SIZE_MAX - 5) / 8 || out_size < TK_BASE32_LEN(n) + 1 ||
	    (in == NULL && n > 0))
		return -1;
	for (i = 0; i < n; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out[o++] = b32_alphabet[(acc >> bits) & 0x1f];
		}
	}
	if (bits > 0)
		out[o++] = b32_alphabet[(acc << (5 - bits)) & 0x1f];
	out[o] = '\0';
	acc = 0;
	return 0;
}

static int
b32_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a';
	if (c >= '2' && c <= '7')
		return c - '2' + 26;
	return -1;
}

int
tk_base32_decode(const char *in, unsigned char *out, size_t out_size,
    size_t *out_len)
{
	size_t nchar = 0, npad = 0, o = 0;
	uint32_t acc = 0;
	int bits = 0, v;
	const char *p;

	if (out_len != NULL)
		*out_len = 0;
	if (in == NULL || out_len == NULL || (out == NULL && out_size > 0))
		return -1;
	for (p = in; *p != '\0'; p++) {
		if (*p == ' ')
			continue;
		if (*p == '=') {
			npad++;
			continue;
		}
		if (npad > 0 || (v = b32_value((unsigned char)*p)) < 0)
			goto fail;
		nchar++;
		acc = (acc << 5) | (uint32_t)v;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			if (o >= out_size)
				goto fail;
			out[o++] = (unsigned char)(acc >> bits);
		}
		acc &= (1u << bits) - 1; /* bits <= 7 after the step above */
	}
	switch (nchar % 8) {
	case 1: case 3: case 6:
		goto fail;
	}
	if (npad > 0 && ((nchar + npad) % 8 != 0 || npad > 6))
		goto fail;
	acc = 0;
	*out_len = o;
	return 0;
fail:
	acc = 0;
	if (out != NULL && out_size > 0)
		OPENSSL_cleanse(out, out_size);
	*out_len = 0;
	return -1;
}

/* ---- otpauth URI ------------------------------------------------------- */

struct sbuf {
	char *p;
	size_t size, len;
	int over;
};

static void
sb_put(struct sbuf *b, const char *s, size_t n)
{
	if (b->over || n >= b->size - b->len) {
		b->over = 1;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_str(struct sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

/* Percent-encodes everything but RFC 3986 unreserved characters and
 * '@' (a path character that e-mail addresses hold; the Key Uri Format's
 * own example leaves it as is). */
static void
sb_pct(struct sbuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char e[3];
	unsigned char c;

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~' || c == '@') {
			sb_put(b, s, 1);
			continue;
		}
		e[0] = '%';
		e[1] = hex[c >> 4];
		e[2] = hex[c & 0x0f];
		sb_put(b, e, 3);
	}
}

int
tk_otpauth_uri(const char *issuer, const char *account,
    const unsigned char *key, size_t keylen, enum tk_otp_alg alg,
    int digits, int period, char *out, size_t out_size)
{
	char secret[TK_BASE32_LEN(TK_OTP_KEY_MAX) + 1], num[32];
	struct sbuf b = { out, out_size, 0, 0 };
	int has_issuer = issuer != NULL && issuer[0] != '\0';

	if (out == NULL || out_size == 0)
		return -1;
	out[0] = '\0';
	if (account == NULL || account[0] == '\0' || key == NULL ||
	    keylen == 0 || keylen > TK_OTP_KEY_MAX ||
	    tk_otp_alg_name(alg)[0] == '?' || digits < TK_OTP_DIGITS_MIN ||
	    digits > TK_OTP_DIGITS_MAX || period <= 0)
		return -1;
	if (tk_base32_encode(key, keylen, secret, sizeof(secret)) != 0)
		return -1;
	sb_str(&b, "otpauth://totp/");
	if (has_issuer) {
		sb_pct(&b, issuer);
		sb_str(&b, ":");
	}
	sb_pct(&b, account);
	sb_str(&b, "?secret=");
	sb_str(&b, secret);
	OPENSSL_cleanse(secret, sizeof(secret));
	if (has_issuer) {
		sb_str(&b, "&issuer=");
		sb_pct(&b, issuer);
	}
	sb_str(&b, "&algorithm=");
	sb_str(&b, tk_otp_alg_name(alg));
	(void)snprintf(num, sizeof(num), "&digits=%d&period=%d", digits,
	    period);
	sb_str(&b, num);
	if (b.over) {
		OPENSSL_cleanse(out, out_size);
		out[0] = '\0';
		return -1;
	}
	return 0;
}
