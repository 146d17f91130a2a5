/*
 * main.c - entry point of the twokey command-line tool: global options
 * (--help, --version, --json), the command table and dispatch to the
 * handlers in cmd_admin.c and cmd_client.c.
 *
 * Owns: the command table (names, synopses, option help) and the
 * top-level usage text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli/cli.h"

int tk_cli_json = 0;

#define OPT_JSON "      --json               print the server's raw JSON\n"
#define OPT_HELP "  -h, --help               print this help and exit\n"

static const tk_cli_cmd commands[] = {
	/* ---- admin commands, on the server host ---- */
	{NULL, "init", tk_cmd_init,
	    "--db PATH --org FILE --policy FILE [--origin NAME] [--force]",
	    "create a database with an org, a policy and the audit log's key",
	    "      --db PATH            database file to create (the audit\n"
	    "                           signing key goes to PATH.audit-key and\n"
	    "                           a copy of each checkpoint to\n"
	    "                           PATH.checkpoints)\n"
	    "      --org FILE           org YAML (staff and subjects)\n"
	    "      --policy FILE        policy YAML\n"
	    "      --origin NAME        the audit log's name in checkpoints, e.g.\n"
	    "                           example.com/twokey (default\n"
	    "                           localhost/twokey-<random>)\n"
	    "      --force              replace an existing database\n" OPT_HELP},
	{"token", "issue", tk_cmd_token_issue, "--db PATH USER",
	    "issue an API token for a staff login (printed once)",
	    "      --db PATH            database created by `twokey init`\n"
	    OPT_HELP},
	{"factor", "enroll", tk_cmd_factor_enroll,
	    "--db PATH [--algorithm sha1|sha256] [--issuer NAME] SUBJECT",
	    "enrol a TOTP factor for a subject (prints the otpauth URI and a QR "
	    "code once)",
	    "      --db PATH            database created by `twokey init`\n"
	    "      --algorithm A        sha1 (default, what most apps support)\n"
	    "                           or sha256\n"
	    "      --issuer NAME        name shown in the app (default twokey)\n"
	    OPT_HELP},
	{"factor", "seal-key", tk_cmd_factor_seal_key, "--db PATH",
	    "create DB.seal-key for a database made before factors existed",
	    "      --db PATH            database created by `twokey init`\n"
	    OPT_HELP},
	{"account", "password", tk_cmd_account_password,
	    "--db PATH [--stdin] LOGIN",
	    "set a staff member's console password (a generated one is printed "
	    "once); ends their console sessions",
	    "      --db PATH            database created by `twokey init`\n"
	    "      --stdin              read the password (one line, 12 to 128\n"
	    "                           characters) from standard input instead\n"
	    OPT_HELP},
	{"account", "totp", tk_cmd_account_totp, "--db PATH LOGIN",
	    "enrol a staff member's console sign-in TOTP factor (prints the "
	    "otpauth URI and a QR code once)",
	    "      --db PATH            database created by `twokey init`\n"
	    OPT_HELP},
	{NULL, "serve", tk_cmd_serve,
	    "--db PATH --listen ADDR:PORT [--threads N] [--sweep-interval S]\n"
	    "       [--checkpoint-events N] [--checkpoint-interval S] "
	    "[--checkpoint-file FILE]\n"
	    "       [--witness URL=KEY]... [--checkpoint-syslog TARGET]\n"
	    "       [--syslog TARGET [--syslog-format F] [--syslog-from SEQ]]\n"
	    "       [--directory FILE] [--public-audit] [--quiet]\n"
	    "       [--tls-cert FILE --tls-key FILE] [--secure-cookies] [--oidc FILE]\n"
	    "       [--session-idle S] [--session-max S]",
	    "run the REST/JSON API and the web console until SIGINT or SIGTERM",
	    "      --db PATH            database created by `twokey init`\n"
	    "      --listen ADDR:PORT   address to listen on, e.g. 127.0.0.1:8080\n"
	    "      --threads N          worker threads (default 16)\n"
	    "      --sweep-interval S   seconds between scheduler sweeps that end\n"
	    "                           holds, expire approvals and flag overdue\n"
	    "                           reviews (default 5; 0 = none)\n"
	    "      --checkpoint-events N  sign an audit checkpoint after N new\n"
	    "                           events (default 1000)\n"
	    "      --checkpoint-interval S  ...or S seconds after the last one\n"
	    "                           when any event arrived (default 10); one\n"
	    "                           is also signed at shutdown\n"
	    "      --checkpoint-file FILE  append each checkpoint to FILE\n"
	    "                           (default PATH.checkpoints)\n"
	    "      --witness URL=KEY    push each checkpoint to a C2SP tlog-witness\n"
	    "                           at URL (its add-checkpoint prefix) and keep\n"
	    "                           its cosignature once it verifies with KEY,\n"
	    "                           the witness's cosignature/v1 verifier key\n"
	    "                           (repeatable, at most 8)\n"
	    "      --checkpoint-syslog TARGET  send each checkpoint and cosignature\n"
	    "                           to syslog: udp://HOST:PORT (default) or\n"
	    "                           tcp://HOST:PORT\n"
	    "      --syslog TARGET      ship every committed audit event to syslog\n"
	    "                           (RFC 5424), from the events committed after\n"
	    "                           start\n"
	    "      --syslog-format F    jsonl (default), ocsf or cef\n"
	    "      --syslog-from SEQ    ship from event SEQ instead\n"
	    "      --directory FILE     connectors, routes and notify settings\n"
	    "                           (docs/connectors.md); without it cases\n"
	    "                           are executed manually and no messages\n"
	    "                           are sent\n"
	    "      --public-audit       serve /v1/audit without a token\n"
	    "      --tls-cert FILE      serve HTTPS with this PEM certificate\n"
	    "                           (chain) and --tls-key FILE, its PEM key;\n"
	    "                           console cookies are then Secure\n"
	    "      --secure-cookies     console cookies get Secure without\n"
	    "                           --tls-*: for a reverse proxy that serves\n"
	    "                           the console over HTTPS\n"
	    "      --oidc FILE          console sign-in through an OpenID provider\n"
	    "                           (docs/console.md); local accounts work\n"
	    "                           either way\n"
	    "      --session-idle S     console sessions end after S seconds\n"
	    "                           unused (default 1800)\n"
	    "      --session-max S      ...and S seconds after sign-in whatever\n"
	    "                           happens (default 43200)\n"
	    "      --quiet              no access log on stderr\n" OPT_HELP},
	{"policy", "check", tk_cmd_policy_check, "FILE",
	    "parse a policy file and report the first error as file:line:col",
	    OPT_HELP},
	{"policy", "explain", tk_cmd_policy_explain,
	    "--db PATH --subject S --action A [--signal X]... [--ticket T]\n"
	    "       [--channel C] [--reason CODE] [--json]",
	    "show the tier, rule, owner and requirements for a request",
	    "      --db PATH            database created by `twokey init`\n"
	    "      --subject S          subject id from the org\n"
	    "      --action A           action name (e.g. mfa_reset)\n"
	    "      --signal X           context signal (repeatable)\n"
	    "      --ticket T           ticket or incident reference\n"
	    "      --channel C          intake channel (phone, chat, ...)\n"
	    "      --reason CODE        reason code\n" OPT_JSON OPT_HELP},
	{"policy", "load", tk_cmd_policy_load, "--db PATH FILE",
	    "validate a policy file and store it as the new version",
	    "      --db PATH            database created by `twokey init`\n"
	    OPT_HELP},
	{"audit", "verify", tk_cmd_audit_verify,
	    "--db PATH | --offline EXPORT --key KEY [--checkpoint FILE]",
	    "recompute every audit leaf and the Merkle tree, check every signed "
	    "checkpoint",
	    "      --db PATH            database created by `twokey init`\n"
	    "      --offline EXPORT     a bundle from `twokey audit export\n"
	    "                           --format bundle` (- for stdin); no\n"
	    "                           database or server is used\n"
	    "      --key KEY|FILE       trusted verifier key (repeatable)\n"
	    "      --checkpoint FILE    a signed checkpoint kept from earlier:\n"
	    "                           the log must still match it\n"
	    "      --mirror FILE        checkpoint copy to hold the database to\n"
	    "                           (default PATH.checkpoints)\n"
	    "      --no-mirror          do not read the checkpoint copy\n"
	    OPT_HELP},
	{"audit", "key", tk_cmd_audit_key,
	    "--db PATH [--rotate --origin NAME]",
	    "print the audit log's verifier key (or start a new key and origin)",
	    "      --db PATH            database created by `twokey init`\n"
	    "      --rotate             create a new signing key; the old\n"
	    "                           public key stays listed\n"
	    "      --origin NAME        the new key's origin (required with\n"
	    "                           --rotate)\n" OPT_HELP},
	{"audit", "checkpoint", tk_cmd_audit_checkpoint, "--db PATH",
	    "sign a checkpoint of the log now (the server also does it)",
	    "      --db PATH            database created by `twokey init`\n"
	    OPT_HELP},
	{"audit", "prove", tk_cmd_audit_prove, "--db PATH [--out FILE] CASE_ID",
	    "write a receipt: the case's events with inclusion proofs to a "
	    "signed checkpoint",
	    "      --db PATH            database created by `twokey init`\n"
	    "      --out FILE           write FILE instead of stdout\n"
	    OPT_HELP},
	{"audit", "check", tk_cmd_audit_check, "--key KEY RECEIPT",
	    "verify a receipt offline against the log's verifier key",
	    "      --key KEY|FILE       trusted verifier key (repeatable)\n"
	    OPT_HELP},
	{"audit", "export", tk_cmd_audit_export,
	    "--db PATH [--format jsonl|ocsf|cef|bundle] [--since SEQ|TIME] "
	    "[--out FILE]",
	    "write audit events for a SIEM, one per line (docs/siem.md)",
	    "      --db PATH            database created by `twokey init`\n"
	    "      --format F           jsonl (default), ocsf or cef; bundle =\n"
	    "                           the whole log with its checkpoints for\n"
	    "                           `audit verify --offline`\n"
	    "      --since SEQ|TIME     from this sequence number, or from this\n"
	    "                           RFC 3339 time (2026-11-23T09:30:00Z)\n"
	    "      --out FILE           write FILE (replaced only on success)\n"
	    OPT_HELP},
	/* ---- API client commands ---- */
	{"case", "open", tk_cmd_case_open,
	    "--subject S --action A [--channel C] [--ticket T] [--reason CODE]\n"
	    "       [--justification J] [--signal X]... [--param K=V]...\n"
	    "       [--delivery CONTACT] [-q] [--json]",
	    "open a case for a sensitive identity change",
	    "      --subject S          subject id\n"
	    "      --action A           action name (e.g. password_reset)\n"
	    "      --channel C          intake channel: phone, chat, email, portal...\n"
	    "      --ticket T           ticket or incident reference\n"
	    "      --reason CODE        reason code from the policy\n"
	    "      --justification J    why the change is needed\n"
	    "      --signal X           context signal (repeatable)\n"
	    "      --param K=V          action parameter (repeatable)\n"
	    "      --delivery CONTACT   contact on file for a credential\n"
	    "  -q, --quiet              print only the new case id\n"
	    OPT_JSON OPT_HELP},
	{"case", "show", tk_cmd_case_show, "ID [--json]",
	    "show a case with its evidence, approvals, missing items and timeline",
	    OPT_JSON OPT_HELP},
	{"case", "list", tk_cmd_case_list,
	    "[--queue Q] [--state S] [--subject S] [--limit N] [--json]",
	    "list cases",
	    "      --queue Q            password, mfa, reactivation, nhi, role, profile\n"
	    "      --state S            a state name, or `open`\n"
	    "      --subject S          subject id\n"
	    "      --limit N            at most N cases (1-500)\n"
	    OPT_JSON OPT_HELP},
	{"case", "evidence", tk_cmd_case_evidence,
	    "ID --method M [--contact C] [--result pass|fail] [--reference R]\n"
	    "       [--code CODE]",
	    "record a verification of the requester's identity",
	    "      --method M           callback_on_file, manager_attestation,\n"
	    "                           id_document, video_call; or\n"
	    "                           registered_factor with --code\n"
	    "      --code CODE          the TOTP code the subject reads from\n"
	    "                           their enrolled authenticator\n"
	    "      --contact C          the contact on file used\n"
	    "      --result pass|fail   outcome (default pass)\n"
	    "      --reference R        call id, note or document reference\n"
	    OPT_JSON OPT_HELP},
	{"case", "confirm", tk_cmd_case_confirm, "ID --contact C",
	    "send the subject a one-time confirmation (out_of_band)",
	    "      --contact C          a contact on file (e-mail or phone)\n"
	    OPT_JSON OPT_HELP},
	{"case", "signal", tk_cmd_case_signal, "ID --signal X",
	    "report a new risk signal (extends a running hold)",
	    "      --signal X           e.g. unusual_geo, new_device\n"
	    OPT_JSON OPT_HELP},
	{"case", "resolve", tk_cmd_case_resolve,
	    "ID --outcome done|not_done --note N",
	    "settle an outcome_unknown case or confirm pending revocations",
	    "      --outcome O          done (the change is in the target) or\n"
	    "                           not_done\n"
	    "      --note N             what you checked, and where\n"
	    OPT_JSON OPT_HELP},
	{"case", "approve", tk_cmd_case_approve, "ID [--comment C]",
	    "approve a case", "      --comment C          comment\n"
	    OPT_JSON OPT_HELP},
	{"case", "deny", tk_cmd_case_deny, "ID [--comment C]",
	    "deny a case", "      --comment C          comment\n"
	    OPT_JSON OPT_HELP},
	{"case", "patch", tk_cmd_case_patch,
	    "ID [--subject S] [--action A] [--ticket T] [--channel C]\n"
	    "       [--reason CODE] [--justification J] [--delivery D]\n"
	    "       [--signal X]... [--no-signals] [--param K=V]...",
	    "change a case; a material change voids evidence and approvals",
	    "      --subject S, --action A, --ticket T, --channel C,\n"
	    "      --reason CODE, --justification J, --delivery D\n"
	    "                           set that field\n"
	    "      --signal X           replace the signals (repeatable)\n"
	    "      --no-signals         clear the signals\n"
	    "      --param K=V          replace the parameters (repeatable)\n"
	    OPT_JSON OPT_HELP},
	{"case", "execute", tk_cmd_case_execute,
	    "ID [--connector NAME|auto|manual] [--note N] [--revoked LIST]",
	    "make the change through its connector, or attest it (manual)",
	    "      --connector NAME     the routed connector (default when the\n"
	    "                           directory routes the action), or\n"
	    "                           manual: you made the change yourself\n"
	    "      --note N             manual: what was done, and where\n"
	    "      --revoked LIST       manual: revocations performed,\n"
	    "                           comma-separated\n"
	    OPT_JSON OPT_HELP},
	{"case", "cancel", tk_cmd_case_cancel, "ID --reason R",
	    "cancel a case", "      --reason R           why\n"
	    OPT_JSON OPT_HELP},
	{"case", "break-glass", tk_cmd_case_break_glass,
	    "ID --incident I --justification J",
	    "declare an emergency: skip the hold, lower the approvals, alert",
	    "      --incident I         incident reference\n"
	    "      --justification J    why this cannot wait\n"
	    OPT_JSON OPT_HELP},
	{"case", "review", tk_cmd_case_review,
	    "ID --outcome confirmed|unauthorized --comment C",
	    "complete a post-event review",
	    "      --outcome O          confirmed or unauthorized\n"
	    "      --comment C          findings\n" OPT_JSON OPT_HELP},
	{NULL, "me", tk_cmd_me, "[--json]",
	    "show who the token belongs to and what it may do",
	    OPT_JSON OPT_HELP},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
print_cmd_name(const tk_cli_cmd *c, FILE *f)
{
	if (c->group != NULL)
		(void)fprintf(f, "%s %s", c->group, c->name);
	else
		(void)fprintf(f, "%s", c->name);
}

void
tk_cli_usage(const tk_cli_cmd *cmd, FILE *f)
{
	(void)fprintf(f, "usage: twokey ");
	print_cmd_name(cmd, f);
	(void)fprintf(f, " %s\n\n%s\n", cmd->synopsis, cmd->summary);
	if (cmd->options != NULL)
		(void)fprintf(f, "\noptions:\n%s", cmd->options);
}

int
tk_cli_usage_error(const tk_cli_cmd *cmd, const char *msg)
{
	if (msg != NULL)
		(void)fprintf(stderr, "twokey: %s\n", msg);
	tk_cli_usage(cmd, stderr);
	return TK_EXIT_USAGE;
}

static void
usage(FILE *f)
{
	size_t i;
	int w;

	(void)fprintf(f,
	    "usage: twokey [--json] COMMAND [OPTIONS] [ARGS]\n"
	    "       twokey --help | --version\n\n"
	    "twokey governs sensitive identity changes: proven, approved by\n"
	    "more than one function, delayed when risky, and audited.\n\n"
	    "Admin commands (on the server host):\n");
	for (i = 0; i < NCOMMANDS; i++) {
		if (commands[i].run == tk_cmd_case_open)
			(void)fprintf(f, "\nAPI commands (TWOKEY_URL, TWOKEY_TOKEN):\n");
		w = 20 - (int)strlen(commands[i].name);
		if (commands[i].group != NULL)
			w -= (int)strlen(commands[i].group) + 1;
		if (w < 1)
			w = 1;
		(void)fprintf(f, "  ");
		print_cmd_name(&commands[i], f);
		(void)fprintf(f, "%*s%s\n", w, "", commands[i].summary);
	}
	(void)fprintf(f,
	    "\nRun `twokey COMMAND --help` for a command's options; see twokey(1).\n"
	    "Exit codes: 0 ok, 1 failed, 2 usage, 3 server unreachable,\n"
	    "4 not authenticated.\n");
}

static bool
is_group(const char *word)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		if (commands[i].group != NULL &&
		    strcmp(commands[i].group, word) == 0)
			return true;
	return false;
}

static void
group_usage(const char *group, FILE *f)
{
	size_t i;

	(void)fprintf(f, "usage: twokey %s SUBCOMMAND ...\n\n", group);
	for (i = 0; i < NCOMMANDS; i++) {
		if (commands[i].group == NULL ||
		    strcmp(commands[i].group, group) != 0)
			continue;
		(void)fprintf(f, "  twokey %s %s %s\n", group, commands[i].name,
		    commands[i].synopsis);
	}
	(void)fprintf(f, "\nRun `twokey %s SUBCOMMAND --help` for details.\n",
	    group);
}

int
main(int argc, char **argv)
{
	int i = 1, rc;
	size_t k;
	const char *group = NULL, *name;

	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return TK_EXIT_OK;
		}
		if (strcmp(argv[i], "--version") == 0 ||
		    strcmp(argv[i], "-V") == 0) {
			(void)printf("twokey %s\n", TK_VERSION);
			return TK_EXIT_OK;
		}
		if (strcmp(argv[i], "--json") == 0) {
			tk_cli_json = 1;
			i++;
			continue;
		}
		(void)fprintf(stderr, "twokey: unknown option '%s'\n", argv[i]);
		usage(stderr);
		return TK_EXIT_USAGE;
	}
	if (i >= argc) {
		usage(stderr);
		return TK_EXIT_USAGE;
	}
	if (strcmp(argv[i], "help") == 0) {
		usage(stdout);
		return TK_EXIT_OK;
	}
	name = argv[i];
	if (is_group(argv[i])) {
		group = argv[i];
		if (i + 1 >= argc) {
			group_usage(group, stderr);
			return TK_EXIT_USAGE;
		}
		if (strcmp(argv[i + 1], "--help") == 0 ||
		    strcmp(argv[i + 1], "-h") == 0) {
			group_usage(group, stdout);
			return TK_EXIT_OK;
		}
		name = argv[++i];
	}
	for (k = 0; k < NCOMMANDS; k++) {
		const tk_cli_cmd *c = &commands[k];

		if ((c->group == NULL) != (group == NULL))
			continue;
		if (group != NULL && strcmp(c->group, group) != 0)
			continue;
		if (strcmp(c->name, name) != 0)
			continue;
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			(void)fprintf(stderr, "error: cannot initialise libcurl\n");
			return TK_EXIT_FAIL;
		}
		rc = c->run(c, argc - i, argv + i);
		curl_global_cleanup();
		(void)fflush(stdout);
		return rc;
	}
	if (group != NULL) {
		(void)fprintf(stderr, "twokey: unknown command '%s %s'\n", group,
		    name);
		group_usage(group, stderr);
	} else {
		(void)fprintf(stderr, "twokey: unknown command '%s'\n", name);
		usage(stderr);
	}
	return TK_EXIT_USAGE;
}
