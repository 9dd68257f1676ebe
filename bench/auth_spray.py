#!/usr/bin/env python3
"""auth_spray.py - an honest user's login time while a wrong-password
spray runs (issue 13): BOTS connections from 100 distinct loopback
addresses in 100 distinct /24s (127.10.0.1 .. 127.109.0.1) each send a
wrong AUTH PLAIN over implicit TLS and reconnect, while the honest user
logs in from 127.0.0.2 every 0.2 s (connect, TLS, EHLO, AUTH, QUIT).
Prints the honest median before and during the spray, failed honest
logins, and the spray's rate.

    python3 bench/auth_spray.py [--bin build/postern] [-d 15] [--mech PLAIN|CRAM-MD5]

Speed is measured here, not asserted (tests/interop/test_privsep.py has
a generous bound)."""
import argparse
import base64
import os
import pathlib
import smtplib
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import idle_sessions as common  # noqa: E402  (PKI, config, ports)

USER, PASSWORD = "honest@example.test", "honest password 1"
BOTS = 100


def bot(port, ca, i, stop, count):
    ctx = ssl.create_default_context(cafile=ca)
    ir = base64.b64encode(f"\0{USER}\0guess {i}".encode()).decode()
    while not stop.is_set():
        try:
            with smtplib.SMTP_SSL("127.0.0.1", port, timeout=30, context=ctx,
                                  source_address=(f"127.{10 + i}.0.1", 0)) as s:
                s.ehlo("bot")
                s.docmd("AUTH", "PLAIN " + ir)
            count[i] += 1
        except (OSError, smtplib.SMTPException):
            time.sleep(0.05)


def honest(port, ca, mech):
    ctx = ssl.create_default_context(cafile=ca)
    t0 = time.monotonic()
    try:
        with smtplib.SMTP_SSL("127.0.0.1", port, timeout=30, context=ctx,
                              source_address=("127.0.0.2", 0)) as s:
            s.ehlo("honest")
            s.user, s.password = USER, PASSWORD
            code, _ = s.auth(mech, s.auth_plain if mech == "PLAIN" else s.auth_cram_md5)
        ok = code == 235
    except (OSError, smtplib.SMTPException):
        ok = False
    return time.monotonic() - t0, ok


def series(port, ca, mech, seconds):
    times, failed = [], 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t, ok = honest(port, ca, mech)
        times.append(t)
        failed += not ok
        time.sleep(0.2)
    return times, failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("POSTERN_BIN", "build/postern"))
    ap.add_argument("-d", type=float, default=15.0, help="seconds of spray")
    ap.add_argument("--mech", default="PLAIN", choices=["PLAIN", "CRAM-MD5"])
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as td:
        d = pathlib.Path(td)
        common.make_pki(d)
        port = common.free_port()
        common.write_conf(d, port, 2000)
        r = subprocess.run([a.bin, "passwd", "-c", str(d / "postern.conf"), "add", USER],
                           input=PASSWORD + "\n", text=True, capture_output=True)
        if r.returncode != 0:
            sys.exit(r.stderr)
        srv = common.start_server(a.bin, d, port)
        ca = str(d / "ca.pem")
        try:
            before, fb = series(port, ca, a.mech, 5)
            stop, count = threading.Event(), [0] * BOTS
            bots = [threading.Thread(target=bot, args=(port, ca, i, stop, count), daemon=True)
                    for i in range(BOTS)]
            for b in bots:
                b.start()
            time.sleep(2)
            n0, t0 = sum(count), time.monotonic()
            during, fd = series(port, ca, a.mech, a.d)
            rate = (sum(count) - n0) / (time.monotonic() - t0)
            stop.set()
            for b in bots:
                b.join(timeout=40)
        finally:
            common.stop_server(srv)
    ms = lambda v: statistics.median(v) * 1000
    print(f"{a.mech}: honest median before {ms(before):.1f} ms ({len(before)} logins, {fb} failed), "
          f"during {ms(during):.1f} ms ({len(during)} logins, {fd} failed, "
          f"max {max(during) * 1000:.0f} ms); spray {rate:.1f} guesses/s from {BOTS} addresses")


if __name__ == "__main__":
    main()
