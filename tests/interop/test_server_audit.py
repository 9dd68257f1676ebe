"""Wave-2 audit of `postern serve` (issue 3): TLS ends with close_notify
after the last reply, failed AUTH is counted per client address (so a
reconnect does not reset the delay), and SCRAM's made-up salt for an
unknown user is stable for the life of the process, SIGHUP included.
(The throttle itself has its own suites: test_spray.py, test_fail2ban.py.)

Each behaviour is also shown where it must differ: a right password is
not counted, a clean close is not what a plain-TCP close looks like,
a real user's salt differs from the made-up one."""
import base64
import os
import re
import signal
import socket
import ssl
import stat
import subprocess
import time

import pytest

from conftest import PASSWORD, USER, PosternServer, postern, started_server
from test_server_dialogue import Dialogue

TIMEOUT = 10


def ctx_for(pki):
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    # Python sets this by default; without it, an EOF that is not
    # preceded by close_notify is an error (SSLEOFError), which is the
    # difference these tests look for.
    ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
    return ctx


class Conn(Dialogue):
    """One SMTP connection over TLS (implicit or after STARTTLS) whose
    socket reports a TCP close without close_notify as an error."""

    def __init__(self, server, pki, implicit):
        raw = socket.create_connection(("127.0.0.1", server.submissions if implicit
                                        else server.submission), timeout=TIMEOUT)
        if not implicit:
            f = raw.makefile("rb")
            assert f.readline().startswith(b"220 ")
            raw.sendall(b"EHLO client.example.test\r\n")
            while f.readline()[3:4] == b"-":
                pass
            raw.sendall(b"STARTTLS\r\n")
            assert f.readline() == b"220 2.0.0 Ready to start TLS\r\n"
        # suppress_ragged_eofs=False: a close without close_notify
        # raises instead of looking like a clean end.
        self.sock = ctx_for(pki).wrap_socket(raw, server_hostname="localhost",
                                             suppress_ragged_eofs=False)
        self.f = self.sock.makefile("rb")
        if implicit:
            assert self.f.readline().startswith(b"220 ")
        self.lines = self.cmd("EHLO client.example.test")

    def clean_eof(self):
        """True when the server sent close_notify and closed: recv()
        gives b''.  A bare TCP close raises "unexpected eof"."""
        try:
            return self.sock.recv(100) == b""
        except ssl.SSLError:
            return False


@pytest.mark.parametrize("implicit", [True, False], ids=["implicit-tls", "starttls"])
def test_quit_ends_with_close_notify(server, pki, implicit):
    c = Conn(server, pki, implicit)
    try:
        assert c.cmd("QUIT") == [b"221 2.0.0 Bye\r\n"]
        assert c.clean_eof()
    finally:
        c.close()


def test_too_many_errors_421_ends_with_close_notify(tmp_path, pki):
    from conftest import started_server
    s = started_server(tmp_path / "srv", pki, "max_errors = 2\n")
    try:
        c = Conn(s, pki, implicit=False)
        try:
            assert c.cmd("BOGUS")[0].startswith(b"500 5.5.2")
            assert c.cmd("BOGUS")[0].startswith(b"500 5.5.2")
            assert c.reply()[0].startswith(b"421 4.7.0")
            assert c.clean_eof()
        finally:
            c.close()
    finally:
        s.stop()


def test_plain_tcp_close_is_not_mistaken_for_close_notify(tmp_path, pki):
    """The oracle itself: a TLS peer that closes TCP without alert makes
    clean_eof() raise, so the tests above do check something."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(str(pki.cert), str(pki.key))
    cli = socket.create_connection(ls.getsockname(), timeout=TIMEOUT)
    srv_raw, _ = ls.accept()
    srv_raw.settimeout(TIMEOUT)
    import threading
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("s", sctx.wrap_socket(srv_raw, server_side=True)))
    t.start()
    c = ctx_for(pki).wrap_socket(cli, server_hostname="localhost", suppress_ragged_eofs=False)
    t.join(TIMEOUT)
    box["s"].sendall(b"221 2.0.0 Bye\r\n")
    # close the TCP connection under the TLS layer: no close_notify
    dup = socket.socket(fileno=os.dup(box["s"].fileno()))
    dup.shutdown(socket.SHUT_RDWR)
    dup.close()
    assert c.recv(100) == b"221 2.0.0 Bye\r\n"
    with pytest.raises(ssl.SSLError, match="UNEXPECTED_EOF"):
        c.recv(100)
    c.close()
    box["s"].close()
    ls.close()


# ---- failed AUTH counted per client address ----

def plain_b64(user, password):
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


def throttled(server):
    return re.findall(r"auth throttled: client=127\.0\.0\.1 action=(\w+) limit=(\S+)",
                      server.log_text())


@pytest.fixture
def strict_server(tmp_path, pki):
    """Three failures per address (auth_fail_limit_ip_day: a minute
    window might end during the test)."""
    s = started_server(tmp_path / "strict", pki, "auth_fail_limit_ip_day = 3\n")
    yield s
    s.stop()


def test_auth_failures_counted_per_address_across_reconnects(strict_server, pki):
    server = strict_server
    for i in range(3):
        c = Conn(server, pki, implicit=True)
        try:
            r = c.cmd("AUTH PLAIN " + plain_b64(USER, f"Tr0ub4dor&{i}"))
            assert r == [b"535 5.7.8 Authentication credentials invalid\r\n"]
        finally:
            c.close()
    assert throttled(server) == []
    # each new connection continued the count of the address: the
    # fourth attempt waits, and the right password still works (the
    # delay slows, never locks out)
    c = Conn(server, pki, implicit=True)
    try:
        assert c.cmd("AUTH PLAIN " + plain_b64(USER, PASSWORD)) == [
            b"235 2.7.0 Authentication successful\r\n"]
    finally:
        c.close()
    assert throttled(server) == [("delay", "ip")]
    log = server.log_text()
    assert "Tr0ub4dor" not in log and "delay_ms=250 " in log


def test_bad_syntax_is_not_counted_as_a_guess(strict_server, pki):
    c = Conn(strict_server, pki, implicit=True)
    try:
        for _ in range(3):
            assert c.cmd("AUTH PLAIN !!!") == [b"501 5.5.2 Cannot decode response\r\n"]
        assert c.cmd("AUTH PLAIN *")[0].startswith(b"501 ")
        assert c.cmd("AUTH PLAIN " + plain_b64(USER, "wrong-1"))[0].startswith(b"535 5.7.8")
    finally:
        c.close()
    assert throttled(strict_server) == []


def test_session_closed_after_three_auth_failures(server, pki):
    """auth_max_failures_per_session (3): the third failure in one
    session gets its 535, then 421 4.7.0, and the server closes."""
    c = Conn(server, pki, implicit=True)
    try:
        for i in range(2):
            assert c.cmd("AUTH PLAIN " + plain_b64(USER, f"nope{i}")) == [
                b"535 5.7.8 Authentication credentials invalid\r\n"]
        assert c.cmd("AUTH PLAIN " + plain_b64(USER, "nope2")) == [
            b"535 5.7.8 Authentication credentials invalid\r\n"]
        assert c.reply() == [
            b"421 4.7.0 mail.example.test Error: too many failed authentications\r\n"]
        assert c.closed()
    finally:
        c.close()
    assert re.search(r"auth failed too often: client=127\.0\.0\.1 failures=3 ", server.log_text())
    # a new session may try again (the address is not over its limits)
    c = Conn(server, pki, implicit=True)
    try:
        assert c.cmd("AUTH PLAIN " + plain_b64(USER, PASSWORD)) == [
            b"235 2.7.0 Authentication successful\r\n"]
    finally:
        c.close()


# ---- SCRAM: one made-up salt per unknown user for the process ----

def scram_first(server, pki, user):
    """The server-first message for user (SCRAM-SHA-256), decoded."""
    c = Conn(server, pki, implicit=True)
    try:
        first = base64.b64encode(f"n,,n={user},r=clientnonce123".encode()).decode()
        r = c.cmd("AUTH SCRAM-SHA-256 " + first)
        assert len(r) == 1 and r[0].startswith(b"334 "), r
        msg = base64.b64decode(r[0][4:].strip()).decode()
        assert c.cmd("*")[0].startswith(b"501 5.0.0")
        return dict(kv.split("=", 1) for kv in msg.split(","))
    finally:
        c.close()


def test_scram_fake_salt_stable_for_unknown_user_and_across_sighup(server, pki):
    a = scram_first(server, pki, "nobody@example.test")
    b = scram_first(server, pki, "nobody@example.test")
    assert a["s"] == b["s"] and a["i"] == "4096"
    assert a["r"] != b["r"]                     # fresh server nonce each time
    other = scram_first(server, pki, "someone-else@example.test")
    assert other["s"] != a["s"]
    real = scram_first(server, pki, USER)
    assert real["s"] != a["s"] and real["i"] == a["i"]
    server.proc.send_signal(signal.SIGHUP)
    for _ in range(100):
        if "reloaded" in server.log_text():
            break
        time.sleep(0.05)
    assert "reloaded" in server.log_text()
    assert scram_first(server, pki, "nobody@example.test")["s"] == a["s"]


def test_scram_fake_salt_stable_across_restart(server, pki):
    """Regression (issue 12 item 6): the fake-salt key was drawn at each
    start, so an unknown user's s= changed across a restart while a real
    user's did not, which tells who exists.  The key now lives in
    USERSFILE.key (made once, 0600) and the salt survives a restart."""
    ghost = scram_first(server, pki, "nobody@example.test")["s"]
    real = scram_first(server, pki, USER)["s"]
    server.stop()
    server.start()
    assert scram_first(server, pki, USER)["s"] == real
    assert scram_first(server, pki, "nobody@example.test")["s"] == ghost
    key = server.users.with_name(server.users.name + ".key")
    assert stat.S_IMODE(os.lstat(key).st_mode) == 0o600 and stat.S_ISREG(os.lstat(key).st_mode)
    assert key.stat().st_size == 32
    before = key.read_bytes()
    # The failing side: another key file gives another made-up salt.
    server.stop()
    key.unlink()
    server.start()
    assert key.read_bytes() != before
    assert scram_first(server, pki, "nobody@example.test")["s"] != ghost
    assert scram_first(server, pki, USER)["s"] == real


@pytest.mark.parametrize("content,mode,why", [
    (b"short", 0o600, "malformed fake-salt key: 5 bytes, want 32"),
    (b"k" * 33, 0o600, "malformed fake-salt key: 33 bytes, want 32"),
    (b"k" * 32, 0o604, "fake-salt key is open to others (chmod 600 "),
])
def test_bad_fake_salt_key_stops_the_start(tmp_path, pki, content, mode, why):
    """A key file that is not 32 private bytes is a start-up error that
    names the file; a symbolic link there is refused and not followed."""
    s = PosternServer(tmp_path / "server", pki)
    s.add_user(USER, PASSWORD)
    key = s.users.with_name("users.key")
    key.write_bytes(content)
    os.chmod(key, mode)
    r = postern("serve", "-c", str(s.conf), "--check")
    assert r.returncode == 1
    assert f"{key}: {why}" in r.stderr.decode(), r.stderr.decode()
    key.unlink()
    target = tmp_path / "target"
    key.symlink_to(target)
    r = postern("serve", "-c", str(s.conf), timeout=15)
    assert r.returncode == 1
    assert f"{key}: is a symbolic link; refusing to follow it" in r.stderr.decode()
    assert not target.exists()


# ---- peer values in key=value log lines (issue 12 item 7) ----

FORGED = "x mech=PLAIN client=203.0.113.77"


def fail2ban_ips(log, failregex):
    """The addresses the real fail2ban-regex finds in log with failregex,
    one per matching line."""
    r = subprocess.run(["fail2ban-regex", "-o", "ip", str(log), failregex],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode().split()


def test_forged_user_name_adds_no_client_field(server, pki):
    """Regression: `auth failed: client=IP user=NAME mech=...` printed
    NAME with its blanks and '=', so the user name FORGED added a second
    client= that a fail2ban filter could take for the attacker's address
    (and ban 203.0.113.77 instead).  Now the name is one quoted field;
    an honest name keeps the documented line."""
    c = Conn(server, pki, implicit=True)
    try:
        for user in (FORGED, USER):
            r = c.cmd("AUTH PLAIN " + base64.b64encode(f"\0{user}\0wrong".encode()).decode())
            assert r[0].startswith(b"535 5.7.8"), r
    finally:
        c.close()
    lines = [ln for ln in server.log_text().splitlines() if "auth failed:" in ln]
    assert len(lines) == 2, lines
    forged, honest = lines
    assert forged.count("client=") == 1, forged
    assert re.search(r"auth failed: client=127\.0\.0\.1 "
                     r'user="x\\x20mech\\x3dPLAIN\\x20client\\x3d203\.0\.113\.77" mech=PLAIN session=',
                     forged), forged
    assert re.search(rf"auth failed: client=127\.0\.0\.1 user={re.escape(USER)} mech=PLAIN session=",
                     honest), honest
    # fail2ban itself: the filter for the documented line, and a careless
    # one that takes the last client= it sees, both find only our address.
    for failregex in (r"auth failed: client=<HOST> user=\S+ mech=\S+",
                      r"auth failed: .*\bclient=<HOST>\b"):
        assert fail2ban_ips(server.log, failregex) == ["127.0.0.1", "127.0.0.1"], failregex


def test_peer_values_quoted_in_session_lines(server, pki):
    """HELO name, MAIL FROM and RCPT TO reach the log through the same
    helper: an address with a blank and '=' stays one field."""
    s = socket.create_connection(("127.0.0.1", server.smtp), timeout=TIMEOUT)
    f = s.makefile("rb")
    try:
        assert f.readline().startswith(b"220 ")
        s.sendall(b"EHLO [127.0.0.1]\r\n")
        while f.readline()[3:4] == b"-":
            pass
        s.sendall(b'MAIL FROM:<"a b=c"@example.test>\r\n')
        assert f.readline().startswith(b"250 ")
        s.sendall(b'RCPT TO:<"x client=203.0.113.77"@elsewhere.test>\r\n')
        assert f.readline().startswith(b"554 5.7.1")
        s.sendall(b"QUIT\r\n")
        f.readline()
    finally:
        s.close()
    deadline = time.monotonic() + TIMEOUT
    while "helo=[127.0.0.1] messages=" not in server.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = server.log_text()
    denied = next(ln for ln in log.splitlines() if "relay denied" in ln)
    assert denied.count("client=") == 1, denied
    assert denied.endswith(r'rcpt=<"\"x\x20client\x3d203.0.113.77\"@elsewhere.test">'), denied
    assert "helo=[127.0.0.1] messages=" in log


def test_log_names_client_helo_tls_user_and_mech(server, pki):
    """Issue 3: the session knows and logs client address, HELO name, TLS
    version and cipher, authenticated user and mechanism."""
    import smtplib
    with smtplib.SMTP("127.0.0.1", server.submission, timeout=TIMEOUT,
                      local_hostname="laptop.example.test") as c:
        c.starttls(context=ssl.create_default_context(cafile=str(pki.ca)))
        c.login(USER, PASSWORD)
        c.sendmail(USER, ["bob@elsewhere.test"], b"Subject: log\r\n\r\nhi\r\n")
    deadline = time.monotonic() + TIMEOUT
    # Wait for this session's end (the fixture's readiness probes log
    # disconnects of their own earlier).
    while "helo=laptop.example.test messages=" not in server.log_text() \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    log = server.log_text()
    # Our session is the one that said EHLO laptop.example.test (readiness
    # probes of the fixture connect and close without a word).
    sid = re.search(r"session=([0-9a-f]{16}) disconnect client=127\.0\.0\.1:\d+ "
                    r"helo=laptop\.example\.test ", log).group(1)
    assert re.search(rf"session={sid} connect client=127\.0\.0\.1:\d+ listener=submission\n", log)
    assert re.search(rf"session={sid} tls client=127\.0\.0\.1:\d+ version=TLSv1\.[23] cipher=\S+", log)
    mech = re.search(rf"session={sid} auth ok client=127\.0\.0\.1 user={re.escape(USER)} "
                     r"mech=(CRAM-MD5|PLAIN|LOGIN)\n", log).group(1)   # smtplib's choice
    assert re.search(rf"session={sid} queued id=\w+ from=<{re.escape(USER)}> nrcpt=1 size=\d+ "
                     rf"user={re.escape(USER)} mech={mech} helo=laptop\.example\.test\n", log)
    assert re.search(rf"session={sid} disconnect client=127\.0\.0\.1:\d+ helo=laptop\.example\.test "
                     r"messages=1 rcpts=1 errors=0", log)
    assert PASSWORD not in log
