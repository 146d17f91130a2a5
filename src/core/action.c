/*
 * action.c - the fixed catalogue of sensitive identity changes twokey
 * governs: each action's family (its queue), the subject kinds it applies
 * to, whether it issues a credential, and a one-line summary.
 *
 * Owns: the action table and the list of valid families. Nothing here
 * allocates; every returned pointer is to static storage.
 */
#include "core/action.h"

#include <string.h>

#define P TK_SUBJECT_KIND_PERSON_BIT
#define N TK_SUBJECT_KIND_NHI_BIT

static const tk_action actions[] = {
	{"password_reset", "password", P, true,
	    "Reset a person's password to a temporary one"},
	{"mfa_reset", "mfa", P, false,
	    "Remove a person's MFA factors so they can enrol again"},
	{"device_enrolment", "mfa", P, false,
	    "Enrol a new device or authenticator"},
	{"recovery_factor_change", "mfa", P, false,
	    "Change a recovery factor (recovery e-mail, phone or codes)"},
	{"email_change", "profile", P | N, false,
	    "Change the e-mail address on the account"},
	{"phone_change", "profile", P | N, false,
	    "Change the phone number on the account"},
	{"reactivation", "reactivation", P | N, false,
	    "Reactivate a disabled or suspended account"},
	{"role_grant", "role", P | N, false,
	    "Grant a role or entitlement"},
	{"role_revoke", "role", P | N, false,
	    "Revoke a role or entitlement"},
	{"api_key_reissue", "nhi", N, true,
	    "Reissue a non-human identity's API key"},
	{"secret_rotation", "nhi", N, true,
	    "Rotate a non-human identity's secret"},
	{"certificate_reissue", "nhi", N, true,
	    "Reissue a non-human identity's certificate"},
};

#undef P
#undef N

#define NACTIONS (sizeof(actions) / sizeof(actions[0]))

static const char *const families[] = {
	"password", "mfa", "reactivation", "nhi", "role", "profile",
};

static const char action_names[] =
    "password_reset, mfa_reset, device_enrolment, recovery_factor_change, "
    "email_change, phone_change, reactivation, role_grant, role_revoke, "
    "api_key_reissue, secret_rotation, certificate_reissue";

const tk_action *
tk_action_find(const char *name)
{
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < NACTIONS; i++)
		if (strcmp(actions[i].name, name) == 0)
			return &actions[i];
	return NULL;
}

size_t
tk_action_count(void)
{
	return NACTIONS;
}

const tk_action *
tk_action_at(size_t i)
{
	return i < NACTIONS ? &actions[i] : NULL;
}

bool
tk_family_valid(const char *family)
{
	size_t i;

	if (family == NULL)
		return false;
	for (i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		if (strcmp(families[i], family) == 0)
			return true;
	return false;
}

const char *
tk_action_names(void)
{
	return action_names;
}
