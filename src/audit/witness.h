/*
 * witness.h - a client of C2SP tlog-witness (https://c2sp.org/tlog-witness):
 * pushes a signed checkpoint of the audit log to a witness with
 * `add-checkpoint` and checks the cosignature it answers with
 * (cosignature/v1, https://c2sp.org/tlog-cosignature) before anyone keeps
 * it. DESIGN invariant 12: a witness that cosigned size N will never
 * cosign a tree that is not an extension of it, so a log that forks or
 * rolls back is caught by someone outside the server.
 *
 * Owns: the witness configuration string ("URL=VERIFIER_KEY"), the
 * request body (old size, RFC 6962 consistency proof, checkpoint), the
 * reading of every answer the spec defines (200 cosignature lines, 409
 * with the witness's size as text/x.tlog.size, 400/403/404/422), and the
 * verification of the returned lines with the witness's configured key.
 * It keeps no state between calls and touches no store: the caller
 * decides what to push, from which old size, and stores what verified.
 *
 * Network: one HTTP POST per call over libcurl, with a total time limit
 * the caller gives (the server uses a few seconds) and an answer capped
 * at TK_WITNESS_REPLY_MAX bytes. No redirects are followed and only
 * http and https are spoken. curl_global_init must have been called.
 *
 * Thread safety: no shared state; every function may be called from any
 * thread. Every int function returns 0 on success and -1 with err filled
 * (TK_ERR_INVALID for malformed input or an answer that does not verify,
 * TK_ERR_INTERNAL when out of memory or libcurl cannot be set up).
 */
#ifndef TK_WITNESS_H
#define TK_WITNESS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/note.h"
#include "core/tk.h"

#define TK_WITNESS_URL_MAX 512      /* submission prefix, incl. NUL */
#define TK_WITNESS_LINE_MAX 512     /* one cosignature line, incl. NUL */
#define TK_WITNESS_REPLY_MAX 65536  /* bytes read from a witness */
#define TK_WITNESS_PROOF_MAX 63     /* proof lines the spec allows */
#define TK_WITNESS_SKEW 600         /* seconds a cosignature may be ahead
                                       of our clock */

/* One configured witness: where it listens and the key it cosigns with. */
typedef struct tk_witness {
	char url[TK_WITNESS_URL_MAX];  /* submission prefix, no final '/' */
	char vkey[TK_NOTE_VKEY_MAX];   /* verifier key, canonical form */
	tk_note_key key;               /* its parsed form, alg 0x04 */
} tk_witness;

/* Parses "URL=VERIFIER_KEY": an http:// or https:// submission prefix
 * (no query, fragment, space or control character; a final '/' is
 * dropped) and a cosignature/v1 (alg 0x04) verifier key
 * "<name>+<hex id>+<base64(0x04 || public key)>". The split is at the
 * first '=' whose right side is such a key. */
int tk_witness_parse(const char *spec, tk_witness *w, tk_error *err)
    __attribute__((warn_unused_result));

/* Builds an add-checkpoint request body: "old <old>\n", one base64 line
 * per proof hash (n <= TK_WITNESS_PROOF_MAX, 32 bytes each), an empty
 * line, then the signed note (note_len bytes, ending in '\n'). *out is
 * malloc'd and NUL-terminated; the caller frees it. */
int tk_witness_body(uint64_t old, const unsigned char *proof, size_t n,
    const char *note, size_t note_len, char **out, size_t *out_len,
    tk_error *err) __attribute__((warn_unused_result));

/* Checks a 200 answer to add-checkpoint for note: one or more lines
 * "— <name> <base64>\n" (nothing else), among which exactly one valid
 * cosignature/v1 by w's key over the checkpoint body (lines by other
 * keys are ignored, as the spec says). Its timestamp must not be more
 * than TK_WITNESS_SKEW seconds after now. On success line (size >=
 * TK_WITNESS_LINE_MAX) gets that line without its newline and *ts its
 * timestamp. */
int tk_witness_check_reply(const tk_witness *w, const char *note,
    size_t note_len, const char *reply, size_t reply_len, tk_time now,
    char *line, size_t line_size, tk_time *ts, tk_error *err)
    __attribute__((warn_unused_result));

/* What one add-checkpoint request came to. */
enum tk_witness_outcome {
	TK_WITNESS_COSIGNED,    /* 200 and a cosignature that verified */
	TK_WITNESS_CONFLICT,    /* 409 naming the size the witness holds:
	                           ask again from that size */
	TK_WITNESS_REFUSED,     /* the witness will not cosign this: 400,
	                           403 (log key not trusted), 404 (origin
	                           unknown), 409 without a size (same size,
	                           another root), 422 (the proof does not
	                           verify), or a 200 whose cosignature did
	                           not verify */
	TK_WITNESS_UNREACHABLE  /* no answer in time, or another status */
};

typedef struct tk_witness_result {
	enum tk_witness_outcome outcome;
	long status;                    /* HTTP status; 0 without an answer */
	uint64_t size;                  /* CONFLICT: the witness's size */
	char line[TK_WITNESS_LINE_MAX]; /* COSIGNED: the verified line */
	tk_time timestamp;              /* COSIGNED: its time */
	char msg[320];                  /* what happened, for a person */
} tk_witness_result;

/*
 * POSTs <url>/add-checkpoint with the body of tk_witness_body (old size
 * old, the consistency proof from old to the checkpoint's size, the
 * signed note) and reads the answer into r, waiting at most timeout_ms
 * (100..60000) in all. now is the caller's clock for the cosignature
 * time check. When cancel (may be NULL) becomes true the request is
 * abandoned within about a second (UNREACHABLE, "cancelled"). Returns 0
 * with r filled whatever the witness said; -1 only when the request
 * could not be made at all (bad arguments, out of memory, libcurl
 * set-up).
 */
int tk_witness_add_checkpoint(const tk_witness *w, uint64_t old,
    const unsigned char *proof, size_t n, const char *note, size_t note_len,
    tk_time now, long timeout_ms, const atomic_bool *cancel,
    tk_witness_result *r, tk_error *err)
    __attribute__((warn_unused_result));

#endif
