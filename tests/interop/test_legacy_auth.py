"""Old clients (issue 15 item 7): the pre-RFC "250-AUTH=" EHLO line,
off by default and on with legacy_auth_line = yes (as Postfix's
broken_sasl_auth_clients), listing exactly the mechanisms of the AUTH
line; and LOGIN as embedded devices expect it (draft-murchison-sasl-login
describes no RFC): base64 "Username:" and "Password:" prompts, and the
user name accepted as an initial response (smtplib sends it so; Minolta
copiers and Veeam too), with a wrong password still refused.

smtplib reads "AUTH=" lines (smtplib.OLDSTYLE_AUTH) and adds their
mechanisms to esmtp_features["auth"]: that is how a Python client sees
the line."""
import base64
import re
import smtplib
import ssl

import pytest

from clients import describe, output, run_client
from conftest import PASSWORD, USER, postern, started_server
from test_server_dialogue import Dialogue

TIMEOUT = 20
ALL = "SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN"
NO_TLS = "SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5"     # PLAIN/LOGIN need TLS


def b64(s):
    return base64.b64encode(s.encode()).decode()


@pytest.fixture
def legacy(tmp_path, pki):
    s = started_server(tmp_path / "legacy", pki, "legacy_auth_line = yes\n")
    yield s
    s.stop()


def ehlo_tls(server):
    """The EHLO reply after implicit TLS, as raw lines."""
    ctx = ssl.create_default_context(cafile=str(server.pki.ca))
    d = Dialogue(server.submissions, tls_ctx=ctx)
    lines = d.cmd("EHLO client.example.test")
    return d, lines


def smtplib_auth_feature(server):
    ctx = ssl.create_default_context(cafile=str(server.pki.ca))
    with smtplib.SMTP_SSL(server.host, server.submissions, context=ctx, timeout=TIMEOUT) as s:
        s.ehlo("client.example.test")
        return s.esmtp_features["auth"]


def test_no_legacy_line_by_default(server):
    d, lines = ehlo_tls(server)
    d.close()
    assert f"250-AUTH {ALL}\r\n".encode() in lines, lines
    assert not [l for l in lines if l.startswith(b"250-AUTH=")], lines
    assert smtplib_auth_feature(server).split() == ALL.split()


def test_legacy_line_lists_the_auth_line_mechanisms(legacy):
    d, lines = ehlo_tls(legacy)
    d.close()
    i = lines.index(f"250-AUTH {ALL}\r\n".encode())
    assert lines[i + 1] == f"250-AUTH={ALL}\r\n".encode(), lines
    # smtplib appends the old-style line's mechanisms to the AUTH feature
    assert smtplib_auth_feature(legacy).split() == ALL.split() * 2
    # without TLS both lines drop the mechanisms that send the password
    d = Dialogue(legacy.smtp)
    lines = d.cmd("EHLO client.example.test")
    d.close()
    assert f"250-AUTH {NO_TLS}\r\n".encode() in lines, lines
    assert f"250-AUTH={NO_TLS}\r\n".encode() in lines, lines
    # and where AUTH is not offered (submission before STARTTLS), neither
    d = Dialogue(legacy.submission)
    lines = d.cmd("EHLO client.example.test")
    d.close()
    assert not [l for l in lines if l.startswith(b"250-AUTH")], lines


def test_old_client_reads_auth_equals_and_logs_in(tmp_path, pki):
    """An Outlook-Express-like client: finds LOGIN on the "AUTH=" line and
    answers the Username:/Password: prompts."""
    s = started_server(tmp_path / "old", pki,
                       "legacy_auth_line = yes\nauth_mechanisms = PLAIN LOGIN\n")
    try:
        d, lines = ehlo_tls(s)
        old = [l for l in lines if l.startswith(b"250-AUTH=")]
        assert old == [b"250-AUTH=PLAIN LOGIN\r\n"], lines
        assert b"LOGIN" in old[0][len(b"250-AUTH="):].split()
        assert d.cmd("AUTH LOGIN") == [b"334 VXNlcm5hbWU6\r\n"]
        assert d.cmd(b64(USER)) == [b"334 UGFzc3dvcmQ6\r\n"]
        assert d.cmd(b64(PASSWORD)) == [b"235 2.7.0 Authentication successful\r\n"]
        d.close()
    finally:
        s.stop()


def test_legacy_line_value_checked(tmp_path, pki):
    from conftest import PosternServer
    s = PosternServer(tmp_path / "bad", pki, "legacy_auth_line = maybe\n")
    r = postern("serve", "-c", str(s.conf), "--check")
    assert r.returncode == 1, describe(r)
    line = s.conf.read_text().splitlines().index("legacy_auth_line = maybe") + 1
    assert re.search(rf"^postern: {re.escape(str(s.conf))}:{line}: legacy_auth_line: .*maybe",
                     output(r)), describe(r)


# ---- LOGIN as devices expect it ----

def test_login_prompts_username_then_password(server):
    d, _ = ehlo_tls(server)
    try:
        assert d.cmd("AUTH LOGIN") == [b"334 VXNlcm5hbWU6\r\n"]       # "Username:"
        assert d.cmd(b64(USER)) == [b"334 UGFzc3dvcmQ6\r\n"]          # "Password:"
        assert d.cmd(b64(PASSWORD)) == [b"235 2.7.0 Authentication successful\r\n"]
    finally:
        d.close()


def test_login_user_name_as_initial_response(server):
    d, _ = ehlo_tls(server)
    try:
        assert d.cmd("AUTH LOGIN " + b64(USER)) == [b"334 UGFzc3dvcmQ6\r\n"]
        assert d.cmd(b64("wrong " + PASSWORD)) == [
            b"535 5.7.8 Authentication credentials invalid\r\n"]
        assert d.cmd("AUTH LOGIN " + b64(USER)) == [b"334 UGFzc3dvcmQ6\r\n"]
        assert d.cmd(b64(PASSWORD)) == [b"235 2.7.0 Authentication successful\r\n"]
    finally:
        d.close()


def test_smtplib_login_sends_initial_response(server, capsys):
    ctx = ssl.create_default_context(cafile=str(server.pki.ca))
    with smtplib.SMTP_SSL(server.host, server.submissions, context=ctx, timeout=TIMEOUT) as s:
        s.set_debuglevel(1)
        s.ehlo("client.example.test")
        s.user, s.password = USER, PASSWORD
        code, _ = s.auth("LOGIN", s.auth_login)     # initial_response_ok=True
        assert code == 235
    # smtplib's debug transcript (stderr): the user name on the AUTH line
    err = capsys.readouterr().err
    assert f"send: 'AUTH LOGIN {b64(USER)}\\r\\n'" in err, err
    assert "reply: b'334 UGFzc3dvcmQ6\\r\\n'" in err, err


def test_swaks_login_sees_the_prompts(server):
    r = run_client(["swaks", "--server", server.host, "--port", server.submissions,
                    "--tls-on-connect", "--tls-verify", "--tls-ca-path", server.pki.ca,
                    "--helo", "client.example.test", "--quit-after", "AUTH",
                    "--auth", "LOGIN", "--auth-user", USER, "--auth-password", PASSWORD])
    out = output(r)
    assert r.returncode == 0, describe(r)
    assert re.search(r"^<~  334 VXNlcm5hbWU6$", out, re.M), out
    assert re.search(r"^<~  334 UGFzc3dvcmQ6$", out, re.M), out
    assert re.search(r"^<~  235 2\.7\.0 ", out, re.M), out
