#!/usr/bin/env bats
# Pools (seed 003): create with its checks (tenant, address, duplicate,
# max_pools, sizing, a relative flake made absolute), ls and info, build on
# the host into the pool's revision store with a snapshot for instances,
# cache hits, a second revision after an edit, rollback, and rm.
#
# Each test has its own MVM_HOME with the tenant acme; builds run the real
# nix offline against the stand-in nixpkgs and boot the revision once under
# TCG for its snapshot.
bats_require_minimum_version 1.5.0
load build_helpers

setup_file() {
	build_setup_file
}

setup() {
	build_setup
	export MVM_ACCEL=tcg
	"$MVMCTL" tenant create acme >/dev/null 2>&1
	POOLS="$MVM_HOME/pools"
}

# pool_json T/P: `pool info --json`
pool_json() { "$MVMCTL" pool info "$1" --json; }

@test "create: the tenant must exist; a malformed address is a usage error" {
	local flake
	flake=$(fixture hello)
	run --separate-stderr "$MVMCTL" pool create nobody/workers --flake "$flake" --profile default
	[ "$status" -eq 4 ]
	assert_contains "$stderr" "Tenant 'nobody' does not exist"
	[ ! -e "$POOLS/nobody" ]
	for bad in acme acme/ /workers acme/Workers acme/w/x 'acme/-w'; do
		run --separate-stderr "$MVMCTL" pool create "$bad" --flake "$flake" --profile default
		[ "$status" -eq 2 ]
		assert_contains "$stderr" "mvmctl: error: Expected <tenant>/<pool>, got \"$bad\""
	done
	# flags are checked too
	run --separate-stderr "$MVMCTL" pool create acme/workers --profile default
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "missing --flake"
	run --separate-stderr "$MVMCTL" pool create acme/workers --flake "$flake"
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "missing --profile"
	[ ! -e "$POOLS/acme/workers" ]
}

@test "create: a relative --flake is stored absolute; sizing as seed 003 writes it" {
	mkdir -p "$WORK/src" && cp -r "$MVM_SRC/tests/fixtures/hello" "$WORK/src/my-flake"
	cd "$WORK/src"
	run --separate-stderr "$MVMCTL" pool create acme/workers --flake ./my-flake \
		--profile default --cpus 2 --mem 1024
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	assert_contains "$stderr" "created pool acme/workers"
	local rec="$POOLS/acme/workers/pool.json"
	assert_mode "$rec" 600
	assert_eq "$WORK/src/my-flake" "$(jq -r .flake "$rec")"
	assert_eq "default 2 1024 0" "$(jq -r '"\(.profile) \(.vcpus) \(.mem_mib) \(.data_disk_mib)"' "$rec")"
	assert_eq '{"running":0,"warm":0,"sleeping":0}' "$(jq -c .desired "$rec")"
	assert_eq "[]" "$(jq -c .builds "$rec")"
	# --vcpus is the flag, --cpus its alias; sizes take units; --json prints the pool
	run --separate-stderr "$MVMCTL" pool create acme/big --flake "$WORK/src/my-flake" \
		--profile default --vcpus 4 --mem 2G --data-disk 1G --json
	[ "$status" -eq 0 ]
	assert_eq "acme/big 4 2048 1024" "$(jq -r '"\(.pool) \(.vcpus) \(.mem_mib) \(.data_disk_mib)"' <<<"$output")"
	# a flake reference is kept as written
	"$MVMCTL" pool create acme/remote --flake github:acme/images --profile python 2>/dev/null
	assert_eq "github:acme/images" "$(jq -r .flake "$POOLS/acme/remote/pool.json")"
}

@test "create: sizing and flake are validated" {
	local flake
	flake=$(fixture hello)
	run --separate-stderr "$MVMCTL" pool create acme/w --flake "$flake" --profile default --cpus 0
	[ "$status" -eq 2 ]
	run --separate-stderr "$MVMCTL" pool create acme/w --flake "$flake" --profile default --cpus 256
	[ "$status" -eq 2 ]
	run --separate-stderr "$MVMCTL" pool create acme/w --flake "$flake" --profile default --mem 32
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "mem must be at least 64M, got 32M"
	run --separate-stderr "$MVMCTL" pool create acme/w --flake "$flake" --profile 'a b'
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "invalid profile 'a b'"
	run --separate-stderr "$MVMCTL" pool create acme/w --flake ./nothere --profile default
	[ "$status" -eq 4 ]
	assert_contains "$stderr" "flake directory '$WORK/nothere' does not exist"
	[ ! -e "$POOLS/acme/w" ]
}

@test "create: an existing pool is refused; max_pools is enforced, naming the numbers" {
	local flake
	flake=$(fixture hello)
	"$MVMCTL" pool create acme/workers --flake "$flake" --profile default 2>/dev/null
	local before
	before=$(cat "$POOLS/acme/workers/pool.json")
	run --separate-stderr "$MVMCTL" pool create acme/workers --flake "$flake" --profile other
	[ "$status" -eq 5 ]
	assert_contains "$stderr" "Pool 'acme/workers' already exists"
	assert_eq "$before" "$(cat "$POOLS/acme/workers/pool.json")"

	"$MVMCTL" tenant create small --max-pools 2 >/dev/null 2>&1
	"$MVMCTL" pool create small/a --flake "$flake" --profile default 2>/dev/null
	"$MVMCTL" pool create small/b --flake "$flake" --profile default 2>/dev/null
	run --separate-stderr "$MVMCTL" pool create small/c --flake "$flake" --profile default
	[ "$status" -eq 5 ]
	assert_contains "$stderr" "Quota exceeded for tenant 'small': max_pools is 2, the tenant has 2"
	[ ! -e "$POOLS/small/c" ]
	run --separate-stderr "$MVMCTL" pool create small/c --flake "$flake" --profile default --json
	[ "$status" -eq 5 ]
	assert_eq refused "$(jq -r .error.code <<<"$stderr")"
	# another tenant's pools do not count
	"$MVMCTL" pool create acme/second --flake "$flake" --profile default 2>/dev/null
}

@test "push: no such pool, no built revision, no signing key, no store: each refused with its exit status and message" {
	local flake
	flake=$(fixture hello)
	"$MVMCTL" pool create acme/workers --flake "$flake" --profile default 2>/dev/null
	run --separate-stderr env -u MVM_STORE_URL "$MVMCTL" pool push acme/workers
	[ "$status" -eq 4 ]
	assert_contains "$stderr" "Pool 'acme/workers' has no built revision"
	run --separate-stderr "$MVMCTL" pool push nobody/workers
	[ "$status" -eq 4 ]
	assert_contains "$stderr" "Pool 'nobody/workers' does not exist"
	run --separate-stderr "$MVMCTL" pool push acme/workers --revision "$(printf '%064d' 0)"
	[ "$status" -eq 4 ]
	assert_contains "$stderr" "revision 000000000000 of pool 'acme/workers' is not here whole"
	# a revision that is here, but no key to sign it, then no store to send it to
	mkdir -p "$POOLS/acme/workers/revisions"
	local rev
	rev=$(printf 'ab%062d' 0)
	mkdir "$POOLS/acme/workers/revisions/$rev"
	local f d="$POOLS/acme/workers/revisions/$rev" sums='{"schema_version":1,"files":{'
	for f in rootfs.ext4 vmlinux initrd.img; do
		echo x >"$d/$f"
		sums+="\"$f\":{\"sha256\":\"$(sha256sum <"$d/$f" | cut -d' ' -f1)\",\"size\":2},"
	done
	printf '%s}}' "${sums%,}" >"$d/checksums.json"
	run --separate-stderr env MVM_STORE_URL=s3://mvmtest/x "$MVMCTL" pool push acme/workers --revision "$rev"
	[ "$status" -eq 4 ]
	assert_contains "$stderr" "no signing key at '$MVM_HOME/keys/signing.key'"
	"$MVMCTL" key generate >/dev/null 2>&1
	run --separate-stderr env -u MVM_STORE_URL "$MVMCTL" pool push acme/workers --revision "$rev"
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "no store is configured"
}

@test "ls and info: text and --json, before any build" {
	local flake
	flake=$(fixture hello)
	run --separate-stderr "$MVMCTL" pool ls
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	assert_contains "$stderr" "no pools"
	"$MVMCTL" tenant create beta >/dev/null 2>&1
	"$MVMCTL" pool create acme/workers --flake "$flake" --profile default --cpus 2 --mem 512 \
		--data-disk 64 2>/dev/null
	"$MVMCTL" pool create acme/api --flake "$flake" --profile default 2>/dev/null
	"$MVMCTL" pool create beta/jobs --flake "$flake" --profile default 2>/dev/null

	run --separate-stderr "$MVMCTL" pool ls
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 4 ]
	assert_contains "${lines[0]}" "POOL"
	assert_contains "${lines[0]}" "DESIRED"
	assert_contains "${lines[1]}" "acme/api"
	assert_contains "${lines[2]}" "acme/workers"
	assert_contains "${lines[3]}" "beta/jobs"
	assert_contains "${lines[2]}" "512M"
	assert_contains "${lines[2]}" "0/0/0"
	assert_contains "${lines[2]}" "$flake"

	run --separate-stderr "$MVMCTL" pool ls acme --json
	[ "$status" -eq 0 ]
	assert_eq 1 "$(jq .schema_version <<<"$output")"
	assert_eq "acme/api acme/workers" "$(jq -r '[.pools[].pool] | join(" ")' <<<"$output")"
	assert_eq "null" "$(jq -r '.pools[1].current_revision' <<<"$output")"
	assert_eq "2 512 64" "$(jq -r '.pools[1] | "\(.vcpus) \(.mem_mib) \(.data_disk_mib)"' <<<"$output")"

	run --separate-stderr "$MVMCTL" pool ls nobody
	[ "$status" -eq 4 ]
	assert_contains "$stderr" "Tenant 'nobody' does not exist"
	run --separate-stderr "$MVMCTL" pool ls Bad_Id
	[ "$status" -eq 2 ]

	run --separate-stderr "$MVMCTL" pool info acme/workers
	[ "$status" -eq 0 ]
	assert_contains "$output" "flake           $flake"
	assert_contains "$output" "profile         default"
	assert_contains "$output" "vcpus           2"
	assert_contains "$output" "mem             512M (512 MiB)"
	assert_contains "$output" "data_disk       64M (64 MiB)"
	assert_contains "$output" "desired         0 running, 0 warm, 0 sleeping"
	assert_contains "$output" "revision        none"
	assert_contains "$output" "builds          none yet"
	run --separate-stderr "$MVMCTL" pool info acme/workers --json
	[ "$status" -eq 0 ]
	assert_eq "acme workers default" "$(jq -r '"\(.tenant) \(.id) \(.profile)"' <<<"$output")"
	assert_eq "[] []" "$(jq -c '.revisions, .builds' <<<"$output" | paste -sd' ')"

	run --separate-stderr "$MVMCTL" pool info acme/nope
	[ "$status" -eq 4 ]
	assert_contains "$stderr" "Pool 'acme/nope' does not exist"
}

@test "build: on the host into revisions/<hash>, current, a snapshot with the secrets disk; then a cache hit" {
	local flake
	flake=$(fixture hello)
	"$MVMCTL" pool create acme/workers --flake "$flake" --profile default --cpus 1 --mem 256 \
		--data-disk 64 2>/dev/null
	cd / # the flake was recorded absolute: builds work from anywhere
	run --separate-stderr "$MVMCTL" pool build acme/workers
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[ -z "$output" ]
	assert_contains "$stderr" "on the host"
	assert_contains "$stderr" "snapshot"
	local pd="$POOLS/acme/workers" rev
	rev=$(readlink "$pd/current")
	[[ $rev =~ ^revisions/[0-9a-f]{64}$ ]]
	rev=${rev#revisions/}
	local rd="$pd/revisions/$rev"
	for f in rootfs.ext4 vmlinux initrd.img checksums.json revision.json provenance.json; do
		[ -s "$rd/$f" ]
	done
	assert_eq host "$(jq -r .builder "$rd/provenance.json")"
	[ "$(jq -r '.files["rootfs.ext4"].sha256' "$rd/checksums.json")" != null ]
	[ -f "$rd/snapshot/vmstate" ]
	[ -f "$rd/snapshot/mem" ]
	local m="$rd/snapshot/meta.json"
	assert_eq "blk:root,blk:secrets,blk:data,serial:agent,net:user" "$(jq -r '.devices | join(",")' "$m")"
	assert_eq "1 256 64 tcg" "$(jq -r '"\(.vcpus) \(.mem_mib) \(.data_disk_mib) \(.accel)"' "$m")"
	[ "$(jq -r '.files["snapshot/meta.json"].sha256' "$rd/checksums.json")" != null ]
	# nothing left in the staging area
	[ -z "$(ls -A "$MVM_HOME/tmp")" ]
	# the history
	local j
	j=$(pool_json acme/workers)
	assert_eq "$rev" "$(jq -r .current_revision <<<"$j")"
	assert_eq 1 "$(jq '.builds | length' <<<"$j")"
	assert_eq "$rev true true" "$(jq -r '.builds[0] | "\(.revision) \(.built) \(.snapshot)"' <<<"$j")"
	[ "$(jq -r '.builds[0].seconds > 0' <<<"$j")" = true ]
	[[ $(jq -r '.builds[0].built_at' <<<"$j") =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T.*Z$ ]]

	# unchanged: a cache hit, nothing rebuilt, the snapshot kept
	local ino
	ino=$(stat -c %i "$rd/rootfs.ext4")
	run --separate-stderr "$MVMCTL" pool build acme/workers --json
	[ "$status" -eq 0 ]
	assert_eq "acme/workers $rev false host" "$(jq -r '"\(.pool) \(.revision) \(.built) \(.builder)"' <<<"$output")"
	assert_eq "true true" "$(jq -r '"\(.snapshot.created) \(.snapshot.reused)"' <<<"$output")"
	assert_eq "$ino" "$(stat -c %i "$rd/rootfs.ext4")"
	j=$(pool_json acme/workers)
	assert_eq 2 "$(jq '.builds | length' <<<"$j")"
	# newest first
	assert_eq "false true" "$(jq -r '[.builds[].built] | join(" ")' <<<"$j")"
	run "$MVMCTL" pool info acme/workers
	assert_contains "$output" "cache hit"
	assert_contains "$output" "revision        $rev"
}

@test "a changed flake is a new revision; rollback moves current back without nix" {
	local flake
	flake=$(fixture hello)
	"$MVMCTL" pool create acme/workers --flake "$flake" --profile default --cpus 1 --mem 256 2>/dev/null
	"$MVMCTL" pool build acme/workers 2>/dev/null
	local pd="$POOLS/acme/workers" old new
	old=$(readlink "$pd/current") && old=${old#revisions/}
	sed -i 's/hello from the mvm fixture/hello from revision two/' "$flake/flake.nix"
	run --separate-stderr "$MVMCTL" pool build acme/workers --json
	[ "$status" -eq 0 ]
	new=$(jq -r .revision <<<"$output")
	[ "$new" != "$old" ]
	assert_eq true "$(jq -r .built <<<"$output")"
	assert_eq "revisions/$new" "$(readlink "$pd/current")"
	[ -d "$pd/revisions/$old" ]
	[ -d "$pd/revisions/$new/snapshot" ]

	# rollback needs no nix (nor anything else on PATH), and is quick
	local t0 t1
	t0=$(date +%s%N)
	run --separate-stderr env PATH=/nonexistent "$MVMCTL" pool rollback acme/workers --revision "$old"
	t1=$(date +%s%N)
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[ $(((t1 - t0) / 1000000)) -lt 1000 ]
	assert_contains "$stderr" "current is now revision ${old:0:12}"
	assert_eq "revisions/$old" "$(readlink "$pd/current")"
	local j
	j=$(pool_json acme/workers)
	assert_eq "$old" "$(jq -r .current_revision <<<"$j")"
	assert_eq "$old $new" "$(jq -r '.builds[0] | "\(.revision) \(.from)"' <<<"$j")"
	[ "$(jq -r '.builds[0].rolled_back_at' <<<"$j")" != null ]
	assert_eq 3 "$(jq '.builds | length' <<<"$j")"

	# a unique prefix of 8 hex digits is enough; already current changes nothing
	run --separate-stderr "$MVMCTL" pool rollback acme/workers --revision "${new:0:8}" --json
	[ "$status" -eq 0 ]
	assert_eq "$new $old true" "$(jq -r '"\(.revision) \(.previous) \(.changed)"' <<<"$output")"
	run --separate-stderr "$MVMCTL" pool rollback acme/workers --revision "$new" --json
	[ "$status" -eq 0 ]
	assert_eq false "$(jq -r .changed <<<"$output")"
	assert_eq 4 "$(pool_json acme/workers | jq '.builds | length')"

	# unknown, too short, not hex: not found, current untouched
	for bogus in 0000000000000000 deadbeefdeadbeefdead abc "${new:0:7}" zzzzzzzzzz; do
		run --separate-stderr "$MVMCTL" pool rollback acme/workers --revision "$bogus"
		[ "$status" -eq 4 ]
		assert_contains "$stderr" "mvmctl: error: Revision $bogus not found"
	done
	assert_eq "revisions/$new" "$(readlink "$pd/current")"
	run --separate-stderr "$MVMCTL" pool rollback acme/workers
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "missing --revision"

	# an incomplete revision is not one to roll back to
	rm "$pd/revisions/$old/vmlinux"
	run --separate-stderr "$MVMCTL" pool rollback acme/workers --revision "$old"
	[ "$status" -eq 4 ]
	assert_contains "$stderr" "Revision $old not found"
	assert_contains "$stderr" "incomplete"
	# and the next build repairs it: the cache check sees it is incomplete
	sed -i 's/hello from revision two/hello from the mvm fixture/' "$flake/flake.nix"
	run --separate-stderr "$MVMCTL" pool build acme/workers --json
	[ "$status" -eq 0 ]
	assert_eq "$old true" "$(jq -r '"\(.revision) \(.built)"' <<<"$output")"
	[ -s "$pd/revisions/$old/vmlinux" ]
}

@test "build and rollback of a pool that does not exist" {
	run --separate-stderr "$MVMCTL" pool build acme/nope
	[ "$status" -eq 4 ]
	assert_contains "$stderr" "Pool 'acme/nope' does not exist"
	run --separate-stderr "$MVMCTL" pool rollback acme/nope --revision deadbeefdeadbeef
	[ "$status" -eq 4 ]
	local verb
	for verb in build info reconcile; do
		run --separate-stderr "$MVMCTL" pool "$verb" acme
		[ "$status" -eq 2 ]
		assert_contains "$stderr" "Expected <tenant>/<pool>, got \"acme\""
		run --separate-stderr "$MVMCTL" pool "$verb" acme/nope
		[ "$status" -eq 4 ]
		assert_contains "$stderr" "Pool 'acme/nope' does not exist"
	done
}

@test "a snapshot that cannot be taken is a warning and recorded, not a failure" {
	local flake
	flake=$(fixture hello)
	"$MVMCTL" pool create acme/workers --flake "$flake" --profile default --cpus 1 --mem 256 2>/dev/null
	run --separate-stderr env MVM_BACKEND=firecracker "$MVMCTL" pool build acme/workers --json
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	assert_eq "true false" "$(jq -r '"\(.built) \(.snapshot.created)"' <<<"$output")"
	assert_contains "$(jq -r .snapshot.reason <<<"$output")" "unknown VMM backend 'firecracker'"
	assert_contains "$stderr" "warning: no snapshot: unknown VMM backend 'firecracker'"
	local rev
	rev=$(jq -r .revision <<<"$output")
	assert_eq "revisions/$rev" "$(readlink "$POOLS/acme/workers/current")"
	[ ! -e "$POOLS/acme/workers/revisions/$rev/snapshot" ]
	local j
	j=$(pool_json acme/workers)
	assert_eq false "$(jq -r '.builds[0].snapshot' <<<"$j")"
	assert_contains "$(jq -r '.builds[0].snapshot_reason' <<<"$j")" "firecracker"
	assert_eq false "$(jq -r '.revisions[0].snapshot' <<<"$j")"
	# the next build on a host that can snapshot adds it to the same revision
	run --separate-stderr "$MVMCTL" pool build acme/workers --json
	[ "$status" -eq 0 ]
	assert_eq "$rev false true false" "$(jq -r '"\(.revision) \(.built) \(.snapshot.created) \(.snapshot.reused)"' <<<"$output")"
	[ -f "$POOLS/acme/workers/revisions/$rev/snapshot/meta.json" ]
}

@test "one build, rollback or rm at a time per pool" {
	local flake
	flake=$(fixture hello)
	"$MVMCTL" pool create acme/workers --flake "$flake" --profile default 2>/dev/null
	exec 9>"$POOLS/acme/workers/build.lock"
	flock -n 9
	run --separate-stderr "$MVMCTL" pool build acme/workers
	[ "$status" -eq 1 ]
	assert_contains "$stderr" "another build or rollback of pool 'acme/workers' is in progress"
	run --separate-stderr "$MVMCTL" pool rollback acme/workers --revision deadbeefdeadbeef
	[ "$status" -eq 1 ]
	run --separate-stderr "$MVMCTL" pool rm acme/workers
	[ "$status" -eq 1 ]
	[ -f "$POOLS/acme/workers/pool.json" ]
	exec 9>&-
	# the lock is released with its holder
	run --separate-stderr "$MVMCTL" pool rollback acme/workers --revision deadbeefdeadbeef
	[ "$status" -eq 4 ]
}

@test "rm: refused while the pool has instances, then removes everything" {
	local flake
	flake=$(fixture hello)
	"$MVMCTL" pool create acme/workers --flake "$flake" --profile default 2>/dev/null
	"$MVMCTL" pool create acme/other --flake "$flake" --profile default 2>/dev/null
	local pd="$POOLS/acme/workers"
	mkdir -p "$pd/instances/i-0000abcd" "$pd/revisions"
	run --separate-stderr "$MVMCTL" pool rm acme/workers
	[ "$status" -eq 5 ]
	assert_contains "$stderr" "Pool 'acme/workers' has 1 instance"
	[ -f "$pd/pool.json" ]
	rmdir "$pd/instances/i-0000abcd"
	run --separate-stderr "$MVMCTL" pool rm acme/workers
	[ "$status" -eq 0 ]
	assert_contains "$output" "removed pool acme/workers"
	[ ! -e "$pd" ]
	[ -z "$(ls -A "$MVM_HOME/tmp" 2>/dev/null)" ]
	# the tenant's other pools are untouched
	[ -f "$POOLS/acme/other/pool.json" ]
	run "$MVMCTL" pool ls acme --json
	assert_eq "acme/other" "$(jq -r '[.pools[].pool] | join(" ")' <<<"$output")"
	# gone: not found, unless --force
	run --separate-stderr "$MVMCTL" pool rm acme/workers
	[ "$status" -eq 4 ]
	assert_contains "$stderr" "Pool 'acme/workers' does not exist"
	run --separate-stderr "$MVMCTL" pool rm acme/workers --force --json
	[ "$status" -eq 0 ]
	assert_eq false "$(jq -r .removed <<<"$output")"
	# the name is free again
	"$MVMCTL" pool create acme/workers --flake "$flake" --profile default 2>/dev/null
}

@test "rm of a built pool leaves nothing behind" {
	local flake
	flake=$(fixture hello)
	"$MVMCTL" pool create acme/workers --flake "$flake" --profile default --cpus 1 --mem 256 2>/dev/null
	"$MVMCTL" pool build acme/workers 2>/dev/null
	[ -L "$POOLS/acme/workers/current" ]
	run --separate-stderr "$MVMCTL" pool rm acme/workers --json
	[ "$status" -eq 0 ]
	assert_eq true "$(jq -r .removed <<<"$output")"
	[ "$(jq -r .freed_bytes <<<"$output")" -gt 0 ]
	[ ! -e "$POOLS/acme/workers" ]
	[ -z "$(ls -A "$POOLS/acme")" ]
	[ -z "$(ls -A "$MVM_HOME/tmp")" ]
}
