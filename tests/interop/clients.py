"""Helpers shared by the real-client suites (test_client_*.py): spool
inspection through `postern queue`, unique test messages, and running a
client program with a time limit and a readable failure message.

The suites assert on what a real client and the real server did: the
client's exit status and transcript, and what `postern queue` shows
afterwards (queue ids before/after, the envelope's authenticated user,
the Received header's RFC 3848 keyword)."""
import base64
import re
import subprocess
import time
import uuid

from conftest import PASSWORD, USER, run

SENDER = USER
# Authenticated submissions go to a domain that is NOT local: only an
# authenticated session may relay there, so every success case also shows
# that authentication (and nothing else) opened the door.
REMOTE_RCPT = "bob@elsewhere.test"
LOCAL_RCPT = "carol@example.test"
WRONG_PASSWORD = PASSWORD + " but wrong"

CLIENT_TIMEOUT = 30     # seconds; a hung client fails its test, never the suite


def tag():
    """A unique marker for one test's message, so the test finds exactly
    its own message in the spool."""
    return "postern-interop-" + uuid.uuid4().hex


def message(mark, sender=SENDER, rcpt=REMOTE_RCPT, crlf=True):
    """A small RFC 5322 message carrying mark in its Subject and body.
    CRLF line ends by default: the server refuses bare LF in DATA (SMTP
    smuggling), so clients that send the bytes as given need CRLF."""
    lines = [f"From: <{sender}>", f"To: <{rcpt}>", f"Subject: {mark}",
             f"Message-ID: <{mark}@example.test>", "", f"Body of {mark}.",
             ".leading dot, must survive dot-stuffing", "last line"]
    nl = "\r\n" if crlf else "\n"
    return nl.join(lines) + nl


def describe(r):
    """Everything a failing assertion should show about a client run."""
    out = r.stdout.decode(errors="replace") if isinstance(r.stdout, bytes) else (r.stdout or "")
    err = r.stderr.decode(errors="replace") if isinstance(r.stderr, bytes) else (r.stderr or "")
    return f"exit {r.returncode}\n--- stdout ---\n{out[-6000:]}\n--- stderr ---\n{err[-6000:]}"


def run_client(args, input=None, timeout=CLIENT_TIMEOUT, **kw):
    try:
        return run([str(a) for a in args], input=input, timeout=timeout, **kw)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"client {args[0]} did not finish within {timeout}s:\n"
                             f"{(e.stdout or b'').decode(errors='replace')[-3000:]}\n"
                             f"{(e.stderr or b'').decode(errors='replace')[-3000:]}") from None


def output(r):
    """stdout + stderr of a run, as text."""
    return (r.stdout or b"").decode(errors="replace") + (r.stderr or b"").decode(errors="replace")


# ---- the spool, through `postern queue` ----

_COUNT = re.compile(r"^(\d+) messages?$")


def queue_ids(server):
    """Queue ids from `postern queue list`: one line per message (id
    first) with its recipients' lines indented under it, then a last line
    "N messages" whose N must match."""
    r = server.queue("list")
    assert r.returncode == 0, "postern queue list failed: " + describe(r)
    lines = [l for l in r.stdout.decode(errors="replace").splitlines() if l.strip()]
    assert lines, "postern queue list printed nothing (expected a last line 'N messages')"
    m = _COUNT.match(lines[-1].strip())
    assert m, f"last line of postern queue list is not 'N messages': {lines[-1]!r}"
    ids = [l.split()[0] for l in lines[:-1] if not l.startswith(" ")]
    assert len(ids) == int(m.group(1)), f"queue list shows {len(ids)} ids but says {lines[-1]!r}"
    return ids


def _key(k):
    return re.sub(r"[\s-]+", "_", k.strip().lower())


def queue_show(server, qid):
    """`postern queue show ID`: envelope "key: value" lines, a blank
    line, then the content.  Returns (envelope, content) where envelope
    maps a normalised key (lower case, '_' for '-' and spaces) to the list
    of its values (rcpt repeats, one line per recipient).  Keys used here:
    id, mail_from, rcpt, auth_user, auth_mech (absent when unauthenticated)."""
    r = server.queue("show", qid)
    assert r.returncode == 0, f"postern queue show {qid} failed: " + describe(r)
    text = r.stdout.decode(errors="replace")
    head, sep, content = text.partition("\n\n")
    assert sep, f"postern queue show {qid}: no blank line between envelope and content:\n{text[:2000]}"
    env = {}
    for line in head.splitlines():
        k, colon, v = line.partition(":")
        assert colon, f"postern queue show {qid}: envelope line is not 'key: value': {line!r}"
        env.setdefault(_key(k), []).append(v.strip())
    return env, content


def env_value(env, *names):
    """The first value among the given envelope keys (normalised)."""
    for n in names:
        if _key(n) in env:
            return env[_key(n)][0]
    raise AssertionError(f"envelope has none of {names}: {env}")


def header(content, name):
    """The first header field called name, unfolded (RFC 5322 2.2.3)."""
    head = re.split(r"\r?\n\r?\n", content, maxsplit=1)[0]
    unfolded = re.sub(r"\r?\n[ \t]+", " ", head)
    for line in unfolded.splitlines():
        k, colon, v = line.partition(":")
        if colon and k.strip().lower() == name.lower():
            return v.strip()
    return None


def assert_spooled(server, before, mark, user=USER, mech=None, keyword="ESMTPSA",
                   rcpt=REMOTE_RCPT, sender=SENDER):
    """Exactly one message arrived since `before` (a list of queue ids);
    it is ours (mark in the content), its first line is the Received
    header the server prepended with the RFC 3848 keyword and the queue
    id, and its envelope names the authenticated user (and mechanism)."""
    after = queue_ids(server)
    new = [i for i in after if i not in before]
    assert len(new) == 1, f"expected exactly one new message in the queue, got {new} (before {before})"
    assert set(before) <= set(after), f"messages vanished from the queue: before {before}, after {after}"
    qid = new[0]
    env, content = queue_show(server, qid)
    assert env_value(env, "id") == qid, f"queue show {qid} names another id: {env}"
    assert mark in content, f"message {qid} is not ours ({mark} missing):\n{content[:1500]}"
    assert content.startswith("Received:"), f"message {qid} does not start with Received:\n{content[:600]}"
    rec = header(content, "Received")
    assert re.search(rf"\bwith {keyword}\b", rec), f"Received lacks 'with {keyword}': {rec!r}"
    assert qid in rec, f"Received does not carry the queue id {qid}: {rec!r}"
    assert f"Body of {mark}." in content, f"body missing from {qid}:\n{content[:1500]}"
    if user is None:
        for k in ("auth_user", "auth_mech"):
            vals = [v for v in env.get(k, []) if v.lower() not in ("", "-", "none", "(none)")]
            assert not vals, f"unauthenticated message {qid} has {k} {vals}"
    else:
        got = env_value(env, "auth_user")
        assert got == user, f"envelope of {qid} says authenticated user {got!r}, expected {user!r}: {env}"
    if mech is not None:
        got = env_value(env, "auth_mech")
        assert got.upper() == mech.upper(), f"envelope of {qid} says mechanism {got!r}, expected {mech}"
    got = env_value(env, "mail_from")
    assert got.strip("<>") == sender, f"envelope sender of {qid} is {got!r}, expected {sender!r}"
    rcpts = [v.strip("<>") for v in env.get("rcpt", [])]
    assert rcpts == [rcpt], f"envelope recipients of {qid} are {rcpts}, expected [{rcpt!r}]: {env}"
    assert "\n.leading dot, must survive dot-stuffing" in content.replace("\r\n", "\n"), \
        f"dot-stuffed line damaged in {qid}:\n{content[:1500]}"
    assert_log_clean(server, PASSWORD)
    return qid, env, content


def assert_not_spooled(server, before):
    after = queue_ids(server)
    assert after == before, f"the queue changed although nothing may be accepted: before {before}, after {after}"


# ---- the server's log ----

def secret_forms(password, user=USER):
    """The ways a password could leak into a log: as is, and as the
    base64 a PLAIN or LOGIN client sends."""
    b64 = lambda b: base64.b64encode(b).decode()
    return [password, b64(password.encode()), b64(f"\0{user}\0{password}".encode())]


def assert_log_clean(server, password):
    log = server.log_text()
    for form in secret_forms(password):
        assert form not in log, f"the server log contains a secret ({form[:12]}...):\n{log[-3000:]}"


def assert_auth_failure_logged(server, mech, user=USER, password=WRONG_PASSWORD, timeout=5.0):
    """The stable fail2ban line (issue 3, item 9) for this attempt, and
    no trace of the password that was tried."""
    want = re.compile(r"auth failed: client=127\.0\.0\.1 user=" + re.escape(user)
                      + r" mech=" + re.escape(mech) + r"(\s|$)", re.M)
    deadline = time.monotonic() + timeout
    while not want.search(server.log_text()):
        assert time.monotonic() < deadline, \
            f"no 'auth failed: client=127.0.0.1 user={user} mech={mech}' line in the log:\n" \
            + server.log_text()[-3000:]
        time.sleep(0.05)
    assert_log_clean(server, password)
