"""The project's scripts on a machine that is somebody's mail server
(issue 12 item 13): `make check` runs scripts/deps.sh, which used to
`pkill -x master`, `pkill -x dovecot` and `service postfix stop`, so
running the tests stopped the machine's own Postfix and Dovecot (and any
other program called master, such as another test's Postfix).

deps.sh is run for real through its install path: fake dpkg-query (every
package missing), apt-get, debconf-set-selections and id come first on
PATH, and its pid files and policy-rc.d point into tmp_path.  `service`
is a fake that logs; `pkill` and `killall` log and do what they would,
but only to the test's own processes: whatever the script does, it
cannot stop a process of this machine by name.  The "daemons" are
copies of sleep called master and dovecot, started by the test."""
import os
import pathlib
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import ROOT, run

KILL_BY_NAME = """echo "CMD $*" >>"$T/log"
for name; do :; done
for pid in $(cat "$T/pids"); do
    [ "$(cat /proc/$pid/comm 2>/dev/null)" = "$name" ] && kill "$pid"
done
exit 0
"""

FAKES = {
    "dpkg-query": "exit 1\n",
    "id": "echo 0\n",
    "debconf-set-selections": "cat >/dev/null\n",
    # On install: say whether policy-rc.d forbids starting daemons, and
    # "start" the daemons the test chose (their pids into the pid files).
    "apt-get": """echo "apt-get $*" >>"$T/log"
case $1 in install)
    if [ -x "$POLICY_RC_D" ]; then "$POLICY_RC_D" postfix start; echo "policy-rc.d=$?" >>"$T/log"; fi
    [ -z "${STARTS_POSTFIX:-}" ] || echo "$STARTS_POSTFIX" >"$POSTFIX_PIDFILE"
    [ -z "${STARTS_DOVECOT:-}" ] || echo "$STARTS_DOVECOT" >"$DOVECOT_PIDFILE"
esac
""",
    "service": 'echo "service $*" >>"$T/log"\n',
    # What `pkill -x NAME` / `killall NAME` would do, but only to the
    # test's own daemons (listed in $T/pids).
    "pkill": KILL_BY_NAME.replace("CMD", "pkill"),
    "killall": KILL_BY_NAME.replace("CMD", "killall"),
}


class Box:
    """tmp_path with the fake commands, pid files and daemons."""

    def __init__(self, d):
        self.d = d
        self.log = d / "log"
        self.log.write_text("")
        (d / "pids").write_text("")
        bin_ = d / "bin"
        bin_.mkdir()
        for name, body in FAKES.items():
            (bin_ / name).write_text("#!/bin/sh\n" + body)
            (bin_ / name).chmod(0o755)
        self.postfix_pid = d / "postfix-master.pid"
        self.dovecot_pid = d / "dovecot-master.pid"
        self.policy = d / "policy-rc.d"
        self.env = dict(os.environ, PATH=f"{bin_}:{os.environ['PATH']}", T=str(d),
                        POLICY_RC_D=str(self.policy), POSTFIX_PIDFILE=str(self.postfix_pid),
                        DOVECOT_PIDFILE=str(self.dovecot_pid))
        self.procs = []

    def daemon(self, name):
        """A long-running process whose command name is name."""
        exe = self.d / "daemons" / str(len(self.procs)) / name
        exe.parent.mkdir(parents=True)
        shutil.copy(shutil.which("sleep"), exe)
        p = subprocess.Popen([str(exe), "300"])
        self.procs.append(p)
        with open(self.d / "pids", "a") as f:
            f.write(f"{p.pid}\n")
        deadline = time.monotonic() + 10      # until it has exec'd
        while pathlib.Path(f"/proc/{p.pid}/comm").read_text().strip() != name:
            assert time.monotonic() < deadline and p.poll() is None, f"{exe} did not start"
            time.sleep(0.01)
        return p

    def deps(self, **env):
        r = run(["sh", str(ROOT / "scripts" / "deps.sh")], env=dict(self.env, **env), timeout=60)
        return r, self.log.read_text()

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)


@pytest.fixture
def box(tmp_path):
    b = Box(tmp_path)
    yield b
    b.stop()


def test_no_kill_by_name_in_scripts():
    for f in [*sorted((ROOT / "scripts").iterdir()), ROOT / "Makefile"]:
        text = f.read_text()
        assert not re.search(r"\b(pkill|killall)\b", text), f"{f} stops processes by name"


def test_machine_daemons_survive(box):
    """Postfix and Dovecot running before (pid files say so) and another
    program called master: all still run after deps.sh installed."""
    postfix, dovecot, other = box.daemon("master"), box.daemon("dovecot"), box.daemon("master")
    box.postfix_pid.write_text(f"{postfix.pid:10d}\n")    # Postfix pads it so
    box.dovecot_pid.write_text(f"{dovecot.pid}\n")
    r, log = box.deps()
    assert r.returncode == 0, r.stderr.decode()
    assert "apt-get install -y -q --no-install-recommends " in log, log
    for p in (postfix, dovecot, other):
        assert p.poll() is None, f"pid {p.pid} was stopped\n{log}"
    assert "service" not in log and "pkill" not in log and "killall" not in log, log
    # policy-rc.d kept daemons from starting during the install, and is gone
    assert "policy-rc.d=101" in log, log
    assert not box.policy.exists()


def test_daemons_started_by_install_are_stopped(box):
    """What the install started (it was not running before) is stopped,
    by its pid: nothing else called master or dovecot."""
    other = box.daemon("master")
    postfix, dovecot = box.daemon("master"), box.daemon("dovecot")
    r, log = box.deps(STARTS_POSTFIX=str(postfix.pid), STARTS_DOVECOT=str(dovecot.pid))
    assert r.returncode == 0, r.stderr.decode()
    for p in (postfix, dovecot):
        assert p.wait(timeout=10) == -signal.SIGTERM, log
    out = r.stdout.decode()
    assert f"deps.sh: stopping master (pid {postfix.pid}), started by the install" in out, out
    assert f"deps.sh: stopping dovecot (pid {dovecot.pid}), started by the install" in out, out
    assert other.poll() is None, log
    assert "service" not in log and "pkill" not in log and "killall" not in log, log


def test_stale_pid_file_stops_nothing(box):
    """A pid file left behind names a pid now used by another program:
    that program is not stopped."""
    stranger = box.daemon("sleepy")
    box.postfix_pid.write_text("")
    r, log = box.deps(STARTS_POSTFIX=str(stranger.pid))
    assert r.returncode == 0, r.stderr.decode()
    assert stranger.poll() is None, log
