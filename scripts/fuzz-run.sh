#!/usr/bin/env bash
# Runs libFuzzer harnesses one after another, each for SECONDS, from the kept
# corpus fuzz/corpus/<name>/ (read only: new inputs go to
# BUILD/fuzz-corpus/<name>/, which later runs start from too), and prints one
# line per harness: executions per second, coverage (cov: and ft: of
# libFuzzer's last status line) and crashes. A crash, leak or timeout input is kept as
# BUILD/fuzz-crashes/<name>/crash-…; once fixed, it belongs in
# fuzz/regressions/<name>/ (replayed by `make check`).
#
#   scripts/fuzz-run.sh BUILD SECONDS fuzz_units [fuzz_toml …]
#   (make fuzz-run FUZZ_TIME=30 FUZZ_TARGETS="fuzz_units fuzz_toml")
set -u
build=$1 secs=$2
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
failed=0
printf '%-18s %10s %8s %8s %8s  %s\n' harness execs/s cov ft crashes log
for h in "$@"; do
	name=${h#fuzz_}
	bin=$build/fuzz/$h
	corpus=$root/fuzz/corpus/$name
	scratch=$build/fuzz-corpus/$name
	crashes=$build/fuzz-crashes/$name
	log=$build/fuzz-logs/$name.log
	mkdir -p "$scratch" "$crashes" "$(dirname "$log")" "$corpus"
	if [ ! -x "$bin" ]; then
		echo "$h: not built ($bin)" >&2
		failed=1
		continue
	fi
	before=$(find "$crashes" -type f | wc -l)
	# -fork keeps going after a crash; one job: the harnesses take turns on the machine
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
		-artifact_prefix="$crashes/" "$scratch" "$corpus" >"$log" 2>&1
	# the last status line of the fork mode: "#N: cov: C ft: F corp: … time: Ts"
	last=$(grep -E '^#[0-9]+: cov: ' "$log" | tail -1)
	runs=$(sed -nE 's/^#([0-9]+):.*/\1/p' <<<"$last")
	cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
	ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
	took=$(sed -nE 's/.* time: ([0-9]+)s.*/\1/p' <<<"$last")
	took=${took:-$secs}
	n=$(($(find "$crashes" -type f | wc -l) - before))
	[ "$n" -ne 0 ] && failed=1
	printf '%-18s %10s %8s %8s %8s  %s\n' "$h" "$((${runs:-0} / (took > 0 ? took : 1)))" \
		"${cov:-?}" "${ft:-?}" "$n" "$log"
done
exit $failed
