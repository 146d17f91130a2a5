/*
 * engine.h - the case engine: the state machine and the separation-of-
 * duties invariants (DESIGN.md 1-9, 11's bookkeeping). Pure: no I/O, no
 * clock, no allocation on the decision path. Callers pass the policy, the
 * org and "now", and persist the case and the events it returns.
 *
 * Every call either applies the whole change to the case and returns
 * TK_OK, or leaves the case untouched and returns an error (with the
 * invariant number for TK_ERR_SOD). The caller records refusals as audit
 * events (tk_engine_refusal_event helps).
 */
#ifndef TK_ENGINE_H
#define TK_ENGINE_H

#include "core/case.h"
#include "core/org.h"
#include "core/policy.h"

typedef struct tk_ctx {
	const tk_policy *policy;
	const tk_org *org;
	tk_time now;
} tk_ctx;

/* Audit events the engine asks the caller to append, in order. detail is
 * a short human sentence; data a compact JSON object (no secrets). */
#define TK_EVENTS_MAX 12
typedef struct tk_event {
	char kind[TK_NAME_MAX];     /* "case.opened", "approval.added" ... */
	char actor[TK_ID_MAX];      /* staff login or "system" */
	bool alert;                 /* also an alert for the security team */
	char detail[TK_TEXT_MAX];
} tk_event;
typedef struct tk_events {
	tk_event ev[TK_EVENTS_MAX];
	int n;
} tk_events;

typedef struct tk_open_req {
	const char *subject, *action, *channel, *ticket, *reason_code;
	const char *justification, *params, *delivery; /* params: canonical JSON */
	const char *const *signals;
	size_t nsignals;
} tk_open_req;

/* Opens a case requested by `actor`. id is chosen by the caller. On
 * policy refusal returns TK_ERR_POLICY_DENIED with the rule's reason. */
enum tk_status tk_engine_open(const tk_ctx *x, const char *actor,
    const char *id, const tk_open_req *r, tk_case *out, tk_events *ev,
    tk_error *err);

typedef struct tk_evidence_req {
	const char *method, *contact, *result, *reference;
	/* registered_factor and out_of_band count only when twokey itself
	 * checked them (a TOTP code it verified, a confirmation link the
	 * subject answered): the app sets this, never a client. */
	bool system_verified;
} tk_evidence_req;
enum tk_status tk_engine_add_evidence(const tk_ctx *x, tk_case *c,
    const char *actor, const tk_evidence_req *r, tk_events *ev, tk_error *err);

enum tk_status tk_engine_decide(const tk_ctx *x, tk_case *c,
    const char *actor, bool approve, const char *comment, tk_events *ev,
    tk_error *err);

/* Any NULL field is left unchanged. Changing subject, action, params or
 * delivery voids evidence and approvals and re-tiers the case. */
typedef struct tk_patch_req {
	const char *subject, *action, *params, *delivery;
	const char *channel, *ticket, *reason_code, *justification;
	const char *const *signals; /* replaces the list when has_signals */
	size_t nsignals;
	bool has_signals;
} tk_patch_req;
enum tk_status tk_engine_patch(const tk_ctx *x, tk_case *c,
    const char *actor, const tk_patch_req *r, tk_events *ev, tk_error *err);

/* Manual connector: the executor attests the change was made in the
 * target system and lists the revocations performed. */
typedef struct tk_execute_req {
	const char *connector; /* "manual" */
	const char *note;      /* what was done, where */
	unsigned revoked;      /* TK_REVOKE_* bits the executor confirms */
} tk_execute_req;
enum tk_status tk_engine_execute(const tk_ctx *x, tk_case *c,
    const char *actor, const tk_execute_req *r, tk_events *ev, tk_error *err);

/*
 * Execution by a connector, in two steps around the call. begin checks
 * what a manual execution checks (roles, invariant 4, state ready or
 * failed), then marks the case executing with attempt n+1 and the
 * idempotency key "<case id>.<n+1>"; the caller commits that before it
 * calls the connector, so a crash leaves the case found `executing`.
 */
enum tk_status tk_engine_execute_begin(const tk_ctx *x, tk_case *c,
    const char *actor, const char *connector, tk_events *ev, tk_error *err);

enum tk_exec_outcome { TK_EXEC_DONE = 0, TK_EXEC_FAILED, TK_EXEC_UNKNOWN };
/* cred_to of a credential shown once to the executor for a walk-in. */
#define TK_CRED_IN_PERSON "in person"
typedef struct tk_exec_result {
	enum tk_exec_outcome outcome;
	const char *message;     /* the target's own words */
	unsigned revoked;        /* TK_REVOKE_* bits done */
	unsigned revoke_failed;  /* TK_REVOKE_* bits that failed */
	const char *revoke_message; /* why, when any failed */
	const char *cred_to;     /* contact on file the credential went to */
	tk_time cred_until;      /* credential expiry, 0 when none */
	bool reconciled;         /* found executing after a restart */
} tk_exec_result;
/* Step 2: records the connector's outcome on a case in `executing`:
 * done -> executed / review (or executed_revocation_pending when a
 * revocation failed, with an alert); failed -> failed (retry with a new
 * attempt; every earlier record is kept); unknown -> outcome_unknown,
 * with an alert, for a person to settle with tk_engine_resolve. */
enum tk_status tk_engine_execute_end(const tk_ctx *x, tk_case *c,
    const tk_exec_result *r, tk_events *ev, tk_error *err);

/* A person settles a case: on outcome_unknown, done=true says the change
 * happened (checked in the target), false that it did not (-> failed,
 * retry possible); on executed_revocation_pending, done=true confirms the
 * pending revocations were carried out by hand. Same separation of
 * duties as execution. note says what was checked. */
enum tk_status tk_engine_resolve(const tk_ctx *x, tk_case *c,
    const char *actor, bool done, const char *note, tk_events *ev,
    tk_error *err);

/* A new risk signal reported on an open case (any staff who may take or
 * verify requests). During a hold it extends the hold by the tier's
 * hold_extension from now (never shortens it), with an alert. */
enum tk_status tk_engine_add_signal(const tk_ctx *x, tk_case *c,
    const char *actor, const char *signal, tk_events *ev, tk_error *err);

enum tk_status tk_engine_cancel(const tk_ctx *x, tk_case *c,
    const char *actor, const char *reason, tk_events *ev, tk_error *err);

enum tk_status tk_engine_break_glass(const tk_ctx *x, tk_case *c,
    const char *actor, const char *justification, const char *incident,
    tk_events *ev, tk_error *err);

enum tk_status tk_engine_review(const tk_ctx *x, tk_case *c,
    const char *actor, const char *outcome, const char *comment,
    tk_events *ev, tk_error *err);

/* Applies time: holds ending, approvals/evidence expiring, execution
 * windows closing. Returns true when the case changed (persist it). */
bool tk_engine_refresh(const tk_ctx *x, tk_case *c, tk_events *ev);

/* What is still missing, with the staff eligible to provide each item. */
#define TK_MISSING_MAX 8
#define TK_ELIGIBLE_MAX 32
typedef struct tk_missing_item {
	char group[16];              /* "evidence" | "approval" | "hold" ... */
	char need[TK_REF_MAX];       /* sentence for a person */
	char eligible[TK_ELIGIBLE_MAX][TK_ID_MAX];
	int neligible;
} tk_missing_item;
typedef struct tk_missing {
	tk_missing_item item[TK_MISSING_MAX];
	int n;
} tk_missing;
void tk_engine_missing(const tk_ctx *x, const tk_case *c, tk_missing *out);

/* May `actor` read cases at all (any staff with a function or auditor)? */
bool tk_engine_can_read(const tk_ctx *x, const char *actor);

#endif
