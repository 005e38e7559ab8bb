#!/usr/bin/env bash
# Replays what the fuzzers found and kept, with every harness built without
# libFuzzer (build/fuzz-replay/fuzz_X, fuzz/replay.c): each input of
# fuzz/regressions/<name>/ in its own process (a crash or a sanitizer report
# names it), then the whole kept corpus fuzz/corpus/<name>/ in one. Under
# `make check-asan` the harnesses are built with ASan and UBSan. Prints TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${MVM_BUILD:-$here/../build}
fuzz=$here/../fuzz
status=0 n=0
errfile=$(mktemp)
trap 'rm -f "$errfile"' EXIT

result() { # result OK NAME
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2 ($(head -c 300 "$errfile" | tr '\n#' ' _'))"
		status=1
	fi
}

for src in "$fuzz"/fuzz_*.c; do
	h=$(basename "$src" .c)
	name=${h#fuzz_}
	bin=$build/fuzz-replay/$h
	if [ ! -x "$bin" ]; then
		echo "not ok $((n += 1)) - $h: replay harness not built ($bin)"
		status=1
		continue
	fi
	for f in "$fuzz/regressions/$name"/*; do
		[ -f "$f" ] || continue
		"$bin" "$f" >/dev/null 2>"$errfile"
		result $? "fuzz/regressions/$name/${f##*/}"
	done
	if [ -d "$fuzz/corpus/$name" ]; then
		out=$("$bin" "$fuzz/corpus/$name" 2>"$errfile")
		result $? "fuzz/corpus/$name ($out)"
	fi
done
exit $status
