/* auth_main.c - the auth process's life: forked by the parent of
 * `postern serve`, it serves network processes until SIGTERM or until
 * the parent goes away (doc/architecture.md). */
#include "auth/authd_impl.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "server/fdpass.h"
#include "util/log.h"

struct auth_main {
	struct event_base *base;
	struct authd *d;
	int ctl_fd;
	int rc;
};

/* The parent sends 'A' with one end of a socketpair per network process. */
static void
auth_main_ctl(evutil_socket_t fd, short what, void *arg)
{
	struct auth_main *am = arg;
	char tag = 0;
	int cfd = -1;
	int n = fdpass_recv(fd, &tag, &cfd);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		log_info("auth: the parent went away, exiting");
		event_base_loopexit(am->base, NULL);
		return;
	}
	if (tag == 'A' && cfd >= 0 && authd_add_conn(am->d, cfd) == 0)
		return;
	log_err("auth: unexpected control message '%c'", tag);
	if (cfd >= 0)
		close(cfd);
}

static void
auth_main_signal(evutil_socket_t sig, short what, void *arg)
{
	struct auth_main *am = arg;
	if (sig != SIGHUP) {
		event_base_loopexit(am->base, NULL);
		return;
	}
	if (authd_reload(am->d) == 1)
		event_base_loopexit(am->base, NULL);	/* the parent starts a new one */
}

int
authd_main(struct config *cfg, int ctl_fd, const uint8_t *key)
{
	/* Derived secrets and, for a moment, passwords live here: no core
	 * file, no ptrace by other processes of this uid. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		log_warn("auth: cannot turn core dumps off: %s", strerror(errno));
	struct auth_main am = { .ctl_fd = ctl_fd, .rc = 0 };
	char *err = NULL;
	am.base = event_base_new();
	if (am.base == NULL) {
		config_free(&cfg);
		log_err("auth: cannot set up the event loop");
		return 1;
	}
	am.d = authd_new(am.base, cfg, key, &err);
	if (am.d == NULL) {
		log_err("auth: %s", err ? err : "cannot start");
		free(err);
		event_base_free(am.base);
		return 1;
	}
	struct event *ctl = event_new(am.base, ctl_fd, EV_READ | EV_PERSIST, auth_main_ctl, &am);
	struct event *sig[3] = {
		evsignal_new(am.base, SIGTERM, auth_main_signal, &am),
		evsignal_new(am.base, SIGINT, auth_main_signal, &am),
		evsignal_new(am.base, SIGHUP, auth_main_signal, &am),
	};
	int rc = 1;
	if (ctl != NULL && sig[0] && sig[1] && sig[2] && evutil_make_socket_nonblocking(ctl_fd) == 0 &&
	    event_add(ctl, NULL) == 0 && evsignal_add(sig[0], NULL) == 0 &&
	    evsignal_add(sig[1], NULL) == 0 && evsignal_add(sig[2], NULL) == 0) {
		log_info("auth: ready, %zu mechanisms", am.d->nmechs);
		rc = event_base_dispatch(am.base) < 0 || authd_broken(am.d) ? 1 : 0;
	}
	for (size_t i = 0; i < 3; i++)
		if (sig[i] != NULL)
			event_free(sig[i]);
	if (ctl != NULL)
		event_free(ctl);
	authd_free(&am.d);
	event_base_free(am.base);
	return rc;
}
