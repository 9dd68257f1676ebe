"""msmtp, the sendmail replacement many mail user agents pipe into,
against `postern serve`.  msmtp's `auth` key names the mechanism; its
SCRAM comes from GNU SASL.  PLAIN, CRAM-MD5, SCRAM-SHA-1 and
SCRAM-SHA-256 with STARTTLS on the submission port (and SCRAM-SHA-256
over implicit TLS); a wrong password (535 5.7.8, exit EX_NOPERM 77,
nothing spooled); a certificate checked against another CA."""
import pytest

from clients import (REMOTE_RCPT, SENDER, WRONG_PASSWORD, assert_auth_failure_logged,
                     assert_not_spooled, assert_spooled, describe, message, output, queue_ids,
                     run_client, tag)
from conftest import PASSWORD, USER

MECHS = ["PLAIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"]
EX_NOPERM = 77          # sysexits.h: msmtp's exit for an authentication failure
EX_UNAVAILABLE = 69     # ... and for a TLS failure


def msmtprc(tmp_path, server, mech, password, ca, implicit=False):
    port = server.submissions if implicit else server.submission
    rc = tmp_path / "msmtprc"
    # msmtp refuses a config file with a password readable by others.
    rc.touch(mode=0o600)
    rc.write_text(
        "defaults\n"
        "timeout 20\n"
        "account postern\n"
        f"host {server.host}\n"
        f"port {port}\n"
        "domain client.example.test\n"
        "tls on\n"
        f"tls_starttls {'off' if implicit else 'on'}\n"
        f"tls_trust_file {ca}\n"
        "tls_certcheck on\n"
        f"auth {mech.lower()}\n"
        f"user {USER}\n"
        f'password "{password}"\n'
        f"from {SENDER}\n"
        "account default : postern\n")
    return rc


def msmtp(rc, data):
    return run_client(["msmtp", "-C", rc, "--debug", REMOTE_RCPT], input=data)


@pytest.mark.parametrize("mech", MECHS)
def test_submit(server, tmp_path, mech):
    before = queue_ids(server)
    mark = tag()
    r = msmtp(msmtprc(tmp_path, server, mech, PASSWORD, server.pki.ca), message(mark))
    assert r.returncode == 0, describe(r)
    assert f"--> AUTH {mech}" in output(r), describe(r)
    assert "<-- 235 2.7.0" in output(r), describe(r)
    assert_spooled(server, before, mark, mech=mech)


def test_submit_implicit_tls(server, tmp_path):
    before = queue_ids(server)
    mark = tag()
    r = msmtp(msmtprc(tmp_path, server, "SCRAM-SHA-256", PASSWORD, server.pki.ca, implicit=True),
              message(mark))
    assert r.returncode == 0, describe(r)
    assert_spooled(server, before, mark, mech="SCRAM-SHA-256")


@pytest.mark.parametrize("mech", MECHS)
def test_wrong_password(server, tmp_path, mech):
    before = queue_ids(server)
    r = msmtp(msmtprc(tmp_path, server, mech, WRONG_PASSWORD, server.pki.ca), message(tag()))
    assert r.returncode == EX_NOPERM, describe(r)
    assert "<-- 535 5.7.8" in output(r), describe(r)
    assert "--> MAIL FROM" not in output(r), describe(r)
    assert_auth_failure_logged(server, mech)
    assert_not_spooled(server, before)


def test_untrusted_certificate(server, tmp_path):
    before = queue_ids(server)
    r = msmtp(msmtprc(tmp_path, server, "SCRAM-SHA-256", PASSWORD, server.pki.other_ca),
              message(tag()))
    assert r.returncode == EX_UNAVAILABLE, describe(r)
    assert "TLS certificate verification failed" in output(r), describe(r)
    assert "--> AUTH" not in output(r), describe(r)
    assert_not_spooled(server, before)
