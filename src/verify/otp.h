/*
 * otp.h - one-time passwords for registered factors: HOTP (RFC 4226),
 * TOTP (RFC 6238) verification with a window and replay protection,
 * base32 (RFC 4648) for secrets, and the otpauth:// enrolment URI (Key
 * Uri Format, as authenticator apps read it).
 *
 * Pure functions: no global state, no I/O; safe to call from any thread.
 * Keys are the raw seed bytes (not base32). Codes are compared in
 * constant time; nothing here copies a key outside the caller's buffers
 * and OpenSSL's contexts, which are freed (and wiped by OpenSSL) before
 * each call returns.
 */
#ifndef TK_OTP_H
#define TK_OTP_H

#include <stddef.h>
#include <stdint.h>

enum tk_otp_alg { TK_OTP_SHA1 = 0, TK_OTP_SHA256 = 1, TK_OTP_SHA512 = 2 };

#define TK_OTP_DIGITS_MIN 6
#define TK_OTP_DIGITS_MAX 8
#define TK_OTP_CODE_MAX 9      /* digits + NUL: the size of a code buffer */
#define TK_OTP_WINDOW_MAX 10   /* steps either side tk_totp_match accepts */
#define TK_OTP_KEY_MAX 128     /* longest seed accepted, in bytes */

/* "SHA1", "SHA256", "SHA512" ("?" for anything else). */
const char *tk_otp_alg_name(enum tk_otp_alg a);
/* Case-insensitive "sha1" / "SHA256" / "sha512" (also "SHA-256" with a
 * dash); -1 for anything else or NULL. */
int tk_otp_alg_parse(const char *name);

/* RFC 4226 HOTP: writes the code for counter as `digits` (6..8) decimal
 * digits, zero-padded and NUL-terminated, into out (at least
 * TK_OTP_CODE_MAX bytes). Returns 0, or -1 on bad arguments (NULL, empty
 * or over-long key, digits out of range, unknown alg) or an OpenSSL
 * failure; out is then an empty string. */
int tk_hotp(const unsigned char *key, size_t keylen, enum tk_otp_alg alg,
    uint64_t counter, int digits, char *out);

/* RFC 6238 TOTP verification. code must be exactly `digits` ASCII digits
 * (anything else, the empty string included, never matches). It is
 * checked against the time steps floor(now / period) - window ..
 * floor(now / period) + window, and only steps > last_step count: the
 * caller stores the returned step and passes it back as last_step next
 * time, so a code is accepted once (pass -1 for a factor never used).
 * Every step in the window is computed and compared in constant time,
 * whether or not an earlier one matched.
 *
 * Returns the matching step (>= 0; the highest one if, by chance, two
 * steps share a code) or -1 for no match or bad arguments (digits not
 * 6..8, period <= 0, window not 0..TK_OTP_WINDOW_MAX, NULL key/code). */
int64_t tk_totp_match(const unsigned char *key, size_t keylen,
    enum tk_otp_alg alg, int digits, int period, int64_t now,
    const char *code, int window, int64_t last_step);

/* Characters tk_base32_encode writes for n bytes (without the NUL). */
#define TK_BASE32_LEN(n) (((n) * 8 + 4) / 5)

/* RFC 4648 base32, upper case, without '=' padding: writes
 * TK_BASE32_LEN(n) characters and a NUL. Returns 0, or -1 (out holds an
 * empty string when out_size > 0) if out_size is too small. */
int tk_base32_encode(const unsigned char *in, size_t n, char *out,
    size_t out_size);

/* Decodes base32 as people type it: upper or lower case, spaces ignored
 * anywhere, '=' padding optional but only at the end (and then the
 * padded length is a multiple of 8). Bits left over after the last whole
 * byte are ignored. Returns 0 and sets *out_len, or -1 on an invalid
 * character, a length no encoding has (1, 3 or 6 characters over a
 * multiple of 8), or more than out_size bytes; out is then wiped. */
int tk_base32_decode(const char *in, unsigned char *out, size_t out_size,
    size_t *out_len);

/* The enrolment URI an authenticator app scans:
 *   otpauth://totp/ISSUER:ACCOUNT?secret=BASE32&issuer=ISSUER
 *       &algorithm=SHA1&digits=6&period=30
 * with ISSUER and ACCOUNT percent-encoded (everything except RFC 3986
 * unreserved characters A-Z a-z 0-9 - . _ ~ and '@' becomes %XX, so a
 * space is %20 and a colon %3A). A NULL or empty issuer leaves out the label
 * prefix and the issuer parameter. Returns 0, or -1 on bad arguments or
 * when out_size is too small (out then holds an empty string). The URI
 * carries the secret: treat it like the key. */
int tk_otpauth_uri(const char *issuer, const char *account,
    const unsigned char *key, size_t keylen, enum tk_otp_alg alg,
    int digits, int period, char *out, size_t out_size);

#endif
