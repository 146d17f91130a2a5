/*
 * store_pages.h - a read-only view of an SQLite store's file for the
 * audit walk: the events and tiles read straight from the database
 * pages (SQLite's documented file format) instead of through SQLite's
 * row machinery, which cost more than all the hashing. Not for anything
 * else: only tk_audit_verify_store's walk uses it.
 */
#ifndef TK_STORE_PAGES_H
#define TK_STORE_PAGES_H

#include "store/store.h"

typedef struct tk_pages tk_pages;

/* What a read answers when it met something it does not read itself
 * (a row or page shaped otherwise than the store writes them, an
 * overflow chain it will not follow): ask SQLite instead, from the
 * start of the same range. Rows already given to the callback must be
 * forgotten by the caller. */
#define TK_PAGES_ASK_SQLITE 1

/*
 * Opens the view: a read transaction on s's connection (so that the
 * file stays the snapshot it reads: a checkpoint does not write the
 * file under a reader that reads it directly) and a map of the whole
 * file. NULL when the view cannot serve this store (a private in-memory
 * one, a write-ahead log holding frames, a transaction already open, a
 * file format it does not know); why says it, for diagnostics, and the
 * caller reads through SQLite as before. While open, s may be used for
 * reads only.
 */
tk_pages *tk_pages_open(tk_store *s, char *why, size_t why_size);
/* Ends the read transaction and unmaps. NULL is fine. */
void tk_pages_close(tk_pages *p);

/* What one thread reads with: its buffers, and the paths it last took
 * down the trees (the next seek reads only the pages that differ). One
 * thread each; many may read one view. NULL when out of memory. */
typedef struct tk_pages_reader tk_pages_reader;
tk_pages_reader *tk_pages_reader_new(const tk_pages *p);
void tk_pages_reader_free(tk_pages_reader *r);

/*
 * The events with seq >= from, at most limit (> 0), in order, as
 * tk_store_event_leaves gives them (the same tk_leaf), with cb's answer
 * likewise: nonzero stops. 0, or TK_PAGES_ASK_SQLITE.
 */
int tk_pages_event_leaves(tk_pages_reader *r, int64_t from, int64_t limit,
    tk_leaf_cb cb, void *arg);
/* Tile (level, index) as tk_store_tile_read: 0 (hashes, width filled),
 * 1 absent, or TK_PAGES_ASK_SQLITE. */
int tk_pages_tile_read(tk_pages_reader *r, int level, uint64_t index,
    unsigned char *hashes, size_t *width);

#endif
