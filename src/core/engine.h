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
