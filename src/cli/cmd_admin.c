/*
 * cmd_admin.c - the CLI's admin commands, run on the server host against
 * the database file: init, token issue, serve, policy check / explain /
 * load (the audit commands are in cmd_audit.c and cmd_export.c).
 *
 * Owns: reading config files from disk (capped), creating a database
 * (`init`), and printing the results of the library calls. Everything
 * else is done by libtwokey: the app layer (tokens, explain, policy
 * reload), the store, the audit chain and the HTTP server.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "app/app.h"
#include "audit/chain.h"
#include "audit/log.h"
#include "audit/witness.h"
#include "cli/cli.h"
#include "core/org.h"
#include "core/policy.h"
#include "http/server.h"
#include "store/store.h"
#include "verify/qr.h"
#include "verify/seal.h"

#define FILE_MAX (4u * 1024u * 1024u) /* largest org / policy file */
#define MAX_SIGNALS_ARG TK_MAX_SIGNALS

/* Reads a whole file (at most FILE_MAX bytes) into a malloc'd,
 * NUL-terminated buffer. Prints the reason and returns NULL on failure. */
char *
tk_cli_read_file(const char *path, size_t *len_out)
{
	FILE *f;
	char *buf;
	size_t n;

	f = fopen(path, "rb");
	if (f == NULL) {
		(void)fprintf(stderr, "error: cannot open %s: %s\n", path,
		    strerror(errno));
		return NULL;
	}
	buf = malloc(FILE_MAX + 1);
	if (buf == NULL) {
		(void)fclose(f);
		(void)fprintf(stderr, "error: out of memory\n");
		return NULL;
	}
	n = fread(buf, 1, FILE_MAX + 1, f);
	if (ferror(f)) {
		(void)fprintf(stderr, "error: cannot read %s: %s\n", path,
		    strerror(errno));
		goto fail;
	}
	if (n > FILE_MAX) {
		(void)fprintf(stderr, "error: %s is larger than %u bytes\n",
		    path, FILE_MAX);
		goto fail;
	}
	(void)fclose(f);
	buf[n] = '\0';
	if (strlen(buf) != n) {
		(void)fprintf(stderr, "error: %s contains a NUL byte\n", path);
		free(buf);
		return NULL;
	}
	*len_out = n;
	return buf;
fail:
	(void)fclose(f);
	free(buf);
	return NULL;
}

int
tk_cli_print_err(const tk_error *e)
{
	(void)fprintf(stderr, "error: %s: %s\n", tk_status_code(e->status),
	    e->msg);
	return e->status == TK_ERR_UNAUTH ? TK_EXIT_UNAUTH : TK_EXIT_FAIL;
}

tk_app *
tk_cli_open_app(const char *db, bool with_seal)
{
	char seal[4096];
	tk_error err = {0};
	tk_app *a;

	if (tk_cli_need_db(db) != 0)
		return NULL;
	a = tk_app_open(db, &err);
	if (a == NULL) {
		(void)tk_cli_print_err(&err);
		return NULL;
	}
	if (!with_seal)
		return a;
	if (tk_db_file_path(db, ".seal-key", seal, sizeof(seal), &err) != 0 ||
	    tk_app_seal_attach(a, seal, &err) != 0) {
		tk_app_close(a);
		(void)fprintf(stderr, "error: %s\n(databases made before "
		    "registered factors have no seal key: create one with "
		    "`twokey factor seal-key --db %s`)\n", err.msg, db);
		return NULL;
	}
	return a;
}

void
tk_cli_print_enrolment(char *uri, size_t size)
{
	char *qr = tk_qr_terminal(uri);

	(void)printf("%s\n", uri);
	if (qr != NULL) {
		(void)printf("%s", qr);
		OPENSSL_cleanse(qr, strlen(qr));
		free(qr);
	}
	(void)fflush(stdout);
	OPENSSL_cleanse(uri, size);
}

/* Refuses early, with a hint, when the database file is missing. */
int
tk_cli_need_db(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		(void)fprintf(stderr, "error: no database at %s (%s); create "
		    "one with `twokey init`\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Options shared by most admin commands. */
enum { O_DB = 256, O_ORG, O_POLICY, O_FORCE, O_LISTEN, O_THREADS, O_SWEEP,
	O_QUIET, O_SUBJECT, O_ACTION, O_SIGNAL, O_TICKET, O_CHANNEL,
	O_REASON, O_ORIGIN, O_CP_EVENTS, O_CP_SECONDS, O_PUBLIC_AUDIT,
	O_WITNESS, O_CP_FILE, O_CP_SYSLOG, O_SYSLOG, O_SYSLOG_FORMAT,
	O_SYSLOG_FROM, O_DIRECTORY, O_ALG, O_ISSUER, O_TLS_CERT, O_TLS_KEY,
	O_OIDC, O_SESSION_IDLE, O_SESSION_MAX, O_SECURE_COOKIES };

/* Parses only --help/--json and the listed options; returns 'h' on
 * --help (usage printed), '?' on a usage error (usage printed), 0 when
 * done, or the option value for the caller to handle. */
int
tk_cli_next_opt(const tk_cli_cmd *cmd, int argc, char **argv,
    const struct option *lo)
{
	int c = getopt_long(argc, argv, "h", lo, NULL);

	if (c == 'h') {
		tk_cli_usage(cmd, stdout);
		return 'h';
	}
	if (c == 'j') {
		tk_cli_json = 1;
		return tk_cli_next_opt(cmd, argc, argv, lo);
	}
	if (c == '?' || c == ':') {
		(void)tk_cli_usage_error(cmd, NULL);
		return '?';
	}
	return c == -1 ? 0 : c;
}

#define LO_HELP {"help", no_argument, NULL, 'h'}
#define LO_JSON {"json", no_argument, NULL, 'j'}
#define LO_DB {"db", required_argument, NULL, O_DB}
#define LO_END {NULL, 0, NULL, 0}

/* Converts next_opt's end codes to an exit code, or -1 to go on. */
int
tk_cli_end_code(int c)
{
	if (c == 'h')
		return TK_EXIT_OK;
	if (c == '?')
		return TK_EXIT_USAGE;
	return -1;
}

/*
 * For commands that take only --db PATH and, when what is non-NULL,
 * exactly one positional argument (stored in *arg). Returns -1 when the
 * command line is good, otherwise the exit code to return (help shown,
 * or a usage error).
 */
static int
db_and_arg(const tk_cli_cmd *cmd, int argc, char **argv, const char **db,
    const char **arg, const char *what)
{
	static const struct option lo[] = {LO_HELP, LO_DB, LO_END};
	char msg[64];
	int c;

	*db = NULL;
	optind = 0;
	while ((c = tk_cli_next_opt(cmd, argc, argv, lo)) != 0) {
		if (tk_cli_end_code(c) >= 0)
			return tk_cli_end_code(c);
		if (c != O_DB)
			return tk_cli_usage_error(cmd, NULL);
		*db = optarg;
	}
	if (*db == NULL)
		return tk_cli_usage_error(cmd, "--db is required");
	if (what == NULL) {
		if (optind < argc)
			return tk_cli_usage_error(cmd, "unexpected argument");
		return -1;
	}
	if (optind + 1 != argc) {
		(void)snprintf(msg, sizeof(msg), "exactly one %s is required",
		    what);
		return tk_cli_usage_error(cmd, msg);
	}
	*arg = argv[optind];
	return -1;
}

/* ---- init -------------------------------------------------------------- */

static int
remove_db(const char *db)
{
	static const char *const suffix[] = {"", "-wal", "-shm", "-journal",
		".audit-key", ".checkpoints", ".seal-key"};
	char p[4096];
	size_t i;
	int w;

	for (i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		w = snprintf(p, sizeof(p), "%s%s", db, suffix[i]);
		if (w < 0 || (size_t)w >= sizeof(p))
			return -1;
		if (unlink(p) != 0 && errno != ENOENT) {
			(void)fprintf(stderr, "error: cannot remove %s: %s\n",
			    p, strerror(errno));
			return -1;
		}
	}
	return 0;
}

int
tk_cmd_init(const tk_cli_cmd *cmd, int argc, char **argv)
{
	static const struct option lo[] = {LO_HELP, LO_DB,
		{"org", required_argument, NULL, O_ORG},
		{"policy", required_argument, NULL, O_POLICY},
		{"force", no_argument, NULL, O_FORCE},
		{"origin", required_argument, NULL, O_ORIGIN}, LO_END};
	const char *db = NULL, *org_path = NULL, *pol_path = NULL;
	const char *origin = NULL;
	char origin_buf[TK_NOTE_NAME_MAX], key_path[4096], mirror[4096];
	char seal_path[4096];
	char vkey[TK_NOTE_VKEY_MAX];
	tk_note_signer signer;
	int64_t signed_size = -1;
	bool force = false;
	char *org_text = NULL, *pol_text = NULL;
	size_t org_len = 0, pol_len = 0;
	tk_org org = {0};
	tk_policy pol = {0};
	bool org_ok = false, pol_ok = false;
	tk_store *s = NULL;
	tk_error err = {0};
	json_t *data = NULL;
	tk_event_row row = {0};
	struct stat st;
	int c, rc = TK_EXIT_FAIL;

	optind = 0;
	while ((c = tk_cli_next_opt(cmd, argc, argv, lo)) != 0) {
		if (tk_cli_end_code(c) >= 0)
			return tk_cli_end_code(c);
		switch (c) {
		case O_DB: db = optarg; break;
		case O_ORG: org_path = optarg; break;
		case O_POLICY: pol_path = optarg; break;
		case O_FORCE: force = true; break;
		case O_ORIGIN: origin = optarg; break;
		default: return tk_cli_usage_error(cmd, NULL);
		}
	}
	if (optind < argc)
		return tk_cli_usage_error(cmd, "unexpected argument");
	if (db == NULL || org_path == NULL || pol_path == NULL)
		return tk_cli_usage_error(cmd,
		    "--db, --org and --policy are required");
	if (origin == NULL) {
		unsigned char rnd[4];

		if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
			(void)fprintf(stderr, "error: no randomness for the "
			    "log's origin; give --origin\n");
			return TK_EXIT_FAIL;
		}
		(void)snprintf(origin_buf, sizeof(origin_buf),
		    "localhost/twokey-%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
		    rnd[3]);
		origin = origin_buf;
	} else if (!tk_note_name_valid(origin)) {
		return tk_cli_usage_error(cmd, "--origin must be 1-255 bytes "
		    "with no '+' and no spaces, e.g. example.com/twokey");
	}
	if (tk_audit_key_path(db, key_path, sizeof(key_path), &err) != 0 ||
	    tk_audit_mirror_path(db, mirror, sizeof(mirror), &err) != 0)
		return tk_cli_print_err(&err);
	if (tk_db_file_path(db, ".seal-key", seal_path, sizeof(seal_path),
	    &err) != 0)
		return tk_cli_print_err(&err);
	if (!force && stat(seal_path, &st) == 0) {
		(void)fprintf(stderr, "error: %s is left from an earlier "
		    "database; move it away or use --force to replace "
		    "everything\n", seal_path);
		return TK_EXIT_FAIL;
	}
	if (!force && (stat(key_path, &st) == 0 || stat(mirror, &st) == 0)) {
		(void)fprintf(stderr, "error: %s or %s is left from an earlier "
		    "log; move them away (a new log gets a new key, and an old "
		    "checkpoint copy would never verify against it) or use "
		    "--force to replace everything\n", key_path, mirror);
		return TK_EXIT_FAIL;
	}
	if (stat(db, &st) == 0 && !force) {
		(void)fprintf(stderr, "error: %s already exists; use --force to "
		    "replace it (this discards every case, event and token in "
		    "it)\n", db);
		return TK_EXIT_FAIL;
	}
	org_text = tk_cli_read_file(org_path, &org_len);
	pol_text = tk_cli_read_file(pol_path, &pol_len);
	if (org_text == NULL || pol_text == NULL)
		goto out;
	if (tk_org_load(&org, org_text, org_len, org_path, &err) != 0) {
		(void)fprintf(stderr, "%s\n", err.msg);
		goto out;
	}
	org_ok = true;
	if (tk_policy_load(&pol, pol_text, pol_len, pol_path, &err) != 0) {
		(void)fprintf(stderr, "%s\n", err.msg);
		goto out;
	}
	pol_ok = true;
	if (force && remove_db(db) != 0)
		goto out;
	(void)umask(077); /* the database holds token hashes */
	s = tk_store_open(db, true, &err);
	if (s == NULL) {
		rc = tk_cli_print_err(&err);
		goto out;
	}
	data = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s}",
	    "org", org_path, "policy", pol_path,
	    "staff", (json_int_t)org.nstaff,
	    "subjects", (json_int_t)org.nsubjects,
	    "tiers", (json_int_t)pol.ntiers, "policy_digest", pol.digest);
	if (data == NULL) {
		(void)fprintf(stderr, "error: out of memory (or a file name "
		    "that is not UTF-8)\n");
		goto out;
	}
	if (tk_store_begin(s, &err) != 0) {
		rc = tk_cli_print_err(&err);
		goto out;
	}
	if (tk_store_config_put(s, "org", org_text, &err) != 0 ||
	    tk_store_config_put(s, "policy", pol_text, &err) != 0 ||
	    tk_store_event_append(s, (tk_time)time(NULL), "",
	    "store.initialized", "system", false, data, &row, &err) != 0 ||
	    tk_store_commit(s, &err) != 0) {
		tk_store_rollback(s);
		rc = tk_cli_print_err(&err);
		goto out;
	}
	/* The audit log's signing key, and a first signed checkpoint. */
	if (tk_audit_key_create(s, key_path, origin, (tk_time)time(NULL), vkey,
	    sizeof(vkey), &err) != 0) {
		rc = tk_cli_print_err(&err);
		goto out;
	}
	if (tk_audit_key_load(key_path, &signer, &err) != 0) {
		rc = tk_cli_print_err(&err);
		goto out;
	}
	if (tk_audit_checkpoint(s, &signer, (tk_time)time(NULL), mirror,
	    &signed_size, &err) != 0) {
		tk_note_signer_wipe(&signer);
		rc = tk_cli_print_err(&err);
		goto out;
	}
	tk_note_signer_wipe(&signer);
	/* The key that encrypts registered factors' seeds at rest. */
	if (tk_seal_key_create(seal_path, &err) != 0) {
		rc = tk_cli_print_err(&err);
		goto out;
	}
	(void)printf("initialized %s: %zu staff, %zu subjects; policy %s "
	    "(%zu tier%s, %zu deny rule%s)\n", db, org.nstaff, org.nsubjects,
	    pol.digest, pol.ntiers, pol.ntiers == 1 ? "" : "s", pol.ndenies,
	    pol.ndenies == 1 ? "" : "s");
	(void)printf("audit log %s, signing key %s (keep it 0600)\n"
	    "verifier key: %s\n", origin, key_path, vkey);
	rc = TK_EXIT_OK;
out:
	tk_event_row_clear(&row);
	json_decref(data);
	if (s != NULL)
		tk_store_close(s);
	if (org_ok)
		tk_org_free(&org);
	if (pol_ok)
		tk_policy_free(&pol);
	free(org_text);
	free(pol_text);
	return rc;
}

/* ---- token issue -------------------------------------------------------- */

int
tk_cmd_token_issue(const tk_cli_cmd *cmd, int argc, char **argv)
{
	const char *db = NULL, *user;
	char token[TK_TOKEN_MAX];
	tk_app *a;
	tk_app_err ae = {0};
	tk_error err = {0};
	enum tk_status st;
	int c;

	if ((c = db_and_arg(cmd, argc, argv, &db, &user, "USER")) >= 0)
		return c;
	if (tk_cli_need_db(db) != 0)
		return TK_EXIT_FAIL;
	a = tk_app_open(db, &err);
	if (a == NULL)
		return tk_cli_print_err(&err);
	st = tk_app_token_issue(a, user, token, sizeof(token), &ae);
	tk_app_close(a);
	if (st != TK_OK) {
		OPENSSL_cleanse(token, sizeof(token));
		return tk_cli_print_err(&ae.e);
	}
	/* The token alone on stdout, so `$(twokey token issue ...)` works. */
	(void)printf("%s\n", token);
	(void)fflush(stdout);
	OPENSSL_cleanse(token, sizeof(token));
	(void)fprintf(stderr, "token issued for %s; it is shown only once "
	    "(only its hash is stored)\n", user);
	return TK_EXIT_OK;
}

/* ---- factor enroll -------------------------------------------------------- */

int
tk_cmd_factor_enroll(const tk_cli_cmd *cmd, int argc, char **argv)
{
	static const struct option lo[] = {LO_HELP, LO_DB,
		{"algorithm", required_argument, NULL, O_ALG},
		{"issuer", required_argument, NULL, O_ISSUER}, LO_END};
	const char *db = NULL, *alg = "sha1", *issuer = "twokey";
	char uri[1024];
	tk_app_err ae = {0};
	enum tk_status st;
	tk_app *a;
	int c;

	optind = 0;
	while ((c = tk_cli_next_opt(cmd, argc, argv, lo)) != 0) {
		if (tk_cli_end_code(c) >= 0)
			return tk_cli_end_code(c);
		switch (c) {
		case O_DB: db = optarg; break;
		case O_ALG: alg = optarg; break;
		case O_ISSUER: issuer = optarg; break;
		default: return tk_cli_usage_error(cmd, NULL);
		}
	}
	if (db == NULL || optind + 1 != argc)
		return tk_cli_usage_error(cmd, "--db and one SUBJECT are "
		    "required");
	if ((a = tk_cli_open_app(db, true)) == NULL)
		return TK_EXIT_FAIL;
	st = tk_app_factor_enroll(a, argv[optind], alg, issuer, uri,
	    sizeof(uri), &ae);
	tk_app_close(a);
	if (st != TK_OK)
		return tk_cli_print_err(&ae.e);
	tk_cli_print_enrolment(uri, sizeof(uri));
	(void)fprintf(stderr, "enrolled a TOTP factor for %s: scan the code "
	    "(or enter the URI) in the subject's authenticator now; it is "
	    "shown only once and any earlier factor no longer works\n",
	    argv[optind]);
	return TK_EXIT_OK;
}

int
tk_cmd_factor_seal_key(const tk_cli_cmd *cmd, int argc, char **argv)
{
	const char *db = NULL;
	char seal[4096];
	tk_error err = {0};
	int c;
	static const struct option lo[] = {LO_HELP, LO_DB, LO_END};

	optind = 0;
	while ((c = tk_cli_next_opt(cmd, argc, argv, lo)) != 0) {
		if (tk_cli_end_code(c) >= 0)
			return tk_cli_end_code(c);
		if (c != O_DB)
			return tk_cli_usage_error(cmd, NULL);
		db = optarg;
	}
	if (db == NULL || optind != argc)
		return tk_cli_usage_error(cmd, "--db is required");
	if (tk_cli_need_db(db) != 0)
		return TK_EXIT_FAIL;
	if (tk_db_file_path(db, ".seal-key", seal, sizeof(seal), &err) != 0)
		return tk_cli_print_err(&err);
	if (tk_seal_key_create(seal, &err) != 0)
		return tk_cli_print_err(&err);
	(void)printf("created %s (keep it 0600 and back it up with the "
	    "database: without it enrolled factors cannot be checked)\n",
	    seal);
	return TK_EXIT_OK;
}

/* ---- serve --------------------------------------------------------------- */

int
tk_cmd_serve(const tk_cli_cmd *cmd, int argc, char **argv)
{
	static const struct option lo[] = {LO_HELP, LO_DB,
		{"listen", required_argument, NULL, O_LISTEN},
		{"threads", required_argument, NULL, O_THREADS},
		{"sweep-interval", required_argument, NULL, O_SWEEP},
		{"checkpoint-events", required_argument, NULL, O_CP_EVENTS},
		{"checkpoint-interval", required_argument, NULL, O_CP_SECONDS},
		{"public-audit", no_argument, NULL, O_PUBLIC_AUDIT},
		{"witness", required_argument, NULL, O_WITNESS},
		{"checkpoint-file", required_argument, NULL, O_CP_FILE},
		{"checkpoint-syslog", required_argument, NULL, O_CP_SYSLOG},
		{"syslog", required_argument, NULL, O_SYSLOG},
		{"syslog-format", required_argument, NULL, O_SYSLOG_FORMAT},
		{"syslog-from", required_argument, NULL, O_SYSLOG_FROM},
		{"directory", required_argument, NULL, O_DIRECTORY},
		{"tls-cert", required_argument, NULL, O_TLS_CERT},
		{"tls-key", required_argument, NULL, O_TLS_KEY},
		{"oidc", required_argument, NULL, O_OIDC},
		{"secure-cookies", no_argument, NULL, O_SECURE_COOKIES},
		{"session-idle", required_argument, NULL, O_SESSION_IDLE},
		{"session-max", required_argument, NULL, O_SESSION_MAX},
		{"quiet", no_argument, NULL, O_QUIET}, LO_END};
	const char *witnesses[TK_APP_WITNESS_MAX];
	tk_server_opts o = {0};
	tk_error err = {0};
	enum tk_syslog_proto proto;
	enum tk_export_format fmt;
	char host[256], port[32];
	tk_witness w;
	char *end;
	unsigned long n;
	unsigned long long seq;
	int c;

	optind = 0;
	while ((c = tk_cli_next_opt(cmd, argc, argv, lo)) != 0) {
		if (tk_cli_end_code(c) >= 0)
			return tk_cli_end_code(c);
		switch (c) {
		case O_DB: o.db_path = optarg; break;
		case O_LISTEN: o.listen = optarg; break;
		case O_QUIET: o.quiet = true; break;
		case O_DIRECTORY: o.directory = optarg; break;
		case O_TLS_CERT: o.tls_cert = optarg; break;
		case O_TLS_KEY: o.tls_key = optarg; break;
		case O_OIDC: o.oidc = optarg; break;
		case O_SECURE_COOKIES: o.secure_cookies = true; break;
		case O_SESSION_IDLE:
		case O_SESSION_MAX:
			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || optarg[0] == '\0' ||
			    optarg[0] == '-' || n < 60 || n > 2592000)
				return tk_cli_usage_error(cmd, c == O_SESSION_IDLE ?
				    "--session-idle wants seconds from 60 to 2592000" :
				    "--session-max wants seconds from 60 to 2592000");
			if (c == O_SESSION_IDLE)
				o.session_idle = (int64_t)n;
			else
				o.session_max = (int64_t)n;
			break;
		case O_THREADS:
			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || optarg[0] == '\0' ||
			    optarg[0] == '-' || n < 1 || n > 256)
				return tk_cli_usage_error(cmd,
				    "--threads wants a number from 1 to 256");
			o.threads = (unsigned)n;
			break;
		case O_SWEEP:
			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || optarg[0] == '\0' ||
			    optarg[0] == '-' || n > 86400)
				return tk_cli_usage_error(cmd, "--sweep-interval "
				    "wants seconds from 0 (no sweeps) to 86400");
			o.sweep_interval = n == 0 ? -1 : (int)n;
			break;
		case O_CP_EVENTS:
		case O_CP_SECONDS:
			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || optarg[0] == '\0' ||
			    optarg[0] == '-' || n < 1 || n > 100000000)
				return tk_cli_usage_error(cmd, c == O_CP_EVENTS ?
				    "--checkpoint-events wants a number from 1 to "
				    "100000000" : "--checkpoint-interval wants "
				    "seconds from 1 to 100000000");
			if (c == O_CP_EVENTS)
				o.checkpoint_events = (int64_t)n;
			else
				o.checkpoint_seconds = (int64_t)n;
			break;
		case O_PUBLIC_AUDIT: o.audit_public = true; break;
		case O_WITNESS:
			if (o.nwitnesses >= TK_APP_WITNESS_MAX)
				return tk_cli_usage_error(cmd, "at most 8 --witness");
			if (tk_witness_parse(optarg, &w, &err) != 0)
				return tk_cli_usage_error(cmd, err.msg);
			witnesses[o.nwitnesses++] = optarg;
			break;
		case O_CP_FILE: o.checkpoint_file = optarg; break;
		case O_CP_SYSLOG:
		case O_SYSLOG:
			proto = TK_SYSLOG_UDP;
			if (tk_syslog_parse_target(optarg, &proto, host,
			    sizeof(host), port, sizeof(port), &err) != 0)
				return tk_cli_usage_error(cmd, err.msg);
			if (c == O_CP_SYSLOG)
				o.checkpoint_syslog = optarg;
			else
				o.syslog = optarg;
			break;
		case O_SYSLOG_FORMAT:
			if (tk_export_format_parse(optarg, &fmt) != 0)
				return tk_cli_usage_error(cmd, "--syslog-format "
				    "wants jsonl, ocsf or cef");
			o.syslog_format = optarg;
			break;
		case O_SYSLOG_FROM:
			errno = 0;
			seq = strtoull(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || optarg[0] == '\0' ||
			    optarg[0] == '-' || seq < 1 || seq > INT64_MAX)
				return tk_cli_usage_error(cmd, "--syslog-from wants "
				    "a sequence number, 1 or more");
			o.syslog_from = (int64_t)seq;
			break;
		default: return tk_cli_usage_error(cmd, NULL);
		}
	}
	if (optind < argc)
		return tk_cli_usage_error(cmd, "unexpected argument");
	if (o.db_path == NULL || o.listen == NULL)
		return tk_cli_usage_error(cmd, "--db and --listen are required");
	if (o.syslog == NULL && (o.syslog_format != NULL || o.syslog_from > 0))
		return tk_cli_usage_error(cmd, "--syslog-format and --syslog-from "
		    "go with --syslog");
	o.witnesses = witnesses;
	if (tk_cli_need_db(o.db_path) != 0)
		return TK_EXIT_FAIL;
	if (tk_server_run(&o, &err) != 0)
		return tk_cli_print_err(&err);
	return TK_EXIT_OK;
}

/* ---- policy ---------------------------------------------------------------- */

int
tk_cmd_policy_check(const tk_cli_cmd *cmd, int argc, char **argv)
{
	static const struct option lo[] = {LO_HELP, LO_END};
	const char *path;
	char *text;
	size_t len = 0;
	tk_policy pol = {0};
	tk_error err = {0};
	int c;

	optind = 0;
	while ((c = tk_cli_next_opt(cmd, argc, argv, lo)) != 0) {
		if (tk_cli_end_code(c) >= 0)
			return tk_cli_end_code(c);
		return tk_cli_usage_error(cmd, NULL);
	}
	if (optind + 1 != argc)
		return tk_cli_usage_error(cmd, "exactly one FILE is required");
	path = argv[optind];
	text = tk_cli_read_file(path, &len);
	if (text == NULL)
		return TK_EXIT_FAIL;
	if (tk_policy_load(&pol, text, len, path, &err) != 0) {
		(void)fprintf(stderr, "%s\n", err.msg);
		free(text);
		return TK_EXIT_FAIL;
	}
	(void)printf("%s: ok, %zu tier%s, %zu deny rule%s\n", path, pol.ntiers,
	    pol.ntiers == 1 ? "" : "s", pol.ndenies,
	    pol.ndenies == 1 ? "" : "s");
	tk_policy_free(&pol);
	free(text);
	return TK_EXIT_OK;
}

int
tk_cmd_policy_explain(const tk_cli_cmd *cmd, int argc, char **argv)
{
	static const struct option lo[] = {LO_HELP, LO_JSON, LO_DB,
		{"subject", required_argument, NULL, O_SUBJECT},
		{"action", required_argument, NULL, O_ACTION},
		{"signal", required_argument, NULL, O_SIGNAL},
		{"ticket", required_argument, NULL, O_TICKET},
		{"channel", required_argument, NULL, O_CHANNEL},
		{"reason", required_argument, NULL, O_REASON},
		{"reason-code", required_argument, NULL, O_REASON}, LO_END};
	const char *db = NULL, *signals[MAX_SIGNALS_ARG];
	tk_explain_req r = {0};
	size_t nsig = 0;
	tk_app *a;
	tk_app_err ae = {0};
	tk_error err = {0};
	json_t *out = NULL;
	enum tk_status st;
	int c;

	optind = 0;
	while ((c = tk_cli_next_opt(cmd, argc, argv, lo)) != 0) {
		if (tk_cli_end_code(c) >= 0)
			return tk_cli_end_code(c);
		switch (c) {
		case O_DB: db = optarg; break;
		case O_SUBJECT: r.subject = optarg; break;
		case O_ACTION: r.action = optarg; break;
		case O_TICKET: r.ticket = optarg; break;
		case O_CHANNEL: r.channel = optarg; break;
		case O_REASON: r.reason_code = optarg; break;
		case O_SIGNAL:
			if (nsig >= MAX_SIGNALS_ARG)
				return tk_cli_usage_error(cmd,
				    "too many --signal options");
			signals[nsig++] = optarg;
			break;
		default: return tk_cli_usage_error(cmd, NULL);
		}
	}
	if (optind < argc)
		return tk_cli_usage_error(cmd, "unexpected argument");
	if (db == NULL || r.subject == NULL || r.action == NULL)
		return tk_cli_usage_error(cmd,
		    "--db, --subject and --action are required");
	r.signals = signals;
	r.nsignals = nsig;
	if (r.ticket == NULL)
		r.ticket = "";
	if (r.reason_code == NULL)
		r.reason_code = "";
	if (r.channel == NULL)
		r.channel = "";
	if (tk_cli_need_db(db) != 0)
		return TK_EXIT_FAIL;
	a = tk_app_open(db, &err);
	if (a == NULL)
		return tk_cli_print_err(&err);
	st = tk_app_policy_explain(a, NULL, &r, &out, &ae);
	tk_app_close(a);
	if (st != TK_OK)
		return tk_cli_print_err(&ae.e);
	if (tk_cli_json)
		tk_out_json(out);
	else
		tk_out_explain(out, r.subject, r.action);
	json_decref(out);
	return TK_EXIT_OK;
}

int
tk_cmd_policy_load(const tk_cli_cmd *cmd, int argc, char **argv)
{
	const char *db = NULL, *path;
	char *text;
	char digest[32];
	size_t len = 0;
	tk_policy pol = {0};
	tk_app *a;
	tk_app_err ae = {0};
	tk_error err = {0};
	enum tk_status st;
	int c;

	if ((c = db_and_arg(cmd, argc, argv, &db, &path, "FILE")) >= 0)
		return c;
	text = tk_cli_read_file(path, &len);
	if (text == NULL)
		return TK_EXIT_FAIL;
	/* Validate with the file's own name first, for file:line:col. */
	if (tk_policy_load(&pol, text, len, path, &err) != 0) {
		(void)fprintf(stderr, "%s\n", err.msg);
		free(text);
		return TK_EXIT_FAIL;
	}
	tk_policy_free(&pol);
	if (tk_cli_need_db(db) != 0) {
		free(text);
		return TK_EXIT_FAIL;
	}
	a = tk_app_open(db, &err);
	if (a == NULL) {
		free(text);
		return tk_cli_print_err(&err);
	}
	st = tk_app_reload_policy(a, NULL, text, len, digest, sizeof(digest),
	    &ae);
	tk_app_close(a);
	free(text);
	if (st != TK_OK)
		return tk_cli_print_err(&ae.e);
	(void)printf("policy %s loaded into %s (a running server takes it "
	    "on restart; or use PUT /v1/policy)\n", digest, db);
	return TK_EXIT_OK;
}

