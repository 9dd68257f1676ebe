#!/usr/bin/python3
"""bench/run's driver (issue 16): starts postern, Postfix+Dovecot, OpenSMTPD
and smtp-sink on loopback, runs the scenarios interleaved (per round and
scenario: A B C D), then fsyncs per message, scaling curves, S4 memory,
the spray measurement, and writes the report.

    /usr/bin/python3 bench/bench.py [--quick] [--rounds 3] [--seconds 10]
        [--servers postern,postfix,opensmtpd,smtp-sink] [--only S1,S3 ...]
        [--skip fsync,dns,threads,curves,memory,spray] [--out bench/RESULTS.md]

Results: the section between the bench/run markers of --out is replaced
(the rest of the file, e.g. the history of changes, is kept); the raw
numbers go to bench/results/last.json.
"""
import argparse
import datetime
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from benchlib import common, report, scenarios  # noqa: E402
from benchlib.postfix import PostfixDovecot  # noqa: E402
from benchlib.servers import Postern, SmtpSink  # noqa: E402

BEGIN, END = "<!-- bench/run begin -->", "<!-- bench/run end -->"


def make_server(name, base, cert, key, a):
    if name == "postern":
        return Postern(base, cert, key, a.bin)
    if name == "postfix":
        return PostfixDovecot(base, cert, key)
    if name == "smtp-sink":
        return SmtpSink(base, cert, key)
    if name == "opensmtpd":
        from benchlib.osmtpd import OpenSmtpd
        return OpenSmtpd(base, cert, key)
    raise SystemExit(f"unknown server {name}")


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def start_all(names, base, cert, key, a):
    servers, failed = [], {}
    for n in names:
        s = make_server(n, base, cert, key, a)
        try:
            servers.append(s.start())
            scenarios.warm(s)
            log(f"started {n}: ports {s.ports}")
        except Exception as e:     # reported, not dropped silently
            failed[n] = str(e)[:500]
            log(f"{n} did not start: {e}")
            s.stop()
    return servers, failed


def rounds(servers, a, res):
    for r in range(a.rounds):
        for scen in a.only:
            for s in servers:
                x = scenarios.run(s, scen, a.seconds)
                res["rounds"].setdefault(scen, {}).setdefault(s.name, []).append(x)
                log(f"round {r + 1} {scen} {s.name}: {x.get('rate')} /s "
                    f"errors {x.get('errors')} {x.get('note', '')} load {x.get('load')} "
                    f"CPU ms/msg server {x.get('server_cpu_ms', 0):.2f} "
                    f"client {x.get('client_cpu_ms', 0):.2f}")


def client_threads(servers, a, res):
    """Is the one-thread load generator the ceiling?  S1, S3 and S5 (whose
    client runs PBKDF2 for every login) with -j 1 and -j 2, interleaved,
    in the same run (its CPU per message is in each result)."""
    for r in range(a.rounds):
        for scen in ("S1", "S3", "S5"):
            for j in (1, 2):
                for s in servers:
                    x = scenarios.run(s, scen, a.seconds, threads=j)
                    if x.get("rate") is None:
                        continue
                    res["threads"].setdefault(scen, {}).setdefault(s.name, {}) \
                        .setdefault(j, []).append(x)
                    log(f"threads {scen} {s.name} -j {j}: {x.get('rate')}/s "
                        f"client CPU {x.get('client_cpu_ms', 0):.3f} ms/msg load {x.get('load')}")


def curves(servers, a, res):
    for scen in ("S1", "S3"):
        for c in a.curve_clients:
            for s in servers:
                x = scenarios.run(s, scen, a.curve_seconds, clients=c)
                res["curves"].setdefault(scen, {}).setdefault(s.name, {})[c] = {
                    "rate": x.get("rate"), "errors": x.get("errors"),
                    "p99_ms": x.get("msg_ms", {}).get("p99")}
                log(f"curve {scen} {s.name} clients={c}: {x.get('rate')}/s")


def memory(servers, a, res):
    for s in servers:
        if scenarios.plan(s, "S2")[0] is None or "auth-plain" not in s.can:
            res["memory"][s.name] = [{"sessions": n, "skipped": scenarios.plan(s, "S2")[1] or
                                      "no AUTH PLAIN"} for n in a.sessions]
            continue
        levels = res["memory"].setdefault(s.name, [])
        per = None
        todo = a.sessions
        if s.name != "postern":    # a peer: first a small level, to see its layout
            todo = sorted({min(a.peer_sessions, a.sessions[0]), *a.sessions})
        for n in todo:
            need = per * n if per else 0
            if n > a.peer_sessions and process_per_session(levels):
                levels.append({"sessions": n, "skipped":
                               f"not run: one process per session (above --peer-sessions "
                               f"{a.peer_sessions})"})
                continue
            if need > 0.5 * scenarios.mem_available_kb():
                levels.append({"sessions": n, "skipped":
                               f"not run: would need about {need / 1024 / 1024:.1f} GB"})
                continue
            s.restart()    # a fresh server per level: freed memory would hide the cost
            scenarios.warm(s)
            m = scenarios.memory(s, n)
            levels.append(m)
            per = m["pss_per_session_kb"]
            log(f"S4 {s.name} {n}: {m}")


def process_per_session(levels):
    """True when, at its last measured level, the server ran about one
    process per session (Postfix's smtpd)."""
    done = [m for m in levels if "processes" in m]
    return bool(done) and done[-1]["processes"] > done[-1]["established"] / 2


def spray(a, res):
    r = subprocess.run(["/usr/bin/python3", str(HERE / "spray.py"), "--bin", a.bin,
                        "-d", str(a.spray_seconds)], capture_output=True, text=True,
                       timeout=a.spray_seconds + 300)
    res["spray"] = {"cmd": f"/usr/bin/python3 bench/spray.py -d {a.spray_seconds}",
                    "output": (r.stdout + r.stderr).strip()}


def write_report(res, a, durable):
    md = [BEGIN, f"## Run of {res['date']} (`{res['cmd']}`)", ""]
    f = res["facts"]
    md += [f"Machine: {f['nproc']} CPUs ({f['cpu']}), {f['memory_gb']} GB, {f['kernel']}, "
           f"Debian {f['debian']}, {f['openssl']}; disk {f['disk']}.",
           f"Load average at the start {' '.join(f['loadavg'])}, at the end "
           f"{' '.join(res['loadavg_end'])}: **a shared machine** (other jobs ran meanwhile), "
           "so the numbers are noisy; compare ratios from the same run, not across runs.", "",
           f"Rounds: {a.rounds} x {a.seconds:g} s per cell, interleaved (per round and scenario "
           f"every server in turn); median (min-max).  Errors are counted, never successes.", ""]
    if res["failed"]:
        md += ["Servers that did not start: " + "; ".join(f"{k}: {v}" for k, v in
                                                          res["failed"].items()), ""]
    md += [report.table(res), "", "### Who is the limit: CPU per message", "",
           "utime + stime from /proc/PID/stat over every process of the server (reaped "
           "children included) and of the load generator (one thread), divided by the "
           "messages (S5: logins) of the cell; medians over the rounds.", "",
           report.cpu_table(res), ""]
    if res.get("threads"):
        md += ["The load generator with one thread (the default) and two, same run, "
               "interleaved:", "", report.threads_table(res), ""]
    md += ["### Durability and fsyncs per message", "", report.fsync_table(res, durable), ""]
    if res.get("dns"):
        md += ["### No DNS in the measured path", "",
               "strace -f on every process of each server while the load generator runs "
               "S1 sessions (a new connection each; sources 127.0.0.2-250):", "",
               report.dns_table(res), ""]
    md += ["### Scaling", report.curve_table(res), ""]
    for png in res.get("charts", []):
        rel = os.path.relpath(png, pathlib.Path(a.out).parent)
        md.append(f"![{png.stem}]({rel})")
    md += ["", "### S4 idle sessions after STARTTLS + AUTH PLAIN", "", report.memory_table(res), ""]
    if "spray" in res:
        md += ["### Honest login during a password spray (postern)", "",
               f"`{res['spray']['cmd']}`:", "", "```", res["spray"]["output"], "```", ""]
    md.append(END)
    out = pathlib.Path(a.out)
    old = out.read_text() if out.exists() else ""
    text = "\n".join(md) + "\n"
    if BEGIN in old and END in old:
        text = old[:old.index(BEGIN)] + text.rstrip("\n") + old[old.index(END) + len(END):]
    else:
        text = old + ("\n" if old else "") + text
    out.write_text(text)


def parse():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(common.ROOT / "build" / "postern"))
    ap.add_argument("--quick", action="store_true", help="a smoke run of under 2 minutes")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--servers", default="postern,postfix,opensmtpd,smtp-sink")
    ap.add_argument("--only", default="S1,S2,S3,S3T,S5")
    ap.add_argument("--skip", default="")
    ap.add_argument("--peer-sessions", type=int, default=500,
                    help="S4: most idle sessions for a peer that runs a process per session")
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"))
    a = ap.parse_args()
    a.only = a.only.split(",")
    a.skip = set(filter(None, a.skip.split(",")))
    a.curve_clients, a.curve_seconds = [1, 4, 16, 64, 256], 4.0
    a.sessions, a.fsync_count, a.spray_seconds = [2000, 5000, 10000], 1000, 20
    if a.quick:
        a.rounds, a.seconds = 1, 2.0
        a.curve_clients, a.curve_seconds = [1, 16, 64], 1.5
        a.skip |= {"curves", "threads"}    # `--quick --skip ""` cannot bring them back
        a.sessions, a.fsync_count, a.spray_seconds = [100], 100, 3
        a.peer_sessions = 100
        common.GRACE = 3.0
    a.bin = os.path.abspath(a.bin)
    return a


def main():
    a = parse()
    scenarios.raise_limits(25000)
    res = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "cmd": "bench/run " + " ".join(sys.argv[1:]), "facts": common.machine_facts(),
           "rounds": {}, "curves": {}, "memory": {}, "fsync": {}, "dns": {}, "threads": {}}
    base = pathlib.Path(tempfile.mkdtemp(prefix="postern-bench-"))
    os.chmod(base, 0o755)
    cert, key = common.make_pki(base / "pki")
    servers, res["failed"] = start_all(a.servers.split(","), base, cert, key, a)
    res["servers"] = [s.name for s in servers]
    durable = {s.name: s.durable for s in servers}
    try:
        rounds(servers, a, res)
        if "fsync" not in a.skip:
            for s in servers:
                res["fsync"][s.name] = scenarios.fsyncs(s, a.fsync_count)
                log(f"fsync {s.name}: {res['fsync'][s.name]}")
        if "dns" not in a.skip:
            for s in servers:
                res["dns"][s.name] = scenarios.dns_queries(s)
                log(f"dns {s.name}: {res['dns'][s.name]}")
        if "threads" not in a.skip:
            client_threads(servers, a, res)
        if "curves" not in a.skip:
            curves(servers, a, res)
        if "memory" not in a.skip:
            memory(servers, a, res)
    finally:
        for s in servers:
            s.stop()
    if "spray" not in a.skip:
        spray(a, res)
    res["loadavg_end"] = common.machine_facts()["loadavg"]
    where = pathlib.Path(a.out).resolve().parent    # charts and JSON beside the report
    res["charts"] = report.charts(res, where / "charts")
    (where / "results").mkdir(exist_ok=True)
    (where / "results" / "last.json").write_text(json.dumps(res, indent=1, default=str))
    write_report(res, a, durable)
    print(report.table(res))
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
