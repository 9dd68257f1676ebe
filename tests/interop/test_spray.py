"""A password spray from 100 loopback addresses (issue 13 item 3): the
honest user, who logged in from 127.0.0.2 before, keeps logging in
during it without a failure and without waiting long, and the sprayers
end up refused (454 4.7.0, "auth throttled ... action=refuse" in the
log) instead of costing a password check each.

The bound on the honest median is generous (1 s; bench/spray.py
measures the real numbers): before the throttle, each wrong password
cost a yescrypt check on the event loop and the honest login took
seconds."""
import re
import statistics

import pytest

from conftest import PASSWORD, USER, started_server
from spray import SPRAY_SOURCES, Spray

# Bounds on memory and time (pytest.ini: perf).
pytestmark = pytest.mark.perf

SECONDS = 15


# Limits below the defaults: until the credential check leaves the
# event loop (issue 13 item 1), each wrong password the throttle lets
# through stops every session for one yescrypt check, which takes
# 100-700 ms on a loaded test machine; the defaults let about 70 of them
# through in the first minute of this spray (30 + 5 delayed per /26).
# With these, about 3 + 3 delayed for the whole /21.  Day limits, not
# minute ones: a minute window may end during the test (the windows
# are fixed), a day window practically never does.
STRICT = ("auth_fail_limit_subnet_day = 2\n"
          "auth_fail_limit_network_day = 3\n"
          "auth_delay_max = 1s\n")


@pytest.fixture
def server(tmp_path, pki):
    s = started_server(tmp_path / "server", pki, STRICT)
    yield s
    s.stop()


def test_spray_from_100_addresses_throttled_while_owner_logs_in(server, pki):
    # 100 sprayers, each trying every 5 s: 20 guesses a second, the
    # rate of the measurement
    sp = Spray(server.submission, pki.ca, USER, PASSWORD, period=5.0).run(SECONDS, before=5)
    during = sp.times("during")
    assert sp.honest_failures() == [], sp.honest_failures()
    assert len(during) >= 5, during
    assert statistics.median(during) < 1.0, sorted(during)

    # the sprayers were many, from every address, and were refused
    # without a password check once over the limits
    codes = sp.spray_codes()
    sources = {src for _, src, _ in sp.spray}
    assert len(sources) == len(SPRAY_SOURCES)
    assert codes.get(235, 0) == 0, codes
    assert codes.get(454, 0) > 0, codes
    late = sp.spray_codes(since=SECONDS - 4)
    assert late.get(454, 0) >= 0.9 * sum(late.values()), (late, codes)

    log = server.log_text()
    refused = set(re.findall(r"auth throttled: client=(127\.0\.1\.\d+) action=refuse ", log))
    assert len(refused) >= 50, sorted(refused)
    # the owner was never slowed, and nothing was said about its address
    assert "client=127.0.0.2 action=" not in log
    assert "auth failed: client=127.0.0.2 " not in log
