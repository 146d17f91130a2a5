/*
 * org.c - loads the organisation file (YAML, via libyaml) into tk_org and
 * answers the questions the engine asks of it: who is this login, who is
 * this subject, who manages whom, is an approver outside the requester's
 * support chain, is this a contact on file.
 *
 * Owns: the org file format (version 1: staff and subjects), its
 * validation (unknown keys, duplicates, dangling managers and owners,
 * management cycles, malformed logins and ids, caps), error messages of
 * the form "FILE:LINE:COL: what and how to fix", and the sorted arrays
 * that lookups bsearch. A loaded tk_org is immutable and may be shared
 * by threads for reading. Walking the YAML tree (typed access, bounded
 * copies, allowed keys, the message prefix) is core/yaml_walk.c's.
 */
#include "core/org.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "core/yaml_walk.h"

#define ORG_TEXT_MAX (16u * 1024 * 1024) /* bytes of YAML we accept */
#define ORG_STAFF_MAX 100000
#define ORG_SUBJECTS_MAX 100000
#define ORG_ROLES_MAX 4

/* A parsed staff member or subject with the positions needed to report
 * errors found after parsing (duplicates, dangling references, cycles). */
struct staff_ent {
	tk_staff s;
	yaml_mark_t at;      /* the login value */
	yaml_mark_t mgr_at;  /* the manager value */
};

struct subject_ent {
	tk_subject s;
	yaml_mark_t at;      /* the id value */
	yaml_mark_t mgr_at;  /* the manager value */
	yaml_mark_t own_at;  /* the owner value */
	yaml_mark_t held_at; /* the held_by value */
};

struct ctx {
	tk_yaml_walk w;
	yaml_document_t doc;
	struct staff_ent *staff;
	size_t nstaff, capstaff;
	struct subject_ent *subj;
	size_t nsubj, capsubj;
};

/* ------------------------------------------------------------------ */
/* small validators */

/* [a-z0-9][a-z0-9._-]{0,62} */
static bool
valid_id(const char *s)
{
	size_t i;

	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (i = 1; s[i] != '\0'; i++) {
		if (i > 62)
			return false;
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
		    s[i] == '_' || s[i] == '-'))
			return false;
	}
	return true;
}

/* Function, team and label names: the same alphabet as ids, shorter. */
static bool
valid_name(const char *s)
{
	return strlen(s) < TK_NAME_MAX && valid_id(s);
}

static bool
valid_email(const char *v)
{
	const char *at = strchr(v, '@');
	size_t i;

	if (at == NULL || at == v || at[1] == '\0' || strchr(at + 1, '@'))
		return false;
	for (i = 0; v[i] != '\0'; i++)
		if ((unsigned char)v[i] <= ' ' || (unsigned char)v[i] >= 0x7f)
			return false;
	return strchr(at + 1, '.') != NULL;
}

static bool
valid_phone(const char *v)
{
	size_t i, digits = 0;

	for (i = 0; v[i] != '\0'; i++) {
		if (v[i] >= '0' && v[i] <= '9')
			digits++;
		else if (strchr("+ -.()", v[i]) == NULL)
			return false;
		if (v[i] == '+' && i != 0)
			return false;
	}
	return digits >= 3;
}

/* ------------------------------------------------------------------ */
/* YAML node access */

static int
scalar_id(struct ctx *c, const yaml_node_t *n, const char *key, char *dst,
    size_t size, bool allow_empty)
{
	if (tk_yw_scalar(&c->w, n, key, dst, size) != 0)
		return -1;
	if (dst[0] == '\0' && allow_empty)
		return 0;
	if (!valid_id(dst))
		return tk_yw_fail_at(&c->w, n->start_mark, "%s \"%s\" is not a "
		    "valid name; use 1-63 characters: lower-case letters, "
		    "digits, '.', '_' or '-', starting with a letter or digit",
		    key, dst);
	return 0;
}

static int
scalar_name(struct ctx *c, const yaml_node_t *n, const char *key,
    char *dst, bool allow_empty)
{
	if (tk_yw_scalar(&c->w, n, key, dst, TK_NAME_MAX) != 0)
		return -1;
	if (dst[0] == '\0' && allow_empty)
		return 0;
	if (!valid_name(dst))
		return tk_yw_fail_at(&c->w, n->start_mark, "%s \"%s\" is not a "
		    "valid name; use 1-%d characters: lower-case letters, "
		    "digits, '.', '_' or '-', starting with a letter or digit",
		    key, dst, TK_NAME_MAX - 1);
	return 0;
}

/* ------------------------------------------------------------------ */
/* staff */

static const char *const staff_keys[] = {
	"login", "name", "function", "team", "manager", "roles", NULL,
};
enum { SK_LOGIN, SK_NAME, SK_FUNCTION, SK_TEAM, SK_MANAGER, SK_ROLES };

static int
parse_roles(struct ctx *c, const yaml_node_t *n, unsigned *roles)
{
	yaml_node_item_t *it;
	yaml_node_t *r;
	char v[TK_NAME_MAX];
	size_t count;

	if (tk_yw_want(&c->w, n, YAML_SEQUENCE_NODE, "roles") != 0)
		return -1;
	count = tk_yw_seq_len(n);
	if (count > ORG_ROLES_MAX)
		return tk_yw_fail_at(&c->w, n->start_mark, "roles lists %zu "
		    "entries; the limit is %d (admin, auditor)", count,
		    ORG_ROLES_MAX);
	for (it = n->data.sequence.items.start;
	    it < n->data.sequence.items.top; it++) {
		r = tk_yw_node(&c->w, *it);
		if (r == NULL ||
		    tk_yw_scalar(&c->w, r, "role", v, sizeof(v)) != 0)
			return -1;
		if (strcmp(v, "admin") == 0)
			*roles |= TK_ROLE_ADMIN;
		else if (strcmp(v, "auditor") == 0)
			*roles |= TK_ROLE_AUDITOR;
		else
			return tk_yw_fail_at(&c->w, r->start_mark, "unknown "
			    "role \"%s\"; roles are admin and auditor (a "
			    "person's function goes under function)", v);
	}
	return 0;
}

static int
parse_staff_one(void *arg, const yaml_node_t *n)
{
	struct ctx *c = arg;
	struct staff_ent *e, *ns;
	yaml_node_pair_t *p;
	yaml_node_t *v;
	unsigned seen = 0;
	int k, rc = 0;

	if (tk_yw_want(&c->w, n, YAML_MAPPING_NODE, "each staff entry") != 0)
		return -1;
	if (c->nstaff >= ORG_STAFF_MAX)
		return tk_yw_fail_at(&c->w, n->start_mark, "more than %d "
		    "staff; split the organisation", ORG_STAFF_MAX);
	if (c->nstaff == c->capstaff) {
		size_t ncap = c->capstaff ? c->capstaff * 2 : 16;

		ns = realloc(c->staff, ncap * sizeof(*ns));
		if (ns == NULL)
			return tk_fail(c->w.err, TK_ERR_INTERNAL, "out of "
			    "memory loading %s", c->w.file), -1;
		c->staff = ns;
		c->capstaff = ncap;
	}
	e = &c->staff[c->nstaff];
	memset(e, 0, sizeof(*e));
	e->at = n->start_mark;
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	    p++) {
		if (tk_yw_pair(&c->w, n, p, staff_keys, &seen, "a staff entry",
		    "login, name, function, team, manager or roles", &k,
		    &v) != 0)
			return -1;
		switch (k) {
		case SK_LOGIN:
			e->at = v->start_mark;
			rc = scalar_id(c, v, "login", e->s.login,
			    sizeof(e->s.login), false);
			break;
		case SK_NAME:
			rc = tk_yw_scalar(&c->w, v, "name", e->s.name,
			    sizeof(e->s.name));
			break;
		case SK_FUNCTION:
			rc = scalar_name(c, v, "function", e->s.function, true);
			break;
		case SK_TEAM:
			rc = scalar_name(c, v, "team", e->s.team, true);
			break;
		case SK_MANAGER:
			e->mgr_at = v->start_mark;
			rc = scalar_id(c, v, "manager", e->s.manager,
			    sizeof(e->s.manager), true);
			break;
		case SK_ROLES:
			rc = parse_roles(c, v, &e->s.roles);
			break;
		default:
			rc = -1;
		}
		if (rc != 0)
			return -1;
	}
	if (!(seen & (1u << SK_LOGIN)))
		return tk_yw_fail_at(&c->w, n->start_mark, "staff entry has no "
		    "login; add login: NAME");
	c->nstaff++;
	return 0;
}

/* ------------------------------------------------------------------ */
/* subjects */

static const char *const subject_keys[] = {
	"id", "kind", "name", "labels", "manager", "owner", "contacts",
	"held_by", NULL,
};
enum { BK_ID, BK_KIND, BK_NAME, BK_LABELS, BK_MANAGER, BK_OWNER,
	BK_CONTACTS, BK_HELD_BY };

static int
parse_labels(struct ctx *c, const yaml_node_t *n, tk_subject *s)
{
	yaml_node_item_t *it;
	yaml_node_t *l;
	size_t count;
	int i;

	if (tk_yw_want(&c->w, n, YAML_SEQUENCE_NODE, "labels") != 0)
		return -1;
	count = tk_yw_seq_len(n);
	if (count > TK_MAX_LABELS)
		return tk_yw_fail_at(&c->w, n->start_mark, "%zu labels; the "
		    "limit is %d per subject", count, TK_MAX_LABELS);
	for (it = n->data.sequence.items.start;
	    it < n->data.sequence.items.top; it++) {
		l = tk_yw_node(&c->w, *it);
		if (l == NULL || scalar_name(c, l, "label",
		    s->labels[s->nlabels], false) != 0)
			return -1;
		for (i = 0; i < s->nlabels; i++)
			if (strcmp(s->labels[i], s->labels[s->nlabels]) == 0)
				return tk_yw_fail_at(&c->w, l->start_mark,
				    "label \"%s\" is listed twice; keep one",
				    s->labels[i]);
		s->nlabels++;
	}
	return 0;
}

static int
parse_contacts(struct ctx *c, const yaml_node_t *n, tk_subject *s)
{
	yaml_node_item_t *it;
	yaml_node_pair_t *p;
	yaml_node_t *m, *k, *v;
	tk_contact *ct;
	const char *kn;
	size_t count;

	if (tk_yw_want(&c->w, n, YAML_SEQUENCE_NODE, "contacts") != 0)
		return -1;
	count = tk_yw_seq_len(n);
	if (count > TK_MAX_CONTACTS)
		return tk_yw_fail_at(&c->w, n->start_mark, "%zu contacts; the "
		    "limit is %d per subject", count, TK_MAX_CONTACTS);
	for (it = n->data.sequence.items.start;
	    it < n->data.sequence.items.top; it++) {
		m = tk_yw_node(&c->w, *it);
		if (m == NULL)
			return tk_yw_fail_at(&c->w, n->start_mark, "missing "
			    "contact");
		if (m->type != YAML_MAPPING_NODE ||
		    m->data.mapping.pairs.top - m->data.mapping.pairs.start
		    != 1)
			return tk_yw_fail_at(&c->w, m->start_mark, "each "
			    "contact must be one {phone: NUMBER} or {email: "
			    "ADDRESS}");
		p = m->data.mapping.pairs.start;
		k = tk_yw_node(&c->w, p->key);
		v = tk_yw_node(&c->w, p->value);
		if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE)
			return tk_yw_fail_at(&c->w, m->start_mark, "each "
			    "contact must be one {phone: NUMBER} or {email: "
			    "ADDRESS}");
		kn = (const char *)k->data.scalar.value;
		ct = &s->contacts[s->ncontacts];
		if (strcmp(kn, "phone") == 0)
			ct->kind = TK_CONTACT_PHONE;
		else if (strcmp(kn, "email") == 0)
			ct->kind = TK_CONTACT_EMAIL;
		else
			return tk_yw_fail_at(&c->w, k->start_mark, "unknown "
			    "contact kind \"%.64s\"; use phone or email", kn);
		if (tk_yw_scalar(&c->w, v, kn, ct->value,
		    sizeof(ct->value)) != 0)
			return -1;
		if (ct->kind == TK_CONTACT_PHONE && !valid_phone(ct->value))
			return tk_yw_fail_at(&c->w, v->start_mark, "phone "
			    "\"%s\" is not a phone number; use digits with an "
			    "optional leading '+' and spaces, dashes, dots or "
			    "parentheses", ct->value);
		if (ct->kind == TK_CONTACT_EMAIL && !valid_email(ct->value))
			return tk_yw_fail_at(&c->w, v->start_mark, "email "
			    "\"%s\" is not an e-mail address; use NAME@DOMAIN",
			    ct->value);
		if (tk_subject_has_contact(s, ct->value))
			return tk_yw_fail_at(&c->w, v->start_mark, "contact "
			    "\"%s\" is listed twice; keep one", ct->value);
		s->ncontacts++;
	}
	return 0;
}

static int
parse_subject_one(void *arg, const yaml_node_t *n)
{
	struct ctx *c = arg;
	struct subject_ent *e, *ns;
	yaml_node_pair_t *p;
	yaml_node_t *v;
	char kind[TK_NAME_MAX];
	unsigned seen = 0;
	int k, rc = 0;

	if (tk_yw_want(&c->w, n, YAML_MAPPING_NODE, "each subject") != 0)
		return -1;
	if (c->nsubj >= ORG_SUBJECTS_MAX)
		return tk_yw_fail_at(&c->w, n->start_mark, "more than %d "
		    "subjects; split the organisation", ORG_SUBJECTS_MAX);
	if (c->nsubj == c->capsubj) {
		size_t ncap = c->capsubj ? c->capsubj * 2 : 16;

		ns = realloc(c->subj, ncap * sizeof(*ns));
		if (ns == NULL)
			return tk_fail(c->w.err, TK_ERR_INTERNAL, "out of "
			    "memory loading %s", c->w.file), -1;
		c->subj = ns;
		c->capsubj = ncap;
	}
	e = &c->subj[c->nsubj];
	memset(e, 0, sizeof(*e));
	e->at = n->start_mark;
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	    p++) {
		if (tk_yw_pair(&c->w, n, p, subject_keys, &seen, "a subject",
		    "id, kind, name, labels, manager, owner, contacts or "
		    "held_by", &k, &v) != 0)
			return -1;
		switch (k) {
		case BK_ID:
			e->at = v->start_mark;
			rc = scalar_id(c, v, "id", e->s.id, sizeof(e->s.id),
			    false);
			break;
		case BK_KIND:
			rc = tk_yw_scalar(&c->w, v, "kind", kind, sizeof(kind));
			if (rc != 0)
				break;
			if (strcmp(kind, "person") == 0)
				e->s.kind = TK_SUBJECT_PERSON;
			else if (strcmp(kind, "nhi") == 0)
				e->s.kind = TK_SUBJECT_NHI;
			else
				rc = tk_yw_fail_at(&c->w, v->start_mark,
				    "unknown kind \"%s\"; use person or nhi (a "
				    "non-human identity)", kind);
			break;
		case BK_NAME:
			rc = tk_yw_scalar(&c->w, v, "name", e->s.name,
			    sizeof(e->s.name));
			break;
		case BK_LABELS:
			rc = parse_labels(c, v, &e->s);
			break;
		case BK_MANAGER:
			e->mgr_at = v->start_mark;
			rc = scalar_id(c, v, "manager", e->s.manager,
			    sizeof(e->s.manager), true);
			break;
		case BK_OWNER:
			e->own_at = v->start_mark;
			rc = scalar_id(c, v, "owner", e->s.owner,
			    sizeof(e->s.owner), true);
			break;
		case BK_CONTACTS:
			rc = parse_contacts(c, v, &e->s);
			break;
		case BK_HELD_BY:
			e->held_at = v->start_mark;
			rc = scalar_id(c, v, "held_by", e->s.held_by,
			    sizeof(e->s.held_by), true);
			break;
		default:
			rc = -1;
		}
		if (rc != 0)
			return -1;
	}
	if (!(seen & (1u << BK_ID)))
		return tk_yw_fail_at(&c->w, n->start_mark, "subject has no id; "
		    "add id: NAME");
	if (!(seen & (1u << BK_KIND)))
		return tk_yw_fail_at(&c->w, n->start_mark, "subject %s has no "
		    "kind; add kind: person or kind: nhi", e->s.id);
	if (e->s.kind == TK_SUBJECT_PERSON && e->s.owner[0] != '\0')
		return tk_yw_fail_at(&c->w, e->own_at, "subject %s is a "
		    "person: give it a manager, not an owner", e->s.id);
	if (e->s.kind == TK_SUBJECT_NHI && e->s.manager[0] != '\0')
		return tk_yw_fail_at(&c->w, e->mgr_at, "subject %s is a "
		    "non-human identity: give it an owner, not a manager",
		    e->s.id);
	c->nsubj++;
	return 0;
}

/* ------------------------------------------------------------------ */
/* whole file */

static const char *const top_keys[] = {"version", "staff", "subjects",
	NULL};
enum { TK_VERSION_KEY, TK_STAFF_KEY, TK_SUBJECTS_KEY };

/* staff: or subjects: with nothing after it (but not ~ or null) is an
 * empty list. */
static int
parse_list(struct ctx *c, const yaml_node_t *n, const char *what,
    int (*one)(void *, const yaml_node_t *))
{
	if (n->type == YAML_SCALAR_NODE && n->data.scalar.length == 0 &&
	    n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
		return 0;
	return tk_yw_each(&c->w, n, what, one, c);
}

static int
parse_top(struct ctx *c)
{
	yaml_node_t *root, *v;
	yaml_node_pair_t *p;
	char ver[16];
	unsigned seen = 0;
	int k;

	root = yaml_document_get_root_node(&c->doc);
	if (root == NULL)
		return tk_yw_fail_at(&c->w, c->doc.start_mark, "the org file "
		    "is empty; it needs version: 1, staff and subjects");
	if (root->type != YAML_MAPPING_NODE)
		return tk_yw_fail_at(&c->w, root->start_mark, "the org file "
		    "must be a mapping with version, staff and subjects");
	for (p = root->data.mapping.pairs.start;
	    p < root->data.mapping.pairs.top; p++) {
		if (tk_yw_pair(&c->w, root, p, top_keys, &seen, "the org file",
		    "version, staff or subjects", &k, &v) != 0)
			return -1;
		if (k == TK_VERSION_KEY) {
			if (tk_yw_scalar(&c->w, v, "version", ver,
			    sizeof(ver)) != 0)
				return -1;
			if (strcmp(ver, "1") != 0)
				return tk_yw_fail_at(&c->w, v->start_mark,
				    "unsupported version \"%s\"; this twokey "
				    "reads org files of version 1", ver);
		} else if (k == TK_STAFF_KEY) {
			if (parse_list(c, v, "staff", parse_staff_one) != 0)
				return -1;
		} else if (parse_list(c, v, "subjects", parse_subject_one) != 0) {
			return -1;
		}
	}
	if (!(seen & (1u << TK_VERSION_KEY)))
		return tk_yw_fail_at(&c->w, root->start_mark, "the org file "
		    "has no version; add version: 1 at the top");
	return 0;
}

static int
cmp_staff_ent(const void *a, const void *b)
{
	const struct staff_ent *x = a, *y = b;
	int r = strcmp(x->s.login, y->s.login);

	if (r != 0)
		return r;
	/* Equal logins: file order, so the later one is reported. */
	return (x->at.index > y->at.index) - (x->at.index < y->at.index);
}

static int
cmp_subject_ent(const void *a, const void *b)
{
	const struct subject_ent *x = a, *y = b;
	int r = strcmp(x->s.id, y->s.id);

	if (r != 0)
		return r;
	return (x->at.index > y->at.index) - (x->at.index < y->at.index);
}

static int
cmp_staff(const void *a, const void *b)
{
	return strcmp(((const tk_staff *)a)->login,
	    ((const tk_staff *)b)->login);
}

static const struct staff_ent *
find_ent(const struct ctx *c, const char *login)
{
	size_t lo = 0, hi = c->nstaff, mid;
	int r;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		r = strcmp(login, c->staff[mid].s.login);
		if (r == 0)
			return &c->staff[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* Cross-entry checks, after sorting: duplicates, references, cycles. */
static int
check_refs(struct ctx *c)
{
	const struct staff_ent *m;
	size_t i, steps;
	char path[256];
	int n;

	for (i = 1; i < c->nstaff; i++)
		if (strcmp(c->staff[i].s.login, c->staff[i - 1].s.login) == 0)
			return tk_yw_fail_at(&c->w, c->staff[i].at, "staff "
			    "login \"%s\" appears twice (first at line %zu); "
			    "logins must be unique", c->staff[i].s.login,
			    c->staff[i - 1].at.line + 1);
	for (i = 1; i < c->nsubj; i++)
		if (strcmp(c->subj[i].s.id, c->subj[i - 1].s.id) == 0)
			return tk_yw_fail_at(&c->w, c->subj[i].at, "subject id "
			    "\"%s\" appears twice (first at line %zu); ids "
			    "must be unique", c->subj[i].s.id,
			    c->subj[i - 1].at.line + 1);
	for (i = 0; i < c->nstaff; i++) {
		const struct staff_ent *e = &c->staff[i];

		if (e->s.manager[0] != '\0' && find_ent(c, e->s.manager) == NULL)
			return tk_yw_fail_at(&c->w, e->mgr_at, "manager \"%s\" "
			    "of %s is not a staff login; add them under staff "
			    "or fix the name", e->s.manager, e->s.login);
	}
	for (i = 0; i < c->nsubj; i++) {
		const struct subject_ent *e = &c->subj[i];

		if (e->s.manager[0] != '\0' && find_ent(c, e->s.manager) == NULL)
			return tk_yw_fail_at(&c->w, e->mgr_at, "manager \"%s\" "
			    "of subject %s is not a staff login; add them "
			    "under staff or fix the name", e->s.manager,
			    e->s.id);
		if (e->s.owner[0] != '\0' && find_ent(c, e->s.owner) == NULL)
			return tk_yw_fail_at(&c->w, e->own_at, "owner \"%s\" "
			    "of subject %s is not a staff login; add them "
			    "under staff or fix the name", e->s.owner, e->s.id);
		if (e->s.held_by[0] != '\0' &&
		    find_ent(c, e->s.held_by) == NULL)
			return tk_yw_fail_at(&c->w, e->held_at, "held_by "
			    "\"%s\" of subject %s is not a staff login; name "
			    "the staff member who uses this account",
			    e->s.held_by, e->s.id);
	}
	/* Cycles: from each staff member, climb at most nstaff managers. */
	for (i = 0; i < c->nstaff; i++) {
		const struct staff_ent *e = &c->staff[i];

		m = e;
		n = snprintf(path, sizeof(path), "%s", e->s.login);
		for (steps = 0; steps <= c->nstaff && m->s.manager[0] != '\0';
		    steps++) {
			m = find_ent(c, m->s.manager);
			if (m == NULL)
				break;
			if (n >= 0 && (size_t)n < sizeof(path))
				n += snprintf(path + n, sizeof(path) - (size_t)n,
				    " -> %s", m->s.login);
			if (m == e)
				return tk_yw_fail_at(&c->w, e->mgr_at,
				    "management cycle %.200s; nobody may "
				    "manage themselves, directly or through "
				    "others", path);
		}
	}
	return 0;
}

int
tk_org_load(tk_org *org, const char *text, size_t len,
    const char *filename, tk_error *err)
{
	struct ctx c;
	yaml_mark_t m0 = {0, 0, 0};
	size_t i;
	int rc = -1;

	memset(org, 0, sizeof(*org));
	memset(&c, 0, sizeof(c));
	c.w.file = filename != NULL ? filename : "org";
	c.w.file_max = 60;
	c.w.err = err;
	c.w.doc = &c.doc;
	if (len > ORG_TEXT_MAX)
		return tk_yw_fail_at(&c.w, m0, "the org file is larger than %u "
		    "bytes", ORG_TEXT_MAX);
	rc = tk_yw_parse(&c.w, text, len);
	if (rc == -2)
		return tk_fail(err, TK_ERR_INTERNAL, "out of memory loading %s",
		    c.w.file), -1;
	if (rc != 0)
		return -1;
	rc = -1;

	if (parse_top(&c) != 0)
		goto out;
	if (c.nstaff > 0)
		qsort(c.staff, c.nstaff, sizeof(*c.staff), cmp_staff_ent);
	if (c.nsubj > 0)
		qsort(c.subj, c.nsubj, sizeof(*c.subj), cmp_subject_ent);
	if (check_refs(&c) != 0)
		goto out;

	if (c.nstaff > 0) {
		org->staff = calloc(c.nstaff, sizeof(*org->staff));
		if (org->staff == NULL)
			goto oom;
	}
	if (c.nsubj > 0) {
		org->subjects = calloc(c.nsubj, sizeof(*org->subjects));
		if (org->subjects == NULL)
			goto oom;
	}
	for (i = 0; i < c.nstaff; i++)
		org->staff[i] = c.staff[i].s;
	for (i = 0; i < c.nsubj; i++)
		org->subjects[i] = c.subj[i].s;
	org->nstaff = c.nstaff;
	org->nsubjects = c.nsubj;
	rc = 0;
	goto out;
oom:
	tk_org_free(org);
	(void)tk_fail(err, TK_ERR_INTERNAL, "out of memory loading %s",
	    c.w.file);
out:
	yaml_document_delete(&c.doc);
	free(c.staff);
	free(c.subj);
	return rc;
}

void
tk_org_free(tk_org *org)
{
	if (org == NULL)
		return;
	free(org->staff);
	free(org->subjects);
	memset(org, 0, sizeof(*org));
}

/* ------------------------------------------------------------------ */
/* lookups */

const tk_staff *
tk_org_staff(const tk_org *org, const char *login)
{
	tk_staff key;

	if (org == NULL || login == NULL || org->nstaff == 0 ||
	    tk_strlcpy(key.login, login, sizeof(key.login)) != 0)
		return NULL;
	return bsearch(&key, org->staff, org->nstaff, sizeof(*org->staff),
	    cmp_staff);
}

const tk_subject *
tk_org_subject(const tk_org *org, const char *id)
{
	size_t lo, hi, mid;
	int r;

	if (org == NULL || id == NULL)
		return NULL;
	lo = 0;
	hi = org->nsubjects;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		r = strcmp(id, org->subjects[mid].id);
		if (r == 0)
			return &org->subjects[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

bool
tk_org_manages(const tk_org *org, const char *above, const char *login)
{
	const tk_staff *s;
	size_t steps;

	if (above == NULL || above[0] == '\0')
		return false;
	s = tk_org_staff(org, login);
	/* The loader refused cycles; the step bound is a second guard. */
	for (steps = 0; s != NULL && steps < org->nstaff; steps++) {
		if (s->manager[0] == '\0')
			return false;
		if (strcmp(s->manager, above) == 0)
			return true;
		s = tk_org_staff(org, s->manager);
	}
	return false;
}

bool
tk_org_outside_chain(const tk_org *org, const tk_staff *requester,
    const tk_staff *other)
{
	if (requester == NULL || other == NULL)
		return false;
	if (strcmp(requester->login, other->login) == 0)
		return false;
	if (requester->function[0] != '\0' &&
	    strcmp(requester->function, other->function) == 0)
		return false;
	if (requester->team[0] != '\0' &&
	    strcmp(requester->team, other->team) == 0)
		return false;
	if (tk_org_manages(org, requester->login, other->login) ||
	    tk_org_manages(org, other->login, requester->login))
		return false;
	return true;
}

/* Copies v without leading and trailing blanks; false if it does not
 * fit or is empty. */
static bool
trim_copy(const char *v, char *dst, size_t size)
{
	size_t n;

	while (*v == ' ' || *v == '\t')
		v++;
	n = strlen(v);
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n == 0 || n >= size)
		return false;
	memcpy(dst, v, n);
	dst[n] = '\0';
	return true;
}

/* A phone number without spaces, dashes, dots and parentheses. */
static bool
phone_norm(const char *v, char *dst, size_t size)
{
	size_t n = 0;

	for (; *v != '\0'; v++) {
		if (strchr(" \t-.()", *v) != NULL)
			continue;
		if (n + 1 >= size)
			return false;
		dst[n++] = *v;
	}
	dst[n] = '\0';
	return n > 0;
}

bool
tk_subject_has_contact(const tk_subject *s, const char *value)
{
	char want_v[TK_CONTACT_MAX], have[TK_CONTACT_MAX];
	char wn[TK_CONTACT_MAX], hn[TK_CONTACT_MAX];
	bool email;
	int i;

	if (s == NULL || value == NULL ||
	    !trim_copy(value, want_v, sizeof(want_v)))
		return false;
	email = strchr(want_v, '@') != NULL;
	if (!email && !phone_norm(want_v, wn, sizeof(wn)))
		return false;
	for (i = 0; i < s->ncontacts && i < TK_MAX_CONTACTS; i++) {
		if (!trim_copy(s->contacts[i].value, have, sizeof(have)))
			continue;
		if (email) {
			if (s->contacts[i].kind == TK_CONTACT_EMAIL &&
			    strcasecmp(have, want_v) == 0)
				return true;
		} else if (s->contacts[i].kind == TK_CONTACT_PHONE &&
		    phone_norm(have, hn, sizeof(hn)) && strcmp(hn, wn) == 0) {
			return true;
		}
	}
	return false;
}

bool
tk_subject_is(const tk_subject *s, const char *login)
{
	return s != NULL && login != NULL && login[0] != '\0' &&
	    (strcmp(s->id, login) == 0 || strcmp(s->held_by, login) == 0);
}

bool
tk_subject_has_label(const tk_subject *s, const char *label)
{
	int i;

	if (s == NULL || label == NULL)
		return false;
	for (i = 0; i < s->nlabels && i < TK_MAX_LABELS; i++)
		if (strcmp(s->labels[i], label) == 0)
			return true;
	return false;
}
