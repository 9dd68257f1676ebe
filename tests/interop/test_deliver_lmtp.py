"""Local delivery through Dovecot's LMTP service (Debian dovecot-lmtpd,
lmtp_peer.py) with a passwd-file userdb, delivering into its Maildirs
(issue 14, "What it must show"):

- local_delivery = lmtp:127.0.0.1:PORT: one message from alice to bob
  (a Dovecot user) and ghost (known to postern's local_recipients, so
  accepted at RCPT, but not to Dovecot: a user removed from Dovecot after
  postern accepted the mail): bob's mailbox gets it, ghost's LMTP RCPT is
  refused 550 5.1.1 and produces one bounce to alice, naming ghost
  only, delivered through LMTP into alice's mailbox;
- local_delivery = lmtp:unix:PATH: a user over quota fails after the
  final dot (LMTP's reply per recipient, RFC 2033): the bounce names
  that user only, the other recipient of the same message gets it;
- an address neither postern nor Dovecot knows gets 550 5.1.1 at RCPT
  from postern itself (nothing queued, no bounce: no backscatter)."""
import mailbox
import uuid

from conftest import USER, started_server
from delivery import (FAST_RETRY, dsn_parts, mark_message, queue_states, queue_text, runner_dir,
                      runner_file, swaks_submit, wait_until)
from lmtp_peer import DovecotLmtp


def lmtp_server(tmp_path, pki, pub, target, known):
    rcpts = runner_file(pub, "local_recipients", "".join(f"{u}@example.test\n" for u in known),
                        mode=0o644)
    extra = (f"local_delivery = lmtp:{target}\nlocal_recipients = file:{rcpts}\n" + FAST_RETRY)
    return started_server(tmp_path / "postern", pki, extra)


def messages(lm, user):
    if not lm.maildir(user).exists():
        return []
    return [m.as_bytes() for m in mailbox.Maildir(str(lm.maildir(user)), create=False)]


def bounces(lm):
    out = []
    for raw in messages(lm, "alice"):
        if b"multipart/report" in raw:
            out.append(raw)
    return out


def run_case(tmp_path, pki, lm, target, rcpts, known, lines=5):
    with runner_dir() as pub:
        server = lmtp_server(tmp_path, pki, pub, target, known)
        try:
            mark = "lmtp-" + uuid.uuid4().hex
            r = swaks_submit(server, USER, rcpts, mark_message(mark, USER, rcpts[0], lines=lines))
            assert r.returncode == 0, r.stdout.decode(errors="replace")
            wait_until(lambda: bounces(lm), 60, "a bounce in alice's mailbox",
                       show=lambda: queue_text(server) + server.log_text()[-3000:] + lm.log())
            wait_until(lambda: not queue_states(server), 30, "an empty queue",
                       show=lambda: queue_text(server))
        finally:
            server.stop()
    return mark, server.log_text()


def test_known_user_gets_it_unknown_to_dovecot_bounces(tmp_path, pki):
    with DovecotLmtp(users={"alice": None, "bob": None}) as lm:
        mark, log = run_case(tmp_path, pki, lm, f"127.0.0.1:{lm.port}",
                             ["bob@example.test", "ghost@example.test"], ["bob", "ghost"])
        [got] = messages(lm, "bob")
        assert mark.encode() in got and b"end of " + mark.encode() in got
        assert b"\n.leading dot\n" in got.replace(b"\r\n", b"\n")
        [bounce] = bounces(lm)
        assert not lm.maildir("ghost").exists()
        dovecot_log = lm.log()
    _, per_rcpt, orig = dsn_parts(bounce)
    assert [r["final-recipient"] for r in per_rcpt] == ["rfc822; ghost@example.test"], per_rcpt
    assert per_rcpt[0]["action"] == "failed" and per_rcpt[0]["status"] == "5.1.1", per_rcpt
    assert per_rcpt[0]["diagnostic-code"].startswith("smtp; 550 5.1.1"), per_rcpt
    assert "bob@example.test" not in str(per_rcpt)
    assert mark in orig
    assert "lmtp(bob" in dovecot_log and "saved mail to INBOX" in dovecot_log, dovecot_log[-2000:]


def test_over_quota_after_dot_bounces_that_user_only(tmp_path, pki):
    users = {"alice": None, "bob": None, "full": "*:storage=1"}
    with DovecotLmtp(users=users) as lm:
        # about 10 KB: over full's 1 KiB quota
        mark, _ = run_case(tmp_path, pki, lm, f"unix:{lm.socket}",
                           ["full@example.test", "bob@example.test"], ["bob", "full"], lines=200)
        [got] = messages(lm, "bob")
        assert mark.encode() in got
        assert messages(lm, "full") == []
        [bounce] = bounces(lm)
    _, per_rcpt, _ = dsn_parts(bounce)
    assert [r["final-recipient"] for r in per_rcpt] == ["rfc822; full@example.test"], per_rcpt
    assert per_rcpt[0]["action"] == "failed"
    assert per_rcpt[0]["status"].startswith("5.2."), per_rcpt     # 5.2.2 mailbox full
    assert "quota" in per_rcpt[0]["diagnostic-code"].lower(), per_rcpt


def test_unknown_everywhere_refused_at_rcpt(tmp_path, pki):
    with DovecotLmtp(users={"alice": None, "bob": None}) as lm, runner_dir() as pub:
        server = lmtp_server(tmp_path, pki, pub, f"127.0.0.1:{lm.port}", ["bob"])
        try:
            r = swaks_submit(server, USER, ["nobody-here@example.test"],
                             mark_message("unknown", USER, "nobody-here@example.test"))
            out = r.stdout.decode(errors="replace")
            assert r.returncode != 0, out
            assert "550 5.1.1" in out, out
            assert not queue_states(server)
        finally:
            server.stop()
