"""Crash test for spool v2 (issue 14, item 1): 200 messages in flight
from 8 real clients (smtplib, STARTTLS + AUTH PLAIN, several messages
per connection, so passes commit groups), the server killed with SIGKILL
at five random moments and restarted each time; the clients retry what
was not acknowledged.  In the end, after the restarts:

- every acknowledged message is in the queue whole (byte for byte),
- a message acknowledged at its first try is there exactly once,
- a message with unacknowledged tries is there at least once and at most
  once per try (the 250 may have been lost with the server: the client
  sent it again); those duplicates are counted and printed,
- nothing is torn, and tmp/ is empty.

Delivery comes later (the queue runner): "in the queue, exactly once"
stands for "delivered exactly once" until then."""
import os
import random
import signal
import smtplib
import ssl
import threading
import time

from conftest import PASSWORD, USER

TOTAL = 200
WORKERS = 8
KILLS = 5
RCPT = "bob@elsewhere.test"


def message(n):
    body = "".join(f"line {i} of message {n}: the quick brown fox\r\n" for i in range(20 + n % 40))
    return (f"From: <{USER}>\r\nTo: <{RCPT}>\r\nSubject: crash-many {n}\r\n"
            f"Message-ID: <m{n}@crash.test>\r\n\r\n{body}.leading dot\r\nend {n}\r\n").encode()


def connect(server):
    ctx = ssl.create_default_context(cafile=str(server.pki.ca))
    s = smtplib.SMTP(server.host, server.submission, timeout=10)
    s.ehlo("client.example.test")
    s.starttls(context=ctx)
    s.ehlo("client.example.test")
    s.login(USER, PASSWORD)
    return s


class Load:
    def __init__(self, server):
        self.server = server
        self.todo = list(range(TOTAL))
        self.tries = {n: 0 for n in range(TOTAL)}
        self.acked = {}                 # n -> True once a 250 came
        self.lock = threading.Lock()
        self.stop = time.monotonic() + 240

    def take(self):
        with self.lock:
            return self.todo.pop(0) if self.todo else None

    def worker(self):
        s = None
        while time.monotonic() < self.stop:
            n = self.take()
            if n is None:
                break
            with self.lock:
                self.tries[n] += 1
            try:
                if s is None:
                    s = connect(self.server)
                refused = s.sendmail(USER, [RCPT], message(n))
                assert refused == {}, refused
                with self.lock:
                    self.acked[n] = True
            except (OSError, smtplib.SMTPException):
                with self.lock:
                    self.todo.append(n)     # not acknowledged: send again
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass
                s = None
                time.sleep(0.05)
        if s is not None:
            try:
                s.quit()
            except (OSError, smtplib.SMTPException):
                pass


def queue_contents(server):
    """{id: content} of everything `postern queue list` shows, and the
    torn entries."""
    r = server.queue("list")
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    lines = r.stdout.decode(errors="replace").splitlines()
    out, torn = {}, {}
    for line in lines[:-1]:
        if line.startswith(" "):
            continue
        qid = line.split()[0]
        if " TORN: " in line:
            torn[qid] = line.split(" TORN: ", 1)[1]
            continue
        s = server.queue("show", qid)
        assert s.returncode == 0, s.stderr.decode(errors="replace")
        out[qid] = s.stdout.partition(b"\n\n")[2]
    return out, torn


def test_200_messages_5_sigkills(server):
    rnd = random.Random(int.from_bytes(os.urandom(4), "big"))
    load = Load(server)
    threads = [threading.Thread(target=load.worker) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    kills = []
    # five random moments spread over the run: after a random number of
    # acknowledgements, plus a random delay of up to 20 ms
    marks = sorted(rnd.sample(range(10, TOTAL - 10), KILLS))
    try:
        for mark in marks:
            deadline = time.monotonic() + 60
            while len(load.acked) < mark and time.monotonic() < deadline:
                time.sleep(0.001)
            time.sleep(rnd.uniform(0, 0.02))
            with load.lock:
                kills.append(len(load.acked))
            server.proc.send_signal(signal.SIGKILL)
            server.proc.wait(timeout=10)
            server.logf.close()
            server.start()
    finally:
        for t in threads:
            t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "clients did not finish"
    assert len(load.acked) == TOTAL, f"only {len(load.acked)} of {TOTAL} acknowledged"
    # one more restart: what start-up housekeeping does must keep it all
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(timeout=10)
    server.logf.close()
    server.start()
    contents, torn = queue_contents(server)
    assert not torn, f"torn entries after the restarts: {torn}"
    count = {n: 0 for n in range(TOTAL)}
    for qid, content in contents.items():
        match = [n for n in range(TOTAL) if content.endswith(message(n))]
        assert len(match) == 1, f"{qid} is not one of ours, or not whole: {content[-200:]!r}"
        assert content.startswith(b"Received:"), content[:200]
        count[match[0]] += 1
    missing = [n for n in range(TOTAL) if count[n] == 0]
    assert not missing, f"acknowledged messages lost: {missing}"
    once = [n for n in range(TOTAL) if load.tries[n] == 1 and count[n] != 1]
    assert not once, f"messages acknowledged at the first try but queued {[count[n] for n in once]} times"
    over = [n for n in range(TOTAL) if count[n] > load.tries[n]]
    assert not over, f"more copies than tries: {[(n, count[n], load.tries[n]) for n in over]}"
    dups = {n: count[n] - 1 for n in range(TOTAL) if count[n] > 1}
    retried = sum(1 for n in range(TOTAL) if load.tries[n] > 1)
    print(f"\ncrash test: {TOTAL} messages acknowledged, {KILLS} SIGKILLs (after "
          f"{kills} acks), {retried} messages needed a retry, "
          f"{sum(dups.values())} duplicate(s) of unacknowledged tries: {sorted(dups.items())}")
    assert list((server.spool / "tmp").iterdir()) == []
