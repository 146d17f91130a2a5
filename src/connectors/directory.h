/*
 * directory.h - the directory file: which target systems twokey changes
 * (connectors), which connector performs which operation for which
 * subjects (routes), and how twokey reaches people (notify: SMTP for
 * e-mail, an HTTP gateway for SMS, and the public URL its links use).
 * Given to `twokey serve --directory FILE`; docs/connectors.md shows an
 * example of every key.
 *
 *   version: 1
 *   connectors:
 *     - name: corp-ldap
 *       kind: ldap
 *       can: [password_reset, unlock, reactivate, disable, group_add,
 *             group_remove, mfa_reset]
 *       timeout: 5s
 *       url: ldap://127.0.0.1:3890          # every other key is an option
 *       bind_password_file: /etc/twokey/ldap.secret
 *   routes:                                 # first match wins
 *     - {ops: [password_reset, unlock], kind: person, connector: corp-ldap}
 *     - {ops: [revoke_sessions, revoke_tokens], connector: idp-hook}
 *   notify:
 *     public_url: https://twokey.example.com
 *     smtp: {url: "smtp://127.0.0.1:2525", from: "twokey@example.com",
 *            starttls: false, user: "", password_file: ""}
 *     sms:  {url: "http://127.0.0.1:9000/send", token_file: ""}
 *
 * Owns: parsing and checking that file (errors name line and column and
 * say what to write instead), and routing an operation to a connector.
 */
#ifndef TK_DIRECTORY_H
#define TK_DIRECTORY_H

#include "connectors/connector.h"

#define TK_DIR_CONNECTORS_MAX 16
#define TK_DIR_ROUTES_MAX 32
#define TK_URL_MAX 512

typedef struct tk_route {
	unsigned ops;               /* 1u << tk_conn_op */
	char kind[16];              /* "person", "nhi" or "" for any */
	char label[TK_NAME_MAX];    /* subject label required, or "" */
	int connector;              /* index into tk_directory.conn */
} tk_route;

typedef struct tk_notify_config {
	char public_url[TK_URL_MAX];    /* base of links in messages; "" = none */
	char smtp_url[TK_URL_MAX];      /* "" = no e-mail */
	char smtp_from[TK_CONTACT_MAX];
	bool smtp_starttls;             /* require STARTTLS */
	char smtp_user[TK_CONTACT_MAX];
	char smtp_password_file[TK_URL_MAX];
	char sms_url[TK_URL_MAX];       /* "" = no SMS */
	char sms_token_file[TK_URL_MAX];
	int timeout_ms;                 /* per message; default 10000 */
} tk_notify_config;

typedef struct tk_directory {
	tk_conn_config conn[TK_DIR_CONNECTORS_MAX];
	int nconn;
	tk_route route[TK_DIR_ROUTES_MAX];
	int nroute;
	tk_notify_config notify;
} tk_directory;

/* Parses the YAML text (name is used in messages). On error returns -1
 * with err->msg "NAME:LINE:COL: what is wrong; what to write". Checks:
 * version 1, unique connector names, known kinds and operations, timeouts
 * (e.g. "5s", "500ms") between 1 ms and 10 min, routes naming existing
 * connectors that declare every op the route lists, URLs with http,
 * https, smtp, smtps, ldap or ldaps schemes as fits the field. Does not
 * open connectors or read secret files. */
int tk_directory_parse(const char *text, size_t len, const char *name,
    tk_directory *d, tk_error *err);
/* Reads and parses a file. */
int tk_directory_load(const char *path, tk_directory *d, tk_error *err);

/* The connector index for op on a subject of this kind with these labels
 * (first matching route), or -1 when no route covers it. */
int tk_directory_route(const tk_directory *d, enum tk_conn_op op,
    const char *subject_kind, const char (*labels)[TK_NAME_MAX],
    int nlabels);

#endif
