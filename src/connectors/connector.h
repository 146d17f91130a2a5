/*
 * connector.h - what a connector is: a target system (directory, IdP,
 * automation endpoint, vendor CLI) that performs a case's change once the
 * engine allows it. Each connector is configured by name in the directory
 * file, declares the operations it can perform, and reports the target's
 * own message when it fails.
 *
 * Owns: the operation catalogue, the configuration record every connector
 * reads its options from, the result record, and the table of connector
 * kinds (ldap, scim, webhook, exec).
 *
 * Contract for implementations:
 *  - open() validates the options and loads any secret they name (from a
 *    *_file option; secrets never sit in the directory file itself). It
 *    fails with a message naming the connector and the option.
 *  - apply() performs one operation. It may be called from several
 *    threads at once, so it keeps no per-call state in the shared state
 *    (a connection per call is fine). It never blocks longer than the
 *    configured timeout. It never logs or returns the change's secret.
 *    TK_CONN_DONE: the target confirmed it. TK_CONN_FAILED: the target
 *    refused or could not be reached before anything was sent, so nothing
 *    changed; message is the target's own words. TK_CONN_UNKNOWN: the
 *    request may have reached the target but no answer came (timeout,
 *    connection cut): a person must look.
 *  - status() (optional, NULL when the target cannot tell) answers what
 *    happened to an earlier apply() with the same idem_key, for crash
 *    recovery: DONE, FAILED (never happened) or UNKNOWN.
 *  - close() frees the state and wipes any secret it holds.
 */
#ifndef TK_CONNECTOR_H
#define TK_CONNECTOR_H

#include <jansson.h>

#include "core/tk.h"

enum tk_conn_op {
	TK_OP_PASSWORD_RESET = 0, /* set ch->secret, must change at first use */
	TK_OP_UNLOCK,             /* clear lockout */
	TK_OP_REACTIVATE,         /* enable a disabled account */
	TK_OP_DISABLE,            /* disable an account */
	TK_OP_GROUP_ADD,          /* add subject to ch->group */
	TK_OP_GROUP_REMOVE,       /* remove subject from ch->group */
	TK_OP_MFA_RESET,          /* remove the subject's MFA factors */
	TK_OP_REVOKE_SESSIONS,    /* end the subject's sessions */
	TK_OP_REVOKE_TOKENS,      /* revoke the subject's tokens */
	TK_OP_SECRET_ROTATE,      /* set ch->secret as the NHI's new secret */
	TK_OP_CREDENTIAL_EXPIRE,  /* the temporary credential's TTL ended: if
	                           * it was never changed, make it unusable
	                           * (done either way; message says which) */
	TK_OP__COUNT
};
/* "password_reset", "unlock", ... ; parse returns -1 when unknown. */
const char *tk_conn_op_name(enum tk_conn_op op);
int tk_conn_op_parse(const char *name);

#define TK_CONN_OPTS_MAX 24
#define TK_CONN_OPT_KEY_MAX 40
#define TK_CONN_OPT_VALUE_MAX 512

/* One configured connector, as read from the directory file. Options are
 * strings (numbers and booleans in their YAML spelling; lists joined by
 * ","). */
typedef struct tk_conn_config {
	char name[TK_NAME_MAX];
	char kind[16];            /* "ldap" | "scim" | "webhook" | "exec" */
	unsigned caps;            /* 1u << tk_conn_op it declares it can do */
	int timeout_ms;           /* per operation; default 10000 */
	struct {
		char key[TK_CONN_OPT_KEY_MAX];
		char value[TK_CONN_OPT_VALUE_MAX];
	} opt[TK_CONN_OPTS_MAX];
	int nopt;
} tk_conn_config;

/* The option's value, or NULL when absent. */
const char *tk_conn_opt(const tk_conn_config *c, const char *key);
/* The option as a boolean ("true"/"false"/"yes"/"no"), def if absent;
 * -1 if present but not a boolean. */
int tk_conn_opt_bool(const tk_conn_config *c, const char *key, int def);

/* Reads a secret named by option key (a path to a file readable only by
 * its owner, one line, trailing newline cut) into buf. Fails with a
 * message naming the connector, option and file. The caller wipes buf. */
int tk_conn_secret_file(const tk_conn_config *c, const char *key, char *buf,
    size_t size, tk_error *err);

/* The config from JSON {"name","kind","can":[op...],"timeout_ms",
 * "options":{key: string|number|bool}} (the test driver's form). */
int tk_conn_config_from_json(const json_t *j, tk_conn_config *c,
    tk_error *err);

/* One change to perform. Strings are NUL-terminated; NULL when unused. */
typedef struct tk_change {
	enum tk_conn_op op;
	const char *case_id;
	const char *idem_key;     /* unique per case and attempt; sent along */
	const char *subject;      /* twokey subject id = the target's user name */
	const char *subject_kind; /* "person" | "nhi" */
	const char *action;       /* the case's action, for context */
	const char *group;        /* group operations */
	const char *secret;       /* password_reset, secret_rotate; never logged */
	const char *params;       /* the case's params, canonical JSON */
} tk_change;

enum tk_conn_outcome { TK_CONN_DONE = 0, TK_CONN_FAILED, TK_CONN_UNKNOWN };
const char *tk_conn_outcome_name(enum tk_conn_outcome o);

typedef struct tk_conn_result {
	enum tk_conn_outcome outcome;
	char message[512];        /* the target's own words, or what happened */
} tk_conn_result;

typedef struct tk_connector_ops {
	const char *kind;
	unsigned caps;            /* operations this kind can ever perform */
	int (*open)(const tk_conn_config *cfg, void **state, tk_error *err);
	void (*apply)(void *state, const tk_conn_config *cfg,
	    const tk_change *ch, tk_conn_result *r);
	void (*status)(void *state, const tk_conn_config *cfg,
	    const tk_change *ch, tk_conn_result *r);
	void (*close)(void *state);
} tk_connector_ops;

extern const tk_connector_ops tk_conn_ldap;
extern const tk_connector_ops tk_conn_scim;
extern const tk_connector_ops tk_conn_webhook;
extern const tk_connector_ops tk_conn_exec;

/* The kind's table, or NULL when unknown. */
const tk_connector_ops *tk_conn_kind(const char *kind);

/* An opened connector. */
typedef struct tk_connector {
	tk_conn_config cfg;
	const tk_connector_ops *ops;
	void *state;
} tk_connector;

/* Checks caps against the kind's and opens it. */
int tk_connector_open(tk_connector *c, const tk_conn_config *cfg,
    tk_error *err);
/* Refuses (FAILED, nothing sent) an operation the connector did not
 * declare; otherwise calls apply. */
void tk_connector_apply(tk_connector *c, const tk_change *ch,
    tk_conn_result *r);
/* UNKNOWN when the kind cannot tell. */
void tk_connector_status(tk_connector *c, const tk_change *ch,
    tk_conn_result *r);
void tk_connector_close(tk_connector *c);

/* The case's "keep_groups" param (reactivate, invariant 11): a comma
 * list of group names the restored account keeps. Splits a copy of it
 * into buf (size bytes); names[i] point in there, blanks trimmed, empty
 * entries dropped. Returns how many (0 when params is NULL, has no
 * keep_groups or it is empty), or -1 with r FAILED (nothing was sent)
 * when params is not a JSON object, keep_groups is not a string, a name
 * is longer than TK_CONN_GROUP_NAME_MAX - 1 bytes or holds a control
 * character, or there are more than max. */
#define TK_CONN_GROUP_NAME_MAX 256
int tk_conn_keep_groups(const char *params, char *buf, size_t size,
    const char **names, int max, tk_conn_result *r);
/* Is name one of names[0..n) (ASCII case-insensitive, as LDAP cn and
 * SCIM displayName compare)? Returns its index or -1. */
int tk_conn_name_index(const char *const *names, int n, const char *name);

/* Fills r (message formatted, UTF-8 trimmed) and returns nothing. */
void tk_conn_result_set(tk_conn_result *r, enum tk_conn_outcome o,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* For messages about group changes: appends name to a ", " list while it
 * fits in size and counts the rest in *more; then shows the list as
 * "none", the names, or "names and N more" (in buf when needed). */
void tk_conn_list_add(char *list, size_t size, const char *name, int *more);
const char *tk_conn_list_show(const char *list, int more, char *buf,
    size_t size);

#endif
