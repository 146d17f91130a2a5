/*
 * chain.h - the audit events as rows: the canonical encoding of an event
 * (the exact bytes of its Merkle leaf, see audit/log.h for the tree) and
 * the check of every stored row against itself.
 *
 * Canonical body: a compact JSON object with keys in this order and no
 * whitespace: {"seq":N,"ts":"RFC3339Z","case":"..","kind":"..",
 * "actor":"..","alert":true|false,"data":{...sorted keys...}}, strings
 * escaped as jansson does with JSON_COMPACT|JSON_SORT_KEYS|
 * JSON_ENSURE_ASCII. The row's hash is the RFC 6962 leaf hash
 * SHA-256(0x00 || body).
 */
#ifndef TK_CHAIN_H
#define TK_CHAIN_H

#include <jansson.h>

#include "core/tk.h"
#include "store/store.h"

/* Builds the canonical body; returns a malloc'd NUL-terminated string or
 * NULL on out-of-memory. */
char *tk_chain_body(int64_t seq, tk_time ts, const char *case_id,
    const char *kind, const char *actor, bool alert, const json_t *data);

/* Checks one stored row against itself: its body is the canonical
 * encoding of its columns (seq, ts, case, kind, actor, alert) with some
 * data object. 0, or -1 with why (a sentence naming the seq and the
 * column that differs). The leaf hash is not checked here. */
int tk_chain_row_check(const tk_leaf *l, char *why, size_t size);

/* What a walk over many rows keeps between them: the last timestamp
 * formatted (events of one second share it). Zero it before the first
 * row; one per thread. */
typedef struct tk_chain_checker {
	tk_time ts;
	bool have_ts;
	char ts_text[32];
} tk_chain_checker;

/* tk_chain_row_check for a walk: the same rules and answers, with the
 * timestamp text reused from the previous row when it is the same. */
int tk_chain_row_check_in(tk_chain_checker *c, const tk_leaf *l, char *why,
    size_t size);

/* Walks every event row in the store: seq gapless from 1, every body
 * re-encodes to itself with the row's columns, every leaf hash
 * recomputes.
 * Returns 0 when intact (*count = events checked); -1 with *bad_seq = the
 * first bad sequence number and err describing what differs. */
int tk_chain_verify(struct tk_store *s, int64_t *count, int64_t *bad_seq,
    tk_error *err);

#endif
