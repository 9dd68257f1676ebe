"""Dovecot's LMTP service (Debian dovecot-lmtpd) as a test peer, in a
private folder, on a free loopback port and a UNIX socket, delivering
into Maildirs under that folder.

    with DovecotLmtp(users={"alice": None, "full": "*:storage=1"}) as lm:
        lm.port, lm.socket              # TCP and UNIX listeners
        lm.maildir("alice")             # pathlib.Path of alice's Maildir

A user's value is a Dovecot quota rule or None: "*:storage=1" (1 KiB)
makes every message over quota, so that this user's reply after the
final dot (not at RCPT) is a failure: LMTP's per-recipient replies.
Unknown users get 550 5.1.1 at RCPT.

Dovecot runs as root; mail is written as nobody (Dovecot never delivers
as UID 0), so the folder is mode 0755 outside pytest's private tmp.
"""
import pathlib
import shutil
import subprocess
import tempfile
import time

from conftest import free_port, stop_process, wait_port

DOMAIN = "example.test"

CONF = """\
base_dir = {d}/run
state_dir = {d}/state
instance_name = postern-lmtp-{tag}
protocols = lmtp
ssl = no
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
mail_location = maildir:{d}/mail/%n
mail_plugins = quota
lmtp_rcpt_check_quota = no
plugin {{
  quota = maildir:User quota
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {d}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%n {d}/users
  default_fields = uid=nobody gid=nogroup home={d}/mail/%n
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {port}
  }}
  unix_listener {d}/lmtp.sock {{
    mode = 0666
  }}
}}
service anvil {{
  chroot =
}}
"""


class DovecotLmtp:
    def __init__(self, users):
        self.users = users
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="postern-lmtp-"))
        self.dir.chmod(0o755)
        self.tag = self.dir.name.rsplit("-", 1)[-1].lower()
        self.port = free_port()
        self.socket = self.dir / "lmtp.sock"
        self.proc = None

    def _write(self):
        d = self.dir
        for sub in ("run", "state", "mail"):
            (d / sub).mkdir()
        shutil.chown(d / "mail", "nobody", "nogroup")
        lines = []
        for u, quota in self.users.items():
            extra = f"userdb_quota_rule={quota}" if quota else ""
            lines.append(f"{u}:{{PLAIN}}unused::::::{extra}\n")
        (d / "users").write_text("".join(lines))
        (d / "dovecot.conf").write_text(CONF.format(d=d, tag=self.tag, port=self.port))

    def start(self):
        self._write()
        self.stderr = open(self.dir / "dovecot.stderr", "ab")
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", str(self.dir / "dovecot.conf")],
                                     stdout=self.stderr, stderr=self.stderr)
        wait_port(self.port, proc=self.proc)
        deadline = time.monotonic() + 15
        while not self.socket.exists():
            assert time.monotonic() < deadline and self.proc.poll() is None, self.log()
            time.sleep(0.05)
        return self

    def stop(self):
        stop_process(self.proc)
        self.proc = None
        self.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def maildir(self, user):
        return self.dir / "mail" / user

    def new_messages(self, user):
        new = self.maildir(user) / "new"
        return sorted(new.iterdir()) if new.exists() else []

    def log(self):
        text = ""
        for name in ("dovecot.log", "dovecot.stderr"):
            p = self.dir / name
            if p.exists():
                text += p.read_text(errors="replace")
        return text
