"""libpostern's SASL mechanisms against GNU SASL (the `gsasl` program),
both directions: postern client vs `gsasl --server` and postern server vs
`gsasl --client`, connected by pipes through tests/tools/sasl_pipe.c.

sasl_pipe speaks gsasl's stdin/stdout framing (see its header comment):
a banner line with the mechanism name, then one base64 line per step,
the final step's output acknowledged by one more line.  Each test checks
both verdicts: sasl_pipe's exit code (0 authenticated, 1 refused) and
gsasl's exit code and its "authentication finished" message.
"""
import base64
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import tool_path

USER = "user"
PASSWORD = "pencil"
MECHS = ["SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN"]


def sasl_pipe_path():
    return tool_path("sasl", "sasl_pipe")


@pytest.fixture(scope="module")
def tools():
    gsasl = shutil.which("gsasl")
    pipe = sasl_pipe_path()
    # A missing program is a failure, never a skip.
    assert gsasl, "gsasl not installed (Debian package gsasl)"
    assert os.access(pipe, os.X_OK), f"{pipe} not built (ninja -C BUILD tests/unit/sasl/sasl_pipe)"
    return gsasl, pipe


def run_pair(tools, postern_side, mech, postern_password, gsasl_password, user=USER, env=None):
    """Runs sasl_pipe on one side and gsasl on the other, stdout of each
    into stdin of the other.  Returns (pipe_rc, pipe_err, gsasl_rc, gsasl_err).
    env: extra environment for sasl_pipe (SASL_PIPE_CB: channel binding)."""
    gsasl, pipe = tools
    gside = "--server" if postern_side == "client" else "--client"
    penv = dict(os.environ, **(env or {}))
    cb = [] if env and "SASL_PIPE_CB" in env else ["--no-cb"]
    with tempfile.TemporaryFile() as perr, tempfile.TemporaryFile() as gerr:
        g = subprocess.Popen(
            [gsasl, gside, *cb, "--mechanism", mech,
             "--authentication-id", user, "--password", gsasl_password],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=gerr)
        p = None
        try:
            p = subprocess.Popen([pipe, postern_side, mech, USER, postern_password],
                                 stdin=g.stdout, stdout=g.stdin, stderr=perr, env=penv)
            # Only the children hold the pipe ends now, so EOF propagates.
            g.stdout.close()
            g.stdin.close()
            p.wait(timeout=60)
            g.wait(timeout=60)
        finally:
            for proc in (p, g):
                if proc is not None and proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
        perr.seek(0)
        gerr.seek(0)
        return (p.returncode, perr.read().decode(errors="replace"),
                g.returncode, gerr.read().decode(errors="replace"))


def assert_both_succeed(res, gsasl_role):
    prc, perr, grc, gerr = res
    assert prc == 0, f"sasl_pipe: {perr}"
    assert "authenticated" in perr
    assert grc == 0, f"gsasl exit {grc}: {gerr}"
    assert f"{gsasl_role} authentication finished" in gerr, gerr


def assert_both_fail(res):
    prc, perr, grc, gerr = res
    assert prc == 1, f"sasl_pipe exit {prc}: {perr}"
    assert "authentication failed" in perr
    assert grc != 0, f"gsasl exit {grc}: {gerr}"
    assert "authentication finished" not in gerr, gerr


@pytest.mark.parametrize("mech", MECHS)
def test_postern_client_gsasl_server(tools, mech):
    assert_both_succeed(run_pair(tools, "client", mech, PASSWORD, PASSWORD), "Server")


@pytest.mark.parametrize("mech", MECHS)
def test_postern_client_gsasl_server_wrong_password(tools, mech):
    res = run_pair(tools, "client", mech, "pencil2", PASSWORD)
    assert_both_fail(res)
    assert "Error authenticating user" in res[3]


@pytest.mark.parametrize("mech", MECHS)
def test_gsasl_client_postern_server(tools, mech):
    assert_both_succeed(run_pair(tools, "server", mech, PASSWORD, PASSWORD), "Client")


@pytest.mark.parametrize("mech", MECHS)
def test_gsasl_client_postern_server_wrong_password(tools, mech):
    res = run_pair(tools, "server", mech, PASSWORD, "pencil2")
    assert_both_fail(res)
    assert "wrong password" in res[1]


@pytest.mark.parametrize("mech", ["SCRAM-SHA-256", "CRAM-MD5", "PLAIN"])
def test_gsasl_client_postern_server_unknown_user(tools, mech):
    res = run_pair(tools, "server", mech, PASSWORD, PASSWORD, user="nobody")
    assert_both_fail(res)
    assert "unknown user" in res[1]


# SCRAM-*-PLUS (issue 15 item 6): postern's client against gsasl's
# server, both bound to one tls-exporter value (sasl_pipe answers
# gsasl's prompt for it); another channel's value, or a wrong password,
# fails.  gsasl's server knows no tls-server-end-point: that binding is
# tested against postern serve (test_scram_plus.py).
CB = base64.b64encode(bytes(range(32))).decode()
OTHER_CB = base64.b64encode(bytes(range(1, 33))).decode()


@pytest.mark.parametrize("mech", ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"])
def test_postern_client_gsasl_server_plus(tools, mech):
    res = run_pair(tools, "client", mech, PASSWORD, PASSWORD, env={"SASL_PIPE_CB": CB})
    assert_both_succeed(res, "Server")


@pytest.mark.parametrize("mech", ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"])
def test_postern_client_gsasl_server_plus_wrong(tools, mech):
    res = run_pair(tools, "client", mech, "pencil2", PASSWORD, env={"SASL_PIPE_CB": CB})
    assert_both_fail(res)
    res = run_pair(tools, "client", mech, PASSWORD, PASSWORD,
                   env={"SASL_PIPE_CB": CB, "SASL_PIPE_CB_PEER": OTHER_CB})
    assert_both_fail(res)
