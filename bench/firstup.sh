#!/usr/bin/env bash
# First `up` on a host (issue 15): `MVM_ACCEL=auto mvmctl up -d` with no KVM
# verdict kept (the probe runs: on a host whose KVM cannot run a guest it ends
# on 3 s of console silence) against the same `up` once the verdict is kept
# for the host (MVM_HOST_CACHE). Medians of N runs each, in one run, and the
# ratio. The issue measured 17 s for a first up here before the probe failed
# fast.
#
#   N=3 bench/firstup.sh
set -euo pipefail
. "$(dirname "$0")/vm_common.bash"
N=${N:-3}
vm_bench_init
export MVM_ACCEL=auto
first=() cached=()
for i in $(seq "$N"); do
	export MVM_HOST_CACHE="$tmp/hostcache-$i"
	t0=$(now)
	"$MVMCTL" up -d -q "$ART" --name "first-$i" >/dev/null
	t1=$(now)
	"$MVMCTL" down "first-$i" >/dev/null
	t2=$(now)
	"$MVMCTL" up -d -q "$ART" --name "cached-$i" >/dev/null
	t3=$(now)
	"$MVMCTL" down "cached-$i" >/dev/null
	first+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')")
	cached+=("$(awk -v a="$t2" -v b="$t3" 'BEGIN {print b - a}')")
done
f=$(printf '%s\n' "${first[@]}" | median)
c=$(printf '%s\n' "${cached[@]}" | median)
printf 'first up (KVM probe) %.2f s   up with the verdict kept %.2f s   ratio %s   (medians of %d; %s)\n' \
	"$f" "$c" "$(ratio "$f" "$c")" "$N" "$(jq -r .reason "$MVM_HOST_CACHE/accel-qemu.json" 2>/dev/null || echo 'no verdict kept')"
