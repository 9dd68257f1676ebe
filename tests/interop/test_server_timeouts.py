"""Timeouts and the total connection limit of `postern serve` (issue 3,
item 8): the command and DATA timeouts answer 421 4.4.2 and close, a TLS
handshake that never starts is dropped, max_connections answers
421 4.7.0, and a slow client never holds up another session.

The timeouts are set to one second in the config; the sockets here wait
ten, so a server that ignored its timeout fails the test instead of
passing by luck."""
import socket
import time

from conftest import started_server
from test_server_dialogue import HOST, Dialogue

TIMEOUT = 10


def started(tmp_path, pki, extra):
    return started_server(tmp_path / "srv", pki, extra)


def queued(s):
    r = s.queue("list")
    assert r.returncode == 0, r.stderr
    return r.stdout.decode().splitlines()[-1]


def test_command_timeout_answers_421_and_closes(tmp_path, pki):
    s = started(tmp_path, pki, "command_timeout = 1s\n")
    try:
        d = Dialogue(s.smtp)
        d.cmd("EHLO client.test")
        assert d.reply() == [f"421 4.4.2 {HOST} Error: timeout exceeded\r\n".encode()]
        assert d.closed()
        assert "timeout client=127.0.0.1" in s.log_text()
        # the server itself goes on
        assert Dialogue(s.smtp).one("NOOP") == b"250 2.0.0 Ok\r\n"
    finally:
        s.stop()


def test_data_timeout_drops_the_message(tmp_path, pki):
    s = started(tmp_path, pki, "data_timeout = 1s\n")
    try:
        d = Dialogue(s.smtp)
        d.cmd("EHLO client.test")
        d.begin_data()
        d.send("Subject: half a message\r\n\r\nand then silence")
        assert d.reply() == [f"421 4.4.2 {HOST} Error: timeout exceeded\r\n".encode()]
        assert d.closed()
        assert queued(s) == "0 messages"
    finally:
        s.stop()


def test_tls_handshake_timeout_drops_a_silent_client(tmp_path, pki):
    s = started(tmp_path, pki, "tls_handshake_timeout = 1s\n")
    try:
        with socket.create_connection(("127.0.0.1", s.submissions), timeout=TIMEOUT) as c:
            # no ClientHello: the server gives up and closes (recv gives
            # b""; a server that waited forever makes recv time out)
            assert c.recv(100) == b""
    finally:
        s.stop()


def idle(s):
    """Waits (bounded) until the readiness probes' sessions (one per
    listener, accepted or refused in the server's own time) are gone."""
    for _ in range(100):
        log = s.log_text()
        conns = log.count(" connect client=")
        if conns + log.count(" refused client=") >= 3 and conns == log.count(" disconnect client="):
            return
        time.sleep(0.05)
    raise AssertionError("probe sessions still open:\n" + s.log_text()[-2000:])


def test_max_connections_answers_421(tmp_path, pki):
    s = started(tmp_path, pki, "max_connections = 2\n")
    try:
        idle(s)
        a, b = Dialogue(s.smtp), Dialogue(s.smtp)
        assert a.greeting[0].startswith(b"220 ") and b.greeting[0].startswith(b"220 ")
        c = Dialogue(s.smtp, greet=False)
        assert c.f.readline() == f"421 4.7.0 {HOST} Too many connections\r\n".encode()
        assert c.closed()
        assert a.one("NOOP") == b"250 2.0.0 Ok\r\n" and b.one("NOOP") == b"250 2.0.0 Ok\r\n"
        assert a.one("QUIT").startswith(b"221 ")
        a.close()
        # once a slot is free a new client gets in (the server notices
        # the close within its own loop: a few bounded tries)
        for _ in range(50):
            d = Dialogue(s.smtp, greet=False)
            line = d.f.readline()
            if line.startswith(b"220 "):
                break
            d.close()
            time.sleep(0.1)
        assert line.startswith(b"220 "), line
    finally:
        s.stop()


def test_slow_client_does_not_hold_up_another(tmp_path, pki):
    s = started(tmp_path, pki, "")
    try:
        slow = Dialogue(s.smtp)
        slow.cmd("EHLO slow.test")
        slow.begin_data(sender="slow@b.test")
        slow.send("Subject: slow\r\n\r\nfirst half ")
        # meanwhile a whole transaction from another client
        fast = Dialogue(s.smtp)
        fast.cmd("EHLO fast.test")
        fast.begin_data(sender="fast@b.test")
        assert fast.cmd("Subject: fast\r\n\r\nhi\r\n.")[0].startswith(b"250 2.0.0 Ok: queued as ")
        assert queued(s) == "1 message"
        # and the slow one still finishes
        assert slow.cmd("second half\r\n.")[0].startswith(b"250 2.0.0 Ok: queued as ")
        assert queued(s) == "2 messages"
    finally:
        s.stop()
