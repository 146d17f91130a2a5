/*
 * conn_driver.c - test-only: runs one connector operation outside the
 * engine, so the integration tests can check a connector against a real
 * server (slapd, the SCIM test server, a webhook sink) on its own.
 *
 * Usage: conn_driver CONFIG.json OP SUBJECT [--group G] [--secret S]
 *            [--idem KEY] [--case ID] [--kind person|nhi] [--status]
 * CONFIG.json is the tk_conn_config_from_json form. Prints
 * {"outcome","message"} and exits 0 done, 1 failed, 2 unknown, 3 usage
 * or configuration error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "connectors/connector.h"

int
main(int argc, char **argv)
{
	tk_conn_config cfg;
	tk_connector conn;
	tk_conn_result r;
	tk_change ch;
	tk_error err;
	json_error_t jerr;
	json_t *j, *out;
	char *text;
	bool status = false;
	int i, op;

	if (argc < 4) {
		fprintf(stderr, "usage: conn_driver CONFIG.json OP SUBJECT "
		    "[--group G] [--secret S] [--idem KEY] [--case ID] "
		    "[--kind K] [--status]\n");
		return 3;
	}
	op = tk_conn_op_parse(argv[2]);
	if (op < 0) {
		fprintf(stderr, "conn_driver: unknown operation %s\n", argv[2]);
		return 3;
	}
	memset(&ch, 0, sizeof(ch));
	ch.op = (enum tk_conn_op)op;
	ch.subject = argv[3];
	ch.subject_kind = "person";
	ch.case_id = "c_0000000000000000";
	ch.idem_key = "c_0000000000000000.1";
	ch.action = "test";
	ch.params = "{}";
	for (i = 4; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(argv[i], "--status") == 0) {
			status = true;
			continue;
		}
		if (v == NULL) {
			fprintf(stderr, "conn_driver: %s needs a value\n",
			    argv[i]);
			return 3;
		}
		if (strcmp(argv[i], "--group") == 0)
			ch.group = v;
		else if (strcmp(argv[i], "--secret") == 0)
			ch.secret = v;
		else if (strcmp(argv[i], "--idem") == 0)
			ch.idem_key = v;
		else if (strcmp(argv[i], "--case") == 0)
			ch.case_id = v;
		else if (strcmp(argv[i], "--kind") == 0)
			ch.subject_kind = v;
		else if (strcmp(argv[i], "--params") == 0)
			ch.params = v;
		else {
			fprintf(stderr, "conn_driver: unknown option %s\n",
			    argv[i]);
			return 3;
		}
		i++;
	}
	j = json_load_file(argv[1], 0, &jerr);
	if (j == NULL) {
		fprintf(stderr, "conn_driver: %s: %s\n", argv[1], jerr.text);
		return 3;
	}
	if (tk_conn_config_from_json(j, &cfg, &err) != 0 ||
	    tk_connector_open(&conn, &cfg, &err) != 0) {
		json_decref(j);
		fprintf(stderr, "conn_driver: %s\n", err.msg);
		return 3;
	}
	json_decref(j);
	if (status)
		tk_connector_status(&conn, &ch, &r);
	else
		tk_connector_apply(&conn, &ch, &r);
	tk_connector_close(&conn);
	out = json_pack("{s:s,s:s}", "outcome", tk_conn_outcome_name(r.outcome),
	    "message", r.message);
	text = out != NULL ? json_dumps(out, JSON_COMPACT) : NULL;
	json_decref(out);
	if (text == NULL) {
		fprintf(stderr, "conn_driver: out of memory\n");
		return 3;
	}
	printf("%s\n", text);
	free(text);
	return r.outcome == TK_CONN_DONE ? 0 :
	    r.outcome == TK_CONN_FAILED ? 1 : 2;
}
