#!/usr/bin/env bats
# Pool builds in the builder microVM (seed 003's build process, issue 16):
# the walkthrough with the builder, a uniquely named derivation that never
# reaches the host's /nix/store (and does with --builder host), a failing
# derivation, a build that wants more memory than the builder has, a time
# limit, a second build reusing the tenant's store, two tenants' stores apart,
# and SIGKILL mid-build. Real nix inside a real VM under TCG, offline against
# the stand-in nixpkgs. One MVM_HOME for the file, tests in order.
bats_require_minimum_version 1.5.0
load build_helpers

setup_file() {
	file_home_setup
	unset MVM_BUILDER # pools build in the VM, their default
	"$MVMCTL" tenant create acme >/dev/null
	"$MVMCTL" tenant create beta >/dev/null
	# a flake whose profile has a name no other build on this host has
	export UNIQ="mvm-uniq-$(date +%s%N | sha256sum | head -c 12)"
	export FLAKE="$BATS_FILE_TMPDIR/uniq"
	cp -r "$MVM_SRC/tests/fixtures/hello" "$FLAKE"
	sed -i "s/name = \"mvm-hello\"/name = \"$UNIQ\"/" "$FLAKE/flake.nix"
	grep -q "$UNIQ" "$FLAKE/flake.nix"
	# builder images an older nix-bin or mvm-init left: one free, one that a
	# build still runs from (a shared lock on its meta.json, as a build holds)
	local img
	for img in old held; do
		mkdir -p "$MVM_HOME/builder/images/$img"
		echo '{}' >"$MVM_HOME/builder/images/$img/meta.json"
		head -c 4096 /dev/zero >"$MVM_HOME/builder/images/$img/rootfs.ext4"
	done
	(exec 9<"$MVM_HOME/builder/images/held/meta.json" && flock -s 9 && exec sleep 600) \
		>/dev/null 2>&1 3>&- &
	echo $! >"$BATS_FILE_TMPDIR/holder.pid"
	# a derivation that wants far more memory than a 256M builder has
	export HOG="$BATS_FILE_TMPDIR/hog"
	mkdir -p "$HOG"
	cat >"$HOG/flake.nix" <<-'EOF'
		{
		  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.05";
		  outputs = { self, nixpkgs }:
		    let pkgs = nixpkgs.legacyPackages.x86_64-linux; in {
		      packages.x86_64-linux.default = pkgs.runCommand "memory-hog" { } ''
		        dd if=/dev/zero of=/dev/null bs=1500M count=1
		        mkdir $out
		      '';
		    };
		}
	EOF
}

teardown_file() {
	kill "$(cat "$BATS_FILE_TMPDIR/holder.pid")" 2>/dev/null || true
}

setup() {
	cd "$BATS_FILE_TMPDIR" || return 1
	unset MVM_BUILDER
}

# no_builder_left: no builder VM record and no QEMU of one.
no_builder_left() {
	local left
	left=$(ls "$MVM_HOME/vms" 2>/dev/null | grep '^builder-' || true)
	[ -z "$left" ] || { echo "builder VM left: $left"; return 1; }
	! pgrep -f "qemu-system.*$MVM_HOME/builder/images" >/dev/null || {
		echo "a builder QEMU is still running"
		return 1
	}
}

in_host_store() { ls /nix/store | grep -q -- "-$UNIQ\$"; }

# source_in_host_store: the flake's source (its flake.nix names $UNIQ) was
# copied into the host's /nix/store, as evaluating it with the host's nix does
source_in_host_store() {
	local f
	for f in /nix/store/*-source/flake.nix; do
		grep -qs -- "$UNIQ" "$f" && return 0
	done
	return 1
}

# replace_in FILE OLD NEW: the text OLD (not a pattern) becomes NEW.
replace_in() {
	local text
	text=$(cat "$1")
	printf '%s\n' "${text/"$2"/"$3"}" >"$1"
}

@test "seed 003 with the builder: create, build in a builder VM, scale; the output never reaches the host's /nix/store" {
	run "$MVMCTL" pool create acme/workers --flake "$FLAKE" --profile default --mem 256M
	[ "$status" -eq 0 ]
	[ "$(jq -r .builder "$MVM_HOME/pools/acme/workers/pool.json")" = vm ]
	run --separate-stderr "$MVMCTL" pool build acme/workers
	echo "$stderr" >"$BATS_FILE_TMPDIR/first.log"
	[ "$status" -eq 0 ] || { echo "$stderr"; return 1; }
	assert_contains "$stderr" "building acme/workers ($FLAKE#default) in a builder VM"
	assert_contains "$stderr" "in a builder VM in"
	# nix's own log came through, as it ran
	assert_contains "$stderr" "building '/nix/store/"
	assert_contains "$stderr" "-$UNIQ.drv'"
	[[ "$stderr" != *$'\e'* ]]	    # not a terminal: plain lines, no escapes
	local rd
	rd="$MVM_HOME/pools/acme/workers/current"
	[ "$(jq -r .builder.where "$rd/revision.json")" = vm ]
	[ "$(jq -r .builder "$rd/provenance.json")" = vm ]
	jq -e '.builder.image | test("^[0-9a-f]{64}$")' "$rd/revision.json" >/dev/null
	jq -e '.builder.boot_s > 0 and .builder.nix_s > 0 and .builder.export_s > 0 and .builder.stop_s > 0' \
		"$rd/revision.json" >/dev/null
	[[ "$(jq -r .nix_out "$rd/revision.json")" == *"-$UNIQ" ]]
	! in_host_store
	# evaluated in the VM too: the host's nix never saw the flake
	! source_in_host_store
	assert_contains "$stderr" "boot "
	assert_contains "$stderr" "evaluate "
	# the revision names the inputs by the host's paths, not the VM's /in
	[ "$(jq -r .hash_inputs.inputs.nixpkgs.path "$rd/revision.json")" = "$STANDIN" ]
	jq -e '.builder.resolve_s > 0' "$rd/revision.json" >/dev/null
	# the superseded builder image is gone, the one a build holds stays
	[ ! -e "$MVM_HOME/builder/images/old" ]
	[ -f "$MVM_HOME/builder/images/held/rootfs.ext4" ]
	[ -f "$MVM_HOME/builder/images/$(jq -r .builder.image "$rd/revision.json")/rootfs.ext4" ]
	# the tenant's store disk stays; the VM and its staging are gone
	[ -f "$MVM_HOME/tenants/acme/builder/store.ext4" ]
	[ "$(stat -c %a "$MVM_HOME/tenants/acme/builder/store.ext4")" = 600 ]
	[ -z "$(ls -A "$MVM_HOME/tmp")" ]
	no_builder_left
	# the revision boots as any other
	run "$MVMCTL" pool scale acme/workers --running 1
	[ "$status" -eq 0 ]
	[ "$("$MVMCTL" instance ls acme/workers --json | jq -r '.instances[0].state')" = running ]
	"$MVMCTL" pool scale acme/workers --running 0 >/dev/null
}

@test "a second build of a changed flake reuses the tenant's builder store: nothing unchanged is rebuilt" {
	grep -q "busybox-standin.drv" "$BATS_FILE_TMPDIR/first.log"
	echo "# edited $RANDOM" >>"$FLAKE/flake.nix"
	kill "$(cat "$BATS_FILE_TMPDIR/holder.pid")" # its build is over
	# on a terminal: nix's lines and a status line below them, redrawn in place
	local tty="$BATS_TEST_TMPDIR/tty.log"
	run env -u NO_COLOR TERM=xterm script -qefc "$(printf '%q ' "$MVMCTL" pool build acme/workers)" "$tty"
	[ "$status" -eq 0 ] || { cat "$tty"; return 1; }
	local stderr
	stderr=$(cat "$tty")
	assert_contains "$stderr" "built revision"
	[[ "$stderr" =~ \[[0-9]+/[0-9]+\ built ]]
	assert_contains "$stderr" $'\r\e[Kbuild ' # cleared before mvm's own next line
	[ ! -e "$MVM_HOME/builder/images/held" ]
	[ "$(ls "$MVM_HOME/builder/images" | wc -l)" -eq 1 ]
	[[ "$stderr" != *"busybox-standin.drv"* ]]
	[ "$(jq '.builds | length' "$MVM_HOME/pools/acme/workers/pool.json")" -eq 2 ]
	no_builder_left
	# unchanged: evaluated in a builder VM, found built, nothing rebuilt
	run --separate-stderr "$MVMCTL" pool build acme/workers --json
	[ "$status" -eq 0 ] || { echo "$stderr"; return 1; }
	[ "$(jq -r .built <<<"$output")" = false ]
	[[ "$stderr" != *"building '/nix/store/"* ]]
	[ "$(jq '.builds | length' "$MVM_HOME/pools/acme/workers/pool.json")" -eq 3 ]
	! source_in_host_store
	no_builder_left
}

@test "another tenant's builder store is its own: it builds what acme has already built" {
	"$MVMCTL" pool create beta/workers --flake "$FLAKE" --profile default --mem 256M >/dev/null
	run --separate-stderr "$MVMCTL" pool build beta/workers
	[ "$status" -eq 0 ] || { echo "$stderr"; return 1; }
	assert_contains "$stderr" "busybox-standin.drv"
	[ -f "$MVM_HOME/tenants/beta/builder/store.ext4" ]
	[ "$(stat -c %i "$MVM_HOME/tenants/beta/builder/store.ext4")" != \
		"$(stat -c %i "$MVM_HOME/tenants/acme/builder/store.ext4")" ]
	! in_host_store
}

@test "a failing derivation, or a flake that does not parse, exits 7 with nix's message; current does not move" {
	"$MVMCTL" pool create acme/broken --flake "$FLAKE" --profile broken >/dev/null
	run --separate-stderr "$MVMCTL" pool build acme/broken
	[ "$status" -eq 7 ]
	assert_contains "$stderr" "nix build failed in the builder VM"
	# the build's own lines as they came, prefixed as nix build -L does; the
	# error repeats the last of them
	assert_contains "$stderr" "broken> this build fails on purpose"
	[ "$(grep -c "this build fails on purpose" <<<"$stderr")" -ge 2 ]
	[ ! -e "$MVM_HOME/pools/acme/broken/current" ]
	no_builder_left
	# a flake.nix that does not parse fails where it is evaluated: in the VM
	local bad="$BATS_TEST_TMPDIR/bad"
	cp -r "$FLAKE" "$bad"
	echo '{ this is not nix' >"$bad/flake.nix"
	"$MVMCTL" pool create acme/unparsed --flake "$bad" --profile default >/dev/null
	run --separate-stderr "$MVMCTL" pool build acme/unparsed
	[ "$status" -eq 7 ]
	assert_contains "$stderr" "evaluating the flake in the builder VM failed"
	assert_contains "$stderr" "syntax error"
	[ ! -e "$MVM_HOME/pools/acme/unparsed/current" ]
	no_builder_left
}

@test "a build that wants more memory than the builder has fails inside it, clearly" {
	"$MVMCTL" pool create acme/hog --flake "$HOG" --profile default >/dev/null
	run --separate-stderr "$MVMCTL" pool build acme/hog --builder-mem 256M
	[ "$status" -eq 7 ]
	assert_contains "$stderr" "nix build failed in the builder VM"
	[[ "$stderr" == *"out of memory"* || "$stderr" == *"Out of memory"* ]]
	no_builder_left
	# the host and mvm go on: the next build works
	run "$MVMCTL" pool build acme/workers
	[ "$status" -eq 0 ]
}

@test "--timeout stops a build that runs past it; bad builder flags are usage errors" {
	echo "# edited $RANDOM" >>"$FLAKE/flake.nix"
	run --separate-stderr "$MVMCTL" pool build acme/workers --timeout 2
	[ "$status" -eq 7 ]
	assert_contains "$stderr" "the build ran past its time limit of 2 s and was stopped"
	no_builder_left
	run --separate-stderr "$MVMCTL" pool build acme/workers --builder nowhere
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "invalid builder 'nowhere': expected vm or host"
	run --separate-stderr "$MVMCTL" pool create acme/x --flake "$FLAKE" --profile default --builder nowhere
	[ "$status" -eq 2 ]
	[ ! -e "$MVM_HOME/pools/acme/x" ]
}

@test "the builder's settings: MVM_BUILDER and --builder at create, pool info, bad [builder] values and flags" {
	MVM_BUILDER=host run "$MVMCTL" pool create acme/onhost --flake "$FLAKE" --profile default
	[ "$status" -eq 0 ]
	run "$MVMCTL" pool info acme/onhost --json
	[ "$(jq -r .builder <<<"$output")" = host ]
	run "$MVMCTL" pool info acme/workers
	assert_contains "$output" "builder         vm (a builder microVM)"
	run "$MVMCTL" pool info acme/onhost
	assert_contains "$output" "builder         host (nix on the host)"
	run --separate-stderr "$MVMCTL" pool build acme/workers --builder-mem 100M
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "--builder-mem must be at least 256M"
	run --separate-stderr "$MVMCTL" pool build acme/workers --builder-vcpus 0
	[ "$status" -eq 2 ]
	local cfg="$BATS_TEST_TMPDIR/config.toml"
	printf '[builder]\nmem = "lots"\n' >"$cfg"
	MVM_CONFIG=$cfg run --separate-stderr "$MVMCTL" pool build acme/workers
	[ "$status" -eq 3 ]
	assert_contains "$stderr" "[builder] mem: 'lots' is not a size (1024, 512M, 2G)"
	printf '[builder]\ntimeout = 0\n' >"$cfg"
	MVM_CONFIG=$cfg run --separate-stderr "$MVMCTL" pool build acme/workers
	[ "$status" -eq 3 ]
	assert_contains "$stderr" "timeout: expected seconds, from 1 to 604800"
	printf '[builder]\nvcpus = "two"\n' >"$cfg"
	MVM_CONFIG=$cfg run --separate-stderr "$MVMCTL" pool build acme/workers
	[ "$status" -eq 3 ]
	assert_contains "$stderr" "vcpus: expected a whole number from 1 to 255"
	# a good [builder] section sizes the VM: recorded in the revision
	printf '[builder]\nvcpus = 1\nmem = "512M"\n' >"$cfg"
	echo "# edited $RANDOM" >>"$FLAKE/flake.nix"
	MVM_CONFIG=$cfg run --separate-stderr "$MVMCTL" pool build acme/workers --json
	[ "$status" -eq 0 ] || { echo "$stderr"; return 1; }
	[ "$(jq -r '"\(.builder) \(.builder_vm.vcpus) \(.builder_vm.mem_mib)"' <<<"$output")" = "vm 1 512" ]
	[ "$(jq -r '.builder.vcpus' "$MVM_HOME/pools/acme/workers/current/revision.json")" = 1 ]
}

@test "mvmctl build --builder vm gives a developer's project the same boundary, with its own store" {
	local proj="$BATS_FILE_TMPDIR/proj"
	cp -r "$FLAKE" "$proj"
	echo "# project $RANDOM" >>"$proj/flake.nix"
	run --separate-stderr "$MVMCTL" build "$proj" --builder vm --json
	[ "$status" -eq 0 ] || { echo "$stderr"; return 1; }
	local rd
	rd=$(jq -r .revision_dir <<<"$output")
	[ "$(jq -r .builder "$rd/provenance.json")" = vm ]
	[ "$(jq -r .builder.where "$rd/revision.json")" = vm ]
	assert_contains "$stderr" "-$UNIQ.drv'"
	[ -f "$MVM_HOME/builder/store/store.ext4" ]
	! in_host_store
	! source_in_host_store # evaluated in the VM as well
	no_builder_left
	run --separate-stderr "$MVMCTL" build "$proj" --builder elsewhere
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "invalid builder 'elsewhere': expected host or vm"
}

@test "SIGKILL of pool build mid-build: no QEMU left, nothing half-registered, the next build works" {
	# a derivation that runs until killed, so the kill lands while nix builds
	# in the VM, however fast the rest of the build is
	local plain="paths = [ pkgs.busybox hello unit ];"
	local slow="paths = [ pkgs.busybox hello unit (pkgs.runCommand \"mvm-slow\" { } \"sleep 600; mkdir \$out\") ];"
	replace_in "$FLAKE/flake.nix" "$plain" "$slow"
	grep -q mvm-slow "$FLAKE/flake.nix"
	local before log="$BATS_TEST_TMPDIR/build.log"
	before=$(jq '.builds | length' "$MVM_HOME/pools/acme/workers/pool.json")
	"$MVMCTL" pool build acme/workers >"$log" 2>&1 &
	local pid=$!
	local i
	for i in $(seq 1 1800); do
		grep -q -- "-mvm-slow.drv'" "$log" && break
		sleep 0.1
	done
	grep -q -- "-mvm-slow.drv'" "$log" || { cat "$log"; return 1; }
	kill -9 "$pid"
	wait "$pid" 2>/dev/null || true
	for i in $(seq 1 100); do
		no_builder_left >/dev/null 2>&1 && break
		sleep 0.1
	done
	no_builder_left
	[ "$(jq '.builds | length' "$MVM_HOME/pools/acme/workers/pool.json")" -eq "$before" ]
	# every registered revision still matches its checksums.json, file by file
	local rev
	for rev in "$MVM_HOME"/pools/acme/workers/revisions/*/; do
		(cd "$rev" && jq -r '.files | to_entries[] | "\(.value.sha256)  \(.key)"' checksums.json |
			sha256sum --quiet -c -) || { echo "$rev does not verify"; return 1; }
	done
	replace_in "$FLAKE/flake.nix" "sleep 600" "sleep 0"
	run "$MVMCTL" pool build acme/workers
	replace_in "$FLAKE/flake.nix" "${slow/sleep 600/sleep 0}" "$plain"
	[ "$status" -eq 0 ]
	[ -z "$(ls -A "$MVM_HOME/tmp")" ]
}

@test "a store disk at least [builder] gc_at full is collected after the build, keeping what the build was made from" {
	local cfg="$BATS_TEST_TMPDIR/config.toml" disk="$MVM_HOME/tenants/acme/builder/store.ext4"
	# store_has NAME: the tenant's store disk holds an output named NAME
	store_has() { debugfs -R 'ls -p /nix/store' "$disk" 2>/dev/null | grep -q -- "-$1/"; }
	store_has mvm-slow # the SIGKILL test's last build made it; nothing needs it now
	store_has busybox-standin
	printf '[builder]\ngc_at = 1\n' >"$cfg"
	echo "# edited $RANDOM" >>"$FLAKE/flake.nix"
	MVM_CONFIG=$cfg run --separate-stderr "$MVMCTL" pool build acme/workers --json
	[ "$status" -eq 0 ] || { echo "$stderr"; return 1; }
	assert_contains "$stderr" "([builder] gc_at = 1): collected its garbage, keeping what this build was made from:"
	jq -e '.builder_vm.store_gc.result | test("^[0-9]+ store paths deleted")' <<<"$output" >/dev/null
	! store_has mvm-slow
	store_has busybox-standin # built from: kept (keep-outputs)
	store_has "$UNIQ"
	# below gc_at (the default, 80), nothing is collected; and the next build
	# still finds what the last one was made from
	echo "# edited $RANDOM" >>"$FLAKE/flake.nix"
	run --separate-stderr "$MVMCTL" pool build acme/workers --json
	[ "$status" -eq 0 ] || { echo "$stderr"; return 1; }
	[[ "$stderr" != *"busybox-standin.drv"* ]]
	[[ "$stderr" != *"collected its garbage"* ]]
	[ "$(jq '.builder_vm.store_gc' <<<"$output")" = null ]
	printf '[builder]\ngc_at = 0\n' >"$cfg"
	MVM_CONFIG=$cfg run --separate-stderr "$MVMCTL" pool build acme/workers
	[ "$status" -eq 3 ]
	assert_contains "$stderr" "gc_at: expected a percentage, from 1 to 100"
}

@test "--builder host builds the same flake with the host's nix: then it is in the host's /nix/store" {
	echo "# edited $RANDOM" >>"$FLAKE/flake.nix"
	run --separate-stderr "$MVMCTL" pool build beta/workers --builder host
	[ "$status" -eq 0 ]
	assert_contains "$stderr" "on the host"
	in_host_store
	source_in_host_store # the probe above sees what the host's nix evaluates
}

# export NAME TAR-ARGS...: a disk as the builder writes it (header block, then
# the tar) from a tree in $BATS_TEST_TMPDIR/x, made with GNU tar
export_disk() {
	local disk="$BATS_TEST_TMPDIR/$1.img"
	shift
	printf 'MVM-EXPORT-V1\n' >"$disk"
	truncate -s 4096 "$disk"
	tar -C "$BATS_TEST_TMPDIR/x" -cf - "$@" >>"$disk"
	printf %s "$disk"
}

@test "the host refuses an export a hostile guest wrote: outside the closure, setuid, hard links, devices, through a link, too big" {
	local P=nix/store/00000000000000000000000000000000-good
	local x="$BATS_TEST_TMPDIR/x" imp="$MVM_BUILD/tests/builder-import" disk root
	mkdir -p "$x/$P/bin" "$x/etc" "$x/nix/store/11111111111111111111111111111111-other"
	echo hi >"$x/$P/bin/hello"
	chmod 0555 "$x/$P/bin/hello"
	ln -s /etc/shadow "$x/$P/shadow"
	echo secret >"$x/etc/passwd"
	# what the builder writes for a good closure comes in whole; links stay links
	disk=$(export_disk good "$P")
	root="$BATS_TEST_TMPDIR/r0" && mkdir "$root"
	run "$imp" "$disk" 4096 "$root" "/$P"
	[ "$status" -eq 0 ] && [ "$output" = 3 ]
	[ "$(cat "$root/$P/bin/hello")" = hi ]
	[ "$(readlink "$root/$P/shadow")" = /etc/shadow ]
	[ "$(stat -c %a "$root/$P/bin/hello")" = 555 ]
	# refusals, each naming the entry (exit 7), nothing followed out of root
	check() { # NAME WANT TAR-ARGS...
		local name=$1 want=$2
		shift 2
		disk=$(export_disk "$name" "$@")
		root="$BATS_TEST_TMPDIR/r-$name" && mkdir "$root"
		run --separate-stderr "$imp" "$disk" 4096 "$root" "/$P"
		[ "$status" -eq 7 ] || { echo "$name: status $status: $stderr"; return 1; }
		assert_contains "$stderr" "$want"
	}
	check outside "'etc/passwd' is outside nix/store" "$P" etc/passwd
	check other "is not in the build's closure" "$P" nix/store/11111111111111111111111111111111-other
	chmod u+s "$x/$P/bin/hello"
	check setuid "is setuid or setgid" "$P"
	chmod u-s "$x/$P/bin/hello"
	ln "$x/$P/bin/hello" "$x/$P/bin/again"
	check hardlink "is a hard link" "$P"
	rm "$x/$P/bin/again"
	mkfifo "$x/$P/fifo"
	check fifo "is a device, fifo or socket" "$P"
	rm "$x/$P/fifo"
	# a directory entry that is a link, then a file "inside" it: never written through
	rm -rf "$x/$P/bin" && ln -s /tmp "$x/$P/bin"
	mkdir -p "$x/y/$P/bin" && echo boom >"$x/y/$P/bin/planted"
	disk="$BATS_TEST_TMPDIR/through.img"
	printf 'MVM-EXPORT-V1\n' >"$disk" && truncate -s 4096 "$disk"
	tar -C "$x" -cf "$BATS_TEST_TMPDIR/a.tar" "$P"
	tar -C "$x/y" -rf "$BATS_TEST_TMPDIR/a.tar" "$P/bin/planted"
	cat "$BATS_TEST_TMPDIR/a.tar" >>"$disk"
	root="$BATS_TEST_TMPDIR/r-through" && mkdir "$root"
	run --separate-stderr "$imp" "$disk" 4096 "$root" "/$P"
	[ "$status" -eq 7 ]
	assert_contains "$stderr" "lies under something that is not a directory"
	[ ! -e /tmp/planted ]
	# past the size limit (1 MiB for the tool)
	rm "$x/$P/bin" && mkdir "$x/$P/bin" && head -c 2000000 /dev/zero >"$x/$P/bin/big"
	check big "goes past the export's size limit" "$P"
	# a closure path that is not there at all
	rm -rf "$x/$P/bin"
	disk=$(export_disk missing "$P")
	root="$BATS_TEST_TMPDIR/r-missing" && mkdir "$root"
	run --separate-stderr "$imp" "$disk" 4096 "$root" "/$P" /nix/store/22222222222222222222222222222222-gone
	[ "$status" -eq 7 ]
	assert_contains "$stderr" "'nix/store/22222222222222222222222222222222-gone' is missing"
}
