"""An RSA and an ECDSA P-256 certificate in one `postern serve` (issue 16
item 3): OpenSSL picks one per handshake from the client's signature
algorithms (TLS 1.3) or its cipher and signature algorithms (TLS 1.2).

Shown with real clients: `openssl s_client -starttls smtp` told which
signatures it takes gets that certificate, on TLS 1.3 and 1.2, and one
that takes neither gets no handshake; Python's smtplib and swaks log in
with AUTH PLAIN and send through the dual server with either
certificate; SCRAM-SHA-256-PLUS with tls-server-end-point (RFC 5929)
binds to the certificate of THIS handshake, also when the session is
resumed from a ticket; SIGHUP adds a pair.  The failing side: each
mistake in the pairs is refused by `serve --check` with FILE:LINE and the
paths, exit 1."""
import re
import signal
import smtplib
import ssl
import time

import pytest

from clients import REMOTE_RCPT, SENDER, assert_spooled, message, queue_ids, run_client, tag
from conftest import PASSWORD, USER, PosternServer, postern, run, started_server
from scram_raw import Smtp, end_point, scram

ECDSA_TLS12 = "ECDHE-ECDSA-AES128-GCM-SHA256"
RSA_TLS12 = "ECDHE-RSA-AES128-GCM-SHA256"
# s_client -sigalgs lists, and what each must get
SIGALGS = {"ecdsa": "ECDSA+SHA256", "rsa": "RSA-PSS+SHA256:RSA+SHA256"}


@pytest.fixture
def dual(tmp_path, pki):
    s = started_server(tmp_path / "dual", pki, dual_cert=True)
    yield s
    s.stop()


def der(path):
    """The DER bytes of the first certificate in a PEM file."""
    return ssl.PEM_cert_to_DER_cert(path.read_text())


def expected(pki, kind):
    return der(pki.cert) if kind == "ecdsa" else der(pki.rsa_pair()[0])


def s_client(port, *args):
    """openssl s_client -starttls smtp; QUIT after the handshake."""
    r = run(["openssl", "s_client", "-starttls", "smtp", "-connect", f"127.0.0.1:{port}",
             "-servername", "localhost", *args], input="QUIT\r\n", timeout=30)
    return r.returncode, r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")


def peer_cert(out):
    """The server certificate s_client printed, as DER."""
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n", out, re.S)
    assert m, out
    return ssl.PEM_cert_to_DER_cert(m.group(0))


# (protocol, s_client options, the certificate it must get)
S_CLIENT = [
    ("tls1_3", ["-sigalgs", SIGALGS["ecdsa"]], "ecdsa", "ECDSA", "256"),
    ("tls1_3", ["-sigalgs", SIGALGS["rsa"]], "rsa", "RSA-PSS", "2048"),
    ("tls1_2", ["-sigalgs", SIGALGS["ecdsa"]], "ecdsa", "ECDSA", "256"),
    ("tls1_2", ["-sigalgs", SIGALGS["rsa"]], "rsa", "RSA-PSS", "2048"),
    ("tls1_2", ["-cipher", ECDSA_TLS12], "ecdsa", "ECDSA", "256"),
    ("tls1_2", ["-cipher", RSA_TLS12], "rsa", "RSA", "2048"),
    # OpenSSL's own defaults take both: ours is the cheaper one
    ("tls1_3", [], "ecdsa", "ECDSA", "256"),
    ("tls1_2", [], "ecdsa", "ECDSA", "256"),
]


@pytest.mark.parametrize("proto,opts,kind,sigtype,bits", S_CLIENT,
                         ids=[f"{p}-{k}-{'-'.join(o) or 'default'}" for p, o, k, _, _ in S_CLIENT])
def test_s_client_gets_the_certificate_it_asks_for(dual, pki, proto, opts, kind, sigtype, bits):
    rc, out = s_client(dual.submission, f"-{proto}", "-CAfile", str(pki.ca), *opts)
    assert rc == 0, out
    assert "Verify return code: 0 (ok)" in out, out
    assert f"Protocol  : TLSv1.{proto[-1]}" in out or f"TLSv1.{proto[-1]}, Cipher is" in out, out
    # RSA+SHA256 with TLS 1.2 and -cipher ECDHE-RSA: the client offers
    # its defaults, RSA-PSS first; either RSA signature is an RSA key
    assert re.search(rf"^Peer signature type: {sigtype}", out, re.M) or \
        (kind == "rsa" and "Peer signature type: RSA" in out), out
    assert f"Server public key is {bits} bit" in out, out
    assert peer_cert(out) == expected(pki, kind)


def test_s_client_single_ecdsa_server_refuses_rsa_only(tmp_path, pki):
    """The failing side: a server with the ECDSA pair alone cannot serve
    a client that takes only RSA signatures (no handshake); the dual
    server above can."""
    s = started_server(tmp_path / "single", pki)
    try:
        rc, out = s_client(s.submission, "-tls1_3", "-sigalgs", SIGALGS["rsa"])
        assert rc != 0, out
        assert "Server public key" not in out
        rc, out = s_client(s.submission, "-tls1_2", "-cipher", RSA_TLS12)
        assert rc != 0, out
    finally:
        s.stop()


def tls_ctx(pki, cipher=None):
    """Python's default client context, trusting the test CA; cipher: a
    TLS 1.2 cipher, which decides the certificate there."""
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    if cipher is not None:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(cipher)
    return ctx


SMTPLIB = [(None, "ecdsa"), (ECDSA_TLS12, "ecdsa"), (RSA_TLS12, "rsa")]


@pytest.mark.parametrize("cipher,kind", SMTPLIB, ids=["tls1_3-default", "tls1_2-ecdsa", "tls1_2-rsa"])
def test_smtplib_plain_and_send(dual, pki, cipher, kind):
    before = queue_ids(dual)
    mark = tag()
    s = smtplib.SMTP(dual.host, dual.submission, timeout=20)
    try:
        s.ehlo("client.example.test")
        assert s.starttls(context=tls_ctx(pki, cipher))[0] == 220
        assert s.sock.getpeercert(binary_form=True) == expected(pki, kind)
        assert s.sock.version() == ("TLSv1.3" if cipher is None else "TLSv1.2")
        s.ehlo("client.example.test")
        s.user, s.password = USER, PASSWORD
        code, text = s.auth("PLAIN", s.auth_plain)
        assert code == 235, (code, text)
        assert s.sendmail(SENDER, [REMOTE_RCPT], message(mark)) == {}
    finally:
        s.quit()
    assert_spooled(dual, before, mark, mech="PLAIN")


SWAKS = [([], "ecdsa"), (["--tls-protocol", "tlsv1_2", "--tls-cipher", RSA_TLS12], "rsa")]


@pytest.mark.parametrize("args,kind", SWAKS, ids=["default", "tls1_2-rsa"])
def test_swaks_plain_and_send(dual, pki, tmp_path, args, kind):
    before = queue_ids(dual)
    mark = tag()
    got = tmp_path / "peer.pem"
    r = run_client(["swaks", "--server", dual.host, "--port", str(dual.submission),
                    "--helo", "client.example.test", "--from", SENDER, "--to", REMOTE_RCPT,
                    "--timeout", "20", "--tls", "--tls-verify", "--tls-ca-path", str(pki.ca),
                    "--tls-get-peer-cert", str(got), *args,
                    "--auth", "PLAIN", "--auth-user", USER, "--auth-password", PASSWORD,
                    "--data", "-"], input=message(mark))
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    assert der(got) == expected(pki, kind)
    assert_spooled(dual, before, mark, mech="PLAIN")


def end_point_login(port, ctx, session=None, password=PASSWORD):
    """SCRAM-SHA-256-PLUS with tls-server-end-point over STARTTLS with
    the client context ctx.  Returns (final reply, the TLS socket's
    certificate DER, whether the session was resumed, the session for
    the next one, of the same ctx)."""
    c = Smtp(port)
    try:
        c.cmd("EHLO test")
        assert c.cmd("STARTTLS")[0].startswith("220")
        tls = ctx.wrap_socket(c.sock, server_hostname="localhost", session=session)
        c.sock = tls
        assert any("SCRAM-SHA-256-PLUS" in ln for ln in c.cmd("EHLO test"))
        reply = scram(c, "SCRAM-SHA-256-PLUS", USER, password, "p=tls-server-end-point,,",
                      end_point(tls))
        # TLS 1.3 tickets arrive after the handshake: read past them
        # (the reply above did) before taking the session
        return reply, tls.getpeercert(binary_form=True), tls.session_reused, tls.session
    finally:
        c.close()


@pytest.fixture(params=["rsa-first", "ecdsa-first"])
def dual_plus(request, tmp_path, pki):
    """The dual server with the default auth_mechanisms (-PLUS among
    them), its pairs in both orders: OpenSSL's current certificate
    before a handshake is the last pair read."""
    s = PosternServer(tmp_path / "plus", pki, dual_cert=True)
    text = re.sub(r"(?m)^auth_mechanisms = .*\n", "", s.conf.read_text())
    if request.param == "ecdsa-first":
        rsa = "".join(ln for ln in text.splitlines(keepends=True) if "server-rsa" in ln)
        text = text.replace(rsa, "").replace("credentials =", rsa + "credentials =")
        assert text.index(str(pki.cert)) < text.index(str(pki.rsa_cert)), text
    s.conf.write_text(text)
    s.add_user(USER, PASSWORD)
    s.start()
    yield s
    s.stop()


@pytest.mark.parametrize("cipher,kind", SMTPLIB, ids=["tls1_3-default", "tls1_2-ecdsa", "tls1_2-rsa"])
def test_scram_plus_end_point_of_the_chosen_certificate(dual_plus, pki, cipher, kind):
    """tls-server-end-point is the hash of the certificate the server
    sent in this handshake: with ECDSA chosen it is the ECDSA one, with
    RSA the RSA one.  A wrong password or the other certificate's hash
    fails."""
    reply, cert, _, _ = end_point_login(dual_plus.submission, tls_ctx(pki, cipher))
    assert cert == expected(pki, kind)
    assert reply.startswith("235 2.7.0"), reply
    reply, _, _, _ = end_point_login(dual_plus.submission, tls_ctx(pki, cipher),
                                     password="not " + PASSWORD)
    assert reply.startswith("535 5.7.8"), reply


@pytest.mark.parametrize("cipher,kind", SMTPLIB, ids=["tls1_3-default", "tls1_2-ecdsa", "tls1_2-rsa"])
def test_scram_plus_end_point_after_resumption(dual_plus, pki, cipher, kind):
    """A resumed session sends no certificate: the binding is the one
    of the handshake that made the session (the client keeps that
    certificate with the session).  The server must not take the
    certificate OpenSSL happens to have current (the last pair read,
    ECDSA here): RSA sessions resumed would fail."""
    ctx = tls_ctx(pki, cipher)
    reply, cert, reused, session = end_point_login(dual_plus.submission, ctx)
    assert reply.startswith("235 2.7.0") and not reused, reply
    reply, cert, reused, _ = end_point_login(dual_plus.submission, ctx, session=session)
    assert reused, "the session was not resumed"
    assert cert == expected(pki, kind)
    assert reply.startswith("235 2.7.0"), reply


def wait_for(pred, what, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.05)


def test_sighup_adds_the_rsa_pair(tmp_path, pki):
    """Reload reads the pairs again: an RSA pair added to a running
    ECDSA-only server serves RSA-only clients after SIGHUP."""
    s = started_server(tmp_path / "hup", pki)
    try:
        rc, out = s_client(s.submission, "-tls1_2", "-cipher", RSA_TLS12)
        assert rc != 0, out
        cert, key = pki.rsa_pair()
        s.conf.write_text(s.conf.read_text() + f"tls_certificate = {cert}\ntls_key = {key}\n")
        s.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reloaded" in s.log_text(), "reload line")
        # the new network process takes over the listeners at once, but
        # give the old one the moment it needs to let go
        for _ in range(50):
            rc, out = s_client(s.submission, "-tls1_2", "-cipher", RSA_TLS12, "-CAfile", str(pki.ca))
            if rc == 0:
                break
            time.sleep(0.1)
        assert rc == 0, out
        assert peer_cert(out) == der(cert)
        # added, not replacing: ECDSA clients still get the ECDSA pair
        rc, out = s_client(s.submission, "-tls1_3", "-sigalgs", SIGALGS["ecdsa"])
        assert rc == 0, out
        assert peer_cert(out) == der(pki.cert)
    finally:
        s.stop()


# ---- the failing side: serve --check ----

def check(s):
    r = postern("serve", "-c", str(s.conf), "--check")
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def line_of(s, text):
    return s.conf.read_text().splitlines().index(text) + 1


def conf_with(tmp_path, pki, pairs, extra=""):
    """A server config whose TLS lines are exactly `pairs` (text lines)."""
    s = PosternServer(tmp_path / "srv", pki)
    lines = [ln for ln in s.conf.read_text().splitlines(keepends=True)
             if not ln.startswith(("tls_certificate", "tls_key"))]
    s.conf.write_text("".join(lines) + "".join(f"{p}\n" for p in pairs) + extra)
    s.add_user(USER, PASSWORD)
    return s


def test_check_dual_ok(tmp_path, pki):
    cert, key = pki.rsa_pair()
    s = conf_with(tmp_path, pki, [f"tls_certificate = {cert}", f"tls_key = {key}",
                                  f"tls_certificate = {pki.cert}", f"tls_key = {pki.key}"])
    assert check(s) == (0, f"{s.conf}: ok\n", "")


def test_check_counts_differ(tmp_path, pki):
    cert, key = pki.rsa_pair()
    s = conf_with(tmp_path, pki, [f"tls_certificate = {cert}", f"tls_certificate = {pki.cert}",
                                  f"tls_key = {key}"])
    rc, out, err = check(s)
    assert rc == 1
    n = line_of(s, f"tls_certificate = {pki.cert}")
    assert err == (f"postern: {s.conf}:{n}: tls_certificate {pki.cert} has no tls_key: "
                   "tls_certificate and tls_key go together, the n-th tls_key with the n-th "
                   "tls_certificate (tls_certificate lines: 2, tls_key lines: 1)\n")


def test_check_two_of_one_key_type(tmp_path, pki):
    """A P-384 certificate next to the P-256 one: both are ECDSA, and
    OpenSSL keeps one certificate per key type (the second would replace
    the first without a word)."""
    p384, k384 = tmp_path / "p384.pem", tmp_path / "p384.key"
    r = run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384",
             "-nodes", "-keyout", str(k384), "-out", str(p384), "-days", "3", "-subj", "/CN=localhost"])
    assert r.returncode == 0, r.stderr
    s = conf_with(tmp_path, pki, [f"tls_certificate = {pki.cert}", f"tls_key = {pki.key}",
                                  f"tls_certificate = {p384}", f"tls_key = {k384}"])
    rc, out, err = check(s)
    assert rc == 1
    n, first = line_of(s, f"tls_certificate = {p384}"), line_of(s, f"tls_certificate = {pki.cert}")
    assert err == (f"postern: {s.conf}:{n}: tls_certificate {p384}: a second ECDSA certificate "
                   f"(the first: tls_certificate {pki.cert}, line {first}); one certificate per "
                   "key type\n")


def test_check_key_of_the_other_pair(tmp_path, pki):
    """The ECDSA pair's tls_key names the RSA key: OpenSSL alone would
    take it (the key goes into the RSA slot, where it matches), and the
    ECDSA certificate would have no key.  Refused, saying whose key it is."""
    cert, key = pki.rsa_pair()
    s = conf_with(tmp_path, pki, [f"tls_certificate = {cert}", f"tls_key = {key}",
                                  f"tls_certificate = {pki.cert}", f"tls_key = {key}"])
    rc, out, err = check(s)
    assert rc == 1
    lines = s.conf.read_text().splitlines()
    n = len(lines) - lines[::-1].index(f"tls_key = {key}")     # the last one
    assert err == (f"postern: {s.conf}:{n}: tls_key {key}: does not match tls_certificate "
                   f"{pki.cert} (line {n - 1}); it is the key of tls_certificate {cert} "
                   f"(line {n - 3}): the n-th tls_key goes with the n-th tls_certificate\n")


def test_check_key_matches_nothing(tmp_path, pki):
    cert, _ = pki.rsa_pair()
    other = pki.dir / "other-ca.key"
    s = conf_with(tmp_path, pki, [f"tls_certificate = {cert}", f"tls_key = {other}",
                                  f"tls_certificate = {pki.cert}", f"tls_key = {pki.key}"])
    rc, out, err = check(s)
    assert rc == 1
    n = line_of(s, f"tls_key = {other}")
    assert err == (f"postern: {s.conf}:{n}: tls_key {other}: does not match tls_certificate "
                   f"{cert} (line {n - 1})\n")


def test_check_unreadable_second_pair(tmp_path, pki):
    s = conf_with(tmp_path, pki, [f"tls_certificate = {pki.cert}", f"tls_key = {pki.key}",
                                  "tls_certificate = /nonexistent/rsa.pem", f"tls_key = {pki.key}"])
    rc, out, err = check(s)
    assert rc == 1
    n = line_of(s, "tls_certificate = /nonexistent/rsa.pem")
    assert err == (f"postern: {s.conf}:{n}: tls_certificate /nonexistent/rsa.pem: "
                   "No such file or directory\n")


def test_start_refused_like_check(tmp_path, pki):
    """Not only --check: `serve` itself exits 1 with the same line and
    listens on nothing."""
    cert, key = pki.rsa_pair()
    s = conf_with(tmp_path, pki, [f"tls_certificate = {cert}", f"tls_key = {key}",
                                  f"tls_certificate = {pki.cert}", f"tls_key = {key}"])
    r = postern("serve", "-c", str(s.conf), timeout=30)
    assert r.returncode == 1
    rc, out, err = check(s)
    assert rc == 1 and f"{s.conf}:" in err, err
    assert r.stderr.decode() == err
