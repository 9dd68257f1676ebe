"""Sender checks (issue 13 item 4) with Python's smtplib and swaks, real clients,
after STARTTLS or over implicit TLS as real clients authenticate:

- an authenticated user may use as MAIL FROM only what sender_login_map
  grants (wildcard @domain), or by default the login when it is an
  address, else login@ each local domain; otherwise
  553 5.7.1 Sender address not owned by user NAME;
- the null sender is allowed; addresses compare case-insensitively;
- check_header_from = yes applies the same rule to every From address
  at the end of DATA (550 5.7.1); = no (the default) does not;
- the smtp listener checks authenticated sessions too, not anonymous ones;
- a malformed map is a FILE:LINE error for serve --check and at start,
  and SIGHUP rereads the map."""
import contextlib
import signal
import smtplib
import ssl
import time

import pytest

from clients import describe, output, run_client
from conftest import PASSWORD, USER, PosternServer, postern

TIMEOUT = 20
BOB = "bob"                     # a login that is not an address
CAROL = "carol"                 # a login listed in the map
MAP = ("# login  address [address...]\n"
       f"{CAROL}\tcarol@example.org @Team.Test\n"
       "\n"
       f"{CAROL} c.smith@example.org\n")


def make(tmp_path, pki, extra=""):
    s = PosternServer(tmp_path / "srv", pki,
                      extra_conf="local_domains = example.test, other.test\n" + extra)
    for user in (USER, BOB, CAROL):
        s.add_user(user, PASSWORD)
    return s


def started_with_map(tmp_path, pki, extra=""):
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "senders").write_text(MAP)
    return make(tmp_path, pki, "sender_login_map = file:senders\n" + extra).start()


@pytest.fixture
def srv(tmp_path, pki):
    s = started_with_map(tmp_path, pki)
    yield s
    s.stop()


@pytest.fixture
def srv_from(tmp_path, pki):
    s = started_with_map(tmp_path, pki, "check_header_from = yes\n")
    yield s
    s.stop()


def login(server, user, port="submission"):
    """smtplib after TLS: STARTTLS on submission and smtp, implicit TLS
    on submissions; then AUTH PLAIN."""
    ctx = ssl.create_default_context(cafile=str(server.pki.ca))
    if port == "submissions":
        c = smtplib.SMTP_SSL(server.host, server.submissions, timeout=TIMEOUT, context=ctx)
    else:
        c = smtplib.SMTP(server.host, getattr(server, port), timeout=TIMEOUT)
        c.ehlo("client.example.test")
        assert c.starttls(context=ctx)[0] == 220
    c.ehlo("client.example.test")
    c.login(user, PASSWORD)
    return c


@contextlib.contextmanager
def session(server, user, port="submission"):
    """An authenticated smtplib session (login()), QUIT at the end."""
    c = login(server, user, port)
    try:
        yield c
    finally:
        c.quit()


def mail_from(c, sender):
    """The MAIL reply, then RSET so the next sender can be tried."""
    code, text = c.mail(sender)
    c.rset()
    return code, text.decode()


def not_owned(user):
    return 553, f"5.7.1 Sender address not owned by user {user}"


@pytest.mark.parametrize("port", ["submission", "submissions", "smtp"])
def test_default_login_is_address(srv, port):
    with session(srv, USER, port) as c:
        assert mail_from(c, USER) == (250, "2.1.0 Ok")
        assert mail_from(c, USER.upper()) == (250, "2.1.0 Ok")    # case-insensitive
        assert mail_from(c, "") == (250, "2.1.0 Ok")              # null sender: allowed
        for other in ("bob@example.test", "alice@other.test", "alice@example.test.evil.test",
                      "alice@example.org"):
            assert mail_from(c, other) == not_owned(USER), other
    assert f"sender not owned client=127.0.0.1:" in srv.log_text()
    assert f"user={USER} from=<bob@example.test>" in srv.log_text()


def test_default_login_not_address(srv):
    with session(srv, BOB) as c:
        # login@ each local domain
        assert mail_from(c, "bob@example.test") == (250, "2.1.0 Ok")
        assert mail_from(c, "bob@other.test") == (250, "2.1.0 Ok")
        assert mail_from(c, "Bob@Other.Test") == (250, "2.1.0 Ok")
        for other in ("bob@elsewhere.test", "bobby@example.test", "bo@example.test",
                      "alice@example.test", "bob@sub.example.test"):
            assert mail_from(c, other) == not_owned(BOB), other


def test_map_and_wildcard(srv):
    with session(srv, CAROL, "submissions") as c:
        for ok in ("carol@example.org", "c.smith@example.org", "anyone@team.test",
                   "x@TEAM.test", ""):
            assert mail_from(c, ok) == (250, "2.1.0 Ok"), ok
        # a listed login gets its lines only, not the default; @domain
        # is that domain, not its subdomains nor names ending like it
        for other in ("carol@example.test", "x@sub.team.test", "x@evilteam.test",
                      "x@team.test.evil.test", "other@example.org"):
            assert mail_from(c, other) == not_owned(CAROL), other


def test_refused_sender_sends_nothing_and_real_mail_flows(srv):
    with session(srv, BOB) as c:
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            c.sendmail("alice@example.test", ["x@elsewhere.test"], b"Subject: t\r\n\r\nbody\r\n")
        assert e.value.smtp_code == 553
        assert c.sendmail("bob@example.test", ["x@elsewhere.test"],
                          b"From: bob@example.test\r\nSubject: t\r\n\r\nbody\r\n") == {}


def test_anonymous_smtp_listener_not_checked(srv):
    """Without AUTH there is no user: the MX role takes any sender, for
    local recipients."""
    c = smtplib.SMTP(srv.host, srv.smtp, timeout=TIMEOUT)
    try:
        c.ehlo("client.example.test")
        assert c.sendmail("boss@bank.test", ["carol@example.test"],
                          b"From: boss@bank.test\r\n\r\nhi\r\n") == {}
    finally:
        c.quit()


def data(c, sender, msg):
    """MAIL, RCPT, DATA; the reply to the end of data."""
    assert c.mail(sender)[0] == 250
    assert c.rcpt("x@elsewhere.test")[0] == 250
    code, text = c.data(msg.encode())
    return code, text.decode()


FROM_OK = [
    "From: alice@example.test",
    "From: Alice Example <alice@example.test>",
    "From: \"boss@bank.test\" <alice@example.test>",       # a display name is not judged
    "From: =?utf-8?q?Bo=C3=9F?= <ALICE@example.test>",      # encoded word
    "From: alice@example.test (boss@bank.test)",            # a comment is not an address
    "From: alice@example.test,\r\n alice@example.test",     # folded list
    "Subject: no From at all",                               # decision: accepted
]
FROM_BAD = [
    ("From: boss@bank.test", "From header address <boss@bank.test> not owned by user alice@example.test"),
    ("From: Alice <boss@bank.test>", "From header address <boss@bank.test> not owned by user alice@example.test"),
    ("From: alice@example.test, boss@bank.test", "From header address <boss@bank.test> not owned"),
    ("From: friends: alice@example.test, boss@bank.test;", "From header address <boss@bank.test> not owned"),
    ("From : boss@bank.test", "From header address <boss@bank.test> not owned"),
    ("FROM: alice@example.test\r\nFrom: boss@bank.test", "From header address <boss@bank.test> not owned"),
    ("From: <alice@example.test> boss@bank.test", "From header cannot be checked (bad syntax)"),
    ("From: boss@bank.test:;", "From header cannot be checked (bad syntax)"),
    ("From: undisclosed:;", "From header cannot be checked (no address)"),
    ("From: \"alice@example.test", "From header cannot be checked (bad syntax)"),
    ("From: boss", "From header address <boss> cannot be checked"),
]


@pytest.mark.parametrize("header", FROM_OK)
def test_header_from_allowed(srv_from, header):
    with session(srv_from, USER) as c:
        code, text = data(c, USER, header + "\r\nSubject: t\r\n\r\nbody\r\n")
        assert code == 250, text


@pytest.mark.parametrize("header,why", FROM_BAD)
def test_header_from_refused(srv_from, header, why):
    with session(srv_from, USER) as c:
        code, text = data(c, USER, header + "\r\nSubject: t\r\n\r\nbody\r\n")
        assert (code, text[:6]) == (550, "5.7.1 "), text
        assert why in text
        # the session goes on: the next honest message is accepted
        assert data(c, USER, "From: alice@example.test\r\n\r\nok\r\n")[0] == 250


def test_header_from_map_wildcard(srv_from):
    with session(srv_from, CAROL, "submissions") as c:
        assert data(c, "carol@example.org", "From: Team <help@team.test>\r\n\r\nhi\r\n")[0] == 250
        code, text = data(c, "carol@example.org", "From: carol@example.test\r\n\r\nhi\r\n")
        assert (code, text) == (550, "5.7.1 From header address <carol@example.test> not owned by user carol")


def test_header_from_too_long_header(srv_from):
    """The header is read up to 102400 octets; a From hidden after that
    cannot be checked, so the message is refused."""
    with session(srv_from, USER) as c:
        filler = "".join(f"X-Filler-{i}: {'x' * 900}\r\n" for i in range(120))
        code, text = data(c, USER, filler + "From: boss@bank.test\r\n\r\nbody\r\n")
        assert (code, text) == (550, "5.7.1 Header section longer than 102400 octets: From cannot be checked")


def test_header_from_off_by_default(srv):
    with session(srv, USER) as c:
        code, text = data(c, USER, "From: boss@bank.test\r\n\r\nbody\r\n")
        assert code == 250, text


def check(s):
    r = postern("serve", "-c", str(s.conf), "--check")
    return r.returncode, r.stdout.decode(), r.stderr.decode()


@pytest.mark.parametrize("bad,why", [
    ("carol\n", "login 'carol' has no addresses"),
    ("carol carol@\n", "'carol@' is not an address or @domain (empty domain label)"),
    ("carol @\n", "'@' is not an address or @domain"),
    ("carol carol\n", "'carol' is not an address or @domain (missing '@domain')"),
    ("carol @bad..domain\n", "'@bad..domain' is not an address or @domain"),
    ("carol c\x01@example.test\n", "control or non-ASCII byte 0x01"),
])
def test_malformed_map_file_line(tmp_path, pki, bad, why):
    (tmp_path / "srv").mkdir()
    senders = tmp_path / "srv" / "senders"
    senders.write_text("# the map\nbob bob@example.test\n" + bad)
    s = make(tmp_path, pki, "sender_login_map = file:senders\n")
    rc, out, err = check(s)
    assert rc == 1
    assert err.startswith(f"postern: {senders}:3: {why}"), err
    assert err.count("\n") == 1
    # the real start refuses too, before anything listens
    r = postern("serve", "-c", str(s.conf), timeout=30)
    assert r.returncode == 1 and f"{senders}:3: " in r.stderr.decode()


def test_bad_keys(tmp_path, pki):
    for i, (extra, what) in enumerate([
            ("sender_login_map = hash:/etc/senders\n", "sender_login_map: 'hash:/etc/senders' is not file:PATH"),
            ("check_header_from = maybe\n", "check_header_from: 'maybe' is not yes or no"),
            ("sender_login_map = file:nonexistent\n", "nonexistent: No such file or directory")]):
        s = make(tmp_path / str(i), pki, extra)
        rc, out, err = check(s)
        assert rc == 1, extra
        assert what in err, err


def test_sighup_rereads_the_map(srv):
    with session(srv, BOB) as c:
        assert mail_from(c, "bob@team.test") == not_owned(BOB)
    (srv.dir / "senders").write_text(MAP + "bob @team.test\n")
    before = srv.log_text().count("reloaded")
    # the old network process lets go of the listeners when it handles
    # the parent's SIGUSR1, a moment after "reloaded": until then it may
    # still accept a connection, with the old map
    took = srv.log_text().count("a new network process took over")
    srv.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while (srv.log_text().count("reloaded") == before or
           srv.log_text().count("a new network process took over") == took):
        assert time.monotonic() < deadline, "no reload or take-over line"
        time.sleep(0.05)
    with session(srv, BOB) as c:
        assert mail_from(c, "bob@team.test") == (250, "2.1.0 Ok")
        # listed now: the default (bob@ each local domain) no longer applies
        assert mail_from(c, "bob@example.test") == not_owned(BOB)
    # a broken map on reload keeps the running one
    (srv.dir / "senders").write_text("bob\n")
    srv.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "reload failed" not in srv.log_text():
        assert time.monotonic() < deadline, "no reload failure line"
        time.sleep(0.05)
    assert f"{srv.dir / 'senders'}:1: login 'bob' has no addresses" in srv.log_text()
    with session(srv, BOB) as c:
        assert mail_from(c, "bob@team.test") == (250, "2.1.0 Ok")


def swaks(server, sender, header_from):
    """swaks, the admins' SMTP tool: STARTTLS, AUTH PLAIN as USER, then
    a message with the given envelope sender and From header."""
    return run_client(["swaks", "--server", server.host, "--port", server.submission,
                       "--helo", "client.example.test", "--tls", "--tls-verify",
                       "--tls-ca-path", server.pki.ca, "--auth", "PLAIN", "--auth-user", USER,
                       "--auth-password", PASSWORD, "--from", sender, "--to", "x@elsewhere.test",
                       "--header", f"From: {header_from}", "--timeout", "20"])


def test_swaks(srv_from):
    r = swaks(srv_from, USER, f"Alice <{USER}>")
    assert r.returncode == 0, describe(r)
    r = swaks(srv_from, "boss@bank.test", USER)
    assert r.returncode == 23, describe(r)          # swaks: error in MAIL FROM
    assert f"553 5.7.1 Sender address not owned by user {USER}" in output(r), describe(r)
    r = swaks(srv_from, USER, "Boss <boss@bank.test>")
    assert r.returncode == 26, describe(r)          # swaks: error after the data
    assert (f"550 5.7.1 From header address <boss@bank.test> not owned by user {USER}"
            in output(r)), describe(r)
