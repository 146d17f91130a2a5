/*
 * store_views.h - the materialised case views: the text a GET of a case
 * answered, kept on disk next to the database so that the next GET of
 * the same case state is one indexed row read instead of parsing the
 * record and every event and building the timeline again.
 *
 * A view is stored under a stamp: SHA-256 of what it was built from (the
 * case record as stored, the case's newest event, the org and policy in
 * force; tk_store_case_stamp) and is served only while the stamp still
 * matches and the clock is before the first moment time could change the
 * case (stale_at). The file is a cache, never a source of truth: it is
 * written without fsync, and losing it, or any error reading or writing
 * it, only means building the view again.
 */
#ifndef TK_STORE_VIEWS_H
#define TK_STORE_VIEWS_H

#include <stddef.h>

#include "core/tk.h"
#include "store/store.h"

#define TK_VIEW_STAMP_LEN 32

typedef struct tk_viewdb tk_viewdb;

/* The stamp of case id as committed in s (call inside a read or write
 * transaction, so it goes with what is read next): the record text, the
 * seq of the case's newest event, then salt (the org and policy digests).
 * TK_ERR_NOT_FOUND in err when there is no such case. */
int tk_store_case_stamp(tk_store *s, const char *id, const char *salt,
    unsigned char stamp[TK_VIEW_STAMP_LEN], tk_error *err);

/* Opens (creating) the view file at path: its own connection, WAL,
 * synchronous=NORMAL (no fsync per write). One thread at a time per
 * handle. */
tk_viewdb *tk_viewdb_open(const char *path, tk_error *err);
void tk_viewdb_close(tk_viewdb *v);

/* The stored view of id when its stamp is stamp and now < its stale_at:
 * 1 with *text (malloc'd, NUL-terminated) and *len; 0 when there is none
 * that fits; -1 with err on a read error. */
int tk_viewdb_get(tk_viewdb *v, const char *id,
    const unsigned char stamp[TK_VIEW_STAMP_LEN], tk_time now, char **text,
    size_t *len, tk_error *err);

/* Stores text as the view of id built from stamp, fresh until stale_at
 * (replacing any older one). A busy file is not waited for long: the
 * view is then simply not stored (-1 with err). */
int tk_viewdb_put(tk_viewdb *v, const char *id,
    const unsigned char stamp[TK_VIEW_STAMP_LEN], tk_time stale_at,
    const char *text, size_t len, tk_error *err);

#endif
