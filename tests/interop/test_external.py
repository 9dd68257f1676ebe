"""EXTERNAL with TLS client certificates (RFC 4422 appendix A), issue
15 item 5: `tls_client_ca` asks for a certificate and never requires
one; `tls_client_map` maps a verified certificate's SAN email, DNS name
or RFC 2253 subject to a user; EXTERNAL is offered only on a session
with such a certificate.  curl (--cert, --login-options AUTH=EXTERNAL)
logs in and sends; smtplib (Python's ssl) shows that the handshake
succeeds and EXTERNAL is not offered without a certificate, with an
unmapped one and with one from another CA; postern send uses EXTERNAL
when offered."""
import base64
import smtplib
import ssl

import pytest

from clients import assert_spooled, message, queue_ids, run_client, tag, describe
from conftest import PASSWORD, USER, PosternServer, postern, run

OTHER = "carol@example.test"


def issue(pki, name, subject, san=None, ca="ca"):
    """A client certificate for subject (and a SAN line), signed by the
    test CA or the other one; returns (cert, key) paths."""
    d = pki.dir
    key, csr, cert = d / f"{name}.key", d / f"{name}.csr", d / f"{name}.pem"
    if cert.exists():
        return cert, key
    ext = d / f"{name}.ext"
    ext.write_text("extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n"
                   + (f"subjectAltName={san}\n" if san else ""))
    for args in (["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                  "-keyout", key, "-out", csr, "-subj", subject],
                 ["x509", "-req", "-in", csr, "-CA", d / f"{ca}.pem", "-CAkey", d / f"{ca}.key",
                  "-CAcreateserial", "-out", cert, "-days", "30", "-extfile", ext]):
        r = run(["openssl", *map(str, args)], timeout=60)
        assert r.returncode == 0, r.stderr.decode()
    return cert, key


@pytest.fixture
def srv(tmp_path, pki):
    m = tmp_path / "client_map"
    m.write_text("# certificate identity -> user\n"
                 f"email:{USER.upper()}\t{USER}\n"
                 f"subject:CN=printer,O=Example Test\t{OTHER}\n"
                 f"dns:scanner.example.test {OTHER}\n")
    s = PosternServer(tmp_path / "server", pki,
                      extra_conf=f"tls_client_ca = {pki.ca}\ntls_client_map = file:{m}\n")
    s.conf.write_text(s.conf.read_text().replace("auth_mechanisms = ",
                                                 "auth_mechanisms = EXTERNAL "))
    s.add_user(USER, PASSWORD)
    s.start()
    yield s
    s.stop()


def session(server, cert=None, port=None):
    """smtplib over STARTTLS, presenting cert (a (cert, key) pair) or none."""
    ctx = ssl.create_default_context(cafile=str(server.pki.ca))
    if cert is not None:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    c = smtplib.SMTP("127.0.0.1", port or server.submission, timeout=30)
    c.ehlo("test")
    c.starttls(context=ctx)
    c.ehlo("test")
    return c


def offered(c):
    return c.esmtp_features.get("auth", "").split()


def curl_send(server, cert, user=USER, sender=USER):
    mark = tag()
    msg = message(mark, sender=sender)
    r = run_client(["curl", "-sS", "--url", f"smtp://127.0.0.1:{server.submission}",
                    "--ssl-reqd", "--cacert", server.pki.ca, "--cert", cert[0], "--key", cert[1],
                    "-u", f"{user}:", "--login-options", "AUTH=EXTERNAL",
                    "--mail-from", sender, "--mail-rcpt", "bob@elsewhere.test", "-T", "-"],
                   input=msg.encode())
    return r, mark


def test_curl_external_sends(srv, pki):
    cert = issue(pki, "alice", "/CN=Alice", san=f"email:{USER}")
    before = queue_ids(srv)
    r, mark = curl_send(srv, cert)
    assert r.returncode == 0, describe(r)
    assert_spooled(srv, before, mark, user=USER, mech="EXTERNAL")
    assert f'verify="ok" user={USER}' in srv.log_text()


def test_subject_mapping(srv, pki):
    """subject: lines name the RFC 2253 subject; the empty authzid
    ("AUTH EXTERNAL =") logs in as the mapped user."""
    cert = issue(pki, "printer", "/O=Example Test/CN=printer")
    c = session(srv, cert)
    assert "EXTERNAL" in offered(c)
    assert c.docmd("AUTH", "EXTERNAL =") == (235, b"2.7.0 Authentication successful")
    c.quit()
    assert f"mech=EXTERNAL" in srv.log_text() and f"user={OTHER}" in srv.log_text()


def test_dns_mapping(srv, pki):
    """dns: lines match a subjectAltName DNS name, case ignored; the
    subject (CN=Scanner) plays no part."""
    cert = issue(pki, "scanner", "/CN=Scanner", san="DNS:SCANNER.example.test")
    c = session(srv, cert)
    assert "EXTERNAL" in offered(c)
    assert c.docmd("AUTH", "EXTERNAL =")[0] == 235
    c.quit()
    assert f"auth ok client=127.0.0.1 user={OTHER} mech=EXTERNAL" in srv.log_text()


def test_authzid_must_be_the_mapped_user(srv, pki):
    cert = issue(pki, "alice", "/CN=Alice", san=f"email:{USER}")
    c = session(srv, cert)
    z = base64.b64encode(OTHER.encode()).decode()
    assert c.docmd("AUTH", f"EXTERNAL {z}")[0] == 535
    z = base64.b64encode(USER.encode()).decode()
    assert c.docmd("AUTH", f"EXTERNAL {z}")[0] == 235
    c.quit()


def test_no_certificate_no_external(srv):
    """No certificate: the handshake succeeds, EXTERNAL is not offered
    (504 if asked for), password mechanisms still work."""
    c = session(srv)
    assert "EXTERNAL" not in offered(c)
    assert "PLAIN" in offered(c)
    assert c.docmd("AUTH", "EXTERNAL =")[0] == 504
    c.login(USER, PASSWORD)
    c.quit()


def test_unmapped_certificate_no_external(srv, pki):
    cert = issue(pki, "dave", "/CN=Dave", san="email:dave@example.test")
    c = session(srv, cert)
    assert "EXTERNAL" not in offered(c)
    c.login(USER, PASSWORD)
    c.quit()
    # log_quote() writes '=' inside a value as \x3d (key=value logs)
    assert 'subject="CN\\x3dDave" verify="ok" user=-' in srv.log_text()


def test_other_ca_certificate_no_external(srv, pki):
    """A certificate from a CA we do not trust, even with a mapped SAN:
    the handshake goes on (never required), EXTERNAL is not offered."""
    cert = issue(pki, "mallory", "/CN=Alice", san=f"email:{USER}", ca="other-ca")
    c = session(srv, cert)
    assert "EXTERNAL" not in offered(c)
    assert c.docmd("AUTH", "EXTERNAL =")[0] == 504
    c.quit()
    assert 'verify="unable to verify the first certificate" user=-' in srv.log_text()


def test_curl_other_ca_refused(srv, pki):
    cert = issue(pki, "mallory", "/CN=Alice", san=f"email:{USER}", ca="other-ca")
    before = queue_ids(srv)
    r, _ = curl_send(srv, cert)
    assert r.returncode != 0
    assert queue_ids(srv) == before


def test_implicit_tls_external(srv, pki):
    """submissions (RFC 8314): the certificate comes with the first
    handshake."""
    cert = issue(pki, "alice", "/CN=Alice", san=f"email:{USER}")
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    c = smtplib.SMTP_SSL("127.0.0.1", srv.submissions, context=ctx, timeout=30)
    c.ehlo("test")
    assert "EXTERNAL" in offered(c)
    assert c.docmd("AUTH", "EXTERNAL =")[0] == 235
    c.quit()


def test_postern_send_uses_external(tmp_path, srv, pki):
    cert = issue(pki, "alice", "/CN=Alice", san=f"email:{USER}")
    rc = tmp_path / "msmtprc"
    rc.write_text(f"account default\nhost 127.0.0.1\nport {srv.submission}\ntls on\n"
                  f"tls_starttls on\ntls_trust_file {pki.ca}\ntls_cert_file {cert[0]}\n"
                  f"tls_key_file {cert[1]}\nauth on\nuser {USER}\npassword unused\n"
                  f"from {USER}\n")
    rc.chmod(0o600)
    r = postern("send", "-C", str(rc), "bob@example.test",
                input=b"Subject: ext\r\n\r\ncertificate\r\n", timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    assert f"auth ok client=127.0.0.1 user={USER} mech=EXTERNAL" in srv.log_text()


@pytest.mark.parametrize("conf,want", [
    ("tls_client_map = file:{map}\n", "tls_client_map needs tls_client_ca"),
    ("tls_client_ca = {ca}\ntls_client_map = file:{bad}\n", "bad_map:2: the identity must start"),
    ("tls_client_ca = {ca}\ntls_client_map = {map}\n", "is not file:PATH"),
])
def test_config_errors(tmp_path, pki, conf, want):
    m = tmp_path / "map"
    m.write_text(f"email:{USER} {USER}\n")
    bad = tmp_path / "bad_map"
    bad.write_text(f"email:{USER} {USER}\nCN=x {USER}\n")
    s = PosternServer(tmp_path / "server", pki,
                      extra_conf=conf.format(map=m, bad=bad, ca=pki.ca))
    r = postern("serve", "-c", str(s.conf), "--check")
    assert r.returncode == 1
    assert want in r.stderr.decode(), r.stderr.decode()
