/*
 * note.c - signed checkpoints for the audit log: Ed25519 through OpenSSL
 * 3, and the C2SP signed-note, tlog-checkpoint and tlog-cosignature
 * formats (see note.h for the formats and the contract).
 *
 * Owns: strict codecs for the pieces of those formats (UTF-8 and name
 * rules, canonical base64, hex key ids), key strings, note signing and
 * verification, checkpoint bodies and cosignature/v1 messages. Pure: no
 * I/O, no clock, no global state. Seeds are wiped from every temporary
 * buffer before it goes out of scope.
 */
#include "audit/note.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/b64.h"

/* Fills err and evaluates to -1, for `return FAIL(err, ...)`. */
#define FAIL(err, status, ...) (tk_fail((err), (status), __VA_ARGS__), -1)

#define DASH "\xE2\x80\x94 " /* U+2014 em dash and a space */
#define DASH_LEN 4
#define NAME_LEN_MAX (TK_NOTE_NAME_MAX - 1)
#define COSIG_HEADER "cosignature/v1\ntime "
#define SIG_PAYLOAD_ED25519 (TK_NOTE_KEY_ID_LEN + TK_ED25519_SIG_LEN)
#define SIG_PAYLOAD_COSIG (TK_NOTE_KEY_ID_LEN + 8 + TK_ED25519_SIG_LEN)
#define SIG_PAYLOAD_MAX SIG_PAYLOAD_COSIG
/* DASH, a name, a space, base64 of the longest payload, a newline. */
#define SIG_LINE_MAX (DASH_LEN + NAME_LEN_MAX + 1 + \
	(SIG_PAYLOAD_MAX + 2) / 3 * 4 + 1)
#define KEY_RAW_LEN (1 + TK_ED25519_PUB_LEN) /* alg || key */
#define SKEY_PREFIX "PRIVATE+KEY+"

static const unsigned char empty_msg[1] = {0};

/* ---- Small strict codecs ---- */

/* Parses exactly 8 hex digits (either case) into 4 bytes. */
static int
hex8_decode(const char *s, size_t len, unsigned char id[4])
{
	size_t i;
	int hi, lo;

	if (len != 8)
		return -1;
	for (i = 0; i < 4; i++) {
		hi = (unsigned char)s[2 * i];
		lo = (unsigned char)s[2 * i + 1];
		hi = hi >= '0' && hi <= '9' ? hi - '0' :
		    hi >= 'a' && hi <= 'f' ? hi - 'a' + 10 :
		    hi >= 'A' && hi <= 'F' ? hi - 'A' + 10 : -1;
		lo = lo >= '0' && lo <= '9' ? lo - '0' :
		    lo >= 'a' && lo <= 'f' ? lo - 'a' + 10 :
		    lo >= 'A' && lo <= 'F' ? lo - 'A' + 10 : -1;
		if (hi < 0 || lo < 0)
			return -1;
		id[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static void
id_hex(const unsigned char id[4], char out[9])
{
	tk_hex_encode(id, 4, out);
}

/*
 * Decodes one UTF-8 sequence at s (n > 0 bytes available); returns its
 * length with *cp set, or 0 when malformed: a bad lead or continuation
 * byte, truncated, overlong, a surrogate or above U+10FFFF.
 */
static size_t
utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len, i;
	uint32_t v, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		len = 2;
		v = s[0] & 0x1F;
		min = 0x80;
	} else if ((s[0] & 0xF0) == 0xE0) {
		len = 3;
		v = s[0] & 0x0F;
		min = 0x800;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		len = 4;
		v = s[0] & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3F);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return len;
}

/* Unicode White_Space (what Go's unicode.IsSpace reports). */
static bool
is_space(uint32_t c)
{
	return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 ||
	    c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
	    c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
	    c == 0x3000;
}

/*
 * Text of a note or checkpoint: valid UTF-8 and no control character
 * below U+0020 other than '\n' (NUL included). what names the text in
 * the message.
 */
static int
check_text(const char *s, size_t len, const char *what, tk_error *err)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;
	uint32_t cp;

	while (i < len) {
		k = utf8_next(p + i, len - i, &cp);
		if (k == 0)
			return FAIL(err, TK_ERR_INVALID,
			    "%s is not valid UTF-8 (bad sequence at byte %zu)",
			    what, i);
		if (cp < 0x20 && cp != '\n')
			return FAIL(err, TK_ERR_INVALID,
			    "%s contains control character 0x%02x at byte %zu; "
			    "only newline is allowed", what, (unsigned)cp, i);
		i += k;
	}
	return 0;
}

/*
 * Key name rules: non-empty valid UTF-8 without '+', Unicode spaces or
 * control characters; at most NAME_LEN_MAX bytes when capped (names in
 * foreign signature lines are bounded by the note instead).
 */
static int
check_name(const char *s, size_t len, bool capped, const char *what,
    tk_error *err)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;
	uint32_t cp;

	if (len == 0)
		return FAIL(err, TK_ERR_INVALID, "%s is empty", what);
	if (capped && len > NAME_LEN_MAX)
		return FAIL(err, TK_ERR_INVALID,
		    "%s is %zu bytes long; at most %d are allowed", what, len,
		    NAME_LEN_MAX);
	while (i < len) {
		k = utf8_next(p + i, len - i, &cp);
		if (k == 0)
			return FAIL(err, TK_ERR_INVALID,
			    "%s is not valid UTF-8", what);
		if (cp == '+')
			return FAIL(err, TK_ERR_INVALID,
			    "%s contains '+' at byte %zu; key names may not",
			    what, i);
		if (is_space(cp) || cp < 0x20)
			return FAIL(err, TK_ERR_INVALID,
			    "%s contains a space or control character at byte "
			    "%zu; key names may not", what, i);
		i += k;
	}
	return 0;
}

bool
tk_note_name_valid(const char *name)
{
	return name != NULL &&
	    check_name(name, strnlen(name, TK_NOTE_NAME_MAX), true, "name",
	    NULL) == 0;
}

static int
check_alg(uint8_t alg, tk_error *err)
{
	if (alg != TK_NOTE_ALG_ED25519 && alg != TK_NOTE_ALG_COSIG_V1)
		return FAIL(err, TK_ERR_INVALID,
		    "unknown signature algorithm 0x%02x: twokey knows 0x01 "
		    "(Ed25519 note signatures) and 0x04 (Ed25519 "
		    "cosignature/v1)", alg);
	return 0;
}

static void
put_be64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (unsigned char)v;
		v >>= 8;
	}
}

static uint64_t
get_be64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* ---- Ed25519 ---- */

static EVP_PKEY *
ed_private(const unsigned char seed[TK_ED25519_SEED_LEN], tk_error *err)
{
	EVP_PKEY *pk;

	pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
	    TK_ED25519_SEED_LEN);
	if (pk == NULL)
		(void)tk_fail(err, TK_ERR_INTERNAL,
		    "OpenSSL could not load an Ed25519 private key");
	return pk;
}

int
tk_ed25519_public(const unsigned char seed[TK_ED25519_SEED_LEN],
    unsigned char pub[TK_ED25519_PUB_LEN], tk_error *err)
{
	EVP_PKEY *pk;
	size_t n = TK_ED25519_PUB_LEN;
	bool ok;

	if ((pk = ed_private(seed, err)) == NULL)
		return -1;
	ok = EVP_PKEY_get_raw_public_key(pk, pub, &n) == 1 &&
	    n == TK_ED25519_PUB_LEN;
	EVP_PKEY_free(pk); /* OpenSSL wipes its copy of the seed */
	if (!ok)
		return FAIL(err, TK_ERR_INTERNAL,
		    "OpenSSL could not derive an Ed25519 public key");
	return 0;
}

int
tk_ed25519_keygen(unsigned char seed[TK_ED25519_SEED_LEN],
    unsigned char pub[TK_ED25519_PUB_LEN], tk_error *err)
{
	if (RAND_bytes(seed, TK_ED25519_SEED_LEN) != 1) {
		OPENSSL_cleanse(seed, TK_ED25519_SEED_LEN);
		return FAIL(err, TK_ERR_INTERNAL,
		    "the random generator failed; no key was made");
	}
	if (tk_ed25519_public(seed, pub, err) != 0) {
		OPENSSL_cleanse(seed, TK_ED25519_SEED_LEN);
		return -1;
	}
	return 0;
}

int
tk_ed25519_sign(const unsigned char seed[TK_ED25519_SEED_LEN],
    const void *msg, size_t len, unsigned char sig[TK_ED25519_SIG_LEN],
    tk_error *err)
{
	EVP_PKEY *pk;
	EVP_MD_CTX *ctx;
	size_t n = TK_ED25519_SIG_LEN;
	bool ok;

	if (msg == NULL && len > 0)
		return FAIL(err, TK_ERR_INVALID, "no message to sign");
	if ((pk = ed_private(seed, err)) == NULL)
		return -1;
	ctx = EVP_MD_CTX_new();
	ok = ctx != NULL &&
	    EVP_DigestSignInit(ctx, NULL, NULL, NULL, pk) == 1 &&
	    EVP_DigestSign(ctx, sig, &n, msg != NULL ? msg : empty_msg,
	    len) == 1 && n == TK_ED25519_SIG_LEN;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	if (!ok) {
		OPENSSL_cleanse(sig, TK_ED25519_SIG_LEN);
		return FAIL(err, TK_ERR_INTERNAL, "OpenSSL Ed25519 signing failed");
	}
	return 0;
}

int
tk_ed25519_verify(const unsigned char pub[TK_ED25519_PUB_LEN],
    const void *msg, size_t len, const unsigned char sig[TK_ED25519_SIG_LEN],
    tk_error *err)
{
	EVP_PKEY *pk;
	EVP_MD_CTX *ctx;
	int rc;

	if (msg == NULL && len > 0)
		return FAIL(err, TK_ERR_INVALID, "no message to verify");
	pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub,
	    TK_ED25519_PUB_LEN);
	if (pk == NULL)
		return FAIL(err, TK_ERR_INVALID,
		    "not a usable Ed25519 public key");
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL || EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) != 1) {
		EVP_MD_CTX_free(ctx);
		EVP_PKEY_free(pk);
		return FAIL(err, TK_ERR_INTERNAL,
		    "OpenSSL could not start an Ed25519 verification");
	}
	rc = EVP_DigestVerify(ctx, sig, TK_ED25519_SIG_LEN,
	    msg != NULL ? msg : empty_msg, len);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	if (rc != 1)
		return FAIL(err, TK_ERR_INVALID,
		    "Ed25519 signature does not verify");
	return 0;
}

/* ---- Keys ---- */

int
tk_note_key_id(const char *name, uint8_t alg,
    const unsigned char pub[TK_ED25519_PUB_LEN],
    unsigned char id[TK_NOTE_KEY_ID_LEN], tk_error *err)
{
	unsigned char buf[NAME_LEN_MAX + 2 + TK_ED25519_PUB_LEN];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t n;

	n = strnlen(name, TK_NOTE_NAME_MAX);
	if (check_name(name, n, true, "key name", err) != 0)
		return -1;
	memcpy(buf, name, n);
	buf[n] = '\n';
	buf[n + 1] = alg;
	memcpy(buf + n + 2, pub, TK_ED25519_PUB_LEN);
	if (EVP_Digest(buf, n + 2 + TK_ED25519_PUB_LEN, md, &mdlen,
	    EVP_sha256(), NULL) != 1 || mdlen != 32)
		return FAIL(err, TK_ERR_INTERNAL, "OpenSSL SHA-256 failed");
	memcpy(id, md, TK_NOTE_KEY_ID_LEN);
	return 0;
}

int
tk_note_key_from_public(const char *name, uint8_t alg,
    const unsigned char pub[TK_ED25519_PUB_LEN], tk_note_key *k,
    tk_error *err)
{
	tk_note_key tmp;
	size_t n;

	/* Built aside, so name or pub may point into *k. */
	memset(&tmp, 0, sizeof(tmp));
	n = strnlen(name, TK_NOTE_NAME_MAX);
	if (check_alg(alg, err) != 0 ||
	    check_name(name, n, true, "key name", err) != 0) {
		memset(k, 0, sizeof(*k));
		return -1;
	}
	memcpy(tmp.name, name, n);
	tmp.alg = alg;
	memcpy(tmp.pub, pub, TK_ED25519_PUB_LEN);
	if (tk_note_key_id(tmp.name, alg, tmp.pub, tmp.id, err) != 0) {
		memset(k, 0, sizeof(*k));
		return -1;
	}
	*k = tmp;
	return 0;
}

void
tk_note_signer_wipe(tk_note_signer *s)
{
	if (s != NULL)
		OPENSSL_cleanse(s, sizeof(*s));
}

int
tk_note_signer_from_seed(const char *name, uint8_t alg,
    const unsigned char seed[TK_ED25519_SEED_LEN], tk_note_signer *s,
    tk_error *err)
{
	tk_note_signer tmp;
	unsigned char pub[TK_ED25519_PUB_LEN];
	int rc = -1;

	/* Built aside, so name or seed may point into *s. */
	memcpy(tmp.seed, seed, TK_ED25519_SEED_LEN);
	if (tk_ed25519_public(tmp.seed, pub, err) == 0 &&
	    tk_note_key_from_public(name, alg, pub, &tmp.key, err) == 0) {
		*s = tmp;
		rc = 0;
	} else {
		tk_note_signer_wipe(s);
	}
	tk_note_signer_wipe(&tmp);
	return rc;
}

int
tk_note_signer_generate(const char *name, uint8_t alg, tk_note_signer *s,
    tk_error *err)
{
	unsigned char seed[TK_ED25519_SEED_LEN], pub[TK_ED25519_PUB_LEN];
	int rc;

	if (check_alg(alg, err) != 0 ||
	    check_name(name, strnlen(name, TK_NOTE_NAME_MAX), true,
	    "key name", err) != 0 ||
	    tk_ed25519_keygen(seed, pub, err) != 0) {
		tk_note_signer_wipe(s);
		return -1;
	}
	rc = tk_note_signer_from_seed(name, alg, seed, s, err);
	OPENSSL_cleanse(seed, sizeof(seed));
	return rc;
}

/* Writes "<name>+<hex id>+<base64(alg || key32)>" after prefix. */
static int
key_string(const char *prefix, const tk_note_key *k,
    const unsigned char key32[32], char *out, size_t size, tk_error *err)
{
	unsigned char raw[KEY_RAW_LEN];
	char b64[TK_B64_LEN(KEY_RAW_LEN) + 1], hex[9];
	int n;

	if (check_alg(k->alg, err) != 0 ||
	    check_name(k->name, strnlen(k->name, TK_NOTE_NAME_MAX), true,
	    "key name", err) != 0)
		return -1;
	raw[0] = k->alg;
	memcpy(raw + 1, key32, 32);
	tk_b64_encode(raw, sizeof(raw), b64);
	id_hex(k->id, hex);
	n = snprintf(out, size, "%s%s+%s+%s", prefix, k->name, hex, b64);
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(b64, sizeof(b64));
	if (n < 0 || (size_t)n >= size) {
		if (size > 0)
			OPENSSL_cleanse(out, size);
		return FAIL(err, TK_ERR_TOO_LARGE,
		    "key string needs %d bytes; the buffer has %zu", n + 1,
		    size);
	}
	return 0;
}

int
tk_note_vkey_format(const tk_note_key *k, char *out, size_t size,
    tk_error *err)
{
	unsigned char id[TK_NOTE_KEY_ID_LEN];

	/* Refuse a key whose id does not belong to it. */
	if (check_alg(k->alg, err) != 0 ||
	    tk_note_key_id(k->name, k->alg, k->pub, id, err) != 0)
		return -1;
	if (memcmp(id, k->id, sizeof(id)) != 0)
		return FAIL(err, TK_ERR_INVALID,
		    "key %s has a key id that does not match its public key",
		    k->name);
	return key_string("", k, k->pub, out, size, err);
}

int
tk_note_skey_format(const tk_note_signer *s, char *out, size_t size,
    tk_error *err)
{
	unsigned char pub[TK_ED25519_PUB_LEN], id[TK_NOTE_KEY_ID_LEN];

	if (tk_ed25519_public(s->seed, pub, err) != 0 ||
	    check_alg(s->key.alg, err) != 0 ||
	    tk_note_key_id(s->key.name, s->key.alg, pub, id, err) != 0)
		return -1;
	if (CRYPTO_memcmp(pub, s->key.pub, sizeof(pub)) != 0 ||
	    CRYPTO_memcmp(id, s->key.id, sizeof(id)) != 0)
		return FAIL(err, TK_ERR_INVALID,
		    "signer %s: its public key or key id does not match its "
		    "seed", s->key.name);
	return key_string(SKEY_PREFIX, &s->key, s->seed, out, size, err);
}

/*
 * Splits "<name>+<hex>+<base64>" (s of len bytes) and checks the name
 * and hex; the base64 part may itself contain '+'. what names the
 * string in messages.
 */
static int
key_split(const char *s, size_t len, const char *what, size_t *name_len,
    unsigned char id[4], const char **b64, size_t *b64_len_out,
    tk_error *err)
{
	const char *p1, *p2, *end = s + len;

	p1 = memchr(s, '+', len);
	p2 = p1 != NULL ? memchr(p1 + 1, '+', (size_t)(end - p1 - 1)) : NULL;
	if (p2 == NULL)
		return FAIL(err, TK_ERR_INVALID,
		    "%s is not of the form <name>+<8 hex key id>+<base64 key>",
		    what);
	*name_len = (size_t)(p1 - s);
	if (check_name(s, *name_len, true, "key name", err) != 0)
		return -1;
	if (hex8_decode(p1 + 1, (size_t)(p2 - p1 - 1), id) != 0)
		return FAIL(err, TK_ERR_INVALID,
		    "%s: the key id must be exactly 8 hex digits", what);
	*b64 = p2 + 1;
	*b64_len_out = (size_t)(end - p2 - 1);
	return 0;
}

/* Decodes the base64 "alg || 32 bytes" part of a key string into raw. */
static int
key_raw(const char *b64, size_t len, const char *what,
    unsigned char raw[KEY_RAW_LEN], tk_error *err)
{
	size_t n;

	if (tk_b64_decode(b64, len, raw, KEY_RAW_LEN, &n) != 0) {
		OPENSSL_cleanse(raw, KEY_RAW_LEN);
		return FAIL(err, TK_ERR_INVALID,
		    "%s: the key is not canonical standard base64 with padding",
		    what);
	}
	if (n != KEY_RAW_LEN) {
		OPENSSL_cleanse(raw, KEY_RAW_LEN);
		return FAIL(err, TK_ERR_INVALID,
		    "%s: the key decodes to %zu bytes; want %d (an algorithm "
		    "byte and a 32-byte Ed25519 key)", what, n, KEY_RAW_LEN);
	}
	if (check_alg(raw[0], err) != 0) {
		OPENSSL_cleanse(raw, KEY_RAW_LEN);
		return -1;
	}
	return 0;
}

int
tk_note_vkey_parse(const char *s, tk_note_key *k, tk_error *err)
{
	unsigned char raw[KEY_RAW_LEN], id[TK_NOTE_KEY_ID_LEN];
	char name[TK_NOTE_NAME_MAX], want[9], got[9];
	const char *b64;
	size_t len, name_len, blen;

	memset(k, 0, sizeof(*k));
	len = strnlen(s, TK_NOTE_VKEY_MAX);
	if (len == TK_NOTE_VKEY_MAX)
		return FAIL(err, TK_ERR_TOO_LARGE,
		    "verifier key is longer than %d bytes", TK_NOTE_VKEY_MAX - 1);
	if (key_split(s, len, "verifier key", &name_len, id, &b64, &blen,
	    err) != 0 || key_raw(b64, blen, "verifier key", raw, err) != 0)
		return -1;
	memcpy(name, s, name_len);
	name[name_len] = '\0';
	if (tk_note_key_from_public(name, raw[0], raw + 1, k, err) != 0)
		return -1;
	if (memcmp(id, k->id, sizeof(id)) != 0) {
		id_hex(id, got);
		id_hex(k->id, want);
		memset(k, 0, sizeof(*k));
		return FAIL(err, TK_ERR_INVALID,
		    "verifier key: key id %s does not match the key (its id "
		    "is %s)", got, want);
	}
	return 0;
}

int
tk_note_skey_parse(const char *s, tk_note_signer *out, tk_error *err)
{
	unsigned char raw[KEY_RAW_LEN], id[TK_NOTE_KEY_ID_LEN];
	char name[TK_NOTE_NAME_MAX];
	const char *b64;
	size_t len, name_len, blen, plen = strlen(SKEY_PREFIX);
	int rc = -1;

	tk_note_signer_wipe(out);
	len = strnlen(s, TK_NOTE_SKEY_MAX);
	if (len == TK_NOTE_SKEY_MAX)
		return FAIL(err, TK_ERR_TOO_LARGE,
		    "private key is longer than %d bytes", TK_NOTE_SKEY_MAX - 1);
	if (len < plen || memcmp(s, SKEY_PREFIX, plen) != 0)
		return FAIL(err, TK_ERR_INVALID,
		    "private key does not start with \"PRIVATE+KEY+\"");
	if (key_split(s + plen, len - plen, "private key", &name_len, id,
	    &b64, &blen, err) != 0 ||
	    key_raw(b64, blen, "private key", raw, err) != 0)
		return -1;
	memcpy(name, s + plen, name_len);
	name[name_len] = '\0';
	if (tk_note_signer_from_seed(name, raw[0], raw + 1, out, err) != 0)
		goto done;
	/* The id is derived from the secret seed: compare in constant time. */
	if (CRYPTO_memcmp(id, out->key.id, sizeof(id)) != 0) {
		tk_note_signer_wipe(out);
		(void)tk_fail(err, TK_ERR_INVALID,
		    "private key: the key id does not match the key");
		goto done;
	}
	rc = 0;
done:
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(id, sizeof(id));
	return rc;
}

/* ---- tlog-checkpoint ---- */

int
tk_checkpoint_parse(const char *body, size_t len, tk_checkpoint *cp,
    tk_error *err)
{
	const char *p = body, *end = body + len, *nl, *ext;
	size_t n, i, lines;
	uint64_t size = 0;
	unsigned d;

	memset(cp, 0, sizeof(*cp));
	if (len > TK_NOTE_MAX_LEN)
		return FAIL(err, TK_ERR_TOO_LARGE,
		    "checkpoint is %zu bytes; at most %d are allowed", len,
		    TK_NOTE_MAX_LEN);
	if (check_text(body, len, "checkpoint", err) != 0)
		return -1;
	if (len == 0 || body[len - 1] != '\n')
		return FAIL(err, TK_ERR_INVALID,
		    "checkpoint does not end with a newline");
	for (lines = 0, i = 0; i < len; i++)
		lines += body[i] == '\n';
	if (lines < 3)
		return FAIL(err, TK_ERR_INVALID,
		    "checkpoint has %zu line%s; it needs an origin, a tree size "
		    "and a root hash", lines, lines == 1 ? "" : "s");

	/* Origin. */
	nl = memchr(p, '\n', (size_t)(end - p));
	n = (size_t)(nl - p);
	if (n == 0)
		return FAIL(err, TK_ERR_INVALID, "checkpoint origin is empty");
	if (n > NAME_LEN_MAX)
		return FAIL(err, TK_ERR_INVALID,
		    "checkpoint origin is %zu bytes; twokey accepts at most %d",
		    n, NAME_LEN_MAX);
	memcpy(cp->origin, p, n);
	cp->origin[n] = '\0';
	p = nl + 1;

	/* Tree size. */
	nl = memchr(p, '\n', (size_t)(end - p));
	n = (size_t)(nl - p);
	if (n == 0)
		return FAIL(err, TK_ERR_INVALID, "checkpoint tree size is empty");
	for (i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return FAIL(err, TK_ERR_INVALID,
			    "checkpoint tree size must be decimal digits only, "
			    "without sign or spaces");
	if (n > 1 && p[0] == '0')
		return FAIL(err, TK_ERR_INVALID,
		    "checkpoint tree size \"%.*s\" has a leading zero",
		    (int)(n > 40 ? 40 : n), p);
	for (i = 0; i < n; i++) {
		d = (unsigned)(p[i] - '0');
		if (size > (UINT64_MAX - d) / 10)
			return FAIL(err, TK_ERR_INVALID,
			    "checkpoint tree size does not fit in 64 bits");
		size = size * 10 + d;
	}
	cp->size = size;
	p = nl + 1;

	/* Root hash. */
	nl = memchr(p, '\n', (size_t)(end - p));
	n = (size_t)(nl - p);
	if (n != TK_B64_LEN(32) || tk_b64_decode(p, n, cp->root, sizeof(cp->root),
	    &i) != 0 || i != 32)
		return FAIL(err, TK_ERR_INVALID,
		    "checkpoint root hash must be 44 characters of canonical "
		    "base64 encoding 32 bytes");
	p = nl + 1;

	/* Extension lines: opaque, each non-empty. */
	ext = p;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == p)
			return FAIL(err, TK_ERR_INVALID,
			    "checkpoint has an empty extension line");
		p = nl + 1;
	}
	if (ext < end) {
		cp->ext = ext;
		cp->ext_len = (size_t)(end - ext);
	}
	return 0;
}

int
tk_checkpoint_format(const tk_checkpoint *cp, char *out, size_t size,
    size_t *out_len, tk_error *err)
{
	char root[TK_B64_LEN(32) + 1];
	size_t olen, i;
	int n;

	olen = strnlen(cp->origin, sizeof(cp->origin));
	if (check_name(cp->origin, olen, true, "checkpoint origin", err) != 0)
		return -1;
	if (cp->ext_len > 0) {
		if (cp->ext == NULL || cp->ext_len > TK_NOTE_MAX_LEN)
			return FAIL(err, TK_ERR_INVALID,
			    "checkpoint extension lines are missing or too long");
		if (check_text(cp->ext, cp->ext_len, "checkpoint extension",
		    err) != 0)
			return -1;
		if (cp->ext[cp->ext_len - 1] != '\n')
			return FAIL(err, TK_ERR_INVALID,
			    "checkpoint extension lines must end with a newline");
		for (i = 0; i < cp->ext_len; i++)
			if (cp->ext[i] == '\n' && (i == 0 ||
			    cp->ext[i - 1] == '\n'))
				return FAIL(err, TK_ERR_INVALID,
				    "checkpoint has an empty extension line");
	}
	tk_b64_encode(cp->root, 32, root);
	n = snprintf(out, size, "%s\n%" PRIu64 "\n%s\n", cp->origin, cp->size,
	    root);
	if (n < 0 || (size_t)n + cp->ext_len >= size)
		return FAIL(err, TK_ERR_TOO_LARGE,
		    "checkpoint needs %zu bytes; the buffer has %zu",
		    (n < 0 ? 0 : (size_t)n) + cp->ext_len + 1, size);
	if (cp->ext_len > 0)
		memcpy(out + n, cp->ext, cp->ext_len);
	out[(size_t)n + cp->ext_len] = '\0';
	if (out_len != NULL)
		*out_len = (size_t)n + cp->ext_len;
	return 0;
}

/* ---- tlog-cosignature ---- */

/* Builds "cosignature/v1\ntime <ts>\n" || body into a malloc'd buffer,
 * after checking body is a checkpoint. */
static unsigned char *
cosig_message(const char *body, size_t len, tk_time ts, size_t *mlen,
    tk_error *err)
{
	tk_checkpoint cp;
	tk_error perr;
	char head[64];
	unsigned char *m;
	int n;

	if (ts < 0) {
		(void)tk_fail(err, TK_ERR_INVALID,
		    "cosignature time %" PRId64 " is before 1970", ts);
		return NULL;
	}
	if (tk_checkpoint_parse(body, len, &cp, &perr) != 0) {
		(void)tk_fail(err, perr.status,
		    "a cosignature covers a checkpoint, and this note text is "
		    "not one: %s", perr.msg);
		return NULL;
	}
	n = snprintf(head, sizeof(head), COSIG_HEADER "%" PRId64 "\n", ts);
	if (n < 0 || (size_t)n >= sizeof(head) ||
	    (m = malloc((size_t)n + len)) == NULL) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "out of memory");
		return NULL;
	}
	memcpy(m, head, (size_t)n);
	memcpy(m + n, body, len);
	*mlen = (size_t)n + len;
	return m;
}

int
tk_cosig_sign(const unsigned char seed[TK_ED25519_SEED_LEN],
    const char *body, size_t len, tk_time timestamp,
    unsigned char sig[TK_ED25519_SIG_LEN], tk_error *err)
{
	unsigned char *m;
	size_t mlen;
	int rc;

	if ((m = cosig_message(body, len, timestamp, &mlen, err)) == NULL)
		return -1;
	rc = tk_ed25519_sign(seed, m, mlen, sig, err);
	free(m);
	return rc;
}

int
tk_cosig_verify(const unsigned char pub[TK_ED25519_PUB_LEN],
    const char *body, size_t len, tk_time timestamp,
    const unsigned char sig[TK_ED25519_SIG_LEN], tk_error *err)
{
	unsigned char *m;
	size_t mlen;
	int rc;

	if ((m = cosig_message(body, len, timestamp, &mlen, err)) == NULL)
		return -1;
	rc = tk_ed25519_verify(pub, m, mlen, sig, err);
	free(m);
	return rc;
}

/* ---- Signed notes ---- */

/* One signature line of a parsed note, pointing into the note. */
struct sigline {
	const char *name;
	size_t name_len;
	unsigned char id[TK_NOTE_KEY_ID_LEN];
	const char *b64;
	size_t b64_len;
	size_t payload_len; /* decoded bytes, key id included */
};

/*
 * Parses a note's structure (no signature is verified): checks the whole
 * note, finds the text (up to and including the '\n' before the last
 * blank line) and the signature lines, which go to lines[] (room for
 * TK_NOTE_MAX_SIGS).
 */
static int
note_split(const char *note, size_t len, size_t *text_len,
    struct sigline *lines, size_t *nlines, tk_error *err)
{
	const char *p, *end = note + len, *nl, *sp;
	unsigned char id[TK_NOTE_KEY_ID_LEN];
	size_t i, split, n = 0, plen;
	char what[48];

	*nlines = 0;
	if (len > TK_NOTE_MAX_LEN)
		return FAIL(err, TK_ERR_TOO_LARGE,
		    "note is %zu bytes; at most %d are allowed", len,
		    TK_NOTE_MAX_LEN);
	if (check_text(note, len, "note", err) != 0)
		return -1;
	/* The last "\n\n" separates text and signatures. */
	for (i = len; i >= 2; i--)
		if (note[i - 2] == '\n' && note[i - 1] == '\n')
			break;
	if (i < 2)
		return FAIL(err, TK_ERR_INVALID,
		    "note has no blank line between its text and signatures");
	split = i - 2;
	*text_len = split + 1;
	p = note + split + 2;
	if (p == end)
		return FAIL(err, TK_ERR_INVALID,
		    "note has no signature lines after its blank line");
	if (end[-1] != '\n')
		return FAIL(err, TK_ERR_INVALID,
		    "note's last signature line does not end with a newline "
		    "(truncated note?)");
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (++n > TK_NOTE_MAX_SIGS)
			return FAIL(err, TK_ERR_INVALID,
			    "note has more than %d signature lines",
			    TK_NOTE_MAX_SIGS);
		(void)snprintf(what, sizeof(what), "signature line %zu", n);
		if ((size_t)(nl - p) < DASH_LEN ||
		    memcmp(p, DASH, DASH_LEN) != 0)
			return FAIL(err, TK_ERR_INVALID,
			    "%s does not start with an em dash (U+2014) and a "
			    "space", what);
		p += DASH_LEN;
		sp = memchr(p, ' ', (size_t)(nl - p));
		if (sp == NULL)
			return FAIL(err, TK_ERR_INVALID,
			    "%s has no space between key name and signature",
			    what);
		(void)snprintf(what, sizeof(what), "key name in signature "
		    "line %zu", n);
		if (check_name(p, (size_t)(sp - p), false, what, err) != 0)
			return -1;
		lines[n - 1].name = p;
		lines[n - 1].name_len = (size_t)(sp - p);
		lines[n - 1].b64 = sp + 1;
		lines[n - 1].b64_len = (size_t)(nl - sp - 1);
		if (lines[n - 1].b64_len == 0 ||
		    tk_b64_decode(sp + 1, lines[n - 1].b64_len, id, sizeof(id),
		    &plen) != 0)
			return FAIL(err, TK_ERR_INVALID,
			    "signature line %zu: the signature is not canonical "
			    "standard base64 with padding", n);
		if (plen < TK_NOTE_KEY_ID_LEN + 1)
			return FAIL(err, TK_ERR_INVALID,
			    "signature line %zu is too short: %zu bytes, but a "
			    "key id and a signature need at least 5", n, plen);
		memcpy(lines[n - 1].id, id, sizeof(id));
		lines[n - 1].payload_len = plen;
		p = nl + 1;
	}
	*nlines = n;
	return 0;
}

static bool
line_is_key(const struct sigline *l, const tk_note_key *k)
{
	size_t n = strnlen(k->name, sizeof(k->name));

	return l->name_len == n && memcmp(l->name, k->name, n) == 0 &&
	    memcmp(l->id, k->id, TK_NOTE_KEY_ID_LEN) == 0;
}

/* Writes the signature line of signer over text into line (room for
 * SIG_LINE_MAX + 1 bytes); *line_len gets its length. */
static int
sig_line(const tk_note_signer *s, const char *text, size_t len, tk_time now,
    char *line, size_t *line_len, tk_error *err)
{
	unsigned char payload[SIG_PAYLOAD_MAX];
	char b64[TK_B64_LEN(SIG_PAYLOAD_MAX) + 1], hex[9];
	size_t plen;
	int n;

	if (check_alg(s->key.alg, err) != 0 ||
	    check_name(s->key.name, strnlen(s->key.name, TK_NOTE_NAME_MAX),
	    true, "signer's key name", err) != 0)
		return -1;
	memcpy(payload, s->key.id, TK_NOTE_KEY_ID_LEN);
	if (s->key.alg == TK_NOTE_ALG_ED25519) {
		if (tk_ed25519_sign(s->seed, text, len,
		    payload + TK_NOTE_KEY_ID_LEN, err) != 0)
			return -1;
		plen = SIG_PAYLOAD_ED25519;
	} else {
		if (tk_cosig_sign(s->seed, text, len, now,
		    payload + TK_NOTE_KEY_ID_LEN + 8, err) != 0)
			return -1;
		put_be64(payload + TK_NOTE_KEY_ID_LEN, (uint64_t)now);
		plen = SIG_PAYLOAD_COSIG;
	}
	tk_b64_encode(payload, plen, b64);
	n = snprintf(line, SIG_LINE_MAX + 1, DASH "%s %s\n", s->key.name, b64);
	if (n < 0 || n > SIG_LINE_MAX) {
		id_hex(s->key.id, hex);
		return FAIL(err, TK_ERR_INTERNAL,
		    "signature line for %s+%s did not fit", s->key.name, hex);
	}
	*line_len = (size_t)n;
	return 0;
}

/* Checks the text of a note to be signed. */
static int
check_note_text(const char *text, size_t len, tk_error *err)
{
	if (text == NULL || len == 0)
		return FAIL(err, TK_ERR_INVALID, "note text is empty");
	if (len > TK_NOTE_MAX_LEN)
		return FAIL(err, TK_ERR_TOO_LARGE,
		    "note text is %zu bytes; at most %d are allowed", len,
		    TK_NOTE_MAX_LEN);
	if (check_text(text, len, "note text", err) != 0)
		return -1;
	if (text[len - 1] != '\n')
		return FAIL(err, TK_ERR_INVALID,
		    "note text must end with a newline");
	return 0;
}

/* Appends signature lines for signers[0..n) of text to a copy of prefix
 * (the note so far, of plen bytes; sep adds the blank line). */
static int
append_sigs(const char *prefix, size_t plen, bool sep, const char *text,
    size_t tlen, const tk_note_signer *signers, size_t n, tk_time now,
    char **out, size_t *out_len, tk_error *err)
{
	char line[SIG_LINE_MAX + 1];
	size_t cap, len, llen, i;
	char *buf;

	*out = NULL;
	*out_len = 0;
	cap = plen + (sep ? 1 : 0) + n * SIG_LINE_MAX + 1;
	if ((buf = malloc(cap)) == NULL)
		return FAIL(err, TK_ERR_INTERNAL, "out of memory");
	memcpy(buf, prefix, plen);
	len = plen;
	if (sep)
		buf[len++] = '\n';
	for (i = 0; i < n; i++) {
		if (sig_line(&signers[i], text, tlen, now, line, &llen,
		    err) != 0) {
			free(buf);
			return -1;
		}
		memcpy(buf + len, line, llen);
		len += llen;
	}
	buf[len] = '\0';
	if (len > TK_NOTE_MAX_LEN) {
		free(buf);
		return FAIL(err, TK_ERR_TOO_LARGE,
		    "signed note would be %zu bytes; at most %d are allowed",
		    len, TK_NOTE_MAX_LEN);
	}
	*out = buf;
	*out_len = len;
	return 0;
}

int
tk_note_sign(const char *text, size_t len, const tk_note_signer *signers,
    size_t n, tk_time now, char **out, size_t *out_len, tk_error *err)
{
	size_t i, j;
	char hex[9];

	*out = NULL;
	*out_len = 0;
	if (check_note_text(text, len, err) != 0)
		return -1;
	if (n == 0 || n > TK_NOTE_MAX_SIGS)
		return FAIL(err, TK_ERR_INVALID,
		    "a note needs 1 to %d signers; %zu given", TK_NOTE_MAX_SIGS,
		    n);
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (strncmp(signers[i].key.name, signers[j].key.name,
			    TK_NOTE_NAME_MAX) == 0 &&
			    memcmp(signers[i].key.id, signers[j].key.id,
			    TK_NOTE_KEY_ID_LEN) == 0) {
				id_hex(signers[i].key.id, hex);
				return FAIL(err, TK_ERR_INVALID,
				    "signers %zu and %zu are the same key %s+%s",
				    i + 1, j + 1, signers[i].key.name, hex);
			}
	return append_sigs(text, len, true, text, len, signers, n, now, out,
	    out_len, err);
}

int
tk_note_add_signature(const char *note, size_t len,
    const tk_note_signer *signer, tk_time now, char **out, size_t *out_len,
    tk_error *err)
{
	struct sigline *lines;
	size_t text_len, nlines, i;
	char hex[9];

	*out = NULL;
	*out_len = 0;
	lines = calloc(TK_NOTE_MAX_SIGS, sizeof(*lines));
	if (lines == NULL)
		return FAIL(err, TK_ERR_INTERNAL, "out of memory");
	if (note_split(note, len, &text_len, lines, &nlines, err) != 0) {
		free(lines);
		return -1;
	}
	for (i = 0; i < nlines; i++)
		if (line_is_key(&lines[i], &signer->key)) {
			free(lines);
			id_hex(signer->key.id, hex);
			return FAIL(err, TK_ERR_INVALID,
			    "note already carries a signature by %s+%s",
			    signer->key.name, hex);
		}
	free(lines);
	if (nlines >= TK_NOTE_MAX_SIGS)
		return FAIL(err, TK_ERR_INVALID,
		    "note already has %d signatures, the most allowed",
		    TK_NOTE_MAX_SIGS);
	return append_sigs(note, len, false, note, text_len, signer, 1, now,
	    out, out_len, err);
}

/* Verifies one signature line l by known key k over text. */
static int
verify_line(const struct sigline *l, const tk_note_key *k, const char *text,
    size_t text_len, tk_note_result *r, tk_error *err)
{
	unsigned char payload[SIG_PAYLOAD_MAX];
	size_t want, n;
	uint64_t ts;
	tk_error verr;
	char hex[9];

	id_hex(k->id, hex);
	want = k->alg == TK_NOTE_ALG_ED25519 ? SIG_PAYLOAD_ED25519 :
	    SIG_PAYLOAD_COSIG;
	if (l->payload_len != want)
		return FAIL(err, TK_ERR_INVALID,
		    "signature by %s+%s is %zu bytes; a %s is %zu",
		    k->name, hex, l->payload_len,
		    k->alg == TK_NOTE_ALG_ED25519 ? "key id and Ed25519 "
		    "signature" : "key id, timestamp and Ed25519 cosignature",
		    want);
	if (tk_b64_decode(l->b64, l->b64_len, payload, sizeof(payload), &n) != 0 ||
	    n != want)
		return FAIL(err, TK_ERR_INTERNAL, "signature decoded twice "
		    "differently");
	if (k->alg == TK_NOTE_ALG_ED25519) {
		if (tk_ed25519_verify(k->pub, text, text_len,
		    payload + TK_NOTE_KEY_ID_LEN, &verr) != 0)
			goto bad;
		r->ok = true;
		r->timestamp = -1;
		return 0;
	}
	ts = get_be64(payload + TK_NOTE_KEY_ID_LEN);
	if (ts > (uint64_t)INT64_MAX)
		return FAIL(err, TK_ERR_INVALID,
		    "cosignature by %s+%s has a timestamp above 2^63-1",
		    k->name, hex);
	if (tk_cosig_verify(k->pub, text, text_len, (tk_time)ts,
	    payload + TK_NOTE_KEY_ID_LEN + 8, &verr) != 0)
		goto bad;
	r->ok = true;
	r->timestamp = (tk_time)ts;
	return 0;
bad:
	if (verr.status == TK_ERR_INTERNAL)
		return FAIL(err, TK_ERR_INTERNAL, "%s", verr.msg);
	return FAIL(err, TK_ERR_INVALID,
	    "%s by known key %s+%s does not verify (%s); the note was "
	    "altered or not signed by that key", k->alg == TK_NOTE_ALG_ED25519 ?
	    "signature" : "cosignature", k->name, hex, verr.msg);
}

int
tk_note_verify(const char *note, size_t len, const tk_note_key *keys,
    size_t nkeys, tk_note_result *results, size_t *text_len, tk_error *err)
{
	tk_note_result res[TK_NOTE_MAX_SIGS];
	bool seen[TK_NOTE_MAX_SIGS];
	struct sigline *lines;
	size_t tlen, nlines, i, j, good = 0;
	unsigned char id[TK_NOTE_KEY_ID_LEN];
	char hex[9];
	int rc = -1;

	if (nkeys == 0 || nkeys > TK_NOTE_MAX_SIGS)
		return FAIL(err, TK_ERR_INVALID,
		    "verifying a note needs 1 to %d keys; %zu given",
		    TK_NOTE_MAX_SIGS, nkeys);
	for (i = 0; i < nkeys; i++) {
		if (check_alg(keys[i].alg, err) != 0 ||
		    tk_note_key_id(keys[i].name, keys[i].alg, keys[i].pub, id,
		    err) != 0)
			return -1;
		if (memcmp(id, keys[i].id, sizeof(id)) != 0)
			return FAIL(err, TK_ERR_INVALID,
			    "verifier key %zu (%s) has a key id that does not "
			    "match its public key", i + 1, keys[i].name);
		for (j = 0; j < i; j++)
			if (strcmp(keys[i].name, keys[j].name) == 0 &&
			    memcmp(keys[i].id, keys[j].id, sizeof(id)) == 0)
				return FAIL(err, TK_ERR_INVALID,
				    "verifier keys %zu and %zu have the same name "
				    "and key id", j + 1, i + 1);
		res[i].ok = false;
		res[i].timestamp = -1;
		seen[i] = false;
	}
	lines = calloc(TK_NOTE_MAX_SIGS, sizeof(*lines));
	if (lines == NULL)
		return FAIL(err, TK_ERR_INTERNAL, "out of memory");
	if (note_split(note, len, &tlen, lines, &nlines, err) != 0)
		goto done;
	for (i = 0; i < nlines; i++) {
		for (j = 0; j < nkeys; j++)
			if (line_is_key(&lines[i], &keys[j]))
				break;
		if (j == nkeys)
			continue; /* unknown key: ignored, as the spec says */
		if (seen[j]) {
			id_hex(keys[j].id, hex);
			(void)tk_fail(err, TK_ERR_INVALID,
			    "note carries more than one signature by %s+%s",
			    keys[j].name, hex);
			goto done;
		}
		seen[j] = true;
		if (verify_line(&lines[i], &keys[j], note, tlen, &res[j],
		    err) != 0)
			goto done;
		good++;
	}
	if (good == 0) {
		(void)tk_fail(err, TK_ERR_INVALID,
		    "note has no signature by a known key: none of its %zu "
		    "signature line%s is by one of the %zu keys given", nlines,
		    nlines == 1 ? "" : "s", nkeys);
		goto done;
	}
	if (results != NULL)
		memcpy(results, res, nkeys * sizeof(*results));
	if (text_len != NULL)
		*text_len = tlen;
	rc = 0;
done:
	free(lines);
	return rc;
}
