#!/usr/bin/env bats
# The registry verbs of seed 000 (manifest ls/info/rm/verify/prune, cache prune,
# the top-level info/rm) over slots laid out by hand exactly as the registry
# documents them (src/core/registry.h): no nix needed. build.bats covers slots
# made by real builds.
bats_require_minimum_version 1.5.0
load helpers

setup() { common_setup; }

json() { printf '%s' "$output" | jq -r "$1"; }

sha() { sha256sum "$1" | cut -d' ' -f1; }

# make_slot DIR [NAME]: a built slot for DIR/mvm.toml with one revision.
# Sets MP (manifest path), SLOT (id), SD (slot dir), REV, RD (revision dir).
make_slot() {
	local dir=$1 name=${2:-}
	mkdir -p "$dir"
	[ -e "$dir/mvm.toml" ] || printf 'vcpus = 2\nmem = "512M"\n' >"$dir/mvm.toml"
	[ -e "$dir/flake.nix" ] || printf '{ outputs = _: { }; }\n' >"$dir/flake.nix"
	MP=$(realpath "$dir/mvm.toml")
	SLOT=$(printf %s "$MP" | sha256sum | cut -d' ' -f1)
	REV=$(printf 'revision of %s' "$MP" | sha256sum | cut -d' ' -f1)
	SD="$MVM_HOME/templates/$SLOT"
	RD="$SD/artifacts/revisions/$REV"
	mkdir -p "$RD"
	head -c 300000 /dev/urandom >"$RD/rootfs.ext4"
	head -c 20000 /dev/urandom >"$RD/vmlinux"
	head -c 5000 /dev/urandom >"$RD/initrd.img"
	jq -n --arg h "$REV" '{schema_version: 1, hash: $h, profile: "default"}' >"$RD/revision.json"
	jq -n '{mvmctl_version: "0.1.0", host_arch: "x86_64", builder: "host"}' >"$RD/provenance.json"
	write_checksums "$RD"
	ln -s "artifacts/revisions/$REV" "$SD/current"
	local named='.'
	[ -n "$name" ] && named='. + {name: $name}'
	jq -n --arg mp "$MP" --arg mh "$(sha "$MP")" --arg flake "$(dirname "$MP")" \
		--arg rev "$REV" --arg name "$name" \
		"{schema_version: 1, manifest_path: \$mp, manifest_hash: \$mh, flake: \$flake,
		  profile: \"default\", vcpus: 2, mem_mib: 512, data_disk_mib: 0}
		 | $named
		 | . + {backend: \"qemu\",
			provenance: {mvmctl_version: \"0.1.0\", host_arch: \"x86_64\", builder: \"host\"},
			created_at: \"2026-01-02T03:04:05Z\", updated_at: \"2026-01-03T03:04:05Z\",
			last_build: {revision: \$rev, built_at: \"2026-01-03T03:04:05Z\"}}" \
		>"$SD/manifest.json"
	chmod -R u=rwX,go= "$MVM_HOME"
}

# write_checksums DIR: checksums.json over every artifact, as the registry writes it.
write_checksums() {
	local dir=$1 f files='{}'
	for f in initrd.img provenance.json revision.json rootfs.ext4 vmlinux; do
		files=$(jq --arg f "$f" --arg s "$(sha "$dir/$f")" --argjson n "$(stat -c %s "$dir/$f")" \
			'. + {($f): {sha256: $s, size: $n}}' <<<"$files")
	done
	jq -n --argjson files "$files" '{schema_version: 1, files: $files}' >"$dir/checksums.json"
}

tree() { (cd "$MVM_HOME" && find . -printf '%p %s %m\n' | sort); }

@test "the slot id is sha256 of the canonical manifest path, as sha256sum computes it" {
	mkdir -p "$WORK/real"
	ln -s real "$WORK/link"
	make_slot "$WORK/real"
	want=$(printf %s "$(realpath "$WORK/link/mvm.toml")" | sha256sum | cut -d' ' -f1)
	run --separate-stderr "$MVMCTL" manifest info --json "$WORK/link"
	[ "$status" -eq 0 ]
	[ "$(json .slot)" = "$want" ]
	[ "$(json .slot_dir)" = "$MVM_HOME/templates/$want" ]
	[ "$(json .manifest_path)" = "$WORK/real/mvm.toml" ]
}

@test "manifest info --json reports the record, current revision, artifacts and provenance" {
	make_slot "$WORK/api" api
	cd "$WORK/api"
	run --separate-stderr "$MVMCTL" manifest info --json
	[ "$status" -eq 0 ]
	[ "$(json .schema_version)" = 1 ]
	[ "$(json .record.manifest_path)" = "$MP" ]
	[ "$(json .record.name)" = api ]
	[ "$(json .record.flake)" = "$WORK/api" ]
	[ "$(json .record.profile)" = default ]
	[ "$(json .record.mem_mib)" = 512 ]
	[ "$(json .record.backend)" = qemu ]
	[ "$(json .record.created_at)" = 2026-01-02T03:04:05Z ]
	[ "$(json .manifest_exists)" = true ]
	[ "$(json .manifest_changed)" = false ]
	[ "$(json .current_revision)" = "$REV" ]
	[ "$(json .revision.complete)" = true ]
	[ "$(json .revision.dir)" = "$RD" ]
	[ "$(json '.revision.artifacts[] | select(.name == "rootfs.ext4") | .size_bytes')" = 300000 ]
	[ "$(json '.revision.artifacts[] | select(.name == "vmlinux") | .sha256')" = "$(sha "$RD/vmlinux")" ]
	[ "$(json '.revision.artifacts | length')" = 5 ]
	[ "$(json .revision.revision.hash)" = "$REV" ]
	[ "$(json .provenance.builder)" = host ]
	[ "$(json .revisions[0])" = "$REV" ]
	[ "$(json .snapshot)" = null ]
	[ -z "$stderr" ]
}

@test "manifest info prints the slot for people, and notices an edited manifest" {
	make_slot "$WORK/api" api
	echo 'vcpus = 4' >"$WORK/api/mvm.toml"
	run --separate-stderr "$MVMCTL" manifest info "$WORK/api"
	[ "$status" -eq 0 ]
	assert_contains "$output" "manifest        $MP (changed since the last build)"
	assert_contains "$output" "slot            $SLOT"
	assert_contains "$output" "name            api"
	assert_contains "$output" "mem             512M (512 MiB)"
	assert_contains "$output" "data_disk       none"
	assert_contains "$output" "revision        $REV"
	assert_contains "$output" "rootfs.ext4            293 KiB (300000 bytes)"
	assert_contains "$output" "builder                host"
	assert_contains "$output" "snapshot        none"
}

@test "top-level info is manifest info" {
	make_slot "$WORK/api" api
	run --separate-stderr "$MVMCTL" info --json "$WORK/api"
	[ "$status" -eq 0 ]
	[ "$(json .slot)" = "$SLOT" ]
	[ "$(json .current_revision)" = "$REV" ]
}

@test "info on a manifest never built exits 4 and says how to build it" {
	printf 'vcpus = 1\n' >"$WORK/mvm.toml"
	run --separate-stderr "$MVMCTL" manifest info
	[ "$status" -eq 4 ]
	slot=$(printf %s "$WORK/mvm.toml" | sha256sum | cut -d' ' -f1)
	assert_eq "mvmctl: error: $WORK/mvm.toml has not been built (no slot at '$MVM_HOME/templates/$slot')
hint: run 'mvmctl build $WORK'" "$stderr"
	[ -z "$output" ]
	[ ! -e "$MVM_HOME/templates" ]
}

@test "info --json errors are JSON on stderr" {
	printf 'vcpus = 1\n' >"$WORK/mvm.toml"
	run --separate-stderr "$MVMCTL" manifest info --json
	[ "$status" -eq 4 ]
	[ "$(printf '%s' "$stderr" | jq -r .error.code)" = not_found ]
	[ "$(printf '%s' "$stderr" | jq -r .schema_version)" = 1 ]
}

@test "a corrupt manifest.json is an error naming it" {
	make_slot "$WORK/api"
	printf '{"schema_version": 1, "manifest_path": ' >"$SD/manifest.json"
	run --separate-stderr "$MVMCTL" manifest info "$WORK/api"
	[ "$status" -eq 1 ]
	assert_contains "$stderr" "mvmctl: error: the slot record is unreadable: $SD/manifest.json: invalid JSON"
	assert_contains "$stderr" "hint: rebuild with 'mvmctl build --force'"
}

@test "empty registry: ls says so in one line that suggests the next command" {
	run --separate-stderr "$MVMCTL" manifest ls
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	assert_eq "no built manifests; run 'mvmctl build' in a project" "$stderr"
	run --separate-stderr "$MVMCTL" manifest ls --orphans
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	assert_eq "no orphaned slots: every built manifest still exists (list them with 'mvmctl manifest ls')" "$stderr"
	run --separate-stderr "$MVMCTL" manifest ls --legacy
	[ "$status" -eq 0 ]
	assert_eq "no legacy slots under $MVM_HOME/templates; nothing to migrate (built manifests: 'mvmctl manifest ls')" "$stderr"
	run --separate-stderr "$MVMCTL" manifest ls --json
	[ "$status" -eq 0 ]
	[ "$(json '.slots | length')" = 0 ]
	[ -z "$stderr" ]
	[ ! -e "$MVM_HOME" ]
}

@test "ls lists each slot with path, name, revision, last build and status" {
	make_slot "$WORK/api" api
	api_slot=$SLOT api_rev=$REV
	make_slot "$WORK/web"
	run --separate-stderr "$MVMCTL" manifest ls
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$(printf '%-*s  NAME  REVISION      LAST BUILT            STATUS' ${#MP} MANIFEST)" ]
	[ "${lines[1]}" = "$WORK/api/mvm.toml  api   ${api_rev:0:12}  2026-01-03T03:04:05Z  ok" ]
	[ "${lines[2]}" = "$WORK/web/mvm.toml  -     ${REV:0:12}  2026-01-03T03:04:05Z  ok" ]
	[ "${#lines[@]}" -eq 3 ]
	run --separate-stderr "$MVMCTL" manifest ls --json
	[ "$status" -eq 0 ]
	[ "$(json '.slots | length')" = 2 ]
	[ "$(json .slots[0].slot)" = "$api_slot" ]
	[ "$(json .slots[0].manifest_path)" = "$WORK/api/mvm.toml" ]
	[ "$(json .slots[0].name)" = api ]
	[ "$(json .slots[0].current_revision)" = "$api_rev" ]
	[ "$(json .slots[0].status)" = ok ]
	[ "$(json .slots[0].mem_mib)" = 512 ]
	[ "$(json .slots[0].last_built_at)" = 2026-01-03T03:04:05Z ]
	[ "$(json '.slots[1] | has("name")')" = false ]
	[ "$(json 'has("legacy")')" = false ]
}

@test "orphans: a deleted manifest makes its slot an orphan, still reachable by its old path" {
	make_slot "$WORK/keep"
	make_slot "$WORK/gone"
	gone_slot=$SLOT
	rm "$WORK/gone/mvm.toml"
	run --separate-stderr "$MVMCTL" manifest ls --orphans --json
	[ "$status" -eq 0 ]
	[ "$(json '.slots | length')" = 1 ]
	[ "$(json .slots[0].slot)" = "$gone_slot" ]
	[ "$(json .slots[0].status)" = orphan ]
	run --separate-stderr "$MVMCTL" manifest ls
	assert_contains "${lines[1]}" "$WORK/gone/mvm.toml"
	assert_contains "${lines[1]}" "orphan"
	run --separate-stderr "$MVMCTL" manifest info --json "$WORK/gone"
	[ "$status" -eq 0 ]
	[ "$(json .slot)" = "$gone_slot" ]
	[ "$(json .manifest_exists)" = false ]
	run --separate-stderr "$MVMCTL" manifest info "$gone_slot"
	[ "$status" -eq 0 ]
	assert_contains "$output" "(gone: this slot is an orphan)"
}

@test "legacy directories are listed by --legacy and never pruned" {
	make_slot "$WORK/keep"
	mkdir -p "$MVM_HOME/templates/openclaw/artifacts" "$MVM_HOME/templates/ABCDEF"
	echo old >"$MVM_HOME/templates/openclaw/artifacts/rootfs.ext4"
	run --separate-stderr "$MVMCTL" manifest ls --legacy
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = LEGACY ]
	[ "${lines[1]}" = "$MVM_HOME/templates/ABCDEF" ]
	[ "${lines[2]}" = "$MVM_HOME/templates/openclaw" ]
	run --separate-stderr "$MVMCTL" manifest ls --legacy --json
	[ "$(json '.legacy | map(.name) | join(",")')" = ABCDEF,openclaw ]
	[ "$(json 'has("slots")')" = false ]
	run --separate-stderr "$MVMCTL" manifest prune --orphans
	[ "$status" -eq 0 ]
	[ -f "$MVM_HOME/templates/openclaw/artifacts/rootfs.ext4" ]
	[ -d "$MVM_HOME/templates/ABCDEF" ]
}

@test "prune --orphans --dry-run changes nothing" {
	make_slot "$WORK/keep"
	make_slot "$WORK/gone"
	rm "$WORK/gone/mvm.toml"
	before=$(tree)
	run --separate-stderr "$MVMCTL" manifest prune --orphans --dry-run
	[ "$status" -eq 0 ]
	assert_eq "would remove $SD (orphan: $WORK/gone/mvm.toml)" "$output"
	assert_contains "$stderr" "would remove 1 slot ("
	assert_eq "$before" "$(tree)"
	run --separate-stderr "$MVMCTL" manifest prune --orphans --dry-run --json
	[ "$(json .dry_run)" = true ]
	[ "$(json .slots[0].slot)" = "$SLOT" ]
	[ "$(json .freed_bytes)" = 0 ]
	assert_eq "$before" "$(tree)"
}

@test "prune --orphans removes orphaned and unreadable slots, keeps the rest" {
	make_slot "$WORK/keep"
	keep=$SD
	make_slot "$WORK/gone"
	gone=$SD
	rm "$WORK/gone/mvm.toml"
	make_slot "$WORK/broken"
	broken=$SD
	echo 'not json' >"$broken/manifest.json"
	make_slot "$WORK/norecord"
	norecord=$SD
	rm "$norecord/manifest.json"
	run --separate-stderr "$MVMCTL" manifest ls --orphans --json
	[ "$(json '.slots | length')" = 3 ]
	run --separate-stderr "$MVMCTL" manifest prune --orphans --json
	[ "$status" -eq 0 ]
	[ "$(json '.slots | length')" = 3 ]
	[ "$(json '[.slots[].status] | sort | join(",")')" = orphan,unreadable,unreadable ]
	[ "$(json '.freed_bytes > 300000')" = true ]
	[ -d "$keep" ]
	[ ! -e "$gone" ]
	[ ! -e "$broken" ]
	[ ! -e "$norecord" ]
	# nothing is left behind in tmp/ either
	[ -z "$(ls -A "$MVM_HOME/tmp")" ]
	run --separate-stderr "$MVMCTL" manifest prune --orphans
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	assert_eq "nothing to prune: no orphaned or unreadable slots ('mvmctl manifest ls' lists them all)" "$stderr"
}

@test "prune without --orphans is a usage error" {
	run --separate-stderr "$MVMCTL" manifest prune
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "mvmctl: error: say what to prune: --orphans"
}

@test "verify passes on an intact revision" {
	make_slot "$WORK/api"
	run --separate-stderr "$MVMCTL" manifest verify "$WORK/api"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 5 ]
	assert_contains "$output" "ok       rootfs.ext4"
	assert_eq "revision $REV: 5 files match checksums.json" "$stderr"
}

@test "verify names one flipped byte and one missing file, exit 1" {
	make_slot "$WORK/api"
	printf '\x00' | dd of="$RD/rootfs.ext4" bs=1 seek=1000 conv=notrunc status=none
	# make sure the byte really changed
	if [ "$(jq -r '.files["rootfs.ext4"].sha256' "$RD/checksums.json")" = "$(sha "$RD/rootfs.ext4")" ]; then
		printf '\x01' | dd of="$RD/rootfs.ext4" bs=1 seek=1000 conv=notrunc status=none
	fi
	rm "$RD/vmlinux"
	run --separate-stderr "$MVMCTL" manifest verify "$WORK/api"
	[ "$status" -eq 1 ]
	assert_contains "$output" "CHANGED  rootfs.ext4"
	assert_contains "$output" "MISSING  vmlinux"
	assert_contains "$output" "ok       initrd.img"
	assert_eq "mvmctl: error: revision $REV of $MP failed verification: rootfs.ext4 changed, vmlinux missing
hint: rebuild it with 'mvmctl build --force $WORK/api'" "$stderr"
	run --separate-stderr "$MVMCTL" manifest verify --json "$WORK/api"
	[ "$status" -eq 1 ]
	[ "$(json .ok)" = false ]
	[ "$(json '.files[] | select(.name == "rootfs.ext4") | .status')" = changed ]
	[ "$(json '.files[] | select(.name == "vmlinux") | .status')" = missing ]
	[ "$(json '.files[] | select(.name == "initrd.img") | .status')" = ok ]
	[ "$(printf '%s' "$stderr" | jq -r .error.code)" = failed ]
}

@test "verify --revision takes a hash or unique prefix; an unknown one exits 4" {
	make_slot "$WORK/api"
	run --separate-stderr "$MVMCTL" manifest verify "$WORK/api" --revision "${REV:0:8}"
	[ "$status" -eq 0 ]
	run --separate-stderr "$MVMCTL" manifest verify "$WORK/api" --revision "$REV"
	[ "$status" -eq 0 ]
	run --separate-stderr "$MVMCTL" manifest verify "$WORK/api" --revision 0000ffff
	[ "$status" -eq 4 ]
	assert_contains "$stderr" "mvmctl: error: no revision '0000ffff' in '$SD/artifacts/revisions'"
}

@test "verify on a slot without current exits 4" {
	make_slot "$WORK/api"
	rm "$SD/current"
	run --separate-stderr "$MVMCTL" manifest verify "$WORK/api"
	[ "$status" -eq 4 ]
	assert_eq "mvmctl: error: $MP has no current revision
hint: run 'mvmctl build' first" "$stderr"
}

@test "rm removes the slot; again exits 4; with --force it is a success" {
	make_slot "$WORK/api"
	make_slot "$WORK/other"
	other=$SD
	make_slot "$WORK/api"
	run --separate-stderr "$MVMCTL" manifest rm "$WORK/api"
	[ "$status" -eq 0 ]
	assert_contains "$output" "removed $SD ("
	[ ! -e "$SD" ]
	[ -d "$other" ]
	[ -f "$WORK/api/mvm.toml" ]
	assert_mode "$MVM_HOME/tmp" 700
	[ -z "$(ls -A "$MVM_HOME/tmp")" ]
	run --separate-stderr "$MVMCTL" manifest rm "$WORK/api"
	[ "$status" -eq 4 ]
	assert_contains "$stderr" "mvmctl: error: $MP has not been built (no slot at '$SD')"
	run --separate-stderr "$MVMCTL" manifest rm "$WORK/api" --force
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	assert_eq "nothing to remove: $MP has no slot" "$stderr"
	run --separate-stderr "$MVMCTL" manifest rm "$WORK/nowhere" --force
	[ "$status" -eq 0 ]
	run --separate-stderr "$MVMCTL" manifest rm "$WORK/nowhere"
	[ "$status" -eq 4 ]
}

@test "rm --manifest-file deletes mvm.toml but never flake.nix" {
	make_slot "$WORK/api"
	run --separate-stderr "$MVMCTL" manifest rm --manifest-file --json "$WORK/api"
	[ "$status" -eq 0 ]
	[ "$(json .removed)" = true ]
	[ "$(json .manifest_file_removed)" = true ]
	[ "$(json .slot)" = "$SLOT" ]
	[ ! -e "$WORK/api/mvm.toml" ]
	[ -f "$WORK/api/flake.nix" ]
	[ ! -e "$SD" ]
}

@test "rm of a deleted manifest's path removes its orphaned slot" {
	make_slot "$WORK/api"
	rm -r "$WORK/api"
	run --separate-stderr "$MVMCTL" manifest rm "$WORK/api"
	[ "$status" -eq 0 ]
	[ ! -e "$SD" ]
}

@test "top-level rm is manifest rm" {
	make_slot "$WORK/api"
	cd "$WORK/api"
	run --separate-stderr "$MVMCTL" rm
	[ "$status" -eq 0 ]
	[ ! -e "$SD" ]
	run --separate-stderr "$MVMCTL" rm --force
	[ "$status" -eq 0 ]
}

@test "a build in progress blocks rm and prune with the holder's pid" {
	make_slot "$WORK/api"
	rm "$WORK/api/mvm.toml"
	lock="$SD/build.lock"
	bash -c 'exec 9>>"$1"; flock 9; echo $$ >"$1"; exec sleep 30' _ "$lock" 9>&- &
	holder=$!
	for _ in $(seq 100); do [ -s "$lock" ] && break; sleep 0.05; done
	run --separate-stderr "$MVMCTL" manifest rm "$SLOT"
	status_rm=$status
	err_rm=$stderr
	run --separate-stderr "$MVMCTL" manifest prune --orphans
	status_prune=$status
	err_prune=$stderr
	kill "$holder"
	wait "$holder" || true
	[ "$status_rm" -eq 1 ]
	assert_eq "mvmctl: error: another build is in progress for $WORK/api/mvm.toml (pid $holder)" "$err_rm"
	[ "$status_prune" -eq 0 ]
	assert_contains "$err_prune" "mvmctl: warning: skipping $SD: another build is in progress for $WORK/api/mvm.toml (pid $holder)"
	[ -d "$SD/artifacts/revisions/$REV" ]
}

@test "cache prune removes leftovers of dead builds, and orphans with --orphan-builds" {
	make_slot "$WORK/gone"
	rm "$WORK/gone/mvm.toml"
	mkdir -p "$MVM_HOME/tmp"
	sh -c 'exit 0' &
	dead=$!
	wait "$dead"
	mkdir -p "$MVM_HOME/tmp/$dead-0-stage-$SLOT/sub"
	echo x >"$MVM_HOME/tmp/$dead-0-stage-$SLOT/sub/rootfs.ext4"
	mkdir "$MVM_HOME/tmp/$$-0-stage-$SLOT"
	run --separate-stderr "$MVMCTL" cache prune --dry-run
	[ "$status" -eq 0 ]
	assert_eq "would remove $MVM_HOME/tmp/$dead-0-stage-$SLOT (left by a build that no longer runs)" "$output"
	[ -d "$MVM_HOME/tmp/$dead-0-stage-$SLOT" ]
	run --separate-stderr "$MVMCTL" cache prune --json
	[ "$status" -eq 0 ]
	[ "$(json '.temporary | length')" = 1 ]
	[ "$(json 'has("slots")')" = false ]
	[ ! -e "$MVM_HOME/tmp/$dead-0-stage-$SLOT" ]
	[ -d "$MVM_HOME/tmp/$$-0-stage-$SLOT" ]
	[ -d "$SD" ]
	run --separate-stderr "$MVMCTL" cache prune --orphan-builds
	[ "$status" -eq 0 ]
	assert_eq "removed $SD (orphan: $WORK/gone/mvm.toml)" "$output"
	[ ! -e "$SD" ]
	run --separate-stderr "$MVMCTL" cache prune --orphan-builds
	[ "$status" -eq 0 ]
	assert_eq "nothing to prune: no leftovers of killed builds and no orphaned slots" "$stderr"
}

@test "every registry verb has help with usage and examples" {
	for v in "manifest ls" "manifest info" "manifest rm" "manifest verify" "manifest prune" \
		"cache prune" info rm; do
		run --separate-stderr "$MVMCTL" $v --help
		[ "$status" -eq 0 ] || { echo "$v: $status"; return 1; }
		assert_contains "$output" "usage: mvmctl $v"
		assert_contains "$output" "Examples:"
	done
}
