/*
 * seal.h - registered-factor seeds (and other small secrets) encrypted at
 * rest: AES-256-GCM under a key kept in a file that `twokey init`
 * creates next to the database, readable only by its owner.
 *
 * Key file: one line, exactly
 *     "twokey-seal-v1 " + base64 (RFC 4648, padded) of 32 random bytes
 *     + "\n"
 * i.e. 60 bytes, mode 0600. tk_seal_key_load refuses anything else (a
 * missing newline included): a different length, prefix or encoding, a
 * file group or others may read, a symlink or non-regular file.
 *
 * Sealed form: 0x01 (version) || 12-byte random nonce || ciphertext (as
 * long as the plaintext) || 16-byte GCM tag. The GCM additional data is
 * the version byte followed by the caller's aad string (no NUL), so a
 * blob only opens with the same key, the same version and the same
 * context (twokey passes e.g. "factor:SUBJECT").
 *
 * No global state; all functions are thread-safe. Key material that
 * passes through a stack buffer here is wiped before return.
 */
#ifndef TK_SEAL_H
#define TK_SEAL_H

#include <stddef.h>

#include "core/tk.h"

#define TK_SEAL_KEY_LEN 32
#define TK_SEAL_NONCE_LEN 12
#define TK_SEAL_TAG_LEN 16
#define TK_SEAL_VERSION 0x01
#define TK_SEAL_OVERHEAD (1 + 12 + 16)
#define TK_SEAL_KEY_PREFIX "twokey-seal-v1 "

/* Creates a new key file at path with 32 bytes from RAND_bytes: O_CREAT
 * | O_EXCL | O_NOFOLLOW, mode 0600 (set with fchmod, whatever the umask),
 * then fsync of the file and of its directory. Fails if path exists
 * (never overwrites a key: the seeds sealed under it would be lost); a
 * partly written file is removed. Returns 0 or -1 with err set. */
int tk_seal_key_create(const char *path, tk_error *err);

/* Loads the key at path into key. Refuses (-1, err says what to do) a
 * file that is missing, not a regular file, group/other readable or
 * writable, or not exactly the format above. key is wiped on failure. */
int tk_seal_key_load(const char *path, unsigned char key[TK_SEAL_KEY_LEN],
    tk_error *err);

/* Seals n bytes of in (n may be 0) into out, which must hold
 * n + TK_SEAL_OVERHEAD bytes; *out_len gets that length. aad may be NULL
 * (the same as ""). in and out must not overlap. Returns 0 or -1 with
 * err set (out_size too small, OpenSSL failure); out is then wiped. */
int tk_seal(const unsigned char key[TK_SEAL_KEY_LEN], const char *aad,
    const unsigned char *in, size_t n, unsigned char *out, size_t out_size,
    size_t *out_len, tk_error *err);

/* Opens a sealed blob of n bytes into out (n - TK_SEAL_OVERHEAD bytes).
 * Fails (-1, err set, *out_len 0) when the blob is too short or of
 * another version, out_size is too small, or the tag does not verify
 * (wrong key, wrong aad, any byte changed); out is then wiped, so no
 * unauthenticated plaintext is left behind. in and out must not
 * overlap. */
int tk_unseal(const unsigned char key[TK_SEAL_KEY_LEN], const char *aad,
    const unsigned char *in, size_t n, unsigned char *out, size_t out_size,
    size_t *out_len, tk_error *err);

#endif
