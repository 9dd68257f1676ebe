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
import socket
import ssl

import pytest

from conftest import started_server
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
            assert line(sock).startswith(b"220 ")
            sock.sendall(b"EHLO client.test\r\n")
            while not line(sock).startswith(b"250 "):
                pass
            sock.sendall(b"STARTTLS\r\n")
            assert line(sock).startswith(b"220 ")
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
