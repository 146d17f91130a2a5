/*
 * log.h - the audit log as an investigator uses it (DESIGN invariant 12):
 * the log's signing key, signed checkpoints over the Merkle tree the
 * store keeps, their copy outside the database, full verification of a
 * database or of an exported bundle, and receipts for one case.
 *
 * Owns: the key file (PRIVATE+KEY, mode 0600), when and how a checkpoint
 * is signed (never a smaller size, never a second root for a size, new
 * leaves rehashed from the stored bytes first), the export bundle and
 * receipt formats, and the rules of verification and of its report.
 * It trusts nothing it reads back: every check recomputes from bytes.
 *
 * Export bundle (JSON lines, `twokey-audit-export/1`):
 *   {"format":"twokey-audit-export/1","size":N,"keys":[verifier...]}
 *   ("size" is left out when the database's tree cannot be read back:
 *   then every stored event is exported and the checkpoints judge it)
 *   {"checkpoint":"<signed note>"}                             any number
 *   {"index":i,"leaf":"<base64 of the exact bytes hashed>"}   N lines
 * (checkpoints first, so a verifier checks while it streams).
 * Receipt (JSON, `twokey-receipt/1`): the case id, the signed checkpoint,
 * and per event its index, leaf bytes (base64) and inclusion proof.
 * Checkpoint mirror file: one JSON line {"size":N,"note":"..."} per
 * checkpoint, appended and fsync'd.
 */
#ifndef TK_LOG_H
#define TK_LOG_H

#include <stdio.h>

#include <jansson.h>

#include "audit/note.h"
#include "core/tk.h"
#include "store/store.h"

#define TK_AUDIT_EXPORT_FORMAT "twokey-audit-export/1"
#define TK_AUDIT_RECEIPT_FORMAT "twokey-receipt/1"
#define TK_AUDIT_MAX_KEYS 32

/* Default paths next to a database: PATH.audit-key, PATH.checkpoints. */
int tk_audit_key_path(const char *db, char *out, size_t size,
    tk_error *err);
int tk_audit_mirror_path(const char *db, char *out, size_t size,
    tk_error *err);

/* Creates the log's signing key for origin (a key name, e.g.
 * "example.com/twokey") in a new file at key_path (0600, refused when
 * it exists) and lists its verifier key in the store (retiring any
 * earlier key). vkey_out (TK_NOTE_VKEY_MAX) gets the verifier key. */
int tk_audit_key_create(tk_store *s, const char *key_path,
    const char *origin, tk_time now, char *vkey_out, size_t vkey_size,
    tk_error *err);

/* Loads the signing key (refusing a file readable by group or others).
 * Wipe with tk_note_signer_wipe. */
int tk_audit_key_load(const char *key_path, tk_note_signer *k,
    tk_error *err);

/* Signs a checkpoint of the current log size when it grew since the last
 * one (or none exists). Before signing: the log is not smaller than the
 * last checkpoint, the tree still has the last checkpoint's root at its
 * size, and every new leaf rehashes from its stored bytes to the tree's
 * leaf. The checkpoint is stored (its own transaction) and, when
 * mirror_path is given, appended to that file. *signed_size is the size
 * signed, or -1 when nothing was due. */
int tk_audit_checkpoint(tk_store *s, const tk_note_signer *k, tk_time now,
    const char *mirror_path, int64_t *signed_size, tk_error *err);

/* What verification found. ok, or the first problem: at which sequence
 * number (1-based; 0 when not about one event) and what (kind is one of
 * "edited", "missing", "reordered", "truncated", "rewritten",
 * "signature", "malformed"); detail says it for a person. */
typedef struct tk_audit_report {
	bool ok;
	int64_t events;         /* events checked */
	int64_t checkpoints;    /* checkpoints whose signature and root held */
	int64_t bad_seq;
	char kind[16];
	char detail[TK_TEXT_MAX];
} tk_audit_report;

/* Trust anchors a verifier brings from outside the data it checks. */
typedef struct tk_audit_trust {
	tk_note_key keys[TK_AUDIT_MAX_KEYS]; /* log keys (alg 0x01) */
	size_t nkeys;
	const char *mirror_path; /* checkpoint mirror to hold the log to, or
	                            NULL */
	const char *checkpoint;  /* one trusted signed note, or NULL */
	size_t checkpoint_len;
	bool trust_listed;       /* also trust the keys the database lists
	                            (its retired keys after a rotation);
	                            they are trusted anyway when keys is
	                            empty */
} tk_audit_trust;

/* Adds a verifier key string to t (deduplicated). */
int tk_audit_trust_add(tk_audit_trust *t, const char *vkey, tk_error *err);

/* Verifies the whole log in the store in one pass: every row agreeing
 * with itself (tk_chain_row_check), every leaf rehashed from its bytes,
 * sequence numbers gapless and matching the bytes, the tree the
 * store serves equal to the recomputed one, every stored checkpoint
 * signed by a trusted key (the store's listed keys count when t has none
 * or t->trust_listed) and matching the recomputed root at its size, and every mirror
 * or given checkpoint likewise. Returns 0 with rep filled (rep->ok tells
 * the outcome); -1 only when the check itself could not run. A caller
 * that holds a read transaction on s (tk_store_read_begin) has the whole
 * check read that one snapshot through s alone (a database a server is
 * still appending to); otherwise it reads the file as it finds it, with
 * a second connection. */
int tk_audit_verify_store(tk_store *s, const tk_audit_trust *t,
    tk_audit_report *rep, tk_error *err);

/* Writes the export bundle of the whole log. */
int tk_audit_export(tk_store *s, FILE *out, tk_error *err);

/* Verifies an export bundle with no store: as tk_audit_verify_store,
 * trusting only t (which must hold at least one key). */
int tk_audit_verify_export(FILE *in, const tk_audit_trust *t,
    tk_audit_report *rep, tk_error *err);

/* Builds the receipt of a case: its events with inclusion proofs against
 * the latest checkpoint. TK_ERR_NOT_FOUND for an unknown case;
 * TK_ERR_WRONG_STATE when the case's last event is not yet under a
 * checkpoint (retry after the next one). */
json_t *tk_audit_receipt(tk_store *s, const char *case_id, tk_error *err);

/* Checks a receipt: the checkpoint's signature by a key in t, and every
 * event's inclusion proof against its root. */
int tk_audit_receipt_check(const json_t *receipt, const tk_audit_trust *t,
    tk_audit_report *rep, tk_error *err);

#endif
