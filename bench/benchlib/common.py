"""Helpers shared by bench/run's modules: ports, PKI, processes, memory
from /proc, the load generator, machine facts.  No pytest: bench/run must
work without the test suite."""
import json
import os
import pathlib
import re
import resource
import signal
import socket
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
USER = "bench@example.test"
PASSWORD = "bench password 42"
_given = set()
GRACE = 10.0    # the load generator's hard bound: seconds after the run's end


def free_port():
    """A loopback port free right now, never handed out twice by us."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _given:
            _given.add(port)
            return port
    raise RuntimeError("no free port")


def wait_port(port, proc=None, timeout=30.0, host="127.0.0.1"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s")


def make_pki(d):
    """Two self-signed certificates for localhost, as a current server
    holds them (issue 16 item 3): RSA-2048 (cert.pem, key.pem: the pair
    returned, which every server takes) and ECDSA P-256 (ec-cert.pem,
    ec-key.pem: ec_pair()), which clients that offer ECDSA signatures get
    from servers that hold both.  The handshake's main server cost is
    this signature: RSA-2048 about 0.36 ms here, ECDSA P-256 about 0.05."""
    d = pathlib.Path(d)
    d.mkdir(parents=True, exist_ok=True)
    for newkey, prefix in ((["-newkey", "rsa:2048"], ""),
                           (["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "ec-")):
        subprocess.run(["openssl", "req", "-x509", *newkey, "-nodes",
                        "-keyout", str(d / f"{prefix}key.pem"), "-out", str(d / f"{prefix}cert.pem"),
                        "-days", "30", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True)
        os.chmod(d / f"{prefix}key.pem", 0o644)   # Postfix/OpenSMTPD/Dovecot users read a copy
    return d / "cert.pem", d / "key.pem"


def ec_pair(cert):
    """(certificate, key) of the ECDSA pair make_pki made next to the RSA
    certificate cert, or None (a certificate made elsewhere)."""
    d = pathlib.Path(cert).parent
    pair = d / "ec-cert.pem", d / "ec-key.pem"
    return pair if all(p.exists() for p in pair) else None


def stop_pid(pid, timeout=15.0):
    """SIGTERM to one pid we started, SIGKILL after timeout."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            if _zombie(pid):
                return
        except ProcessLookupError:
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _zombie(pid):
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def stop_proc(proc, timeout=15.0):
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def descendants(pids):
    """pids and all their descendants (from /proc/*/stat parent links)."""
    children = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            ppid = int(open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(p))
    out, todo = [], list(pids)
    while todo:
        p = todo.pop()
        if p in out:
            continue
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def memory_kb(pids):
    """(RSS, PSS) in KB summed over pids (smaps_rollup; vanished ones skipped)."""
    rss = pss = 0
    for p in pids:
        try:
            text = open(f"/proc/{p}/smaps_rollup").read()
        except OSError:
            continue
        m = re.search(r"^Rss:\s+(\d+)", text, re.M)
        n = re.search(r"^Pss:\s+(\d+)", text, re.M)
        rss += int(m.group(1)) if m else 0
        pss += int(n.group(1)) if n else 0
    return rss, pss


def cpu_ms(pids):
    """CPU time (user + system) in ms of pids, plus that of their children
    already reaped (cutime + cstime: a Postfix smtpd that exited after
    max_use counts in its master's).  /proc/PID/stat fields 14-17."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in pids:
        try:
            f = open(f"/proc/{p}/stat").read().rpartition(")")[2].split()
        except OSError:
            continue
        total += sum(int(x) for x in f[11:15])
    return total * 1000 / tick


def loadgen_path():
    return os.environ.get("LOADGEN_BIN") or str(ROOT / "build" / "bench" / "loadgen")


def loadgen_args(port, *, tls="none", auth="plain", clients=32, per_conn=1, seconds=10.0,
                 count=0, mode="send", size=2048, src="127.0.0.2-127.0.0.250", threads=1,
                 extra=()):
    a = [loadgen_path(), "-p", str(port), "--tls", tls, "--auth", auth, "-c", str(clients),
         "-k", str(per_conn), "-d", str(seconds), "--mode", mode, "-s", str(size),
         "-u", USER, "-w", PASSWORD, "--grace", str(GRACE), "-j", str(threads), *extra]
    if count:
        a += ["-n", str(count)]
    if src:
        a += ["--src", src]
    return a


def run_loadgen(port, **kw):
    """Runs the load generator; returns its JSON result, with "exit" and
    "stderr" added.  Its own hard bound plus a margin bounds the wait."""
    args = loadgen_args(port, **kw)
    limit = float(kw.get("seconds", 10.0)) + 60
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run(args, capture_output=True, text=True, timeout=limit)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        res = json.loads(r.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        res = {"rate": 0.0, "errors": -1, "first_error": "no JSON output"}
    res["exit"] = r.returncode
    res["stderr"] = r.stderr.strip()
    # the load generator's own CPU (the only child reaped meanwhile)
    res["client_cpu_ms"] = 1000 * (ru1.ru_utime - ru0.ru_utime + ru1.ru_stime - ru0.ru_stime)
    return res


def cpu_model():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "?"


def machine_facts():
    """nproc, CPU, kernel, memory, the disk under /tmp and /work, load."""
    def sh(*a):
        r = subprocess.run(a, capture_output=True, text=True)
        return r.stdout.strip()
    mem = int(re.search(r"MemTotal:\s+(\d+)", open("/proc/meminfo").read()).group(1))
    src = sh("findmnt", "-n", "-o", "SOURCE,FSTYPE,OPTIONS", "-T", "/tmp")
    dev = re.sub(r"[0-9]+$", "", os.path.basename(src.split()[0])) if src else ""
    rot = ""
    if dev and os.path.exists(f"/sys/block/{dev}/queue/rotational"):
        rot = "rotational" if open(f"/sys/block/{dev}/queue/rotational").read().strip() == "1" \
            else "non-rotational"
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "kernel": sh("uname", "-sr"),
        "memory_gb": round(mem / 1024 / 1024, 1),
        "disk": f"{src} ({rot})",
        "debian": sh("cat", "/etc/debian_version"),
        "openssl": sh("openssl", "version"),
        "loadavg": open("/proc/loadavg").read().split()[:3],
    }


def loadavg():
    return open("/proc/loadavg").read().split()[0]


def proc_comm(pid):
    """The process's name (/proc/PID/comm), "" when it is gone."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""
