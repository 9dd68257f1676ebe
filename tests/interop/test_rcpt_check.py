"""Local recipients are checked when RCPT arrives (issue 14 item 3):
an unknown local part of a local domain gets 550 5.1.1 at RCPT, not 250
and a bounce later (backscatter).  Known: users of the credential store
(local part or whole address), entries of `local_recipients` (aliases,
bare local parts, `@domain` catch-alls), and with `local_delivery =
lmtp:...` whatever the LMTP server accepts at RCPT (Dovecot's LMTP,
lmtp_peer.py).  When the check cannot be made (LMTP down, auth process
killed) the reply is 4xx, never 250.  Real clients: smtplib and swaks.
"""
import os
import signal
import socket
import smtplib
import subprocess
import threading
import time

import pytest

from clients import output, run_client
from conftest import PASSWORD, USER, PosternServer, free_port, started_server
from lmtp_peer import DovecotLmtp
from test_privsep import gone, roles, wait_for

TIMEOUT = 20
SENDER = "someone@remote.example"

MAP = """\
# aliases for the tests
info@example.test      alice@example.test, bob@example.test
abuse:                 postmaster
@catch.test            alice@example.test
"""


def server_with(tmp_path, pki, extra="", map_text=MAP, users=()):
    """A started server: USER (alice@example.test) and the bare users,
    local_domains example.test and catch.test, local_recipients = MAP."""
    conf = "local_domains = example.test catch.test\n" + extra
    if map_text is not None:
        (tmp_path / "server").mkdir(parents=True, exist_ok=True)
        (tmp_path / "server" / "rcpts").write_text(map_text)
        conf += "local_recipients = file:rcpts\n"
    s = PosternServer(tmp_path / "server", pki, extra_conf=conf)
    s.add_user(USER, PASSWORD)
    for u in users:
        s.add_user(u, PASSWORD)
    return s.start()


def rcpts(server, addresses, port=None):
    """(code, text) for each RCPT of one transaction on the smtp listener
    (no AUTH: the MX role)."""
    with smtplib.SMTP(server.host, port or server.smtp, timeout=TIMEOUT) as s:
        s.ehlo("client.example.test")
        code, msg = s.mail(SENDER)
        assert code == 250, msg
        return [s.rcpt(a) for a in addresses]


@pytest.fixture
def mx(tmp_path, pki):
    s = server_with(tmp_path, pki, users=("bob",))
    yield s
    s.stop()


def test_unknown_local_user_gets_550_smtplib(mx):
    got = rcpts(mx, ["nobody@example.test", "alice@example.test", "bob@example.test",
                     "BOB@Example.Test", "info@example.test", "abuse@example.test",
                     "postmaster@example.test", "Postmaster@catch.test"])
    assert got[0] == (550, b"5.1.1 <nobody@example.test>: Recipient address rejected: "
                           b"User unknown")
    # store users (whole address, bare local part, any case), aliases,
    # bare-local-part entries, postmaster (RFC 5321 4.5.1)
    assert [c for c, _ in got[1:]] == [250] * 7, got
    assert "rcpt unknown" in mx.log_text() and "rcpt=<nobody@example.test>" in mx.log_text()


def test_routes_in_local_part_are_unknown_even_for_authenticated_users(mx):
    """Never reinterpret %, ! or quoted @ as routing: an authenticated
    session may relay, but not through a local part of a local domain."""
    with smtplib.SMTP(mx.host, mx.submission, timeout=TIMEOUT) as s:
        s.starttls()
        s.login(USER, PASSWORD)
        assert s.mail(USER)[0] == 250
        for a in ("bob%elsewhere.test@example.test", "elsewhere.test!bob@example.test",
                  '"bob@elsewhere.test"@example.test', "nobody@example.test"):
            code, msg = s.rcpt(a)
            assert code == 550 and msg.startswith(b"5.1.1 "), (a, code, msg)
        assert s.rcpt("bob@elsewhere.test")[0] == 250     # relaying itself is unchanged


def test_catch_all(mx):
    got = rcpts(mx, ["whoever@catch.test", "Else.Where@CATCH.test", "nobody@example.test"])
    assert [c for c, _ in got] == [250, 250, 550], got


def test_pipelined_rcpts_answered_in_order(mx):
    """RFC 2920: the session waits for each check without reading, so
    the replies to a pipelined group come back in order."""
    with socket.create_connection((mx.host, mx.smtp), timeout=TIMEOUT) as c:
        f = c.makefile("rb")
        assert f.readline().startswith(b"220 ")
        c.sendall(b"EHLO client.example.test\r\n")
        while not f.readline().startswith(b"250 "):
            pass
        c.sendall(b"MAIL FROM:<someone@remote.example>\r\n"
                  b"RCPT TO:<alice@example.test>\r\n"
                  b"RCPT TO:<nobody@example.test>\r\n"
                  b"RCPT TO:<info@example.test>\r\n"
                  b"RCPT TO:<ghost@example.test>\r\n"
                  b"RCPT TO:<x@catch.test>\r\n"
                  b"DATA\r\n")
        replies = [f.readline()[:3] for _ in range(7)]
        assert replies == [b"250", b"250", b"550", b"250", b"550", b"250", b"354"], replies
        c.sendall(b"Subject: t\r\n\r\nhello\r\n.\r\nQUIT\r\n")
        assert f.readline().startswith(b"250 ")


def swaks_to(server, rcpt):
    return run_client(["swaks", "--server", server.host, "--port", str(server.smtp),
                       "--helo", "client.example.test", "--from", SENDER, "--to", rcpt,
                       "--timeout", "20"])


def test_swaks_unknown_550_known_250(mx):
    r = swaks_to(mx, "nobody@example.test")
    assert r.returncode == 24, output(r)                # swaks: no recipient accepted
    assert "550 5.1.1 <nobody@example.test>: Recipient address rejected" in output(r)
    r = swaks_to(mx, "info@example.test")
    assert r.returncode == 0, output(r)


def test_bad_map_refused_with_file_and_line(tmp_path, pki):
    s = PosternServer(tmp_path / "server", pki,
                      extra_conf="local_recipients = file:rcpts\n")
    (s.dir / "rcpts").write_text("ok@example.test\nbad%key@example.test alice@example.test\n")
    s.add_user(USER, PASSWORD)
    r = subprocess.run([os.environ.get("POSTERN_BIN", "postern"), "serve", "-c", str(s.conf),
                        "--check"], capture_output=True, timeout=60)
    assert r.returncode == 1
    assert f"{s.dir}/rcpts:2: 'bad%key@example.test': not a plain local part".encode() \
        in r.stderr, r.stderr


# ---- LMTP: the LMTP server's own answer ----

@pytest.mark.parametrize("form", ["tcp", "unix"])
def test_lmtp_callout(tmp_path, pki, form):
    dovecot = DovecotLmtp(users={"carol": None, "dave": None}).start()
    target = f"127.0.0.1:{dovecot.port}" if form == "tcp" else f"unix:{dovecot.socket}"
    s = None
    try:
        s = server_with(tmp_path, pki, extra=f"local_delivery = lmtp:{target}\n")
        got = rcpts(s, ["carol@example.test", "stranger@example.test", "Dave@example.test",
                        "alice@example.test"])
        assert [c for c, _ in got] == [250, 550, 250, 250], got
        assert got[1][1].startswith(b"5.1.1 <stranger@example.test>"), got
        assert dovecot.new_messages("carol") == []     # probes only, never DATA
        # the answer is cached: Dovecot stopped, carol still known, and a
        # recipient not asked before cannot be checked (450 4.1.1)
        dovecot.stop()
        got = rcpts(s, ["carol@example.test", "stranger@example.test", "erin@example.test"])
        assert [c for c, _ in got] == [250, 550, 450], got
        assert got[2][1].startswith(b"4.1.1 <erin@example.test>"), got
    finally:
        if s is not None:
            s.stop()
        if dovecot.proc is not None:
            dovecot.stop()


def test_lmtp_down_gives_450_never_250(tmp_path, pki):
    dead = free_port()
    s = server_with(tmp_path, pki, extra=f"local_delivery = lmtp:127.0.0.1:{dead}\n")
    try:
        got = rcpts(s, ["carol@example.test", "alice@example.test", "info@example.test"])
        # not known to the store or the map: the LMTP server must say,
        # and it cannot: 450 4.1.1 (try later), never a blind 250
        assert got[0][0] == 450 and got[0][1].startswith(b"4.1.1 "), got
        assert [c for c, _ in got[1:]] == [250, 250], got
        assert "rcpt unverified" in s.log_text() and "cannot connect" in s.log_text()
    finally:
        s.stop()


class SlowLmtp:
    """An LMTP server on loopback that answers RCPT after `delay`
    seconds (550 for everyone but carol), or never when delay is None."""

    def __init__(self, delay):
        self.delay = delay
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.rcpts = 0
        self.stop = threading.Event()
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        with c, c.makefile("rb") as f:
            c.sendall(b"220 slow LMTP\r\n")
            for line in f:
                cmd = line.strip().upper()
                if cmd.startswith(b"RCPT"):
                    self.rcpts += 1
                    if self.delay is None:
                        self.stop.wait(60)
                        return
                    time.sleep(self.delay)
                    ok = b"<CAROL@" in cmd
                    c.sendall(b"250 2.1.5 ok\r\n" if ok else b"550 5.1.1 unknown\r\n")
                elif cmd.startswith(b"QUIT"):
                    c.sendall(b"221 bye\r\n")
                    return
                else:
                    c.sendall(b"250 ok\r\n")

    def close(self):
        self.stop.set()
        self.acceptor.join(5)
        self.sock.close()


def test_auth_process_killed_during_check_gives_451(tmp_path, pki):
    lm = SlowLmtp(delay=None)
    s = server_with(tmp_path, pki, extra=f"local_delivery = lmtp:127.0.0.1:{lm.port}\n")
    try:
        net, auth = roles(s)
        with smtplib.SMTP(s.host, s.smtp, timeout=TIMEOUT) as c:
            c.ehlo("client.example.test")
            assert c.mail(SENDER)[0] == 250
            c.putcmd("RCPT", "TO:<carol@example.test>")
            wait_for(lambda: lm.rcpts == 1, "the callout to reach the LMTP server")
            os.kill(auth, signal.SIGKILL)
            code, msg = c.getreply()
            assert (code, msg) == (451, b"4.3.0 <carol@example.test>: Recipient check "
                                        b"temporarily unavailable")
        wait_for(lambda: gone(auth), "the auth process to die")
    finally:
        s.stop()
        lm.close()


def spray_session(server, n, results, source):
    try:
        with smtplib.SMTP(server.host, server.smtp, timeout=60,
                          source_address=(source, 0)) as c:
            c.ehlo("spray.example.test")
            c.mail(SENDER)
            for i in range(n):
                results.append(c.rcpt(f"harvest{i}@example.test")[0])
    except (smtplib.SMTPException, OSError) as e:
        results.append(repr(e))


def test_spray_of_unknown_rcpts_does_not_stall_other_sessions(tmp_path, pki):
    """Twenty sessions from one /24 spray unknown recipients at a slow
    LMTP server (1 s a RCPT): their callouts share that network's bound
    in the auth workers, so a client from another network gets its
    answers (store user at once, LMTP user after one callout) while the
    spray goes on, and no sprayed recipient is ever accepted."""
    lm = SlowLmtp(delay=1.0)
    s = server_with(tmp_path, pki, extra=f"local_delivery = lmtp:127.0.0.1:{lm.port}\n")
    results = []
    try:
        threads = [threading.Thread(target=spray_session, args=(s, 5, results, "127.0.0.1"))
                   for _ in range(20)]
        for t in threads:
            t.start()
        wait_for(lambda: lm.rcpts >= 2, "the spray to reach the LMTP server")
        t0 = time.monotonic()
        got = rcpts_from(s, "127.0.1.1", ["alice@example.test", "carol@example.test"])
        took = time.monotonic() - t0
        assert [c for c, _ in got] == [250, 250], got
        spray_running = any(t.is_alive() for t in threads)
        for t in threads:
            t.join(120)
        print(f"honest session: {took:.2f} s during the spray "
              f"(spray still running: {spray_running}); spray replies: "
              f"{sorted(set(map(str, results)))}")
        assert spray_running
        # 20 sessions x 5 RCPTs at 1 s each is 100 s of callouts on two
        # workers: the honest client did not wait behind them
        assert took < 10, took
        assert results and 250 not in results, results
        assert set(results) <= {550, 450}, results
    finally:
        s.stop()
        lm.close()


def rcpts_from(server, source, addresses):
    with smtplib.SMTP(server.host, server.smtp, timeout=TIMEOUT,
                      source_address=(source, 0)) as s:
        s.ehlo("honest.example.test")
        assert s.mail(SENDER)[0] == 250
        return [s.rcpt(a) for a in addresses]
