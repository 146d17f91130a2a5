/*
 * app_fixture.h - what the app-layer unit tests share: reading a file
 * whole, and a database made as `twokey init` makes it (the demo org and
 * policy in their config rows and a store.initialized event at T0).
 * Static functions (a file may use only some) for the test and bench files
 * that include it; the file defines T0 before including it.
 */
#ifndef TK_TEST_APP_FIXTURE_H
#define TK_TEST_APP_FIXTURE_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

static __attribute__((unused)) char *
slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		(void)fclose(f);
		return NULL;
	}
	buf = malloc((size_t)n + 1);
	if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (buf != NULL)
		buf[n] = '\0';
	(void)fclose(f);
	return buf;
}

/* What `twokey init` does: config texts and a store.initialized event. */
/* The database at path with org_text as its org file (NULL: the demo
 * org) and the demo policy. */
static __attribute__((unused)) int
init_db_with(const char *path, const char *org_text)
{
	char *org = org_text != NULL ? strdup(org_text) :
	    slurp("examples/demo/org.yaml");
	char *pol = slurp("examples/demo/policy.yaml");
	tk_store *s = NULL;
	tk_event_row row;
	tk_error err;
	json_t *data = json_pack("{s:s}", "detail", "test database");
	int rc = -1;

	memset(&row, 0, sizeof(row));
	if (org == NULL || pol == NULL || data == NULL)
		goto out;
	s = tk_store_open(path, true, &err);
	if (s == NULL)
		goto out;
	if (tk_store_begin(s, &err) != 0 ||
	    tk_store_config_put(s, "org", org, &err) != 0 ||
	    tk_store_config_put(s, "policy", pol, &err) != 0 ||
	    tk_store_event_append(s, T0, "", "store.initialized", "system",
	    false, data, &row, &err) != 0 ||
	    tk_store_commit(s, &err) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0 && s != NULL)
		fprintf(stderr, "init: %s\n", err.msg);
	tk_event_row_clear(&row);
	json_decref(data);
	if (s != NULL)
		tk_store_close(s);
	free(org);
	free(pol);
	return rc;
}

static __attribute__((unused)) int
init_db(const char *path)
{
	return init_db_with(path, NULL);
}

#endif
