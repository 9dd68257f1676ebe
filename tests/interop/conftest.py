"""Shared fixtures for the interop suites: free ports, a test PKI, and a
`postern serve` instance on loopback.  Every process started here is
stopped at teardown; every wait is bounded."""
import contextlib
import os
import pathlib
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
POSTERN = os.environ.get("POSTERN_BIN") or str(ROOT / "build" / "postern")


_handed_out = set()


def free_port(host="127.0.0.1"):
    """A port free right now on host.  The kernel may hand the same port
    to two calls in a row (each socket is closed at once), so ports this
    process already gave out are skipped."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(100):
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no fresh free port after 100 tries")


def wait_port(port, host="127.0.0.1", timeout=15.0, proc=None):
    """Waits until something accepts on host:port; fails the test if the
    process died or the time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


def stop_process(proc, timeout=10):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def run(args, input=None, timeout=60, **kw):
    """subprocess.run with text I/O, captured output and a time limit."""
    if isinstance(input, str):
        input = input.encode()
    return subprocess.run(args, input=input, capture_output=True, timeout=timeout, **kw)


def tool_path(area, name):
    """Path of a test-only program built under BUILD/tests/unit/AREA/
    (BUILD: $POSTERN_BUILD_DIR, else the folder of the postern binary)."""
    build = os.environ.get("POSTERN_BUILD_DIR")
    if not build:
        build = os.path.dirname(os.path.abspath(POSTERN))
    return os.path.join(build, "tests", "unit", area, name)


def postern(*args, input=None, timeout=60, binary=None, **kw):
    return run([binary or POSTERN, *args], input=input, timeout=timeout, **kw)


def _may_enter(path, uid, gids):
    """True when every folder from / down to path lets uid search it."""
    for d in [path, *path.parents]:
        st = d.stat()
        bit = (stat.S_IXUSR if st.st_uid == uid else
               stat.S_IXGRP if st.st_gid in gids else stat.S_IXOTH)
        if uid != 0 and not st.st_mode & bit:
            return False
    return True


@contextlib.contextmanager
def binary_for_user(user, binary=None):
    """Yields the path of a copy of binary (default: the postern under
    test) that user (a name or a uid) can execute, in a fresh folder of
    mode 0755 under /tmp, removed afterwards.

    A test that runs postern as another user (subprocess user=) cannot
    run build/postern where it is when the checkout lives in a folder
    only its owner may enter, as a clone under /root (mode 0700) does.
    The binary links libpostern statically, so the file alone is enough."""
    ent = pwd.getpwnam(user) if isinstance(user, str) else pwd.getpwuid(user)
    d = pathlib.Path(tempfile.mkdtemp(prefix="postern-bin-", dir="/tmp"))
    try:
        os.chmod(d, 0o755)
        exe = d / os.path.basename(binary or POSTERN)
        shutil.copy2(binary or POSTERN, exe)
        os.chmod(exe, 0o755)
        assert _may_enter(d, ent.pw_uid, {ent.pw_gid, *os.getgrouplist(ent.pw_name, ent.pw_gid)}), \
            f"{d}: {ent.pw_name} cannot reach it"
        yield str(exe)
    finally:
        shutil.rmtree(d, ignore_errors=True)


class Pki:
    """A private CA, a server certificate for localhost/127.0.0.1/::1
    signed by it (ECDSA P-256), and a second unrelated CA (for
    'untrusted' tests).  rsa_pair() adds an RSA-2048 server certificate
    from the same CA, for servers that hold both (issue 16)."""

    def __init__(self, d):
        self.dir = pathlib.Path(d)
        self.ca = self.dir / "ca.pem"
        self.ca_key = self.dir / "ca.key"
        self.cert = self.dir / "server.pem"
        self.key = self.dir / "server.key"
        self.other_ca = self.dir / "other-ca.pem"
        self.rsa_cert = self.dir / "server-rsa.pem"
        self.rsa_key = self.dir / "server-rsa.key"
        self._make()

    def rsa_pair(self):
        """(certificate, key) of the RSA server certificate, made on first
        use (an RSA key takes a moment; most tests need none)."""
        if not self.rsa_cert.exists():
            self._server_cert(self.rsa_key, self.rsa_cert, ["-newkey", "rsa:2048"])
        return self.rsa_cert, self.rsa_key

    def _server_cert(self, key, cert, newkey):
        d = self.dir
        csr = d / (cert.stem + ".csr")
        self._ssl("req", *newkey, "-nodes", "-keyout", str(key), "-out", str(csr),
                  "-subj", "/CN=localhost")
        ext = d / "server.ext"
        ext.write_text("subjectAltName=DNS:localhost,DNS:mail.example.test,IP:127.0.0.1,IP:::1\n"
                       "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
        self._ssl("x509", "-req", "-in", str(csr), "-CA", str(self.ca),
                  "-CAkey", str(self.ca_key), "-CAcreateserial", "-out", str(cert),
                  "-days", "30", "-extfile", str(ext))

    def _ssl(self, *a):
        r = run(["openssl", *a], timeout=60)
        assert r.returncode == 0, r.stderr.decode()

    def _make(self):
        d = self.dir
        for name in ("ca", "other-ca"):
            self._ssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                      "-nodes", "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.pem"),
                      "-days", "30", "-subj", f"/CN=postern test {name}",
                      "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        self._server_cert(self.key, self.cert, ["-newkey", "ec", "-pkeyopt",
                                                "ec_paramgen_curve:P-256"])


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("pki"))


class PosternServer:
    """`postern serve` with its own config, user file and spool under
    workdir, listening on free loopback ports."""

    def __init__(self, workdir, pki, extra_conf="", park_remote=True, dual_cert=False):
        self.dir = pathlib.Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.pki = pki
        self.host = "127.0.0.1"
        self.submission = free_port()
        self.submissions = free_port()
        self.smtp = free_port()
        self.users = self.dir / "users"
        self.spool = self.dir / "spool"
        self.conf = self.dir / "postern.conf"
        self.log = self.dir / "serve.log"
        self.extra_conf = extra_conf
        self.park_remote = park_remote      # False: no default relay_host (MX tests)
        # True: an RSA pair before the default ECDSA one (issue 16): the
        # server holds both, and OpenSSL picks per handshake
        self.dual_cert = dual_cert
        self.proc = None
        self.env = {}       # added to the server's environment (LD_PRELOAD shims)
        # Local recipients are checked at RCPT (issue 14): the suites send
        # to whatever local part of example.test suits them, so the shared
        # fixture knows them all (a catch-all); test_rcpt_check.py checks
        # the check with maps of its own.
        self.recipients = self.dir / "recipients"
        self.recipients.write_text("@example.test\n")
        self.write_conf()

    def write_conf(self, extra=None):
        if extra is not None:
            self.extra_conf = extra     # kept, so a restart on new ports keeps it
        extra = self.extra_conf
        h = f"[{self.host}]" if ":" in self.host else self.host   # IPv6 in brackets
        self.conf.write_text(
            "hostname = mail.example.test\n"
            f"listen = {h}:{self.submission} submission\n"
            f"listen = {h}:{self.submissions} submissions\n"
            f"listen = {h}:{self.smtp} smtp\n"
            + self.tls_lines() +
            "credentials = file:users\n"
            "auth_mechanisms = SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN\n"
            "spool = spool\n"
            "local_domains = example.test\n"
            "local_recipients = file:recipients\n"
            # the network process's user when started as root (CI);
            # nobody exists everywhere
            "user = nobody\n"
            # the queue runner passes mail on (issue 14): by default every
            # remote recipient goes to a closed loopback port and stays
            # queued, deferred (local ones wait for local_delivery), so
            # that tests of the accepting side find their mail in the
            # spool; delivery tests set relay_host / local_delivery
            + ("relay_host = [127.0.0.1]:9\nrelay_tls = none\n" if self.park_remote else "")
            + extra)

    def tls_lines(self):
        pairs = [self.pki.rsa_pair()] if self.dual_cert else []
        pairs.append((self.pki.cert, self.pki.key))
        return "".join(f"tls_certificate = {c}\ntls_key = {k}\n" for c, k in pairs)

    def add_user(self, user, password):
        r = postern("passwd", "-c", str(self.conf), "add", user, input=password + "\n")
        assert r.returncode == 0, r.stderr.decode()

    def start(self, tries=3):
        """Starts the server; when another process took one of its free
        ports meanwhile ("Address already in use"), picks new ones."""
        for attempt in range(tries):
            try:
                return self._start_once()
            except RuntimeError:
                if attempt == tries - 1 or "Address already in use" not in self.log_text():
                    raise
                self.logf.close()
                self.submission, self.submissions, self.smtp = (
                    free_port(self.host) for _ in range(3))
                self.write_conf()

    def _start_once(self):
        listeners = sum(1 for line in self.conf.read_text().splitlines()
                        if line.split("=")[0].strip() == "listen")
        before = self.log_text().count("listening on ")
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen([POSTERN, "serve", "-c", str(self.conf)],
                                     stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT,
                                     env={**os.environ, **self.env} if self.env else None)
        # Our own "listening on" lines first: a free port picked by
        # free_port() can be taken by another worker's server meanwhile,
        # and a connect alone would then find the wrong server.
        deadline = time.monotonic() + 15
        while self.log_text().count("listening on ") - before < listeners:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postern serve exited with {self.proc.returncode}:\n"
                                   + self.log_text()[-2000:])
            if time.monotonic() > deadline:
                raise TimeoutError("postern serve did not start listening in 15 s")
            time.sleep(0.02)
        for port in (self.submission, self.submissions, self.smtp):
            wait_port(port, self.host, proc=self.proc)
        return self

    def stop(self):
        stop_process(self.proc)
        if getattr(self, "logf", None):
            self.logf.close()

    def log_text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def queue(self, *args):
        return postern("queue", "-c", str(self.conf), *args)


USER = "alice@example.test"
PASSWORD = "correct horse battery staple"


def started_server(workdir, pki, extra_conf="", **kw):
    """A started PosternServer in workdir with one user, USER / PASSWORD;
    extra_conf lines are appended to its config.  The caller stops it."""
    s = PosternServer(workdir, pki, extra_conf=extra_conf, **kw)
    s.add_user(USER, PASSWORD)
    return s.start()


@pytest.fixture
def server(tmp_path, pki):
    """A started postern server with one user, USER / PASSWORD."""
    s = started_server(tmp_path / "server", pki)
    yield s
    s.stop()
