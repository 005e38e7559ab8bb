#!/usr/bin/env bash
# Fleet benchmarks (instance lifecycle), each against its floor in the same
# run, alternated (medians of N). One tenant, pool acme/w (datadisk fixture,
# 1 vCPU, 256 MiB, 64 MiB data disk, pool snapshot) and pool acme/g (same, 1 GiB).
#   1. warm -> running: `mvmctl instance resume` vs a bare QEMU (same argv)
#      paused with `stop`: `cont` + one PING/PONG round trip on the agent port
#      (target <= 1.5x);
#   2. sleeping -> running: `mvmctl instance wake` vs the bare restore of the
#      same sleep (fleetfloor cycle: -incoming defer, x-ignore-shared,
#      migrate-incoming from the sleep's vmstate, RAM file share=on, cont,
#      HELLO, WAKE, the READY that answers it — what the shim waits for; the
#      HELLO is printed too) (target <= 1.25x);
#      the same at 1 GiB vs 256 MiB (flat: <= 1.2x);
#   3. running -> sleeping: `mvmctl instance sleep` vs bare stop + x-ignore-shared
#      migrate to a file + fsync + end QEMU + fsync of the RAM file (target
#      <= 1.2x); s per GiB of touched (allocated) guest RAM;
#   4. `pool scale --running 4` from 0 (restores from the pool snapshot) vs
#      four sequential bare restores (bench/snapfloor.c restore, to READY);
#      four cold `mvmctl up -d` of the same fixture printed alongside;
#   5. memory: a sleeping instance has no VMM (pgrep); 4 warm instances'
#      QEMU Rss/Pss vs 4 bare QEMUs with the same argv, restored and paused.
#
#   N=5 bench/fleet.sh     MVM_ACCEL (default tcg), MVM_BUILD, VERBOSE=1
# Needs a built tree (make all tests); runs offline in a private MVM_HOME.
set -euo pipefail
. "$(dirname "$0")/vm_common.bash" # now, median, ratio
N=${N:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MVM_BUILD:-$root/build}
[ -x "$build/mvmctl" ] || { echo "no $build/mvmctl: run make first" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mvm-fleetbench.XXXXXX")
export MVM_HOME=$tmp/home MVM_LIBEXEC=${MVM_LIBEXEC:-$build} MVM_DATADIR=${MVM_DATADIR:-$root/share}
export MVM_OFFLINE=1 MVM_ACCEL=${MVM_ACCEL:-tcg} MVM_BUILD=$build
HOLD_PIDS=()

cleanup() {
	local rc=$? p d
	trap - EXIT INT TERM HUP
	for p in "${HOLD_PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	if [ -d "$MVM_HOME/pools" ]; then
		for d in "$MVM_HOME"/pools/*/*/instances/*/; do
			[ -d "$d" ] || continue
			p=${d#"$MVM_HOME"/pools/}
			timeout 60 "$MVMCTL" instance stop "${p%%/instances/*}/$(basename "$d")" >/dev/null 2>&1 || true
		done
	fi
	[ -d "$MVM_HOME/vms" ] && { timeout 60 "$MVMCTL" down --all >/dev/null 2>&1 || true; }
	for f in "$MVM_HOME"/pools/*/*/instances/*/vm.json "$MVM_HOME"/vms/*/vm.json; do
		[ -e "$f" ] || continue
		for p in $(jq -r 'select(.state != "exited") | .shim_pid // empty, .vmm_pid // empty' "$f" 2>/dev/null); do
			kill -9 "$p" 2>/dev/null || true
		done
	done
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

mkdir -p "$MVM_HOME" "$tmp/bin" "$tmp/fl" && chmod 700 "$MVM_HOME"
cp "$build/mvmctl" "$tmp/bin/mvmctl"
MVMCTL=$tmp/bin/mvmctl
cc -O2 -o "$tmp/bin/snapfloor" "$root/bench/snapfloor.c"
cc -O2 -I"$root/bench" -o "$tmp/bin/fleetfloor" "$root/bench/fleetfloor.c"
SNAPFLOOR=$tmp/bin/snapfloor FLEETFLOOR=$tmp/bin/fleetfloor
"$root/scripts/standin-nixpkgs.sh" "$tmp/standin" >/dev/null
export MVM_OVERRIDE_INPUTS="nixpkgs=path:$tmp/standin"
"$build/tests/kernel-ensure" >/dev/null

say() { [ -z "${VERBOSE:-}" ] || echo "$*" >&2; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN {print b - a}'; }
med() { printf '%s\n' "$@" | median; }
verdict() { awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {ok = op == "<=" ? v <= t : v >= t; print ok ? "met" : "NOT MET"}'; }
timed() { # timed CMD...: runs it quietly, its wall time in T_S
	local t0
	local t1
	t0=$EPOCHREALTIME # not $(now): a command substitution forks inside the timed region
	"$@" >"$tmp/cmd.out" 2>&1 || { echo "failed: $*" >&2; cat "$tmp/cmd.out" >&2; exit 1; }
	t1=$EPOCHREALTIME
	T_S=$(secs "$t0" "$t1")
}
M() { "$MVMCTL" "$@"; }
idir() { printf '%s/pools/%s/instances/%s' "$MVM_HOME" "${1%/*}" "${1##*/}"; }
vmm_of() { jq -r '.vmm_pid // empty' "$(idir "$1")/vm.json"; }

cp -r "$root/tests/fixtures/datadisk" "$tmp/flake"
M tenant create acme --max-vcpus 16 --max-running 16 >/dev/null
echo '{"api_key": "bench"}' >"$tmp/secrets.json"
M tenant secrets set acme --from-file "$tmp/secrets.json" >/dev/null
M pool create acme/w --flake "$tmp/flake" --profile default --cpus 1 --mem 256 --data-disk 64 >/dev/null
M pool create acme/g --flake "$tmp/flake" --profile default --cpus 1 --mem 1024 --data-disk 64 >/dev/null
for p in w g; do
	M pool build "acme/$p" --json >"$tmp/build-$p.json"
	[ "$(jq -r .snapshot.created "$tmp/build-$p.json")" = true ] || { echo "acme/$p: no pool snapshot" >&2; exit 1; }
done
REVW=$(jq -r .revision_dir "$tmp/build-w.json")

# One instance per pool, started from the pool snapshot.
M pool scale acme/w --running 1 >/dev/null
M pool scale acme/g --running 1 >/dev/null
IW=$(M instance ls acme/w --json | jq -r '.instances[0].address')
IG=$(M instance ls acme/g --json | jq -r '.instances[0].address')

# floor_files ADDR DIR: the running instance's argv with its per-instance files
# (RAM file, secrets disk, data disk) swapped for copies in DIR; then puts it to
# sleep and copies its sleep (vmstate + RAM file): the floor restores from
# those. Its argv (NUL-separated) in DIR/argv.
floor_files() {
	local a=$1 d=$2 id pid i
	id=$(idir "$a")
	pid=$(vmm_of "$a")
	mkdir -p "$d"
	mapfile -d '' ARGV <"/proc/$pid/cmdline"
	cp "$id/secrets.img" "$d/secrets.img"
	M instance sleep "$a" >/dev/null
	cp --sparse=always "$id/mem" "$d/mem"
	cp --sparse=always "$id/data.ext4" "$d/data.ext4"
	cp "$id/sleep/vmstate" "$d/vmstate"
	for i in "${!ARGV[@]}"; do ARGV[i]=${ARGV[i]//$id\//$d/}; done
	printf '%s\0' "${ARGV[@]}" >"$d/argv"
	if tr '\0' '\n' <"$d/argv" | grep -q "$MVM_HOME/pools/[^/]*/[^/]*/instances/"; then
		echo "the argv still names an instance file" >&2
		exit 1
	fi
	M instance wake "$a" >/dev/null
}
floor_files "$IW" "$tmp/fl/w"
floor_files "$IG" "$tmp/fl/g"

FL=''
fl() { tr ' ' '\n' <<<"$FL" | sed -n "s/^$1=//p"; }
cycle() { FL=$("$FLEETFLOOR" cycle "$1/argv" "$1/vmstate" "$1/mem" "$tmp/fl/console.log" 1); }

# --- 1-3: resume, sleep, wake; mvm and floor alternated ---------------------
m_res=() f_res=() m_sleep=() f_sleep=() m_wake=() f_hello=() f_woke=()
m_wake_g=() f_hello_g=() f_woke_g=() m_sleep_g=() f_sleep_g=() touched=() touched_g=()
for i in $(seq "$N"); do
	# mvm: pause (untimed), resume (timed); sleep; wake
	M instance pause "$IW" >/dev/null
	sleep 0.02
	timed M instance resume "$IW"
	m_res+=("$T_S")
	touched+=("$(($(stat -c %b "$(idir "$IW")/mem") * 512))")
	timed M instance sleep "$IW"
	m_sleep+=("$T_S")
	timed M instance wake "$IW"
	m_wake+=("$T_S")
	# floor: a wake, a resume, a sleep of the same guest
	cycle "$tmp/fl/w"
	f_hello+=("$(fl hello)") f_woke+=("$(fl woke)")
	f_res+=("$(fl warm)") f_sleep+=("$(fl save)")
	say "run $i: mvm resume ${m_res[-1]} sleep ${m_sleep[-1]} wake ${m_wake[-1]}; floor $FL"
	# 1 GiB pool
	touched_g+=("$(($(stat -c %b "$(idir "$IG")/mem") * 512))")
	timed M instance sleep "$IG"
	m_sleep_g+=("$T_S")
	timed M instance wake "$IG"
	m_wake_g+=("$T_S")
	cycle "$tmp/fl/g"
	f_hello_g+=("$(fl hello)") f_woke_g+=("$(fl woke)") f_sleep_g+=("$(fl save)")
	say "run $i: 1G mvm sleep ${m_sleep_g[-1]} wake ${m_wake_g[-1]}; floor $FL"
done

# --- 5a: a sleeping instance holds no VMM -----------------------------------
rss_of() { awk '/^Rss:/ {r=$2} /^Pss:/ {p=$2} END {printf "%d %d\n", r, p}' "/proc/$1/smaps_rollup"; }
pid=$(vmm_of "$IW")
read -r before_rss before_pss < <(rss_of "$pid")
before_n=$(pgrep -fc -- "-name mvm-$IW( |\$)" || true)
M instance sleep "$IW" >/dev/null
after_n=$(pgrep -fc -- "-name mvm-$IW( |\$)" || true)
M instance wake "$IW" >/dev/null

# --- 4: pool scale --running 4 from 0 vs 4 bare restores; 4 cold up -d -------
M pool scale acme/g --running 0 >/dev/null
M pool scale acme/w --running 0 >/dev/null
# the argv of a QEMU restored from the pool snapshot, as snapshot.sh's floor
# runs it: RAM the pool snapshot's file, share=off (copy-on-write)
mapfile -d '' ARGV <"$tmp/fl/w/argv"
for i in "${!ARGV[@]}"; do
	case ${ARGV[i]} in memory-backend-file,*) ARGV[i]="${ARGV[i]%%share=*}share=off,size=256M,mem-path=$REVW/snapshot/mem" ;; esac
done
printf '%s\0' "${ARGV[@]}" >"$tmp/fl/argv-cow"
cp -r "$root/tests/fixtures/datadisk" "$tmp/cold"
M build -q "$tmp/cold" --cpus 1 --mem 256M --data-disk 64M >/dev/null # same sizing as acme/w, no snapshot
for k in 1 2 3 4; do M up -d -q "$tmp/cold" --name "c$k" >/dev/null; M down -q "c$k" >/dev/null; done
m_scale=() f_scale=() f_scale_ready=() cold4=()
for i in $(seq "$N"); do
	timed M pool scale acme/w --running 4
	m_scale+=("$T_S")
	[ "$(M instance ls acme/w --json | jq '[.instances[] | select(.state == "running")] | length')" = 4 ] ||
		{ echo "scale: not 4 running" >&2; exit 1; }
	grep -q "cold boot" "$tmp/cmd.out" && { echo "scale cold-booted:" >&2; cat "$tmp/cmd.out" >&2; exit 1; }
	M pool scale acme/w --running 0 >/dev/null
	h=0 r=0
	for k in 1 2 3 4; do
		FL=$("$SNAPFLOOR" restore "$tmp/fl/argv-cow" "$REVW/snapshot/vmstate" "$tmp/fl/console.log" "i-floor$k")
		h=$(awk -v a="$h" -v b="$(fl hello)" 'BEGIN {print a + b}')
		r=$(awk -v a="$r" -v b="$(fl ready)" 'BEGIN {print a + b}')
	done
	f_scale+=("$h") f_scale_ready+=("$r")
	t0=$(now)
	for k in 1 2 3 4; do M up -d -q "$tmp/cold" --name "c$k" >/dev/null; done
	cold4+=("$(secs "$t0" "$(now)")")
	for k in 1 2 3 4; do M down -q "c$k" >/dev/null; done
	say "run $i: scale ${m_scale[-1]} floor hello $h ready $r cold4 ${cold4[-1]}"
done

# --- 5b: 4 warm instances vs 4 bare QEMUs, same argv, paused ------------------
M pool scale acme/w --running 0 --warm 4 >/dev/null
m_rss=0 m_pss=0
for a in $(M instance ls acme/w --json | jq -r '.instances[] | select(.state == "warm") | .address'); do
	read -r r p < <(rss_of "$(vmm_of "$a")")
	m_rss=$((m_rss + r)) m_pss=$((m_pss + p))
done
nwarm=$(M instance ls acme/w --json | jq '[.instances[] | select(.state == "warm")] | length')
M pool scale acme/w --running 0 --warm 0 >/dev/null
f_rss=0 f_pss=0
for k in 1 2 3 4; do
	d=$tmp/fl/h$k
	mkdir -p "$d"
	cp --sparse=always "$REVW/snapshot/mem" "$d/mem"
	cp --sparse=always "$tmp/fl/w/data.ext4" "$d/data.ext4"
	cp "$tmp/fl/w/secrets.img" "$d/secrets.img"
	mapfile -d '' ARGV <"$tmp/fl/w/argv"
	for i in "${!ARGV[@]}"; do ARGV[i]=${ARGV[i]//$tmp\/fl\/w\//$d/}; done
	printf '%s\0' "${ARGV[@]}" >"$d/argv"
	mkfifo "$d/in"
	"$FLEETFLOOR" hold "$d/argv" "$REVW/snapshot/vmstate" "$tmp/fl/console.log" "i-hold$k" <"$d/in" >"$d/out" &
	HOLD_PIDS+=($!)
	exec {hfd}>"$d/in"
	eval "HFD$k=$hfd"
	for _ in $(seq 600); do
		grep -q pid= "$d/out" && break
		kill -0 "${HOLD_PIDS[-1]}" 2>/dev/null || { echo "fleetfloor hold failed" >&2; exit 1; }
		sleep 0.1
	done
	read -r r p < <(rss_of "$(sed -n 's/^pid=//p' "$d/out")")
	f_rss=$((f_rss + r)) f_pss=$((f_pss + p))
done
for k in 1 2 3 4; do eval "exec {HFD$k}>&-"; done
for p in "${HOLD_PIDS[@]}"; do wait "$p" || true; done
HOLD_PIDS=()

# --- report ------------------------------------------------------------------
res=$(med "${m_res[@]}") fres=$(med "${f_res[@]}")
wake=$(med "${m_wake[@]}") hello=$(med "${f_hello[@]}") woke=$(med "${f_woke[@]}")
wakeg=$(med "${m_wake_g[@]}") wokeg=$(med "${f_woke_g[@]}")
slp=$(med "${m_sleep[@]}") fslp=$(med "${f_sleep[@]}") slpg=$(med "${m_sleep_g[@]}") fslpg=$(med "${f_sleep_g[@]}")
tw=$(med "${touched[@]}") tg=$(med "${touched_g[@]}")
scale=$(med "${m_scale[@]}") fscale=$(med "${f_scale[@]}") fscaler=$(med "${f_scale_ready[@]}") cold=$(med "${cold4[@]}")
gib() { awk -v s="$1" -v b="$2" 'BEGIN {printf "%.3f", s / (b / 1073741824)}'; }

echo "fleet benchmarks: datadisk fixture, $MVM_ACCEL, medians of $N"
r=$(ratio "$res" "$fres")
printf '1. warm -> running: instance resume %.4f s   bare cont + PING/PONG %.4f s   ratio %s (target <= 1.5): %s\n' \
	"$res" "$fres" "$r" "$(verdict "$r" "<=" 1.5)"
r=$(ratio "$wake" "$woke")
printf '2. sleeping -> running: instance wake %.3f s   bare restore to the READY answering WAKE %.3f s (to HELLO %.3f s)   ratio %s (target <= 1.25): %s\n' \
	"$wake" "$woke" "$hello" "$r" "$(verdict "$r" "<=" 1.25)"
r=$(ratio "$wakeg" "$wake")
printf '   at 1 GiB: wake %.3f s vs %.3f s at 256 MiB: ratio %s (flat, <= 1.2): %s   (floor %.3f vs %.3f s: %s; mvm/floor at 1 GiB %s)\n' \
	"$wakeg" "$wake" "$r" "$(verdict "$r" "<=" 1.2)" "$wokeg" "$woke" "$(ratio "$wokeg" "$woke")" "$(ratio "$wakeg" "$wokeg")"
r=$(ratio "$slp" "$fslp")
printf '3. running -> sleeping: instance sleep %.3f s   bare stop + migrate + fsync + end QEMU + fsync RAM %.3f s   ratio %s (target <= 1.2): %s\n' \
	"$slp" "$fslp" "$r" "$(verdict "$r" "<=" 1.2)"
printf '   touched RAM %d MiB: %s s/GiB (floor %s); 1 GiB pool: sleep %.3f s vs floor %.3f s (ratio %s), touched %d MiB: %s s/GiB\n' \
	"$((tw / 1048576))" "$(gib "$slp" "$tw")" "$(gib "$fslp" "$tw")" "$slpg" "$fslpg" "$(ratio "$slpg" "$fslpg")" \
	"$((tg / 1048576))" "$(gib "$slpg" "$tg")"
r=$(ratio "$scale" "$fscaler")
printf '4. pool scale --running 4 from 0: %.3f s   4 sequential bare restores: %.3f s to HELLO, %.3f s to READY   ratio %s (vs READY)\n' \
	"$scale" "$fscale" "$fscaler" "$r"
printf '   four cold up -d of the same fixture: %.3f s (%s x the scale)\n' "$cold" "$(ratio "$cold" "$scale")"
printf '5. sleeping holds no VMM: QEMU processes of %s: %s running (Rss %d MiB, Pss %d MiB), %s sleeping\n' \
	"$IW" "$before_n" "$((before_rss / 1024))" "$((before_pss / 1024))" "$after_n"
printf '   %s warm instances: QEMU Rss %d MiB, Pss %d MiB   4 bare QEMUs (same argv, restored, paused): Rss %d MiB, Pss %d MiB   ratio %s (Rss)\n' \
	"$nwarm" "$((m_rss / 1024))" "$((m_pss / 1024))" "$((f_rss / 1024))" "$((f_pss / 1024))" "$(ratio "$m_rss" "$f_rss")"
