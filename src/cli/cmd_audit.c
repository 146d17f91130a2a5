/*
 * cmd_audit.c - the CLI's audit commands for investigators: verify a
 * database or an exported bundle, print the log's verifier key (or
 * rotate it), sign a checkpoint now, write a case's receipt and check
 * one offline. (SIEM export is cmd_export.c.)
 *
 * Owns: the command lines and what they print. The checks themselves are
 * libtwokey's (audit/log.c, audit/chain.c).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit/chain.h"
#include "audit/log.h"
#include "cli/cli.h"
#include "store/store.h"

enum { A_DB = 256, A_OFFLINE, A_KEY, A_CHECKPOINT, A_MIRROR, A_NO_MIRROR,
	A_OUT, A_ROTATE, A_ORIGIN };

#define LO_HELP {"help", no_argument, NULL, 'h'}
#define LO_JSON {"json", no_argument, NULL, 'j'}
#define LO_DB {"db", required_argument, NULL, A_DB}
#define LO_END {NULL, 0, NULL, 0}

/* --key VALUE: a verifier key string, or a file holding one per line. */
static int
add_keys(tk_audit_trust *t, const char *v)
{
	tk_error err = {0};
	char *text, *line, *save = NULL;
	size_t len;
	int rc = 0;

	if (strchr(v, '+') != NULL && access(v, R_OK) != 0) {
		if (tk_audit_trust_add(t, v, &err) != 0) {
			(void)fprintf(stderr, "error: --key %s: %s\n", v, err.msg);
			return -1;
		}
		return 0;
	}
	text = tk_cli_read_file(v, &len);
	if (text == NULL)
		return -1;
	for (line = strtok_r(text, "\r\n", &save); line != NULL;
	    line = strtok_r(NULL, "\r\n", &save)) {
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if (tk_audit_trust_add(t, line, &err) != 0) {
			(void)fprintf(stderr, "error: %s: %s\n", v, err.msg);
			rc = -1;
			break;
		}
	}
	free(text);
	return rc;
}

static int
print_report(const tk_audit_report *r, const char *what)
{
	if (!r->ok) {
		if (r->bad_seq > 0)
			(void)fprintf(stderr, "%s: FAILED at seq %lld (%s): %s\n",
			    what, (long long)r->bad_seq, r->kind, r->detail);
		else
			(void)fprintf(stderr, "%s: FAILED (%s): %s\n", what,
			    r->kind, r->detail);
		return TK_EXIT_FAIL;
	}
	(void)printf("%s: intact: %lld events, %lld signed checkpoint%s "
	    "verified\n", what, (long long)r->events,
	    (long long)r->checkpoints, r->checkpoints == 1 ? "" : "s");
	return TK_EXIT_OK;
}

/* Adds the public half of the key file next to db, when there is one. */
static int
trust_key_file(tk_audit_trust *t, const char *db)
{
	char path[4096], vkey[TK_NOTE_VKEY_MAX];
	tk_note_signer k;
	tk_error err = {0};

	if (tk_audit_key_path(db, path, sizeof(path), &err) != 0)
		return tk_cli_print_err(&err), -1;
	if (tk_audit_key_load(path, &k, &err) != 0) {
		if (err.status == TK_ERR_NOT_FOUND)
			return 0;
		return tk_cli_print_err(&err), -1;
	}
	if (tk_note_vkey_format(&k.key, vkey, sizeof(vkey), &err) != 0 ||
	    tk_audit_trust_add(t, vkey, &err) != 0) {
		tk_note_signer_wipe(&k);
		return tk_cli_print_err(&err), -1;
	}
	tk_note_signer_wipe(&k);
	return 0;
}

int
tk_cmd_audit_verify(const tk_cli_cmd *cmd, int argc, char **argv)
{
	static const struct option lo[] = {LO_HELP, LO_DB,
		{"offline", required_argument, NULL, A_OFFLINE},
		{"key", required_argument, NULL, A_KEY},
		{"checkpoint", required_argument, NULL, A_CHECKPOINT},
		{"mirror", required_argument, NULL, A_MIRROR},
		{"no-mirror", no_argument, NULL, A_NO_MIRROR}, LO_END};
	const char *db = NULL, *offline = NULL, *cpfile = NULL;
	const char *mirror_arg = NULL;
	bool no_mirror = false;
	static tk_audit_trust t; /* large: keys */
	char mirror[4096];
	char *cptext = NULL;
	tk_audit_report rep;
	tk_error err = {0};
	tk_store *s = NULL;
	int c, rc = TK_EXIT_FAIL;

	memset(&t, 0, sizeof(t));
	optind = 0;
	while ((c = tk_cli_next_opt(cmd, argc, argv, lo)) != 0) {
		if (tk_cli_end_code(c) >= 0)
			return tk_cli_end_code(c);
		switch (c) {
		case A_DB: db = optarg; break;
		case A_OFFLINE: offline = optarg; break;
		case A_KEY:
			if (add_keys(&t, optarg) != 0)
				return TK_EXIT_USAGE;
			break;
		case A_CHECKPOINT: cpfile = optarg; break;
		case A_MIRROR: mirror_arg = optarg; break;
		case A_NO_MIRROR: no_mirror = true; break;
		default: return tk_cli_usage_error(cmd, NULL);
		}
	}
	if (optind < argc)
		return tk_cli_usage_error(cmd, "unexpected argument");
	if ((db == NULL) == (offline == NULL))
		return tk_cli_usage_error(cmd, "give --db PATH or --offline "
		    "EXPORT (one of them)");
	if (offline != NULL && t.nkeys == 0)
		return tk_cli_usage_error(cmd, "--offline needs the log's "
		    "verifier key: --key KEY or --key FILE");
	if (cpfile != NULL) {
		size_t len;

		cptext = tk_cli_read_file(cpfile, &len);
		if (cptext == NULL)
			return TK_EXIT_FAIL;
		t.checkpoint = cptext;
		t.checkpoint_len = len;
	}
	if (offline != NULL) {
		FILE *f = strcmp(offline, "-") == 0 ? stdin :
		    fopen(offline, "r");

		if (f == NULL) {
			(void)fprintf(stderr, "error: cannot open %s: %s\n",
			    offline, strerror(errno));
			goto out;
		}
		if (tk_audit_verify_export(f, &t, &rep, &err) != 0)
			rc = tk_cli_print_err(&err);
		else
			rc = print_report(&rep, offline);
		if (f != stdin)
			(void)fclose(f);
		goto out;
	}
	if (tk_cli_need_db(db) != 0)
		goto out;
	if (!no_mirror) {
		if (mirror_arg != NULL) {
			t.mirror_path = mirror_arg;
		} else if (tk_audit_mirror_path(db, mirror, sizeof(mirror),
		    &err) == 0) {
			t.mirror_path = mirror;
		}
	}
	/* Without --key: the key file next to the database and the keys
	 * the database lists (retired ones after a rotation) are trusted;
	 * the mirror still catches a database replaced under a new key.
	 * With --key, only what the investigator brings. */
	if (t.nkeys == 0) {
		if (trust_key_file(&t, db) != 0)
			goto out;
		t.trust_listed = true;
	}
	s = tk_store_open(db, false, &err);
	if (s == NULL) {
		rc = tk_cli_print_err(&err);
		goto out;
	}
	/* One pass: rows agree with their bytes, leaves, tree, signed
	 * checkpoints. */
	if (tk_audit_verify_store(s, &t, &rep, &err) != 0) {
		rc = tk_cli_print_err(&err);
		goto out;
	}
	rc = print_report(&rep, db);
out:
	if (s != NULL)
		tk_store_close(s);
	free(cptext);
	return rc;
}

struct key_list {
	bool any;
};

static int
print_key_cb(void *arg, const tk_audit_key_row *k)
{
	struct key_list *l = arg;

	if (k->retired == 0)
		(void)printf("%s\n", k->verifier);
	else
		(void)fprintf(stderr, "retired: %s\n", k->verifier);
	l->any = true;
	return 0;
}

int
tk_cmd_audit_key(const tk_cli_cmd *cmd, int argc, char **argv)
{
	static const struct option lo[] = {LO_HELP, LO_DB,
		{"rotate", no_argument, NULL, A_ROTATE},
		{"origin", required_argument, NULL, A_ORIGIN}, LO_END};
	const char *db = NULL, *origin = NULL;
	bool rotate = false;
	char path[4096], old[4200], vkey[TK_NOTE_VKEY_MAX];
	struct key_list l = {false};
	tk_error err = {0};
	tk_store *s;
	int c, rc = TK_EXIT_FAIL;

	optind = 0;
	while ((c = tk_cli_next_opt(cmd, argc, argv, lo)) != 0) {
		if (tk_cli_end_code(c) >= 0)
			return tk_cli_end_code(c);
		switch (c) {
		case A_DB: db = optarg; break;
		case A_ROTATE: rotate = true; break;
		case A_ORIGIN: origin = optarg; break;
		default: return tk_cli_usage_error(cmd, NULL);
		}
	}
	if (optind < argc)
		return tk_cli_usage_error(cmd, "unexpected argument");
	if (db == NULL)
		return tk_cli_usage_error(cmd, "--db is required");
	if (rotate != (origin != NULL))
		return tk_cli_usage_error(cmd, "--rotate and --origin NAME go "
		    "together: a new key starts a new origin");
	if (tk_cli_need_db(db) != 0)
		return TK_EXIT_FAIL;
	s = tk_store_open(db, false, &err);
	if (s == NULL)
		return tk_cli_print_err(&err);
	if (rotate) {
		if (tk_audit_key_path(db, path, sizeof(path), &err) != 0) {
			rc = tk_cli_print_err(&err);
			goto out;
		}
		(void)snprintf(old, sizeof(old), "%s.retired-%lld", path,
		    (long long)time(NULL));
		if (rename(path, old) != 0 && errno != ENOENT) {
			(void)fprintf(stderr, "error: cannot move the old key "
			    "aside: %s\n", strerror(errno));
			goto out;
		}
		if (tk_audit_key_create(s, path, origin, (tk_time)time(NULL),
		    vkey, sizeof(vkey), &err) != 0) {
			(void)rename(old, path);
			rc = tk_cli_print_err(&err);
			goto out;
		}
		(void)fprintf(stderr, "new key for origin %s in %s; the old "
		    "private key was moved to %s (shred it when no longer "
		    "needed; its public key stays listed). Restart the server "
		    "to sign with the new key.\n", origin, path, old);
	}
	if (tk_store_audit_key_list(s, print_key_cb, &l, &err) != 0) {
		rc = tk_cli_print_err(&err);
		goto out;
	}
	if (!l.any) {
		(void)fprintf(stderr, "error: this database has no audit key; "
		    "create one with `twokey audit key --db %s --rotate "
		    "--origin NAME`\n", db);
		goto out;
	}
	rc = TK_EXIT_OK;
out:
	tk_store_close(s);
	return rc;
}

int
tk_cmd_audit_checkpoint(const tk_cli_cmd *cmd, int argc, char **argv)
{
	static const struct option lo[] = {LO_HELP, LO_DB, LO_END};
	const char *db = NULL;
	char path[4096], mirror[4096];
	tk_note_signer k;
	tk_error err = {0};
	int64_t size = -1;
	tk_store *s;
	int c, rc;

	optind = 0;
	while ((c = tk_cli_next_opt(cmd, argc, argv, lo)) != 0) {
		if (tk_cli_end_code(c) >= 0)
			return tk_cli_end_code(c);
		if (c != A_DB)
			return tk_cli_usage_error(cmd, NULL);
		db = optarg;
	}
	if (db == NULL || optind < argc)
		return tk_cli_usage_error(cmd, "--db PATH and nothing else");
	if (tk_cli_need_db(db) != 0)
		return TK_EXIT_FAIL;
	if (tk_audit_key_path(db, path, sizeof(path), &err) != 0 ||
	    tk_audit_mirror_path(db, mirror, sizeof(mirror), &err) != 0 ||
	    tk_audit_key_load(path, &k, &err) != 0)
		return tk_cli_print_err(&err);
	s = tk_store_open(db, false, &err);
	if (s == NULL) {
		tk_note_signer_wipe(&k);
		return tk_cli_print_err(&err);
	}
	rc = tk_audit_checkpoint(s, &k, (tk_time)time(NULL), mirror, &size,
	    &err);
	tk_note_signer_wipe(&k);
	tk_store_close(s);
	if (rc != 0)
		return tk_cli_print_err(&err);
	if (size < 0)
		(void)printf("nothing new to sign\n");
	else
		(void)printf("signed checkpoint of size %lld\n",
		    (long long)size);
	return TK_EXIT_OK;
}

/* Writes text to path (or stdout for NULL / "-") atomically. */
static int
write_out(const char *path, const char *text)
{
	char tmp[4200];
	FILE *f;

	if (path == NULL || strcmp(path, "-") == 0) {
		if (fputs(text, stdout) == EOF || fflush(stdout) != 0)
			return -1;
		return 0;
	}
	(void)snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (f == NULL) {
		(void)fprintf(stderr, "error: cannot write %s: %s\n", tmp,
		    strerror(errno));
		return -1;
	}
	if (fputs(text, f) == EOF || fflush(f) != 0 || fsync(fileno(f)) != 0) {
		(void)fprintf(stderr, "error: cannot write %s: %s\n", tmp,
		    strerror(errno));
		(void)fclose(f);
		(void)unlink(tmp);
		return -1;
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		(void)fprintf(stderr, "error: cannot write %s: %s\n", path,
		    strerror(errno));
		(void)unlink(tmp);
		return -1;
	}
	return 0;
}

int
tk_cmd_audit_prove(const tk_cli_cmd *cmd, int argc, char **argv)
{
	static const struct option lo[] = {LO_HELP, LO_DB,
		{"out", required_argument, NULL, A_OUT}, LO_END};
	const char *db = NULL, *out = NULL, *id;
	tk_error err = {0};
	json_t *r;
	char *text;
	tk_store *s;
	int c, rc;

	optind = 0;
	while ((c = tk_cli_next_opt(cmd, argc, argv, lo)) != 0) {
		if (tk_cli_end_code(c) >= 0)
			return tk_cli_end_code(c);
		switch (c) {
		case A_DB: db = optarg; break;
		case A_OUT: out = optarg; break;
		default: return tk_cli_usage_error(cmd, NULL);
		}
	}
	if (db == NULL || optind + 1 != argc)
		return tk_cli_usage_error(cmd, "--db PATH and one CASE_ID are "
		    "required");
	id = argv[optind];
	if (tk_cli_need_db(db) != 0)
		return TK_EXIT_FAIL;
	s = tk_store_open(db, false, &err);
	if (s == NULL)
		return tk_cli_print_err(&err);
	r = tk_audit_receipt(s, id, &err);
	tk_store_close(s);
	if (r == NULL)
		return tk_cli_print_err(&err);
	text = json_dumps(r, JSON_INDENT(2) | JSON_ENSURE_ASCII);
	json_decref(r);
	if (text == NULL) {
		(void)fprintf(stderr, "error: out of memory\n");
		return TK_EXIT_FAIL;
	}
	rc = write_out(out, text) == 0 ? TK_EXIT_OK : TK_EXIT_FAIL;
	if (rc == TK_EXIT_OK && out != NULL && strcmp(out, "-") != 0)
		(void)fprintf(stderr, "receipt for %s written to %s\n", id, out);
	free(text);
	return rc;
}

int
tk_cmd_audit_check(const tk_cli_cmd *cmd, int argc, char **argv)
{
	static const struct option lo[] = {LO_HELP,
		{"key", required_argument, NULL, A_KEY}, LO_END};
	static tk_audit_trust t;
	tk_audit_report rep;
	tk_error err = {0};
	json_error_t jerr;
	json_t *r;
	int c, rc;

	memset(&t, 0, sizeof(t));
	optind = 0;
	while ((c = tk_cli_next_opt(cmd, argc, argv, lo)) != 0) {
		if (tk_cli_end_code(c) >= 0)
			return tk_cli_end_code(c);
		if (c != A_KEY)
			return tk_cli_usage_error(cmd, NULL);
		if (add_keys(&t, optarg) != 0)
			return TK_EXIT_USAGE;
	}
	if (optind + 1 != argc || t.nkeys == 0)
		return tk_cli_usage_error(cmd, "one RECEIPT file and --key are "
		    "required");
	r = json_load_file(argv[optind], JSON_REJECT_DUPLICATES, &jerr);
	if (r == NULL) {
		(void)fprintf(stderr, "error: %s:%d: %s\n", argv[optind],
		    jerr.line, jerr.text);
		return TK_EXIT_FAIL;
	}
	rc = tk_audit_receipt_check(r, &t, &rep, &err);
	json_decref(r);
	if (rc != 0)
		return tk_cli_print_err(&err);
	return print_report(&rep, argv[optind]);
}
