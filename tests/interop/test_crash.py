"""Crash safety (DESIGN.md: "250 after DATA only once the message and its
envelope are on disk with fsync ... A crash after 250 loses nothing").

A real client (Python's smtplib, STARTTLS + AUTH PLAIN) submits mail to
`postern serve`; the server is killed with SIGKILL at a chosen point,
restarted on the same config, and `postern queue list` / `show` must then
show every acknowledged message whole (content compared byte for byte)
and nothing torn or partial.  Before the 250 a message may be absent;
it may never be half there.

SIGKILL stops the process, not the machine: what this shows is that
nothing is acknowledged before it is in queue/ and that a killed
writer never leaves a visible partial file.  Power loss (fsync order)
is argued in spool.c, not tested here."""
import os
import signal
import smtplib
import ssl
import time

import pytest

from conftest import PASSWORD, USER

TIMEOUT = 20
RCPT = "bob@elsewhere.test"


def connect(server):
    ctx = ssl.create_default_context(cafile=str(server.pki.ca))
    s = smtplib.SMTP(server.host, server.submission, timeout=TIMEOUT)
    s.ehlo("client.example.test")
    s.starttls(context=ctx)
    s.ehlo("client.example.test")
    s.user, s.password = USER, PASSWORD
    s.auth("PLAIN", s.auth_plain)
    return s


def message(mark, size=0):
    """CRLF message; size pads the body with lines (with leading dots,
    so dot-stuffing is exercised) to about that many bytes."""
    head = (f"From: <{USER}>\r\nTo: <{RCPT}>\r\nSubject: crash {mark}\r\n\r\n"
            f"Body of {mark}.\r\n.leading dot\r\n").encode()
    line = b".%07d the quick brown fox jumps over the lazy dog 0123456789\r\n"
    body = b"".join(line % i for i in range(max(0, size - len(head)) // (len(line) + 4) + 1))
    return head + body + b"last line\r\n"


def kill(server):
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(timeout=10)
    assert server.proc.returncode == -signal.SIGKILL


def restart(server):
    server.logf.close()
    server.start()


def queue_state(server):
    """{id: (torn_reason or None)} from `postern queue list`."""
    r = server.queue("list")
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    lines = r.stdout.decode(errors="replace").splitlines()
    assert lines and lines[-1].endswith(("message", "messages")), lines
    state = {}
    for line in lines[:-1]:
        if line.startswith(" "):
            continue    # a recipient's state, under its message
        qid = line.split()[0]
        state[qid] = line.split(" TORN: ", 1)[1] if " TORN: " in line else None
    assert len(state) == int(lines[-1].split()[0])
    return state


def content_of(server, qid):
    r = server.queue("show", qid)
    assert r.returncode == 0, f"show {qid}: {r.stderr.decode(errors='replace')}"
    head, sep, content = r.stdout.partition(b"\n\n")
    assert sep
    return content


def check_after_restart(server, acked, maybe=()):
    """Every acknowledged message is there whole; any other message
    present is one of `maybe`, whole; nothing is torn; tmp/ is empty."""
    state = queue_state(server)
    torn = {q: why for q, why in state.items() if why is not None}
    assert not torn, f"torn messages after restart: {torn}"
    found = []
    for qid in state:
        content = content_of(server, qid)
        # the server prepends its Received header: our bytes are the rest
        match = [m for m in list(acked) + list(maybe) if content.endswith(m)]
        assert len(match) == 1, f"message {qid} is not whole or not ours: {content[:300]!r}...{content[-300:]!r}"
        assert content.startswith(b"Received:")
        found.append(match[0])
    for m in acked:
        assert m in found, f"an acknowledged message is missing after the crash: {m[:120]!r}"
    tmp = server.spool / "tmp"
    assert not os.listdir(tmp), f"spool tmp/ not cleaned at start: {os.listdir(tmp)}"
    return found


def wait_for_tmp_file(server, min_size, timeout=15):
    """Waits (bounded) until the server has a file of at least min_size
    bytes in spool/tmp: the message is being written."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tmp = server.spool / "tmp"
        sizes = [os.path.getsize(tmp / f) for f in os.listdir(tmp)] if tmp.exists() else []
        if any(s >= min_size for s in sizes):
            return
        time.sleep(0.02)
    raise AssertionError(f"no spool file of {min_size} bytes appeared in {server.spool / 'tmp'}")


def start_data(s, sender=USER):
    code, _ = s.mail(sender)
    assert code == 250
    code, _ = s.rcpt(RCPT)
    assert code == 250
    s.putcmd("data")
    code, _ = s.getreply()
    assert code == 354


def stuffed(msg):
    """The wire form of msg (which ends in CRLF): dot-stuffed, then the
    "." CRLF that ends the data."""
    assert msg.endswith(b"\r\n")
    return smtplib.quotedata(msg.decode("latin-1")).encode("latin-1") + b".\r\n"


def test_kill_after_250(server):
    """The classic case: SIGKILL right after the 250 to DATA."""
    msg = message("after-250", size=200_000)
    s = connect(server)
    try:
        assert s.sendmail(USER, [RCPT], msg) == {}
        kill(server)
    finally:
        s.close()
    restart(server)
    check_after_restart(server, [msg])


def test_kill_after_two_250s_in_one_session(server):
    """Two messages in one session, both acknowledged, then SIGKILL."""
    one, two = message("first-of-two", 5_000), message("second-of-two", 70_000)
    s = connect(server)
    try:
        assert s.sendmail(USER, [RCPT], one) == {}
        assert s.sendmail("", [RCPT], two) == {}
        kill(server)
    finally:
        s.close()
    restart(server)
    check_after_restart(server, [one, two])


def test_kill_before_data(server):
    """Envelope given, no DATA yet: nothing may be queued; an earlier
    acknowledged message survives."""
    earlier = message("earlier", 1_000)
    s = connect(server)
    try:
        assert s.sendmail(USER, [RCPT], earlier) == {}
        code, _ = s.mail(USER)
        assert code == 250
        code, _ = s.rcpt(RCPT)
        assert code == 250
        kill(server)
    finally:
        s.close()
    restart(server)
    assert check_after_restart(server, [earlier]) == [earlier]


def test_kill_mid_data(server):
    """Half the content is on the server (and in spool/tmp) when it dies:
    the partial message must not appear in the queue."""
    msg = message("mid-data", 400_000)
    wire = stuffed(msg)
    s = connect(server)
    try:
        start_data(s)
        s.send(wire[: len(wire) // 2])
        wait_for_tmp_file(server, 65536)
        kill(server)
    finally:
        s.close()
    restart(server)
    assert check_after_restart(server, [], maybe=[msg]) == []


def test_kill_at_end_of_data_before_reply(server):
    """The whole message including CRLF.CRLF is sent and the server is
    killed without waiting for its reply: the message may or may not be
    there, but if it is, it is whole."""
    msg = message("end-no-reply", 120_000)
    s = connect(server)
    try:
        start_data(s)
        s.send(stuffed(msg))
        kill(server)
    finally:
        s.close()
    restart(server)
    check_after_restart(server, [], maybe=[msg])
    # and the restarted server still accepts and keeps mail
    again = message("after-restart", 2_000)
    s = connect(server)
    try:
        assert s.sendmail(USER, [RCPT], again) == {}
    finally:
        s.quit()
    check_after_restart(server, [again], maybe=[msg])


def test_tampered_file_is_torn_after_restart(server):
    """The negative check: a segment cut short (what a writer without the
    one-fdatasync-then-250 discipline would leave) is reported torn at the
    cut and the cut message's content is never shown; the message before
    it in the same segment is untouched."""
    keep, cut = message("keep", 3_000), message("cut", 3_000)
    s = connect(server)
    try:
        assert s.sendmail(USER, [RCPT], keep) == {}
        assert s.sendmail(USER, [RCPT], cut) == {}
    finally:
        s.quit()
    ids = sorted(queue_state(server))
    assert len(ids) == 2
    segs = sorted((server.spool / "seg").iterdir())
    assert len(segs) == 1, segs
    victim = segs[0]
    data = victim.read_bytes()
    # the frames end where the zeros the writer wrote ahead begin
    # (frame: "PSM2", 4-byte big-endian payload length, CRC, payload)
    end = 0
    while data[end:end + 4] == b"PSM2":
        end += 12 + int.from_bytes(data[end + 4:end + 8], "big")
    assert end > 0 and not any(data[end:]), (end, len(data))
    victim.write_bytes(data[: end - 7])
    kill(server)
    restart(server)
    state = queue_state(server)
    assert state.get(ids[0], "missing") is None, state
    assert ids[1] not in state, state
    torn = {q: why for q, why in state.items() if why is not None}
    assert len(torn) == 1 and "torn frame" in list(torn.values())[0], state
    r = server.queue("show", ids[1])
    assert r.returncode == 1
    assert r.stdout.partition(b"\n\n")[2] == b""
    with pytest.raises(AssertionError):
        check_after_restart(server, [keep])
    assert content_of(server, ids[0]).endswith(keep)
