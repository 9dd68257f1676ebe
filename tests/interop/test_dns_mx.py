"""MX resolution (src/deliver/dns_mx.c) against a real dnsmasq.

tests/tools/mxlookup.c runs the module on a libevent loop and prints
each lookup's status and ordered targets; dnsmasq (dnspeer.py) serves a
zone with MX records of two preferences, a domain without MX, a null MX
(RFC 7505), a CNAME and an unknown name.  The temporary failures point
the resolver at a port where nothing answers (refused) and at a socket
that never replies (timeout), with a bounded time."""
import re
import socket
import time

import pytest

from conftest import free_port, run, tool_path
from dnspeer import dnsmasq  # noqa: F401  (fixture)

ZONE = dict(
    mx=[("two.test", "mx1.two.test", 10), ("two.test", "mx2.two.test", 20),
        ("two.test", "mx3.two.test", 20),
        ("lame.test", "gone.lame.test", 5), ("lame.test", "mx.lame.test", 50)],
    hosts={"mx1.two.test": ["127.0.0.11"], "mx2.two.test": ["127.0.0.12", "::12"],
           "mx3.two.test": ["127.0.0.13"], "nomx.test": ["127.0.0.21", "::21"],
           "mx.lame.test": ["127.0.0.31"]},
    null_mx=["null.test"],
    cnames={"alias.test": "nomx.test", "mxalias.test": "two.test"},
)


def mxlookup_path():
    return tool_path("deliver", "mxlookup")


def lookup(server, *domains, timeout=30, extra=()):
    """Runs mxlookup; returns a list of (status dict, [(pref, host, [addrs])])."""
    r = run([mxlookup_path(), "-s", server, *extra, *domains], timeout=timeout)
    assert r.returncode == 0, r.stderr.decode()
    out = []
    for line in r.stdout.decode().splitlines():
        if line.startswith("lookup "):
            m = re.match(r'lookup (\S+) status=(\S+) code=(\S+) implicit=(\S+) why="(.*)"$', line)
            assert m, line
            out.append((dict(domain=m[1], status=m[2], code=m[3], implicit=m[4], why=m[5]), []))
        else:
            _, pref, host, *addrs = line.split()
            out[-1][1].append((int(pref), host, addrs))
    return out


def test_mx_by_preference_with_addresses(dnsmasq):
    dns = dnsmasq(**ZONE)
    [(st, targets)] = lookup(dns.server, "two.test")
    assert st["status"] == "ok" and st["implicit"] == "no", st
    assert [t[0] for t in targets] == [10, 20, 20]
    assert targets[0][1:] == ("mx1.two.test", ["127.0.0.11"])
    assert {t[1] for t in targets[1:]} == {"mx2.two.test", "mx3.two.test"}
    by_host = {t[1]: t[2] for t in targets}
    assert sorted(by_host["mx2.two.test"]) == ["127.0.0.12", "::12"]   # A and AAAA


def test_equal_preferences_are_shuffled(dnsmasq):
    """40 lookups in one run: mx1 always first, and both orders of the
    two preference-20 hosts appear (a fixed order fails with certainty;
    a fair shuffle misses one order with probability 2^-39)."""
    dns = dnsmasq(**ZONE)
    results = lookup(dns.server, "two.test", extra=("-n", "40"))
    assert len(results) == 40
    orders = set()
    for st, targets in results:
        assert st["status"] == "ok"
        assert [t[1] for t in targets][0] == "mx1.two.test"
        orders.add(tuple(t[1] for t in targets[1:]))
    assert orders == {("mx2.two.test", "mx3.two.test"), ("mx3.two.test", "mx2.two.test")}


def test_no_mx_falls_back_to_the_domain_itself(dnsmasq):
    dns = dnsmasq(**ZONE)
    [(st, targets)] = lookup(dns.server, "nomx.test")
    assert st["status"] == "ok" and st["implicit"] == "yes", st
    assert [(p, h) for p, h, _ in targets] == [(0, "nomx.test")]
    assert sorted(targets[0][2]) == ["127.0.0.21", "::21"]


def test_cname_is_followed(dnsmasq):
    dns = dnsmasq(**ZONE)
    [(st, targets)] = lookup(dns.server, "alias.test")
    assert st["status"] == "ok" and st["implicit"] == "yes", st
    assert sorted(targets[0][2]) == ["127.0.0.21", "::21"]
    [(st, targets)] = lookup(dns.server, "mxalias.test")     # CNAME to a domain with MX
    assert st["status"] == "ok" and st["implicit"] == "no", st
    assert targets[0][:2] == (10, "mx1.two.test") and len(targets) == 3


def test_mx_host_without_address_is_skipped(dnsmasq):
    """RFC 5321 5.1: a preferred MX host that does not resolve is left
    out; the next one is used."""
    dns = dnsmasq(**ZONE)
    [(st, targets)] = lookup(dns.server, "lame.test")
    assert st["status"] == "ok", st
    assert targets == [(50, "mx.lame.test", ["127.0.0.31"])]


def test_null_mx_is_a_permanent_failure(dnsmasq):
    dns = dnsmasq(**ZONE)
    [(st, targets)] = lookup(dns.server, "null.test")
    assert (st["status"], st["code"]) == ("permfail", "5.1.10"), st
    assert "does not accept mail" in st["why"] and targets == []


def test_unknown_domain_is_a_permanent_failure(dnsmasq):
    dns = dnsmasq(**ZONE)
    [(st, targets)] = lookup(dns.server, "unknown.test")
    assert (st["status"], st["code"]) == ("permfail", "5.1.2"), st
    assert "NXDOMAIN" in st["why"] and targets == []


def test_invalid_domain_is_refused_without_a_query(dnsmasq):
    dns = dnsmasq(**ZONE)
    [(st, _)] = lookup(dns.server, "a..b")
    assert (st["status"], st["code"]) == ("permfail", "5.1.2"), st
    assert "a..b" not in dns.log_text()


def test_refusing_server_is_a_temporary_failure(dnsmasq):
    """dnsmasq refuses names outside its zone (no upstream)."""
    dns = dnsmasq(**ZONE)
    [(st, _)] = lookup(dns.server, "elsewhere.example")
    assert (st["status"], st["code"]) == ("tempfail", "4.4.3"), st


def test_closed_port_is_a_temporary_failure():
    port = free_port()      # nothing listens: ICMP port unreachable
    start = time.monotonic()
    [(st, _)] = lookup(f"127.0.0.1:{port}", "two.test", extra=("-t", "300", "-r", "1"))
    assert (st["status"], st["code"]) == ("tempfail", "4.4.3"), st
    assert time.monotonic() - start < 10


def test_silent_server_times_out_as_a_temporary_failure():
    """A UDP socket that never answers: the lookup gives up after the
    per-query timeout (300 ms, 2 tries) with a temporary failure."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        start = time.monotonic()
        [(st, _)] = lookup(f"127.0.0.1:{port}", "two.test", extra=("-t", "300", "-r", "2"))
        took = time.monotonic() - start
        assert s.recv(512)      # the query did reach the silent server
    assert (st["status"], st["code"]) == ("tempfail", "4.4.3"), st
    assert "timeout" in st["why"].lower(), st
    assert 0.3 <= took < 10, took


def test_resolver_freed_with_lookups_in_flight():
    """Freeing the resolver cancels its lookups: no callback comes after
    (and the ASan build of the tool reports no leak)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        r = run([mxlookup_path(), "-s", f"127.0.0.1:{port}", "-t", "5000", "-c", "100",
                 "a.test", "b.test", "c.test"], timeout=30)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode().splitlines() == ["cancelled 3 answered 0"]


def test_several_domains_at_once(dnsmasq):
    """Every lookup runs concurrently on one loop; each gets its own answer."""
    dns = dnsmasq(**ZONE)
    res = lookup(dns.server, "two.test", "nomx.test", "null.test", "unknown.test", "lame.test")
    assert [st["status"] for st, _ in res] == ["ok", "ok", "permfail", "permfail", "ok"]


@pytest.mark.parametrize("value", ["localhost:53", "127.0.0.1:0", "[::1"])
def test_bad_dns_resolver_value_is_refused(value):
    r = run([mxlookup_path(), "-s", value, "two.test"], timeout=10)
    assert r.returncode == 1
    assert f"'{value}' is not IP, IP:PORT or [IPV6]:PORT" in r.stderr.decode()
