"""The classic open-relay battery (issue 13 item 5) against the smtp
listener, in raw dialogue: without AUTH, every trick that gets a foreign
recipient past a naive domain check must get 554 5.7.1 (relay denied) or
a 5xx syntax refusal, never 250; honest local recipients (and their case
variants) get 250; an authenticated session may relay.

local_domains = example.test; the server's own address is 127.0.0.1.
Decisions shown here: an IP literal is never local (not even our own
address); a local part with '%', '!' or a quoted '@' is a route and is
refused; a source route before a local mailbox is ignored as RFC 5321
appendix C allows (the mailbox is local, nothing is relayed)."""
import pytest

from conftest import USER, started_server
from test_server_dialogue import Dialogue, client_ctx, plain

RELAY = "relay"
SYNTAX = "syntax"
LOCAL = "local"
UNKNOWN = "unknown"      # a local domain, no such recipient: 550 5.1.1

BATTERY = [
    # plainly foreign
    ("user@elsewhere.test", RELAY),
    ("user@ELSEWHERE.TEST", RELAY),
    # the percent hack
    ("user%elsewhere.test@example.test", RELAY),
    ("user%elsewhere.test@EXAMPLE.TEST", RELAY),
    ("USER%ELSEWHERE.TEST@Example.Test", RELAY),
    ("user%elsewhere.test%example.test@example.test", RELAY),
    ("user%elsewhere.test@[127.0.0.1]", RELAY),
    # UUCP bang paths
    ("elsewhere.test!user@example.test", RELAY),
    ("ELSEWHERE.TEST!user@EXAMPLE.test", RELAY),
    ("user!elsewhere.test@example.test", RELAY),
    ("example.test!elsewhere.test!user@example.test", RELAY),
    # source routes (RFC 5321 A-d-l) to a foreign mailbox
    ("@example.test:user@elsewhere.test", RELAY),
    ("@EXAMPLE.TEST:user@elsewhere.test", RELAY),
    ("@example.test,@example.test:user@elsewhere.test", RELAY),
    ("@example.test:user%elsewhere.test@example.test", RELAY),
    # quoted local parts carrying an address or a route
    ('"user@elsewhere.test"@example.test', RELAY),
    ('"user@elsewhere.test"@EXAMPLE.TEST', RELAY),
    ('"user%elsewhere.test"@example.test', RELAY),
    ('"elsewhere.test!user"@example.test', RELAY),
    ('"user\\@elsewhere.test"@example.test', RELAY),
    ('"user@elsewhere.test"@[127.0.0.1]', RELAY),
    # IP literals, our own included
    ("user@[127.0.0.1]", RELAY),
    ("user@[127.0.0.2]", RELAY),
    ("user@[IPv6:::1]", RELAY),
    ("user@127.0.0.1", RELAY),
    ("user@localhost", RELAY),
    ("user@mail.example.test", RELAY),          # our hostname, not a local domain
    # a local domain as a suffix or prefix of a foreign one
    ("user@example.test.evil.test", RELAY),
    ("user@EXAMPLE.TEST.EVIL.TEST", RELAY),
    ("user@evilexample.test", RELAY),
    ("user@EvilExample.Test", RELAY),
    ("user@sub.example.test", RELAY),
    ("user@example.testx", RELAY),
    ("user@xexample.test", RELAY),
    ("user@example.tes", RELAY),
    ("user@example", RELAY),
    # trailing dots and other broken domains
    ("user@example.test.", SYNTAX),
    ("user@EXAMPLE.TEST.", SYNTAX),
    ("user@elsewhere.test.", SYNTAX),
    ("user@example.test..", SYNTAX),
    ("user@.example.test", SYNTAX),
    ("user@example..test", SYNTAX),
    ("user@-example.test", SYNTAX),
    ("user@exa_mple.test", SYNTAX),
    ("user@example .test", SYNTAX),
    ("user@[127.0.0.1", SYNTAX),
    ("user@[127.0.0.1].example.test", SYNTAX),
    ("user@[127.0.0.1]@example.test", SYNTAX),
    # two @, escaped @, no domain at all
    ("user@elsewhere.test@example.test", SYNTAX),
    ("user@example.test@elsewhere.test", SYNTAX),
    ("user@@example.test", SYNTAX),
    ("user\\@elsewhere.test@example.test", SYNTAX),
    ("user%elsewhere.test", SYNTAX),
    ("elsewhere.test!user", SYNTAX),
    ('"user@elsewhere.test"', SYNTAX),
    ("postmaster%elsewhere.test", SYNTAX),
    ("@example.test:", SYNTAX),
    ("@elsewhere.test", SYNTAX),
    ("@example.test:user", SYNTAX),
    ("", SYNTAX),                               # the null path is MAIL's only
    # honest local recipients and their case variants
    ("user@example.test", LOCAL),
    ("user@EXAMPLE.TEST", LOCAL),
    ("User@Example.Test", LOCAL),
    ("first.last+tag@example.test", LOCAL),
    # local domain, but never a deliverable local part (not a dot-atom):
    # no such recipient (issue 14, checked at RCPT)
    ('"john smith"@example.test', UNKNOWN),
    ("postmaster", LOCAL),                      # RFC 5321 4.5.1
    ("Postmaster", LOCAL),
    ("@elsewhere.test:user@example.test", LOCAL),   # route ignored: local mailbox
]

# Not in <...>: refused before any address is read.
RAW = [
    b"RCPT TO:user@elsewhere.test",
    b"RCPT TO:<user@elsewhere.test",
    b"RCPT TO:<user@example.test\x00.evil.test>",
    b"RCPT TO:<user@example.test> <user@elsewhere.test>",
    b"RCPT TO:<<user@elsewhere.test>>",
    b"RCPT TO:<user@elsewhere.test>@example.test",
    b"RCPT TO:<user@example.test\xc3\xa9.evil.test>",
]


@pytest.fixture(scope="module")
def srv(tmp_path_factory, pki):
    s = started_server(tmp_path_factory.mktemp("relay"), pki)
    yield s
    s.stop()


def rcpt(srv, line):
    """A fresh anonymous smtp-listener session, MAIL accepted, then line;
    the RCPT reply."""
    d = Dialogue(srv.smtp)
    try:
        d.cmd("EHLO client.test")
        assert d.one("MAIL FROM:<a@b.test>") == b"250 2.1.0 Ok\r\n"
        return d.one(line)
    finally:
        d.close()


@pytest.mark.parametrize("addr,want", BATTERY, ids=[a or "<>" for a, _ in BATTERY])
def test_battery_unauthenticated(srv, addr, want):
    r = rcpt(srv, f"RCPT TO:<{addr}>")
    if want == LOCAL:
        assert r == b"250 2.1.5 Ok\r\n"
    elif want == UNKNOWN:
        assert r.startswith(b"550 5.1.1 <") and r.endswith(b"User unknown\r\n"), r
    elif want == RELAY:
        assert r.startswith(b"554 5.7.1 <") and r.endswith(b">: Relay access denied\r\n"), r
    else:
        assert r.startswith(b"501 5.1.3 Bad recipient address syntax"), r


@pytest.mark.parametrize("line", RAW)
def test_battery_raw_lines(srv, line):
    r = rcpt(srv, line)
    assert r[:1] == b"5" and not r.startswith(b"250"), r


def test_relay_denied_is_logged(srv):
    rcpt(srv, "RCPT TO:<user%elsewhere.test@example.test>")
    assert "relay denied client=127.0.0.1:" in srv.log_text()
    # '%' is not a bare log token: log_quote() quotes the address.
    assert 'rcpt=<"user%elsewhere.test@example.test">' in srv.log_text()


@pytest.mark.parametrize("port", ["smtp", "submission"])
def test_authenticated_may_relay(srv, pki, port):
    """The same addresses after STARTTLS and AUTH: relaying is what an
    authenticated user is allowed (the spool keeps them as written)."""
    d = Dialogue(getattr(srv, port))
    try:
        d.cmd("EHLO client.test")
        d.starttls(client_ctx(pki))
        d.cmd("EHLO client.test")
        assert d.one("AUTH PLAIN " + plain()) == b"235 2.7.0 Authentication successful\r\n"
        assert d.one(f"MAIL FROM:<{USER}>") == b"250 2.1.0 Ok\r\n"
        for addr in ("user@elsewhere.test", "user@[127.0.0.1]", "user@example.test.evil.test"):
            assert d.one(f"RCPT TO:<{addr}>") == b"250 2.1.5 Ok\r\n", addr
        # A route in a local part of a local domain is no way out (issue
        # 14: never reinterpreted as routing): no such local recipient.
        for addr in ("user%elsewhere.test@example.test", '"user@elsewhere.test"@example.test'):
            assert d.one(f"RCPT TO:<{addr}>").startswith(b"550 5.1.1 "), addr
        assert d.one("RCPT TO:<user@example.test.>").startswith(b"501 5.1.3 ")
    finally:
        d.close()
