#!/usr/bin/env bats
# The per-VM data disk and removing VMs, with real builds and real VMs (QEMU
# -M microvm under TCG): the fixture tests/fixtures/datadisk is built against
# the nixpkgs stand-in with `data_disk` in its mvm.toml; its one service
# appends "boot N" to /data/boots.log and prints the whole file on the
# console, so the console log says what survived a `down` and `up`.
bats_require_minimum_version 1.5.0
load build_helpers

setup_file() { build_setup_file; }

setup() {
	build_setup
	export MVM_ACCEL=tcg
	VM="d$$-$BATS_TEST_NUMBER"
	PROJ=$(fixture datadisk)
}

# Kills what the test's VMs left running, by the pids their records hold.
teardown() {
	local f pid
	for f in "$MVM_HOME"/vms/*/vm.json; do
		[ -e "$f" ] || continue
		for pid in $(jq -r '.shim_pid // empty, .vmm_pid // empty' "$f"); do
			kill -9 "$pid" 2>/dev/null || true
		done
	done
	[ -z "${UP_PID:-}" ] || kill -9 "$UP_PID" 2>/dev/null || true
}

rec() { jq -r "$2" "$MVM_HOME/vms/$1/vm.json"; }

# build_fixture [DATA_DISK]: builds $PROJ, with data_disk set to DATA_DISK when given.
build_fixture() {
	if [ -n "${1:-}" ]; then
		sed -i "s/^data_disk = .*/data_disk = \"$1\"/" "$PROJ/mvm.toml"
	fi
	run --separate-stderr "$MVMCTL" build "$PROJ"
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; return 1; }
}

# wait_console NAME TEXT [SECONDS]: waits (default 60 s) for TEXT in the VM's console log.
wait_console() {
	local i
	for ((i = 0; i < ${3:-60} * 10; i++)); do
		"$MVMCTL" logs "$1" 2>/dev/null | grep -qF -- "$2" && return 0
		sleep 0.1
	done
	echo "'$2' did not appear on the console of $1:" >&2
	"$MVMCTL" logs "$1" >&2
	return 1
}

# boot NAME: up -d, then waits for the boot counter to have printed its log.
boot() {
	run --separate-stderr "$MVMCTL" up "$PROJ" -d --name "$1"
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; return 1; }
	wait_console "$1" "boot-counter: done"
}

@test "the data disk survives down and up; a larger size asked later keeps the disk as it is" {
	build_fixture
	boot "$VM"
	run "$MVMCTL" logs "$VM"
	assert_contains "$output" "(mvm-data) mounted on /data"
	[ "$(grep -c 'boots.log: ' <<<"$output")" -eq 1 ]
	assert_contains "$output" "boots.log: boot 1"
	[ "$(rec "$VM" .data_disk)" = "$MVM_HOME/vms/$VM/data.ext4" ]
	[ "$(rec "$VM" .data_disk_mib)" = 64 ]
	run "$MVMCTL" down "$VM"
	[ "$status" -eq 0 ]

	# the manifest now asks for more: the VM keeps its 64 MiB disk and its data
	build_fixture 128M
	boot "$VM"
	run "$MVMCTL" logs "$VM"
	[ "$(grep -c 'boots.log: ' <<<"$output")" -eq 2 ]
	assert_contains "$output" "boots.log: boot 1"
	assert_contains "$output" "boots.log: boot 2"
	[ "$(rec "$VM" .data_disk_mib)" = 64 ]
	[ "$(stat -c %s "$MVM_HOME/vms/$VM/data.ext4")" -eq $((64 << 20)) ]
	run "$MVMCTL" info "$VM" --json
	[ "$(jq -r .vm.data_disk_mib <<<"$output")" = 64 ]

	# another name gets a disk of its own, of the size asked now
	boot "$VM-b"
	run "$MVMCTL" logs "$VM-b"
	[ "$(grep -c 'boots.log: ' <<<"$output")" -eq 1 ]
	[ "$(rec "$VM-b" .data_disk_mib)" = 128 ]
	run "$MVMCTL" down --all
	[ "$status" -eq 0 ]
}

@test "the data disk is a private, sparse ext4 file labelled mvm-data; without data_disk there is none" {
	build_fixture
	boot "$VM"
	local disk="$MVM_HOME/vms/$VM/data.ext4"
	assert_mode "$MVM_HOME/vms/$VM" 700
	assert_mode "$disk" 600
	[ "$(e2label "$disk")" = mvm-data ]
	[ "$(du -k "$disk" | cut -f1)" -lt $((64 * 1024 / 2)) ]
	# attached read-write, after the root disk
	[ "$(jq -c '.drives' "$MVM_HOME/vms/$VM/spec.json")" = "[{\"path\":\"$disk\",\"read_only\":false}]" ]
	# no half-made disk or temporary file is left beside it
	[ -z "$(find "$MVM_HOME/vms/$VM" -name '.data.ext4*')" ]
	run "$MVMCTL" down "$VM"
	[ "$status" -eq 0 ]

	build_fixture 0
	run --separate-stderr "$MVMCTL" up "$PROJ" -d --name "$VM-none"
	[ "$status" -eq 0 ]
	wait_console "$VM-none" "no data disk mounted on /data"
	[ ! -e "$MVM_HOME/vms/$VM-none/data.ext4" ]
	[ "$(rec "$VM-none" .data_disk_mib)" = 0 ]
	[ "$(rec "$VM-none" .data_disk)" = null ]
	run "$MVMCTL" down "$VM-none"
	[ "$status" -eq 0 ]
}

@test "a link planted as a VM's data disk is refused and its target untouched" {
	build_fixture
	run "$MVMCTL" up "$PROJ" -d --name "$VM"
	[ "$status" -eq 0 ]
	run "$MVMCTL" down "$VM"
	[ "$status" -eq 0 ]
	local disk="$MVM_HOME/vms/$VM/data.ext4" out="$BATS_TEST_TMPDIR/outside.img"
	head -c 4096 /dev/urandom >"$out"
	local before
	before=$(sha256sum <"$out")
	rm -f "$disk"
	ln -s "$out" "$disk"
	run --separate-stderr "$MVMCTL" up "$PROJ" -d --name "$VM"
	[ "$status" -eq 1 ]
	assert_contains "$stderr" "data disk '$disk' is not a regular file"
	assert_eq "$before" "$(sha256sum <"$out")"
	[ -L "$disk" ]
}

@test "a data disk that cannot be made leaves no file behind, and the next up makes it" {
	build_fixture
	local bin="$BATS_TEST_TMPDIR/bin"
	mkdir -p "$bin"
	printf '#!/bin/sh\necho "mkfs.ext4: no space left (test)" >&2\nexit 1\n' >"$bin/mkfs.ext4"
	chmod +x "$bin/mkfs.ext4"
	PATH="$bin:$PATH" run --separate-stderr "$MVMCTL" up "$PROJ" -d --name "$VM"
	[ "$status" -eq 1 ]
	assert_contains "$stderr" "VM '$VM': creating the data disk '$MVM_HOME/vms/$VM/data.ext4'"
	assert_contains "$stderr" "no space left (test)"
	[ ! -e "$MVM_HOME/vms/$VM" ]

	# killed while mkfs runs: a hidden temporary file at most, never data.ext4
	printf '#!/bin/sh\nkill -9 $PPID\nsleep 5\n' >"$bin/mkfs.ext4"
	PATH="$bin:$PATH" run "$MVMCTL" up "$PROJ" -d --name "$VM"
	[ "$status" -eq 137 ]
	[ ! -e "$MVM_HOME/vms/$VM/data.ext4" ]
	[ -n "$(find "$MVM_HOME/vms/$VM" -name '.data.ext4.tmp-*')" ]
	run "$MVMCTL" ls -a -q
	[ -z "$output" ]

	boot "$VM"
	[ -z "$(find "$MVM_HOME/vms/$VM" -name '.data.ext4.tmp-*')" ]
	run "$MVMCTL" logs "$VM"
	assert_contains "$output" "boots.log: boot 1"
	run "$MVMCTL" down "$VM"
	[ "$status" -eq 0 ]
}

@test "rm NAME refuses a running VM; rm -f stops and deletes it" {
	build_fixture
	boot "$VM"
	local shim qemu
	shim=$(rec "$VM" .shim_pid)
	qemu=$(rec "$VM" .vmm_pid)
	run --separate-stderr "$MVMCTL" rm "$VM"
	[ "$status" -eq 5 ]
	assert_contains "$stderr" "error: VM '$VM' is running"
	assert_contains "$stderr" "hint: mvmctl down $VM"
	[ "$(rec "$VM" .state)" = running ]
	[ -f "$MVM_HOME/vms/$VM/data.ext4" ]
	run --separate-stderr "$MVMCTL" rm "$VM" --json
	[ "$status" -eq 5 ]
	[ "$(jq -r .error.code <<<"$stderr")" = refused ]

	run --separate-stderr "$MVMCTL" rm -f "$VM"
	[ "$status" -eq 0 ]
	[ "$output" = "$VM" ]
	gone "$qemu"
	gone "$shim"
	[ ! -e "$MVM_HOME/vms/$VM" ]
	# nothing left under another name either
	[ -z "$(ls -A "$MVM_HOME/vms")" ]
	run "$MVMCTL" ls -a -q
	[ -z "$output" ]
	# the name starts afresh: a new, empty data disk
	boot "$VM"
	run "$MVMCTL" logs "$VM"
	[ "$(grep -c 'boots.log: ' <<<"$output")" -eq 1 ]
	run --separate-stderr "$MVMCTL" rm --force "$VM" --json
	[ "$status" -eq 0 ]
	[ "$(jq -r .vm <<<"$output")" = "$VM" ]
	[ "$(jq -r .removed <<<"$output")" = true ]
	[ "$(jq -r .was_running <<<"$output")" = true ]
	[ "$(jq -r .schema_version <<<"$output")" = 1 ]
}

@test "down leaves an exited VM that ls -a shows; rm NAME deletes it with its data disk" {
	build_fixture
	boot "$VM"
	run "$MVMCTL" down "$VM"
	[ "$status" -eq 0 ]
	run "$MVMCTL" ls -a -q
	[ "$output" = "$VM" ]
	[ -f "$MVM_HOME/vms/$VM/data.ext4" ]
	run --separate-stderr "$MVMCTL" rm "$VM" --manifest-file
	[ "$status" -eq 2 ]
	[ -d "$MVM_HOME/vms/$VM" ]
	run --separate-stderr "$MVMCTL" rm "$VM"
	[ "$status" -eq 0 ]
	[ "$output" = "$VM" ]
	[ ! -e "$MVM_HOME/vms/$VM" ]
	[ -z "$(ls -A "$MVM_HOME/vms")" ]
	run "$MVMCTL" ls -a -q
	[ -z "$output" ]
	run --separate-stderr "$MVMCTL" info "$VM"
	[ "$status" -eq 4 ]
	# the built slot is untouched: rm NAME removes the VM, not the manifest's build
	run --separate-stderr "$MVMCTL" manifest info "$PROJ" --json
	[ "$status" -eq 0 ]
}

@test "rm of a name that is neither a VM nor a manifest: not found, and a success with --force" {
	run --separate-stderr "$MVMCTL" rm nosuchvm
	[ "$status" -eq 4 ]
	assert_contains "$stderr" "'nosuchvm' is not a manifest file or project directory"
	run --separate-stderr "$MVMCTL" rm -f nosuchvm
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	# a hidden leftover of an interrupted removal is not a VM
	mkdir -p "$MVM_HOME/vms/.rm-x-0001"
	echo '{}' >"$MVM_HOME/vms/.rm-x-0001/vm.json"
	run --separate-stderr "$MVMCTL" rm .rm-x-0001
	[ "$status" -ne 0 ]
	[ -d "$MVM_HOME/vms/.rm-x-0001" ]
}
