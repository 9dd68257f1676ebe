"""Clients that stop reading their replies (issue 12, items 4 and 5), on
each transport: plain TCP (the smtp listener), STARTTLS (submission) and
implicit TLS (submissions).

Item 4: a session whose write times out used to wait for a write
callback that never came, holding its fd and its connection slot until
the process exited; a few such clients filled max_connections for good.
Item 5: replies were buffered without limit for a client that sends
commands but never reads; the server now stops taking that session's
commands above a cap and goes on once the client reads.

The clients here use non-blocking sockets in one thread (TLS included):
a blocked send is the server applying backpressure, not a failure."""
import errno
import os
import select
import socket
import ssl
import time

import pytest

from conftest import started_server
from test_server_dialogue import HOST, Dialogue, client_ctx
from test_server_timeouts import idle

# Bounds on memory and time (pytest.ini: perf).
pytestmark = pytest.mark.perf

TIMEOUT = 10
TRANSPORTS = ("smtp", "starttls", "tls")
HELP = f"214 2.0.0 Commands: EHLO HELO STARTTLS AUTH MAIL RCPT DATA RSET NOOP QUIT VRFY HELP\r\n".encode()
NOOP = b"250 2.0.0 Ok\r\n"


def proc_status(pid, field):
    """A /proc/PID/status field in kB (VmRSS, VmHWM)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def read_reply(sock):
    """One reply (all its lines) read byte-exact in blocking mode, so
    nothing behind it is read ahead."""
    data = b""
    while not (data.endswith(b"\r\n") and data.split(b"\r\n")[-2][3:4] == b" "):
        chunk = sock.recv(1)
        assert chunk, f"connection closed; got so far: {data!r}"
        data += chunk
    return data


def connect(s, pki, transport, rcvbuf=None):
    """A connected, greeted socket on transport (TLS is up for starttls
    and tls), or None when the server refused it with a 421."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        # before connect, so that the window offered is small from the start
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(TIMEOUT)
    port = {"smtp": s.smtp, "starttls": s.submission, "tls": s.submissions}[transport]
    sock.connect(("127.0.0.1", port))
    if transport == "tls":
        sock = client_ctx(pki).wrap_socket(sock, server_hostname="localhost")
    greeting = read_reply(sock)
    if greeting.startswith(b"421 "):
        sock.close()
        return None
    assert greeting.startswith(b"220 "), greeting
    if transport == "starttls":
        sock.sendall(b"EHLO client.test\r\n")
        assert read_reply(sock).startswith(b"250-")
        sock.sendall(b"STARTTLS\r\n")
        assert read_reply(sock) == b"220 2.0.0 Ready to start TLS\r\n"
        sock = client_ctx(pki).wrap_socket(sock, server_hostname="localhost")
    return sock


def send_some(sock, data, off, chunk=16384):
    """Non-blocking: sends data from off while the socket takes it;
    returns the new offset.  A TLS write that blocked is retried with the
    same bytes, as OpenSSL asks."""
    while off < len(data):
        try:
            n = sock.send(data[off:off + chunk])
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
            return off
        except OSError as e:
            # the server closed (its write timeout): nothing more goes
            if isinstance(e, ssl.SSLError) or e.errno in (errno.EPIPE, errno.ECONNRESET):
                return off
            raise
        off += n
    return off


def send_until_stalled(sock, data, stall=1.5, limit=20):
    """Sends without reading until all is sent or nothing went out for
    stall seconds; returns how much was sent."""
    sock.setblocking(False)
    off, last, start = 0, time.monotonic(), time.monotonic()
    while off < len(data) and time.monotonic() - last < stall:
        assert time.monotonic() - start < limit, "sending never stalled nor finished"
        new = send_some(sock, data, off)
        if new > off:
            off, last = new, time.monotonic()
        else:
            select.select([], [sock], [], 0.1)
    return off


def settle(pid, secs=1.0):
    """Waits until the server's CPU time stops moving (it is done with
    what it was sent), bounded by 15 s."""
    def cpu():
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    deadline = time.monotonic() + 15
    before = cpu()
    while time.monotonic() < deadline:
        time.sleep(secs)
        now = cpu()
        if now == before:
            return
        before = now


def sessions_closed(s, count, limit=15):
    """Waits (bounded) until count sessions ended since the start."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if s.log_text().count(" disconnect client=") >= count:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_write_timeout_frees_the_session(tmp_path, pki, transport):
    """Item 4: waves of max_connections clients that stop reading; each
    wave must be freed by the write timeout so the next one gets in."""
    clients = 20
    waves = 3 if transport == "smtp" else 2     # TLS handshakes are slow here
    s = started_server(tmp_path / "srv", pki,
                       f"command_timeout = 2s\nmax_connections = {clients}\n"
                       "max_connections_per_ip = 100\n")
    pid = s.proc.pid
    try:
        idle(s)
        base_fds = fd_count(pid)
        ended = s.log_text().count(" disconnect client=")
        flood = b"EHLO a\r\n" * 40000
        for wave in range(waves):
            socks = []
            try:
                for i in range(clients):
                    c = connect(s, pki, transport, rcvbuf=4096)
                    assert c is not None, f"wave {wave}: client {i} refused (slots leaked)"
                    socks.append(c)
                for c in socks:
                    c.setblocking(False)
                # the flood, then a NOOP every half second, never reading
                # (the NOOPs keep the read timeout away, so the write
                # timeout is what ends the session)
                out = [[flood, 0] for _ in socks]
                deadline = time.monotonic() + 30
                while s.log_text().count(" disconnect client=") < ended + clients:
                    assert time.monotonic() < deadline, (
                        f"wave {wave}: sessions not freed after the write timeout\n"
                        + s.log_text()[-1500:])
                    for c, o in zip(socks, out):
                        if o[1] == len(o[0]):
                            o[0] += b"NOOP\r\n"   # only once all before went out
                        o[1] = send_some(c, o[0], o[1])
                    time.sleep(0.5)
                ended += clients
                assert "write timeout client=127.0.0.1" in s.log_text()
            finally:
                for c in socks:
                    c.close()
        # the server still serves, and gave its fds back
        d = Dialogue(s.smtp)
        assert d.cmd("EHLO client.test")[-1].startswith(b"250 ")
        d.close()
        assert sessions_closed(s, ended + 1)
        assert fd_count(pid) <= base_fds + 2, (base_fds, os.listdir(f"/proc/{pid}/fd"))
    finally:
        s.stop()


def expected_stream(blocks, block):
    """The replies to `blocks` copies of block (HELP lines then one NOOP)."""
    return (HELP * (block - 1) + NOOP) * blocks


def check_prefix(got, want_block, pos):
    """True when got continues the repeated want_block at offset pos."""
    off = pos % len(want_block)
    rep = want_block[off:] + want_block * (len(got) // len(want_block) + 1)
    return got == rep[:len(got)]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_replies_to_a_client_that_does_not_read_are_capped(tmp_path, pki, transport):
    """Item 5: HELP x 2 MiB without reading (replies: 30 MB).  The server's memory stays
    bounded (it stops taking commands), another client is served
    meanwhile, and once the client reads it gets every reply, in order."""
    s = started_server(tmp_path / "srv", pki, "")
    pid = s.proc.pid
    try:
        idle(s)
        c = connect(s, pki, transport)
        block = 1000                    # HELP x 999 then a NOOP: order shows
        blocks = (2 << 20) // (6 * block) + 1
        data = (b"HELP\r\n" * (block - 1) + b"NOOP\r\n") * blocks
        want_block = HELP * (block - 1) + NOOP
        total = len(want_block) * blocks
        settle(pid, 0.3)
        base = proc_status(pid, "VmRSS")
        hwm_before = proc_status(pid, "VmHWM")
        sent = send_until_stalled(c, data)
        settle(pid, 0.5)
        grew = max(proc_status(pid, "VmRSS"), proc_status(pid, "VmHWM")) - max(base, hwm_before)
        assert grew < 20 * 1024, (
            f"server grew by {grew} kB for a client that does not read "
            f"({sent} bytes of commands taken)")
        # another client is served meanwhile
        d = Dialogue(s.smtp)
        assert d.one("NOOP") == NOOP
        assert d.one("QUIT").startswith(b"221 ")
        d.close()
        # now the client reads: all replies, in order, in bounded time
        got, off = 0, sent
        deadline = time.monotonic() + 120
        while got < total:
            assert time.monotonic() < deadline, f"only {got} of {total} reply bytes"
            progress = False
            off2 = send_some(c, data, off)
            progress |= off2 > off
            off = off2
            while True:
                try:
                    chunk = c.recv(65536)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                    break
                assert chunk, f"closed after {got} of {total} reply bytes"
                assert check_prefix(chunk, want_block, got), f"reply out of order at {got}"
                got += len(chunk)
                progress = True
            if not progress:
                select.select([c], [c] if off < len(data) else [], [], 1.0)
        assert got == total
        c.setblocking(True)
        c.sendall(b"QUIT\r\n")
        assert read_reply(c).startswith(b"221 ")
        c.close()
    finally:
        s.stop()
