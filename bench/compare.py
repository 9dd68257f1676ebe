#!/usr/bin/python3
"""Before/after of one change (issue 16 item 3), run by hand: two postern
binaries and smtp-sink started side by side, the same scenarios run
interleaved (before, after, sink; several rounds) with bench/loadgen,
medians printed; then, with --syscalls, each postern under
`strace -f -c` while the load generator sends a fixed count of messages:
system calls per message (writes, reads, fdatasyncs ...), which the
machine's load does not change.

    /usr/bin/python3 bench/compare.py --before OLD/build/postern [--after build/postern]
        [--only S3,S3T] [-r 3] [-d 5] [--syscalls 1000] [--cpu-rounds 5] [--before-rsa-only]

The numbers go to stdout; bench/RESULTS.md quotes them by hand.
"""
import argparse
import os
import pathlib
import shutil
import statistics
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from benchlib import common, scenarios  # noqa: E402
from benchlib.servers import Postern, SmtpSink  # noqa: E402


class Named(Postern):
    def __init__(self, label, *a, **kw):
        self.name = label    # its own folder under base
        super().__init__(*a, **kw)


def syscalls(srv, scen, count):
    """strace -f -c over srv's processes while count messages go in:
    {syscall: calls} and the messages counted."""
    args, _ = scenarios.plan(srv, scen)
    out = srv.dir / "strace-all.txt"
    res = scenarios.traced_load(srv, args, count, ["-c", "-w"], out)    # -w: wall time per call
    calls, usecs = {}, {}
    for line in out.read_text().splitlines():
        f = line.split()
        if len(f) >= 5 and f[3].isdigit():
            calls[f[-1]] = int(f[3])
            usecs[f[-1]] = int(f[2])
    return calls, usecs, res.get("messages", 0)


def cpu_per_message(srv, scen, count):
    """The server's CPU time (all its processes) per message while the
    load generator sends count messages: what the load does not change."""
    args, _ = scenarios.plan(srv, scen)
    pids = srv.pids()
    c0 = common.cpu_ms(pids)
    res = common.run_loadgen(seconds=120, count=count, **args)
    c1 = common.cpu_ms(pids)
    srv.reset()
    n = res.get("messages", 0)
    return (c1 - c0) / n if n else None


def cpu_per_unit(srv, scen, seconds):
    """The server's CPU time (all its processes) per message, or per
    login for S5 (no messages), over `seconds` of the scenario: the
    machine's load changes it far less than the rate."""
    args, _ = scenarios.plan(srv, scen)
    pids = srv.pids()
    c0 = cpu_ms(pids)
    res = common.run_loadgen(seconds=seconds, **args)
    c1 = cpu_ms(pids)
    srv.reset()
    n = res.get("messages") or res.get("logins") or 0
    return (c1 - c0) / n if n else None


def cpu_rounds(servers, only, rounds, seconds):
    """cpu_per_unit for each server, interleaved, `rounds` times; medians."""
    got = {}
    for r in range(rounds):
        for scen in only:
            for s in servers:
                ms = cpu_per_unit(s, scen, seconds)
                if ms is None:
                    continue
                got.setdefault((scen, s.name), []).append(ms)
                print(f"cpu round {r + 1} {scen} {s.name}: {ms:.3f} ms per "
                      f"{'login' if scen == 'S5' else 'message'} load={common.loadavg()}", flush=True)
    for (scen, name), v in sorted(got.items()):
        print(f"{scen:4} {name:10} server CPU median {statistics.median(v):.3f} ms "
              f"({min(v):.3f}-{max(v):.3f}) per {'login' if scen == 'S5' else 'message'}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", default=str(common.ROOT / "build" / "postern"))
    ap.add_argument("--only", default="S3")
    ap.add_argument("-r", "--rounds", type=int, default=3)
    ap.add_argument("-d", "--seconds", type=float, default=5.0)
    ap.add_argument("--syscalls", type=int, default=0, help="messages under strace (0: none)")
    ap.add_argument("--cpu-rounds", type=int, default=0,
                    help="rounds of server CPU per message (per login for S5), interleaved")
    ap.add_argument("--before-rsa-only", action="store_true",
                    help="the before server gets the RSA pair alone (a binary from before "
                         "issue 16 item 3 reads only the last of several tls_certificate lines)")
    a = ap.parse_args()
    scenarios.raise_limits(25000)
    base = pathlib.Path(tempfile.mkdtemp(prefix="postern-compare-"))
    os.chmod(base, 0o755)
    cert, key = common.make_pki(base / "pki")
    servers = [Named("before", base, cert, key, os.path.abspath(a.before),
                     ecdsa=not a.before_rsa_only),
               Named("after", base, cert, key, os.path.abspath(a.after)),
               SmtpSink(base, cert, key)]
    for s in servers:
        s.start()
    rates = {}
    try:
        print("load at start:", common.loadavg(), flush=True)
        for r in range(a.rounds):
            for scen in a.only.split(","):
                for s in servers:
                    x = scenarios.run(s, scen, a.seconds)
                    if x.get("rate") is None:
                        continue
                    rates.setdefault((scen, s.name), []).append(x["rate"])
                    print(f"round {r + 1} {scen} {s.name}: {x['rate']:.0f}/s errors={x.get('errors')}"
                          f" load={x.get('load')}", flush=True)
        print("load at end:", common.loadavg())
        for (scen, name), v in sorted(rates.items()):
            print(f"{scen:4} {name:10} median {statistics.median(v):7.0f}/s "
                  f"({min(v):.0f}-{max(v):.0f})")
        if a.cpu_rounds:
            cpu_rounds(servers[:2], a.only.split(","), a.cpu_rounds, a.seconds)
        if a.syscalls:
            for s in servers[:2]:
                for scen in a.only.split(","):
                    calls, usecs, n = syscalls(s, scen, a.syscalls)
                    per = {k: round(v / n, 2) for k, v in sorted(calls.items(), key=lambda kv: -kv[1])
                           if n and v / n >= 0.05}
                    print(f"{scen} {s.name}: {n} messages; per message: {per}; "
                          f"fdatasync {usecs.get('fdatasync')} us per call (strace -c -w)")
            for scen in a.only.split(","):
                for r in range(3):
                    for s in servers[:2]:
                        ms = cpu_per_message(s, scen, a.syscalls)
                        print(f"{scen} {s.name}: server CPU {ms:.3f} ms per message ({a.syscalls})",
                              flush=True)
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
