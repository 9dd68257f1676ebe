"""The queue runner (issue 14 items 4-9) against real peers on loopback:
an aiosmtpd upstream as relay_host that answers what each test scripts
(250, 451 twice then 250, 550), a Maildir for the bounces to the local
sender (read back with Python's mailbox module), and `postern queue`
talking to the running server over its control socket.

Mail is submitted with smtplib (STARTTLS + AUTH PLAIN) as USER, whose
domain is local: bounces to USER go to local_delivery's Maildir."""
import calendar
import email
import mailbox
import os
import pathlib
import pwd
import re
import shutil
import stat
import tempfile
import time

import pytest
from aiosmtpd.controller import Controller

from conftest import USER, free_port, started_server
from test_queue import RCPT_LINE, message, submit

REMOTE = "bob@remote.test"
WAIT = 30


class Scripted:
    """An aiosmtpd upstream whose reply to DATA (or RCPT) follows a
    script: one reply per attempt, the last one repeated."""

    def __init__(self, data=("250 2.0.0 Ok",), rcpt=None):
        self.port = free_port()
        self.data_script, self.rcpt_script = list(data), rcpt
        self.attempts, self.received, self.when = 0, [], []
        self.ctl = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_script and address in self.rcpt_script:
            return self.rcpt_script[address]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        reply = self.data_script[min(self.attempts, len(self.data_script) - 1)]
        self.attempts += 1
        self.when.append(time.time())
        if reply.startswith("250"):
            self.received.append((envelope.mail_from, list(envelope.rcpt_tos),
                                  envelope.original_content))
        return reply

    def __enter__(self):
        self.ctl.start()
        return self

    def __exit__(self, *exc):
        self.ctl.stop()


def mail_root():
    """A folder the runner (`user` = nobody when we are root) can write
    Maildirs in: tmp_path's parents are root's alone."""
    d = tempfile.mkdtemp(prefix="postern-runner-mail-")
    os.chmod(d, 0o755)
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(d, nobody.pw_uid, nobody.pw_gid)
    return pathlib.Path(d)


def conf_for(up, mail, extra=""):
    return (f"relay_host = [127.0.0.1]:{up.port}\n"
            "relay_tls = none\n"
            f"local_delivery = maildir:{mail}/mail/%u\n"
            "retry_first = 2s\n"
            "retry_max = 4s\n" + extra)


def wait_for(what, pred, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def rcpt_states(server):
    """{rcpt: state dict} from `postern queue list` (through the runner)."""
    r = server.queue("list")
    assert r.returncode == 0, r.stderr.decode()
    out = {}
    for line in r.stdout.decode().splitlines():
        m = RCPT_LINE.match(line) or re.match(
            r"^  (?P<rcpt>\S+) (?P<state>failed,bouncing) attempts=(?P<attempts>\d+) "
            r"next=(?P<next>\S+) reply=(?P<reply>.+)$", line)
        if m:
            out[m["rcpt"]] = m.groupdict()
    return out


def delivery_lines(server, result=None):
    return [ln for ln in server.log_text().splitlines()
            if "proc=runner" in ln and " delivery id=" in ln and (result is None or f"result={result}" in ln)]


@pytest.fixture
def mail():
    d = mail_root()
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def relay_server(tmp_path, pki, request, mail):
    param = dict(getattr(request, "param", {}))
    extra = param.pop("conf", "")
    up = Scripted(**param)
    with up:
        s = started_server(tmp_path / "server", pki, conf_for(up, mail, extra))
        try:
            yield s, up
        finally:
            s.stop()


def test_relay_delivers_and_logs_the_attempt(relay_server):
    server, up = relay_server
    body = message("relayed")
    submit(server, USER, [REMOTE], body)
    wait_for("the upstream to receive it", lambda: up.received)
    frm, rcpts, content = up.received[0]
    assert frm == USER and rcpts == [REMOTE]
    assert content.startswith(b"Received: ") and content.endswith(body), "content changed on the way"
    line = wait_for("the delivery log line", lambda: delivery_lines(server, "delivered"))[0]
    assert f"rcpt={REMOTE}" in line and f"route=relay:[127.0.0.1]:{up.port}" in line, line
    assert f"remote=127.0.0.1[127.0.0.1]:{up.port}" in line or f":{up.port}" in line.split("remote=")[1], line
    assert re.search(r"reply=\S*250", line) and re.search(r"delay=\d+\.\ds", line), line
    # delivered recipients leave the queue
    wait_for("an empty queue", lambda: server.queue("list").stdout.decode().endswith("0 messages\n"))


@pytest.mark.parametrize("relay_server", [{"data": ["451 4.3.0 try later", "451 4.3.0 try later",
                                                    "250 2.0.0 Ok"],
                                           "conf": "retry_first = 3s\nretry_max = 1h\n"}], indirect=True)
def test_451_twice_then_250_backoff_visible_and_flush(relay_server):
    server, up = relay_server
    submit(server, USER, [REMOTE], message("retried"))
    st = wait_for("the first deferral", lambda: rcpt_states(server).get(REMOTE, {}).get("attempts") == "1"
                  and rcpt_states(server)[REMOTE])
    assert st["state"] == "deferred" and "451" in st["reply"] and st["next"] != "-", st
    # the second try comes by itself, after the back-off (retry_first 3s,
    # drawn from [2.25 s, 3 s])
    st = wait_for("the second deferral", lambda: rcpt_states(server).get(REMOTE, {}).get("attempts") == "2"
                  and rcpt_states(server)[REMOTE])
    assert st["state"] == "deferred" and "451" in st["reply"], st
    assert up.when[1] - up.when[0] >= 2.0, "the second try did not wait for the back-off"
    assert up.attempts == 2 and not up.received
    # the back-off doubled: the next try is 4.5 to 6 s after the second
    nxt = calendar.timegm(time.strptime(st["next"], "%Y-%m-%dT%H:%M:%SZ"))
    assert nxt - up.when[1] >= 3.5, (st, up.when)
    # flush: the third try now, well before next
    r = server.queue("flush")
    assert r.returncode == 0 and b"flushing 1 deferred message" in r.stdout, r
    wait_for("the third try", lambda: up.received, timeout=3)
    assert up.attempts == 3
    assert up.when[2] < nxt - 1.5, "flush did not retry at once"
    assert "attempts=3 result=delivered" in delivery_lines(server, "delivered")[0]
    assert len(delivery_lines(server, "deferred")) == 2


def dsn_in(maildir):
    md = mailbox.Maildir(maildir, factory=None, create=False)
    return [email.message_from_bytes(md.get_bytes(k)) for k in md.keys()]


@pytest.mark.parametrize("relay_server", [{"rcpt": {"bob@remote.test": "550 5.1.1 <bob@remote.test>: no such user here"}}],
                         indirect=True)
def test_550_bounces_to_the_sender(relay_server, mail):
    server, up = relay_server
    submit(server, USER, [REMOTE, "carol@remote.test"], message("bounced"))
    wait_for("carol's copy", lambda: up.received)
    assert up.received[0][1] == ["carol@remote.test"]
    box = mail / "mail" / USER.split("@")[0]
    msgs = wait_for("the bounce in the sender's Maildir", lambda: (box / "new").is_dir() and dsn_in(box))
    assert len(msgs) == 1, "one report per message per run of failures"
    dsn = msgs[0]
    assert dsn.get_content_type() == "multipart/report"
    assert dsn.get_param("report-type") == "delivery-status"
    text = dsn.as_string()
    assert "Final-Recipient: rfc822;bob@remote.test" in text.replace("rfc822; ", "rfc822;")
    assert "no such user here" in text and "550" in text
    assert "carol@remote.test" not in text.split("message/delivery-status")[1], "delivered rcpt reported"
    assert "Subject: bounced" in text, "the original header section is missing"
    # the DSN came with the null sender
    assert re.search(r"^Return-Path: <>", (box / "new" / os.listdir(box / "new")[0]).read_text(), re.M)
    # the original and the bounce are done: the queue empties
    wait_for("an empty queue", lambda: server.queue("list").stdout.decode().endswith("0 messages\n"))
    assert any("result=failed" in ln and "bob@remote.test" in ln for ln in delivery_lines(server))


@pytest.mark.parametrize("relay_server", [{"data": ["554 5.7.1 rejected"]}], indirect=True)
def test_null_sender_gets_no_bounce(relay_server, mail):
    server, up = relay_server
    submit(server, "", [REMOTE], message("nobounce"))
    line = wait_for("the failure", lambda: delivery_lines(server, "failed"))[0]
    assert "bounce=none(null sender)" in line, line
    wait_for("an empty queue", lambda: server.queue("list").stdout.decode().endswith("0 messages\n"))
    time.sleep(1)
    assert not (mail / "mail").exists(), "a bounce was delivered for a null-sender message"
    assert "bounce id=" not in server.log_text()


@pytest.mark.parametrize("relay_server", [{"data": ["451 4.3.0 later"]}], indirect=True)
def test_queue_delete_goes_through_the_control_socket(relay_server):
    server, up = relay_server
    submit(server, USER, [REMOTE], message("deleted"))
    wait_for("a deferral", lambda: rcpt_states(server).get(REMOTE, {}).get("state") == "deferred")
    qid = server.queue("list").stdout.decode().split()[0]
    r = server.queue("delete", qid)
    assert r.returncode == 0 and r.stdout.decode() == f"deleted {qid}\n", r
    assert f"runner: deleted {qid} (control socket)" in server.log_text()
    assert server.queue("list").stdout.decode().endswith("0 messages\n")
    n = up.attempts
    server.queue("flush")
    time.sleep(2.5)
    assert up.attempts == n, "a deleted message was tried again"
    r = server.queue("delete", qid)
    assert r.returncode == 1 and qid.encode() in r.stderr, r


def test_control_socket_is_0600_and_owned_by_user(relay_server):
    server, _ = relay_server
    st = os.stat(server.spool / "control.sock")
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    if os.geteuid() == 0:
        assert st.st_uid == pwd.getpwnam("nobody").pw_uid, "not owned by the user key's user"
        # the runner runs as that user too
        runner = [ln for ln in server.log_text().splitlines() if "queue runner" in ln and "started" in ln]
        pid = int(re.search(r"queue runner (\d+) started", runner[0]).group(1))
        with open(f"/proc/{pid}/status") as f:
            uids = next(ln for ln in f if ln.startswith("Uid:")).split()[1:]
        assert set(uids) == {str(pwd.getpwnam("nobody").pw_uid)}, uids
    server.stop()
    assert not (server.spool / "control.sock").exists(), "the socket outlived the server"
    # no server: queue works on the spool directly
    r = server.queue("list")
    assert r.returncode == 0 and r.stdout.decode().endswith("messages\n"), r


def test_local_alias_expanded_before_routing(tmp_path, pki, mail):
    """local_recipients: postmaster@ goes to alice's Maildir and to a
    remote forward through the relay; the queued recipient is delivered
    once both took it."""
    aliases = tmp_path / "aliases"
    aliases.write_text("postmaster@example.test  alice@example.test, fwd@remote.test\n")
    with Scripted() as up:
        server = started_server(tmp_path / "server", pki,
                                conf_for(up, mail, f"local_recipients = file:{aliases}\n"))
        try:
            submit(server, USER, ["postmaster@example.test"], message("aliased"))
            wait_for("the forward", lambda: up.received)
            assert up.received[0][1] == ["fwd@remote.test"]
            box = mail / "mail" / "alice"
            msgs = wait_for("alice's copy", lambda: (box / "new").is_dir() and dsn_in(box))
            assert msgs[0]["Subject"] == "aliased"
            lines = wait_for("the delivered line", lambda: [
                ln for ln in delivery_lines(server, "delivered") if "rcpt=postmaster@example.test" in ln])
            assert "route=alias" in lines[0], lines
            sub = [ln for ln in delivery_lines(server, "delivered") if " alias_of=0 " in ln]
            assert {re.search(r" to=(\S+)", ln).group(1) for ln in sub} == {"alice@example.test",
                                                                            "fwd@remote.test"}, sub
            wait_for("an empty queue", lambda: server.queue("list").stdout.decode().endswith("0 messages\n"))
        finally:
            server.stop()


def test_done_segment_removed_while_the_server_runs(relay_server):
    """spool_gc_live in the runner: a segment whose messages are all
    delivered goes once no writer holds it (here: its network process was
    killed and replaced), without a restart; the new network process's
    current segment stays."""
    server, up = relay_server
    seg = server.spool / "seg"
    submit(server, USER, [REMOTE], message("first"))
    wait_for("the first delivery", lambda: len(up.received) == 1)
    old = sorted(os.listdir(seg))
    assert len(old) == 1, old
    net = [int(p) for p in re.findall(r"network process (\d+) started", server.log_text())][-1]
    os.kill(net, 9)
    wait_for("a new network process", lambda: len(re.findall(r"network process \d+ started",
                                                             server.log_text())) == 2)
    submit(server, USER, [REMOTE], message("second"))
    wait_for("the second delivery", lambda: len(up.received) == 2)
    wait_for("the done segment removed", lambda: old[0] not in os.listdir(seg), timeout=30)
    assert len(os.listdir(seg)) == 1, "the current segment went too"
    assert f"removed {seg}/{old[0]}" in server.log_text()
