#!/usr/bin/env bats
# The README's main job, end to end: init http, nix build, up with a port
# forward, the page fetched from the host, a command run inside, down, rm.
bats_require_minimum_version 1.5.0
load helpers

setup() {
	common_setup
	export MVM_ACCEL=tcg MVM_STANDIN="$BATS_TEST_TMPDIR/standin"
	export MVM_QUICKSTART_PORT=$((20000 + RANDOM % 20000))
}

teardown() {
	"$MVMCTL" down --all >/dev/null 2>&1 || true
}

@test "scripts/quickstart.sh serves the http preset's page from a microVM and tears it down" {
	run --separate-stderr env MVMCTL="$MVMCTL" "$MVM_SRC/scripts/quickstart.sh" "$WORK"
	[ "$status" -eq 0 ] || { echo "$stderr"; return 1; }
	assert_contains "$output" "<h1>Hello from an mvm microVM</h1>"
	assert_contains "$output" "inside hello-web: "
	[ -f "$WORK/hello-web/mvm.toml" ]
	run --separate-stderr "$MVMCTL" ls -a -q
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ ! -e "$MVM_HOME/vms/hello-web" ]
}
