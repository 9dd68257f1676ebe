"""Raw SMTP dialogues with `postern serve`: exact reply lines (CRLF
included) for every reply code of issue 3, STARTTLS injection
(CVE-2011-0411), the SMTP smuggling variants, overlong lines, limits.

Every test ends by checking that the server still answers a new
connection (the `alive` fixture), since a crash is the usual way such
input goes wrong."""
import clients
import base64
import socket
import ssl

import pytest

from conftest import PASSWORD, USER, PosternServer, started_server

HOST = "mail.example.test"
TIMEOUT = 10


class Dialogue:
    """One SMTP connection: write bytes, read whole replies as raw lines."""

    def __init__(self, port, host="127.0.0.1", tls_ctx=None, greet=True):
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        if tls_ctx is not None:
            self.sock = tls_ctx.wrap_socket(self.sock, server_hostname="localhost")
        self.f = self.sock.makefile("rb")
        self.greeting = self.reply() if greet else None

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def reply(self):
        """All lines of one reply, each with its CRLF."""
        lines = []
        while True:
            line = self.f.readline(20000)
            assert line, f"connection closed; got so far: {lines!r}"
            lines.append(line)
            if line[3:4] != b"-":
                return lines

    def cmd(self, line):
        self.send(line + "\r\n" if isinstance(line, str) else line + b"\r\n")
        return self.reply()

    def one(self, line):
        """Sends a command and returns its single-line reply."""
        r = self.cmd(line)
        assert len(r) == 1, r
        return r[0]

    def begin_data(self, sender="a@b.test", rcpt="c@example.test"):
        """MAIL, RCPT and DATA for one local recipient, each accepted."""
        assert self.one(f"MAIL FROM:<{sender}>") == b"250 2.1.0 Ok\r\n"
        assert self.one(f"RCPT TO:<{rcpt}>") == b"250 2.1.5 Ok\r\n"
        assert self.one("DATA").startswith(b"354 ")

    def starttls(self, ctx):
        assert self.one("STARTTLS") == b"220 2.0.0 Ready to start TLS\r\n"
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        self.f = self.sock.makefile("rb")

    def closed(self):
        """True when the server closed the connection (EOF)."""
        try:
            return self.f.readline() == b""
        except (ConnectionResetError, ssl.SSLError):
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def client_ctx(pki):
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    return ctx


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def plain(user=USER, password=PASSWORD):
    return b64(f"\0{user}\0{password}")


def queue_ids(server):
    """The sorted queue ids `postern queue list` shows."""
    return sorted(clients.queue_ids(server))


def check_alive(server):
    d = Dialogue(server.smtp)
    assert d.greeting == [f"220 {HOST} ESMTP postern\r\n".encode()]
    assert d.one("QUIT") == b"221 2.0.0 Bye\r\n"
    d.close()


@pytest.fixture
def alive(server):
    """The server, checked to answer a new connection after the test."""
    yield server
    check_alive(server)
    assert server.proc.poll() is None, server.log_text()


def tls_session(server, pki, authed=True):
    """A submissions (implicit TLS) session after EHLO, optionally authenticated."""
    d = Dialogue(server.submissions, tls_ctx=client_ctx(pki))
    d.cmd("EHLO client.test")
    if authed:
        assert d.one("AUTH PLAIN " + plain()) == b"235 2.7.0 Authentication successful\r\n"
    return d


# ---- greeting, EHLO, HELO, simple commands ----

def test_greeting_and_ehlo_clear(alive):
    # submission_tls = required (default): no AUTH before STARTTLS there
    d = Dialogue(alive.submission)
    assert d.greeting == [f"220 {HOST} ESMTP postern\r\n".encode()]
    assert d.cmd("EHLO client.test") == [
        f"250-{HOST}\r\n".encode(), b"250-PIPELINING\r\n", b"250-SIZE 26214400\r\n",
        b"250-STARTTLS\r\n", b"250-8BITMIME\r\n", b"250 ENHANCEDSTATUSCODES\r\n"]
    d.close()
    d = Dialogue(alive.smtp)
    assert d.greeting == [f"220 {HOST} ESMTP postern\r\n".encode()]
    assert d.cmd("EHLO client.test") == [
        f"250-{HOST}\r\n".encode(), b"250-PIPELINING\r\n", b"250-SIZE 26214400\r\n",
        b"250-STARTTLS\r\n", b"250-AUTH SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5\r\n",
        b"250-8BITMIME\r\n", b"250 ENHANCEDSTATUSCODES\r\n"]
    d.close()


def test_ehlo_after_starttls_recomputes_capabilities(alive, pki):
    d = Dialogue(alive.submission)
    d.cmd("EHLO client.test")
    d.starttls(client_ctx(pki))
    assert d.cmd("EHLO client.test") == [
        f"250-{HOST}\r\n".encode(), b"250-PIPELINING\r\n", b"250-SIZE 26214400\r\n",
        b"250-AUTH SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN\r\n",
        b"250-8BITMIME\r\n", b"250 ENHANCEDSTATUSCODES\r\n"]
    assert d.one("STARTTLS") == b"503 5.5.1 Error: TLS already active\r\n"
    d.close()


def test_implicit_tls_offers_no_starttls(alive, pki):
    d = Dialogue(alive.submissions, tls_ctx=client_ctx(pki))
    assert d.greeting == [f"220 {HOST} ESMTP postern\r\n".encode()]
    r = d.cmd("EHLO client.test")
    assert b"250-STARTTLS\r\n" not in r
    assert b"250-AUTH SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN\r\n" in r
    d.close()


def test_helo_gets_no_extensions_and_cannot_auth(alive, pki):
    d = Dialogue(alive.submissions, tls_ctx=client_ctx(pki))
    assert d.cmd("HELO client.test") == [f"250 {HOST}\r\n".encode()]
    assert d.one("AUTH PLAIN " + plain()) == b"503 5.5.1 Error: send EHLO first\r\n"
    d.close()


def test_simple_commands(alive):
    d = Dialogue(alive.smtp)
    assert d.one("NOOP") == b"250 2.0.0 Ok\r\n"
    assert d.one("noop") == b"250 2.0.0 Ok\r\n"
    assert d.one("RSET") == b"250 2.0.0 Ok\r\n"
    assert d.one("VRFY bob") == b"252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery\r\n"
    assert d.one("HELP").startswith(b"214 2.0.0 ")
    assert d.one("FOO bar") == b"500 5.5.2 Command unrecognized\r\n"
    assert d.one("MAILX FROM:<a@b.test>") == b"500 5.5.2 Command unrecognized\r\n"
    assert d.one("MAIL FROM:<a@b.test>") == b"503 5.5.1 Error: send HELO/EHLO first\r\n"
    assert d.one("EHLO bad\x01name") == b"501 5.5.4 Syntax: EHLO hostname\r\n"
    d.cmd("EHLO client.test")
    assert d.one("RCPT TO:<x@example.test>") == b"503 5.5.1 Error: need MAIL command\r\n"
    assert d.one("DATA") == b"503 5.5.1 Error: need MAIL command\r\n"
    assert d.one("MAIL FROM:<a@b.test>") == b"250 2.1.0 Ok\r\n"
    assert d.one("MAIL FROM:<a@b.test>") == b"503 5.5.1 Error: nested MAIL command\r\n"
    assert d.one("DATA") == b"554 5.5.1 Error: no valid recipients\r\n"
    assert d.one("RSET x") == b"501 5.5.4 Syntax: RSET\r\n"
    assert d.one("QUIT") == b"221 2.0.0 Bye\r\n"
    assert d.closed()


def test_ipv6_listener(tmp_path, pki):
    s = PosternServer(tmp_path / "v6", pki)
    s.host = "::1"
    from conftest import free_port
    s.submission, s.submissions, s.smtp = (free_port("::1") for _ in range(3))
    s.write_conf()
    s.add_user(USER, PASSWORD)
    s.start()
    try:
        d = Dialogue(s.smtp, host="::1")
        assert d.greeting == [f"220 {HOST} ESMTP postern\r\n".encode()]
        d.cmd("EHLO client.test")
        d.begin_data()
        r = d.cmd(b"Subject: v6\r\n\r\nhi\r\n.")
        assert r[0].startswith(b"250 2.0.0 Ok: queued as ")
        qid = r[0].split()[-1].decode()
        shown = s.queue("show", qid).stdout.decode()
        assert "from client.test ([IPv6:::1])" in shown
        d.close()
    finally:
        s.stop()


# ---- MAIL / RCPT / policy ----

def test_mail_before_auth_on_submission(alive, pki):
    d = Dialogue(alive.submission)
    d.cmd("EHLO client.test")
    d.starttls(client_ctx(pki))
    d.cmd("EHLO client.test")
    assert d.one("MAIL FROM:<a@b.test>") == b"530 5.7.0 Authentication required\r\n"
    d.close()
    d = tls_session(alive, pki, authed=False)
    assert d.one("MAIL FROM:<a@b.test>") == b"530 5.7.0 Authentication required\r\n"
    d.close()


def test_relay_denied_unauthenticated(alive):
    d = Dialogue(alive.smtp)
    d.cmd("EHLO client.test")
    assert d.one("MAIL FROM:<a@b.test>") == b"250 2.1.0 Ok\r\n"
    assert d.one("RCPT TO:<bob@elsewhere.test>") == b"554 5.7.1 <bob@elsewhere.test>: Relay access denied\r\n"
    assert d.one("RCPT TO:<carol@EXAMPLE.test>") == b"250 2.1.5 Ok\r\n"
    assert d.one("RCPT TO:<postmaster>") == b"250 2.1.5 Ok\r\n"
    d.close()
    assert "relay denied" in alive.log_text()


def test_address_syntax_and_params(alive, pki):
    d = tls_session(alive, pki)
    assert d.one("MAIL FROM:<a@@b>").startswith(b"501 5.1.7 ")
    assert d.one("MAIL FROM:a@b.test").startswith(b"501 5.1.7 ")
    assert d.one("MAIL TO:<a@b.test>") == b"501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
    assert d.one("MAIL FROM:<a@b.test> SIZE=999999999") == \
        b"552 5.3.4 Message size exceeds fixed maximum message size\r\n"
    assert d.one("MAIL FROM:<a@b.test> FOO=1") == b"555 5.5.4 Unsupported parameter 'FOO'\r\n"
    assert d.one("MAIL FROM:<a@b.test> BODY=9BIT") == b"501 5.5.4 Bad BODY= parameter\r\n"
    # the sender check (sender_login_map's default) comes after the syntax
    assert d.one(f"MAIL FROM:<{USER}> SIZE=100 BODY=8BITMIME AUTH=a+2Bb@b.test") == b"250 2.1.0 Ok\r\n"
    assert d.one("RCPT TO:<bad address>").startswith(b"501 5.1.3 ")
    assert d.one("RCPT TO:<>").startswith(b"501 5.1.3 ")
    assert d.one("RCPT TO:<bob@elsewhere.test>") == b"250 2.1.5 Ok\r\n"
    assert d.one("DATA").startswith(b"354 ")
    r = d.one(b"Subject: t\r\n\r\nhi\r\n.")
    qid = r.split()[-1].decode()
    shown = alive.queue("show", qid).stdout.decode()
    assert "a+b@b.test" in shown, shown     # AUTH= xtext-decoded, kept (authenticated)
    d.close()


def test_auth_param_ignored_when_unauthenticated(alive):
    d = Dialogue(alive.smtp)
    d.cmd("EHLO client.test")
    assert d.one("MAIL FROM:<a@b.test> AUTH=boss@example.test") == b"250 2.1.0 Ok\r\n"
    d.one("RCPT TO:<c@example.test>")
    d.one("DATA")
    qid = d.one(b"Subject: t\r\n\r\nhi\r\n.").split()[-1].decode()
    shown = alive.queue("show", qid).stdout.decode()
    assert "boss@example.test" not in shown
    d.close()


def test_max_recipients(tmp_path, pki):
    s = started_server(tmp_path / "rc", pki, "max_recipients = 2\n")
    try:
        d = Dialogue(s.smtp)
        d.cmd("EHLO client.test")
        d.one("MAIL FROM:<a@b.test>")
        assert d.one("RCPT TO:<a@example.test>") == b"250 2.1.5 Ok\r\n"
        assert d.one("RCPT TO:<b@example.test>") == b"250 2.1.5 Ok\r\n"
        assert d.one("RCPT TO:<c@example.test>") == b"452 4.5.3 Error: too many recipients\r\n"
        d.close()
        check_alive(s)
    finally:
        s.stop()


def first_greeting(s, tries=100):
    """Connects until the server greets (earlier connections may still
    count against the limit for a moment); QUITs and waits for the close."""
    import time
    for _ in range(tries):
        d = Dialogue(s.smtp, greet=False)
        r = d.reply()
        if r[0].startswith(b"220"):
            d.one("QUIT")
            d.closed()
            d.close()
            time.sleep(0.05)
            return r[0]
        d.close()
        time.sleep(0.05)
    return r[0]


def test_connection_limit_per_ip(tmp_path, pki):
    s = started_server(tmp_path / "cl", pki, "max_connections_per_ip = 2\n")
    try:
        # start() probed the ports; wait until those probes are gone
        assert first_greeting(s) == f"220 {HOST} ESMTP postern\r\n".encode()
        a, b = Dialogue(s.smtp), Dialogue(s.smtp)
        assert a.greeting[0].startswith(b"220") and b.greeting[0].startswith(b"220")
        c = Dialogue(s.smtp, greet=False)
        assert c.reply() == [f"421 4.7.0 {HOST} Too many connections\r\n".encode()]
        assert c.closed()
        a.one("QUIT")
        a.close()
        b.close()
        # the slots come back once the sessions are gone
        assert first_greeting(s) == f"220 {HOST} ESMTP postern\r\n".encode()
    finally:
        s.stop()


# ---- AUTH (RFC 4954) ----

def test_auth_plain_success_and_again(alive, pki):
    d = tls_session(alive, pki)
    assert d.one("AUTH PLAIN " + plain()) == b"503 5.5.1 Error: already authenticated\r\n"
    d.close()


def test_auth_plain_without_initial_response(alive, pki):
    d = tls_session(alive, pki, authed=False)
    assert d.one("AUTH PLAIN") == b"334 \r\n"
    assert d.one(plain()) == b"235 2.7.0 Authentication successful\r\n"
    d.close()


def test_auth_wrong_password(alive, pki):
    d = tls_session(alive, pki, authed=False)
    assert d.one("AUTH PLAIN " + plain(password="Wr0ngPassw0rd")) == b"535 5.7.8 Authentication credentials invalid\r\n"
    assert d.one("MAIL FROM:<a@b.test>") == b"530 5.7.0 Authentication required\r\n"
    d.close()
    log = alive.log_text()
    assert f"auth failed: client=127.0.0.1 user={USER} mech=PLAIN" in log
    assert "Wr0ngPassw0rd" not in log and plain(password="Wr0ngPassw0rd") not in log


def test_auth_login_with_initial_response(alive, pki):
    d = tls_session(alive, pki, authed=False)
    assert d.one("AUTH LOGIN " + b64(USER)) == b"334 UGFzc3dvcmQ6\r\n"
    assert d.one(b64(PASSWORD)) == b"235 2.7.0 Authentication successful\r\n"
    d.close()


def test_auth_login_classic(alive, pki):
    d = tls_session(alive, pki, authed=False)
    assert d.one("AUTH LOGIN") == b"334 VXNlcm5hbWU6\r\n"
    assert d.one(b64(USER)) == b"334 UGFzc3dvcmQ6\r\n"
    assert d.one(b64("nope")) == b"535 5.7.8 Authentication credentials invalid\r\n"
    d.close()


def test_auth_cancel_bad_base64_unknown_mech(alive, pki):
    d = tls_session(alive, pki, authed=False)
    assert d.one("AUTH LOGIN") == b"334 VXNlcm5hbWU6\r\n"
    assert d.one("*") == b"501 5.0.0 Authentication cancelled\r\n"
    assert d.one("AUTH PLAIN not!base64") == b"501 5.5.2 Cannot decode response\r\n"
    assert d.one("AUTH PLAIN") == b"334 \r\n"
    assert d.one("AAA") == b"501 5.5.2 Cannot decode response\r\n"
    assert d.one("AUTH X-UNKNOWN") == b"504 5.5.4 Unrecognized authentication type\r\n"
    assert d.one("AUTH GSSAPI") == b"504 5.5.4 Unrecognized authentication type\r\n"
    assert d.one("AUTH") == b"501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n"
    assert d.one("AUTH CRAM-MD5 " + b64("x")) == b"501 5.7.0 CRAM-MD5 takes no initial response\r\n"
    # "=" is an empty initial response: answered at once, never a 334 prompt
    r = d.one("AUTH PLAIN =")
    assert r[:3] in (b"501", b"535"), r
    d.close()


def test_auth_plaintext_refused_in_clear(alive):
    # the smtp listener: AUTH in clear there (submission needs STARTTLS)
    d = Dialogue(alive.smtp)
    d.cmd("EHLO client.test")
    assert d.one("AUTH PLAIN " + plain()) == \
        b"538 5.7.11 Encryption required for requested authentication mechanism\r\n"
    assert d.one("AUTH LOGIN") == \
        b"538 5.7.11 Encryption required for requested authentication mechanism\r\n"
    # CRAM-MD5 does not send the password: allowed in clear
    assert d.one("AUTH CRAM-MD5").startswith(b"334 ")
    assert d.one("*") == b"501 5.0.0 Authentication cancelled\r\n"
    d.close()


def test_auth_during_transaction(alive, pki):
    d = Dialogue(alive.smtp)
    d.cmd("EHLO client.test")
    d.one("MAIL FROM:<a@b.test>")
    assert d.one("AUTH CRAM-MD5") == b"503 5.5.1 Error: AUTH not permitted during a mail transaction\r\n"
    d.close()


def test_authenticated_submission_received_esmtpsa(alive, pki):
    d = tls_session(alive, pki)
    before = queue_ids(alive)
    d.one("MAIL FROM:<alice@example.test>")
    d.one("RCPT TO:<bob@elsewhere.test>")
    assert d.one("DATA") == b"354 End data with <CR><LF>.<CR><LF>\r\n"
    r = d.one(b"Subject: hello\r\n\r\n..dot-stuffed\r\nbody\r\n.")
    assert r.startswith(b"250 2.0.0 Ok: queued as ")
    qid = r.split()[-1].decode()
    assert queue_ids(alive) == sorted(before + [qid])
    shown = alive.queue("show", qid).stdout.decode()
    assert "with ESMTPSA id " + qid in shown
    assert "for <bob@elsewhere.test>" in shown
    assert "(using TLSv1.3 with cipher " in shown
    assert "\r\n.dot-stuffed\r\n" in shown or "\n.dot-stuffed\n" in shown
    d.close()


# ---- pipelining and STARTTLS injection ----

def test_pipelining_in_order(alive):
    d = Dialogue(alive.smtp)
    d.send("EHLO client.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@elsewhere.test>\r\n"
           "RCPT TO:<c@example.test>\r\nDATA\r\n")
    assert d.reply()[-1] == b"250 ENHANCEDSTATUSCODES\r\n"
    assert d.reply() == [b"250 2.1.0 Ok\r\n"]
    assert d.reply() == [b"554 5.7.1 <x@elsewhere.test>: Relay access denied\r\n"]
    assert d.reply() == [b"250 2.1.5 Ok\r\n"]
    assert d.reply() == [b"354 End data with <CR><LF>.<CR><LF>\r\n"]
    d.send("Subject: p\r\n\r\nhi\r\n.\r\nNOOP\r\n")
    assert d.reply()[0].startswith(b"250 2.0.0 Ok: queued as ")
    assert d.reply() == [b"250 2.0.0 Ok\r\n"]
    d.close()


def test_starttls_injection_discarded(alive, pki):
    d = Dialogue(alive.submission)
    d.cmd("EHLO client.test")
    d.send("STARTTLS\r\nRSET\r\n")
    assert d.reply() == [b"220 2.0.0 Ready to start TLS\r\n"]
    d.sock = client_ctx(pki).wrap_socket(d.sock, server_hostname="localhost")
    d.f = d.sock.makefile("rb")
    # The first reply after the handshake answers NOOP, not the injected RSET.
    assert d.one("NOOP") == b"250 2.0.0 Ok\r\n"
    # The session state was reset: EHLO is needed again.
    assert d.one("MAIL FROM:<a@b.test>") == b"503 5.5.1 Error: send HELO/EHLO first\r\n"
    d.close()
    assert "discarded 6 bytes sent after STARTTLS" in alive.log_text()


# ---- DATA: smuggling, line and size limits ----

SMUGGLE = [b"\n.\n", b"\r\n.\n", b"\n.\r\n", b"\r.\r\n"]


@pytest.mark.parametrize("fake_end", SMUGGLE, ids=["LF.LF", "CRLF.LF", "LF.CRLF", "CR.CRLF"])
def test_smuggling_refused(alive, fake_end):
    d = Dialogue(alive.smtp)
    before = queue_ids(alive)
    d.cmd("EHLO client.test")
    d.begin_data()
    d.send(b"Subject: smuggle\r\n\r\nhello" + fake_end +
           b"MAIL FROM:<evil@b.test>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\nevil\r\n.\r\n")
    r = d.reply()
    assert len(r) == 1 and r[0][:1] == b"5", r
    assert b"bare" in r[0]
    # the smuggled commands never ran: the next reply is to our NOOP
    assert d.one("NOOP") == b"250 2.0.0 Ok\r\n"
    assert queue_ids(alive) == before
    d.close()


def test_data_line_too_long(alive):
    d = Dialogue(alive.smtp)
    before = queue_ids(alive)
    d.cmd("EHLO client.test")
    d.begin_data()
    d.send(b"Subject: long\r\n\r\n" + b"x" * 1200 + b"\r\n.\r\n")
    assert d.reply() == [b"554 5.6.0 Message refused: line 3 longer than 998 octets\r\n"]
    assert queue_ids(alive) == before
    # a 998-octet line is fine
    d.begin_data()
    d.send(b"Subject: ok\r\n\r\n" + b"y" * 998 + b"\r\n.\r\n")
    assert d.reply()[0].startswith(b"250 2.0.0 Ok: queued as ")
    d.close()


def test_message_too_big(tmp_path, pki):
    s = started_server(tmp_path / "big", pki, "max_message_size = 2000\n")
    try:
        d = Dialogue(s.smtp)
        d.cmd("EHLO client.test")
        d.begin_data()
        d.send(b"Subject: big\r\n\r\n" + (b"z" * 70 + b"\r\n") * 100 + b".\r\n")
        assert d.reply() == [b"552 5.3.4 Message size exceeds fixed maximum message size\r\n"]
        assert queue_ids(s) == []
        assert d.one("NOOP") == b"250 2.0.0 Ok\r\n"
        d.close()
        check_alive(s)
    finally:
        s.stop()


# ---- overlong command lines, error limit ----

def test_command_line_too_long(alive):
    d = Dialogue(alive.smtp)
    assert d.one("NOOP " + "x" * 600) == b"500 5.5.6 Line too long\r\n"
    assert d.one("NOOP") == b"250 2.0.0 Ok\r\n"
    # 512 octets including CRLF is still fine
    assert d.one("NOOP " + "x" * 505) == b"250 2.0.0 Ok\r\n"
    d.close()


def test_auth_line_limits(alive, pki):
    d = tls_session(alive, pki, authed=False)
    # an AUTH line may be longer than 512 octets (RFC 4954: 12288)
    long_ok = b64("\0" + USER + "\0" + "p" * 900)
    assert d.one("AUTH PLAIN " + long_ok) == b"535 5.7.8 Authentication credentials invalid\r\n"
    assert d.one("AUTH PLAIN " + "A" * 13000) == b"500 5.5.6 Line too long\r\n"
    assert d.one("AUTH PLAIN") == b"334 \r\n"
    assert d.one("B" * 13000) == b"500 5.5.6 Line too long\r\n"
    assert d.one("NOOP") == b"250 2.0.0 Ok\r\n"
    d.close()


def test_too_many_errors(alive):
    d = Dialogue(alive.smtp)
    for _ in range(9):
        assert d.one("BOGUS") == b"500 5.5.2 Command unrecognized\r\n"
    d.send("BOGUS\r\n")
    assert d.reply() == [b"500 5.5.2 Command unrecognized\r\n"]
    assert d.reply() == [f"421 4.7.0 {HOST} Error: too many errors\r\n".encode()]
    assert d.closed()
    d.close()


def test_starttls_quit_regression(alive, pki):
    """Regression: freeing the TLS filter inside its own read callback
    (QUIT after STARTTLS) crashed the server (found by test_probe)."""
    for read_bye in (True, False):
        d = Dialogue(alive.submission)
        d.cmd("EHLO client.test")
        d.starttls(client_ctx(pki))
        d.cmd("EHLO client.test")
        d.send("QUIT\r\n")
        if read_bye:
            assert d.reply() == [b"221 2.0.0 Bye\r\n"]
            assert d.closed()
        d.close()
        check_alive(alive)
