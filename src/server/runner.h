/* runner.h - the queue runner process (proc=runner; issue 14 items 4-9).
 *
 * Forked and supervised by the parent like the auth process (restarted
 * with a back-off, dies with the parent), running as `user` like the
 * network process.  It passes accepted mail on: it reads the spool,
 * picks the recipients that are due, groups them by destination
 * (deliver/route.h), hands each group to the transport
 * (deliver/transport.h) within max_deliveries and
 * max_deliveries_per_destination, and records each recipient's result
 * in the state journal: delivered only after the remote's 250 (the
 * crash argument is spool.h's); a 4xx or no connection defers it with
 * back-off (deliver/retry.h) until max_queue_lifetime; a 5xx or an
 * expired recipient fails it and bounces (runner_bounce.c).
 *
 * While the server runs the runner is the state journal's only writer
 * (`postern queue delete` goes through its control socket,
 * runner_ctl.c), so it alone may compact the journal: it runs
 * spool_gc_live() once a minute when something finished.
 *
 * Wake-ups: the due time of the next deferred recipient; new mail
 * (inotify on SPOOL/seg: every commit pass of the network process
 * writes a segment, so the runner learns of new mail within one loop
 * pass, without any coupling to the network process; a full rescan
 * every RUNNER_RESCAN_SEC as a safety net); `postern queue flush`.
 */
#ifndef POSTERN_SERVER_RUNNER_H
#define POSTERN_SERVER_RUNNER_H

#include <stdbool.h>
#include <sys/types.h>

struct config;
struct local_rcpt;
struct spool;

/* Runs the runner until SIGTERM (then in-flight deliveries finish, or
 * are abandoned after shutdown_grace: their recipients are delivered
 * again by the next runner, at most once more).  sp: a second writer
 * handle on the spool (spool_open_second: the runner writes bounces in
 * segments of its own); map: local_recipients, loaded before the
 * privilege drop (owned: freed at the end), NULL: none; ctl_fd: the
 * listening control socket, or -1.  Returns the process exit code. */
int runner_main(const struct config *cfg, struct spool *sp, struct local_rcpt *map, int ctl_fd);

/* For the parent, before it drops privileges: creates the control
 * socket at path (a stale socket there is removed: the caller holds the
 * spool's lock, so no other server serves it), mode 0600, owned by
 * uid:gid when chown_it.  Returns the listening descriptor, or -1 with
 * *err_r malloc'd naming the path. */
int runner_ctl_listen(const char *path, bool chown_it, uid_t uid, gid_t gid, char **err_r);

#endif
