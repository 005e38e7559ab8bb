#!/usr/bin/env bash
# The TCG translation cache cap (issue 5): the QEMU argv mvm uses (replayed
# bare, as in up.sh) booted to "mvm: ready" with each tb-size in SIZES
# (MiB; 0: no tb-size, QEMU's own default), alternating, N boots each.
# Per size: the median wall time to ready, QEMU's CPU time to ready, the
# resident translation cache (its rwx mapping) and the TB flushes QEMU
# counted during the boot (`info jit` over QMP; python3 talks to the socket).
# It is what src/vmm/qemu.c's QEMU_TCG_CACHE_MIB was chosen by: the smallest
# cap that boots without a flush.
#
#   N=9 SIZES="0 32 64" VCPUS=1 bench/tbsize.sh
set -euo pipefail
. "$(dirname "$0")/vm_common.bash"
N=${N:-9}
SIZES=${SIZES:-0 32 64}
VCPUS=${VCPUS:-1}
[ "${MVM_ACCEL:-tcg}" = tcg ] || { echo "tbsize.sh measures TCG only" >&2; exit 1; }
vm_bench_init

"$MVMCTL" up -d -q "$ART" --vcpus "$VCPUS" --name argv >/dev/null
capture_argv argv
"$MVMCTL" down -q argv >/dev/null

# the TB flush count of the QEMU behind a QMP socket
tb_flushes() {
	python3 - "$1" <<-'EOF'
		import json, socket, sys
		s = socket.socket(socket.AF_UNIX)
		s.settimeout(10)
		s.connect(sys.argv[1])
		f = s.makefile("rw")
		def call(cmd, args=None):
		    f.write(json.dumps({"execute": cmd, **({"arguments": args} if args else {})}) + "\n")
		    f.flush()
		    while True:
		        r = json.loads(f.readline())
		        if "return" in r or "error" in r:
		            return r
		f.readline()
		call("qmp_capabilities")
		out = call("human-monitor-command", {"command-line": "info jit"})["return"]
		print(next(l.split()[-1] for l in out.splitlines() if "TB flush count" in l))
	EOF
}

: >"$tmp/res"
for _ in $(seq "$N"); do
	for size in $SIZES; do
		argv=("${BARE_ARGV[@]}")
		for i in "${!argv[@]}"; do
			case ${argv[$i]} in
			tcg,*)
				argv[i]=$(sed 's/,tb-size=[0-9]*//' <<<"${argv[i]}")
				[ "$size" = 0 ] || argv[i]+=",tb-size=$size"
				;;
			esac
		done
		bare_start "${argv[@]}"
		bare_wait_ready 60 || exit 1
		t1=$BARE_T1
		cpu=$(awk '{print ($14 + $15) / 100}' "/proc/$BARE_PID/stat")
		code=$(awk '/^[0-9a-f]+-[0-9a-f]+ /{f = ($2 == "rwxp" && $6 == "")} f && /^Rss:/{s += $2} END {print s + 0}' \
			"/proc/$BARE_PID/smaps")
		flushes=$(tb_flushes "$tmp/bare-qmp.sock")
		bare_stop
		echo "$size $(awk -v a="$BARE_T0" -v b="$t1" 'BEGIN {print b - a}') $cpu $code $flushes" >>"$tmp/res"
	done
done

col() { awk -v s="$1" -v c="$2" '$1 == s {print $c}' "$tmp/res" | median; }
read -r base _ <<<"$SIZES"
base_wall=$(col "$base" 2) base_cpu=$(col "$base" 3)
echo "tb-size to ready, $VCPUS vCPU(s), medians of $N (ratios against tb-size=$base; 0 = QEMU's default):"
for size in $SIZES; do
	w=$(col "$size" 2) c=$(col "$size" 3)
	printf '  tb-size=%-4s wall %.3f s (%s)   QEMU CPU %.2f s (%s)   cache resident %.1f MiB   TB flushes %s\n' \
		"$size" "$w" "$(ratio "$w" "$base_wall")" "$c" "$(ratio "$c" "$base_cpu")" \
		"$(awk -v k="$(col "$size" 4)" 'BEGIN {print k / 1024}')" "$(col "$size" 5)"
done
