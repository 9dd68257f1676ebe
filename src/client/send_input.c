/* send_input.c - `postern send`'s message: header section in memory,
 * the prepared whole in an unlinked temporary file (see send_input.h). */
#include "client/send_input.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/message.h"
#include "smtp/header.h"
#include "util/str.h"

/* One read from stdin or the file: the same size as the session's. */
#define IO_CHUNK ((size_t)64 * 1024)

void
send_input_init(struct send_input *in)
{
	memset(in, 0, sizeof *in);
	buf_init(&in->head, SEND_HEADER_MAX);
	in->fd = -1;
}

int
send_input_read_head(struct send_input *in, FILE *f)
{
	uint8_t chunk[8192];
	for (;;) {
		/* complete once an empty line is in (message_header_len
		 * stops short of the end only there) */
		if (in->head.len > 0 && smtp_header_len(in->head.p, in->head.len) < in->head.len)
			return 0;
		size_t room = in->head.max - in->head.len;
		if (room == 0)
			return 0;
		size_t n = fread(chunk, 1, room < sizeof chunk ? room : sizeof chunk, f);
		if (n == 0)
			return ferror(f) ? -1 : 0;
		if (buf_add(&in->head, chunk, n) != BUF_OK) {
			errno = ENOMEM;
			return -1;
		}
	}
}

static int
write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* A file nobody else can open: O_TMPFILE has no name at all; the
 * fallback's name lives for one unlink(). */
static int
temp_file(char **err_r)
{
	const char *dir = getenv("TMPDIR");
	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	char *path = str_printf("%s/postern-send.XXXXXX", dir);
	fd = path ? mkostemp(path, O_CLOEXEC) : -1;
	if (fd >= 0)
		(void)unlink(path);
	else
		*err_r = str_printf("cannot create a temporary file in %s: %s", dir, strerror(errno));
	free(path);
	return fd;
}

/* Normalises p[0..n) into the file through out (room IO_CHUNK*2+2). */
static int
put(struct send_input *in, struct message_norm *st, const uint8_t *p, size_t n, uint8_t *out)
{
	while (n > 0) {
		size_t take = n < IO_CHUNK ? n : IO_CHUNK;
		size_t o = message_norm_feed(st, p, take, out);
		if (write_all(in->fd, out, o) != 0)
			return -1;
		p += take;
		n -= take;
	}
	return 0;
}

static int
spool_rest(struct send_input *in, FILE *f, struct message_norm *st, uint8_t *raw, uint8_t *out,
	   bool *read_err_r)
{
	size_t n;
	while ((n = fread(raw, 1, IO_CHUNK, f)) > 0)
		if (put(in, st, raw, n, out) != 0)
			return -1;
	if (ferror(f)) {
		*read_err_r = true;
		return -1;
	}
	size_t o = message_norm_end(st, out);
	return write_all(in->fd, out, o);
}

int
send_input_spool(struct send_input *in, FILE *f, const struct buf *edited, char **err_r,
		 bool *read_err_r)
{
	*read_err_r = false;
	*err_r = NULL;
	in->fd = temp_file(err_r);
	if (in->fd < 0)
		return -1;
	uint8_t *raw = malloc(IO_CHUNK), *out = malloc(MESSAGE_NORM_OUT_MAX(IO_CHUNK));
	struct message_norm st;
	message_norm_init(&st);
	int rc = raw && out ? 0 : -1;
	if (rc == 0 && edited->len > 0)
		rc = put(in, &st, edited->p, edited->len, out);
	if (rc == 0)
		rc = spool_rest(in, f, &st, raw, out, read_err_r);
	free(raw);
	free(out);
	in->size = st.size;
	in->lines = st.lines;
	in->eightbit = st.eightbit;
	if (rc != 0 && *err_r == NULL)
		*err_r = str_printf("%s: %s", *read_err_r ? "cannot read the message from stdin"
							   : "cannot write the temporary file",
				    strerror(errno));
	return rc;
}

static int
file_read(void *arg, uint8_t *buf, size_t cap, size_t *n_r)
{
	struct send_input *in = arg;
	for (;;) {
		ssize_t n = read(in->fd, buf, cap);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		*n_r = (size_t)n;
		return 0;
	}
}

struct smtp_body_src
send_input_source(struct send_input *in)
{
	(void)lseek(in->fd, 0, SEEK_SET);
	return (struct smtp_body_src){ .read = file_read, .arg = in };
}

int
send_input_load(struct send_input *in, struct buf *out)
{
	struct smtp_body_src src = send_input_source(in);
	uint8_t chunk[IO_CHUNK];
	size_t n;
	do {
		if (src.read(src.arg, chunk, sizeof chunk, &n) != 0)
			return BUF_NOMEM;
		int rc = buf_add(out, chunk, n);
		if (rc != BUF_OK)
			return rc;
	} while (n > 0);
	return BUF_OK;
}

void
send_input_free(struct send_input *in)
{
	buf_free(&in->head);
	if (in->fd >= 0)
		(void)close(in->fd);
	in->fd = -1;
}
