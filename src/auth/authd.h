/* authd.h - the auth process of `postern serve` (doc/architecture.md).
 *
 * The only process that opens the credential store.  It runs every SASL
 * exchange: the network process relays the client's decoded messages
 * (ipc/auth_proto.h) and gets back the next challenge, OK or FAIL, so
 * that stored secrets (SCRAM StoredKey/ServerKey, the CRAM-MD5 HMAC
 * state, password hashes) never enter the network process.  Password
 * checks run on a worker pool (auth_pool.h); everything else is answered
 * on the loop at once.  The failure counters (the delay a FAIL carries)
 * live here, so that they survive a network-process restart; the
 * throttling module plugs in at authd_fail_delay().
 */
#ifndef POSTERN_AUTH_AUTHD_H
#define POSTERN_AUTH_AUTHD_H

#include <stddef.h>
#include <stdint.h>

struct authd;
struct config;
struct event_base;

#define AUTHD_SALT_KEY_LEN 32

/* An auth service on base: opens cfg's store (cfg taken over), starts
 * the workers.  key: the fake-salt key (AUTHD_SALT_KEY_LEN bytes,
 * copied).  NULL with *err_r malloc'd. */
struct authd *authd_new(struct event_base *base, struct config *cfg, const uint8_t *key,
			char **err_r);
/* Serves one network process on fd (a socketpair end, taken over):
 * sends HELLO, then answers.  0, or -1 (fd closed). */
int authd_add_conn(struct authd *d, int fd);
/* Re-reads the config file and the store (SIGHUP).  Returns 0; 1 when
 * the credentials setting changed, which needs a new process (the
 * caller exits and the parent starts one); -1 when the new config is
 * broken (the old one stays, logged). */
int authd_reload(struct authd *d);
/* Reads local_recipients and local_delivery's lmtp form as the auth
 * process will (auth_rcpt.c), so that the parent refuses a start
 * (--check says why, "FILE:LINE: why") or a reload with a broken map
 * before any process uses it.  0, or -1 with *err_r malloc'd. */
int authd_check_rcpt(const struct config *cfg, char **err_r);
/* True after a malformed message: the process must exit. */
int authd_broken(const struct authd *d);
void authd_free(struct authd **dp);

/* The process: runs until SIGTERM or until the parent's control socket
 * closes.  ctl_fd brings further network connections (SCM_RIGHTS).
 * Returns the exit code. */
int authd_main(struct config *cfg, int ctl_fd, const uint8_t *key);

#endif
