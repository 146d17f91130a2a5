/*
 * test_witness.c - unit tests for the tlog-witness client
 * (audit/witness.c): the URL=KEY configuration string, the add-checkpoint
 * body, and the check of a witness's answer (a valid cosignature/v1 line
 * kept, lines by other keys ignored, a wrong key, a hostile or malformed
 * answer, a date from the future refused), plus a request to a loopback
 * port where nothing listens. The exchange with a real witness process
 * is tests/integration/test_witness.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "audit/note.h"
#include "audit/witness.h"

#define NOW ((tk_time)1790000000)
#define EM "\xE2\x80\x94 "

/* A log signer, a witness signer and a signed checkpoint of size 5 whose
 * root is 32 bytes of root_byte. */
struct fixture {
	tk_note_signer log, wit;
	char wvkey[TK_NOTE_VKEY_MAX];
	char body[TK_CHECKPOINT_BASE_MAX];
	size_t body_len;
	char *note;
	size_t note_len;
};

static void
fixture_make(struct fixture *f, unsigned char root_byte)
{
	tk_checkpoint cp;
	tk_error e;

	memset(f, 0, sizeof(*f));
	assert_int_equal(tk_note_signer_generate("example.com/log",
	    TK_NOTE_ALG_ED25519, &f->log, &e), 0);
	assert_int_equal(tk_note_signer_generate("witness.example/w1",
	    TK_NOTE_ALG_COSIG_V1, &f->wit, &e), 0);
	assert_int_equal(tk_note_vkey_format(&f->wit.key, f->wvkey,
	    sizeof(f->wvkey), &e), 0);
	memset(&cp, 0, sizeof(cp));
	(void)tk_strlcpy(cp.origin, "example.com/log", sizeof(cp.origin));
	cp.size = 5;
	memset(cp.root, root_byte, sizeof(cp.root));
	assert_int_equal(tk_checkpoint_format(&cp, f->body, sizeof(f->body),
	    &f->body_len, &e), 0);
	assert_int_equal(tk_note_sign(f->body, f->body_len, &f->log, 1, NOW,
	    &f->note, &f->note_len, &e), 0);
}

static void
fixture_free(struct fixture *f)
{
	free(f->note);
	tk_note_signer_wipe(&f->log);
	tk_note_signer_wipe(&f->wit);
}

/* The cosignature line signer s makes for f's checkpoint at time t,
 * with its newline, into out. */
static void
cosign_line(const struct fixture *f, const tk_note_signer *s, tk_time t,
    char *out, size_t size)
{
	char *all = NULL;
	size_t len;
	tk_error e;

	assert_int_equal(tk_note_add_signature(f->note, f->note_len, s, t,
	    &all, &len, &e), 0);
	assert_true(len > f->note_len);
	assert_true(len - f->note_len < size);
	memcpy(out, all + f->note_len, len - f->note_len);
	out[len - f->note_len] = '\0';
	free(all);
}

static void
test_parse(void **state)
{
	struct fixture f;
	char spec[1200], lvkey[TK_NOTE_VKEY_MAX];
	tk_witness w;
	tk_error e;

	(void)state;
	fixture_make(&f, 0xab);
	(void)snprintf(spec, sizeof(spec), "https://w.example/a/b///=%s",
	    f.wvkey);
	assert_int_equal(tk_witness_parse(spec, &w, &e), 0);
	assert_string_equal(w.url, "https://w.example/a/b");
	assert_string_equal(w.vkey, f.wvkey);
	assert_int_equal(w.key.alg, TK_NOTE_ALG_COSIG_V1);
	assert_string_equal(w.key.name, "witness.example/w1");

	/* '=' in the URL: the split is where a key follows */
	(void)snprintf(spec, sizeof(spec), "http://w.example/x=y=%s", f.wvkey);
	assert_int_equal(tk_witness_parse(spec, &w, &e), 0);
	assert_string_equal(w.url, "http://w.example/x=y");

	assert_int_equal(tk_note_vkey_format(&f.log.key, lvkey, sizeof(lvkey),
	    &e), 0);
	(void)snprintf(spec, sizeof(spec), "http://w.example=%s", lvkey);
	assert_int_equal(tk_witness_parse(spec, &w, &e), -1);
	assert_non_null(strstr(e.msg, "0x04"));

	assert_int_equal(tk_witness_parse("http://w.example", &w, &e), -1);
	assert_int_equal(tk_witness_parse(NULL, &w, &e), -1);
	(void)snprintf(spec, sizeof(spec), "ftp://w.example=%s", f.wvkey);
	assert_int_equal(tk_witness_parse(spec, &w, &e), -1);
	(void)snprintf(spec, sizeof(spec), "http://w.example/?q=%s", f.wvkey);
	assert_int_equal(tk_witness_parse(spec, &w, &e), -1);
	(void)snprintf(spec, sizeof(spec), "http://w.exa mple=%s", f.wvkey);
	assert_int_equal(tk_witness_parse(spec, &w, &e), -1);
	(void)snprintf(spec, sizeof(spec), "http://=%s", f.wvkey);
	assert_int_equal(tk_witness_parse(spec, &w, &e), -1);
	(void)snprintf(spec, sizeof(spec), "http://w.example=%sx", f.wvkey);
	assert_int_equal(tk_witness_parse(spec, &w, &e), -1);
	{
		char longurl[700];

		memset(longurl, 'a', sizeof(longurl));
		memcpy(longurl, "http://", 7);
		longurl[sizeof(longurl) - 1] = '\0';
		(void)snprintf(spec, sizeof(spec), "%s=%s", longurl, f.wvkey);
		assert_int_equal(tk_witness_parse(spec, &w, &e), -1);
	}
	fixture_free(&f);
}

static void
test_body(void **state)
{
	unsigned char proof[64 * 32];
	struct fixture f;
	char *b = NULL;
	size_t len;
	tk_error e;

	(void)state;
	fixture_make(&f, 0xab);
	assert_int_equal(tk_witness_body(0, NULL, 0, f.note, f.note_len, &b,
	    &len, &e), 0);
	assert_int_equal(len, 7 + f.note_len);
	assert_memory_equal(b, "old 0\n\n", 7);
	assert_memory_equal(b + 7, f.note, f.note_len);
	free(b);

	memset(proof, 0, sizeof(proof));
	proof[0] = 0xff;
	assert_int_equal(tk_witness_body(3, proof, 2, f.note, f.note_len, &b,
	    &len, &e), 0);
	assert_string_equal(strstr(b, "\n\n") + 2, f.note);
	assert_memory_equal(b, "old 3\n/wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n", 6 + 45 + 45 + 1);
	free(b);

	assert_int_equal(tk_witness_body(3, proof, 64, f.note, f.note_len, &b,
	    &len, &e), -1);
	assert_null(b);
	assert_int_equal(tk_witness_body(3, proof, 1, f.note, f.note_len - 1,
	    &b, &len, &e), -1);
	assert_int_equal(tk_witness_body(3, NULL, 1, f.note, f.note_len, &b,
	    &len, &e), -1);
	fixture_free(&f);
}

static void
test_reply(void **state)
{
	struct fixture f;
	tk_note_signer other, same_name;
	char spec[600], good[512], bad[512], two[1200], line[TK_WITNESS_LINE_MAX];
	tk_witness w;
	tk_time ts;
	tk_error e;

	(void)state;
	fixture_make(&f, 0xab);
	(void)snprintf(spec, sizeof(spec), "http://127.0.0.1:9=%s", f.wvkey);
	assert_int_equal(tk_witness_parse(spec, &w, &e), 0);

	cosign_line(&f, &f.wit, NOW - 5, good, sizeof(good));
	assert_int_equal(tk_witness_check_reply(&w, f.note, f.note_len, good,
	    strlen(good), NOW, line, sizeof(line), &ts, &e), 0);
	assert_int_equal(ts, NOW - 5);
	assert_int_equal(strlen(line) + 1, strlen(good));
	assert_memory_equal(line, good, strlen(line));

	/* a line by another witness first is ignored */
	assert_int_equal(tk_note_signer_generate("witness.example/w9",
	    TK_NOTE_ALG_COSIG_V1, &other, &e), 0);
	cosign_line(&f, &other, NOW, bad, sizeof(bad));
	(void)snprintf(two, sizeof(two), "%s%s", bad, good);
	assert_int_equal(tk_witness_check_reply(&w, f.note, f.note_len, two,
	    strlen(two), NOW, line, sizeof(line), &ts, &e), 0);
	assert_memory_equal(line, good, strlen(line));

	/* only other keys: refused */
	assert_int_equal(tk_witness_check_reply(&w, f.note, f.note_len, bad,
	    strlen(bad), NOW, line, sizeof(line), &ts, &e), -1);
	assert_non_null(strstr(e.msg, "no valid cosignature"));

	/* the witness's name with another key: refused */
	assert_int_equal(tk_note_signer_generate("witness.example/w1",
	    TK_NOTE_ALG_COSIG_V1, &same_name, &e), 0);
	cosign_line(&f, &same_name, NOW, bad, sizeof(bad));
	assert_int_equal(tk_witness_check_reply(&w, f.note, f.note_len, bad,
	    strlen(bad), NOW, line, sizeof(line), &ts, &e), -1);

	/* a forged signature by the right key id: refused */
	(void)tk_strlcpy(bad, good, sizeof(bad));
	bad[strlen(bad) - 4] = bad[strlen(bad) - 4] == 'A' ? 'B' : 'A';
	assert_int_equal(tk_witness_check_reply(&w, f.note, f.note_len, bad,
	    strlen(bad), NOW, line, sizeof(line), &ts, &e), -1);

	/* two lines by the witness: refused */
	(void)snprintf(two, sizeof(two), "%s%s", good, good);
	assert_int_equal(tk_witness_check_reply(&w, f.note, f.note_len, two,
	    strlen(two), NOW, line, sizeof(line), &ts, &e), -1);

	/* from the future */
	cosign_line(&f, &f.wit, NOW + TK_WITNESS_SKEW + 1, bad, sizeof(bad));
	assert_int_equal(tk_witness_check_reply(&w, f.note, f.note_len, bad,
	    strlen(bad), NOW, line, sizeof(line), &ts, &e), -1);
	assert_non_null(strstr(e.msg, "after our clock"));

	/* not signature lines, no final newline, empty, NUL inside */
	(void)snprintf(two, sizeof(two), "%shello\n", good);
	assert_int_equal(tk_witness_check_reply(&w, f.note, f.note_len, two,
	    strlen(two), NOW, line, sizeof(line), &ts, &e), -1);
	assert_int_equal(tk_witness_check_reply(&w, f.note, f.note_len, good,
	    strlen(good) - 1, NOW, line, sizeof(line), &ts, &e), -1);
	assert_int_equal(tk_witness_check_reply(&w, f.note, f.note_len, "", 0,
	    NOW, line, sizeof(line), &ts, &e), -1);
	(void)tk_strlcpy(two, good, sizeof(two));
	two[10] = '\0';
	assert_int_equal(tk_witness_check_reply(&w, f.note, f.note_len, two,
	    strlen(good), NOW, line, sizeof(line), &ts, &e), -1);
	assert_int_equal(tk_witness_check_reply(&w, f.note, f.note_len,
	    EM "\n", strlen(EM "\n"), NOW, line, sizeof(line), &ts, &e), -1);

	/* a cosignature of another checkpoint */
	{
		struct fixture g;

		fixture_make(&g, 0xcd);
		cosign_line(&g, &f.wit, NOW, bad, sizeof(bad));
		assert_int_equal(tk_witness_check_reply(&w, f.note, f.note_len,
		    bad, strlen(bad), NOW, line, sizeof(line), &ts, &e), -1);
		fixture_free(&g);
	}
	tk_note_signer_wipe(&other);
	tk_note_signer_wipe(&same_name);
	fixture_free(&f);
}

static void
test_unreachable(void **state)
{
	struct fixture f;
	char spec[600];
	tk_witness_result r;
	tk_witness w;
	tk_error e;

	(void)state;
	fixture_make(&f, 0xab);
	(void)snprintf(spec, sizeof(spec), "http://127.0.0.1:1=%s", f.wvkey);
	assert_int_equal(tk_witness_parse(spec, &w, &e), 0);
	assert_int_equal(tk_witness_add_checkpoint(&w, 0, NULL, 0, f.note,
	    f.note_len, NOW, 2000, NULL, &r, &e), 0);
	assert_int_equal(r.outcome, TK_WITNESS_UNREACHABLE);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.msg, "cannot reach"));
	assert_int_equal(tk_witness_add_checkpoint(&w, 0, NULL, 0, f.note,
	    f.note_len, NOW, 5, NULL, &r, &e), -1);
	fixture_free(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_reply),
		cmocka_unit_test(test_unreachable),
	};
	int rc;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
