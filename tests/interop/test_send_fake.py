"""`postern send` against a scripted fake SMTP server, for the behaviour
a well-behaved server never provokes: a server (or a man in the middle)
that strips STARTTLS, one offering only PLAIN on a clear connection,
bytes injected behind the 220 to STARTTLS (CVE-2021-22947), a mechanism
the server refuses with 504, recipients refused one by one, and a SIZE
limit.  The fake records every line it received, so the tests can show
what the client did NOT send (no AUTH, no password)."""
import subprocess
import ssl

import pytest

from clients import describe, output
from conftest import postern
from fakeserver import ScriptedServer

EX_UNAVAILABLE, EX_TEMPFAIL, EX_NOPERM = 69, 75, 77
PASSWORD = "s3cret-fake-password"


class FakeSmtp(ScriptedServer):
    """Serves up to `conns` connections one after another on loopback,
    answering from a small script; every socket operation has a timeout,
    so a confused client cannot hang the test."""

    def __init__(self, caps, tls_caps=None, pki=None, inject=b"", reject=(), auth=None,
                 conns=1):
        self.caps, self.tls_caps, self.pki = caps, tls_caps, pki
        self.inject, self.reject, self.auth = inject, set(reject), auth or {}
        self.lines = []
        super().__init__(conns)

    def _session(self, conn):
        f = conn.makefile("rb")
        tls = False

        def say(s):
            conn.sendall(s.encode() if isinstance(s, str) else s)

        say("220 fake.example.test ESMTP\r\n")
        while True:
            raw = f.readline(20000)
            if not raw:
                return
            line = raw.decode("latin-1").rstrip("\r\n")
            self.lines.append(line)
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                caps = self.tls_caps if tls else self.caps
                say("".join(f"250-{c}\r\n" for c in ["fake.example.test"] + caps[:-1])
                    + f"250 {caps[-1]}\r\n")
            elif verb == "STARTTLS" and not tls:
                say(b"220 2.0.0 go ahead\r\n" + self.inject)
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(self.pki.cert, self.pki.key)
                conn = ctx.wrap_socket(conn, server_side=True)
                f = conn.makefile("rb")
                tls = True
            elif verb == "AUTH":
                mech = line.split(" ")[1].upper()
                say(self.auth.get(mech, "504 5.5.4 mechanism not available") + "\r\n")
            elif verb == "MAIL":
                say("250 2.1.0 ok\r\n")
            elif verb == "RCPT":
                addr = line.split(":", 1)[1].strip().strip("<>")
                say("550 5.1.1 no such user\r\n" if addr in self.reject else "250 2.1.5 ok\r\n")
            elif verb == "DATA":
                say("354 go\r\n")
                while True:
                    d = f.readline(20000)
                    if not d or d == b".\r\n":
                        break
                say("250 2.0.0 queued\r\n")
            elif verb == "RSET":
                say("250 2.0.0 ok\r\n")
            elif verb == "QUIT":
                say("221 2.0.0 bye\r\n")
                return
            else:
                say("500 5.5.1 what\r\n")

    def got_auth(self):
        return [l for l in self.lines if l.upper().startswith("AUTH")]


@pytest.fixture
def fakes():
    started = []
    yield started
    for f in started:
        f.stop()


def conf(tmp_path, port, **kv):
    lines = ["account default", "host 127.0.0.1", f"port {port}", "user alice@example.test",
             f"password {PASSWORD}", "from alice@example.test"]
    lines += [f"{k} {v}" for k, v in kv.items()]
    p = tmp_path / "conf"
    p.write_text("\n".join(lines) + "\n")
    p.chmod(0o600)
    return p


MSG = "Subject: fake\n\nhello\n"


def send(cfg, *args):
    return postern("send", "-v", "-C", str(cfg), *args, input=MSG, timeout=60)


def test_no_starttls_offered_refuses(tmp_path, fakes, pki):
    f = FakeSmtp(["AUTH PLAIN LOGIN", "8BITMIME"], pki=pki)
    fakes.append(f)
    r = send(conf(tmp_path, f.port, tls="on", tls_starttls="on", tls_trust_file=pki.ca,
                  auth="on"), "bob@example.test")
    assert r.returncode == EX_UNAVAILABLE, describe(r)
    assert "does not offer STARTTLS" in output(r), describe(r)
    assert f.got_auth() == [] and not any("MAIL" in l for l in f.lines), f.lines
    assert PASSWORD not in " ".join(f.lines)


def test_plain_only_on_clear_connection_gets_no_password(tmp_path, fakes):
    f = FakeSmtp(["AUTH PLAIN LOGIN"], auth={"PLAIN": "235 2.7.0 ok"})
    fakes.append(f)
    r = send(conf(tmp_path, f.port, tls="off", auth="on"), "bob@example.test")
    assert r.returncode == EX_UNAVAILABLE, describe(r)
    assert "send the password in the clear" in output(r), describe(r)
    assert f.got_auth() == [], f.lines
    # "auth plain" with tls on but no TLS possible: refused too
    f2 = FakeSmtp(["AUTH PLAIN"], auth={"PLAIN": "235 2.7.0 ok"})
    fakes.append(f2)
    r = send(conf(tmp_path, f2.port, tls="off", auth="on"), "bob@example.test")
    assert r.returncode == EX_UNAVAILABLE and f2.got_auth() == [], describe(r)


def test_explicit_plain_with_tls_off_is_allowed(tmp_path, fakes):
    """The documented exception: the account names PLAIN and says tls off."""
    f = FakeSmtp(["AUTH PLAIN LOGIN"], auth={"PLAIN": "235 2.7.0 ok"})
    fakes.append(f)
    r = send(conf(tmp_path, f.port, tls="off", auth="plain"), "bob@example.test")
    assert r.returncode == 0, describe(r)
    assert len(f.got_auth()) == 1 and PASSWORD not in output(r), describe(r)


def test_starttls_injection_discarded(tmp_path, fakes, pki):
    # A man in the middle appends a fake EHLO answer behind the 220; if
    # the client read it after the handshake it would see no AUTH at all
    # (and get out of step with the real replies).
    inject = b"250-evil.example.test\r\n250 8BITMIME\r\n"
    f = FakeSmtp(["STARTTLS"], tls_caps=["AUTH PLAIN"], pki=pki, inject=inject,
                 auth={"PLAIN": "235 2.7.0 ok"})
    fakes.append(f)
    r = send(conf(tmp_path, f.port, tls="on", tls_trust_file=pki.ca, auth="on"), "bob@example.test")
    assert r.returncode == 0, describe(r)
    assert "evil" not in output(r) and "discarding" in output(r), describe(r)
    assert [l for l in f.lines if l.startswith("EHLO")] == ["EHLO localhost"] * 2


def test_unavailable_mechanism_tries_next(tmp_path, fakes, pki):
    f = FakeSmtp(["STARTTLS"], tls_caps=["AUTH CRAM-MD5 PLAIN"], pki=pki,
                 auth={"CRAM-MD5": "504 5.5.4 not today", "PLAIN": "235 2.7.0 ok"})
    fakes.append(f)
    r = send(conf(tmp_path, f.port, tls="on", tls_trust_file=pki.ca, auth="on"), "bob@example.test")
    assert r.returncode == 0, describe(r)
    assert "CRAM-MD5 unavailable (504), trying PLAIN" in output(r), describe(r)
    assert [a.split()[1] for a in f.got_auth()] == ["CRAM-MD5", "PLAIN"]


def test_auth_refused_stops(tmp_path, fakes, pki):
    f = FakeSmtp(["STARTTLS"], tls_caps=["AUTH CRAM-MD5 PLAIN"], pki=pki,
                 auth={"CRAM-MD5": "535 5.7.8 bad", "PLAIN": "235 2.7.0 ok"})
    fakes.append(f)
    r = send(conf(tmp_path, f.port, tls="on", tls_trust_file=pki.ca, auth="cram-md5"),
             "bob@example.test")
    # the fake's CRAM-MD5 answers 535 at once (no challenge): refused
    assert r.returncode == EX_NOPERM, describe(r)
    assert len(f.got_auth()) == 1, f.lines
    assert f"127.0.0.1:{f.port}: authentication failed for alice@example.test with CRAM-MD5: 535" \
        in r.stderr.decode(), describe(r)


def test_some_recipients_refused(tmp_path, fakes):
    f = FakeSmtp(["PIPELINING", "8BITMIME"], reject={"nobody@example.test"})
    fakes.append(f)
    r = send(conf(tmp_path, f.port, tls="off", auth="off"), "bob@example.test",
             "nobody@example.test", "carol@example.test")
    assert r.returncode == EX_UNAVAILABLE, describe(r)
    err = r.stderr.decode()
    assert "recipient <nobody@example.test> refused: 550 5.1.1" in err, describe(r)
    assert "bob@example.test> refused" not in err
    # the three RCPTs and DATA went in one write (PIPELINING): all were seen
    assert sum(1 for l in f.lines if l.startswith("RCPT")) == 3
    assert any(l == "DATA" for l in f.lines)


def test_all_recipients_refused_sends_no_data(tmp_path, fakes):
    f = FakeSmtp(["8BITMIME"], reject={"nobody@example.test"})
    fakes.append(f)
    r = send(conf(tmp_path, f.port, tls="off", auth="off"), "nobody@example.test")
    assert r.returncode == EX_UNAVAILABLE, describe(r)
    assert "DATA" not in f.lines, f.lines


def test_size_limit_checked_before_sending(tmp_path, fakes):
    f = FakeSmtp(["SIZE 10"])
    fakes.append(f)
    r = send(conf(tmp_path, f.port, tls="off", auth="off"), "bob@example.test")
    assert r.returncode == EX_UNAVAILABLE, describe(r)
    assert "larger than the server's limit of 10" in r.stderr.decode(), describe(r)
    assert not any(l.startswith("MAIL") for l in f.lines), f.lines


class WrongNamePki:
    """A certificate from the test CA, but for another name."""

    def __init__(self, pki, d):
        self.cert, self.key = d / "wrong.pem", d / "wrong.key"
        ext = d / "wrong.ext"
        ext.write_text("subjectAltName=DNS:wrong.example.test\nextendedKeyUsage=serverAuth\n")
        for args in (["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                      "-keyout", self.key, "-out", d / "wrong.csr", "-subj", "/CN=wrong.example.test"],
                     ["x509", "-req", "-in", d / "wrong.csr", "-CA", pki.ca, "-CAkey", pki.ca_key,
                      "-CAcreateserial", "-out", self.cert, "-days", "2", "-extfile", ext]):
            r = subprocess.run(["openssl", *map(str, args)], capture_output=True, timeout=60)
            assert r.returncode == 0, r.stderr.decode()


def test_certificate_for_another_name_refused(tmp_path, fakes, pki):
    f = FakeSmtp(["STARTTLS"], tls_caps=["AUTH PLAIN"], pki=WrongNamePki(pki, tmp_path),
                 auth={"PLAIN": "235 2.7.0 ok"})
    fakes.append(f)
    r = send(conf(tmp_path, f.port, tls="on", tls_trust_file=pki.ca, auth="on"), "bob@example.test")
    assert r.returncode == EX_UNAVAILABLE, describe(r)
    err = r.stderr.decode()
    assert f"127.0.0.1:{f.port}: TLS certificate verification failed" in err, describe(r)
    assert "mismatch" in err.lower(), describe(r)
    assert f.got_auth() == [] and PASSWORD not in " ".join(f.lines)
