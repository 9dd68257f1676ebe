"""curl (libcurl's SMTP, with its own SASL engine) against `postern
serve`: PLAIN, LOGIN and CRAM-MD5 chosen with --login-options AUTH=MECH,
over smtps:// (implicit TLS, RFC 8314) and over smtp:// with STARTTLS
required (--ssl-reqd); a wrong password (535 5.7.8, curl exit 67, nothing
spooled) and a certificate checked against another CA (exit 60)."""
import re

import pytest

from clients import (REMOTE_RCPT, SENDER, WRONG_PASSWORD, assert_auth_failure_logged,
                     assert_not_spooled, assert_spooled, describe, message, output, queue_ids,
                     run_client, tag)
from conftest import PASSWORD, USER

MECHS = ["PLAIN", "LOGIN", "CRAM-MD5"]
MODES = ["smtps", "starttls"]

EXIT_LOGIN_DENIED = 67      # CURLE_LOGIN_DENIED
EXIT_PEER_CERT = 60         # CURLE_PEER_FAILED_VERIFICATION


def curl(server, mode, mech, password, ca, data):
    if mode == "smtps":
        url, tls = f"smtps://{server.host}:{server.submissions}/client.example.test", []
    else:
        url, tls = f"smtp://{server.host}:{server.submission}/client.example.test", ["--ssl-reqd"]
    cmd = ["curl", "--silent", "--show-error", "--verbose", "--max-time", "20",
           "--url", url, *tls, "--cacert", ca,
           "--user", f"{USER}:{password}", "--login-options", f"AUTH={mech}",
           "--mail-from", SENDER, "--mail-rcpt", REMOTE_RCPT, "--upload-file", "-"]
    return run_client(cmd, input=data)


def replied(r, code):
    """curl --verbose shows server lines as '< 235 ...'."""
    return re.search(r"^< " + re.escape(code), output(r), re.M) is not None


def sent_auth(r):
    return re.search(r"^> AUTH ", output(r), re.M) is not None


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("mech", MECHS)
def test_submit(server, mech, mode):
    before = queue_ids(server)
    mark = tag()
    r = curl(server, mode, mech, PASSWORD, server.pki.ca, message(mark))
    assert r.returncode == 0, describe(r)
    assert re.search(rf"^> AUTH {mech}\b", output(r), re.M), describe(r)
    assert replied(r, "235 2.7.0"), describe(r)
    assert_spooled(server, before, mark, mech=mech)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("mech", MECHS)
def test_wrong_password(server, mech, mode):
    before = queue_ids(server)
    r = curl(server, mode, mech, WRONG_PASSWORD, server.pki.ca, message(tag()))
    assert r.returncode == EXIT_LOGIN_DENIED, describe(r)
    assert replied(r, "535 5.7.8"), describe(r)
    assert not re.search(r"^> MAIL FROM", output(r), re.M), describe(r)
    assert_auth_failure_logged(server, mech)
    assert_not_spooled(server, before)


@pytest.mark.parametrize("mode", MODES)
def test_untrusted_certificate(server, mode):
    before = queue_ids(server)
    r = curl(server, mode, "PLAIN", PASSWORD, server.pki.other_ca, message(tag()))
    assert r.returncode == EXIT_PEER_CERT, describe(r)
    assert not sent_auth(r), describe(r)
    assert_not_spooled(server, before)
