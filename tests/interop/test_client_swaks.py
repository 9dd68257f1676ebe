"""swaks, the SMTP test tool admins reach for first, against `postern
serve`: PLAIN, LOGIN and CRAM-MD5 with STARTTLS on the submission port
and implicit TLS on submissions; a wrong password (535 5.7.8, exit 28,
nothing spooled); a certificate checked against another CA (exit 29,
no AUTH sent); and the relay attempt that every open-relay test makes
(unauthenticated RCPT outside local_domains on the smtp listener ->
554 5.7.1), next to the local delivery that must still work there."""
import re

import pytest

from clients import (LOCAL_RCPT, REMOTE_RCPT, SENDER, WRONG_PASSWORD, assert_auth_failure_logged,
                     assert_not_spooled, assert_spooled, describe, message, output, queue_ids,
                     run_client, tag)
from conftest import PASSWORD, USER

MECHS = ["PLAIN", "LOGIN", "CRAM-MD5"]
MODES = {"starttls": ("submission", ["--tls"]),
         "implicit-tls": ("submissions", ["--tls-on-connect"])}

# swaks exit codes (man swaks, EXIT CODES)
EXIT_NO_RCPT = 24
EXIT_AUTH = 28
EXIT_TLS = 29


def replied(r, code):
    """Did swaks show this reply?  swaks marks server lines '<-' (clear)
    or '<~' (TLS), with '*' in place of the space for error replies."""
    return re.search(r"^<[-~*][ *] " + re.escape(code), output(r), re.M) is not None


def sent(r, command):
    return re.search(r"^ [-~]> " + re.escape(command), output(r), re.M) is not None


def swaks(server, port, *args, data=None, rcpt=REMOTE_RCPT):
    cmd = ["swaks", "--server", server.host, "--port", port, "--helo", "client.example.test",
           "--from", SENDER, "--to", rcpt, "--timeout", "20", *args]
    if data is not None:
        cmd += ["--data", "-"]
    return run_client(cmd, input=data)


def tls_args(server, mode, ca):
    listener, flags = MODES[mode]
    return getattr(server, listener), [*flags, "--tls-verify", "--tls-ca-path", ca]


def auth_args(mech, password):
    return ["--auth", mech, "--auth-user", USER, "--auth-password", password]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("mech", MECHS)
def test_submit(server, mech, mode):
    before = queue_ids(server)
    mark = tag()
    port, tls = tls_args(server, mode, server.pki.ca)
    r = swaks(server, port, *tls, *auth_args(mech, PASSWORD), data=message(mark))
    assert r.returncode == 0, describe(r)
    assert replied(r, "235 2.7.0"), describe(r)
    assert_spooled(server, before, mark, mech=mech)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("mech", MECHS)
def test_wrong_password(server, mech, mode):
    before = queue_ids(server)
    port, tls = tls_args(server, mode, server.pki.ca)
    r = swaks(server, port, *tls, *auth_args(mech, WRONG_PASSWORD), data=message(tag()))
    assert r.returncode == EXIT_AUTH, describe(r)
    assert replied(r, "535 5.7.8"), describe(r)
    assert not sent(r, "MAIL FROM"), describe(r)
    assert_auth_failure_logged(server, mech)
    assert_not_spooled(server, before)


@pytest.mark.parametrize("mode", MODES)
def test_untrusted_certificate(server, mode):
    before = queue_ids(server)
    port, tls = tls_args(server, mode, server.pki.other_ca)
    r = swaks(server, port, *tls, *auth_args("PLAIN", PASSWORD), data=message(tag()))
    assert r.returncode == EXIT_TLS, describe(r)
    assert not sent(r, "AUTH"), describe(r)
    assert_not_spooled(server, before)


def test_relay_denied_without_auth(server):
    """Unauthenticated RCPT to a non-local domain on the MX listener."""
    before = queue_ids(server)
    r = swaks(server, server.smtp, data=message(tag()), rcpt=REMOTE_RCPT)
    assert r.returncode == EXIT_NO_RCPT, describe(r)
    assert sent(r, f"RCPT TO:<{REMOTE_RCPT}>"), describe(r)
    assert replied(r, "554 5.7.1"), describe(r)
    assert_not_spooled(server, before)


def test_relay_denied_with_starttls_but_without_auth(server):
    """TLS alone is not authentication."""
    before = queue_ids(server)
    r = swaks(server, server.smtp, "--tls", "--tls-verify", "--tls-ca-path", server.pki.ca,
              data=message(tag()), rcpt=REMOTE_RCPT)
    assert r.returncode == EXIT_NO_RCPT, describe(r)
    assert replied(r, "554 5.7.1"), describe(r)
    assert_not_spooled(server, before)


def test_local_domain_accepted_without_auth(server):
    """The MX role still takes mail for local_domains from anyone; the
    Received header says plain ESMTP (no TLS, no AUTH)."""
    before = queue_ids(server)
    mark = tag()
    r = swaks(server, server.smtp, data=message(mark, rcpt=LOCAL_RCPT), rcpt=LOCAL_RCPT)
    assert r.returncode == 0, describe(r)
    assert_spooled(server, before, mark, user=None, keyword="ESMTP", rcpt=LOCAL_RCPT)


def test_smtp_listener_relays_after_auth(server):
    """On the MX listener an authenticated client may relay."""
    before = queue_ids(server)
    mark = tag()
    r = swaks(server, server.smtp, "--tls", "--tls-verify", "--tls-ca-path", server.pki.ca,
              *auth_args("CRAM-MD5", PASSWORD), data=message(mark))
    assert r.returncode == 0, describe(r)
    assert_spooled(server, before, mark, mech="CRAM-MD5")


def test_submission_requires_auth(server):
    """MAIL before AUTH on the submission listener: 530 5.7.0."""
    before = queue_ids(server)
    port, tls = tls_args(server, "starttls", server.pki.ca)
    r = swaks(server, port, *tls, data=message(tag()), rcpt=LOCAL_RCPT)
    assert r.returncode != 0, describe(r)
    assert replied(r, "530 5.7.0"), describe(r)
    assert_not_spooled(server, before)
