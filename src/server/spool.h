/* spool.h - the durable queue of accepted messages.
 *
 * Contract (DESIGN.md, "Rules that do not bend"): a message is visible in
 * the queue only once its content and envelope are on disk with fsync of
 * the file and of the folder; a half-written file is never visible.
 * Layout under the spool folder:
 *	lock		flock(2)ed by the one server writing the spool; holds its pid
 *	tmp/ID		being written (cleaned at start-up, under the lock)
 *	queue/ID	committed: records (type, length, bytes), ending in END,
 *			so a torn file is detected and reported, never delivered
 * Queue ids are 16 hex digits + random suffix, unique per spool.
 *
 * Record format (spool.c): per record a 1-byte type, a 4-byte big-endian
 * length and that many bytes.  Order: version, content chunks, envelope
 * fields, END.  Content comes first so that it can be streamed to disk
 * while DATA arrives; the envelope is only complete at the end of DATA.
 */
#ifndef POSTERN_SPOOL_H
#define POSTERN_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct spool;
struct spool_msg;

#define SPOOL_ID_MAX 40

struct spool_envelope {
	const char *mail_from;		/* reverse-path without <>; "" for null sender */
	const char *auth_param;		/* MAIL FROM AUTH= value (xtext-decoded), NULL if none */
	const char *const *rcpts;	/* forward-paths without <> */
	size_t nrcpt;
	const char *body;		/* "7BIT" or "8BITMIME" */
	const char *auth_user;		/* NULL when not authenticated */
	const char *auth_mech;
	const char *client_addr;	/* "IP:port" */
	const char *helo;
	const char *tls_version;	/* NULL without TLS */
	const char *tls_cipher;
	time_t arrival;
};

/* Takes the spool's exclusive lock (dir/lock, created 0600; dir too,
 * 0700, if missing): one server per spool.  Returns the descriptor,
 * to keep open as long as the spool is written (closing it, or the
 * process's end, drops the lock); it is close-on-exec but survives
 * fork(), so a parent may take it and hand it to its child.  Returns -1
 * with *err_r malloc'd: when another process holds the lock, the
 * message names the spool and that process's pid. */
int spool_lock(const char *dir, char **err_r);
/* Opens the spool to write (the server): creates dir, dir/tmp and
 * dir/queue (mode 0700) if needed, and removes the leftovers in tmp,
 * which only the lock's holder may do: lock_fd must come from
 * spool_lock(dir) (checked).  Returns NULL with *err_r malloc'd. */
struct spool *spool_open(const char *dir, int lock_fd, char **err_r);
/* For `serve --check`: whether dir can be the spool, found without
 * touching it (a running server may hold it): a folder, or missing with
 * a folder to create it in.  Returns 0, or -1 with *err_r malloc'd. */
int spool_check(const char *dir, char **err_r);
/* Opens an existing spool to read and delete only (postern queue): it
 * takes no lock, creates nothing and leaves tmp/ alone, where a running
 * server may be writing; deleting from queue/ is one unlink, atomic
 * against the server's renames.  Returns NULL with *err_r malloc'd. */
struct spool *spool_open_existing(const char *dir, char **err_r);
/* The folder given to spool_open(). */
const char *spool_dir(const struct spool *sp);
void spool_free(struct spool **sp);

/* Starts a message: creates tmp/ID.  id_r receives the queue id.
 * Returns NULL with *err_r (static string) on failure -> 451 4.3.0. */
struct spool_msg *spool_msg_new(struct spool *sp, char id_r[SPOOL_ID_MAX], const char **err_r);
/* Appends message bytes (already un-dot-stuffed, CRLF line ends).
 * Buffered; returns 0 or -1 (disk full...). */
int spool_msg_write(struct spool_msg *m, const void *p, size_t n);
/* Writes the envelope and END record and fsyncs the file.  Returns 0/-1.
 * After it, spool_publish() makes the message visible. */
int spool_msg_close(struct spool_msg *m, const struct spool_envelope *env, const char **err_r);
/* Renames each closed message into queue/ and fsyncs the queue folder
 * once for the whole group (group commit).  Frees the messages.
 * why_v (n entries) gets each message's own result: NULL when it is in
 * the queue, else why not (it was dropped with its temp file); one
 * failed message fails no other.  Returns 0, or -1 with *err_r when the
 * folder fsync failed: then none of the group may be acknowledged. */
int spool_publish(struct spool *sp, struct spool_msg **msgs, size_t n, const char **why_v,
		  const char **err_r);
/* Drops an unfinished message and its temp file.  NULL-safe. */
void spool_msg_abort(struct spool_msg **mp);

/* ---- reading (postern queue, the queue runner) ---- */

struct spool_entry {
	char id[SPOOL_ID_MAX];
	struct spool_envelope env;	/* strings owned by the entry */
	size_t size;			/* message bytes */
	bool torn;			/* missing END or bad record: never delivered */
	char *torn_why;
};
/* Lists queue/ in arrival order.  Returns count or -1. */
long spool_list(struct spool *sp, struct spool_entry **v_r, char **err_r);
void spool_entries_free(struct spool_entry *v, size_t n);
/* Reads the envelope of one message into a new *e_r (free it with
 * spool_entries_free(*e_r, 1)).  Returns 1, 0 when there is no such
 * message, or -1 with *err_r malloc'd. */
int spool_entry_get(struct spool *sp, const char *id, struct spool_entry **e_r, char **err_r);
/* Writes the message content of id to fd.  A torn message is refused:
 * its content is never handed on.  Returns 0/-1. */
int spool_read_content(struct spool *sp, const char *id, int fd, char **err_r);
/* Returns 0, or -1 with *err_r malloc'd ("no message ID in DIR" when
 * there is none). */
int spool_delete(struct spool *sp, const char *id, char **err_r);

#endif
