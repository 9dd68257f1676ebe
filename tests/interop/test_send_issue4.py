"""Issue 4, point by point, as a user switching from msmtp would check
it: the sendmail options, the sysexits codes, config inheritance and
netrc matching, AUTH lines in both forms, every "mechanism unavailable"
code, OAuth-size passwords and AUTH lines, TLS errors that say what
failed (expired, wrong issuer), SNI, the message as it reaches the
server (CRLF, dot-stuffing, BODY=8BITMIME) and the 221 under -v.

The server is a scripted fake that records every byte it received (the
DATA content too) and the SNI name, so the tests can check what the
client sent and what it did NOT send."""
import os
import ssl
import subprocess

import pytest

from clients import describe
from conftest import POSTERN, postern
from fakeserver import ScriptedServer

EX_DATAERR, EX_NOINPUT, EX_UNAVAILABLE, EX_TEMPFAIL = 65, 66, 69, 75
EX_NOPERM, EX_CONFIG, EX_USAGE = 77, 78, 64
PASSWORD = "s3cret-issue4-password"
USER = "alice@example.test"


class Fake(ScriptedServer):
    """One scripted SMTP server on loopback for up to `conns` sessions.
    auth: {MECH: [reply to AUTH, reply to the next line, ...]}."""

    def __init__(self, caps, tls_caps=None, cert=None, implicit=False, auth=None,
                 rcpt=None, mail="250 2.1.0 ok", greeting="220 fake.example.test ESMTP", conns=1):
        self.caps, self.tls_caps, self.cert, self.implicit = caps, tls_caps or caps, cert, implicit
        self.auth, self.rcpt, self.mail, self.greeting = auth or {}, rcpt or {}, mail, greeting
        self.lines, self.data, self.sni, self.raw_auth = [], [], [], []
        super().__init__(conns)

    def _wrap(self, conn):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*self.cert)
        ctx.sni_callback = lambda sock, name, c: self.sni.append(name)
        return ctx.wrap_socket(conn, server_side=True)

    def _session(self, conn):
        tls = self.implicit
        if tls:
            conn = self._wrap(conn)
        f = conn.makefile("rb")
        say = lambda s: conn.sendall(s.encode() + b"\r\n")  # noqa: E731
        say(self.greeting)
        if not self.greeting.startswith("220"):
            return
        script = []
        while True:
            raw = f.readline(20000)
            if not raw:
                return
            line = raw.decode("latin-1").rstrip("\r\n")
            self.lines.append(line)
            if script:
                self.raw_auth.append(raw)
                say(script.pop(0))
                continue
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                caps = ["fake.example.test"] + (self.tls_caps if tls else self.caps)
                say("\r\n".join(f"250-{c}" for c in caps[:-1]) + f"\r\n250 {caps[-1]}")
            elif verb == "STARTTLS" and not tls:
                say("220 2.0.0 go ahead")
                conn = self._wrap(conn)
                f = conn.makefile("rb")
                tls = True
            elif verb == "AUTH":
                self.raw_auth.append(raw)
                replies = list(self.auth.get(line.split(" ")[1].upper(), ["504 5.5.4 no"]))
                say(replies.pop(0))
                script = replies
            elif verb == "MAIL":
                say(self.mail)
            elif verb == "RCPT":
                addr = line.split(":", 1)[1].strip().strip("<>")
                say(self.rcpt.get(addr, "250 2.1.5 ok"))
            elif verb == "DATA":
                say("354 go")
                body = b""
                while True:
                    d = f.readline(100000)
                    if not d or d == b".\r\n":
                        break
                    body += d
                self.data.append(body)
                say("250 2.0.0 queued")
            elif verb == "RSET":
                say("250 2.0.0 ok")
            elif verb == "QUIT":
                say("221 2.0.0 bye")
                return
            else:
                say("500 5.5.1 what")

    def verbs(self):
        return [l.split(" ")[0].upper() for l in self.lines]


@pytest.fixture
def fakes():
    started = []
    yield started
    for f in started:
        f.stop()


def start(fakes, *a, **kw):
    f = Fake(*a, **kw)
    fakes.append(f)
    return f


def conf(tmp_path, port, name="conf", body=None, **kv):
    lines = body or ["account default", "host 127.0.0.1", f"port {port}",
                     f"user {USER}", f"password {PASSWORD}", f"from {USER}"]
    lines += [f"{k} {v}" for k, v in kv.items()]
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n")
    p.chmod(0o600)
    return p


MSG = b"Subject: issue 4\n\nhello\n"


def send(cfg, *args, input=MSG, env=None):
    return postern("send", "-C", str(cfg), *args, input=input, timeout=60,
                   env={**os.environ, **(env or {})})


def err(r):
    return r.stderr.decode(errors="replace")


def openssl(*args):
    r = subprocess.run(["openssl", *map(str, args)], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()


def leaf(pki, d, name, days, ca=None, ca_key=None):
    """A localhost certificate signed by pki's CA (or ca); days < 0: expired."""
    key, csr, crt, ext = d / f"{name}.key", d / f"{name}.csr", d / f"{name}.pem", d / f"{name}.ext"
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", csr, "-subj", "/CN=localhost")
    openssl("x509", "-req", "-in", csr, "-CA", ca or pki.ca, "-CAkey", ca_key or pki.ca_key,
            "-CAcreateserial", "-out", crt, "-days", str(days), "-extfile", ext)
    return str(crt), str(key)


# ---- the sendmail command line ----

def test_sendmail_options_f_F_i_oi_and_arguments(tmp_path, fakes):
    f = start(fakes, ["8BITMIME"], conns=2)
    cfg = conf(tmp_path, f.port, auth="off")
    r = send(cfg, "-i", "-oi", "-f", "envelope@example.test", "-F", 'Ann "the" Admin\nBcc: x@evil.test',
             "bob@example.test", "carol@example.test", input=b"Subject: s\n\n.\nbody\n")
    assert r.returncode == 0, describe(r)
    assert "MAIL FROM:<envelope@example.test>" in f.lines
    assert ["RCPT TO:<bob@example.test>", "RCPT TO:<carol@example.test>"] == \
        [l for l in f.lines if l.startswith("RCPT")]
    body = f.data[0]
    # -F: a quoted display name, '"' escaped, the newline cannot add a header
    assert b'From: "Ann \\"the\\" Admin Bcc: x@evil.test" <envelope@example.test>\r\n' in body, body
    assert b"\r\nBcc:" not in body
    # -i / -oi: a lone dot is content (dot-stuffed on the wire)
    assert b"\r\n..\r\nbody\r\n" in body
    # -r is -f's sendmail synonym
    r = send(cfg, "-r", "other@example.test", "bob@example.test")
    assert r.returncode == 0 and "MAIL FROM:<other@example.test>" in f.lines, describe(r)


@pytest.mark.parametrize("opt", ["-bs", "-bp", "-bd", "-q", "-bi"])
def test_sendmail_modes_not_supported(tmp_path, opt):
    r = send(conf(tmp_path, 1), opt)
    assert r.returncode == EX_USAGE, describe(r)
    assert f"{opt} is not supported" in err(r)


def test_verbose_shows_conversation_and_221(tmp_path, fakes):
    f = start(fakes, ["PIPELINING"])
    r = send(conf(tmp_path, f.port, auth="off"), "-v", "bob@example.test")
    assert r.returncode == 0, describe(r)
    e = err(r)
    assert "--> MAIL FROM:<alice@example.test>" in e and "<-- 250 2.0.0 queued" in e, e
    assert e.rstrip().endswith("<-- 221 2.0.0 bye"), e


def test_without_v_send_is_silent(tmp_path, fakes):
    """Emacs treats any output of sendmail as a failure."""
    f = start(fakes, ["PIPELINING"])
    r = send(conf(tmp_path, f.port, auth="off"), "-oem", "-odb", "bob@example.test")
    assert r.returncode == 0 and r.stdout == b"" and r.stderr == b"", describe(r)


# ---- sysexits ----

def test_exit_codes_for_input_problems(tmp_path, fakes):
    cfg = conf(tmp_path, 1, auth="off")
    r = send(cfg)  # no recipients
    assert r.returncode == EX_DATAERR and "no recipients" in err(r), describe(r)
    r = send(cfg, "not-an-address")
    assert r.returncode == EX_DATAERR and "not-an-address" in err(r), describe(r)
    d = os.open(tmp_path, os.O_RDONLY)  # stdin that cannot be read (a folder)
    try:
        r = subprocess.run([POSTERN, "send", "-C", str(cfg), "bob@example.test"], stdin=d,
                           capture_output=True, timeout=60)
    finally:
        os.close(d)
    assert r.returncode == EX_NOINPUT and "cannot read the message" in err(r), describe(r)


def test_exit_codes_for_config_problems(tmp_path):
    bad = conf(tmp_path, 1, body=["account default", "host 127.0.0.1", "tls maybe"])
    r = send(bad, "bob@example.test")
    assert r.returncode == EX_CONFIG and f"{bad}:3:" in err(r), describe(r)
    nopw = conf(tmp_path, 1, name="nopw", body=["account default", "host 127.0.0.1",
                                                 f"user {USER}", f"from {USER}"])
    r = send(nopw, "bob@example.test", env={"HOME": str(tmp_path)})
    assert r.returncode == EX_CONFIG, describe(r)
    assert f"{nopw}:1: no password for {USER} at 127.0.0.1" in err(r), describe(r)
    r = send(conf(tmp_path, 1, name="noacct"), "-a", "nosuch", "bob@example.test")
    assert r.returncode == EX_CONFIG and "nosuch" in err(r), describe(r)


@pytest.mark.parametrize("where,reply,code", [
    ("greeting", "554 5.3.2 go away", EX_UNAVAILABLE),
    ("greeting", "421 4.3.2 busy", EX_TEMPFAIL),
    ("mail", "550 5.7.1 sender refused", EX_UNAVAILABLE),
    ("mail", "451 4.3.0 try later", EX_TEMPFAIL),
    ("rcpt", "550 5.1.1 no such user", EX_UNAVAILABLE),
    ("rcpt", "450 4.2.1 mailbox busy", EX_TEMPFAIL),
])
def test_exit_codes_for_server_replies(tmp_path, fakes, where, reply, code):
    kw = {"greeting": {"greeting": reply}, "mail": {"mail": reply},
          "rcpt": {"rcpt": {"bob@example.test": reply}}}[where]
    f = start(fakes, ["PIPELINING"], **kw)
    r = send(conf(tmp_path, f.port, auth="off"), "bob@example.test")
    assert r.returncode == code, describe(r)
    assert f"127.0.0.1:{f.port}" in err(r) and reply.split(" ", 1)[0] in err(r), describe(r)
    assert not any(f.data)  # (an empty DATA after 354 under PIPELINING is allowed)


def test_some_recipients_refused_says_which(tmp_path, fakes):
    f = start(fakes, ["PIPELINING"], rcpt={"x@example.test": "550 5.1.1 unknown"})
    r = send(conf(tmp_path, f.port, auth="off"), "bob@example.test", "x@example.test")
    assert r.returncode == EX_UNAVAILABLE, describe(r)
    assert "recipient <x@example.test> refused: 550 5.1.1 unknown" in err(r), describe(r)
    assert "bob@example.test" not in err(r) and len(f.data) == 1


# ---- config: inheritance, default account, netrc ----

def test_account_inheritance_and_default(tmp_path, fakes):
    f = start(fakes, ["PIPELINING"], conns=2)
    cfg = conf(tmp_path, 0, body=[
        "defaults", "auth off", "port 1",
        "account base", "host 127.0.0.1", f"port {f.port}", "from base@example.test",
        "account work : base", "from work@example.test",
        "account default : work"])
    r = send(cfg, "bob@example.test")  # default -> work, host/port from base
    assert r.returncode == 0, describe(r)
    r = send(cfg, "-a", "base", "bob@example.test")
    assert r.returncode == 0, describe(r)
    assert [l for l in f.lines if l.startswith("MAIL")] == \
        ["MAIL FROM:<work@example.test>", "MAIL FROM:<base@example.test>"]


@pytest.mark.parametrize("entry,found", [
    ("machine 127.0.0.1 login {u} password {p} port {port}", True),
    ("machine 127.0.0.1 login {u} password {p}", True),
    ("machine 127.0.0.1 login {u} password {p} port 1", False),
    ("machine 127.0.0.2 login {u} password {p}", False),
    ("machine 127.0.0.1 login someone@else password {p}", False),
])
def test_netrc_matched_on_host_port_user(tmp_path, fakes, entry, found):
    f = start(fakes, ["AUTH CRAM-MD5"], auth={"CRAM-MD5": ["334 PDEyMzQ1QGZha2U+", "235 2.7.0 ok"]})
    cfg = conf(tmp_path, 0, body=["account default", "host 127.0.0.1", f"port {f.port}",
                                  f"user {USER}", f"from {USER}", "auth cram-md5"])
    netrc = tmp_path / ".netrc"
    netrc.write_text(entry.format(u=USER, p=PASSWORD, port=f.port) + "\n")
    netrc.chmod(0o600)
    r = send(cfg, "bob@example.test", env={"HOME": str(tmp_path)})
    if found:
        assert r.returncode == 0, describe(r)
    else:
        assert r.returncode == EX_CONFIG and "no password" in err(r), describe(r)
        assert not f.lines or "AUTH" not in f.verbs()


# ---- negotiation ----

def test_several_auth_lines_and_legacy_form(tmp_path, fakes):
    # CRAM-MD5 only on the second AUTH line, SCRAM only in the AUTH= form
    f = start(fakes, ["AUTH LOGIN", "AUTH CRAM-MD5", "AUTH=SCRAM-SHA-1"],
              auth={"SCRAM-SHA-1": ["454 4.7.0 later"], "CRAM-MD5": ["535 5.7.8 no"]})
    r = send(conf(tmp_path, f.port, auth="on"), "-v", "bob@example.test")
    assert r.returncode == EX_NOPERM, describe(r)
    # strongest first, the 454 moves on, the 535 stops; LOGIN (clear text) never
    assert [l.split(" ")[1] for l in f.lines if l.startswith("AUTH")] == ["SCRAM-SHA-1", "CRAM-MD5"]
    assert "SCRAM-SHA-1 unavailable (454), trying CRAM-MD5" in err(r), describe(r)


@pytest.mark.parametrize("code", ["504 5.5.4 not here", "534 5.7.9 too weak",
                                  "538 5.7.11 encryption required", "454 4.7.0 temporary"])
def test_unavailable_mechanism_codes_try_next(tmp_path, fakes, code):
    f = start(fakes, ["AUTH SCRAM-SHA-256 CRAM-MD5"],
              auth={"SCRAM-SHA-256": [code], "CRAM-MD5": ["334 PDEyMzQ1QGZha2U+", "235 2.7.0 ok"]})
    r = send(conf(tmp_path, f.port, auth="on"), "-v", "bob@example.test")
    assert r.returncode == 0, describe(r)
    assert f"SCRAM-SHA-256 unavailable ({code[:3]}), trying CRAM-MD5" in err(r), describe(r)
    assert len(f.data) == 1


def test_every_mechanism_unavailable_is_tempfail_or_unavailable(tmp_path, fakes):
    f = start(fakes, ["AUTH CRAM-MD5"], auth={"CRAM-MD5": ["454 4.7.0 temporary"]})
    r = send(conf(tmp_path, f.port, auth="on"), "bob@example.test")
    assert r.returncode == EX_TEMPFAIL and "CRAM-MD5" in err(r), describe(r)


def test_oauth_size_config_line_is_read(tmp_path, fakes):
    """A 10 KB token on one config line is no parse error.  (Using it:
    the sasl library caps client passwords at SASL_PASS_MAX, 1024 bytes,
    for every mechanism: see the next test and the wave-2 report.)"""
    f = start(fakes, ["PIPELINING"])
    cfg = conf(tmp_path, f.port, body=["account default", "host 127.0.0.1", f"port {f.port}",
                                       f"user {USER}", f"password {'o' * 10240}",
                                       f"from {USER}", "auth off"])
    r = send(cfg, "bob@example.test")
    assert r.returncode == 0 and len(f.data) == 1, describe(r)


def test_password_too_long_for_plain_is_not_a_refusal(tmp_path, fakes, pki):
    """PLAIN cannot carry it (RFC 4954's 12288-octet line): nothing is
    sent, and the exit code does not claim the server refused it."""
    f = start(fakes, ["STARTTLS"], tls_caps=["AUTH PLAIN"], cert=(pki.cert, pki.key),
              auth={"PLAIN": ["235 2.7.0 ok"]})
    cfg = conf(tmp_path, 0, body=["account default", "host localhost", f"port {f.port}",
                                  f"user {USER}", f"password {'o' * 10240}", f"from {USER}",
                                  "tls on", f"tls_trust_file {pki.ca}", "auth plain"])
    r = send(cfg, "bob@example.test")
    assert r.returncode == EX_UNAVAILABLE, describe(r)
    assert f"localhost:{f.port}: cannot authenticate {USER} with PLAIN" in err(r), describe(r)
    assert "AUTH" not in f.verbs()


# ---- TLS ----

def tls_conf(tmp_path, port, trust, host="localhost", **kv):
    return conf(tmp_path, 0, body=["account default", f"host {host}", f"port {port}",
                                   f"user {USER}", f"password {PASSWORD}", f"from {USER}",
                                   "tls on", "tls_starttls off", f"tls_trust_file {trust}"], **kv)


def test_expired_certificate_named(tmp_path, fakes, pki):
    f = start(fakes, ["AUTH PLAIN"], cert=leaf(pki, tmp_path, "expired", -1), implicit=True,
              auth={"PLAIN": ["235 2.7.0 ok"]})
    r = send(tls_conf(tmp_path, f.port, pki.ca), "bob@example.test")
    assert r.returncode == EX_UNAVAILABLE, describe(r)
    assert f"localhost:{f.port}: TLS certificate verification failed" in err(r), describe(r)
    assert "expired" in err(r), describe(r)
    assert "AUTH" not in f.verbs()


def test_unknown_issuer_named(tmp_path, fakes, pki):
    f = start(fakes, ["AUTH PLAIN"], cert=(pki.cert, pki.key), implicit=True)
    r = send(tls_conf(tmp_path, f.port, pki.other_ca), "bob@example.test")
    assert r.returncode == EX_UNAVAILABLE, describe(r)
    assert "issuer" in err(r), describe(r)
    assert "AUTH" not in f.verbs()


def test_certcheck_off_is_the_way_around(tmp_path, fakes, pki):
    f = start(fakes, ["AUTH PLAIN"], cert=leaf(pki, tmp_path, "expired2", -1), implicit=True,
              auth={"PLAIN": ["235 2.7.0 ok"]})
    r = send(tls_conf(tmp_path, f.port, pki.ca, tls_certcheck="off"), "bob@example.test")
    assert r.returncode == 0, describe(r)


@pytest.mark.parametrize("host,sni", [("localhost", ["localhost"]), ("127.0.0.1", [None])])
def test_sni_sent_for_names_not_addresses(tmp_path, fakes, pki, host, sni):
    """RFC 6066 3: the name goes in SNI; literal addresses are not permitted."""
    f = start(fakes, ["AUTH PLAIN"], cert=(pki.cert, pki.key), implicit=True,
              auth={"PLAIN": ["235 2.7.0 ok"]})
    r = send(tls_conf(tmp_path, f.port, pki.ca, host=host), "bob@example.test")
    assert r.returncode == 0, describe(r)
    assert f.sni == sni


def test_fingerprint_pin_mismatch_refused(tmp_path, fakes, pki):
    f = start(fakes, ["AUTH PLAIN"], cert=(pki.cert, pki.key), implicit=True)
    r = send(tls_conf(tmp_path, f.port, pki.ca, tls_fingerprint="00" * 32), "bob@example.test")
    assert r.returncode == EX_UNAVAILABLE and "fingerprint" in err(r).lower(), describe(r)
    assert "AUTH" not in f.verbs()


# ---- the message on the wire ----

@pytest.mark.parametrize("offer", [True, False])
def test_crlf_dot_stuffing_and_8bitmime(tmp_path, fakes, offer):
    f = start(fakes, ["SIZE 100000"] + (["8BITMIME"] if offer else []))
    msg = "Subject: caf\u00e9\n\n.starts with a dot\nbare\rcr and crlf\r\nend".encode()
    r = send(conf(tmp_path, f.port, auth="off"), "bob@example.test", input=msg)
    assert r.returncode == 0, describe(r)
    (mail,) = [l for l in f.lines if l.startswith("MAIL")]
    assert ("BODY=8BITMIME" in mail) == offer, mail
    assert " SIZE=" in mail
    body = f.data[0]
    assert b"\r\n..starts with a dot\r\nbare\r\ncr and crlf\r\nend\r\n" in body, body
    assert b"\n" not in body.replace(b"\r\n", b"") and b"\r" not in body.replace(b"\r\n", b"")
