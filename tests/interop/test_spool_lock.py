"""One server per spool (issue 12, item 2).

`postern serve --check` must pass for a running server's config (before
a SIGHUP) and must not touch its spool: it used to clean tmp/, so the
messages being received got 451 4.3.0.  A second `postern serve` on the
same spool did the same, silently; now it exits 1 with a message naming
the spool and the running server's pid, and the first server's
transactions go on.  The lock dies with its holder: after a stop, or a
SIGKILL, the next server starts and cleans what was left in tmp/."""
import os
import signal
import time
import subprocess

from conftest import POSTERN, PosternServer, USER, PASSWORD, postern, started_server
from test_server_dialogue import Dialogue, queue_ids

TIMEOUT = 15


def tmp_files(server):
    return sorted(p.name for p in (server.spool / "tmp").iterdir())


def half_message(server):
    """A session on the smtp port in the middle of DATA: its spool file
    is in tmp/ (over 64 KiB, so the spool has spilled it from memory to
    tmp/).  Returns the dialogue."""
    before = tmp_files(server)
    d = Dialogue(server.smtp)
    d.cmd("EHLO client.test")
    d.begin_data()
    d.send(b"Subject: in flight\r\n\r\nfirst half\r\n" + (b"y" * 98 + b"\r\n") * 800)
    deadline = time.monotonic() + 10
    while len(tmp_files(server)) != len(before) + 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(tmp_files(server)) == len(before) + 1, tmp_files(server)
    return d


def finish(d):
    """Ends the message and returns the reply line."""
    d.send(b"second half\r\n.\r\n")
    r = d.reply()
    assert len(r) == 1, r
    return r[0]


def same_spool_server(tmp_path, pki, first):
    """A second server's files, on first's spool, with its own ports."""
    s = PosternServer(tmp_path / "second", pki)
    s.conf.write_text(s.conf.read_text().replace("spool = spool\n", f"spool = {first.spool}\n"))
    s.spool = first.spool
    s.add_user(USER, PASSWORD)
    return s


def test_check_leaves_running_spool_alone(server):
    d = half_message(server)
    inflight = tmp_files(server)
    r = postern("serve", "-c", str(server.conf), "--check")
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode() == f"{server.conf}: ok\n"
    assert tmp_files(server) == inflight, "--check removed files from tmp/"
    reply = finish(d)
    assert reply.startswith(b"250 2.0.0 Ok: queued as "), reply
    qid = reply.split()[-1].decode()
    assert queue_ids(server) == [qid]
    d.close()


def test_second_server_refused(server, tmp_path, pki):
    d = half_message(server)
    inflight = tmp_files(server)
    second = same_spool_server(tmp_path, pki, server)
    proc = subprocess.Popen([POSTERN, "serve", "-c", str(second.conf)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=5)
        raise AssertionError("a second server on the same spool kept running:\n"
                             + err.decode(errors="replace")[-2000:]) from None
    err = err.decode(errors="replace")
    assert proc.returncode == 1, err
    assert f"spool {server.spool} is in use by another postern serve, pid {server.proc.pid}" in err, err
    assert "listening on" not in err, err
    # the first server's message in progress is untouched and gets through
    assert tmp_files(server) == inflight
    reply = finish(d)
    assert reply.startswith(b"250 2.0.0 Ok: queued as "), reply
    assert len(queue_ids(server)) == 1
    d.close()
    # --check on the second config still passes: it does not lock
    r = postern("serve", "-c", str(second.conf), "--check")
    assert r.returncode == 0, r.stderr.decode()


def test_lock_dies_with_server(tmp_path, pki):
    """After a clean stop, and after SIGKILL mid-transaction, the next
    server takes the spool, and cleans the killed one's tmp/ file."""
    first = started_server(tmp_path / "first", pki)
    try:
        d = half_message(first)
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait(timeout=TIMEOUT)
        d.close()
        assert len(tmp_files(first)) == 1
        second = same_spool_server(tmp_path, pki, first)
        second.start()
        try:
            assert tmp_files(second) == []
            assert "removed unfinished" in second.log_text()
            d = half_message(second)
            assert finish(d).startswith(b"250 2.0.0 ")
            d.close()
        finally:
            second.stop()
        # a clean stop frees it too
        first.start()
        assert first.proc.poll() is None
    finally:
        first.stop()
