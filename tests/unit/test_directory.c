/*
 * test_directory.c - unit tests for the directory file parser
 * (connectors/directory.c): a file using every key parses to the expected
 * record, each refusal names the right line and column and says what to
 * write, and routing picks the first matching route.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "connectors/directory.h"

/* Every key the format has. */
static const char full[] =
    "version: 1\n"
    "connectors:\n"
    "  - name: corp-ldap\n"
    "    kind: ldap\n"
    "    can: [password_reset, unlock, reactivate, disable, group_add,\n"
    "          group_remove, mfa_reset]\n"
    "    timeout: 5s\n"
    "    url: ldap://127.0.0.1:3890\n"
    "    bind_dn: cn=twokey,dc=example,dc=com\n"
    "    bind_password_file: /etc/twokey/ldap.secret\n"
    "    base_dn: ou=people,dc=example,dc=com\n"
    "    starttls: false\n"
    "    port_retry: 3\n"
    "    attrs: [uid, mail, cn]\n"
    "    send_secret: false\n"
    "    empty:\n"
    "  - name: idp-scim\n"
    "    kind: scim\n"
    "    can: [revoke_sessions, disable]\n"
    "    timeout: 500ms\n"
    "    url: https://idp.example.com/scim/v2\n"
    "    token_file: /etc/twokey/scim.token\n"
    "  - name: idp-hook\n"
    "    kind: webhook\n"
    "    can: [revoke_sessions, revoke_tokens, secret_rotate]\n"
    "    url: \"http://127.0.0.1:9100/hook\"\n"
    "  - name: vault\n"
    "    kind: exec\n"
    "    can: [secret_rotate]\n"
    "    timeout: 2m\n"
    "    command: /usr/local/bin/rotate\n"
    "routes:\n"
    "  - {ops: [password_reset, unlock], kind: person, connector: "
    "corp-ldap}\n"
    "  - {ops: [revoke_sessions], label: admin, connector: idp-scim}\n"
    "  - {ops: [revoke_sessions, revoke_tokens], connector: idp-hook}\n"
    "  - ops: [secret_rotate]\n"
    "    kind: nhi\n"
    "    label: production\n"
    "    connector: vault\n"
    "  - {ops: [secret_rotate], kind: nhi, connector: idp-hook}\n"
    "notify:\n"
    "  public_url: https://twokey.example.com\n"
    "  timeout: 3s\n"
    "  smtp: {url: \"smtps://mail.example.com:465\", from: "
    "\"twokey@example.com\",\n"
    "         starttls: false, user: \"twokey\", password_file: "
    "\"/etc/twokey/smtp.secret\"}\n"
    "  sms:  {url: \"http://127.0.0.1:9000/send\", token_file: "
    "\"/etc/twokey/sms.token\"}\n";

static int
parse(const char *text, tk_directory *d, tk_error *err)
{
	memset(err, 0, sizeof(*err));
	return tk_directory_parse(text, strlen(text), "dir.yaml", d, err);
}

static void
test_full(void **state)
{
	tk_directory *d = calloc(1, sizeof(*d));
	tk_error err;
	const tk_conn_config *c;

	(void)state;
	assert_non_null(d);
	if (parse(full, d, &err) != 0)
		fail_msg("full example refused: %s", err.msg);
	assert_int_equal(d->nconn, 4);
	c = &d->conn[0];
	assert_string_equal(c->name, "corp-ldap");
	assert_string_equal(c->kind, "ldap");
	assert_int_equal(c->caps, (1u << TK_OP_PASSWORD_RESET) |
	    (1u << TK_OP_UNLOCK) | (1u << TK_OP_REACTIVATE) |
	    (1u << TK_OP_DISABLE) | (1u << TK_OP_GROUP_ADD) |
	    (1u << TK_OP_GROUP_REMOVE) | (1u << TK_OP_MFA_RESET));
	assert_int_equal(c->timeout_ms, 5000);
	assert_int_equal(c->nopt, 9);
	assert_string_equal(c->opt[0].key, "url");
	assert_string_equal(tk_conn_opt(c, "url"), "ldap://127.0.0.1:3890");
	assert_string_equal(tk_conn_opt(c, "bind_dn"),
	    "cn=twokey,dc=example,dc=com");
	assert_string_equal(tk_conn_opt(c, "bind_password_file"),
	    "/etc/twokey/ldap.secret");
	assert_string_equal(tk_conn_opt(c, "base_dn"),
	    "ou=people,dc=example,dc=com");
	assert_string_equal(tk_conn_opt(c, "starttls"), "false");
	assert_int_equal(tk_conn_opt_bool(c, "starttls", 1), 0);
	assert_string_equal(tk_conn_opt(c, "port_retry"), "3");
	assert_string_equal(tk_conn_opt(c, "attrs"), "uid,mail,cn");
	assert_string_equal(tk_conn_opt(c, "empty"), "");
	assert_int_equal(tk_conn_opt_bool(c, "send_secret", 1), 0);
	assert_null(tk_conn_opt(c, "name"));
	assert_null(tk_conn_opt(c, "timeout"));

	c = &d->conn[1];
	assert_string_equal(c->name, "idp-scim");
	assert_string_equal(c->kind, "scim");
	assert_int_equal(c->caps, (1u << TK_OP_REVOKE_SESSIONS) |
	    (1u << TK_OP_DISABLE));
	assert_int_equal(c->timeout_ms, 500);
	assert_string_equal(tk_conn_opt(c, "token_file"),
	    "/etc/twokey/scim.token");
	c = &d->conn[2];
	assert_string_equal(c->kind, "webhook");
	assert_int_equal(c->timeout_ms, 10000); /* default */
	assert_int_equal(c->nopt, 1);
	c = &d->conn[3];
	assert_string_equal(c->kind, "exec");
	assert_int_equal(c->timeout_ms, 120000);
	assert_string_equal(tk_conn_opt(c, "command"), "/usr/local/bin/rotate");

	assert_int_equal(d->nroute, 5);
	assert_int_equal(d->route[0].ops, (1u << TK_OP_PASSWORD_RESET) |
	    (1u << TK_OP_UNLOCK));
	assert_string_equal(d->route[0].kind, "person");
	assert_string_equal(d->route[0].label, "");
	assert_int_equal(d->route[0].connector, 0);
	assert_string_equal(d->route[1].label, "admin");
	assert_string_equal(d->route[1].kind, "");
	assert_int_equal(d->route[1].connector, 1);
	assert_int_equal(d->route[2].connector, 2);
	assert_string_equal(d->route[3].kind, "nhi");
	assert_string_equal(d->route[3].label, "production");
	assert_int_equal(d->route[3].connector, 3);
	assert_int_equal(d->route[4].connector, 2);

	assert_string_equal(d->notify.public_url, "https://twokey.example.com");
	assert_string_equal(d->notify.smtp_url, "smtps://mail.example.com:465");
	assert_string_equal(d->notify.smtp_from, "twokey@example.com");
	assert_false(d->notify.smtp_starttls);
	assert_string_equal(d->notify.smtp_user, "twokey");
	assert_string_equal(d->notify.smtp_password_file,
	    "/etc/twokey/smtp.secret");
	assert_string_equal(d->notify.sms_url, "http://127.0.0.1:9000/send");
	assert_string_equal(d->notify.sms_token_file, "/etc/twokey/sms.token");
	assert_int_equal(d->notify.timeout_ms, 3000);
	free(d);
}

static void
test_minimal(void **state)
{
	tk_directory *d = calloc(1, sizeof(*d));
	tk_error err;

	(void)state;
	assert_non_null(d);
	assert_int_equal(parse("version: 1\n", d, &err), 0);
	assert_int_equal(d->nconn, 0);
	assert_int_equal(d->nroute, 0);
	assert_string_equal(d->notify.smtp_url, "");
	assert_string_equal(d->notify.sms_url, "");
	assert_int_equal(d->notify.timeout_ms, 10000);
	assert_int_equal(parse("version: 1\nconnectors:\nroutes:\nnotify:\n",
	    d, &err), 0);
	/* starttls on a plain smtp URL; a user on loopback without TLS */
	if (parse("version: 1\nnotify:\n  smtp: {url: \"smtp://mail.example."
	    "com:587\", from: a@example.com, starttls: yes, user: u, "
	    "password_file: /p}\n", d, &err) != 0)
		fail_msg("%s", err.msg);
	assert_true(d->notify.smtp_starttls);
	if (parse("version: 1\nnotify:\n  smtp: {url: \"smtp://127.0.0.1:25\","
	    " from: a@example.com, user: u, password_file: /p}\n", d,
	    &err) != 0)
		fail_msg("%s", err.msg);
	free(d);
}

struct bad {
	const char *text;
	const char *at;     /* "dir.yaml:LINE:COL:" */
	const char *words;  /* also in the message */
	const char *hint;   /* also in the message */
};

#define CONN "version: 1\nconnectors:\n  - name: a\n    kind: ldap\n" \
	"    can: [password_reset]\n"

static const struct bad bad[] = {
	/* top level */
	{"version: 1\nconectors: []\n", "dir.yaml:2:1:",
	    "unknown key \"conectors\"", "version, connectors, routes or notify"},
	{"version: 2\n", "dir.yaml:1:10:", "unsupported version \"2\"",
	    "version 1"},
	{"connectors: []\n", "dir.yaml:1:1:", "no version", "version: 1"},
	{"version: 1\nversion: 1\n", "dir.yaml:2:1:", "appears twice",
	    "keep one"},
	{"- 1\n", "dir.yaml:1:1:", "must be a mapping", "version"},
	{"version: 1\nconnectors: {a: 1}\n", "dir.yaml:2:13:",
	    "connectors must be a list", "not a mapping"},
	{"version: 1\nroutes: [\n", "dir.yaml:3:1:", "YAML syntax error",
	    ""},
	/* connectors */
	{CONN "    timeout: 5\n", "dir.yaml:6:14:", "timeout \"5\"",
	    "500ms, 5s or 2m"},
	{CONN "    timeout: 11m\n", "dir.yaml:6:14:", "between 1ms and 10m",
	    "unit"},
	{CONN "    timeout: 0ms\n", "dir.yaml:6:14:", "timeout \"0ms\"", ""},
	{CONN "    timeout: 5 s\n", "dir.yaml:6:14:", "timeout \"5 s\"", ""},
	{CONN "  - name: a\n    kind: scim\n    can: [disable]\n",
	    "dir.yaml:6:11:", "connector name \"a\" appears twice",
	    "first at line 3"},
	{"version: 1\nconnectors:\n  - name: a\n    kind: ldpa\n"
	    "    can: [unlock]\n", "dir.yaml:4:11:", "unknown kind \"ldpa\"",
	    "ldap, scim, webhook or exec"},
	{"version: 1\nconnectors:\n  - name: a\n    kind: ldap\n"
	    "    can: [unlock, pasword_reset]\n", "dir.yaml:5:19:",
	    "unknown operation \"pasword_reset\"", "password_reset, unlock"},
	{"version: 1\nconnectors:\n  - name: a\n    kind: ldap\n"
	    "    can: unlock\n", "dir.yaml:5:10:", "can must be a list",
	    "[password_reset, unlock]"},
	{"version: 1\nconnectors:\n  - name: a\n    kind: ldap\n"
	    "    can: []\n", "dir.yaml:5:10:", "can is empty", "at least one"},
	{"version: 1\nconnectors:\n  - name: a\n    kind: ldap\n"
	    "    can: [unlock, unlock]\n", "dir.yaml:5:19:", "listed twice",
	    "keep one"},
	{"version: 1\nconnectors:\n  - name: a\n    kind: ldap\n",
	    "dir.yaml:3:5:", "does not say what it can do", "can: ["},
	{"version: 1\nconnectors:\n  - name: a\n    can: [unlock]\n",
	    "dir.yaml:3:5:", "connector a has no kind", "kind: ldap"},
	{"version: 1\nconnectors:\n  - kind: ldap\n    can: [unlock]\n",
	    "dir.yaml:3:5:", "connector has no name", "name: NAME"},
	{"version: 1\nconnectors:\n  - name: Corp LDAP\n    kind: ldap\n"
	    "    can: [unlock]\n", "dir.yaml:3:11:", "connector name "
	    "\"Corp LDAP\" is not valid", "lower-case"},
	{CONN "    tls: {verify: true}\n", "dir.yaml:6:10:",
	    "option tls is a mapping", "lists of single values"},
	{CONN "    attrs: [uid, {a: 1}]\n", "dir.yaml:6:18:",
	    "list items must be single values", "not a mapping"},
	{CONN "    attrs: [\"a,b\", c]\n", "dir.yaml:6:13:", "contains ','",
	    "one string"},
	{CONN "    bind_password: hunter2\n", "dir.yaml:6:5:",
	    "would put a secret in the directory file",
	    "bind_password_file"},
	{CONN "    client_secret: [a, b]\n", "dir.yaml:6:5:",
	    "would put a secret", "client_secret_file"},
	{CONN "    api_token: \"true1\"\n", "dir.yaml:6:5:",
	    "would put a secret", "api_token_file"},
	{CONN "    Base-DN: x\n", "dir.yaml:6:5:",
	    "option name \"Base-DN\" is not valid", "lower-case letters"},
	{CONN "    base_dn: x\n    base_dn: y\n", "dir.yaml:7:5:",
	    "key \"base_dn\" appears twice in connector a", "keep one"},
	{CONN "    kind: scim\n", "dir.yaml:6:5:",
	    "key \"kind\" appears twice", "keep one"},
	{CONN "    url: http://127.0.0.1:389\n", "dir.yaml:6:10:",
	    "has scheme \"http\"", "ldap,ldaps"},
	{CONN "    url: ldap://admin:pw@127.0.0.1\n", "dir.yaml:6:10:",
	    "carries a user name or password", "*_file"},
	{"version: 1\nconnectors:\n  - name: a\n    kind: scim\n"
	    "    can: [disable]\n    url: ldap://x\n", "dir.yaml:6:10:",
	    "has scheme \"ldap\"", "http,https"},
	/* value too long for its buffer */
	{CONN "    base_dn: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "\n", "dir.yaml:6:14:", "base_dn is 556 characters long",
	    "limit is 511"},
	{"version: 1\nconnectors:\n  - name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	    "dir.yaml:3:11:", "name is 80 characters long", "limit is 47"},
	/* routes */
	{CONN "routes:\n  - {ops: [unlock], connector: a}\n", "dir.yaml:7:12:",
	    "route sends unlock to connector a, which does not declare it",
	    "add unlock to its can list (line 5)"},
	{CONN "routes:\n  - {ops: [password_reset], connector: b}\n",
	    "dir.yaml:7:40:", "route names connector \"b\", which is not "
	    "defined", "use one of: a"},
	{"version: 1\nroutes:\n  - {ops: [unlock], connector: later}\n"
	    "connectors:\n  - {name: later, kind: exec, can: [disable]}\n",
	    "dir.yaml:3:12:", "does not declare it", "line 5"},
	{CONN "routes:\n  - {ops: [password_reset], conector: a}\n",
	    "dir.yaml:7:29:", "unknown key \"conector\" in a route",
	    "ops, kind, label or connector"},
	{CONN "routes:\n  - {ops: [password_reset], kind: robot, "
	    "connector: a}\n", "dir.yaml:7:35:", "route kind \"robot\"",
	    "person or nhi"},
	{CONN "routes:\n  - {kind: person, connector: a}\n", "dir.yaml:7:5:",
	    "route has no ops", "ops: ["},
	{CONN "routes:\n  - {ops: [password_reset]}\n", "dir.yaml:7:5:",
	    "route has no connector", "connector: NAME"},
	{CONN "routes:\n  - {ops: [reset], connector: a}\n", "dir.yaml:7:12:",
	    "unknown operation \"reset\" in ops", "password_reset"},
	{CONN "routes:\n  - {ops: [password_reset], label: Admin!, "
	    "connector: a}\n", "dir.yaml:7:36:", "label \"Admin!\"",
	    "lower-case"},
	/* notify */
	{"version: 1\nnotify:\n  smpt: {}\n", "dir.yaml:3:3:",
	    "unknown key \"smpt\" in notify", "public_url, smtp, sms or timeout"},
	{"version: 1\nnotify:\n  smtp: {url: \"smtp://h:25\", from: a@b.c, "
	    "tls: true}\n", "dir.yaml:3:43:", "unknown key \"tls\" in "
	    "notify.smtp", "starttls"},
	{"version: 1\nnotify:\n  sms: {url: \"http://h/\", token: x}\n",
	    "dir.yaml:3:27:", "unknown key \"token\" in notify.sms",
	    "token_file"},
	{"version: 1\nnotify:\n  smtp: \"smtp://h:25\"\n", "dir.yaml:3:9:",
	    "smtp must be a mapping", "not a single value"},
	{"version: 1\nnotify:\n  smtp: {url: \"http://h:25\", from: a@b.c}\n",
	    "dir.yaml:3:15:", "has scheme \"http\"", "smtp,smtps"},
	{"version: 1\nnotify:\n  smtp: {url: \"smtp://h:25\"}\n",
	    "dir.yaml:3:9:", "smtp has no from address", "from: twokey@"},
	{"version: 1\nnotify:\n  smtp: {from: a@b.c}\n", "dir.yaml:3:9:",
	    "smtp has no url", "smtp://HOST:PORT"},
	{"version: 1\nnotify:\n  smtp: {url: \"smtp://h:25\", from: "
	    "\"Twokey <a@b.c>\"}\n", "dir.yaml:3:36:", "not an e-mail address",
	    "one plain address"},
	{"version: 1\nnotify:\n  smtp: {url: \"smtp://h:25\", from: a@b.c, "
	    "starttls: maybe}\n", "dir.yaml:3:53:", "starttls \"maybe\" is "
	    "not a boolean", "true or false"},
	{"version: 1\nnotify:\n  smtp: {url: \"smtps://h\", from: a@b.c, "
	    "starttls: true}\n", "dir.yaml:3:15:", "starttls is set but the "
	    "url is smtps://", "smtp:// with starttls"},
	{"version: 1\nnotify:\n  smtp: {url: \"smtp://h\", from: a@b.c, "
	    "user: u}\n", "dir.yaml:3:9:", "user and password_file go "
	    "together", "set both"},
	{"version: 1\nnotify:\n  smtp: {url: \"smtp://mail.example.com\", "
	    "from: a@b.c,\n    user: u, password_file: /p}\n", "dir.yaml:4:11:",
	    "password would cross the network in clear",
	    "starttls: true or use smtps://"},
	/* a name that only starts like a loopback address is not one */
	{"version: 1\nnotify:\n  smtp: {url: \"smtp://127.0.0.1.example.com"
	    "\",\n    from: a@b.c, user: u, password_file: /p}\n",
	    "dir.yaml:4:24:", "password would cross the network in clear",
	    "starttls: true or use smtps://"},
	{"version: 1\nnotify:\n  public_url: ftp://x\n", "dir.yaml:3:15:",
	    "public_url \"ftp://x\" has scheme \"ftp\"", "http,https"},
	{"version: 1\nnotify:\n  public_url: twokey.example.com\n",
	    "dir.yaml:3:15:", "is not a URL", "SCHEME://HOST"},
	{"version: 1\nnotify:\n  sms: {url: \"smtp://h\"}\n", "dir.yaml:3:14:",
	    "sms url", "http,https"},
	{"version: 1\nnotify:\n  sms: {token_file: /t}\n", "dir.yaml:3:8:",
	    "sms has no url", "remove sms"},
	{"version: 1\nnotify:\n  timeout: forever\n", "dir.yaml:3:12:",
	    "timeout \"forever\"", "5s"},
};

static void
test_errors(void **state)
{
	tk_directory *d = calloc(1, sizeof(*d));
	tk_error err;
	size_t i, failed = 0;

	(void)state;
	assert_non_null(d);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse(bad[i].text, d, &err);

		if (rc != -1) {
			print_error("case %zu accepted:\n%s\n", i, bad[i].text);
			failed++;
			continue;
		}
		if (err.status != TK_ERR_INVALID ||
		    strncmp(err.msg, bad[i].at, strlen(bad[i].at)) != 0 ||
		    strstr(err.msg, bad[i].words) == NULL ||
		    strstr(err.msg, bad[i].hint) == NULL) {
			print_error("case %zu: got \"%s\"; want %s ... %s ... "
			    "%s\n", i, err.msg, bad[i].at, bad[i].words,
			    bad[i].hint);
			failed++;
		}
		/* a refused file leaves nothing half-filled */
		assert_int_equal(d->nconn, 0);
		assert_int_equal(d->nroute, 0);
	}
	free(d);
	assert_int_equal(failed, 0);
}

static void
test_caps(void **state)
{
	tk_directory *d = calloc(1, sizeof(*d));
	char *text;
	size_t len = 0, size = 64 * 1024;
	tk_error err;
	int i, n;

	(void)state;
	assert_non_null(d);
	text = malloc(size);
	assert_non_null(text);
	/* one connector too many */
	n = snprintf(text, size, "version: 1\nconnectors:\n");
	len = (size_t)n;
	for (i = 0; i <= TK_DIR_CONNECTORS_MAX; i++) {
		n = snprintf(text + len, size - len, "  - {name: c%d, kind: exec,"
		    " can: [disable]}\n", i);
		len += (size_t)n;
	}
	assert_int_equal(parse(text, d, &err), -1);
	assert_non_null(strstr(err.msg, "dir.yaml:19:5: more than 16 "
	    "connectors"));
	/* one option too many */
	n = snprintf(text, size, "version: 1\nconnectors:\n  - name: a\n"
	    "    kind: exec\n    can: [disable]\n");
	len = (size_t)n;
	for (i = 0; i <= TK_CONN_OPTS_MAX; i++) {
		n = snprintf(text + len, size - len, "    o%d: v\n", i);
		len += (size_t)n;
	}
	assert_int_equal(parse(text, d, &err), -1);
	assert_non_null(strstr(err.msg, "dir.yaml:30:5: more than 24 "
	    "options"));
	/* one route too many */
	n = snprintf(text, size, "version: 1\nconnectors:\n  - {name: a, kind: "
	    "exec, can: [disable]}\nroutes:\n");
	len = (size_t)n;
	for (i = 0; i <= TK_DIR_ROUTES_MAX; i++) {
		n = snprintf(text + len, size - len, "  - {ops: [disable], "
		    "connector: a}\n");
		len += (size_t)n;
	}
	assert_int_equal(parse(text, d, &err), -1);
	assert_non_null(strstr(err.msg, "dir.yaml:37:5: more than 32 routes"));
	/* a list option longer than a value once joined */
	n = snprintf(text, size, "version: 1\nconnectors:\n  - name: a\n"
	    "    kind: exec\n    can: [disable]\n    args: [");
	len = (size_t)n;
	for (i = 0; i < 60; i++) {
		n = snprintf(text + len, size - len, "%sabcdefghi",
		    i ? ", " : "");
		len += (size_t)n;
	}
	(void)snprintf(text + len, size - len, "]\n");
	assert_int_equal(parse(text, d, &err), -1);
	assert_non_null(strstr(err.msg, "dir.yaml:6:11: option args is longer "
	    "than 511"));
	free(text);
	free(d);
}

static void
test_route(void **state)
{
	tk_directory *d = calloc(1, sizeof(*d));
	const char admin[][TK_NAME_MAX] = {"finance", "admin"};
	const char prod[][TK_NAME_MAX] = {"production"};
	tk_error err;

	(void)state;
	assert_non_null(d);
	if (parse(full, d, &err) != 0)
		fail_msg("%s", err.msg);
	/* kind filter */
	assert_int_equal(tk_directory_route(d, TK_OP_PASSWORD_RESET, "person",
	    NULL, 0), 0);
	assert_int_equal(tk_directory_route(d, TK_OP_PASSWORD_RESET, "nhi",
	    NULL, 0), -1);
	assert_int_equal(tk_directory_route(d, TK_OP_PASSWORD_RESET, NULL,
	    NULL, 0), -1);
	/* label filter, then first match wins over a later broader route */
	assert_int_equal(tk_directory_route(d, TK_OP_REVOKE_SESSIONS, "person",
	    admin, 2), 1);
	assert_int_equal(tk_directory_route(d, TK_OP_REVOKE_SESSIONS, "person",
	    prod, 1), 2);
	assert_int_equal(tk_directory_route(d, TK_OP_REVOKE_SESSIONS, "nhi",
	    NULL, 0), 2);
	assert_int_equal(tk_directory_route(d, TK_OP_REVOKE_TOKENS, "nhi",
	    admin, 2), 2);
	/* kind and label together */
	assert_int_equal(tk_directory_route(d, TK_OP_SECRET_ROTATE, "nhi",
	    prod, 1), 3);
	assert_int_equal(tk_directory_route(d, TK_OP_SECRET_ROTATE, "nhi",
	    admin, 2), 2);
	assert_int_equal(tk_directory_route(d, TK_OP_SECRET_ROTATE, "person",
	    prod, 1), -1);
	/* connectors that can do it but no route: -1 */
	assert_int_equal(tk_directory_route(d, TK_OP_MFA_RESET, "person",
	    NULL, 0), -1);
	assert_int_equal(tk_directory_route(d, TK_OP_DISABLE, "person",
	    NULL, 0), -1);
	assert_int_equal(tk_directory_route(d, TK_OP__COUNT, "person",
	    NULL, 0), -1);
	assert_int_equal(tk_directory_route(NULL, TK_OP_UNLOCK, "person",
	    NULL, 0), -1);
	free(d);
}

static void
test_load(void **state)
{
	tk_directory *d = calloc(1, sizeof(*d));
	char path[] = "/tmp/twokey-dir-XXXXXX";
	tk_error err;
	FILE *fp;
	int fd;

	(void)state;
	assert_non_null(d);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	assert_non_null(fp);
	assert_int_equal(fputs("version: 1\nnotify:\n  tiemout: 5s\n", fp) >= 0,
	    1);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(tk_directory_load(path, d, &err), -1);
	/* the file's path names the error */
	assert_non_null(strstr(err.msg, ":3:3: unknown key \"tiemout\""));
	assert_int_equal(strncmp(err.msg, path, strlen(path)), 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(tk_directory_load(path, d, &err), -1);
	assert_non_null(strstr(err.msg, "cannot open directory file"));
	assert_non_null(strstr(err.msg, "No such file"));
	free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_route),
		cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
