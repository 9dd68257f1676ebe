"""`postern send` as an msmtp drop-in (issue 12 item 11): an ~/.msmtprc
that uses every command of msmtp 1.8's manual sends without a word on
stdout or stderr (Emacs, mutt and git take any output as failure), and
each key does what msmtp does: logfile in msmtp's line format, aliases,
set_from_header, tls_fingerprint, tls_cert_file/tls_key_file,
tls_host_override, timeout, source_ip, domain, remove_bcc_headers,
undisclosed_recipients, dsn_notify/dsn_return.  The server is a scripted
fake that records the wire, the peer address and the client
certificate; real msmtp checks that the file is one msmtp accepts."""
import hashlib
import os
import re
import socket
import ssl
import subprocess
import time

import pytest

from clients import describe
from conftest import postern
from fakeserver import ScriptedServer

EX_UNAVAILABLE, EX_TEMPFAIL, EX_CONFIG = 69, 75, 78
PASSWORD = "s3cret-msmtprc"


class Fake(ScriptedServer):
    """An ESMTP server that takes everything, over STARTTLS when pki is
    given (asking for a client certificate), and remembers the lines, the
    peer address, the client certificate and the message."""

    def __init__(self, caps=("PIPELINING", "DSN", "AUTH PLAIN"), pki=None, stall=False, conns=1,
                 reject=()):
        self.caps, self.pki, self.stall, self.reject = list(caps), pki, stall, set(reject)
        self.lines, self.peers, self.data, self.client_cert = [], [], [], None
        super().__init__(conns)

    def _starttls(self, conn):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.pki.cert, self.pki.key)
        ctx.load_verify_locations(self.pki.ca)
        ctx.verify_mode = ssl.CERT_OPTIONAL
        conn = ctx.wrap_socket(conn, server_side=True)
        self.client_cert = conn.getpeercert()
        return conn

    def _session(self, conn):
        self.peers.append(conn.getpeername()[0])
        if self.stall:      # say nothing: the client's timeout must end it
            conn.recv(1)
            return
        f = conn.makefile("rb")
        tls = False
        conn.sendall(b"220 fake.example.test ESMTP\r\n")
        while True:
            raw = f.readline(20000)
            if not raw:
                return
            line = raw.decode("latin-1").rstrip("\r\n")
            self.lines.append(line)
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                caps = self.caps + (["STARTTLS"] if self.pki and not tls else [])
                conn.sendall("".join(f"250-{c}\r\n" for c in ["fake.example.test"] + caps)
                             .encode() + b"250 8BITMIME\r\n")
            elif verb == "STARTTLS":
                conn.sendall(b"220 2.0.0 go ahead\r\n")
                conn = self._starttls(conn)
                f, tls = conn.makefile("rb"), True
            elif verb == "AUTH":
                conn.sendall(b"235 2.7.0 ok\r\n")
            elif verb == "RCPT" and line.split(":", 1)[1].split(">")[0].strip("<") in self.reject:
                conn.sendall(b"550 5.1.1 no such user\r\n")
            elif verb in ("MAIL", "RCPT", "RSET"):
                conn.sendall(b"250 2.0.0 ok\r\n")
            elif verb == "DATA":
                conn.sendall(b"354 go\r\n")
                body = []
                while (d := f.readline(20000)) and d != b".\r\n":
                    body.append(d.decode("latin-1"))
                self.data.append("".join(body))
                conn.sendall(b"250 2.0.0 queued\r\n")
            elif verb == "QUIT":
                conn.sendall(b"221 2.0.0 bye\r\n")
                return

    def cmds(self, verb):
        return [l for l in self.lines if l.upper().startswith(verb)]


@pytest.fixture
def fakes():
    started = []
    yield started
    for f in started:
        f.stop()


def client_cert(pki, d):
    """A client certificate from the test CA (for tls_cert_file)."""
    cert, key = d / "client.pem", d / "client.key"
    for args in (["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                  "-keyout", key, "-out", d / "client.csr", "-subj", "/CN=alice client"],
                 ["x509", "-req", "-in", d / "client.csr", "-CA", pki.ca, "-CAkey", pki.ca_key,
                  "-CAcreateserial", "-out", cert, "-days", "2"]):
        r = subprocess.run(["openssl", *map(str, args)], capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr.decode()
    return cert, key


def fingerprint(pki, algo="sha256"):
    der = ssl.PEM_cert_to_DER_cert(pki.cert.read_text())
    h = hashlib.new(algo, der).hexdigest().upper()
    return ":".join(h[i:i + 2] for i in range(0, len(h), 2))


def write_rc(tmp_path, kv):
    lines = ["# ~/.msmtprc", "defaults", "account work"]
    lines += [f"{k} {v}".rstrip() for k, v in kv.items() if v is not None]
    lines += ["account default : work", ""]
    p = tmp_path / "msmtprc"
    p.write_text("\n".join(lines))
    p.chmod(0o600)
    return p


def basic_rc(tmp_path, port, pki, **over):
    """A small working msmtprc (STARTTLS, AUTH PLAIN) plus the keys under test."""
    kv = {"host": "127.0.0.1", "port": port, "tls": "on", "tls_trust_file": pki.ca,
          "auth": "plain", "user": "alice@example.test", "password": PASSWORD,
          "from": "alice@example.test"}
    kv.update(over)
    return write_rc(tmp_path, kv)


def every_key_rc(tmp_path, port, pki, **over):
    """An msmtprc with every command of msmtp(1) 1.8.23, as people write them."""
    cert, key = client_cert(pki, tmp_path)
    aliases = tmp_path / "aliases"
    aliases.write_text("# msmtp aliases\nroot: bob@example.test, carol@example.test\n"
                       "default: postmaster@example.test\n")
    kv = {
        "eval": "echo timeout 20",
        "host": "127.0.0.1", "port": port, "source_ip": "127.0.0.2",
        "proxy_host": "", "proxy_port": "1080", "socket": "", "timeout": "20",
        "protocol": "smtp", "domain": "client.example.test", "auth": "plain",
        "user": "alice@example.test", "password": PASSWORD,
        "passwordeval": f"echo {PASSWORD}", "ntlmdomain": "WORKGROUP",
        "tls": "on", "tls_starttls": "on", "tls_trust_file": pki.ca,
        "tls_crl_file": "", "tls_fingerprint": fingerprint(pki),
        "tls_key_file": key, "tls_cert_file": cert, "tls_certcheck": "on",
        "tls_priorities": "", "tls_host_override": "mail.example.test",
        "tls_min_dh_prime_bits": "", "from": "alice@example.test",
        "allow_from_override": "on", "dsn_notify": "failure,delay", "dsn_return": "headers",
        "set_from_header": "auto", "set_date_header": "auto", "set_msgid_header": "auto",
        "remove_bcc_headers": "on", "undisclosed_recipients": "off",
        "logfile": tmp_path / "msmtp.log", "logfile_time_format": "",
        "syslog": "off", "aliases": aliases, "auto_from": "off", "maildomain": "",
    }
    kv.update(over)
    return write_rc(tmp_path, kv)


MSG = "To: root\nBcc: hidden@example.test\nSubject: msmtprc\n\nhello\n"


def send(rc, *args, msg=MSG, timeout=60):
    return postern("send", "-C", str(rc), *args, input=msg, timeout=timeout)


def test_every_msmtp_key_is_silent_and_honoured(tmp_path, fakes, pki):
    f = Fake(pki=pki)
    fakes.append(f)
    rc = every_key_rc(tmp_path, f.port, pki)
    # the file is one msmtp itself reads
    m = subprocess.run(["msmtp", "-C", str(rc), "-P", "root"], input=b"", capture_output=True,
                       timeout=60)
    assert m.returncode == 0, m.stderr.decode()
    r = send(rc, "-t")
    assert r.returncode == 0, describe(r)
    assert r.stdout == b"" and r.stderr == b"", describe(r)
    assert f.peers == ["127.0.0.2"]                                 # source_ip
    assert f.cmds("EHLO") == ["EHLO client.example.test"] * 2       # domain
    assert f.client_cert is not None                                # tls_cert_file/key_file
    assert ((("commonName", "alice client"),) in f.client_cert["subject"])
    # aliases: root -> two addresses (envelope only); dsn_notify / dsn_return
    assert f.cmds("MAIL") == ["MAIL FROM:<alice@example.test> RET=HDRS"], f.lines
    assert f.cmds("RCPT") == [f"RCPT TO:<{a}> NOTIFY=FAILURE,DELAY" for a in
                              ("bob@example.test", "carol@example.test", "hidden@example.test")]
    data = f.data[0]
    assert "To: root\r\n" in data and "Bcc" not in data and "hidden" not in data
    assert "From: alice@example.test\r\n" in data and "Date: " in data
    log = (tmp_path / "msmtp.log").read_text()
    assert re.fullmatch(
        r"[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d host=127\.0\.0\.1 tls=on auth=on "
        r"user=alice@example\.test from=alice@example\.test "
        r"recipients=bob@example\.test,carol@example\.test,hidden@example\.test "
        r"mailsize=\d+ exitcode=EX_OK\n", log), log


def test_verbose_names_the_keys_without_effect(tmp_path, fakes, pki):
    f = Fake(pki=pki)
    fakes.append(f)
    rc = every_key_rc(tmp_path, f.port, pki, tls_priorities="NORMAL")
    r = send(rc, "-v", "-t")
    assert r.returncode == 0, describe(r)
    err = r.stderr.decode()
    assert re.search(rf"{re.escape(str(rc))}:\d+: 'tls_priorities' has no effect", err), err
    assert "'ntlmdomain' has no effect" in err, err


def test_unknown_key_is_an_error_with_file_and_line(tmp_path):
    rc = tmp_path / "rc"
    rc.write_text("account default\nhost 127.0.0.1\nlogfil /tmp/x\n")
    rc.chmod(0o600)
    r = send(rc, "bob@example.test")
    assert r.returncode == EX_CONFIG, describe(r)
    assert f"{rc}:3: unknown command 'logfil'" in r.stderr.decode(), describe(r)


def test_set_from_header_on_and_undisclosed(tmp_path, fakes, pki):
    f = Fake(pki=pki)
    fakes.append(f)
    rc = basic_rc(tmp_path, f.port, pki, set_from_header="on", undisclosed_recipients="on")
    r = send(rc, "-t", msg="From: someone@else.test\nTo: bob@example.test\nCc: dave@example.test\n"
                           "Subject: s\n\nhi\n")
    assert r.returncode == 0 and r.stderr == b"", describe(r)
    data = f.data[0]
    assert "From: alice@example.test\r\n" in data and "someone@else" not in data, data
    assert "To: undisclosed-recipients:;\r\n" in data and "Cc:" not in data, data


def test_remove_bcc_headers_off_keeps_bcc(tmp_path, fakes, pki):
    f = Fake(pki=pki)
    fakes.append(f)
    r = send(basic_rc(tmp_path, f.port, pki, remove_bcc_headers="off"), "-t",
             msg=MSG.replace("To: root", "To: bob@example.test"))
    assert r.returncode == 0, describe(r)
    assert "Bcc: hidden@example.test\r\n" in f.data[0]


@pytest.mark.parametrize("algo", ["sha256", "sha1", "md5"])
def test_tls_fingerprint_right_passes_wrong_refuses(tmp_path, fakes, pki, algo):
    f = Fake(pki=pki)
    fakes.append(f)
    r = send(basic_rc(tmp_path, f.port, pki, tls_fingerprint=fingerprint(pki, algo),
                      tls_trust_file=pki.other_ca), "bob@example.test")
    assert r.returncode == 0, describe(r)
    g = Fake(pki=pki)
    fakes.append(g)
    wrong = fingerprint(pki, algo).replace(fingerprint(pki, algo)[:2], "00" if
                                           fingerprint(pki, algo)[:2] != "00" else "11", 1)
    r = send(basic_rc(tmp_path, g.port, pki, tls_fingerprint=wrong), "bob@example.test")
    assert r.returncode == EX_UNAVAILABLE, describe(r)
    assert "does not match tls_fingerprint" in r.stderr.decode(), describe(r)
    assert g.cmds("AUTH") == [] and g.cmds("MAIL") == [], g.lines


def test_tls_host_override_is_the_checked_name(tmp_path, fakes, pki):
    f = Fake(pki=pki)
    fakes.append(f)
    # the certificate is for localhost / mail.example.test, not wrong.example.test
    r = send(basic_rc(tmp_path, f.port, pki, tls_host_override="wrong.example.test"),
             "bob@example.test")
    assert r.returncode == EX_UNAVAILABLE, describe(r)
    assert "verification failed" in r.stderr.decode(), describe(r)


def test_timeout_ends_a_stalled_session(tmp_path, fakes, pki):
    f = Fake(stall=True)
    fakes.append(f)
    rc = basic_rc(tmp_path, f.port, pki, timeout="2", tls="off", logfile="-")
    start = time.monotonic()
    r = send(rc, "bob@example.test")
    took = time.monotonic() - start
    assert r.returncode == EX_TEMPFAIL, describe(r)
    assert "within 2 seconds" in r.stderr.decode(), describe(r)
    assert took < 15, took
    # logfile - : msmtp's failure line on stdout
    out = r.stdout.decode()
    assert re.fullmatch(r"[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d host=127\.0\.0\.1 tls=off auth=on user=alice@example\.test "
                        r"from=alice@example\.test recipients=bob@example\.test "
                        r"errormsg='127\.0\.0\.1:\d+: no answer from the server within 2 "
                        r"seconds \(greeting\)' exitcode=EX_TEMPFAIL\n", out), out


def test_dsn_without_server_support_is_refused(tmp_path, fakes, pki):
    f = Fake(caps=("PIPELINING", "AUTH PLAIN"), pki=pki)
    fakes.append(f)
    r = send(basic_rc(tmp_path, f.port, pki, dsn_notify="success"), "bob@example.test")
    assert r.returncode == EX_UNAVAILABLE, describe(r)
    assert "does not support DSN" in r.stderr.decode(), describe(r)
    assert f.cmds("MAIL") == []
    g = Fake(caps=("PIPELINING", "AUTH PLAIN"), pki=pki)
    fakes.append(g)
    r = send(basic_rc(tmp_path, g.port, pki, dsn_notify="off", dsn_return="off"),
             "bob@example.test")
    assert r.returncode == 0, describe(r)
    assert g.cmds("MAIL") == ["MAIL FROM:<alice@example.test>"], g.lines


def test_auto_from_and_allow_from_override(tmp_path, fakes, pki):
    f = Fake(pki=pki)
    fakes.append(f)
    rc = basic_rc(tmp_path, f.port, pki, allow_from_override="off")
    r = send(rc, "-f", "other@example.test", "bob@example.test")
    assert r.returncode == 0, describe(r)
    assert f.cmds("MAIL")[0].startswith("MAIL FROM:<alice@example.test>"), f.lines


def test_aliases_expand_envelope_recipients(tmp_path, fakes, pki):
    f = Fake(pki=pki)
    fakes.append(f)
    aliases = tmp_path / "aliases"
    aliases.write_text("root: bob@example.test, ops\nops: carol@example.test\n")
    r = send(basic_rc(tmp_path, f.port, pki, aliases=aliases), "root", "dave@example.test")
    assert r.returncode == 0 and r.stderr == b"", describe(r)
    assert f.cmds("RCPT") == ["RCPT TO:<bob@example.test>", "RCPT TO:<carol@example.test>",
                              "RCPT TO:<dave@example.test>"], f.lines
    assert "To: root" in f.data[0]          # headers untouched, as in msmtp


def test_source_ip_and_domain(tmp_path, fakes, pki):
    f = Fake(pki=pki)
    fakes.append(f)
    r = send(basic_rc(tmp_path, f.port, pki, source_ip="127.0.0.2", domain="laptop.example.test"),
             "bob@example.test")
    assert r.returncode == 0 and r.stderr == b"", describe(r)
    assert f.peers == ["127.0.0.2"]
    assert f.cmds("EHLO") == ["EHLO laptop.example.test"] * 2
    # an address this host does not have: a clear error, nothing sent
    g = Fake(pki=pki)
    fakes.append(g)
    r = send(basic_rc(tmp_path, g.port, pki, source_ip="192.0.2.1"), "bob@example.test")
    assert r.returncode == EX_TEMPFAIL, describe(r)
    assert "cannot bind to source_ip 192.0.2.1" in r.stderr.decode(), describe(r)


def test_dsn_parameters_on_the_wire(tmp_path, fakes, pki):
    f = Fake(pki=pki)
    fakes.append(f)
    r = send(basic_rc(tmp_path, f.port, pki, dsn_notify="success,failure", dsn_return="full"),
             "bob@example.test")
    assert r.returncode == 0, describe(r)
    assert f.cmds("MAIL") == ["MAIL FROM:<alice@example.test> RET=FULL"], f.lines
    assert f.cmds("RCPT") == ["RCPT TO:<bob@example.test> NOTIFY=SUCCESS,FAILURE"], f.lines


def test_client_certificate_sent(tmp_path, fakes, pki):
    f = Fake(pki=pki)
    fakes.append(f)
    cert, key = client_cert(pki, tmp_path)
    r = send(basic_rc(tmp_path, f.port, pki, tls_cert_file=cert, tls_key_file=key),
             "bob@example.test")
    assert r.returncode == 0, describe(r)
    assert (("commonName", "alice client"),) in f.client_cert["subject"], f.client_cert
    g = Fake(pki=pki)
    fakes.append(g)
    r = send(basic_rc(tmp_path, g.port, pki, tls_cert_file=cert, tls_key_file=pki.key),
             "bob@example.test")
    assert r.returncode == EX_UNAVAILABLE, describe(r)
    assert f"client certificate: tls_key_file {pki.key}: key values mismatch" in \
        r.stderr.decode(), describe(r)


def test_logfile_line_on_success_and_on_refusal(tmp_path, fakes, pki):
    f = Fake(pki=pki, reject={"nobody@example.test"}, conns=2)
    fakes.append(f)
    log = tmp_path / "sent.log"
    rc = basic_rc(tmp_path, f.port, pki, logfile=log, logfile_time_format="%Y")
    body = "Subject: x\n\nhello\n"
    r = send(rc, "bob@example.test", msg=body)
    assert r.returncode == 0 and r.stdout == b"" and r.stderr == b"", describe(r)
    # msmtp's mailsize: the message as sent, a line end counted once
    date = re.search(r"Date: [^\r]*", f.data[0])[0]
    size = len("From: alice@example.test\n") + len(date) + 1 + len(body)
    year = time.strftime("%Y")
    assert log.read_text() == (
        f"{year} host=127.0.0.1 tls=on auth=on user=alice@example.test "
        f"from=alice@example.test recipients=bob@example.test mailsize={size} exitcode=EX_OK\n")
    r = send(rc, "nobody@example.test", msg=body)
    assert r.returncode == EX_UNAVAILABLE, describe(r)
    second = log.read_text().splitlines()[1]
    assert second == (
        f"{year} host=127.0.0.1 tls=on auth=on user=alice@example.test "
        f"from=alice@example.test recipients=nobody@example.test smtpstatus=550 "
        f"smtpmsg='550 5.1.1 no such user' errormsg='550 5.1.1 no such user' "
        f"exitcode=EX_UNAVAILABLE"), second


def test_auto_from_maildomain_and_from_patterns(tmp_path, fakes, pki):
    f = Fake(pki=pki, conns=2)
    fakes.append(f)
    env = {**os.environ, "USER": "carol", "HOSTNAME": "box.example.test"}
    rc = basic_rc(tmp_path, f.port, pki, auto_from="on", maildomain="example.test")
    r = postern("send", "-C", str(rc), "bob@example.test", input=MSG, env=env, timeout=60)
    assert r.returncode == 0, describe(r)
    rc = basic_rc(tmp_path, f.port, pki, **{"from": "%U@%H", "domain": "%H"})
    r = postern("send", "-C", str(rc), "bob@example.test", input=MSG, env=env, timeout=60)
    assert r.returncode == 0, describe(r)
    assert [m.split()[1] for m in f.cmds("MAIL")] == ["FROM:<carol@example.test>",
                                                       "FROM:<carol@box.example.test>"], f.lines
    assert f.cmds("EHLO")[-1] == "EHLO box.example.test"
