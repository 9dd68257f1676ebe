"""`postern probe` explains the replies people hit with Microsoft 365 and
Gmail (550 5.7.30, 535 5.7.139, 535 5.7.3, 534-5.7.9) and decodes an
RFC 7628 error status, against a scripted fake server (test_send_fake's)
that answers AUTH the way those providers do, after STARTTLS."""
import base64
import json

import pytest

from test_send_fake import FakeSmtp

from conftest import postern

REPLIES = {
    "550 5.7.30": ("550 5.7.30 Basic authentication is not supported for Client Submission.",
                   "Basic authentication"),
    "535 5.7.139": ("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is "
                    "disabled for the Tenant.", "Set-CASMailbox"),
    "535 5.7.3": ("535 5.7.3 Authentication unsuccessful", "SMTP.Send scope"),
    "534 5.7.9": ("534-5.7.9 Application-specific password required. Learn more at\r\n"
                  "534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor - gsmtp",
                  "app password"),
}


def probe(tmp_path, fake, pki, mech):
    pw = tmp_path / "pw"
    pw.write_text("a.token.or.password\n")
    r = postern("probe", "--starttls", "--tls-trust-file", str(pki.ca), "--user",
                "alice@example.test", "--password-file", str(pw), "--auth", mech,
                f"127.0.0.1:{fake.port}", timeout=60)
    return r, r.stdout.decode(errors="replace")


@pytest.mark.parametrize("key", sorted(REPLIES))
def test_provider_replies_explained(tmp_path, pki, key):
    reply, words = REPLIES[key]
    f = FakeSmtp(["STARTTLS"], tls_caps=["AUTH LOGIN PLAIN"], pki=pki, auth={"LOGIN": reply})
    try:
        r, out = probe(tmp_path, f, pki, "LOGIN")
    finally:
        f.stop()
    assert r.returncode != 0, out
    assert "-- what this reply means: " in out and words in out, out


def test_unknown_reply_not_explained(tmp_path, pki):
    f = FakeSmtp(["STARTTLS"], tls_caps=["AUTH LOGIN"], pki=pki,
                 auth={"LOGIN": "535 5.7.8 Authentication credentials invalid"})
    try:
        r, out = probe(tmp_path, f, pki, "LOGIN")
    finally:
        f.stop()
    assert r.returncode != 0 and "what this reply means" not in out, out


def test_rfc7628_status_decoded(tmp_path, pki):
    status = {"status": "insufficient_scope", "scope": "https://outlook.office.com/SMTP.Send",
              "openid-configuration": "https://login.example/.well-known/openid-configuration"}
    chal = base64.b64encode(json.dumps(status).encode()).decode()
    f = FakeSmtp(["STARTTLS"], tls_caps=["AUTH OAUTHBEARER"], pki=pki,
                 auth={"OAUTHBEARER": "334 " + chal})
    try:
        r, out = probe(tmp_path, f, pki, "OAUTHBEARER")
    finally:
        f.stop()
    assert "RFC 7628 error status): status insufficient_scope: the token lacks the scope" in out, out
    assert "scope needed: https://outlook.office.com/SMTP.Send" in out, out
    assert "provider configuration: https://login.example/.well-known/openid-configuration" in out
    # the client answered the error with %x01 (AQ==), as RFC 7628 3.2.3 asks
    assert "AQ==" in f.lines, f.lines
