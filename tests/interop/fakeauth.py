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
Tokens the SMTP fake should accept are in `valid`."""
import base64
import hashlib
import json
import secrets
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CLIENT_ID = "postern-test-client"
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
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(n).decode()))
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

    # ---- the endpoints ----
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
