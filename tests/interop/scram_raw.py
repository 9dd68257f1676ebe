"""A small SCRAM client (RFC 5802) for raw SMTP dialogues in the tests:
it can bind with tls-server-end-point (RFC 5929), which Python's ssl
module lets us compute from the server's certificate, send any gs2
header the test wants ("y,," for the downgrade case, "p=tls-unique,,",
a wrong binding), and report the server's replies exactly.  gsasl is
the real client; this one exists to say what no real client says."""
import base64
import hashlib
import hmac
import os
import socket
import ssl

HASH = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256"}


def end_point(tls_sock):
    """RFC 5929 4.1: the hash of the server's certificate with its
    signature's hash; SHA-256 for MD5/SHA-1.  The test PKI signs with
    ECDSA-SHA256."""
    return hashlib.sha256(tls_sock.getpeercert(binary_form=True)).digest()


class Smtp:
    """A line-level SMTP client over a socket, with STARTTLS."""

    def __init__(self, port, host="127.0.0.1", timeout=30):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.reply()

    def line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(4096)
            if not data:
                raise EOFError(self.buf)
            self.buf += data
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln.decode()

    def reply(self):
        lines = [self.line()]
        while lines[-1][3:4] == "-":
            lines.append(self.line())
        return lines

    def cmd(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        return self.reply()

    def starttls(self, ca, max_version=None):
        assert self.cmd("STARTTLS")[0].startswith("220")
        ctx = ssl.create_default_context(cafile=str(ca))
        if max_version is not None:
            ctx.maximum_version = max_version
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        return self.sock

    def close(self):
        try:
            self.cmd("QUIT")
        except (OSError, EOFError):
            pass
        self.sock.close()


def b64(b):
    return base64.b64encode(b).decode()


def scram(smtp, mech, user, password, gs2, cbdata=b""):
    """AUTH mech with the given gs2 header (e.g. "n,,", "y,,",
    "p=tls-server-end-point,,") and channel binding data for c=.
    Returns the final reply line, or the first non-334 reply."""
    name = mech.replace("-PLUS", "")
    h = HASH[name]
    cnonce = b64(os.urandom(18))
    bare = f"n={user},r={cnonce}"
    r = smtp.cmd(f"AUTH {mech} {b64((gs2 + bare).encode())}")
    if not r[0].startswith("334"):
        return r[-1]
    sfirst = base64.b64decode(r[0][4:]).decode()
    attrs = dict(a.split("=", 1) for a in sfirst.split(","))
    salted = hashlib.pbkdf2_hmac(h, password.encode(), base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    without = f"c={b64(gs2.encode() + cbdata)},r={attrs['r']}"
    auth = f"{bare},{sfirst},{without}".encode()
    ckey = hmac.new(salted, b"Client Key", h).digest()
    sig = hmac.new(hashlib.new(h, ckey).digest(), auth, h).digest()
    proof = bytes(a ^ b for a, b in zip(ckey, sig))
    r = smtp.cmd(b64(f"{without},p={b64(proof)}".encode()))
    if not r[0].startswith("334"):
        return r[-1]
    skey = hmac.new(salted, b"Server Key", h).digest()
    want = b"v=" + base64.b64encode(hmac.new(skey, auth, h).digest())
    assert base64.b64decode(r[0][4:]) == want, "server signature"
    return smtp.cmd("")[-1]
