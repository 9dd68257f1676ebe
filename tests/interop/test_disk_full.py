"""A full disk (issue 14, item 1): new mail gets 452 4.3.1 (RFC 3463
"mail system full"; the client keeps it and retries), queued mail stays
intact and readable, and once space is back mail is accepted again.

The spool is a 2 MB tmpfs mounted by the test (the tests run as root;
unmounted in a finally), filled up with a file the test writes, so the
server's own writes fail with ENOSPC for real: a small message when the
commit pass appends it to the segment, a large one while DATA spills it
to tmp/."""
import contextlib
import errno
import os
import smtplib
import ssl
import subprocess

import pytest

from conftest import PASSWORD, USER, PosternServer

RCPT = "bob@elsewhere.test"


@contextlib.contextmanager
def tmpfs(path, size="2m"):
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                   check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path):
    """Fills the file system of path; returns the filler file."""
    filler = path / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as e:
        assert e.errno == errno.ENOSPC, e
    finally:
        os.close(fd)
    return filler


def message(mark, size):
    head = f"From: <{USER}>\r\nTo: <{RCPT}>\r\nSubject: {mark}\r\n\r\n".encode()
    line = b"%06d the quick brown fox jumps over the lazy dog\r\n"
    return head + b"".join(line % i for i in range(size // len(line) + 1)) + f"end {mark}\r\n".encode()


def send(server, msg):
    """(code, reply text) of DATA for msg."""
    ctx = ssl.create_default_context(cafile=str(server.pki.ca))
    with smtplib.SMTP(server.host, server.submission, timeout=20) as s:
        s.starttls(context=ctx)
        s.login(USER, PASSWORD)
        try:
            s.sendmail(USER, [RCPT], msg)
            return 250, b""
        except smtplib.SMTPDataError as e:
            return e.smtp_code, e.smtp_error


def queued(server):
    r = server.queue("list")
    assert r.returncode == 0, r.stderr
    ids = [l.split()[0] for l in r.stdout.decode().splitlines()[:-1] if not l.startswith(" ")]
    assert " TORN" not in r.stdout.decode(), r.stdout
    return {q: server.queue("show", q).stdout.partition(b"\n\n")[2] for q in ids}


def test_full_disk_452_and_queued_mail_intact(tmp_path, pki):
    s = PosternServer(tmp_path / "server", pki)
    s.add_user(USER, PASSWORD)
    with tmpfs(s.spool):
        s.start()
        try:
            kept = [message(f"kept {i}", 3000) for i in range(3)]
            for m in kept:
                assert send(s, m)[0] == 250
            before = queued(s)
            assert len(before) == 3
            filler = fill(s.spool)
            # small: inline, the pass's segment append fails -- once the
            # zeros the spool wrote ahead of its frames (256 KiB,
            # SPOOL_SEG_AHEAD) are used: what fits there was on disk
            # already and is accepted
            for i in range(256 * 1024 // 20_000 + 2):
                m = message(f"small {i}", 20_000)
                code, text = send(s, m)
                if code != 250:
                    break
                kept.append(m)
            assert code == 452 and text.startswith(b"4.3.1"), (code, text)
            assert i >= 1, "nothing accepted into the space written ahead"
            before = queued(s)
            # large: spilled to tmp/ during DATA, that write fails
            code, text = send(s, message("large", 300_000))
            assert code == 452 and text.startswith(b"4.3.1"), (code, text)
            # queued mail untouched, nothing torn, no partial leftovers
            assert queued(s) == before
            assert list((s.spool / "tmp").iterdir()) == []
            for content in before.values():
                assert any(content.endswith(m) for m in kept)
            # space back: accepted again, and the old mail still there
            os.unlink(filler)
            assert send(s, message("after", 20_000))[0] == 250
            after = queued(s)
            assert len(after) == len(before) + 1 and all(after[q] == before[q] for q in before)
            assert "452" not in s.log_text() or "mail system full" in s.log_text()
        finally:
            s.stop()
