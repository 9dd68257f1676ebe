#!/usr/bin/python3
"""Memory per idle TLS session of `postern serve` (run by hand).

Starts postern serve on loopback with a throw-away CA, certificate,
config and spool, opens N connections to the implicit-TLS port, does
the handshake and EHLO on each, then leaves them idle, and reports the
server's VmRSS before and after, and the delta per session.

    /usr/bin/python3 bench/idle_sessions.py [--bin build/postern] [-n 1000 5000]

The client side uses asyncio with ssl (one process); RLIMIT_NOFILE is
raised for both sides (the server inherits it).  Nothing is asserted:
this prints numbers.
"""
import argparse
import asyncio
import os
import pathlib
import resource
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_pki(d):
    """A CA and a localhost certificate signed by it (openssl CLI)."""
    def ossl(*a):
        subprocess.run(["openssl", *a], cwd=d, check=True, capture_output=True)
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
         "-days", "2", "-subj", "/CN=bench CA")
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "req.csr",
         "-subj", "/CN=localhost")
    (d / "ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    ossl("x509", "-req", "-in", "req.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "cert.pem", "-days", "2", "-extfile", "ext")


def write_conf(d, port, nmax, extra=""):
    (d / "users").write_text("")
    (d / "postern.conf").write_text(
        "hostname = bench.example.test\n"
        f"listen = 127.0.0.1:{port} submissions\n"
        "tls_certificate = cert.pem\ntls_key = key.pem\n"
        "credentials = file:users\nspool = spool\nlocal_domains = example.test\n"
        "user = nobody\n"
        f"max_connections = {nmax}\nmax_connections_per_ip = {nmax}\n"
        "log_level = warning\n" + extra)


def start_server(binary, d, port, env=None):
    """postern serve on d/postern.conf, once port accepts connections."""
    srv = subprocess.Popen([binary, "serve", "-c", str(d / "postern.conf")],
                           stdin=subprocess.DEVNULL, env=env)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    return srv


def stop_server(srv):
    srv.terminate()
    try:
        srv.wait(20)
    except subprocess.TimeoutExpired:
        srv.kill()
        srv.wait()


def listening_inodes():
    inodes = set()
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            for line in open(f).readlines()[1:]:
                col = line.split()
                if col[3] == "0A":          # LISTEN
                    inodes.add(col[9])
        except OSError:
            pass
    return inodes


def net_pid(pid, timeout=10):
    """The network process of `postern serve` PID (doc/architecture.md):
    the child holding a listening TCP socket (the auth process has none)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            kids = open(f"/proc/{pid}/task/{pid}/children").read().split()
        except OSError:
            return pid
        listening = listening_inodes()
        for k in kids:
            try:
                links = [os.readlink(f"/proc/{k}/fd/{fd}") for fd in os.listdir(f"/proc/{k}/fd")]
            except OSError:
                continue
            if any(link[8:-1] in listening for link in links if link.startswith("socket:[")):
                return int(k)
        time.sleep(0.05)
    return pid


def rss_kb(pid):
    pid = net_pid(pid)
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def build_shim(d):
    """bench/malloc_count.c as a shared object in d (cc from PATH)."""
    so = d / "malloc_count.so"
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", str(so), str(HERE / "malloc_count.c")],
                   check=True)
    return so


def shim_env(so, out):
    env = dict(os.environ)
    env["LD_PRELOAD"] = str(so)
    env["MALLOC_COUNT_OUT"] = str(out)
    return env


def heap_of(pid, out):
    """(chunks, bytes) live in the server, from the malloc_count shim."""
    out.unlink(missing_ok=True)
    os.kill(net_pid(pid), signal.SIGUSR2)
    for _ in range(100):
        if out.exists() and out.read_text().endswith("\n"):
            f = dict(kv.split("=") for kv in out.read_text().split())
            return int(f["chunks"]), int(f["bytes"])
        time.sleep(0.02)
    return 0, 0


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(max(soft, n), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


async def one_session(port, ctx, held, sem):
    async with sem:
        r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx,
                                             server_hostname="localhost")
        line = await r.readline()
        assert line.startswith(b"220 "), line
        w.write(b"EHLO bench.example.test\r\n")
        while True:
            line = await r.readline()
            if line[3:4] != b"-":
                break
        held.append((r, w))


async def open_sessions(port, ctx, n, held):
    sem = asyncio.Semaphore(200)    # handshakes in flight at once
    await asyncio.gather(*(one_session(port, ctx, held, sem) for _ in range(n)))


def settle(pid):
    """RSS after the server has been idle for a moment."""
    time.sleep(1.0)
    return rss_kb(pid)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("POSTERN_BIN", "build/postern"))
    ap.add_argument("-n", type=int, nargs="+", default=[1000, 5000])
    ap.add_argument("--hold", type=float, default=0.0,
                    help="keep the sessions open this many seconds after measuring "
                         "(to look at the server with gdb, heaptrack...)")
    ap.add_argument("--malloc-count", action="store_true",
                    help="also count the server's live heap exactly (LD_PRELOAD of "
                         "bench/malloc_count.c, built with cc)")
    ap.add_argument("--tls12", action="store_true",
                    help="clients offer TLS 1.2 at most (session IDs and RFC 5077 tickets "
                         "instead of TLS 1.3 tickets)")
    a = ap.parse_args()
    top = max(a.n)
    limit = raise_nofile(2 * top + 100)
    if limit < top + 50:
        sys.exit(f"RLIMIT_NOFILE hard limit {limit} is too low for {top} sessions")
    with tempfile.TemporaryDirectory() as td:
        d = pathlib.Path(td)
        make_pki(d)
        ctx = ssl.create_default_context(cafile=str(d / "ca.pem"))
        if a.tls12:
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        print(f"postern {a.bin}  RLIMIT_NOFILE {limit}  "
              f"client TLS {'1.2' if a.tls12 else '1.2-1.3'}")
        shim = build_shim(d) if a.malloc_count else None
        out = d / "heap.txt"
        for n in sorted(a.n):
            # a fresh server for each N: memory freed by earlier
            # sessions would otherwise be reused and hide the cost
            port = free_port()
            write_conf(d, port, top + 10)
            srv = start_server(a.bin, d, port, shim_env(shim, out) if shim else None)
            try:
                # one session first, so that the per-process set-up
                # (OpenSSL's first handshake) is in the baseline
                held = []
                asyncio.run(open_sessions(port, ctx, 1, held))
                base = settle(srv.pid)
                heap0 = heap_of(srv.pid, out) if shim else None
                held = []
                t0 = time.monotonic()
                asyncio.run(open_and_hold(port, ctx, n, held, srv.pid, base, t0, a.hold,
                                          (out, heap0) if shim else None))
            finally:
                stop_server(srv)


async def open_and_hold(port, ctx, n, held, pid, base, t0, hold=0.0, heap=None):
    await open_sessions(port, ctx, n, held)
    took = time.monotonic() - t0
    await asyncio.sleep(1.0)
    now = rss_kb(pid)
    print(f"N={n:6d}  RSS before {base:8d} KB  with N idle TLS sessions {now:8d} KB  "
          f"delta {now - base:8d} KB  per session {1024 * (now - base) / n:8.0f} bytes  "
          f"(opened in {took:.1f} s)", flush=True)
    if heap:
        out, (c0, b0) = heap
        c1, b1 = heap_of(pid, out)
        print(f"         heap: live chunks per session {(c1 - c0) / n:6.1f}  "
              f"live bytes per session {(b1 - b0) / n:8.0f}", flush=True)
    if hold > 0:
        print(f"holding for {hold:.0f} s; server pid {pid}", flush=True)
        await asyncio.sleep(hold)
    for _, w in held:
        w.close()
    await asyncio.gather(*(w.wait_closed() for _, w in held), return_exceptions=True)


if __name__ == "__main__":
    main()
