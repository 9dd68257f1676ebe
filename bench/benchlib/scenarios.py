"""The scenarios of issue 16 and how each is run against one server.

S1  new connection per message, AUTH PLAIN, 2 KB, 32 clients, clear text
S2  S1 over STARTTLS
S3  50 messages per connection, 16 clients, clear text
S3T S3 over STARTTLS
S5  SCRAM-SHA-256 logins per second over STARTTLS (16 clients)
S4  idle sessions after STARTTLS + AUTH PLAIN: server memory (memory())
"""
import os
import re
import signal
import subprocess
import time

from . import common

SCENARIOS = {
    "S1": dict(tls="none", per_conn=1, clients=32, mode="send"),
    "S2": dict(tls="starttls", per_conn=1, clients=32, mode="send"),
    "S3": dict(tls="none", per_conn=50, clients=16, mode="send"),
    "S3T": dict(tls="starttls", per_conn=50, clients=16, mode="send"),
    "S5": dict(tls="starttls", per_conn=1, clients=16, mode="login", auth="scram"),
}


def plan(srv, scen):
    """The load generator's arguments for scen against srv, or (None, why)
    when the server cannot be asked for it (then it is reported, not run).
    A server without AUTH in clear text gets the dialogue without AUTH,
    and the table says so."""
    s = dict(SCENARIOS[scen])
    port = srv.ports["starttls"] if s["tls"] == "starttls" else srv.ports["plain"]
    if s["tls"] == "starttls" and (port is None or "starttls" not in srv.can):
        return None, getattr(srv, "fail_note", "no STARTTLS")
    if s.get("auth") == "scram" and "scram" not in srv.can:
        return None, "no SCRAM-SHA-256"
    if "auth" not in s:
        s["auth"] = "plain" if "auth-plain" in srv.can else "none"
    return dict(port=port, **s), ("" if s["auth"] != "none" else "no AUTH")


def warm(srv):
    """A second of S1 and half a second of S5 before anything is measured,
    as users who have logged in before: postern's first PLAIN login of a
    password runs the stored hash (then its login cache answers: with 32
    clients arriving at once, a cold start made the first seconds of S1
    and of each S4 level cost 4x the CPU), and Postfix starts its smtpd
    processes (each costs ~20 ms of CPU once, then serves max_use
    sessions)."""
    for scen, secs in (("S1", 1.0), ("S5", 0.5)):
        args, _ = plan(srv, scen)
        if args is not None:
            common.run_loadgen(seconds=secs, **args)
    srv.reset()


def run(srv, scen, seconds, clients=None, threads=1):
    """One measurement: the load generator's JSON plus "note", "load" and
    the CPU time per message (per login for S5) of the server (all its
    processes) and of the load generator: who is the limit."""
    args, note = plan(srv, scen)
    if args is None:
        return {"rate": None, "note": note, "errors": 0}
    if clients:
        args["clients"] = clients
    pids = srv.pids()
    c0 = common.cpu_ms(pids)
    res = common.run_loadgen(seconds=seconds, threads=threads, **args)
    # processes that came and went were reaped by one in the tree (cutime)
    c1 = common.cpu_ms(sorted(set(pids) | set(srv.pids())))
    res["note"] = note
    res["load"] = common.loadavg()
    if scen == "S5":
        res["rate"] = res.get("login_rate", 0.0)
    units = res.get("logins" if scen == "S5" else "messages") or 0
    if units:
        res["server_cpu_ms"] = (c1 - c0) / units
        res["client_cpu_ms"] = res["client_cpu_ms"] / units
    else:
        res.pop("client_cpu_ms", None)
    srv.reset()
    return res


def traced_load(srv, args, count, opts, out, settle=0.5):
    """Runs count messages/sessions of the load generator (args from plan())
    while strace OPTS -o OUT follows every process of srv (forks too);
    returns the load generator's result once strace has written OUT.
    settle: seconds after the load for late work (the queue runner)."""
    cmd = ["strace", "-f", "-o", str(out), *opts]
    pids = srv.pids()
    for p in pids:
        cmd += ["-p", str(p)]
    st = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0 + 0.002 * len(pids))    # attach to every process first
    res = common.run_loadgen(seconds=120, count=count, **args)
    time.sleep(settle)
    st.send_signal(signal.SIGINT)
    try:
        st.wait(60)
    except subprocess.TimeoutExpired:
        st.kill()
        st.wait()
    srv.reset()
    return res


SYNCS = ("fsync", "fdatasync", "sync_file_range", "syncfs", "sync", "msync")


def fsyncs(srv, count, scen="S3"):
    """fsync-like system calls per message: strace -f -c on every process
    of the server while the load generator sends `count` messages."""
    args, note = plan(srv, scen)
    if args is None or not srv.pids():
        return None
    out = srv.dir / "strace.txt"
    res = traced_load(srv, args, count, ["-c", "-e", "trace=" + ",".join(SYNCS)], out)
    calls = {}
    if out.exists():
        for line in out.read_text().splitlines():
            f = line.split()
            if len(f) >= 5 and f[-1] in SYNCS:
                calls[f[-1]] = int(f[3])
    n = res.get("messages", 0)
    return {"messages": n, "errors": res.get("errors"), "calls": calls,
            "per_message": (sum(calls.values()) / n) if n else None}


def dns_queries(srv, count=200, scen="S1"):
    """DNS queries the server sends while the load generator runs count
    sessions in the scen shape (new connection each: what a per-connection
    lookup would show): strace -f on every process of the server, counting
    connect/sendto/sendmsg/sendmmsg to a port 53.  The bench must measure
    no resolver: this machine's drops bursts (5-10 s time-outs), which
    made Postfix's S1 look ten times slower than it is."""
    args, _ = plan(srv, scen)
    if args is None or not srv.pids():
        return None
    out = srv.dir / "strace-dns.txt"
    # settle 3 s: postern's queue runner takes the new mail a moment later
    res = traced_load(srv, args, count, ["-qq", "-e", "signal=none",
                                         "-e", "trace=connect,sendto,sendmsg,sendmmsg"],
                      out, settle=3.0)
    lines = out.read_text(errors="replace").splitlines() if out.exists() else []
    hits = [ln for ln in lines if "htons(53)" in ln]
    return {"sessions": res.get("sessions", 0), "errors": res.get("errors"),
            "queries": len(hits), "first": hits[0][:160] if hits else ""}


def memory(srv, n, setup_seconds=300):
    """S4: server memory (RSS and PSS summed over all its processes) before
    and after n idle sessions finished STARTTLS + AUTH PLAIN."""
    port = srv.ports["starttls"]
    if port is None or "auth-plain" not in srv.can or "starttls" not in srv.can:
        return None
    time.sleep(0.5)
    rss0, pss0 = common.memory_kb(srv.pids())
    args = common.loadgen_args(port, tls="starttls", auth="plain", clients=n, mode="idle",
                               seconds=setup_seconds, extra=["--hold", "-1", "--ramp", "64"])
    lg = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    line = lg.stdout.readline()
    m = re.search(r"established=(\d+) errors=(\d+)", line)
    time.sleep(2.0)    # let the server settle
    pids = srv.pids()
    rss1, pss1 = common.memory_kb(pids)
    try:    # closing its stdin ends the hold
        out, err = lg.communicate(input="", timeout=setup_seconds + 60)
    except subprocess.TimeoutExpired:
        lg.kill()
        out, err = lg.communicate()
    est = int(m.group(1)) if m else 0
    return {"sessions": n, "established": est, "errors": int(m.group(2)) if m else -1,
            "processes": len(pids), "rss_kb": [rss0, rss1], "pss_kb": [pss0, pss1],
            "pss_per_session_kb": (pss1 - pss0) / est if est else None,
            "rss_per_session_kb": (rss1 - rss0) / est if est else None,
            "loadgen": err.strip()[-300:]}


def mem_available_kb():
    m = re.search(r"MemAvailable:\s+(\d+)", open("/proc/meminfo").read())
    return int(m.group(1)) if m else 0


def raise_limits(n):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < n:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
            return
        except (ValueError, OSError):
            n = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(n, hard)), hard))
    os.environ["BENCH_NOFILE"] = str(n)
