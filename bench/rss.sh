#!/usr/bin/env bash
# Memory benchmark (issue 5), with one VM running (MEM, default 256M):
#   1. the shim's resident memory: VmRSS and VmHWM from /proc/<shim>/status
#      (target: under 4 MiB);
#   2. QEMU's memory beyond guest RAM: its Rss (smaps_rollup) minus the Rss of
#      the guest RAM mapping (the anonymous mapping of exactly MEM), split into
#      the TCG translation cache (the rwx anonymous mapping, capped by
#      tb-size), other anonymous memory (heap, thread arenas, device state) and
#      file-backed pages (the QEMU binary, its libraries, the kernel and initrd
#      the loader keeps mapped; page cache shared with every other QEMU).
# Measured SETTLE seconds (default 2) after ready, N times (default 3, one
# boot each); prints medians.
#
#   N=3 MEM=256M bench/rss.sh
set -euo pipefail
. "$(dirname "$0")/vm_common.bash"
N=${N:-3}
MEM=${MEM:-256M}
SETTLE=${SETTLE:-2}
vm_bench_init

# kB of a /proc/PID/status field
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

# qemu_mem PID MEM_KB: "total guest code anon_other file" in kB
qemu_mem() {
	awk -v guest_size="$2" '
		/^[0-9a-f]+-[0-9a-f]+ / { perm = $2; path = $6; next }
		/^Size:/ { size = $2 }
		/^Rss:/ { rss = $2 }
		/^Anonymous:/ {
			total += rss
			if (path == "" && perm == "rw-p" && size == guest_size && !seen) { guest += rss; seen = 1 }
			else if (path == "" && perm == "rwxp") code += rss
			else { anon += $2; file += rss - $2 }
		}
		END { print total, guest, code, anon, file }' "/proc/$1/smaps"
}

mem_kb=$(( $(numfmt --from=iec "$MEM") / 1024 ))
for i in $(seq "$N"); do
	"$MVMCTL" up -d -q "$ART" --mem "$MEM" --name rss >/dev/null
	sleep "$SETTLE"
	shim=$(vm_field rss shim_pid)
	qemu=$(vm_field rss vmm_pid)
	echo "$(status_kb "$shim" VmRSS) $(status_kb "$shim" VmHWM)" >>"$tmp/shim"
	read -r total guest code anon file < <(qemu_mem "$qemu" "$mem_kb")
	[ "$guest" -gt 0 ] || { echo "no guest RAM mapping of $mem_kb kB in QEMU's smaps" >&2; exit 1; }
	echo "$total $guest $code $anon $file" >>"$tmp/qemu"
	tb=$(tr '\0' '\n' <"/proc/$qemu/cmdline" | sed -n 's/.*tb-size=\([0-9]*\).*/\1/p')
	"$MVMCTL" down -q rss >/dev/null
done

col() { awk -v c="$2" '{print $c}' "$1" | median; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
rss=$(col "$tmp/shim" 1) hwm=$(col "$tmp/shim" 2)
total=$(col "$tmp/qemu" 1) guest=$(col "$tmp/qemu" 2) code=$(col "$tmp/qemu" 3)
anon=$(col "$tmp/qemu" 4) file=$(col "$tmp/qemu" 5)
beyond=$((total - guest))
printf 'shim: VmRSS %s MiB, VmHWM %s MiB (medians of %d; target < 4 MiB): %s\n' "$(mib "$rss")" "$(mib "$hwm")" \
	"$N" "$([ "$hwm" -lt 4096 ] && echo ok || echo OVER)"
printf 'QEMU (-m %s, %s): Rss %s MiB, guest RAM touched %s MiB\n' "$MEM" "$MVM_ACCEL" "$(mib "$total")" "$(mib "$guest")"
printf 'QEMU beyond guest RAM: %s MiB = TCG translation cache %s MiB (tb-size=%s) + other anonymous %s MiB + file-backed %s MiB\n' \
	"$(mib "$beyond")" "$(mib "$code")" "${tb:-default}" "$(mib "$anon")" "$(mib "$file")"
printf 'QEMU beyond guest RAM, private (anonymous) only: %s MiB\n' "$(mib $((code + anon)))"
