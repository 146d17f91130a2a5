/*
 * oidc.c - the console's OpenID Connect relying party (see oidc.h): the
 * configuration file, provider discovery and the JWKS cache (libcurl,
 * through connectors/conn_http.c), the authorization code flow with
 * PKCE S256, state, nonce and a browser binding, and the verification of
 * ID tokens (compact JWS, RS256 and ES256 only) with OpenSSL 3.
 *
 * Owns: the client secret (read from its file at load, wiped at free),
 * the discovered endpoints, the JWKS cache, and the logins in flight (a
 * fixed table of TK_OIDC_PENDING_MAX entries, oldest evicted, each
 * single use and valid for ten minutes). One tk_oidc is shared by the
 * server's worker threads: the mutex guards the cache and the table and
 * is never held across a network call.
 */
#include "web/oidc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <yaml.h>

#include "connectors/conn_body.h"
#include "connectors/conn_http.h"
#include "core/b64.h"
#include "core/yaml_walk.h"

#define OIDC_TEXT_MAX (64u * 1024)     /* bytes of configuration */
#define OIDC_URL_MAX 512               /* issuer, redirect, endpoints */
#define OIDC_SECRET_MAX 512            /* client secret, with NUL */
#define OIDC_TIMEOUT_MS 10000          /* every fetch, whole exchange */
#define OIDC_PENDING_MAX 1024          /* logins in flight */
#define OIDC_PENDING_TTL 600           /* seconds a login may take */
#define OIDC_LEEWAY 60                 /* seconds of clock skew allowed */
#define OIDC_FRESH_MAX 300             /* fresh: auth_time this recent */
#define OIDC_JWKS_REFETCH 60           /* unknown kid: at most this often */
#define OIDC_JWT_MAX (16u * 1024)      /* characters of an ID token */
#define OIDC_PARAM_MAX 2048            /* state, code, error from a query */
#define OIDC_RSA_MIN_BITS 2048
#define OIDC_RSA_MAX_BITS 8192

#define STATE_BYTES 16                 /* 128 bits */
#define NONCE_BYTES 16
#define BINDING_BYTES 32
#define VERIFIER_BYTES 32              /* 43 characters of base64url */
#define B64U_LEN(n) (((n) * 4 + 2) / 3)

/* One login in flight. Empty when state[0] is NUL. */
struct pending {
	char state[B64U_LEN(STATE_BYTES) + 1];
	char binding[B64U_LEN(BINDING_BYTES) + 1];
	char nonce[B64U_LEN(NONCE_BYTES) + 1];
	char verifier[B64U_LEN(VERIFIER_BYTES) + 1];
	char next[256];
	bool fresh;
	tk_time created;
	uint64_t seq;                  /* insertion order, for eviction */
};

struct tk_oidc {
	/* configuration; constant after load */
	char issuer[OIDC_URL_MAX];
	char client_id[256];
	char redirect_uri[OIDC_URL_MAX];
	char claim[64];
	char scopes[256];
	char ca_file[512];             /* "" = the system's CAs */
	char *secret;                  /* NULL: public client; wiped on free */
	size_t secret_len;
	bool curl_inited;

	pthread_mutex_t mu;            /* guards everything below */
	bool discovered;
	char authz_ep[OIDC_URL_MAX];
	char token_ep[OIDC_URL_MAX];
	char jwks_uri[OIDC_URL_MAX];
	json_t *jwks;                  /* NULL until fetched */
	tk_time jwks_at;               /* when the last fetch was started */
	uint64_t seq;
	struct pending pend[OIDC_PENDING_MAX];
};

/* ------------------------------------------------------------------ */
/* base64url (RFC 4648 section 5, no padding, as JWS uses it) */

static void
b64u_encode(const unsigned char *in, size_t n, char *out)
{
	char tmp[TK_B64_LEN(64) + 1];
	size_t i, o = 0;

	/* callers encode at most 64 bytes */
	if (n > 64) {
		out[0] = '\0';
		return;
	}
	tk_b64_encode(in, n, tmp);
	for (i = 0; tmp[i] != '\0' && tmp[i] != '='; i++)
		out[o++] = tmp[i] == '+' ? '-' : tmp[i] == '/' ? '_' : tmp[i];
	out[o] = '\0';
	OPENSSL_cleanse(tmp, sizeof(tmp));
}

/* Decodes len characters of unpadded base64url into a new buffer
 * (*out, *outlen; the caller frees). Refuses padding, characters outside
 * the alphabet and non-canonical trailing bits. 0 or -1. */
static int
b64u_decode(const char *in, size_t len, unsigned char **out, size_t *outlen)
{
	char *t;
	unsigned char *buf;
	size_t i, tlen, n;

	*out = NULL;
	*outlen = 0;
	if (len % 4 == 1 || len > OIDC_JWT_MAX * 2)
		return -1;
	tlen = (len + 3) / 4 * 4;
	t = malloc(tlen + 1);
	buf = malloc(tlen / 4 * 3 + 1);
	if (t == NULL || buf == NULL) {
		free(t);
		free(buf);
		return -1;
	}
	for (i = 0; i < len; i++) {
		char c = in[i];

		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9')))
			goto bad;
		t[i] = c;
	}
	for (; i < tlen; i++)
		t[i] = '=';
	t[tlen] = '\0';
	if (tk_b64_decode(t, tlen, buf, tlen / 4 * 3 + 1, &n) != 0)
		goto bad;
	OPENSSL_cleanse(t, tlen);
	free(t);
	*out = buf;
	*outlen = n;
	return 0;
bad:
	OPENSSL_cleanse(t, tlen);
	free(t);
	free(buf);
	return -1;
}

/* ------------------------------------------------------------------ */
/* URLs */

/* NULL when url is an https URL (or an http one to a loopback host) with
 * a host, no user information, no fragment and no blank or control
 * character; else what is wrong with it, for a message. */
static const char *
url_problem(const char *url)
{
	char host[256];
	const char *auth;
	size_t i, alen;

	for (i = 0; url[i] != '\0'; i++)
		if ((unsigned char)url[i] <= ' ' || (unsigned char)url[i] >= 0x7f)
			return "holds a blank, control or non-ASCII character";
	if (strncmp(url, "https://", 8) == 0)
		auth = url + 8;
	else if (strncmp(url, "http://", 7) == 0)
		auth = url + 7;
	else
		return "is not an https:// URL";
	alen = strcspn(auth, "/?#");
	if (alen == 0)
		return "has no host";
	if (memchr(auth, '@', alen) != NULL)
		return "carries a user name or password";
	if (strchr(url, '#') != NULL)
		return "has a fragment (#...)";
	tk_url_host(url, host, sizeof(host));
	if (host[0] == '\0')
		return "has no host it can be reached at";
	if (url[4] == ':' && !tk_host_loopback(host))
		return "uses plain http to a host that is not loopback; use "
		    "https (http is only for 127.0.0.1, ::1 and localhost)";
	return NULL;
}

/* ------------------------------------------------------------------ */
/* configuration */

struct ctx {
	tk_yaml_walk w;
	yaml_document_t doc;
	tk_oidc *o;
	char secret_file[512];
	yaml_mark_t secret_at;
};

static const char *const top_keys[] = {"issuer", "client_id",
	"client_secret_file", "redirect_uri", "claim", "scopes", "ca_file",
	NULL};
enum { OK_ISSUER, OK_CLIENT_ID, OK_SECRET_FILE, OK_REDIRECT, OK_CLAIM,
	OK_SCOPES, OK_CA_FILE };

static int
url_value(struct ctx *c, const yaml_node_t *v, const char *key, char *dst,
    size_t size)
{
	const char *why;

	if (tk_yw_scalar(&c->w, v, key, dst, size) != 0)
		return -1;
	if (dst[0] == '\0')
		return tk_yw_fail_at(&c->w, v->start_mark, "%s is empty; write "
		    "an https:// URL", key);
	if ((why = url_problem(dst)) != NULL)
		return tk_yw_fail_at(&c->w, v->start_mark, "%s \"%.200s\" %s",
		    key, dst, why);
	return 0;
}

/* printable ASCII without blanks (client_id, claim) */
static bool
token_text(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return false;
	return i > 0;
}

static int
parse_top(struct ctx *c)
{
	tk_oidc *o = c->o;
	yaml_node_t *root, *v;
	yaml_node_pair_t *p;
	unsigned seen = 0;
	size_t i;
	int k, rc;

	root = yaml_document_get_root_node(&c->doc);
	if (root == NULL)
		return tk_yw_fail_at(&c->w, c->doc.start_mark, "the OIDC file "
		    "is empty; it needs issuer, client_id and redirect_uri");
	if (root->type != YAML_MAPPING_NODE)
		return tk_yw_fail_at(&c->w, root->start_mark, "the OIDC file "
		    "must be a mapping with issuer, client_id and "
		    "redirect_uri");
	for (p = root->data.mapping.pairs.start;
	    p < root->data.mapping.pairs.top; p++) {
		if (tk_yw_pair(&c->w, root, p, top_keys, &seen,
		    "the OIDC file", "issuer, client_id, client_secret_file, "
		    "redirect_uri, claim, scopes or ca_file", &k, &v) != 0)
			return -1;
		switch (k) {
		case OK_ISSUER:
			rc = url_value(c, v, "issuer", o->issuer,
			    sizeof(o->issuer));
			if (rc == 0 && strchr(o->issuer, '?') != NULL)
				rc = tk_yw_fail_at(&c->w, v->start_mark,
				    "issuer \"%.200s\" has a query; an OpenID "
				    "issuer is a URL without ?...", o->issuer);
			break;
		case OK_CLIENT_ID:
			rc = tk_yw_scalar(&c->w, v, "client_id", o->client_id,
			    sizeof(o->client_id));
			if (rc == 0 && !token_text(o->client_id))
				rc = tk_yw_fail_at(&c->w, v->start_mark,
				    "client_id must be the client's id as the "
				    "provider registered it: not empty, no "
				    "blanks or control characters");
			break;
		case OK_SECRET_FILE:
			rc = tk_yw_scalar(&c->w, v, "client_secret_file",
			    c->secret_file, sizeof(c->secret_file));
			c->secret_at = v->start_mark;
			if (rc == 0 && c->secret_file[0] == '\0')
				rc = tk_yw_fail_at(&c->w, v->start_mark,
				    "client_secret_file is empty; name the "
				    "file holding the client secret, or remove "
				    "the key for a public client");
			break;
		case OK_REDIRECT:
			rc = url_value(c, v, "redirect_uri", o->redirect_uri,
			    sizeof(o->redirect_uri));
			break;
		case OK_CLAIM:
			rc = tk_yw_scalar(&c->w, v, "claim", o->claim,
			    sizeof(o->claim));
			if (rc == 0 && !token_text(o->claim))
				rc = tk_yw_fail_at(&c->w, v->start_mark,
				    "claim must name an ID token claim, e.g. "
				    "preferred_username or email");
			break;
		case OK_SCOPES:
			rc = tk_yw_scalar(&c->w, v, "scopes", o->scopes,
			    sizeof(o->scopes));
			for (i = 0; rc == 0 && o->scopes[i] != '\0'; i++)
				if ((unsigned char)o->scopes[i] < ' ' ||
				    (unsigned char)o->scopes[i] >= 0x7f ||
				    o->scopes[i] == '"' || o->scopes[i] == '\\')
					rc = tk_yw_fail_at(&c->w,
					    v->start_mark, "scopes holds a "
					    "character a scope may not have; "
					    "write scope names separated by "
					    "spaces");
			if (rc == 0 && strstr(o->scopes, "openid") == NULL)
				rc = tk_yw_fail_at(&c->w, v->start_mark,
				    "scopes must include openid (write e.g. "
				    "\"openid profile\")");
			break;
		case OK_CA_FILE:
			rc = tk_yw_scalar(&c->w, v, "ca_file", o->ca_file,
			    sizeof(o->ca_file));
			break;
		default:
			rc = -1;
		}
		if (rc != 0)
			return -1;
	}
	if (!(seen & (1u << OK_ISSUER)))
		return tk_yw_fail_at(&c->w, root->start_mark, "the OIDC file "
		    "has no issuer; add issuer: https://... (the provider's "
		    "issuer URL)");
	if (!(seen & (1u << OK_CLIENT_ID)))
		return tk_yw_fail_at(&c->w, root->start_mark, "the OIDC file "
		    "has no client_id; add the id the provider gave twokey");
	if (!(seen & (1u << OK_REDIRECT)))
		return tk_yw_fail_at(&c->w, root->start_mark, "the OIDC file "
		    "has no redirect_uri; add https://HOST/sso/callback as "
		    "registered at the provider");
	return 0;
}

/* Reads the client secret from c->secret_file into o->secret: a regular
 * file readable only by its owner, one line. */
static int
read_secret(struct ctx *c, tk_error *err)
{
	char buf[OIDC_SECRET_MAX + 2];
	struct stat st;
	size_t len = 0;
	ssize_t n;
	int fd;

	fd = open(c->secret_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return tk_fail(err, TK_ERR_INVALID, "%.200s: cannot open "
		    "client_secret_file %.200s: %s", c->w.file, c->secret_file,
		    strerror(errno)), -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & 077) != 0) {
		(void)close(fd);
		return tk_fail(err, TK_ERR_INVALID, "%.200s: client_secret_file "
		    "%.200s must be a regular file readable only by its owner "
		    "(chmod 600)", c->w.file, c->secret_file), -1;
	}
	while (len < sizeof(buf) - 1) {
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			(void)close(fd);
			OPENSSL_cleanse(buf, sizeof(buf));
			return tk_fail(err, TK_ERR_INVALID, "reading %.200s: "
			    "%s", c->secret_file, strerror(errno)), -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	(void)close(fd);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	buf[len] = '\0';
	if (len == 0 || len >= OIDC_SECRET_MAX || memchr(buf, '\n', len) ||
	    memchr(buf, '\0', len)) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return tk_fail(err, TK_ERR_INVALID, "%.200s: client_secret_file "
		    "%.200s must hold the client secret on one line (at most "
		    "%d characters)", c->w.file, c->secret_file,
		    OIDC_SECRET_MAX - 1), -1;
	}
	c->o->secret = malloc(len + 1);
	if (c->o->secret == NULL) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return tk_fail(err, TK_ERR_INTERNAL, "out of memory"), -1;
	}
	memcpy(c->o->secret, buf, len + 1);
	c->o->secret_len = len;
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

tk_oidc *
tk_oidc_load(const char *path, tk_error *err)
{
	struct ctx *c;
	tk_oidc *o;
	char *text;
	size_t len;
	int rc;

	if (path == NULL)
		return tk_fail(err, TK_ERR_INVALID, "no OIDC file given"), NULL;
	if (tk_read_file(path, "OIDC file", OIDC_TEXT_MAX, &text, &len,
	    err) != 0)
		return NULL;
	c = calloc(1, sizeof(*c));
	o = calloc(1, sizeof(*o));
	if (c == NULL || o == NULL) {
		free(c);
		free(o);
		free(text);
		return tk_fail(err, TK_ERR_INTERNAL, "out of memory reading "
		    "%.300s", path), NULL;
	}
	c->o = o;
	c->w.file = path;
	c->w.file_max = 200;
	c->w.utf8_trim = true;
	c->w.err = err;
	c->w.doc = &c->doc;
	(void)tk_strlcpy(o->claim, "preferred_username", sizeof(o->claim));
	(void)tk_strlcpy(o->scopes, "openid profile", sizeof(o->scopes));
	rc = tk_yw_parse(&c->w, text, len);
	free(text);
	if (rc == -2) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "out of memory reading "
		    "%.300s", path);
		goto fail;
	}
	if (rc != 0)
		goto fail;
	rc = parse_top(c);
	yaml_document_delete(&c->doc);
	if (rc != 0)
		goto fail;
	if (c->secret_file[0] != '\0' && read_secret(c, err) != 0)
		goto fail;
	if (pthread_mutex_init(&o->mu, NULL) != 0) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "cannot make a mutex");
		goto fail;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		(void)pthread_mutex_destroy(&o->mu);
		(void)tk_fail(err, TK_ERR_INTERNAL, "libcurl could not start");
		goto fail;
	}
	o->curl_inited = true;
	free(c);
	return o;
fail:
	if (o->secret != NULL) {
		OPENSSL_cleanse(o->secret, o->secret_len);
		free(o->secret);
	}
	free(o);
	free(c);
	return NULL;
}

void
tk_oidc_free(tk_oidc *o)
{
	if (o == NULL)
		return;
	if (o->secret != NULL) {
		OPENSSL_cleanse(o->secret, o->secret_len);
		free(o->secret);
	}
	json_decref(o->jwks);
	(void)pthread_mutex_destroy(&o->mu);
	if (o->curl_inited)
		curl_global_cleanup();
	OPENSSL_cleanse(o, sizeof(*o));
	free(o);
}

/* ------------------------------------------------------------------ */
/* fetching */

/* GET url, expecting 200 and a JSON object; *out gets it. */
static int
fetch_json(const tk_oidc *o, const char *url, const char *what,
    json_t **out, tk_error *err)
{
	tk_http_call q;
	tk_http_reply r;
	json_error_t je;
	json_t *j;

	*out = NULL;
	memset(&q, 0, sizeof(q));
	q.method = "GET";
	q.url = url;
	q.headers[0] = "Accept: application/json";
	q.ca_file = o->ca_file[0] != '\0' ? o->ca_file : NULL;
	q.timeout_ms = OIDC_TIMEOUT_MS;
	tk_http_do(&q, &r);
	if (r.fate != TK_HTTP_ANSWERED) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "the identity provider did "
		    "not answer the %s request to %.200s%s: %.200s; check that "
		    "it is running and reachable, then try again", what, url,
		    r.timed_out ? " in time" : "", r.error);
		tk_http_resp_free(&r);
		return -1;
	}
	if (r.status != 200 || r.body.truncated || r.body.p == NULL) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "the identity provider "
		    "answered the %s request to %.200s with HTTP %ld%s; check "
		    "the issuer in the OIDC file", what, url, r.status,
		    r.body.truncated ? " and an answer too large" : "");
		tk_http_resp_free(&r);
		return -1;
	}
	j = json_loadb(r.body.p, r.body.len, JSON_REJECT_DUPLICATES, &je);
	tk_http_resp_free(&r);
	if (!json_is_object(j)) {
		json_decref(j);
		return tk_fail(err, TK_ERR_INTERNAL, "the identity provider's "
		    "%s document at %.200s is not a JSON object", what, url),
		    -1;
	}
	*out = j;
	return 0;
}

static int
endpoint(const json_t *d, const char *key, char *dst, size_t size,
    tk_error *err)
{
	const char *v = json_string_value(json_object_get(d, key));
	const char *why;

	if (v == NULL)
		return tk_fail(err, TK_ERR_INTERNAL, "the identity provider's "
		    "discovery document has no %s", key), -1;
	if (tk_strlcpy(dst, v, size) != 0)
		return tk_fail(err, TK_ERR_INTERNAL, "the identity provider's "
		    "%s is longer than %zu characters", key, size - 1), -1;
	if ((why = url_problem(dst)) != NULL)
		return tk_fail(err, TK_ERR_INTERNAL, "the identity provider's "
		    "%s \"%.200s\" %s", key, dst, why), -1;
	return 0;
}

/* Fetches the discovery document once and keeps the endpoints. */
static int
discover(tk_oidc *o, tk_error *err)
{
	char url[OIDC_URL_MAX + 64], a[OIDC_URL_MAX], t[OIDC_URL_MAX];
	char jw[OIDC_URL_MAX];
	const char *iss;
	json_t *d;
	size_t n;
	bool done;

	(void)pthread_mutex_lock(&o->mu);
	done = o->discovered;
	(void)pthread_mutex_unlock(&o->mu);
	if (done)
		return 0;
	n = strlen(o->issuer);
	if (n > 0 && o->issuer[n - 1] == '/')
		n--;
	(void)snprintf(url, sizeof(url), "%.*s/.well-known/"
	    "openid-configuration", (int)n, o->issuer);
	if (fetch_json(o, url, "discovery", &d, err) != 0)
		return -1;
	iss = json_string_value(json_object_get(d, "issuer"));
	if (iss == NULL || strcmp(iss, o->issuer) != 0) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "the identity provider at "
		    "%.200s calls itself \"%.200s\", not the issuer in the OIDC "
		    "file; write its issuer exactly", url,
		    iss != NULL ? iss : "(nothing)");
		json_decref(d);
		return -1;
	}
	if (endpoint(d, "authorization_endpoint", a, sizeof(a), err) != 0 ||
	    endpoint(d, "token_endpoint", t, sizeof(t), err) != 0 ||
	    endpoint(d, "jwks_uri", jw, sizeof(jw), err) != 0) {
		json_decref(d);
		return -1;
	}
	json_decref(d);
	(void)pthread_mutex_lock(&o->mu);
	if (!o->discovered) {
		memcpy(o->authz_ep, a, sizeof(a));
		memcpy(o->token_ep, t, sizeof(t));
		memcpy(o->jwks_uri, jw, sizeof(jw));
		o->discovered = true;
	}
	(void)pthread_mutex_unlock(&o->mu);
	return 0;
}

/* A new reference to the JWKS: the cached one, or fetched when there is
 * none; with refresh, fetched again unless the last fetch started less
 * than a minute ago (then *out is NULL and 0 is returned). */
static int
get_jwks(tk_oidc *o, bool refresh, tk_time now, json_t **out, tk_error *err)
{
	char uri[OIDC_URL_MAX];
	json_t *j, *keys;

	*out = NULL;
	if (discover(o, err) != 0)
		return -1;
	(void)pthread_mutex_lock(&o->mu);
	if (!refresh && o->jwks != NULL) {
		*out = json_incref(o->jwks);
		(void)pthread_mutex_unlock(&o->mu);
		return 0;
	}
	if (refresh && o->jwks_at != 0 && now - o->jwks_at < OIDC_JWKS_REFETCH
	    && now >= o->jwks_at) {
		(void)pthread_mutex_unlock(&o->mu);
		return 0;
	}
	o->jwks_at = now;
	memcpy(uri, o->jwks_uri, sizeof(uri));
	(void)pthread_mutex_unlock(&o->mu);
	if (fetch_json(o, uri, "JWKS", &j, err) != 0)
		return -1;
	keys = json_object_get(j, "keys");
	if (!json_is_array(keys)) {
		json_decref(j);
		return tk_fail(err, TK_ERR_INTERNAL, "the identity provider's "
		    "JWKS at %.200s has no \"keys\" list", uri), -1;
	}
	(void)pthread_mutex_lock(&o->mu);
	json_decref(o->jwks);
	o->jwks = j;
	*out = json_incref(j);
	(void)pthread_mutex_unlock(&o->mu);
	return 0;
}

static void
jwks_release(tk_oidc *o, json_t *j)
{
	(void)pthread_mutex_lock(&o->mu);
	json_decref(j);
	(void)pthread_mutex_unlock(&o->mu);
}

/* ------------------------------------------------------------------ */
/* JWK to EVP_PKEY */

static BIGNUM *
jwk_bn(const json_t *jwk, const char *name, size_t maxbytes)
{
	const char *s = json_string_value(json_object_get(jwk, name));
	unsigned char *b;
	size_t n;
	BIGNUM *bn;

	if (s == NULL || b64u_decode(s, strlen(s), &b, &n) != 0)
		return NULL;
	if (n == 0 || n > maxbytes) {
		free(b);
		return NULL;
	}
	bn = BN_bin2bn(b, (int)n, NULL);
	free(b);
	return bn;
}

static EVP_PKEY *
pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *pc = NULL;
	EVP_PKEY *pk = NULL;

	params = OSSL_PARAM_BLD_to_param(bld);
	pc = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	if (params == NULL || pc == NULL ||
	    EVP_PKEY_fromdata_init(pc) <= 0 ||
	    EVP_PKEY_fromdata(pc, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		EVP_PKEY_free(pk);
		pk = NULL;
	}
	EVP_PKEY_CTX_free(pc);
	OSSL_PARAM_free(params);
	return pk;
}

/* An RSA public key of at least 2048 bits, or NULL with err. */
static EVP_PKEY *
rsa_key(const json_t *jwk, tk_error *err)
{
	OSSL_PARAM_BLD *bld;
	BIGNUM *n, *e;
	EVP_PKEY *pk = NULL;

	n = jwk_bn(jwk, "n", OIDC_RSA_MAX_BITS / 8);
	e = jwk_bn(jwk, "e", 8);
	if (n == NULL || e == NULL) {
		BN_free(n);
		BN_free(e);
		return tk_fail(err, TK_ERR_UNAUTH, "the provider's RSA key has "
		    "no valid n or e"), NULL;
	}
	if (BN_num_bits(n) < OIDC_RSA_MIN_BITS) {
		(void)tk_fail(err, TK_ERR_UNAUTH, "the provider's RSA key has "
		    "%d bits; twokey accepts RSA keys of %d bits or more",
		    BN_num_bits(n), OIDC_RSA_MIN_BITS);
		BN_free(n);
		BN_free(e);
		return NULL;
	}
	bld = OSSL_PARAM_BLD_new();
	if (bld != NULL &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) == 1 &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) == 1)
		pk = pkey_fromdata("RSA", bld);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	if (pk == NULL)
		(void)tk_fail(err, TK_ERR_UNAUTH, "the provider's RSA key could "
		    "not be read");
	return pk;
}

/* A P-256 public key whose point is on the curve, or NULL with err. */
static EVP_PKEY *
ec_key(const json_t *jwk, tk_error *err)
{
	const char *crv = json_string_value(json_object_get(jwk, "crv"));
	const char *xs = json_string_value(json_object_get(jwk, "x"));
	const char *ys = json_string_value(json_object_get(jwk, "y"));
	unsigned char pt[65], *x = NULL, *y = NULL;
	size_t xn = 0, yn = 0;
	OSSL_PARAM_BLD *bld;
	EVP_PKEY_CTX *cc;
	EVP_PKEY *pk = NULL;

	if (crv == NULL || strcmp(crv, "P-256") != 0)
		return tk_fail(err, TK_ERR_UNAUTH, "the provider's EC key is "
		    "on curve %.20s; ES256 needs P-256",
		    crv != NULL ? crv : "(none)"), NULL;
	if (xs == NULL || ys == NULL ||
	    b64u_decode(xs, strlen(xs), &x, &xn) != 0 ||
	    b64u_decode(ys, strlen(ys), &y, &yn) != 0 || xn != 32 ||
	    yn != 32) {
		free(x);
		free(y);
		return tk_fail(err, TK_ERR_UNAUTH, "the provider's EC key has "
		    "no valid x or y"), NULL;
	}
	pt[0] = 0x04;
	memcpy(pt + 1, x, 32);
	memcpy(pt + 33, y, 32);
	free(x);
	free(y);
	bld = OSSL_PARAM_BLD_new();
	if (bld != NULL &&
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    "prime256v1", 0) == 1 &&
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt,
	    sizeof(pt)) == 1)
		pk = pkey_fromdata("EC", bld);
	OSSL_PARAM_BLD_free(bld);
	if (pk != NULL) {
		cc = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
		if (cc == NULL || EVP_PKEY_public_check(cc) != 1) {
			EVP_PKEY_free(pk);
			pk = NULL;
		}
		EVP_PKEY_CTX_free(cc);
	}
	if (pk == NULL)
		(void)tk_fail(err, TK_ERR_UNAUTH, "the provider's EC key is not "
		    "a valid P-256 point");
	return pk;
}

/* ------------------------------------------------------------------ */
/* ID tokens */

/* Picks the key for alg (kty kty) from jwks: by kid, or the only key of
 * that type when the header has none. Sets *unknown when no key fits by
 * kid or type (a JWKS refetch may help). */
static const json_t *
pick_key(const json_t *jwks, const char *alg, const char *kty,
    const char *kid, bool *unknown, tk_error *err)
{
	const json_t *keys = json_object_get(jwks, "keys"), *k, *found = NULL;
	const char *kk, *ka, *ku, *kkid;
	size_t i, n = 0;

	*unknown = false;
	for (i = 0; i < json_array_size(keys); i++) {
		k = json_array_get(keys, i);
		kkid = json_string_value(json_object_get(k, "kid"));
		kk = json_string_value(json_object_get(k, "kty"));
		if (kid != NULL) {
			if (kkid == NULL || strcmp(kkid, kid) != 0)
				continue;
		} else if (kk == NULL || strcmp(kk, kty) != 0)
			continue;
		ku = json_string_value(json_object_get(k, "use"));
		if (ku != NULL && strcmp(ku, "sig") != 0)
			continue;
		if (kid != NULL) {
			ka = json_string_value(json_object_get(k, "alg"));
			if (kk == NULL || strcmp(kk, kty) != 0 ||
			    (ka != NULL && strcmp(ka, alg) != 0))
				return tk_fail(err, TK_ERR_UNAUTH, "the ID "
				    "token says %s but the provider's key "
				    "\"%.60s\" is a %.10s key%s%.10s; a token "
				    "must be signed with the kind of key it "
				    "names", alg, kid, kk != NULL ? kk : "?",
				    ka != NULL ? " for " : "",
				    ka != NULL ? ka : ""), NULL;
			return k;
		}
		ka = json_string_value(json_object_get(k, "alg"));
		if (ka != NULL && strcmp(ka, alg) != 0)
			continue;
		found = k;
		n++;
	}
	if (kid == NULL && n == 1)
		return found;
	if (kid == NULL && n > 1)
		return tk_fail(err, TK_ERR_UNAUTH, "the ID token names no key "
		    "(kid) and the provider has %zu %s keys; twokey cannot tell "
		    "which one signed it", n, kty), NULL;
	*unknown = true;
	if (kid != NULL)
		return tk_fail(err, TK_ERR_UNAUTH, "the ID token was signed "
		    "with key \"%.60s\", which the provider does not publish "
		    "(or not for signing)", kid), NULL;
	return tk_fail(err, TK_ERR_UNAUTH, "the provider publishes no %s key "
	    "for %s tokens", kty, alg), NULL;
}

/* ES256 signatures are r||s (32 bytes each); EVP wants DER. */
static int
es256_der(const unsigned char *sig, unsigned char **der, size_t *derlen)
{
	ECDSA_SIG *es;
	BIGNUM *r, *s;
	unsigned char *p = NULL;
	int n;

	es = ECDSA_SIG_new();
	r = BN_bin2bn(sig, 32, NULL);
	s = BN_bin2bn(sig + 32, 32, NULL);
	if (es == NULL || r == NULL || s == NULL ||
	    ECDSA_SIG_set0(es, r, s) != 1) {
		ECDSA_SIG_free(es);
		BN_free(r);
		BN_free(s);
		return -1;
	}
	n = i2d_ECDSA_SIG(es, &p);
	ECDSA_SIG_free(es);
	if (n <= 0)
		return -1;
	*der = p;
	*derlen = (size_t)n;
	return 0;
}

static int
verify_sig(EVP_PKEY *pk, bool es256, const char *input, size_t inlen,
    const unsigned char *sig, size_t siglen)
{
	unsigned char *der = NULL;
	EVP_MD_CTX *md;
	int ok = 0;

	if (es256) {
		if (siglen != 64 || es256_der(sig, &der, &siglen) != 0)
			return -1;
		sig = der;
	} else if (siglen != (size_t)EVP_PKEY_get_size(pk))
		return -1;
	md = EVP_MD_CTX_new();
	if (md != NULL &&
	    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk) == 1 &&
	    EVP_DigestVerify(md, sig, siglen, (const unsigned char *)input,
	    inlen) == 1)
		ok = 1;
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	return ok ? 0 : -1;
}

/* A NumericDate claim: *v and 0, 1 when absent, -1 when not a number. */
static int
num_claim(const json_t *c, const char *name, tk_time *v)
{
	const json_t *j = json_object_get(c, name);
	double d;

	if (j == NULL)
		return 1;
	if (json_is_integer(j)) {
		/* years 1938 to 33658 at most: no overflow in the checks */
		if (json_integer_value(j) < -(1LL << 40) ||
		    json_integer_value(j) > (1LL << 40))
			return -1;
		*v = (tk_time)json_integer_value(j);
		return 0;
	}
	if (!json_is_real(j))
		return -1;
	d = json_real_value(j);
	if (!(d > -1099511627776.0 && d < 1099511627776.0))
		return -1;
	*v = (tk_time)d;
	return 0;
}

static json_t *
decode_json(const char *s, size_t len)
{
	unsigned char *b;
	size_t n;
	json_t *j;

	if (b64u_decode(s, len, &b, &n) != 0)
		return NULL;
	j = json_loadb((const char *)b, n, JSON_REJECT_DUPLICATES, NULL);
	free(b);
	if (!json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

#define REFUSE(...) \
	do { (void)tk_fail(err, TK_ERR_UNAUTH, "ID token refused: " \
	    __VA_ARGS__); goto out; } while (0)

static int
verify_token(const char *jwt, const json_t *jwks, const char *issuer,
    const char *audience, const char *nonce, tk_time now, json_t **claims,
    bool *unknown, tk_error *err)
{
	const char *d1, *d2, *alg, *kid, *kty, *s;
	json_t *hdr = NULL, *pay = NULL, *aud, *v;
	const json_t *jwk;
	unsigned char *sig = NULL;
	size_t len, siglen, i;
	EVP_PKEY *pk = NULL;
	tk_time exp, iat, nbf;
	bool es256, hit;
	int rc = -1, r;

	*unknown = false;
	if (claims != NULL)
		*claims = NULL;
	if (jwt == NULL || !json_is_object(jwks))
		REFUSE("no token or no key set");
	len = strnlen(jwt, OIDC_JWT_MAX + 1);
	if (len > OIDC_JWT_MAX)
		REFUSE("it is longer than %u characters", OIDC_JWT_MAX);
	d1 = memchr(jwt, '.', len);
	d2 = d1 != NULL ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - jwt))
	    : NULL;
	if (d1 == NULL || d2 == NULL ||
	    memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - jwt)) != NULL ||
	    d1 == jwt || d2 == d1 + 1 || d2 + 1 == jwt + len)
		REFUSE("it is not a signed JWT (three non-empty parts "
		    "separated by dots)");
	hdr = decode_json(jwt, (size_t)(d1 - jwt));
	if (hdr == NULL)
		REFUSE("its header is not base64url-encoded JSON");
	alg = json_string_value(json_object_get(hdr, "alg"));
	if (alg == NULL)
		REFUSE("its header names no algorithm");
	if (strcmp(alg, "RS256") == 0) {
		es256 = false;
		kty = "RSA";
	} else if (strcmp(alg, "ES256") == 0) {
		es256 = true;
		kty = "EC";
	} else if (strcmp(alg, "none") == 0)
		REFUSE("it is unsigned (alg none); twokey accepts only RS256 "
		    "and ES256");
	else
		REFUSE("it is signed with %.20s; twokey accepts only RS256 and "
		    "ES256 (set the client's ID token algorithm at the "
		    "provider)", alg);
	if (json_object_get(hdr, "jwk") != NULL ||
	    json_object_get(hdr, "jku") != NULL ||
	    json_object_get(hdr, "x5u") != NULL ||
	    json_object_get(hdr, "x5c") != NULL)
		REFUSE("its header carries its own key (jwk, jku, x5u or x5c); "
		    "only the provider's published keys are trusted");
	if (json_object_get(hdr, "crit") != NULL)
		REFUSE("its header has critical extensions twokey does not "
		    "understand");
	v = json_object_get(hdr, "kid");
	if (v != NULL && !json_is_string(v))
		REFUSE("its key id (kid) is not a string");
	kid = json_string_value(v);
	jwk = pick_key(jwks, alg, kty, kid, unknown, err);
	if (jwk == NULL) {
		/* prefix kept short: pick_key said what was wrong */
		char m[sizeof(err->msg)];

		if (err != NULL) {
			(void)tk_strlcpy(m, err->msg, sizeof(m));
			(void)tk_fail(err, TK_ERR_UNAUTH, "ID token refused: %s",
			    m);
		}
		goto out;
	}
	pk = es256 ? ec_key(jwk, err) : rsa_key(jwk, err);
	if (pk == NULL)
		goto out;
	if (b64u_decode(d2 + 1, len - (size_t)(d2 + 1 - jwt), &sig, &siglen)
	    != 0)
		REFUSE("its signature is not base64url");
	if (verify_sig(pk, es256, jwt, (size_t)(d2 - jwt), sig, siglen) != 0)
		REFUSE("its signature does not verify with the provider's "
		    "key%s%.60s%s", kid != NULL ? " \"" : "",
		    kid != NULL ? kid : "", kid != NULL ? "\"" : "");
	pay = decode_json(d1 + 1, (size_t)(d2 - d1 - 1));
	if (pay == NULL)
		REFUSE("its claims are not base64url-encoded JSON");
	s = json_string_value(json_object_get(pay, "iss"));
	if (s == NULL || strcmp(s, issuer) != 0)
		REFUSE("it was issued by \"%.100s\", not by \"%.100s\"",
		    s != NULL ? s : "(nobody)", issuer);
	s = json_string_value(json_object_get(pay, "sub"));
	if (s == NULL || s[0] == '\0')
		REFUSE("it names no subject (sub)");
	aud = json_object_get(pay, "aud");
	if (json_is_string(aud)) {
		if (strcmp(json_string_value(aud), audience) != 0)
			REFUSE("it is meant for \"%.60s\", not for this "
			    "client (%.60s)", json_string_value(aud),
			    audience);
	} else if (json_is_array(aud) && json_array_size(aud) > 0) {
		hit = false;
		for (i = 0; i < json_array_size(aud); i++) {
			s = json_string_value(json_array_get(aud, i));
			if (s == NULL)
				REFUSE("its audience list holds a non-string");
			if (strcmp(s, audience) == 0)
				hit = true;
		}
		if (!hit)
			REFUSE("its audience does not include this client "
			    "(%.60s)", audience);
		if (json_array_size(aud) > 1 &&
		    json_object_get(pay, "azp") == NULL)
			REFUSE("it has several audiences and no authorized "
			    "party (azp)");
	} else
		REFUSE("it names no audience (aud)");
	v = json_object_get(pay, "azp");
	if (v != NULL && (!json_is_string(v) ||
	    strcmp(json_string_value(v), audience) != 0))
		REFUSE("its authorized party (azp) is not this client");
	r = num_claim(pay, "exp", &exp);
	if (r != 0)
		REFUSE("it has %s expiry time (exp)", r > 0 ? "no" : "a bad");
	if (now - OIDC_LEEWAY > exp)
		REFUSE("it expired %lld seconds ago; sign in again",
		    (long long)(now - exp));
	r = num_claim(pay, "iat", &iat);
	if (r != 0)
		REFUSE("it has %s issue time (iat)", r > 0 ? "no" : "a bad");
	if (iat > now + OIDC_LEEWAY)
		REFUSE("it was issued %lld seconds in the future; check the "
		    "clocks of twokey and the provider",
		    (long long)(iat - now));
	r = num_claim(pay, "nbf", &nbf);
	if (r < 0)
		REFUSE("it has a bad not-before time (nbf)");
	if (r == 0 && nbf > now + OIDC_LEEWAY)
		REFUSE("it is not valid yet (nbf); check the clocks");
	if (nonce != NULL) {
		s = json_string_value(json_object_get(pay, "nonce"));
		if (s == NULL || strlen(s) != strlen(nonce) ||
		    CRYPTO_memcmp(s, nonce, strlen(nonce)) != 0)
			REFUSE("its nonce does not match this sign-in (a "
			    "replayed or mixed-up login); start again");
	}
	if (claims != NULL)
		*claims = json_incref(pay);
	rc = 0;
out:
	json_decref(hdr);
	json_decref(pay);
	EVP_PKEY_free(pk);
	free(sig);
	return rc;
}

int
tk_oidc_verify_id_token(const char *jwt, const json_t *jwks,
    const char *issuer, const char *audience, const char *nonce,
    tk_time now, json_t **claims, tk_error *err)
{
	bool unknown;

	if (issuer == NULL || audience == NULL) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "ID token check without an "
		    "issuer or audience");
		return -1;
	}
	return verify_token(jwt, jwks, issuer, audience, nonce, now, claims,
	    &unknown, err);
}

/* ------------------------------------------------------------------ */
/* the flow */

static int
random_b64u(size_t n, char *out)
{
	unsigned char b[64];

	if (n > sizeof(b) || RAND_bytes(b, (int)n) != 1)
		return -1;
	b64u_encode(b, n, out);
	OPENSSL_cleanse(b, sizeof(b));
	return 0;
}

int
tk_oidc_begin(tk_oidc *o, bool fresh, const char *next, tk_time now,
    char *url, size_t url_size, char *binding, size_t binding_size,
    tk_error *err)
{
	struct pending p, *slot, *e;
	unsigned char h[32];
	char challenge[B64U_LEN(32) + 1], authz[OIDC_URL_MAX];
	tk_sbuf b;
	size_t i;
	int rc = -1;

	if (url_size > 0)
		url[0] = '\0';
	if (binding_size > 0)
		binding[0] = '\0';
	memset(&p, 0, sizeof(p));
	if (binding_size < sizeof(p.binding))
		return tk_fail(err, TK_ERR_INTERNAL, "binding buffer too small"),
		    -1;
	if (next == NULL)
		next = "";
	if (tk_strlcpy(p.next, next, sizeof(p.next)) != 0)
		return tk_fail(err, TK_ERR_INVALID, "the page to return to is "
		    "longer than %zu characters", sizeof(p.next) - 1), -1;
	if (discover(o, err) != 0)
		return -1;
	if (random_b64u(STATE_BYTES, p.state) != 0 ||
	    random_b64u(NONCE_BYTES, p.nonce) != 0 ||
	    random_b64u(BINDING_BYTES, p.binding) != 0 ||
	    random_b64u(VERIFIER_BYTES, p.verifier) != 0) {
		OPENSSL_cleanse(&p, sizeof(p));
		return tk_fail(err, TK_ERR_INTERNAL, "the random generator "
		    "failed"), -1;
	}
	if (EVP_Digest(p.verifier, strlen(p.verifier), h, NULL, EVP_sha256(),
	    NULL) != 1) {
		OPENSSL_cleanse(&p, sizeof(p));
		return tk_fail(err, TK_ERR_INTERNAL, "SHA-256 failed"), -1;
	}
	b64u_encode(h, sizeof(h), challenge);
	p.fresh = fresh;
	p.created = now;
	(void)pthread_mutex_lock(&o->mu);
	memcpy(authz, o->authz_ep, sizeof(authz));
	(void)pthread_mutex_unlock(&o->mu);

	tk_sbuf_init(&b, 8192);
	tk_sbuf_adds(&b, authz);
	tk_sbuf_adds(&b, strchr(authz, '?') != NULL ? "&" : "?");
	tk_sbuf_adds(&b, "response_type=code&client_id=");
	tk_sbuf_pct(&b, o->client_id);
	tk_sbuf_adds(&b, "&redirect_uri=");
	tk_sbuf_pct(&b, o->redirect_uri);
	tk_sbuf_adds(&b, "&scope=");
	tk_sbuf_pct(&b, o->scopes);
	tk_sbuf_adds(&b, "&state=");
	tk_sbuf_pct(&b, p.state);
	tk_sbuf_adds(&b, "&nonce=");
	tk_sbuf_pct(&b, p.nonce);
	tk_sbuf_adds(&b, "&code_challenge=");
	tk_sbuf_pct(&b, challenge);
	tk_sbuf_adds(&b, "&code_challenge_method=S256");
	if (fresh)
		tk_sbuf_adds(&b, "&prompt=login&max_age=0");
	if (b.failed || b.p == NULL || b.len >= url_size) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "the sign-in URL does not "
		    "fit in %zu characters", url_size);
		goto done;
	}
	memcpy(url, b.p, b.len + 1);
	(void)tk_strlcpy(binding, p.binding, binding_size);

	(void)pthread_mutex_lock(&o->mu);
	slot = NULL;
	for (i = 0; i < OIDC_PENDING_MAX; i++) {
		e = &o->pend[i];
		if (e->state[0] != '\0' && (now - e->created > OIDC_PENDING_TTL
		    || e->created > now + OIDC_PENDING_TTL))
			OPENSSL_cleanse(e, sizeof(*e));
		if (e->state[0] == '\0') {
			if (slot == NULL || slot->state[0] != '\0')
				slot = e;
		} else if (slot == NULL ||
		    (slot->state[0] != '\0' && e->seq < slot->seq))
			slot = e;
	}
	p.seq = ++o->seq;
	*slot = p;
	(void)pthread_mutex_unlock(&o->mu);
	rc = 0;
done:
	tk_sbuf_free(&b);
	OPENSSL_cleanse(&p, sizeof(p));
	OPENSSL_cleanse(h, sizeof(h));
	return rc;
}

/* Takes the login in flight for state out of the table (single use). */
static bool
take_pending(tk_oidc *o, const char *state, struct pending *out)
{
	char key[sizeof(out->state)];
	bool found = false;
	size_t i;

	memset(key, 0, sizeof(key));
	if (strlen(state) != sizeof(key) - 1)
		return false;
	memcpy(key, state, sizeof(key) - 1);
	(void)pthread_mutex_lock(&o->mu);
	for (i = 0; i < OIDC_PENDING_MAX; i++) {
		struct pending *e = &o->pend[i];

		if (e->state[0] != '\0' && !found &&
		    CRYPTO_memcmp(e->state, key, sizeof(key)) == 0) {
			*out = *e;
			OPENSSL_cleanse(e, sizeof(*e));
			found = true;
		}
	}
	(void)pthread_mutex_unlock(&o->mu);
	return found;
}

/* printable ASCII, bounded */
static bool
param_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= OIDC_PARAM_MAX || (unsigned char)s[i] < 0x20 ||
		    (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* The provider's error code, shown only when it is a plain word. */
static const char *
safe_word(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0')
		return "(none)";
	for (i = 0; s[i] != '\0'; i++)
		if (i >= 64 || !((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' &&
		    s[i] <= '9') || s[i] == '_' || s[i] == '-' || s[i] == '.'))
			return "(unreadable)";
	return s;
}

/* POSTs the code to the token endpoint; *id_token gets a copy (freed by
 * the caller). */
static int
exchange(tk_oidc *o, const char *code, const struct pending *p,
    char **id_token, tk_error *err)
{
	char tep[OIDC_URL_MAX], excerpt[200];
	tk_sbuf body, cred, auth;
	tk_http_call q;
	tk_http_reply r;
	json_t *j = NULL;
	const char *it, *e, *ed;
	int rc = -1;

	*id_token = NULL;
	(void)pthread_mutex_lock(&o->mu);
	memcpy(tep, o->token_ep, sizeof(tep));
	(void)pthread_mutex_unlock(&o->mu);
	tk_sbuf_init(&body, 16384);
	tk_sbuf_init(&cred, 2048);
	tk_sbuf_init(&auth, 4096);
	tk_sbuf_adds(&body, "grant_type=authorization_code&code=");
	tk_sbuf_pct(&body, code);
	tk_sbuf_adds(&body, "&redirect_uri=");
	tk_sbuf_pct(&body, o->redirect_uri);
	tk_sbuf_adds(&body, "&code_verifier=");
	tk_sbuf_pct(&body, p->verifier);
	memset(&q, 0, sizeof(q));
	q.headers[0] = "Accept: application/json";
	q.headers[1] = "Content-Type: application/x-www-form-urlencoded";
	if (o->secret != NULL) {
		/* client_secret_basic: both parts form-encoded first
		 * (RFC 6749 section 2.3.1) */
		tk_sbuf_pct(&cred, o->client_id);
		tk_sbuf_adds(&cred, ":");
		tk_sbuf_pct(&cred, o->secret);
		if (!cred.failed && cred.p != NULL &&
		    TK_B64_LEN(cred.len) + 32 < auth.max) {
			char *t = malloc(TK_B64_LEN(cred.len) + 1);

			if (t != NULL) {
				tk_b64_encode((const unsigned char *)cred.p,
				    cred.len, t);
				tk_sbuf_adds(&auth, "Authorization: Basic ");
				tk_sbuf_adds(&auth, t);
				OPENSSL_cleanse(t, strlen(t));
				free(t);
			} else
				auth.failed = 1;
		} else
			auth.failed = 1;
		q.headers[2] = auth.p;
	} else {
		tk_sbuf_adds(&body, "&client_id=");
		tk_sbuf_pct(&body, o->client_id);
	}
	if (body.failed || body.p == NULL ||
	    (o->secret != NULL && (auth.failed || auth.p == NULL))) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "out of memory building the "
		    "token request");
		goto done;
	}
	q.method = "POST";
	q.url = tep;
	q.body = body.p;
	q.body_len = body.len;
	q.ca_file = o->ca_file[0] != '\0' ? o->ca_file : NULL;
	q.timeout_ms = OIDC_TIMEOUT_MS;
	tk_http_do(&q, &r);
	if (r.fate != TK_HTTP_ANSWERED) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "the identity provider's "
		    "token endpoint %.200s did not answer%s: %.200s; try again",
		    tep, r.timed_out ? " in time" : "", r.error);
		tk_http_resp_free(&r);
		goto done;
	}
	if (r.body.p != NULL && !r.body.truncated)
		j = json_loadb(r.body.p, r.body.len, JSON_REJECT_DUPLICATES,
		    NULL);
	if (r.status != 200) {
		e = json_string_value(json_object_get(j, "error"));
		ed = json_string_value(json_object_get(j, "error_description"));
		excerpt[0] = '\0';
		if (ed != NULL)
			tk_conn_excerpt(ed, strlen(ed), 120, o->secret,
			    excerpt, sizeof(excerpt));
		(void)tk_fail(err, TK_ERR_UNAUTH, "the identity provider "
		    "refused to exchange the sign-in code (HTTP %ld, %s%s%s); "
		    "start the sign-in again", r.status, safe_word(e),
		    excerpt[0] != '\0' ? ": " : "", excerpt);
		tk_http_resp_free(&r);
		goto done;
	}
	tk_http_resp_free(&r);
	it = json_string_value(json_object_get(j, "id_token"));
	if (it == NULL) {
		(void)tk_fail(err, TK_ERR_UNAUTH, "the identity provider's "
		    "token answer has no id_token; check that the client may "
		    "use the openid scope");
		goto done;
	}
	*id_token = strdup(it);
	if (*id_token == NULL) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "out of memory");
		goto done;
	}
	rc = 0;
done:
	json_decref(j);
	tk_sbuf_free(&body);
	tk_sbuf_free(&cred);
	tk_sbuf_free(&auth);
	return rc;
}

int
tk_oidc_finish(tk_oidc *o, const char *state, const char *code,
    const char *error, const char *binding, tk_time now,
    tk_oidc_result *out, tk_error *err)
{
	struct pending p;
	json_t *jwks = NULL, *claims = NULL;
	char *idt = NULL;
	const char *login;
	bool unknown;
	tk_time at;
	int r, rc = -1;

	memset(out, 0, sizeof(*out));
	memset(&p, 0, sizeof(p));
	if (state == NULL || state[0] == '\0' || !param_ok(state) ||
	    !take_pending(o, state, &p))
		return tk_fail(err, TK_ERR_UNAUTH, "this sign-in is unknown, "
		    "already used or too old; start the sign-in again"), -1;
	if (binding == NULL || strlen(binding) != strlen(p.binding) ||
	    CRYPTO_memcmp(binding, p.binding, strlen(p.binding)) != 0) {
		(void)tk_fail(err, TK_ERR_UNAUTH, "this sign-in was started in "
		    "another browser (or its cookie was lost); start the "
		    "sign-in again from this browser");
		goto done;
	}
	if (now - p.created > OIDC_PENDING_TTL || p.created > now + 60) {
		(void)tk_fail(err, TK_ERR_UNAUTH, "this sign-in took longer "
		    "than %d minutes; start it again", OIDC_PENDING_TTL / 60);
		goto done;
	}
	if (error != NULL && error[0] != '\0') {
		(void)tk_fail(err, TK_ERR_UNAUTH, "the identity provider did "
		    "not sign you in (%s); start the sign-in again or ask "
		    "your identity team", safe_word(error));
		goto done;
	}
	if (code == NULL || code[0] == '\0' || !param_ok(code)) {
		(void)tk_fail(err, TK_ERR_UNAUTH, "the identity provider sent "
		    "no usable code; start the sign-in again");
		goto done;
	}
	if (discover(o, err) != 0 || exchange(o, code, &p, &idt, err) != 0)
		goto done;
	if (get_jwks(o, false, now, &jwks, err) != 0)
		goto done;
	r = verify_token(idt, jwks, o->issuer, o->client_id, p.nonce, now,
	    &claims, &unknown, err);
	if (r != 0 && unknown) {
		/* the provider may have rotated its keys */
		jwks_release(o, jwks);
		jwks = NULL;
		if (get_jwks(o, true, now, &jwks, err) != 0)
			goto done;
		if (jwks == NULL)
			goto done;	/* refetched too recently; err kept */
		r = verify_token(idt, jwks, o->issuer, o->client_id, p.nonce,
		    now, &claims, &unknown, err);
	}
	if (r != 0)
		goto done;
	login = json_string_value(json_object_get(claims, o->claim));
	if (login == NULL || login[0] == '\0') {
		(void)tk_fail(err, TK_ERR_UNAUTH, "the identity provider's "
		    "token has no \"%s\" claim to name you by; ask your "
		    "identity team to release it to twokey (or set claim: in "
		    "the OIDC file)", o->claim);
		goto done;
	}
	if (!token_text(login) || tk_strlcpy(out->login, login,
	    sizeof(out->login)) != 0) {
		(void)tk_fail(err, TK_ERR_UNAUTH, "the \"%s\" claim is not a "
		    "twokey login (at most %d printable characters, no "
		    "blanks)", o->claim, TK_ID_MAX - 1);
		memset(out, 0, sizeof(*out));
		goto done;
	}
	r = num_claim(claims, "auth_time", &at);
	if (r < 0) {
		(void)tk_fail(err, TK_ERR_UNAUTH, "ID token refused: its "
		    "auth_time is not a number");
		memset(out, 0, sizeof(*out));
		goto done;
	}
	/* fresh: the provider authenticated after twokey asked (not an
	 * earlier login it kept despite prompt=login&max_age=0) */
	if (p.fresh && (r != 0 || at < now - OIDC_FRESH_MAX ||
	    at < p.created - OIDC_LEEWAY || at > now + OIDC_LEEWAY)) {
		(void)tk_fail(err, TK_ERR_UNAUTH, "the identity provider did "
		    "not sign you in again just now (%s); re-authentication "
		    "needs a fresh sign-in: try again", r != 0 ?
		    "no auth_time in the token" : "its auth_time is too old");
		memset(out, 0, sizeof(*out));
		goto done;
	}
	if (r != 0 && num_claim(claims, "iat", &at) != 0)
		at = now;
	out->auth_time = at;
	(void)tk_strlcpy(out->next, p.next, sizeof(out->next));
	out->fresh = p.fresh;
	rc = 0;
done:
	if (jwks != NULL)
		jwks_release(o, jwks);
	json_decref(claims);
	if (idt != NULL) {
		OPENSSL_cleanse(idt, strlen(idt));
		free(idt);
	}
	OPENSSL_cleanse(&p, sizeof(p));
	return rc;
}
