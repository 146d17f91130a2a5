/*
 * test_org.c - unit tests for the organisation (core/org.c) and the
 * action catalogue (core/action.c): the demo org loads, lookups, the
 * management line and support chain of the demo world, contact matching,
 * and every load error with its line and column.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/action.h"
#include "core/org.h"

#define DEMO_ORG "examples/demo/org.yaml"

static char *
read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	if (fp == NULL)
		return NULL;
	if (fseek(fp, 0, SEEK_END) != 0 || (n = ftell(fp)) < 0 ||
	    fseek(fp, 0, SEEK_SET) != 0) {
		(void)fclose(fp);
		return NULL;
	}
	buf = malloc((size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, fp) != (size_t)n) {
		free(buf);
		(void)fclose(fp);
		return NULL;
	}
	buf[n] = '\0';
	(void)fclose(fp);
	*len = (size_t)n;
	return buf;
}

static int
setup_demo(void **state)
{
	tk_org *org = calloc(1, sizeof(*org));
	tk_error err;
	size_t len;
	char *text;

	if (org == NULL)
		return -1;
	text = read_file(DEMO_ORG, &len);
	if (text == NULL) {
		fprintf(stderr, "cannot read %s (run from the repo root)\n",
		    DEMO_ORG);
		free(org);
		return -1;
	}
	if (tk_org_load(org, text, len, DEMO_ORG, &err) != 0) {
		fprintf(stderr, "%s\n", err.msg);
		free(text);
		free(org);
		return -1;
	}
	free(text);
	*state = org;
	return 0;
}

static int
teardown_demo(void **state)
{
	tk_org *org = *state;

	tk_org_free(org);
	assert_null(org->staff);
	free(org);
	return 0;
}

static void
test_demo_loads(void **state)
{
	tk_org *org = *state;
	size_t i;

	assert_int_equal(org->nstaff, 10);
	assert_int_equal(org->nsubjects, 15);
	assert_string_equal(tk_org_subject(org, "dave-admin")->held_by, "dave");
	assert_true(tk_subject_is(tk_org_subject(org, "dave-admin"), "dave"));
	assert_false(tk_subject_is(tk_org_subject(org, "dave-admin"), "bob"));
	for (i = 1; i < org->nstaff; i++)
		assert_true(strcmp(org->staff[i - 1].login,
		    org->staff[i].login) < 0);
	for (i = 1; i < org->nsubjects; i++)
		assert_true(strcmp(org->subjects[i - 1].id,
		    org->subjects[i].id) < 0);
}

static void
test_lookups(void **state)
{
	tk_org *org = *state;
	const tk_staff *st;
	const tk_subject *su;
	size_t i;

	st = tk_org_staff(org, "alice");
	assert_non_null(st);
	assert_string_equal(st->name, "Alice Archer");
	assert_string_equal(st->function, "helpdesk");
	assert_string_equal(st->team, "service-desk");
	assert_string_equal(st->manager, "erin");
	assert_int_equal(st->roles, 0);
	st = tk_org_staff(org, "erin");
	assert_non_null(st);
	assert_string_equal(st->manager, "");
	st = tk_org_staff(org, "ivan");
	assert_non_null(st);
	assert_int_equal(st->roles, TK_ROLE_AUDITOR);
	assert_string_equal(st->function, "");
	st = tk_org_staff(org, "olivia");
	assert_non_null(st);
	assert_int_equal(st->roles, TK_ROLE_ADMIN);
	assert_null(tk_org_staff(org, "mallory"));
	assert_null(tk_org_staff(org, ""));
	assert_null(tk_org_staff(org, NULL));
	assert_null(tk_org_staff(org, "jsmith")); /* a subject, not staff */

	/* Every staff member is found (bsearch over the sorted array). */
	for (i = 0; i < org->nstaff; i++)
		assert_ptr_equal(tk_org_staff(org, org->staff[i].login),
		    &org->staff[i]);
	for (i = 0; i < org->nsubjects; i++)
		assert_ptr_equal(tk_org_subject(org, org->subjects[i].id),
		    &org->subjects[i]);

	su = tk_org_subject(org, "jsmith");
	assert_non_null(su);
	assert_int_equal(su->kind, TK_SUBJECT_PERSON);
	assert_string_equal(su->name, "John Smith");
	assert_string_equal(su->manager, "henry");
	assert_int_equal(su->nlabels, 0);
	assert_int_equal(su->ncontacts, 2);
	assert_int_equal(su->contacts[0].kind, TK_CONTACT_PHONE);
	assert_string_equal(su->contacts[0].value, "+1 555 0101");
	assert_int_equal(su->contacts[1].kind, TK_CONTACT_EMAIL);

	su = tk_org_subject(org, "svc-payments");
	assert_non_null(su);
	assert_int_equal(su->kind, TK_SUBJECT_NHI);
	assert_string_equal(su->owner, "grace");
	assert_string_equal(su->manager, "");
	assert_true(tk_subject_has_label(su, "production"));
	assert_false(tk_subject_has_label(su, "admin"));

	su = tk_org_subject(org, "pwhite");
	assert_non_null(su);
	assert_true(tk_subject_has_label(su, "executive"));
	assert_true(tk_subject_has_label(su, "finance"));
	assert_true(tk_subject_has_label(tk_org_subject(org, "radmin"),
	    "admin"));
	assert_true(tk_subject_has_label(tk_org_subject(org, "olivia"),
	    "admin"));
	assert_non_null(tk_org_subject(org, "alice"));
	assert_null(tk_org_subject(org, "nobody"));
	assert_null(tk_org_subject(org, NULL));
}

static void
test_manages(void **state)
{
	tk_org *org = *state;

	assert_true(tk_org_manages(org, "erin", "alice"));
	assert_true(tk_org_manages(org, "erin", "bob"));
	assert_false(tk_org_manages(org, "alice", "erin"));
	assert_false(tk_org_manages(org, "alice", "alice"));
	assert_false(tk_org_manages(org, "erin", "erin"));
	assert_false(tk_org_manages(org, "henry", "alice"));
	assert_false(tk_org_manages(org, "alice", "bob"));
	assert_false(tk_org_manages(org, "", "alice"));
	assert_false(tk_org_manages(org, "erin", "nobody"));
}

static void
test_outside_chain(void **state)
{
	tk_org *org = *state;
	const tk_staff *alice = tk_org_staff(org, "alice");
	const char *inside[] = {"alice", "bob", "erin"};
	const char *outside[] = {"carol", "dave", "frank", "grace", "henry",
		"ivan", "olivia"};
	size_t i;

	for (i = 0; i < sizeof(inside) / sizeof(inside[0]); i++)
		assert_false(tk_org_outside_chain(org, alice,
		    tk_org_staff(org, inside[i])));
	for (i = 0; i < sizeof(outside) / sizeof(outside[0]); i++)
		assert_true(tk_org_outside_chain(org, alice,
		    tk_org_staff(org, outside[i])));
	/* Symmetric for the demo. */
	assert_false(tk_org_outside_chain(org, tk_org_staff(org, "erin"),
	    alice));
	assert_true(tk_org_outside_chain(org, tk_org_staff(org, "carol"),
	    alice));
	/* Empty function and team never match: ivan and olivia both have
	 * no function, different teams, no manager relation. */
	assert_true(tk_org_outside_chain(org, tk_org_staff(org, "ivan"),
	    tk_org_staff(org, "olivia")));
	assert_false(tk_org_outside_chain(org, NULL, alice));
	assert_false(tk_org_outside_chain(org, alice, NULL));
}

static void
test_chain_by_team_and_line(void **state)
{
	static const char yaml[] =
	    "version: 1\n"
	    "staff:\n"
	    "  - {login: boss, function: exec, team: board}\n"
	    "  - {login: mid, function: ops, team: t1, manager: boss}\n"
	    "  - {login: low, function: helpdesk, team: t2, manager: mid}\n"
	    "  - {login: peer, function: iam, team: t2}\n"
	    "  - {login: far, function: \"\", team: \"\"}\n"
	    "  - {login: far2, function: \"\", team: \"\"}\n"
	    "subjects: []\n";
	tk_org org;
	tk_error err;

	(void)state;
	assert_int_equal(tk_org_load(&org, yaml, strlen(yaml), "t.yaml",
	    &err), 0);
	/* boss manages low through mid: inside, both ways. */
	assert_true(tk_org_manages(&org, "boss", "low"));
	assert_false(tk_org_outside_chain(&org, tk_org_staff(&org, "low"),
	    tk_org_staff(&org, "boss")));
	assert_false(tk_org_outside_chain(&org, tk_org_staff(&org, "boss"),
	    tk_org_staff(&org, "low")));
	/* Same team, other function: inside. */
	assert_false(tk_org_outside_chain(&org, tk_org_staff(&org, "low"),
	    tk_org_staff(&org, "peer")));
	/* Empty function and team never match. */
	assert_true(tk_org_outside_chain(&org, tk_org_staff(&org, "far"),
	    tk_org_staff(&org, "far2")));
	assert_true(tk_org_outside_chain(&org, tk_org_staff(&org, "mid"),
	    tk_org_staff(&org, "peer")));
	tk_org_free(&org);
}

static void
test_contacts(void **state)
{
	tk_org *org = *state;
	const tk_subject *j = tk_org_subject(org, "jsmith");
	const tk_subject *p = tk_org_subject(org, "svc-payments");

	assert_true(tk_subject_has_contact(j, "+1 555 0101"));
	assert_true(tk_subject_has_contact(j, "  +1 555 0101\t"));
	assert_true(tk_subject_has_contact(j, "+1-555-0101"));
	assert_true(tk_subject_has_contact(j, "+1 (555) 01.01"));
	assert_true(tk_subject_has_contact(j, "+15550101"));
	assert_false(tk_subject_has_contact(j, "15550101"));
	assert_false(tk_subject_has_contact(j, "+1 555 0102"));
	assert_false(tk_subject_has_contact(j, "+1 555 01011"));
	assert_true(tk_subject_has_contact(j, "jsmith@example.com"));
	assert_true(tk_subject_has_contact(j, " JSmith@Example.COM "));
	assert_false(tk_subject_has_contact(j, "jsmith@example.org"));
	assert_false(tk_subject_has_contact(j, "jsmith@example.com.evil"));
	assert_false(tk_subject_has_contact(j, "pwhite@example.com"));
	assert_false(tk_subject_has_contact(j, ""));
	assert_false(tk_subject_has_contact(j, "   "));
	assert_false(tk_subject_has_contact(j, "---"));
	assert_false(tk_subject_has_contact(j, NULL));
	assert_false(tk_subject_has_contact(NULL, "+1 555 0101"));
	assert_true(tk_subject_has_contact(p, "payments-owners@example.com"));
	assert_false(tk_subject_has_contact(p, "+1 555 0101"));
}

/* ------------------------------------------------------------------ */
/* errors */

struct bad_case {
	const char *yaml;
	const char *want; /* substring of the message, with line:col */
};

static const struct bad_case bad_cases[] = {
	{"version: 1\nfoo: 1\n",
	    "t.yaml:2:1: unknown key \"foo\" in the org file; expected "
	    "version, staff or subjects"},
	{"version: 2\n", "t.yaml:1:10: unsupported version \"2\""},
	{"staff: []\n", "t.yaml:1:1: the org file has no version"},
	{"", "t.yaml:1:1: the org file is empty"},
	{"- 1\n", "t.yaml:1:1: the org file must be a mapping"},
	{"version: 1\nversion: 1\n",
	    "t.yaml:2:1: key \"version\" appears twice"},
	{"version: 1\nstaff:\n  - {login: a, fn: x}\n",
	    "t.yaml:3:16: unknown key \"fn\" in a staff entry; expected login, "
	    "name, function, team, manager or roles"},
	{"version: 1\nstaff:\n  - {login: a}\n  - {login: b}\n"
	    "  - {login: a}\n",
	    "t.yaml:5:13: staff login \"a\" appears twice (first at line 3)"},
	{"version: 1\nstaff:\n  - {login: a, manager: zed}\n",
	    "t.yaml:3:25: manager \"zed\" of a is not a staff login"},
	{"version: 1\nstaff:\n  - {login: a}\nsubjects:\n"
	    "  - {id: s, kind: nhi, owner: zed}\n",
	    "t.yaml:5:31: owner \"zed\" of subject s is not a staff login"},
	{"version: 1\nstaff:\n  - {login: a}\nsubjects:\n"
	    "  - {id: s, kind: person, manager: b}\n",
	    "t.yaml:5:36: manager \"b\" of subject s is not a staff login"},
	{"version: 1\nstaff:\n"
	    "  - {login: a, manager: c}\n"
	    "  - {login: b, manager: a}\n"
	    "  - {login: c, manager: b}\n",
	    "t.yaml:3:25: management cycle a -> c -> b -> a"},
	{"version: 1\nstaff:\n  - {login: a, manager: a}\n",
	    "t.yaml:3:25: management cycle a -> a"},
	{"version: 1\nstaff:\n  - {login: Alice}\n",
	    "t.yaml:3:13: login \"Alice\" is not a valid name"},
	{"version: 1\nsubjects:\n  - {id: -x, kind: person}\n",
	    "t.yaml:3:10: id \"-x\" is not a valid name"},
	{"version: 1\nstaff:\n  - {login: "
	    "a234567890123456789012345678901234567890123456789012345678901234}\n",
	    "t.yaml:3:13: login is 64 characters long; the limit is 63"},
	{"version: 1\nsubjects:\n  - {id: s, kind: person, labels: "
	    "[a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q]}\n",
	    "t.yaml:3:35: 17 labels; the limit is 16 per subject"},
	{"version: 1\nsubjects:\n  - {id: s, kind: person, contacts: ["
	    "{phone: '1 1 1'}, {phone: '2 2 2'}, {phone: '3 3 3'}, "
	    "{phone: '4 4 4'}, {phone: '5 5 5'}, {phone: '6 6 6'}, "
	    "{phone: '7 7 7'}, {phone: '8 8 8'}, {phone: '9 9 9'}]}\n",
	    "t.yaml:3:37: 9 contacts; the limit is 8 per subject"},
	{"version: 1\nstaff:\n  - {login: a, roles: [root]}\n",
	    "t.yaml:3:24: unknown role \"root\"; roles are admin and auditor"},
	{"version: 1\nsubjects:\n  - {id: s, kind: robot}\n",
	    "t.yaml:3:19: unknown kind \"robot\"; use person or nhi"},
	{"version: 1\nsubjects:\n  - {id: s}\n",
	    "t.yaml:3:5: subject s has no kind"},
	{"version: 1\nstaff:\n  - {name: x}\n",
	    "t.yaml:3:5: staff entry has no login"},
	{"version: 1\nsubjects:\n  - {id: s, kind: person, contacts: "
	    "[{fax: '1'}]}\n",
	    "t.yaml:3:39: unknown contact kind \"fax\"; use phone or email"},
	{"version: 1\nsubjects:\n  - {id: s, kind: person, contacts: "
	    "[{phone: '1', email: a@b.c}]}\n",
	    "t.yaml:3:38: each contact must be one {phone: NUMBER} or "
	    "{email: ADDRESS}"},
	{"version: 1\nsubjects:\n  - {id: s, kind: person, contacts: "
	    "[{email: nobody}]}\n",
	    "t.yaml:3:46: email \"nobody\" is not an e-mail address"},
	{"version: 1\nsubjects:\n  - {id: s, kind: person, contacts: "
	    "[{phone: call me}]}\n",
	    "t.yaml:3:46: phone \"call me\" is not a phone number"},
	{"version: 1\nsubjects:\n  - {id: s, kind: person, contacts: "
	    "[{phone: '+1 555'}, {phone: '+1-555'}]}\n",
	    "t.yaml:3:65: contact \"+1-555\" is listed twice"},
	{"version: 1\nsubjects:\n  - {id: s, kind: person}\n"
	    "  - {id: t, kind: nhi}\n  - {id: s, kind: nhi}\n",
	    "t.yaml:5:10: subject id \"s\" appears twice (first at line 3)"},
	{"version: 1\nstaff:\n  - {login: a}\nsubjects:\n"
	    "  - {id: s, kind: person, owner: a}\n",
	    "t.yaml:5:34: subject s is a person: give it a manager, not an "
	    "owner"},
	{"version: 1\nstaff:\n  - {login: a}\nsubjects:\n"
	    "  - {id: s, kind: nhi, manager: a}\n",
	    "t.yaml:5:33: subject s is a non-human identity: give it an "
	    "owner"},
	{"version: 1\nstaff: {login: a}\n",
	    "t.yaml:2:8: staff must be a list, not a mapping"},
	{"version: 1\nstaff:\n  - {login: [a]}\n",
	    "t.yaml:3:13: login must be a single value, not a list"},
	{"version: 1\nstaff:\n  - {login: a, team: Big Team}\n",
	    "t.yaml:3:22: team \"Big Team\" is not a valid name"},
	{"version: 1\nsubjects:\n  - {id: s, kind: person, labels: [a, a]}\n",
	    "t.yaml:3:39: label \"a\" is listed twice"},
	{"version: 1\nstaff:\n  - {login: a\n",
	    "t.yaml:4:1: YAML syntax error: did not find expected ',' or '}'"},
	{"version: 1\nstaff: [\n", "t.yaml:3:1: YAML syntax error"},
};

static void
test_errors(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		tk_org org;
		tk_error err;

		memset(&org, 0x55, sizeof(org));
		memset(&err, 0, sizeof(err));
		if (tk_org_load(&org, bad_cases[i].yaml,
		    strlen(bad_cases[i].yaml), "t.yaml", &err) != -1)
			fail_msg("case %zu loaded:\n%s", i, bad_cases[i].yaml);
		if (strstr(err.msg, bad_cases[i].want) == NULL)
			fail_msg("case %zu:\n want: %s\n  got: %s", i,
			    bad_cases[i].want, err.msg);
		assert_int_equal(err.status, TK_ERR_INVALID);
		/* org is left zeroed. */
		assert_null(org.staff);
		assert_null(org.subjects);
		assert_int_equal(org.nstaff, 0);
		assert_int_equal(org.nsubjects, 0);
	}
}

static void
test_nulls_and_empty(void **state)
{
	static const char yaml[] =
	    "version: 1\n"
	    "staff:\n"
	    "  - login: a\n"
	    "    manager: ~\n"
	    "    function:\n"
	    "  - {login: b, manager: null, roles: [admin, auditor]}\n"
	    "subjects:\n";
	tk_org org;
	tk_error err;

	(void)state;
	if (tk_org_load(&org, yaml, strlen(yaml), "t.yaml", &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(org.nstaff, 2);
	assert_int_equal(org.nsubjects, 0);
	assert_string_equal(tk_org_staff(&org, "a")->manager, "");
	assert_string_equal(tk_org_staff(&org, "a")->function, "");
	assert_int_equal(tk_org_staff(&org, "b")->roles,
	    TK_ROLE_ADMIN | TK_ROLE_AUDITOR);
	assert_null(tk_org_subject(&org, "a"));
	tk_org_free(&org);
	tk_org_free(&org); /* idempotent */
}

/* ------------------------------------------------------------------ */
/* actions */

static void
test_actions(void **state)
{
	const tk_action *a;
	size_t i, j;

	(void)state;
	assert_int_equal(tk_action_count(), 12);
	for (i = 0; i < tk_action_count(); i++) {
		a = tk_action_at(i);
		assert_non_null(a);
		assert_true(tk_family_valid(a->family));
		assert_true(a->kinds != 0);
		assert_non_null(a->summary);
		assert_ptr_equal(tk_action_find(a->name), a);
		assert_non_null(strstr(tk_action_names(), a->name));
		for (j = 0; j < i; j++)
			assert_string_not_equal(tk_action_at(j)->name, a->name);
	}
	assert_null(tk_action_at(tk_action_count()));
	assert_null(tk_action_find("format_disk"));
	assert_null(tk_action_find(NULL));

	a = tk_action_find("mfa_reset");
	assert_string_equal(a->family, "mfa");
	assert_int_equal(a->kinds, TK_SUBJECT_KIND_PERSON_BIT);
	a = tk_action_find("password_reset");
	assert_string_equal(a->family, "password");
	assert_int_equal(a->kinds, TK_SUBJECT_KIND_PERSON_BIT);
	assert_true(a->credential);
	a = tk_action_find("reactivation");
	assert_string_equal(a->family, "reactivation");
	assert_int_equal(a->kinds,
	    TK_SUBJECT_KIND_PERSON_BIT | TK_SUBJECT_KIND_NHI_BIT);
	a = tk_action_find("role_grant");
	assert_string_equal(a->family, "role");
	assert_int_equal(a->kinds,
	    TK_SUBJECT_KIND_PERSON_BIT | TK_SUBJECT_KIND_NHI_BIT);
	a = tk_action_find("secret_rotation");
	assert_string_equal(a->family, "nhi");
	assert_int_equal(a->kinds, TK_SUBJECT_KIND_NHI_BIT);
	assert_true(a->credential);
	assert_string_equal(tk_action_find("email_change")->family, "profile");
	assert_string_equal(tk_action_find("device_enrolment")->family, "mfa");

	assert_true(tk_family_valid("password"));
	assert_true(tk_family_valid("profile"));
	assert_false(tk_family_valid("root"));
	assert_false(tk_family_valid(NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_demo_loads, setup_demo,
		    teardown_demo),
		cmocka_unit_test_setup_teardown(test_lookups, setup_demo,
		    teardown_demo),
		cmocka_unit_test_setup_teardown(test_manages, setup_demo,
		    teardown_demo),
		cmocka_unit_test_setup_teardown(test_outside_chain, setup_demo,
		    teardown_demo),
		cmocka_unit_test_setup_teardown(test_contacts, setup_demo,
		    teardown_demo),
		cmocka_unit_test(test_chain_by_team_and_line),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_nulls_and_empty),
		cmocka_unit_test(test_actions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
