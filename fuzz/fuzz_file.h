/* fuzz_file.h - for parsers that read a file by name: the fuzz input
 * becomes an anonymous in-memory file (memfd) named /proc/self/fd/N. */
#ifndef POSTERN_FUZZ_FILE_H
#define POSTERN_FUZZ_FILE_H

#include "fuzz.h"

#include <sys/mman.h>
#include <unistd.h>

struct fuzz_file {
	int fd;
	char path[64];
};

/* Writes data into a new memfd; aborts on failure (not the input's fault). */
static inline void
fuzz_file_make(struct fuzz_file *f, const uint8_t *data, size_t size)
{
	f->fd = memfd_create("fuzz", MFD_CLOEXEC);
	if (f->fd < 0)
		abort();
	size_t off = 0;
	while (off < size) {
		ssize_t w = write(f->fd, data + off, size - off);
		if (w <= 0)
			abort();
		off += (size_t)w;
	}
	(void)snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
}

static inline void
fuzz_file_free(struct fuzz_file *f)
{
	(void)close(f->fd);
	f->fd = -1;
}

#endif
