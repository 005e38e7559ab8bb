#!/usr/bin/env bats
# The command-line frame: help, version, usage errors and exit statuses.
bats_require_minimum_version 1.5.0
load helpers

setup() { common_setup; }

@test "--version and version --json" {
	run --separate-stderr "$MVMCTL" --version
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^mvmctl\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
	run --separate-stderr "$MVMCTL" version --json
	[ "$status" -eq 0 ]
	[ "$(printf '%s' "$output" | jq -r .schema_version)" = 1 ]
	[ "$(printf '%s' "$output" | jq -r .manifest_schema_version)" = 1 ]
	[ "$(printf '%s' "$output" | jq -r .version)" = "$(cat "$MVM_SRC/VERSION")" ]
}

@test "help lists the commands; help VERB and VERB --help agree" {
	run --separate-stderr "$MVMCTL" help
	[ "$status" -eq 0 ]
	assert_contains "$output" "manifest"
	assert_contains "$output" "locate-manifest"
	run --separate-stderr "$MVMCTL" help manifest check
	[ "$status" -eq 0 ]
	local a=$output
	run --separate-stderr "$MVMCTL" manifest check --help
	[ "$status" -eq 0 ]
	assert_eq "$a" "$output"
	assert_contains "$output" "usage: mvmctl manifest check [PATH] [--json]"
	assert_contains "$output" "Examples:"
	assert_contains "$output" "Exit status:"
	assert_contains "$output" "Environment:"
	# three words deep, as `tenant secrets set`
	run --separate-stderr "$MVMCTL" help tenant secrets set
	[ "$status" -eq 0 ]
	a=$output
	run --separate-stderr "$MVMCTL" tenant secrets set --help
	assert_eq "$a" "$output"
	assert_contains "$output" "usage: mvmctl tenant secrets set <tenant> --from-file FILE"
}

@test "unknown verbs and flags are usage errors, exit 2, with a short usage" {
	run --separate-stderr "$MVMCTL" frobnicate
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "mvmctl: error: unknown command 'frobnicate'"
	run --separate-stderr "$MVMCTL" manifest check --frob
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "mvmctl: error: unknown option '--frob'"
	assert_contains "$stderr" "usage: mvmctl manifest check [PATH] [--json]"
	run --separate-stderr "$MVMCTL" manifest check a b
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "unexpected argument 'b'"
	run --separate-stderr "$MVMCTL" manifest
	[ "$status" -eq 2 ]
	run --separate-stderr "$MVMCTL"
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "Commands:"
}

@test "a usage error with --json is JSON on stderr" {
	run --separate-stderr "$MVMCTL" --json manifest check --frob
	[ "$status" -eq 2 ]
	[ "$(printf '%s' "$stderr" | jq -r .error.code)" = usage ]
}

@test "the binary installed as mvm behaves the same" {
	make -s -C "$MVM_SRC" install BUILD="$MVM_BUILD" PREFIX="$BATS_TEST_TMPDIR/prefix" >/dev/null
	[ -L "$BATS_TEST_TMPDIR/prefix/bin/mvm" ]
	: >"$WORK/mvm.toml"
	run --separate-stderr "$BATS_TEST_TMPDIR/prefix/bin/mvm" manifest check --json
	[ "$status" -eq 0 ]
	[ "$(printf '%s' "$output" | jq -r .manifest.vcpus)" = 2 ]
	run --separate-stderr "$BATS_TEST_TMPDIR/prefix/bin/mvm" --version
	[[ "$output" =~ ^mvm\ [0-9] ]]
}
