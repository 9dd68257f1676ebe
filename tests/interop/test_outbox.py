"""The offline outbox: `send` with `queue on-failure` / `queue always`,
then `postern outbox list | flush | delete`, against `postern serve` and
Postfix+Dovecot.  Every test has its own $XDG_DATA_HOME, so its own
outbox folder."""
import os
import re
import uuid

import pytest

from clients import REMOTE_RCPT, SENDER, describe, message, queue_ids, queue_show, tag
from conftest import PASSWORD, USER, PosternServer, postern
from peers import postfix_dovecot  # noqa: F401  (fixture)

EX_UNAVAILABLE, EX_TEMPFAIL, EX_NOPERM, EX_USAGE, EX_NOINPUT = 69, 75, 77, 64, 66
ID = re.compile(r"^(\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{8})\s", re.M)


@pytest.fixture
def env(tmp_path):
    data = tmp_path / "xdg-data"
    return dict(os.environ, XDG_DATA_HOME=str(data), HOME=str(tmp_path / "home"))


def outbox_dir(env):
    return os.path.join(env["XDG_DATA_HOME"], "postern", "outbox")


def write_conf(path, accounts, default):
    """accounts: name -> dict of msmtprc keys."""
    lines = []
    for name, kv in accounts.items():
        lines.append(f"account {name}")
        lines += [f"{k} {v}" for k, v in kv.items()]
    lines += [f"account default : {default}", ""]
    path.write_text("\n".join(lines))
    path.chmod(0o600)
    return path


def account(server, queue, port=None, **extra):
    kv = {"host": "127.0.0.1", "port": port or server.submission, "tls": "on",
          "tls_starttls": "on", "tls_trust_file": server.pki.ca, "auth": "on",
          "user": USER, "password": f'"{PASSWORD}"', "from": SENDER, "queue": queue}
    kv.update(extra)
    return kv


def send(conf, env, mark, *args, rcpt=REMOTE_RCPT):
    return postern("send", "-C", str(conf), *args, rcpt, input=message(mark, rcpt=rcpt, crlf=False),
                   env=env)


def outbox(env, *args):
    return postern("outbox", *args, env=env)


def listed_ids(env, conf=None):
    r = outbox(env, *(["-C", str(conf)] if conf else []), "list")
    assert r.returncode == 0, describe(r)
    return ID.findall(r.stdout.decode())


def spooled_marks(server, ids):
    return [queue_show(server, i)[1] for i in ids]


def test_server_down_queues_then_flush_delivers(tmp_path, pki, env):
    s = PosternServer(tmp_path / "server", pki)   # configured, not started: port closed
    s.add_user(USER, PASSWORD)
    conf = write_conf(tmp_path / "rc", {"sub": account(s, "on-failure")}, "sub")
    marks = [tag() for _ in range(3)]
    for m in marks:
        r = send(conf, env, m)
        assert r.returncode == 0, describe(r)
        assert "queued as" in r.stderr.decode(), describe(r)
        assert f"127.0.0.1:{s.submission}" in r.stderr.decode(), describe(r)
    ids = listed_ids(env)
    assert len(ids) == 3 and ids == sorted(ids)
    r = outbox(env, "list")
    # msmtp semantics: "account default : sub" is an account named default
    assert "account=default" in r.stdout.decode() and f"<{REMOTE_RCPT}>" in r.stdout.decode()
    # the files are private and there is nothing half-written
    assert oct(os.stat(outbox_dir(env)).st_mode & 0o777) == "0o700"
    assert sorted(f for f in os.listdir(outbox_dir(env)) if not f.startswith(".")) == ids

    # flush while the server is still down: everything stays, exit 75
    r = outbox(env, "flush")
    assert r.returncode == EX_TEMPFAIL, describe(r)
    assert "3 message(s) kept" in r.stderr.decode(), describe(r)
    assert listed_ids(env) == ids

    s.start()
    try:
        before = queue_ids(s)
        r = outbox(env, "flush")
        assert r.returncode == 0, describe(r) + s.log_text()[-3000:]
        # in queue order, each removed after its 250
        assert ID.findall(r.stdout.decode().replace(": delivered", " delivered")) == ids, describe(r)
        assert "3 of 3 message(s) delivered" in r.stdout.decode()
        assert listed_ids(env) == []
        assert "is empty" in outbox(env, "list").stdout.decode()
        new = [i for i in queue_ids(s) if i not in before]
        assert len(new) == 3, new
        contents = spooled_marks(s, new)
        for m in marks:   # every message exactly once
            assert sum(m in c for c in contents) == 1, (m, new)
        # ... and they reached the server in the order they were queued
        # (`queue list` is in arrival order)
        assert [next(m for m in marks if m in c) for c in contents] == marks, (marks, new)
        # a second flush has nothing to send: still exactly three
        r = outbox(env, "flush")
        assert r.returncode == 0 and "0 of 0" in r.stdout.decode(), describe(r)
        assert len([i for i in queue_ids(s) if i not in before]) == 3
    finally:
        s.stop()


def test_flush_one_connection_per_account(server, tmp_path, env):
    """queue always: nothing is sent by send; flush opens one connection
    per account (two here) for four messages."""
    conf = write_conf(tmp_path / "rc", {
        "a": account(server, "always"),
        "b": account(server, "always", port=server.submissions, tls_starttls="off"),
    }, "a")
    marks = [tag() for _ in range(4)]
    for i, m in enumerate(marks):
        r = send(conf, env, m, "-a", "a" if i != 2 else "b")
        assert r.returncode == 0 and "queued as" in r.stderr.decode(), describe(r)
    assert len(listed_ids(env)) == 4
    before = queue_ids(server)
    connects = server.log_text().count(" connect client=")
    r = outbox(env, "flush")
    assert r.returncode == 0, describe(r)
    assert server.log_text().count(" connect client=") - connects == 2, server.log_text()[-3000:]
    new = [i for i in queue_ids(server) if i not in before]
    assert len(new) == 4
    assert listed_ids(env) == []


def test_flush_5xx_keeps_message_and_says_why(server, tmp_path, env):
    """Through the MX port without AUTH, a remote recipient is refused
    (relay denied, 5xx): the message stays in the outbox, flush says why
    and exits non-zero; a good message in the same flush still goes."""
    conf = write_conf(tmp_path / "rc", {
        "mx": {"host": "127.0.0.1", "port": server.smtp, "auth": "off", "tls": "off",
               "from": SENDER, "queue": "always"},
        "good": account(server, "always"),
    }, "good")
    bad, good = tag(), tag()
    assert send(conf, env, bad, "-a", "mx").returncode == 0
    assert send(conf, env, good, "-a", "good").returncode == 0
    ids = listed_ids(env)
    assert len(ids) == 2
    before = queue_ids(server)
    r = outbox(env, "flush")
    assert r.returncode == EX_UNAVAILABLE, describe(r)
    err = r.stderr.decode()
    assert ids[0] in err and "kept in the outbox" in err, describe(r)
    assert re.search(r"\b5\d\d\b", err), describe(r)
    assert REMOTE_RCPT in err, describe(r)
    assert listed_ids(env) == [ids[0]]
    new = [i for i in queue_ids(server) if i not in before]
    assert len(new) == 1 and good in queue_show(server, new[0])[1]


def test_flush_wrong_password_keeps_everything(server, tmp_path, env):
    conf = write_conf(tmp_path / "rc", {"a": account(server, "always")}, "a")
    assert send(conf, env, tag()).returncode == 0
    ids = listed_ids(env)
    bad = write_conf(tmp_path / "rc-bad", {"a": account(server, "always",
                                                         password='"wrong password"')}, "a")
    r = outbox(env, "-C", str(bad), "flush")
    assert r.returncode == EX_NOPERM, describe(r)
    assert "535" in r.stderr.decode() and f"127.0.0.1:{server.submission}" in r.stderr.decode()
    assert listed_ids(env) == ids


def test_delete_and_bad_ids(server, tmp_path, env):
    conf = write_conf(tmp_path / "rc", {"a": account(server, "always")}, "a")
    assert send(conf, env, tag()).returncode == 0
    assert send(conf, env, tag()).returncode == 0
    ids = listed_ids(env)
    r = outbox(env, "delete", ids[0])
    assert r.returncode == 0 and f"deleted {ids[0]}" in r.stdout.decode(), describe(r)
    assert listed_ids(env) == ids[1:]
    r = outbox(env, "delete", ids[0])
    assert r.returncode == EX_NOINPUT and "no such message" in r.stderr.decode()
    r = outbox(env, "delete", "../../etc/passwd")
    assert r.returncode == EX_NOINPUT and "not a message ID" in r.stderr.decode()
    assert outbox(env, "frobnicate").returncode == EX_USAGE
    assert outbox(env, "delete").returncode == EX_USAGE


def test_damaged_file_is_reported_not_sent(server, tmp_path, env):
    conf = write_conf(tmp_path / "rc", {"a": account(server, "always")}, "a")
    assert send(conf, env, tag()).returncode == 0
    (qid,) = listed_ids(env)
    path = os.path.join(outbox_dir(env), qid)
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])   # a torn write
    r = outbox(env, "list")
    assert "DAMAGED" in r.stdout.decode() and qid in r.stdout.decode()
    before = queue_ids(server)
    r = outbox(env, "flush")
    assert r.returncode != 0 and "damaged outbox file" in r.stderr.decode(), describe(r)
    assert queue_ids(server) == before
    assert os.path.exists(path)


def test_queue_never_fails_instead(tmp_path, pki, env):
    s = PosternServer(tmp_path / "server", pki)   # not started
    conf = write_conf(tmp_path / "rc", {"a": account(s, "never")}, "a")
    r = send(conf, env, tag())
    assert r.returncode == EX_TEMPFAIL, describe(r)
    assert "queued" not in r.stderr.decode()
    assert listed_ids(env) == []


def test_outbox_flush_to_postfix(postfix_dovecot, tmp_path, env):
    """The same outbox, flushed into Postfix+Dovecot over implicit TLS."""
    pd = postfix_dovecot
    kv = {"host": "127.0.0.1", "port": pd.submissions, "tls": "on", "tls_starttls": "off",
          "tls_trust_file": pd.pki.ca, "auth": "scram-sha-256", "user": USER,
          "password": f'"{PASSWORD}"', "from": SENDER, "queue": "always"}
    conf = write_conf(tmp_path / "rc", {"pf": kv}, "pf")
    to = f"rcpt-{uuid.uuid4().hex[:12]}@example.org"
    for _ in range(2):
        r = send(conf, env, tag(), rcpt=to)
        assert r.returncode == 0, describe(r)
    assert pd.messages_to(to) == []   # queue always: nothing sent yet
    r = outbox(env, "flush")
    assert r.returncode == 0, describe(r)
    assert len(pd.messages_to(to)) == 2
    assert listed_ids(env) == []


def test_flush_without_password_keeps_messages_and_names_the_line(server, tmp_path, env):
    """The shared client_account_opts(): flush, like send, refuses to
    authenticate without a password and says where the account is."""
    conf = write_conf(tmp_path / "rc", {"a": account(server, "always")}, "a")
    r = send(conf, env, tag(), "-a", "a")
    assert r.returncode == 0 and "queued as" in r.stderr.decode(), describe(r)
    conf.write_text(conf.read_text().replace(f'password "{PASSWORD}"\n', ""))
    r = outbox(env, "-C", str(conf), "flush")
    assert r.returncode == 78, describe(r)  # EX_CONFIG
    assert f"{conf}:1: no password for {USER} at 127.0.0.1" in r.stderr.decode(), describe(r)
    assert "1 message(s) kept" in r.stderr.decode(), describe(r)
    assert len(listed_ids(env)) == 1


def old_format_file(account_name, config, sender, rcpts, data, queued=1735787045):
    """An outbox file as the previous version wrote it ("postern-outbox 1")."""
    def rec(key, val):
        return f"{key} {len(val)}\n".encode() + val + b"\n"
    out = b"postern-outbox 1\n" + rec("account", account_name.encode())
    out += rec("config", config.encode()) + rec("from", sender.encode())
    out += rec("queued", str(queued).encode())
    out += b"".join(rec("rcpt", r.encode()) for r in rcpts)
    return out + rec("message", data) + rec("end", b"")


def test_upgrade_old_format_file_is_flushed_with_new_ones(server, tmp_path, env):
    """Issue 14: the outbox now writes one records-codec frame ("POB2")
    per file; a message the previous version queued in its text format
    is still read and sent by `outbox flush`, beside a new one."""
    conf = write_conf(tmp_path / "rc", {"a": account(server, "always")}, "a")
    new_mark, old_mark = tag(), tag()
    assert send(conf, env, new_mark).returncode == 0
    (new_id,) = listed_ids(env)
    assert open(os.path.join(outbox_dir(env), new_id), "rb").read(4) == b"POB2"
    old_id = "20250102T030405.123456Z-1a2b3c4d"   # sorts before new_id: sent first
    with open(os.path.join(outbox_dir(env), old_id), "wb") as f:
        f.write(old_format_file("a", str(conf), SENDER, [REMOTE_RCPT],
                                message(old_mark, crlf=False).encode()))
    assert listed_ids(env) == [old_id, new_id]
    before = queue_ids(server)
    r = outbox(env, "flush")
    assert r.returncode == 0 and "2 of 2 message(s) delivered" in r.stdout.decode(), describe(r)
    assert listed_ids(env) == []
    contents = spooled_marks(server, [i for i in queue_ids(server) if i not in before])
    assert [next(m for m in (old_mark, new_mark) if m in c) for c in contents] == \
        [old_mark, new_mark], contents


def test_cut_file_is_refused_by_name_never_sent(server, tmp_path, env):
    """A new-format file cut at several offsets (header, fields, message)
    is reported as torn by name; nothing reaches the server."""
    conf = write_conf(tmp_path / "rc", {"a": account(server, "always")}, "a")
    assert send(conf, env, tag()).returncode == 0
    (qid,) = listed_ids(env)
    path = os.path.join(outbox_dir(env), qid)
    data = open(path, "rb").read()
    before = queue_ids(server)
    for cut in (0, 3, 11, 12, 40, len(data) - 1):
        open(path, "wb").write(data[:cut])
        r = outbox(env, "flush")
        assert r.returncode != 0, describe(r)
        assert f"{qid}: torn (" in r.stderr.decode(), describe(r)
    open(path, "wb").write(b"X" + data[1:])
    r = outbox(env, "flush")
    assert r.returncode != 0 and f"{qid}: not an outbox message (" in r.stderr.decode(), describe(r)
    assert queue_ids(server) == before
    assert os.path.exists(path)
