"""Local delivery into a Maildir by `postern serve`'s queue runner
(local_delivery = maildir:DIR/%u), read back by two real mail readers:
Python's mailbox.Maildir and mutt (`mutt -f DIR` on a pseudo-terminal,
every message piped out raw) (issue 14, "What it must show").

The message lands in new/ (nothing left in tmp/), whole: every line
submitted, in order, the dot-stuffed line un-stuffed, postern's Received
line on top; two recipients get a copy each; a message for a user of
the credential store whose Maildir does not exist yet creates it."""
import mailbox
import os
import uuid

from conftest import USER, started_server
from delivery import (FAST_RETRY, curl_submit, mark_message, mutt_messages, queue_states,
                      queue_text, runner_dir, swaks_submit, wait_until)


def lf(b):
    return b.replace(b"\r\n", b"\n")


def maildir_server(tmp_path, pki, root):
    (tmp_path / "rcpts").write_text("bob@example.test\n")
    extra = (f"local_delivery = maildir:{root}/%u\n"
             f"local_recipients = file:{tmp_path / 'rcpts'}\n" + FAST_RETRY)
    return started_server(tmp_path / "postern", pki, extra)


def new_files(root, user):
    d = root / user / "new"
    return sorted(d.iterdir()) if d.exists() else []


def test_local_mail_lands_whole_in_new(tmp_path, pki):
    with runner_dir(owner="nobody") as root:
        server = maildir_server(tmp_path, pki, root)
        try:
            marks = ["md-" + uuid.uuid4().hex for _ in range(3)]
            sent = {}
            for i, mark in enumerate(marks):
                data = mark_message(mark, USER, "bob@example.test", lines=200 + i)
                submit = swaks_submit if i % 2 == 0 else curl_submit
                # swaks ends DATA with CRLF "." CRLF after the text it is
                # given, which adds an empty line; curl sends it as is
                sent[mark] = data.encode() + (b"\r\n" if submit is swaks_submit else b"")
                r = submit(server, USER, ["bob@example.test", USER], data)
                assert r.returncode == 0, r.stdout.decode(errors="replace")
            wait_until(lambda: len(new_files(root, "bob")) >= 3 and
                       len(new_files(root, "alice")) >= 3, 60, "3 messages in each new/",
                       show=lambda: queue_text(server) + server.log_text()[-3000:])
            wait_until(lambda: not queue_states(server), 30, "an empty queue",
                       show=lambda: queue_text(server))
        finally:
            server.stop()
        for user in ("bob", "alice"):
            files = new_files(root, user)
            assert len(files) == 3, files
            assert os.listdir(root / user / "tmp") == []
            assert os.listdir(root / user / "cur") == []
            # Python's Maildir reader
            md = mailbox.Maildir(str(root / user), create=False)
            by_subject = {md[k]["Subject"]: md.get_file(k).read() for k in md.keys()}
            assert sorted(by_subject) == sorted(marks)
            for mark, data in sent.items():
                raw = lf(by_subject[mark])
                assert raw.startswith(b"Return-Path: ") or raw.startswith(b"Delivered-To: ") \
                    or raw.startswith(b"Received: "), raw[:300]
                assert lf(data) in raw, f"{mark} not whole in {user}'s Maildir"
                assert raw.endswith(lf(data)), raw[-300:]
                assert b"(postern) with ESMTPSA id" in raw
            # mutt, the same messages, whole
            got = mutt_messages(root / user)
            assert len(got) == 3, got
            for mark, data in sent.items():
                [m] = [g for g in got if f"Subject: {mark}".encode() in g]
                assert lf(data).rstrip(b"\n") in lf(m), f"mutt shows {mark} differently"
        print(f"\nMaildir {root}/bob/new: {[f.name for f in new_files(root, 'bob')]}")


def test_unknown_local_user_refused_at_rcpt(tmp_path, pki):
    with runner_dir(owner="nobody") as root:
        server = maildir_server(tmp_path, pki, root)
        try:
            r = swaks_submit(server, USER, ["mallory@example.test"],
                             mark_message("x", USER, "mallory@example.test"))
            assert r.returncode != 0
            assert "550 5.1.1" in r.stdout.decode(errors="replace")
            assert not queue_states(server)
            assert not (root / "mallory").exists()
        finally:
            server.stop()
