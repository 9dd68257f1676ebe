/* store_file_edit.c - adding and removing users: read, change, write a
 * new file, rename it over the old one, all under one exclusive lock.
 *
 * Lost updates are the danger: two `postern passwd add` runs that both
 * read the file before either writes it would each drop the other's
 * user.  flock(2) on PATH.lock serialises the whole read-modify-write.
 * The lock file is never removed: unlinking it would let a third run
 * lock a fresh inode while the second still holds the old one.
 */
#include "store/store_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "store/store_impl.h"
#include "util/buf.h"
#include "util/log.h"

/* One edit in progress. */
struct edit {
	const char *path;
	int lock_fd;
	char *text;		/* the current file; NULL when there is none */
	size_t len;
	struct stat st;
	struct store_file_db db;
};

/* A piece of the new file. */
struct piece {
	const char *p;
	size_t n;
};

static void
edit_end(struct edit *e)
{
	store_file_db_free(&e->db);
	if (e->text != NULL) {
		OPENSSL_cleanse(e->text, e->len);
		free(e->text);
		e->text = NULL;
	}
	if (e->lock_fd >= 0)
		close(e->lock_fd);	/* releases the flock */
	e->lock_fd = -1;
}

/* Opens PATH.lock, creating it; the fd, or -1 with *err_r.  The lock
 * lives in a folder others may write (and `postern passwd` often runs
 * as root): a symbolic link or other non-file planted there is refused,
 * never followed, so that nobody can make root create or open a file
 * of their choosing. */
static int
edit_lock_open(const char *path, char **err_r)
{
	char *lock_path = NULL;
	if (asprintf(&lock_path, "%s.lock", path) < 0) {
		*err_r = str_printf("%s: out of memory", path);
		return -1;
	}
	int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
	struct stat st;
	if (fd < 0 && errno == ELOOP)
		*err_r = str_printf("%s: is a symbolic link; refusing to follow it (remove it)",
				    lock_path);
	else if (fd < 0)
		*err_r = str_printf("%s: cannot create lock file: %s", lock_path, strerror(errno));
	else if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		*err_r = str_printf("%s: not a regular file; refusing to use it as the lock (remove it)",
				    lock_path);
		(void)close(fd);
		fd = -1;
	}
	free(lock_path);
	return fd;
}

static int
edit_lock(struct edit *e, char **err_r)
{
	e->lock_fd = edit_lock_open(e->path, err_r);
	if (e->lock_fd < 0)
		return -1;
	int rc;
	while ((rc = flock(e->lock_fd, LOCK_EX)) < 0 && errno == EINTR)
		;
	if (rc < 0)
		*err_r = str_printf("%s.lock: cannot lock: %s", e->path, strerror(errno));
	return rc;
}

int
store_file_edit_writable(const char *path, char **err_r)
{
	*err_r = NULL;
	int fd = edit_lock_open(path, err_r);
	if (fd < 0)
		return -1;
	(void)close(fd);	/* opened for its permission check only */
	const char *slash = strrchr(path, '/');
	char *dir = slash == NULL ? strdup(".")
		  : strndup(path, slash == path ? 1 : (size_t)(slash - path));
	if (dir == NULL) {
		*err_r = str_printf("%s: out of memory", path);
		return -1;
	}
	int rc = 0;
	/* The new file is written beside the old and renamed over it. */
	if (access(dir, W_OK | X_OK) < 0) {
		*err_r = str_printf("%s: cannot write in this folder (%s is replaced by a rename): %s",
				    dir, path, strerror(errno));
		rc = -1;
	}
	free(dir);
	return rc;
}

/* Locks, then reads and checks the current file (missing = empty). */
static int
edit_begin(struct edit *e, const char *path, char **err_r)
{
	memset(e, 0, sizeof *e);
	e->path = path;
	e->lock_fd = -1;
	if (edit_lock(e, err_r) < 0)
		return -1;
	if (store_file_db_read(path, &e->text, &e->len, &e->st, err_r) < 0) {
		if (errno != ENOENT)
			return -1;
		free(*err_r);
		*err_r = NULL;
		e->text = NULL;
		e->len = 0;
		return 0;
	}
	/* A file we cannot parse is not rewritten: the admin fixes it. */
	return store_file_db_parse(&e->db, path, e->text, e->len, err_r);
}

static int
edit_write_all(int fd, const struct piece *pieces, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *p = pieces[i].p;
		size_t left = pieces[i].n;
		while (left > 0) {
			ssize_t w = write(fd, p, left);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return -1;
			p += w;
			left -= (size_t)w;
		}
	}
	return 0;
}

int
store_file_sync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash == NULL ? strdup(".")
		  : strndup(path, slash == path ? 1 : (size_t)(slash - path));
	if (dir == NULL)
		return -1;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/* Writes the pieces to PATH.tmp.PID (mode 0600), fsyncs, renames it over
 * PATH and fsyncs the folder. */
static int
edit_commit(struct edit *e, const struct piece *pieces, size_t n, char **err_r)
{
	char *tmp = NULL;
	if (asprintf(&tmp, "%s.tmp.%ld", e->path, (long)getpid()) < 0) {
		*err_r = str_printf("%s: out of memory", e->path);
		return -1;
	}
	/* We hold the lock, so a file by this name is a leftover of a
	 * crashed run that had our pid: safe to remove. */
	(void)unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		*err_r = str_printf("%s: cannot create: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	/* Keep the old file's owner and group (root editing the file of a
	 * server that runs as its own user); only root may, so EPERM is
	 * the normal case for everybody else and not an error. */
	if (e->text != NULL && fchown(fd, e->st.st_uid, e->st.st_gid) < 0 && errno != EPERM)
		log_warn("%s: cannot keep owner: %s", tmp, strerror(errno));
	const char *step = "write";
	if (edit_write_all(fd, pieces, n) < 0 || (step = "fsync", fsync(fd) < 0))
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		step = "close";
		goto fail;
	}
	fd = -1;
	if (rename(tmp, e->path) < 0) {
		*err_r = str_printf("%s: cannot rename to %s: %s", tmp, e->path, strerror(errno));
		goto fail_msg;
	}
	free(tmp);
	if (store_file_sync_dir(e->path) < 0) {
		*err_r = str_printf("%s: written, but fsync of its folder failed: %s", e->path,
				    strerror(errno));
		return -1;
	}
	return 0;
fail:
	*err_r = str_printf("%s: %s: %s", tmp, step, strerror(errno));
fail_msg:
	if (fd >= 0)
		close(fd);
	(void)unlink(tmp);
	free(tmp);
	return -1;
}

enum store_file_edit_rc
store_file_edit_add(const char *path, const struct store_file_newuser *u, char **err_r)
{
	const char *user = u->name;
	*err_r = NULL;
	char *name = NULL;
	const char *why;
	if (store_user_prep(user, &name, &why) < 0) {
		char safe[LOG_SAFE_MAX];
		*err_r = str_printf("user '%s': %s", log_safe(safe, sizeof safe, user, strlen(user)), why);
		return STORE_FILE_EDIT_ERROR;
	}
	/* The costly derivations (yescrypt, two PBKDF2) run before the
	 * lock, so that concurrent runs wait for each other only briefly. */
	struct buf line;
	buf_init(&line, STORE_FILE_LINE_MAX);
	enum store_file_edit_rc rc = STORE_FILE_EDIT_ERROR;
	struct edit e;
	if (store_file_entry_make(&line, name, u->password, err_r) < 0) {
		char *inner = *err_r;
		*err_r = str_printf("user '%s': %s", name, inner ? inner : "out of memory");
		free(inner);
		buf_wipe_free(&line);
		free(name);
		return STORE_FILE_EDIT_ERROR;
	}
	if (edit_begin(&e, path, err_r) < 0)
		goto out;
	if (store_file_db_find(&e.db, name) != NULL) {
		*err_r = str_printf("%s: user '%s' already exists", path, name);
		rc = STORE_FILE_EDIT_EXISTS;
		goto out;
	}
	struct piece pieces[3];
	size_t n = 0;
	if (e.len == 0) {
		pieces[n++] = (struct piece){ STORE_FILE_MARKER "\n", sizeof STORE_FILE_MARKER };
	} else {
		pieces[n++] = (struct piece){ e.text, e.len };
		if (e.text[e.len - 1] != '\n')
			pieces[n++] = (struct piece){ "\n", 1 };
	}
	pieces[n++] = (struct piece){ (const char *)line.p, line.len };
	if (edit_commit(&e, pieces, n, err_r) == 0)
		rc = STORE_FILE_EDIT_OK;
out:
	edit_end(&e);
	buf_wipe_free(&line);
	free(name);
	return rc;
}

enum store_file_edit_rc
store_file_edit_del(const char *path, const char *user, char **err_r)
{
	*err_r = NULL;
	char *name = NULL;
	const char *why;
	if (store_user_prep(user, &name, &why) < 0) {
		char safe[LOG_SAFE_MAX];
		*err_r = str_printf("user '%s': %s", log_safe(safe, sizeof safe, user, strlen(user)), why);
		return STORE_FILE_EDIT_ERROR;
	}
	enum store_file_edit_rc rc = STORE_FILE_EDIT_ERROR;
	struct edit e;
	if (edit_begin(&e, path, err_r) < 0)
		goto out;
	const struct store_file_user *u = store_file_db_find(&e.db, name);
	if (u == NULL) {
		*err_r = str_printf("%s: unknown user '%s'", path, name);
		rc = STORE_FILE_EDIT_NOUSER;
		goto out;
	}
	/* Everything but the user's line and its LF, byte for byte. */
	size_t end = u->off + u->len < e.len ? u->off + u->len + 1 : e.len;
	struct piece pieces[2] = {
		{ e.text, u->off },
		{ e.text + end, e.len - end },
	};
	if (edit_commit(&e, pieces, 2, err_r) == 0)
		rc = STORE_FILE_EDIT_OK;
out:
	edit_end(&e);
	free(name);
	return rc;
}
