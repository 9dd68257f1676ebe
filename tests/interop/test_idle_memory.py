"""What an idle session costs the server (issue 16, S4): sessions that
finished STARTTLS and AUTH PLAIN and then wait, held open by the
benchmark's load generator (bench/loadgen --mode idle).

The bound is on the growth of the server's resident memory (all its
processes) divided by the sessions; bench/run measures the same at
2 000-10 000 sessions and records it in bench/RESULTS.md.  Before the
fix every idle TLS session kept an empty 32 KiB input chain that
libevent's TLS bufferevent had reserved for its next read: about
40 KB per session here at 300 sessions (31 KB at 2 000); now about 23
(18 at 2 000).  300 sessions keep the test short; the fixed costs
(the address table, malloc's arenas) weigh more than at bench sizes.

Since postern runs TLS 1.3 records itself after the handshake and frees
OpenSSL's SSL object (src/server/tls_bev.c, tls_record_layer =
postern), about 9 KB here; with tls_record_layer = openssl 21 KB,
which this bound fails."""
import os
import subprocess
import time

import pytest

from conftest import PASSWORD, USER, started_server
from test_bench_smoke import CLEAR, LOADGEN

pytestmark = pytest.mark.perf

SESSIONS = 300
# KB of resident memory per idle STARTTLS + AUTH session, at most.
# OpenSSL 3.0 would keep about 12 KB of it (its SSL object is 7.5 KB);
# without it a session's own cost is under 6 KB, the rest is fixed
# costs spread over 300 sessions.
PER_SESSION_KB = 14


def tree(pid):
    """pid and its children (postern serve's auth and network processes)."""
    try:
        kids = open(f"/proc/{pid}/task/{pid}/children").read().split()
    except OSError:
        return [pid]
    return [pid, *(p for k in kids for p in tree(int(k)))]


def rss_kb(pids):
    total = 0
    for p in pids:
        with open(f"/proc/{p}/status") as f:
            total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return total


@pytest.fixture
def idle_server(tmp_path, pki):
    s = started_server(tmp_path / "server", pki, CLEAR + "max_connections = 1000\n"
                       "max_connections_per_ip = 1000\nauth_fail_limit_ip_day = 100000\n"
                       "auth_fail_limit_subnet_day = 100000\nauth_fail_limit_user_day = 100000\n")
    yield s
    s.stop()


def test_idle_starttls_auth_sessions_stay_small(idle_server):
    pids = tree(idle_server.proc.pid)
    time.sleep(1.0)     # the trim after start-up
    before = rss_kb(pids)
    lg = subprocess.Popen([LOADGEN, "-p", str(idle_server.submission), "-u", USER,
                           "-w", PASSWORD, "--tls", "starttls", "--auth", "plain",
                           "--mode", "idle", "-c", str(SESSIONS), "--hold", "-1",
                           "--ramp", "8", "-d", "120", "--grace", "20",
                           "--reply-timeout", "30", "--src", "127.0.0.2-127.0.0.61"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    try:
        ready = lg.stdout.readline()
        assert ready.startswith("READY"), ready + lg.stderr.read()
        # On a loaded machine a few of the first logins (before the
        # login cache knows the password) can outlast the load
        # generator's reply timeout; the bound is per session held.
        established = int(ready.split("established=")[1].split()[0])
        assert established >= SESSIONS * 9 // 10, ready
        time.sleep(1.5)     # the heap trim half a second after the last handshake
        after = rss_kb(pids)
    finally:
        lg.communicate(input="", timeout=120)
    per = (after - before) / established
    print(f"RSS {before} -> {after} kB: {per:.1f} kB per idle session")
    assert per <= PER_SESSION_KB, f"{per:.1f} kB per idle STARTTLS+AUTH session"
