"""Delivery by MX (no relay_host) through a DNS server the test starts
(dnsmasq, dnspeer.py; postern's dns_resolver points at it) (issue 14,
"What it must show"): the zone gives remote.test two MX records,
preference 10 (a loopback address where nothing listens on port 25: the
preferred host is down) and 20 (an aiosmtpd on port 25 of another
loopback address).  The mail reaches the second; postern's log shows
the refused first host; dnsmasq's log shows the MX query.

Each test picks fresh addresses in 127.0.0.0/8 so that parallel tests
never share port 25 of one address."""
import random
import socket
import uuid

from aiosmtpd_peer import Upstream
from conftest import USER, started_server
from delivery import (FAST_RETRY, mark_message, queue_states, queue_text, swaks_submit, unescape,
                      wait_until)
from dnspeer import dnsmasq  # noqa: F401  (fixture)


def loopback_address(rnd):
    """An address of 127.0.0.0/8 (all loopback on Linux) with port 25
    free, outside 127.0.0.0/16 where other suites put theirs."""
    for _ in range(50):
        a = f"127.{rnd.randint(64, 250)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"
        with socket.socket() as s:
            try:
                s.bind((a, 25))
            except OSError:
                continue
        return a
    raise RuntimeError("no loopback address with port 25 free")


def test_mx_preferred_down_second_gets_it(tmp_path, pki, dnsmasq):  # noqa: F811
    rnd = random.Random()
    down, up_addr = loopback_address(rnd), loopback_address(rnd)
    with Upstream(host=up_addr, port=25) as up:
        dns = dnsmasq(mx=[("remote.test", "mx1.remote.test", 10),
                          ("remote.test", "mx2.remote.test", 20)],
                      hosts={"mx1.remote.test": [down], "mx2.remote.test": [up_addr]})
        extra = f"dns_resolver = {dns.server}\n" + FAST_RETRY
        server = started_server(tmp_path / "postern", pki, extra, park_remote=False)
        try:
            rcpt = f"bob-{uuid.uuid4().hex[:8]}@remote.test"
            mark = "mx-" + uuid.uuid4().hex
            r = swaks_submit(server, USER, [rcpt], mark_message(mark, USER, rcpt))
            assert r.returncode == 0, r.stdout.decode(errors="replace")
            wait_until(lambda: up.messages, 60, "delivery to the second MX",
                       show=lambda: queue_text(server) + server.log_text()[-3000:]
                       + dns.log_text()[-2000:])
            wait_until(lambda: not queue_states(server), 30, "an empty queue",
                       show=lambda: queue_text(server))
        finally:
            server.stop()
    [m] = up.messages
    assert m.rcpts == [rcpt] and m.mail_from == USER
    assert mark.encode() in m.content
    log = server.log_text()
    print(f"\nMX 10 {down} (down), MX 20 {up_addr} (aiosmtpd)")
    assert "MX" in dns.log_text() and "remote.test" in dns.log_text(), dns.log_text()[-2000:]
    # the preferred host was tried first and refused the connection, then
    # the second took the message
    lines = [unescape(x) for x in log.splitlines() if "proc=runner" in x and "delivery id=" in x]
    print("\n".join(lines))
    assert len(lines) == 2, lines
    assert f"mx1.remote.test[{down}]:25" in lines[0] and "failed before MAIL" in lines[0], lines
    assert "refused" in lines[0].lower(), lines
    assert f"remote=mx2.remote.test[{up_addr}]:25" in lines[1], lines
    assert "result=delivered" in lines[1] and "route=mx:remote.test" in lines[1], lines


def test_mx_both_down_stays_deferred(tmp_path, pki, dnsmasq):  # noqa: F811
    rnd = random.Random()
    a, b = loopback_address(rnd), loopback_address(rnd)
    dns = dnsmasq(mx=[("remote.test", "mx1.remote.test", 10),
                      ("remote.test", "mx2.remote.test", 20)],
                  hosts={"mx1.remote.test": [a], "mx2.remote.test": [b]})
    server = started_server(tmp_path / "postern", pki, f"dns_resolver = {dns.server}\n" + FAST_RETRY,
                            park_remote=False)
    try:
        rcpt = "carol@remote.test"
        r = swaks_submit(server, USER, [rcpt], mark_message("mx-down", USER, rcpt))
        assert r.returncode == 0

        def deferred():
            for e in queue_states(server).values():
                st = e.rcpts.get(rcpt)
                if st and st.state == "deferred" and st.attempts >= 1:
                    return st
            return None
        st = wait_until(deferred, 60, "the recipient deferred",
                        show=lambda: queue_text(server) + server.log_text()[-3000:])
        # the reply names both hosts' failures, the preferred first
        r1, r2 = st.reply.find("mx1.remote.test"), st.reply.find("mx2.remote.test")
        assert 0 <= r1 < r2, st
        assert "refused" in st.reply.lower(), st
    finally:
        server.stop()
