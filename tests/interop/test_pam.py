"""credentials = pam:SERVICE and credentials lists (issue 15 item 4),
with real Unix accounts, a real PAM service file and real clients.

Each test that logs in makes its own Unix account (useradd with a unique
name, chpasswd) and its own service file /etc/pam.d/postern-test-HEX
(pam_unix, plus pam_faildelay asking for a 5 s delay on failure, which
postern must switch off: its own throttle decides), and removes both
at teardown.  That needs root, as CI has; without root these tests fail
and say so (never skip).

Shown: swaks and smtplib log in with PLAIN and LOGIN through PAM and the
mail is spooled as that user; a wrong password gets 535 5.7.8, the
fail2ban line and PAM's reason in the log (never the password), is
counted by the AUTH throttle like any other (delays, then 454) and is
not delayed by PAM itself; SCRAM and CRAM-MD5 are not advertised (504
when asked) and `serve --check` says why; `postern passwd` refuses to
edit a PAM store and `passwd check` goes through PAM; a list `file:users
pam:SERVICE` logs in a SCRAM user of the file and a Unix user alike, a
file user is decided by the file even when a Unix account of the same
name exists, and a Unix user asked for SCRAM fails like an unknown user
(a made-up salt, then 535); a successful PAM login is cached until
SIGHUP."""
import base64
import os
import re
import secrets
import smtplib
import ssl
import subprocess
import time

import pytest

from clients import (LOCAL_RCPT, REMOTE_RCPT, assert_auth_failure_logged, assert_spooled,
                     describe, message, output, queue_ids, run_client, secret_forms, tag)
from conftest import PosternServer, postern, run
from spray import login
from test_server_dialogue import Dialogue

TIMEOUT = 20
# The delay pam_faildelay asks for in the service file: a wrong password
# answered sooner shows that PAM_FAIL_DELAY is ours.
PAM_DELAY_S = 5


def need_root():
    if os.geteuid() != 0:
        pytest.fail("needs root: it creates a Unix account and /etc/pam.d/postern-test-* "
                    "(CI runs the interop tests as root)")


def _retry(args, input=None):
    """useradd/userdel/chpasswd lock /etc/passwd and /etc/shadow and give
    up at once when another test holds the lock: try again a few times."""
    for _ in range(50):
        r = run(args, input=input, timeout=30)
        if r.returncode == 0 or b"lock" not in r.stderr:
            return r
        time.sleep(0.1)
    return r


class Accounts:
    """Unix accounts made for one test, removed at its end."""

    def __init__(self):
        self.names = []

    def add(self, password):
        name = "pst" + secrets.token_hex(5)
        r = _retry(["useradd", "--no-create-home", "--no-user-group", "--shell",
                    "/usr/sbin/nologin", name])
        assert r.returncode == 0, describe(r)
        self.names.append(name)
        self.set_password(name, password)
        return name

    def set_password(self, name, password):
        r = _retry(["chpasswd"], input=f"{name}:{password}\n")
        assert r.returncode == 0, describe(r)

    def remove(self):
        for name in self.names:
            _retry(["userdel", name])


@pytest.fixture
def accounts():
    need_root()
    a = Accounts()
    yield a
    a.remove()


@pytest.fixture
def service():
    """A PAM service of our own: pam_unix for auth and account."""
    need_root()
    name = "postern-test-" + secrets.token_hex(6)
    path = f"/etc/pam.d/{name}"
    with open(path, "w") as f:
        f.write(f"auth optional pam_faildelay.so delay={PAM_DELAY_S * 1000000}\n"
                "auth required pam_unix.so\n"
                "account required pam_unix.so\n")
    yield name
    os.unlink(path)


def pam_server(tmp_path, pki, service, extra="", credentials=None):
    s = PosternServer(tmp_path / "server", pki,
                      f"credentials = {credentials or 'pam:' + service}\n" + extra)
    return s


@pytest.fixture
def server(tmp_path, pki, service):
    s = pam_server(tmp_path, pki, service, "legacy_auth_line = yes\n").start()
    yield s
    s.stop()


def smtp_tls(server):
    ctx = ssl.create_default_context(cafile=str(server.pki.ca))
    s = smtplib.SMTP(server.host, server.submission, timeout=TIMEOUT)
    s.ehlo("client.example.test")
    s.starttls(context=ctx)
    s.ehlo("client.example.test")
    return s


def swaks(server, user, password, mech, mark):
    return run_client(["swaks", "--server", server.host, "--port", server.submission,
                       "--helo", "client.example.test", "--tls", "--tls-verify",
                       "--tls-ca-path", server.pki.ca, "--timeout", "20",
                       "--from", f"{user}@example.test", "--to", REMOTE_RCPT,
                       "--auth", mech, "--auth-user", user, "--auth-password", password,
                       "--data", "-"], input=message(mark, sender=f"{user}@example.test"))


def assert_no_secret(server, user, password):
    log = server.log_text()
    for form in secret_forms(password, user):
        assert form not in log, f"the log holds a secret ({form[:6]}...):\n{log[-3000:]}"


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


# ---- pam:SERVICE alone ----

@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_swaks_logs_in_through_pam(server, accounts, mech):
    pw = "Unix pw " + secrets.token_hex(4)
    user = accounts.add(pw)
    before = queue_ids(server)
    mark = tag()
    r = swaks(server, user, pw, mech, mark)
    assert r.returncode == 0, describe(r)
    assert "235 2.7.0" in output(r), describe(r)
    assert_spooled(server, before, mark, user=user, mech=mech, sender=f"{user}@example.test")
    assert_no_secret(server, user, pw)


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_smtplib_logs_in_through_pam(server, accounts, mech):
    pw = "Unix pw " + secrets.token_hex(4)
    user = accounts.add(pw)
    before = queue_ids(server)
    mark = tag()
    s = smtp_tls(server)
    try:
        # smtplib sends LOGIN's user name as an initial response
        s.user, s.password = user, pw
        code, _ = s.auth(mech, getattr(s, "auth_" + mech.lower()))
        assert code == 235
        s.sendmail(f"{user}@example.test", [REMOTE_RCPT],
                   message(mark, sender=f"{user}@example.test"))
    finally:
        s.quit()
    assert_spooled(server, before, mark, user=user, mech=mech, sender=f"{user}@example.test")
    assert_no_secret(server, user, pw)


def test_only_password_mechanisms_advertised(server):
    """SCRAM and CRAM-MD5 need derived secrets PAM cannot give: not in
    EHLO (either AUTH line) and 504 when asked for all the same."""
    s = smtp_tls(server)
    try:
        # both lines: "AUTH PLAIN LOGIN" and the pre-RFC "AUTH=PLAIN LOGIN"
        assert s.esmtp_features["auth"].split() == ["PLAIN", "LOGIN", "PLAIN", "LOGIN"]
        for mech in ("SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5"):
            assert s.docmd("AUTH", mech) == (504, b"5.5.4 Unrecognized authentication type")
    finally:
        s.quit()
    d = Dialogue(server.submissions, tls_ctx=ssl.create_default_context(cafile=str(server.pki.ca)))
    lines = d.cmd("EHLO client.example.test")
    assert b"250-AUTH PLAIN LOGIN\r\n" in lines and b"250-AUTH=PLAIN LOGIN\r\n" in lines, lines
    d.close()


def test_check_names_the_dropped_mechanisms(tmp_path, pki, service):
    s = pam_server(tmp_path, pki, service)
    r = postern("serve", "-c", str(s.conf), "--check")
    out = output(r)
    assert r.returncode == 0, describe(r)
    for mech in ("SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5"):
        assert (f"{s.conf}: auth_mechanisms: {mech} not offered: credentials 'pam:{service}': "
                "PAM checks passwords only; SCRAM and CRAM-MD5 need secrets derived from the "
                "password") in out, out
    assert "PLAIN not offered" not in out and "LOGIN not offered" not in out, out
    assert out.rstrip().endswith(f"{s.conf}: ok"), out
    # a list with a file store can complete them all: nothing dropped
    s.write_conf(f"credentials = file:users pam:{service}\n")
    s.users.write_text("")     # an empty users file is an empty store
    r = postern("serve", "-c", str(s.conf), "--check")
    assert r.returncode == 0 and "not offered" not in output(r), describe(r)


def test_missing_service_file_refused(tmp_path, pki):
    """No /etc/pam.d/SERVICE: PAM would use /etc/pam.d/other (on Debian
    the system's common-auth), so postern refuses to start."""
    svc = "postern-test-absent-" + secrets.token_hex(4)
    s = PosternServer(tmp_path / "server", pki, f"credentials = pam:{svc}\n")
    r = postern("serve", "-c", str(s.conf), "--check")
    assert r.returncode == 1, describe(r)
    assert output(r) == (f"postern: credentials pam:{svc}: /etc/pam.d/{svc}: no such service "
                         f"file (PAM would fall back to /etc/pam.d/other); write one for "
                         f"pam:{svc}, e.g. 'auth required pam_unix.so' and 'account required "
                         f"pam_unix.so'\n"), describe(r)


def test_wrong_password_refused_logged_and_throttled(tmp_path, pki, service, accounts):
    pw = "Unix pw " + secrets.token_hex(4)
    user = accounts.add(pw)
    # 3 failures per address, then delays of 250, 500, 1000 ms, then 454
    # (as test_fail2ban.py does for the file store)
    s = pam_server(tmp_path, pki, service,
                   "auth_fail_limit_ip_day = 3\nauth_delay_max = 1s\n").start()
    try:
        ctx = ssl.create_default_context(cafile=str(pki.ca))
        t0 = time.monotonic()
        code, _ = login(s.submission, ctx, "127.0.0.1", user, "not the password")
        took = time.monotonic() - t0
        assert code == 535
        # pam_faildelay asked for PAM_DELAY_S: PAM_FAIL_DELAY is ours
        assert took < PAM_DELAY_S, f"a wrong password took {took:.1f} s: PAM slept"
        assert_auth_failure_logged(s, "PLAIN", user=user, password="not the password")
        assert re.search(rf"store=pam service={service} user={user} step=pam_authenticate "
                         r'result="Authentication failure"', s.log_text()), s.log_text()[-2000:]
        # the throttle counts PAM failures like any other, per address
        codes = [login(s.submission, ctx, "127.0.0.5", user, f"guess{i}")[0] for i in range(8)]
        assert codes == [535] * 6 + [454] * 2, codes
        log = s.log_text()
        assert len(re.findall(r"auth throttled: client=127\.0\.0\.5 action=delay ", log)) == 3, log
        assert re.search(r"auth throttled: client=127\.0\.0\.5 action=refuse ", log), log
        # the right password from elsewhere is not locked out
        assert login(s.submission, ctx, "127.0.0.6", user, pw)[0] == 235
        assert_no_secret(s, user, pw)
        assert "guess1" not in log
    finally:
        s.stop()


def test_login_cache_until_sighup(server, accounts):
    """A successful PAM login is remembered (STORE_PAM_CACHE_TTL): the
    old password works after passwd(1) changed it, until SIGHUP."""
    import signal
    ctx = ssl.create_default_context(cafile=str(server.pki.ca))
    old = "Unix pw " + secrets.token_hex(4)
    user = accounts.add(old)
    assert login(server.submission, ctx, "127.0.0.1", user, old)[0] == 235
    accounts.set_password(user, "new " + old)
    assert login(server.submission, ctx, "127.0.0.1", user, old)[0] == 235
    server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "auth: reloaded" not in server.log_text():
        assert time.monotonic() < deadline, server.log_text()[-2000:]
        time.sleep(0.05)
    assert login(server.submission, ctx, "127.0.0.1", user, old)[0] == 535
    assert login(server.submission, ctx, "127.0.0.1", user, "new " + old)[0] == 235


def test_passwd_on_a_pam_store(tmp_path, pki, service, accounts):
    pw = "Unix pw " + secrets.token_hex(4)
    user = accounts.add(pw)
    s = pam_server(tmp_path, pki, service)
    managed = (f"postern passwd: {s.conf}: credentials 'pam:{service}': the store is "
               "PAM-managed: its users are the system's accounts (useradd, passwd(1)), not "
               "postern's; postern passwd add, del and list edit file: stores only (check works)\n")
    for args, stdin in ((["add", "bob"], "secret\n"), (["del", user], None), (["list"], None)):
        r = postern("passwd", "-c", str(s.conf), *args, input=stdin)
        assert r.returncode == 1, describe(r)
        assert r.stderr.decode() == managed, describe(r)
    r = postern("passwd", "-c", str(s.conf), "check", user, input=pw + "\n")
    assert r.returncode == 0, describe(r)
    assert r.stdout.decode() == f"postern passwd: pam:{service}: user '{user}': password is right\n"
    r = postern("passwd", "-c", str(s.conf), "check", user, input="wrong\n")
    assert r.returncode == 1, describe(r)
    assert r.stderr.decode() == f"postern passwd: pam:{service}: user '{user}': wrong password\n"


# ---- a list: file:users pam:SERVICE ----

def scram_first(d, mech, user):
    """Sends SCRAM's client-first message; returns the server-first one."""
    lines = d.cmd(f"AUTH {mech} " + b64(f"n,,n={user},r=clientnonce0123456789"))
    assert len(lines) == 1 and lines[0].startswith(b"334 "), lines
    return base64.b64decode(lines[0][4:].strip()).decode()


def test_list_file_scram_user_and_pam_unix_user(tmp_path, pki, service, accounts):
    unix_pw = "Unix pw " + secrets.token_hex(4)
    unix_user = accounts.add(unix_pw)
    # a Unix account with the file user's name, and another password
    twin = accounts.add("twin unix " + secrets.token_hex(4))
    file_pw = "file pw " + secrets.token_hex(4)
    s = pam_server(tmp_path, pki, service, credentials=f"file:users pam:{service}")
    r = postern("passwd", "-c", str(s.conf), "add", twin, input=file_pw + "\n")
    assert r.returncode == 0 and "added" in output(r), describe(r)
    s.start()
    try:
        sm = smtp_tls(s)
        try:
            assert sm.esmtp_features["auth"].split() == [
                "SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN"]
        finally:
            sm.quit()
        # the file's user with SCRAM-SHA-256, through gsasl
        r = run_client(["gsasl", "--smtp", f"--connect={s.host}:{s.submission}",
                        "--mechanism", "SCRAM-SHA-256", "--no-cb", f"--x509-ca-file={pki.ca}",
                        "--authentication-id", twin, "--password", file_pw], input="")
        assert r.returncode == 0 and "235 " in output(r), describe(r)
        ctx = ssl.create_default_context(cafile=str(pki.ca))
        # the file decides for its user: the Unix password of the same
        # name does not work, the file's does (also with PLAIN)
        assert login(s.submission, ctx, "127.0.0.1", twin, accounts_pw(accounts, twin))[0] == 535
        assert login(s.submission, ctx, "127.0.0.1", twin, file_pw)[0] == 235
        # anyone else is PAM's: the Unix user with swaks
        before = queue_ids(s)
        mark = tag()
        r = swaks(s, unix_user, unix_pw, "PLAIN", mark)
        assert r.returncode == 0, describe(r)
        assert_spooled(s, before, mark, user=unix_user, mech="PLAIN",
                       sender=f"{unix_user}@example.test")
        # a Unix user asked for SCRAM: like an unknown user, a made-up
        # salt (stable per name) and the iteration count real users have
        d = Dialogue(s.submissions, tls_ctx=ctx)
        d.cmd("EHLO client.example.test")
        first = scram_first(d, "SCRAM-SHA-256", unix_user)
        assert re.fullmatch(r"r=clientnonce0123456789\S+,s=[A-Za-z0-9+/=]+,i=4096", first), first
        again = Dialogue(s.submissions, tls_ctx=ctx)
        again.cmd("EHLO client.example.test")
        assert scram_first(again, "SCRAM-SHA-256", unix_user).split(",")[1] == first.split(",")[1]
        again.close()
        nonce = first.split(",")[0][2:]
        proof = b64(bytes(32))
        lines = d.cmd(b64(f"c=biws,r={nonce},p={proof}"))
        assert lines == [b"535 5.7.8 Authentication credentials invalid\r\n"], lines
        d.close()
        assert re.search(rf"auth failed: client=127\.0\.0\.1 user={unix_user} mech=SCRAM-SHA-256 .*"
                         r'why="unknown user"', s.log_text()), s.log_text()[-2000:]
        assert_no_secret(s, unix_user, unix_pw)
        assert_no_secret(s, twin, file_pw)
    finally:
        s.stop()


def accounts_pw(accounts, name):
    """The twin's Unix password, set again here so the test knows it."""
    pw = "twin unix again " + secrets.token_hex(4)
    accounts.set_password(name, pw)
    return pw


def test_list_rules_checked(tmp_path, pki, service):
    s = PosternServer(tmp_path / "server", pki, f"credentials = pam:{service} file:users\n")
    r = postern("serve", "-c", str(s.conf), "--check")
    assert r.returncode == 1, describe(r)
    assert (f"credentials 'pam:{service} file:users': pam: must come last (PAM cannot tell an "
            "unknown user from a wrong password, so no backend after it would be asked)") \
        in output(r), describe(r)


def test_passwd_edits_the_file_of_a_list(tmp_path, pki, service):
    s = pam_server(tmp_path, pki, service, credentials=f"file:users pam:{service}")
    r = postern("passwd", "-c", str(s.conf), "add", "carol", input="carol's pw\n")
    assert r.returncode == 0, describe(r)
    assert output(r) == f"postern passwd: {s.dir}/users: user 'carol' added\n"
    r = postern("passwd", "-c", str(s.conf), "list")
    assert r.returncode == 0 and r.stdout.decode() == "carol\n", describe(r)


# ---- the RCPT check with a PAM store ----

def test_unix_accounts_are_local_recipients(tmp_path, pki, service, accounts):
    """With credentials = pam:..., the system's accounts are the local
    recipients (as Postfix's local_recipient_maps = unix:passwd.byname):
    a Unix user gets 250 at RCPT, a name no account has gets 550 5.1.1."""
    user = accounts.add("Unix pw " + secrets.token_hex(4))
    s = pam_server(tmp_path, pki, service)
    s.recipients.write_text("postern-listed@example.test\n")   # no catch-all
    s.start()
    try:
        c = smtplib.SMTP(s.host, s.smtp, timeout=TIMEOUT)     # the MX role: no AUTH needed
        try:
            c.ehlo("client.example.test")
            assert c.mail("sender@elsewhere.test")[0] == 250
            code, msg = c.rcpt(f"{user}@example.test")
            assert code == 250, (code, msg)
            code, msg = c.rcpt("pst-no-such-account-" + secrets.token_hex(3) + "@example.test")
            assert code == 550 and b"5.1.1" in msg, (code, msg)
        finally:
            c.close()
    finally:
        s.stop()
