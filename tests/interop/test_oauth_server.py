"""`postern serve` checking OAUTHBEARER (RFC 7628) and XOAUTH2 tokens,
both ways the issue asks for: signed JWTs against a JWKS file (RS256
and ES256), and RFC 7662 introspection at the fake authorization server
of fakeauth.py (loopback only; it counts its requests).

Real clients: curl (--oauth2-bearer, AUTH=OAUTHBEARER and AUTH=XOAUTH2
via --login-options) and msmtp (auth oauthbearer / xoauth2 with
passwordeval) log in and send.  Refused tokens -- expired, wrong
audience, wrongly signed, not yet valid, inactive, another user's --
get the error exchange, checked on the wire with smtplib: 334 with the
base64 JSON status, the client's AQ== (XOAUTH2: an empty line), then
535 5.7.8, and a failure the AUTH throttle counts.  The endpoint down
gives 454; a second login with the same token is answered from the
cache.  The mechanisms are offered only under TLS."""
import base64
import json
import re
import signal
import smtplib
import ssl
import threading
import time

import pytest

from clients import (REMOTE_RCPT, SENDER, assert_auth_failure_logged, assert_not_spooled,
                     assert_spooled, describe, message, output, queue_ids, run_client, tag)
from conftest import PASSWORD, USER, free_port, postern, started_server
from fakeauth import AUDIENCE, CLIENT_ID, INTROSPECT_SECRET, ISSUER, FakeAuth, Issuer

OTHER = "bob@example.test"
EXIT_LOGIN_DENIED = 67      # curl: CURLE_LOGIN_DENIED
EX_NOPERM = 77              # msmtp: authentication failed
# Enough room that the refusals of one module never throttle its logins;
# test_failures_are_throttled sets tight limits on a server of its own.
LOOSE = "".join(f"auth_fail_limit_{k} = 10000\n" for k in
                ("ip", "ip_day", "subnet", "subnet_day", "network", "network_day",
                 "user", "user_day")) + "auth_distinct_users_subnet = 10000\n"
MECHS = "auth_mechanisms = SCRAM-SHA-256 OAUTHBEARER XOAUTH2 PLAIN\n"


@pytest.fixture(scope="module")
def issuer():
    return Issuer()


@pytest.fixture(scope="module")
def fake():
    f = FakeAuth()
    yield f
    f.stop()


def jwt_conf(jwks):
    return (f"oauth_jwks = {jwks}\noauth_issuer = {ISSUER}\n"
            f"oauth_audience = {AUDIENCE}\n")


def introspect_conf(d, url):
    secret = d / "client-secret"
    secret.write_text(INTROSPECT_SECRET + "\n")
    secret.chmod(0o600)
    return (f"oauth_introspection_url = {url}\noauth_client_id = {CLIENT_ID}\n"
            f"oauth_client_secret_file = {secret}\noauth_audience = {AUDIENCE}\n")


class Servers:
    """Servers of this module, started on first use and kept: by the way
    tokens are checked ("jwt" or "introspection") and the mechanisms
    offered.  curl 7.88 ignores --login-options AUTH=XOAUTH2 when the
    server offers OAUTHBEARER too (curl issue #10259, in its KNOWN_BUGS):
    its XOAUTH2 runs go to a server that offers only XOAUTH2."""

    def __init__(self, tmp_path_factory, pki, issuer, fake):
        self.tmp, self.pki, self.issuer, self.fake = tmp_path_factory, pki, issuer, fake
        self.running = {}

    def get(self, way, mechs="SCRAM-SHA-256 OAUTHBEARER XOAUTH2 PLAIN"):
        key = (way, mechs)
        if key not in self.running:
            d = self.tmp.mktemp("oauth-" + way)
            conf = (jwt_conf(self.issuer.write_jwks(d / "jwks.json")) if way == "jwt"
                    else introspect_conf(d, self.fake.url + "/introspect"))
            self.running[key] = started_server(d / "server", self.pki,
                                               f"auth_mechanisms = {mechs}\n" + conf + LOOSE)
        return self.running[key]

    def stop(self):
        for s in self.running.values():
            s.stop()


@pytest.fixture(scope="module")
def servers(tmp_path_factory, pki, issuer, fake):
    s = Servers(tmp_path_factory, pki, issuer, fake)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def jwt_server(servers):
    return servers.get("jwt")


@pytest.fixture(scope="module")
def intro_server(servers):
    return servers.get("introspection")


def for_curl(servers, way, mech):
    return servers.get(way, "XOAUTH2 PLAIN") if mech == "XOAUTH2" else servers.get(way)


# ---- the clients ----

def curl(server, mech, token, user=USER):
    """curl submits one message; returns (result, the message's mark)."""
    url = f"smtp://{server.host}:{server.submission}/client.example.test"
    cmd = ["curl", "--silent", "--show-error", "--verbose", "--max-time", "20",
           "--url", url, "--ssl-reqd", "--cacert", str(server.pki.ca),
           "--user", f"{user}:", "--oauth2-bearer", token, "--login-options", f"AUTH={mech}",
           "--mail-from", SENDER, "--mail-rcpt", REMOTE_RCPT, "--upload-file", "-"]
    mark = tag()
    return run_client(cmd, input=message(mark)), mark


def msmtp(tmp_path, server, mech, token, user=USER):
    tokfile = tmp_path / f"token-{tag()}"
    tokfile.write_text(token + "\n")
    rc = tmp_path / f"msmtprc-{tag()}"
    rc.touch(mode=0o600)
    rc.write_text(
        "defaults\ntimeout 20\naccount postern\n"
        f"host {server.host}\nport {server.submission}\ndomain client.example.test\n"
        f"tls on\ntls_starttls on\ntls_trust_file {server.pki.ca}\ntls_certcheck on\n"
        f"auth {mech.lower()}\nuser {user}\npasswordeval cat {tokfile}\nfrom {SENDER}\n"
        "account default : postern\n")
    mark = tag()
    r = run_client(["msmtp", "-C", rc, "--debug", REMOTE_RCPT], input=message(mark))
    return r, mark


def tls_session(server):
    ctx = ssl.create_default_context(cafile=str(server.pki.ca))
    s = smtplib.SMTP(server.host, server.submission, timeout=20)
    s.ehlo("client.example.test")
    s.starttls(context=ctx)
    s.ehlo("client.example.test")
    return s


def b64(b):
    return base64.b64encode(b).decode()


def initial(mech, token, user=USER):
    if mech == "OAUTHBEARER":
        return f"n,a={user},\x01host=localhost\x01port=587\x01auth=Bearer {token}\x01\x01".encode()
    return f"user={user}\x01auth=Bearer {token}\x01\x01".encode()


def exchange(server, mech, token, user=USER):
    """AUTH with an initial response on the wire; returns the replies:
    [(code, text)], the error challenge answered as the RFC says."""
    s = tls_session(server)
    try:
        replies = [s.docmd("AUTH", f"{mech} {b64(initial(mech, token, user))}")]
        if replies[-1][0] == 334:
            replies.append(s.docmd("AQ==" if mech == "OAUTHBEARER" else ""))
        return replies
    finally:
        s.close()


def assert_refused(server, mech, token, user=USER):
    """The RFC 7628 error exchange, byte by byte, then 535 5.7.8."""
    replies = exchange(server, mech, token, user)
    assert len(replies) == 2, replies
    (c1, t1), (c2, t2) = replies
    assert c1 == 334, replies
    status = json.loads(base64.b64decode(t1))
    if mech == "OAUTHBEARER":
        assert status == {"status": "invalid_token",
                          "openid-configuration": ISSUER + "/.well-known/openid-configuration"} \
            or status == {"status": "invalid_token"}, status
    else:
        assert status == {"status": "400", "schemes": "Bearer"}, status
    assert (c2, t2.split(b" ")[0]) == (535, b"5.7.8"), replies
    assert_auth_failure_logged(server, mech, user=user, password=token)


# ---- valid tokens: real clients log in and send ----

@pytest.mark.parametrize("alg", ["RS256", "ES256"])
@pytest.mark.parametrize("mech", ["OAUTHBEARER", "XOAUTH2"])
def test_curl_jwt(servers, issuer, mech, alg):
    jwt_server = for_curl(servers, "jwt", mech)
    before = queue_ids(jwt_server)
    token = issuer.token(USER, alg=alg)
    r, mark = curl(jwt_server, mech, token)
    assert r.returncode == 0, describe(r)
    assert re.search(rf"^> AUTH {mech}\b", output(r), re.M), describe(r)
    assert re.search(r"^< 235 2\.7\.0", output(r), re.M), describe(r)
    assert_spooled(jwt_server, before, mark, mech=mech)
    assert token not in jwt_server.log_text()


@pytest.mark.parametrize("mech", ["OAUTHBEARER", "XOAUTH2"])
def test_msmtp_jwt(jwt_server, issuer, tmp_path, mech):
    before = queue_ids(jwt_server)
    r, mark = msmtp(tmp_path, jwt_server, mech, issuer.token(USER))
    assert r.returncode == 0, describe(r)
    assert f"--> AUTH {mech}" in output(r), describe(r)
    assert "<-- 235 2.7.0" in output(r), describe(r)
    assert_spooled(jwt_server, before, mark, mech=mech)


@pytest.mark.parametrize("mech", ["OAUTHBEARER", "XOAUTH2"])
def test_curl_introspection(servers, fake, mech):
    intro_server = for_curl(servers, "introspection", mech)
    before = queue_ids(intro_server)
    token = fake.opaque(USER)
    r, mark = curl(intro_server, mech, token)
    assert r.returncode == 0, describe(r)
    assert re.search(r"^< 235 2\.7\.0", output(r), re.M), describe(r)
    assert_spooled(intro_server, before, mark, mech=mech)
    assert token in fake.introspected
    assert token not in intro_server.log_text()


@pytest.mark.parametrize("mech", ["OAUTHBEARER", "XOAUTH2"])
def test_msmtp_introspection(intro_server, fake, tmp_path, mech):
    before = queue_ids(intro_server)
    r, mark = msmtp(tmp_path, intro_server, mech, fake.opaque(USER))
    assert r.returncode == 0, describe(r)
    assert "<-- 235 2.7.0" in output(r), describe(r)
    assert_spooled(intro_server, before, mark, mech=mech)


def test_introspection_cached(intro_server, fake):
    """The second login with a token does not ask the endpoint again."""
    token = fake.opaque(USER)
    for _ in range(3):
        assert exchange(intro_server, "XOAUTH2", token)[0][0] == 235
    assert fake.introspected.count(token) == 1, fake.introspected


def test_inactive_not_cached(intro_server, fake):
    """A refused token is asked about again (nothing negative cached)."""
    token = fake.opaque(USER, active=False)
    assert_refused(intro_server, "OAUTHBEARER", token)
    assert_refused(intro_server, "OAUTHBEARER", token)
    assert fake.introspected.count(token) == 2, fake.introspected


def test_slow_endpoint_blocks_no_one(intro_server, fake):
    """The request runs on a worker: while the endpoint takes 7 s for one
    token, a password login and another token's login go through (in
    well under that: 5 s leaves room for a loaded machine and ASan)."""
    slow = fake.opaque(USER)
    fake.slow[slow] = 7
    got = []
    t = threading.Thread(target=lambda: got.append(exchange(intro_server, "XOAUTH2", slow)))
    start = time.monotonic()
    t.start()
    try:
        deadline = start + 10
        while slow not in fake.introspected:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.3)     # the slow request is with the endpoint now
        t0 = time.monotonic()
        s = tls_session(intro_server)
        try:
            assert s.login(USER, PASSWORD)[0] == 235
        finally:
            s.close()
        assert exchange(intro_server, "OAUTHBEARER", fake.opaque(USER))[0][0] == 235
        assert time.monotonic() - t0 < 5.0, "a login waited for the slow introspection"
        assert t.is_alive(), "the slow introspection ended too soon to show anything"
    finally:
        t.join(20)
    assert got and got[0][0][0] == 235, got
    assert time.monotonic() - start >= 7


# ---- refused tokens: the error exchange and 535 ----

JWT_BAD = {
    "expired": dict(exp=int(time.time()) - 600),
    "no_exp": dict(exp=None),
    "wrong_audience": dict(aud="other.example.test"),
    "wrong_issuer": dict(iss="https://evil.example"),
    "not_yet_valid": dict(nbf=int(time.time()) + 86400),   # a day: a slow (ASan) run stays before it
    "wrongly_signed": dict(stranger=True),
}


@pytest.mark.parametrize("mech", ["OAUTHBEARER", "XOAUTH2"])
@pytest.mark.parametrize("case", sorted(JWT_BAD))
def test_jwt_refused(jwt_server, issuer, mech, case):
    before = queue_ids(jwt_server)
    assert_refused(jwt_server, mech, issuer.token(USER, **JWT_BAD[case]))
    assert_not_spooled(jwt_server, before)


INTRO_BAD = {
    "inactive": dict(active=False),
    "expired": dict(exp=int(time.time()) - 600),
    "wrong_audience": dict(aud=["other.example.test"]),
    "not_yet_valid": dict(nbf=int(time.time()) + 86400),   # a day: a slow (ASan) run stays before it
}


@pytest.mark.parametrize("mech", ["OAUTHBEARER", "XOAUTH2"])
@pytest.mark.parametrize("case", sorted(INTRO_BAD) + ["unknown"])
def test_introspection_refused(intro_server, fake, mech, case):
    token = "op.never-issued" + tag() if case == "unknown" else fake.opaque(USER, **INTRO_BAD[case])
    assert_refused(intro_server, mech, token)


@pytest.mark.parametrize("way", ["jwt", "introspection"])
@pytest.mark.parametrize("mech", ["OAUTHBEARER", "XOAUTH2"])
def test_other_users_token(jwt_server, intro_server, issuer, fake, mech, way):
    """A good token for bob never logs in alice, whatever the client names."""
    server = jwt_server if way == "jwt" else intro_server
    token = issuer.token(OTHER) if way == "jwt" else fake.opaque(OTHER)
    assert_refused(server, mech, token, user=USER)
    # ... and it is a good token: as bob it works.
    assert exchange(server, mech, token, user=OTHER)[0][0] == 235


@pytest.mark.parametrize("mech", ["OAUTHBEARER", "XOAUTH2"])
def test_curl_refused(servers, issuer, mech):
    jwt_server = for_curl(servers, "jwt", mech)
    before = queue_ids(jwt_server)
    r, _ = curl(jwt_server, mech, issuer.token(USER, aud="other.example.test"))
    assert r.returncode == EXIT_LOGIN_DENIED, describe(r)
    m = re.search(r"^< 334 (\S+)", output(r), re.M)
    assert m and json.loads(base64.b64decode(m.group(1)))["status"] in ("invalid_token", "400"), \
        describe(r)
    # curl answers OAUTHBEARER's error status with AQ== and reads the
    # 535; XOAUTH2's it takes as the end and gives up at once.
    if mech == "OAUTHBEARER":
        assert re.search(r"^< 535 5\.7\.8", output(r), re.M), describe(r)
    assert_not_spooled(jwt_server, before)


@pytest.mark.parametrize("mech", ["OAUTHBEARER", "XOAUTH2"])
def test_msmtp_refused(jwt_server, issuer, tmp_path, mech):
    r, _ = msmtp(tmp_path, jwt_server, mech, issuer.token(USER, exp=int(time.time()) - 600))
    assert r.returncode == EX_NOPERM, describe(r)
    assert "<-- 535 5.7.8" in output(r), describe(r)


def test_without_initial_response(jwt_server, issuer):
    """AUTH OAUTHBEARER alone: an empty 334, then the message."""
    s = tls_session(jwt_server)
    try:
        assert s.docmd("AUTH", "OAUTHBEARER") == (334, b"")
        code, _ = s.docmd(b64(initial("OAUTHBEARER", issuer.token(USER))))
        assert code == 235
    finally:
        s.close()


# ---- the endpoint down, the throttle, TLS only ----

def test_endpoint_down_454(tmp_path, pki):
    dead = f"http://127.0.0.1:{free_port()}/introspect"    # nothing listens there
    s = started_server(tmp_path / "server", pki, MECHS + introspect_conf(tmp_path, dead))
    try:
        for mech in ("OAUTHBEARER", "XOAUTH2"):
            replies = exchange(s, mech, "op.some-token")
            assert len(replies) == 1 and replies[0][0] == 454, replies
            assert replies[0][1].startswith(b"4.7.0"), replies
        assert "introspection endpoint unreachable" in s.log_text()
    finally:
        s.stop()


def test_failures_are_throttled(tmp_path, pki, issuer):
    """Refused tokens count like wrong passwords: past the limit even a
    good token waits, then is refused (454) without a check."""
    jwks = issuer.write_jwks(tmp_path / "jwks.json")
    s = started_server(tmp_path / "server", pki,
                       MECHS + jwt_conf(jwks) + "auth_fail_limit_ip = 2\nauth_delay_max = 1s\n")
    try:
        for i in range(6):     # distinct tokens: a repeated one counts once
            exchange(s, "XOAUTH2", issuer.token(USER, aud=f"other{i}.example.test"))
        replies = exchange(s, "XOAUTH2", issuer.token(USER))
        assert replies[0][0] == 454, replies
        assert re.search(r"auth throttled: client=127\.0\.0\.1 action=refuse", s.log_text()), \
            s.log_text()[-3000:]
    finally:
        s.stop()


def test_offered_only_under_tls(tmp_path, pki, issuer):
    """Even with plaintext_auth = always (PLAIN in the clear on the MX
    listener), the token mechanisms wait for TLS."""
    jwks = issuer.write_jwks(tmp_path / "jwks.json")
    s = started_server(tmp_path / "server", pki,
                       MECHS + jwt_conf(jwks) + "plaintext_auth = always\n")
    try:
        c = smtplib.SMTP(s.host, s.smtp, timeout=20)
        try:
            c.ehlo("client.example.test")
            clear = c.esmtp_features.get("auth", "").split()
            assert "PLAIN" in clear and "OAUTHBEARER" not in clear and "XOAUTH2" not in clear, clear
            code, text = c.docmd("AUTH", "XOAUTH2 " + b64(initial("XOAUTH2", issuer.token(USER))))
            assert (code, text[:6]) == (538, b"5.7.11"), (code, text)
            c.starttls(context=ssl.create_default_context(cafile=str(pki.ca)))
            c.ehlo("client.example.test")
            assert c.esmtp_features["auth"].split() == ["SCRAM-SHA-256", "OAUTHBEARER", "XOAUTH2", "PLAIN"]
        finally:
            c.close()
    finally:
        s.stop()


def test_not_offered_without_verifier(server):
    """No oauth_* key: listed or not, the token mechanisms are not offered."""
    server.write_conf(MECHS)
    r = postern("serve", "-c", str(server.conf), "--check")
    assert r.returncode == 0, r.stderr.decode()
    server.stop()
    server.start()
    s = tls_session(server)
    try:
        assert s.esmtp_features["auth"].split() == ["SCRAM-SHA-256", "PLAIN"]
    finally:
        s.close()


def test_sighup_rereads_jwks(tmp_path, pki, issuer):
    """Key rotation: after the JWKS file changes, SIGHUP makes the new
    key's tokens good and the old key's bad."""
    jwks = issuer.write_jwks(tmp_path / "jwks.json")
    s = started_server(tmp_path / "server", pki, MECHS + jwt_conf(jwks) + LOOSE)
    try:
        new = Issuer()
        assert exchange(s, "XOAUTH2", issuer.token(USER))[0][0] == 235
        assert_refused(s, "XOAUTH2", new.token(USER))
        new.write_jwks(jwks)
        before = s.log_text().count("auth: reloaded")
        s.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while s.log_text().count("auth: reloaded") == before:
            assert time.monotonic() < deadline, s.log_text()[-2000:]
            time.sleep(0.05)
        assert exchange(s, "XOAUTH2", new.token(USER))[0][0] == 235
        assert_refused(s, "XOAUTH2", issuer.token(USER))
    finally:
        s.stop()


# ---- serve --check ----

def check_error(server, extra):
    server.write_conf(MECHS + extra)
    r = postern("serve", "-c", str(server.conf), "--check")
    assert r.returncode == 1, (r.stdout, r.stderr)
    return r.stderr.decode()


def conf_line(server, key):
    for n, line in enumerate(server.conf.read_text().splitlines(), 1):
        if line.startswith(key + " "):
            return n
    raise AssertionError(key)


def test_check_jwks(tmp_path, pki):
    from conftest import PosternServer
    s = PosternServer(tmp_path / "server", pki)
    s.add_user(USER, "password")
    bad = tmp_path / "jwks.json"
    bad.write_text('{"keys": "none"}')
    err = check_error(s, jwt_conf(bad))
    assert f"{s.conf}:{conf_line(s, 'oauth_jwks')}: oauth_jwks: {bad}: " in err, err
    missing = tmp_path / "missing.json"
    err = check_error(s, jwt_conf(missing))
    assert f"{s.conf}:{conf_line(s, 'oauth_jwks')}: oauth_jwks: {missing}: No such file" in err, err
    err = check_error(s, f"oauth_jwks = {bad}\n")
    assert "oauth_jwks needs oauth_issuer and oauth_audience" in err, err


def test_check_introspection(tmp_path, pki):
    from conftest import PosternServer
    s = PosternServer(tmp_path / "server", pki)
    s.add_user(USER, "password")
    err = check_error(s, introspect_conf(tmp_path, "http://idp.example/introspect"))
    assert (f"{s.conf}:{conf_line(s, 'oauth_introspection_url')}: oauth_introspection_url: "
            "'http://idp.example/introspect': http is allowed to a loopback address only") in err, err
    err = check_error(s, introspect_conf(tmp_path, "ftp://127.0.0.1/x"))
    assert "not an http or https URL" in err, err
    conf = introspect_conf(tmp_path, "https://idp.example/introspect")
    (tmp_path / "client-secret").chmod(0o644)
    err = check_error(s, conf)
    assert (f"{s.conf}:{conf_line(s, 'oauth_client_secret_file')}: oauth_client_secret_file: "
            f"{tmp_path / 'client-secret'}: others may read it") in err, err
    (tmp_path / "client-secret").chmod(0o600)
    s.write_conf(MECHS + conf)
    r = postern("serve", "-c", str(s.conf), "--check")
    assert r.returncode == 0, r.stderr.decode()
