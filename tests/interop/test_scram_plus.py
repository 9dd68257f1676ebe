"""SCRAM-SHA-1-PLUS and SCRAM-SHA-256-PLUS (RFC 5802 section 6) with
tls-exporter (RFC 9266) and tls-server-end-point (RFC 5929), issue 15
item 6: gsasl 2.2.0 against `postern serve` (right and wrong password,
tls-unique refused), a raw SCRAM client for what gsasl will not send
(tls-server-end-point, the "y" downgrade, another channel's data),
-PLUS without TLS (538), and postern's own client (probe, send) with
both bindings.  TLS 1.2 is forced with an OpenSSL configuration file
(MaxProtocol), the only way to make OpenSSL-based programs speak it."""
import os
import re
import ssl
import subprocess

import pytest

from conftest import PASSWORD, USER, PosternServer, postern, stop_process
from scram_raw import Smtp, end_point, scram

WRONG = "not " + PASSWORD
PLUS = ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"]


def tls12_conf(tmp_path):
    p = tmp_path / "tls12.cnf"
    p.write_text("openssl_conf = init\n[init]\nssl_conf = ssl\n[ssl]\nsystem_default = sys\n"
                 "[sys]\nMaxProtocol = TLSv1.2\n")
    return p


def start(tmp_path, pki, tls12=False):
    """postern serve with the default auth_mechanisms (the -PLUS forms
    included); tls12: its TLS stops at 1.2 (no tls-exporter then)."""
    s = PosternServer(tmp_path / "server", pki)
    s.conf.write_text(re.sub(r"(?m)^auth_mechanisms = .*\n", "", s.conf.read_text()))
    s.add_user(USER, PASSWORD)
    old = os.environ.get("OPENSSL_CONF")
    if tls12:
        os.environ["OPENSSL_CONF"] = str(tls12_conf(tmp_path))
    try:
        return s.start()
    finally:
        if tls12:
            os.environ.pop("OPENSSL_CONF")
            if old is not None:
                os.environ["OPENSSL_CONF"] = old


@pytest.fixture
def srv(tmp_path, pki):
    s = start(tmp_path, pki)
    yield s
    s.stop()


@pytest.fixture
def srv12(tmp_path, pki):
    s = start(tmp_path, pki, tls12=True)
    yield s
    s.stop()


def gsasl(server, mech, password, *extra):
    assert subprocess.run(["gsasl", "--version"], capture_output=True).stdout.startswith(
        b"gsasl (GNU SASL) 2.2"), "the tests are written against gsasl 2.2.0"
    r = subprocess.run(["gsasl", "--smtp", "--starttls", "--x509-ca-file", str(server.pki.ca),
                        "-m", mech, "-a", USER, "-p", password, "-d", *extra,
                        "127.0.0.1", str(server.submission)],
                       capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")


def auth_log(server, mech):
    return [ln for ln in server.log_text().splitlines() if f"mech={mech}" in ln]


@pytest.mark.parametrize("mech", PLUS)
def test_gsasl_plus_tls_exporter(srv, mech):
    """TLS 1.3: gsasl binds with tls-exporter (gs2 header
    "p=tls-exporter,,", its base64 starts cD10bHMtZXhwb3J0ZXIs)."""
    rc, out = gsasl(srv, mech, PASSWORD)
    assert rc == 0, out
    assert "235 2.7.0" in out
    assert "cD10bHMtZXhwb3J0ZXIs" in out      # p=tls-exporter,
    assert any("auth ok" in ln for ln in auth_log(srv, mech)), srv.log_text()[-2000:]


@pytest.mark.parametrize("mech", PLUS)
def test_gsasl_plus_wrong_password(srv, mech):
    rc, out = gsasl(srv, mech, WRONG)
    assert rc != 0
    assert "535 5.7.8" in out
    assert any('why="wrong password"' in ln for ln in auth_log(srv, mech))


def test_gsasl_tls12_tls_unique_refused(srv12):
    """TLS 1.2: gsasl binds with tls-unique, which we do not support
    (unsafe without the extended master secret, RFC 9266 section 1):
    refused, whatever the password."""
    rc, out = gsasl(srv12, "SCRAM-SHA-256-PLUS", PASSWORD)
    assert rc != 0
    assert "cD10bHMtdW5pcXVlLC" in out          # p=tls-unique,
    assert "535 5.7.8" in out
    assert 'why="SCRAM: unsupported channel binding type"' in srv12.log_text()


def test_gsasl_plain_scram_no_cb(srv):
    """gsasl --no-cb: "n" (cannot bind) is no downgrade."""
    rc, out = gsasl(srv, "SCRAM-SHA-256", PASSWORD, "--no-cb")
    assert rc == 0, out
    assert "235 2.7.0" in out


@pytest.mark.parametrize("tls12", [False, True])
@pytest.mark.parametrize("mech", PLUS)
def test_raw_tls_server_end_point(tmp_path, pki, mech, tls12):
    """tls-server-end-point on TLS 1.3 and 1.2: right password in,
    wrong out, another channel's data out."""
    s = start(tmp_path, pki, tls12=tls12)
    try:
        for password, data, want in [(PASSWORD, None, "235 2.7.0"), (WRONG, None, "535 5.7.8"),
                                     (PASSWORD, b"\0" * 32, "535 5.7.8")]:
            c = Smtp(s.submission)
            c.cmd("EHLO test")
            tls = c.starttls(pki.ca)
            ehlo = c.cmd("EHLO test")
            assert any(mech in ln for ln in ehlo), ehlo
            assert (tls.version() == "TLSv1.2") == tls12
            reply = scram(c, mech, USER, password, "p=tls-server-end-point,,",
                          data if data is not None else end_point(tls))
            c.close()
            assert reply.startswith(want), (password, data, reply)
        assert "channel binding data differ" in s.log_text()
    finally:
        s.stop()


@pytest.mark.parametrize("mech", ["SCRAM-SHA-256", "SCRAM-SHA-1"])
def test_raw_downgrade_y_refused(srv, mech):
    """RFC 5802 section 6: a client that says "y" (I could bind, you
    cannot) to a server that offered -PLUS saw a list someone had
    stripped: it fails, with the right password."""
    c = Smtp(srv.submission)
    c.cmd("EHLO test")
    c.starttls(srv.pki.ca)
    assert any("SCRAM-SHA-256-PLUS" in ln for ln in c.cmd("EHLO test"))
    reply = scram(c, mech, USER, PASSWORD, "y,,")
    c.close()
    assert reply.startswith("535 5.7.8"), reply
    assert "downgrade" in srv.log_text()
    # "n" with the same password gets in: only the flag made it fail.
    c = Smtp(srv.submission)
    c.cmd("EHLO test")
    c.starttls(srv.pki.ca)
    c.cmd("EHLO test")
    assert scram(c, mech, USER, PASSWORD, "n,,").startswith("235 2.7.0")
    c.close()


def test_raw_y_accepted_when_plus_not_offered(tmp_path, pki):
    """Where -PLUS is not offered (auth_mechanisms without it), "y" is
    what an honest client says: accepted."""
    s = PosternServer(tmp_path / "server", pki)
    s.add_user(USER, PASSWORD)
    s.start()
    try:
        c = Smtp(s.submission)
        c.cmd("EHLO test")
        c.starttls(pki.ca)
        assert not any("PLUS" in ln for ln in c.cmd("EHLO test"))
        assert scram(c, "SCRAM-SHA-256", USER, PASSWORD, "y,,").startswith("235 2.7.0")
        c.close()
    finally:
        s.stop()


@pytest.mark.parametrize("mech", PLUS)
def test_plus_without_tls_538(srv, mech):
    """RFC 4954 6: "538 5.7.11 Encryption required for requested
    authentication mechanism"; and -PLUS is not advertised in clear."""
    c = Smtp(srv.smtp)
    ehlo = c.cmd("EHLO test")
    assert not any("PLUS" in ln for ln in ehlo), ehlo
    assert any("SCRAM-SHA-256" in ln for ln in ehlo), ehlo
    r = c.cmd(f"AUTH {mech}")
    c.close()
    assert r == ["538 5.7.11 Encryption required for requested authentication mechanism"]


def probe(tmp_path, server, *args, password=PASSWORD):
    pw = tmp_path / "pw"
    pw.write_text(password + "\n")
    r = postern("probe", "--starttls", "--user", USER, "--password-file", str(pw),
                "--tls-trust-file", str(server.pki.ca), *args,
                f"127.0.0.1:{server.submission}", timeout=120)
    return r.returncode, r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")


@pytest.mark.parametrize("mech", PLUS)
def test_probe_plus_tls13_exporter(tmp_path, srv, mech):
    rc, out = probe(tmp_path, srv, "--auth", mech)
    assert rc == 0, out
    assert "p=tls-exporter," in out
    assert "235 2.7.0" in out
    rc, out = probe(tmp_path, srv, "--auth", mech, password=WRONG)
    assert rc != 0
    assert "535 5.7.8" in out


@pytest.mark.parametrize("mech", PLUS)
def test_probe_plus_tls12_end_point(tmp_path, srv12, mech):
    rc, out = probe(tmp_path, srv12, "--auth", mech)
    assert rc == 0, out
    assert "p=tls-server-end-point," in out
    assert "235 2.7.0" in out


def test_send_prefers_plus(tmp_path, srv):
    """postern send with `auth on` picks SCRAM-SHA-256-PLUS under TLS."""
    rc = tmp_path / "msmtprc"
    rc.write_text(f"account default\nhost 127.0.0.1\nport {srv.submission}\ntls on\n"
                  f"tls_starttls on\ntls_trust_file {srv.pki.ca}\nauth on\nuser {USER}\n"
                  f"password {PASSWORD}\nfrom {USER}\n")
    rc.chmod(0o600)
    r = postern("send", "-C", str(rc), "bob@example.test",
                input=b"Subject: plus\r\n\r\nbound\r\n", timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    assert any("auth ok" in ln for ln in auth_log(srv, "SCRAM-SHA-256-PLUS")), \
        srv.log_text()[-2000:]


@pytest.mark.parametrize("mech", ["SCRAM-SHA-256", "SCRAM-SHA-1"])
def test_probe_forced_plain_scram_says_n(tmp_path, srv, mech):
    """postern's client told to use plain SCRAM against a server that
    offers its -PLUS form says "n": "y" would be taken for a downgrade
    (RFC 5802 section 6 forbids "n" only when no -PLUS was seen)."""
    rc, out = probe(tmp_path, srv, "--auth", mech)
    assert rc == 0, out
    assert f'[decoded: "n,,n={USER},r=' in out
    assert "235 2.7.0" in out
