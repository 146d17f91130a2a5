/*
 * b64.h - strict base64 (RFC 4648, standard alphabet, padded): one codec
 * for keys, signatures, hashes, proofs and leaf bytes.
 */
#ifndef TK_B64_H
#define TK_B64_H

#include <stddef.h>
#include <stdint.h>

/* Characters in the base64 encoding of n bytes (without the NUL). */
#define TK_B64_LEN(n) (((n) + 2) / 3 * 4)

/* Writes TK_B64_LEN(n) characters and a NUL to out. */
void tk_b64_encode(const unsigned char *in, size_t n, char *out);

/* Decodes len characters of canonical base64: length a multiple of 4,
 * only the alphabet, '=' only as one or two final characters, unused
 * bits zero. Stores at most max bytes in out (out may be NULL when max is
 * 0); the rest is still checked and counted in *n. Returns 0 or -1. */
int tk_b64_decode(const char *in, size_t len, unsigned char *out,
    size_t max, size_t *n);

#endif
