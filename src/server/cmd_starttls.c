/* cmd_starttls.c - STARTTLS (RFC 3207). */
#include "server/session.h"

#include <inttypes.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/bufferevent.h>

#include "util/log.h"

void
cmd_starttls(struct session *s, struct span arg)
{
	if (s->tls) {
		sess_fail(s, 503, "5.5.1", "Error: TLS already active");
		return;
	}
	if (!policy_may_starttls(s)) {
		sess_fail(s, 502, "5.5.1", "Error: STARTTLS not available");
		return;
	}
	sess_reply(s, 220, "2.0.0", "Ready to start TLS");
	/* CVE-2011-0411: bytes the client sent behind STARTTLS arrived in
	 * clear text and must never run as commands once TLS is up. */
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t junk = evbuffer_get_length(in);
	if (junk > 0) {
		log_info("session=%016" PRIx64 " discarded %zu bytes sent after STARTTLS client=%s",
			 s->id, junk, s->addr);
		evbuffer_drain(in, junk);
	}
	/* RFC 3207 4.2: "The server MUST discard any knowledge obtained
	 * from the client, such as the argument to the EHLO command, which
	 * was not obtained from the TLS negotiation itself." */
	sess_forget(s);
	/* The handshake starts once the 220 is written (session.c
	 * sess_starttls_written); until then nothing is read. */
	sess_set_state(s, ST_STARTTLS);
}
