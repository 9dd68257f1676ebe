"""OpenSMTPD 6.8 for bench/run, unpacked from Debian's package (it conflicts
with Postfix's, so it is never installed): `apt-get download opensmtpd`
and `dpkg -x` into bench/.cache/opensmtpd.

Its spool (/var/spool/smtpd), chroot (/var/lib/opensmtpd/empty), control
socket (/run/smtpd.sock) and users (opensmtpd, opensmtpq) are compiled
in.  So that nothing on the machine changes, smtpd runs in a private
mount namespace (unshare) where private folders are bound over /var/spool,
/var/lib and /run, and copies of /etc/passwd and /etc/group that add its
two users are bound over the real ones.

Two listeners: clear text without AUTH (OpenSMTPD offers AUTH only after
TLS), and STARTTLS with AUTH PLAIN against a table of crypt(3) hashes.
Accepted mail would be relayed to a loopback port where nothing listens;
the MTA is paused (smtpctl pause mta), so it just stays in the queue.
"""
import os
import shutil
import subprocess

from . import common
from .common import PASSWORD, ROOT, USER, free_port, wait_port
from .servers import Server

CACHE = ROOT / "bench" / ".cache" / "opensmtpd"
OPENSMTPD_UID, OPENSMTPQ_GID = 60901, 60902     # only in smtpd's namespace

CONF = """\
pki localhost cert "{d}/cert.pem"
pki localhost key "{d}/key.pem"
table creds file:{d}/creds
listen on 127.0.0.1 port {plain}
listen on 127.0.0.1 port {tls} tls pki localhost auth <creds>
action "park" relay host smtp://127.0.0.1:{dead}
match from any for any action "park"
match auth from any for any action "park"
"""


def unpack():
    """The unpacked package's root folder (downloaded once)."""
    smtpd = CACHE / "root" / "usr" / "sbin" / "smtpd"
    if smtpd.exists() and (CACHE / "root" / "usr" / "sbin" / "smtpctl").stat().st_gid == OPENSMTPQ_GID:
        return CACHE / "root"
    CACHE.mkdir(parents=True, exist_ok=True)
    for f in CACHE.glob("*.deb"):
        f.unlink()
    subprocess.run(["apt-get", "download", "opensmtpd"], cwd=CACHE, check=True,
                   capture_output=True, timeout=300)
    deb = next(CACHE.glob("opensmtpd_*.deb"))
    subprocess.run(["dpkg", "-x", str(deb), str(CACHE / "root")], check=True, timeout=300)
    # smtpctl insists on being setgid to its queue group (gid below)
    ctl = CACHE / "root" / "usr" / "sbin" / "smtpctl"
    os.chown(ctl, 0, OPENSMTPQ_GID)
    os.chmod(ctl, 0o2555)
    return CACHE / "root"


def _with_users(src, dst, lines):
    text = open(src).read()
    if not text.endswith("\n"):
        text += "\n"
    dst.write_text(text + "".join(lines))


class OpenSmtpd(Server):
    name = "opensmtpd"
    can = set()     # filled in start(): STARTTLS and AUTH only if they work
    durable = ("queue file written and renamed into the queue, with no fsync "
               "(see the strace count): a crash after the 250 can lose the message")

    def start(self):
        root = unpack()
        d = self.dir
        for sub in ("var_spool", "var_lib/opensmtpd/empty", "run"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        # One certificate per listener (`pki NAME` names one cert/key
        # pair): the ECDSA one where make_pki made it, which is what the
        # load generator gets from the servers that hold both
        pair = common.ec_pair(self.cert) or (self.cert, self.key)
        shutil.copy(pair[0], d / "cert.pem")
        shutil.copy(pair[1], d / "key.pem")
        os.chmod(d / "key.pem", 0o600)
        enc = subprocess.run([str(root / "usr/libexec/opensmtpd/encrypt"), PASSWORD],
                             capture_output=True, text=True, check=True).stdout.strip()
        (d / "creds").write_text(f"{USER} {enc}\n")
        os.chmod(d / "creds", 0o640)
        _with_users("/etc/passwd", d / "passwd",
                    ["opensmtpd:x:60901:60901::/var/lib/opensmtpd/empty:/usr/sbin/nologin\n",
                     "opensmtpq:x:60902:60902::/var/lib/opensmtpd/empty:/usr/sbin/nologin\n"])
        _with_users("/etc/group", d / "group", ["opensmtpd:x:60901:\n", "opensmtpq:x:60902:\n"])
        plain, tls = free_port(), free_port()
        self.ports = {"plain": plain, "starttls": tls}
        (d / "smtpd.conf").write_text(CONF.format(d=d, plain=plain, tls=tls, dead=free_port()))
        # OpenSMTPD resolves every client's name before its greeting, with
        # its own resolver (libasr); on this loopback bench that waited for
        # DNS answers about 127.0.0.x and stalled greetings past the time
        # bound.  libasr's "lookup file": /etc/hosts only, no DNS queries.
        (d / "resolv.conf").write_text("lookup file\n")
        binds = [(d / "resolv.conf", "/etc/resolv.conf"), (d / "var_spool", "/var/spool"), (d / "var_lib", "/var/lib"), (d / "run", "/run"),
                 (d / "passwd", "/etc/passwd"), (d / "group", "/etc/group")]
        script = " && ".join(f"mount --bind '{a}' '{b}'" for a, b in binds)
        script += f" && exec '{root}/usr/sbin/smtpd' -d -f '{d}/smtpd.conf'"
        self.log = open(d / "smtpd.log", "ab")
        self.procs = [subprocess.Popen(["unshare", "--mount", "--propagation", "private",
                                        "sh", "-c", script], stdin=subprocess.DEVNULL,
                                       stdout=self.log, stderr=subprocess.STDOUT)]
        try:
            wait_port(plain, self.procs[0])
            wait_port(tls, self.procs[0])
        except (RuntimeError, TimeoutError) as e:
            raise RuntimeError(f"{e}: {self.log_tail()}") from None
        # the MTA paused: queued mail is never retried nor delivered,
        # so nothing runs behind the other servers' measurements
        r = self.ctl("pause", "mta")
        if r.returncode != 0:
            raise RuntimeError(f"smtpctl pause mta: {r.stdout}{r.stderr}")
        self.can = self.probe()
        return self

    def log_tail(self):
        p = self.dir / "smtpd.log"
        return p.read_text(errors="replace")[-1500:] if p.exists() else ""

    def probe(self):
        """Which of STARTTLS + AUTH PLAIN works, tried with the load
        generator itself (a few sessions); what fails is reported."""
        from .common import run_loadgen
        r = run_loadgen(self.ports["starttls"], tls="starttls", auth="plain", clients=1,
                        seconds=1.0, src="")
        self.probe_result = r.get("first_error") or "ok"
        self.fail_note = f"fails: {self.probe_result}"
        return {"auth-plain", "starttls"} if r.get("errors") == 0 and r.get("messages") else set()

    def ctl(self, *args):
        """smtpctl inside smtpd's namespace (its control socket is there)."""
        root = CACHE / "root"
        return subprocess.run(["nsenter", "-t", str(self.procs[0].pid), "-m",
                               str(root / "usr/sbin/smtpctl"), *args],
                              capture_output=True, text=True, timeout=120)

    def reset(self):
        """Removes every queued message (through smtpctl: smtpd keeps its
        queue in memory too)."""
        self.ctl("remove", "all")
