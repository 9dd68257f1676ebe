"""The servers bench/run measures, each in its own folder with its own
config, spool and loopback ports, started and stopped by pid:

  postern    `postern serve` (build/postern)
  postfix    Postfix 3.7 smtpd + Dovecot 2.3 SASL, `postfix -c DIR`
  opensmtpd  OpenSMTPD 6.8 unpacked from Debian's .deb (osmtpd.py)
  smtp-sink  Postfix's smtp-sink: stores nothing, no AUTH (the ceiling)

Each has ports {"plain": ..., "starttls": ...} (None where it cannot),
`can` (the scenarios' needs it meets: auth-plain, starttls, scram),
`durable` (how a message becomes durable before the 250), pids() for
memory and strace, and reset() to empty its queue between runs.
"""
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time

from . import common
from .common import PASSWORD, USER, free_port, wait_port


def postern_conf(d, ports, cert, key, extra=None, ecdsa=True):
    """Writes d/postern.conf.  Keys as a dict, so that another key (the
    coming `user = nobody` of the privilege-separated server, workers ...)
    is one more entry; extra overrides or adds.  The RSA pair, and (ecdsa)
    the ECDSA pair next to it: tls_certificate and tls_key are repeatable
    (issue 16 item 3), OpenSSL picks per handshake."""
    keys = {
        "hostname": "bench.example.test",
        "credentials": "file:users",
        "auth_mechanisms": "SCRAM-SHA-256 PLAIN",
        "spool": "spool",
        "local_domains": "example.test",
        "submission_tls": "optional",    # S1/S3 are clear text
        "plaintext_auth": "always",
        "max_connections": "20000",
        "max_connections_per_ip": "20000",
        "log_level": "warning",
    }
    # many logins from loopback: the AUTH throttle must not be measured
    for k in ("ip", "ip_day", "subnet", "subnet_day", "network", "network_day",
              "user", "user_day"):
        keys[f"auth_fail_limit_{k}"] = "1000000"
    keys["auth_distinct_users_subnet"] = "1000000"
    # every bench client is on loopback: one /24 for the auth process's
    # fairness, which would otherwise queue and then refuse (454) all
    # but a few of the password checks in flight at once
    keys["auth_client_inflight"] = "1000"
    # run as root, the network process drops to this user
    keys["user"] = "nobody"
    # No DNS and no delivery work while measuring, as Postfix (hold queue)
    # and OpenSMTPD (MTA paused): the load generator's recipient
    # (rcpt@example.net) would make the queue runner look up example.net's
    # MX for every message (this VM's resolver drops bursts; the null MX
    # then bounces each message).  The relay host is a loopback socket
    # that listens and never accepts (Postern.hold): one delivery at a
    # time connects and waits for a greeting that never comes, the rest
    # wait their turn.  (A port where nothing listens would defer every
    # message at once: a spool state write and fdatasync per message.)
    keys["relay_host"] = f"[127.0.0.1]:{ports['hold']}"
    keys["relay_tls"] = "none"
    keys["max_deliveries"] = "1"
    keys["max_deliveries_per_destination"] = "1"
    keys.update(extra or {})
    pairs = [(keys.pop("tls_certificate", cert), keys.pop("tls_key", key))]
    if ecdsa and common.ec_pair(cert) is not None:
        pairs.append(common.ec_pair(cert))
    lines = [f"listen = 127.0.0.1:{ports['starttls']} submission"]
    for c, k in pairs:
        lines += [f"tls_certificate = {c}", f"tls_key = {k}"]
    lines += [f"{k} = {v}" for k, v in keys.items()]
    (d / "postern.conf").write_text("\n".join(lines) + "\n")


class Server:
    name = "?"
    can = set()
    durable = ""

    def __init__(self, base, cert, key):
        self.dir = pathlib.Path(base) / self.name
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        os.chmod(self.dir, 0o755)
        self.cert, self.key = cert, key
        self.ports = {"plain": None, "starttls": None}
        self.procs = []
        self.fail_note = "no STARTTLS"

    def pids(self):
        return common.descendants([p.pid for p in self.procs if p.poll() is None])

    def reset(self):
        pass

    def restart(self):
        """A fresh instance in an emptied folder (new ports)."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        os.chmod(self.dir, 0o755)
        return self.start()

    def stop(self):
        for p in reversed(self.procs):
            common.stop_proc(p)
        self.procs = []


class Postern(Server):
    name = "postern"
    can = {"auth-plain", "starttls", "scram"}
    durable = ("spool v2: the frames of every message closed in a loop pass appended to a "
               "segment (zeros written ahead of them), ONE fdatasync for the pass (group "
               "commit, on the network process's flusher thread), before the 250 after DATA; "
               "the queue runner is paused (SIGSTOP), as Postfix's mail waits on hold")
    paused = ()

    def __init__(self, base, cert, key, binary, extra=None, ecdsa=True):
        super().__init__(base, cert, key)
        self.binary = binary
        self.extra = extra or {}
        self.ecdsa = ecdsa      # False: the RSA pair alone (postern before issue 16)

    def start(self):
        port = free_port()
        self.ports = {"plain": port, "starttls": port}   # one listener: TLS optional
        self.hold = socket.socket()    # the relay host that never answers
        self.hold.bind(("127.0.0.1", 0))
        self.hold.listen(8)
        postern_conf(self.dir, dict(self.ports, hold=self.hold.getsockname()[1]), self.cert,
                     self.key, self.extra, self.ecdsa)
        (self.dir / "users").write_text("")
        r = subprocess.run([self.binary, "passwd", "-c", str(self.dir / "postern.conf"), "add",
                            USER], input=PASSWORD + "\n", text=True, capture_output=True)
        if r.returncode != 0:
            raise RuntimeError(f"postern passwd: {r.stderr}")
        self.log = open(self.dir / "serve.log", "ab")
        self.procs = [subprocess.Popen([self.binary, "serve", "-c", str(self.dir / "postern.conf")],
                                       stdin=subprocess.DEVNULL, stdout=self.log,
                                       stderr=subprocess.STDOUT)]
        wait_port(port, self.procs[0])
        self.pause_runner()
        return self

    def pause_runner(self):
        """Stops the queue runner (SIGSTOP) for the measurement: Postfix's
        mail waits on its hold queue and OpenSMTPD's MTA is paused, so
        postern's runner must not deliver (here: bounce, since the bench's
        recipient domain has no mail server) while the others do not."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            self.paused = [p for p in self.pids() if common.proc_comm(p) == "postern-runner"]
            if self.paused:
                break
            time.sleep(0.05)
        if not self.paused:     # a binary older than the process names
            print(f"postern {self.binary}: no postern-runner process to pause: it delivers "
                  "(and bounces) during the measurement", flush=True)
        for p in self.paused:
            os.kill(p, signal.SIGSTOP)

    def stop(self):
        for p in self.paused:
            try:
                os.kill(p, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.paused = ()
        super().stop()
        if getattr(self, "hold", None) is not None:
            self.hold.close()
            self.hold = None

    def reset(self):
        """Empties the spool's queue folder (the server keeps no index of it)."""
        q = self.dir / "spool" / "queue"
        if q.is_dir():
            for f in q.iterdir():
                if f.is_file():
                    f.unlink(missing_ok=True)
                else:
                    shutil.rmtree(f, ignore_errors=True)


class SmtpSink(Server):
    name = "smtp-sink"
    can = set()
    durable = "not durable: stores nothing (the no-storage ceiling)"

    def start(self):
        port = free_port()
        self.ports = {"plain": port, "starttls": None}
        # backlog 1024; -u: it refuses to run as root
        self.procs = [subprocess.Popen(["smtp-sink", "-u", "postfix", f"127.0.0.1:{port}", "1024"],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)]
        wait_port(port, self.procs[0])
        return self
