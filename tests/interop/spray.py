"""A distributed password spray against `postern serve`, with an honest
user logging in meanwhile: the workload of test_spray.py (which asserts
generous bounds) and of bench/spray.py (which prints the numbers).

Each sprayer is one loopback source address (127.0.1.10-127.0.1.109: the
client socket is bound to it before connect); it logs in over
submission (EHLO, STARTTLS, EHLO, AUTH PLAIN) with a wrong password,
each time a new one and a user name from a short list that includes the
honest user's, quits, reconnects, at most once per `period` seconds.
The honest user does the same with the right password from 127.0.0.2.
Every loop ends by a deadline; every socket has a timeout."""
import base64
import random
import socket
import ssl
import statistics
import threading
import time

SPRAY_SOURCES = [f"127.0.1.{i}" for i in range(10, 110)]
HONEST_SOURCE = "127.0.0.2"
TIMEOUT = 30


def _reply(f):
    """One SMTP reply: (code, [lines])."""
    lines = []
    while True:
        line = f.readline(1024)
        if not line:
            raise ConnectionError("connection closed by the server")
        lines.append(line)
        if line[3:4] != b"-":
            return int(line[:3]), lines


def login(port, ctx, source, user, password):
    """One whole login from source; returns (AUTH reply code, seconds).
    A code of 0 means the dialogue broke before AUTH was answered."""
    t0 = time.monotonic()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(TIMEOUT)
    try:
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
        f = sock.makefile("rb")
        if _reply(f)[0] != 220:
            return 0, time.monotonic() - t0
        sock.sendall(b"EHLO spray.example.test\r\n")
        _reply(f)
        sock.sendall(b"STARTTLS\r\n")
        if _reply(f)[0] != 220:
            return 0, time.monotonic() - t0
        f.close()
        sock = ctx.wrap_socket(sock, server_hostname="localhost")
        f = sock.makefile("rb")
        sock.sendall(b"EHLO spray.example.test\r\n")
        _reply(f)
        ir = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        sock.sendall(f"AUTH PLAIN {ir}\r\n".encode())
        code = _reply(f)[0]
        dt = time.monotonic() - t0
        try:
            sock.sendall(b"QUIT\r\n")
            _reply(f)
        except (OSError, ConnectionError):
            pass        # after 421 the server has closed: fine
        return code, dt
    except (OSError, ConnectionError):
        return 0, time.monotonic() - t0
    finally:
        sock.close()


class Spray:
    """Runs the sprayers and the honest user; results in .honest
    [(phase, code, seconds)] and .spray [(t since start, source, code)]."""

    def __init__(self, port, cafile, user, password, users=None, period=1.0,
                 honest_pause=0.2):
        self.port, self.user, self.password = port, user, password
        self.users = users or [user, "root", "admin", "info", "postmaster", "test",
                               "bob@example.test", "carol@example.test"]
        self.period, self.honest_pause = period, honest_pause
        self.ctx = ssl.create_default_context(cafile=str(cafile))
        self.honest, self.spray = [], []
        self.lock = threading.Lock()
        self.t0 = time.monotonic()

    def honest_logins(self, phase, n=None, until=None):
        """The honest user logs in n times, or until the deadline."""
        i = 0
        while (n is None or i < n) and (until is None or time.monotonic() < until):
            code, dt = login(self.port, self.ctx, HONEST_SOURCE, self.user, self.password)
            with self.lock:
                self.honest.append((phase, code, dt))
            i += 1
            time.sleep(self.honest_pause)

    def _sprayer(self, source, until, seed):
        rnd = random.Random(seed)
        k = 0
        while time.monotonic() < until:
            start = time.monotonic()
            code, _ = login(self.port, self.ctx, source, rnd.choice(self.users),
                            f"spring{2026 + k}-{seed}!")
            with self.lock:
                self.spray.append((start - self.t0, source, code))
            k += 1
            time.sleep(max(0.0, self.period - (time.monotonic() - start)))

    def run(self, seconds, before=10):
        """before honest logins alone, then seconds of spray with the
        honest user logging in throughout."""
        self.honest_logins("before", n=before)
        self.t0 = time.monotonic()
        until = self.t0 + seconds
        threads = [threading.Thread(target=self._sprayer, args=(src, until, i))
                   for i, src in enumerate(SPRAY_SOURCES)]
        for t in threads:
            t.start()
        self.honest_logins("during", until=until)
        for t in threads:
            t.join(TIMEOUT + seconds)
        return self

    def times(self, phase):
        return [dt for p, code, dt in self.honest if p == phase]

    def honest_failures(self):
        return [(p, code) for p, code, dt in self.honest if code != 235]

    def spray_codes(self, since=0.0):
        counts = {}
        for t, _, code in self.spray:
            if t >= since:
                counts[code] = counts.get(code, 0) + 1
        return counts


def quantiles(xs):
    """(median, p90) in milliseconds."""
    if not xs:
        return float("nan"), float("nan")
    xs = sorted(xs)
    return (statistics.median(xs) * 1000, xs[min(len(xs) - 1, int(0.9 * len(xs)))] * 1000)
