#!/usr/bin/python3
"""Authenticated submissions per second through `postern serve` (run by
hand).  Each submission is a new implicit-TLS connection (RFC 8314),
EHLO, AUTH PLAIN, one small message, QUIT, from P client processes for
about D seconds (Python smtplib).

    /usr/bin/python3 bench/auth_rate.py [--bin build/postern] [-p 4] [-d 20]

Prints connections per second, the server's CPU time per submission
(from /proc/PID/stat) and the messages found in the spool.  Nothing is
asserted.
"""
import argparse
import multiprocessing
import os
import pathlib
import smtplib
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import idle_sessions as common  # noqa: E402  (PKI, config, ports)

USER = "bench@example.test"
PASSWORD = "bench password 42"
MSG = ("From: bench@example.test\r\nTo: rcpt@example.test\r\nSubject: bench\r\n\r\n"
       "one small message\r\n")


def client(port, cafile, until, q):
    ctx = ssl.create_default_context(cafile=cafile)
    n = errors = 0
    while time.monotonic() < until:
        try:
            with smtplib.SMTP_SSL("127.0.0.1", port, context=ctx, timeout=30) as s:
                s.ehlo("bench.example.test")
                # smtplib.login() would pick CRAM-MD5 (its preference): force PLAIN.
                s.user, s.password = USER, PASSWORD
                s.auth("PLAIN", s.auth_plain)
                s.sendmail(USER, ["rcpt@example.test"], MSG)
            n += 1
        except (OSError, smtplib.SMTPException):
            errors += 1
    q.put((n, errors))


def cpu_seconds(pid):
    """CPU of `postern serve` PID and its processes (parent, auth, network)."""
    kids = open(f"/proc/{pid}/task/{pid}/children").read().split()
    total = 0.0
    for p in [pid] + [int(k) for k in kids]:
        f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
        total += (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("POSTERN_BIN", "build/postern"))
    ap.add_argument("-p", type=int, default=4, help="client processes")
    ap.add_argument("-d", type=float, default=20.0, help="seconds")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as td:
        d = pathlib.Path(td)
        common.make_pki(d)
        port = common.free_port()
        common.write_conf(d, port, 1000)
        r = subprocess.run([a.bin, "passwd", "-c", str(d / "postern.conf"), "add", USER],
                           input=PASSWORD + "\n", text=True, capture_output=True)
        if r.returncode != 0:
            sys.exit(r.stderr)
        srv = common.start_server(a.bin, d, port)
        try:
            cpu0 = cpu_seconds(srv.pid)
            t0 = time.monotonic()
            q = multiprocessing.Queue()
            procs = [multiprocessing.Process(target=client,
                                             args=(port, str(d / "ca.pem"), t0 + a.d, q))
                     for _ in range(a.p)]
            for p in procs:
                p.start()
            res = [q.get() for _ in procs]
            for p in procs:
                p.join()
            took = time.monotonic() - t0
            cpu = cpu_seconds(srv.pid) - cpu0
            n = sum(x for x, _ in res)
            errors = sum(e for _, e in res)
            r = subprocess.run([a.bin, "queue", "-c", str(d / "postern.conf"), "list"], capture_output=True, text=True)
            queued = int(r.stdout.splitlines()[-1].split()[0]) if r.returncode == 0 else -1
            print(f"{a.p} clients, {took:.1f} s: {n} authenticated submissions "
                  f"({n / took:.1f}/s), {errors} errors, {queued} messages in the spool; "
                  f"server CPU {cpu:.1f} s = {1000 * cpu / max(n, 1):.1f} ms per submission")
        finally:
            common.stop_server(srv)


if __name__ == "__main__":
    main()
