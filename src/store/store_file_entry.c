/* store_file_entry.c - one user's line of the users file, made from a
 * password: every secret derived here, the password itself never kept. */
#include "store/store_file.h"

#include <crypt.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "store/store_impl.h"
#include "util/b64.h"
#include "util/buf.h"
#include "util/str.h"

/* SCRAM salts: RFC 5802 leaves the length open; 16 random bytes is what
 * Dovecot, Cyrus and PostgreSQL use, and is ample against precomputation.
 *
 * Iterations (STORE_FILE_SCRAM_ITER = 4096): RFC 7677 section 4 sets 4096
 * as the floor.  We stay at the floor because the cost falls on every
 * client at every login (few cache the SaltedPassword), while a thief of
 * this file gains little from more rounds that the yescrypt {CRYPT} hash
 * beside it does not already deny; raise it here if clients allow. */
#define STORE_FILE_ENTRY_SALT_LEN 16

static int
store_file_entry_crypt(struct buf *line, const char *prep, char **err_r)
{
	/* libxcrypt's default cost for yescrypt (count 0), random salt from
	 * the kernel (rbytes NULL). */
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, setting, sizeof setting) == NULL) {
		*err_r = str_printf("crypt_gensalt(yescrypt): %s", strerror(errno));
		return -1;
	}
	struct crypt_data *cd = calloc(1, sizeof *cd);
	if (cd == NULL) {
		*err_r = str_printf("out of memory");
		return -1;
	}
	int rc = -1;
	const char *h = crypt_r(prep, setting, cd);
	if (h == NULL || h[0] == '*')
		*err_r = str_printf("crypt(yescrypt) failed: %s", strerror(errno));
	else if (buf_printf(line, ":{CRYPT}%s", h) != BUF_OK)
		*err_r = str_printf("entry too long");
	else
		rc = 0;
	OPENSSL_cleanse(cd, sizeof *cd);
	free(cd);
	return rc;
}

static int
store_file_entry_scram(struct buf *line, const char *md, const char *scheme,
		       const char *password, char **err_r)
{
	uint8_t salt[STORE_FILE_ENTRY_SALT_LEN];
	struct sasl_cred_answer a;
	const char *why = "SCRAM derivation failed";
	int rc = -1;
	memset(&a, 0, sizeof a);
	if (RAND_bytes(salt, sizeof salt) != 1) {
		*err_r = str_printf("RAND_bytes failed: no random salt");
		return -1;
	}
	if (sasl_scram_derive(md, password, salt, sizeof salt, STORE_FILE_SCRAM_ITER, &a, &why) < 0) {
		*err_r = str_printf("password refused for %s: %s", scheme, why);
		goto out;
	}
	if (buf_printf(line, ":%s%u,", scheme, STORE_FILE_SCRAM_ITER) != BUF_OK ||
	    b64_encode(line, salt, sizeof salt) != BUF_OK || buf_addch(line, ',') != BUF_OK ||
	    b64_encode(line, a.stored_key, a.key_len) != BUF_OK || buf_addch(line, ',') != BUF_OK ||
	    b64_encode(line, a.server_key, a.key_len) != BUF_OK) {
		*err_r = str_printf("entry too long");
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(&a, sizeof a);
	return rc;
}

static int
store_file_entry_cram(struct buf *line, const char *password, char **err_r)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t secret[32];
	char text[2 * sizeof secret];
	int rc = -1;
	if (sasl_cram_md5_derive(password, secret) < 0) {
		*err_r = str_printf("CRAM-MD5 derivation failed");
		goto out;
	}
	for (size_t i = 0; i < sizeof secret; i++) {
		text[2 * i] = hex[secret[i] >> 4];
		text[2 * i + 1] = hex[secret[i] & 0x0f];
	}
	if (buf_addstr(line, ":{CRAM-MD5}") != BUF_OK || buf_add(line, text, sizeof text) != BUF_OK) {
		*err_r = str_printf("entry too long");
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(secret, sizeof secret);
	OPENSSL_cleanse(text, sizeof text);
	return rc;
}

int
store_file_entry_make(struct buf *line, const char *name, const char *password, char **err_r)
{
	*err_r = NULL;
	if (*password == '\0') {
		*err_r = str_printf("empty password");
		return -1;
	}
	if (strlen(password) > SASL_PASS_MAX) {
		*err_r = str_printf("password longer than %d bytes", SASL_PASS_MAX);
		return -1;
	}
	char *prep = NULL;
	const char *why;
	if (sasl_saslprep(password, &prep, &why) < 0) {
		*err_r = str_printf("password refused: %s", why);
		return -1;
	}
	int rc = -1;
	if (*prep == '\0') {
		*err_r = str_printf("password is empty after SASLprep");
		goto out;
	}
	/* Take the whole capacity now: buf growth by realloc() would leave
	 * copies of the secrets behind in freed memory. */
	uint8_t *room;
	size_t had = line->len;
	if (buf_extend(line, line->max - had, &room) != BUF_OK) {
		*err_r = str_printf("out of memory");
		goto out;
	}
	buf_truncate(line, had);
	if (buf_addstr(line, name) != BUF_OK) {
		*err_r = str_printf("entry too long");
		goto out;
	}
	if (store_file_entry_crypt(line, prep, err_r) < 0 ||
	    store_file_entry_scram(line, "SHA1", "{SCRAM-SHA-1}", password, err_r) < 0 ||
	    store_file_entry_scram(line, "SHA256", "{SCRAM-SHA-256}", password, err_r) < 0 ||
	    store_file_entry_cram(line, password, err_r) < 0)
		goto out;
	if (buf_addch(line, '\n') != BUF_OK) {
		*err_r = str_printf("entry too long");
		goto out;
	}
	rc = 0;
out:
	str_wipe_free(&prep);
	return rc;
}
