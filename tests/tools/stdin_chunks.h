/* stdin_chunks.h - a message reader callback over stdin for the test
 * tools: hands out at most stdin_chunk bytes per call, so that tests can
 * split the input at every byte. */
#ifndef POSTERN_TESTS_STDIN_CHUNKS_H
#define POSTERN_TESTS_STDIN_CHUNKS_H

#include <stddef.h>
#include <sys/types.h>

extern size_t stdin_chunk;	/* default 65536 */

/* A maildir_read_fn / bounce_read_fn: bytes read, 0 at the end, -1 on error. */
ssize_t stdin_read(void *arg, void *buf, size_t size);

#endif
