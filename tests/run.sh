#!/usr/bin/env bash
# The whole test suite: unit tests (cmocka), the toml-test corpus, the fuzz
# regressions and kept corpus (fuzz-replay.sh) and the black-box CLI tests
# (bats), each speaking TAP. Prints every result and ends with one line:
# "N passed, N failed" (", N skipped" when some were skipped).
#
#   tests/run.sh                 everything
#   tests/run.sh manifest init   only the suites whose name contains a word given
#   MVM_SKIP_SUITES="e2e/kill"   leaves out the suites named exactly
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
export MVM_BUILD=${MVM_BUILD:-$root/build}
export MVM_SRC=$root
export MVM_DATADIR=${MVM_DATADIR:-$root/share}
export MVM_LIBEXEC=${MVM_LIBEXEC:-$MVM_BUILD}
export CMOCKA_MESSAGE_OUTPUT=TAP
export LC_ALL=C

passed=0 failed=0 skipped=0
log=$(mktemp -d "${TMPDIR:-/tmp}/mvm-tests.XXXXXX")
trap 'rm -rf "$log"' EXIT

selected() {
	local s
	for s in ${MVM_SKIP_SUITES:-}; do [ "$1" = "$s" ] && return 1; done
	[ -z "$FILTER" ] && return 0
	local w
	for w in $FILTER; do [[ $1 == *"$w"* ]] && return 0; done
	return 1
}
FILTER="$*"

# run_suite NAME CMD...: runs a TAP producer, echoes its output, counts it.
run_suite() {
	local name=$1; shift
	selected "$name" || return 0
	echo "# suite: $name"
	local out="$log/out" start=$SECONDS
	"$@" >"$out" 2>"$log/err"
	local rc=$?
	cat "$out"
	local p f s
	# bats skips as "ok N # skip", cmocka as "not ok N # SKIP": both are skips
	p=$(grep -E '^ok ' "$out" | grep -cvE '# (skip|SKIP)' | tr -d ' ')
	s=$(grep -cE '^(not )?ok .*# (skip|SKIP)' "$out" | tr -d ' ')
	f=$(grep -E '^not ok ' "$out" | grep -cvE '# (skip|SKIP)' | tr -d ' ')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $name exited with status $rc"
		f=1
	fi
	if [ "$f" -ne 0 ] || [ "$rc" -ne 0 ]; then
		sed 's/^/# stderr: /' "$log/err" | tail -n 60
	fi
	echo "# $name: $p passed, $f failed, $s skipped ($((SECONDS - start)) s)"
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}

for t in "$MVM_BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	run_suite "unit/$(basename "$t")" "$t"
done

[ -x "$here/toml-test.sh" ] && run_suite "toml-test" "$here/toml-test.sh"
[ -x "$here/fuzz-replay.sh" ] && run_suite "fuzz-replay" "$here/fuzz-replay.sh"

for f in "$here"/e2e/*.bats; do
	[ -e "$f" ] || continue
	run_suite "e2e/$(basename "$f" .bats)" bats --tap "$f"
done

# The VM and build suites once more as a user who is not root (a uid with no
# passwd entry and its own HOME): what root's permissions would hide. Nix's
# store here is root's: the unprivileged build goes through a nix-daemon of
# our own, on a socket only that uid (and root) can reach.
UNPRIV_UID=54321
UNPRIV_SUITES="vm exec build"
as_unpriv() { setpriv --reuid=$UNPRIV_UID --regid=$UNPRIV_UID --clear-groups "$@"; }
unpriv_daemon() {
	ndir=$(mktemp -d "${TMPDIR:-/tmp}/mvm-nixd.XXXXXX")
	chown $UNPRIV_UID "$ndir" && chmod 700 "$ndir"
	NIX_DAEMON_SOCKET_PATH="$ndir/socket" nix-daemon --option build-users-group '' \
		--option trusted-users '*' --option experimental-features 'nix-command flakes' \
		>"$ndir/log" 2>&1 &
	ndpid=$!
	local i
	for ((i = 0; i < 100; i++)); do
		[ -S "$ndir/socket" ] && return 0
		sleep 0.1
	done
	return 1
}
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null && ! getent passwd $UNPRIV_UID >/dev/null; then
	if ! as_unpriv test -x "$MVM_BUILD/mvmctl" -a -r "$here/e2e/vm.bats" -a -r "$MVM_DATADIR"; then
		echo "# e2e/*-unprivileged: skipped, uid $UNPRIV_UID cannot reach $MVM_BUILD or $here"
		skipped=$((skipped + 3))
	else
		for f in $UNPRIV_SUITES; do
			selected "e2e/$f-unprivileged" || continue
			uhome=$(mktemp -d "${TMPDIR:-/tmp}/mvm-unpriv.XXXXXX")
			chown $UNPRIV_UID:$UNPRIV_UID "$uhome"
			nixenv=()
			if [ "$f" = build ]; then
				unpriv_daemon || { echo "not ok - nix-daemon did not start: $(cat "$ndir/log")"; failed=$((failed + 1)); continue; }
				nixenv=(NIX_REMOTE=daemon NIX_DAEMON_SOCKET_PATH="$ndir/socket")
			fi
			run_suite "e2e/$f-unprivileged" as_unpriv env HOME="$uhome" TMPDIR="$uhome" \
				"${nixenv[@]}" bats --tap "$here/e2e/$f.bats"
			if [ "$f" = build ]; then
				kill "$ndpid" 2>/dev/null
				wait "$ndpid" 2>/dev/null
				rm -rf "$ndir"
			fi
			rm -rf "$uhome"
		done
	fi
fi

if [ "$skipped" -ne 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
