"""Group commit, one result per message (issue 12, item 3).

The server publishes every message whose DATA ended in the same loop
pass together: renames into queue/, one folder fsync, then the replies.
One message that could not be published used to answer 451 to every
session of the group, including those whose messages were already in
queue/ and fsync'd: their clients sent them again (duplicates).

With spool v2 (spool.h) small messages stay in memory until the pass
appends them all to a segment with one fdatasync; a message over 64 KiB
spills to tmp/ during DATA and the pass renames it into msg/.  The
failure here is real, not injected: the spill file of one session is
removed from tmp/ while its DATA runs, so its rename into msg/ fails.
The other sessions send a large message too (renamed fine) or, in the
second test, a small one (inline in the segment).  The server is stopped (SIGSTOP) while the three clients send
their final dot, so that it reads all three ends in one loop pass and
commits them as one group."""
import os
import signal
import time

from test_server_dialogue import Dialogue, queue_ids

SESSIONS = 3
BROKEN = 1      # the session whose spool file disappears


def tmp_files(server):
    return set(p.name for p in (server.spool / "tmp").iterdir())


BIG = (b"z" * 98 + b"\r\n") * 800       # 80 KB: spilled to tmp/


def start_message(server, n):
    """A session in DATA with half its message sent (over 64 KiB, so it
    is in tmp/); returns it and the name of its spool file in tmp/."""
    before = tmp_files(server)
    d = Dialogue(server.smtp)
    d.cmd("EHLO client.test")
    d.begin_data()
    d.send(f"Subject: group {n}\r\n\r\nmessage {n}\r\n".encode() + BIG)
    deadline = time.monotonic() + 10
    while len(tmp_files(server) - before) != 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    new = tmp_files(server) - before
    assert len(new) == 1, new
    return d, new.pop()


def wait_stopped(pid, timeout=5.0):
    """Until /proc says the process is stopped (state T)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] in ("T", "t"):
                return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} did not stop")


def test_one_failed_message_fails_alone(server):
    sessions = [start_message(server, n) for n in range(SESSIONS)]
    os.unlink(server.spool / "tmp" / sessions[BROKEN][1])
    pid = server.proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_stopped(pid)
        for d, _ in sessions:
            d.send(b".\r\n")
        time.sleep(0.2)     # all three ends are in the server's sockets
    finally:
        os.kill(pid, signal.SIGCONT)
    replies = [d.reply() for d, _ in sessions]
    for n, (d, name) in enumerate(sessions):
        if n == BROKEN:
            assert replies[n] == [b"451 4.3.0 Error: queue file write error\r\n"], replies
        else:
            assert replies[n] == [f"250 2.0.0 Ok: queued as {name}\r\n".encode()], replies
    # the others are in queue/, each exactly once; the broken one is not
    want = sorted(name for n, (_, name) in enumerate(sessions) if n != BROKEN)
    assert queue_ids(server) == want
    assert tmp_files(server) == set()
    # the sessions go on: the broken one's client retries and gets through
    d, name = sessions[BROKEN]
    d.begin_data()
    d.send(b"Subject: again\r\n\r\nretry\r\n.\r\n")
    r = d.reply()
    assert r[0].startswith(b"250 2.0.0 Ok: queued as "), r
    assert len(queue_ids(server)) == SESSIONS
    for d, _ in sessions:
        assert d.one("QUIT") == b"221 2.0.0 Bye\r\n"
        d.close()


def start_small(server, n):
    """A session in DATA with a small message half sent: in memory, no
    file anywhere.  Returns it and its queue id (from the Received
    header's id, known only at the 250: None here)."""
    d = Dialogue(server.smtp)
    d.cmd("EHLO client.test")
    d.begin_data()
    d.send(f"Subject: small {n}\r\n\r\nsmall message {n}\r\n".encode())
    return d


def test_failed_large_message_spares_small_ones_of_its_pass(server):
    """Two small messages (inline in the segment) and one large one whose
    spill file is gone end in the same loop pass: the small ones get 250
    and are in the queue once each, the large one alone gets 451."""
    big, big_name = start_message(server, 9)
    smalls = [start_small(server, n) for n in range(2)]
    os.unlink(server.spool / "tmp" / big_name)
    pid = server.proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_stopped(pid)
        for d in [smalls[0], big, smalls[1]]:
            d.send(b".\r\n")
        time.sleep(0.2)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert big.reply() == [b"451 4.3.0 Error: queue file write error\r\n"]
    ids = []
    for d in smalls:
        r = d.reply()
        assert len(r) == 1 and r[0].startswith(b"250 2.0.0 Ok: queued as "), r
        ids.append(r[0].split()[-1].decode())
    assert queue_ids(server) == sorted(ids)
    assert big_name not in queue_ids(server)
    assert tmp_files(server) == set()
    assert list((server.spool / "msg").iterdir()) == []
    for d in smalls + [big]:
        assert d.one("QUIT") == b"221 2.0.0 Bye\r\n"
        d.close()
