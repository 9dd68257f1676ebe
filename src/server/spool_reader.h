/* spool_reader.h - a message's content pulled in chunks (the transport's
 * body source), where spool_content() pushes it all in one call.
 *
 * A sender pulls a chunk when its output has drained, so the content
 * must come on demand, never whole: a large message (msg/ID) is read
 * 64 KiB at a time; a small one (inline in its segment frame, at most
 * SPOOL_INLINE_MAX) is taken from the frame, whose checksum was checked.
 *
 * Integrity: a large message's size and CRC32C are checked ON THE WAY,
 * and the last read returns -1 instead of 0 (the end) when they do not
 * match: a sender then never completes the message (SMTP drops the
 * connection before the final dot; maildir_deliver() leaves no file), so
 * a damaged message is never delivered, not even in part.  A torn entry
 * is refused at open.
 *
 * Thread safety: a reader is used by one thread at a time; readers of
 * one spool may live on different threads (each has its own
 * descriptors, the spool's folder descriptors are only passed to
 * openat()).  The spool and the entry must outlive the reader.
 */
#ifndef POSTERN_SPOOL_READER_H
#define POSTERN_SPOOL_READER_H

#include <sys/types.h>

struct spool;
struct spool_entry;
struct spool_reader;

/* Returns NULL with *err_r malloc'd (torn entry, file gone). */
struct spool_reader *spool_reader_open(struct spool *sp, const struct spool_entry *e,
				       char **err_r);
/* Up to cap bytes into buf: the count (> 0), 0 at the end (the content
 * checked whole), or -1 with *err_r malloc'd (read error, size or
 * checksum mismatch). */
ssize_t spool_reader_read(struct spool_reader *r, void *buf, size_t cap, char **err_r);
/* NULL-safe; sets *rp = NULL. */
void spool_reader_close(struct spool_reader **rp);

#endif
