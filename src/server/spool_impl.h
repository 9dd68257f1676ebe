/* spool_impl.h - what the spool's files share: formats, limits and the
 * spool handle.  Not for other users. */
#ifndef POSTERN_SPOOL_IMPL_H
#define POSTERN_SPOOL_IMPL_H

#include <dirent.h>
#include <stdint.h>
#include <sys/types.h>

#include "server/spool.h"
#include "util/buf.h"

/* A message up to this size stays in memory until the commit pass and
 * is written inline in its segment frame: the 64 KiB write buffer every
 * message had in spool v1, so memory per session does not grow. */
#define SPOOL_INLINE_MAX 65536
/* Spill files are written 64 KiB at a time: a 25 MB message is ~400
 * calls; content is read back in chunks of the same size. */
#define SPOOL_WBUF 65536
/* A new segment past this size: small enough that a segment is freed
 * soon after its mail is done, big enough that creating one (and the
 * fsync of seg/ it costs) happens once per ~2000 2 KB messages. */
#define SPOOL_SEG_MAX (4u << 20)
/* Zeros are written this far ahead of a segment's frames (spool.c
 * seg_prezero): one pass in about 100 of S3's (2 KB messages, groups
 * of a few) pays for the file's growth, the others overwrite zeros. */
#define SPOOL_SEG_AHEAD (256u << 10)
/* No frame is longer: 64 KiB content + a large envelope. */
#define SPOOL_FRAME_MAX (4u << 20)
#define SPOOL_MSG_MAGIC "PSM2"
#define SPOOL_STATE_MAGIC "PSJ2"
#define SPOOL_SEQ_LEN 16

/* ---- spool v1 (queue/ID files, read only) ---- */
#define REC_HDR 5
#define REC_MAX (SPOOL_WBUF - REC_HDR)
/* 16 hex digits of microseconds since 1970 + 4 random hex digits. */
#define SPOOL_ID_LEN 20
#define SPOOL_FORMAT_VERSION "1"
/* Held by the one server that writes the spool (spool_lock.c). */
#define SPOOL_LOCK_FILE "lock"

enum rec_type {
	REC_VERSION = 'V',
	REC_CONTENT = 'C',
	REC_ARRIVAL = 'A',	/* decimal seconds since 1970 */
	REC_FROM = 'F',
	REC_AUTH_PARAM = 'P',
	REC_RCPT = 'R',
	REC_BODY = 'B',
	REC_AUTH_USER = 'U',
	REC_AUTH_MECH = 'M',
	REC_CLIENT = 'I',
	REC_HELO = 'H',
	REC_TLS_VERSION = 'T',
	REC_TLS_CIPHER = 'S',
	REC_SIZE = 'Z',		/* decimal content bytes: checked on reading */
	REC_END = 'E',
	/* v2 only */
	REC_ID = 'Q',
	REC_EXTERNAL = 'X',	/* CRC32C of msg/ID, 8 hex digits */
	/* state frames */
	REC_ST_INDEX = 'N',
	REC_ST_STATE = 'S',
	REC_ST_ATTEMPTS = 'A',
	REC_ST_NEXT = 'W',
	REC_ST_REPLY = 'R',
};

struct spool {
	char *dir;
	int dirfd;
	int tmpfd;
	int queuefd;		/* v1 files; -1 when there is no queue/ */
	int segfd;
	int msgfd;
	bool writer;
	/* the segment being appended to (writer) */
	int cur_fd;		/* -1: a new one at the next pass */
	uint64_t cur_seq;
	uint64_t cur_size;	/* end of the last whole frame: where the next goes */
	uint64_t cur_zeroed;	/* the file's zeros end here (>= cur_size or 0) */
	bool seg_dir_dirty;	/* a segment was created: seg/ wants its fsync */
	uint64_t last_us;	/* ids strictly increase within a process */
};

/* A malloc'd message from a printf format (NULL when out of memory). */
char *spool_errf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A DIR over one of the spool's folder descriptors (a dup: the folder
 * descriptor stays the spool's), from its first entry.  NULL with errno
 * set when it cannot be read. */
DIR *spool_opendir(int dirfd);
/* 0 when lock_fd is a spool_lock() descriptor for the spool at dirfd
 * and holds its lock; else -1 with *err_r malloc'd. */
int spool_lock_check(int dirfd, int lock_fd, const char *dir, char **err_r);
bool spool_id_valid(const char *id);

/* ---- spool_seg.c: segments ---- */
/* Calls fn for every message frame of every segment, in order; damaged
 * places become torn entries.  fn takes ownership of nothing: the entry
 * is cleared after it returns.  fn returns 0 to go on, 1 to stop.
 * Returns 0, or -1 with *err_r malloc'd. */
typedef int (*spool_seg_fn)(void *arg, struct spool_entry *e);
int spool_seg_scan(struct spool *sp, spool_seg_fn fn, void *arg, char **err_r);
/* The same for segment seq only; returns 1 when fn asked to stop. */
int spool_seg_scan_one(struct spool *sp, uint64_t seq, spool_seg_fn fn, void *arg);
/* The envelope string a record or field type fills (spool v1 records
 * and spool v2 frame fields share the types), or NULL (spool_read.c). */
const char **spool_env_slot(struct spool_envelope *env, uint8_t type);
/* Parses one message frame's payload into e (pure: for fuzzing).
 * Returns 0, or -1 with e->torn set. */
int spool_frame_decode(const uint8_t *p, size_t n, struct spool_entry *e);
/* Lists seg/ as sorted sequence numbers.  Returns count or -1. */
long spool_seg_list(struct spool *sp, uint64_t **v_r, char **err_r);
int spool_seg_content(struct spool *sp, const struct spool_entry *e, spool_chunk_fn cb, void *arg,
		      char **err_r);

/* ---- spool_state.c: the delivery state journal ---- */
struct spool_states;
/* Replays the journal (a torn tail is ignored; the writer truncates it
 * when truncate is true).  Returns NULL with *err_r malloc'd. */
struct spool_states *spool_states_load(struct spool *sp, bool truncate, char **err_r);
void spool_states_free(struct spool_states **st);
/* Fills e->rcpt from the journal; returns true when the message was
 * deleted or all its recipients are done. */
bool spool_states_apply(const struct spool_states *st, struct spool_entry *e);
/* Rewrites the journal keeping the frames of messages for which
 * keep(arg, id) is true.  Returns 0, or -1 with *err_r malloc'd. */
int spool_states_compact(struct spool *sp, const struct spool_states *st,
			 bool (*keep)(void *arg, const char *id), void *arg, char **err_r);

/* ---- spool_read.c: v1 files ---- */
int spool_v1_list(struct spool *sp, struct spool_entry **v, size_t *n, size_t *cap, char **err_r);
int spool_v1_get(struct spool *sp, const char *id, struct spool_entry **e_r, char **err_r);
int spool_v1_content(struct spool *sp, const char *id, spool_chunk_fn cb, void *arg, char **err_r);
int spool_v1_delete(struct spool *sp, const char *id, char **err_r);
/* Grows *v to hold one more entry; returns NULL when out of memory. */
struct spool_entry *spool_entries_push(struct spool_entry **v, size_t *n, size_t *cap);

#endif
