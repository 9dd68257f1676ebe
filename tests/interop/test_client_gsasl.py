"""gsasl, GNU SASL's command line client, in SMTP mode against `postern
serve`: it does EHLO, STARTTLS (verifying against --x509-ca-file) and
AUTH with SCRAM-SHA-1 / SCRAM-SHA-256 itself, including the check of
the server's final message (v=ServerSignature) - a server whose SCRAM
proof is wrong fails here even when it accepts the client.

After authenticating, gsasl relays "application data" lines from its
stdin to the server (adding CR before LF in SMTP mode) and prints what
the server answers, so the test completes the mail transaction through
the very session gsasl authenticated.  stdout is forced to line
buffering (stdbuf) so that replies can be read one at a time.

--no-cb: gsasl 2.2.0 offers TLS channel binding to SCRAM by default;
with a non-PLUS SCRAM mechanism forced it then fails on the client side
("mechanism error: Error authenticating user") before sending its first
message, whatever the server says (seen with TLS 1.2 and 1.3).  Servers
that do not offer SCRAM-*-PLUS are used with --no-cb."""
import fcntl
import queue
import re
import subprocess
import termios
import threading
import time

import pytest

from clients import (REMOTE_RCPT, SENDER, WRONG_PASSWORD, assert_auth_failure_logged,
                     assert_not_spooled, assert_spooled, message, queue_ids, tag)
from conftest import PASSWORD, USER

MECHS = ["SCRAM-SHA-1", "SCRAM-SHA-256"]
STEP_TIMEOUT = 20


class Gsasl:
    """One gsasl --smtp process, its stdout read line by line by a
    thread, every wait bounded."""

    def __init__(self, server, mech, password, ca, extra=()):
        self.proc = subprocess.Popen(
            ["stdbuf", "-oL", "gsasl", "--smtp", f"--connect={server.host}:{server.submission}",
             "--hostname=localhost", "--mechanism", mech, "--authentication-id", USER,
             "--password", password, f"--x509-ca-file={ca}", "--no-cb", "--verbose", *extra],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.decode(errors="replace").rstrip("\r\n"))
        self.lines.put(None)

    def transcript(self):
        err = ""
        if self.proc.poll() is not None:
            err = self.proc.stderr.read().decode(errors="replace")
        return "\n".join(self.seen) + "\n--- stderr ---\n" + err

    def reply(self):
        """The next final reply line ("ddd text") from the server."""
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "no reply from gsasl within the time limit:\n" + self.transcript()
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                return None
            self.seen.append(line)
            if re.match(r"^\d{3} ", line):
                return line

    def auth_result(self):
        """Skips the EHLO/STARTTLS/SASL dialogue up to the AUTH outcome."""
        while True:
            line = self.reply()
            if line is None or line[:3] in ("235", "535", "454", "504", "538", "501"):
                return line

    def send(self, line):
        """Writes one line and waits (bounded) until gsasl has read it.
        gsasl polls fd 0 and then reads with stdio: lines written in one
        go would sit in its stdio buffer, unseen by poll, so each line
        goes into an otherwise empty pipe."""
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()
        fd = self.proc.stdin.fileno()
        deadline = time.monotonic() + STEP_TIMEOUT
        buf = bytearray(4)
        while True:
            fcntl.ioctl(fd, termios.FIONREAD, buf)
            if int.from_bytes(buf, "little") == 0:
                return
            assert self.proc.poll() is None, "gsasl exited:\n" + self.transcript()
            assert time.monotonic() < deadline, "gsasl stopped reading its input:\n" + self.transcript()
            time.sleep(0.002)

    def finish(self):
        """EOF on stdin: gsasl sends QUIT and exits."""
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            return self.proc.wait(timeout=STEP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            raise AssertionError("gsasl did not exit after EOF:\n" + self.transcript()) from None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass


@pytest.fixture
def gsasl_client():
    started = []

    def start(*a):
        g = Gsasl(*a)
        started.append(g)
        return g
    yield start
    for g in started:
        g.stop()


def smtp_lines(text):
    """Message lines, dot-stuffed (RFC 5321 4.5.2): gsasl passes the
    lines through as they are, so the test is the SMTP layer here."""
    return ["." + l if l.startswith(".") else l for l in text.replace("\r\n", "\n").split("\n")[:-1]]


def submit(server, g, mech):
    """Authenticates through g, sends one message in the same session,
    and checks that it was spooled."""
    before = queue_ids(server)
    mark = tag()
    res = g.auth_result()
    assert res is not None and res.startswith("235 2.7.0"), g.transcript()
    g.send(f"MAIL FROM:<{SENDER}>")
    assert g.reply().startswith("250 "), g.transcript()
    g.send(f"RCPT TO:<{REMOTE_RCPT}>")
    assert g.reply().startswith("250 "), g.transcript()
    g.send("DATA")
    assert g.reply().startswith("354 "), g.transcript()
    for line in smtp_lines(message(mark)):
        g.send(line)
    g.send(".")
    assert g.reply().startswith("250 "), g.transcript()
    assert g.finish() == 0, g.transcript()
    assert_spooled(server, before, mark, mech=mech)


@pytest.mark.parametrize("mech", MECHS)
def test_submit(server, gsasl_client, mech):
    submit(server, gsasl_client(server, mech, PASSWORD, server.pki.ca), mech)


def test_starttls_before_ehlo(server, gsasl_client):
    """Issue 12 item 10: `gsasl --starttls` sends STARTTLS straight after
    the greeting, with no EHLO first (RFC 3207 allows it, Postfix takes
    it); postern answered 503 5.5.1 and gsasl gave up."""
    g = gsasl_client(server, "SCRAM-SHA-256", PASSWORD, server.pki.ca, ["--starttls"])
    submit(server, g, "SCRAM-SHA-256")
    assert g.seen[:3] == ["220 mail.example.test ESMTP postern", "STARTTLS",
                          "220 2.0.0 Ready to start TLS"], g.transcript()


@pytest.mark.parametrize("mech", MECHS)
def test_wrong_password(server, gsasl_client, mech):
    before = queue_ids(server)
    g = gsasl_client(server, mech, WRONG_PASSWORD, server.pki.ca)
    res = g.auth_result()
    assert res is not None and res.startswith("535 5.7.8"), g.transcript()
    rc = g.finish()
    assert rc != 0, g.transcript()
    assert_auth_failure_logged(server, mech)
    assert_not_spooled(server, before)


def test_untrusted_certificate(server, gsasl_client):
    before = queue_ids(server)
    g = gsasl_client(server, "SCRAM-SHA-256", PASSWORD, server.pki.other_ca)
    res = g.auth_result()
    assert res is None, g.transcript()
    rc = g.finish()
    t = g.transcript()
    assert rc != 0, t
    assert "certificate verification" in t and "\nAUTH " not in t, t
    assert_not_spooled(server, before)
