#!/usr/bin/env bash
# Completion benchmark (issue 19): what a Tab costs with VMS (default 50) VMs, against
# its floor, the bare tools listing the same files:
#   1. `mvmctl __complete vms` (names of the VMs with a record: readdir + a stat each)
#      vs `ls $MVM_HOME/vms`;
#   2. `mvmctl __complete running` (every vm.json read and parsed) vs `cat` of them all;
#   3. the whole bash completion of `mvmctl logs <Tab>` (the generated script's function,
#      which runs 1.) vs `compgen -W "$(ls $MVM_HOME/vms)"`, both in one bash;
# target: at most 50 ms each, absolute. Prints medians of N runs (default 50), the ratios.
#
# The VMs are one real VM, booted under TCG and stopped (an exited VM, as `ls -a` shows
# it), its directory copied VMS times under new names with the name in its record
# changed: booting 50 VMs to measure a directory listing would take minutes and 6 GiB.
#
#   N=50 VMS=50 bench/completion.sh
set -euo pipefail
. "$(dirname "$0")/vm_common.bash"
N=${N:-50}
VMS=${VMS:-50}
vm_bench_init

"$MVMCTL" up -d -q "$ART" --mem 128M --name tmpl >/dev/null
"$MVMCTL" down -q tmpl >/dev/null
[ "$(vm_field tmpl state)" = exited ] || { echo "tmpl did not stop" >&2; exit 1; }
for i in $(seq -w "$VMS"); do
	d="$MVM_HOME/vms/vm$i"
	cp -a "$MVM_HOME/vms/tmpl" "$d"
	jq --arg n "vm$i" '.name = $n' "$d/vm.json" >"$d/vm.json.new"
	mv "$d/vm.json.new" "$d/vm.json"
done
rm -rf "$MVM_HOME/vms/tmpl"
echo "$VMS stopped VMs: $(ls "$MVM_HOME/vms" | head -3 | tr '\n' ' ')…" >&2

# the floor must list what mvmctl lists
diff <("$MVMCTL" __complete vms) <(ls "$MVM_HOME/vms") >&2 || { echo "floor differs" >&2; exit 1; }
[ "$("$MVMCTL" __complete vms | wc -l)" -eq "$VMS" ]

time_runs() { # time_runs N CMD...: one wall time per line
	local n=$1 t0 t1
	shift
	for _ in $(seq "$n"); do
		t0=$EPOCHREALTIME
		"$@" >/dev/null
		t1=$EPOCHREALTIME
		awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}'
	done
}
pair() { # pair OUT_A OUT_B -- CMD_A... -- CMD_B...: alternated in rounds of 5
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
cat_records() { cat "$MVM_HOME"/vms/*/vm.json; }

# 3: in one bash, the generated completion function and the bare compgen
"$MVMCTL" completion bash >"$tmp/mvmctl.bash"
PATH="$tmp/bin:$PATH"
# shellcheck disable=SC1091
. "$tmp/mvmctl.bash"
tab_mvm() {
	COMP_WORDS=(mvmctl logs '') COMP_CWORD=2 COMPREPLY=()
	_mvmctl mvmctl '' logs
	[ "${#COMPREPLY[@]}" -eq "$VMS" ]
}
tab_bare() {
	mapfile -t COMPREPLY < <(compgen -W "$(ls "$MVM_HOME/vms")" -- '')
	[ "${#COMPREPLY[@]}" -eq "$VMS" ]
}

pair "$tmp/t.vms" "$tmp/t.ls" -- "$MVMCTL" __complete vms -- ls "$MVM_HOME/vms"
pair "$tmp/t.run" "$tmp/t.cat" -- "$MVMCTL" __complete running -- cat_records
pair "$tmp/t.tab" "$tmp/t.tabb" -- tab_mvm -- tab_bare

report() { # report WHAT FLOOR_WHAT MVM_FILE FLOOR_FILE
	local m b
	m=$(median <"$3") b=$(median <"$4")
	printf '%-44s %6.2f ms   %-32s %6.2f ms   ratio %s   (target <= 50 ms: %s; medians of %d)\n' \
		"$1" "$(awk -v x="$m" 'BEGIN {print x * 1000}')" "$2" "$(awk -v x="$b" 'BEGIN {print x * 1000}')" \
		"$(ratio "$m" "$b")" "$(awk -v x="$m" 'BEGIN {print (x <= 0.050 ? "met" : "MISSED")}')" "$(wc -l <"$3")"
}
report "mvmctl __complete vms ($VMS VMs)" "ls vms/" "$tmp/t.vms" "$tmp/t.ls"
report "mvmctl __complete running ($VMS records)" "cat vms/*/vm.json" "$tmp/t.run" "$tmp/t.cat"
report "bash: mvmctl logs <Tab> ($VMS VMs)" "compgen -W \"\$(ls vms/)\"" "$tmp/t.tab" "$tmp/t.tabb"
