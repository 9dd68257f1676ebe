"""contrib/fail2ban against the server's own log (issue 13 item 3): Debian's
fail2ban-regex runs the filter over the log of a real `postern serve`
that saw wrong passwords, a user name forging a second client= field,
a refused (throttled) attempt, a delayed one, and successful logins;
it must count exactly the failures and refusals, each for the address
that really made it."""
import re
import shutil
import ssl
import subprocess

import pytest

from conftest import PASSWORD, ROOT, USER, started_server
from spray import login

FILTER = ROOT / "contrib" / "fail2ban" / "filter.d" / "postern.conf"
JAIL = ROOT / "contrib" / "fail2ban" / "jail.d" / "postern.conf"
FORGED = "x client=203.0.113.77"


@pytest.fixture
def server(tmp_path, pki):
    # 3 failures per address (a day: a minute window might end during
    # the test), then 250, 500, 1000 ms, then 454
    s = started_server(tmp_path / "server", pki,
                       "auth_fail_limit_ip_day = 3\nauth_delay_max = 1s\n")
    yield s
    s.stop()


def fail2ban_regex(*args):
    exe = shutil.which("fail2ban-regex")
    assert exe, "fail2ban-regex missing: Debian package fail2ban (scripts/deps.sh)"
    r = subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_fail2ban_filter_counts_real_failures_by_real_address(server, pki):
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    port = server.submission
    # the owner mistypes twice, then logs in
    assert login(port, ctx, "127.0.0.2", USER, "wrong one")[0] == 535
    assert login(port, ctx, "127.0.0.2", USER, "wrong two")[0] == 535
    assert login(port, ctx, "127.0.0.2", USER, PASSWORD)[0] == 235
    # a user name that tries to name another address
    assert login(port, ctx, "127.0.0.3", FORGED, "guess")[0] == 535
    # a guesser: 3 failures, 3 delayed failures, then refused twice
    codes = [login(port, ctx, "127.0.0.4", f"user{i}", f"guess{i}")[0] for i in range(8)]
    assert codes == [535] * 6 + [454] * 2, codes

    log = server.log_text()
    # The forged name is logged, quoted as one value (log_quote: blank
    # and '=' escaped), so no regex can read an address field out of it.
    assert 'user="x\\x20client\\x3d203.0.113.77"' in log, log[-2000:]
    assert len(re.findall(r"auth throttled: client=127\.0\.0\.4 action=delay ", log)) == 3
    out = fail2ban_regex(server.log, FILTER)
    m = re.search(r"Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed", out)
    assert m, out
    # 2 + 1 + 6 failures, 2 refusals; not the successes, not the delays
    assert int(m.group(3)) == 11, out
    ips = fail2ban_regex("-o", "ip", server.log, FILTER).split()
    assert sorted(ips) == sorted(["127.0.0.2"] * 2 + ["127.0.0.3"] + ["127.0.0.4"] * 8), ips
    assert "203.0.113.77" not in ips


def test_fail2ban_jail_names_the_filter():
    text = JAIL.read_text()
    assert re.search(r"^\[postern\]$", text, re.M)
    assert re.search(r"^filter\s*=\s*postern$", text, re.M)
    assert re.search(r"^port\s*=\s*submission,submissions,smtp$", text, re.M)
