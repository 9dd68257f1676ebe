#!/bin/sh
# Runs every test: the banned-function check, a clang build with
# warnings as errors, the cmocka unit tests and the pytest interop
# suites (in parallel with pytest-xdist).  Ends with "N passed, M failed"
# and exits non-zero on any failure.
set -u
BUILD=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
PY=/usr/bin/python3
passed=0
failed=0
report=$BUILD/check-report.txt
: >"$report"

note() { printf '%s\n' "$*" | tee -a "$report"; }

# 1. Banned functions (STYLE.md 12): one failure per offending line.
banned=$(git grep -nE '\<(strcpy|strcat|v?sprintf|gets|strtok|atoi)\(' -- 'src/*.c' 'src/*.h' 2>/dev/null)
if [ -n "$banned" ]; then
	note "FAIL banned functions:"; note "$banned"
	failed=$((failed + 1))
else
	passed=$((passed + 1))
fi

# 2. The same code must build warning-free with clang 14 too.
if [ ! -f build-clang/build.ninja ]; then
	CC=clang meson setup build-clang >build-clang.log 2>&1 || true
fi
if ninja -C build-clang >build-clang.log 2>&1; then
	passed=$((passed + 1))
else
	note "FAIL clang build (see build-clang.log):"; tail -20 build-clang.log
	failed=$((failed + 1))
fi

# 3. Unit tests (cmocka): count the cases each executable reports.
meson test -C "$BUILD" --suite unit --print-errorlogs >"$BUILD/unit.log" 2>&1
unit_rc=$?
counts=$($PY - "$BUILD/meson-logs/testlog.json" <<'PY'
import json, re, sys
p = f = 0
for line in open(sys.argv[1]):
    t = json.loads(line)
    out = t.get("stdout", "") + t.get("stderr", "")
    ok = re.findall(r"\[  PASSED  \] (\d+) test", out)
    bad = re.findall(r"\[  FAILED  \] (\d+) test", out)
    if ok or bad:
        p += sum(map(int, ok)); f += sum(map(int, bad))
        if t["result"] != "OK" and not bad:   # crashed after its cases
            f += 1
    elif t["result"] == "OK":
        p += 1
    else:
        f += 1
print(p, f)
PY
)
set -- $counts
passed=$((passed + $1)); failed=$((failed + $2))
note "unit: $1 passed, $2 failed (meson test exit $unit_rc)"
[ "$unit_rc" -ne 0 ] && grep -E 'FAIL|ERROR|\[  FAILED' "$BUILD/unit.log" | head -20

# 4. Interop tests against real programs.
POSTERN_BIN="$top/$BUILD/postern" $PY -m pytest -p no:cacheprovider -n 3 -q \
	--junitxml="$BUILD/interop.xml" tests/interop >"$BUILD/interop.log" 2>&1
py_rc=$?
tail -30 "$BUILD/interop.log"
counts=$($PY - "$BUILD/interop.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    r = ET.parse(sys.argv[1]).getroot()
except Exception:
    print(0, 1); sys.exit()
p = f = 0
for s in r.iter("testsuite"):
    tot = int(s.get("tests", 0)); bad = int(s.get("failures", 0)) + int(s.get("errors", 0))
    skipped = int(s.get("skipped", 0))
    p += tot - bad - skipped; f += bad + skipped   # a skip is a failure here
print(p, f)
PY
)
set -- $counts
passed=$((passed + $1)); failed=$((failed + $2))
# pytest exit 5 = nothing collected: that is a failure too.
[ "$py_rc" -ne 0 ] && [ "$2" -eq 0 ] && failed=$((failed + 1))

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
