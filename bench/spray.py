#!/usr/bin/python3
"""Honest login time under a distributed password spray (run by hand;
issue 13).  100 sprayers on 127.0.1.10-127.0.1.109 each log in over
submission + STARTTLS with a wrong password at most once per PERIOD
seconds, while the honest user logs in from 127.0.0.2 every 0.2 s; the
honest user logged in a few times before the spray, as an owner would
have.  The workload is tests/interop/spray.py, shared with the suite's
test_spray.py.

    /usr/bin/python3 bench/spray.py [--bin build/postern] [-d 20] [--period 5.0] [--before 20]

Prints the honest median, p90 and max before and during the spray, honest
failures, what the sprayers got (235/535/454/421; 0 = the dialogue
broke), per time slice, and the server's log counts.  Nothing is
asserted.
"""
import argparse
import os
import pathlib
import re
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "interop"))
import conftest  # noqa: E402  (Pki, PosternServer)
from spray import Spray, quantiles  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("POSTERN_BIN", str(ROOT / "build" / "postern")))
    ap.add_argument("-d", type=float, default=20.0, help="seconds of spray")
    ap.add_argument("--period", type=float, default=5.0,
                    help="each sprayer's least seconds between attempts (5: 20 a second in all)")
    ap.add_argument("--before", type=int, default=20, help="honest logins before the spray")
    ap.add_argument("--conf", default="", help="extra config lines, ';'-separated")
    a = ap.parse_args()
    conftest.POSTERN = os.path.abspath(a.bin)
    with tempfile.TemporaryDirectory() as td:
        d = pathlib.Path(td)
        (d / "pki").mkdir()
        pki = conftest.Pki(d / "pki")
        extra = "".join(line.strip() + "\n" for line in a.conf.split(";") if line.strip())
        srv = conftest.started_server(d / "server", pki, extra)
        try:
            sp = Spray(srv.submission, pki.ca, conftest.USER, conftest.PASSWORD,
                       period=a.period).run(a.d, before=a.before)
        finally:
            srv.stop()
        log = srv.log_text()
    report(sp, a, log)


def report(sp, a, log):
    print(f"spray: {len(set(s for _, s, _ in sp.spray))} sources, {a.d:.0f} s, "
          f"period {a.period} s; honest pause 0.2 s")
    for phase in ("before", "during"):
        xs = sp.times(phase)
        med, p90 = quantiles(xs)
        worst = max(xs) * 1000 if xs else float("nan")
        print(f"honest {phase:6}: n={len(xs):4d} median={med:8.1f} ms  p90={p90:8.1f} ms"
              f"  max={worst:8.1f} ms")
    b, d = quantiles(sp.times("before"))[0], quantiles(sp.times("during"))[0]
    print(f"honest during/before median: {d / b:.2f}x; honest failures: {sp.honest_failures()}")
    print(f"sprayer attempts: {len(sp.spray)}  outcomes: {dict(sorted(sp.spray_codes().items()))}")
    step = max(1.0, a.d / 5)
    t = 0.0
    while t < a.d:
        c = {}
        for ts, _, code in sp.spray:
            if t <= ts < t + step:
                c[code] = c.get(code, 0) + 1
        print(f"  {t:5.1f}-{t + step:5.1f} s: {dict(sorted(c.items()))}")
        t += step
    print("server log: auth failed=%d  throttled delay=%d refuse=%d  session closes=%d" % (
        len(re.findall(r"auth failed: client=", log)),
        len(re.findall(r"auth throttled: client=\S+ action=delay", log)),
        len(re.findall(r"auth throttled: client=\S+ action=refuse", log)),
        len(re.findall(r"auth failed too often", log))))


if __name__ == "__main__":
    main()
