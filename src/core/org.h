/*
 * org.h - the organisation: staff who work in twokey and the subjects
 * (people and non-human identities) whose identity changes it governs.
 *
 * Owns: parsing the org YAML file into tk_org, lookups, and the
 * support-chain relation used by invariant 3.
 */
#ifndef TK_ORG_H
#define TK_ORG_H

#include "core/tk.h"

enum tk_role { TK_ROLE_ADMIN = 1u << 0, TK_ROLE_AUDITOR = 1u << 1 };

enum tk_subject_kind { TK_SUBJECT_PERSON = 0, TK_SUBJECT_NHI = 1 };

enum tk_contact_kind { TK_CONTACT_PHONE = 0, TK_CONTACT_EMAIL = 1 };

typedef struct tk_contact {
	enum tk_contact_kind kind;
	char value[TK_CONTACT_MAX]; /* "+1 555 0100", "jsmith@example.com" */
} tk_contact;

typedef struct tk_staff {
	char login[TK_ID_MAX];
	char name[TK_TEXT_MAX / 8];    /* display name, may be empty */
	char function[TK_NAME_MAX];    /* helpdesk, iam, security... or "" */
	char team[TK_NAME_MAX];        /* may be empty */
	char manager[TK_ID_MAX];       /* login of the manager or "" */
	unsigned roles;                /* TK_ROLE_* bits */
} tk_staff;

typedef struct tk_subject {
	char id[TK_ID_MAX];
	enum tk_subject_kind kind;
	char name[TK_TEXT_MAX / 8];
	char labels[TK_MAX_LABELS][TK_NAME_MAX];
	int nlabels;
	char manager[TK_ID_MAX];       /* person's manager (staff login) or "" */
	char owner[TK_ID_MAX];         /* NHI owner (staff login) or "" */
	tk_contact contacts[TK_MAX_CONTACTS]; /* contacts on file */
	int ncontacts;
	char held_by[TK_ID_MAX];       /* staff login of the person who uses
	                                  this account (a second, privileged
	                                  account), or "" */
} tk_subject;

typedef struct tk_org {
	tk_staff *staff;       /* sorted by login */
	size_t nstaff;
	tk_subject *subjects;  /* sorted by id */
	size_t nsubjects;
} tk_org;

/*
 * Parses the org YAML in text[0..len). filename is used in messages only.
 * On error returns -1, fills err (TK_ERR_INVALID, "file:line:col: what")
 * and leaves org zeroed. Checks: unique logins and ids, managers/owners
 * name existing staff, no management cycles, known kinds and contact
 * kinds, sizes within caps.
 */
int tk_org_load(tk_org *org, const char *text, size_t len,
    const char *filename, tk_error *err);
void tk_org_free(tk_org *org);

const tk_staff *tk_org_staff(const tk_org *org, const char *login);
const tk_subject *tk_org_subject(const tk_org *org, const char *id);

/* True when `above` is `login`'s manager, manager's manager, and so on. */
bool tk_org_manages(const tk_org *org, const char *above, const char *login);

/*
 * True when `other` is outside `requester`'s support chain: a different
 * function AND a different team, and neither in the other's management
 * line. (Same function or same team or a manager relation = same chain.)
 */
bool tk_org_outside_chain(const tk_org *org, const tk_staff *requester,
    const tk_staff *other);

/* True when value is one of subject's contacts on file (exact match after
 * trimming spaces; e-mail compared case-insensitively). */
/* True when login is the subject itself or the staff member who holds
 * it (invariant 5: nobody acts on a case about their own accounts). */
bool tk_subject_is(const tk_subject *s, const char *login);

bool tk_subject_has_contact(const tk_subject *s, const char *value);
bool tk_subject_has_label(const tk_subject *s, const char *label);

#endif
