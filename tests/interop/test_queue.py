"""`postern queue` against real spools: one filled by a running `postern
serve` through Python's smtplib (STARTTLS + AUTH PLAIN), and spools
crafted by hand in the record format (spool_impl.h) to show that torn
files are reported as torn, with the reason, and never shown as whole.

The list format checked here is the documented one (queue_cmd.c):
    ID ARRIVAL SIZE SENDER USER RCPT[,RCPT...] [TORN: why]
then a last line "N messages"."""
import os
import re
import secrets
import smtplib
import ssl

import pytest

from conftest import PASSWORD, USER, postern

TIMEOUT = 20
LINE = re.compile(r"^(?P<id>[0-9a-f]{20}) (?P<when>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) (?P<size>\d+) "
                  r"(?P<sender>\S+) (?P<user>\S+) (?P<rcpts>\S+)(?: TORN: (?P<torn>.+))?$")

RCPT_LINE = re.compile(r"^  (?P<rcpt>\S+) (?P<state>pending|deferred|delivered|failed|failed,bouncing) attempts=(?P<attempts>\d+) "
                       r"next=(?P<next>\S+) reply=(?P<reply>.+)$")


# ---- helpers ----

def parse_list(r):
    assert r.returncode == 0, f"queue list: exit {r.returncode}: {r.stderr.decode(errors='replace')}"
    lines = r.stdout.decode().splitlines()
    assert lines, "queue list printed nothing"
    m = re.fullmatch(r"(\d+) messages?", lines[-1])
    assert m, f"last line is not 'N messages': {lines[-1]!r}"
    entries = []
    for line in lines[:-1]:
        r = RCPT_LINE.match(line)
        if r:
            assert entries, f"a recipient line before any message: {line!r}"
            entries[-1].setdefault("states", []).append(r.groupdict())
            continue
        e = LINE.match(line)
        assert e, f"queue list line does not match the documented format: {line!r}"
        entries.append(e.groupdict())
    assert len(entries) == int(m.group(1))
    return entries


def parse_show(r):
    """(envelope dict of lists, content bytes) from `queue show`."""
    assert r.returncode == 0, f"queue show: exit {r.returncode}: {r.stderr.decode(errors='replace')}"
    head, sep, content = r.stdout.partition(b"\n\n")
    assert sep, f"no blank line after the envelope: {r.stdout[:500]!r}"
    env = {}
    for line in head.decode().splitlines():
        k, colon, v = line.partition(": ")
        assert colon, f"envelope line is not 'key: value': {line!r}"
        env.setdefault(k, []).append(v)
    return env, content


def submit(server, sender, rcpts, body, password=PASSWORD):
    """One message over STARTTLS with AUTH PLAIN; returns the bytes sent
    as content (smtplib dot-stuffs them on the wire)."""
    ctx = ssl.create_default_context(cafile=str(server.pki.ca))
    with smtplib.SMTP(server.host, server.submission, timeout=TIMEOUT) as s:
        s.ehlo("client.example.test")
        s.starttls(context=ctx)
        s.ehlo("client.example.test")
        s.user, s.password = USER, password
        s.auth("PLAIN", s.auth_plain)
        refused = s.sendmail(sender, rcpts, body)
        assert refused == {}
    return body


def message(mark):
    return (f"From: <{USER}>\r\nTo: <bob@elsewhere.test>\r\nSubject: {mark}\r\n\r\n"
            f"Body of {mark}.\r\n.leading dot survives\r\n..two dots\r\nlast line\r\n").encode()


def write_conf(d, spool="spool"):
    d.mkdir(parents=True, exist_ok=True)
    conf = d / "postern.conf"
    conf.write_text(f"# queue test\nspool = {spool}\n")
    return conf


def rec(t, payload=b""):
    if isinstance(payload, str):
        payload = payload.encode()
    return t.encode() + len(payload).to_bytes(4, "big") + payload


def craft(content, sender="alice@example.test", rcpts=("bob@example.net",), user="alice@example.test",
          arrival=1700000000, size=None):
    """A whole spool file, as spool.c writes it: version, content,
    envelope, size, END."""
    b = rec("V", "1") + rec("C", content) + rec("A", str(arrival)) + rec("F", sender)
    b += b"".join(rec("R", r) for r in rcpts)
    b += rec("B", "7BIT")
    if user:
        b += rec("U", user) + rec("M", "PLAIN")
    return b + rec("Z", str(len(content) if size is None else size)) + rec("E")


def qid(arrival):
    return f"{arrival * 1000000:016x}{secrets.token_hex(2)}"


def queue(conf, *args):
    return postern("queue", "-c", str(conf), *args)


# ---- a spool filled by the real server ----

def test_server_spool_list_show_delete(server):
    r = server.queue("list")
    assert parse_list(r) == [], "a fresh server's spool is not empty"
    assert os.stat(server.spool).st_mode & 0o777 == 0o700, "the spool folder is not 0700"

    first = submit(server, USER, ["bob@elsewhere.test", "carol@example.test"], message("first"))
    second = submit(server, "", ["bob@elsewhere.test"], message("second"))   # null sender
    entries = parse_list(server.queue("list"))
    assert len(entries) == 2
    a, b = entries
    assert a["id"] < b["id"], "ids are not in arrival order"
    assert a["sender"] == USER and b["sender"] == "<>"
    assert a["user"] == USER and b["user"] == USER
    assert a["rcpts"] == "bob@elsewhere.test,carol@example.test"
    assert b["rcpts"] == "bob@elsewhere.test"
    assert a["torn"] is None and b["torn"] is None

    env, content = parse_show(server.queue("show", a["id"]))
    assert env["id"] == [a["id"]]
    assert env["mail_from"] == [USER]
    assert env["rcpt"] == ["bob@elsewhere.test", "carol@example.test"]
    assert env["auth_user"] == [USER]
    assert env["auth_mech"] == ["PLAIN"]
    assert env["size"] == [a["size"]] and int(a["size"]) == len(content)
    assert "torn" not in env
    # the server prepends its Received header; the rest is byte-exact,
    # dot-stuffing undone
    assert content.startswith(b"Received:")
    assert content.endswith(first), content[-400:]
    env, content = parse_show(server.queue("show", b["id"]))
    assert env["mail_from"] == ["<>"]
    assert content.endswith(second)

    # delete: once, then it is gone and a second delete names the id and spool
    r = server.queue("delete", a["id"])
    assert r.returncode == 0, r.stderr
    assert [e["id"] for e in parse_list(server.queue("list"))] == [b["id"]]
    r = server.queue("delete", a["id"])
    assert r.returncode == 1
    err = r.stderr.decode()
    assert f"postern queue: no message {a['id']} in " in err and "spool" in err, err
    r = server.queue("show", a["id"])
    assert r.returncode == 1 and a["id"] in r.stderr.decode()


def test_wrong_password_queues_nothing(server):
    with pytest.raises(smtplib.SMTPAuthenticationError):
        submit(server, USER, ["bob@elsewhere.test"], message("wrong"), password=PASSWORD + "x")
    assert parse_list(server.queue("list")) == []


def test_flush_goes_to_the_runner_and_keeps_undeliverable_mail(server):
    """With a server running, flush asks its queue runner (control
    socket) to try deferred mail now; conftest's relay_host refuses
    connections, so the message stays queued, deferred.  With no server,
    flush says so and exits 69."""
    submit(server, USER, ["bob@elsewhere.test"], message("flush"))
    r = server.queue("flush")
    assert r.returncode == 0 and r.stdout.decode().startswith("flushing "), r
    entries = parse_list(server.queue("list"))
    assert len(entries) == 1, "flush must not drop messages"
    server.stop()
    r = server.queue("flush")
    assert r.returncode == 69, r
    assert "no server is running; 1 message stays queued" in r.stderr.decode()


# ---- hand-crafted spools ----

def test_torn_files_are_reported(tmp_path):
    conf = write_conf(tmp_path)
    q = tmp_path / "spool" / "queue"
    q.mkdir(parents=True)
    (tmp_path / "spool" / "tmp").mkdir()
    content = b"Subject: crafted\r\n\r\nhello\r\n"

    def whole(t):
        return craft(content, arrival=t)

    cases = {}
    for t, data, why in [
            (1700000001, whole(1700000001), None),
            (1700000002, whole(1700000002)[:-5], "no END record"),
            (1700000003, whole(1700000003)[:len(whole(1700000003)) // 2], "file ends inside"),
            (1700000004, whole(1700000004) + b"E\0\0\0\0", "data after END"),
            (1700000005, rec("V", "9") + whole(1700000005)[6:], "unsupported format version"),
            (1700000006, craft(content, arrival=1700000006, size=1), "does not match"),
            (1700000007, b"", "no END record")]:
        cases[qid(t)] = (data, why)
    for i, (data, _) in cases.items():
        (q / i).write_bytes(data)
    (q / "not-a-queue-id").write_bytes(b"ignored")

    entries = parse_list(queue(conf, "list"))
    assert [e["id"] for e in entries] == sorted(cases), "not in arrival order, or a file is missing"
    for e in entries:
        data, why = cases[e["id"]]
        if why is None:
            assert e["torn"] is None, e
            assert e["sender"] == "alice@example.test" and e["user"] == "alice@example.test"
            assert e["when"] == "2023-11-14T22:13:21Z"
            assert int(e["size"]) == len(content)
        else:
            assert e["torn"] and why in e["torn"], f"{e['id']}: want torn '{why}', got {e}"

    good = min(cases)
    env, shown = parse_show(queue(conf, "show", good))
    assert shown == content
    assert env["auth_mech"] == ["PLAIN"] and env["body"] == ["7BIT"]
    for i, (_, why) in cases.items():
        if why is None:
            continue
        r = queue(conf, "show", i)
        assert r.returncode == 1, f"torn {i} shown with exit 0"
        assert b"torn" in r.stderr and i.encode() in r.stderr
        head, _, rest = r.stdout.partition(b"\n\n")
        assert rest == b"", f"content of torn {i} was printed: {rest[:200]!r}"
        assert b"torn: " in head
    r = queue(conf, "flush")
    assert r.returncode == 69 and b"7 messages stay queued" in r.stderr
    # deleting a torn file works; the rest stays
    torn_one = sorted(cases)[1]
    assert queue(conf, "delete", torn_one).returncode == 0
    assert len(parse_list(queue(conf, "list"))) == len(cases) - 1


def test_peer_strings_are_escaped(tmp_path):
    """Envelope strings come from the network; a terminal escape in them
    must not reach the operator's terminal."""
    conf = write_conf(tmp_path)
    q = tmp_path / "spool" / "queue"
    q.mkdir(parents=True)
    i = qid(1700000000)
    (q / i).write_bytes(craft(b"x\r\n", sender="a\x1b[31m@example.test", user="u\x07ser"))
    r = queue(conf, "list")
    assert b"\x1b" not in r.stdout and b"\x07" not in r.stdout
    assert b"a\\x1b[31m@example.test" in r.stdout and b"u\\x07ser" in r.stdout
    r = queue(conf, "show", i)
    assert b"\x1b" not in r.stdout.partition(b"\n\n")[0]


def test_errors_name_the_file(tmp_path):
    # no such config
    r = postern("queue", "-c", str(tmp_path / "missing.conf"), "list")
    assert r.returncode == 1 and b"missing.conf" in r.stderr
    # no spool line
    conf = tmp_path / "nospool.conf"
    conf.write_text("hostname = x.example.test\n")
    r = queue(conf, "list")
    assert r.returncode == 1 and b"nospool.conf: no 'spool' line" in r.stderr
    # spool folder not there yet
    conf = write_conf(tmp_path / "a", spool="does-not-exist")
    r = queue(conf, "list")
    assert r.returncode == 1 and b"does-not-exist" in r.stderr
    # an id that is no id is simply not there (and never a path)
    conf = write_conf(tmp_path / "b")
    (tmp_path / "b" / "spool" / "queue").mkdir(parents=True)
    for bad in ("../postern.conf", "0123", "ZZZZZZZZZZZZZZZZZZZZ"):
        for cmd in ("show", "delete"):
            r = queue(conf, cmd, bad)
            assert r.returncode == 1 and f"no message {bad} in".encode() in r.stderr, r
    assert (tmp_path / "b" / "postern.conf").exists()
    # usage
    assert queue(conf).returncode == 64
    assert queue(conf, "show").returncode == 64
    assert queue(conf, "list", "extra").returncode == 64
    assert queue(conf, "bogus").returncode == 64
