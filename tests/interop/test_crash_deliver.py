"""Crash test with delivery (issue 14, "What it must show"): 200 messages
in flight from 8 smtplib clients (STARTTLS + AUTH PLAIN, several
messages per connection; test_crash_many.py's load), relayed by the
queue runner to an aiosmtpd sink (relay_host, clear text on loopback),
while `postern serve` -- parent, network, auth and runner processes,
each by its pid -- is killed with SIGKILL at five random moments (the
seed is printed) and restarted.  Clients send again what was not
acknowledged.  In the end:

- every acknowledged message reached the sink (none lost), whole;
- a message acknowledged at its first try came from one queue id;
  copies from different queue ids are the client's retries of an
  unacknowledged try (at most one per try);
- one queue id delivered more than once is a delivery repeated after a
  kill: the earlier copy's 250 must fall between WINDOW seconds before
  a kill and the end of the restart after it (the delivery was in
  flight: its state not yet journaled, or its final dot still on its
  way to the sink when the runner died), the repeat after that kill;
  those are counted per kill and printed;
- the queue ends empty, nothing torn."""
import os
import random
import threading
import time

import pytest

import test_crash_many as load_mod
from aiosmtpd_peer import Upstream
from conftest import started_server
from delivery import (FAST_RETRY, kill_tree, queue_states, queue_text, received_id, wait_gone,
                      wait_until)

KILLS = 5
WINDOW = 5.0        # seconds from a 250 at the sink to its state on disk, at most


def sink_index(up):
    """{(n, qid): [times]} of the sink's messages, n from the Message-ID."""
    out = {}
    for m in list(up.messages):
        text = m.content.decode(errors="replace")
        n = next((n for n in range(load_mod.TOTAL) if f"<m{n}@crash.test>" in text), None)
        assert n is not None, f"not one of ours: {text[:300]!r}"
        assert m.content.endswith(load_mod.message(n)), f"message {n} not whole"
        out.setdefault((n, received_id(m.content)), []).append(m.at)
    return out


def delivered_numbers(up):
    return {n for n, _ in sink_index(up)}


@pytest.mark.timeout(900)
def test_200_messages_delivered_through_5_sigkills(tmp_path, pki):
    seed = int.from_bytes(os.urandom(4), "big")
    print(f"\nseed {seed}")
    rnd = random.Random(seed)
    with Upstream(keep_content=True) as up:
        extra = f"relay_host = [{up.host}]:{up.port}\nrelay_tls = none\n" + FAST_RETRY
        server = started_server(tmp_path / "server", pki, extra)
        load = load_mod.Load(server)
        load.stop = time.monotonic() + 400
        threads = [threading.Thread(target=load.worker) for _ in range(load_mod.WORKERS)]
        for t in threads:
            t.start()
        kills = []      # (time, acks, deliveries so far, pids, restarted at)
        # five moments over submission and delivery together: after a random
        # number of events (acknowledgements + distinct deliveries), plus a
        # random delay of up to 20 ms
        marks = sorted(rnd.sample(range(10, 2 * load_mod.TOTAL - 20), KILLS))
        try:
            for mark in marks:
                deadline = time.monotonic() + 120
                while (len(load.acked) + len(up.messages) < mark
                       and time.monotonic() < deadline):
                    time.sleep(0.002)
                time.sleep(rnd.uniform(0, 0.02))
                t = time.time()
                pids = kill_tree(server.proc.pid)
                acks, dlv = len(load.acked), len(up.messages)
                server.proc.wait(timeout=10)
                wait_gone(pids)
                server.logf.close()
                server.start()
                kills.append((t, acks, dlv, pids, time.time()))
        finally:
            for t in threads:
                t.join(timeout=400)
        assert not any(t.is_alive() for t in threads), "clients did not finish"
        assert len(load.acked) == load_mod.TOTAL, f"only {len(load.acked)} acknowledged"
        try:
            wait_until(lambda: len(delivered_numbers(up)) == load_mod.TOTAL, 300,
                       "every message at the sink",
                       show=lambda: queue_text(server)[-3000:] + server.log_text()[-3000:])
            wait_until(lambda: not queue_states(server), 120, "an empty queue",
                       show=lambda: queue_text(server)[-3000:])
            time.sleep(2)       # a late repeat would show now
        finally:
            server.stop()
        index = sink_index(up)
    assert not [e for e in queue_states(server).values() if e.torn]
    # client retries: distinct queue ids per message
    qids = {}
    for n, qid in index:
        qids.setdefault(n, set()).add(qid)
    assert all(None not in q for q in qids.values()), "a copy without postern's Received id"
    once = [n for n in range(load_mod.TOTAL) if load.tries[n] == 1 and len(qids[n]) != 1]
    assert not once, f"acknowledged at the first try, yet queued twice: {once}"
    over = [n for n in qids if len(qids[n]) > load.tries[n]]
    assert not over, f"more queue ids than tries: {over}"
    # repeated deliveries of one queue id: each after a kill, in flight then
    per_kill = [0] * len(kills)
    bad = []
    for (n, qid), times in index.items():
        for earlier, later in zip(times, times[1:]):
            k = next((i for i, (t, *_x, up_again) in enumerate(kills)
                      if t - WINDOW <= earlier <= up_again and later >= t), None)
            if k is None:
                bad.append((n, qid, earlier, later))
            else:
                per_kill[k] += 1
    client_dups = sum(len(q) - 1 for q in qids.values())
    summary = (f"crash test (seed {seed}): {load_mod.TOTAL} messages, {KILLS} SIGKILLs of "
               f"parent+net+auth+runner at (acks, deliveries) "
               f"{[(a, d) for _, a, d, _p, _u in kills]} ({[len(k[3]) for k in kills]} processes "
               f"each); {sum(1 for n in qids if load.tries[n] > 1)} messages resubmitted by "
               f"clients -> {client_dups} duplicate(s) from distinct queue ids; repeated "
               f"deliveries of one queue id per kill: {per_kill} (total {sum(per_kill)})")
    print(summary)
    assert not bad, (f"delivered again without a kill while in flight: {bad[:10]}\n"
                     f"kills at {[(k[0], k[4]) for k in kills]}\n{summary}")
    # each kill got the whole process group: parent, net, auth, runner
    assert all(len(k[3]) >= 4 for k in kills), kills
