# Shared by every black-box test: a temporary MVM_HOME and working area per
# test, and the binary under test.
MVMCTL="$MVM_BUILD/mvmctl"
# Pools build in a builder VM by default; the suites about other things build
# on the host (seconds, not tens of them, under TCG). builder.bats tests the VM.
export MVM_BUILDER=host

common_setup() {
	export MVM_HOME="$BATS_TEST_TMPDIR/home"
	export WORK="$BATS_TEST_TMPDIR/work"
	mkdir -p "$WORK"
	# Keep walk-ups inside the test's own directory.
	export MVM_CEILING_DIRECTORIES="$BATS_TEST_TMPDIR"
	unset MVM_CONFIG
	cd "$WORK" || return 1
}

# mvmctl ARGS...: runs the binary under test, capturing status/output as bats does,
# with stderr kept apart in $stderr.
mvmctl() {
	"$MVMCTL" "$@"
}

# assert_line_eq EXPECTED ACTUAL
assert_eq() {
	if [ "$1" != "$2" ]; then
		printf 'expected: %s\n  actual: %s\n' "$1" "$2" >&2
		return 1
	fi
}

assert_contains() {
	case "$1" in
	*"$2"*) return 0 ;;
	esac
	printf 'expected to find: %s\n          in: %s\n' "$2" "$1" >&2
	return 1
}

assert_mode() {
	local m
	m=$(stat -c %a "$1")
	assert_eq "$2" "$m"
}

# gone PID [SECONDS]: waits until the process no longer runs (zombies count as gone).
gone() {
	local pid=$1 secs=${2:-10} i st
	for ((i = 0; i < secs * 20; i++)); do
		st=$(ps -o stat= -p "$pid" 2>/dev/null) || return 0
		[[ $st == Z* ]] && return 0
		sleep 0.05
	done
	echo "process $pid still runs" >&2
	return 1
}

# without_libcurl CMD...: runs CMD in a private mount namespace where the
# libcurl the dynamic linker finds is an empty file: as on a host without it
# (mvmctl loads it with dlopen, core/dl_curl.h).
without_libcurl() {
	local lib
	lib=$(ldconfig -p | awk '/libcurl\.so\.4 .*x86-64/ {print $NF; exit}')
	[ -n "$lib" ] || { echo "no libcurl.so.4 in the linker cache" >&2 && return 1; }
	unshare -m bash -c 'mount --bind /dev/null "$1" && shift && exec "$@"' _ "$lib" "$@"
}
