#!/usr/bin/env bats
# The offline presets from `mvmctl init` really run: init, `mvmctl build`
# against the nixpkgs stand-in, then a bare `qemu-system-x86_64 -M microvm`
# boot (TCG) of the built revision, watching the console.
bats_require_minimum_version 1.5.0
load build_helpers
load boot_helpers

setup_file() { build_setup_file; }

setup() {
	build_setup
	kernel_provision
}

teardown() { boot_stop_all; }

# init_build PRESET [JQ-EDIT]: scaffolds $WORK/PRESET and builds it; sets REV to the revision directory.
init_build() {
	run --separate-stderr "$MVMCTL" init "$1" --preset "$1"
	[ "$status" -eq 0 ]
	if [ -n "${2:-}" ]; then # a jq edit of mvm-params.json
		jq "$2" "$1/mvm-params.json" >"$1/p.json" && mv "$1/p.json" "$1/mvm-params.json"
	fi
	run --separate-stderr "$MVMCTL" build "$1"
	[ "$status" -eq 0 ]
	REV="$MVM_HOME/templates/$(slot_of "$1/mvm.toml")/current"
	[ -s "$REV/rootfs.ext4" ]
}

@test "minimal: boots to ready with nothing running" {
	init_build minimal
	boot_start "$REV/rootfs.ext4" "$BATS_TEST_TMPDIR/console"
	boot_wait "$BATS_TEST_TMPDIR/console" "mvm: ready" 90
}

@test "worker: boots and logs a tick every worker_interval_secs" {
	init_build worker '.worker_interval_secs = 1'
	boot_start "$REV/rootfs.ext4" "$BATS_TEST_TMPDIR/console"
	boot_wait "$BATS_TEST_TMPDIR/console" "[mvm-worker] worker: tick 3 at " 90
	grep -qF "[mvm-worker] worker: tick 1: nothing to do yet (edit work.sh)" \
		"$BATS_TEST_TMPDIR/console"
}

@test "http: boots and its httpd stays up" {
	init_build http
	boot_start "$REV/rootfs.ext4" "$BATS_TEST_TMPDIR/console"
	boot_wait "$BATS_TEST_TMPDIR/console" "mvm: ready" 90
	sleep 2
	if grep 'mvm-init: mvm-http.* \(exited\|killed\)' "$BATS_TEST_TMPDIR/console"; then return 1; fi
}
