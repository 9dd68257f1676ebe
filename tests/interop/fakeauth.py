"""A fake OAuth 2.0 authorization server on loopback, for `postern oauth`
and `postern send` with a token file.  Nothing reaches the internet.

Endpoints (form POSTs answer JSON, as RFC 6749/8628 say):
  POST /device     device authorization (RFC 8628 3.1/3.2)
  POST /token      grants: device_code (authorization_pending until the
                   test calls approve()), authorization_code (checks the
                   PKCE S256 verifier and the redirect_uri), refresh_token
                   (rotation: each refresh token works once; revoke()
                   kills them all -> invalid_grant with an AADSTS code)
  GET  /authorize  plays the user who signs in and consents: answers 302
                   to redirect_uri with code and state
  POST /introspect RFC 7662 token introspection for `postern serve`:
                   the client authenticated with HTTP Basic (CLIENT_ID,
                   INTROSPECT_SECRET); tokens made by opaque() are active
                   with their claims, anything else {"active": false};
                   every request counted in `introspections`
Tokens the SMTP fake should accept are in `valid`.

Issuer signs JWTs for `postern serve` with an RSA and an EC key and
writes their public halves as a JWKS file."""
import base64
import hashlib
import json
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

CLIENT_ID = "postern-test-client"
INTROSPECT_SECRET = "introspection secret: s3cr3t/+="
ISSUER = "https://issuer.example"
AUDIENCE = "smtp.example.test"
AADSTS = ("AADSTS70008: The provided authorization code or refresh token has expired due "
          "to inactivity.\r\nTrace ID: 0000\r\nCorrelation ID: 1111")


class FakeAuth:
    def __init__(self, expires_in=3600):
        self.expires_in = expires_in
        self.lock = threading.Lock()
        self.devices = {}      # device_code -> {"user_code", "approved"}
        self.codes = {}        # authorization code -> (challenge, redirect_uri)
        self.refresh = set()   # refresh tokens that still work
        self.valid = set()     # access tokens the SMTP fake accepts
        self.grants = []       # grant_type of every token request
        self.polls = 0
        self.opaque_claims = {}    # introspection: token -> claims
        self.introspections = 0    # introspection requests received
        self.introspected = []     # ... the tokens asked about
        self.slow = {}             # token -> seconds the answer waits
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(n).decode()))
                if self.path == "/introspect":
                    status, body = fake.introspect(self.headers.get("Authorization", ""), form)
                else:
                    status, body = fake.post(self.path, form)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                q = dict(urllib.parse.parse_qsl(url.query))
                loc = fake.authorize(q) if url.path == "/authorize" else None
                self.send_response(302 if loc else 404)
                if loc:
                    self.send_header("Location", loc)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    # ---- what the test does ----
    def approve(self, user_code):
        with self.lock:
            for d in self.devices.values():
                if d["user_code"] == user_code:
                    d["approved"] = True
                    return True
        return False

    def expire_access(self):
        with self.lock:
            self.valid.clear()

    def revoke(self):
        with self.lock:
            self.refresh.clear()

    def opaque(self, user, **claims):
        """A token only introspection can judge, active for user, with
        exp in an hour unless claims say otherwise (None drops one)."""
        token = "op." + secrets.token_urlsafe(24)
        c = {"active": True, "email": user, "exp": int(time.time()) + 3600,
             "iss": ISSUER, "aud": AUDIENCE, "token_type": "Bearer"}
        c.update(claims)
        with self.lock:
            self.opaque_claims[token] = {k: v for k, v in c.items() if v is not None}
        return token

    # ---- the endpoints ----
    def introspect(self, authorization, form):
        """RFC 7662 2.1/2.2; 401 to a client that is not ours."""
        basic = "Basic " + base64.b64encode(
            (urllib.parse.quote(CLIENT_ID, safe="") + ":"
             + urllib.parse.quote(INTROSPECT_SECRET, safe="")).encode()).decode()
        with self.lock:
            self.introspections += 1
            self.introspected.append(form.get("token", ""))
        time.sleep(self.slow.get(form.get("token"), 0))
        with self.lock:
            if authorization != basic or form.get("token_type_hint") != "access_token":
                return 401, {"error": "invalid_client"}
            return 200, self.opaque_claims.get(form.get("token"), {"active": False})

    def issue(self):
        access, refresh = "at." + secrets.token_urlsafe(24), "rt." + secrets.token_urlsafe(24)
        self.valid.add(access)
        self.refresh.add(refresh)
        return 200, {"access_token": access, "refresh_token": refresh, "token_type": "Bearer",
                     "expires_in": self.expires_in, "scope": "https://outlook.office.com/SMTP.Send"}

    def post(self, path, form):
        with self.lock:
            if form.get("client_id") != CLIENT_ID:
                return 401, {"error": "invalid_client"}
            if path == "/device":
                code, user = secrets.token_urlsafe(16), secrets.token_hex(4).upper()
                self.devices[code] = {"user_code": user, "approved": False}
                return 200, {"device_code": code, "user_code": user, "expires_in": 60,
                             "verification_uri": self.url + "/devicelogin", "interval": 1}
            if path != "/token":
                return 404, {"error": "not_found"}
            grant = form.get("grant_type", "")
            self.grants.append(grant)
            if grant == "urn:ietf:params:oauth:grant-type:device_code":
                self.polls += 1
                d = self.devices.get(form.get("device_code"))
                if d is None:
                    return 400, {"error": "expired_token"}
                if not d["approved"]:
                    return 400, {"error": "authorization_pending"}
                del self.devices[form["device_code"]]
                return self.issue()
            if grant == "authorization_code":
                c = self.codes.pop(form.get("code"), None)
                v = form.get("code_verifier", "").encode()
                s256 = base64.urlsafe_b64encode(hashlib.sha256(v).digest()).rstrip(b"=").decode()
                if c is None or c != (s256, form.get("redirect_uri")):
                    return 400, {"error": "invalid_grant", "error_description": "bad code/verifier"}
                return self.issue()
            if grant == "refresh_token":
                rt = form.get("refresh_token")
                if rt not in self.refresh:
                    return 400, {"error": "invalid_grant", "error_description": AADSTS}
                self.refresh.discard(rt)        # rotation: used once
                return self.issue()
            return 400, {"error": "unsupported_grant_type"}

    def authorize(self, q):
        if (q.get("client_id") != CLIENT_ID or q.get("response_type") != "code"
                or q.get("code_challenge_method") != "S256"
                or not q.get("redirect_uri", "").startswith("http://127.0.0.1:")):
            return None
        code = secrets.token_urlsafe(16)
        with self.lock:
            self.codes[code] = (q["code_challenge"], q["redirect_uri"])
        sep = "&" if "?" in q["redirect_uri"] else "?"
        return q["redirect_uri"] + sep + urllib.parse.urlencode({"code": code, "state": q["state"]})


class Issuer:
    """Signs JWTs as ISSUER: an RSA key (kid rsa1) and an EC P-256 key
    (kid ec1) whose public halves write_jwks() puts in a JWKS file, and a
    stranger's key that no JWKS names (wrongly signed tokens)."""

    def __init__(self):
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def write_jwks(self, path):
        r = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa.public_key()))
        r.update(kid="rsa1", use="sig", alg="RS256")
        e = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.ec.public_key()))
        e.update(kid="ec1", use="sig", alg="ES256")
        with open(path, "w") as f:
            json.dump({"keys": [r, e]}, f)
        return path

    def token(self, user, alg="RS256", stranger=False, **claims):
        """A JWT for user valid for an hour; claims override (None drops)."""
        now = int(time.time())
        c = {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 3600, "nbf": now - 5, "iat": now - 5,
             "email": user, "sub": "sub-" + user}
        c.update(claims)
        c = {k: v for k, v in c.items() if v is not None}
        if alg == "ES256":
            return jwt.encode(c, self.ec, algorithm="ES256", headers={"kid": "ec1"})
        key = self.stranger if stranger else self.rsa
        return jwt.encode(c, key, algorithm="RS256", headers={"kid": "rsa1"})
