"""Issue 12 items 8 and 10, as raw dialogues with `postern serve`.

Item 8: a submission listener takes no AUTH and no MAIL before STARTTLS
(`submission_tls = required`, the default, as Postfix's submission
service with smtpd_tls_security_level=encrypt): EHLO offers STARTTLS
and no AUTH, AUTH (every mechanism, CRAM-MD5 and SCRAM included) and
MAIL get 530 5.7.0.  `submission_tls = optional` restores clear-text
submission; the smtp (MX) listener is not concerned either way.

Item 10: STARTTLS straight after the greeting is accepted (RFC 3207
does not ask for EHLO first); EHLO is still needed after the handshake.
"""
import base64
import hashlib
import hmac

import pytest

from conftest import PASSWORD, USER, PosternServer, postern, started_server
from test_server_dialogue import HOST, Dialogue, b64, client_ctx, plain, queue_ids

NEED_TLS = b"530 5.7.0 Must issue a STARTTLS command first\r\n"
MECHS = ["SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN"]


@pytest.fixture
def optional_server(tmp_path, pki):
    s = started_server(tmp_path / "optional", pki, "submission_tls = optional\n")
    yield s
    s.stop()


def ehlo(d):
    return d.cmd("EHLO client.test")


def cram_md5(d, user=USER, password=PASSWORD):
    """A whole AUTH CRAM-MD5 exchange (RFC 2195); returns the last reply."""
    r = d.one("AUTH CRAM-MD5")
    assert r.startswith(b"334 "), r
    challenge = base64.b64decode(r[4:].strip())
    digest = hmac.new(password.encode(), challenge, hashlib.md5).hexdigest()
    return d.one(b64(f"{user} {digest}"))


def send_message(d, subject):
    """MAIL to a remote address (relay: needs AUTH), DATA; the queue id."""
    assert d.one(f"MAIL FROM:<{USER}>") == b"250 2.1.0 Ok\r\n"
    assert d.one("RCPT TO:<bob@elsewhere.test>") == b"250 2.1.5 Ok\r\n"
    assert d.one("DATA").startswith(b"354 ")
    r = d.one(f"Subject: {subject}\r\n\r\nhello\r\n.")
    assert r.startswith(b"250 2.0.0 Ok: queued as "), r
    return r.split()[-1].decode()


# ---- item 8: submission_tls = required (the default) ----

def test_clear_ehlo_offers_starttls_not_auth(server):
    d = Dialogue(server.submission)
    assert ehlo(d) == [
        f"250-{HOST}\r\n".encode(), b"250-PIPELINING\r\n", b"250-SIZE 26214400\r\n",
        b"250-STARTTLS\r\n", b"250-8BITMIME\r\n", b"250 ENHANCEDSTATUSCODES\r\n"]
    d.close()


@pytest.mark.parametrize("mech", MECHS)
def test_clear_auth_refused(server, mech):
    d = Dialogue(server.submission)
    ehlo(d)
    assert d.one(f"AUTH {mech}") == NEED_TLS
    # the session goes on: STARTTLS still works
    d.starttls(client_ctx(server.pki))
    d.close()
    assert "auth ok" not in server.log_text()


def test_clear_mail_refused(server):
    before = queue_ids(server)
    d = Dialogue(server.submission)
    ehlo(d)
    assert d.one(f"MAIL FROM:<{USER}>") == NEED_TLS
    assert d.one("RCPT TO:<c@example.test>") == b"503 5.5.1 Error: need MAIL command\r\n"
    assert d.one("DATA") == b"503 5.5.1 Error: need MAIL command\r\n"
    # HELO clients too
    assert d.cmd("HELO client.test") == [f"250 {HOST}\r\n".encode()]
    assert d.one(f"MAIL FROM:<{USER}>") == NEED_TLS
    d.close()
    assert queue_ids(server) == before


def test_clear_pipelined_auth_and_mail_refused(server):
    """The case of the issue: a client that skips STARTTLS and pipelines
    CRAM-MD5 and the transaction gets no 334 and no 250."""
    d = Dialogue(server.submission)
    d.send("EHLO client.test\r\nAUTH CRAM-MD5\r\nMAIL FROM:<a@example.test>\r\nQUIT\r\n")
    assert d.reply()[-1] == b"250 ENHANCEDSTATUSCODES\r\n"
    assert d.reply() == [NEED_TLS]
    assert d.reply() == [NEED_TLS]
    assert d.reply() == [b"221 2.0.0 Bye\r\n"]
    d.close()


@pytest.mark.parametrize("how", ["CRAM-MD5", "PLAIN"])
def test_after_starttls_auth_and_mail_work(server, how):
    before = queue_ids(server)
    d = Dialogue(server.submission)
    ehlo(d)
    d.starttls(client_ctx(server.pki))
    assert b"250-AUTH SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN\r\n" in ehlo(d)
    # TLS alone is not authentication: still 530, with the AUTH wording
    assert d.one(f"MAIL FROM:<{USER}>") == b"530 5.7.0 Authentication required\r\n"
    if how == "CRAM-MD5":
        assert cram_md5(d) == b"235 2.7.0 Authentication successful\r\n"
    else:
        assert d.one("AUTH PLAIN " + plain()) == b"235 2.7.0 Authentication successful\r\n"
    qid = send_message(d, "after starttls")
    d.close()
    assert queue_ids(server) == sorted(before + [qid])
    assert "with ESMTPSA id " + qid in server.queue("show", qid).stdout.decode()


def test_after_starttls_wrong_password(server):
    d = Dialogue(server.submission)
    ehlo(d)
    d.starttls(client_ctx(server.pki))
    ehlo(d)
    assert cram_md5(d, password="wrong") == b"535 5.7.8 Authentication credentials invalid\r\n"
    assert d.one(f"MAIL FROM:<{USER}>") == b"530 5.7.0 Authentication required\r\n"
    d.close()


def test_submissions_unaffected(server):
    d = Dialogue(server.submissions, tls_ctx=client_ctx(server.pki))
    assert b"250-AUTH SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN\r\n" in ehlo(d)
    assert cram_md5(d) == b"235 2.7.0 Authentication successful\r\n"
    send_message(d, "submissions")
    d.close()


def test_smtp_listener_unaffected(server):
    """The MX role keeps clear text: AUTH offered without the plaintext
    mechanisms, CRAM-MD5 works, mail to local domains needs no AUTH."""
    d = Dialogue(server.smtp)
    assert ehlo(d) == [
        f"250-{HOST}\r\n".encode(), b"250-PIPELINING\r\n", b"250-SIZE 26214400\r\n",
        b"250-STARTTLS\r\n", b"250-AUTH SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5\r\n",
        b"250-8BITMIME\r\n", b"250 ENHANCEDSTATUSCODES\r\n"]
    assert d.one("MAIL FROM:<a@b.test>") == b"250 2.1.0 Ok\r\n"
    assert d.one("RSET") == b"250 2.0.0 Ok\r\n"
    assert cram_md5(d) == b"235 2.7.0 Authentication successful\r\n"
    send_message(d, "smtp role")
    d.close()


# ---- item 8: submission_tls = optional ----

def test_optional_keeps_clear_text(optional_server):
    s = optional_server
    before = queue_ids(s)
    d = Dialogue(s.submission)
    r = ehlo(d)
    assert b"250-STARTTLS\r\n" in r
    assert b"250-AUTH SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5\r\n" in r
    assert d.one(f"MAIL FROM:<{USER}>") == b"530 5.7.0 Authentication required\r\n"
    # plaintext mechanisms stay behind TLS (plaintext_auth = tls-only)
    assert d.one("AUTH PLAIN " + plain()) == \
        b"538 5.7.11 Encryption required for requested authentication mechanism\r\n"
    assert cram_md5(d) == b"235 2.7.0 Authentication successful\r\n"
    qid = send_message(d, "clear text")
    d.close()
    assert queue_ids(s) == sorted(before + [qid])
    # in clear text: ESMTPA, not ESMTPSA
    assert "with ESMTPA id " + qid in s.queue("show", qid).stdout.decode()


@pytest.mark.parametrize("value, ok", [("required", True), ("optional", True),
                                       ("maybe", False), ("", False), ("Required", False)])
def test_check_values(tmp_path, pki, value, ok):
    s = PosternServer(tmp_path / "srv", pki, extra_conf=f"submission_tls = {value}\n")
    s.add_user(USER, PASSWORD)
    r = postern("serve", "-c", str(s.conf), "--check")
    line = len(s.conf.read_text().splitlines())
    if ok:
        assert r.returncode == 0, r.stderr.decode()
    else:
        assert r.returncode == 1
        assert r.stderr.decode() == (f"postern: {s.conf}:{line}: submission_tls: '{value}' "
                                     "is not required or optional\n")


# ---- item 10: STARTTLS before EHLO ----

@pytest.mark.parametrize("listener", ["submission", "smtp"])
def test_starttls_before_ehlo(server, listener):
    d = Dialogue(getattr(server, listener))
    d.starttls(client_ctx(server.pki))
    # EHLO is still required after the handshake
    assert d.one(f"MAIL FROM:<{USER}>") == b"503 5.5.1 Error: send HELO/EHLO first\r\n"
    assert b"250-AUTH SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN\r\n" in ehlo(d)
    assert d.one("STARTTLS") == b"503 5.5.1 Error: TLS already active\r\n"
    assert d.one("AUTH PLAIN " + plain()) == b"235 2.7.0 Authentication successful\r\n"
    send_message(d, "starttls first")
    d.close()


def test_starttls_before_ehlo_discards_injection(server):
    """CVE-2011-0411 holds without EHLO too."""
    d = Dialogue(server.submission)
    d.send("STARTTLS\r\nEHLO evil.test\r\n")
    assert d.reply() == [b"220 2.0.0 Ready to start TLS\r\n"]
    d.sock = client_ctx(server.pki).wrap_socket(d.sock, server_hostname="localhost")
    d.f = d.sock.makefile("rb")
    assert d.one("NOOP") == b"250 2.0.0 Ok\r\n"
    assert d.one(f"MAIL FROM:<{USER}>") == b"503 5.5.1 Error: send HELO/EHLO first\r\n"
    d.close()
    assert "discarded 16 bytes sent after STARTTLS" in server.log_text()
