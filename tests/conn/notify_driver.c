/*
 * notify_driver.c - test-only: loads a directory file and sends one
 * message to one contact through its notify section, so the integration
 * tests can check e-mail and SMS against real servers (the SMTP sink and
 * the SMS gateway in tests/servers) and see the directory file's errors.
 *
 * Usage: notify_driver DIRECTORY.yaml CONTACT SUBJECT TEXT
 * Prints {"sent": true} or {"sent": false, "status", "message"} and exits
 * 0 sent, 1 not sent, 3 usage or directory file error (message on
 * stderr).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "connectors/directory.h"
#include "verify/notify.h"

int
main(int argc, char **argv)
{
	tk_directory *d;
	tk_message m;
	tk_error err;
	json_t *out;
	char *s;
	int rc;

	if (argc != 5) {
		fprintf(stderr, "usage: notify_driver DIRECTORY.yaml CONTACT "
		    "SUBJECT TEXT\n");
		return 3;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		fprintf(stderr, "notify_driver: out of memory\n");
		return 3;
	}
	memset(&err, 0, sizeof(err));
	if (tk_directory_load(argv[1], d, &err) != 0) {
		fprintf(stderr, "notify_driver: %s\n", err.msg);
		free(d);
		return 3;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "notify_driver: cannot initialise libcurl\n");
		free(d);
		return 3;
	}
	m.to = argv[2];
	m.subject = argv[3];
	m.text = argv[4];
	rc = tk_notify_send(&d->notify, argv[2], &m, &err);
	curl_global_cleanup();
	free(d);
	if (rc == 0)
		out = json_pack("{s:b}", "sent", 1);
	else
		out = json_pack("{s:b, s:s, s:s}", "sent", 0, "status",
		    tk_status_code(err.status), "message", err.msg);
	s = out != NULL ? json_dumps(out, JSON_COMPACT) : NULL;
	if (s == NULL) {
		fprintf(stderr, "notify_driver: out of memory\n");
		json_decref(out);
		return 3;
	}
	printf("%s\n", s);
	free(s);
	json_decref(out);
	if (rc != 0)
		fprintf(stderr, "notify_driver: %s\n", err.msg);
	return rc == 0 ? 0 : 1;
}
