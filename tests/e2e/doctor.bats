#!/usr/bin/env bats
# mvmctl doctor: one line per check, exit 6 when a required one fails.
bats_require_minimum_version 1.5.0
load helpers

setup() {
	common_setup
	export MVM_LIBEXEC="$MVM_BUILD"
}

@test "doctor passes on a prepared host and reports the kernel" {
	run --separate-stderr "$MVMCTL" doctor --json
	[ "$status" -eq 0 ]
	[ "$(printf '%s' "$output" | jq -r .ready)" = true ]
	[ "$(printf '%s' "$output" | jq -r '.checks[] | select(.name == "kernel") | .status')" = ok ]
	run --separate-stderr "$MVMCTL" doctor
	[ "$status" -eq 0 ]
	assert_contains "$output" "OK    kernel"
	assert_contains "$output" "OK    nix"
}

@test "doctor fails with exit 6 and the fix when tools are missing" {
	mkdir -p "$WORK/emptybin"
	run --separate-stderr env PATH="$WORK/emptybin" "$MVMCTL" doctor
	[ "$status" -eq 6 ]
	assert_contains "$output" "FAIL  vmm            qemu-system-x86_64 not found in PATH"
	assert_contains "$output" "fix: apt-get install qemu-system-x86"
	assert_contains "$output" "FAIL  nix"
}

@test "doctor reports a missing kernel with the command that fetches one" {
	mkdir -p "$WORK/nokernels"
	MVM_KERNEL_CACHE="$WORK/nokernels" run --separate-stderr "$MVMCTL" doctor --json
	[ "$status" -eq 6 ]
	[ "$(printf '%s' "$output" | jq -r '.checks[] | select(.name == "kernel") | .status')" = fail ]
	assert_contains "$(printf '%s' "$output" | jq -r '.checks[] | select(.name == "kernel") | .fix')" "scripts/fetch-kernel.sh"
}

@test "doctor warns when a library mvmctl loads on demand is missing, with the package" {
	run --separate-stderr "$MVMCTL" doctor
	assert_contains "$output" "OK    libcurl        libcurl.so.4 (init --prompt with an LLM)"
	assert_contains "$output" "OK    libarchive     libarchive.so.13"
	run --separate-stderr without_libcurl "$MVMCTL" doctor --json
	[ "$status" -eq 0 ] # a warning: only init --prompt's LLM needs it
	c=$(printf '%s' "$output" | jq -c '.checks[] | select(.name == "libcurl")')
	[ "$(jq -r .status <<<"$c")" = warn ]
	assert_contains "$(jq -r .detail <<<"$c")" "libcurl.so.4 could not be loaded: "
	assert_contains "$(jq -r .detail <<<"$c")" ": init --prompt cannot ask an LLM (it plans heuristically)"
	[ "$(jq -r .fix <<<"$c")" = "apt-get install libcurl4" ]
}
