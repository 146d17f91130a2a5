/*
 * b64.c - base64 (RFC 4648 standard alphabet, padded), strict: the one
 * codec every part of twokey uses for keys, signatures, hashes, proofs
 * and leaf bytes.
 *
 * Owns: encoding, and decoding that accepts only the canonical form (no
 * whitespace, '=' only as final padding, unused bits zero), so a value
 * has exactly one spelling. Scratch bits are wiped: keys pass through.
 */
#include "core/b64.h"

#include <openssl/crypto.h>

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void
tk_b64_encode(const unsigned char *in, size_t n, char *out)
{
	size_t i, o = 0;
	uint32_t v;

	for (i = 0; i + 3 <= n; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64_alphabet[v >> 18 & 63];
		out[o++] = b64_alphabet[v >> 12 & 63];
		out[o++] = b64_alphabet[v >> 6 & 63];
		out[o++] = b64_alphabet[v & 63];
	}
	if (n - i == 1) {
		v = (uint32_t)in[i] << 16;
		out[o++] = b64_alphabet[v >> 18 & 63];
		out[o++] = b64_alphabet[v >> 12 & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (n - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64_alphabet[v >> 18 & 63];
		out[o++] = b64_alphabet[v >> 12 & 63];
		out[o++] = b64_alphabet[v >> 6 & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
}

static int
value_of(unsigned char c)
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

int
tk_b64_decode(const char *in, size_t len, unsigned char *out, size_t max,
    size_t *n)
{
	size_t i, j, o = 0, pad = 0;
	uint32_t v = 0;
	int d, rc = -1;

	*n = 0;
	if (len % 4 != 0)
		return -1;
	if (len > 0 && in[len - 1] == '=')
		pad = (len > 1 && in[len - 2] == '=') ? 2 : 1;
	for (i = 0; i < len; i += 4) {
		v = 0;
		for (j = 0; j < 4; j++) {
			if (i + j >= len - pad) {
				v <<= 6;
				continue;
			}
			d = value_of((unsigned char)in[i + j]);
			if (d < 0)
				goto done;
			v = v << 6 | (uint32_t)d;
		}
		for (j = 0; j < 3; j++) {
			if (i + 4 >= len && j >= 3 - pad)
				break;
			if (o < max)
				out[o] = (unsigned char)(v >> (16 - 8 * j));
			o++;
		}
	}
	/* Canonical: the bits under the padding must be zero. */
	if ((pad == 1 && (v & 0xff) != 0) || (pad == 2 && (v & 0xffff) != 0))
		goto done;
	*n = o;
	rc = 0;
done:
	OPENSSL_cleanse(&v, sizeof(v));
	return rc;
}

