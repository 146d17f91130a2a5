/*
 * case.h - one requested identity change and everything recorded on it:
 * evidence, approvals, hold, execution, revocations and review.
 *
 * Owns: the tk_case record, its states, the material digest (invariant
 * 7), and the JSON form the store keeps and the API shows.
 */
#ifndef TK_CASE_H
#define TK_CASE_H

#include <jansson.h>

#include "core/policy.h"
#include "core/tk.h"

enum tk_state {
	TK_STATE_OPEN = 0,
	TK_STATE_VERIFYING,  /* evidence still missing */
	TK_STATE_APPROVING,  /* evidence complete, approvals missing */
	TK_STATE_ON_HOLD,    /* all in; waiting for the hold to end */
	TK_STATE_READY,      /* may be executed until ready_until */
	TK_STATE_EXECUTING,  /* committed before the connector is called */
	TK_STATE_EXECUTED,   /* done, no review required */
	TK_STATE_REVIEW,     /* done, post-event review open */
	TK_STATE_CLOSED,     /* done and reviewed */
	TK_STATE_DENIED,
	TK_STATE_CANCELLED,
	TK_STATE_EXPIRED,
	TK_STATE_FAILED,     /* connector failed; retry returns to ready */
	TK_STATE_OUTCOME_UNKNOWN, /* connector gave no answer: a person looks */
	TK_STATE_REVOCATION_PENDING, /* executed; a revocation failed */
	TK_STATE__COUNT
};
const char *tk_state_name(enum tk_state s);
int tk_state_parse(const char *name); /* -1 if unknown */
/* Open = not yet finished: a second case for the same subject and family
 * is refused while one is open. */
bool tk_state_is_open(enum tk_state s);

#define TK_DIGEST_LEN 32

typedef struct tk_evidence {
	int method;                 /* enum tk_method */
	char by[TK_ID_MAX];         /* staff who recorded it */
	char contact[TK_CONTACT_MAX]; /* contact on file used, or "" */
	bool pass;                  /* result: pass / fail */
	char reference[TK_REF_MAX];
	tk_time at;
	unsigned char digest[TK_DIGEST_LEN]; /* case digest it is bound to */
	bool voided;
	char void_reason[TK_REF_MAX];
} tk_evidence;

typedef struct tk_approval {
	char by[TK_ID_MAX];
	char function[TK_NAME_MAX]; /* approver's function when approving */
	bool approve;               /* false = deny */
	char comment[TK_TEXT_MAX];
	tk_time at;
	char policy_digest[17];     /* policy version in force */
	unsigned char digest[TK_DIGEST_LEN];
	bool voided;
	char void_reason[TK_REF_MAX];
} tk_approval;

typedef struct tk_case {
	char id[TK_ID_MAX];         /* "c_" + 16 hex */
	/* material content: any change voids evidence and approvals */
	char subject[TK_ID_MAX];
	char action[TK_NAME_MAX];
	char params[TK_PARAMS_MAX]; /* canonical JSON object, "{}" if none */
	char delivery[TK_CONTACT_MAX]; /* where a credential goes, or "" */
	/* request context */
	char family[TK_NAME_MAX];
	char channel[TK_NAME_MAX];  /* phone, chat, email, portal, walk_in... */
	char ticket[TK_REF_MAX];
	char reason_code[TK_NAME_MAX];
	char justification[TK_TEXT_MAX];
	char signals[TK_MAX_SIGNALS][TK_NAME_MAX];
	int nsignals;
	char requester[TK_ID_MAX];
	/* policy outcome */
	char tier[TK_NAME_MAX];
	char rule_owner[TK_ID_MAX];
	int rule_line;
	char policy_digest[17];
	tk_require req;             /* requirements in force (break-glass lowers) */
	/* lifecycle */
	enum tk_state state;
	tk_time created, updated;
	tk_time hold_until;         /* 0 when no hold has started */
	tk_time ready_until;        /* execution window end, 0 until ready */
	unsigned char digest[TK_DIGEST_LEN];
	tk_evidence evidence[TK_MAX_EVIDENCE];
	int nevidence;
	tk_approval approvals[TK_MAX_APPROVALS];
	int napprovals;
	/* break-glass */
	bool break_glass;
	char bg_by[TK_ID_MAX];
	char bg_incident[TK_REF_MAX];
	char bg_justification[TK_TEXT_MAX];
	tk_time bg_at;
	/* execution */
	char executor[TK_ID_MAX];
	char connector[TK_NAME_MAX];
	char exec_note[TK_TEXT_MAX];
	tk_time executed_at;
	unsigned revoked;           /* TK_REVOKE_* bits confirmed done */
	unsigned revoke_pending;    /* required but not confirmed */
	char failure[TK_TEXT_MAX];  /* connector's message when failed */
	int attempts;               /* connector executions started */
	char idem_key[TK_ID_MAX];   /* idempotency key of the last attempt */
	char cred_to[TK_CONTACT_MAX]; /* where the credential went, or "" */
	tk_time cred_until;         /* when it stops working, 0 = none */
	/* review */
	tk_time review_due;
	char reviewer[TK_ID_MAX];
	char review_outcome[TK_NAME_MAX];
	char review_comment[TK_TEXT_MAX];
	tk_time reviewed_at;
	bool review_overdue;        /* the overdue alert was raised */
	/* ending */
	char ended_by[TK_ID_MAX];   /* who denied / cancelled */
	char end_reason[TK_TEXT_MAX];
} tk_case;

/* Recomputes c->digest: SHA-256 over a length-prefixed encoding of
 * subject, action, params and delivery. */
void tk_case_compute_digest(tk_case *c);

/* The full record as JSON (new reference; NULL only on out-of-memory).
 * Contains no secrets. */
json_t *tk_case_to_json(const tk_case *c);
/* The requirements as the API shows them (new reference). */
json_t *tk_require_to_json(const tk_require *r);
/* Reads back what tk_case_to_json wrote, validating every field and
 * cap. Returns -1 with err filled on a malformed record. */
int tk_case_from_json(tk_case *c, const json_t *j, tk_error *err);

/* Stores params text (a JSON object of strings; NULL or "" = "{}") in
 * dst in the canonical form the record keeps and the digest covers
 * (compact, keys sorted), so the digest of a case read back is the one
 * it was made with. TK_ERR_INVALID when it is not such an object or
 * does not fit. */
enum tk_status tk_case_params_set(char *dst, size_t size, const char *src,
    tk_error *err);

#endif
