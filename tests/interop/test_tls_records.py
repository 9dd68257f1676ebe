"""The replies to a pipelined group of commands go out in one TLS record
(RFC 2920 lets the server send them together; issue 16: syscalls and
work per reply).  After STARTTLS the server used to run TLS as a filter
over its plain bufferevent, which made a record of every reply line: a
group of five NOOPs cost five records (five AEAD seals and 5 x 22 bytes
of framing).  Now TLS sits on the socket for STARTTLS as for implicit
TLS, and the group's replies share a record.

The client here is Python's ssl with memory BIOs, so that the test sees
the raw records: it reads the socket itself, splits the bytes at the
5-byte record headers (type 23, application data), and feeds them to
the TLS object."""
import base64
import os
import re
import select
import socket
import ssl
import subprocess
import time

import pytest

from clients import REMOTE_RCPT, SENDER, describe, queue_ids, run_client
from conftest import PASSWORD, USER, started_server
from test_big_messages import assert_whole, make_message
from test_client_smtplib import connect as smtplib_connect
from test_server_dialogue import client_ctx

TIMEOUT = 20


class RawTls:
    """A TLS client over sock that counts the records it receives."""

    def __init__(self, sock, ctx):
        self.sock = sock
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.inc, self.out, server_hostname="localhost")
        self.raw = b""
        self.records = 0

    def _flush(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)

    def _pull(self):
        """Reads from the socket and feeds whole records to the TLS object."""
        chunk = self.sock.recv(65536)
        assert chunk, "connection closed"
        self.raw += chunk
        while len(self.raw) >= 5:
            n = 5 + int.from_bytes(self.raw[3:5], "big")
            if len(self.raw) < n:
                break
            if self.raw[0] == 23:
                self.records += 1
            self.inc.write(self.raw[:n])
            self.raw = self.raw[n:]

    def handshake(self):
        while True:
            try:
                self.tls.do_handshake()
                self._flush()
                return
            except ssl.SSLWantReadError:
                self._flush()
                self._pull()

    def send(self, data):
        self.tls.write(data)
        self._flush()

    def read_replies(self, n):
        """Reads until n final reply lines ("ddd ") arrived; returns the text."""
        text = b""
        while text.count(b"\r\n") < n or not all(
                line[3:4] == b" " for line in text.split(b"\r\n")[-1 - n:-1]):
            try:
                text += self.tls.read(65536)
            except ssl.SSLWantReadError:
                self._pull()
        return text


def line(sock):
    data = b""
    while not data.endswith(b"\r\n"):
        c = sock.recv(1)
        assert c, data
        data += c
    return data


def clear_starttls(sock):
    """Greeting, EHLO and STARTTLS in clear text on sock, up to the 220
    after which the client starts its handshake."""
    assert line(sock).startswith(b"220 ")
    sock.sendall(b"EHLO client.test\r\n")
    while not line(sock).startswith(b"250 "):
        pass
    sock.sendall(b"STARTTLS\r\n")
    assert line(sock).startswith(b"220 ")


@pytest.fixture
def tls_server(tmp_path, pki):
    s = started_server(tmp_path / "server", pki)
    yield s
    s.stop()


@pytest.mark.parametrize("how", ["starttls", "implicit"])
def test_pipelined_replies_share_one_record(tls_server, pki, how):
    port = tls_server.submission if how == "starttls" else tls_server.submissions
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    try:
        if how == "starttls":
            clear_starttls(sock)
        t = RawTls(sock, client_ctx(pki))
        t.handshake()
        if how == "implicit":
            assert t.read_replies(1).startswith(b"220 ")
        t.send(b"EHLO client.test\r\n")
        assert b"250 " in t.read_replies(1)
        # TLS 1.3 session tickets and the EHLO reply are behind us: count
        # the records of the group alone
        before = t.records
        t.send(b"NOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\n")
        text = t.read_replies(5)
        assert text == b"250 2.0.0 Ok\r\n" * 5, text
        assert t.records - before == 1, f"{t.records - before} records for one group of 5 replies"
    finally:
        sock.close()


# ---- issue 16 S4: postern runs TLS 1.3 records itself (src/server/tls_bev.c) ----
#
# After a TLS 1.3 handshake the server keeps the traffic keys and frees
# OpenSSL's SSL object; every record after it is sealed and opened by
# src/server/tls_rec.c.  A wrong key or sequence number fails the first
# record, so real clients sending a 5 MB message show the keys, the
# counting of OpenSSL's NewSessionTicket records and the record framing
# at once.  "records=postern" in the log says which path a session took.

MIB = 1024 * 1024
BIG = 5 * MIB


@pytest.fixture
def rec_server(tmp_path, pki):
    s = started_server(tmp_path / "server", pki, extra_conf="max_message_size = 8388608\n")
    yield s
    s.stop()


def records_of(server, n=1):
    """The records= values of the server's "tls client=" lines so far,
    waiting up to 5 s for n of them."""
    deadline = time.monotonic() + 5
    while True:
        got = re.findall(r" tls client=\S+ version=(\S+) cipher=\S+ records=(\w+)",
                         server.log_text())
        if len(got) >= n or time.monotonic() > deadline:
            return got


def assert_ours(server, n=1):
    got = records_of(server, n)
    assert got and all(r == ("TLSv1.3", "postern") for r in got), got


MODES = ["starttls", "implicit"]


@pytest.mark.parametrize("mode", MODES)
def test_smtplib_5mb(rec_server, mode):
    s = rec_server
    mark, msg = make_message(BIG, seed=11)
    before = queue_ids(s)
    c = smtplib_connect(s, mode == "implicit", s.pki.ca)
    c.timeout = 60
    try:
        c.login(USER, PASSWORD)     # AUTH PLAIN over TLS
        assert c.sendmail(SENDER, [REMOTE_RCPT], msg) == {}
        assert c.noop()[0] == 250   # and the session goes on after 5 MB
    finally:
        c.quit()
    assert_whole(s, before, mark, msg)
    assert_ours(s)


@pytest.mark.parametrize("mode", MODES)
def test_swaks_5mb(rec_server, mode):
    s = rec_server
    mark, msg = make_message(BIG, seed=12)
    before = queue_ids(s)
    port, flag = (s.submission, "--tls") if mode == "starttls" else (s.submissions, "--tls-on-connect")
    r = run_client(["swaks", "--server", s.host, "--port", port, "--helo", "client.example.test",
                    "--from", SENDER, "--to", REMOTE_RCPT, "--timeout", "60", flag,
                    "--tls-verify", "--tls-ca-path", s.pki.ca, "--tls-protocol", "tlsv1_3",
                    "--auth", "PLAIN", "--auth-user", USER, "--auth-password", PASSWORD,
                    "--data", "-", "--suppress-data"], input=msg, timeout=120)
    assert r.returncode == 0, describe(r)
    assert_whole(s, before, mark, msg + b"\r\n")     # swaks ends the data with a CRLF of its own
    assert_ours(s)


@pytest.mark.parametrize("mode", MODES)
def test_msmtp_5mb(rec_server, mode, tmp_path):
    s = rec_server
    mark, msg = make_message(BIG, seed=13)
    before = queue_ids(s)
    rc = tmp_path / "msmtprc"
    rc.touch(mode=0o600)
    rc.write_text(
        f"account postern\nhost {s.host}\n"
        f"port {s.submission if mode == 'starttls' else s.submissions}\n"
        "domain client.example.test\ntimeout 60\ntls on\n"
        f"tls_starttls {'on' if mode == 'starttls' else 'off'}\n"
        f"tls_trust_file {s.pki.ca}\ntls_certcheck on\ntls_min_dh_prime_bits 2048\n"
        "tls_priorities NORMAL:-VERS-ALL:+VERS-TLS1.3\n"
        f"auth plain\nuser {USER}\npassword \"{PASSWORD}\"\nfrom {SENDER}\n"
        "account default : postern\n")
    r = run_client(["msmtp", "-C", rc, REMOTE_RCPT], input=msg, timeout=120)
    assert r.returncode == 0, describe(r)
    assert_whole(s, before, mark, msg)
    assert_ours(s)


def s_client_args(s, mode, *extra):
    args = ["openssl", "s_client", "-CAfile", str(s.pki.ca), "-verify_return_error", "-crlf",
            "-servername", "localhost", *extra]
    if mode == "starttls":
        return args + ["-connect", f"{s.host}:{s.submission}", "-starttls", "smtp"]
    return args + ["-connect", f"{s.host}:{s.submissions}"]


@pytest.mark.parametrize("mode", MODES)
def test_s_client_5mb(rec_server, mode):
    """openssl s_client, everything written at once: the commands behind
    AUTH wait in the socket bufferevent while the auth process answers,
    and must be opened once reading is on again (tls_bev_pull)."""
    s = rec_server
    mark, msg = make_message(BIG, seed=14)
    before = queue_ids(s)
    plain = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
    body = msg.replace(b"\r\n", b"\n").replace(b"\n.", b"\n..")
    script = (f"EHLO client.test\nAUTH PLAIN {plain}\nMAIL FROM:<{SENDER}>\n"
              f"RCPT TO:<{REMOTE_RCPT}>\nDATA\n").encode() + body + b".\nQUIT\n"
    r = run_client(s_client_args(s, mode, "-tls1_3", "-quiet"), input=script, timeout=120)
    out = r.stdout.decode(errors="replace")
    assert "235 2.7.0" in out and "250 2.0.0 Ok: queued as" in out and "221 " in out, describe(r)
    assert_whole(s, before, mark, msg)
    assert_ours(s)


class SClient:
    """An interactive openssl s_client (its command letters on): lines
    go to its stdin, replies are read with a time limit."""

    def __init__(self, args):
        # s_client prints KEYUPDATE on stderr
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        self.buf = b""
        self.seen = b""     # what expect() went past

    def send(self, line):
        self.p.stdin.write(line.encode() + b"\n")
        self.p.stdin.flush()

    def expect(self, pattern, timeout=TIMEOUT):
        """Reads until pattern (bytes regex) matches; returns the match."""
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(pattern, self.buf)
            if m:
                self.seen += self.buf[:m.end()]
                self.buf = self.buf[m.end():]
                return m
            left = deadline - time.monotonic()
            assert left > 0, f"no {pattern!r} in {self.buf[-2000:]!r}"
            ready, _, _ = select.select([self.p.stdout], [], [], left)
            if ready:
                chunk = os.read(self.p.stdout.fileno(), 65536)
                assert chunk, f"s_client ended; no {pattern!r} in {self.buf[-2000:]!r}"
                self.buf += chunk

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait(timeout=10)
        for f in (self.p.stdin, self.p.stdout):
            f.close()


# Implicit TLS only: after -starttls smtp, s_client now and then takes a
# "K" line as data (the server answers 500) on this loaded machine; the
# record layer is the same after either handshake.
@pytest.mark.parametrize("mode", ["implicit"])
def test_s_client_key_update(rec_server, mode):
    """s_client's K sends a KeyUpdate with update_requested: we must
    take the client's next key and answer with a KeyUpdate of ours
    before our next record (RFC 8446 4.6.3); k sends one without the
    request.  Commands after each must work, twice over (the second
    update derives from the first)."""
    s = rec_server
    c = SClient(s_client_args(s, mode, "-tls1_3", "-msg"))
    try:
        # the handshake is done (s_client reads no command line before:
        # lines sent earlier would reach it in one read, as data)
        c.expect(rb"Verify return code: 0 \(ok\)\n")
        c.send("EHLO client.test")
        c.expect(rb"(?m)^250 ENHANCEDSTATUSCODES\r?\n")
        answers = 0
        for letter in ["K", "k", "K", "k"]:
            c.send(letter)
            c.expect(rb"(?m)^KEYUPDATE")
            c.send("NOOP")
            c.expect(rb"(?m)^250 2\.0\.0 Ok")
            # -msg shows what s_client received: our KeyUpdate comes
            # before the 250 exactly when the client asked for it
            got = c.seen.count(b"<<< TLS 1.3, Handshake [length 0005], KeyUpdate")
            assert got == (1 if letter == "K" else 0), (letter, c.seen[-3000:])
            answers += got
            c.seen = b""
        c.send("quit")
        c.expect(rb"(?m)^221 ")
    finally:
        c.close()
    assert answers == 2
    assert_ours(s)


def test_tls12_keeps_openssl(rec_server):
    """A TLS 1.2 client: OpenSSL runs its records as before."""
    s = rec_server
    c = SClient(s_client_args(s, "starttls", "-tls1_2"))
    try:
        c.expect(rb"Verify return code: 0 \(ok\)\n")
        c.send("EHLO client.test")
        c.expect(rb"(?m)^250 ENHANCEDSTATUSCODES\r?\n")
        c.send("NOOP")
        c.expect(rb"(?m)^250 2\.0\.0 Ok")
        c.send("quit")
        c.expect(rb"(?m)^221 ")
    finally:
        c.close()
    assert records_of(s) == [("TLSv1.2", "openssl")]


def test_record_layer_openssl_setting(tmp_path, pki):
    """tls_record_layer = openssl: TLS 1.3 sessions keep OpenSSL."""
    s = started_server(tmp_path / "server", pki, extra_conf="tls_record_layer = openssl\n")
    try:
        c = smtplib_connect(s, True, s.pki.ca)
        c.noop()
        c.quit()
        assert records_of(s) == [("TLSv1.3", "openssl")]
    finally:
        s.stop()


def tls13_session(s, pki, how):
    """A RawTls client after EHLO over TLS 1.3 (memory BIOs: the test
    sees and can change the records it sends)."""
    port = s.submission if how == "starttls" else s.submissions
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    if how == "starttls":
        clear_starttls(sock)
    ctx = client_ctx(pki)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    t = RawTls(sock, ctx)
    t.handshake()
    if how == "implicit":
        assert t.read_replies(1).startswith(b"220 ")
    t.send(b"EHLO client.test\r\n")
    assert b"250 " in t.read_replies(1)
    return sock, t


def alert_from_server(sock, t):
    """Reads until the server closes; returns the SSLError the client
    got from the server's alert (None if it sent none)."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            break
        t.inc.write(chunk)
    try:
        t.tls.read(65536)
    except ssl.SSLError as e:
        return e
    return None


def wait_log(server, pattern, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(pattern, server.log_text())
        if m:
            return m
        time.sleep(0.05)
    raise AssertionError(f"no {pattern!r} in the log:\n{server.log_text()[-3000:]}")


@pytest.mark.parametrize("how", MODES)
def test_corrupted_record_closes(rec_server, pki, how):
    """A client finishes a TLS 1.3 handshake, then one byte of a record
    flips on the wire: bad_record_mac, the connection closes, the log
    says why; the server goes on serving others."""
    s = rec_server
    sock, t = tls13_session(s, pki, how)
    try:
        t.tls.write(b"NOOP\r\n")
        rec = bytearray(t.out.read())
        assert rec[0] == 23 and len(rec) > 10
        rec[8] ^= 0x01
        sock.sendall(bytes(rec))
        err = alert_from_server(sock, t)
        assert err is not None and "BAD_RECORD_MAC" in str(err), err
    finally:
        sock.close()
    wait_log(s, r"tls client=127\.0\.0\.1:\d+ record authentication failed alert=bad_record_mac sent")
    c = smtplib_connect(s, True, s.pki.ca)
    assert c.noop()[0] == 250
    c.quit()


@pytest.mark.parametrize("raw, alert, why", [
    (b"\x17\x03\x03\x41\x01", "RECORD_OVERFLOW", "record longer than 2\\^14\\+256"),
    (b"\x16\x03\x03\x00\x20" + bytes(32), "UNEXPECTED_MESSAGE", "record type not application_data"),
    (b"\x17\x03\x01\x00\x20" + bytes(32), "", "record version not 0x0303"),
    (b"\x17\x03\x03\x00\x05" + bytes(5), "DECODE_ERROR", "record shorter than its tag"),
])
def test_malformed_record_alerts(rec_server, pki, raw, alert, why):
    """Each malformed header gets its alert (RFC 8446 5.1/5.2) and a log
    line; the alert is sealed under the server's keys, which the client
    opens: the key and sequence number of that direction are right."""
    s = rec_server
    sock, t = tls13_session(s, pki, "implicit")
    try:
        sock.sendall(raw)
        err = alert_from_server(sock, t)
        assert err is not None and alert in str(err), err
    finally:
        sock.close()
    wait_log(s, r"tls client=127\.0\.0\.1:\d+ " + why + r" alert=\w+ sent: closing")
