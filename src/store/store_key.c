/* store_key.c - the server's fake-salt key: the secret under which SCRAM
 * derives a salt for a user who does not exist (sasl_server_params).
 *
 * It must outlive a restart: a key drawn at each start made an unknown
 * user's s= change across restarts while a real user's stayed, which
 * tells who exists.  So it lives in a file, by default beside the
 * credential store (USERSFILE.key), made once on the first start.  It
 * belongs to the store layer, not the network code, because only the
 * process that reads the store needs it.
 */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "store/store_file.h"
#include "store/store_impl.h"
#include "util/str.h"

char *
store_fake_key_path(const char *spec, const char *base_dir, char **err_r)
{
	*err_r = NULL;
	char *users;
	if (store_spec_find_file(spec, base_dir, &users, err_r) < 0)
		return NULL;
	if (users == NULL) {	/* no file store: no SCRAM, no key */
		free(*err_r);
		*err_r = NULL;
		return NULL;
	}
	char *path = str_printf("%s.key", users);
	if (path == NULL)
		*err_r = str_printf("%s: out of memory", users);
	free(users);
	return path;
}

/* Reads exactly STORE_FAKE_KEY_LEN bytes from fd; 0, or -1 (short or
 * long file, or a read error with errno set). */
static int
key_read_fd(int fd, uint8_t key_r[STORE_FAKE_KEY_LEN])
{
	size_t got = 0;
	uint8_t extra;
	errno = 0;
	while (got < STORE_FAKE_KEY_LEN) {
		ssize_t r = read(fd, key_r + got, STORE_FAKE_KEY_LEN - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	ssize_t r;
	while ((r = read(fd, &extra, 1)) < 0 && errno == EINTR)
		;
	return r == 0 ? 0 : -1;
}

/* 0 loaded, 1 missing, -1 error with *err_r.  A symbolic link, a file
 * others may read, or one of the wrong size is refused, never used. */
static int
key_load(const char *path, uint8_t key_r[STORE_FAKE_KEY_LEN], char **err_r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT)
		return 1;
	if (fd < 0) {
		*err_r = errno == ELOOP
			 ? str_printf("%s: is a symbolic link; refusing to follow it", path)
			 : str_printf("%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	int rc = -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		*err_r = str_printf("%s: not a regular file", path);
	else if ((st.st_mode & 007) != 0)
		*err_r = str_printf("%s: fake-salt key is open to others (chmod 600 %s)", path, path);
	else if (st.st_size != STORE_FAKE_KEY_LEN || key_read_fd(fd, key_r) < 0)
		*err_r = errno != 0 && st.st_size == STORE_FAKE_KEY_LEN
			 ? str_printf("%s: read: %s", path, strerror(errno))
			 : str_printf("%s: malformed fake-salt key: %lld bytes, want %d"
				      " (remove it and a new one is made at the next start)",
				      path, (long long)st.st_size, STORE_FAKE_KEY_LEN);
	else
		rc = 0;
	(void)close(fd);	/* read only: nothing to lose */
	if (rc < 0)
		OPENSSL_cleanse(key_r, STORE_FAKE_KEY_LEN);
	return rc;
}

/* Writes key to the new file fd and closes it; 0, or -1 with errno
 * set and *step_r naming the step that failed. */
static int
key_write_close(int fd, const uint8_t *key, size_t n, const char **step_r)
{
	ssize_t w;
	while ((w = write(fd, key, n)) < 0 && errno == EINTR)
		;
	*step_r = "write";
	if (w == (ssize_t)n) {
		*step_r = "fsync";
		if (fsync(fd) == 0) {
			*step_r = "close";
			return close(fd);
		}
	} else if (w >= 0) {
		errno = ENOSPC;	/* a short write of 32 bytes: the disk is full */
	}
	int saved = errno;
	(void)close(fd);
	errno = saved;
	return -1;
}

/* Writes new random bytes to a private temporary file, makes them
 * durable, and links it to path: link() never replaces, so of two
 * servers starting at once, the first key wins and both read it. */
static int
key_create(const char *path, char **err_r)
{
	uint8_t key[STORE_FAKE_KEY_LEN];
	char *tmp = str_printf("%s.tmp.XXXXXX", path);
	if (tmp == NULL) {
		*err_r = str_printf("%s: out of memory", path);
		return -1;
	}
	if (RAND_priv_bytes(key, sizeof key) != 1) {
		*err_r = str_printf("%s: cannot get random bytes from OpenSSL", path);
		free(tmp);
		return -1;
	}
	/* mkostemp: O_CREAT|O_EXCL (never through a symbolic link), 0600. */
	int fd = mkostemp(tmp, O_CLOEXEC);
	const char *step = "create";
	int rc = -1;
	if (fd < 0 || key_write_close(fd, key, sizeof key, &step) < 0)
		*err_r = str_printf("%s: %s: %s", tmp, step, strerror(errno));
	else if (link(tmp, path) < 0 && errno != EEXIST)
		*err_r = str_printf("%s: cannot link %s to it: %s", path, tmp, strerror(errno));
	else if (store_file_sync_dir(path) < 0)
		*err_r = str_printf("%s: written, but fsync of its folder failed: %s", path,
				    strerror(errno));
	else
		rc = 0;
	if (fd >= 0)
		(void)unlink(tmp);	/* ours; path keeps the data */
	free(tmp);
	OPENSSL_cleanse(key, sizeof key);
	return rc;
}

int
store_fake_key_load(const char *path, bool create, uint8_t key_r[STORE_FAKE_KEY_LEN],
		    char **err_r)
{
	*err_r = NULL;
	int rc = key_load(path, key_r, err_r);
	if (rc != 1 || !create)
		return rc;
	if (key_create(path, err_r) < 0)
		return -1;
	rc = key_load(path, key_r, err_r);
	if (rc == 1)	/* removed between our link and our read */
		*err_r = str_printf("%s: vanished right after it was made", path);
	return rc == 0 ? 0 : -1;
}
