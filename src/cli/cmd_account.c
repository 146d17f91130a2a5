/*
 * cmd_account.c - `twokey account password` and `twokey account totp`:
 * console sign-in credentials of staff members, set on the server host
 * against the database (like `twokey token issue`).
 *
 * Owns: reading a password from stdin and printing a generated one or an
 * otpauth URI (and its QR code) exactly once. Passwords and URIs are
 * wiped from memory after use and never written to stderr.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "app/app.h"
#include "app/signin.h"
#include "cli/cli.h"

enum { A_DB = 256, A_STDIN };

#define PW_READ_MAX 256

static const struct option pw_opts[] = {
	{"help", no_argument, NULL, 'h'},
	{"db", required_argument, NULL, A_DB},
	{"stdin", no_argument, NULL, A_STDIN},
	{NULL, 0, NULL, 0},
};

static const struct option totp_opts[] = {
	{"help", no_argument, NULL, 'h'},
	{"db", required_argument, NULL, A_DB},
	{NULL, 0, NULL, 0},
};

/* Reads one line (the password) from stdin into buf, without its
 * newline. -1 when there is none or it is too long. */
static int
read_password(char *buf, size_t size)
{
	size_t n;

	if (fgets(buf, (int)size, stdin) == NULL)
		return -1;
	n = strlen(buf);
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	else if (!feof(stdin))
		return -1; /* longer than the buffer */
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	return 0;
}

int
tk_cmd_account_password(const tk_cli_cmd *cmd, int argc, char **argv)
{
	const char *db = NULL;
	bool from_stdin = false;
	char pw[PW_READ_MAX], gen[64];
	tk_app_err ae = {0};
	enum tk_status st;
	tk_app *a;
	int c;

	optind = 0;
	while ((c = tk_cli_next_opt(cmd, argc, argv, pw_opts)) != 0) {
		if (tk_cli_end_code(c) >= 0)
			return tk_cli_end_code(c);
		switch (c) {
		case A_DB: db = optarg; break;
		case A_STDIN: from_stdin = true; break;
		default: return tk_cli_usage_error(cmd, NULL);
		}
	}
	if (db == NULL || optind + 1 != argc)
		return tk_cli_usage_error(cmd, "--db and one LOGIN are required");
	pw[0] = '\0';
	if (from_stdin && read_password(pw, sizeof(pw)) != 0) {
		OPENSSL_cleanse(pw, sizeof(pw));
		(void)fprintf(stderr, "error: --stdin: give the password as one "
		    "line on standard input (at most %d characters)\n",
		    PW_READ_MAX - 2);
		return TK_EXIT_FAIL;
	}
	if ((a = tk_cli_open_app(db, false)) == NULL) {
		OPENSSL_cleanse(pw, sizeof(pw));
		return TK_EXIT_FAIL;
	}
	st = tk_app_account_password(a, NULL, argv[optind], from_stdin ? pw :
	    NULL, gen, sizeof(gen), &ae);
	tk_app_close(a);
	OPENSSL_cleanse(pw, sizeof(pw));
	if (st != TK_OK) {
		OPENSSL_cleanse(gen, sizeof(gen));
		return tk_cli_print_err(&ae.e);
	}
	if (!from_stdin) {
		(void)printf("%s\n", gen);
		(void)fflush(stdout);
		OPENSSL_cleanse(gen, sizeof(gen));
		(void)fprintf(stderr, "set a generated console password for %s; "
		    "it is shown only once (only its argon2id hash is stored); "
		    "the login's console sessions ended\n", argv[optind]);
	} else {
		(void)fprintf(stderr, "set the console password for %s; the "
		    "login's console sessions ended\n", argv[optind]);
	}
	return TK_EXIT_OK;
}

int
tk_cmd_account_totp(const tk_cli_cmd *cmd, int argc, char **argv)
{
	const char *db = NULL;
	char uri[1024];
	tk_app_err ae = {0};
	enum tk_status st;
	tk_app *a;
	int c;

	optind = 0;
	while ((c = tk_cli_next_opt(cmd, argc, argv, totp_opts)) != 0) {
		if (tk_cli_end_code(c) >= 0)
			return tk_cli_end_code(c);
		if (c != A_DB)
			return tk_cli_usage_error(cmd, NULL);
		db = optarg;
	}
	if (db == NULL || optind + 1 != argc)
		return tk_cli_usage_error(cmd, "--db and one LOGIN are required");
	if ((a = tk_cli_open_app(db, true)) == NULL)
		return TK_EXIT_FAIL;
	st = tk_app_account_totp(a, NULL, argv[optind], uri, sizeof(uri), &ae);
	tk_app_close(a);
	if (st != TK_OK)
		return tk_cli_print_err(&ae.e);
	tk_cli_print_enrolment(uri, sizeof(uri));
	(void)fprintf(stderr, "enrolled a console sign-in TOTP factor for %s: "
	    "scan the code (or enter the URI) in their authenticator now; it "
	    "is shown only once and any earlier one no longer works\n",
	    argv[optind]);
	return TK_EXIT_OK;
}
