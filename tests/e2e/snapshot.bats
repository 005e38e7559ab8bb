#!/usr/bin/env bats
# Snapshots, for real: `build --snapshot` boots the fixture's revision in
# snapshot mode and saves it (QEMU 7.2 under TCG, guest RAM in a file,
# device state with x-ignore-shared); `up` restores it when everything it
# depends on matches, gives each restored VM its own identity (hostname,
# random seed, clock) and data disk, and otherwise cold-boots with a warning.
#
# One snapshot build per file (setup_file); tests that damage it work on a
# copy of the whole MVM_HOME.
bats_require_minimum_version 1.5.0
load build_helpers

setup_file() {
	file_home_setup
	export PROJ="$BATS_FILE_TMPDIR/datadisk"
	cp -r "$MVM_SRC/tests/fixtures/datadisk" "$PROJ"
	"$MVMCTL" build --snapshot --json "$PROJ" >"$BATS_FILE_TMPDIR/build.json" || return 1
	REV=$(readlink -f "$MVM_HOME/templates/$(slot_of "$PROJ/mvm.toml")/current")
	export REV
}

setup() {
	export MVM_CEILING_DIRECTORIES="$BATS_FILE_TMPDIR"
	cd "$BATS_TEST_TMPDIR" || return 1
}

teardown() {
	"$MVMCTL" down --all >/dev/null 2>&1 || true
	[ -z "${OTHER_HOME:-}" ] || MVM_HOME="$OTHER_HOME" "$MVMCTL" down --all >/dev/null 2>&1 || true
}

# up_json NAME [ARGS...]: up -d --json; sets $output (JSON) and $stderr.
up_json() {
	local name=$1
	shift
	run --separate-stderr "$MVMCTL" up "$PROJ" -d --json --name "$name" "$@"
	[ "$status" -eq 0 ] || { echo "up failed: $stderr" >&2; return 1; }
}

@test "build --snapshot saves the revision's snapshot and records it" {
	local j
	j=$(cat "$BATS_FILE_TMPDIR/build.json")
	[ "$(jq -r .snapshot.requested <<<"$j")" = true ]
	[ "$(jq -r .snapshot.created <<<"$j")" = true ]
	[ "$(jq -r .snapshot.size_bytes <<<"$j")" -gt 0 ]
	[ -f "$REV/snapshot/vmstate" ] && [ -f "$REV/snapshot/mem" ] && [ -f "$REV/snapshot/meta.json" ]
	assert_mode "$REV/snapshot/vmstate" 600
	local m="$REV/snapshot/meta.json"
	[ "$(jq -r .backend "$m")" = qemu ]
	[ "$(jq -r .machine "$m")" = microvm ]
	[ "$(jq -r .accel "$m")" = tcg ]
	[ "$(jq -r .vcpus "$m")" = 1 ]
	[ "$(jq -r .mem_mib "$m")" = 256 ]
	[ "$(jq -r .data_disk_mib "$m")" = 64 ]
	[ "$(jq -r '.devices | join(",")' "$m")" = "blk:root,blk:secrets,blk:data,serial:agent,net:user" ]
	assert_contains "$(jq -r .vmm_version "$m")" "QEMU 7"
	[ "$(jq -r .kernel_sha256 "$m")" = "$(jq -r '.files.vmlinux.sha256' "$REV/checksums.json")" ]
	[ "$(jq -r .save_ms "$m")" -ge 0 ]
	# the save takes a few ms: it is also recorded to the microsecond, an integer
	jq -e '.save_us | type == "number" and . == floor and . > 0' "$m"
	[ "$(jq -r .snapshot.save_us <<<"$j")" = "$(jq -r .save_us "$m")" ]
	[ "$(jq -r .save_ms "$m")" -eq $((($(jq -r .save_us "$m") + 500) / 1000)) ]
	# the RAM file is sparse: only what the guest touched is allocated
	[ "$(stat -c %s "$REV/snapshot/mem")" -eq $((256 << 20)) ]
	[ "$(($(stat -c %b "$REV/snapshot/mem") * 512))" -lt $((256 << 20)) ]
	[ "$(jq -r '.snapshot.vcpus' "$REV/revision.json")" = 1 ]
	for f in snapshot/vmstate snapshot/mem snapshot/meta.json; do
		[ "$(jq -r --arg f "$f" '.files[$f].sha256' "$REV/checksums.json")" != null ]
	done
	run "$MVMCTL" manifest verify "$PROJ"
	[ "$status" -eq 0 ]
	# a second build keeps it
	run --separate-stderr "$MVMCTL" build --snapshot --json "$PROJ"
	[ "$status" -eq 0 ]
	[ "$(jq -r .snapshot.reused <<<"$output")" = true ]
	[ "$(jq -r .snapshot.save_us <<<"$output")" = "$(jq -r .save_us "$m")" ]
	run --separate-stderr "$MVMCTL" build --snapshot "$PROJ"
	[ "$status" -eq 0 ]
	[[ $stderr =~ snapshot\ up\ to\ date:\ [0-9.]+\ MiB,\ saved\ in\ [0-9]+\.[0-9]\ ms ]]
}

@test "up restores the snapshot; each restored VM has its own name, randomness and data disk" {
	up_json one
	[ "$(jq -r .started_from <<<"$output")" = snapshot ]
	assert_contains "$stderr" "restored from the snapshot"
	up_json two
	[ "$(jq -r .started_from <<<"$output")" = snapshot ]
	[ "$(jq -r .started_from "$MVM_HOME/vms/one/vm.json")" = snapshot ]
	run "$MVMCTL" exec one -- hostname
	[ "$output" = one ]
	run "$MVMCTL" exec two -- hostname
	[ "$output" = two ]
	local r1 r2
	r1=$("$MVMCTL" exec one -- sh -c 'head -c 32 /dev/urandom | od -An -tx1 | tr -d " \n"')
	r2=$("$MVMCTL" exec two -- sh -c 'head -c 32 /dev/urandom | od -An -tx1 | tr -d " \n"')
	[ "${#r1}" -eq 64 ]
	[ "$r1" != "$r2" ]
	# the guest clock was set from the host's at restore
	local g h
	g=$("$MVMCTL" exec one -- date +%s)
	h=$(date +%s)
	[ $((g - h)) -le 30 ] && [ $((h - g)) -le 30 ]
	# data disks: each VM's own, mounted after the restore
	"$MVMCTL" exec one -- sh -c 'echo mine > /data/owner'
	run "$MVMCTL" exec two -- sh -c 'cat /data/owner 2>/dev/null || echo none'
	[ "$output" = none ]
	"$MVMCTL" down one
	up_json one
	[ "$(jq -r .started_from <<<"$output")" = snapshot ]
	run "$MVMCTL" exec one -- cat /data/owner
	[ "$output" = mine ]
	# restoring changed nothing of the snapshot
	"$MVMCTL" down --all
	run "$MVMCTL" manifest verify "$PROJ"
	[ "$status" -eq 0 ]
}

@test "other sizing than the snapshot's: a warning naming it, and a cold boot at the new size" {
	up_json big --mem 384M
	[ "$(jq -r .started_from <<<"$output")" = cold ]
	assert_contains "$stderr" "snapshot taken at vcpus=1 mem=256M data_disk=64M; starting with vcpus=1 mem=384M data_disk=64M: cold boot"
	local kb
	kb=$("$MVMCTL" exec big -- awk '/MemTotal/ {print $2}' /proc/meminfo)
	[ "$kb" -gt $((300 * 1024)) ]
	run "$MVMCTL" exec big -- hostname
	[ "$output" = big ]
}

@test "a snapshot made for another backend is not used: warning and cold boot" {
	export OTHER_HOME="$BATS_TEST_TMPDIR/home"
	cp -a "$MVM_HOME" "$OTHER_HOME"
	local rev
	rev=$(readlink -f "$OTHER_HOME/templates/$(slot_of "$PROJ/mvm.toml")/current")
	jq '.backend = "firecracker"' "$rev/snapshot/meta.json" >"$BATS_TEST_TMPDIR/m" &&
		cat "$BATS_TEST_TMPDIR/m" >"$rev/snapshot/meta.json"
	MVM_HOME="$OTHER_HOME" up_json fc
	[ "$(jq -r .started_from <<<"$output")" = cold ]
	assert_contains "$stderr" "snapshot taken with the firecracker backend; starting with qemu: cold boot"
}

@test "a corrupted snapshot: verify fails, and up falls back to a cold boot with a warning" {
	export OTHER_HOME="$BATS_TEST_TMPDIR/home"
	cp -a "$MVM_HOME" "$OTHER_HOME"
	local rev
	rev=$(readlink -f "$OTHER_HOME/templates/$(slot_of "$PROJ/mvm.toml")/current")
	printf 'XXXX' | dd of="$rev/snapshot/vmstate" bs=1 seek=100 conv=notrunc 2>/dev/null
	run --separate-stderr env MVM_HOME="$OTHER_HOME" "$MVMCTL" manifest verify "$PROJ"
	[ "$status" -ne 0 ]
	assert_contains "$output$stderr" "snapshot/vmstate"
	MVM_HOME="$OTHER_HOME" up_json broken
	[ "$(jq -r .started_from <<<"$output")" = cold ]
	assert_contains "$stderr" "snapshot/vmstate does not match its checksum"
	assert_contains "$stderr" "cold boot"
	run env MVM_HOME="$OTHER_HOME" "$MVMCTL" exec broken -- hostname
	[ "$output" = broken ]
}

@test "a restore that QEMU cannot load falls back to a cold boot with a warning" {
	export OTHER_HOME="$BATS_TEST_TMPDIR/home"
	cp -a "$MVM_HOME" "$OTHER_HOME"
	local rev
	rev=$(readlink -f "$OTHER_HOME/templates/$(slot_of "$PROJ/mvm.toml")/current")
	# a state file QEMU rejects, recorded as if it were the real one
	head -c 4096 /dev/zero >"$rev/snapshot/vmstate"
	jq --arg h "$(sha256sum <"$rev/snapshot/vmstate" | cut -d' ' -f1)" \
		'.files["snapshot/vmstate"] = {sha256: $h, size: 4096}' "$rev/checksums.json" >"$BATS_TEST_TMPDIR/c" &&
		cat "$BATS_TEST_TMPDIR/c" >"$rev/checksums.json"
	MVM_HOME="$OTHER_HOME" up_json fallback
	[ "$(jq -r .started_from <<<"$output")" = cold ]
	assert_contains "$stderr" "restoring the snapshot failed"
	[ "$(jq -r .restore_error "$OTHER_HOME/vms/fallback/vm.json")" != null ]
	run env MVM_HOME="$OTHER_HOME" "$MVMCTL" exec fallback -- hostname
	[ "$output" = fallback ]
}

@test "QEMU's version is asked once, and again only when its binary changes" {
	export OTHER_HOME="$BATS_TEST_TMPDIR/home"
	cp -a "$MVM_HOME" "$OTHER_HOME"
	rm -f "$OTHER_HOME/qemu-version.json"
	local bin="$BATS_TEST_TMPDIR/bin" runs="$BATS_TEST_TMPDIR/version-runs" real
	real=$(command -v qemu-system-x86_64)
	mkdir -p "$bin"
	# a QEMU that counts its --version runs
	printf '#!/bin/sh\n[ "$1" != --version ] || echo >>"%s"\nexec "%s" "$@"\n' "$runs" "$real" \
		>"$bin/qemu-system-x86_64"
	chmod +x "$bin/qemu-system-x86_64"
	export MVM_QEMU="$bin/qemu-system-x86_64" MVM_HOME="$OTHER_HOME"
	# every up of a snapshot compares QEMU's version with the snapshot's
	up_json v1
	[ "$(jq -r .started_from <<<"$output")" = snapshot ]
	"$MVMCTL" down -q v1
	up_json v2
	[ "$(jq -r .started_from <<<"$output")" = snapshot ]
	"$MVMCTL" down -q v2
	[ "$(wc -l <"$runs")" -eq 1 ]
	local cache="$OTHER_HOME/qemu-version.json"
	assert_mode "$cache" 600
	[ "$(jq -r .binary.path "$cache")" = "$(realpath "$MVM_QEMU")" ]
	assert_contains "$(jq -r .version "$cache")" "QEMU 7"
	# a new mtime (an upgrade, say): asked again
	touch "$MVM_QEMU"
	up_json v3
	"$MVMCTL" down -q v3
	[ "$(wc -l <"$runs")" -eq 2 ]
	# a damaged cache file: asked again, and rewritten
	echo '{"binary": ' >"$cache"
	up_json v4
	[ "$(jq -r .started_from <<<"$output")" = snapshot ]
	"$MVMCTL" down -q v4
	[ "$(wc -l <"$runs")" -eq 3 ]
	assert_contains "$(jq -r .version "$cache")" "QEMU 7"
}

@test "run restores too, and leaves no trace" {
	run --separate-stderr "$MVMCTL" run "$PROJ" -- sh -c 'hostname; test -d /data && echo data'
	[ "$status" -eq 0 ]
	assert_contains "$output" "datadisk-"
	assert_contains "$output" "data"
	! ls -A "$MVM_HOME/vms" | grep -q '^datadisk-'
	! grep -q "cold boot" <<<"$stderr"
}
