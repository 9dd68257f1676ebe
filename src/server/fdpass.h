/* fdpass.h - passing a file descriptor with a one-byte tag over a
 * Unix socket (SCM_RIGHTS): how the parent of `postern serve` hands a
 * new auth connection to a network or auth process
 * (doc/architecture.md). */
#ifndef POSTERN_SERVER_FDPASS_H
#define POSTERN_SERVER_FDPASS_H

/* Sends tag[0] and fd (fd stays open here).  0, or -1 with errno. */
int fdpass_send(int sock, const char *tag, int fd);
/* Receives one tag and its fd (*fd_r = -1 when none came with it).
 * Returns 1, 0 at EOF, -1 with errno (EAGAIN: nothing yet). */
int fdpass_recv(int sock, char *tag_r, int *fd_r);

#endif
