/* atomic.h - publishing a file atomically and durably: the one helper
 * the server spool (journal compaction, spill files) and the client
 * outbox share.
 *
 * The discipline: write the content under a temporary name in the same
 * folder, fsync it, rename it to its name, fsync the folder.  At every
 * instant the name holds the old file or the new one, whole; once the
 * call returns 0 the new one survives a crash or power loss. */
#ifndef POSTERN_ATOMIC_H
#define POSTERN_ATOMIC_H

#include <stdbool.h>

/* Renames tmp to name inside dirfd.  With replace false an existing
 * name is never overwritten: -1 with errno EEXIST (renameat2
 * RENAME_NOREPLACE, or link + unlink where the file system lacks it).
 * No fsync.  Returns 0, or -1 with errno. */
int atomic_rename(int dirfd, const char *tmp, const char *name, bool replace);

/* Publishes the file open on fd, written as tmp in dirfd, as name:
 * fsync(fd), close(fd) (always closed, also on failure), atomic_rename,
 * fsync(dirfd).  On failure tmp is removed, unless the rename was done
 * and only the folder fsync failed.  Returns 0, or -1 with errno and
 * *step_r naming the step that failed ("fsync", "close", "rename",
 * "folder fsync"). */
int atomic_publish(int dirfd, int fd, const char *tmp, const char *name, bool replace,
		   const char **step_r);

#endif
