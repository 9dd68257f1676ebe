"""The bridge end to end (issue 15 item 3), as a printer uses it: swaks
submits with AUTH PLAIN to `postern serve`, whose queue runner relays to
an upstream that takes only XOAUTH2 (as Exchange Online does) with the
access token of `relay_credentials = oauth:TOKENFILE`.  The provider
(fakeauth.py) expires every access token mid-run: the runner refreshes
it at the token endpoint and the next message goes through; once the
grant is revoked, mail stays queued and `postern queue list` says why."""
import os
import pwd
import shutil
import subprocess
import time

import pytest

from conftest import PASSWORD, USER, started_server
from fakeauth import FakeAuth
from test_relay_oauth import XoauthRelay, token_file
from test_runner import mail_root, rcpt_states, wait_for
from test_transport import _tls_ctx

REMOTE = "boss@remote.test"


def swaks_submit(server, mark):
    r = subprocess.run(
        ["swaks", "--server", server.host, "--port", str(server.submission),
         "--helo", "printer.example.test", "--tls", "--tls-verify",
         "--tls-ca-path", str(server.pki.ca), "--auth", "PLAIN", "--auth-user", USER,
         "--auth-password", PASSWORD, "--from", USER, "--to", REMOTE,
         "--header", f"Subject: scan {mark}", "--body", f"scan {mark}", "--timeout", "30"],
        capture_output=True, timeout=90)
    assert r.returncode == 0, r.stdout.decode(errors="replace")[-2000:]


def give_to_runner(path):
    """The runner runs as `user` (nobody when we are root): it reads the
    CA and reads and rewrites the token file."""
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(path, nobody.pw_uid, nobody.pw_gid)


@pytest.fixture
def bridge_server(tmp_path, pki):
    fake = FakeAuth()
    relay = XoauthRelay(fake, _tls_ctx(pki))
    relay.start()
    d = mail_root()
    tf = d / "token.json"
    token_file(tf, fake)
    give_to_runner(tf)
    ca = d / "ca.pem"
    shutil.copy(pki.ca, ca)
    os.chmod(ca, 0o644)
    s = None
    try:
        s = started_server(tmp_path / "server", pki,
                           f"relay_host = [127.0.0.1]:{relay.port}\n"
                           f"relay_tls_trust_file = {ca}\n"
                           f"relay_credentials = oauth:{tf}\n"
                           "retry_first = 60s\n", park_remote=False)
        yield s, fake, relay, tf
    finally:
        if s is not None:
            s.stop()
        relay.stop()
        fake.stop()
        shutil.rmtree(d, ignore_errors=True)


def test_printer_plain_relayed_with_xoauth2_token_refreshed_mid_run(bridge_server):
    server, fake, relay, tf = bridge_server
    swaks_submit(server, "one")
    wait_for("the first message at the XOAUTH2 relay", lambda: len(relay.messages) == 1)
    assert fake.grants == []                  # a good token: no refresh
    first_token = relay.tokens_seen[-1]
    # the provider expires every access token: the relay refuses the old
    # one, the runner refreshes and the second message goes through.  It
    # must go on a new connection (an open one stays logged in): past the
    # transport's idle time (TRANSPORT_IDLE_SEC = 5 s) the runner has
    # closed the first.
    time.sleep(6.5)
    fake.expire_access()
    swaks_submit(server, "two")
    wait_for("the second message at the XOAUTH2 relay", lambda: len(relay.messages) == 2)
    assert fake.grants == ["refresh_token"]
    assert relay.tokens_seen[-1] != first_token and relay.tokens_seen[-1] in fake.valid
    assert b"scan one" in relay.messages[0].content and b"scan two" in relay.messages[1].content
    assert all(m.mail_from == USER and m.rcpt_tos == [REMOTE] for m in relay.messages)
    log = server.log_text()
    assert log.count("result=delivered") >= 2, log[-3000:]


def test_revoked_grant_keeps_mail_queued_with_the_reason(bridge_server):
    server, fake, relay, tf = bridge_server
    fake.expire_access()
    fake.revoke()
    swaks_submit(server, "three")

    def deferred():
        st = rcpt_states(server).get(REMOTE)
        return st if st and st["state"] == "deferred" else None
    st = wait_for("the message deferred", deferred)
    assert "invalid_grant" in st["reply"], st
    assert relay.messages == []
