#!/usr/bin/env bash
# TOML 1.0 conformance: every case of the public toml-test suite, then every
# input the fuzzer once broke the parser with (fuzz/regressions/toml/), each
# parsed in its own process so that a crash or a sanitizer report names it.
# Prints TAP only; exits non-zero when anything fails.
set -u

here=$(cd "$(dirname "$0")" && pwd)
build=${MVM_BUILD:-$here/../build}
suite=${TOML_TEST_DIR:-$here/../../shared/toml-test/tests}
runner=$build/tests/toml-test-runner
regressions=$here/../fuzz/regressions/toml

if [ ! -x "$runner" ]; then
	echo "not ok 1 - toml-test-runner is not built ($runner)"
	exit 1
fi
if [ ! -f "$suite/files-toml-1.0.0" ]; then
	echo "not ok 1 - no toml-test corpus at $suite (set TOML_TEST_DIR)"
	exit 1
fi

status=0
out=$("$runner" --suite "$suite" "$suite/files-toml-1.0.0") || status=1
printf '%s\n' "$out"
n=$(printf '%s\n' "$out" | grep -c -E '^(not )?ok ')
if ! printf '%s\n' "$out" | grep -q '^# toml-test: '; then
	n=$((n + 1))
	echo "not ok $n - toml-test-runner --suite stopped early (crashed?)"
	status=1
fi

errfile=$(mktemp)
trap 'rm -f "$errfile"' EXIT
total=0 passed=0
for f in "$regressions"/*; do
	[ -f "$f" ] || continue
	n=$((n + 1)) total=$((total + 1))
	name=fuzz/regressions/toml/${f##*/}
	if "$runner" --parse "$f" >/dev/null 2>"$errfile"; then
		echo "ok $n - $name"
		passed=$((passed + 1))
	else
		echo "not ok $n - $name (exit $?: $(head -c 200 "$errfile" | tr '\n#' ' _'))"
		status=1
	fi
done
echo "# fuzz regressions: $passed/$total parsed without a crash or leak"
exit $status
