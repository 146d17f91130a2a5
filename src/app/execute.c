/*
 * execute.c - execution against the real directory or IdP: which
 * connector performs a case's change (the directory file's routes), the
 * exactly-once protocol around the call (the case is committed
 * `executing` with an idempotency key before the connector runs; its
 * outcome is committed after), temporary credentials (random, delivered
 * only to a contact on file, never stored or returned), the tier's
 * revocations after the change, reconciliation of cases found
 * `executing` at start-up, and the expiries: role grants removed and
 * temporary credentials disabled (where the connector can) when they
 * expire.
 *
 * Owns: the mapping from actions to connector operations, credential
 * generation and its wiping, and the directory state in app_fx.
 */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app_int.h"
#include "core/action.h"
#include "verify/notify.h"

#define CRED_LEN 20                 /* characters of a temporary password */
#define CRED_TTL (24 * 60 * 60)     /* it must be changed within a day */
#define EXPIRY_BATCH 32
#define RECONCILE_MAX 500
#define EXPIRY_ATTEMPTS 20          /* undo attempts before giving up */

/* The connector operation that performs an action, or -1 when only a
 * person can (manual execution). */
static int
action_op(const char *action)
{
	static const struct {
		const char *action;
		enum tk_conn_op op;
	} map[] = {
		{"password_reset", TK_OP_PASSWORD_RESET},
		{"mfa_reset", TK_OP_MFA_RESET},
		{"reactivation", TK_OP_REACTIVATE},
		{"role_grant", TK_OP_GROUP_ADD},
		{"role_revoke", TK_OP_GROUP_REMOVE},
		{"secret_rotation", TK_OP_SECRET_ROTATE},
		{"api_key_reissue", TK_OP_SECRET_ROTATE},
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].action, action) == 0)
			return (int)map[i].op;
	return -1;
}

static bool
op_issues_secret(enum tk_conn_op op)
{
	return op == TK_OP_PASSWORD_RESET || op == TK_OP_SECRET_ROTATE;
}

/* The connector that performs op for subject s, or NULL. */
static tk_connector *
route(tk_app *a, enum tk_conn_op op, const tk_subject *s)
{
	struct app_fx *fx = app_fx(a);
	int i;

	if (!fx->have_dir)
		return NULL;
	i = tk_directory_route(&fx->dir, op, s->kind == TK_SUBJECT_NHI ?
	    "nhi" : "person", (const char (*)[TK_NAME_MAX])s->labels,
	    s->nlabels);
	return i >= 0 && i < fx->nconn ? &fx->conn[i] : NULL;
}

static tk_connector *
conn_named(tk_app *a, const char *name)
{
	struct app_fx *fx = app_fx(a);

	for (int i = 0; i < fx->nconn; i++)
		if (strcmp(fx->conn[i].cfg.name, name) == 0)
			return &fx->conn[i];
	return NULL;
}

int
tk_app_directory_attach(tk_app *a, const char *path, tk_error *err)
{
	struct app_fx *fx = app_fx(a);

	if (fx->have_dir)
		return tk_fail(err, TK_ERR_INVALID, "a directory file is "
		    "already loaded") == TK_OK ? 0 : -1;
	if (tk_directory_load(path, &fx->dir, err) != 0)
		return -1;
	for (fx->nconn = 0; fx->nconn < fx->dir.nconn; fx->nconn++)
		if (tk_connector_open(&fx->conn[fx->nconn],
		    &fx->dir.conn[fx->nconn], err) != 0) {
			for (int i = 0; i < fx->nconn; i++)
				tk_connector_close(&fx->conn[i]);
			fx->nconn = 0;
			return -1;
		}
	fx->have_dir = true;
	return 0;
}

/* A temporary password: CRED_LEN characters from an alphabet without
 * look-alikes, at least one of each class most password policies ask
 * for. Rejection sampling keeps the distribution uniform. */
static int
cred_new(char *out, size_t size)
{
	static const char lower[] = "abcdefghijkmnpqrstuvwxyz";
	static const char upper[] = "ABCDEFGHJKLMNPQRSTUVWXYZ";
	static const char digit[] = "23456789";
	static const char sym[] = "-_.!@#%+=";
	static const char *const sets[] = {lower, upper, digit, sym};
	unsigned char r;
	size_t i, n;

	if (size < CRED_LEN + 1)
		return -1;
	for (i = 0; i < CRED_LEN; i++) {
		/* positions 0..3 take one of each class; the rest any */
		const char *set = i < 4 ? sets[i] : NULL;
		char all[96];

		if (set == NULL) {
			snprintf(all, sizeof(all), "%s%s%s%s", lower, upper,
			    digit, sym);
			set = all;
		}
		n = strlen(set);
		do {
			if (RAND_bytes(&r, 1) != 1)
				return -1;
		} while (r >= 256 - (256 % n));
		out[i] = set[r % n];
	}
	out[CRED_LEN] = '\0';
	/* shuffle so the classes are not in fixed places (Fisher-Yates) */
	for (i = CRED_LEN - 1; i > 0; i--) {
		char t;

		do {
			if (RAND_bytes(&r, 1) != 1)
				return -1;
		} while (r >= 256 - (256 % (i + 1)));
		t = out[i];
		out[i] = out[r % (i + 1)];
		out[r % (i + 1)] = t;
	}
	return 0;
}

/* Where a credential for case c goes: its delivery contact (the engine
 * checked it is on file) or the subject's first e-mail on file, else the
 * first contact. "" when none. */
static const char *
cred_contact(const tk_case *c, const tk_subject *s)
{
	if (c->delivery[0] != '\0')
		return c->delivery;
	for (int i = 0; i < s->ncontacts; i++)
		if (s->contacts[i].kind == TK_CONTACT_EMAIL)
			return s->contacts[i].value;
	return s->ncontacts > 0 ? s->contacts[0].value : "";
}

/* Mails (or texts) the credential to a contact on file. until: when it
 * stops working unused (0: the target cannot enforce that). */
static int
cred_deliver(tk_app *a, const tk_case *c, const char *contact,
    const char *secret, tk_time until, tk_error *err)
{
	char text[1024], when[64];
	tk_message m;
	int rc;

	when[0] = '\0';
	if (until > 0) {
		char t[32];

		tk_time_format(until, t, sizeof(t));
		snprintf(when, sizeof(when), ", and it stops working at %s", t);
	}
	snprintf(text, sizeof(text),
	    "The help desk carried out this change to %s (case %s):\n\n  %s\n"
	    "\nYour temporary %s is:\n\n  %s\n\nYou must change it when you "
	    "first use it%s. If you did not ask for this, call your help "
	    "desk on the number you know.\n",
	    c->subject, c->id, tk_action_find(c->action) != NULL ?
	    tk_action_find(c->action)->summary : c->action,
	    strcmp(c->action, "password_reset") == 0 ? "password" : "secret",
	    secret, when);
	m.to = contact;
	m.subject = "twokey: your temporary credential";
	m.text = text;
	rc = tk_notify_send(&app_fx(a)->dir.notify, contact, &m, err);
	OPENSSL_cleanse(text, sizeof(text));
	return rc;
}

/* params.group (role grants) and params.expires (a duration such as
 * "8h", for how long the grant lasts). */
static int
grant_params(const tk_case *c, char *group, size_t gsize, tk_time *ttl,
    tk_error *err)
{
	json_error_t je;
	json_t *p = json_loads(c->params, 0, &je), *g, *e;
	int rc = -1;

	*ttl = 0;
	group[0] = '\0';
	if (p == NULL) {
		(void)tk_fail(err, TK_ERR_INVALID, "the case's params are not "
		    "JSON");
		return -1;
	}
	g = json_object_get(p, "group");
	e = json_object_get(p, "expires");
	if (!json_is_string(g) || json_string_length(g) == 0 ||
	    tk_strlcpy(group, json_string_value(g), gsize) != 0) {
		(void)tk_fail(err, TK_ERR_INVALID, "a %s case needs params."
		    "group naming the group in the directory; patch the case",
		    c->action);
		goto out;
	}
	if (e != NULL && (!json_is_string(e) ||
	    tk_duration_parse(json_string_value(e), ttl) != 0 || *ttl <= 0)) {
		(void)tk_fail(err, TK_ERR_INVALID, "params.expires must be a "
		    "duration such as \"8h\" or \"30d\"");
		goto out;
	}
	rc = 0;
out:
	json_decref(p);
	return rc;
}

/* ---- the execution protocol ---------------------------------------------- */

struct begin_arg {
	tk_app *a;
	const char *connector;
	const char *group;     /* role grant with an expiry, or NULL */
	tk_time ttl;
	bool cred_expire;      /* the connector can disable an unused
	                        * temporary credential when its TTL ends */
};

static int
expiry_put(tk_app *a, const tk_case *c, enum tk_conn_op op,
    const char *group, const char *connector, tk_time until, tk_error *err)
{
	tk_expiry_row g;

	memset(&g, 0, sizeof(g));
	if (tk_strlcpy(g.case_id, c->id, sizeof(g.case_id)) != 0 ||
	    tk_strlcpy(g.op, tk_conn_op_name(op), sizeof(g.op)) != 0 ||
	    tk_strlcpy(g.subject, c->subject, sizeof(g.subject)) != 0 ||
	    tk_strlcpy(g.group, group, sizeof(g.group)) != 0 ||
	    tk_strlcpy(g.connector, connector, sizeof(g.connector)) != 0)
		return tk_fail(err, TK_ERR_INVALID, "group name too long") ==
		    TK_OK ? 0 : -1;
	g.until = until;
	return tk_store_expiry_put(app_store(a), &g, err);
}

/* Marks the case executing; what must be undone later (a role grant's
 * expiry, a temporary credential's TTL) is scheduled in the same
 * transaction, so no crash can leave it unscheduled. */
static enum tk_status
op_exec_begin(const tk_ctx *x, tk_case *c, const char *actor,
    const void *arg, tk_events *ev, tk_error *err)
{
	const struct begin_arg *b = arg;
	enum tk_status st;

	st = tk_engine_execute_begin(x, c, actor, b->connector, ev, err);
	if (st != TK_OK)
		return st;
	if (b->group != NULL && b->ttl > 0 && expiry_put(b->a, c,
	    TK_OP_GROUP_REMOVE, b->group, b->connector, x->now + b->ttl,
	    err) != 0)
		return err->status == TK_ERR_INVALID ? TK_ERR_INVALID :
		    TK_ERR_INTERNAL;
	if (b->cred_expire && expiry_put(b->a, c, TK_OP_CREDENTIAL_EXPIRE, "",
	    b->connector, x->now + CRED_TTL, err) != 0)
		return TK_ERR_INTERNAL;
	return TK_OK;
}

struct end_arg {
	tk_app *a;
	tk_exec_result res;
};

/* Records the outcome; a change that did not happen has no grant to
 * remove later. */
static enum tk_status
op_exec_end(const tk_ctx *x, tk_case *c, const char *actor, const void *arg,
    tk_events *ev, tk_error *err)
{
	const struct end_arg *e = arg;
	enum tk_status st;

	(void)actor;
	st = tk_engine_execute_end(x, c, &e->res, ev, err);
	if (st == TK_OK && e->res.outcome == TK_EXEC_FAILED &&
	    tk_store_expiry_mark(app_store(e->a), c->id, NULL, x->now,
	    err) != 0)
		return TK_ERR_INTERNAL;
	return st;
}

struct note_tx_arg {
	const char *case_id, *kind, *detail;
	bool alert;
};

static int
note_tx(tk_app *a, tk_time now, void *arg, tk_error *err)
{
	struct note_tx_arg *n = arg;

	return app_event(a, now, n->case_id, n->kind, "system", n->alert,
	    json_pack("{s:s}", "detail", n->detail), err);
}

/* Runs the tier's revocations through their connectors. */
static void
revoke_all(tk_app *a, const tk_case *c, const tk_subject *s,
    unsigned *done, unsigned *failed, char *why, size_t why_size)
{
	/* tokens and related credentials (API keys) are one call: the
	 * connector revokes what the subject holds of both */
	static const struct {
		unsigned bits;
		enum tk_conn_op op;
	} rv[] = {
		{TK_REVOKE_SESSIONS, TK_OP_REVOKE_SESSIONS},
		{TK_REVOKE_TOKENS | TK_REVOKE_CREDENTIALS, TK_OP_REVOKE_TOKENS},
	};
	tk_conn_result r;
	tk_change ch;
	char key[TK_ID_MAX + 32];
	size_t off = 0;

	*done = *failed = 0;
	why[0] = '\0';
	for (size_t i = 0; i < sizeof(rv) / sizeof(rv[0]); i++) {
		unsigned bits = c->req.revoke & rv[i].bits;
		tk_connector *k;

		if (bits == 0)
			continue;
		k = route(a, rv[i].op, s);
		if (k == NULL) {
			r.outcome = TK_CONN_FAILED;
			snprintf(r.message, sizeof(r.message), "no connector "
			    "route for %s", tk_conn_op_name(rv[i].op));
		} else {
			memset(&ch, 0, sizeof(ch));
			ch.op = rv[i].op;
			ch.case_id = c->id;
			/* its own key: a receiver that honours keys must not
			 * answer a revocation with the change's cached reply */
			snprintf(key, sizeof(key), "%s.%s", c->idem_key,
			    tk_conn_op_name(rv[i].op));
			ch.idem_key = key;
			ch.subject = c->subject;
			ch.subject_kind = s->kind == TK_SUBJECT_NHI ? "nhi" :
			    "person";
			ch.action = c->action;
			ch.params = c->params;
			tk_connector_apply(k, &ch, &r);
		}
		if (r.outcome == TK_CONN_DONE) {
			*done |= bits;
			continue;
		}
		*failed |= bits;
		if (off < why_size)
			off += (size_t)snprintf(why + off, why_size - off,
			    "%s%s: %s", off ? "; " : "",
			    tk_conn_op_name(rv[i].op), r.message);
	}
	tk_utf8_trim(why);
}

/*
 * Connector execution of case id by actor: preflight, commit
 * `executing`, call the connector, deliver the credential, revoke, then
 * commit the outcome.
 */
static enum tk_status
execute_connector(tk_app *a, const char *actor, const char *id,
    const char *want, json_t **out, tk_app_err *err)
{
	struct begin_arg b;
	struct end_arg ea;
	tk_conn_result r;
	tk_change ch;
	tk_connector *k;
	tk_subject s;
	tk_case *c;
	tk_error e;
	enum tk_status st;
	char secret[CRED_LEN + 1], group[TK_NAME_MAX * 2], why[1024];
	char handover[CRED_LEN + 1];
	bool in_person;
	char msg[1024];
	const char *to = "";
	tk_time ttl = 0;
	int op;

	group[0] = '\0';
	handover[0] = '\0';
	c = malloc(sizeof(*c));
	if (c == NULL)
		return tk_fail(&err->e, TK_ERR_INTERNAL, "out of memory");
	if ((st = app_case_read(a, id, c, err)) != TK_OK)
		goto out;
	op = action_op(c->action);
	if (!app_subject(a, c->subject, &s)) {
		st = tk_fail(&err->e, TK_ERR_POLICY_DENIED, "%s is no longer "
		    "a subject in the org file", c->subject);
		goto out;
	}
	k = op < 0 ? NULL : route(a, (enum tk_conn_op)op, &s);
	if (k == NULL || (want != NULL && strcmp(want, "auto") != 0 &&
	    strcmp(want, k->cfg.name) != 0)) {
		st = tk_fail(&err->e, TK_ERR_INVALID, op < 0 ? "no connector "
		    "performs %s; execute with connector \"manual\" (make the "
		    "change yourself and attest it)" : "no connector route "
		    "in the directory file performs %s for this subject%s; "
		    "add a route or execute with connector \"manual\"",
		    c->action, k != NULL ? " with the connector you named" :
		    "");
		goto out;
	}
	if ((op == TK_OP_GROUP_ADD || op == TK_OP_GROUP_REMOVE) &&
	    grant_params(c, group, sizeof(group), &ttl, &err->e) != 0) {
		st = err->e.status;
		goto out;
	}
	/* a walk-in, where the tier allows it: the executor hands the
	 * credential over in person (it is shown once, never stored) */
	in_person = op >= 0 && op_issues_secret((enum tk_conn_op)op) &&
	    c->req.cred_in_person && (strcmp(c->channel, "walk_in") == 0 ||
	    strcmp(c->channel, "in_person") == 0);
	if (op_issues_secret((enum tk_conn_op)op) && !in_person) {
		to = cred_contact(c, &s);
		if (to[0] == '\0' || tk_notify_channel_of(to) == TK_NOTIFY_NONE) {
			st = tk_fail(&err->e, TK_ERR_POLICY_DENIED, "%s has no "
			    "contact on file a temporary credential could go "
			    "to; twokey never shows it to the requester: "
			    "route the case to in-person proofing", c->subject);
			goto out;
		}
	}
	b.a = a;
	b.connector = k->cfg.name;
	b.group = op == TK_OP_GROUP_ADD && ttl > 0 ? group : NULL;
	b.ttl = ttl;
	b.cred_expire = op == TK_OP_PASSWORD_RESET &&
	    (k->cfg.caps & (1u << TK_OP_CREDENTIAL_EXPIRE)) != 0;
	if ((st = app_case_op(a, actor, id, "execute", op_exec_begin, &b,
	    false, NULL, err, c)) != TK_OK)
		goto out;
	/* committed `executing`: from here every path records an outcome */
	memset(&ch, 0, sizeof(ch));
	ch.op = (enum tk_conn_op)op;
	ch.case_id = c->id;
	ch.idem_key = c->idem_key;
	ch.subject = c->subject;
	ch.subject_kind = s.kind == TK_SUBJECT_NHI ? "nhi" : "person";
	ch.action = c->action;
	ch.params = c->params;
	ch.group = group[0] != '\0' ? group : NULL;
	memset(&ea, 0, sizeof(ea));
	ea.a = a;
	secret[0] = '\0';
	if (op_issues_secret(ch.op)) {
		if (cred_new(secret, sizeof(secret)) != 0) {
			r.outcome = TK_CONN_FAILED;
			snprintf(r.message, sizeof(r.message), "no randomness "
			    "for a credential; nothing was sent");
			goto record;
		}
		ch.secret = secret;
	}
	tk_connector_apply(k, &ch, &r);
	if (r.outcome == TK_CONN_DONE && secret[0] != '\0' && in_person) {
		(void)tk_strlcpy(handover, secret, sizeof(handover));
		ea.res.cred_to = TK_CRED_IN_PERSON;
		ea.res.cred_until = b.cred_expire ? c->updated + CRED_TTL : 0;
	} else if (r.outcome == TK_CONN_DONE && secret[0] != '\0') {
		tk_time until = b.cred_expire ? c->updated + CRED_TTL : 0;

		if (cred_deliver(a, c, to, secret, until, &e) == 0) {
			ea.res.cred_to = to;
			ea.res.cred_until = until;
		} else {
			struct note_tx_arg n = {c->id, "credential.undelivered",
			    msg, true};

			snprintf(msg, sizeof(msg), "the change was made but the "
			    "temporary credential could not be delivered to %s "
			    "(%.400s); it was not kept anywhere: open a new "
			    "case to issue another", to, e.msg);
			(void)app_tx(a, note_tx, &n, &e);
		}
	}
record:
	OPENSSL_cleanse(secret, sizeof(secret));
	ea.res.outcome = r.outcome == TK_CONN_DONE ? TK_EXEC_DONE :
	    r.outcome == TK_CONN_FAILED ? TK_EXEC_FAILED : TK_EXEC_UNKNOWN;
	ea.res.message = r.message;
	if (ea.res.outcome == TK_EXEC_DONE) {
		revoke_all(a, c, &s, &ea.res.revoked, &ea.res.revoke_failed, why,
		    sizeof(why));
		ea.res.revoke_message = why;
	}
	st = app_case_op(a, actor, id, "execute", op_exec_end, &ea, false,
	    out, err, NULL);
	if (st == TK_OK && out != NULL && *out != NULL && handover[0] != '\0' &&
	    json_object_set_new(*out, "credential", json_pack("{s:s, s:s}",
	    "value", handover, "hand_over", "shown once, to you only: give it "
	    "to the subject in person now; it is not stored and cannot be "
	    "shown again")) != 0) {
		json_decref(*out);
		*out = NULL;
		st = tk_fail(&err->e, TK_ERR_INTERNAL, "the change was made but "
		    "the temporary credential could not be shown (out of "
		    "memory) and is lost: open a new case");
	}
out:
	OPENSSL_cleanse(handover, sizeof(handover));
	free(c);
	return st;
}

/* True when the directory routes the action of case id to a connector
 * (so an execution that names no connector uses it). */
static bool
routed(tk_app *a, const char *id)
{
	tk_app_err aerr;
	tk_subject s;
	tk_case *c;
	bool yes = false;
	int op;

	if (!app_fx(a)->have_dir || (c = malloc(sizeof(*c))) == NULL)
		return false;
	if (app_case_read(a, id, c, &aerr) == TK_OK &&
	    (op = action_op(c->action)) >= 0 && app_subject(a, c->subject, &s))
		yes = route(a, (enum tk_conn_op)op, &s) != NULL;
	free(c);
	return yes;
}

/* "manual" attests; a connector name or "auto" runs the routed
 * connector; no connector runs the routed one when there is a route and
 * is manual otherwise (as before connectors existed). */
enum tk_status
tk_app_case_execute(tk_app *a, const char *actor, const char *id,
    const tk_execute_req *r, json_t **out, tk_app_err *err)
{
	const char *want = r->connector;

	if ((want != NULL && strcmp(want, "manual") == 0) ||
	    ((want == NULL || want[0] == '\0') && !routed(a, id)))
		return app_execute_manual(a, actor, id, r, out, err);
	memset(err, 0, sizeof(*err));
	if (out != NULL)
		*out = NULL;
	if (!tk_app_case_id_valid(id))
		return tk_fail(&err->e, TK_ERR_INVALID, "case id must look "
		    "like c_ followed by 16 hex digits");
	return execute_connector(a, actor, id, want != NULL &&
	    want[0] != '\0' ? want : NULL, out, err);
}

/* ---- settling by hand, signals ------------------------------------------ */

struct resolve_arg {
	bool done;
	const char *note;
};

static enum tk_status
op_resolve(const tk_ctx *x, tk_case *c, const char *actor, const void *arg,
    tk_events *ev, tk_error *err)
{
	const struct resolve_arg *r = arg;

	return tk_engine_resolve(x, c, actor, r->done, r->note, ev, err);
}

enum tk_status
tk_app_case_resolve(tk_app *a, const char *actor, const char *id, bool done,
    const char *note, json_t **out, tk_app_err *err)
{
	struct resolve_arg r = {done, note};

	return app_case_op(a, actor, id, "resolve", op_resolve, &r, false,
	    out, err, NULL);
}

static enum tk_status
op_signal(const tk_ctx *x, tk_case *c, const char *actor, const void *arg,
    tk_events *ev, tk_error *err)
{
	return tk_engine_add_signal(x, c, actor, arg, ev, err);
}

enum tk_status
tk_app_case_signal(tk_app *a, const char *actor, const char *id,
    const char *signal, json_t **out, tk_app_err *err)
{
	return app_case_op(a, actor, id, "signal", op_signal, signal, false,
	    out, err, NULL);
}

/* ---- reconciliation after a restart ------------------------------------- */

struct exec_list {
	char (*ids)[TK_ID_MAX];
	int n;
	bool failed;
	tk_error e;
};

static int
exec_list_cb(void *arg, int64_t rowid, const json_t *rec)
{
	struct exec_list *l = arg;
	const char *id = json_string_value(json_object_get(rec, "id"));

	(void)rowid;
	if (id != NULL && l->n < RECONCILE_MAX &&
	    tk_strlcpy(l->ids[l->n], id, TK_ID_MAX) == 0)
		l->n++;
	return 0;
}

static int
exec_list_tx(tk_app *a, tk_time now, void *arg, tk_error *err)
{
	tk_case_filter f = {NULL, "executing", NULL, RECONCILE_MAX, 0};
	struct exec_list *l = arg;

	(void)now;
	(void)err;
	if (tk_store_case_list(app_store(a), &f, exec_list_cb, arg,
	    &l->e) != 0)
		l->failed = true;
	return 0;
}

int
tk_app_reconcile(tk_app *a, tk_error *err)
{
	struct exec_list l;
	struct end_arg ea;
	tk_conn_result r;
	tk_app_err aerr;
	tk_change ch;
	tk_subject s;
	tk_case *c;
	tk_error e;
	int done = 0;

	l.n = 0;
	l.failed = false;
	l.ids = calloc(RECONCILE_MAX, TK_ID_MAX);
	c = malloc(sizeof(*c));
	if (l.ids == NULL || c == NULL) {
		free(l.ids);
		free(c);
		return tk_fail(err, TK_ERR_INTERNAL, "out of memory") ==
		    TK_OK ? 0 : -1;
	}
	e.status = TK_OK;
	(void)app_read(a, exec_list_tx, &l, &e);
	if (l.failed) {
		free(l.ids);
		free(c);
		return tk_fail(err, TK_ERR_INTERNAL, "cannot list the cases "
		    "left executing: %.400s", l.e.msg) == TK_OK ? 0 : -1;
	}
	for (int i = 0; i < l.n; i++) {
		tk_connector *k;

		if (app_case_read(a, l.ids[i], c, &aerr) != TK_OK ||
		    c->state != TK_STATE_EXECUTING)
			continue;
		k = conn_named(a, c->connector);
		memset(&ch, 0, sizeof(ch));
		if (k != NULL && app_subject(a, c->subject, &s) &&
		    action_op(c->action) >= 0) {
			ch.op = (enum tk_conn_op)action_op(c->action);
			ch.case_id = c->id;
			ch.idem_key = c->idem_key;
			ch.subject = c->subject;
			ch.subject_kind = s.kind == TK_SUBJECT_NHI ? "nhi" :
			    "person";
			ch.action = c->action;
			ch.params = c->params;
			tk_connector_status(k, &ch, &r);
		} else {
			r.outcome = TK_CONN_UNKNOWN;
			snprintf(r.message, sizeof(r.message), "connector %s "
			    "is not configured now, so twokey cannot ask it",
			    c->connector);
		}
		memset(&ea, 0, sizeof(ea));
		ea.a = a;
		ea.res.reconciled = true;
		ea.res.message = r.message;
		/* A credential may have been set but never delivered: even a
		 * confirmed change needs a person. */
		if (r.outcome == TK_CONN_DONE && op_issues_secret(ch.op)) {
			ea.res.outcome = TK_EXEC_UNKNOWN;
			snprintf(r.message, sizeof(r.message), "the target says "
			    "the change was made, but the temporary credential "
			    "may never have reached the subject (it is never "
			    "stored); issue a new one");
		} else
			ea.res.outcome = r.outcome == TK_CONN_DONE ? TK_EXEC_DONE :
			    r.outcome == TK_CONN_FAILED ? TK_EXEC_FAILED :
			    TK_EXEC_UNKNOWN;
		if (ea.res.outcome == TK_EXEC_DONE) {
			ea.res.revoke_failed = c->req.revoke;
			ea.res.revoke_message = "not run: the server stopped "
			    "during the execution";
		}
		if (app_case_op(a, "system", c->id, "reconcile", op_exec_end,
		    &ea, false, NULL, &aerr, NULL) == TK_OK)
			done++;
	}
	free(l.ids);
	free(c);
	return done;
}

/* ---- expiries: role grants and temporary credentials ----------------- */

struct expiry_job {
	tk_expiry_row rows[EXPIRY_BATCH];
	int n;
};

static int
expiry_due_tx(tk_app *a, tk_time now, void *arg, tk_error *err)
{
	struct expiry_job *j = arg;

	return tk_store_expiry_due(app_store(a), now, EXPIRY_ATTEMPTS, j->rows,
	    EXPIRY_BATCH, &j->n, err);
}

struct expiry_mark_arg {
	const tk_expiry_row *g;
	bool done;
	const char *message;
};

static int
expiry_mark_tx(tk_app *a, tk_time now, void *arg, tk_error *err)
{
	struct expiry_mark_arg *m = arg;
	bool grant = strcmp(m->g->op, "group_remove") == 0;
	char detail[TK_TEXT_MAX];

	if (tk_store_expiry_mark(app_store(a), m->g->case_id, m->g->op,
	    m->done ? now : 0, err) != 0)
		return -1;
	/* an undo that keeps failing: one alert at the first failure and
	 * one when twokey gives up (EXPIRY_ATTEMPTS), not one per sweep */
	if (!m->done && m->g->attempts != 0 &&
	    m->g->attempts != EXPIRY_ATTEMPTS - 1)
		return 0;
	if (grant)
		snprintf(detail, sizeof(detail), m->done ? "the grant of %s to "
		    "%s expired and was removed through connector %s: %s" :
		    "the grant of %s to %s expired but could not be removed "
		    "through connector %s (%s); retrying, remove it by hand if "
		    "this persists", m->g->group, m->g->subject,
		    m->g->connector, m->message);
	else
		snprintf(detail, sizeof(detail), m->done ? "the temporary "
		    "credential of %s reached its TTL (connector %s): %s" :
		    "the temporary credential of %s reached its TTL but "
		    "connector %s could not disable it (%s); retrying, check "
		    "it by hand if this persists", m->g->subject,
		    m->g->connector, m->message);
	tk_utf8_trim(detail);
	return app_event(a, now, m->g->case_id, grant ? (m->done ?
	    "grant.expired" : "grant.remove_failed") : (m->done ?
	    "credential.expired" : "credential.expire_failed"), "system",
	    !m->done, json_pack("{s:s, s:s, s:s}", "detail", detail,
	    "subject", m->g->subject, "group", m->g->group), err);
}

static int
expiries_sweep(tk_app *a, tk_error *err)
{
	struct expiry_job *j = calloc(1, sizeof(*j));
	struct expiry_mark_arg m;
	tk_conn_result r;
	tk_change ch;
	tk_subject s;
	tk_error e;
	char key[TK_ID_MAX + 32];
	int done = 0, op;

	if (j == NULL)
		return tk_fail(err, TK_ERR_INTERNAL, "out of memory") ==
		    TK_OK ? 0 : -1;
	(void)app_read(a, expiry_due_tx, j, &e);
	for (int i = 0; i < j->n; i++) {
		const tk_expiry_row *g = &j->rows[i];
		tk_connector *k = conn_named(a, g->connector);

		op = tk_conn_op_parse(g->op);
		memset(&ch, 0, sizeof(ch));
		ch.op = op >= 0 ? (enum tk_conn_op)op : TK_OP_GROUP_REMOVE;
		ch.case_id = g->case_id;
		snprintf(key, sizeof(key), "%s.%s", g->case_id, g->op);
		ch.idem_key = key;
		ch.subject = g->subject;
		ch.subject_kind = app_subject(a, ch.subject, &s) &&
		    s.kind == TK_SUBJECT_NHI ? "nhi" : "person";
		ch.action = op == TK_OP_GROUP_REMOVE ? "role_grant" :
		    "password_reset";
		ch.group = g->group[0] != '\0' ? g->group : NULL;
		ch.params = "{}";
		if (k == NULL || op < 0) {
			r.outcome = TK_CONN_FAILED;
			snprintf(r.message, sizeof(r.message), "connector %s "
			    "not configured now", g->connector);
		} else
			tk_connector_apply(k, &ch, &r);
		m.g = g;
		m.done = r.outcome == TK_CONN_DONE;
		m.message = r.message;
		if (app_tx(a, expiry_mark_tx, &m, &e) == 0 && m.done)
			done++;
	}
	free(j);
	return done;
}

int
tk_app_fx_sweep(tk_app *a, tk_error *err)
{
	int n = app_outbox_flush(a), g;

	if (!app_fx(a)->have_dir)
		return n;
	g = expiries_sweep(a, err);
	return g < 0 ? -1 : n + g;
}
