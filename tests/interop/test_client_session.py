"""The client session as the queue runner will drive it (issue 14 item
2), through tests/tools/smtp_deliver.c, against REAL peers started here
on free loopback ports: Dovecot's LMTP service and aiosmtpd.

- LMTP (RFC 2033): LHLO, one reply per accepted recipient after the
  dot, reported per recipient: delivered, refused at RCPT (unknown
  user, 550 5.1.1), refused after the dot (over quota, 552 5.2.2); over
  TCP and over a UNIX socket.
- opportunistic STARTTLS: used when offered, clear when not; a failed
  handshake is a temporary failure, with no retry in the clear.
- MAIL / RCPT parameters as aiosmtpd saw them: SIZE, BODY=8BITMIME,
  AUTH= (xtext, <> when unknown), DSN's RET/ENVID/NOTIFY/ORCPT only
  to a server that offers DSN.
- relayed content byte for byte (bare LF and CR kept, only dots
  stuffed), where `postern send` normalises the same input to CRLF.
- `postern send` streams: a 50 MB message with the process's peak RSS
  under 30 MB.
"""
import mailbox
import os
import ssl
import subprocess
import threading

import pytest

from aiosmtpd_peer import Upstream
from conftest import run
from lmtp_peer import DovecotLmtp

SENDER = "s@example.test"


def tool():
    build = os.path.dirname(os.path.abspath(os.environ["POSTERN_BIN"]))
    path = os.path.join(build, "tests", "unit", "client", "smtp_deliver")
    assert os.access(path, os.X_OK), f"{path} not built"
    return path


def parse(out):
    """{'rcpt': {addr: fields}, 'message': fields, 'closed': line}"""
    res = {"rcpt": {}, "message": None, "closed": None}
    for line in out.decode().splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "closed":
            res["closed"] = rest
            continue
        words = rest.split(" ")
        if kind == "rcpt":
            addr, words = words[0], words[1:]
        fields = dict(w.split("=", 1) for w in words if "=" in w and w[0].islower())
        fields["text"] = rest
        if kind == "rcpt":
            res["rcpt"][addr] = fields
        elif kind == "message":
            res["message"] = fields
    return res


def deliver(tmp_path, content, *args, rcpts=("r@example.test",)):
    f = tmp_path / "message"
    f.write_bytes(content)
    r = run([tool(), "--from", SENDER, "--file", str(f), *args, *rcpts],
            env=dict(os.environ, SMTP_DELIVER_VERBOSE="1"))
    return r, parse(r.stdout)


def describe(r):
    return f"exit {r.returncode}\nstdout:\n{r.stdout.decode()}\nstderr:\n{r.stderr.decode()}"


# over 1 KiB, for the quota of "full"
MSG = (b"From: s@example.test\r\nSubject: lmtp\r\n\r\n" +
       (b"hello\r\n.dot line\r\n" + b"y" * 70 + b"\r\n") * 30)


# ---- LMTP against Dovecot ----

@pytest.fixture
def lmtp():
    with DovecotLmtp({"alice": None, "full": "*:storage=1"}) as lm:
        yield lm


def test_lmtp_reports_each_recipient(lmtp, tmp_path):
    r, res = deliver(tmp_path, MSG, "--lmtp", "--port", str(lmtp.port),
                     rcpts=("alice@example.test", "bob@example.test", "full@example.test"))
    assert r.returncode == 1, describe(r)
    assert b"LHLO client.test" in r.stderr, describe(r)
    alice, bob, full = (res["rcpt"][f"{u}@example.test"] for u in ("alice", "bob", "full"))
    assert alice["delivered"] == "1" and alice["data"] == "250", describe(r)
    # refused at RCPT: no reply after the dot is counted for it
    assert (bob["delivered"], bob["class"], bob["rcpt"], bob["data"]) == \
        ("0", "permanent", "550", "0"), describe(r)
    # accepted at RCPT, refused after the dot: LMTP's own reply for it
    assert (full["delivered"], full["class"], full["rcpt"], full["data"]) == \
        ("0", "permanent", "250", "552"), describe(r)
    assert "Quota exceeded" in full["text"], describe(r)
    assert res["message"]["ndelivered"] == "1" and res["closed"] == "ok", describe(r)
    # alice's Maildir holds it whole; full's holds nothing
    box = mailbox.Maildir(str(lmtp.maildir("alice")), create=False)
    msgs = list(box)
    assert len(msgs) == 1, lmtp.log()
    assert msgs[0]["Subject"] == "lmtp"
    assert msgs[0].get_payload().replace("\n", "\r\n").encode() == MSG.split(b"\r\n\r\n", 1)[1]
    assert lmtp.new_messages("full") == []


def test_lmtp_over_unix_socket(lmtp, tmp_path):
    r, res = deliver(tmp_path, MSG, "--lmtp", "--unix", str(lmtp.socket),
                     rcpts=("alice@example.test",))
    assert r.returncode == 0, describe(r)
    assert res["rcpt"]["alice@example.test"]["data"] == "250", describe(r)
    assert len(lmtp.new_messages("alice")) == 1, lmtp.log()


# ---- opportunistic STARTTLS against aiosmtpd ----

def server_ctx(pki, max_version=None):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(pki.cert), str(pki.key))
    if max_version:
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        ctx.maximum_version = max_version
    return ctx


def test_opportunistic_uses_starttls_when_offered(pki, tmp_path):
    with Upstream(starttls_ctx=server_ctx(pki)) as up:
        r, res = deliver(tmp_path, MSG, "--port", str(up.port), "--tls", "may")
    assert r.returncode == 0, describe(r)
    assert b"C: STARTTLS" in r.stderr, describe(r)
    assert len(up.messages) == 1 and up.messages[0].tls, describe(r)


def test_opportunistic_goes_on_in_clear_without_starttls(tmp_path):
    with Upstream() as up:
        r, res = deliver(tmp_path, MSG, "--port", str(up.port), "--tls", "may")
    assert r.returncode == 0, describe(r)
    assert b"C: STARTTLS" not in r.stderr, describe(r)
    assert len(up.messages) == 1 and not up.messages[0].tls, describe(r)


def test_required_starttls_not_offered_is_temporary_tls_failure(tmp_path):
    with Upstream() as up:
        r, res = deliver(tmp_path, MSG, "--port", str(up.port), "--tls", "starttls")
    assert r.returncode == 1 and up.messages == [], describe(r)
    # temporary for the queue runner; sendmail's exit stays EX_UNAVAILABLE
    assert res["closed"].startswith("class=temporary stage=tls sysexit=69"), describe(r)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")    # TLS 1.1, on purpose
def test_opportunistic_failed_handshake_is_temporary_no_clear_retry(pki, tmp_path):
    # a server stuck at TLS 1.1: our client requires 1.2 (RFC 8996)
    with Upstream(starttls_ctx=server_ctx(pki, ssl.TLSVersion.TLSv1_1)) as up:
        r, res = deliver(tmp_path, MSG, "--port", str(up.port), "--tls", "may")
    assert r.returncode == 1, describe(r)
    assert res["closed"].startswith("class=temporary stage=tls"), describe(r)
    assert "handshake" in res["closed"], describe(r)
    assert up.messages == [] and len(up.mail_lines) == 0, describe(r)


# ---- MAIL / RCPT parameters ----

DSN_ARGS = ("--auth-param", "a+b@example.test", "--ret", "HDRS", "--envid", "QQ314159",
            "--notify", "SUCCESS,FAILURE", "--orcpt", "rfc822;bob@example.test", "--8bit")
MSG8 = b"Subject: caf\xc3\xa9\r\n\r\n8-bit body \xc3\xa9\r\n"


def test_mail_params_passed_on_to_a_dsn_server(tmp_path):
    with Upstream(dsn=True, auth=True) as up:
        r, res = deliver(tmp_path, MSG8, "--port", str(up.port), *DSN_ARGS)
    assert r.returncode == 0, describe(r)
    assert up.mail_lines == [f"FROM:<{SENDER}> SIZE={len(MSG8)} BODY=8BITMIME "
                             "AUTH=a+2Bb@example.test RET=HDRS ENVID=QQ314159"], describe(r)
    assert up.rcpt_lines == ["TO:<r@example.test> NOTIFY=SUCCESS,FAILURE "
                             "ORCPT=rfc822;bob@example.test"], describe(r)
    assert up.messages[0].content == MSG8


def test_dsn_params_dropped_without_dsn_auth_unknown_is_empty(tmp_path):
    args = list(DSN_ARGS)
    args[1] = ""    # the submitter's identity is unknown: AUTH=<>
    with Upstream(dsn=False, auth=True) as up:
        r, res = deliver(tmp_path, MSG8, "--port", str(up.port), *args)
    assert r.returncode == 0, describe(r)
    assert up.mail_lines == [f"FROM:<{SENDER}> SIZE={len(MSG8)} BODY=8BITMIME AUTH=<>"], \
        describe(r)
    assert up.rcpt_lines == ["TO:<r@example.test>"], describe(r)


def test_no_auth_param_to_a_server_without_auth(tmp_path):
    with Upstream() as up:
        r, res = deliver(tmp_path, MSG, "--port", str(up.port), "--auth-param", "a@example.test")
    assert r.returncode == 0, describe(r)
    assert up.mail_lines == [f"FROM:<{SENDER}> SIZE={len(MSG)}"], describe(r)


def test_8bit_to_a_server_without_8bitmime_is_a_permanent_refusal(tmp_path):
    with Upstream(decode_data=True) as up:   # aiosmtpd then offers no 8BITMIME
        r, res = deliver(tmp_path, MSG8, "--port", str(up.port), "--8bit", "--strict-8bit")
    assert r.returncode == 1 and up.mail_lines == [], describe(r)
    m = res["message"]
    assert m["delivered"] == "0" and m["class"] == "permanent" and "5.6.3" in m["text"], describe(r)


# ---- content: relayed byte for byte, normalised by postern send ----

RAW = (b"From: s@example.test\r\nSubject: raw\r\n\r\n"
       b"bare\nLF\r\n.dot\r\n..two\r\nlone\rCR\r\n\r\n.\r\nend")


def test_relay_passes_content_byte_for_byte(tmp_path):
    with Upstream() as up:
        r, res = deliver(tmp_path, RAW, "--port", str(up.port))
        r2, res2 = deliver(tmp_path, RAW + b"\r\n", "--port", str(up.port))
    assert r.returncode == 0 and r2.returncode == 0, describe(r) + describe(r2)
    # no final CRLF: one is added (and said), nothing else changes
    assert res["message"]["added_crlf"] == "1" and res2["message"]["added_crlf"] == "0"
    assert up.messages[0].content == RAW + b"\r\n"
    assert up.messages[1].content == RAW + b"\r\n"


def test_relay_stuffs_a_dot_after_a_bare_lf(tmp_path):
    """The one exception to byte for byte (smtp/dotstuff.h): a "." after
    a bare LF is stuffed, so that "\\n.\\r\\n" in the content can never end
    the data at a receiver that takes a bare LF as a line end (SMTP
    smuggling).  aiosmtpd un-stuffs only after CRLF: it sees the dot
    doubled.  Content from postern's own spool never has a bare LF."""
    raw = b"Subject: lf-dot\r\n\r\nafter LF\n.\r\nMAIL FROM:<x@evil.test>\r\n"
    with Upstream() as up:
        r, res = deliver(tmp_path, raw, "--port", str(up.port))
    assert r.returncode == 0, describe(r)
    assert len(up.messages) == 1 and len(up.mail_lines) == 1, describe(r)
    assert up.messages[0].content == raw.replace(b"\n.", b"\n..")


def msmtprc(tmp_path, port, pki=None):
    conf = tmp_path / "msmtprc"
    tls = f"tls on\ntls_starttls on\ntls_trust_file {pki.ca}\n" if pki else "tls off\n"
    conf.write_text(f"account default\nhost 127.0.0.1\nport {port}\nauth off\n{tls}"
                    f"from {SENDER}\n")
    conf.chmod(0o600)
    return conf


def test_postern_send_normalises_line_ends(tmp_path):
    with Upstream() as up:
        r = run([os.environ["POSTERN_BIN"], "send", "-C", str(msmtprc(tmp_path, up.port)),
                 "r@example.test"], input=RAW)
    assert r.returncode == 0, describe(r)
    body = up.messages[0].content.split(b"\r\n\r\n", 1)[1]
    assert body == b"bare\r\nLF\r\n.dot\r\n..two\r\nlone\r\nCR\r\n\r\n.\r\nend\r\n", body


# ---- postern send streams ----

SIZE_50MB = 50 * 1024 * 1024
RSS_LIMIT_KB = 30 * 1024


@pytest.mark.perf
@pytest.mark.parametrize("tls", [False, True], ids=["clear", "starttls"])
def test_postern_send_50mb_in_bounded_memory(tmp_path, pki, tls):
    """Also over STARTTLS: the TLS filter's output waits in the socket's
    bounded queue, not in an ever-growing one below it."""
    line = b"x" * 997 + b"\n"
    head = b"From: s@example.test\nSubject: big\n\n"
    nlines = (SIZE_50MB - len(head)) // len(line)
    ctx = server_ctx(pki) if tls else None
    with Upstream(keep_content=False, starttls_ctx=ctx) as up:
        rss = tmp_path / "rss"
        errf = open(tmp_path / "stderr", "w+b")
        p = subprocess.Popen(["/usr/bin/time", "-o", str(rss), "-f", "%M",
                              os.environ["POSTERN_BIN"], "send", "-C",
                              str(msmtprc(tmp_path, up.port, pki if tls else None)),
                              "r@example.test"],
                             stdin=subprocess.PIPE, stdout=errf, stderr=errf)

        def feed():
            p.stdin.write(head)
            for _ in range(nlines):
                p.stdin.write(line)
            p.stdin.close()
        t = threading.Thread(target=feed, daemon=True)
        t.start()
        p.wait(timeout=300)
        t.join(timeout=10)
        errf.seek(0)
        err = errf.read()
        errf.close()
    assert p.returncode == 0, err.decode()
    # LF became CRLF: one more byte per line
    assert len(up.messages) == 1 and up.messages[0].content >= nlines * (len(line) + 1)
    assert up.messages[0].tls == tls
    peak_kb = int(rss.read_text().split()[-1])
    print(f"postern send, 50 MB message: peak RSS {peak_kb} KB")
    assert peak_kb < RSS_LIMIT_KB, f"peak RSS {peak_kb} KB"


def test_unreadable_body_drops_the_connection_without_the_dot(tmp_path):
    """A body source that fails (here: a folder given as the file, read()
    says EISDIR) must never end the DATA: a "." would deliver a partial
    message.  The session drops the connection instead, TEMP at stage
    local."""
    d = tmp_path / "folder"
    d.mkdir()
    with Upstream() as up:
        r = run([tool(), "--from", SENDER, "--file", str(d), "--port", str(up.port),
                 "r@example.test"], env=dict(os.environ, SMTP_DELIVER_VERBOSE="1"))
    res = parse(r.stdout)
    assert r.returncode == 1 and up.messages == [], describe(r)
    assert res["closed"].startswith("class=temporary stage=local sysexit=74"), describe(r)
    assert b"C: .\n" not in r.stderr and b"C: QUIT" not in r.stderr, describe(r)
