"""Postfix + Dovecot SASL as a test peer: first shown working with swaks
(a known-good client), then driven by `postern send` for every mechanism
over STARTTLS and implicit TLS."""
import uuid

import pytest

from conftest import POSTERN, PASSWORD, USER, run
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


# ---- `postern send` against Postfix + Dovecot ----

EX_UNAVAILABLE, EX_TEMPFAIL, EX_NOPERM = 69, 75, 77
SEND_MECHS = ("SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN")


def send_conf(tmp_path, pd, mode, mech, password=PASSWORD, trust=None):
    """An msmtprc for postern send with one default account."""
    port = pd.submission if mode == "starttls" else pd.submissions
    conf = tmp_path / f"msmtprc-{mode}-{mech}"
    conf.write_text("\n".join([
        "account pd",
        "host 127.0.0.1",
        f"port {port}",
        "tls on",
        f"tls_starttls {'on' if mode == 'starttls' else 'off'}",
        f"tls_trust_file {trust or pd.pki.ca}",
        f"auth {mech.lower()}",
        f"user {USER}",
        f'password "{password}"',
        "from sender@example.test",
        "account default : pd", ""]))
    conf.chmod(0o600)
    return conf


def postern_send(conf, to, *args, subject="postern send"):
    msg = f"From: sender@example.test\nTo: {to}\nSubject: {subject}\n\nhello\n.dot line\n"
    return run([POSTERN, "send", "-C", str(conf), *args, to], input=msg, timeout=60)


def text(r):
    return r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")


@pytest.mark.parametrize("mode", ("starttls", "tls"))
@pytest.mark.parametrize("mech", SEND_MECHS)
def test_postern_send_delivers(postfix_dovecot, tmp_path, mode, mech):
    pd = postfix_dovecot
    to = rcpt()
    r = postern_send(send_conf(tmp_path, pd, mode, mech), to, "-v", subject=f"{mode} {mech}")
    assert r.returncode == 0, text(r) + pd.log_text()[-3000:]
    assert f"AUTH {mech}" in text(r)
    assert PASSWORD not in text(r)
    msgs = pd.messages_to(to)
    assert len(msgs) == 1, pd.queue()
    stored = pd.message(msgs[0]["queue_id"])
    assert f"Subject: {mode} {mech}" in stored
    # dot-stuffing survived the round trip: one dot, as written
    assert "\n.dot line" in stored.replace("\r\n", "\n")
    assert f"sasl_method={mech}, sasl_username={USER}" in pd.log_text()


@pytest.mark.parametrize("mode", ("starttls", "tls"))
@pytest.mark.parametrize("mech", SEND_MECHS)
def test_postern_send_wrong_password(postfix_dovecot, tmp_path, mode, mech):
    pd = postfix_dovecot
    to = rcpt()
    port = pd.submission if mode == "starttls" else pd.submissions
    r = postern_send(send_conf(tmp_path, pd, mode, mech, password="wrong " + PASSWORD), to)
    assert r.returncode == EX_NOPERM, text(r)
    last = r.stderr.decode().strip().splitlines()[-1]
    assert f"127.0.0.1:{port}" in last and mech in last and "535" in last, last
    assert pd.messages_to(to) == []


def test_postern_send_untrusted_certificate(postfix_dovecot, tmp_path):
    pd = postfix_dovecot
    to = rcpt()
    conf = send_conf(tmp_path, pd, "starttls", "SCRAM-SHA-256", trust=pd.pki.other_ca)
    r = postern_send(conf, to)
    assert r.returncode not in (0, EX_NOPERM), text(r)
    assert "certificate" in r.stderr.decode().lower(), text(r)
    assert pd.messages_to(to) == []
