#!/usr/bin/env bash
# Snapshot benchmarks, each against its floor in the same run (medians of N):
#   1. restore: `mvmctl up -d` of a revision with a snapshot (it returns when
#      the guest agent reports READY) vs a bare qemu-system-x86_64 doing the
#      restore itself, with the argv of a QEMU mvm restored (read from
#      /proc/<vmm_pid>/cmdline), driven over QMP by bench/snapfloor.c:
#      migrate-set-capabilities x-ignore-shared, getfd + migrate-incoming,
#      cont, HELLO on the agent port; timed from fork to the guest's HELLO
#      reply (target: at most 1.25x). The floor then also sends IDENTITY and
#      waits for READY: the guest work mvm's ready includes (printed, no target).
#      mvm-init's own account of that work ("ready N ms after the identity",
#      with the mount(2) of the data disk apart) gives a lower bound: no
#      restore is ready before the floor's HELLO plus that mount (printed);
#   2. the same restore at 1 GiB of guest RAM against 256 MiB (target: at most
#      1.2x: a restore must not scale with memory);
#   3. a cold `mvmctl up -d` of the same fixture, same sizing, built without
#      --snapshot, against the restore (target: at least 10x);
#   4. saving: the save_us `mvmctl build --snapshot --force` records vs a bare
#      QEMU booted in snapshot mode with the same argv (RAM file share=on),
#      stop + x-ignore-shared migrate to a file + fsync, the end found by the
#      MIGRATION event (target: at most 1.2x); the same floor polling
#      query-migrate as mvm does (printed, no target); the snapshot's size.
# Runs alternate so both sides see the same noise; `mvmctl down` and the
# floors' QEMU teardown are outside the timed regions.
#
#   N=10 bench/snapshot.sh     MVM_ACCEL (default tcg), MVM_BUILD as for the tests,
#                              FIXTURE (tests/fixtures/…, default datadisk),
#                              VERBOSE=1 prints every run
# Needs a built tree (make) and scripts/install-deps.sh; runs offline against
# the stand-in nixpkgs, in a private MVM_HOME.
set -euo pipefail
. "$(dirname "$0")/vm_common.bash" # now, median, ratio, vm_field
N=${N:-10}
FIXTURE=${FIXTURE:-datadisk}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MVM_BUILD:-$root/build}
[ -x "$build/mvmctl" ] || { echo "no $build/mvmctl: run make first" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mvm-snapbench.XXXXXX")
export MVM_HOME=$tmp/home MVM_LIBEXEC=${MVM_LIBEXEC:-$build} MVM_OFFLINE=1
export MVM_ACCEL=${MVM_ACCEL:-tcg} MVM_BUILD=$build
FLOOR_PID=

# vm_bench_cleanup (vm_common.bash) downs the VMs; the floor helper goes first
# (its QEMU dies with it, PR_SET_PDEATHSIG)
BARE_PID='' BARE_FD='' BARE_DRAIN=''
cleanup() {
	local rc=$?
	[ -z "$FLOOR_PID" ] || { kill -9 "$FLOOR_PID" 2>/dev/null || true; wait "$FLOOR_PID" 2>/dev/null || true; }
	(exit "$rc")
	vm_bench_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

mkdir -p "$MVM_HOME" "$tmp/bin" && chmod 700 "$MVM_HOME"
cp "$build/mvmctl" "$tmp/bin/mvmctl" # a `make` meanwhile cannot swap it
MVMCTL=$tmp/bin/mvmctl
cc -O2 -o "$tmp/bin/snapfloor" "$root/bench/snapfloor.c"
SNAPFLOOR=$tmp/bin/snapfloor
"$root/scripts/standin-nixpkgs.sh" "$tmp/standin" >/dev/null
export MVM_OVERRIDE_INPUTS="nixpkgs=path:$tmp/standin"
"$build/tests/kernel-ensure" >/dev/null

say() { [ -z "${VERBOSE:-}" ] || echo "$*" >&2; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN {print b - a}'; }
verdict() { # verdict VALUE OP TARGET -> "met" / "NOT MET"
	awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {ok = op == "<=" ? v <= t : v >= t; print ok ? "met" : "NOT MET"}'
}
rev_of() { readlink -f "$MVM_HOME/templates/$(printf %s "$(realpath "$1/mvm.toml")" | sha256sum | cut -d' ' -f1)/current"; }

# Three copies of the fixture, three slots: the same flake, so the same
# revision contents; 256 MiB with a snapshot, 1 GiB with one, 256 MiB without.
for p in snap snap1g cold; do cp -r "$root/tests/fixtures/$FIXTURE" "$tmp/$p"; done
"$MVMCTL" build -q --snapshot "$tmp/snap"
"$MVMCTL" build -q --snapshot --mem 1G "$tmp/snap1g"
"$MVMCTL" build -q "$tmp/cold"
REV=$(rev_of "$tmp/snap") REV1G=$(rev_of "$tmp/snap1g")

# up_timed NAME DIR WANT: one `up -d`, its wall time in UP_S; checks it
# started as WANT (snapshot or cold), then downs it (untimed).
up_timed() {
	local t0 t1
	t0=$EPOCHREALTIME # not $(now): a command substitution forks inside the timed region
	"$MVMCTL" up -d --json "$2" --name "$1" >"$tmp/up.json" 2>"$tmp/up.err" ||
		{ echo "mvmctl up $1 failed:" >&2; cat "$tmp/up.err" >&2; exit 1; }
	t1=$EPOCHREALTIME
	UP_S=$(secs "$t0" "$t1")
	local from
	from=$(jq -r .started_from "$tmp/up.json")
	[ "$from" = "$3" ] || { echo "VM $1 started from '$from', not $3:" >&2; cat "$tmp/up.err" >&2; exit 1; }
	UP_SHIM_S=$(jq -r '.boot_ms / 1000' "$tmp/up.json")
	"$MVMCTL" down -q "$1" >/dev/null
	# mvm-init's own account, logged after READY (so read once it is down):
	# "ready A ms after the identity: …, disks B ms (mount of /data C ms), …"
	GUEST_READY_S='' GUEST_MOUNT_S=''
	[ "$3" = snapshot ] || return 0
	local line
	line=$(grep -a 'ms after the identity' "$MVM_HOME/vms/$1/console.log" | tail -n1)
	GUEST_READY_S=$(sed -n 's/.*ready \([0-9.]*\) ms after the identity.*/\1/p' <<<"$line" | awk '{print $1 / 1000}')
	GUEST_MOUNT_S=$(sed -n 's/.*mount of \/data \([0-9.]*\) ms.*/\1/p' <<<"$line" | awk '{print $1 / 1000}')
	[ -n "$GUEST_READY_S" ] && [ -n "$GUEST_MOUNT_S" ] ||
		{ echo "VM $1: no 'ready … ms after the identity' line with a /data mount on its console" >&2; exit 1; }
}

# capture NAME DIR OUT: up NAME from its snapshot (this first start also
# makes its data disk), writes the restored QEMU's argv, NUL-separated, to
# OUT with the VM's data disk swapped for a sparse copy (the floor must not
# touch the VM's files), then downs it.
capture() {
	local name=$1 pid a i
	"$MVMCTL" up -d -q "$2" --name "$name" >/dev/null
	pid=$(vm_field "$name" vmm_pid)
	mapfile -d '' ARGV <"/proc/$pid/cmdline"
	"$MVMCTL" down -q "$name" >/dev/null
	for i in "${!ARGV[@]}"; do
		a=${ARGV[$i]}
		case $a in
		*"file=$MVM_HOME/vms/$name/"*)
			cp --sparse=always "${a##*file=}" "$tmp/$name-data.img"
			ARGV[$i]="${a%%file=*}file=$tmp/$name-data.img"
			;;
		*"$MVM_HOME/vms/"*) echo "the argv names a per-VM file ($a)" >&2 && exit 1 ;;
		esac
	done
	printf '%s\0' "${ARGV[@]}" >"$3"
	grep -qz -- '^-incoming$' "$3" || { echo "VM $name was not restored (no -incoming)" >&2; exit 1; }
}

# floor CMD ARGS...: runs snapfloor in the background (so the cleanup can
# kill it by pid), its one line of key=value in FLOOR.
floor() {
	"$SNAPFLOOR" "$@" >"$tmp/floor.out" &
	FLOOR_PID=$!
	wait "$FLOOR_PID" || { FLOOR_PID=; echo "snapfloor $1 failed" >&2; exit 1; }
	FLOOR_PID=
	FLOOR=$(cat "$tmp/floor.out")
}
fl() { tr ' ' '\n' <<<"$FLOOR" | sed -n "s/^$1=//p"; }

capture r "$tmp/snap" "$tmp/argv-256"
capture g "$tmp/snap1g" "$tmp/argv-1g"
"$MVMCTL" up -d -q "$tmp/cold" --name c >/dev/null # makes its data disk
"$MVMCTL" down -q c >/dev/null

r_up=() r_shim=() r_guest=() r_mount=() r_hello=() r_ready=() g_up=() g_hello=() cold_up=()
for i in $(seq "$N"); do
	up_timed r "$tmp/snap" snapshot
	r_up+=("$UP_S") r_shim+=("$UP_SHIM_S") r_guest+=("$GUEST_READY_S") r_mount+=("$GUEST_MOUNT_S")
	floor restore "$tmp/argv-256" "$REV/snapshot/vmstate" "$tmp/floor-console.log" bare
	r_hello+=("$(fl hello)") r_ready+=("$(fl ready)")
	say "run $i: 256M up ${r_up[-1]} s (shim ${r_shim[-1]}, guest from identity to ready ${r_guest[-1]}, /data mount ${r_mount[-1]}), floor: $FLOOR"

	up_timed g "$tmp/snap1g" snapshot
	g_up+=("$UP_S")
	floor restore "$tmp/argv-1g" "$REV1G/snapshot/vmstate" "$tmp/floor-console.log"
	g_hello+=("$(fl hello)")
	say "run $i: 1G   up ${g_up[-1]} s, floor: $FLOOR"

	up_timed c "$tmp/cold" cold
	cold_up+=("$UP_S")
	say "run $i: cold up ${cold_up[-1]} s"
done
med() { printf '%s\n' "$@" | median; }
up=$(med "${r_up[@]}") shim=$(med "${r_shim[@]}") guest=$(med "${r_guest[@]}") mount=$(med "${r_mount[@]}") hello=$(med "${r_hello[@]}") ready=$(med "${r_ready[@]}")
up1g=$(med "${g_up[@]}") hello1g=$(med "${g_hello[@]}") cold=$(med "${cold_up[@]}")

echo "snapshot benchmarks: fixture $FIXTURE, $MVM_ACCEL, medians of $N"
printf '1. restore: up -d to ready %.3f s (the shim'"'"'s own boot_ms %.3f s)   bare QEMU, same argv, restore to the guest'"'"'s HELLO reply %.3f s\n' \
	"$up" "$shim" "$hello"
r=$(ratio "$up" "$hello")
printf '   restore: ratio %s (target <= 1.25): %s\n' "$r" "$(verdict "$r" "<=" 1.25)"
printf '   note: mvm'"'"'s ready also includes the guest applying its IDENTITY (clock, seed, hostname,\n'
printf '   network), mounting its data disk and starting the fixture'"'"'s service; the same floor carried\n'
printf '   on to READY (IDENTITY sent as the shim does) takes %.3f s: up -d / that = %s (no target)\n' \
	"$ready" "$(ratio "$up" "$ready")"
printf '   guest, by mvm-init'"'"'s own clock: ready %.3f s after the identity, of which mount(2) of the\n' "$guest"
printf '   data disk %.3f s. That mount must follow the restore (the disk is the VM'"'"'s own), so no\n' "$mount"
printf '   restore can be ready before the floor'"'"'s HELLO + that mount = %.3f s: %s x the floor at best\n' \
	"$(awk -v a="$hello" -v b="$mount" 'BEGIN {print a + b}')" "$(ratio "$(awk -v a="$hello" -v b="$mount" 'BEGIN {print a + b}')" "$hello")"
printf '   (under TCG every kernel path a restored guest runs is translated anew)\n'
r=$(ratio "$up1g" "$up")
printf '2. restore at 1 GiB: up -d %.3f s vs %.3f s at 256 MiB: ratio %s (target <= 1.2): %s   (floor to HELLO: %.3f s vs %.3f s, %s)\n' \
	"$up1g" "$up" "$r" "$(verdict "$r" "<=" 1.2)" "$hello1g" "$hello" "$(ratio "$hello1g" "$hello")"
r=$(ratio "$cold" "$up")
printf '3. cold up -d (same fixture and sizing, no snapshot) %.3f s vs restore %.3f s: cold/restore %s (target >= 10): %s\n' \
	"$cold" "$up" "$r" "$(verdict "$r" ">=" 10)"

# 4. Saving. The floor boots QEMU with the restored argv turned back into a
# snapshot-mode boot, as build --snapshot starts it: RAM file share=on (a
# fresh one each run), mvm.snapshot=1 on the kernel command line, a sparse
# placeholder for the data disk, no -incoming.
mapfile -d '' ARGV <"$tmp/argv-256"
SAVE_ARGV=() skip=0
for a in "${ARGV[@]}"; do
	if [ "$skip" = 1 ]; then skip=0 && continue; fi
	case $a in
	-incoming) skip=1 && continue ;;
	-S) continue ;;
	memory-backend-file,*) a=${a/share=off/share=on} a="${a%%mem-path=*}mem-path=$tmp/save-mem" ;;
	*" mvm.hostname="*) a=$(sed 's/ mvm\.hostname=[^ ]*/ mvm.hostname=mvm-snapshot mvm.snapshot=1/' <<<"$a") ;;
	*"file=$tmp/r-data.img") a="${a%%file=*}file=$tmp/save-data.img" ;;
	esac
	SAVE_ARGV+=("$a")
done
printf '%s\0' "${SAVE_ARGV[@]}" >"$tmp/argv-save"
data_mib=$(jq -r '.data_disk_mib // 0' "$REV/snapshot/meta.json")

m_save=() f_save=() p_save=()
for i in $(seq "$N"); do
	"$MVMCTL" build --snapshot --force --json "$tmp/snap" 2>/dev/null >"$tmp/build.json"
	[ "$(jq -r .snapshot.reused "$tmp/build.json")" = false ] || { echo "build --snapshot --force reused the snapshot" >&2; exit 1; }
	m_save+=("$(jq -r '.snapshot.save_us / 1000000' "$tmp/build.json")")
	rm -f "$tmp/save-mem" "$tmp/save-data.img"
	[ "$data_mib" = 0 ] || truncate -s "${data_mib}M" "$tmp/save-data.img"
	floor save "$tmp/argv-save" "$tmp/save-state" "$tmp/floor-console.log"
	f_save+=("$(fl save)")
	say "run $i: mvm save_us ${m_save[-1]} s, floor: $FLOOR"
	rm -f "$tmp/save-mem" "$tmp/save-data.img"
	[ "$data_mib" = 0 ] || truncate -s "${data_mib}M" "$tmp/save-data.img"
	floor save "$tmp/argv-save" "$tmp/save-state" "$tmp/floor-console.log" poll
	p_save+=("$(fl save)")
	say "run $i: floor polling as mvm does: $FLOOR"
done
REV=$(rev_of "$tmp/snap")
msave=$(med "${m_save[@]}") fsave=$(med "${f_save[@]}") psave=$(med "${p_save[@]}")
r=$(ratio "$msave" "$fsave")
printf '4. save: mvm save_us %.4f s   bare QEMU stop + x-ignore-shared migrate to a file + fsync %.4f s\n' \
	"$msave" "$fsave"
printf '   save: ratio %s (target <= 1.2): %s\n' "$r" "$(verdict "$r" "<=" 1.2)"
printf '   the same floor finding the end by polling query-migrate (naps of 1, 2, 4, 8, 16 ms, as mvm did\n'
printf '   before it waited for the MIGRATION event): %.4f s; mvm / that = %s (no target)\n' "$psave" "$(ratio "$msave" "$psave")"
printf '   snapshot size: size_bytes %s (state file %s B + guest RAM file %s B allocated of %s B); the floor'"'"'s state file %s B\n' \
	"$(jq -r .size_bytes "$REV/snapshot/meta.json")" "$(stat -c %s "$REV/snapshot/vmstate")" \
	"$(($(stat -c %b "$REV/snapshot/mem") * 512))" "$(stat -c %s "$REV/snapshot/mem")" \
	"$(stat -c %s "$tmp/save-state")"
