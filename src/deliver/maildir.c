/* maildir.c - write one message into a Maildir: tmp, fsync, link into
 * new, fsync new (contract in maildir.h). */
#include "deliver/maildir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "util/buf.h"
#include "util/str.h"

/* One read or write at a time: big enough that a 25 MB message takes
 * a few hundred system calls, small enough to be nothing in memory. */
#define CHUNK 65536

static int
set_err(struct maildir_error *err, bool temporary, const char *enhanced, char *why)
{
	err->temporary = temporary;
	err->enhanced = enhanced;
	free(err->why);
	err->why = why ? why : strdup("out of memory");
	return -1;
}

/* errno of a failed file operation -> the error class. */
static int
io_err(struct maildir_error *err, int e, const char *what, const char *path)
{
	bool full = e == ENOSPC || e == EDQUOT || e == EFBIG;
	return set_err(err, true, full ? "4.2.2" : "4.3.0",
		       str_printf("%s %s: %s", what, path, strerror(e)));
}

bool
maildir_local_ok(const char *s)
{
	/* RFC 5322 atext without '/', '%' and '!' (maildir.h says why) */
	static const char extra[] = "#$&'*+-=?^_`{|}~";
	size_t n = strlen(s);
	if (n == 0 || n > 64 || s[0] == '.' || s[n - 1] == '.')	/* RFC 5321 4.5.3.1.1 */
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (c == '.' && s[i + 1] == '.')
			return false;
		if (!alnum && c != '.' && (c == '\0' || strchr(extra, c) == NULL))
			return false;
	}
	return true;
}

static bool
domain_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253 || s[0] == '.' || strstr(s, "..") != NULL)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") == n;
}

static int
add_lower(struct buf *b, const char *s)
{
	for (; *s; s++) {
		uint8_t c = (uint8_t)*s;
		if (c >= 'A' && c <= 'Z')
			c = (uint8_t)(c + ('a' - 'A'));
		if (buf_addch(b, c) != BUF_OK)
			return -1;
	}
	return 0;
}

int
maildir_expand(const char *template, const struct maildir_env *env, char **dir_r,
	       struct maildir_error *err)
{
	struct buf b;
	*dir_r = NULL;
	if (!maildir_local_ok(env->local_part))
		return set_err(err, false, "5.1.3",
			       str_printf("local part refused for a Maildir (only a dot-atom "
					  "without '/', '%%' or '!' is delivered)"));
	if (!domain_ok(env->domain))
		return set_err(err, false, "5.1.3", str_printf("domain refused for a Maildir"));
	buf_init(&b, 4096);
	int rc = 0;
	for (const char *p = template; *p && rc == 0; p++) {
		if (*p != '%') {
			rc = buf_addch(&b, (uint8_t)*p);
			continue;
		}
		p++;
		if (*p == 'u')
			rc = add_lower(&b, env->local_part);
		else if (*p == 'd')
			rc = add_lower(&b, env->domain);
		else if (*p == '%')
			rc = buf_addch(&b, '%');
		else {
			buf_free(&b);
			return set_err(err, true, "4.3.5",
				       str_printf("Maildir template '%s': only %%u, %%d and %%%% "
						  "may follow '%%'", template));
		}
	}
	if (rc != 0 || b.p == NULL) {
		buf_free(&b);
		return set_err(err, true, "4.3.5", str_printf("Maildir template '%s': empty or too long",
							      template));
	}
	*dir_r = (char *)b.p;
	return 0;
}

/* ---- folders ---- */

static int
fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

/* mkdir -p with mode 0700 for what it creates; the parent of each new
 * folder is fsynced, so that the folder survives a crash with the mail.
 * path is a writable copy; it is put back as it was. */
static int
make_dirs(char *path, struct maildir_error *err)
{
	struct stat st;
	if (stat(path, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : io_err(err, ENOTDIR, "cannot use", path);
	if (errno != ENOENT)
		return io_err(err, errno, "cannot reach", path);
	char *slash = strrchr(path, '/');
	bool has_parent = slash != NULL && slash != path;
	if (has_parent) {
		*slash = '\0';
		int rc = make_dirs(path, err);
		*slash = '/';
		if (rc < 0)
			return -1;
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return io_err(err, errno, "cannot create", path);
	if (has_parent) {
		*slash = '\0';
		int rc = fsync_dir(path);
		int e = errno;
		*slash = '/';
		if (rc < 0)
			return io_err(err, e, "cannot fsync the folder above", path);
	}
	return 0;
}

/* DIR, DIR/tmp, DIR/new, DIR/cur. */
static int
make_maildir(char *dir, struct maildir_error *err)
{
	static const char *const sub[] = { "tmp", "new", "cur" };
	if (make_dirs(dir, err) < 0)
		return -1;
	for (size_t i = 0; i < 3; i++) {
		char *p = str_printf("%s/%s", dir, sub[i]);
		int rc = p ? make_dirs(p, err) : set_err(err, true, "4.3.0", NULL);
		free(p);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* ---- the file ---- */

/* "SECONDS.M<usec>P<pid>Q<n>R<random>.<host>": unique by time and
 * process (the spec's M and P), deliveries of this process (Q), and 64
 * random bits (R) in case the clock steps back after a crash. */
static char *
unique_name(void)
{
	static unsigned long deliveries;
	struct timeval tv;
	uint64_t rnd = 0;
	char host[256], safe[256 * 4 + 1];
	gettimeofday(&tv, NULL);
	if (RAND_bytes((unsigned char *)&rnd, sizeof rnd) != 1)
		rnd = (uint64_t)tv.tv_usec * 2654435761u;
	if (gethostname(host, sizeof host) < 0)
		host[0] = '\0';
	host[sizeof host - 1] = '\0';
	size_t o = 0;
	for (const char *h = host; *h; h++) {
		/* the spec: "replace / with \057 and : with \072" */
		if (*h == '/' || *h == ':') {
			o += (size_t)snprintf(safe + o, sizeof safe - o, "\\%03o", (unsigned)*h);
		} else if ((unsigned char)*h > 0x20 && (unsigned char)*h < 0x7f) {
			safe[o++] = *h;
		}
	}
	safe[o] = '\0';
	return str_printf("%lld.M%ldP%ldQ%luR%016llx.%s", (long long)tv.tv_sec, (long)tv.tv_usec,
			  (long)getpid(), ++deliveries, (unsigned long long)rnd,
			  o ? safe : "localhost");
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Copies in[0..n) to out turning CRLF into LF.  *cr says a CR ended the
 * previous chunk and is still owed (dropped if this chunk starts with
 * LF).  Returns the bytes in out (at most n + 1). */
static size_t
crlf_to_lf(const char *in, size_t n, char *out, bool *cr)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (*cr && in[i] != '\n')
			out[o++] = '\r';
		*cr = in[i] == '\r';
		if (!*cr)
			out[o++] = in[i];
	}
	return o;
}

/* Headers, then the message pulled chunk by chunk. */
static int
write_message(int fd, const char *path, const struct maildir_env *env, maildir_read_fn *rd,
	      void *rdarg, struct maildir_error *err)
{
	/* The envelope was checked when it arrived; a line break here would
	 * still forge headers, so it is refused rather than trusted. */
	if (strpbrk(env->sender, "\r\n") != NULL || strpbrk(env->recipient, "\r\n") != NULL)
		return set_err(err, false, "5.1.3", str_printf("line break in the envelope"));
	char *head = str_printf("Return-Path: <%s>\nDelivered-To: %s\n", env->sender,
				env->recipient);
	if (head == NULL)
		return set_err(err, true, "4.3.0", NULL);
	int rc = write_all(fd, head, strlen(head));
	free(head);
	if (rc < 0)
		return io_err(err, errno, "cannot write", path);
	char *in = malloc(CHUNK), *out = malloc(CHUNK + 1);
	bool cr = false;
	for (rc = 0; rc == 0;) {
		ssize_t n = in && out ? rd(rdarg, in, CHUNK) : -2;
		if (n == 0)
			break;
		if (n < 0 || n > CHUNK) {
			rc = set_err(err, true, "4.3.0", n == -2 ? NULL
				     : str_printf("cannot read the message for %s", path));
			break;
		}
		size_t o = crlf_to_lf(in, (size_t)n, out, &cr);
		if (write_all(fd, out, o) < 0)
			rc = io_err(err, errno, "cannot write", path);
	}
	if (rc == 0 && cr && write_all(fd, "\r", 1) < 0)
		rc = io_err(err, errno, "cannot write", path);
	free(in);
	free(out);
	return rc;
}

/* Writes tmp/UNIQUE and fsyncs it.  Returns 0 or -1 after set_err(). */
static int
write_tmp(const char *tmp, const struct maildir_env *env, maildir_read_fn *rd, void *rdarg,
	  struct maildir_error *err)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return io_err(err, errno, "cannot create", tmp);
	int rc = write_message(fd, tmp, env, rd, rdarg, err);
	if (rc == 0 && fsync(fd) < 0)
		rc = io_err(err, errno, "cannot fsync", tmp);
	/* close() too: NFS reports delayed write errors there */
	if (close(fd) < 0 && rc == 0)
		rc = io_err(err, errno, "cannot close", tmp);
	return rc;
}

/* tmp/UNIQUE written and fsynced, then linked into new/, new/ fsynced.
 * On failure both names are removed: a retry must not duplicate. */
static int
deliver_into(const char *dir, const struct maildir_env *env, maildir_read_fn *rd, void *rdarg,
	     char **file_r, struct maildir_error *err)
{
	char *name = unique_name();
	char *tmp = name ? str_printf("%s/tmp/%s", dir, name) : NULL;
	char *new = name ? str_printf("%s/new/%s", dir, name) : NULL;
	char *newdir = str_printf("%s/new", dir);
	int rc;
	if (tmp == NULL || new == NULL || newdir == NULL) {
		rc = set_err(err, true, "4.3.0", NULL);
		goto out;
	}
	rc = write_tmp(tmp, env, rd, rdarg, err);
	/* link, not rename: it never replaces an existing file */
	if (rc == 0 && link(tmp, new) < 0)
		rc = io_err(err, errno, "cannot link into", newdir);
	unlink(tmp);
	if (rc == 0 && fsync_dir(newdir) < 0) {
		rc = io_err(err, errno, "cannot fsync", newdir);
		unlink(new);
	}
	if (rc == 0 && file_r != NULL) {
		*file_r = new;
		new = NULL;
	}
out:
	free(name);
	free(tmp);
	free(new);
	free(newdir);
	return rc;
}

int
maildir_deliver(const char *template, const struct maildir_env *env, maildir_read_fn *rd,
		void *rdarg, char **file_r, struct maildir_error *err)
{
	char *dir = NULL;
	if (file_r != NULL)
		*file_r = NULL;
	if (maildir_expand(template, env, &dir, err) < 0)
		return -1;
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		dir[--n] = '\0';
	int rc = make_maildir(dir, err);
	if (rc == 0)
		rc = deliver_into(dir, env, rd, rdarg, file_r, err);
	free(dir);
	return rc;
}
