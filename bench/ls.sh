#!/usr/bin/env bash
# Listing and start-up benchmarks (issue 5), each against its floor:
#   1. `mvmctl ls` with VMS (default 20) real running VMs (--mem 128M) vs
#      bench/lsreader.c: the same vm.json reads with jansson, the same flock
#      probe of each shim.lock, the same table (target: at most 3x);
#   2. `mvmctl --version` vs bench/version.c printing the same two lines
#      (target: at most 3x).
# Prints medians of N runs (default 50) and the ratios.
#
#   N=50 VMS=20 bench/ls.sh
set -euo pipefail
. "$(dirname "$0")/vm_common.bash"
N=${N:-50}
VMS=${VMS:-20}
vm_bench_init
cc -O2 -o "$tmp/lsreader" "$root/bench/lsreader.c" -ljansson
cc -O2 -o "$tmp/version" "$root/bench/version.c"
# not a floor, an explanation: an empty main linked against mvmctl's libraries
needed=$(readelf -d "$MVMCTL" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/-l:\1/p' | grep -v 'libc\.so' | tr '\n' ' ')
echo 'int main(void) { return 0; }' >"$tmp/empty.c"
# shellcheck disable=SC2086
cc -O2 -o "$tmp/libsonly" "$tmp/empty.c" -Wl,--no-as-needed $needed

t0=$EPOCHREALTIME
for i in $(seq "$VMS"); do
	"$MVMCTL" up -d -q "$ART" --mem 128M --name "ls$i" >/dev/null
done
echo "booted $VMS VMs in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}') s" >&2

# the floor must show what mvmctl shows (the UPTIME column may tick between the two)
"$MVMCTL" ls | awk '{$NF=""; print}' >"$tmp/ls.mvm"
"$tmp/lsreader" "$MVM_HOME" | awk '{$NF=""; print}' >"$tmp/ls.bare"
if ! diff -u "$tmp/ls.mvm" "$tmp/ls.bare" >&2; then
	echo "lsreader does not print what mvmctl ls prints" >&2
	exit 1
fi
[ "$(grep -c ' running ' "$tmp/ls.mvm")" -eq "$VMS" ] || { echo "not all $VMS VMs are running" >&2; exit 1; }

# time_runs N CMD...: one wall time per line
time_runs() {
	local n=$1 t0 t1
	shift
	for _ in $(seq "$n"); do
		t0=$EPOCHREALTIME
		"$@" >/dev/null
		t1=$EPOCHREALTIME
		awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}'
	done
}
# alternate the two in rounds of 5 so both see the same background load
pair() { # pair OUT_A OUT_B -- CMD_A... -- CMD_B...
	local a=$1 b=$2 ca=() cb=()
	shift 3
	while [ "$1" != -- ]; do ca+=("$1"); shift; done
	shift
	cb=("$@")
	: >"$a"
	: >"$b"
	for _ in $(seq $(((N + 4) / 5))); do
		time_runs 5 "${ca[@]}" >>"$a"
		time_runs 5 "${cb[@]}" >>"$b"
	done
}

pair "$tmp/t.ls" "$tmp/t.lsr" -- "$MVMCTL" ls -- "$tmp/lsreader" "$MVM_HOME"
pair "$tmp/t.ver" "$tmp/t.verb" -- "$MVMCTL" --version -- "$tmp/version"
pair "$tmp/t.libs" "$tmp/t.verb2" -- "$tmp/libsonly" -- "$tmp/version"
ls_m=$(median <"$tmp/t.ls") ls_b=$(median <"$tmp/t.lsr")
v_m=$(median <"$tmp/t.ver") v_b=$(median <"$tmp/t.verb")
printf 'mvmctl ls (%d running VMs)  %.2f ms   bare reader (vm.json + flock probe) %.2f ms   (medians of %d)\n' \
	"$VMS" "$(awk -v x="$ls_m" 'BEGIN {print x * 1000}')" "$(awk -v x="$ls_b" 'BEGIN {print x * 1000}')" "$(wc -l <"$tmp/t.ls")"
printf 'ls: ratio %s (target <= 3)\n' "$(ratio "$ls_m" "$ls_b")"
printf 'mvmctl --version  %.2f ms   bare C printf %.2f ms   (medians of %d)\n' \
	"$(awk -v x="$v_m" 'BEGIN {print x * 1000}')" "$(awk -v x="$v_b" 'BEGIN {print x * 1000}')" "$(wc -l <"$tmp/t.ver")"
printf 'version: ratio %s (target <= 3)\n' "$(ratio "$v_m" "$v_b")"
l_m=$(median <"$tmp/t.libs") l_b=$(median <"$tmp/t.verb2")
printf 'of which loading: an empty main linked with %s: %.2f ms (%s x the bare printf)\n' \
	"${needed//-l:/}" "$(awk -v x="$l_m" 'BEGIN {print x * 1000}')" "$(ratio "$l_m" "$l_b")"
