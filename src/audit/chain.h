/*
 * chain.h - the hash-chained audit trail: the canonical encoding of an
 * event (the exact bytes that are hashed, ready to become Merkle leaves)
 * and verification of a stored chain.
 *
 * Canonical body: a compact JSON object with keys in this order and no
 * whitespace: {"seq":N,"ts":"RFC3339Z","case":"..","kind":"..",
 * "actor":"..","alert":true|false,"data":{...sorted keys...}}, strings
 * escaped as jansson does with JSON_COMPACT|JSON_SORT_KEYS|
 * JSON_ENSURE_ASCII. hash = SHA-256(prev_hash || body), prev of the first
 * event = 32 zero bytes.
 */
#ifndef TK_CHAIN_H
#define TK_CHAIN_H

#include <jansson.h>

#include "core/tk.h"

/* Builds the canonical body; returns a malloc'd NUL-terminated string or
 * NULL on out-of-memory. */
char *tk_chain_body(int64_t seq, tk_time ts, const char *case_id,
    const char *kind, const char *actor, bool alert, const json_t *data);

/* hash = SHA-256(prev || body). */
void tk_chain_hash(const unsigned char prev[32], const char *body,
    size_t len, unsigned char out[32]);

struct tk_store;
/* Walks the whole chain in the store: seq gapless from 1, every body
 * re-encodes to itself with the row's columns, every hash recomputes.
 * Returns 0 when intact (*count = events checked); -1 with *bad_seq = the
 * first bad sequence number and err describing what differs. */
int tk_chain_verify(struct tk_store *s, int64_t *count, int64_t *bad_seq,
    tk_error *err);

#endif
