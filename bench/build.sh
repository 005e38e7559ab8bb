#!/usr/bin/env bash
# Build benchmarks (issue 4), each against its floor in the same run:
#   1. a cache-hit `mvmctl build` vs a bare C program stat'ing the same files
#      (target: at most 3x);
#   2. rootfs.ext4 creation (staging + mkfs, the "pack" phase) vs a bare
#      `mkfs.ext4 -d` of the same staged tree (target: at most 1.1x).
# Prints medians of N runs and the ratios. Needs a built tree (make) and
# scripts/install-deps.sh; runs offline against the stand-in nixpkgs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MVM_BUILD:-$root/build}
N=${N:-15}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export MVM_HOME=$tmp/home MVM_OFFLINE=1 MVM_LIBEXEC=$build
"$root/scripts/standin-nixpkgs.sh" "$tmp/standin" >/dev/null
export MVM_OVERRIDE_INPUTS="nixpkgs=path:$tmp/standin"
cp -r "$root/tests/fixtures/hello" "$tmp/p"
cc -O2 -o "$tmp/statwalk" "$root/bench/statwalk.c"
"$build/mvmctl" build -q "$tmp/p"

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_runs() { # time_runs N CMD... -> one duration per line
	local n=$1; shift
	for _ in $(seq "$n"); do
		local t0; t0=$(now); "$@" >/dev/null 2>&1; echo "$(now) - $t0" | bc -l
	done
}

hit=$(time_runs "$N" "$build/mvmctl" build -q "$tmp/p" | median)
floor=$(time_runs "$N" "$tmp/statwalk" "$tmp/p" | median)
printf 'cache-hit build   %.4f s   bare stat walk %.4f s   ratio %.2f (target <= 3)\n' \
	"$hit" "$floor" "$(echo "$hit / $floor" | bc -l)"

# Packing: mvm's pack phase (from build --json) vs mkfs.ext4 -d of the same tree.
packs=() mkfss=() mvmkfs=()
rev=$(readlink -f "$MVM_HOME"/templates/*/current)
out=$(jq -r .nix_out "$rev/revision.json")
for _ in $(seq 5); do
	j=$("$build/mvmctl" build --force --json "$tmp/p" 2>/dev/null)
	packs+=("$(jq -r .phases_s.pack <<<"$j")")
	mvmkfs+=("$(jq -r .phases_s.pack_mkfs <<<"$j")")
	rm -rf "$tmp/stage" "$tmp/img"
	mkdir -p "$tmp/stage/nix/store"
	for p in $(nix --extra-experimental-features nix-command path-info -r "$out"); do
		cp -a --reflink=never -l "$p" "$tmp/stage/nix/store/" 2>/dev/null || cp -a "$p" "$tmp/stage/nix/store/"
	done
	size=$(stat -c %s "$rev/rootfs.ext4")
	t0=$(now)
	mkfs.ext4 -q -F -L mvm-root -b 4096 -m 0 -O ^has_journal -E root_owner=0:0 -d "$tmp/stage" "$tmp/img" "$((size / 1024))k"
	mkfss+=("$(echo "$(now) - $t0" | bc -l)")
done
pack=$(printf '%s\n' "${packs[@]}" | median)
img=$(printf '%s\n' "${mvmkfs[@]}" | median)
mk=$(printf '%s\n' "${mkfss[@]}" | median)
printf 'image creation    %.4f s   bare mkfs.ext4 -d %.4f s   ratio %.2f (target <= 1.1)\n' \
	"$img" "$mk" "$(echo "$img / $mk" | bc -l)"
printf 'whole pack phase  %.4f s   (staging the closure tree + image + kernel), ratio %.2f\n' \
	"$pack" "$(echo "$pack / $mk" | bc -l)"
