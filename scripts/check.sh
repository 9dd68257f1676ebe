#!/bin/sh
# Runs every test: static gates (banned functions, clang build, clang-tidy,
# gcc -fanalyzer, unit tests under ASan/UBSan; one count each), the cmocka
# unit tests (one count per case) and the pytest interop suites against
# real programs (in parallel with pytest-xdist), then the same suites
# against the ASan/UBSan build.  Ends with
# "N passed, M failed" and exits non-zero on any failure.
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

# gate NAME LOG CMD...: runs one static check: one pass or one failure.
gate() {
	name=$1; log=$2; shift 2
	if "$@" >"$log" 2>&1; then
		passed=$((passed + 1))
	else
		note "FAIL $name (see $log):"
		grep -E 'error|warning|FAIL' "$log" | sort -u | head -20 | tee -a "$report"
		failed=$((failed + 1))
	fi
}

# 2. The same code must build warning-free with clang 14 too.
clang_build() {
	[ -f build-clang/build.ninja ] || CC=clang meson setup build-clang || return 1
	ninja -C build-clang
}
gate "clang build" build-clang.log clang_build

# 3. clang-tidy bugprone/cert checks (.clang-tidy) over every source file.
tidy() {
	git ls-files 'src/*.c' | xargs -P2 -n6 clang-tidy -p "$BUILD" --quiet 2>&1 |
		grep -E '(error|warning):' && return 1
	return 0
}
gate "clang-tidy" "$BUILD/tidy.log" tidy

# 4. gcc -fanalyzer over the program's sources (warnings are errors).
analyzer() {
	[ -f build-analyzer/build.ninja ] || meson setup build-analyzer -Dc_args=-fanalyzer || return 1
	ninja -C build-analyzer postern
}
gate "gcc -fanalyzer" "$BUILD/analyzer.log" analyzer

# 5. Unit tests again under AddressSanitizer and UndefinedBehaviorSanitizer.
asan_unit() {
	[ -f build-asan/build.ninja ] ||
		meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false || return 1
	ninja -C build-asan || return 1
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 meson test -C build-asan --suite unit --print-errorlogs
}
gate "unit tests under ASan/UBSan" "$BUILD/asan.log" asan_unit

# 6. Each libFuzzer harness briefly (make fuzz runs them for long):
# saved crashes replay as regression tests, then a few seconds of
# fuzzing from the seed corpus; one count per harness.
sh scripts/fuzz.sh "${FUZZ_SECONDS:-5}" >"$BUILD/fuzz.log" 2>&1
fuzz_rc=$?
counts=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$BUILD/fuzz.log" | tail -1)
[ -n "$counts" ] || counts="0 1"
set -- $counts
passed=$((passed + $1)); failed=$((failed + $2))
note "fuzz: $1 passed, $2 failed (scripts/fuzz.sh exit $fuzz_rc)"
[ "$fuzz_rc" -ne 0 ] && grep -E '^FAIL' "$BUILD/fuzz.log" | tee -a "$report"

# 7. Unit tests (cmocka): count the cases each executable reports.
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

# 8. Interop tests against real programs: once against the build, once
# against the ASan/UBSan build (build-asan, made in step 5), where any
# sanitizer report in a server's log is a failure of its own.  The ASan
# run leaves out the tests marked perf (pytest.ini), which bound memory
# or time: ASan's quarantine and slowdown make those numbers meaningless.
# interop NAME BIN [PYTEST ARGS]: one pytest run; adds its counts.
interop() {
	name=$1; bin=$2; shift 2
	rm -rf "$BUILD/pytest-$name"
	POSTERN_BIN=$bin ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
		$PY -m pytest -p no:cacheprovider -n 3 -q --basetemp="$BUILD/pytest-$name" "$@" \
		--junitxml="$BUILD/interop-$name.xml" tests/interop >"$BUILD/interop-$name.log" 2>&1
	rc=$?
	note "interop ($name):"
	tail -15 "$BUILD/interop-$name.log"
	counts=$($PY - "$BUILD/interop-$name.xml" <<'PY'
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
	[ "$rc" -ne 0 ] && [ "$2" -eq 0 ] && failed=$((failed + 1))
	return 0
}
interop plain "$top/$BUILD/postern"
if [ -x build-asan/postern ]; then
	interop asan "$top/build-asan/postern" -m "not perf"
	reports=$(grep -rlE 'runtime error|AddressSanitizer|LeakSanitizer' "$BUILD/pytest-asan" 2>/dev/null)
	if [ -n "$reports" ]; then
		note "FAIL sanitizer reports in server logs:"; note "$reports"
		failed=$((failed + 1))
	else
		passed=$((passed + 1))
	fi
else
	note "FAIL no ASan build (build-asan/postern) for the interop suite"
	failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
