#!/usr/bin/python3
"""The accepting side under load (issue 14): C clients (processes) x M
messages per connection, S bytes each, AUTH PLAIN, PIPELINING (MAIL,
RCPT, DATA in one write), every 250 durable -- against `postern serve`
and, in the same run, Postfix's smtp-sink (stores nothing: the ceiling
of this client on this machine).  Run by hand:

    /usr/bin/python3 bench/accept_rate.py [--bin build/postern] [--bin-before OLD]
        [-c 16] [-m 50] [-s 2048] [-r 5] [--strace]

Prints per round the messages per second, then the median and the spread
(min..max) per server; with --strace one more round of each postern
under `strace -f -c -e trace=fsync,fdatasync` gives the flushes per
message.  The client is Python (one process per connection, raw socket,
pipelined): its own cost caps what it can measure, which the smtp-sink
line shows.  AUTH PLAIN goes in clear (plaintext_auth = always) so that
TLS does not hide the spool's cost.  Nothing is asserted.
"""
import argparse
import base64
import multiprocessing
import os
import pathlib
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import idle_sessions as common  # noqa: E402  (ports, server start/stop)

USER = "bench@example.test"
PASSWORD = "bench password 42"


def body(size, n):
    head = f"From: <{USER}>\r\nTo: <rcpt@example.test>\r\nSubject: bench {n}\r\n\r\n".encode()
    line = b"0123456789 the quick brown fox jumps over the lazy dog 0123456789\r\n"
    return head + line * max(1, (size - len(head)) // len(line)) + b".\r\n"


def reply(f):
    """One (multi-line) reply's code."""
    while True:
        line = f.readline()
        if not line:
            raise OSError("connection closed")
        if line[3:4] != b"-":
            return int(line[:3])


def client(port, nmsg, size, barrier, q):
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb")
    ok = 0
    try:
        assert reply(f) == 220
        s.sendall(b"EHLO bench.example.test\r\n")
        assert reply(f) == 250
        token = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode())
        s.sendall(b"AUTH PLAIN " + token + b"\r\n")
        assert reply(f) in (235, 250)     # smtp-sink says 250
        msgs = [body(size, i) for i in range(nmsg)]
        barrier.wait()
        for m in msgs:
            s.sendall(f"MAIL FROM:<{USER}>\r\nRCPT TO:<rcpt@example.test>\r\nDATA\r\n".encode())
            codes = (reply(f), reply(f), reply(f))
            if codes != (250, 250, 354):
                raise OSError(f"replies {codes}")
            s.sendall(m)
            ok += reply(f) == 250
        s.sendall(b"QUIT\r\n")
        reply(f)
    finally:
        q.put(ok)
        s.close()


def load(port, nclients, nmsg, size):
    """(messages acknowledged, seconds) of one round."""
    barrier = multiprocessing.Barrier(nclients + 1)
    q = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=client, args=(port, nmsg, size, barrier, q))
             for _ in range(nclients)]
    for p in procs:
        p.start()
    barrier.wait(timeout=60)
    t0 = time.monotonic()
    oks = [q.get(timeout=300) for _ in procs]
    took = time.monotonic() - t0
    for p in procs:
        p.join()
    return sum(oks), took


def postern_dir(binary, d):
    port = common.free_port()
    # rcpt@example.test is a local recipient: checked at RCPT (issue 14)
    (d / "rcpts").write_text("rcpt@example.test\n")
    common.write_conf(d, port, 1000, "plaintext_auth = always\nsubmission_tls = optional\n"
                      "local_recipients = file:rcpts\n")
    conf = d / "postern.conf"
    conf.write_text(conf.read_text().replace(" submissions\n", " submission\n"))
    r = subprocess.run([binary, "passwd", "-c", str(conf), "add", USER],
                       input=PASSWORD + "\n", text=True, capture_output=True)
    if r.returncode != 0:
        sys.exit(r.stderr)
    return port


def start(cmd, port):
    srv = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    for _ in range(400):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return srv
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{cmd[0]} did not start")


def cpu_seconds(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def server_pid(srv, traced):
    """The postern process: srv itself, or strace's child."""
    if traced is None:
        return srv.pid
    for _ in range(100):
        kids = open(f"/proc/{srv.pid}/task/{srv.pid}/children").read().split()
        if kids:
            return int(kids[0])
        time.sleep(0.05)
    sys.exit("strace started no server")


def rounds_postern(binary, a, strace_out=None):
    rates = []
    for r in range(a.r if strace_out is None else 1):
        with tempfile.TemporaryDirectory(dir=a.dir) as td:
            d = pathlib.Path(td)
            shutil.copy(a.pki / "cert.pem", d)
            shutil.copy(a.pki / "key.pem", d)
            port = postern_dir(binary, d)
            cmd = [binary, "serve", "-c", str(d / "postern.conf")]
            if strace_out is not None:
                cmd = ["strace", "-f", "-c", "-e", "trace=fsync,fdatasync", "-o", str(strace_out)] + cmd
            srv = start(cmd, port)
            cpu0 = cpu_seconds(server_pid(srv, strace_out))
            try:
                n, took = load(port, a.c, a.m, a.s)
                cpu = cpu_seconds(server_pid(srv, strace_out)) - cpu0
            finally:
                if strace_out is not None:
                    # strace leaves its tracee running on SIGTERM: stop
                    # the server itself, then strace writes its summary
                    os.kill(server_pid(srv, strace_out), 15)
                    srv.wait(60)
                else:
                    common.stop_server(srv)
            a.cpu.setdefault(binary, []).append(1000 * cpu / max(n, 1))
            rates.append(n / took)
            if strace_out is not None:
                return n, strace_out.read_text()
    return rates


def rounds_sink(a):
    rates = []
    for r in range(a.r):
        port = common.free_port()
        srv = start(["smtp-sink", "-u", "nobody", f"127.0.0.1:{port}", "1000"], port)
        try:
            n, took = load(port, a.c, a.m, a.s)
        finally:
            common.stop_server(srv)
        rates.append(n / took)
    return rates


def summary(name, rates):
    return (f"{name:<16} median {statistics.median(rates):8.0f} msg/s  "
            f"spread {min(rates):.0f}..{max(rates):.0f}  rounds {' '.join(f'{x:.0f}' for x in rates)}")


def flushes(text, n):
    calls = {m.group(2): int(m.group(1)) for m in re.finditer(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$", text, re.M) if m.group(2) != "total"}
    total = sum(calls.values())
    return f"{calls} for {n} messages = {total / max(n, 1):.3f} flushes per message"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("POSTERN_BIN", "build/postern"))
    ap.add_argument("--bin-before", help="an older postern to compare (before/after)")
    ap.add_argument("-c", type=int, default=16, help="clients (connections)")
    ap.add_argument("-m", type=int, default=50, help="messages per connection")
    ap.add_argument("-s", type=int, default=2048, help="message size")
    ap.add_argument("-r", type=int, default=5, help="rounds")
    ap.add_argument("--dir", default=None, help="where the spools go (default: $TMPDIR)")
    ap.add_argument("--strace", action="store_true", help="count fsync/fdatasync per message")
    a = ap.parse_args()
    a.cpu = {}
    with tempfile.TemporaryDirectory() as td:
        a.pki = pathlib.Path(td)
        common.make_pki(a.pki)
        bins = [("postern", a.bin)] + ([("postern before", a.bin_before)] if a.bin_before else [])
        print(f"{a.c} clients x {a.m} messages x {a.s} bytes, AUTH PLAIN, pipelined, {a.r} rounds")
        sink = rounds_sink(a)
        res = {name: rounds_postern(b, a) for name, b in bins}
        print(summary("smtp-sink", sink))
        for name, rates in res.items():
            print(summary(name, rates) + f"  = {100 * statistics.median(rates) / statistics.median(sink):.0f} % of smtp-sink"
                  f", server CPU {statistics.median(a.cpu[dict(bins)[name]]):.2f} ms per message")
        if a.strace:
            for name, b in bins:
                n, text = rounds_postern(b, a, a.pki / "strace.txt")
                print(f"{name:<16} under strace: {flushes(text, n)}")


if __name__ == "__main__":
    main()
