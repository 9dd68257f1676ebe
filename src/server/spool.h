/* spool.h - the durable queue of accepted messages (spool v2).
 *
 * Contract (DESIGN.md, "Rules that do not bend"): 250 is sent for a
 * message only once its content and envelope are on disk and flushed;
 * a half-written message is never delivered; a crash at any instant
 * loses no acknowledged message and repeats at most the delivery in
 * flight.
 *
 * Layout under the spool folder (every path is opened relative to the
 * folder's descriptor, openat/renameat/unlinkat, so a process that only
 * holds the descriptor, or has chdir'd into it, works the same):
 *	lock		flock(2)ed by the one server writing the spool; its pid
 *	seg/SEQ		segments: append-only files of message frames, SEQ is
 *			16 hex digits, increasing; the writer appends to the
 *			newest and starts a new one past SPOOL_SEG_MAX bytes;
 *			zeros follow the last frame (written ahead, so that
 *			a pass's fdatasync carries no file growth): a zero
 *			frame header ends a segment's frames
 *	msg/ID		content of a large message (over SPOOL_INLINE_MAX),
 *			raw bytes; its frame in a segment holds size + CRC32C
 *	tmp/ID		a large message's content while DATA runs
 *	state		the delivery state journal: append-only state frames
 *	queue/ID	spool v1 files (before this version): read, listed,
 *			deleted, never written; delivered like the others
 *
 * Frames are the codec of util/records.h (magic, length, CRC32C, typed
 * fields).  A message frame, magic "PSM2", holds the fields:
 *	'Q' queue id, 'A' arrival, 'F' sender, 'P' AUTH=, 'R' recipient
 *	(one per recipient, in order: the index is the recipient's number in
 *	the state journal), 'B' body type, 'U' auth user, 'M' mechanism,
 *	'I' client, 'H' helo, 'T'/'S' TLS version/cipher, 'Z' content size,
 *	then either 'C' content (inline, small messages) or 'X' the CRC32C
 *	of msg/ID's content (8 hex digits), and 'E' END, last.
 * A state frame, magic "PSJ2": 'Q' id, 'N' recipient index, 'S' state
 * (P pending, D delivered, Z deferred, F failed, B failed with its
 * bounce not yet delivered, X the whole message deleted: no 'N'), 'A' attempts, 'W' next try (seconds since 1970),
 * 'R' last reply.  The last frame for (id, index) wins; no frame means
 * pending.
 *
 * Group commit (commit.c): a session keeps a small message in memory
 * (SPOOL_INLINE_MAX, the 64 KiB write buffer every message had anyway,
 * so memory per session does not grow); at the end of DATA the message
 * is closed and parked.  Once per loop iteration the pass serialises
 * every parked message into one buffer, writes it with one pwrite at the
 * segment's end and makes it durable with ONE fdatasync, whatever the
 * number of messages: 2 KB messages cost 1/N of a flush instead of 2
 * flushes each (bench/RESULTS.md).  The fdatasync runs on the network
 * process's flusher thread (commit.c): passes that end while it runs
 * are written meanwhile and share the next one.  A message over SPOOL_INLINE_MAX
 * spills to tmp/ID as it arrives; its close fsyncs it; the pass renames
 * it to msg/ID, fsyncs msg/ once for all of them, then appends its frame
 * (with the content's CRC) with the others.  A new segment costs one
 * fsync of seg/ when it is created (every SPOOL_SEG_MAX bytes).
 * Per-message results: a message that cannot be published (its spill
 * file gone, its frame cut by a full disk) fails alone, 452 4.3.1 when
 * the disk is full, 451 4.3.0 otherwise; only a failed fdatasync fails
 * the whole pass, since then nothing of it is known to be durable.
 *
 * Crash argument.  At every instant the disk holds:
 *  - whole frames of acknowledged messages in segments: a 250 goes out
 *    only after the fdatasync that covers the frame returned, and a
 *    frame is written once and never rewritten (append-only), so what
 *    was durable stays durable;
 *  - maybe a torn tail after them (the pass in flight): a frame that is
 *    short or whose checksum fails (zeros where its bytes did not
 *    reach the disk).  Readers stop there and report it
 *    (queue list shows TORN); it was never acknowledged, its clients
 *    send it again.  The writer never appends after a tail it did not
 *    write whole: on a failed write it truncates back to the last whole
 *    frame, and at start and after a failed flush it opens a new
 *    segment.  A message is delivered only from a frame whose checksum
 *    holds and that ends in END; a large one only if msg/ID has the
 *    size and CRC its frame says;
 *  - tmp/ and unreferenced msg/ files: unacknowledged, removed at start
 *    by the lock holder (spool_gc);
 *  - the state journal: a change is one frame; spool_mark() writes a
 *    batch with one write and one fdatasync before it returns.  A torn
 *    tail of the journal loses only the changes of that batch, which
 *    had not returned: the deliveries in flight are repeated, never
 *    skipped (the runner marks "delivered" only after the remote 250,
 *    so the worst case is one repeat of the delivery in flight).  The
 *    writer truncates a torn journal tail at start.
 *  - Space: spool_gc() removes a segment (and its msg/ files) only when
 *    every message in it is done (every recipient delivered or failed,
 *    or deleted), fsyncs seg/, THEN compacts the journal (state.new,
 *    fdatasync, rename over state, fsync the folder) keeping only the
 *    frames of messages that still exist.  A crash between the two
 *    leaves state frames of removed messages: harmless.  The reverse
 *    order could resurrect delivered mail; it is not used.
 * A full disk: the pass's write fails with ENOSPC/EDQUOT, the cut frame
 * is truncated away, those messages get 452 4.3.1 and nothing already
 * queued is touched (segments are never rewritten).
 *
 * The queue runner (server/runner.h).  While the server runs the
 * runner is the journal's only writer (`postern queue delete` goes
 * through its control socket), so it alone compacts the journal:
 * spool_gc_live(), which removes a done segment only under an exclusive
 * flock that no writer holds (each writer holds a shared flock on its
 * current segment, taken at creation; a segment removed between a
 * writer's create and its flock has no links and the writer skips to
 * the next number) and only when the segment did not grow while it was
 * read; tmp/ and msg/ are left to spool_gc() at the next start.
 *
 * Bounces (decision, issue 14 item 5).  A failed recipient of a message
 * with a sender is marked B (failed, bounce due) in the same journal
 * batch as its result.  Once no delivery of that message is in flight,
 * the runner builds ONE report for every B recipient (bounce_build: the
 * original header section, pulled in chunks, and the B frames' replies),
 * publishes it as a new message with the null sender in a segment of
 * its own (spool_open_second: a second writer, one fdatasync), and only
 * then marks those recipients F.  Crash argument: before the publish
 * returned, the B frames survive and the report is built again at the
 * next start; between the publish and the F frames, the report is
 * queued twice (a duplicate, never a loss); after, it is ordinary queued
 * mail, retried and routed like any other, and never bounced itself
 * (null sender).  The original stays until every recipient is D or F,
 * so its headers are there for every rebuild.  Rejected alternative:
 * synthesising the report at each delivery attempt from journal records
 * needs a content source other than the spool in the transport, and
 * keeps the original (maybe 25 MB) for the report's whole life.
 *
 * Readers (postern queue, the queue runner) take no lock: they read
 * whole frames only, so a pass being written is invisible to them.
 * Writers: the pass (the network process) and the runner's bounces,
 * each in its own segments; spool_mark() appends with O_APPEND in one
 * write per batch: the runner while a server runs, `postern queue
 * delete` when none does; spool_gc() runs in the parent at start,
 * spool_gc_live() in the runner.
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
/* Why a message could not be queued because the disk is full: the
 * session answers 452 4.3.1 (RFC 3463 "mail system full"). */
extern const char spool_err_full[];

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
/* Opens the spool to write (the server): creates dir and its folders
 * (mode 0700) if needed and runs spool_gc() (tmp/ emptied, done
 * segments removed, journal compacted), which only the lock's holder
 * may do: lock_fd must come from spool_lock(dir) (checked).  Returns
 * NULL with *err_r malloc'd. */
struct spool *spool_open(const char *dir, int lock_fd, char **err_r);
/* A second writer of a spool a server holds (the queue runner, which
 * publishes bounces in segments of its own): as spool_open() but runs
 * no gc (the first writer may be writing tmp/ and msg/). */
struct spool *spool_open_second(const char *dir, int lock_fd, char **err_r);
/* For `serve --check`: whether dir can be the spool, found without
 * touching it (a running server may hold it): a folder, or missing with
 * a folder to create it in.  Returns 0, or -1 with *err_r malloc'd. */
int spool_check(const char *dir, char **err_r);
/* Opens an existing spool to read, mark and delete (postern queue, the
 * queue runner): it takes no lock, creates nothing and leaves tmp/
 * alone.  Returns NULL with *err_r malloc'd. */
struct spool *spool_open_existing(const char *dir, char **err_r);
/* The folder given to spool_open(). */
const char *spool_dir(const struct spool *sp);
void spool_free(struct spool **sp);

/* ---- writing (the server) ---- */

/* Starts a message (in memory; nothing on disk yet).  id_r receives the
 * queue id.  Returns NULL with *err_r (static string) -> 451 4.3.0. */
struct spool_msg *spool_msg_new(struct spool *sp, char id_r[SPOOL_ID_MAX], const char **err_r);
/* Appends message bytes (already un-dot-stuffed, CRLF line ends).
 * Kept in memory up to SPOOL_INLINE_MAX, then spilled to tmp/ID.
 * Returns 0 or -1 (disk full...; spool_msg_close() then says why). */
int spool_msg_write(struct spool_msg *m, const void *p, size_t n);
/* Records the envelope; a spilled message's file gets the rest of the
 * content (its flush comes with the pass: spool_write_pass).  Returns
 * 0, or -1 with *err_r static (spool_err_full when the disk is full).
 * After it, spool_publish() makes the message durable. */
int spool_msg_close(struct spool_msg *m, const struct spool_envelope *env, const char **err_r);
/* The group commit: appends every closed message to the current segment
 * with one write and ONE fdatasync (large ones renamed into msg/ first,
 * msg/ fsync'd once).  Frees the messages.  why_v (n entries) gets each
 * message's own result: NULL when it is durable, else why not
 * (spool_err_full, or another static string); one failed message fails
 * no other.  Returns 0, or -1 with *err_r when the flush failed: then
 * none of the group may be acknowledged.  It is the three steps below
 * in a row; the network process runs the flush on a thread instead. */
int spool_publish(struct spool *sp, struct spool_msg **msgs, size_t n, const char **why_v,
		  const char **err_r);

/* What was written since the last flush and must be made durable: the
 * segments (fdatasync), the content files of large messages (fdatasync)
 * and the folders that got new names (seg/ after a new segment, msg/
 * after renames: fsync).  Descriptors the flush owns (dups), so that the
 * writer may roll to a new segment (or close one) while a flush runs on
 * another thread.  Until the flush returns, no 250 is sent for any of
 * it; a frame that reaches the disk before its large message's content
 * is never delivered (its size and CRC fail) and was never
 * acknowledged. */
#define SPOOL_FLUSH_FDS 32
enum spool_flush_kind { SPOOL_FL_SEG, SPOOL_FL_FILE, SPOOL_FL_DIR };
struct spool_flush {
	int fd[SPOOL_FLUSH_FDS];
	uint64_t seq[SPOOL_FLUSH_FDS];	/* the segment's number (SPOOL_FL_SEG) */
	uint8_t kind[SPOOL_FLUSH_FDS];	/* enum spool_flush_kind */
	size_t n;
	int err;		/* after spool_flush_run(): 0, or the first failure's errno */
	uint8_t err_kind;	/* what failed */
	uint64_t err_seq;
};
void spool_flush_init(struct spool_flush *fl);
/* Step 1, on the writer's thread: publishes the spilled messages and
 * writes every frame at the segment's end, and adds to fl what must be
 * flushed (segment, content files, folders); no flush.  why_v as for spool_publish(): a message that failed is
 * aborted and its msgs[i] set NULL; the others stay in msgs[] (their
 * buffers freed) until spool_msg_settle().  Returns 0, or -1 when the
 * segment could not be added to fl and the flush done in its place
 * failed: then every message failed (why_v set, all aborted). */
int spool_write_pass(struct spool *sp, struct spool_msg **msgs, size_t n, const char **why_v,
		     struct spool_flush *fl);
/* Step 2, on any thread, touching no spool: fdatasync of each segment of
 * fl, then closes fl's descriptors; fl->err tells how it went. */
void spool_flush_run(struct spool_flush *fl);
/* Step 3, on the writer's thread: 0 when the flush held; else -1 with
 * *err_r set (spool_err_full when the disk is full), the failure
 * logged, and the current segment never appended to again. */
int spool_flush_end(struct spool *sp, struct spool_flush *fl, const char **err_r);
/* Frees a written message: durable, or (false) its flush failed, which
 * removes a large message's msg/ file too.  NULL-safe; *mp = NULL. */
void spool_msg_settle(struct spool_msg **mp, bool durable);
/* Drops an unfinished message (and its spill file).  NULL-safe. */
void spool_msg_abort(struct spool_msg **mp);
/* The queue runner's housekeeping while the network process writes:
 * removes done segments for which may_remove(arg, seq) says yes (the
 * runner refuses a segment a network process may still append to) and
 * compacts the journal; tmp/ and msg/ files are left alone (a network
 * process may be writing them).  Only the journal's one writer may call
 * it.  Returns 0, or -1 with *err_r malloc'd. */
int spool_gc_live(struct spool *sp, bool (*may_remove)(void *arg, uint64_t seq), void *arg,
		  char **err_r);
/* The lock holder's housekeeping (spool_open runs it): empties tmp/,
 * removes segments whose messages are all done and msg/ files no frame
 * references, then compacts the state journal.  Never call it while
 * another process may append to the journal.  Returns 0, or -1 with
 * *err_r malloc'd. */
int spool_gc(struct spool *sp, char **err_r);

/* ---- reading and delivery state (postern queue, the queue runner) ---- */

enum spool_rstate {
	SPOOL_PENDING = 'P',
	SPOOL_DELIVERED = 'D',
	SPOOL_DEFERRED = 'Z',
	SPOOL_FAILED = 'F',
	/* Failed, and the sender's bounce for it is still to be delivered:
	 * attempts and next_try are then the bounce's, last_reply stays the
	 * recipient's failure (the runner's bounce design, above). */
	SPOOL_BOUNCING = 'B',
};

struct spool_rcpt_state {
	char state;		/* enum spool_rstate */
	unsigned attempts;
	time_t next_try;	/* 0: now */
	char *last_reply;	/* NULL when none */
};

struct spool_entry {
	char id[SPOOL_ID_MAX];
	struct spool_envelope env;	/* strings owned by the entry */
	struct spool_rcpt_state *rcpt;	/* env.nrcpt entries */
	size_t size;			/* message bytes */
	bool torn;			/* damaged or foreign: never delivered */
	char *torn_why;
	/* where the message is (for spool_content) */
	char where[64];			/* "seg/SEQ@OFFSET", "queue/ID" */
	uint64_t seg, off;		/* 0 for v1 files */
	bool external;			/* content in msg/ID */
	bool legacy;			/* a spool v1 file in queue/ */
	uint32_t crc;			/* of msg/ID's content */
};
/* Lists every message (segments, then v1 files) in arrival order, with
 * the state of each recipient from the journal; deleted messages and
 * those whose recipients are all done are left out.  Returns count or
 * -1 with *err_r malloc'd. */
long spool_list(struct spool *sp, struct spool_entry **v_r, char **err_r);
void spool_entries_free(struct spool_entry *v, size_t n);
/* Frees what one entry owns and zeroes it (the entry itself is the
 * caller's: the queue runner keeps entries one by one). */
void spool_entry_clear(struct spool_entry *e);
/* The descriptor of the spool's seg/ folder (the runner watches it
 * with inotify), or -1. */
int spool_seg_dirfd(const struct spool *sp);
/* Reads the envelope of one message into a new *e_r (free it with
 * spool_entries_free(*e_r, 1)).  Returns 1, 0 when there is no such
 * message, or -1 with *err_r malloc'd. */
int spool_entry_get(struct spool *sp, const char *id, struct spool_entry **e_r, char **err_r);
/* Hands the content of e to cb in chunks of at most 64 KiB, never the
 * whole message at once.  The content's checksum is verified before the
 * first chunk: a torn or damaged message is refused, never handed on,
 * not even in part.  cb returns 0 to go on, -1 to stop (the call then
 * returns -1 with *err_r NULL).  Returns 0, or -1 with *err_r malloc'd. */
typedef int (*spool_chunk_fn)(void *arg, const void *p, size_t n);
int spool_content(struct spool *sp, const struct spool_entry *e, spool_chunk_fn cb, void *arg,
		  char **err_r);
/* Writes the content of id to fd (postern queue show).  Returns 0/-1. */
int spool_read_content(struct spool *sp, const char *id, int fd, char **err_r);

/* One change of a recipient's delivery state. */
struct spool_mark {
	const char *id;
	size_t rcpt;		/* index into the envelope's recipients */
	char state;		/* enum spool_rstate, or 'X': delete the message */
	unsigned attempts;
	time_t next_try;
	const char *last_reply;	/* NULL: none */
};
/* Records n state changes atomically as a batch: one write, one
 * fdatasync.  When it returns 0 they survive any crash; when the
 * process dies inside it, each change is either whole or absent.
 * Returns 0, or -1 with *err_r malloc'd. */
int spool_mark(struct spool *sp, const struct spool_mark *v, size_t n, char **err_r);
/* Deletes a message: a v1 file is unlinked, a segment message marked
 * deleted ('X').  Returns 0, or -1 with *err_r malloc'd ("no message ID
 * in DIR" when there is none). */
int spool_delete(struct spool *sp, const char *id, char **err_r);

#endif
