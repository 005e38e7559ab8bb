#!/usr/bin/env bats
# mvmctl build: real nix (offline, against the stand-in nixpkgs), real ext4
# images, the content-addressed registry, drift and --update-hash.
bats_require_minimum_version 1.5.0
load build_helpers

setup_file() { build_setup_file; }
setup() { build_setup; }

json() { printf '%s' "$output" | jq -r "$1"; }

@test "build registers a complete revision at the slot the seed defines" {
	proj=$(fixture hello)
	# whatever the umask: files 0600, directories 0700
	umask 000
	run --separate-stderr "$MVMCTL" build "$proj"
	[ "$status" -eq 0 ]
	slot=$(slot_of "$proj/mvm.toml")
	sdir="$MVM_HOME/templates/$slot"
	[ -f "$sdir/manifest.json" ]
	link=$(readlink "$sdir/current")
	[[ "$link" =~ ^artifacts/revisions/[0-9a-f]{64}$ ]]
	rev=${link##*/}
	rdir="$sdir/$link"
	for f in rootfs.ext4 vmlinux initrd.img revision.json checksums.json provenance.json; do
		[ -s "$rdir/$f" ] || { echo "missing $f"; return 1; }
		assert_mode "$rdir/$f" 600
	done
	# each file is the revision's own: none is a hard link to the kernel
	# cache or the Nix store, whose file would have been made 0600 too
	assert_eq "" "$(find "$rdir" -type f -links +1)"
	assert_mode "$MVM_HOME" 700
	assert_eq "" "$(find "$MVM_HOME" \( -type f -perm /077 \) -o \( -type d -perm /077 \))"
	assert_mode "$sdir" 700
	assert_mode "$sdir/manifest.json" 600
	# the records
	m="$sdir/manifest.json"
	[ "$(jq -r .manifest_path "$m")" = "$proj/mvm.toml" ]
	# upstream mvm's names: manifest_hash is the slot, flake_ref the flake
	[ "$(jq -r .manifest_hash "$m")" = "$(basename "$sdir")" ]
	[ "$(jq -r .manifest_sha256 "$m")" = "$(sha256sum <"$proj/mvm.toml" | cut -d' ' -f1)" ]
	[ "$(jq -r .flake "$m")" = "$proj" ]
	[ "$(jq -r .flake_ref "$m")" = "$proj" ]
	[ "$("$MVMCTL" manifest info "$proj" --json | jq -r .manifest_changed)" = false ]
	cp "$proj/mvm.toml" "$BATS_TEST_TMPDIR/mvm.toml.orig"
	printf '# an edit\n' >>"$proj/mvm.toml"
	[ "$("$MVMCTL" manifest info "$proj" --json | jq -r .manifest_changed)" = true ]
	cp "$BATS_TEST_TMPDIR/mvm.toml.orig" "$proj/mvm.toml"
	[ "$(jq -r .profile "$m")" = default ]
	[ "$(jq -r .vcpus "$m")" = 1 ]
	[ "$(jq -r .mem_mib "$m")" = 256 ]
	[ "$(jq -r .data_disk_mib "$m")" = 0 ]
	[ "$(jq -r .name "$m")" = hello ]
	[ "$(jq -r .backend "$m")" = qemu ]
	r="$rdir/revision.json"
	[ "$(jq -r .hash "$r")" = "$rev" ]
	[ "$(jq -r .profile "$r")" = default ]
	[ "$(jq -r .system "$r")" = x86_64-linux ]
	[[ "$(jq -r .nix_out "$r")" == /nix/store/*-mvm-hello ]]
	[ -n "$(jq -r .kernel_id "$r")" ]
	# the hash can be recomputed from what revision.json records
	[ "$(jq -cjS .hash_inputs "$r" | sha256sum | cut -d' ' -f1)" = "$rev" ]
	[ "$(jq -r .builder "$rdir/provenance.json")" = host ]
	# checksums cover every artifact
	for f in rootfs.ext4 vmlinux initrd.img revision.json provenance.json; do
		want=$(sha256sum <"$rdir/$f" | cut -d' ' -f1)
		[ "$(jq -r ".files[\"$f\"].sha256" "$rdir/checksums.json")" = "$want" ]
	done
	# the image is real ext4 holding the closure and the profile at its root
	debugfs -R "ls -l /usr" "$rdir/rootfs.ext4" 2>/dev/null | grep -qE '^ +[0-9]+ +120777 .* bin$'
	debugfs -R "stat /etc/systemd/system/hello.service" "$rdir/rootfs.ext4" 2>&1 | grep -q 'Type: symlink'
	out=$(jq -r .nix_out "$r")
	debugfs -R "ls $out" "$rdir/rootfs.ext4" 2>/dev/null | grep -q bin
	assert_contains "$stderr" "evaluate"
	assert_contains "$stderr" "pack"
}

@test "build --json reports the revision; a second build is a cache hit that runs no nix" {
	proj=$(fixture hello)
	run --separate-stderr "$MVMCTL" build --json "$proj"
	[ "$status" -eq 0 ]
	rev=$(json .revision)
	[ "$(json .schema_version)" = 1 ]
	[ "$(json .built)" = true ]
	# a nix on PATH that records every call
	mkdir -p "$WORK/spy"
	printf '#!/bin/sh\necho "$@" >>%s/nix-calls\nexec %s "$@"\n' "$WORK" "$(command -v nix)" >"$WORK/spy/nix"
	chmod +x "$WORK/spy/nix"
	PATH="$WORK/spy:$PATH" run --separate-stderr "$MVMCTL" build --json "$proj"
	[ "$status" -eq 0 ]
	[ "$(json .revision)" = "$rev" ]
	[ "$(json .built)" = false ]
	[ ! -e "$WORK/nix-calls" ]
	PATH="$WORK/spy:$PATH" run --separate-stderr "$MVMCTL" build "$proj"
	assert_contains "$stderr" "up to date"
	# touching a file changes stat data but not content: still no build, nix may be asked
	touch "$proj/flake.nix"
	run --separate-stderr "$MVMCTL" build --json "$proj"
	[ "$(json .built)" = false ]
	[ "$(json .revision)" = "$rev" ]
}

@test "an edit inside a local override input (path:) is no cache hit: nix reads it as much as the flake" {
	proj=$(fixture hello)
	cp -r "$STANDIN" "$WORK/standin"
	run --separate-stderr "$MVMCTL" build --json "$proj" --override-input nixpkgs "path:$WORK/standin"
	[ "$status" -eq 0 ] || { echo "$stderr"; return 1; }
	rev=$(json .revision)
	run --separate-stderr "$MVMCTL" build --json "$proj" --override-input nixpkgs "path:$WORK/standin"
	[ "$(json .built)" = false ]
	# the same flake, a changed input: a new revision, built
	echo "# edited in place $RANDOM" >>"$WORK/standin/flake.nix"
	run --separate-stderr "$MVMCTL" build --json "$proj" --override-input nixpkgs "path:$WORK/standin"
	[ "$status" -eq 0 ] || { echo "$stderr"; return 1; }
	[ "$(json .revision)" != "$rev" ]
	[ "$(json .built)" = true ]
}

@test "build --force rebuilds the same revision and keeps the slot consistent" {
	proj=$(fixture hello)
	"$MVMCTL" build -q "$proj"
	slot=$(slot_of "$proj/mvm.toml")
	created=$(jq -r .created_at "$MVM_HOME/templates/$slot/manifest.json")
	run --separate-stderr "$MVMCTL" build --force --json "$proj"
	[ "$status" -eq 0 ]
	[ "$(json .built)" = true ]
	[ "$(jq -r .created_at "$MVM_HOME/templates/$slot/manifest.json")" = "$created" ]
	run "$MVMCTL" manifest verify "$proj"
	[ "$status" -eq 0 ]
}

@test "editing flake.nix without a lock change gives a new revision; old ones stay" {
	proj=$(fixture hello)
	run --separate-stderr "$MVMCTL" build --json "$proj"
	rev1=$(json .revision)
	sed -i 's/hello from the mvm fixture/hello again/' "$proj/flake.nix"
	run --separate-stderr "$MVMCTL" build --json "$proj"
	[ "$status" -eq 0 ]
	rev2=$(json .revision)
	[ "$rev1" != "$rev2" ]
	slot=$(slot_of "$proj/mvm.toml")
	[ -d "$MVM_HOME/templates/$slot/artifacts/revisions/$rev1" ]
	[ "$(readlink "$MVM_HOME/templates/$slot/current")" = "artifacts/revisions/$rev2" ]
}

@test "drift: a changed profile is refused word for word and nothing changes" {
	proj=$(fixture hello)
	"$MVMCTL" build -q "$proj"
	slot=$(slot_of "$proj/mvm.toml")
	before=$(cd "$MVM_HOME" && find . -printf '%p %s %T@\n' | sort | sha256sum)
	printf 'profile = "other"\n' >>"$proj/mvm.toml"
	run --separate-stderr "$MVMCTL" build "$proj"
	[ "$status" -eq 5 ]
	assert_eq "mvmctl: error: Manifest at $proj/mvm.toml declares flake=$proj, profile=other. The slot at $slot was last built with flake=$proj, profile=default. Pass --force to overwrite, or pick a different manifest directory." "$stderr"
	after=$(cd "$MVM_HOME" && find . -printf '%p %s %T@\n' | sort | sha256sum)
	[ "$before" = "$after" ]
}

@test "drift: --force proceeds and records the new identity" {
	proj=$(fixture hello)
	"$MVMCTL" build -q "$proj"
	mkdir "$WORK/elsewhere"
	cp "$proj/flake.nix" "$WORK/elsewhere/"
	printf 'flake = "../elsewhere"\n' >>"$proj/mvm.toml"
	run --separate-stderr "$MVMCTL" build "$proj"
	[ "$status" -eq 5 ]
	assert_contains "$stderr" "declares flake=$WORK/elsewhere, profile=default"
	run --separate-stderr "$MVMCTL" build --force "$proj"
	[ "$status" -eq 0 ]
	slot=$(slot_of "$proj/mvm.toml")
	[ "$(jq -r .flake "$MVM_HOME/templates/$slot/manifest.json")" = "$WORK/elsewhere" ]
}

@test "sizing flags are persisted to the slot, never to mvm.toml, and never trip drift" {
	proj=$(fixture hello)
	cp "$proj/mvm.toml" "$WORK/orig.toml"
	run --separate-stderr "$MVMCTL" build --vcpus 4 --mem 2G --data-disk 512 "$proj"
	[ "$status" -eq 0 ]
	m="$MVM_HOME/templates/$(slot_of "$proj/mvm.toml")/manifest.json"
	[ "$(jq -r .vcpus "$m")" = 4 ]
	[ "$(jq -r .mem_mib "$m")" = 2048 ]
	[ "$(jq -r .data_disk_mib "$m")" = 512 ]
	cmp "$proj/mvm.toml" "$WORK/orig.toml"
	sed -i 's/vcpus = 1/vcpus = 3/' "$proj/mvm.toml"
	run --separate-stderr "$MVMCTL" build "$proj"
	[ "$status" -eq 0 ]
	[ "$(jq -r .vcpus "$m")" = 3 ]
	run --separate-stderr "$MVMCTL" build --cpus 2 "$proj"
	[ "$(jq -r .vcpus "$m")" = 2 ]
}

@test "a failing nix build exits 7 with nix's error and current does not move" {
	proj=$(fixture hello)
	"$MVMCTL" build -q "$proj"
	slot=$(slot_of "$proj/mvm.toml")
	cur=$(readlink "$MVM_HOME/templates/$slot/current")
	mkdir -p "$WORK/b"
	cp "$proj/flake.nix" "$WORK/b/"
	printf 'profile = "broken"\n' >"$WORK/b/mvm.toml"
	run --separate-stderr "$MVMCTL" build "$WORK/b"
	[ "$status" -eq 7 ]
	assert_contains "$stderr" "this build fails on purpose"
	[ "$(readlink "$MVM_HOME/templates/$slot/current")" = "$cur" ]
	bslot=$(slot_of "$WORK/b/mvm.toml")
	[ ! -e "$MVM_HOME/templates/$bslot/current" ]
	[ -z "$(ls -A "$MVM_HOME/templates/$bslot/artifacts/revisions" 2>/dev/null)" ]
}

@test "verify catches one flipped byte and one missing file, naming each" {
	proj=$(fixture hello)
	"$MVMCTL" build -q "$proj"
	rdir="$MVM_HOME/templates/$(slot_of "$proj/mvm.toml")/current"
	run "$MVMCTL" manifest verify "$proj"
	[ "$status" -eq 0 ]
	printf '\xff' | dd of="$rdir/rootfs.ext4" bs=1 seek=5000 conv=notrunc status=none
	rm "$rdir/provenance.json"
	run --separate-stderr "$MVMCTL" manifest verify "$proj"
	[ "$status" -eq 1 ]
	assert_contains "$output$stderr" "rootfs.ext4"
	assert_contains "$output$stderr" "provenance.json"
	# an incomplete revision is rebuilt, not taken as a cache hit
	run --separate-stderr "$MVMCTL" build --json "$proj"
	[ "$status" -eq 0 ]
	[ "$(json .built)" = true ]
}

@test "orphans: prune removes slots whose manifest is gone" {
	proj=$(fixture hello)
	"$MVMCTL" build -q "$proj"
	slot=$(slot_of "$proj/mvm.toml")
	rm "$proj/mvm.toml"
	run --separate-stderr "$MVMCTL" manifest ls --orphans --json
	[ "$status" -eq 0 ]
	assert_contains "$output" "$slot"
	run --separate-stderr "$MVMCTL" manifest prune --orphans --dry-run
	[ "$status" -eq 0 ]
	[ -d "$MVM_HOME/templates/$slot" ]
	run --separate-stderr "$MVMCTL" manifest prune --orphans
	[ "$status" -eq 0 ]
	[ ! -e "$MVM_HOME/templates/$slot" ]
}

@test "--update-hash recomputes a fixed-output hash and builds" {
	proj=$(fixture hello)
	printf 'profile = "fod"\n' >"$proj/mvm.toml"
	run --separate-stderr "$MVMCTL" build "$proj"
	[ "$status" -eq 7 ]
	assert_contains "$stderr" "hash mismatch"
	run --separate-stderr "$MVMCTL" build --update-hash "$proj"
	[ "$status" -eq 0 ]
	grep -q 'outputHash = "sha256-FmHKeR+mU0Lu+T15DWANBgf1h4ltTi0JFp2f7E+jAvY="' "$proj/flake.nix"
	assert_contains "$stderr" "sha256-FmHKeR+mU0Lu+T15DWANBgf1h4ltTi0JFp2f7E+jAvY="
}

@test "--update-hash restores flake.nix byte for byte when no hash can be extracted" {
	proj=$(fixture hello)
	printf 'profile = "broken"\n' >"$proj/mvm.toml"
	cp "$proj/flake.nix" "$WORK/flake.orig"
	run --separate-stderr "$MVMCTL" build --update-hash "$proj"
	[ "$status" -eq 7 ]
	assert_contains "$stderr" "this build fails on purpose"
	cmp "$proj/flake.nix" "$WORK/flake.orig"
}

@test "kill -9 in the middle of packing leaves a clean registry" {
	proj=$(fixture hello)
	"$MVMCTL" build -q "$proj"
	slot=$(slot_of "$proj/mvm.toml")
	sdir="$MVM_HOME/templates/$slot"
	cur=$(readlink "$sdir/current")
	cp "$sdir/manifest.json" "$WORK/manifest.before"
	sed -i 's/hello from the mvm fixture/changed for the kill test/' "$proj/flake.nix"
	# stop the build the moment mkfs.ext4 starts packing
	mkdir -p "$WORK/spy"
	printf '#!/bin/sh\nkill -9 $PPID\nexec %s "$@"\n' "$(command -v mkfs.ext4)" >"$WORK/spy/mkfs.ext4"
	chmod +x "$WORK/spy/mkfs.ext4"
	PATH="$WORK/spy:$PATH" run "$MVMCTL" build "$proj"
	[ "$status" -eq 137 ]
	[ "$(readlink "$sdir/current")" = "$cur" ]
	[ -f "$sdir/$cur/rootfs.ext4" ]
	cmp "$sdir/manifest.json" "$WORK/manifest.before"
	[ "$(ls "$sdir/artifacts/revisions" | wc -l)" -eq 1 ]
	jq -e . "$sdir/manifest.json" >/dev/null
	# the next build cleans up and completes
	run --separate-stderr "$MVMCTL" build --json "$proj"
	[ "$status" -eq 0 ]
	[ "$(json .built)" = true ]
	run "$MVMCTL" manifest verify "$proj"
	[ "$status" -eq 0 ]
}

@test "two builds of one slot at once: the second refuses with the holder's pid" {
	proj=$(fixture hello)
	mkdir -p "$WORK/spy"
	# a nix that holds the first build for a moment
	printf '#!/bin/sh\ncase "$*" in *" build "*) sleep 3;; esac\nexec %s "$@"\n' "$(command -v nix)" >"$WORK/spy/nix"
	chmod +x "$WORK/spy/nix"
	PATH="$WORK/spy:$PATH" "$MVMCTL" build -q "$proj" &
	first=$!
	for _ in $(seq 100); do
		[ -s "$MVM_HOME/templates/$(slot_of "$proj/mvm.toml")/build.lock" ] && break
		sleep 0.05
	done
	run --separate-stderr "$MVMCTL" build "$proj"
	[ "$status" -eq 1 ]
	assert_eq "mvmctl: error: another build is in progress for $proj/mvm.toml (pid $first)" "$stderr"
	wait "$first"
}

@test "a built revision boots under bare QEMU: service output and mvm: ready within 60 s" {
	proj=$(fixture hello)
	"$MVMCTL" build -q "$proj"
	rdir="$MVM_HOME/templates/$(slot_of "$proj/mvm.toml")/current"
	khz=$(awk -F: '/cpu MHz/ {printf "%d", $2 * 1000; exit}' /proc/cpuinfo)
	log="$WORK/console.log"
	timeout 60 qemu-system-x86_64 -M microvm -accel tcg,thread=multi -cpu max -m 256 -smp 1 \
		-nodefaults -no-user-config -nographic -no-reboot \
		-kernel "$rdir/vmlinux" -initrd "$rdir/initrd.img" \
		-append "console=ttyS0 reboot=t panic=-1 tsc_early_khz=${khz:-2000000}" \
		-drive "id=root,file=$rdir/rootfs.ext4,format=raw,if=none,readonly=on" \
		-device virtio-blk-device,drive=root \
		-serial "file:$log" &
	qpid=$!
	for _ in $(seq 600); do
		grep -q 'mvm: ready' "$log" 2>/dev/null && grep -q 'hello from the mvm fixture' "$log" && break
		kill -0 "$qpid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$qpid" 2>/dev/null || true
	wait "$qpid" 2>/dev/null || true
	grep -q 'hello from the mvm fixture' "$log" || { cat "$log"; return 1; }
	grep -q 'mvm: ready' "$log"
}
