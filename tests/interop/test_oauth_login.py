"""`postern oauth login` (device flow, RFC 8628; authorization code with
PKCE and a loopback redirect, RFC 7636/8252) against the fake
authorization server in fakeauth.py, then `postern send` with the stored
token against a fake SMTP server that accepts only the tokens the fake
authorization server currently honours: the token is used, refreshed
(with rotation) once it has expired, and after the refresh token is
revoked `postern send` exits 77 naming the provider's error and the fix.
The test plays the user and the browser; nothing reaches the internet."""
import base64
import json
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from clients import describe, output
from conftest import postern, POSTERN
from fakeauth import CLIENT_ID, FakeAuth
from test_send_oauth import USER, OAuthSmtp, expected

EX_NOPERM = 77


@pytest.fixture
def auth():
    a = FakeAuth()
    yield a
    a.stop()


@pytest.fixture
def smtps():
    started = []

    def make(auth):
        s = OAuthSmtp(["XOAUTH2", "OAUTHBEARER"], good=auth.valid)
        started.append(s)
        return s
    yield make
    for s in started:
        s.stop()


def write_conf(tmp_path, auth, flow, smtp_port=1, mech="oauthbearer"):
    cfg = tmp_path / "conf"
    cfg.write_text("\n".join([
        "account default", "host 127.0.0.1", f"port {smtp_port}", f"user {USER}",
        f"auth {mech}", "from " + USER, "oauth_provider microsoft", f"oauth_flow {flow}",
        f"oauth_client_id {CLIENT_ID}", f"oauth_token_endpoint {auth.url}/token",
        f"oauth_device_endpoint {auth.url}/device",
        f"oauth_authorize_endpoint {auth.url}/authorize",
        f"oauth_token_file {tmp_path}/state/token.json"]) + "\n")
    cfg.chmod(0o600)
    return cfg


def login(cfg, browser):
    """Runs `postern oauth login`; browser(first_line) plays the user."""
    p = subprocess.Popen([POSTERN, "oauth", "-C", str(cfg), "login"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        lines = [p.stdout.readline()]
        if lines[0].startswith("Open this URL"):
            lines.append(p.stdout.readline())
        browser(lines)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return p.returncode, "".join(lines) + out, err


def token_file(tmp_path):
    return tmp_path / "state" / "token.json"


def send(cfg, port):
    text = cfg.read_text().replace("\nport 1\n", f"\nport {port}\n")
    cfg.write_text(text)
    r = postern("send", "-v", "-C", str(cfg), "bob@example.test", input="Subject: t\n\nhi\n",
                timeout=60)
    cfg.write_text(text.replace(f"\nport {port}\n", "\nport 1\n"))
    return r


def age(tmp_path):
    """An hour passes: the stored access token is past its expiry."""
    f = token_file(tmp_path)
    t = json.loads(f.read_text())
    t["expires_at"] = int(time.time()) - 10
    f.write_text(json.dumps(t))


def test_device_flow_then_send_refresh_revoke(tmp_path, auth, smtps):
    cfg = write_conf(tmp_path, auth, "device")

    def user(lines):
        # "To sign in, open URI and enter the code CODE"
        assert lines[0].startswith(f"To sign in, open {auth.url}/devicelogin"), lines
        time.sleep(1.5)          # one authorization_pending poll first
        assert auth.approve(lines[0].split()[-1])

    rc, out, err = login(cfg, user)
    assert rc == 0, (out, err)
    assert auth.polls >= 2, "polled while authorization was pending"
    f = token_file(tmp_path)
    assert f.stat().st_mode & 0o777 == 0o600
    first = json.loads(f.read_text())
    assert first["access_token"] in auth.valid

    st = postern("oauth", "-C", str(cfg), "status")
    assert st.returncode == 0 and "access token valid until" in output(st), describe(st)
    assert "refresh token present" in output(st), describe(st)

    # the stored token works as is: no refresh
    s = smtps(auth)
    r = send(cfg, s.port)
    assert r.returncode == 0, describe(r)
    auth_line = [l for l in s.lines if l.startswith("AUTH OAUTHBEARER ")]
    assert len(auth_line) == 1
    assert "refresh_token" not in auth.grants

    # expired at the server and (an hour later) in the file: refreshed, rotated
    auth.expire_access()
    age(tmp_path)
    s = smtps(auth)
    r = send(cfg, s.port)
    assert r.returncode == 0, describe(r)
    assert auth.grants.count("refresh_token") == 1
    second = json.loads(f.read_text())
    assert second["refresh_token"] != first["refresh_token"], "rotation honoured"
    assert second["access_token"] in auth.valid
    assert f.stat().st_mode & 0o777 == 0o600

    # the refresh token is revoked: exit 77, the provider's error and the fix
    auth.revoke()
    auth.expire_access()
    age(tmp_path)
    s = smtps(auth)
    r = send(cfg, s.port)
    assert r.returncode == EX_NOPERM, describe(r)
    o = output(r)
    assert "invalid_grant" in o and "AADSTS70008" in o, describe(r)
    assert "Trace ID" not in o, "only the first line of the description"
    assert "run postern oauth login -a default" in o, describe(r)
    assert not [l for l in s.lines if l.startswith("AUTH")]


def test_pkce_flow_then_send_xoauth2(tmp_path, auth, smtps):
    cfg = write_conf(tmp_path, auth, "pkce", mech="xoauth2")
    seen = {}

    def browser(lines):
        url = lines[1].strip()
        assert url.startswith(auth.url + "/authorize?"), lines
        assert "code_challenge_method=S256" in url and "state=" in url
        # the fake authorization server redirects to postern's loopback listener
        with urllib.request.urlopen(url, timeout=30) as resp:
            seen["page"] = resp.read().decode()

    rc, out, err = login(cfg, browser)
    assert rc == 0, (out, err)
    assert "sign-in complete" in seen["page"]
    assert "authorization_code" in auth.grants
    token = json.loads(token_file(tmp_path).read_text())["access_token"]
    s = smtps(auth)
    r = send(cfg, s.port)
    assert r.returncode == 0, describe(r)
    ir = [l for l in s.lines if l.startswith("AUTH XOAUTH2 ")]
    assert base64.b64decode(ir[0].split()[2]) == expected("XOAUTH2", token)


def test_pkce_wrong_state_refused(tmp_path, auth):
    """A redirect whose state is not ours (a forged callback) gets no token."""
    cfg = write_conf(tmp_path, auth, "pkce")

    def forger(lines):
        url = lines[1].strip()
        redirect = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["redirect_uri"][0]
        with urllib.request.urlopen(redirect + "?code=stolen&state=guess", timeout=30) as resp:
            resp.read()

    rc, out, err = login(cfg, forger)
    assert rc == EX_NOPERM, (out, err)
    assert "wrong state" in err
    assert not token_file(tmp_path).exists()
    assert "authorization_code" not in auth.grants


def test_no_token_yet_names_the_fix(tmp_path, auth):
    cfg = write_conf(tmp_path, auth, "device")
    r = postern("send", "-C", str(cfg), "bob@example.test", input="Subject: t\n\nhi\n", timeout=60)
    assert r.returncode == EX_NOPERM, describe(r)
    assert "run postern oauth login -a default" in output(r)
    st = postern("oauth", "-C", str(cfg), "status")
    assert "no token (run postern oauth login -a default)" in output(st), describe(st)
