/*
 * seal.c - the seal key file and AES-256-GCM sealing of secrets at rest
 * (formats in seal.h).
 *
 * Owns: the key file's creation and checks. Nothing is kept between
 * calls; every buffer that held key bytes or plaintext is wiped before
 * return, and an output buffer is wiped whenever a call fails.
 */
#include "verify/seal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/b64.h"

#define PREFIX_LEN (sizeof(TK_SEAL_KEY_PREFIX) - 1)
#define KEY_B64_LEN TK_B64_LEN(TK_SEAL_KEY_LEN)
/* prefix + base64 + newline: 60 bytes */
#define KEY_FILE_LEN (PREFIX_LEN + KEY_B64_LEN + 1)

/* ---- key file ---------------------------------------------------------- */

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* fsync of the directory that holds path, so the new name is durable. */
static int
sync_dir(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	int fd, rc;

	if (tk_strlcpy(dir, path, sizeof(dir)) != 0)
		return -1;
	slash = strrchr(dir, '/');
	if (slash == NULL)
		(void)tk_strlcpy(dir, ".", sizeof(dir));
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	(void)close(fd);
	return rc;
}

int
tk_seal_key_create(const char *path, tk_error *err)
{
	unsigned char key[TK_SEAL_KEY_LEN];
	char line[KEY_FILE_LEN + 1];
	int fd, e;

	if (path == NULL || path[0] == '\0') {
		tk_fail(err, TK_ERR_INVALID, "seal key: no file name given");
		return -1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd < 0) {
		e = errno;
		if (e == EEXIST)
			tk_fail(err, TK_ERR_INVALID, "seal key %s already "
			    "exists; it is never overwritten (seeds sealed "
			    "under it would be lost). Keep it, or move it away "
			    "first if you really mean to start again", path);
		else
			tk_fail(err, TK_ERR_INTERNAL, "seal key: cannot create "
			    "%s: %s", path, strerror(e));
		return -1;
	}
	if (RAND_bytes(key, sizeof(key)) != 1) {
		tk_fail(err, TK_ERR_INTERNAL, "seal key: the random number "
		    "generator failed; %s not written", path);
		goto fail;
	}
	memcpy(line, TK_SEAL_KEY_PREFIX, PREFIX_LEN);
	tk_b64_encode(key, sizeof(key), line + PREFIX_LEN);
	line[KEY_FILE_LEN - 1] = '\n';
	line[KEY_FILE_LEN] = '\0';
	if (fchmod(fd, 0600) != 0 || write_all(fd, line, KEY_FILE_LEN) != 0 ||
	    fsync(fd) != 0) {
		tk_fail(err, TK_ERR_INTERNAL, "seal key: writing %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		tk_fail(err, TK_ERR_INTERNAL, "seal key: writing %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	fd = -1;
	if (sync_dir(path) != 0) {
		tk_fail(err, TK_ERR_INTERNAL, "seal key: syncing the directory "
		    "of %s: %s", path, strerror(errno));
		goto fail;
	}
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(line, sizeof(line));
	return 0;
fail:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(line, sizeof(line));
	if (fd >= 0)
		(void)close(fd);
	(void)unlink(path);
	return -1;
}

int
tk_seal_key_load(const char *path, unsigned char key[TK_SEAL_KEY_LEN],
    tk_error *err)
{
	char buf[KEY_FILE_LEN + 2];
	struct stat st;
	size_t len = 0, n = 0;
	ssize_t r;
	int fd, e;

	OPENSSL_cleanse(key, TK_SEAL_KEY_LEN);
	if (path == NULL || path[0] == '\0') {
		tk_fail(err, TK_ERR_INVALID, "seal key: no file name given");
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		e = errno;
		tk_fail(err, TK_ERR_INVALID, "seal key: cannot open %s: %s%s",
		    path, strerror(e), e == ENOENT ? " (twokey init creates "
		    "it; restore it from your backup if the database already "
		    "holds sealed seeds)" : e == ELOOP ? " (a symbolic link "
		    "is not accepted; give the real file)" : "");
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		(void)close(fd);
		tk_fail(err, TK_ERR_INVALID, "seal key: %s is not a regular "
		    "file", path);
		return -1;
	}
	if ((st.st_mode & 077) != 0) {
		(void)close(fd);
		tk_fail(err, TK_ERR_INVALID, "seal key: %s is readable or "
		    "writable by group or others (mode %03o); it must be "
		    "readable only by its owner: chmod 600 %s, and consider "
		    "the key exposed if others could read it", path,
		    (unsigned)(st.st_mode & 0777), path);
		return -1;
	}
	while (len < sizeof(buf)) {
		r = read(fd, buf + len, sizeof(buf) - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e = errno;
			(void)close(fd);
			OPENSSL_cleanse(buf, sizeof(buf));
			tk_fail(err, TK_ERR_INTERNAL, "seal key: reading %s: "
			    "%s", path, strerror(e));
			return -1;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	(void)close(fd);
	if (len != KEY_FILE_LEN || buf[KEY_FILE_LEN - 1] != '\n' ||
	    memcmp(buf, TK_SEAL_KEY_PREFIX, PREFIX_LEN) != 0 ||
	    tk_b64_decode(buf + PREFIX_LEN, KEY_B64_LEN, key, TK_SEAL_KEY_LEN,
	    &n) != 0 || n != TK_SEAL_KEY_LEN) {
		OPENSSL_cleanse(buf, sizeof(buf));
		OPENSSL_cleanse(key, TK_SEAL_KEY_LEN);
		tk_fail(err, TK_ERR_INVALID, "seal key: %s is not a twokey "
		    "seal key (expected one line \"%s\" followed by the "
		    "base64 of %d bytes, %zu bytes in all; found %zu%s); "
		    "restore the file from your backup", path,
		    TK_SEAL_KEY_PREFIX, TK_SEAL_KEY_LEN, KEY_FILE_LEN, len,
		    len == sizeof(buf) ? " or more" : "");
		return -1;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

/* ---- sealing ----------------------------------------------------------- */

/* Feeds the additional data: the version byte, then aad. */
static int
put_aad(EVP_CIPHER_CTX *c, const char *aad)
{
	static const unsigned char ver = TK_SEAL_VERSION;
	size_t alen = aad != NULL ? strlen(aad) : 0;
	int outl;

	if (alen > INT_MAX)
		return -1;
	if (EVP_CipherUpdate(c, NULL, &outl, &ver, 1) != 1)
		return -1;
	if (alen > 0 && EVP_CipherUpdate(c, NULL, &outl,
	    (const unsigned char *)aad, (int)alen) != 1)
		return -1;
	return 0;
}

int
tk_seal(const unsigned char key[TK_SEAL_KEY_LEN], const char *aad,
    const unsigned char *in, size_t n, unsigned char *out, size_t out_size,
    size_t *out_len, tk_error *err)
{
	EVP_CIPHER_CTX *c = NULL;
	unsigned char *nonce, *ct;
	int l1 = 0, l2 = 0;

	if (out_len != NULL)
		*out_len = 0;
	if (key == NULL || out == NULL || out_len == NULL ||
	    (in == NULL && n > 0) || n > INT_MAX - TK_SEAL_OVERHEAD) {
		tk_fail(err, TK_ERR_INVALID, "seal: bad arguments");
		return -1;
	}
	if (out_size < n + TK_SEAL_OVERHEAD) {
		tk_fail(err, TK_ERR_INVALID, "seal: output buffer of %zu bytes "
		    "is too small for %zu (plaintext + %d)", out_size,
		    n + TK_SEAL_OVERHEAD, TK_SEAL_OVERHEAD);
		return -1;
	}
	out[0] = TK_SEAL_VERSION;
	nonce = out + 1;
	ct = nonce + TK_SEAL_NONCE_LEN;
	if (RAND_bytes(nonce, TK_SEAL_NONCE_LEN) != 1 ||
	    (c = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, TK_SEAL_NONCE_LEN,
	    NULL) != 1 ||
	    EVP_EncryptInit_ex(c, NULL, NULL, key, nonce) != 1 ||
	    put_aad(c, aad) != 0 ||
	    (n > 0 && EVP_EncryptUpdate(c, ct, &l1, in, (int)n) != 1) ||
	    EVP_EncryptFinal_ex(c, ct + l1, &l2) != 1 ||
	    (size_t)l1 + (size_t)l2 != n ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TK_SEAL_TAG_LEN,
	    ct + n) != 1) {
		EVP_CIPHER_CTX_free(c);
		OPENSSL_cleanse(out, out_size);
		tk_fail(err, TK_ERR_INTERNAL, "seal: AES-256-GCM encryption "
		    "failed (OpenSSL)");
		return -1;
	}
	EVP_CIPHER_CTX_free(c);
	*out_len = n + TK_SEAL_OVERHEAD;
	return 0;
}

int
tk_unseal(const unsigned char key[TK_SEAL_KEY_LEN], const char *aad,
    const unsigned char *in, size_t n, unsigned char *out, size_t out_size,
    size_t *out_len, tk_error *err)
{
	EVP_CIPHER_CTX *c = NULL;
	const unsigned char *nonce, *ct;
	unsigned char tag[TK_SEAL_TAG_LEN];
	size_t plen;
	int l1 = 0, l2 = 0, ok;

	if (out_len != NULL)
		*out_len = 0;
	if (key == NULL || out_len == NULL || (out == NULL && out_size > 0) ||
	    in == NULL || n > INT_MAX) {
		tk_fail(err, TK_ERR_INVALID, "unseal: bad arguments");
		return -1;
	}
	if (n < TK_SEAL_OVERHEAD || in[0] != TK_SEAL_VERSION) {
		if (out != NULL)
			OPENSSL_cleanse(out, out_size);
		tk_fail(err, TK_ERR_INVALID, "unseal: not a sealed secret "
		    "(%s); the stored value is damaged or from another "
		    "version", n < TK_SEAL_OVERHEAD ? "too short" :
		    "unknown version byte");
		return -1;
	}
	plen = n - TK_SEAL_OVERHEAD;
	if (out_size < plen || (out == NULL && plen > 0)) {
		if (out != NULL)
			OPENSSL_cleanse(out, out_size);
		tk_fail(err, TK_ERR_INVALID, "unseal: output buffer of %zu "
		    "bytes is too small for %zu", out_size, plen);
		return -1;
	}
	nonce = in + 1;
	ct = nonce + TK_SEAL_NONCE_LEN;
	memcpy(tag, ct + plen, TK_SEAL_TAG_LEN);
	ok = (c = EVP_CIPHER_CTX_new()) != NULL &&
	    EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, TK_SEAL_NONCE_LEN,
	    NULL) == 1 &&
	    EVP_DecryptInit_ex(c, NULL, NULL, key, nonce) == 1 &&
	    put_aad(c, aad) == 0 &&
	    (plen == 0 || EVP_DecryptUpdate(c, out, &l1, ct, (int)plen) == 1) &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TK_SEAL_TAG_LEN,
	    tag) == 1 &&
	    EVP_DecryptFinal_ex(c, out != NULL ? out + l1 : tag, &l2) == 1 &&
	    (size_t)l1 + (size_t)l2 == plen;
	EVP_CIPHER_CTX_free(c);
	if (!ok) {
		if (out != NULL)
			OPENSSL_cleanse(out, out_size);
		tk_fail(err, TK_ERR_INVALID, "unseal: the sealed secret does "
		    "not open: wrong seal key, a different context (\"%s\") "
		    "or a damaged value; check that the seal key file is the "
		    "one this database was created with", aad != NULL ? aad :
		    "");
		return -1;
	}
	*out_len = plen;
	return 0;
}
