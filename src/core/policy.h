/*
 * policy.h - the identity team's policy: which tier a request falls in,
 * what each tier requires, which requests are denied outright, what each
 * staff function may do, and how break-glass works.
 *
 * Owns: parsing the policy YAML into tk_policy, and evaluating it.
 */
#ifndef TK_POLICY_H
#define TK_POLICY_H

#include "core/expr.h"
#include "core/tk.h"

/* Evidence methods. */
enum tk_method {
	TK_METHOD_REGISTERED_FACTOR = 0,
	TK_METHOD_CALLBACK_ON_FILE,
	TK_METHOD_OUT_OF_BAND,
	TK_METHOD_MANAGER_ATTESTATION,
	TK_METHOD_ID_DOCUMENT,
	TK_METHOD_VIDEO_CALL,
	TK_METHOD__COUNT
};
const char *tk_method_name(enum tk_method m);
int tk_method_parse(const char *name); /* -1 if unknown */
/* True for methods that must name a contact on file (callback, oob). */
bool tk_method_needs_contact(enum tk_method m);

/* Revocations run after execution. */
enum tk_revoke {
	TK_REVOKE_SESSIONS = 1u << 0,
	TK_REVOKE_TOKENS = 1u << 1,
	TK_REVOKE_CREDENTIALS = 1u << 2, /* related credentials / API keys */
	TK_REVOKE__ALL = 7u
};
const char *tk_revoke_name(unsigned bit); /* one bit */
int tk_revoke_parse(const char *name);    /* bit, or -1 if unknown */

/* What a staff function may do (policy `functions:` section). */
enum tk_cap {
	TK_CAP_INTAKE = 1u << 0,   /* open and edit cases */
	TK_CAP_VERIFY = 1u << 1,   /* record evidence */
	TK_CAP_APPROVE = 1u << 2,  /* approve or deny */
	TK_CAP_EXECUTE = 1u << 3,  /* execute ready cases */
	TK_CAP_REVIEW = 1u << 4,   /* complete post-event reviews */
	TK_CAP_ATTEST = 1u << 5,   /* manager/owner attestation only */
	TK_CAP_APPROVE_OWNED = 1u << 6 /* approve only subjects they own or
	                                  manage (NHI owners, managers) */
};
int tk_cap_parse(const char *name); /* bit, or -1 if unknown */

typedef struct tk_require {
	bool ticket;          /* a ticket / incident reference is required */
	bool reason_code;     /* a reason code from the policy list is required */
	int ev_count;         /* passing evidence records needed */
	unsigned ev_methods;  /* bit (1u << tk_method) per accepted method */
	int ev_by_other;      /* ...of which recorded by non-requesters */
	int ap_count;         /* approvals needed from distinct people */
	bool ap_distinct_functions; /* ...and from as many distinct functions */
	char ap_from_any[TK_MAX_FROM][TK_NAME_MAX]; /* >=1 approver from these */
	int ap_nfrom_any;
	int ap_outside_chain; /* approvers outside requester's support chain */
	bool ap_owner;        /* NHI: the subject's owner must approve */
	tk_time hold;         /* seconds between last approval and ready */
	tk_time hold_extension; /* added per risk signal during the hold */
	bool cred_in_person;  /* a walk-in's temporary credential may be
	                         shown once to the executor to hand over */
	tk_time approval_ttl; /* how long evidence and approvals count */
	unsigned revoke;      /* TK_REVOKE_* bits */
	tk_time post_review;  /* review deadline after execution, 0 = none */
} tk_require;

typedef struct tk_tier {
	char name[TK_NAME_MAX];
	char owner[TK_ID_MAX]; /* named owner of this rule */
	char when_src[512];    /* the expression as written */
	tk_expr *when;
	int line;              /* 1-based line of the rule in the file */
	tk_require req;
} tk_tier;

typedef struct tk_deny_rule {
	char owner[TK_ID_MAX];
	char when_src[512];
	tk_expr *when;         /* may use `tier` */
	char reason[TK_REF_MAX];
	int line;
} tk_deny_rule;

typedef struct tk_function_caps {
	char function[TK_NAME_MAX];
	unsigned caps;         /* TK_CAP_* bits */
} tk_function_caps;

typedef struct tk_break_glass {
	char functions[TK_MAX_FROM][TK_NAME_MAX]; /* who may declare it */
	int nfunctions;
	int approvals;         /* approvals needed under break-glass */
	tk_time review_within; /* post-event review deadline */
} tk_break_glass;

typedef struct tk_policy {
	int version;              /* the file's `version:` (1) */
	char owner[TK_ID_MAX];    /* accountable control owner */
	char digest[17];          /* first 16 hex of SHA-256 of the text */
	tk_tier *tiers;           /* in file order; first match wins */
	size_t ntiers;
	tk_deny_rule *denies;
	size_t ndenies;
	tk_function_caps *functions;
	size_t nfunctions;
	char (*reason_codes)[TK_NAME_MAX];
	size_t nreason_codes;
	tk_break_glass break_glass;
} tk_policy;

/*
 * Parses the policy YAML in text[0..len). On error returns -1, fills err
 * with TK_ERR_INVALID and "FILE:LINE:COL: what is wrong" (first error),
 * and leaves p zeroed. A policy must have at least one tier and its last
 * tier should match everything (a warning is not an error: a request no
 * tier matches is denied by tk_policy_eval).
 */
int tk_policy_load(tk_policy *p, const char *text, size_t len,
    const char *filename, tk_error *err);
void tk_policy_free(tk_policy *p);

typedef struct tk_decision {
	const tk_tier *tier;       /* NULL when no tier matched */
	const tk_deny_rule *deny;  /* non-NULL when a deny rule matched */
} tk_decision;

/* Picks the tier (first match) and then checks deny rules with f->tier
 * set to the tier's name. Never fails; read the decision. */
void tk_policy_eval(const tk_policy *p, const tk_facts *f, tk_decision *d);

/* Capabilities of a function (0 when the policy does not list it). */
unsigned tk_policy_caps(const tk_policy *p, const char *function);
bool tk_policy_reason_valid(const tk_policy *p, const char *code);
bool tk_policy_can_break_glass(const tk_policy *p, const char *function);

#endif
