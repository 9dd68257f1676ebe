"""The bridge (issue 15 item 3): relay_credentials = oauth:TOKENFILE.
The relay is an aiosmtpd upstream behind STARTTLS that offers only
XOAUTH2 (as Exchange Online does) and accepts only an access token the
fake authorization server (fakeauth.py) currently holds valid; the
transport (tests/tools/deliver_one) logs in with the token file's token,
and refreshes it at the fake's token endpoint - when it has expired, and
when the relay refuses it mid-run - rewriting the file (rotation)."""
import base64
import json
import time

import pytest

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from conftest import free_port
from fakeauth import CLIENT_ID, FakeAuth
from test_transport import MSG, _StripSmtp, _tls_ctx, deliver

USER = "printer@example.com"


class XoauthRelay(Controller):
    def __init__(self, fake, tls_ctx):
        self.fake, self.tls_ctx = fake, tls_ctx
        self.port = free_port()
        self.messages, self.tokens_seen = [], []
        outer = self

        class H:
            async def handle_DATA(self, server, session, envelope):
                outer.messages.append(envelope)
                return "250 2.0.0 Ok"

        class Smtp(_StripSmtp):
            async def auth_XOAUTH2(self, server, args):
                ir = (base64.b64decode(args[1]) if len(args) > 1
                      else await self.challenge_auth("", encode_to_b64=False))
                parts = ir.decode("latin-1").split("\x01")
                token = parts[1].removeprefix("auth=Bearer ") if len(parts) > 1 else ""
                outer.tokens_seen.append(token)
                if parts[0] == f"user={USER}" and token in outer.fake.valid:
                    return AuthResult(success=True, handled=False)
                # Google's error exchange: 334 with base64 JSON, an empty reply, 535
                await self.challenge_auth(json.dumps({"status": "401", "schemes": "Bearer"}))
                return AuthResult(success=False, handled=False)

        self.smtp_class = Smtp
        super().__init__(H(), hostname="127.0.0.1", port=self.port)

    def factory(self):
        return self.smtp_class(self.handler, auth_required=True, tls_context=self.tls_ctx,
                               require_starttls=True, auth_exclude_mechanism=["PLAIN", "LOGIN"])


def token_file(path, fake, expires_in=3600):
    _, tok = fake.issue()
    path.write_text(json.dumps({
        "access_token": tok["access_token"], "refresh_token": tok["refresh_token"],
        "expires_at": int(time.time()) + expires_in, "token_type": "Bearer",
        "token_endpoint": fake.url + "/token", "client_id": CLIENT_ID, "user": USER}))
    path.chmod(0o600)
    return tok


@pytest.fixture
def bridge(pki):
    """(fake authorization server, XOAUTH2-only relay), both stopped after."""
    fake = FakeAuth()
    relay = XoauthRelay(fake, _tls_ctx(pki))
    relay.start()
    yield fake, relay
    relay.stop()
    fake.stop()


def run_bridge(tmp_path, relay, pki, name):
    d = tmp_path / name
    d.mkdir()
    return deliver(d, f"relay_host = [127.0.0.1]:{relay.port}\nrelay_tls_trust_file = {pki.ca}\n"
                   f"relay_credentials = oauth:{tmp_path / 'token.json'}\n", ["x@remote.test"])


def test_bridge_xoauth2_and_refresh_mid_run(tmp_path, pki, bridge):
    fake, relay = bridge
    tf = tmp_path / "token.json"
    first = token_file(tf, fake)
    res, out = run_bridge(tmp_path, relay, pki, "one")
    assert res[0]["class"] == "ok" and res[0]["mech"] == "XOAUTH2", out
    assert res[0]["tls"].startswith("TLSv1."), out
    assert fake.grants == []                   # the token was good: no refresh
    # the provider expires every access token; the relay refuses the
    # old one; the transport refreshes and tries again, in one run
    fake.expire_access()
    res, out = run_bridge(tmp_path, relay, pki, "two")
    assert res[0]["class"] == "ok", out
    assert fake.grants == ["refresh_token"], out
    saved = json.loads(tf.read_text())
    assert saved["access_token"] in fake.valid
    assert saved["refresh_token"] != first["refresh_token"]     # rotation kept
    assert saved["user"] == USER and saved["client_id"] == CLIENT_ID   # other keys kept
    assert oct(tf.stat().st_mode & 0o777) == "0o600"
    assert relay.tokens_seen[-2:] == [first["access_token"], saved["access_token"]]
    assert len(relay.messages) == 2
    assert relay.messages[-1].content == MSG


def test_bridge_refreshes_an_expired_token_before_connecting(tmp_path, pki, bridge):
    fake, relay = bridge
    token_file(tmp_path / "token.json", fake, expires_in=-10)
    res, out = run_bridge(tmp_path, relay, pki, "one")
    assert res[0]["class"] == "ok", out
    assert fake.grants == ["refresh_token"]
    # refreshed before the relay ever saw the stale token
    assert len(relay.tokens_seen) == 1 and relay.tokens_seen[0] in fake.valid


def test_bridge_revoked_grant_keeps_mail_queued_and_says_why(tmp_path, pki, bridge):
    fake, relay = bridge
    token_file(tmp_path / "token.json", fake)
    fake.expire_access()
    fake.revoke()
    res, out = run_bridge(tmp_path, relay, pki, "one")
    r = res[0]
    assert r["class"] == "temporary" and r["stage"] == "auth", out
    assert "invalid_grant" in r["reply"] and "AADSTS70008" in r["reply"], out
    assert relay.messages == []
