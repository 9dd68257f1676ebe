"""Postfix 3.7 smtpd with Dovecot 2.3 as its SASL provider, from a private
folder (`postfix -c DIR`, `dovecot -c FILE`), for bench/run.  The same
knowledge as tests/interop/peers.py (which the test suite uses), tuned
for load: process and client limits raised so that they are not what is
measured, per-client limits off, hold queue so nothing is delivered."""
import os
import shutil
import subprocess
import time

from . import common
from .common import PASSWORD, USER, free_port, wait_port
from .servers import Server

DOVECOT_CONF = """\
base_dir = {d}/run
state_dir = {d}/state
instance_name = postern-bench-{tag}
protocols =
ssl = no
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
auth_failure_delay = 0
disable_plaintext_auth = no
auth_mechanisms = plain scram-sha-256
default_client_limit = 25000
default_process_limit = 2000
default_vsz_limit = 0
passdb {{
  driver = passwd-file
  args = username_format=%u {d}/users
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}}
service auth {{
  client_limit = 25000
  unix_listener {queue}/private/auth {{
    mode = 0660
    user = postfix
    group = postfix
  }}
}}
service anvil {{
  chroot =
  client_limit = 25000
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
syslog_name = postfix-bench-{tag}
maillog_file_prefixes = {d}
maillog_file = {d}/postfix.log
myhostname = bench.example.test
mydomain = example.test
mydestination =
local_recipient_maps =
relayhost =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.1/32
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
{eccert}
smtpd_tls_security_level = may
smtpd_tls_auth_only = no
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = permit_sasl_authenticated, reject
# Accepted mail waits on the hold queue: durable, never delivered.
smtpd_data_restrictions = check_client_access static:HOLD
# Limits that are not what is measured: processes, per-client counters.
default_process_limit = 12000
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_client_recipient_rate_limit = 0
smtpd_client_new_tls_session_rate_limit = 0
smtpd_client_auth_rate_limit = 0
smtpd_client_event_limit_exceptions = 127.0.0.0/8
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
smtpd_timeout = 3600s
# Reusing a process for many sessions is Postfix's normal mode.
max_use = 1000
max_idle = 3600s
in_flow_delay = 0
# No DNS in the measured path: smtpd's reverse + forward lookup of every
# client (127.0.0.x) went to this VM's resolver, which drops bursts: each
# smtpd stalled 5-10 s per session (S1 11/s instead of hundreds).
# postern does no lookup on connect either.
smtpd_peername_lookup = no
"""

MASTER_CF = """\
{port} inet n - n - - smtpd
  -o syslog_name=postfix-bench-{tag}/smtpd
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class PostfixDovecot(Server):
    name = "postfix"
    can = {"auth-plain", "starttls", "scram"}
    durable = ("cleanup writes the queue file and fsyncs it before smtpd answers 250 "
               "(Postfix's default); then it waits on the hold queue")

    def start(self):
        d = self.dir
        self.tag = format(os.getpid() % 100000, "05d")
        port = free_port()
        self.ports = {"plain": port, "starttls": port}   # STARTTLS offered, not required
        self.conf = d / "postfix"
        self.queue = d / "queue"
        for sub in ("run", "state", "data", "postfix"):
            (d / sub).mkdir(exist_ok=True)
        for f in ("cert", "key"):
            shutil.copy(getattr(self, f), d / f"{f}.pem")
        os.chmod(d / "key.pem", 0o600)
        # The ECDSA pair too, as postern holds it: OpenSSL picks per
        # handshake in both, so that the comparison stays fair
        ec = common.ec_pair(self.cert)
        eccert = ""
        if ec is not None:
            shutil.copy(ec[0], d / "ec-cert.pem")
            shutil.copy(ec[1], d / "ec-key.pem")
            os.chmod(d / "ec-key.pem", 0o600)
            eccert = f"smtpd_tls_eccert_file = {d}/ec-cert.pem\nsmtpd_tls_eckey_file = {d}/ec-key.pem"
        # One SCRAM-SHA-256 entry serves both PLAIN (Dovecot verifies the
        # password against it) and SCRAM-SHA-256; 4096 iterations, as postern.
        r = subprocess.run(["doveadm", "pw", "-s", "SCRAM-SHA-256", "-p", PASSWORD],
                           capture_output=True, text=True, check=True)
        (d / "users").write_text(f"{USER}:{r.stdout.strip()}\n")
        os.chmod(d / "users", 0o644)
        fmt = dict(d=d, queue=self.queue, tag=self.tag, port=f"127.0.0.1:{port}",
                   cert=d / "cert.pem", key=d / "key.pem", eccert=eccert)
        (d / "dovecot.conf").write_text(DOVECOT_CONF.format(**fmt))
        (self.conf / "main.cf").write_text(MAIN_CF.format(**fmt))
        (self.conf / "master.cf").write_text(MASTER_CF.format(**fmt))
        shutil.chown(d / "data", "postfix", "postfix")
        self.queue.mkdir(mode=0o755)
        self._postfix("check")
        self.dlog = open(d / "dovecot.stderr", "ab")
        self.procs = [subprocess.Popen(["dovecot", "-F", "-c", str(d / "dovecot.conf")],
                                       stdin=subprocess.DEVNULL, stdout=self.dlog,
                                       stderr=subprocess.STDOUT)]
        deadline = time.monotonic() + 30
        while not (self.queue / "private" / "auth").exists():
            if self.procs[0].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("dovecot did not start: " + self._tail("dovecot.stderr"))
            time.sleep(0.05)
        self._postfix("start")
        wait_port(port)
        return self

    def _postfix(self, *args):
        r = subprocess.run(["postfix", "-c", str(self.conf), *args], capture_output=True,
                           text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"postfix {' '.join(args)}: {r.stdout}{r.stderr}"
                               + self._tail("postfix.log"))

    def _tail(self, name):
        p = self.dir / name
        return p.read_text(errors="replace")[-2000:] if p.exists() else ""

    def master_pid(self):
        try:
            return int((self.queue / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def pids(self):
        from . import common
        roots = [p.pid for p in self.procs if p.poll() is None]
        m = self.master_pid()
        if m:
            roots.append(m)
        return common.descendants(roots)

    def reset(self):
        subprocess.run(["postsuper", "-c", str(self.conf), "-d", "ALL"], capture_output=True,
                       timeout=300)

    def stop(self):
        m = self.master_pid()
        if m:
            subprocess.run(["postfix", "-c", str(self.conf), "stop"], capture_output=True,
                           timeout=120)
            from .common import stop_pid
            stop_pid(m, timeout=30)
        super().stop()
