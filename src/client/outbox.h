/* outbox.h - the client's offline queue: messages written durably to a
 * folder when they cannot (or should not) be sent now, and sent later by
 * `postern outbox flush`.
 *
 * Folder: $XDG_DATA_HOME/postern/outbox, else ~/.local/share/postern/outbox
 * (mode 0700: messages are private mail).  One file per message, named
 * by its ID; IDs sort in the order the messages were queued
 * ("20250102T030405.123456Z-1a2b3c4d": UTC time, then random bits so two
 * processes queuing in the same microsecond never collide).
 *
 * A file is written as "." ID ".tmp" and published as ID with the
 * helper the server spool uses (util/atomic.h: fsync the file, rename,
 * fsync the folder): once outbox_add() returns 0 the message survives a
 * crash or power loss, and a half-written file is never taken for a
 * message (names starting with "." are not messages).
 *
 * File format: ONE frame of the records codec the server spool uses
 * (util/records.h: magic, length, CRC32C, typed fields), magic "POB2",
 * filling the file.  Fields (type: content):
 *   1 account   the account name to send through (resolved: never "")
 *   2 config    the config file the sender used (absolute; optional)
 *   3 from      envelope sender ("" for <>)
 *   4 rcpt      one per recipient, in order
 *   5 queued    seconds since the epoch, decimal
 *   6 message   the message exactly as `send` would hand it to the
 *               session (LF or CRLF line ends, not dot-stuffed)
 * A file cut short is reported "FILE: torn (...)", one with a wrong
 * magic, length, checksum or field "FILE: not an outbox message (...)";
 * neither is ever sent, not even in part.
 *
 * The previous version wrote a text format (first line "postern-outbox
 * 1", then "KEY LEN\n" + LEN bytes + "\n" records with the keys above,
 * last "end 0\n\n").  It is still READ, so that messages queued before
 * an upgrade are sent, and never written: outbox_set_rcpts() rewrites
 * such a file as a frame.
 *
 * Errors are returned as malloc'd sentences naming the file or folder.
 * Nothing here logs or exits.
 */
#ifndef POSTERN_CLIENT_OUTBOX_H
#define POSTERN_CLIENT_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* "YYYYMMDDTHHMMSS.uuuuuuZ-xxxxxxxx" is 32 characters. */
#define OUTBOX_ID_MAX 32
/* Largest message kept (and read back): far above what submission
 * servers take (typically 25-50 MB) while keeping a corrupt length
 * field from asking for gigabytes. */
#define OUTBOX_MSG_MAX ((size_t)256 * 1024 * 1024)
/* Recipients per message: RFC 5321 4.5.3.1.8 asks servers to take at
 * least 100; sendmail -t lists are rarely longer. */
#define OUTBOX_RCPTS_MAX 10000

struct outbox;

struct outbox_msg {
	char id[OUTBOX_ID_MAX + 1];
	char *account;
	char *config;		/* NULL when not recorded */
	char *from;
	char **rcpts;
	size_t nrcpts;
	uint8_t *data;
	size_t len;
	time_t queued;
};

/* The default folder (see above), malloc'd; NULL with *err_r when
 * neither $XDG_DATA_HOME nor $HOME is set. */
char *outbox_default_dir(char **err_r);

/* Opens (and creates, with parents, mode 0700) the folder dir, or the
 * default folder when dir is NULL.  Returns 0, or -1 with *err_r. */
int outbox_open(struct outbox **ob_r, const char *dir, char **err_r);
/* NULL-safe; sets *obp = NULL. */
void outbox_close(struct outbox **obp);
const char *outbox_dir(const struct outbox *ob);

/* Queues one message durably (see above); writes its ID to id_r.
 * account must not be empty; config may be NULL.  Returns 0, or -1 with
 * *err_r (nothing is left behind on failure). */
int outbox_add(struct outbox *ob, const char *account, const char *config, const char *from,
	       const char *const *rcpts, size_t nrcpts, const uint8_t *data, size_t len,
	       char id_r[OUTBOX_ID_MAX + 1], char **err_r);

/* The IDs in the folder, oldest first, malloc'd (free with
 * outbox_free_ids).  Returns 0, or -1 with *err_r. */
int outbox_list(struct outbox *ob, char ***ids_r, size_t *n_r, char **err_r);
void outbox_free_ids(char ***ids, size_t n);

/* True when id has the shape of an outbox ID (no '/', no leading '.'):
 * the command line may hand us anything. */
bool outbox_id_valid(const char *id);

/* Reads one message, in either format.  Returns 0, or -1 with *err_r
 * ("FILE: torn (...)", "FILE: not an outbox message (...)", "FILE: no
 * such message"...). */
int outbox_read(struct outbox *ob, const char *id, struct outbox_msg *m, char **err_r);
void outbox_msg_free(struct outbox_msg *m);

/* Replaces the recipients of a queued message (durably, as outbox_add),
 * e.g. keeping only those that got a 4xx.  Returns 0 or -1 with *err_r. */
int outbox_set_rcpts(struct outbox *ob, const struct outbox_msg *m, const char *const *rcpts,
		     size_t nrcpts, char **err_r);

/* Removes a message (and fsyncs the folder).  Returns 0, or -1 with
 * *err_r; a message that is not there is an error. */
int outbox_delete(struct outbox *ob, const char *id, char **err_r);

/* Takes the folder's flush lock (flock on ".lock"), so that two
 * flushes never send the same message twice.  Returns 0, 1 when another
 * process holds it, or -1 with *err_r. */
int outbox_lock(struct outbox *ob, char **err_r);

/* One-shot for `postern send`: opens the default folder, adds, closes.
 * Same contract as outbox_add. */
int outbox_store(const char *account, const char *config, const char *from,
		 const char *const *rcpts, size_t nrcpts, const uint8_t *data, size_t len,
		 char id_r[OUTBOX_ID_MAX + 1], char **err_r);

#endif
