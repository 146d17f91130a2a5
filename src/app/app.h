/*
 * app.h - the application layer between the edges (HTTP server, CLI) and
 * the pure engine: it owns the store handle, the org and policy in force,
 * the clock, and the transaction around every case operation.
 *
 * Owns: loading org and policy from the store, serialising store use,
 * token issue and authentication, role checks (read / admin), persisting
 * cases and their audit events (refusals included), and the JSON views
 * the API returns.
 *
 * Durability: writes use group commit (app.c): concurrent operations
 * share one transaction and one fsync, each in its own savepoint, and
 * every answer (success or refusal) is given only once its batch is
 * durably committed; if the COMMIT fails, every operation of the batch
 * answers TK_ERR_INTERNAL. Reads see committed data only.
 *
 * Thread safety: every function may be called from any thread; one mutex
 * serialises store and engine use. Returned JSON is owned by the caller.
 */
#ifndef TK_APP_H
#define TK_APP_H

#include <jansson.h>

#include "app/syslog.h"
#include "audit/export.h"
#include "core/engine.h"
#include "core/tk.h"

typedef struct tk_app tk_app;

/* An error from the app layer: the tk_error plus, for wrong_state on a
 * case, the case's state, the end of its hold and (on a refused open) the
 * id of the open case that blocks the new one. */
typedef struct tk_app_err {
	tk_error e;
	char state[TK_NAME_MAX]; /* "" when not about a case state */
	tk_time hold_until;      /* 0 unless the case is on hold */
	char case_id[TK_ID_MAX]; /* "" unless a refused open names a case */
} tk_app_err;

/* A clock: seconds since the epoch. arg is the one given with it. */
typedef tk_time (*tk_clock_fn)(void *arg);

/*
 * Opens the database at db_path (created by `twokey init`) and loads the
 * newest org and policy texts stored in it. Returns NULL with err filled
 * when the database is missing or its configuration does not load.
 */
tk_app *tk_app_open(const char *db_path, tk_error *err);
void tk_app_close(tk_app *a);

/* Replaces the clock (tests). fn NULL restores the default: real time,
 * plus in TK_TEST_HOOKS builds the number of seconds in the file named
 * by TWOKEY_TEST_CLOCK_FILE, re-read on every call. */
void tk_app_set_clock(tk_app *a, tk_clock_fn fn, void *arg);
tk_time tk_app_now(tk_app *a);

/* Digest (16 hex) of the policy in force, into buf (>= 17 bytes). */
void tk_app_policy_digest(tk_app *a, char *buf, size_t size);

/* ---- tokens and roles ------------------------------------------------ */

#define TK_TOKEN_MAX 64 /* "tk_" + 43 base64url characters + NUL fits */

/* Issues a new API token for a staff login: 32 random bytes as "tk_" +
 * base64url. Only its SHA-256 is stored; the token is written to out
 * (>= TK_TOKEN_MAX) once. Appends a `token.issued` event. */
enum tk_status tk_app_token_issue(tk_app *a, const char *login, char *out,
    size_t out_size, tk_app_err *err);

/* Authenticates a presented token: hashes it, looks the hash up and
 * checks the login is still staff in the org. login_out gets the login.
 * TK_ERR_UNAUTH with a message saying which check failed. */
enum tk_status tk_app_authenticate(tk_app *a, const char *token,
    size_t token_len, char *login_out, size_t login_size, tk_app_err *err);

/* ---- reads ------------------------------------------------------------ */

/* {"login","name","function","team","roles":[..],"capabilities":[..]} */
enum tk_status tk_app_me(tk_app *a, const char *actor, json_t **out,
    tk_app_err *err);

/* The case view: tk_case_to_json + "queue" + "missing" (+ "events"). */
enum tk_status tk_app_case_get(tk_app *a, const char *actor, const char *id,
    json_t **out, tk_app_err *err);

/* The same view as compact JSON text (malloc'd, caller frees), served
 * from a small cache of rendered views while nothing changed the case. */
enum tk_status tk_app_case_get_text(tk_app *a, const char *actor,
    const char *id, char **text, size_t *len, tk_app_err *err);

typedef struct tk_app_list_req {
	const char *queue;   /* family or NULL */
	const char *state;   /* state name, "open", or NULL */
	const char *subject; /* or NULL */
	int limit;           /* 1..500; <= 0 means 100 */
	int64_t after;       /* paging cursor from a previous "next", or 0 */
} tk_app_list_req;
/* {"cases":[view without events], "count": n, "next": cursor|null} */
enum tk_status tk_app_case_list(tk_app *a, const char *actor,
    const tk_app_list_req *r, json_t **out, tk_app_err *err);

/* ---- lean reads for the console's queues (queue.c) ------------------ */

typedef struct tk_app_queue_req {
	const char *queue;   /* family or NULL: every queue */
	const char *state;   /* state name, "open" or NULL (= "open") */
	bool mine;           /* only cases where actor is eligible for
	                        something still missing */
	int limit;           /* rows, 1..500; <= 0 means 100 */
	int64_t after;       /* paging cursor from a previous "next", or 0 */
	int scan_max;        /* with mine: cases read at most per call
	                        (<= 0: 2000); "next" then resumes the scan */
} tk_app_queue_req;
/* One row per case, without building case views: {"rows":[{id, subject,
 * action, queue, tier, state, created, updated, hold_until, review_due,
 * review_overdue, break_glass, mine, missing:[{group, need, mine}]}],
 * "next": cursor|null, "scanned": n}; times are epoch seconds (0 none).
 * Staff and auditors. */
enum tk_status tk_app_queue(tk_app *a, const char *actor,
    const tk_app_queue_req *r, json_t **out, tk_app_err *err);
/* {"password": n, "mfa": n, ..., "all": n}: cases per queue in state (a
 * state name, or NULL / "open" for any open state). One indexed count. */
enum tk_status tk_app_queue_counts(tk_app *a, const char *actor,
    const char *state, json_t **out, tk_app_err *err);
/* The subject card: {"id","kind","name","labels":[..],"manager","owner",
 * "held_by"} from the org in force (contacts are in the case view).
 * Staff and auditors; TK_ERR_NOT_FOUND when the org has no such id. */
enum tk_status tk_app_subject(tk_app *a, const char *actor, const char *id,
    json_t **out, tk_app_err *err);

/* {"events":[{seq,ts,case,kind,actor,alert,data}]}: auditor or admin. */
enum tk_status tk_app_events(tk_app *a, const char *actor, int64_t from,
    int64_t limit, json_t **out, tk_app_err *err);
/* {"alerts":[...]} newest first, at most 200: staff and auditors. */
enum tk_status tk_app_alerts(tk_app *a, const char *actor, json_t **out,
    tk_app_err *err);

/* {"digest","text"} of the policy in force: any authenticated login. */
enum tk_status tk_app_policy_get(tk_app *a, const char *actor,
    json_t **out, tk_app_err *err);

typedef struct tk_explain_req {
	const char *subject, *action, *ticket, *channel, *reason_code;
	const char *const *signals;
	size_t nsignals;
} tk_explain_req;
/* {"tier","owner","line","requirements","denied":null|{reason,owner,line},
 *  "policy"}: any authenticated login (actor may be NULL for the CLI). */
enum tk_status tk_app_policy_explain(tk_app *a, const char *actor,
    const tk_explain_req *r, json_t **out, tk_app_err *err);

/* ---- changes ----------------------------------------------------------- */

/*
 * Validates and loads a new policy text. Only when it loads is it stored
 * as a new config version (with a `policy.loaded` event) and swapped in;
 * otherwise TK_ERR_INVALID with "policy:LINE:COL: ..." and the old policy
 * keeps serving. actor must be an admin (NULL = the host's operator, for
 * the CLI). digest_out (>= 17) gets the new digest.
 */
enum tk_status tk_app_reload_policy(tk_app *a, const char *actor,
    const char *text, size_t len, char *digest_out, size_t digest_size,
    tk_app_err *err);

/* Case operations. On success *out (when out is non-NULL) is the case
 * view without events. Refusals by the engine are recorded as `refused`
 * events and returned; store failures roll everything back and return
 * TK_ERR_INTERNAL. */
enum tk_status tk_app_case_open(tk_app *a, const char *actor,
    const tk_open_req *r, json_t **out, tk_app_err *err);
enum tk_status tk_app_case_evidence(tk_app *a, const char *actor,
    const char *id, const tk_evidence_req *r, json_t **out, tk_app_err *err);
enum tk_status tk_app_case_decide(tk_app *a, const char *actor,
    const char *id, bool approve, const char *comment, json_t **out,
    tk_app_err *err);
/* The same, bound to what the approver read (invariant 7): seen is the
 * case digest (hex) of the view they decided on; when the case has
 * changed since, wrong_state and nothing is recorded as a decision. */
enum tk_status tk_app_case_decide_seen(tk_app *a, const char *actor,
    const char *id, bool approve, const char *comment, const char *seen,
    json_t **out, tk_app_err *err);
enum tk_status tk_app_case_patch(tk_app *a, const char *actor,
    const char *id, const tk_patch_req *r, json_t **out, tk_app_err *err);
enum tk_status tk_app_case_execute(tk_app *a, const char *actor,
    const char *id, const tk_execute_req *r, json_t **out, tk_app_err *err);
enum tk_status tk_app_case_cancel(tk_app *a, const char *actor,
    const char *id, const char *reason, json_t **out, tk_app_err *err);
enum tk_status tk_app_case_break_glass(tk_app *a, const char *actor,
    const char *id, const char *justification, const char *incident,
    json_t **out, tk_app_err *err);
enum tk_status tk_app_case_review(tk_app *a, const char *actor,
    const char *id, const char *outcome, const char *comment, json_t **out,
    tk_app_err *err);

/*
 * The scheduler's sweep: applies time to every case in an open state or
 * in review without anyone reading it - holds ending (`hold.ended`),
 * approvals and evidence expiring, execution windows closing
 * (`expired`), post-event reviews becoming overdue (`review.overdue`
 * alert) - persisting each change and its events like any operation
 * (group commit; returns once durable). Lists the cases a page at a time
 * (mu held per page only). Returns the number of cases changed, or -1
 * with err filled. The server calls it every few seconds (`--sweep-
 * interval`).
 */
/* Asks long-running work (a sweep over many pages) to end early: the
 * server calls it when told to stop. Safe from any thread. */
void tk_app_stop(tk_app *a);
int tk_app_sweep(tk_app *a, tk_error *err);

/* True when id looks like "c_" followed by 16 lowercase hex digits. */
bool tk_app_case_id_valid(const char *id);

/* ---- audit log: signing and proofs ------------------------------------ */

/* Loads the log's signing key (and where each checkpoint is copied, or
 * NULL): from then on tk_app_checkpoint signs. */
int tk_app_audit_attach(tk_app *a, const char *key_path,
    const char *mirror_path, tk_error *err);
/* Signs a checkpoint when the log grew by every_events since the last
 * one, or every_seconds passed and it grew at all, or (force) it grew.
 * *signed_size is the size signed or -1. No-op without a key. */
int tk_app_checkpoint(tk_app *a, int64_t every_events, int64_t every_seconds,
    bool force, int64_t *signed_size, tk_error *err);
/* The audit routes answer without a token's role (public log). */
void tk_app_audit_public(tk_app *a, bool on);
bool tk_app_audit_is_public(tk_app *a);
/* {"origin","size","root","note"} of the latest checkpoint, plus
 * "cosignatures": [witness cosignature lines] when any witness cosigned
 * it (auditor or admin, unless public); TK_ERR_NOT_FOUND before the
 * first. */
enum tk_status tk_app_audit_checkpoint(tk_app *a, const char *actor,
    json_t **out, tk_app_err *err);
/* Inclusion proof of leaf x in the tree of size leaves:
 * {"index","size","leaf_hash","root","proof":[base64...]}; or with
 * consistency, from size x to size: {"from","to","root","proof"}. */
enum tk_status tk_app_audit_proof(tk_app *a, const char *actor,
    bool consistency, uint64_t x, uint64_t size, json_t **out,
    tk_app_err *err);
/* {"size","events":[{"index","seq","leaf"}]}: leaf is the base64 of the
 * exact bytes hashed; from is a 0-based leaf index. */
enum tk_status tk_app_audit_leaves(tk_app *a, const char *actor,
    int64_t from, int64_t limit, json_t **out, tk_app_err *err);

/* ---- audit log: witnesses and copies outside the database ------------- */

#define TK_APP_WITNESS_MAX 8

/* Adds a witness ("URL=VERIFIER_KEY", see audit/witness.h) that every
 * new checkpoint is pushed to. Call before the server's threads start.
 * TK_ERR_INVALID for a malformed spec, a duplicate key or too many. */
int tk_app_witness_add(tk_app *a, const char *spec, tk_error *err);

/*
 * One witness round: pushes the latest checkpoint to every witness that
 * has not cosigned it yet (C2SP tlog-witness add-checkpoint, with the
 * consistency proof from the size the witness holds; after a 409 naming
 * another size, once more from that size). A cosignature is kept
 * (tk_store_cosig_put, and sent to the checkpoint syslog) only once it
 * verifies with the witness's configured key. mu is held only to read
 * the checkpoint and proofs and to store the line, never across the
 * network. A witness that fails is retried after a growing pause (1 s
 * doubling to 60 s) unless force; each new problem, and the recovery,
 * is written to stderr. The whole round takes at most budget_ms.
 * Returns the number of cosignatures stored, or -1 with err when the
 * store could not be read. One round at a time: a call while another
 * runs returns 0 at once.
 */
int tk_app_witness_push(tk_app *a, bool force, long budget_ms,
    tk_error *err);
/* on: witness requests in flight are abandoned within about a second and
 * no new one starts until it is turned off again (shutdown). */
void tk_app_witness_cancel(tk_app *a, bool on);

/* Syslog copies. cp (may be NULL) receives every checkpoint this app
 * signs from now on, and every cosignature it stores; ev (may be NULL)
 * receives every committed audit event with seq >= from_seq (0: those
 * committed after this call) in format f, each as one RFC 5424 message
 * with the header fields of o (copied; app_name is always "twokey").
 * Both handles are borrowed: they must outlive every later call of
 * tk_app_checkpoint, tk_app_witness_push and tk_app_ship. Call before
 * the server's threads start. */
int tk_app_syslog_attach(tk_app *a, tk_syslog *cp, tk_syslog *ev,
    enum tk_export_format f, int64_t from_seq, const tk_syslog_opts *o,
    tk_error *err);

/* Ships the committed events after the last one shipped to the event
 * syslog, a page at a time, while its queue has room (what does not fit
 * waits for the next call; nothing is skipped). Events are read with mu
 * held, bounded by the committed log size, and formatted and queued
 * after it is released; the queue never waits for the network. Returns
 * the number of events queued, or -1 with err. One call at a time. */
int64_t tk_app_ship(tk_app *a, tk_error *err);

/* ---- verification (verify.c) -------------------------------------------- */

/* Loads the seal key that encrypts TOTP seeds (DB.seal-key, made by
 * `twokey init`). Without it registered factors are not available. */
int tk_app_seal_attach(tk_app *a, const char *path, tk_error *err);
/* Enrols a new TOTP factor for subject (replacing any earlier one; an
 * alert event): uri (>= 512) gets the otpauth:// URI, shown once. For
 * the operator on the server host. alg "sha1" (default) or "sha256". */
enum tk_status tk_app_factor_enroll(tk_app *a, const char *subject,
    const char *alg, const char *issuer, char *uri, size_t uri_size,
    tk_app_err *err);
/* Checks the code the subject reads from their factor; on a match
 * records registered_factor evidence by actor. A wrong or replayed code
 * counts a failure; five in a row lock the factor for 15 minutes with an
 * alert. */
enum tk_status tk_app_case_totp(tk_app *a, const char *actor,
    const char *id, const char *code, json_t **out, tk_app_err *err);
/* Sends a one-time confirmation (links "Yes, this was me" / "No, this
 * was not me", single use, 15 minutes, bound to the case digest) to a
 * contact on file; the answer records out_of_band evidence by actor or
 * cancels the case. *out is the case view. */
enum tk_status tk_app_confirm_send(tk_app *a, const char *actor,
    const char *id, const char *contact, json_t **out, tk_app_err *err);
/* Public (the token is the credential): what the link is about. */
enum tk_status tk_app_confirm_view(tk_app *a, const char *token,
    json_t **out, tk_app_err *err);
/* Public: the subject's answer. {"case","outcome": "verified" |
 * "cancelled" | "acknowledged" | "too_late"}. */
enum tk_status tk_app_confirm_answer(tk_app *a, const char *token,
    bool yes, json_t **out, tk_app_err *err);

/* ---- execution (execute.c) ---------------------------------------------- */

/* Loads the directory file's connectors (opening each: options checked,
 * secrets read) and notify settings. */
int tk_app_directory_attach(tk_app *a, const char *path, tk_error *err);
/* A person settles an outcome_unknown case (done: the change was made or
 * not) or confirms pending revocations by hand. */
enum tk_status tk_app_case_resolve(tk_app *a, const char *actor,
    const char *id, bool done, const char *note, json_t **out,
    tk_app_err *err);
/* Reports a new risk signal on a case; extends a running hold. */
enum tk_status tk_app_case_signal(tk_app *a, const char *actor,
    const char *id, const char *signal, json_t **out, tk_app_err *err);
/* At start-up: every case found `executing` (the server stopped during a
 * connector call) is asked of its connector and settled, or marked
 * outcome_unknown; never repeated. Returns how many, -1 on error. */
int tk_app_reconcile(tk_app *a, tk_error *err);
/* Sends queued notices and removes expired role grants (the scheduler
 * calls it with the sweep). Returns how many things it did. */
int tk_app_fx_sweep(tk_app *a, tk_error *err);

/* ---- audit log: verification from the server (audit_verify.c) -------- */

/*
 * Runs the full verification of the log, as `twokey audit verify --db`
 * does (same trust: the key file's public half, the listed keys, the
 * checkpoint copy next to the database), on a read-only connection of
 * its own inside one read transaction: writers are never blocked. Then
 * records the outcome as an `audit.verified` event by actor (an alert
 * when it failed) and answers that record, as tk_app_audit_last_verify.
 * Auditor or admin; one run at a time: TK_ERR_WRONG_STATE "a
 * verification is already running" while another runs. A log that
 * fails is TK_OK with "result": "failed"; an error means the check
 * itself could not run (nothing is recorded).
 */
enum tk_status tk_app_audit_verify(tk_app *a, const char *actor,
    json_t **out, tk_app_err *err);
/* The latest verification: {"seq","at" (RFC 3339),"at_epoch","by",
 * "result": "intact"|"failed","size","checkpoints","bad_seq","bad_kind",
 * "detail"} (the last three null when intact), or JSON null when the
 * log was never verified from the server. Auditor or admin. */
enum tk_status tk_app_audit_last_verify(tk_app *a, const char *actor,
    json_t **out, tk_app_err *err);

#endif
