/*
 * action.h - the catalogue of sensitive identity changes twokey governs,
 * each with its action family (which is also its queue).
 *
 * Owns: the fixed action table. Families: password, mfa, reactivation,
 * nhi, role, profile.
 */
#ifndef TK_ACTION_H
#define TK_ACTION_H

#include "core/tk.h"

#define TK_SUBJECT_KIND_PERSON_BIT 1u
#define TK_SUBJECT_KIND_NHI_BIT 2u

typedef struct tk_action {
	const char *name;    /* "mfa_reset" */
	const char *family;  /* "mfa" */
	unsigned kinds;      /* TK_SUBJECT_KIND_*_BIT the action applies to */
	bool credential;     /* issues a temporary credential / secret */
	const char *summary; /* one line for people */
} tk_action;

const tk_action *tk_action_find(const char *name); /* NULL if unknown */
size_t tk_action_count(void);
const tk_action *tk_action_at(size_t i);
bool tk_family_valid(const char *family);
/* Comma-separated list of the action names, for error messages. */
const char *tk_action_names(void);

#endif
