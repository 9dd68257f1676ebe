"""Postfix + Dovecot SASL as a test peer: first shown working with swaks
(a known-good client), then driven by `postern send` for every mechanism
over STARTTLS and implicit TLS."""
import uuid

import pytest

from conftest import PASSWORD, USER, run
from peers import MECHS, postfix_dovecot  # noqa: F401  (fixture)


def rcpt():
    return f"rcpt-{uuid.uuid4().hex[:12]}@example.org"


def swaks(pd, *args, port=None, tls="--tls"):
    port = port or pd.submission
    return run(["swaks", "--server", f"{pd.host}:{port}", tls,
                "--from", "sender@example.test", "--timeout", "20", *args], timeout=60)


def msmtp(pd, tmp_path, to, mech, password, port=None, starttls=True):
    """msmtp (GNU SASL inside) is the known-good client for SCRAM, which
    swaks does not speak."""
    pw = tmp_path / "pw"
    pw.write_text(password)
    return run(["msmtp", f"--host={pd.host}", f"--port={port or pd.submission}", "--tls=on",
                f"--tls-starttls={'on' if starttls else 'off'}",
                f"--tls-trust-file={pd.pki.ca}", f"--auth={mech.lower()}", f"--user={USER}",
                f"--passwordeval=cat {pw}", "--from=sender@example.test", to],
               input=f"To: {to}\nSubject: msmtp {mech}\n\nhello\n", timeout=60)


# ---- the fixture itself, checked with swaks and msmtp ----

SWAKS_MECHS = ("PLAIN", "LOGIN", "CRAM-MD5")


@pytest.mark.parametrize("mech", SWAKS_MECHS)
def test_swaks_auth_over_starttls_delivers(postfix_dovecot, mech):
    pd = postfix_dovecot
    to = rcpt()
    r = swaks(pd, "--to", to, "--auth", mech, "--auth-user", USER, "--auth-password", PASSWORD)
    assert r.returncode == 0, r.stdout.decode() + pd.log_text()
    msgs = pd.messages_to(to)
    assert len(msgs) == 1
    assert msgs[0]["queue_name"] == "hold"
    assert f"To: {to}" in pd.message(msgs[0]["queue_id"])


def test_swaks_implicit_tls_delivers(postfix_dovecot):
    pd = postfix_dovecot
    to = rcpt()
    r = swaks(pd, "--to", to, "--auth", "PLAIN", "--auth-user", USER,
              "--auth-password", PASSWORD, port=pd.submissions, tls="--tls-on-connect")
    assert r.returncode == 0, r.stdout.decode()
    assert len(pd.messages_to(to)) == 1


@pytest.mark.parametrize("mech", SWAKS_MECHS)
def test_swaks_wrong_password_refused(postfix_dovecot, mech):
    pd = postfix_dovecot
    to = rcpt()
    r = swaks(pd, "--to", to, "--auth", mech, "--auth-user", USER,
              "--auth-password", "wrong " + PASSWORD)
    assert r.returncode != 0
    assert b"535" in r.stdout
    assert pd.messages_to(to) == []


@pytest.mark.parametrize("mech", MECHS)
@pytest.mark.parametrize("starttls", (True, False), ids=("starttls", "tls"))
def test_msmtp_every_mech_delivers(postfix_dovecot, tmp_path, mech, starttls):
    pd = postfix_dovecot
    to = rcpt()
    port = pd.submission if starttls else pd.submissions
    r = msmtp(pd, tmp_path, to, mech, PASSWORD, port=port, starttls=starttls)
    assert r.returncode == 0, r.stderr.decode() + pd.log_text()
    assert len(pd.messages_to(to)) == 1
    # and Postfix logged which mechanism Dovecot checked
    assert f"sasl_method={mech}, sasl_username={USER}" in pd.log_text()


@pytest.mark.parametrize("mech", MECHS)
def test_msmtp_wrong_password_refused(postfix_dovecot, tmp_path, mech):
    pd = postfix_dovecot
    to = rcpt()
    r = msmtp(pd, tmp_path, to, mech, "wrong " + PASSWORD)
    assert r.returncode != 0
    assert b"535" in r.stderr or b"authentication failed" in r.stderr.lower(), r.stderr.decode()
    assert pd.messages_to(to) == []


def test_swaks_no_auth_before_tls(postfix_dovecot):
    """smtpd_tls_auth_only: the clear port offers no AUTH at all, and
    relaying without it is refused."""
    pd = postfix_dovecot
    to = rcpt()
    r = swaks(pd, "--to", to, "--quit-after", "EHLO", port=pd.plain, tls="--no-tls")
    assert r.returncode == 0, r.stdout.decode()
    assert b"AUTH" not in r.stdout.split(b"EHLO", 1)[1]
    r = swaks(pd, "--to", to, port=pd.plain, tls="--no-tls")
    assert r.returncode != 0
    assert b"554" in r.stdout or b"Relay access denied" in r.stdout
    assert pd.messages_to(to) == []
