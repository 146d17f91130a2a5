/*
 * scim.c - the scim connector: changes a user in a SCIM 2.0 service
 * provider (RFC 7643 resources, RFC 7644 protocol) over libcurl.
 *
 * The subject is found with GET /Users?filter=USER_ATTR eq "SUBJECT" (the
 * value escaped as the JSON string RFC 7644 3.4.2.2 asks for, then
 * percent-encoded) and must match exactly one user; groups likewise by
 * displayName. Every change is one PATCH with a PatchOp message (RFC 7644
 * 3.5.2): active true/false, password replace, members add/remove, or the
 * removal of a configured server-specific MFA attribute. SCIM has no
 * standard "must change at first use" flag: the result message of a
 * password reset says so.
 *
 * reactivate (invariant 11: a restored account does not silently regain
 * old entitlements) first lists the user's groups (GET /Groups?filter=
 * members[value eq "ID"], every page) and PATCH-removes the user from
 * each one not named in params.keep_groups, and only then sets active
 * true; a failure part-way leaves the user inactive. A kept group the
 * user is not in is not added. credential_expire is not offered: SCIM
 * cannot tell whether a temporary password was changed.
 *
 * Options: url (base, e.g. https://idp/scim/v2), token_file (bearer
 * token), ca_file, user_attr (default userName), mfa_patch_path.
 *
 * Owns: the opened state (base URL, the bearer token, wiped at close).
 * Nothing in it changes after open, so apply and status may run from
 * several threads; each call has its own curl handle.
 */
#include "connectors/connector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "connectors/conn_http.h"

#define SCIM_URL_MAX 512
#define SCIM_TOKEN_MAX 4096
#define SCIM_ATTR_MAX 128
#define SCIM_KEEP_MAX 64           /* groups named in params.keep_groups */
#define SCIM_LIST_MAX 160          /* a list of group names in a message */
#define SCIM_PAGE 100              /* groups asked for per page */
#define SCIM_PAGES_MAX 100         /* pages before giving up */
#define PATCHOP "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:" \
	"PatchOp\"],\"Operations\":["

typedef struct scim_state {
	char url[SCIM_URL_MAX];        /* base, without a trailing '/' */
	char auth[SCIM_TOKEN_MAX + 32];/* "Authorization: Bearer TOKEN" */
	char ca_file[TK_CONN_OPT_VALUE_MAX]; /* "" = system CAs */
	char user_attr[SCIM_ATTR_MAX];
	char mfa_path[TK_CONN_OPT_VALUE_MAX]; /* "" = mfa_reset refused */
} scim_state;

/* A found resource. */
typedef struct scim_obj {
	char id[TK_REF_MAX];
	json_t *res;                   /* the resource as returned */
} scim_obj;

static int
attr_ok(const char *s)
{
	size_t i;

	if (s[0] == '\0')
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '.' || s[i] == '_' || s[i] == ':' || s[i] == '-' ||
		    s[i] == '$'))
			return 0;
	return 1;
}

static int
scim_open(const tk_conn_config *cfg, void **state, tk_error *err)
{
	const char *url = tk_conn_opt(cfg, "url");
	const char *ca = tk_conn_opt(cfg, "ca_file");
	const char *attr = tk_conn_opt(cfg, "user_attr");
	const char *mfa = tk_conn_opt(cfg, "mfa_patch_path");
	char token[SCIM_TOKEN_MAX];
	scim_state *s;
	size_t len, i;

	*state = NULL;
	if (tk_http_url_check(cfg, "url", url, err) != 0)
		return -1;
	if (strchr(url, '?') != NULL) {
		tk_fail(err, TK_ERR_INVALID, "connector %s: url is the SCIM "
		    "base (e.g. https://idp.example.com/scim/v2), without a "
		    "query", cfg->name);
		return -1;
	}
	if (ca != NULL && ca[0] != '\0' && access(ca, R_OK) != 0) {
		tk_fail(err, TK_ERR_INVALID, "connector %s: ca_file %s cannot "
		    "be read", cfg->name, ca);
		return -1;
	}
	if (attr != NULL && !attr_ok(attr)) {
		tk_fail(err, TK_ERR_INVALID, "connector %s: user_attr must be a "
		    "SCIM attribute name (letters, digits, '.', '_', ':', "
		    "'-'), e.g. userName", cfg->name);
		return -1;
	}
	if (mfa != NULL) {
		for (i = 0; mfa[i] != '\0'; i++)
			if ((unsigned char)mfa[i] < 0x20 ||
			    (unsigned char)mfa[i] >= 0x7f)
				break;
		if (mfa[0] == '\0' || mfa[i] != '\0') {
			tk_fail(err, TK_ERR_INVALID, "connector %s: "
			    "mfa_patch_path must be a printable SCIM attribute "
			    "path", cfg->name);
			return -1;
		}
	}
	if ((cfg->caps & (1u << TK_OP_MFA_RESET)) && mfa == NULL) {
		tk_fail(err, TK_ERR_INVALID, "connector %s: SCIM has no standard "
		    "MFA attribute; set mfa_patch_path to the attribute your "
		    "server removes factors with, or take mfa_reset out of "
		    "\"can\"", cfg->name);
		return -1;
	}
	if (tk_conn_secret_file(cfg, "token_file", token, sizeof(token),
	    err) != 0)
		return -1;
	for (i = 0; token[i] != '\0'; i++)
		if ((unsigned char)token[i] <= 0x20 ||
		    (unsigned char)token[i] >= 0x7f)
			break;
	if (token[i] != '\0') {
		OPENSSL_cleanse(token, sizeof(token));
		tk_fail(err, TK_ERR_INVALID, "connector %s: the token in "
		    "token_file must be printable ASCII without spaces",
		    cfg->name);
		return -1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		OPENSSL_cleanse(token, sizeof(token));
		tk_fail(err, TK_ERR_INTERNAL, "connector %s: libcurl could not "
		    "start", cfg->name);
		return -1;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		OPENSSL_cleanse(token, sizeof(token));
		curl_global_cleanup();
		tk_fail(err, TK_ERR_INTERNAL, "connector %s: out of memory",
		    cfg->name);
		return -1;
	}
	(void)tk_strlcpy(s->url, url, sizeof(s->url));
	len = strlen(s->url);
	while (len > 0 && s->url[len - 1] == '/')
		s->url[--len] = '\0';
	snprintf(s->auth, sizeof(s->auth), "Authorization: Bearer %s", token);
	OPENSSL_cleanse(token, sizeof(token));
	if (ca != NULL)
		(void)tk_strlcpy(s->ca_file, ca, sizeof(s->ca_file));
	(void)tk_strlcpy(s->user_attr, attr != NULL ? attr : "userName",
	    sizeof(s->user_attr));
	if (mfa != NULL)
		(void)tk_strlcpy(s->mfa_path, mfa, sizeof(s->mfa_path));
	*state = s;
	return 0;
}

static void
scim_close(void *state)
{
	scim_state *s = state;

	if (s == NULL)
		return;
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
	curl_global_cleanup();
}

/* One request to the server. */
static void
scim_call(const scim_state *s, const tk_conn_config *cfg, const char *method,
    const char *url, const tk_sbuf *body, tk_http_reply *r)
{
	tk_http_call q;

	memset(&q, 0, sizeof(q));
	q.method = method;
	q.url = url;
	q.headers[0] = s->auth;
	q.headers[1] = "Accept: application/scim+json, application/json";
	if (body != NULL) {
		q.headers[2] = "Content-Type: application/scim+json";
		q.body = body->p;
		q.body_len = body->len;
	}
	q.ca_file = s->ca_file[0] != '\0' ? s->ca_file : NULL;
	q.timeout_ms = cfg->timeout_ms;
	tk_http_do(&q, r);
}

/* The server's own words for a non-2xx answer: the SCIM error's detail,
 * scimType and status (RFC 7644 3.12), or an excerpt of the body. */
static void
scim_refusal(const tk_http_reply *r, const char *secret, char *out,
    size_t size)
{
	json_t *j, *d, *t;
	char ex[300];

	j = r->body.p != NULL ? json_loadb(r->body.p, r->body.len, 0, NULL) :
	    NULL;
	d = json_object_get(j, "detail");
	t = json_object_get(j, "scimType");
	if (json_is_string(d)) {
		tk_conn_excerpt(json_string_value(d),
		    json_string_length(d), 280, secret, ex, sizeof(ex));
		if (json_is_string(t)) {
			char tt[64];

			tk_conn_excerpt(json_string_value(t),
			    json_string_length(t), 40, NULL, tt, sizeof(tt));
			snprintf(out, size, "HTTP %ld (scimType %s): %s",
			    r->status, tt, ex);
		} else
			snprintf(out, size, "HTTP %ld: %s", r->status, ex);
	} else if (r->body.len > 0) {
		tk_conn_excerpt(r->body.p, r->body.len, 200, secret, ex,
		    sizeof(ex));
		snprintf(out, size, "HTTP %ld: %s", r->status, ex);
	} else
		snprintf(out, size, "HTTP %ld with no body", r->status);
	json_decref(j);
}

/* Finds the one resource at endpoint ("Users" or "Groups") whose attr
 * equals value. Returns 0 with o filled (o->res to decref), or -1 with r
 * set to FAILED (nothing changed: only a GET was sent). */
static int
scim_find(const scim_state *s, const tk_conn_config *cfg,
    const char *endpoint, const char *what, const char *attr,
    const char *value, scim_obj *o, tk_conn_result *r)
{
	tk_sbuf url, filter;
	tk_http_reply resp;
	json_t *j = NULL, *list, *res, *got, *id;
	char why[400];
	json_int_t total;
	int rc = -1;

	memset(o, 0, sizeof(*o));
	tk_sbuf_init(&filter, 2048);
	tk_sbuf_adds(&filter, attr);
	tk_sbuf_adds(&filter, " eq ");
	tk_sbuf_json_str(&filter, value);
	tk_sbuf_init(&url, 8192);
	tk_sbuf_adds(&url, s->url);
	tk_sbuf_add(&url, "/", 1);
	tk_sbuf_adds(&url, endpoint);
	tk_sbuf_adds(&url, "?filter=");
	if (!filter.failed)
		tk_sbuf_pct(&url, filter.p);
	if (filter.failed || url.failed) {
		tk_conn_result_set(r, TK_CONN_FAILED, "%s %.64s cannot be "
		    "looked up over SCIM (not UTF-8, or too long); nothing was "
		    "changed", what, value);
		tk_sbuf_free(&filter);
		tk_sbuf_free(&url);
		return -1;
	}
	tk_sbuf_free(&filter);
	scim_call(s, cfg, "GET", url.p, NULL, &resp);
	tk_sbuf_free(&url);
	if (resp.fate != TK_HTTP_ANSWERED) {
		tk_conn_result_set(r, TK_CONN_FAILED, "SCIM server %s %s while "
		    "looking up %s %s: %s; nothing was changed", s->url,
		    resp.timed_out ? "did not answer in time" :
		    "could not be reached", what, value, resp.error);
		goto out;
	}
	if (resp.status < 200 || resp.status > 299) {
		scim_refusal(&resp, NULL, why, sizeof(why));
		tk_conn_result_set(r, TK_CONN_FAILED, "SCIM server refused the "
		    "lookup of %s %s: %s; nothing was changed", what, value,
		    why);
		goto out;
	}
	j = resp.body.truncated || resp.body.p == NULL ? NULL :
	    json_loadb(resp.body.p, resp.body.len, 0, NULL);
	list = json_object_get(j, "Resources");
	total = json_integer_value(json_object_get(j, "totalResults"));
	if (j == NULL || !json_is_integer(json_object_get(j, "totalResults")) ||
	    (total > 0 && !json_is_array(list))) {
		tk_conn_result_set(r, TK_CONN_FAILED, "SCIM server's answer to "
		    "the lookup of %s %s is not a ListResponse; nothing was "
		    "changed", what, value);
		goto out;
	}
	if (total == 0) {
		tk_conn_result_set(r, TK_CONN_FAILED, "SCIM server has no %s "
		    "with %s %s; nothing was changed", what, attr, value);
		goto out;
	}
	if (total != 1 || json_array_size(list) != 1) {
		tk_conn_result_set(r, TK_CONN_FAILED, "SCIM server has %lld "
		    "%ss matching %s %s (need exactly one); nothing was changed",
		    (long long)total, what, attr, value);
		goto out;
	}
	res = json_array_get(list, 0);
	got = json_object_get(res, attr);
	id = json_object_get(res, "id");
	/* a server that ignores the filter must not make us change someone
	 * else (userName and displayName compare case-insensitively) */
	if (!json_is_string(got) || strcasecmp(json_string_value(got), value)
	    != 0) {
		tk_conn_result_set(r, TK_CONN_FAILED, "SCIM server answered the "
		    "lookup of %s %s with a resource whose %s differs; nothing "
		    "was changed", what, value, attr);
		goto out;
	}
	if (!json_is_string(id) || json_string_length(id) == 0 ||
	    tk_strlcpy(o->id, json_string_value(id), sizeof(o->id)) != 0) {
		tk_conn_result_set(r, TK_CONN_FAILED, "SCIM server gave %s %s "
		    "no usable id; nothing was changed", what, value);
		goto out;
	}
	o->res = json_incref(res);
	rc = 0;
out:
	json_decref(j);
	tk_http_resp_free(&resp);
	return rc;
}

/* PATCH endpoint/id with ops (the Operations array's content). */
static void
scim_patch(const scim_state *s, const tk_conn_config *cfg,
    const char *endpoint, const char *id, tk_sbuf *ops, const char *done,
    const char *secret, tk_conn_result *r)
{
	tk_sbuf url, body;
	tk_http_reply resp;
	char why[400];

	tk_sbuf_init(&url, 8192);
	tk_sbuf_adds(&url, s->url);
	tk_sbuf_add(&url, "/", 1);
	tk_sbuf_adds(&url, endpoint);
	tk_sbuf_add(&url, "/", 1);
	tk_sbuf_pct(&url, id);
	tk_sbuf_init(&body, 16384);
	tk_sbuf_adds(&body, PATCHOP);
	if (ops->failed)
		body.failed = 1;
	else
		tk_sbuf_add(&body, ops->p, ops->len);
	tk_sbuf_adds(&body, "]}");
	tk_sbuf_free(ops);
	if (url.failed || body.failed) {
		tk_conn_result_set(r, TK_CONN_FAILED, "the SCIM request could "
		    "not be built (a value is not UTF-8 or too long); nothing "
		    "was sent");
		goto out;
	}
	scim_call(s, cfg, "PATCH", url.p, &body, &resp);
	/* the body may hold the new password: wipe it now it is sent */
	tk_sbuf_free(&body);
	switch (resp.fate) {
	case TK_HTTP_NOT_SENT:
		tk_conn_result_set(r, TK_CONN_FAILED, "SCIM server %s could "
		    "not be reached: %s; nothing was sent", s->url, resp.error);
		break;
	case TK_HTTP_NO_ANSWER:
		tk_conn_result_set(r, TK_CONN_UNKNOWN, "SCIM server %s %s after "
		    "the change was sent (%s); it may or may not have been "
		    "made: check the user", s->url, resp.timed_out ?
		    "did not answer in time" : "cut the connection",
		    resp.error);
		break;
	case TK_HTTP_ANSWERED:
		if (resp.status >= 200 && resp.status <= 299) {
			tk_conn_result_set(r, TK_CONN_DONE, "%s", done);
			break;
		}
		scim_refusal(&resp, secret, why, sizeof(why));
		tk_conn_result_set(r, TK_CONN_FAILED, "SCIM server refused the "
		    "change: %s", why);
		break;
	}
	tk_http_resp_free(&resp);
out:
	tk_sbuf_free(&url);
	tk_sbuf_free(&body);
}


/* Appends the PatchOp that removes member id from a group. */
static void
ops_member_remove(tk_sbuf *ops, const char *id)
{
	tk_sbuf path;

	tk_sbuf_init(&path, 1024);
	tk_sbuf_adds(&path, "members[value eq ");
	tk_sbuf_json_str(&path, id);
	tk_sbuf_adds(&path, "]");
	tk_sbuf_adds(ops, "{\"op\":\"remove\",\"path\":");
	if (!path.failed)
		tk_sbuf_json_str(ops, path.p);
	else
		ops->failed = 1;
	tk_sbuf_adds(ops, "}");
	tk_sbuf_free(&path);
}

/* Is user id a member of the group's members? */
static int
is_member(json_t *group, const char *id)
{
	json_t *m;
	size_t i;

	json_array_foreach(json_object_get(group, "members"), i, m) {
		json_t *v = json_object_get(m, "value");

		if (json_is_string(v) && strcmp(json_string_value(v), id) == 0)
			return 1;
	}
	return 0;
}

/* Every group user id is a member of, read page by page with GET
 * /Groups?filter=members[value eq "ID"] before anything is changed (a
 * removal would shift later pages). Returns a new array of {id,
 * displayName} objects, or NULL with r FAILED (only GETs were sent). A
 * group whose members the server returns without the user is skipped
 * (a server that ignores the filter); one without an id or displayName,
 * or a listing that does not add up, is a failure: every group must be
 * seen before the account is enabled. */
static json_t *
scim_user_groups(const scim_state *s, const tk_conn_config *cfg,
    const scim_obj *user, const char *subject, tk_conn_result *r)
{
	tk_sbuf url, filter;
	tk_http_reply resp;
	json_t *out, *j, *list, *g, *id, *name;
	char why[400], num[64];
	json_int_t total;
	long start = 1;
	size_t i, seen = 0;
	int page;

	out = json_array();
	if (out == NULL) {
		tk_conn_result_set(r, TK_CONN_FAILED, "out of memory; nothing "
		    "was changed");
		return NULL;
	}
	for (page = 0; page < SCIM_PAGES_MAX; page++) {
		tk_sbuf_init(&filter, 1024);
		tk_sbuf_adds(&filter, "members[value eq ");
		tk_sbuf_json_str(&filter, user->id);
		tk_sbuf_adds(&filter, "]");
		tk_sbuf_init(&url, 8192);
		tk_sbuf_adds(&url, s->url);
		tk_sbuf_adds(&url, "/Groups?filter=");
		if (!filter.failed)
			tk_sbuf_pct(&url, filter.p);
		snprintf(num, sizeof(num), "&startIndex=%ld&count=%d", start,
		    SCIM_PAGE);
		tk_sbuf_adds(&url, num);
		tk_sbuf_free(&filter);
		if (filter.failed || url.failed) {
			tk_sbuf_free(&url);
			tk_conn_result_set(r, TK_CONN_FAILED, "the group listing "
			    "for %s could not be built; nothing was changed",
			    subject);
			goto fail;
		}
		scim_call(s, cfg, "GET", url.p, NULL, &resp);
		tk_sbuf_free(&url);
		if (resp.fate != TK_HTTP_ANSWERED) {
			tk_conn_result_set(r, TK_CONN_FAILED, "SCIM server %s %s "
			    "while listing the groups of %s: %s; nothing was "
			    "changed", s->url, resp.timed_out ? "did not answer "
			    "in time" : "could not be reached", subject,
			    resp.error);
			tk_http_resp_free(&resp);
			goto fail;
		}
		if (resp.status < 200 || resp.status > 299) {
			scim_refusal(&resp, NULL, why, sizeof(why));
			tk_conn_result_set(r, TK_CONN_FAILED, "SCIM server "
			    "refused to list the groups of %s: %s; every group "
			    "must be seen before the user is reactivated, so "
			    "nothing was changed", subject, why);
			tk_http_resp_free(&resp);
			goto fail;
		}
		j = resp.body.truncated || resp.body.p == NULL ? NULL :
		    json_loadb(resp.body.p, resp.body.len, 0, NULL);
		tk_http_resp_free(&resp);
		list = json_object_get(j, "Resources");
		total = json_integer_value(json_object_get(j, "totalResults"));
		if (j == NULL || !json_is_integer(json_object_get(j,
		    "totalResults")) || total < 0 ||
		    (total > 0 && !json_is_array(list))) {
			json_decref(j);
			tk_conn_result_set(r, TK_CONN_FAILED, "SCIM server's "
			    "answer listing the groups of %s is not a "
			    "ListResponse; nothing was changed", subject);
			goto fail;
		}
		json_array_foreach(list, i, g) {
			id = json_object_get(g, "id");
			name = json_object_get(g, "displayName");
			if (!json_is_string(id) || !json_is_string(name) ||
			    json_string_length(name) == 0) {
				json_decref(j);
				tk_conn_result_set(r, TK_CONN_FAILED, "SCIM "
				    "server listed a group of %s without an id "
				    "or displayName; nothing was changed",
				    subject);
				goto fail;
			}
			if (json_is_array(json_object_get(g, "members")) &&
			    !is_member(g, user->id))
				continue;
			if (json_array_append_new(out, json_pack("{s:O,s:O}",
			    "id", id, "displayName", name)) != 0) {
				json_decref(j);
				tk_conn_result_set(r, TK_CONN_FAILED, "out of "
				    "memory; nothing was changed");
				goto fail;
			}
		}
		seen += json_array_size(list);
		json_decref(j);
		if ((json_int_t)seen >= total)
			return out;
		if (json_array_size(list) == 0)
			break;
		start += (long)json_array_size(list);
	}
	tk_conn_result_set(r, TK_CONN_FAILED, "SCIM server's group listing "
	    "for %s does not add up (fewer groups than its totalResults, or "
	    "more than %d pages); every group must be seen before the user "
	    "is reactivated, so nothing was changed", subject, SCIM_PAGES_MAX);
fail:
	json_decref(out);
	return NULL;
}

/* The group part of reactivate: takes the user out of every group not in
 * keep. 0 with the lists for the message filled; -1 with r set (FAILED
 * or UNKNOWN, saying what was already removed). */
static int
scim_prune_groups(const scim_state *s, const tk_conn_config *cfg,
    const scim_obj *user, const char *subject, const char *const *keep,
    int nkeep, char *removed, char *kept, char *absent, size_t size,
    tk_conn_result *r)
{
	bool seen[SCIM_KEEP_MAX];
	int more_rm = 0, more_kept = 0, more_abs = 0, nrm = 0, k;
	char b1[SCIM_LIST_MAX + 32], b2[SCIM_LIST_MAX + 32];
	char b3[SCIM_LIST_MAX + 32], before[SCIM_LIST_MAX + 64];
	tk_conn_result lr;
	json_t *groups, *g;
	const char *gid, *gname;
	tk_sbuf ops;
	size_t i;

	removed[0] = kept[0] = absent[0] = '\0';
	memset(seen, 0, sizeof(seen));
	groups = scim_user_groups(s, cfg, user, subject, r);
	if (groups == NULL)
		return -1;
	json_array_foreach(groups, i, g) {
		gid = json_string_value(json_object_get(g, "id"));
		gname = json_string_value(json_object_get(g, "displayName"));
		k = tk_conn_name_index(keep, nkeep, gname);
		if (k >= 0) {
			seen[k] = true;
			tk_conn_list_add(kept, size, gname, &more_kept);
			continue;
		}
		tk_sbuf_init(&ops, 8192);
		ops_member_remove(&ops, user->id);
		scim_patch(s, cfg, "Groups", gid, &ops, "removed", NULL, &lr);
		if (lr.outcome == TK_CONN_DONE) {
			nrm++;
			tk_conn_list_add(removed, size, gname, &more_rm);
			continue;
		}
		if (nrm > 0)
			snprintf(before, sizeof(before), "already removed from "
			    "%s", tk_conn_list_show(removed, more_rm, b1, sizeof(b1)));
		else
			snprintf(before, sizeof(before), "no other group was "
			    "changed");
		tk_conn_result_set(r, lr.outcome, "reactivate: removing SCIM "
		    "user %s from group %s: %s; %s; the user was not "
		    "reactivated (groups go first)", subject, gname,
		    lr.message, before);
		json_decref(groups);
		return -1;
	}
	json_decref(groups);
	for (k = 0; k < nkeep; k++)
		if (!seen[k])
			tk_conn_list_add(absent, size, keep[k], &more_abs);
	/* the lists as they will be shown ("none", "... and N more") */
	snprintf(b1, sizeof(b1), "%s", tk_conn_list_show(removed, more_rm, before,
	    sizeof(before)));
	(void)tk_strlcpy(removed, b1, size);
	snprintf(b2, sizeof(b2), "%s", tk_conn_list_show(kept, more_kept, before,
	    sizeof(before)));
	(void)tk_strlcpy(kept, b2, size);
	if (absent[0] != '\0') {
		snprintf(b3, sizeof(b3), "%s", tk_conn_list_show(absent, more_abs,
		    before, sizeof(before)));
		(void)tk_strlcpy(absent, b3, size);
	}
	return 0;
}

static void
scim_apply(void *state, const tk_conn_config *cfg, const tk_change *ch,
    tk_conn_result *r)
{
	const scim_state *s = state;
	scim_obj user, group;
	tk_sbuf ops;
	char done[512], keep_buf[TK_PARAMS_MAX];
	char removed[SCIM_LIST_MAX], kept[SCIM_LIST_MAX];
	char absent[SCIM_LIST_MAX];
	const char *target = "Users", *tid, *keep[SCIM_KEEP_MAX];
	int nkeep = 0;

	if (ch->subject == NULL || ch->subject[0] == '\0') {
		tk_conn_result_set(r, TK_CONN_FAILED, "no subject given; "
		    "nothing was sent");
		return;
	}
	switch (ch->op) {
	case TK_OP_PASSWORD_RESET:
		if (ch->secret == NULL || ch->secret[0] == '\0') {
			tk_conn_result_set(r, TK_CONN_FAILED, "password_reset "
			    "needs the new password; nothing was sent");
			return;
		}
		break;
	case TK_OP_GROUP_ADD:
	case TK_OP_GROUP_REMOVE:
		if (ch->group == NULL || ch->group[0] == '\0') {
			tk_conn_result_set(r, TK_CONN_FAILED, "%s needs a group; "
			    "nothing was sent", tk_conn_op_name(ch->op));
			return;
		}
		break;
	case TK_OP_MFA_RESET:
		if (s->mfa_path[0] == '\0') {
			tk_conn_result_set(r, TK_CONN_FAILED, "connector %s: "
			    "SCIM has no standard MFA attribute and no "
			    "mfa_patch_path is configured; nothing was sent",
			    cfg->name);
			return;
		}
		break;
	case TK_OP_REACTIVATE:
		nkeep = tk_conn_keep_groups(ch->params, keep_buf,
		    sizeof(keep_buf), keep, SCIM_KEEP_MAX, r);
		if (nkeep < 0)
			return;
		break;
	case TK_OP_UNLOCK:
	case TK_OP_DISABLE:
		break;
	default:
		tk_conn_result_set(r, TK_CONN_FAILED, "a scim connector cannot "
		    "do %s; nothing was sent", tk_conn_op_name(ch->op));
		return;
	}
	if (scim_find(s, cfg, "Users", "user", s->user_attr, ch->subject,
	    &user, r) != 0)
		return;
	tid = user.id;
	/* reactivate: groups go first, so a failure never leaves an active
	 * user with old entitlements (invariant 11) */
	if (ch->op == TK_OP_REACTIVATE && scim_prune_groups(s, cfg, &user,
	    ch->subject, keep, nkeep, removed, kept, absent, sizeof(removed),
	    r) != 0) {
		json_decref(user.res);
		return;
	}
	tk_sbuf_init(&ops, 8192);
	switch (ch->op) {
	case TK_OP_REACTIVATE:
		tk_sbuf_adds(&ops, "{\"op\":\"replace\",\"path\":\"active\","
		    "\"value\":true}");
		snprintf(done, sizeof(done), "SCIM user %s (id %s) reactivated "
		    "(active true); groups removed: %s; kept: %s%s%s%s",
		    ch->subject, user.id, removed, kept,
		    absent[0] != '\0' ? "; not a member of " : "", absent,
		    absent[0] != '\0' ? ", not added (reactivation never "
		    "grants; a role_grant case does)" : "");
		break;
	case TK_OP_UNLOCK:
	case TK_OP_DISABLE:
		tk_sbuf_adds(&ops, ch->op == TK_OP_DISABLE ?
		    "{\"op\":\"replace\",\"path\":\"active\",\"value\":false}" :
		    "{\"op\":\"replace\",\"path\":\"active\",\"value\":true}");
		snprintf(done, sizeof(done), "SCIM user %s (id %s) %s "
		    "(active %s)", ch->subject, user.id,
		    ch->op == TK_OP_DISABLE ? "disabled" : "unlocked",
		    ch->op == TK_OP_DISABLE ? "false" : "true");
		break;
	case TK_OP_PASSWORD_RESET:
		tk_sbuf_adds(&ops, "{\"op\":\"replace\",\"path\":\"password\","
		    "\"value\":");
		tk_sbuf_json_str(&ops, ch->secret);
		tk_sbuf_adds(&ops, "}");
		snprintf(done, sizeof(done), "SCIM password of %s (id %s) "
		    "replaced. SCIM has no standard must-change-at-first-use "
		    "flag: whether the user must change it is up to the "
		    "target's own password policy", ch->subject, user.id);
		break;
	case TK_OP_MFA_RESET:
		tk_sbuf_adds(&ops, "{\"op\":\"remove\",\"path\":");
		tk_sbuf_json_str(&ops, s->mfa_path);
		tk_sbuf_adds(&ops, "}");
		snprintf(done, sizeof(done), "SCIM %s removed from %s (id %s)",
		    s->mfa_path, ch->subject, user.id);
		break;
	case TK_OP_GROUP_ADD:
	case TK_OP_GROUP_REMOVE:
		if (scim_find(s, cfg, "Groups", "group", "displayName",
		    ch->group, &group, r) != 0) {
			tk_sbuf_free(&ops);
			json_decref(user.res);
			return;
		}
		json_decref(group.res);
		target = "Groups";
		tid = group.id;
		if (ch->op == TK_OP_GROUP_ADD) {
			tk_sbuf_adds(&ops, "{\"op\":\"add\",\"path\":\"members\","
			    "\"value\":[{\"value\":");
			tk_sbuf_json_str(&ops, user.id);
			tk_sbuf_adds(&ops, "}]}");
		} else
			ops_member_remove(&ops, user.id);
		snprintf(done, sizeof(done), "SCIM user %s (id %s) %s group "
		    "%s (id %s)", ch->subject, user.id,
		    ch->op == TK_OP_GROUP_ADD ? "added to" : "removed from",
		    ch->group, group.id);
		break;
	default:
		break;
	}
	scim_patch(s, cfg, target, tid, &ops, done, ch->secret, r);
	if (ch->op == TK_OP_REACTIVATE && r->outcome != TK_CONN_DONE) {
		char why[sizeof(r->message)];

		(void)tk_strlcpy(why, r->message, sizeof(why));
		tk_conn_result_set(r, r->outcome, "reactivate: groups removed "
		    "first: %s (kept: %s); then setting active true: %s",
		    removed, kept, why);
	}
	json_decref(user.res);
}

static void
scim_status(void *state, const tk_conn_config *cfg, const tk_change *ch,
    tk_conn_result *r)
{
	const scim_state *s = state;
	scim_obj user, group;
	tk_conn_result lr;
	json_t *active;
	int want, member;

	switch (ch->op) {
	case TK_OP_UNLOCK:
	case TK_OP_REACTIVATE:
	case TK_OP_DISABLE:
	case TK_OP_GROUP_ADD:
	case TK_OP_GROUP_REMOVE:
		break;
	default:
		tk_conn_result_set(r, TK_CONN_UNKNOWN, "SCIM cannot show whether "
		    "%s happened (the server does not return it): check the "
		    "target", tk_conn_op_name(ch->op));
		return;
	}
	if (ch->subject == NULL || scim_find(s, cfg, "Users", "user",
	    s->user_attr, ch->subject, &user, &lr) != 0) {
		tk_conn_result_set(r, TK_CONN_UNKNOWN, "cannot tell: %s",
		    ch->subject == NULL ? "no subject" : lr.message);
		return;
	}
	if (ch->op == TK_OP_GROUP_ADD || ch->op == TK_OP_GROUP_REMOVE) {
		if (ch->group == NULL || scim_find(s, cfg, "Groups", "group",
		    "displayName", ch->group, &group, &lr) != 0) {
			tk_conn_result_set(r, TK_CONN_UNKNOWN, "cannot tell: %s",
			    ch->group == NULL ? "no group" : lr.message);
			json_decref(user.res);
			return;
		}
		member = is_member(group.res, user.id);
		want = ch->op == TK_OP_GROUP_ADD;
		tk_conn_result_set(r, member == want ? TK_CONN_DONE :
		    TK_CONN_FAILED, "SCIM user %s is %sa member of group %s",
		    ch->subject, member ? "" : "not ", ch->group);
		json_decref(group.res);
		json_decref(user.res);
		return;
	}
	active = json_object_get(user.res, "active");
	if (!json_is_boolean(active)) {
		tk_conn_result_set(r, TK_CONN_UNKNOWN, "SCIM server does not "
		    "show whether %s is active", ch->subject);
	} else {
		want = ch->op != TK_OP_DISABLE;
		tk_conn_result_set(r, json_is_true(active) == want ?
		    TK_CONN_DONE : TK_CONN_FAILED, "SCIM user %s is active %s",
		    ch->subject, json_is_true(active) ? "true" : "false");
	}
	json_decref(user.res);
}

const tk_connector_ops tk_conn_scim = {
	"scim",
	(1u << TK_OP_PASSWORD_RESET) | (1u << TK_OP_UNLOCK) |
	    (1u << TK_OP_REACTIVATE) | (1u << TK_OP_DISABLE) |
	    (1u << TK_OP_GROUP_ADD) | (1u << TK_OP_GROUP_REMOVE) |
	    (1u << TK_OP_MFA_RESET),
	scim_open, scim_apply, scim_status, scim_close,
};
