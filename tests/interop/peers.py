"""Third-party test peers: Postfix with Dovecot as its SASL provider.

Both run as root but entirely inside one private folder, on free
loopback ports, with their own configuration; nothing under /etc is
read or written except Postfix's shared meta files (postfix-files,
dynamicmaps.cf), which Postfix only reads.

    from peers import postfix_dovecot      # session-scoped fixture
    def test_x(postfix_dovecot):
        pd = postfix_dovecot
        pd.submission / pd.submissions      # STARTTLS / implicit-TLS ports
        pd.queue()                          # messages held in Postfix's queue

Accepted mail is put on Postfix's hold queue by an smtpd restriction
(HOLD), so it stays visible to `postqueue -j` and `postcat -q ID` and is
never delivered anywhere.

Dovecot's passwd-file stores the test password as {PLAIN}: one passdb
entry holds one scheme, and of the schemes Dovecot knows only the
plaintext one can serve all five mechanisms (CRAM-MD5 needs {CRAM-MD5}
or plaintext, SCRAM-SHA-1 needs {SCRAM-SHA-1} or plaintext, SCRAM-SHA-256
needs {SCRAM-SHA-256} or plaintext).  The secret is a test constant in a
throw-away folder; a real deployment would store one hashed scheme per
mechanism it offers.
"""
import contextlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import PASSWORD, USER, free_port, run, stop_process, wait_port

MECHS = ("PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256")

DOVECOT_CONF = """\
# Auth-only Dovecot for the postern test suite.
base_dir = {d}/run
state_dir = {d}/state
instance_name = postern-test-{tag}
protocols =
ssl = no
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
auth_verbose = yes
# Tests make many failed attempts on purpose; no 2 s tarpit each.
auth_failure_delay = 0
# Postfix already refuses AUTH before TLS (smtpd_tls_auth_only); the
# Postfix -> Dovecot socket is local and carries no TLS flag of its own.
disable_plaintext_auth = no
auth_mechanisms = plain login cram-md5 scram-sha-1 scram-sha-256
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}}
service auth {{
  unix_listener {queue}/private/auth {{
    mode = 0660
    user = postfix
    group = postfix
  }}
}}
# No per-IP penalty (up to 15 s) after failures: the tests fail on purpose.
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {queue}
data_directory = {d}/data
meta_directory = /etc/postfix
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
syslog_name = postfix-postern-{tag}
maillog_file_prefixes = {d}
maillog_file = {d}/postfix.log
myhostname = mx.postern.test
mydomain = postern.test
myorigin = $myhostname
mydestination =
local_recipient_maps =
relayhost =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
smtpd_banner = $myhostname ESMTP postern-test-peer
smtpd_tls_cert_file = {d}/tls/server.pem
smtpd_tls_key_file = {d}/tls/server.key
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = {rcpt_checks}permit_sasl_authenticated, reject
# Everything accepted waits on the hold queue: visible, never delivered.
smtpd_data_restrictions = check_client_access static:HOLD
smtpd_client_connection_rate_limit = 0
smtpd_client_auth_rate_limit = 0
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
message_size_limit = 10240000
"""

MASTER_CF = """\
{port_starttls} inet n - n - - smtpd
  -o syslog_name=postfix-postern-{tag}/submission
  -o smtpd_tls_security_level=encrypt
{port_tls} inet n - n - - smtpd
  -o syslog_name=postfix-postern-{tag}/submissions
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt
{port_plain} inet n - n - - smtpd
  -o syslog_name=postfix-postern-{tag}/plain
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class PostfixDovecot:
    """Postfix (smtpd with STARTTLS on `submission`, implicit TLS on
    `submissions`, no TLS required on `plain`) authenticating through
    Dovecot, in a private folder.  users maps user -> password;
    refuse maps recipient address -> the reply its RCPT gets
    ("550 5.1.1 User unknown"), even from an authenticated client."""

    def __init__(self, pki, users=None, refuse=None):
        self.pki = pki
        self.users = dict(users or {USER: PASSWORD})
        self.refuse = dict(refuse or {})
        # Our own folder (mode 0755): Postfix's unprivileged daemons and
        # Dovecot's auth user must be able to reach the files in it, and
        # pytest's tmp_path is private to root.
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="postern-pd-"))
        os.chmod(self.dir, 0o755)
        self.tag = self.dir.name.rsplit("-", 1)[-1].lower()
        self.host = "127.0.0.1"
        self.submission = free_port()
        self.submissions = free_port()
        self.plain = free_port()
        self.conf = self.dir / "postfix"
        self.queue_dir = self.dir / "queue"
        self.dovecot_conf = self.dir / "dovecot.conf"
        self.dovecot = None
        self.postfix_started = False

    # ---- set-up ----

    def _write(self):
        d = self.dir
        for sub in ("run", "state", "data", "tls", "postfix"):
            (d / sub).mkdir(exist_ok=True)
        shutil.copy(self.pki.cert, d / "tls" / "server.pem")
        shutil.copy(self.pki.key, d / "tls" / "server.key")
        os.chmod(d / "tls" / "server.key", 0o600)
        # passwd-file: user:password; a ':' would end the field.
        lines = []
        for u, p in self.users.items():
            assert ":" not in u and ":" not in p and "\n" not in p
            lines.append(f"{u}:{{PLAIN}}{p}\n")
        (d / "users").write_text("".join(lines))
        os.chmod(d / "users", 0o644)
        checks = ""
        if self.refuse:
            for a, reply in self.refuse.items():
                assert not set(a + reply) & set("{},="), (a, reply)
            table = ", ".join(f"{{ {a} = {reply} }}" for a, reply in self.refuse.items())
            checks = f"check_recipient_access inline:{{ {table} }}, "
        fmt = dict(d=d, queue=self.queue_dir, tag=self.tag, rcpt_checks=checks,
                   port_starttls=f"{self.host}:{self.submission}",
                   port_tls=f"{self.host}:{self.submissions}",
                   port_plain=f"{self.host}:{self.plain}")
        self.dovecot_conf.write_text(DOVECOT_CONF.format(**fmt))
        (self.conf / "main.cf").write_text(MAIN_CF.format(**fmt))
        (self.conf / "master.cf").write_text(MASTER_CF.format(**fmt))
        # The postfix user owns the data directory; root the rest.
        shutil.chown(d / "data", "postfix", "postfix")

    def _postfix(self, *args, timeout=60):
        return run(["postfix", "-c", str(self.conf), *args], timeout=timeout)

    def start(self):
        self._write()
        # `postfix check` creates the queue tree with Postfix's own owners
        # and modes (set-permissions would also touch shared files).
        self.queue_dir.mkdir(mode=0o755)
        r = self._postfix("check")
        assert r.returncode == 0, r.stderr.decode()
        self.dovecot_log = open(self.dir / "dovecot.stderr", "ab")
        self.dovecot = subprocess.Popen(
            ["dovecot", "-F", "-c", str(self.dovecot_conf)],
            stdin=subprocess.DEVNULL, stdout=self.dovecot_log, stderr=subprocess.STDOUT)
        self._wait_path(self.queue_dir / "private" / "auth", self.dovecot)
        r = self._postfix("start")
        assert r.returncode == 0, (r.stdout + r.stderr).decode() + self.log_text()
        self.postfix_started = True
        for port in (self.submission, self.submissions, self.plain):
            wait_port(port, self.host)
        return self

    @staticmethod
    def _wait_path(path, proc, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"dovecot exited with {proc.returncode}")
            if path.exists():
                return
            time.sleep(0.05)
        raise TimeoutError(f"{path} did not appear within {timeout}s")

    def stop(self):
        if self.postfix_started:
            self._postfix("stop")
            self.postfix_started = False
            self._wait_master_gone()
        stop_process(self.dovecot)
        self.dovecot = None
        if getattr(self, "dovecot_log", None):
            self.dovecot_log.close()

    def _wait_master_gone(self, timeout=15.0):
        pid_file = self.queue_dir / "pid" / "master.pid"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                pid = int(pid_file.read_text().split()[0])
                os.kill(pid, 0)
            except (OSError, ValueError, IndexError):
                return
            time.sleep(0.05)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---- inspection ----

    def log_text(self):
        out = []
        for name in ("postfix.log", "dovecot.log", "dovecot.stderr"):
            p = self.dir / name
            if p.exists():
                out.append(f"--- {name}\n" + p.read_text(errors="replace"))
        return "\n".join(out)

    def queue(self):
        """Every message in Postfix's queues (hold included), as the dicts
        `postqueue -j` prints: queue_name, queue_id, sender, recipients."""
        r = run(["postqueue", "-c", str(self.conf), "-j"], timeout=30)
        assert r.returncode == 0, r.stderr.decode()
        return [json.loads(line) for line in r.stdout.decode().splitlines() if line.strip()]

    def smtpd_auth(self):
        """{queue_id: {"sasl_method", "sasl_username"[, "sasl_sender"]}}
        from smtpd's "QUEUEID: client=..., sasl_method=M,
        sasl_username=U, sasl_sender=S" log lines: who authenticated
        for each accepted message, and the AUTH= value of its MAIL FROM
        (sasl_sender, absent for AUTH=<> or no AUTH= at all)."""
        p = self.dir / "postfix.log"
        text = p.read_text(errors="replace") if p.exists() else ""
        out = {}
        for m in re.finditer(r"/smtpd\[\d+\]: ([0-9A-F]+): client=[^,\n]*((?:, \w+=[^,\n]*)*)$",
                             text, re.M):
            out[m[1]] = dict(kv.split("=", 1) for kv in m[2].split(", ")[1:])
        return out

    def messages_to(self, rcpt):
        return [m for m in self.queue()
                if any(x.get("address") == rcpt for x in m.get("recipients", []))]

    def message(self, queue_id):
        """The message as stored (postcat: envelope, headers and body)."""
        r = run(["postcat", "-c", str(self.conf), "-q", queue_id], timeout=30)
        assert r.returncode == 0, r.stderr.decode()
        return r.stdout.decode(errors="replace")


@contextlib.contextmanager
def started_postfix_dovecot(pki, users=None, refuse=None):
    """A started PostfixDovecot (its logs printed if it fails to start),
    stopped and removed afterwards."""
    pd = PostfixDovecot(pki, users, refuse)
    try:
        pd.start()
    except Exception:
        pd.stop()
        print(pd.log_text())
        pd.cleanup()
        raise
    try:
        yield pd
    finally:
        pd.stop()
        pd.cleanup()


@pytest.fixture(scope="session")
def postfix_dovecot(pki):
    """A started Postfix+Dovecot pair shared by a test session (each test
    uses its own recipient address to find its mail)."""
    with started_postfix_dovecot(pki) as pd:
        yield pd
