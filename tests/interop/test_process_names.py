"""Which postern process is which (ps, top: /proc/PID/comm), and a
`postern queue` that does not hang when the queue runner does not answer.

The parent names its children postern-auth, postern-net and
postern-runner.  bench/ pauses the runner by that name (SIGSTOP, as
Postfix's hold queue holds mail); an administrator's `postern queue
list` against a runner that is stopped or stuck used to wait forever on
the control socket: now it gives up after 30 s with a message saying so."""
import os
import signal
import subprocess
import time

from conftest import POSTERN, server  # noqa: F401  (fixture)


def children(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                         text=True).stdout
    return [int(p) for p in out.split()]


def comm(pid):
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


def named(server):
    return {comm(p): p for p in children(server.proc.pid)}


def test_processes_are_named(server):
    deadline = time.monotonic() + 10
    names = {}
    while time.monotonic() < deadline:
        names = named(server)
        if {"postern-auth", "postern-net", "postern-runner"} <= set(names):
            break
        time.sleep(0.05)
    assert {"postern-auth", "postern-net", "postern-runner"} <= set(names), names
    assert comm(server.proc.pid) == "postern"


def test_queue_list_gives_up_on_a_stopped_runner(server):
    deadline = time.monotonic() + 10
    while "postern-runner" not in named(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    runner = named(server)["postern-runner"]
    assert server.queue("list").returncode == 0     # it answers while it runs
    os.kill(runner, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        r = subprocess.run([POSTERN, "queue", "-c", str(server.conf), "list"],
                           capture_output=True, text=True, timeout=90)
        took = time.monotonic() - t0
    finally:
        os.kill(runner, signal.SIGCONT)
    assert r.returncode == 1, r
    assert "no answer from the queue runner within 30 s" in r.stderr, r.stderr
    assert 25 < took < 60, took
