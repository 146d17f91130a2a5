/*
 * note.h - signed checkpoints for the audit log (DESIGN invariant 12):
 * Ed25519, and the C2SP signed-note, tlog-checkpoint and tlog-cosignature
 * ("cosignature/v1") formats.
 *
 * Owns: key ids, verifier and private key strings, signing and strict
 * verification of notes, the checkpoint body, and timestamped witness
 * cosignatures. The module is pure: no files, no network, no clock (the
 * caller passes the cosignature time in). Thread-safe: no shared state.
 *
 * Contract: every int function returns 0 on success and -1 on failure
 * with err (when non-NULL) filled: TK_ERR_INVALID for malformed input or a
 * signature that does not verify, TK_ERR_TOO_LARGE when an input or an
 * output buffer exceeds its cap, TK_ERR_INTERNAL when OpenSSL or malloc
 * fails. Every length is explicit; no input needs a NUL terminator
 * unless it is a `const char *` without a length.
 *
 * Secrets: tk_note_signer holds a 32-byte Ed25519 seed. Wipe it with
 * tk_note_signer_wipe when done; private key strings written by
 * tk_note_skey_format are the caller's to wipe (OPENSSL_cleanse).
 *
 * Formats (https://c2sp.org/signed-note, /tlog-checkpoint,
 * /tlog-cosignature):
 *   key id      = SHA-256(name || 0x0A || alg || 32-byte public key)[:4]
 *   verifier    = <name>+<8 hex key id>+<base64(alg || public key)>
 *   private     = PRIVATE+KEY+<name>+<8 hex key id>+<base64(alg || seed)>
 *                 (golang.org/x/mod/sumdb/note's form; the id is of the
 *                 public key)
 *   signed note = text "\n" then lines "— <name> <base64(id || sig)>\n"
 *   alg 0x01    = Ed25519 over the note text, sig is 64 bytes
 *   alg 0x04    = cosignature/v1: sig is 8-byte big-endian timestamp ||
 *                 Ed25519 over "cosignature/v1\ntime <ts>\n" || text,
 *                 where the text must be a checkpoint body
 * base64 is RFC 4648 standard alphabet with padding; this module only
 * accepts the canonical encoding (unused bits zero).
 */
#ifndef TK_NOTE_H
#define TK_NOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/tk.h"

#define TK_ED25519_SEED_LEN 32
#define TK_ED25519_PUB_LEN 32
#define TK_ED25519_SIG_LEN 64

#define TK_NOTE_KEY_ID_LEN 4
#define TK_NOTE_ALG_ED25519 0x01    /* plain Ed25519 note signatures */
#define TK_NOTE_ALG_COSIG_V1 0x04   /* timestamped Ed25519 cosignatures */

#define TK_NOTE_NAME_MAX 256        /* key name or origin, incl. NUL */
#define TK_NOTE_VKEY_MAX 320        /* verifier key string, incl. NUL */
#define TK_NOTE_SKEY_MAX 336        /* private key string, incl. NUL */
#define TK_NOTE_MAX_SIGS 100        /* signature lines per note */
#define TK_NOTE_MAX_LEN (1024 * 1024) /* bytes in a note or its text */
#define TK_CHECKPOINT_BASE_MAX 328  /* checkpoint body without extension
                                       lines, incl. NUL */

/* ---- Ed25519 (RFC 8032) over OpenSSL ---- */

/* Fills seed with 32 random bytes (RAND_bytes) and pub with its public
 * key. On failure seed is wiped. */
int tk_ed25519_keygen(unsigned char seed[TK_ED25519_SEED_LEN],
    unsigned char pub[TK_ED25519_PUB_LEN], tk_error *err)
    __attribute__((warn_unused_result));

/* Derives the public key of a seed. */
int tk_ed25519_public(const unsigned char seed[TK_ED25519_SEED_LEN],
    unsigned char pub[TK_ED25519_PUB_LEN], tk_error *err)
    __attribute__((warn_unused_result));

/* Signs len bytes of msg (msg may be NULL when len is 0) into sig. */
int tk_ed25519_sign(const unsigned char seed[TK_ED25519_SEED_LEN],
    const void *msg, size_t len, unsigned char sig[TK_ED25519_SIG_LEN],
    tk_error *err) __attribute__((warn_unused_result));

/* Returns 0 when sig is pub's valid signature of msg; -1 otherwise
 * (TK_ERR_INVALID "does not verify", or TK_ERR_INTERNAL). */
int tk_ed25519_verify(const unsigned char pub[TK_ED25519_PUB_LEN],
    const void *msg, size_t len, const unsigned char sig[TK_ED25519_SIG_LEN],
    tk_error *err) __attribute__((warn_unused_result));

/* ---- Keys ---- */

/* A public key a verifier trusts: the parsed form of a verifier key
 * string. alg is TK_NOTE_ALG_ED25519 for a log key or
 * TK_NOTE_ALG_COSIG_V1 for a witness; id is derived from name, alg and
 * pub, never taken on trust. */
typedef struct tk_note_key {
	char name[TK_NOTE_NAME_MAX];         /* valid key name, NUL-ended */
	uint8_t alg;                         /* 0x01 or 0x04 */
	unsigned char id[TK_NOTE_KEY_ID_LEN];
	unsigned char pub[TK_ED25519_PUB_LEN];
} tk_note_key;

/* A signing key: its public half (usable as a tk_note_key) and the
 * secret seed. Wipe with tk_note_signer_wipe. */
typedef struct tk_note_signer {
	tk_note_key key;
	unsigned char seed[TK_ED25519_SEED_LEN]; /* secret */
} tk_note_signer;

/* Whether name is a valid key name: 1 to 255 bytes of valid UTF-8 with
 * no '+', no Unicode space (White_Space) and no control character. */
bool tk_note_name_valid(const char *name);

/* id = SHA-256(name || 0x0A || alg || pub)[:4]. name must be valid. */
int tk_note_key_id(const char *name, uint8_t alg,
    const unsigned char pub[TK_ED25519_PUB_LEN],
    unsigned char id[TK_NOTE_KEY_ID_LEN], tk_error *err)
    __attribute__((warn_unused_result));

/* Builds a verifier key from a name, alg (0x01 or 0x04) and public key. */
int tk_note_key_from_public(const char *name, uint8_t alg,
    const unsigned char pub[TK_ED25519_PUB_LEN], tk_note_key *k,
    tk_error *err) __attribute__((warn_unused_result));

/* Generates a new signer named name with a random seed. alg 0x01 makes a
 * log (note) signer, 0x04 a witness (cosignature) signer. */
int tk_note_signer_generate(const char *name, uint8_t alg,
    tk_note_signer *s, tk_error *err) __attribute__((warn_unused_result));

/* Builds a signer from an existing seed (copied; the caller still owns
 * and wipes its own copy). On failure *s is wiped. */
int tk_note_signer_from_seed(const char *name, uint8_t alg,
    const unsigned char seed[TK_ED25519_SEED_LEN], tk_note_signer *s,
    tk_error *err) __attribute__((warn_unused_result));

/* Wipes the whole signer, seed included. s may be NULL. */
void tk_note_signer_wipe(tk_note_signer *s);

/* Writes "<name>+<hex id>+<base64(alg || pub)>" and a NUL into out
 * (size >= TK_NOTE_VKEY_MAX always suffices). */
int tk_note_vkey_format(const tk_note_key *k, char *out, size_t size,
    tk_error *err) __attribute__((warn_unused_result));

/* Parses a verifier key string strictly: valid name, exactly 8 hex digits
 * (either case), canonical base64 of exactly 33 bytes whose first is 0x01
 * or 0x04, and a key id equal to the one computed from the key. */
int tk_note_vkey_parse(const char *s, tk_note_key *k, tk_error *err)
    __attribute__((warn_unused_result));

/* Writes "PRIVATE+KEY+<name>+<hex id>+<base64(alg || seed)>" and a NUL
 * into out (size >= TK_NOTE_SKEY_MAX always suffices). out then holds a
 * secret: the caller wipes it. On failure nothing secret is left in out.
 * The signer's public key and id must match its seed. */
int tk_note_skey_format(const tk_note_signer *s, char *out, size_t size,
    tk_error *err) __attribute__((warn_unused_result));

/* Parses a private key string as tk_note_skey_format writes it (and Go's
 * note.GenerateKey does); the key id must match the public key derived
 * from the seed. Temporary copies of the seed are wiped; on failure *s is
 * wiped too. The input string remains the caller's to wipe. */
int tk_note_skey_parse(const char *s, tk_note_signer *out, tk_error *err)
    __attribute__((warn_unused_result));

/* ---- Signed notes ---- */

/* Signs text with each of the n signers (1 <= n <= TK_NOTE_MAX_SIGS, no
 * two with the same name and id) and returns in *out a malloc'd,
 * NUL-terminated note of *out_len bytes: text, a blank line, one
 * signature line per signer in order. text must be non-empty, valid
 * UTF-8, end with '\n' and hold no control character other than '\n'
 * (so no NUL). Cosignature signers (alg 0x04) sign at time now (>= 0) and
 * need text to be a checkpoint body; now is ignored for alg 0x01. */
int tk_note_sign(const char *text, size_t len, const tk_note_signer *signers,
    size_t n, tk_time now, char **out, size_t *out_len, tk_error *err)
    __attribute__((warn_unused_result));

/* Appends one more signature (or, for an alg 0x04 signer, a cosignature
 * at time now) to an already signed note, which must be well-formed and
 * not already carry a signature with the signer's name and id. The
 * existing signatures are not verified here. Output as tk_note_sign. */
int tk_note_add_signature(const char *note, size_t len,
    const tk_note_signer *signer, tk_time now, char **out, size_t *out_len,
    tk_error *err) __attribute__((warn_unused_result));

/* What tk_note_verify found for one of the keys it was given. */
typedef struct tk_note_result {
	bool ok;           /* the note carries a valid signature by this key */
	tk_time timestamp; /* cosignature time for an alg 0x04 key that
	                      verified; -1 otherwise */
} tk_note_result;

/*
 * Verifies a signed note against nkeys trusted keys (1..TK_NOTE_MAX_SIGS,
 * no two with the same name and id). Strict, per C2SP signed-note:
 *  - at most TK_NOTE_MAX_LEN bytes, valid UTF-8, no control character
 *    other than '\n';
 *  - the text ends at the last "\n\n" (it keeps its final '\n'); after it
 *    come 1..TK_NOTE_MAX_SIGS signature lines, each "— <valid name>
 *    <canonical base64 of >= 5 bytes>\n";
 *  - a line whose (name, id) is not a given key is ignored;
 *  - a line from a given key must have that key's length (68 bytes for
 *    0x01, 76 for 0x04) and verify, or the whole note is rejected; so is
 *    a note with two lines from the same given key;
 *  - at least one given key must have verified.
 * On success, results (nkeys entries, may be NULL) says which keys
 * signed, and *text_len (may be NULL) is the length of the signed text,
 * note[0 .. *text_len). A caller that needs a particular key (the log's)
 * or a quorum of witnesses checks results itself. No clock is read: a
 * caller that rejects cosignatures from the future compares timestamps.
 */
int tk_note_verify(const char *note, size_t len, const tk_note_key *keys,
    size_t nkeys, tk_note_result *results, size_t *text_len, tk_error *err)
    __attribute__((warn_unused_result));

/* ---- tlog-checkpoint bodies ---- */

/* A checkpoint: origin, tree size and RFC 6962 root hash, and optional
 * extension lines. */
typedef struct tk_checkpoint {
	char origin[TK_NOTE_NAME_MAX]; /* first line, non-empty, NUL-ended */
	uint64_t size;                 /* number of leaves */
	unsigned char root[32];        /* Merkle tree hash at that size */
	const char *ext;               /* extension lines, each non-empty
	                                  and '\n'-ended, or NULL; after
	                                  tk_checkpoint_parse it points into
	                                  the parsed body */
	size_t ext_len;                /* bytes at ext; 0 when none */
} tk_checkpoint;

/* Writes the body "origin\nsize\nbase64(root)\n" plus the extension lines
 * and a NUL into out; *out_len (may be NULL) gets the length without the
 * NUL. As the producer, twokey holds its origin to the key-name rules
 * (the spec's SHOULD). Without extension lines TK_CHECKPOINT_BASE_MAX
 * bytes always suffice. */
int tk_checkpoint_format(const tk_checkpoint *cp, char *out, size_t size,
    size_t *out_len, tk_error *err) __attribute__((warn_unused_result));

/* Parses a checkpoint body (a note's text, final '\n' included)
 * strictly: valid UTF-8 without control characters; a non-empty origin
 * of at most 255 bytes (any other content, as the spec says clients must
 * not assume its form); a decimal size without sign or leading zeros
 * (except "0") that fits in 64 bits; a root of exactly 44 base64
 * characters decoding to 32 bytes; then only non-empty extension lines.
 * cp->ext points into body. */
int tk_checkpoint_parse(const char *body, size_t len, tk_checkpoint *cp,
    tk_error *err) __attribute__((warn_unused_result));

/* ---- tlog-cosignature, cosignature/v1 (Ed25519) ---- */

/* Signs "cosignature/v1\ntime <timestamp>\n" || body with seed, where
 * body is a valid checkpoint body and timestamp >= 0 (decimal, no leading
 * zeros). This is the raw signature; tk_note_sign and
 * tk_note_add_signature put it in a line with the key id and the 8-byte
 * big-endian timestamp. */
int tk_cosig_sign(const unsigned char seed[TK_ED25519_SEED_LEN],
    const char *body, size_t len, tk_time timestamp,
    unsigned char sig[TK_ED25519_SIG_LEN], tk_error *err)
    __attribute__((warn_unused_result));

/* Verifies a raw cosignature/v1 signature made as tk_cosig_sign does. */
int tk_cosig_verify(const unsigned char pub[TK_ED25519_PUB_LEN],
    const char *body, size_t len, tk_time timestamp,
    const unsigned char sig[TK_ED25519_SIG_LEN], tk_error *err)
    __attribute__((warn_unused_result));

#endif
