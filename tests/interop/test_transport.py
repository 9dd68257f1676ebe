"""Routes and transports (issue 14 item 3) against real peers, before and
beside the queue runner: tests/tools/deliver_one queues a message in a
spool (as the server's commit pass does) and runs src/deliver/transport.c
once over it, printing one result line per recipient.

Peers: aiosmtpd (relay, MX hosts), Dovecot's LMTP service, a Maildir
read back with Python's mailbox module, dnsmasq for MX records, and a
raw socket that answers the greeting with 421."""
import mailbox
import random
import re
import socket
import ssl
import threading

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult

from aiosmtpd_peer import EXTRA, Upstream
from conftest import free_port, run, tool_path
from dnspeer import dnsmasq  # noqa: F401  (fixture)
from lmtp_peer import DovecotLmtp

MSG = (b"From: Bob <bob@example.org>\r\nTo: x@remote.test\r\nSubject: transport\r\n\r\n"
       b"line one\r\n.leading dot\r\n\xc3\xa9t\xc3\xa9 8-bit\r\n")
FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def deliver(tmp_path, conf, rcpts, frm="bob@example.org", count=1, user=None, eight=True,
            msg=MSG, timeout=90):
    """Writes conf (spool = spool added), queues msg count times, delivers.
    Returns (results: list of dicts, stdout)."""
    cf = tmp_path / "deliver.conf"
    cf.write_text("spool = spool\nlocal_domains = example.test\nhostname = postern.test\n" + conf)
    args = [tool_path("deliver", "deliver_one"), str(cf), "-q", "-n", str(count)]
    if user:
        args += ["-u", user]
    if eight:
        args += ["-8"]
    r = run(args + [frm, *rcpts], input=msg, timeout=timeout)
    out = r.stdout.decode()
    assert r.returncode == 0, out + r.stderr.decode()
    assert out.rstrip().endswith("done"), out
    res = []
    for line in out.splitlines():
        if line.startswith("result "):
            _, qid, rcpt, rest = line.split(" ", 3)
            d = {k: v[1:-1] if v.startswith('"') else v for k, v in FIELD.findall(rest)}
            d.update(id=qid, rcpt=rcpt)
            res.append(d)
    return res, out


def by_rcpt(res):
    return {r["rcpt"]: r for r in res}


# ---- relay ----

def test_relay_messages_share_one_connection_and_pass_auth_and_content(tmp_path):
    with Upstream(auth=True) as up:
        res, out = deliver(tmp_path, f"relay_host = [127.0.0.1]:{up.port}\nrelay_tls = none\n",
                           ["x@remote.test", "y@remote.test"], count=3, user="alice")
    assert len(res) == 6 and all(r["class"] == "ok" for r in res), out
    assert all(r["route"] == "relay" for r in res)
    # the 2nd and 3rd messages went over the connection the 1st left idle
    assert [r["reused"] for r in res] == ["no", "no", "yes", "yes", "yes", "yes"], out
    assert len(up.messages) == 3
    for m in up.messages:
        assert m.content == MSG            # byte for byte, dot-stuffing undone by the peer
        assert m.rcpts == ["x@remote.test", "y@remote.test"]
    # RFC 4954 section 5: the submitter's identity; RFC 1870 SIZE; RFC 6152 BODY
    assert all("AUTH=alice" in line and f"SIZE={len(MSG)}" in line and "BODY=8BITMIME" in line
               for line in up.mail_lines), up.mail_lines


def test_relay_unknown_submitter_sends_auth_empty(tmp_path):
    with Upstream(auth=True) as up:
        res, out = deliver(tmp_path, f"relay_host = [127.0.0.1]:{up.port}\nrelay_tls = none\n",
                           ["x@remote.test"], eight=False)
    assert res[0]["class"] == "ok", out
    assert "AUTH=<>" in up.mail_lines[0] and "BODY" not in up.mail_lines[0]


def test_relay_required_tls_without_starttls_is_deferred_not_sent_in_clear(tmp_path):
    with Upstream() as up:
        res, out = deliver(tmp_path, f"relay_host = [127.0.0.1]:{up.port}\n",
                           ["x@remote.test"])
    r = res[0]
    assert r["class"] == "temporary" and r["stage"] == "tls", out
    assert "STARTTLS" in r["reply"], out
    assert up.messages == []


def _tls_ctx(pki):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(pki.cert), str(pki.key))
    return ctx


def test_relay_required_tls_with_trust_file(tmp_path, pki):
    with Upstream(starttls_ctx=_tls_ctx(pki)) as up:
        res, out = deliver(tmp_path, f"relay_host = [127.0.0.1]:{up.port}\n"
                           f"relay_tls_trust_file = {pki.ca}\n",
                           ["x@remote.test"])
        # an untrusted CA: the certificate check fails, nothing is sent
        other = tmp_path / "other"
        other.mkdir()
        res2, out2 = deliver(other, f"relay_host = [127.0.0.1]:{up.port}\n"
                             f"relay_tls_trust_file = {pki.other_ca}\n", ["x@remote.test"])
    assert res[0]["class"] == "ok", out
    assert res[0]["tls"].startswith("TLSv1."), out
    assert up.messages[0].tls
    assert res2[0]["class"] == "temporary" and res2[0]["stage"] == "tls", out2
    assert "certificate" in res2[0]["reply"], out2
    assert len(up.messages) == 1


class _StripSmtp(SMTP):
    """aiosmtpd refuses AUTH= on MAIL (555): drop it, as aiosmtpd_peer does."""

    async def smtp_MAIL(self, arg):
        await super().smtp_MAIL(EXTRA.sub("", arg) if arg else arg)


class _AuthController(Controller):
    """aiosmtpd that accepts one USER/PASSWORD with PLAIN or LOGIN."""

    def __init__(self, user, password, tls_ctx):
        self.user, self.password = user.encode(), password.encode()
        self.tls_ctx = tls_ctx
        self.port = free_port()
        self.messages = []
        outer = self

        class H:
            async def handle_DATA(self, server, session, envelope):
                outer.messages.append(envelope)
                return "250 2.0.0 Ok"
        super().__init__(H(), hostname="127.0.0.1", port=self.port)

    def check(self, server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == self.user and auth_data.password == self.password
        # handled=False: aiosmtpd then answers 535 itself
        return AuthResult(success=ok, handled=False)

    def factory(self):
        return _StripSmtp(self.handler, authenticator=self.check, auth_required=True,
                          tls_context=self.tls_ctx, require_starttls=True)


def test_relay_auth_right_and_wrong_password(tmp_path, pki):
    up = _AuthController("relayuser", "s3cret pass", _tls_ctx(pki))
    up.start()
    try:
        good = tmp_path / "good"
        good.mkdir()
        (good / "creds").write_text("relayuser s3cret pass\n")
        bad = tmp_path / "bad"
        bad.mkdir()
        (bad / "creds").write_text("relayuser wrong\n")
        conf = (f"relay_host = [127.0.0.1]:{up.port}\nrelay_tls_trust_file = {pki.ca}\n"
                "relay_credentials = creds\n")
        res, out = deliver(good, conf, ["x@remote.test"])
        res2, out2 = deliver(bad, conf, ["x@remote.test"])
    finally:
        up.stop()
    assert res[0]["class"] == "ok" and res[0]["mech"] in ("PLAIN", "LOGIN"), out
    assert res[0]["tls"].startswith("TLSv1."), out
    # refused credentials: temporary, at AUTH: the mail waits in the queue
    # for the admin to fix relay_credentials instead of bouncing (issue 14
    # peers brief; Postfix's smtp_sasl_auth_soft_bounce = yes)
    assert res2[0]["class"] == "temporary" and res2[0]["stage"] == "auth", out2
    assert res2[0]["code"] == "535", out2
    assert "wrong" not in out2
    assert len(up.messages) == 1


@pytest.mark.parametrize("value,why", [
    ("relay_host = [127.0.0.1]:99999", "relay_host: '[127.0.0.1]:99999': the port"),
    ("relay_host = a::b", "relay_host: 'a::b' is not HOST"),
    ("relay_tls = maybe", "relay_tls: 'maybe' is not required, opportunistic or none"),
    ("relay_credentials = nosuchfile", "relay_credentials: "),
    ("local_delivery = mbox:/x", "local_delivery: 'mbox:/x' is not maildir:PATH"),
    ("local_delivery = maildir:/m/%x", "only %u, %d and %% may follow"),
    ("dns_resolver = nonsense", "dns_resolver: "),
])
@pytest.mark.parametrize("command", [("serve", "--check"), ("queue", "list")])
def test_bad_delivery_values_name_file_and_line(tmp_path, value, why, command):
    from conftest import postern
    cf = tmp_path / "c.conf"
    cf.write_text("spool = spool\n" + value + "\n")
    r = postern(command[0], "-c", str(cf), *command[1:])
    err = r.stderr.decode()
    assert r.returncode != 0
    assert f"{cf}:2: " in err and why in err, err


def test_credentials_file_malformed(tmp_path):
    from conftest import postern
    (tmp_path / "creds").write_text("onlyuser\n")
    cf = tmp_path / "c.conf"
    cf.write_text("spool = spool\nrelay_credentials = creds\n")
    r = postern("queue", "-c", str(cf), "list")
    err = r.stderr.decode()
    assert r.returncode != 0 and f"{cf}:2: relay_credentials: " in err, err
    assert "USER PASSWORD" in err


# ---- local: Maildir and LMTP ----

def test_maildir_delivery_read_back_with_mailbox(tmp_path):
    md = tmp_path / "mail"
    res, out = deliver(tmp_path, f"local_delivery = maildir:{md}/%u\n",
                       ["alice@example.test", "Bob@EXAMPLE.test", "a%b@example.test",
                        '"x@y"@example.test'])
    r = by_rcpt(res)
    assert r["alice@example.test"]["class"] == "ok", out
    assert r["Bob@EXAMPLE.test"]["class"] == "ok", out
    # never a route: refused, not rewritten
    assert r["a%b@example.test"]["class"] == "permanent", out
    assert r["a%b@example.test"]["enh"] == "5.1.3", out
    assert r['"x@y"@example.test']["class"] == "permanent", out
    for user in ("alice", "bob"):
        box = mailbox.Maildir(str(md / user), create=False)
        msgs = list(box)
        assert len(msgs) == 1
        m = msgs[0]
        assert m["Subject"] == "transport"
        assert m["Return-Path"] == "<bob@example.org>"
        assert m.get_payload(decode=True) == b"line one\n.leading dot\n\xc3\xa9t\xc3\xa9 8-bit\n"
    assert sorted(p.name for p in md.iterdir()) == ["alice", "bob"]


def test_local_domain_without_local_delivery_stays_queued(tmp_path):
    res, out = deliver(tmp_path, "", ["alice@example.test"])
    assert res[0]["class"] == "temporary" and "local_delivery" in res[0]["reply"], out


@pytest.mark.parametrize("via", ["unix", "tcp"])
def test_lmtp_one_result_per_recipient(tmp_path, via):
    with DovecotLmtp(users={"alice": None, "carol": None, "full": "*:storage=1"}) as lm:
        target = f"unix:{lm.socket}" if via == "unix" else f"127.0.0.1:{lm.port}"
        # 4 KB: over the 1 KiB quota of "full"
        res, out = deliver(tmp_path, f"local_delivery = lmtp:{target}\n",
                           ["alice@example.test", "nobody@example.test", "full@example.test",
                            "carol@example.test"], msg=MSG + (b"x" * 78 + b"\r\n") * 50)
        r = by_rcpt(res)
        assert r["alice@example.test"]["class"] == "ok", out
        assert r["carol@example.test"]["class"] == "ok", out
        assert r["nobody@example.test"]["class"] == "permanent", out
        assert r["nobody@example.test"]["stage"] == "rcpt", out
        assert r["nobody@example.test"]["enh"] == "5.1.1", out
        # over quota: refused after the dot, for this recipient only
        assert r["full@example.test"]["class"] != "ok", out
        assert r["full@example.test"]["stage"] == "data", out
        assert len(lm.new_messages("alice")) == 1
        assert len(lm.new_messages("carol")) == 1
        assert lm.new_messages("full") == []
        assert all(x["route"] == "lmtp" for x in res)


# ---- MX ----

class _Refuser:
    """A TCP listener that answers every connection with a 421 greeting."""

    def __init__(self, host, port):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(8)
        self.hits = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.hits += 1
            c.sendall(b"421 4.3.2 busy, try another\r\n")
            c.close()

    def close(self):
        self.sock.close()


def _loopback_ips(n):
    """n distinct random 127/8 addresses (tests run in parallel)."""
    ips = set()
    while len(ips) < n:
        ips.add(f"127.{random.randint(1, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}")
    return sorted(ips)


class _Mx(Controller):
    """An aiosmtpd MX on ip:port, refusing RCPT for local parts in refuse."""

    def __init__(self, ip, port, refuse=()):
        self.refuse, self.messages = set(refuse), []
        outer = self

        class H:
            async def handle_RCPT(self, server, session, envelope, address, options):
                if address.split("@")[0] in outer.refuse:
                    return "550 5.1.1 no such user here"
                envelope.rcpt_tos.append(address)
                return "250 2.1.5 Ok"

            async def handle_DATA(self, server, session, envelope):
                outer.messages.append(envelope)
                return "250 2.0.0 Ok: queued"
        super().__init__(H(), hostname=ip, port=port)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


def test_relay_by_mx_skips_down_and_421_hosts(tmp_path, dnsmasq):
    """relay_host without brackets: the MX hosts of that name, on its port;
    the preferred one refuses connections, the next greets with 421, the
    third takes the mail."""
    down, busy, good = _loopback_ips(3)
    port = free_port()
    dns = dnsmasq(mx=[("relay.test", "mx1.relay.test", 10), ("relay.test", "mx2.relay.test", 20),
                      ("relay.test", "mx3.relay.test", 30)],
                  hosts={"mx1.relay.test": [down], "mx2.relay.test": [busy],
                         "mx3.relay.test": [good]})
    refuser = _Refuser(busy, port)
    try:
        with _Mx(good, port) as mx:
            res, out = deliver(tmp_path, f"relay_host = relay.test:{port}\nrelay_tls = none\n"
                               f"dns_resolver = {dns.server}\n", ["x@remote.test"])
            assert res[0]["class"] == "ok", out
            assert res[0]["remote"] == f"mx3.relay.test[{good}]:{port}", out
            assert len(mx.messages) == 1
    finally:
        refuser.close()
    assert refuser.hits == 1


def test_mx_route_port_25_preferred_down_and_per_recipient_5xx(tmp_path, dnsmasq):
    """The recipient domain's MX on port 25 (the tests run as root): the
    preferred host is down, the second takes one recipient and refuses the
    other with 550 - that recipient's permanent result."""
    down, good = _loopback_ips(2)
    dns = dnsmasq(mx=[("remote.test", "mx1.remote.test", 10),
                      ("remote.test", "mx2.remote.test", 20)],
                  hosts={"mx1.remote.test": [down], "mx2.remote.test": [good]},
                  null_mx=["nomail.test"])
    with _Mx(good, 25, refuse=["ghost"]) as mx:
        res, out = deliver(tmp_path, f"dns_resolver = {dns.server}\n",
                           ["x@remote.test", "ghost@remote.test", "y@nomail.test",
                            "z@nxdomain.test"])
        assert len(mx.messages) == 1 and mx.messages[0].rcpt_tos == ["x@remote.test"]
    r = by_rcpt(res)
    assert r["x@remote.test"]["class"] == "ok", out
    assert r["x@remote.test"]["route"] == "mx" and r["x@remote.test"]["key"] == "mx:remote.test"
    assert r["x@remote.test"]["remote"] == f"mx2.remote.test[{good}]:25", out
    assert r["ghost@remote.test"]["class"] == "permanent", out
    assert r["ghost@remote.test"]["stage"] == "rcpt" and r["ghost@remote.test"]["code"] == "550"
    assert "no such user" in r["ghost@remote.test"]["reply"]
    assert r["y@nomail.test"]["class"] == "permanent" and r["y@nomail.test"]["enh"] == "5.1.10"
    assert r["z@nxdomain.test"]["class"] == "permanent", out


def test_mx_every_host_down_is_temporary_and_names_them(tmp_path, dnsmasq):
    a, b = _loopback_ips(2)
    port = free_port()
    dns = dnsmasq(mx=[("relay.test", "a.relay.test", 10), ("relay.test", "b.relay.test", 20)],
                  hosts={"a.relay.test": [a], "b.relay.test": [b]})
    res, out = deliver(tmp_path, f"relay_host = relay.test:{port}\nrelay_tls = none\n"
                       f"dns_resolver = {dns.server}\n", ["x@remote.test"])
    r = res[0]
    assert r["class"] == "temporary" and r["stage"] == "connect", out
    assert "a.relay.test" in r["reply"] and "b.relay.test" in r["reply"], out


# ---- content integrity ----

def test_damaged_large_message_is_never_sent_whole(tmp_path):
    """A message over 64 KiB lives in msg/ID, read in chunks while it is
    sent; one flipped byte near its end fails the checksum at the last
    chunk, and the connection is dropped before the final dot."""
    big = MSG + (b"z" * 998 + b"\r\n") * 300            # 300 KB
    with Upstream() as up:
        conf = f"relay_host = [127.0.0.1]:{up.port}\nrelay_tls = none\n"
        cf = tmp_path / "deliver.conf"
        cf.write_text("spool = spool\nlocal_domains = example.test\n" + conf)
        res, out = deliver(tmp_path, conf, ["x@remote.test"], msg=big)
        assert res[0]["class"] == "ok" and up.messages[0].content == big, out
        msgdir = tmp_path / "spool" / "msg"
        files = list(msgdir.iterdir())
        assert len(files) == 1
        data = bytearray(files[0].read_bytes())
        data[-100] ^= 0x01
        files[0].write_bytes(bytes(data))
        r = run([tool_path("deliver", "deliver_one"), str(cf), files[0].name], timeout=60)
        out = r.stdout.decode()
        assert r.returncode == 0, out + r.stderr.decode()
        assert "class=temporary stage=local" in out and "checksum" in out, out
        assert len(up.messages) == 1          # the damaged copy never arrived


def test_relay_in_brackets_by_name_resolved_without_mx(tmp_path, dnsmasq):
    """[name]:port: the name's own address (asynchronously, through
    dns_resolver), never its MX hosts."""
    ip, mxip = _loopback_ips(2)
    port = free_port()
    dns = dnsmasq(mx=[("relay.test", "mx.relay.test", 10)],
                  hosts={"relay.test": [ip], "mx.relay.test": [mxip]})
    with _Mx(ip, port) as relay:
        res, out = deliver(tmp_path, f"relay_host = [relay.test]:{port}\nrelay_tls = none\n"
                           f"dns_resolver = {dns.server}\n", ["x@remote.test"])
        assert res[0]["class"] == "ok", out
        assert len(relay.messages) == 1


def test_mx_never_loops_back_to_ourselves(tmp_path, dnsmasq):
    """RFC 5321 5.1: hostname (postern.test here) among the MX hosts: only
    the more preferred ones are tried (a less preferred one would send the
    mail back); when it is the best, the mail bounces as a loop."""
    down, worse = _loopback_ips(2)
    port = free_port()
    dns = dnsmasq(mx=[("loop.test", "postern.test", 10), ("loop.test", "backup.loop.test", 20),
                      ("via.test", "better.via.test", 5), ("via.test", "postern.test", 10),
                      ("via.test", "worse.via.test", 20)],
                  hosts={"postern.test": ["127.0.0.1"], "backup.loop.test": [worse],
                         "better.via.test": [down], "worse.via.test": [worse]})
    with _Mx(worse, port) as backup:
        res, out = deliver(tmp_path, f"relay_host = loop.test:{port}\nrelay_tls = none\n"
                           f"dns_resolver = {dns.server}\n", ["x@remote.test"])
        d2 = tmp_path / "via"
        d2.mkdir()
        res2, out2 = deliver(d2, f"relay_host = via.test:{port}\nrelay_tls = none\n"
                             f"dns_resolver = {dns.server}\n", ["x@remote.test"])
        assert backup.messages == []
    assert res[0]["class"] == "permanent" and res[0]["enh"] == "5.4.6", out
    assert "loops back to myself" in res[0]["reply"], out
    # the better host is down: deferred, never handed to the worse one
    assert res2[0]["class"] == "temporary" and "better.via.test" in res2[0]["reply"], out2
    assert "worse.via.test" not in res2[0]["reply"], out2


def test_relay_on_port_465_is_implicit_tls(tmp_path, pki):
    """relay_tls = required on port 465: TLS from the first byte (RFC 8314)
    and the certificate checked; no STARTTLS exchange (the server has none)."""
    class H:
        messages = []

        async def handle_DATA(self, server, session, envelope):
            H.messages.append(envelope)
            return "250 2.0.0 Ok"
    # the test certificate names 127.0.0.1; port 465 needs root, as the MX tests
    ctl = Controller(H(), hostname="127.0.0.1", port=465, ssl_context=_tls_ctx(pki))
    ctl.start()
    try:
        res, out = deliver(tmp_path, f"relay_host = [127.0.0.1]:465\n"
                           f"relay_tls_trust_file = {pki.ca}\n", ["x@remote.test"])
    finally:
        ctl.stop()
    assert res[0]["class"] == "ok" and res[0]["tls"].startswith("TLSv1."), out
    assert len(H.messages) == 1


class _OnePerConnection(SMTP):
    """Takes one message per connection: a second MAIL gets 421 and the
    connection is closed (as servers with a messages-per-connection limit)."""

    async def smtp_MAIL(self, arg):
        if getattr(self, "_had_mail", False):
            await self.push("421 4.7.0 one message per connection, reconnect")
            self.transport.close()
            return
        self._had_mail = True
        await super().smtp_MAIL(EXTRA.sub("", arg) if arg else arg)


def test_reused_connection_closed_by_the_server_is_replaced(tmp_path):
    class H:
        messages = []

        async def handle_DATA(self, server, session, envelope):
            H.messages.append(envelope)
            return "250 2.0.0 Ok"

    class C(Controller):
        def factory(self):
            return _OnePerConnection(self.handler)
    port = free_port()
    ctl = C(H(), hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        res, out = deliver(tmp_path, f"relay_host = [127.0.0.1]:{port}\nrelay_tls = none\n",
                           ["x@remote.test"], count=3)
    finally:
        ctl.stop()
    assert [r["class"] for r in res] == ["ok"] * 3, out
    assert len(H.messages) == 3
