"""A real DNS server for the tests: dnsmasq (Debian dnsmasq-base) on a
loopback port the test picks, serving a small zone the test describes.

    from dnspeer import dnsmasq                 # function-scoped fixture
    def test_x(dnsmasq):
        dns = dnsmasq(mx=[("example.test", "mx1.example.test", 10)],
                      hosts={"mx1.example.test": ["127.0.0.11", "::11"]},
                      null_mx=["nomail.test"])
        dns.server                              # "127.0.0.1:PORT": a dns_resolver value

Names under `local` zones (default: "test") that the zone does not
hold get NXDOMAIN; anything else is refused (no upstream, no
/etc/hosts, no /etc/resolv.conf), which c-ares reports as a temporary
failure.  Each server is stopped by its pid when the test ends.
"""
import socket
import struct
import subprocess
import time

import pytest

from conftest import free_port, stop_process


def dns_query(port, name, rtype=1, host="127.0.0.1", timeout=1.0):
    """One UDP query; returns (rcode, answer count) or None on timeout."""
    qname = b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"
    msg = struct.pack(">HHHHHH", 0x5053, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", rtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(msg, (host, port))
        try:
            r = s.recv(4096)
        except (socket.timeout, ConnectionRefusedError):
            return None
    flags, _, ancount = struct.unpack(">HHH", r[2:8])
    return flags & 0xF, ancount


class Dnsmasq:
    def __init__(self, workdir, mx=(), hosts=None, null_mx=(), cnames=None, local=("test",)):
        self.dir = workdir
        self.mx = list(mx)                  # (domain, host, preference)
        self.hosts = dict(hosts or {})      # name -> [IPv4 or IPv6 addresses]
        self.null_mx = list(null_mx)        # domains with "MX 0 ." (RFC 7505)
        self.cnames = dict(cnames or {})    # alias -> target
        self.local = list(local)
        self.host = "127.0.0.1"
        self.port = None
        self.proc = None
        self.log = workdir / "dnsmasq.log"

    @property
    def server(self):
        return f"{self.host}:{self.port}"

    def _args(self):
        a = ["dnsmasq", "--no-daemon", f"--port={self.port}", f"--listen-address={self.host}",
             "--bind-interfaces", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
             "--log-queries", "--log-facility=-"]
        a += [f"--mx-host={d},{h},{p}" for d, h, p in self.mx]
        a += [f"--host-record={n},{','.join(addrs)}" for n, addrs in self.hosts.items()]
        # MX RDATA: preference 0 (2 bytes) and the root name (1 zero byte).
        a += [f"--dns-rr={d},15,000000" for d in self.null_mx]
        a += [f"--cname={alias},{target}" for alias, target in self.cnames.items()]
        a += [f"--local=/{z}/" for z in self.local]
        return a

    def start(self, tries=3):
        for _ in range(tries):
            self.port = free_port(self.host)
            logf = open(self.log, "ab")
            self.proc = subprocess.Popen(self._args(), stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=subprocess.STDOUT)
            logf.close()
            if self._wait_ready():
                return self
            stop_process(self.proc)
            if "Address already in use" not in self.log_text():
                break
        raise RuntimeError("dnsmasq did not start:\n" + self.log_text()[-2000:])

    def _wait_ready(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if dns_query(self.port, "ready.invalid", timeout=0.2) is not None:
                return True
            time.sleep(0.05)
        return False

    def stop(self):
        stop_process(self.proc)
        self.proc = None

    def log_text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture
def dnsmasq(tmp_path):
    """Starts a Dnsmasq with the given zone (see Dnsmasq); all stopped at
    the end of the test."""
    started = []

    def start(**zone):
        d = tmp_path / f"dns{len(started)}"
        d.mkdir()
        s = Dnsmasq(d, **zone)
        started.append(s)
        return s.start()

    yield start
    for s in started:
        s.stop()
