#!/usr/bin/env bash
# The builder VM (issue 16), in one run, against its floors:
#   - the whole: `pool build` in the builder VM against `pool build --builder
#     host` of the same flake (every phase up to the registration: boot,
#     evaluate, build, pack; a fresh revision each);
#   - the builder's fixed cost (copy in + boot (mvm-init mounting /in and
#     /nix included) + export (the closure's
#     listing by nix path-info -r, the tar, the sync) + stop + import, from
#     the build's own account in --json) against the bare work: QEMU booting
#     the same builder image to "mvm: ready" (its argv replayed, vm_common),
#     plus `cp -a` of the same input trees and `cp` of as many bytes as the
#     export held. Target: the fixed cost within 1.5x of its floor.
# Medians of N runs. Offline, TCG, against the stand-in nixpkgs.
#
#   N=3 bench/builder.sh
set -euo pipefail
. "$(dirname "$0")/vm_common.bash"
N=${N:-3}
vm_bench_init
export MVM_OFFLINE=1
"$root/scripts/standin-nixpkgs.sh" "$tmp/standin" >/dev/null
export MVM_OVERRIDE_INPUTS="nixpkgs=path:$tmp/standin"
cp -r "$root/tests/fixtures/hello" "$tmp/flake"
"$MVMCTL" tenant create bench >/dev/null
"$MVMCTL" pool create bench/p --flake "$tmp/flake" --profile default --mem 256M >/dev/null
"$MVMCTL" pool build bench/p >/dev/null 2>&1 # the image and the tenant's store, once

vm_whole=() host_whole=() fixed=() export_bytes=0
upto_pack='[.phases_s | to_entries[] | select(.key != "register" and .key != "snapshot") | .value] | add'
for i in $(seq "$N"); do
	echo "# vm $i" >>"$tmp/flake/flake.nix"
	j=$("$MVMCTL" pool build bench/p --json 2>/dev/null)
	vm_whole+=("$(jq "$upto_pack" <<<"$j")")
	fixed+=("$(jq '.builder_vm | .copy_in_s + .boot_s + .export_s + .stop_s + .import_s' <<<"$j")")
	export_bytes=$(jq '.builder_vm.export_bytes' <<<"$j")
	jq -r '.builder_vm | "  vm run: copy_in \(.copy_in_s*100|round/100) boot \(.boot_s*100|round/100) export \(.export_s*100|round/100) stop \(.stop_s*100|round/100) import \(.import_s*100|round/100) (resolve \(.resolve_s*100|round/100), nix \(.nix_s*100|round/100))"' <<<"$j"
	echo "# host $i" >>"$tmp/flake/flake.nix"
	j=$("$MVMCTL" pool build bench/p --builder host --json 2>/dev/null)
	host_whole+=("$(jq "$upto_pack" <<<"$j")")
done

# the floor: the same image booted by bare QEMU, and the same bytes copied
image=$(ls -d "$MVM_HOME"/builder/images/*/ | head -n 1)
mkdir -p "$tmp/bart"
cp "$ART/vmlinux" "$ART/initrd.img" "$tmp/bart/"
ln -s "$image/rootfs.ext4" "$tmp/bart/rootfs.ext4"
"$MVMCTL" up -d -q "$tmp/bart" --name bfloor --mem 1024M >/dev/null
capture_argv bfloor
"$MVMCTL" down bfloor >/dev/null
head -c "$export_bytes" /dev/urandom >"$tmp/export.bin"
floor=()
for i in $(seq "$N"); do
	bare_start
	bare_wait_ready 60
	boot=$(awk -v a="$BARE_T0" -v b="$BARE_T1" 'BEGIN {print b - a}')
	bare_stop
	t0=$(now)
	rm -rf "$tmp/cp" && mkdir "$tmp/cp"
	cp -a "$tmp/flake" "$tmp/cp/src" && cp -a "$tmp/standin" "$tmp/cp/in0"
	cp "$tmp/export.bin" "$tmp/cp/out.bin"
	t1=$(now)
	floor+=("$(awk -v b="$boot" -v a="$t0" -v c="$t1" 'BEGIN {print b + c - a}')")
	awk -v b="$boot" -v a="$t0" -v c="$t1" 'BEGIN {printf "  floor run: bare boot %.2f copies %.2f\n", b, c - a}'
done
v=$(printf '%s\n' "${vm_whole[@]}" | median)
h=$(printf '%s\n' "${host_whole[@]}" | median)
f=$(printf '%s\n' "${fixed[@]}" | median)
fl=$(printf '%s\n' "${floor[@]}" | median)
printf 'whole build: builder VM %.2f s   host %.2f s   ratio %s\n' "$v" "$h" "$(ratio "$v" "$h")"
printf 'fixed cost: builder %.2f s   floor (bare boot + bare copies) %.2f s   ratio %s (target <= 1.5)   (medians of %d; export %d bytes)\n' \
	"$f" "$fl" "$(ratio "$f" "$fl")" "$N" "$export_bytes"
