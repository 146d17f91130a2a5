/*
 * store.h - durable storage behind one small interface, so SQLite (the
 * default, store_sqlite.c) and later PostgreSQL share the callers.
 *
 * Owns: cases, the audit events with the Merkle tree over them (RFC 6962,
 * kept as tiles in the same transaction as the events), signed
 * checkpoints and witness cosignatures, the audit log's public keys, API
 * token hashes and the loaded configuration (org and policy texts).
 *
 * Contract: every function returns 0 on success, -1 on failure with err
 * filled (TK_ERR_INTERNAL for storage failures, TK_ERR_NOT_FOUND where
 * noted). A store handle is used by one thread at a time; callers
 * serialise. Writes between tk_store_begin and tk_store_commit are one
 * transaction: all of it is durable or none. Reads inside an open
 * transaction see its uncommitted writes.
 */
#ifndef TK_STORE_H
#define TK_STORE_H

#include <jansson.h>

#include "core/tk.h"

typedef struct tk_store tk_store;

/* One audit event as appended. The store assigns seq and hash; body is
 * the canonical encoding (see audit/chain.h): the Merkle leaf. */
typedef struct tk_event_row {
	int64_t seq;              /* 1-based, gapless */
	tk_time ts;
	char case_id[TK_ID_MAX];  /* "" for events about no case */
	char kind[TK_NAME_MAX];
	char actor[TK_ID_MAX];
	bool alert;
	char *body;               /* canonical JSON (owned by the row) */
	unsigned char hash[32];   /* leaf hash SHA-256(0x00 || body) */
} tk_event_row;
void tk_event_row_clear(tk_event_row *r); /* frees body */

typedef struct tk_case_filter {
	const char *queue;   /* family, or NULL */
	const char *state;   /* state name, or NULL; "open" = any open state */
	const char *subject; /* or NULL */
	int limit;           /* <= 0: 100 */
	int64_t after;       /* return rows with rowid > after (paging) */
} tk_case_filter;

/* Called per row; return non-zero to stop. */
typedef int (*tk_case_cb)(void *arg, int64_t rowid, const json_t *case_json);
typedef int (*tk_event_cb)(void *arg, const tk_event_row *row);

/* Opens (creating with `create`) the database at path. Without
 * `create`, a missing database is TK_ERR_NOT_FOUND ("no database at
 * PATH; run `twokey init` first"). ":memory:" opens a private in-memory
 * store (tests). */
tk_store *tk_store_open(const char *path, bool create, tk_error *err);
void tk_store_close(tk_store *s);

int tk_store_begin(tk_store *s, tk_error *err);
int tk_store_commit(tk_store *s, tk_error *err);
void tk_store_rollback(tk_store *s);
bool tk_store_in_transaction(tk_store *s);

/* Makes s a read-only connection (PRAGMA query_only) with a small page
 * cache of cache_kb KiB, for one of the app's reader threads: any write
 * through it then fails. 0 or -1 (err filled). */
int tk_store_reader(tk_store *s, int cache_kb, tk_error *err);
/* A read transaction (BEGIN DEFERRED): every read until
 * tk_store_read_end sees one snapshot, the state committed when the
 * first of them ran (WAL: never blocked by the writer, never seeing its
 * uncommitted writes). 0 or -1 (err filled). */
int tk_store_read_begin(tk_store *s, tk_error *err);
void tk_store_read_end(tk_store *s);

/* PRAGMA data_version: it changes when another connection (another
 * process, say) commits to the database, not on this one's commits.
 * Callers caching what they read compare it to notice such writes. */
int tk_store_data_version(tk_store *s, int64_t *out, tk_error *err);

/* One level of savepoint inside an open transaction (group commit: one
 * per operation of a batch). release keeps the writes since the
 * savepoint in the transaction; rollback_to undoes them (and forgets the
 * cached chain head) and leaves the transaction open. Both fail when the
 * transaction itself is gone (SQLite rolled it back after an I/O, full
 * or busy error): the caller must then treat the whole transaction as
 * rolled back. */
int tk_store_savepoint(tk_store *s, tk_error *err);
int tk_store_release(tk_store *s, tk_error *err);
int tk_store_rollback_to(tk_store *s, tk_error *err);

/* Configuration texts: name is "org" or "policy". Each put is a new
 * version; get returns the newest (malloc'd, caller frees). */
int tk_store_config_put(tk_store *s, const char *name, const char *text,
    tk_error *err);
int tk_store_config_get(tk_store *s, const char *name, char **text,
    tk_error *err); /* TK_ERR_NOT_FOUND when never set */

/* Cases are stored as their JSON record (core/case.h) plus indexed
 * columns. put inserts or replaces. */
int tk_store_case_put(tk_store *s, const char *id, const char *subject,
    const char *family, const char *state, tk_time updated,
    const json_t *record, tk_error *err);
int tk_store_case_get(tk_store *s, const char *id, json_t **record,
    tk_error *err); /* TK_ERR_NOT_FOUND */
/* An open case (any open state) for subject+family, id into id_out.
 * TK_ERR_NOT_FOUND (and id_out "") when there is none. */
int tk_store_case_find_open(tk_store *s, const char *subject,
    const char *family, char *id_out, size_t id_size, tk_error *err);
int tk_store_case_list(tk_store *s, const tk_case_filter *f, tk_case_cb cb,
    void *arg, tk_error *err);
/* Calls cb once per queue (family) holding cases in state (a state name,
 * or NULL / "open" for any open state) with how many (store_queue.c). */
typedef void (*tk_count_cb)(void *arg, const char *family, int64_t n);
int tk_store_case_counts(tk_store *s, const char *state, tk_count_cb cb,
    void *arg, tk_error *err);

/* Appends one event to the chain; fills row->seq, ts, hash and body.
 * `data` is the event's JSON detail (borrowed). */
int tk_store_event_append(tk_store *s, tk_time ts, const char *case_id,
    const char *kind, const char *actor, bool alert, const json_t *data,
    tk_event_row *row, tk_error *err);
int tk_store_event_list_case(tk_store *s, const char *case_id,
    tk_event_cb cb, void *arg, tk_error *err);
/* One stored event as the fast scan sees it: pointers into the row,
 * valid only during the callback; body is len bytes (not
 * NUL-terminated), the strings are NUL-terminated. */
typedef struct tk_leaf {
	int64_t seq;
	tk_time ts;
	const char *case_id, *kind, *actor;
	bool alert;
	const char *body;
	size_t len;
	const unsigned char *hash; /* 32 bytes: the recorded leaf hash */
} tk_leaf;
/* The events for verification, fast (no copies). Same range rules as
 * tk_store_event_scan; a row with a column of the wrong type or size is
 * an error naming its seq. */
typedef int (*tk_leaf_cb)(void *arg, const tk_leaf *l);
int tk_store_event_leaves(tk_store *s, int64_t from, int64_t limit,
    tk_leaf_cb cb, void *arg, tk_error *err);
/* Reads the database file through a memory map (on) or not (off), for
 * a long walk such as tk_store_event_leaves in pieces (a walk over the
 * whole log, limit <= 0, maps it by itself). Outside a transaction; 0
 * or -1 (err filled). */
int tk_store_map_reads(tk_store *s, bool on, tk_error *err);
/* The path the store was opened with (":memory:" for a private one). */
const char *tk_store_path(const tk_store *s);
/* Events with seq >= from, at most limit (<=0: all), in order. */
int tk_store_event_scan(tk_store *s, int64_t from, int64_t limit,
    tk_event_cb cb, void *arg, tk_error *err);

/* The kind of the event a full verification of the log leaves
 * (app/audit_verify.c), and the newest one's seq (0 when there is none),
 * found through an index of those rows only (store_verified.c). */
#define TK_EVENT_AUDIT_VERIFIED "audit.verified"
int tk_store_event_latest_verified(tk_store *s, int64_t *seq,
    tk_error *err);

/* API tokens: only SHA-256 of the token is stored. */
int tk_store_token_put(tk_store *s, const char *login,
    const unsigned char hash[32], tk_time now, tk_error *err);
int tk_store_token_lookup(tk_store *s, const unsigned char hash[32],
    char *login_out, size_t login_size, tk_error *err); /* NOT_FOUND */
int tk_store_token_revoke_user(tk_store *s, const char *login,
    tk_error *err);

/*
 * The Merkle tree over the events: leaf i (0-based) is the body of the
 * event with seq i+1. Leaf hashes enter the tree at COMMIT, with the
 * tiles written in the same transaction; these reads see committed
 * events only (and fail inside a transaction holding new events).
 * Sizes beyond the log are TK_ERR_INVALID.
 */
int tk_store_log_size(tk_store *s, uint64_t *size, tk_error *err);
int tk_store_log_root(tk_store *s, uint64_t size, unsigned char root[32],
    tk_error *err);
int tk_store_log_leaf(tk_store *s, uint64_t index, unsigned char hash[32],
    tk_error *err);
/* Reads stored tile (level, index) of the tree (C2SP tlog-tiles layout:
 * hashes of tree level 8*level) raw, for verification: its width
 * (1..256) hashes into hashes (room for 256 * 32 bytes). 0, 1 when the
 * tile does not exist, -1 on error. */
int tk_store_tile_read(tk_store *s, int level, uint64_t index,
    unsigned char *hashes, size_t *width, tk_error *err);
/* Proof hashes, 32 bytes each, into proof (room for max hashes;
 * TK_MERKLE_MAX_PROOF always suffices); their number into *n. */
int tk_store_log_inclusion(tk_store *s, uint64_t index, uint64_t size,
    unsigned char *proof, size_t max, size_t *n, tk_error *err);
int tk_store_log_consistency(tk_store *s, uint64_t size1, uint64_t size2,
    unsigned char *proof, size_t max, size_t *n, tk_error *err);

/* A signed checkpoint: the note text (C2SP signed-note carrying a
 * tlog-checkpoint) with its size and root. At most one per size: a put
 * for a size already signed is TK_ERR_WRONG_STATE. */
typedef struct tk_checkpoint_row {
	int64_t size;
	unsigned char root[32];
	char origin[TK_TEXT_MAX];
	char *note;               /* owned by the row */
	tk_time created;
} tk_checkpoint_row;
void tk_checkpoint_row_clear(tk_checkpoint_row *r);
typedef int (*tk_checkpoint_cb)(void *arg, const tk_checkpoint_row *r);
int tk_store_checkpoint_put(tk_store *s, const tk_checkpoint_row *cp,
    tk_error *err);
int tk_store_checkpoint_latest(tk_store *s, tk_checkpoint_row *r,
    tk_error *err); /* TK_ERR_NOT_FOUND when none */
int tk_store_checkpoint_get(tk_store *s, int64_t size, tk_checkpoint_row *r,
    tk_error *err); /* TK_ERR_NOT_FOUND */
int tk_store_checkpoint_list(tk_store *s, tk_checkpoint_cb cb, void *arg,
    tk_error *err); /* by size, ascending */

/* Witness cosignature lines kept with the checkpoint of a size. */
typedef int (*tk_cosig_cb)(void *arg, const char *witness,
    const char *line);
int tk_store_cosig_put(tk_store *s, int64_t size, const char *witness,
    const char *line, tk_time now, tk_error *err);
int tk_store_cosig_list(tk_store *s, int64_t size, tk_cosig_cb cb,
    void *arg, tk_error *err);

/* The audit log's public keys, one per origin. put retires every earlier
 * key (they stay listed for verification). */
typedef struct tk_audit_key_row {
	char origin[TK_TEXT_MAX];
	char verifier[TK_TEXT_MAX]; /* signed-note verifier key */
	tk_time created;
	tk_time retired;            /* 0 while current */
} tk_audit_key_row;
typedef int (*tk_audit_key_cb)(void *arg, const tk_audit_key_row *k);
int tk_store_audit_key_put(tk_store *s, const char *origin,
    const char *verifier, tk_time now, tk_error *err);
int tk_store_audit_key_list(tk_store *s, tk_audit_key_cb cb, void *arg,
    tk_error *err);

/* ---- verification and execution (store_fx.c) ------------------------ */

/* A subject's registered TOTP factor. sealed is the seed encrypted with
 * the seal key (verify/seal.h), never the seed itself. */
#define TK_SEALED_MAX 128
typedef struct tk_factor_row {
	char subject[TK_ID_MAX];
	unsigned char sealed[TK_SEALED_MAX];
	size_t sealed_len;
	int alg, digits, period;
	int64_t last_step;      /* highest step accepted (replay), -1 none */
	int failures;           /* consecutive wrong codes */
	tk_time locked_until;   /* 0 when not locked */
	tk_time created;
} tk_factor_row;
/* Replaces the subject's factor (a new enrolment). */
int tk_store_factor_put(tk_store *s, const tk_factor_row *f, tk_error *err);
/* TK_ERR_NOT_FOUND when the subject has none. */
int tk_store_factor_get(tk_store *s, const char *subject, tk_factor_row *f,
    tk_error *err);
int tk_store_factor_update(tk_store *s, const char *subject,
    int64_t last_step, int failures, tk_time locked_until, tk_error *err);

/* A one-time confirmation link: only the SHA-256 of its token is kept. */
typedef struct tk_confirm_row {
	unsigned char hash[32];
	char case_id[TK_ID_MAX];
	char contact[TK_CONTACT_MAX];
	char purpose[16];       /* "verify" | "hold" */
	char sender[TK_ID_MAX]; /* staff who asked for it, or "system" */
	unsigned char digest[32]; /* case digest it is bound to */
	tk_time created, expires, used;
	char answer[8];         /* "", "yes", "no" */
} tk_confirm_row;
int tk_store_confirm_put(tk_store *s, const tk_confirm_row *r,
    tk_error *err);
int tk_store_confirm_get(tk_store *s, const unsigned char hash[32],
    tk_confirm_row *r, tk_error *err);
/* Marks it used with answer at `at` unless already used: *won is false
 * when another request used it first. */
int tk_store_confirm_use(tk_store *s, const unsigned char hash[32],
    const char *answer, tk_time at, bool *won, tk_error *err);

/* Messages to send after the transaction that decided them (hold
 * notices): written in that transaction, so none is lost in a crash. */
typedef struct tk_outbox_row {
	int64_t id;
	char case_id[TK_ID_MAX];
	char kind[16];          /* "hold" */
	char contact[TK_CONTACT_MAX];
	tk_time created;
	int attempts;
} tk_outbox_row;
int tk_store_outbox_add(tk_store *s, const char *case_id, const char *kind,
    const char *contact, tk_time now, tk_error *err);
/* Up to max unsent rows with fewer than max_attempts attempts, oldest
 * first; *n gets how many. */
int tk_store_outbox_pending(tk_store *s, int max_attempts,
    tk_outbox_row *rows, int max, int *n, tk_error *err);
/* sent: done; otherwise one more failed attempt with its error. */
int tk_store_outbox_mark(tk_store *s, int64_t id, bool sent,
    const char *error, tk_error *err);

/* Something a connector did that must be undone at a time: a role grant
 * removed when it expires (op "group_remove"), a temporary credential
 * made unusable when its TTL ends unused (op "credential_expire"). */
typedef struct tk_expiry_row {
	char case_id[TK_ID_MAX];
	char op[24];            /* the connector operation that undoes it */
	char subject[TK_ID_MAX];
	char group[TK_NAME_MAX * 2];
	char connector[TK_NAME_MAX];
	tk_time until;
	tk_time removed;        /* when done, 0 while pending */
	int attempts;
} tk_expiry_row;
int tk_store_expiry_put(tk_store *s, const tk_expiry_row *g, tk_error *err);
/* Expiries with until <= now not done yet and tried fewer than
 * max_attempts times, up to max. */
int tk_store_expiry_due(tk_store *s, tk_time now, int max_attempts,
    tk_expiry_row *rows, int max, int *n, tk_error *err);
/* Done at `removed` (attempts + 1), or with removed 0 one more failed
 * attempt. op NULL: every expiry of the case (a change that failed). */
int tk_store_expiry_mark(tk_store *s, const char *case_id, const char *op,
    tk_time removed, tk_error *err);

#endif
