/*
 * cli.h - shared declarations of the twokey command-line tool: the
 * command table, exit codes, the HTTP client used by the API commands and
 * the printers for people and for --json.
 *
 * Owns nothing at run time; each file in src/cli owns one job (main.c
 * dispatch, cmd_admin.c server-host commands, cmd_client.c API commands,
 * client.c HTTP, output.c printing).
 */
#ifndef TK_CLI_H
#define TK_CLI_H

#include <jansson.h>
#include <stdio.h>

#include "core/tk.h"

/* Exit codes (also in man/twokey.1). */
#define TK_EXIT_OK 0
#define TK_EXIT_FAIL 1    /* the command failed: API error, bad file... */
#define TK_EXIT_USAGE 2   /* unknown command or option, missing argument */
#define TK_EXIT_CONN 3    /* the server could not be reached */
#define TK_EXIT_UNAUTH 4  /* no token, or the server refused it */

typedef struct tk_cli_cmd tk_cli_cmd;
/* Runs a command. argv[0] is the command's name; options follow. Returns
 * the process exit code. */
typedef int (*tk_cli_fn)(const tk_cli_cmd *cmd, int argc, char **argv);

struct tk_cli_cmd {
	const char *group;   /* "case", "policy", ... or NULL (top level) */
	const char *name;    /* "open" */
	tk_cli_fn run;
	const char *synopsis; /* arguments after the command words */
	const char *summary;  /* one line */
	const char *options;  /* option lines for --help, may be NULL */
};

/* Global options given before the command. */
extern int tk_cli_json; /* --json: print raw JSON */

/* Prints the command's usage (synopsis, summary, options) to f. */
void tk_cli_usage(const tk_cli_cmd *cmd, FILE *f);
/* Prints usage to stderr and returns TK_EXIT_USAGE; msg may be NULL. */
int tk_cli_usage_error(const tk_cli_cmd *cmd, const char *msg);

/* ---- helpers of the admin commands (cmd_admin.c) ---- */
/* Prints "error: CODE: MESSAGE" and returns the exit code for it. */
int tk_cli_print_err(const tk_error *e);
/* Refuses early, with a hint, when the database file is missing. */
int tk_cli_need_db(const char *path);
/* getopt_long over lo with --help/--json handled: 'h' (usage printed),
 * '?' (usage error printed), 0 when done, else the option. */
struct option;
int tk_cli_next_opt(const tk_cli_cmd *cmd, int argc, char **argv,
    const struct option *lo);
/* next_opt's end codes as an exit code, or -1 to go on. */
int tk_cli_end_code(int c);
/* Reads a whole file (capped) into a malloc'd NUL-terminated buffer;
 * prints why and returns NULL on failure. */
char *tk_cli_read_file(const char *path, size_t *len_out);
/* Opens the app on db; with_seal also attaches DB.seal-key (TOTP seeds),
 * with a hint when an old database has none. Prints why and returns
 * NULL on failure. */
struct tk_app;
struct tk_app *tk_cli_open_app(const char *db, bool with_seal);
/* Prints an enrolment's otpauth:// URI and its terminal QR code on
 * stdout, then wipes uri (size bytes). */
void tk_cli_print_enrolment(char *uri, size_t size);

/* ---- command handlers (cmd_admin.c) ---- */
int tk_cmd_init(const tk_cli_cmd *cmd, int argc, char **argv);
int tk_cmd_token_issue(const tk_cli_cmd *cmd, int argc, char **argv);
int tk_cmd_serve(const tk_cli_cmd *cmd, int argc, char **argv);
int tk_cmd_policy_check(const tk_cli_cmd *cmd, int argc, char **argv);
int tk_cmd_policy_explain(const tk_cli_cmd *cmd, int argc, char **argv);
int tk_cmd_policy_load(const tk_cli_cmd *cmd, int argc, char **argv);
int tk_cmd_audit_verify(const tk_cli_cmd *cmd, int argc, char **argv);
int tk_cmd_audit_key(const tk_cli_cmd *cmd, int argc, char **argv); /* cmd_audit.c */
int tk_cmd_audit_prove(const tk_cli_cmd *cmd, int argc, char **argv);
int tk_cmd_audit_check(const tk_cli_cmd *cmd, int argc, char **argv);
int tk_cmd_audit_checkpoint(const tk_cli_cmd *cmd, int argc, char **argv);
int tk_cmd_audit_export(const tk_cli_cmd *cmd, int argc, char **argv); /* cmd_export.c */

/* ---- command handlers (cmd_client.c) ---- */
int tk_cmd_case_open(const tk_cli_cmd *cmd, int argc, char **argv);
int tk_cmd_case_show(const tk_cli_cmd *cmd, int argc, char **argv);
int tk_cmd_case_list(const tk_cli_cmd *cmd, int argc, char **argv);
int tk_cmd_case_evidence(const tk_cli_cmd *cmd, int argc, char **argv);
int tk_cmd_case_approve(const tk_cli_cmd *cmd, int argc, char **argv);
int tk_cmd_case_deny(const tk_cli_cmd *cmd, int argc, char **argv);
int tk_cmd_case_patch(const tk_cli_cmd *cmd, int argc, char **argv);
int tk_cmd_case_execute(const tk_cli_cmd *cmd, int argc, char **argv);
int tk_cmd_case_cancel(const tk_cli_cmd *cmd, int argc, char **argv);
int tk_cmd_case_break_glass(const tk_cli_cmd *cmd, int argc, char **argv);
int tk_cmd_case_review(const tk_cli_cmd *cmd, int argc, char **argv);
int tk_cmd_case_confirm(const tk_cli_cmd *cmd, int argc, char **argv);
int tk_cmd_case_signal(const tk_cli_cmd *cmd, int argc, char **argv);
int tk_cmd_case_resolve(const tk_cli_cmd *cmd, int argc, char **argv);
int tk_cmd_factor_enroll(const tk_cli_cmd *cmd, int argc, char **argv);
int tk_cmd_factor_seal_key(const tk_cli_cmd *cmd, int argc, char **argv);
int tk_cmd_account_password(const tk_cli_cmd *cmd, int argc, char **argv); /* cmd_account.c */
int tk_cmd_account_totp(const tk_cli_cmd *cmd, int argc, char **argv);
int tk_cmd_me(const tk_cli_cmd *cmd, int argc, char **argv);

/* ---- HTTP client (client.c) ---- */

/*
 * Sends one API request to $TWOKEY_URL (default http://127.0.0.1:8080)
 * with the bearer token from $TWOKEY_TOKEN. path starts with "/v1/" and
 * must already be escaped; body may be NULL. On a 2xx answer *out gets
 * the parsed JSON (caller decrefs) and the return is TK_EXIT_OK; with
 * --json the raw body has been printed to stdout. On failure the error
 * has been printed to stderr ("error: CODE: MESSAGE") and the return is
 * the exit code: TK_EXIT_CONN, TK_EXIT_UNAUTH or TK_EXIT_FAIL. The token
 * is never printed and is wiped from memory after use.
 */
int tk_cli_request(const char *method, const char *path, const json_t *body,
    json_t **out);

/* Appends the URL-escaped form of s to buf (of size) at *len. Returns -1
 * when it does not fit or on out-of-memory. */
int tk_cli_escape(char *buf, size_t size, size_t *len, const char *s);

/* ---- printers (output.c) ---- */

/* Human summary of a case view; with_events adds the timeline. */
void tk_out_case(const json_t *c, bool with_events);
/* One line per case of {"cases":[...]}. */
void tk_out_case_list(const json_t *list);
/* The result of GET /v1/me. */
void tk_out_me(const json_t *me);
/* The policy explanation (tk_app_policy_explain's JSON) in plain words. */
void tk_out_explain(const json_t *x, const char *subject, const char *action);
/* Prints a JSON value to stdout, indented, with a newline. */
void tk_out_json(const json_t *j);
/* Requirement sentences of a "requirements" object, each passed to fn. */
void tk_out_requirements(const json_t *req, FILE *f, const char *indent);

#endif
