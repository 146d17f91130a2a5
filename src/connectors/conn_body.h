/*
 * conn_body.h - what the scim, webhook and exec connectors build and read:
 * a capped buffer that wipes itself (request bodies may hold a password),
 * JSON string escaping, the change as a JSON document (the webhook body and
 * the exec program's stdin), percent-encoding, and the bounded, printable,
 * secret-free excerpt of a target's answer that goes into a result message.
 *
 * Owns: tk_sbuf and those encoders. No I/O; no global state; safe from
 * several threads.
 */
#ifndef TK_CONN_BODY_H
#define TK_CONN_BODY_H

#include <stddef.h>

#include "connectors/connector.h"

/* A growable byte buffer with a hard cap. Every old copy is wiped when it
 * grows and the whole buffer is wiped by tk_sbuf_free, so it may hold a
 * secret. After any failure (cap reached, out of memory, invalid UTF-8
 * given to tk_sbuf_json_str) failed is set, later appends do nothing, and
 * the caller checks failed once at the end. p is NUL-terminated whenever
 * it is non-NULL. */
typedef struct tk_sbuf {
	char *p;
	size_t len;
	size_t cap;      /* bytes allocated at p */
	size_t max;      /* len never exceeds this */
	int failed;      /* 0, or 1 after a failed append */
	int truncated;   /* tk_sbuf_add_trunc dropped bytes at the cap */
} tk_sbuf;

void tk_sbuf_init(tk_sbuf *b, size_t max);
void tk_sbuf_add(tk_sbuf *b, const void *s, size_t n);
void tk_sbuf_adds(tk_sbuf *b, const char *s);
/* Appends what fits under the cap and marks truncated (not failed). */
void tk_sbuf_add_trunc(tk_sbuf *b, const void *s, size_t n);
/* Appends s as a quoted JSON string (RFC 8259: '"', '\\' and control
 * characters escaped). Fails on invalid UTF-8. */
void tk_sbuf_json_str(tk_sbuf *b, const char *s);
/* Appends s percent-encoded (RFC 3986: all but unreserved characters). */
void tk_sbuf_pct(tk_sbuf *b, const char *s);
/* Wipes and frees; b can be used again after tk_sbuf_init. */
void tk_sbuf_free(tk_sbuf *b);

/* 1 when s (len bytes) is valid UTF-8 without NUL bytes, else 0. */
int tk_utf8_valid(const char *s, size_t len);

/* The change as one JSON object, fields in this order: op, case,
 * idempotency_key, subject, subject_kind, action, group (only when set),
 * params (ch->params, which must be a JSON object; "{}" when NULL),
 * secret (only when with_secret and ch->secret is set), sent_at (RFC 3339,
 * from now). Returns 0, or -1 with err saying which field was bad. The
 * caller frees (and so wipes) out. */
int tk_change_json(const tk_change *ch, int with_secret, long long now,
    tk_sbuf *out, tk_error *err);

/* Copies at most max bytes of s (len bytes) into out (size bytes) as one
 * printable line: control characters and newlines become spaces, runs of
 * spaces fold, invalid UTF-8 bytes become '?', the cut never splits a
 * character, and when secret is set (non-empty) every whole occurrence
 * of it in s is replaced by "[redacted]". Adds "..." when cut. */
void tk_conn_excerpt(const char *s, size_t len, size_t max,
    const char *secret, char *out, size_t size);

#endif
