/*
 * test_oidc.c - unit tests for the console's OpenID Connect client
 * (web/oidc.c): ID token verification against keys made here with
 * OpenSSL (RS256 and ES256 accepted; none, HS256 keyed with the RSA
 * public key, bad signatures, wrong iss / aud / azp, expiry, future iat,
 * nonce, unknown kid, alg and key type mismatches, embedded keys, weak
 * keys and malformed tokens refused), and the configuration file's
 * checks (line:column messages, loopback-only http, secret file mode).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "core/b64.h"
#include "web/oidc.h"

#define ISS "https://idp.example.com"
#define CID "twokey-console"
#define NONCE "n-0S6_WzA2Mj"
#define NOW ((tk_time)1800000000)

static EVP_PKEY *rsa, *rsa_other, *rsa_weak, *ec, *ec_other;
static json_t *jwks;

/* ------------------------------------------------------------------ */
/* helpers: base64url, JWKs, signing */

static char *
b64u(const unsigned char *in, size_t n)
{
	char *t = malloc(TK_B64_LEN(n) + 1);
	size_t i, o = 0;

	assert_non_null(t);
	tk_b64_encode(in, n, t);
	for (i = 0; t[i] != '\0' && t[i] != '='; i++)
		t[o++] = t[i] == '+' ? '-' : t[i] == '/' ? '_' : t[i];
	t[o] = '\0';
	return t;
}

static char *
b64u_str(const char *s)
{
	return b64u((const unsigned char *)s, strlen(s));
}

static json_t *
bn_member(EVP_PKEY *k, const char *param, int pad)
{
	BIGNUM *bn = NULL;
	unsigned char buf[1024];
	int n;
	char *s;
	json_t *j;

	assert_int_equal(EVP_PKEY_get_bn_param(k, param, &bn), 1);
	n = pad > 0 ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
	assert_true(n > 0);
	BN_free(bn);
	s = b64u(buf, (size_t)n);
	j = json_string(s);
	free(s);
	return j;
}

static json_t *
rsa_jwk(EVP_PKEY *k, const char *kid)
{
	json_t *j = json_pack("{s:s, s:s, s:s}", "kty", "RSA", "use", "sig",
	    "alg", "RS256");

	if (kid != NULL)
		json_object_set_new(j, "kid", json_string(kid));
	json_object_set_new(j, "n", bn_member(k, OSSL_PKEY_PARAM_RSA_N, 0));
	json_object_set_new(j, "e", bn_member(k, OSSL_PKEY_PARAM_RSA_E, 0));
	return j;
}

static json_t *
ec_jwk(EVP_PKEY *k, const char *kid)
{
	json_t *j = json_pack("{s:s, s:s}", "kty", "EC", "crv", "P-256");

	if (kid != NULL)
		json_object_set_new(j, "kid", json_string(kid));
	json_object_set_new(j, "x", bn_member(k, OSSL_PKEY_PARAM_EC_PUB_X,
	    32));
	json_object_set_new(j, "y", bn_member(k, OSSL_PKEY_PARAM_EC_PUB_Y,
	    32));
	return j;
}

static json_t *
keyset(json_t *a, json_t *b)
{
	json_t *ks = json_array();

	if (a != NULL)
		json_array_append_new(ks, a);
	if (b != NULL)
		json_array_append_new(ks, b);
	return json_pack("{s:o}", "keys", ks);
}

/* Signs header.payload with k as alg ("RS256", "ES256"); returns the
 * signature's base64url. */
static char *
sign(EVP_PKEY *k, const char *alg, const char *input)
{
	unsigned char sig[1024], raw[64];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	const unsigned char *p;
	ECDSA_SIG *es;

	assert_non_null(md);
	assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k),
	    1);
	assert_int_equal(EVP_DigestSign(md, sig, &siglen,
	    (const unsigned char *)input, strlen(input)), 1);
	EVP_MD_CTX_free(md);
	if (strcmp(alg, "ES256") != 0)
		return b64u(sig, siglen);
	p = sig;
	es = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
	assert_non_null(es);
	assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32), 32);
	assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32), 32);
	ECDSA_SIG_free(es);
	return b64u(raw, 64);
}

/* The standard claims, at NOW. */
static json_t *
claims(void)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:I}",
	    "iss", ISS, "sub", "248289761001", "aud", CID,
	    "exp", (json_int_t)(NOW + 300), "iat", (json_int_t)NOW,
	    "nonce", NONCE, "preferred_username", "carol",
	    "auth_time", (json_int_t)(NOW - 10));
}

static json_t *
header(const char *alg, const char *kid)
{
	json_t *h = json_pack("{s:s, s:s}", "alg", alg, "typ", "JWT");

	if (kid != NULL)
		json_object_set_new(h, "kid", json_string(kid));
	return h;
}

/* header.payload (both consumed) signed with k (NULL: empty signature). */
static char *
token(json_t *h, json_t *c, EVP_PKEY *k, const char *alg)
{
	char *hs = json_dumps(h, JSON_COMPACT), *cs = json_dumps(c,
	    JSON_COMPACT);
	char *h64 = b64u_str(hs), *c64 = b64u_str(cs), *sig, *out;
	size_t n = strlen(h64) + strlen(c64) + 2048;

	out = malloc(n);
	assert_non_null(out);
	snprintf(out, n, "%s.%s", h64, c64);
	sig = k != NULL ? sign(k, alg, out) : strdup("");
	snprintf(out + strlen(out), n - strlen(out), ".%s", sig);
	free(hs);
	free(cs);
	free(h64);
	free(c64);
	free(sig);
	json_decref(h);
	json_decref(c);
	return out;
}

static char *
good_rs(void)
{
	return token(header("RS256", "rsa1"), claims(), rsa, "RS256");
}

static int
verify(const char *jwt, const json_t *ks, tk_time now, tk_error *err,
    json_t **out)
{
	memset(err, 0, sizeof(*err));
	return tk_oidc_verify_id_token(jwt, ks, ISS, CID, NONCE, now, out,
	    err);
}

/* Asserts that jwt is refused with a message containing want. */
static void
refused(char *jwt, const char *want)
{
	tk_error err;
	json_t *c = (json_t *)1;

	if (verify(jwt, jwks, NOW, &err, &c) == 0)
		fail_msg("accepted a token that should fail (%s)", want);
	assert_null(c);
	assert_int_equal(err.status, TK_ERR_UNAUTH);
	if (strstr(err.msg, want) == NULL)
		fail_msg("message \"%s\" does not say \"%s\"", err.msg, want);
	free(jwt);
}

static void
accepted(char *jwt)
{
	tk_error err;
	json_t *c = NULL;

	if (verify(jwt, jwks, NOW, &err, &c) != 0)
		fail_msg("good token refused: %s", err.msg);
	assert_non_null(c);
	assert_string_equal(json_string_value(json_object_get(c,
	    "preferred_username")), "carol");
	json_decref(c);
	free(jwt);
}

static int
setup(void **state)
{
	(void)state;
	rsa = EVP_RSA_gen(2048);
	rsa_other = EVP_RSA_gen(2048);
	rsa_weak = EVP_RSA_gen(1024);
	ec = EVP_EC_gen("P-256");
	ec_other = EVP_EC_gen("P-256");
	if (rsa == NULL || rsa_other == NULL || rsa_weak == NULL ||
	    ec == NULL || ec_other == NULL)
		return -1;
	jwks = keyset(rsa_jwk(rsa, "rsa1"), ec_jwk(ec, "ec1"));
	return jwks == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(rsa_other);
	EVP_PKEY_free(rsa_weak);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(ec_other);
	json_decref(jwks);
	return 0;
}

/* ------------------------------------------------------------------ */
/* accepted */

static void
test_good_rs256(void **state)
{
	(void)state;
	accepted(good_rs());
}

static void
test_good_es256(void **state)
{
	(void)state;
	accepted(token(header("ES256", "ec1"), claims(), ec, "ES256"));
}

static void
test_good_aud_array(void **state)
{
	json_t *c = claims();

	(void)state;
	json_object_set_new(c, "aud", json_pack("[s]", CID));
	accepted(token(header("RS256", "rsa1"), c, rsa, "RS256"));
	c = claims();
	json_object_set_new(c, "aud", json_pack("[s,s]", "other", CID));
	json_object_set_new(c, "azp", json_string(CID));
	accepted(token(header("RS256", "rsa1"), c, rsa, "RS256"));
}

static void
test_no_kid_single_key(void **state)
{
	json_t *ks = keyset(rsa_jwk(rsa, NULL), ec_jwk(ec, NULL));
	json_t *two = keyset(rsa_jwk(rsa, NULL), rsa_jwk(rsa_other, NULL));
	char *t = token(header("RS256", NULL), claims(), rsa, "RS256");
	tk_error err;

	(void)state;
	assert_int_equal(verify(t, ks, NOW, &err, NULL), 0);
	/* the same token against two RSA keys without kids */
	assert_int_equal(verify(t, two, NOW, &err, NULL), -1);
	assert_non_null(strstr(err.msg, "cannot tell which"));
	free(t);
	json_decref(ks);
	json_decref(two);
}

/* exp and iat are checked with 60 s of leeway, no more */
static void
test_leeway(void **state)
{
	char *t = good_rs();
	tk_error err;

	(void)state;
	assert_int_equal(verify(t, jwks, NOW + 300 + 60, &err, NULL), 0);
	assert_int_equal(verify(t, jwks, NOW + 300 + 61, &err, NULL), -1);
	assert_non_null(strstr(err.msg, "expired"));
	assert_int_equal(verify(t, jwks, NOW - 60, &err, NULL), 0);
	assert_int_equal(verify(t, jwks, NOW - 61, &err, NULL), -1);
	assert_non_null(strstr(err.msg, "future"));
	free(t);
}

/* ------------------------------------------------------------------ */
/* refused */

static void
test_alg_none(void **state)
{
	(void)state;
	refused(token(header("none", NULL), claims(), NULL, NULL),
	    "three non-empty parts");
	/* with something in the signature part */
	{
		char *t = token(header("none", NULL), claims(), NULL, NULL);
		size_t n = strlen(t);
		char *u = malloc(n + 8);

		snprintf(u, n + 8, "%sAAAA", t);
		free(t);
		refused(u, "alg none");
	}
	refused(token(header("None", "rsa1"), claims(), rsa, "RS256"),
	    "signed with None");
}

/* The classic confusion: HS256 keyed with the RSA public key's bytes. */
static void
test_hs256_with_public_key(void **state)
{
	json_t *h = header("HS256", "rsa1"), *c = claims();
	char *hs = json_dumps(h, JSON_COMPACT), *cs = json_dumps(c,
	    JSON_COMPACT), *h64 = b64u_str(hs), *c64 = b64u_str(cs);
	char input[4096], *mac64, *jwt;
	unsigned char mac[32], *pem;
	unsigned int maclen = sizeof(mac);
	BIO *bio = BIO_new(BIO_s_mem());
	long pemlen;

	(void)state;
	assert_int_equal(PEM_write_bio_PUBKEY(bio, rsa), 1);
	pemlen = BIO_get_mem_data(bio, (char **)&pem);
	snprintf(input, sizeof(input), "%s.%s", h64, c64);
	assert_non_null(HMAC(EVP_sha256(), pem, (int)pemlen,
	    (const unsigned char *)input, strlen(input), mac, &maclen));
	mac64 = b64u(mac, maclen);
	jwt = malloc(strlen(input) + strlen(mac64) + 2);
	snprintf(jwt, strlen(input) + strlen(mac64) + 2, "%s.%s", input,
	    mac64);
	refused(jwt, "signed with HS256");
	BIO_free(bio);
	free(hs);
	free(cs);
	free(h64);
	free(c64);
	free(mac64);
	json_decref(h);
	json_decref(c);
}

static void
test_wrong_signature(void **state)
{
	char *t;
	size_t n;

	(void)state;
	/* signed by another key under our kid */
	refused(token(header("RS256", "rsa1"), claims(), rsa_other, "RS256"),
	    "signature does not verify");
	refused(token(header("ES256", "ec1"), claims(), ec_other, "ES256"),
	    "signature does not verify");
	/* one signature character changed */
	t = good_rs();
	n = strlen(t);
	t[n - 5] = t[n - 5] == 'A' ? 'B' : 'A';
	refused(t, "signature does not verify");
	/* the claims changed after signing */
	{
		char *g = good_rs(), *d1 = strchr(g, '.');
		json_t *c = claims();
		char *cs, *c64, *out;

		json_object_set_new(c, "preferred_username",
		    json_string("admin"));
		cs = json_dumps(c, JSON_COMPACT);
		c64 = b64u_str(cs);
		out = malloc(strlen(g) + strlen(c64) + 8);
		snprintf(out, strlen(g) + strlen(c64) + 8, "%.*s.%s%s",
		    (int)(d1 - g), g, c64, strrchr(g, '.'));
		refused(out, "signature does not verify");
		free(g);
		free(cs);
		free(c64);
		json_decref(c);
	}
	/* ES256 signature of the wrong length (DER instead of r||s) */
	{
		char *g = token(header("ES256", "ec1"), claims(), ec, "ES256");
		char *dot = strrchr(g, '.');
		char *u = malloc(strlen(g) + 8);

		snprintf(u, strlen(g) + 8, "%.*s.AAAA%s", (int)(dot - g), g,
		    dot + 1);
		refused(u, "signature does not verify");
		free(g);
	}
}

static void
test_wrong_iss(void **state)
{
	json_t *c = claims();

	(void)state;
	json_object_set_new(c, "iss", json_string("https://evil.example"));
	refused(token(header("RS256", "rsa1"), c, rsa, "RS256"),
	    "issued by \"https://evil.example\"");
	c = claims();
	json_object_set_new(c, "iss", json_string(ISS "/"));
	refused(token(header("RS256", "rsa1"), c, rsa, "RS256"), "issued by");
	c = claims();
	json_object_del(c, "iss");
	refused(token(header("RS256", "rsa1"), c, rsa, "RS256"), "issued by");
}

static void
test_wrong_aud(void **state)
{
	json_t *c = claims();

	(void)state;
	json_object_set_new(c, "aud", json_string("another-client"));
	refused(token(header("RS256", "rsa1"), c, rsa, "RS256"),
	    "meant for \"another-client\"");
	c = claims();
	json_object_set_new(c, "aud", json_pack("[s,s]", "a", "b"));
	refused(token(header("RS256", "rsa1"), c, rsa, "RS256"),
	    "does not include");
	c = claims();
	json_object_del(c, "aud");
	refused(token(header("RS256", "rsa1"), c, rsa, "RS256"),
	    "no audience");
	c = claims();
	json_object_set_new(c, "aud", json_integer(5));
	refused(token(header("RS256", "rsa1"), c, rsa, "RS256"),
	    "no audience");
	/* azp naming another client */
	c = claims();
	json_object_set_new(c, "azp", json_string("other"));
	refused(token(header("RS256", "rsa1"), c, rsa, "RS256"), "azp");
}

static void
test_multi_aud_without_azp(void **state)
{
	json_t *c = claims();

	(void)state;
	json_object_set_new(c, "aud", json_pack("[s,s]", CID, "other"));
	refused(token(header("RS256", "rsa1"), c, rsa, "RS256"),
	    "several audiences");
}

static void
test_expired_and_future(void **state)
{
	json_t *c = claims();

	(void)state;
	json_object_set_new(c, "exp", json_integer(NOW - 61));
	refused(token(header("RS256", "rsa1"), c, rsa, "RS256"), "expired");
	c = claims();
	json_object_del(c, "exp");
	refused(token(header("RS256", "rsa1"), c, rsa, "RS256"),
	    "no expiry");
	c = claims();
	json_object_set_new(c, "exp", json_string("tomorrow"));
	refused(token(header("RS256", "rsa1"), c, rsa, "RS256"),
	    "bad expiry");
	c = claims();
	json_object_set_new(c, "exp", json_integer(INT64_MAX));
	refused(token(header("RS256", "rsa1"), c, rsa, "RS256"),
	    "bad expiry");
	c = claims();
	json_object_set_new(c, "exp", json_integer(INT64_MIN));
	refused(token(header("RS256", "rsa1"), c, rsa, "RS256"),
	    "bad expiry");
	c = claims();
	json_object_set_new(c, "exp", json_real(1e300));
	refused(token(header("RS256", "rsa1"), c, rsa, "RS256"),
	    "bad expiry");
	c = claims();
	json_object_set_new(c, "iat", json_integer(INT64_MIN));
	refused(token(header("RS256", "rsa1"), c, rsa, "RS256"),
	    "bad issue time");
	c = claims();
	json_object_set_new(c, "exp", json_real((double)NOW + 300.5));
	accepted(token(header("RS256", "rsa1"), c, rsa, "RS256"));
	c = claims();
	json_object_set_new(c, "iat", json_integer(NOW + 61));
	refused(token(header("RS256", "rsa1"), c, rsa, "RS256"), "future");
	c = claims();
	json_object_del(c, "iat");
	refused(token(header("RS256", "rsa1"), c, rsa, "RS256"),
	    "no issue time");
	c = claims();
	json_object_set_new(c, "nbf", json_integer(NOW + 120));
	refused(token(header("RS256", "rsa1"), c, rsa, "RS256"),
	    "not valid yet");
}

static void
test_no_sub(void **state)
{
	json_t *c = claims();

	(void)state;
	json_object_del(c, "sub");
	refused(token(header("RS256", "rsa1"), c, rsa, "RS256"),
	    "no subject");
	c = claims();
	json_object_set_new(c, "sub", json_integer(7));
	refused(token(header("RS256", "rsa1"), c, rsa, "RS256"),
	    "no subject");
}

static void
test_nonce(void **state)
{
	json_t *c = claims();

	(void)state;
	json_object_set_new(c, "nonce", json_string("n-0S6_WzA2Mk"));
	refused(token(header("RS256", "rsa1"), c, rsa, "RS256"), "nonce");
	c = claims();
	json_object_del(c, "nonce");
	refused(token(header("RS256", "rsa1"), c, rsa, "RS256"), "nonce");
	c = claims();
	json_object_set_new(c, "nonce", json_string(NONCE "x"));
	refused(token(header("RS256", "rsa1"), c, rsa, "RS256"), "nonce");
}

static void
test_unknown_kid(void **state)
{
	(void)state;
	refused(token(header("RS256", "rsa2"), claims(), rsa, "RS256"),
	    "key \"rsa2\", which the provider does not publish");
	/* an encryption key under the kid is not a signing key */
	{
		json_t *k = rsa_jwk(rsa, "enc1"), *ks;
		char *t = token(header("RS256", "enc1"), claims(), rsa,
		    "RS256");
		tk_error err;

		json_object_set_new(k, "use", json_string("enc"));
		ks = keyset(k, NULL);
		assert_int_equal(verify(t, ks, NOW, &err, NULL), -1);
		assert_non_null(strstr(err.msg, "does not publish"));
		json_decref(ks);
		free(t);
	}
}

static void
test_alg_key_mismatch(void **state)
{
	json_t *k, *ks;
	char *t;
	tk_error err;

	(void)state;
	/* RS256 naming the EC key, ES256 naming the RSA key */
	refused(token(header("RS256", "ec1"), claims(), rsa, "RS256"),
	    "is a EC key");
	refused(token(header("ES256", "rsa1"), claims(), ec, "ES256"),
	    "is a RSA key");
	/* the JWK pins another alg */
	k = rsa_jwk(rsa, "rsa1");
	json_object_set_new(k, "alg", json_string("RS384"));
	ks = keyset(k, NULL);
	t = good_rs();
	assert_int_equal(verify(t, ks, NOW, &err, NULL), -1);
	assert_non_null(strstr(err.msg, "for RS384"));
	free(t);
	json_decref(ks);
	/* other algorithms */
	refused(token(header("RS384", "rsa1"), claims(), rsa, "RS256"),
	    "signed with RS384");
	refused(token(header("PS256", "rsa1"), claims(), rsa, "RS256"),
	    "signed with PS256");
	refused(token(header("ES384", "ec1"), claims(), ec, "ES256"),
	    "signed with ES384");
}

static void
test_embedded_keys(void **state)
{
	const char *bad[] = {"jwk", "jku", "x5u", "x5c"};
	size_t i;
	json_t *h;

	(void)state;
	for (i = 0; i < 4; i++) {
		h = header("RS256", "rsa1");
		json_object_set_new(h, bad[i], json_string("x"));
		refused(token(h, claims(), rsa, "RS256"), "carries its own");
	}
	h = header("RS256", "rsa1");
	json_object_set_new(h, "crit", json_pack("[s]", "exp"));
	refused(token(h, claims(), rsa, "RS256"), "critical");
}

static void
test_weak_and_bad_keys(void **state)
{
	json_t *ks, *k;
	char *t;
	tk_error err;

	(void)state;
	ks = keyset(rsa_jwk(rsa_weak, "weak"), NULL);
	t = token(header("RS256", "weak"), claims(), rsa_weak, "RS256");
	assert_int_equal(verify(t, ks, NOW, &err, NULL), -1);
	assert_non_null(strstr(err.msg, "1024 bits"));
	free(t);
	json_decref(ks);

	k = ec_jwk(ec, "ec1");
	json_object_set_new(k, "crv", json_string("P-384"));
	ks = keyset(k, NULL);
	t = token(header("ES256", "ec1"), claims(), ec, "ES256");
	assert_int_equal(verify(t, ks, NOW, &err, NULL), -1);
	assert_non_null(strstr(err.msg, "P-256"));
	json_decref(ks);

	/* a point not on the curve */
	k = ec_jwk(ec, "ec1");
	json_object_set_new(k, "y", json_string(
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE"));
	ks = keyset(k, NULL);
	assert_int_equal(verify(t, ks, NOW, &err, NULL), -1);
	assert_non_null(strstr(err.msg, "not a valid P-256 point"));
	json_decref(ks);
	free(t);

	/* no keys at all, keys not a list */
	ks = json_pack("{s:[]}", "keys");
	t = good_rs();
	assert_int_equal(verify(t, ks, NOW, &err, NULL), -1);
	json_decref(ks);
	ks = json_pack("{s:s}", "keys", "x");
	assert_int_equal(verify(t, ks, NOW, &err, NULL), -1);
	json_decref(ks);
	free(t);
}

/* A tiny deterministic generator for the fuzz loop. */
static uint32_t
xorshift(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void
test_malformed(void **state)
{
	char *g = good_rs(), *t;
	size_t n = strlen(g), i, k;
	const char *junk = "+/=*. \n\"%\\";
	tk_error err;
	uint32_t seed = 0x2545f491;
	int r;

	(void)state;
	/* every proper prefix is refused */
	t = malloc(n + 16);
	assert_non_null(t);
	for (i = 0; i < n; i++) {
		memcpy(t, g, i);
		t[i] = '\0';
		if (verify(t, jwks, NOW, &err, NULL) == 0)
			fail_msg("prefix of %zu characters accepted", i);
	}
	/* extra dots and parts */
	snprintf(t, n + 16, "%s.", g);
	assert_int_equal(verify(t, jwks, NOW, &err, NULL), -1);
	snprintf(t, n + 16, "%s.AAAA", g);
	assert_int_equal(verify(t, jwks, NOW, &err, NULL), -1);
	snprintf(t, n + 16, ".%s", g);
	assert_int_equal(verify(t, jwks, NOW, &err, NULL), -1);
	assert_int_equal(verify("..", jwks, NOW, &err, NULL), -1);
	assert_int_equal(verify("", jwks, NOW, &err, NULL), -1);
	assert_int_equal(verify("a.b.c", jwks, NOW, &err, NULL), -1);
	assert_int_equal(verify(NULL, jwks, NOW, &err, NULL), -1);
	/* each junk character anywhere breaks it */
	for (k = 0; junk[k] != '\0'; k++)
		for (i = 0; i < n; i += 7) {
			memcpy(t, g, n + 1);
			if (t[i] == '.')
				continue;
			t[i] = junk[k];
			if (verify(t, jwks, NOW, &err, NULL) == 0)
				fail_msg("'%c' at %zu accepted", junk[k], i);
		}
	/* padding is not base64url */
	snprintf(t, n + 16, "%s==", g);
	assert_int_equal(verify(t, jwks, NOW, &err, NULL), -1);
	/* random mutations: never accepted, never crash */
	for (i = 0; i < 3000; i++) {
		memcpy(t, g, n + 1);
		for (k = 0; k < 1 + xorshift(&seed) % 4; k++)
			t[xorshift(&seed) % n] = (char)(xorshift(&seed) % 255 + 1);
		r = verify(t, jwks, NOW, &err, NULL);
		if (r == 0 && strcmp(t, g) != 0)
			fail_msg("mutated token accepted: %s", t);
	}
	free(t);
	/* a header that is JSON but not an object; claims not JSON */
	{
		char *h = b64u_str("[\"RS256\"]"), *u = malloc(n + 64);

		snprintf(u, n + 64, "%s%s", h, strchr(g, '.'));
		refused(u, "header is not base64url-encoded JSON");
		free(h);
	}
	{
		json_t *hd = header("RS256", "rsa1");
		char *hs = json_dumps(hd, JSON_COMPACT), *h64 = b64u_str(hs);
		char *p64 = b64u_str("{\"iss\":"), in[2048], *sig, *u;

		snprintf(in, sizeof(in), "%s.%s", h64, p64);
		sig = sign(rsa, "RS256", in);
		u = malloc(strlen(in) + strlen(sig) + 2);
		snprintf(u, strlen(in) + strlen(sig) + 2, "%s.%s", in, sig);
		refused(u, "claims are not");
		free(hs);
		free(h64);
		free(p64);
		free(sig);
		json_decref(hd);
	}
	/* duplicate claims are refused, not resolved */
	{
		json_t *hd = header("RS256", "rsa1");
		char *hs = json_dumps(hd, JSON_COMPACT), *h64 = b64u_str(hs);
		char *p64 = b64u_str("{\"iss\":\"" ISS "\",\"iss\":\"x\"}");
		char in[2048], *sig, *u;

		snprintf(in, sizeof(in), "%s.%s", h64, p64);
		sig = sign(rsa, "RS256", in);
		u = malloc(strlen(in) + strlen(sig) + 2);
		snprintf(u, strlen(in) + strlen(sig) + 2, "%s.%s", in, sig);
		refused(u, "claims are not");
		free(hs);
		free(h64);
		free(p64);
		free(sig);
		json_decref(hd);
	}
	/* too long */
	t = malloc(20000);
	memset(t, 'A', 19999);
	t[19999] = '\0';
	t[100] = '.';
	t[200] = '.';
	refused(t, "longer than");
	free(g);
}

/* ------------------------------------------------------------------ */
/* configuration */

static char dir[64];

static char *
write_file(const char *name, const char *text, mode_t mode)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static void
load_ok(const char *text)
{
	tk_error err;
	tk_oidc *o;

	memset(&err, 0, sizeof(err));
	o = tk_oidc_load(write_file("oidc.yaml", text, 0644), &err);
	if (o == NULL)
		fail_msg("refused good config: %s\n%s", err.msg, text);
	tk_oidc_free(o);
}

static void
load_bad(const char *text, const char *want)
{
	tk_error err;
	tk_oidc *o;

	memset(&err, 0, sizeof(err));
	o = tk_oidc_load(write_file("oidc.yaml", text, 0644), &err);
	if (o != NULL) {
		tk_oidc_free(o);
		fail_msg("accepted bad config (wanted \"%s\"):\n%s", want,
		    text);
	}
	if (strstr(err.msg, want) == NULL)
		fail_msg("message \"%s\" does not say \"%s\"", err.msg, want);
}

#define BASE "client_id: twokey\nredirect_uri: https://tk.example.com/sso/callback\n"

static void
test_config(void **state)
{
	char secret_line[600];
	tk_error err;
	tk_oidc *o;
	char *p;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/tk-oidc-XXXXXX");
	assert_non_null(mkdtemp(dir));

	load_ok("issuer: https://idp.example.com\n" BASE);
	load_ok("issuer: http://127.0.0.1:9999/oidc\n" BASE
	    "claim: email\nscopes: openid email\n");
	load_ok("issuer: http://localhost:9999\n" BASE);
	load_ok("issuer: http://[::1]:9999\n" BASE);
	load_ok("issuer: http://127.1.2.3\n" BASE);

	load_bad("issuer: http://idp.example.com\n" BASE,
	    "oidc.yaml:1:9: issuer \"http://idp.example.com\" uses plain "
	    "http");
	load_bad("issuer: http://127.0.0.1.evil.com\n" BASE, "plain http");
	load_bad("issuer: http://1270.0.0.1\n" BASE, "plain http");
	load_bad("issuer: ftp://idp.example.com\n" BASE, "not an https://");
	load_bad("issuer: https://user:pw@idp.example.com\n" BASE,
	    "user name or password");
	load_bad("issuer: https://idp.example.com/?a=b\n" BASE, "query");
	load_bad("issuer: https://idp.example.com\nclient_id: twokey\n"
	    "redirect_uri: http://tk.example.com/sso/callback\n",
	    "oidc.yaml:3:15: redirect_uri");
	load_bad(BASE, "oidc.yaml:1:1: the OIDC file has no issuer");
	load_bad("issuer: https://idp.example.com\nclient_id: twokey\n",
	    "no redirect_uri");
	load_bad("issuer: https://idp.example.com\n"
	    "redirect_uri: https://a/cb\n", "no client_id");
	load_bad("issuer: https://idp.example.com\n" BASE "clientid: x\n",
	    "oidc.yaml:4:1: unknown key");
	load_bad("issuer: https://idp.example.com\n" BASE
	    "scopes: profile email\n", "must include openid");
	load_bad("issuer: https://idp.example.com\nclient_id: [a, b]\n"
	    "redirect_uri: https://a/cb\n", "oidc.yaml:2:12: client_id must "
	    "be a single value");
	load_bad("issuer: https://idp.example.com\n" BASE "claim: \"a b\"\n",
	    "claim must name");
	load_bad("issuer: https://idp.example.com\n" BASE "issuer: x\n",
	    "oidc.yaml:4:1:");
	load_bad("issuer: [https://idp.example.com\n" BASE,
	    "oidc.yaml:2:");
	load_bad("- a\n- b\n", "must be a mapping");
	load_bad("", "empty");

	/* the secret file: owner-only, one line */
	p = write_file("secret", "s3cret-value\n", 0600);
	snprintf(secret_line, sizeof(secret_line), "issuer: "
	    "https://idp.example.com\n" BASE "client_secret_file: %s\n", p);
	load_ok(secret_line);
	(void)write_file("secret", "s3cret-value\n", 0644);
	load_bad(secret_line, "readable only by its owner (chmod 600)");
	(void)write_file("secret", "s3cret-value\n", 0640);
	load_bad(secret_line, "chmod 600");
	(void)write_file("secret", "\n", 0600);
	load_bad(secret_line, "on one line");
	(void)write_file("secret", "a\nb\n", 0600);
	load_bad(secret_line, "on one line");
	snprintf(secret_line, sizeof(secret_line), "issuer: "
	    "https://idp.example.com\n" BASE "client_secret_file: %s/none\n",
	    dir);
	load_bad(secret_line, "cannot open client_secret_file");
	load_bad("issuer: https://idp.example.com\n" BASE
	    "client_secret_file:\n", "client_secret_file is empty");

	memset(&err, 0, sizeof(err));
	snprintf(secret_line, sizeof(secret_line), "%s/missing.yaml", dir);
	assert_null(tk_oidc_load(secret_line, &err));
	assert_non_null(strstr(err.msg, "cannot open OIDC file"));

	/* a login that was never started cannot finish (no network used) */
	o = tk_oidc_load(write_file("oidc.yaml", "issuer: "
	    "https://idp.example.com\n" BASE, 0644), &err);
	assert_non_null(o);
	{
		tk_oidc_result res;

		assert_int_equal(tk_oidc_finish(o, "AAAAAAAAAAAAAAAAAAAAAA",
		    "code", NULL, "b", NOW, &res, &err), -1);
		assert_int_equal(err.status, TK_ERR_UNAUTH);
		assert_non_null(strstr(err.msg, "unknown, already used"));
		assert_string_equal(res.login, "");
		assert_int_equal(tk_oidc_finish(o, NULL, NULL, NULL, NULL,
		    NOW, &res, &err), -1);
	}
	tk_oidc_free(o);

	snprintf(secret_line, sizeof(secret_line), "%s/secret", dir);
	(void)unlink(secret_line);
	snprintf(secret_line, sizeof(secret_line), "%s/oidc.yaml", dir);
	(void)unlink(secret_line);
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_rs256),
		cmocka_unit_test(test_good_es256),
		cmocka_unit_test(test_good_aud_array),
		cmocka_unit_test(test_no_kid_single_key),
		cmocka_unit_test(test_leeway),
		cmocka_unit_test(test_alg_none),
		cmocka_unit_test(test_hs256_with_public_key),
		cmocka_unit_test(test_wrong_signature),
		cmocka_unit_test(test_wrong_iss),
		cmocka_unit_test(test_wrong_aud),
		cmocka_unit_test(test_multi_aud_without_azp),
		cmocka_unit_test(test_expired_and_future),
		cmocka_unit_test(test_no_sub),
		cmocka_unit_test(test_nonce),
		cmocka_unit_test(test_unknown_kid),
		cmocka_unit_test(test_alg_key_mismatch),
		cmocka_unit_test(test_embedded_keys),
		cmocka_unit_test(test_weak_and_bad_keys),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_config),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
