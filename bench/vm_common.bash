# Shared by the VM benchmarks (issue 5): a private MVM_HOME, a bootable
# artifact directory, timing helpers, and the bare-QEMU floor.
#
#   vm_bench_init                sets root/build/tmp/MVM_HOME/MVMCTL, the cleanup trap, $ART
#   now                          wall clock in seconds (no fork: $EPOCHREALTIME)
#   median                       median of the numbers on stdin
#   ratio A B                    A / B with two decimals
#   capture_argv NAME            BARE_ARGV: the QEMU argv of running VM NAME, with the
#                                inherited-fd chardevs replaced (see below)
#   bare_start [ARGV...]         starts QEMU (default: BARE_ARGV) with its console on a pipe
#                                we read; sets BARE_PID, BARE_T0 (the time of the exec)
#   bare_wait_ready [SECONDS]    reads the console until "mvm: ready" (then drains it into
#                                $tmp/bare-console.log); sets BARE_T1 (the time it was read);
#                                0 ok, 1 exit/timeout
#   bare_stop                    kills the bare QEMU and waits for it
#
# The argv replay keeps the machine, the devices, the drives and the kernel
# command line byte for byte; only the three chardevs the shim backs with
# inherited socketpairs change:
#   con   (serial console)  socket,fd=N -> stdio (QEMU's stdout is a FIFO we read)
#   qmp   (QMP monitor)     socket,fd=N -> a Unix socket server nobody connects to
#   agent (org.mvm.agent)   socket,fd=N -> a Unix socket server (BARE_AGENT_SOCK)

now() { printf '%s\n' "$EPOCHREALTIME"; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "nan"}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }

vm_bench_init() {
	root=$(cd "$(dirname "${BASH_SOURCE[1]}")/.." && pwd)
	build=${MVM_BUILD:-$root/build}
	[ -x "$build/mvmctl" ] || { echo "no $build/mvmctl: run make first" >&2; exit 1; }
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/mvm-bench.XXXXXX")
	export MVM_HOME=$tmp/home MVM_LIBEXEC=${MVM_LIBEXEC:-$build}
	export MVM_ACCEL=${MVM_ACCEL:-tcg} MVM_BUILD=$build
	BARE_PID='' BARE_FD='' BARE_DRAIN=''
	trap vm_bench_cleanup EXIT
	trap 'exit 130' INT TERM HUP
	mkdir -p "$MVM_HOME" "$tmp/bin"
	# a private copy, so a `make` in the tree meanwhile cannot swap the binary
	# under a running bench (the shim re-executes /proc/self/exe)
	cp "$build/mvmctl" "$tmp/bin/mvmctl"
	MVMCTL=$tmp/bin/mvmctl
	make_artifacts "$tmp/art"
	ART=$tmp/art
}

# Downs every VM of the private MVM_HOME, then kills by pid whatever a
# record still names (a supervisor that did not answer), and any bare QEMU.
vm_bench_cleanup() {
	local rc=$? f pid
	trap - EXIT INT TERM HUP
	bare_stop
	if [ -d "$MVM_HOME/vms" ]; then
		timeout 120 "$MVMCTL" down --all >/dev/null 2>&1 || true
		for f in "$MVM_HOME"/vms/*/vm.json; do
			[ -e "$f" ] || continue
			for pid in $(jq -r 'select(.state != "exited") | .shim_pid // empty, .vmm_pid // empty' "$f" 2>/dev/null); do
				kill -9 "$pid" 2>/dev/null || true
			done
		done
	fi
	rm -rf "$tmp"
	exit "$rc"
}

# make_artifacts DIR: vmlinux + initrd.img (mvm-init as /init) of the
# provisioned kernel and a busybox rootfs.ext4, as tests/e2e/vm.bats makes them.
make_artifacts() {
	local dir=$1 out a
	out=$("$build/tests/kernel-ensure") || { echo "kernel-ensure failed" >&2; return 1; }
	mkdir -p "$dir" "$tmp/rootdir/bin"
	cp "$(sed -n 's/^vmlinux=//p' <<<"$out")" "$dir/vmlinux"
	cp "$(sed -n 's/^initrd=//p' <<<"$out")" "$dir/initrd.img"
	cp /bin/busybox "$tmp/rootdir/bin/busybox"
	for a in sh echo cat true false sleep ls; do ln -sf busybox "$tmp/rootdir/bin/$a"; done
	mkfs.ext4 -q -F -d "$tmp/rootdir" "$dir/rootfs.ext4" 32M >/dev/null
}

# vm_field NAME FIELD: a field of the VM's record (empty when absent).
vm_field() { jq -r ".$2 // empty" "$MVM_HOME/vms/$1/vm.json"; }

capture_argv() {
	local name=$1 pid i a
	pid=$(vm_field "$name" vmm_pid)
	[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || { echo "VM '$name' has no running VMM" >&2; return 1; }
	mapfile -d '' BARE_ARGV <"/proc/$pid/cmdline"
	BARE_AGENT_SOCK=$tmp/bare-agent.sock
	local seen=0
	for i in "${!BARE_ARGV[@]}"; do
		a=${BARE_ARGV[$i]}
		case $a in
		socket,id=con,fd=*) BARE_ARGV[i]="stdio,id=con,signal=off" seen=$((seen + 1)) ;;
		socket,id=qmp,fd=*) BARE_ARGV[i]="socket,id=qmp,path=$tmp/bare-qmp.sock,server=on,wait=off" seen=$((seen + 1)) ;;
		socket,id=agent,fd=*) BARE_ARGV[i]="socket,id=agent,path=$BARE_AGENT_SOCK,server=on,wait=off" seen=$((seen + 1)) ;;
		*"$MVM_HOME/vms/"*)
			echo "the QEMU argv names a per-VM file ($a): not replayable as is" >&2
			return 1
			;;
		esac
	done
	if [ "$seen" -ne 3 ]; then
		echo "expected the con, qmp and agent chardevs on inherited fds; argv was:" >&2
		printf '  %s\n' "${BARE_ARGV[@]}" >&2
		return 1
	fi
}

bare_start() {
	[ $# -gt 0 ] || set -- "${BARE_ARGV[@]}"
	local fifo=$tmp/bare-console
	rm -f "$fifo" "$tmp/bare-qmp.sock" "${BARE_AGENT_SOCK:-}"
	mkfifo "$fifo"
	BARE_T0=$EPOCHREALTIME
	"$@" </dev/null >"$fifo" 2>"$tmp/bare-qemu.log" &
	BARE_PID=$!
	exec {BARE_FD}<"$fifo"
}

bare_wait_ready() {
	local secs=${1:-60} line deadline
	deadline=$((SECONDS + secs))
	while [ $SECONDS -lt $deadline ]; do
		if IFS= read -r -t "$secs" -u "$BARE_FD" line; then
			if [[ $line == *"mvm: ready"* ]]; then
				BARE_T1=$EPOCHREALTIME
				# keep draining the console, as the shim does: a full pipe would
				# stall QEMU's serial output and with it the guest
				cat <&"$BARE_FD" >"$tmp/bare-console.log" &
				BARE_DRAIN=$!
				return 0
			fi
		else
			# EOF (QEMU exited) or the time bound
			echo "bare QEMU: no 'mvm: ready' on the console:" >&2
			cat "$tmp/bare-qemu.log" >&2
			return 1
		fi
	done
	return 1
}

bare_stop() {
	if [ -n "${BARE_PID:-}" ]; then
		kill -9 "$BARE_PID" 2>/dev/null || true
		wait "$BARE_PID" 2>/dev/null || true
		BARE_PID=
	fi
	if [ -n "${BARE_FD:-}" ]; then
		exec {BARE_FD}<&-
		BARE_FD=
	fi
	if [ -n "${BARE_DRAIN:-}" ]; then
		wait "$BARE_DRAIN" 2>/dev/null || true
		BARE_DRAIN=
	fi
}
