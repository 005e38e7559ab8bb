#!/usr/bin/env bats
# Shell completion (issue 19): `mvmctl completion bash|zsh|fish` from the command table.
# bash is driven as bash itself calls a completion function (complete -p, COMP_WORDS,
# COMP_CWORD, COMPREPLY); zsh through its real completion system in a pseudo-terminal;
# fish with `complete -C`. Names come from the state: a real VM booted under TCG, a
# tenant, a pool and an instance made by mvm's own writers.
bats_require_minimum_version 1.5.0
load helpers
load boot_helpers

setup_file() {
	export MVM_HOME="$BATS_FILE_TMPDIR/prov"
	kernel_provision || return 1
	ART="$BATS_FILE_TMPDIR/art"
	mkdir -p "$ART"
	cp "$KERNEL_VMLINUX" "$ART/vmlinux"
	cp "$KERNEL_INITRD" "$ART/initrd.img"
	busybox_rootfs "$BATS_FILE_TMPDIR/root"
	mkimage "$BATS_FILE_TMPDIR/root" "$ART/rootfs.ext4"
	export ART
	"$MVMCTL" completion bash >"$BATS_FILE_TMPDIR/mvmctl.bash"
	mkdir -p "$BATS_FILE_TMPDIR/zsh"
	"$MVMCTL" completion zsh >"$BATS_FILE_TMPDIR/zsh/_mvmctl"
	"$MVMCTL" completion fish >"$BATS_FILE_TMPDIR/mvmctl.fish"
}

setup() {
	common_setup
	export MVM_ACCEL=tcg
	export PATH="$MVM_BUILD:$PATH" # the scripts call mvmctl __complete
	VM="c$$-$BATS_TEST_NUMBER"
}

teardown() {
	local f pid
	for f in "$MVM_HOME"/vms/*/vm.json; do
		[ -e "$f" ] || continue
		for pid in $(jq -r '.shim_pid // empty, .vmm_pid // empty' "$f"); do
			kill -9 "$pid" 2>/dev/null || true
		done
	done
}

# comp WORD...: runs the function `complete -p mvmctl` names as bash would with the
# cursor on the last WORD (give '' for an empty one); COMPREPLY, one per line, in $output.
# The script is sourced once per test; no process is started but what the script starts.
comp() {
	if [ -z "${COMP_FN:-}" ]; then
		# shellcheck disable=SC1090
		source "$BATS_FILE_TMPDIR/mvmctl.bash"
		local spec
		spec=$(complete -p mvmctl)
		COMP_FN=${spec#*-F }
		COMP_FN=${COMP_FN%% *}
		[ -n "$COMP_FN" ] && [ "$COMP_FN" != "$spec" ]
	fi
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	"$COMP_FN" mvmctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]:-}" 2>/dev/null
	printf -v output '%s\n' "${COMPREPLY[@]}"
	output=${output%$'\n'}
}

# has WORD: a line of $output is WORD
has() { [[ $'\n'$output$'\n' == *$'\n'"$1"$'\n'* ]] || { printf 'no %s in:\n%s\n' "$1" "$output" >&2 && return 1; }; }
hasnt() { [[ $'\n'$output$'\n' != *$'\n'"$1"$'\n'* ]] || { printf '%s in:\n%s\n' "$1" "$output" >&2 && return 1; }; }

@test "bash: the script registers one function for mvmctl and mvm" {
	source "$BATS_FILE_TMPDIR/mvmctl.bash"
	run complete -p mvmctl
	[ "$status" -eq 0 ]
	assert_eq "complete -F _mvmctl mvmctl" "$output"
	run complete -p mvm
	assert_eq "complete -F _mvmctl mvm" "$output"
	bash -n "$BATS_FILE_TMPDIR/mvmctl.bash"
}

@test "bash: command paths, a word at a time; hidden commands are not offered" {
	comp mvmctl ''
	has up
	has pool
	has completion
	has locate-manifest
	hasnt shim
	hasnt netproxy
	hasnt __complete
	comp mvmctl po
	assert_eq pool "$output"
	comp mvmctl pool ''
	has scale
	has rollback
	comp mvmctl tenant secrets ''
	assert_eq set "$output"
	# global flags before the command do not get in the way
	comp mvmctl -v --json pool sc
	assert_eq scale "$output"
	# help completes command paths too
	comp mvmctl help pool s
	assert_eq scale "$output"
	comp mvmctl completion ''
	assert_eq "$(printf 'bash\nzsh\nfish')" "$output"
}

@test "bash: options, and what their values are (file, directory, size, choice)" {
	comp mvmctl up --
	has --mem
	has --env-file
	has --vcpus
	has --json
	has --help
	hasnt --cpus # an alias is accepted, not offered
	comp mvmctl up -
	has -d
	has -p
	comp mvmctl up --m
	assert_eq --mem "$output"
	comp mvmctl up --mem ''
	has 512M
	has 1G
	# bash splits --mem=1 at '='
	comp mvmctl up --mem = 4
	assert_eq 4G "$output"
	comp mvmctl up --network ''
	assert_eq "$(printf 'nat\nisolated\nnone')" "$output"
	comp mvmctl init --preset p
	has python
	has postgres
	# a FILE option completes files; a DIR argument directories only
	mkdir "$WORK/sub"
	touch "$WORK/vars.env"
	comp mvmctl up --env-file "$WORK/va"
	assert_eq "$WORK/vars.env" "$output"
	comp mvmctl init "$WORK/"
	assert_eq "$WORK/sub" "$output"
	comp mvmctl tenant secrets set acme --from-file "$WORK/v"
	assert_eq "$WORK/vars.env" "$output"
	# exec -w is the guest's directory: nothing from the host
	comp mvmctl exec web -w "$WORK/"
	[ -z "$output" ]
	# the option's value is skipped: the next word is an argument again
	comp mvmctl up --mem 1G -
	has --name
	# --override-input takes two words
	comp mvmctl build --override-input nixpkgs path:/x --f
	assert_eq --force "$output"
}

@test "bash: VM names from the state, running ones for exec and down" {
	comp mvmctl logs ''
	[ -z "$output" ]
	run --separate-stderr "$MVMCTL" up "$ART" -d --name "$VM"
	[ "$status" -eq 0 ]
	local c
	for c in exec down logs info rm; do
		comp mvmctl "$c" ''
		has "$VM"
	done
	comp mvmctl logs "${VM:0:3}"
	assert_eq "$VM" "$output"
	comp mvmctl down -f "${VM:0:3}"
	assert_eq "$VM" "$output"
	run --separate-stderr "$MVMCTL" down "$VM"
	[ "$status" -eq 0 ]
	# exited: still a VM for logs, info and rm, no longer for exec and down
	comp mvmctl logs ''
	has "$VM"
	comp mvmctl rm ''
	has "$VM"
	comp mvmctl exec ''
	hasnt "$VM"
	comp mvmctl down ''
	hasnt "$VM"
	# after -- comes the guest's command line: nothing of mvmctl's
	comp mvmctl exec "$VM" -- ''
	hasnt "$VM"
	hasnt --json
}

@test "bash: tenants, <tenant>/<pool> and instance addresses" {
	mkdir -p "$WORK/flake"
	"$MVMCTL" tenant create acme >/dev/null 2>&1
	"$MVMCTL" tenant create beta >/dev/null 2>&1
	"$MVMCTL" pool create acme/web --flake "$WORK/flake" --profile default >/dev/null 2>&1
	local ref
	ref=$("$MVM_BUILD/tests/instance-new" acme/web)
	[[ $ref == acme/web/i-* ]]
	comp mvmctl tenant info ''
	assert_eq "$(printf 'acme\nbeta')" "$output"
	comp mvmctl tenant secrets set a
	assert_eq acme "$output"
	comp mvmctl pool scale ''
	assert_eq acme/web "$output"
	comp mvmctl pool ls ''
	has acme
	comp mvmctl instance start ''
	assert_eq "$ref" "$output"
	comp mvmctl instance exec acme/web/
	assert_eq "$ref" "$output"
	comp mvmctl instance ls ''
	has acme
	has acme/web
	# the same from the command itself
	run --separate-stderr "$MVMCTL" __complete instances
	assert_eq "$ref" "$output"
	run --separate-stderr "$MVMCTL" __complete pools
	assert_eq acme/web "$output"
}

@test "bash: slot ids of built manifests for manifest info, rm and verify" {
	# a real offline build (the stand-in nixpkgs), as tests/e2e/build.bats makes one
	"$MVM_SRC/scripts/standin-nixpkgs.sh" "$BATS_TEST_TMPDIR/standin" >/dev/null
	export MVM_OFFLINE=1 MVM_OVERRIDE_INPUTS="nixpkgs=path:$BATS_TEST_TMPDIR/standin"
	mkdir -p "$MVM_HOME" && chmod 700 "$MVM_HOME"
	cp -al "$BATS_FILE_TMPDIR/prov/kernels" "$MVM_HOME/kernels"
	cp -r "$MVM_SRC/tests/fixtures/hello" "$WORK/hello"
	run --separate-stderr "$MVMCTL" build "$WORK/hello"
	[ "$status" -eq 0 ]
	local slot
	slot=$(printf %s "$(realpath "$WORK/hello/mvm.toml")" | sha256sum | cut -d' ' -f1)
	local c
	for c in info rm verify; do
		comp mvmctl manifest "$c" ''
		has "$slot"
	done
	comp mvmctl manifest info "${slot:0:6}"
	assert_eq "$slot" "$output"
	# PATH is a file too
	comp mvmctl manifest info "$WORK/hel"
	assert_eq "$WORK/hello" "$output"
}

@test "the table walk: every option of every command path is in each shell's script" {
	local p long short kind
	local -a w paths
	local -A zsh_has fish_has
	mapfile -t paths < <("$MVMCTL" __complete paths)
	[ "${#paths[@]}" -ge 40 ]
	# one zsh and one fish for the whole table: "PATH|OPTION" for every option each offers
	while IFS= read -r p; do zsh_has[$p]=1; done < <(zsh -fc 'source "$1" 2>/dev/null; shift
		for p in "$@"; do _mvmctl_options "$p"; for o in ${reply%%:*}; do print -r -- "$p|$o"; done; done' \
		_ "$BATS_FILE_TMPDIR/zsh/_mvmctl" "${paths[@]}")
	while IFS= read -r p; do fish_has[$p]=1; done < <(fish -c 'source $argv[1]
		for p in $argv[2..-1]; for l in (complete -C"mvmctl $p -"); echo "$p|"(string split -f1 \t -- $l); end; end' \
		"$BATS_FILE_TMPDIR/mvmctl.fish" "${paths[@]}")
	for p in "${paths[@]}"; do
		# shellcheck disable=SC2206
		w=($p)
		comp mvmctl "${w[@]}" -
		# shellcheck disable=SC2086
		while IFS='|' read -r long short kind; do
			has "$long"
			[ -z "$short" ] || has "$short"
			[ -n "${zsh_has[$p|$long]:-}" ] || { echo "zsh does not offer $long for '$p'" >&2 && return 1; }
			[ -n "${fish_has[$p|$long]:-}" ] || { echo "fish does not offer $long for '$p'" >&2 && return 1; }
		done < <("$MVMCTL" __complete options $p)
	done
}

@test "bash, the table walk: every command path a word at a time, every option's value as the table says" {
	mkdir "$WORK/adir"
	touch "$WORK/afile"
	cd "$WORK"
	local p long short kind o n=0
	local -a w
	while IFS= read -r p; do
		# shellcheck disable=SC2206
		w=($p)
		comp mvmctl "${w[@]:0:${#w[@]}-1}" ''
		has "${w[-1]}"
		comp mvmctl "${w[@]}" ''
		local args=$output
		# shellcheck disable=SC2086
		while IFS='|' read -r long short kind; do
			for o in $long $short; do
				comp mvmctl "${w[@]}" "$o" ''
				case $kind in
				size) has 512M && has 1G ;;
				file) has afile && has adir ;;
				dir) has adir && hasnt afile ;;
				choice) [ -n "$output" ] && hasnt afile ;;
				'') assert_eq "$args" "$output" ;; # a flag: then come the arguments
				*) [ -z "$output" ] ;; # free text, a number, a pair: nothing
				esac
				n=$((n + 1))
			done
		done < <("$MVMCTL" __complete options $p)
	done < <("$MVMCTL" __complete paths)
	[ "$n" -ge 100 ]
}

@test "zsh: the script parses, and zsh's completion system offers commands, options, values and VMs" {
	command -v zsh >/dev/null || { echo "zsh is missing: run scripts/install-deps.sh" >&2 && return 1; }
	zsh -n "$BATS_FILE_TMPDIR/zsh/_mvmctl"
	head -1 "$BATS_FILE_TMPDIR/zsh/_mvmctl" | grep -qx '#compdef mvmctl mvm'
	local z="$BATS_TEST_DIRNAME/zsh_complete.zsh" d="$BATS_FILE_TMPDIR/zsh"
	run timeout 30 zsh -f "$z" "$d" "mvmctl pool "
	assert_contains "$output" "scale"
	assert_contains "$output" "Set how many instances run" # the summary as description
	run timeout 30 zsh -f "$z" "$d" "mvmctl up --network "
	assert_contains "$output" "isolated"
	run timeout 30 zsh -f "$z" "$d" "mvm up --mem "
	assert_contains "$output" "512M"
	run --separate-stderr "$MVMCTL" up "$ART" -d --name "$VM"
	[ "$status" -eq 0 ]
	run timeout 30 zsh -f "$z" "$d" "mvmctl logs "
	assert_contains "$output" "$VM"
}

@test "fish: the script parses, and complete -C offers commands, options, values and VMs" {
	command -v fish >/dev/null || { echo "fish is missing: run scripts/install-deps.sh" >&2 && return 1; }
	local f="$BATS_FILE_TMPDIR/mvmctl.fish"
	fish -n "$f"
	run fish -c 'source $argv[1]; complete -C"mvmctl pool sc"' "$f"
	assert_eq "scale	Set how many instances run, stay warm and sleep, and converge to it." "$output"
	run fish -c 'source $argv[1]; complete -C"mvm tenant secrets "' "$f"
	assert_contains "$output" "set"
	run fish -c 'source $argv[1]; complete -C"mvmctl up --network "' "$f"
	assert_contains "$output" "isolated"
	run fish -c 'source $argv[1]; complete -C"mvmctl up --mem "' "$f"
	assert_contains "$output" "512M"
	touch "$WORK/vars.env"
	run fish -c 'source $argv[1]; complete -C"mvmctl up --env-file $argv[2]/va"' "$f" "$WORK"
	assert_contains "$output" "$WORK/vars.env"
	run --separate-stderr "$MVMCTL" up "$ART" -d --name "$VM"
	[ "$status" -eq 0 ]
	run fish -c 'source $argv[1]; complete -C"mvmctl exec "' "$f"
	assert_contains "$output" "$VM"
	run fish -c 'source $argv[1]; complete -C"mvmctl exec x -- "' "$f"
	[[ $output != *"$VM"* ]]
}

@test "completion: an unknown shell is a usage error naming the valid ones" {
	run --separate-stderr "$MVMCTL" completion tcsh
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "mvmctl: error: unknown shell 'tcsh' (bash, zsh or fish)"
	run --separate-stderr "$MVMCTL" completion
	[ "$status" -eq 2 ]
	run --separate-stderr "$MVMCTL" __complete nosuch
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "unknown kind 'nosuch'"
	# help and the man page come from the same entry
	run --separate-stderr "$MVMCTL" completion --help
	[ "$status" -eq 0 ]
	assert_contains "$output" "usage: mvmctl completion bash|zsh|fish"
	assert_contains "$output" "source <(mvmctl completion bash)"
}

@test "__complete reads without repairing: a VM whose supervisor died stays as recorded until ls" {
	run --separate-stderr "$MVMCTL" up "$ART" -d --name "$VM"
	[ "$status" -eq 0 ]
	local rec="$MVM_HOME/vms/$VM/vm.json" before
	kill -9 "$(jq -r .shim_pid "$rec")" "$(jq -r .vmm_pid "$rec")"
	gone "$(jq -r .vmm_pid "$rec")"
	before=$(cat "$rec")
	run --separate-stderr "$MVMCTL" __complete running
	assert_eq "$VM" "$output"
	assert_eq "$before" "$(cat "$rec")"
	# ls repairs the record; from then on it is no longer running
	"$MVMCTL" ls -a >/dev/null
	[ "$(jq -r .state "$rec")" = exited ]
	run --separate-stderr "$MVMCTL" __complete running
	[ -z "$output" ]
	run --separate-stderr "$MVMCTL" __complete vms
	assert_eq "$VM" "$output"
}
