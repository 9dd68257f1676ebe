"""Postfix as postern's smarthost (issue 14, "What it must show"):
Postfix requires SASL AUTH (through Dovecot) after STARTTLS on its
submission port; postern's queue runner relays to it with
relay_tls = required (certificate checked against the test CA) and
relay_credentials.

- 50 messages submitted to `postern serve` by swaks (25, STARTTLS, AUTH
  PLAIN) and curl (25, implicit TLS) all reach Postfix (kept on its hold
  queue, counted with postqueue -j, read with postcat), each once and
  whole; Postfix's log shows for each the AUTH postern did
  (sasl_username= the relay user) and the AUTH= parameter of its MAIL
  FROM (sasl_sender= alice, who submitted it to postern).
- A wrong relay password: Postfix answers 535; the message stays
  deferred in postern's queue with that reply in `postern queue list`,
  and nothing reaches Postfix.
- Postfix refuses one recipient (550 at RCPT): postern's bounce goes
  back through Postfix with MAIL FROM:<> and AUTH=<> (postern has no
  submitter for its own report: Postfix logs no sasl_sender for it),
  naming that recipient and Postfix's reply; the other recipient gets
  the message with AUTH=<alice>."""
import uuid

import pytest

from conftest import USER, started_server
from delivery import (FAST_RETRY, curl_submit, mark_message, queue_states, queue_text,
                      runner_dir, runner_file, swaks_submit, wait_until)
from peers import started_postfix_dovecot

RELAY_USER = "relay@postern.test"
RELAY_PASSWORD = "relay pass 7Qx"
N = 50
GONE = "gone@example.org"
GONE_REPLY = "550 5.1.1 User unknown here"    # the access map's answer
OTHER_SENDER = "alice@elsewhere.test"      # alice may use it (sender_login_map)


@pytest.fixture(scope="module")
def smarthost(pki):
    with started_postfix_dovecot(pki, users={RELAY_USER: RELAY_PASSWORD},
                                 refuse={GONE: GONE_REPLY}) as pd:
        yield pd


@pytest.fixture
def relaying(tmp_path, pki, smarthost):
    """Starts a postern whose relay is the smarthost, with the given
    relay password; yields a function."""
    started = []
    with runner_dir() as pub:
        def start(password):
            creds = runner_file(pub, "relay.creds", f"{RELAY_USER} {password}\n")
            ca = runner_file(pub, "ca.pem", pki.ca.read_text(), mode=0o644)
            (tmp_path / "senders").write_text(f"{USER} {USER} {OTHER_SENDER}\n")
            extra = (f"relay_host = [{smarthost.host}]:{smarthost.submission}\n"
                     f"relay_tls = required\nrelay_tls_trust_file = {ca}\n"
                     f"relay_credentials = {creds}\n"
                     f"sender_login_map = file:{tmp_path / 'senders'}\n" + FAST_RETRY)
            s = started_server(tmp_path / "postern", pki, extra)
            started.append(s)
            return s
        yield start
        for s in started:
            s.stop()


@pytest.mark.timeout(600)      # 50 submissions and relays; slower under ASan
def test_50_messages_relayed_with_auth(relaying, smarthost):
    server = relaying(RELAY_PASSWORD)
    tag = uuid.uuid4().hex[:10]
    rcpt = f"rcpt-{tag}@example.org"
    marks = [f"pf-{tag}-{i:02d}" for i in range(N)]
    for i, mark in enumerate(marks):
        submit = swaks_submit if i % 2 == 0 else curl_submit
        r = submit(server, USER, [rcpt], mark_message(mark, USER, rcpt))
        assert r.returncode == 0, (submit.__name__, r.stdout.decode(errors="replace"),
                                   r.stderr.decode(errors="replace"))
    wait_until(lambda: len(smarthost.messages_to(rcpt)) >= N, 300,
               f"{N} messages on Postfix's queue",
               show=lambda: queue_text(server) + server.log_text()[-4000:]
               + smarthost.log_text()[-4000:])
    wait_until(lambda: not queue_states(server), 60, "postern's queue to empty",
               show=lambda: queue_text(server))
    got = smarthost.messages_to(rcpt)
    assert len(got) == N, f"{len(got)} messages at Postfix, sent {N}"
    seen = {}
    for m in got:
        assert m["sender"] == USER
        text = smarthost.message(m["queue_id"])
        [mark] = [k for k in marks if f"Subject: {k}\n" in text]
        assert f"end of {mark}\n" in text and "\n.leading dot\n" in text, text[-500:]
        assert "(postern) with ESMTPSA id" in text    # postern's own Received line
        seen[mark] = m["queue_id"]
    assert sorted(seen) == sorted(marks), "a message twice, another missing"
    auth = smarthost.smtpd_auth()
    for mark, qid in seen.items():
        a = auth.get(qid)
        assert a, f"no smtpd client= line for {qid} ({mark}):\n{smarthost.log_text()[-3000:]}"
        assert a.get("sasl_username") == RELAY_USER, a
        assert a.get("sasl_method"), a
        # RFC 4954 section 5: AUTH=<alice> on MAIL FROM, the identity that
        # submitted the message to postern
        assert a.get("sasl_sender") == USER, a
    methods = {auth[q]["sasl_method"] for q in seen.values()}
    print(f"\nPostfix logged sasl_method={methods} sasl_username={RELAY_USER} "
          f"sasl_sender={USER} for all {N} messages")
    # STARTTLS, then AUTH: Postfix's Received line says ESMTPSA (RFC 3848)
    for qid in seen.values():
        assert "(Postfix) with ESMTPSA id " + qid in smarthost.message(qid)


def test_wrong_relay_password_stays_deferred_with_535(relaying, smarthost):
    server = relaying("not the password")
    tag = uuid.uuid4().hex[:10]
    rcpt = f"rcpt-{tag}@example.org"
    r = swaks_submit(server, USER, [rcpt], mark_message("wrongpw-" + tag, USER, rcpt))
    assert r.returncode == 0, r.stdout.decode(errors="replace")

    def deferred():
        for e in queue_states(server).values():
            st = e.rcpts.get(rcpt)
            if st and st.state == "deferred" and st.attempts >= 1 and st.reply != "-":
                return st
        return None
    st = wait_until(deferred, 60, "the recipient deferred with a reply",
                    show=lambda: queue_text(server) + server.log_text()[-3000:])
    # "127.0.0.1:PORT: authentication failed for relay@postern.test with
    # MECH: 535 5.7.8 Error: authentication failed: ..."
    assert "535 5.7.8" in st.reply and RELAY_USER in st.reply, st
    assert st.next != "-", st
    assert not smarthost.messages_to(rcpt)
    assert "authentication failed" in smarthost.log_text()
    # still there after another try: an AUTH failure is never a bounce
    wait_until(lambda: (deferred() or st).attempts >= 2, 30, "a second attempt",
               show=lambda: queue_text(server))
    assert deferred() is not None, queue_text(server)
    assert not smarthost.messages_to(rcpt)


def test_refused_recipient_bounce_relayed_with_null_auth(relaying, smarthost):
    server = relaying(RELAY_PASSWORD)
    tag = uuid.uuid4().hex[:10]
    ok = f"ok-{tag}@example.org"
    mark = "pfbounce-" + tag
    r = swaks_submit(server, OTHER_SENDER, [ok, GONE], mark_message(mark, OTHER_SENDER, ok))
    assert r.returncode == 0, r.stdout.decode(errors="replace")
    wait_until(lambda: smarthost.messages_to(ok) and smarthost.messages_to(OTHER_SENDER), 60,
               "the message and the bounce at Postfix",
               show=lambda: queue_text(server) + server.log_text()[-3000:])
    wait_until(lambda: not queue_states(server), 30, "postern's queue to empty",
               show=lambda: queue_text(server))
    [m] = smarthost.messages_to(ok)
    # postqueue -j names the null sender MAILER-DAEMON; postcat shows it empty
    bounces = [b for b in smarthost.messages_to(OTHER_SENDER) if b["sender"] == "MAILER-DAEMON"]
    assert len(bounces) == 1, smarthost.messages_to(OTHER_SENDER)
    auth = smarthost.smtpd_auth()
    assert auth[m["queue_id"]].get("sasl_sender") == USER, auth[m["queue_id"]]
    b = auth[bounces[0]["queue_id"]]
    assert b.get("sasl_username") == RELAY_USER, b
    assert "sasl_sender" not in b, f"AUTH=<> expected for postern's own bounce: {b}"
    text = smarthost.message(bounces[0]["queue_id"])
    assert "\nsender: \n" in text, text[:1500]
    assert f"Final-Recipient: rfc822; {GONE}" in text, text[-3000:]
    # Postfix words it "550 5.1.1 <gone@...>: Recipient address rejected: User unknown here"
    assert "Diagnostic-Code: smtp; 550 5.1.1" in text and "User unknown here" in text, text[-3000:]
    assert f"rfc822; {ok}" not in text
    assert f"Subject: {mark}" in text
