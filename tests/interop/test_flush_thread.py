"""The group commit's flush runs on a thread, not on the event loop
(issue 16 item 3; STYLE: nothing slow on an event loop).

A shim (tests/tools/slow_sync.c, preloaded) makes every fsync and
fdatasync of the network process 1.5 s slower: a slow or busy disk.
While one client waits for the 250 of its message, others are served
at once: a new connection gets its greeting, EHLO and NOOP their
replies, and a second message ends meanwhile.  When the flush ran on
the loop (before this change), every other client waited the whole
1.5 s for any reply.  The same for a 5 MB message, whose content file,
msg/ and a new segment's seg/ are flushed too (they were fsync'd on the
loop as well)."""
import os
import time

import pytest

from conftest import PASSWORD, USER, PosternServer, tool_path
from test_server_dialogue import Dialogue

DELAY = 1.5
MESSAGE = b"Subject: slow disk\r\n\r\nhello\r\n.\r\n"


def slow_server(tmp_path, pki):
    s = PosternServer(tmp_path / "server", pki)
    shim = tool_path("server", "slow_sync.so")
    assert os.path.exists(shim), shim
    asan = os.environ.get("ASAN_OPTIONS", "")
    s.env = {"LD_PRELOAD": shim, "POSTERN_TEST_SYNC_DELAY_MS": str(int(DELAY * 1000)),
             # the ASan build: the shim is loaded before ASan's runtime
             "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0"}
    s.add_user(USER, PASSWORD)
    return s.start()


BIG = b"Subject: big\r\n\r\n" + (b"y" * 998 + b"\r\n") * 5000 + b".\r\n"


@pytest.mark.parametrize("message", [MESSAGE, BIG], ids=["small", "5MB"])
def test_slow_flush_does_not_stall_other_sessions(tmp_path, pki, message):
    s = slow_server(tmp_path, pki)
    try:
        a = Dialogue(s.smtp)
        a.cmd("EHLO a.test")
        a.begin_data(rcpt="bob@example.test")
        a.send(message[:-5])        # all but the final CRLF.CRLF
        time.sleep(0.3)
        t0 = time.monotonic()
        a.send(message[-5:])        # its flush starts now and takes DELAY or more
        time.sleep(0.2)
        b = Dialogue(s.smtp)        # greeted while a's flush runs
        b.cmd("EHLO b.test")
        assert b.one("NOOP").startswith(b"250 ")
        served = time.monotonic() - t0
        b.begin_data(rcpt="carol@example.test")
        b.send(MESSAGE)
        ra = a.reply()
        waited_a = time.monotonic() - t0
        rb = b.reply()
        waited_b = time.monotonic() - t0
        assert ra[0].startswith(b"250 2.0.0 Ok: queued as "), ra
        assert rb[0].startswith(b"250 2.0.0 Ok: queued as "), rb
        # The shim works: a's 250 came after its slow flush ...
        assert waited_a >= DELAY * 0.9, waited_a
        # ... while b was served meanwhile, not after it.
        assert served < DELAY * 0.6, served
        # b's message ended during a's flush: the next flush covers it.
        assert waited_b >= waited_a, (waited_a, waited_b)
        assert waited_b < 6 * DELAY + 1, waited_b
        for d in (a, b):
            d.cmd("QUIT")
    finally:
        s.stop()
    ids = [r for r in s.queue("list").stdout.decode().split() if len(r) > 12]
    assert ids, "no message queued"
