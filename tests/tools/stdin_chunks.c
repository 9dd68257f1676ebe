/* stdin_chunks.c - see stdin_chunks.h. */
#include "stdin_chunks.h"

#include <errno.h>
#include <unistd.h>

size_t stdin_chunk = 65536;

ssize_t
stdin_read(void *arg, void *buf, size_t size)
{
	ssize_t n;
	do
		n = read(0, buf, size < stdin_chunk ? size : stdin_chunk);
	while (n < 0 && errno == EINTR);
	return n;
}
