#!/usr/bin/env bash
# Boot reliability (issue 5): N consecutive `mvmctl up -d` / `mvmctl down`
# cycles of one VM name. A hang is an up that fails or takes longer than
# BOUND seconds (default 60), or a down that fails or exceeds the same bound;
# after one the VM is forced down and the cycles go on. Prints
# "N cycles, H hangs" (target: 0) and the median cycle, up and down times.
#
#   N=100 BOUND=60 bench/cycles.sh
set -euo pipefail
. "$(dirname "$0")/vm_common.bash"
N=${N:-100}
BOUND=${BOUND:-60}
vm_bench_init

hangs=0 cycles=() ups=() downs=()
for i in $(seq "$N"); do
	t0=$EPOCHREALTIME
	if ! timeout -k 5 "$BOUND" "$MVMCTL" up -d -q "$ART" --name cyc >/dev/null 2>"$tmp/up.err"; then
		hangs=$((hangs + 1))
		echo "cycle $i: up failed or exceeded ${BOUND} s: $(tail -n 3 "$tmp/up.err" | tr '\n' ' ')" >&2
		if [ -e "$MVM_HOME/vms/cyc/console.log" ]; then
			echo "  console tail: $(tail -c 300 "$MVM_HOME/vms/cyc/console.log" | tr '\n' ' ')" >&2
		fi
		timeout 60 "$MVMCTL" down -q cyc >/dev/null 2>&1 || true
		continue
	fi
	t1=$EPOCHREALTIME
	if ! timeout -k 5 "$BOUND" "$MVMCTL" down -q cyc >/dev/null 2>"$tmp/down.err"; then
		hangs=$((hangs + 1))
		echo "cycle $i: down failed or exceeded ${BOUND} s: $(tail -n 3 "$tmp/down.err" | tr '\n' ' ')" >&2
		continue
	fi
	t2=$EPOCHREALTIME
	ups+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')")
	downs+=("$(awk -v a="$t1" -v b="$t2" 'BEGIN {print b - a}')")
	cycles+=("$(awk -v a="$t0" -v b="$t2" 'BEGIN {print b - a}')")
done

printf 'per cycle (median of %d good): %.3f s   up -d %.3f s   down %.3f s\n' "${#cycles[@]}" \
	"$(printf '%s\n' "${cycles[@]}" | median)" "$(printf '%s\n' "${ups[@]}" | median)" \
	"$(printf '%s\n' "${downs[@]}" | median)"
printf '%d cycles, %d hangs (target 0; bound %d s)\n' "$N" "$hangs" "$BOUND"
[ "$hangs" -eq 0 ]
