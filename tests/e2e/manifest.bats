#!/usr/bin/env bats
# The manifest (seed 000): schema, defaults, validation, sizes and discovery,
# driven through `mvmctl manifest check` and `mvmctl locate-manifest`.
bats_require_minimum_version 1.5.0
load helpers

setup() { common_setup; }

# check FILE-CONTENT: writes mvm.toml in $WORK and runs manifest check --json on it.
check_toml() {
	printf '%s\n' "$1" >"$WORK/mvm.toml"
	run --separate-stderr "$MVMCTL" manifest check --json "$WORK"
}

json() { printf '%s' "$output" | jq -r "$1"; }

@test "an empty manifest is valid and has every default" {
	: >"$WORK/mvm.toml"
	run --separate-stderr "$MVMCTL" manifest check --json
	[ "$status" -eq 0 ]
	[ "$(json .schema_version)" = 1 ]
	[ "$(json .manifest_path)" = "$WORK/mvm.toml" ]
	[ "$(json .project_dir)" = "$WORK" ]
	[ "$(json .manifest.schema_version)" = 1 ]
	[ "$(json .manifest.flake)" = . ]
	[ "$(json .manifest.flake_resolved)" = "$WORK" ]
	[ "$(json .manifest.profile)" = default ]
	[ "$(json .manifest.vcpus)" = 2 ]
	[ "$(json .manifest.mem_mib)" = 1024 ]
	[ "$(json .manifest.data_disk_mib)" = 0 ]
	[ "$(json '.manifest | has("name")')" = false ]
	[ -z "$stderr" ]
}

@test "the text form prints the effective values" {
	printf 'vcpus = 4\nmem = "2G"\ndata_disk = "512M"\nname = "api"\n' >"$WORK/mvm.toml"
	run --separate-stderr "$MVMCTL" manifest check
	[ "$status" -eq 0 ]
	assert_contains "$output" "vcpus           4"
	assert_contains "$output" "mem             2G (2048 MiB)"
	assert_contains "$output" "data_disk       512M (512 MiB)"
	assert_contains "$output" "name            api"
	assert_contains "$output" "flake           $WORK"
}

@test "every key set explicitly is taken" {
	check_toml 'schema_version = 1
flake = "github:example/repo"
profile = "web.v2-x_1"
vcpus = 255
mem = "64M"
data_disk = "1G"
name = "my-svc_1"'
	[ "$status" -eq 0 ]
	[ "$(json .manifest.flake_resolved)" = "github:example/repo" ]
	[ "$(json .manifest.profile)" = web.v2-x_1 ]
	[ "$(json .manifest.vcpus)" = 255 ]
	[ "$(json .manifest.mem_mib)" = 64 ]
	[ "$(json .manifest.data_disk_mib)" = 1024 ]
	[ "$(json .manifest.name)" = my-svc_1 ]
}

@test "a newer schema_version is refused word for word" {
	printf 'schema_version = 2\n' >"$WORK/mvm.toml"
	run --separate-stderr "$MVMCTL" manifest check
	[ "$status" -eq 3 ]
	assert_eq "mvmctl: error: this manifest declares schema_version=2; this mvmctl supports 1; upgrade mvmctl" "$stderr"
}

@test "size vectors: fractions, units in any case, rounding half away from zero" {
	while IFS='|' read -r size want; do
		check_toml "mem = \"$size\""
		[ "$status" -eq 0 ] || { echo "mem=$size: status $status: $stderr"; return 1; }
		got=$(json .manifest.mem_mib)
		assert_eq "$want" "$got" || { echo "for mem=$size"; return 1; }
	done <<-'EOF'
	0.5G|512
	1G|1024
	1.5g|1536
	1 GiB|1024
	2gb|2048
	100|100
	1024M|1024
	1024mb|1024
	512MiB|512
	65536K|64
	65537k|64
	66048K|65
	0.0625G|64
	EOF
	while IFS='|' read -r size want; do
		check_toml "data_disk = \"$size\""
		[ "$status" -eq 0 ] || { echo "data_disk=$size: $stderr"; return 1; }
		assert_eq "$want" "$(json .manifest.data_disk_mib)" || { echo "for $size"; return 1; }
	done <<-'EOF'
	512K|1
	2048k|2
	0|0
	1536K|2
	1535K|1
	0.4|0
	0.5|1
	EOF
}

@test "bad sizes name the field and the value, exit 3" {
	for bad in "-1G" "" "1T" "abc" "1.G" "G" "1 " "1  G" "12X" "0x10"; do
		printf 'data_disk = "%s"\n' "$bad" >"$WORK/mvm.toml"
		run --separate-stderr "$MVMCTL" manifest check "$WORK"
		[ "$status" -eq 3 ] || { echo "data_disk='$bad' gave $status"; return 1; }
		assert_contains "$stderr" "data_disk: invalid size \"$bad\""
		assert_contains "$stderr" "$WORK/mvm.toml:1:"
	done
}

@test "an integer for mem is refused with a hint showing the string form" {
	check_toml 'mem = 1024'
	[ "$status" -eq 3 ]
	run --separate-stderr "$MVMCTL" manifest check "$WORK"
	[ "$status" -eq 3 ]
	assert_eq "mvmctl: error: $WORK/mvm.toml:1: mem: expected a size string such as \"1024M\", got the integer 1024
hint: write mem = \"1024M\" (sizes are strings: K, M or G; no unit means MiB)" "$stderr"
}

@test "mem below 64 MiB is refused" {
	printf '\n\nmem = "63M"\n' >"$WORK/mvm.toml"
	run --separate-stderr "$MVMCTL" manifest check
	[ "$status" -eq 3 ]
	assert_contains "$stderr" "$WORK/mvm.toml:3: mem: expected at least 64M"
}

@test "vcpus out of range or of the wrong type names file, line, key and expectation" {
	for v in 0 256 -1; do
		check_toml "vcpus = $v"
		[ "$status" -eq 3 ]
		assert_contains "$stderr" "$WORK/mvm.toml:1: vcpus: expected an integer from 1 to 255, got $v"
	done
	check_toml 'vcpus = "2"'
	[ "$status" -eq 3 ]
	assert_contains "$stderr" "vcpus: expected an integer from 1 to 255, got a string"
	check_toml 'vcpus = 2.0'
	[ "$status" -eq 3 ]
	assert_contains "$stderr" "got a float"
}

@test "wrong types for strings and schema_version" {
	check_toml 'flake = 1'
	[ "$status" -eq 3 ]
	assert_contains "$stderr" "flake: expected a string, got an integer"
	check_toml 'profile = ["a"]'
	[ "$status" -eq 3 ]
	assert_contains "$stderr" "profile: expected a string, got an array"
	check_toml '[name]'
	[ "$status" -eq 3 ]
	assert_contains "$stderr" "name: expected a string, got a table"
	check_toml 'schema_version = "1"'
	[ "$status" -eq 3 ]
	assert_contains "$stderr" "schema_version: expected an integer, got a string"
	check_toml 'schema_version = 0'
	[ "$status" -eq 3 ]
}

@test "flake refs: empty and shell metacharacters are refused" {
	check_toml 'flake = ""'
	[ "$status" -eq 3 ]
	assert_contains "$stderr" "flake: expected a flake reference, but it is empty"
	for c in ';' '|' '&' '$' '(' ')' '`' '!' '<' '>'; do
		check_toml "flake = '.${c}x'"
		[ "$status" -eq 3 ] || { echo "flake with $c accepted"; return 1; }
		assert_contains "$stderr" "shell metacharacter"
	done
	check_toml 'flake = "a\nb"'
	[ "$status" -eq 3 ]
	assert_contains "$stderr" "it contains a newline"
	check_toml 'flake = "-I:x"'
	[ "$status" -eq 3 ]
	assert_contains "$stderr" "flake: expected a flake reference, but it starts with '-' (nix would take it for an option)"
}

@test "flake refs: relative resolve against the manifest directory, others kept" {
	mkdir -p "$WORK/proj/sub"
	printf 'flake = "./flakes/../nix"\n' >"$WORK/proj/sub/mvm.toml"
	run --separate-stderr "$MVMCTL" manifest check --json "$WORK/proj/sub"
	[ "$status" -eq 0 ]
	[ "$(json .manifest.flake_resolved)" = "$WORK/proj/sub/nix" ]
	printf 'flake = ".."\n' >"$WORK/proj/sub/mvm.toml"
	run --separate-stderr "$MVMCTL" manifest check --json "$WORK/proj/sub"
	[ "$(json .manifest.flake_resolved)" = "$WORK/proj" ]
	for ref in "/opt/flakes/x" "github:NixOS/nixpkgs/nixos-24.05" "path:./rel" "git+https://example.com/r?ref=main"; do
		printf 'flake = "%s"\n' "$ref" >"$WORK/proj/sub/mvm.toml"
		run --separate-stderr "$MVMCTL" manifest check --json "$WORK/proj/sub"
		[ "$status" -eq 0 ]
		assert_eq "$ref" "$(json .manifest.flake_resolved)"
	done
}

@test "profile and name follow their character rules" {
	for p in "a b" "x/y" 'p$' ""; do
		check_toml "profile = \"$p\""
		[ "$status" -eq 3 ] || { echo "profile '$p' accepted"; return 1; }
		assert_contains "$stderr" "profile: expected a profile name"
	done
	long=$(printf 'a%.0s' $(seq 64))
	for n in "-lead" "_lead" "Upper" "with space" "" "$long" "dot.ted"; do
		check_toml "name = \"$n\""
		[ "$status" -eq 3 ] || { echo "name '$n' accepted"; return 1; }
		assert_contains "$stderr" "name: expected 1-63 characters"
	done
	check_toml "name = \"${long:1}\""
	[ "$status" -eq 0 ]
}

@test "a TOML syntax error names file, line and column, exit 3" {
	printf 'vcpus = 2\nmem = "1G\n' >"$WORK/mvm.toml"
	run --separate-stderr "$MVMCTL" manifest check
	[ "$status" -eq 3 ]
	assert_contains "$stderr" "mvmctl: error: $WORK/mvm.toml:2:"
	assert_contains "$stderr" "invalid TOML"
	printf 'vcpus = 2\nvcpus = 3\n' >"$WORK/mvm.toml"
	run --separate-stderr "$MVMCTL" manifest check
	[ "$status" -eq 3 ]
	assert_contains "$stderr" "$WORK/mvm.toml:2:"
}

@test "errors are JSON on stderr with --json" {
	printf 'vcpus = 0\n' >"$WORK/mvm.toml"
	run --separate-stderr "$MVMCTL" manifest check --json
	[ "$status" -eq 3 ]
	[ -z "$output" ]
	[ "$(printf '%s' "$stderr" | jq -r .schema_version)" = 1 ]
	[ "$(printf '%s' "$stderr" | jq -r .error.code)" = invalid ]
	assert_contains "$(printf '%s' "$stderr" | jq -r .error.message)" "vcpus: expected an integer"
}

@test "unknown keys warn on stderr and suggest the nearest key" {
	printf 'vpcus = 4\nfoo_bar_baz = 1\n' >"$WORK/mvm.toml"
	run --separate-stderr "$MVMCTL" manifest check --json
	[ "$status" -eq 0 ]
	assert_contains "$stderr" "mvmctl: warning: $WORK/mvm.toml:1: unknown key 'vpcus' (did you mean 'vcpus'?)"
	assert_contains "$stderr" "unknown key 'foo_bar_baz' (ignored)"
	[ "$(json .manifest.vcpus)" = 2 ]
	[ "$(json '.warnings | length')" = 2 ]
}

@test "Mvmfile.toml is accepted with the same schema" {
	printf 'vcpus = 3\n' >"$WORK/Mvmfile.toml"
	run --separate-stderr "$MVMCTL" manifest check --json
	[ "$status" -eq 0 ]
	[ "$(json .manifest_path)" = "$WORK/Mvmfile.toml" ]
	[ "$(json .manifest.vcpus)" = 3 ]
}

@test "both files in one directory is an error word for word" {
	: >"$WORK/mvm.toml"
	: >"$WORK/Mvmfile.toml"
	run --separate-stderr "$MVMCTL" manifest check
	[ "$status" -eq 3 ]
	assert_eq "mvmctl: error: found both mvm.toml and Mvmfile.toml in $WORK; pick one" "$stderr"
	run --separate-stderr "$MVMCTL" manifest check "$WORK"
	[ "$status" -eq 3 ]
}

@test "walk-up finds the manifest from a nested directory" {
	: >"$WORK/mvm.toml"
	mkdir -p "$WORK/a/b/c"
	cd "$WORK/a/b/c"
	run --separate-stderr "$MVMCTL" locate-manifest
	[ "$status" -eq 0 ]
	assert_eq "$WORK/mvm.toml
$WORK" "$output"
	run --separate-stderr "$MVMCTL" locate-manifest --json
	[ "$(json .manifest_path)" = "$WORK/mvm.toml" ]
	[ "$(json .project_dir)" = "$WORK" ]
}

@test "walk-up takes the nearest manifest and skips directories named mvm.toml" {
	: >"$WORK/mvm.toml"
	mkdir -p "$WORK/a/mvm.toml" "$WORK/a/b"
	printf 'vcpus = 1\n' >"$WORK/a/b/Mvmfile.toml"
	cd "$WORK/a/b"
	run --separate-stderr "$MVMCTL" locate-manifest
	assert_eq "$WORK/a/b/Mvmfile.toml" "${lines[0]}"
	cd "$WORK/a"
	run --separate-stderr "$MVMCTL" locate-manifest
	assert_eq "$WORK/mvm.toml" "${lines[0]}"
}

@test "walk-up stops after the directory holding .git" {
	: >"$WORK/mvm.toml"
	mkdir -p "$WORK/repo/.git" "$WORK/repo/src"
	cd "$WORK/repo/src"
	run --separate-stderr "$MVMCTL" locate-manifest
	[ "$status" -eq 4 ]
	assert_contains "$stderr" "no mvm.toml or Mvmfile.toml found in $WORK/repo/src or any parent up to $WORK/repo (stopped at the repository root (.git))"
	assert_contains "$stderr" "hint: run 'mvmctl init'"
	: >"$WORK/repo/mvm.toml"
	run --separate-stderr "$MVMCTL" locate-manifest
	[ "$status" -eq 0 ]
	assert_eq "$WORK/repo/mvm.toml" "${lines[0]}"
}

@test "a .git file (worktree) is a boundary too" {
	: >"$WORK/mvm.toml"
	mkdir -p "$WORK/wt/x"
	echo "gitdir: /elsewhere" >"$WORK/wt/.git"
	cd "$WORK/wt/x"
	run --separate-stderr "$MVMCTL" locate-manifest
	[ "$status" -eq 4 ]
}

@test "walk-up never enters a ceiling directory" {
	: >"$WORK/mvm.toml"
	mkdir -p "$WORK/ceil/inner"
	cd "$WORK/ceil/inner"
	MVM_CEILING_DIRECTORIES="/nonexistent:$WORK/ceil" run --separate-stderr "$MVMCTL" locate-manifest
	[ "$status" -eq 4 ]
	assert_contains "$stderr" "stopped at a directory in MVM_CEILING_DIRECTORIES"
	MVM_CEILING_DIRECTORIES="$WORK/elsewhere" run --separate-stderr "$MVMCTL" locate-manifest
	[ "$status" -eq 0 ]
	assert_eq "$WORK/mvm.toml" "${lines[0]}"
}

@test "not found says where the walk started and stopped, exit 4" {
	run --separate-stderr "$MVMCTL" manifest check
	[ "$status" -eq 4 ]
	assert_contains "$stderr" "in $WORK or any parent up to $BATS_TEST_TMPDIR"
	assert_contains "$stderr" "hint: run 'mvmctl init' to create one, or pass the path"
}

@test "explicit file and directory paths; a directory does not walk up" {
	printf 'vcpus = 5\n' >"$WORK/custom.toml"
	run --separate-stderr "$MVMCTL" manifest check --json "$WORK/custom.toml"
	[ "$status" -eq 0 ]
	[ "$(json .manifest.vcpus)" = 5 ]
	: >"$WORK/mvm.toml"
	mkdir -p "$WORK/empty"
	run --separate-stderr "$MVMCTL" manifest check "$WORK/empty"
	[ "$status" -eq 4 ]
	assert_contains "$stderr" "no mvm.toml or Mvmfile.toml in directory '$WORK/empty'"
	run --separate-stderr "$MVMCTL" manifest check ./empty/..
	[ "$status" -eq 0 ]
	run --separate-stderr "$MVMCTL" manifest check "$WORK/missing/mvm.toml"
	[ "$status" -eq 4 ]
	assert_contains "$stderr" "manifest path '$WORK/missing/mvm.toml': No such file or directory"
}

@test "a symlinked manifest resolves to its canonical path" {
	mkdir -p "$WORK/real"
	: >"$WORK/real/mvm.toml"
	ln -s real "$WORK/link"
	run --separate-stderr "$MVMCTL" manifest check --json "$WORK/link/mvm.toml"
	[ "$status" -eq 0 ]
	[ "$(json .manifest_path)" = "$WORK/real/mvm.toml" ]
}
