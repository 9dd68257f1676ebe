#!/bin/sh
# Builds the libFuzzer harnesses (fuzz/, clang 14 with ASan/UBSan) into
# build-fuzz and runs each one for SECONDS (default 600), two at a time,
# starting from its seed corpus (fuzz/corpus/NAME) and first replaying
# every saved crash (fuzz/regress/NAME: each one a regression test).
# An input that runs for more than 60 s counts as a hang (the margin is
# wide because make check runs the harnesses on a busy machine).
# The corpus grows in build-fuzz/corpus/NAME; the repository is not
# touched.  A new crash is copied to build-fuzz/crashes/NAME/.
#   sh scripts/fuzz.sh [SECONDS] [NAME...]
# Prints one line per harness (executions, result) and ends with
# "N passed, M failed"; exits non-zero when any harness failed.
set -u
# run_one NAME: replays fuzz/regress/NAME, then fuzzes for $secs.
run_one() {
	t=$1
	bin=$B/fuzz/fuzz_$t
	log=$B/fuzz-$t.log
	mkdir -p $B/corpus/$t $B/crashes/$t
	: >"$log"
	if [ -d fuzz/regress/$t ] && [ -n "$(ls fuzz/regress/$t)" ]; then
		if ! "$bin" -runs=0 fuzz/regress/$t/* >>"$log" 2>&1; then
			echo "FAIL $t: a saved regression input crashes again (see $log)"
			return 1
		fi
	fi
	seeds=""
	[ -d fuzz/corpus/$t ] && seeds=fuzz/corpus/$t
	POSTERN_FUZZ_DIR=$(mktemp -d /dev/shm/postern-fuzz-run.XXXXXX) || return 1
	export POSTERN_FUZZ_DIR
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
		"$bin" -max_total_time="$secs" -timeout=60 -rss_limit_mb=2048 -max_len=16384 \
		-print_final_stats=1 -artifact_prefix=$B/crashes/$t/ \
		$B/corpus/$t $seeds >>"$log" 2>&1
	rc=$?
	rm -rf "$POSTERN_FUZZ_DIR"
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	if [ $rc -ne 0 ]; then
		echo "FAIL $t: ${execs:-?} executions, crash in $B/crashes/$t (see $log)"
		return 1
	fi
	echo "ok   $t: ${execs:-?} executions in ${secs}s, no crash"
}

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
B=build-fuzz
if [ "${1:-}" = "--one" ]; then	# internal: one harness, for xargs -P
	secs=$3
	run_one "$2"
	exit
fi
secs=${1:-600}
[ $# -gt 0 ] && shift
JOBS=${FUZZ_JOBS:-2}

if [ ! -f $B/build.ninja ]; then
	CC=clang meson setup $B -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fsanitize=fuzzer-no-link >$B.setup.log 2>&1 ||
		{ cat $B.setup.log; echo "0 passed, 1 failed"; exit 1; }
fi
targets=$(ls fuzz/fuzz_*.c | sed 's|fuzz/fuzz_\(.*\)\.c|\1|')
[ $# -gt 0 ] && targets="$*"
ninja -C $B $(for t in $targets; do printf 'fuzz/fuzz_%s ' "$t"; done) >$B/fuzz-build.log 2>&1 ||
	{ grep -E 'error|warning' $B/fuzz-build.log | head -20; echo "0 passed, 1 failed"; exit 1; }

results=$B/fuzz-results.txt
: >"$results"
for t in $targets; do echo "$t"; done |
	xargs -P "$JOBS" -I{} sh scripts/fuzz.sh --one {} "$secs" >>"$results" 2>&1
cat "$results"
passed=$(grep -c '^ok' "$results")
failed=$(grep -c '^FAIL' "$results")
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
