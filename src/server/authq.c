/* authq.c - the asynchronous door to the credential store.
 *
 * The session hands its SASL request over and stops reading; the store
 * answers in a later pass of the event loop and the session resumes in
 * cmd_auth_resume() (STYLE.md 14).  Today the store is in-process and
 * fast, but nothing in the session depends on that: the lookup can move
 * to another process by changing only this file.
 */
#include "server/session.h"

#include <event2/event.h>
#include <openssl/crypto.h>

#include "sasl/sasl.h"
#include "store/store.h"

void
authq_submit(struct session *s)
{
	struct server *srv = s->srv;
	bool was_empty = TAILQ_EMPTY(&srv->authq);
	TAILQ_INSERT_TAIL(&srv->authq, s, wait_link);
	s->in_authq = true;
	if (was_empty)
		event_active(srv->authq_ev, 0, 0);
}

void
authq_cancel(struct session *s)
{
	if (!s->in_authq)
		return;
	TAILQ_REMOVE(&s->srv->authq, s, wait_link);
	s->in_authq = false;
}

void
authq_run(int fd, short what, void *arg)
{
	struct server *srv = arg;
	struct session_list batch = TAILQ_HEAD_INITIALIZER(batch);
	struct session *s;
	TAILQ_CONCAT(&batch, &srv->authq, wait_link);
	while ((s = TAILQ_FIRST(&batch)) != NULL) {
		TAILQ_REMOVE(&batch, s, wait_link);
		s->in_authq = false;
		struct sasl_cred_answer a = { .status = SASL_CRED_TEMPFAIL };
		const struct sasl_cred_request *req = sasl_cred_request(s->sasl);
		if (req != NULL)
			store_answer(s->gen->store, req, &a);
		sasl_cred_supply(s->sasl, &a);
		OPENSSL_cleanse(&a, sizeof a);
		cmd_auth_resume(s);
	}
}
