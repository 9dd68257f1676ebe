"""Python's smtplib, a real and widely used client, against `postern serve`:
PLAIN, LOGIN (smtplib sends the user name as LOGIN's initial response)
and CRAM-MD5 after STARTTLS on the submission port and over implicit
TLS on submissions; a wrong password gets 535 5.7.8 and nothing is
spooled; a certificate from another CA is refused before any AUTH."""
import smtplib
import ssl

import pytest

from clients import (REMOTE_RCPT, SENDER, WRONG_PASSWORD, assert_auth_failure_logged,
                     assert_not_spooled, assert_spooled, message, queue_ids, tag)
from conftest import PASSWORD, USER

MECHS = ["PLAIN", "LOGIN", "CRAM-MD5"]
AUTH_FN = {"PLAIN": "auth_plain", "LOGIN": "auth_login", "CRAM-MD5": "auth_cram_md5"}
TIMEOUT = 20


def tls_context(cafile):
    ctx = ssl.create_default_context(cafile=str(cafile))
    ctx.check_hostname = True
    return ctx


def connect(server, implicit, cafile):
    ctx = tls_context(cafile)
    if implicit:
        s = smtplib.SMTP_SSL(server.host, server.submissions, timeout=TIMEOUT, context=ctx)
        s.ehlo("client.example.test")
        return s
    s = smtplib.SMTP(server.host, server.submission, timeout=TIMEOUT)
    try:
        s.ehlo("client.example.test")
        code, _ = s.starttls(context=ctx)
        assert code == 220
        s.ehlo("client.example.test")
    except BaseException:
        s.close()
        raise
    return s


def auth(s, mech, password):
    """AUTH with exactly this mechanism, the way smtplib.login() would
    (initial response where smtplib sends one)."""
    assert s.has_extn("auth"), "no AUTH in EHLO after TLS"
    offered = s.esmtp_features["auth"].upper().split()
    assert mech in offered, f"{mech} not offered after TLS: {offered}"
    s.user, s.password = USER, password
    return s.auth(mech, getattr(s, AUTH_FN[mech]))


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "implicit-tls"])
@pytest.mark.parametrize("mech", MECHS)
def test_submit(server, mech, implicit):
    before = queue_ids(server)
    mark = tag()
    s = connect(server, implicit, server.pki.ca)
    try:
        code, text = auth(s, mech, PASSWORD)
        assert code == 235 and text.startswith(b"2.7.0"), (code, text)
        refused = s.sendmail(SENDER, [REMOTE_RCPT], message(mark))
        assert refused == {}
    finally:
        s.quit()
    assert_spooled(server, before, mark, mech=mech)


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "implicit-tls"])
@pytest.mark.parametrize("mech", MECHS)
def test_wrong_password(server, mech, implicit):
    before = queue_ids(server)
    s = connect(server, implicit, server.pki.ca)
    try:
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            auth(s, mech, WRONG_PASSWORD)
        assert e.value.smtp_code == 535 and e.value.smtp_error.startswith(b"5.7.8"), e.value
        # The session goes on unauthenticated: MAIL on submission needs AUTH.
        code, text = s.mail(SENDER)
        assert code == 530 and text.startswith(b"5.7.0"), (code, text)
    finally:
        s.quit()
    assert_auth_failure_logged(server, mech)
    assert_not_spooled(server, before)


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "implicit-tls"])
def test_untrusted_certificate(server, implicit):
    """A client that trusts only another CA must refuse the server."""
    before = queue_ids(server)
    with pytest.raises(ssl.SSLCertVerificationError):
        connect(server, implicit, server.pki.other_ca)
    assert_not_spooled(server, before)
