"""Privilege separation of `postern serve` (issue 13 items 1, 2, 7;
doc/architecture.md): a root parent, an auth process that alone opens
the credential store and runs every SASL exchange, and a network
process as the unprivileged `user` that only relays.

Checked here with real clients: the network process's uid (from
/proc/PID/status) is `user`'s and that uid cannot open the store, while
every mechanism still authenticates; SIGKILL of the auth process during
a login gives that client 454 and the next login succeeds; a killed
network process is restarted; SIGTERM (and SIGKILL of the parent) leave
no process behind; and a wrong-password spray from many connections
does not hold up an honest login (checks run on workers, cheap answers
on the loop)."""
import os
import pwd
import re
import signal
import smtplib
import socket
import ssl
import statistics
import subprocess
import threading
import time
import base64

import pytest

from clients import assert_auth_failure_logged, assert_log_clean
from conftest import PASSWORD, USER, started_server

TIMEOUT = 20
WRONG = "Tr0ub4dor&3 not it"


def wait_for(pred, what, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def children(pid):
    try:
        return [int(k) for k in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except OSError:
        return []


def listening_inodes():
    inodes = set()
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in open(f).readlines()[1:]:
            col = line.split()
            if col[3] == "0A":
                inodes.add(col[9])
    return inodes


def holds_listener(pid):
    listening = listening_inodes()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in listening:
            return True
    return False


def roles(server):
    """(network pid, auth pid) of a running server: the network process
    is the child holding the listening sockets."""
    def find():
        # the queue runner (issue 14) is the third child: not asked here
        runners = {int(p) for p in re.findall(r"queue runner (\d+) started", server.log_text())}
        kids = [k for k in children(server.proc.pid) if k not in runners]
        if len(kids) != 2:
            return None
        net = [k for k in kids if holds_listener(k)]
        if len(net) != 1:
            return None
        return net[0], [k for k in kids if k != net[0]][0]
    return wait_for(find, "a network and an auth process")


def status_field(pid, name):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(name + ":"):
            return line.split()[1:]
    raise AssertionError(f"no {name} in /proc/{pid}/status")


def gone(pid):
    """The process is gone (or a zombie nobody will run again)."""
    try:
        return status_field(pid, "State")[0] == "Z"
    except (OSError, AssertionError):
        return True


def ctx(server):
    return ssl.create_default_context(cafile=str(server.pki.ca))


def smtplib_login(server, mech, password=PASSWORD, source=None):
    """STARTTLS + AUTH mech with smtplib; returns the AUTH reply code."""
    with smtplib.SMTP(server.host, server.submission, timeout=TIMEOUT,
                      source_address=source) as s:
        s.starttls(context=ctx(server))
        s.ehlo("client.example.test")
        s.user, s.password = USER, password
        auth = {"PLAIN": s.auth_plain, "LOGIN": s.auth_login, "CRAM-MD5": s.auth_cram_md5}[mech]
        try:
            code, _ = s.auth(mech, auth, initial_response_ok=mech != "LOGIN")
        except smtplib.SMTPAuthenticationError as e:
            code = e.smtp_code
        return code


def gsasl_login(server, mech, password=PASSWORD):
    """gsasl (GNU SASL) in SMTP mode: STARTTLS, AUTH mech, and its own
    check of the server's SCRAM signature; exit 0 only on success."""
    r = subprocess.run(
        ["gsasl", "--smtp", f"--connect={server.host}:{server.submission}",
         "--hostname=localhost", "--mechanism", mech, "--authentication-id", USER,
         "--password", password, f"--x509-ca-file={server.pki.ca}", "--no-cb"],
        stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT)
    return r.returncode, r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")


def every_mechanism_authenticates(server):
    for mech in ("PLAIN", "LOGIN", "CRAM-MD5"):
        assert smtplib_login(server, mech) == 235, mech
        assert smtplib_login(server, mech, WRONG) == 535, mech
    for mech in ("SCRAM-SHA-1", "SCRAM-SHA-256"):
        rc, out = gsasl_login(server, mech)
        assert rc == 0 and "235 2.7.0" in out, out
        rc, out = gsasl_login(server, mech, WRONG)
        assert rc != 0 and "535 5.7.8" in out, out
    # the fail2ban line is still there, now from the FAIL answer; no
    # password, response or key in any process's log lines (item 7)
    for mech in ("PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"):
        assert_auth_failure_logged(server, mech, password=WRONG)
    assert_log_clean(server, PASSWORD)
    for proc in ("parent", "net", "auth"):
        assert f"postern proc={proc} " in server.log_text()


@pytest.fixture
def server(tmp_path, pki):
    s = started_server(tmp_path / "server", pki, "auth_workers = 2\n")
    yield s
    s.stop()


def test_network_process_unprivileged_and_cannot_open_store(server):
    net, auth = roles(server)
    if os.geteuid() != 0:
        # Nothing to drop without root; the parent says so once.
        assert "not started as root" in server.log_text()
        every_mechanism_authenticates(server)
        return
    nobody = pwd.getpwnam("nobody")
    assert status_field(net, "Uid") == [str(nobody.pw_uid)] * 4
    assert status_field(net, "Gid") == [str(nobody.pw_gid)] * 4
    assert status_field(net, "Groups") == []
    # the auth process keeps root: it alone reads the store (mode 0600)
    assert status_field(auth, "Uid")[0] == "0"
    # The store cannot be opened with the network process's uid ...
    probe = subprocess.run(
        ["python3", "-c", f"open({str(server.users)!r}, 'rb')"],
        preexec_fn=lambda: (os.setgroups([]), os.setgid(nobody.pw_gid), os.setuid(nobody.pw_uid)),
        capture_output=True)
    assert probe.returncode != 0
    assert b"PermissionError" in probe.stderr, probe.stderr
    # ... and the network process holds no descriptor of it.
    users = os.stat(server.users)
    for fd in os.listdir(f"/proc/{net}/fd"):
        try:
            st = os.stat(f"/proc/{net}/fd/{fd}")
        except OSError:
            continue
        assert (st.st_dev, st.st_ino) != (users.st_dev, users.st_ino)
    every_mechanism_authenticates(server)
    # the network process still has the same uid after all that
    assert roles(server)[0] == net


def test_sigkill_auth_process_during_login_gives_454_then_next_login_succeeds(server):
    net, auth = roles(server)
    started = server.log_text().count("auth process ")
    with smtplib.SMTP(server.host, server.submission, timeout=TIMEOUT) as s:
        s.starttls(context=ctx(server))
        s.ehlo("client.example.test")
        code, msg = s.docmd("AUTH", "LOGIN")
        assert code == 334, msg                 # the exchange runs in the auth process
        os.kill(auth, signal.SIGKILL)
        # the session was waiting on the dead process: 454 at once, no hang
        code, msg = s.getreply()
        assert (code, msg) == (454, b"4.7.0 Temporary authentication failure")
    wait_for(lambda: gone(auth), "the auth process to die")
    wait_for(lambda: re.search(rf"auth process {auth} killed by signal 9", server.log_text()),
             "the parent's line about the dead auth process")
    runner = {int(p) for p in re.findall(r"queue runner (\d+) started", server.log_text())}
    new = wait_for(lambda: [k for k in children(server.proc.pid) if k not in {net, auth} | runner],
                   "a new auth process")
    assert server.log_text().count("auth process ") > started

    def login_ok():
        return smtplib_login(server, "PLAIN") == 235
    wait_for(login_ok, "a login through the new auth process")
    assert roles(server) == (net, new[0])       # the network process lived on


def test_killed_network_process_is_restarted(server):
    net, auth = roles(server)
    os.kill(net, signal.SIGKILL)
    wait_for(lambda: gone(net), "the network process to die")
    new_net, same_auth = wait_for(lambda: roles(server) if roles(server)[0] != net else None,
                                  "a new network process")
    assert same_auth == auth
    assert smtplib_login(server, "CRAM-MD5") == 235


def test_sigterm_stops_all_three(tmp_path, pki):
    s = started_server(tmp_path / "t", pki)
    net, auth = roles(s)
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(timeout=30) == 0
    for pid in (net, auth):
        wait_for(lambda: gone(pid), f"process {pid} to end", timeout=5)
    s.stop()


def test_parent_sigkill_leaves_no_child(tmp_path, pki):
    s = started_server(tmp_path / "k", pki)
    net, auth = roles(s)
    s.proc.kill()
    s.proc.wait(timeout=10)
    for pid in (net, auth):
        wait_for(lambda: gone(pid), f"process {pid} to end with its parent", timeout=5)
    with socket.socket() as c:
        assert c.connect_ex(("127.0.0.1", s.submission)) != 0
    s.stop()


# ---- a spray of wrong passwords does not hold up an honest login ----

SPRAY_SECONDS = 6
SPRAYERS = 24


def spray(server, stop, counts, i):
    """Connects from 127.(10+k).0.1 - a different /24 each time, as a
    botnet would - sends a wrong AUTH PLAIN (each costs the server a full
    yescrypt) and hangs up without waiting for the answer."""
    wrong = base64.b64encode(f"\0{USER}\0wrong {i}".encode()).decode()
    k = i
    while not stop.is_set():
        k = (k + SPRAYERS) % 200
        try:
            with socket.create_connection((server.host, server.smtp), timeout=5,
                                          source_address=(f"127.{10 + k}.0.1", 0)) as c:
                c.sendall(f"EHLO spray\r\nAUTH PLAIN {wrong}\r\n".encode())
                c.recv(4096)
                time.sleep(0.05)
            counts[i] += 1
        except OSError:
            time.sleep(0.01)


def honest_login(server, mech):
    t0 = time.monotonic()
    with smtplib.SMTP(server.host, server.smtp, timeout=TIMEOUT,
                      source_address=("127.0.0.2", 0)) as s:
        s.ehlo("honest.example.test")
        s.user, s.password = USER, PASSWORD
        auth = {"PLAIN": s.auth_plain, "CRAM-MD5": s.auth_cram_md5}[mech]
        code, _ = s.auth(mech, auth)
    assert code == 235
    return time.monotonic() - t0


@pytest.mark.perf
def test_spray_does_not_delay_honest_login(tmp_path, pki):
    s = started_server(tmp_path / "spray", pki,
                       "plaintext_auth = always\nmax_connections = 2000\n"
                       "max_connections_per_ip = 200\nauth_workers = 1\n")
    try:
        honest_login(s, "PLAIN")               # now in the login cache
        before = [honest_login(s, m) for m in ("PLAIN", "CRAM-MD5") * 3]
        stop = threading.Event()
        counts = [0] * SPRAYERS
        threads = [threading.Thread(target=spray, args=(s, stop, counts, i), daemon=True)
                   for i in range(SPRAYERS)]
        for t in threads:
            t.start()
        time.sleep(1.5)                         # the spray is in full swing
        during = []
        try:
            deadline = time.monotonic() + SPRAY_SECONDS
            while time.monotonic() < deadline:
                during.append(honest_login(s, "PLAIN" if len(during) % 2 else "CRAM-MD5"))
                time.sleep(0.2)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=10)
        print(f"honest login median before {statistics.median(before) * 1000:.1f} ms, "
              f"during {statistics.median(during) * 1000:.1f} ms "
              f"(max {max(during) * 1000:.1f} ms, {len(during)} logins, "
              f"{sum(counts)} spray connections)")
        assert sum(counts) > 50, counts         # the spray did run
        # Generous (a loaded CI machine): on the old code, where every
        # check ran on the one event loop, the median was seconds.
        assert statistics.median(during) < 1.0, during
    finally:
        s.stop()


# ---- the user line ----

def check_with_user(tmp_path, pki, user_line):
    from conftest import PosternServer, postern
    s = PosternServer(tmp_path / "u", pki)
    s.conf.write_text(s.conf.read_text().replace("user = nobody\n", "") + user_line)
    s.add_user(USER, PASSWORD)
    r = postern("serve", "-c", str(s.conf), "--check")
    line = len(s.conf.read_text().splitlines())
    return s, r.returncode, r.stderr.decode(), line


def test_user_root_refused(tmp_path, pki):
    s, rc, err, line = check_with_user(tmp_path, pki, "user = root\n")
    if os.geteuid() != 0:
        assert (rc, err) == (0, "")             # no drop, so the user is not used
        return
    assert rc == 1
    assert err == f"postern: user 'root' ({s.conf}:{line}) is root: sessions never run as root\n"


def test_missing_user_named_with_its_line(tmp_path, pki):
    s, rc, err, line = check_with_user(tmp_path, pki, "user = no-such-user-postern\n")
    if os.geteuid() != 0:
        assert (rc, err) == (0, "")
        return
    assert rc == 1
    assert err == f"postern: user 'no-such-user-postern' ({s.conf}:{line}): no such user\n"


# ---- a malformed message: the receiver logs it and exits ----

def unix_peer_fd(owner, peer_pid):
    """The fd number, in process owner, of its Unix socket whose other end
    belongs to peer_pid (from `ss -xp`: local inode, peer inode, users)."""
    out = subprocess.run(["ss", "-xpn"], capture_output=True, text=True, check=True).stdout
    where = {}
    pairs = []
    for line in out.splitlines()[1:]:
        m = re.search(r"\s(\d+)\s+\*\s+(\d+)\s+users:", line)
        if not m:
            continue
        local, peer = m.group(1), m.group(2)
        for pid, fd in re.findall(r"pid=(\d+),fd=(\d+)", line):
            where.setdefault(local, []).append((int(pid), int(fd)))
        pairs.append((local, peer))
    for local, peer in pairs:
        mine = [fd for pid, fd in where.get(local, []) if pid == owner]
        if mine and any(pid == peer_pid for pid, _ in where.get(peer, [])):
            return mine[0]
    raise AssertionError(f"no socket of {owner} connected to {peer_pid}:\n{out}")


def steal_fd(pid, fd):
    """A copy of another process's descriptor (pidfd_getfd, Linux 5.6)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    SYS_pidfd_open, SYS_pidfd_getfd = 434, 438      # the same on x86_64 and arm64
    pidfd = libc.syscall(SYS_pidfd_open, pid, 0)
    assert pidfd >= 0, os.strerror(ctypes.get_errno())
    try:
        got = libc.syscall(SYS_pidfd_getfd, pidfd, fd, 0)
        assert got >= 0, os.strerror(ctypes.get_errno())
        return got
    finally:
        os.close(pidfd)


def test_malformed_message_auth_process_exits_and_is_replaced(server):
    if os.geteuid() != 0:
        pytest.fail("needs root (pidfd_getfd of the network process's socket)")
    net, auth = roles(server)
    fd = steal_fd(net, unix_peer_fd(net, auth))
    try:
        # a frame length far above AUTH_PROTO_FRAME_MAX, as if the network
        # process had a bug
        os.write(fd, b"\xff\xff\xff\xff\x01\x02\x00\x00\x00\x01")
    finally:
        os.close(fd)
    wait_for(lambda: "malformed message from the network process: bad frame length"
             in server.log_text(), "the auth process's line about the malformed frame")
    wait_for(lambda: re.search(rf"auth process {auth} exited with 1", server.log_text()),
             "the auth process to exit")
    wait_for(lambda: smtplib_login(server, "CRAM-MD5") == 235, "a login through the new auth process")
    now_net, now_auth = roles(server)
    assert now_net == net and now_auth != auth
