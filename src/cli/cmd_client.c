/*
 * cmd_client.c - the CLI's API commands: `twokey case ...` and `twokey
 * me`, run by staff against a twokey server (TWOKEY_URL, TWOKEY_TOKEN).
 *
 * Owns: turning command-line options into request bodies and paths
 * (a small table per command maps each option to a JSON field), and
 * choosing how each answer is printed.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

enum fld_kind {
	F_STR,   /* --opt V       -> "key": "V" */
	F_LIST,  /* --opt V...    -> "key": ["V", ...] */
	F_PARAM, /* --opt K=V...  -> "key": {"K": "V", ...} */
	F_CSV,   /* --opt a,b     -> "key": ["a", "b"] */
	F_CLEAR  /* --opt         -> "key": [] */
};

typedef struct fld {
	const char *opt;  /* long option name */
	const char *key;  /* JSON field */
	enum fld_kind kind;
	bool required;
} fld;

#define MAX_FLDS 16
#define PATH_MAX_LEN 2048
#define OPT_BASE 256

typedef struct parsed {
	json_t *body;      /* request body being built */
	const char *id;    /* the positional case id, when wanted */
	bool quiet;        /* -q */
	bool done;         /* --help was printed */
	int nset;          /* fields given */
} parsed;

static int
set_field(json_t *body, const fld *f, const char *arg)
{
	json_t *v, *cur;
	const char *eq, *p, *comma;
	char key[TK_NAME_MAX * 2];

	switch (f->kind) {
	case F_STR:
		v = json_string(arg);
		if (v == NULL)
			return -1;
		return json_object_set_new(body, f->key, v);
	case F_LIST:
	case F_CLEAR:
		cur = json_object_get(body, f->key);
		if (!json_is_array(cur)) {
			if (json_object_set_new(body, f->key, json_array()) != 0)
				return -1;
			cur = json_object_get(body, f->key);
		}
		if (f->kind == F_CLEAR)
			return json_array_clear(cur);
		v = json_string(arg);
		return v == NULL ? -1 : json_array_append_new(cur, v);
	case F_PARAM:
		eq = strchr(arg, '=');
		if (eq == NULL || eq == arg ||
		    (size_t)(eq - arg) >= sizeof(key))
			return -1;
		memcpy(key, arg, (size_t)(eq - arg));
		key[eq - arg] = '\0';
		cur = json_object_get(body, f->key);
		if (!json_is_object(cur)) {
			if (json_object_set_new(body, f->key, json_object()) != 0)
				return -1;
			cur = json_object_get(body, f->key);
		}
		v = json_string(eq + 1);
		return v == NULL ? -1 : json_object_set_new(cur, key, v);
	case F_CSV:
		cur = json_array();
		if (cur == NULL || json_object_set_new(body, f->key, cur) != 0)
			return -1;
		for (p = arg; *p != '\0'; p = *comma ? comma + 1 : comma) {
			comma = strchr(p, ',');
			if (comma == NULL)
				comma = p + strlen(p);
			if (comma == p)
				continue;
			v = json_stringn(p, (size_t)(comma - p));
			if (v == NULL || json_array_append_new(cur, v) != 0)
				return -1;
		}
		return 0;
	}
	return -1;
}

/*
 * Parses argv per the field table. want_id: exactly one positional
 * argument (the case id). Returns TK_EXIT_OK with pp filled, or an exit
 * code (usage errors print usage). pp->done after --help.
 */
static int
parse(const tk_cli_cmd *cmd, int argc, char **argv, const fld *f, size_t nf,
    bool want_id, bool allow_quiet, parsed *pp)
{
	struct option lo[MAX_FLDS + 4];
	size_t i, n = 0;
	int c;
	char msg[128];
	bool seen[MAX_FLDS] = {false};

	pp->body = json_object();
	if (pp->body == NULL)
		return TK_EXIT_FAIL;
	for (i = 0; i < nf && i < MAX_FLDS; i++) {
		lo[n].name = f[i].opt;
		lo[n].has_arg = f[i].kind == F_CLEAR ? no_argument :
		    required_argument;
		lo[n].flag = NULL;
		lo[n].val = OPT_BASE + (int)i;
		n++;
	}
	lo[n++] = (struct option){"help", no_argument, NULL, 'h'};
	lo[n++] = (struct option){"json", no_argument, NULL, 'j'};
	lo[n++] = (struct option){"quiet", no_argument, NULL, 'q'};
	lo[n] = (struct option){NULL, 0, NULL, 0};
	optind = 0;
	while ((c = getopt_long(argc, argv, allow_quiet ? "hq" : "h", lo,
	    NULL)) != -1) {
		if (c == 'h') {
			tk_cli_usage(cmd, stdout);
			pp->done = true;
			return TK_EXIT_OK;
		}
		if (c == 'j') {
			tk_cli_json = 1;
			continue;
		}
		if (c == 'q' && allow_quiet) {
			pp->quiet = true;
			continue;
		}
		if (c < OPT_BASE || (size_t)(c - OPT_BASE) >= nf)
			return tk_cli_usage_error(cmd, NULL);
		i = (size_t)(c - OPT_BASE);
		if (set_field(pp->body, &f[i], optarg) != 0) {
			(void)snprintf(msg, sizeof(msg), "bad value for --%s%s",
			    f[i].opt, f[i].kind == F_PARAM ?
			    " (want KEY=VALUE)" : " (want UTF-8 text)");
			return tk_cli_usage_error(cmd, msg);
		}
		seen[i] = true;
		pp->nset++;
	}
	for (i = 0; i < nf; i++) {
		if (f[i].required && !seen[i]) {
			(void)snprintf(msg, sizeof(msg), "--%s is required",
			    f[i].opt);
			return tk_cli_usage_error(cmd, msg);
		}
	}
	if (want_id) {
		if (optind >= argc)
			return tk_cli_usage_error(cmd, "a case ID is required");
		pp->id = argv[optind++];
	}
	if (optind < argc) {
		(void)snprintf(msg, sizeof(msg), "unexpected argument '%.64s'",
		    argv[optind]);
		return tk_cli_usage_error(cmd, msg);
	}
	return TK_EXIT_OK;
}

/* "/v1/cases/ID" + suffix, with ID escaped. */
static int
case_path(char *buf, size_t size, const char *id, const char *suffix)
{
	size_t len;

	if (tk_strlcpy(buf, "/v1/cases/", size) != 0)
		return -1;
	len = strlen(buf);
	if (tk_cli_escape(buf, size, &len, id) != 0)
		return -1;
	if (tk_strlcpy(buf + len, suffix, size - len) != 0)
		return -1;
	return 0;
}

/* Sends the request and prints the case answer; verb names the change
 * in the human summary ("approved"). */
static int
send_case(const char *method, const char *path, const json_t *body,
    const char *verb, bool with_events)
{
	json_t *res = NULL;
	int rc;

	rc = tk_cli_request(method, path, body, &res);
	if (rc != TK_EXIT_OK)
		return rc;
	if (!tk_cli_json) {
		if (verb != NULL)
			(void)printf("%s case %s: state %s\n\n", verb,
			    json_string_value(json_object_get(res, "id")) ?
			    json_string_value(json_object_get(res, "id")) : "?",
			    json_string_value(json_object_get(res, "state")) ?
			    json_string_value(json_object_get(res, "state")) :
			    "?");
		tk_out_case(res, with_events);
	}
	json_decref(res);
	return TK_EXIT_OK;
}

/* The common shape: parse the table, POST/PATCH to the case path. */
static int
case_action(const tk_cli_cmd *cmd, int argc, char **argv, const fld *f,
    size_t nf, const char *method, const char *suffix, const char *extra_key,
    const char *extra_val, const char *verb)
{
	parsed pp = {0};
	char path[PATH_MAX_LEN];
	int rc;

	rc = parse(cmd, argc, argv, f, nf, true, false, &pp);
	if (rc != TK_EXIT_OK || pp.done)
		goto out;
	if (extra_key != NULL &&
	    json_object_set_new(pp.body, extra_key, json_string(extra_val))
	    != 0) {
		rc = TK_EXIT_FAIL;
		goto out;
	}
	if (case_path(path, sizeof(path), pp.id, suffix) != 0) {
		rc = tk_cli_usage_error(cmd, "the case ID is too long");
		goto out;
	}
	rc = send_case(method, path, pp.body, verb, false);
out:
	json_decref(pp.body);
	return rc;
}

#define NF(a) (sizeof(a) / sizeof((a)[0]))

int
tk_cmd_case_open(const tk_cli_cmd *cmd, int argc, char **argv)
{
	static const fld f[] = {
		{"subject", "subject", F_STR, true},
		{"action", "action", F_STR, true},
		{"channel", "channel", F_STR, false},
		{"ticket", "ticket", F_STR, false},
		{"reason", "reason_code", F_STR, false},
		{"reason-code", "reason_code", F_STR, false},
		{"justification", "justification", F_STR, false},
		{"signal", "signals", F_LIST, false},
		{"param", "params", F_PARAM, false},
		{"delivery", "delivery", F_STR, false},
	};
	parsed pp = {0};
	json_t *res = NULL;
	int rc;

	rc = parse(cmd, argc, argv, f, NF(f), false, true, &pp);
	if (rc != TK_EXIT_OK || pp.done)
		goto out;
	rc = tk_cli_request("POST", "/v1/cases", pp.body, &res);
	if (rc != TK_EXIT_OK)
		goto out;
	if (pp.quiet && !tk_cli_json) {
		(void)printf("%s\n",
		    json_string_value(json_object_get(res, "id")) ?
		    json_string_value(json_object_get(res, "id")) : "");
	} else if (!tk_cli_json) {
		(void)printf("opened case %s: tier %s, state %s\n\n",
		    json_string_value(json_object_get(res, "id")) ?
		    json_string_value(json_object_get(res, "id")) : "?",
		    json_string_value(json_object_get(res, "tier")) ?
		    json_string_value(json_object_get(res, "tier")) : "?",
		    json_string_value(json_object_get(res, "state")) ?
		    json_string_value(json_object_get(res, "state")) : "?");
		tk_out_case(res, false);
	}
out:
	json_decref(res);
	json_decref(pp.body);
	return rc;
}

int
tk_cmd_case_show(const tk_cli_cmd *cmd, int argc, char **argv)
{
	parsed pp = {0};
	char path[PATH_MAX_LEN];
	int rc;

	rc = parse(cmd, argc, argv, NULL, 0, true, false, &pp);
	if (rc != TK_EXIT_OK || pp.done)
		goto out;
	if (case_path(path, sizeof(path), pp.id, "") != 0) {
		rc = tk_cli_usage_error(cmd, "the case ID is too long");
		goto out;
	}
	rc = send_case("GET", path, NULL, NULL, true);
out:
	json_decref(pp.body);
	return rc;
}

int
tk_cmd_case_list(const tk_cli_cmd *cmd, int argc, char **argv)
{
	static const fld f[] = {
		{"queue", "queue", F_STR, false},
		{"state", "state", F_STR, false},
		{"subject", "subject", F_STR, false},
		{"limit", "limit", F_STR, false},
	};
	parsed pp = {0};
	char path[PATH_MAX_LEN];
	size_t len, i;
	json_t *res = NULL;
	int rc;
	char sep = '?';

	rc = parse(cmd, argc, argv, f, NF(f), false, false, &pp);
	if (rc != TK_EXIT_OK || pp.done)
		goto out;
	(void)tk_strlcpy(path, "/v1/cases", sizeof(path));
	len = strlen(path);
	for (i = 0; i < NF(f); i++) {
		const char *v = json_string_value(json_object_get(pp.body,
		    f[i].key));

		if (v == NULL)
			continue;
		if (len + strlen(f[i].key) + 3 >= sizeof(path)) {
			rc = tk_cli_usage_error(cmd, "filter too long");
			goto out;
		}
		path[len++] = sep;
		sep = '&';
		memcpy(path + len, f[i].key, strlen(f[i].key));
		len += strlen(f[i].key);
		path[len++] = '=';
		path[len] = '\0';
		if (tk_cli_escape(path, sizeof(path), &len, v) != 0) {
			rc = tk_cli_usage_error(cmd, "filter too long");
			goto out;
		}
	}
	rc = tk_cli_request("GET", path, NULL, &res);
	if (rc == TK_EXIT_OK && !tk_cli_json)
		tk_out_case_list(res);
out:
	json_decref(res);
	json_decref(pp.body);
	return rc;
}

int
tk_cmd_case_evidence(const tk_cli_cmd *cmd, int argc, char **argv)
{
	static const fld f[] = {
		{"method", "method", F_STR, true},
		{"contact", "contact", F_STR, false},
		{"result", "result", F_STR, false},
		{"reference", "reference", F_STR, false},
		{"code", "code", F_STR, false},
	};
	parsed pp = {0};
	char path[PATH_MAX_LEN];
	int rc;

	rc = parse(cmd, argc, argv, f, NF(f), true, false, &pp);
	if (rc != TK_EXIT_OK || pp.done)
		goto out;
	if (json_object_get(pp.body, "result") == NULL &&
	    json_object_get(pp.body, "code") == NULL &&
	    json_object_set_new(pp.body, "result", json_string("pass")) != 0) {
		rc = TK_EXIT_FAIL;
		goto out;
	}
	if (case_path(path, sizeof(path), pp.id, "/evidence") != 0) {
		rc = tk_cli_usage_error(cmd, "the case ID is too long");
		goto out;
	}
	rc = send_case("POST", path, pp.body, "recorded evidence on", false);
out:
	json_decref(pp.body);
	return rc;
}

static const fld comment_fld[] = {{"comment", "comment", F_STR, false}};

int
tk_cmd_case_approve(const tk_cli_cmd *cmd, int argc, char **argv)
{
	return case_action(cmd, argc, argv, comment_fld, NF(comment_fld),
	    "POST", "/approvals", "decision", "approve", "approved");
}

int
tk_cmd_case_deny(const tk_cli_cmd *cmd, int argc, char **argv)
{
	return case_action(cmd, argc, argv, comment_fld, NF(comment_fld),
	    "POST", "/approvals", "decision", "deny", "denied");
}

int
tk_cmd_case_patch(const tk_cli_cmd *cmd, int argc, char **argv)
{
	static const fld f[] = {
		{"subject", "subject", F_STR, false},
		{"action", "action", F_STR, false},
		{"ticket", "ticket", F_STR, false},
		{"channel", "channel", F_STR, false},
		{"reason", "reason_code", F_STR, false},
		{"reason-code", "reason_code", F_STR, false},
		{"justification", "justification", F_STR, false},
		{"delivery", "delivery", F_STR, false},
		{"signal", "signals", F_LIST, false},
		{"no-signals", "signals", F_CLEAR, false},
		{"param", "params", F_PARAM, false},
	};
	parsed pp = {0};
	char path[PATH_MAX_LEN];
	int rc;

	rc = parse(cmd, argc, argv, f, NF(f), true, false, &pp);
	if (rc != TK_EXIT_OK || pp.done)
		goto out;
	if (pp.nset == 0) {
		rc = tk_cli_usage_error(cmd, "nothing to change");
		goto out;
	}
	if (case_path(path, sizeof(path), pp.id, "") != 0) {
		rc = tk_cli_usage_error(cmd, "the case ID is too long");
		goto out;
	}
	rc = send_case("PATCH", path, pp.body, "changed", false);
out:
	json_decref(pp.body);
	return rc;
}

int
tk_cmd_case_execute(const tk_cli_cmd *cmd, int argc, char **argv)
{
	static const fld f[] = {
		{"note", "note", F_STR, false},
		{"revoked", "revoked", F_CSV, false},
		{"connector", "connector", F_STR, false},
	};

	return case_action(cmd, argc, argv, f, NF(f), "POST", "/execute",
	    NULL, NULL, "executed");
}

int
tk_cmd_case_confirm(const tk_cli_cmd *cmd, int argc, char **argv)
{
	static const fld f[] = {{"contact", "contact", F_STR, true}};

	return case_action(cmd, argc, argv, f, NF(f), "POST",
	    "/confirmations", NULL, NULL, "sent a confirmation for");
}

int
tk_cmd_case_signal(const tk_cli_cmd *cmd, int argc, char **argv)
{
	static const fld f[] = {{"signal", "signal", F_STR, true}};

	return case_action(cmd, argc, argv, f, NF(f), "POST", "/signals",
	    NULL, NULL, "reported a signal on");
}

int
tk_cmd_case_resolve(const tk_cli_cmd *cmd, int argc, char **argv)
{
	static const fld f[] = {
		{"outcome", "outcome", F_STR, true},
		{"note", "note", F_STR, true},
	};

	return case_action(cmd, argc, argv, f, NF(f), "POST", "/resolve",
	    NULL, NULL, "resolved");
}

int
tk_cmd_case_cancel(const tk_cli_cmd *cmd, int argc, char **argv)
{
	static const fld f[] = {{"reason", "reason", F_STR, true}};

	return case_action(cmd, argc, argv, f, NF(f), "POST", "/cancel",
	    NULL, NULL, "cancelled");
}

int
tk_cmd_case_break_glass(const tk_cli_cmd *cmd, int argc, char **argv)
{
	static const fld f[] = {
		{"incident", "incident", F_STR, true},
		{"justification", "justification", F_STR, true},
	};

	return case_action(cmd, argc, argv, f, NF(f), "POST", "/break-glass",
	    NULL, NULL, "BREAK-GLASS declared on");
}

int
tk_cmd_case_review(const tk_cli_cmd *cmd, int argc, char **argv)
{
	static const fld f[] = {
		{"outcome", "outcome", F_STR, true},
		{"comment", "comment", F_STR, true},
	};

	return case_action(cmd, argc, argv, f, NF(f), "POST", "/review",
	    NULL, NULL, "reviewed");
}

int
tk_cmd_me(const tk_cli_cmd *cmd, int argc, char **argv)
{
	parsed pp = {0};
	json_t *res = NULL;
	int rc;

	rc = parse(cmd, argc, argv, NULL, 0, false, false, &pp);
	if (rc != TK_EXIT_OK || pp.done)
		goto out;
	rc = tk_cli_request("GET", "/v1/me", NULL, &res);
	if (rc == TK_EXIT_OK && !tk_cli_json)
		tk_out_me(res);
out:
	json_decref(res);
	json_decref(pp.body);
	return rc;
}
