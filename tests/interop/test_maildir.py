"""Maildir delivery (src/deliver/maildir.c) read back by a real Maildir
reader, Python's mailbox.Maildir.

tests/tools/maildir_put.c delivers its stdin through the module's
chunk callback; these tests check the file it leaves in new/ (whole,
headers first, LF line ends), the folder modes, the refused local
parts, a write failure that leaves nothing behind, and a 25 MB message
delivered without ever being held whole (peak RSS of the tool)."""
import hashlib
import mailbox
import os
import re
import resource
import signal
import stat
import subprocess

import pytest

from conftest import tool_path

MESSAGE = (b"From: Bob <bob@example.org>\r\nTo: alice@example.test\r\n"
           b"Subject: Maildir test\r\nMessage-ID: <m1@example.org>\r\n\r\n"
           b"Hello Alice,\r\n\r\n.a line that was dot-stuffed on the wire\r\nbye\r\n")
NAME = re.compile(r"^\d+\.M\d+P\d+Q\d+R[0-9a-f]{16}\.[^/:]+$")


def put(template, local="alice", data=MESSAGE, chunk=None, stdin=None, preexec_fn=None,
        domain="example.test", sender="bob@example.org", rcpt="alice@example.test"):
    args = [tool_path("deliver", "maildir_put")]
    if chunk:
        args += ["-c", str(chunk)]
    args += [str(template), local, domain, sender, rcpt]
    r = subprocess.run(args, input=None if stdin else data, stdin=stdin, capture_output=True,
                       timeout=120, preexec_fn=preexec_fn)
    out = r.stdout.decode()
    rss = int(re.search(r"rss_kb=(-?\d+)", out)[1])
    return r.returncode, out.splitlines()[0], rss


def expected_file(data=MESSAGE, sender="bob@example.org", rcpt="alice@example.test"):
    return (f"Return-Path: <{sender}>\nDelivered-To: {rcpt}\n".encode()
            + data.replace(b"\r\n", b"\n"))


@pytest.mark.parametrize("chunk", [None, 1, 7])
def test_message_is_whole_in_new_and_readable(tmp_path, chunk):
    """Chunks of 1 and 7 bytes split CRLF pairs at every position."""
    rc, line, _ = put(tmp_path / "mail/%u/Maildir", chunk=chunk)
    assert rc == 0, line
    path = line.split(" ", 1)[1]
    md = mailbox.Maildir(tmp_path / "mail/alice/Maildir", factory=None, create=False)
    [key] = md.keys()
    msg = md[key]
    assert msg.get_subdir() == "new"
    assert msg["Return-Path"] == "<bob@example.org>"
    assert msg["Delivered-To"] == "alice@example.test"
    assert msg["Subject"] == "Maildir test"
    assert msg.get_payload() == "Hello Alice,\n\n.a line that was dot-stuffed on the wire\nbye\n"
    with open(path, "rb") as f:
        assert f.read() == expected_file()
    assert NAME.match(os.path.basename(path)), path
    assert os.listdir(tmp_path / "mail/alice/Maildir/tmp") == []


def test_folders_are_created_private_and_files_unique(tmp_path):
    for _ in range(3):
        rc, line, _ = put(tmp_path / "m/%d/%u", local="Alice")   # folded to lower case
        assert rc == 0, line
    base = tmp_path / "m/example.test/alice"
    for d in (tmp_path / "m", tmp_path / "m/example.test", base, base / "tmp", base / "new",
              base / "cur"):
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700, d
    files = os.listdir(base / "new")
    assert len(set(files)) == 3
    for f in files:
        assert stat.S_IMODE(os.stat(base / "new" / f).st_mode) == 0o600
    assert len(mailbox.Maildir(base, factory=None, create=False)) == 3


def test_null_sender(tmp_path):
    rc, line, _ = put(tmp_path / "%u", sender="")
    assert rc == 0, line
    md = mailbox.Maildir(tmp_path / "alice", factory=None, create=False)
    assert next(iter(md))["Return-Path"] == "<>"


@pytest.mark.parametrize("local", ["../alice", ".alice", "a/b", "bob%evil.example", "host!bob",
                                   '"a@b"', "a@b", "a..b", "a b", ""])
def test_routing_and_path_characters_are_refused(tmp_path, local):
    rc, line, _ = put(tmp_path / "mail/%u", local=local)
    assert rc == 65, line
    assert line.startswith("permfail 5.1.3 local part refused"), line
    assert not (tmp_path / "mail").exists()


def test_envelope_line_break_is_refused(tmp_path):
    rc, line, _ = put(tmp_path / "%u", sender="a@b\nX-Forged: yes")
    assert rc == 65 and line.startswith("permfail 5.1.3"), line
    assert os.listdir(tmp_path / "alice/new") == [] and os.listdir(tmp_path / "alice/tmp") == []


def _small_file_limit():
    # A file size limit makes write() fail with EFBIG half way, the way a
    # full disk or quota would (SIGXFSZ ignored, so write returns it).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))


def test_write_failure_is_temporary_and_leaves_nothing(tmp_path):
    data = MESSAGE + b"x" * 78 + b"\r\n" * 2000
    rc, line, _ = put(tmp_path / "%u", data=data * 10, preexec_fn=_small_file_limit)
    assert rc == 75, line
    assert line.startswith("tempfail 4.2.2 cannot write"), line
    assert os.listdir(tmp_path / "alice/tmp") == []
    assert os.listdir(tmp_path / "alice/new") == []


def test_unusable_folder_is_temporary(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    rc, line, _ = put(tmp_path / "file/%u")
    assert rc == 75 and line.startswith("tempfail 4.3.0"), line


@pytest.mark.perf
def test_25_mb_message_is_streamed(tmp_path):
    """25 MB through the chunk callback: the tool's peak RSS stays far
    below the message size, and the file is byte for byte the message."""
    src = tmp_path / "big.eml"
    line = b"0123456789" * 7 + b"abcdefgh\r\n"          # 80 bytes + CRLF
    n = 25 * 1024 * 1024 // len(line)
    want = hashlib.sha256(b"Return-Path: <bob@example.org>\nDelivered-To: alice@example.test\n")
    with open(src, "wb") as f:
        head = b"Subject: big\r\n\r\n"
        f.write(head)
        want.update(head.replace(b"\r\n", b"\n"))
        for _ in range(n):
            f.write(line)
            want.update(line[:-2] + b"\n")
    assert src.stat().st_size >= 25 * 1024 * 1024
    with open(src, "rb") as f:
        rc, out, rss_kb = put(tmp_path / "%u", stdin=f)
    assert rc == 0, out
    got = hashlib.sha256()
    with open(out.split(" ", 1)[1], "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            got.update(block)
    assert got.hexdigest() == want.hexdigest()
    assert 0 < rss_kb < 12 * 1024, f"peak RSS {rss_kb} kB for a 25 MB message"
