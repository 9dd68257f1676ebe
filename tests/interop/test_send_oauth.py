"""`postern send` with `auth oauthbearer` / `auth xoauth2` and the token
from `passwordeval` (as msmtp does), against a scripted fake server that
checks the initial response byte for byte (RFC 7628 section 3.1, and
Google's XOAUTH2 form) and answers a wrong token with the RFC 7628 error
exchange: 334 with the base64 JSON status, the client's AQ== (XOAUTH2:
an empty line), then 535."""
import base64
import json

import pytest

from clients import describe, output
from conftest import postern
from fakeserver import ScriptedServer

EX_UNAVAILABLE, EX_NOPERM = 69, 77
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
USER = "alice@example.test"
ERROR = {"status": "invalid_token", "scope": "https://outlook.office.com/SMTP.Send",
         "openid-configuration": "https://login.example/.well-known/openid-configuration"}


def expected(mech, token=TOKEN):
    if mech == "OAUTHBEARER":
        return f"n,a={USER},\x01auth=Bearer {token}\x01\x01".encode()
    return f"user={USER}\x01auth=Bearer {token}\x01\x01".encode()


class OAuthSmtp(ScriptedServer):
    """Offers `mechs`; accepts exactly expected(mech, token) as initial
    response for a token in `good` (a set, or one token); anything else
    gets the error exchange."""

    def __init__(self, mechs, good=TOKEN):
        self.mechs, self.lines, self.answers = mechs, [], []
        self.good = good if isinstance(good, set) else {good}
        super().__init__(1)

    def accepts(self, mech, ir):
        return any(ir == expected(mech, t) for t in list(self.good))

    def _session(self, conn):
        f = conn.makefile("rb")

        def say(s):
            conn.sendall((s + "\r\n").encode())

        say("220 fake.example.test ESMTP")
        while True:
            raw = f.readline(20000)
            if not raw:
                return
            line = raw.decode("latin-1").rstrip("\r\n")
            self.lines.append(line)
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                say("250-fake.example.test")
                say("250 AUTH " + " ".join(self.mechs))
            elif verb == "AUTH":
                mech, ir = line.split(" ")[1].upper(), line.split(" ")[2]
                if self.accepts(mech, base64.b64decode(ir)):
                    say("235 2.7.0 ok")
                    continue
                err = ERROR if mech == "OAUTHBEARER" else {"status": "400", "schemes": "Bearer",
                                                           "scope": "https://mail.google.com/"}
                say("334 " + base64.b64encode(json.dumps(err).encode()).decode())
                self.answers.append(f.readline(20000).decode("latin-1").rstrip("\r\n"))
                say("535 5.7.8 Authentication unsuccessful")
            elif verb in ("MAIL", "RCPT", "RSET"):
                say("250 2.0.0 ok")
            elif verb == "DATA":
                say("354 go")
                while f.readline(20000) not in (b".\r\n", b""):
                    pass
                say("250 2.0.0 queued")
            elif verb == "QUIT":
                say("221 2.0.0 bye")
                return
            else:
                say("500 5.5.1 what")


@pytest.fixture
def fake():
    started = []

    def make(*a, **kw):
        s = OAuthSmtp(*a, **kw)
        started.append(s)
        return s
    yield make
    for s in started:
        s.stop()


def send(tmp_path, port, auth, token=TOKEN, extra=()):
    cfg = tmp_path / "conf"
    cfg.write_text("\n".join(["account default", "host 127.0.0.1", f"port {port}",
                              f"user {USER}", f"auth {auth}", f"passwordeval echo {token}",
                              "from " + USER, *extra]) + "\n")
    return postern("send", "-v", "-C", str(cfg), "bob@example.test",
                   input="Subject: t\n\nhi\n", timeout=60)


@pytest.mark.parametrize("mech", ["OAUTHBEARER", "XOAUTH2"])
def test_token_from_passwordeval(tmp_path, fake, mech):
    s = fake([mech])
    r = send(tmp_path, s.port, mech.lower())
    assert r.returncode == 0, describe(r)
    auth = [l for l in s.lines if l.startswith("AUTH")]
    assert len(auth) == 1 and base64.b64decode(auth[0].split(" ")[2]) == expected(mech)
    assert TOKEN not in output(r), "the token is masked in the transcript"


@pytest.mark.parametrize("mech,answer", [("OAUTHBEARER", "AQ=="), ("XOAUTH2", "")])
def test_wrong_token_gets_error_exchange(tmp_path, fake, mech, answer):
    s = fake([mech])
    r = send(tmp_path, s.port, mech.lower(), token="expired.token")
    assert r.returncode == EX_NOPERM, describe(r)
    assert s.answers == [answer], s.lines
    # the server's JSON status reaches the user
    want = "invalid_token" if mech == "OAUTHBEARER" else '"status": "400"'
    assert want in output(r), describe(r)
    assert not any(l.startswith("MAIL") for l in s.lines)
