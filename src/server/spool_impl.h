/* spool_impl.h - what spool.c (writing) and spool_read.c (reading)
 * share: the record format and the spool handle.  Not for other users. */
#ifndef POSTERN_SPOOL_IMPL_H
#define POSTERN_SPOOL_IMPL_H

#include <stdint.h>

/* One write(2) per 64 KiB of message: a 25 MB message is ~400 calls. */
#define SPOOL_WBUF 65536
#define REC_HDR 5
/* No record is longer than one buffer; envelope fields are far shorter. */
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
};

struct spool {
	char *dir;
	int dirfd;
	int tmpfd;
	int queuefd;
	uint64_t last_us;	/* ids strictly increase within a process */
};

/* A malloc'd message from a printf format (NULL when out of memory). */
char *spool_errf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* 0 when lock_fd is a spool_lock() descriptor for the spool at dirfd
 * and holds its lock; else -1 with *err_r malloc'd. */
int spool_lock_check(int dirfd, int lock_fd, const char *dir, char **err_r);

#endif
