"""The benchmark's load generator (bench/loadgen) is itself tested: against
a real `postern serve` it must count messages and logins with no errors,
and against servers that misbehave (550 to RCPT, 451 after the data, a
connection closed instead of a reply, a wrong password) it must report
errors and exit non-zero, so that it can never count a failure as a
success.  Speed is not asserted here (bench/run measures it)."""
import json
import os
import socket
import subprocess

import pytest

from conftest import PASSWORD, POSTERN, USER, started_server
from fakeserver import ScriptedServer
from test_server_dialogue import queue_ids

LOADGEN = os.path.join(os.environ.get("POSTERN_BUILD_DIR") or
                       os.path.dirname(os.path.abspath(POSTERN)), "bench", "loadgen")

# The load generator's sources share one /24 and one user: the auth
# process's fairness (auth_client_inflight, default 2 in flight + 8
# waiting per /24) and the throttle, which counts checks in flight as
# failures until they succeed (10 a minute per user by default), would
# refuse some of the idle shape's 20 simultaneous first logins with 454,
# as they would a spray.  bench/benchlib/servers.py raises the same keys.
CLEAR = ("submission_tls = optional\nplaintext_auth = always\nauth_client_inflight = 32\n"
         "auth_fail_limit_user = 1000\nauth_fail_limit_ip = 1000\nauth_fail_limit_subnet = 1000\n")


def loadgen(port, *args, seconds=2):
    r = subprocess.run([LOADGEN, "-p", str(port), "-u", USER, "-w", PASSWORD, "--from", USER,
                        "-d", str(seconds), "--grace", "20", "--reply-timeout", "20", *args],
                       capture_output=True, text=True, timeout=seconds + 60)
    res = json.loads(r.stdout.strip().splitlines()[-1])
    return r.returncode, res, r.stderr


@pytest.fixture
def clear_server(tmp_path, pki):
    s = started_server(tmp_path / "server", pki, CLEAR)
    yield s
    s.stop()


def test_s3_shape_counts_messages(clear_server):
    rc, res, err = loadgen(clear_server.submission, "--auth", "plain", "-c", "3", "-k", "50",
                           "--src", "127.0.0.2-127.0.0.4")
    assert rc == 0, err
    assert res["errors"] == 0 and res["first_error"] == ""
    assert res["messages"] > 0 and res["msg_ms"]["n"] == res["messages"]
    assert res["logins"] >= 3
    # every 250 was for a message now in the spool (postern queue list)
    assert len(queue_ids(clear_server)) == res["messages"]


def test_s2_shape_over_starttls(clear_server):
    rc, res, err = loadgen(clear_server.submission, "--auth", "plain", "--tls", "starttls",
                           "-c", "3", "-k", "1")
    assert rc == 0, err
    assert res["errors"] == 0 and res["messages"] > 0
    assert res["sessions"] >= res["messages"] - 3   # a new connection per message


def test_scram_logins(clear_server):
    rc, res, err = loadgen(clear_server.submission, "--auth", "scram", "--tls", "starttls",
                           "--mode", "login", "-c", "2")
    assert rc == 0, err
    assert res["logins"] > 0 and res["errors"] == 0


def test_idle_sessions_are_held(clear_server):
    rc, res, err = loadgen(clear_server.submission, "--auth", "plain", "--tls", "starttls",
                           "--mode", "idle", "-c", "20", "--hold", "1",
                           "--src", "127.0.0.2-127.0.0.21", seconds=30)
    assert rc == 0, err
    assert res["established"] == 20 and res["errors"] == 0


def test_wrong_password_is_an_error(clear_server):
    r = subprocess.run([LOADGEN, "-p", str(clear_server.submission), "-u", USER, "-w", "wrong",
                        "--tls", "starttls", "--auth", "scram", "-d", "1", "-c", "1"],
                       capture_output=True, text=True, timeout=60)
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert r.returncode == 1
    assert res["logins"] == 0 and res["errors"] > 0
    assert res["errors_at"].get("AUTH", 0) > 0 and "535" in res["first_error"]


class Refuser(ScriptedServer):
    """Answers like a server would, except one command: `bad` maps the
    command (or "." for the end of the data) to a reply line, or to None
    for closing the connection instead of answering."""

    def __init__(self, bad, conns=10**6):   # until stop()
        self.bad = bad
        super().__init__(conns)

    def _session(self, conn):
        f = conn.makefile("rb")
        conn.sendall(b"220 fake ESMTP\r\n")
        ok = {"EHLO": b"250-fake\r\n250 AUTH PLAIN\r\n", "AUTH": b"235 2.7.0 ok\r\n",
              "MAIL": b"250 2.1.0 ok\r\n", "RCPT": b"250 2.1.5 ok\r\n",
              "DATA": b"354 go\r\n", "QUIT": b"221 bye\r\n", ".": b"250 2.0.0 queued\r\n"}
        in_data = False
        for line in f:
            if in_data:
                if line != b".\r\n":
                    continue
                word, in_data = ".", False
            else:
                word = line.split(b" ")[0].strip().decode().upper()
                if word == "MAIL" or word == "RCPT":
                    word = line[:4].decode().upper()
            if word in self.bad:
                if self.bad[word] is None:
                    return
                conn.sendall(self.bad[word])
                continue
            conn.sendall(ok.get(word, b"500 what\r\n"))
            if word == "DATA":
                in_data = True
            if word == "QUIT":
                return

    def stop(self):
        # wakes the accept() at once (close alone waits for its timeout)
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        super().stop()


@pytest.mark.parametrize("bad, step, code", [
    ({"RCPT": b"550 5.1.1 no such user\r\n"}, "RCPT", "550"),
    ({".": b"451 4.3.0 try later\r\n"}, "BODY", "451"),
    ({".": None}, "BODY", "closed"),
    ({"MAIL": b"250-first\r\n550 second\r\n"}, "MAIL", "codes 250 and 550"),
])
def test_refusals_are_errors(bad, step, code):
    srv = Refuser(bad)
    try:
        rc, res, err = loadgen(srv.port, "--auth", "plain", "-c", "1", "-k", "2", seconds=1)
    finally:
        srv.stop()
    assert rc == 1, err
    assert res["messages"] == 0 and res["errors"] > 0
    assert res["errors_at"].get(step, 0) == res["errors"], res
    assert code in res["first_error"], res["first_error"]


def test_the_fake_accepts_when_nothing_is_refused():
    """The fake itself is sound: with no refusal the same run succeeds,
    so the failures above come from the refused step."""
    srv = Refuser({})
    try:
        rc, res, err = loadgen(srv.port, "--auth", "plain", "-c", "1", "-k", "2", seconds=1)
    finally:
        srv.stop()
    assert rc == 0, err
    assert res["messages"] > 0 and res["errors"] == 0
