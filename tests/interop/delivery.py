"""Helpers for the delivery suites (issue 14): what `postern queue list`
says about each recipient, bounded waits, the processes of a running
`postern serve`, submission through real clients (swaks, curl), and a
Maildir read back by a real mail reader (mutt, on a pseudo-terminal).

    states = queue_states(server)       # {qid: Queued}; Queued.rcpts[addr].state
    wait_until(lambda: ..., 60, "what we wait for")
    kill_tree(server.proc.pid)           # SIGKILL parent, net, auth, runner by pid
    mutt_messages(maildir_path)          # [bytes], each message as mutt pipes it
"""
import contextlib
import dataclasses
import os
import pathlib
import pty
import pwd
import re
import select
import shutil
import signal
import tempfile
import time

from conftest import PASSWORD, USER, run

# ---- `postern queue list` ----

_ESC = re.compile(r"\\x([0-9a-fA-F]{2})")


def unescape(s):
    """queue list prints bytes outside 0x21..0x7e (and '\\') as \\xNN."""
    return _ESC.sub(lambda m: chr(int(m.group(1), 16)), s)


@dataclasses.dataclass
class RcptState:
    state: str          # pending | delivered | deferred | failed
    attempts: int
    next: str           # ISO 8601 UTC or "-"
    reply: str          # last remote reply, unescaped, or "-"


@dataclasses.dataclass
class Queued:
    qid: str
    sender: str
    user: str
    rcpts: dict         # address -> RcptState
    torn: str = ""


_RCPT = re.compile(r"^  (\S+) (\w+) attempts=(\d+) next=(\S+) reply=(.*)$")


def queue_states(server):
    """{qid: Queued} of everything `postern queue list` shows."""
    r = server.queue("list")
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    out, cur = {}, None
    for line in r.stdout.decode(errors="replace").splitlines():
        if not line.strip() or re.match(r"^\d+ messages?$", line):
            continue
        if line.startswith("  "):
            m = _RCPT.match(line)
            assert m and cur is not None, f"queue list: unexpected line {line!r}"
            cur.rcpts[unescape(m[1])] = RcptState(m[2], int(m[3]), m[4], unescape(m[5]))
            continue
        f = line.split(" ")
        cur = Queued(f[0], unescape(f[3]), unescape(f[4]), {})
        if " TORN: " in line:
            cur.torn = line.split(" TORN: ", 1)[1]
        out[cur.qid] = cur
    return out


def queue_text(server):
    r = server.queue("list")
    return r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")


def wait_until(cond, timeout, what, interval=0.2, show=None):
    """Polls cond() until it returns a true value (returned) or timeout
    seconds pass (AssertionError naming what, plus show() if given)."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            extra = show() if show else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{extra}")
        time.sleep(interval)


# ---- the processes of `postern serve` ----

def descendants(pid):
    """pid and every process below it (children first found through
    /proc/PID/task/*/children, recursively)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                with open(f"/proc/{p}/task/{t}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
            except OSError:
                pass
    return out


def kill_tree(pid):
    """SIGKILLs pid and all its descendants, each by its own pid.  All are
    stopped (SIGSTOP) first, so that none sees another die and acts on it
    (a runner finishing a delivery after its parent is gone).  Returns
    the pids killed."""
    pids = descendants(pid)
    for p in pids:
        try:
            os.kill(p, signal.SIGSTOP)
        except ProcessLookupError:
            pass
    # children that a stopped process forked just before it stopped
    pids = list(dict.fromkeys(pids + descendants(pid)))
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


def wait_gone(pids, timeout=10):
    """Waits until none of pids exists any more (zombies of our own
    children count as gone once reaped by the caller)."""
    def gone():
        for p in pids:
            try:
                with open(f"/proc/{p}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                        return False
            except OSError:
                pass
        return True
    wait_until(gone, timeout, f"processes {pids} to end", interval=0.02)


# ---- submission through real clients ----

def swaks_submit(server, sender, rcpts, data, user=USER, password=PASSWORD):
    """swaks: STARTTLS on the submission port, AUTH PLAIN."""
    args = ["swaks", "--server", f"{server.host}:{server.submission}", "--tls",
            "--auth", "PLAIN", "--auth-user", user, "--auth-password", password,
            "--from", sender, "--to", ",".join(rcpts), "--timeout", "20",
            "--helo", "swaks.example.test", "--data", "-"]
    return run(args, input=data, timeout=60)


def curl_submit(server, sender, rcpts, data, user=USER, password=PASSWORD):
    """curl: implicit TLS (smtps://), its own SASL engine, certificate
    checked against the test CA."""
    args = ["curl", "--silent", "--show-error", "--max-time", "20",
            "--url", f"smtps://{server.host}:{server.submissions}/curl.example.test",
            "--cacert", str(server.pki.ca), "--user", f"{user}:{password}",
            "--mail-from", sender]
    for r in rcpts:
        args += ["--mail-rcpt", r]
    return run(args + ["--upload-file", "-"], input=data, timeout=60)


def mark_message(mark, sender, rcpt, lines=5):
    """A small CRLF message carrying mark in its Subject, Message-ID and
    body, with a line that needs dot-stuffing on the wire."""
    body = "".join(f"line {i} of {mark}\r\n" for i in range(lines))
    return (f"From: <{sender}>\r\nTo: <{rcpt}>\r\nSubject: {mark}\r\n"
            f"Message-ID: <{mark}@example.test>\r\n\r\n{body}.leading dot\r\nend of {mark}\r\n")


# ---- a real mail reader ----

def mutt_messages(maildir, timeout=30):
    """Every message of the Maildir as mutt reads it: mutt runs on a
    pseudo-terminal (it wants one), tags all messages and pipes each,
    raw (pipe_decode=no), to its own file.  Returns the contents in
    mutt's order (sorted by file name of the copy = order piped)."""
    out = tempfile.mkdtemp(prefix="postern-mutt-")
    keys = (f"<tag-pattern>all<enter><tag-prefix><pipe-message>"
            f"cat > \"$(mktemp -p {out} m.XXXXXXXX)\"<enter><quit>")
    cmd = ["mutt", "-n", "-F", "/dev/null", "-R", "-f", str(maildir),
           "-e", "set pipe_split=yes pipe_decode=no wait_key=no quit=yes move=no mark_old=no",
           "-e", f"push '{keys}'"]
    pid, fd = pty.fork()
    if pid == 0:    # child: mutt on the pty
        os.environ["TERM"] = "vt100"
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    screen, status = b"", None
    deadline = time.monotonic() + timeout
    try:
        while status is None and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    screen += os.read(fd, 65536)
                except OSError:
                    pass
            p, st = os.waitpid(pid, os.WNOHANG)
            if p:
                status = os.waitstatus_to_exitcode(st)
    finally:
        if status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    assert status == 0, f"mutt exited {status}: {screen[-2000:]!r}"
    files = sorted(os.listdir(out), key=lambda n: os.stat(os.path.join(out, n)).st_mtime_ns)
    msgs = []
    for n in files:
        with open(os.path.join(out, n), "rb") as f:
            msgs.append(f.read())
        os.unlink(os.path.join(out, n))
    os.rmdir(out)
    return msgs


# ---- what arrived ----

FAST_RETRY = "retry_first = 2s\nretry_max = 4s\n"


def received_id(content):
    """The queue id postern wrote into its Received header ("... with
    ESMTPSA id ID"), or None."""
    text = content.decode(errors="replace") if isinstance(content, bytes) else content
    m = re.search(r"\(postern\) with \w+ id (\S+?);?\s", text)
    return m[1] if m else None


def dsn_parts(raw):
    """A delivery status notification parsed with Python's email package:
    (message, [per-recipient field dicts], original headers text).
    Asserts the RFC 3464 shape: multipart/report;
    report-type=delivery-status with a message/delivery-status part."""
    import email
    import email.policy
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/report", msg.get_content_type()
    assert msg.get_param("report-type") == "delivery-status", msg["Content-Type"]
    status = [p for p in msg.walk() if p.get_content_type() == "message/delivery-status"]
    assert len(status) == 1, [p.get_content_type() for p in msg.walk()]
    # The delivery-status body is a list of header blocks: the per-message
    # one first, then one per recipient.
    payload = status[0].get_payload()
    blocks = [dict((k.lower(), str(v)) for k, v in b.items()) for b in payload]
    per_rcpt = [b for b in blocks if "final-recipient" in b]
    orig = [p for p in msg.walk()
            if p.get_content_type() in ("text/rfc822-headers", "message/rfc822")]
    orig_text = orig[0].as_string() if orig else ""
    return msg, per_rcpt, orig_text


# ---- files the unprivileged queue runner reads ----

@contextlib.contextmanager
def runner_dir(owner=None):
    """A fresh folder (mode 0755, under /tmp) that the queue runner,
    running as `user = nobody`, can reach: pytest's tmp_path is private
    to root.  owner="nobody": the runner may also write in it (a Maildir
    root: Maildirs are written as `user`).  Removed afterwards."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="postern-dlv-"))
    try:
        d.chmod(0o755)
        if owner:
            shutil.chown(d, owner, pwd.getpwnam(owner).pw_gid)
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def runner_file(d, name, text, owner="nobody", mode=0o600):
    """A file in d that only owner (the runner's user) and root read."""
    p = pathlib.Path(d) / name
    p.write_text(text)
    shutil.chown(p, owner)
    p.chmod(mode)
    return p
