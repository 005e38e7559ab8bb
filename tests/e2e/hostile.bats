#!/usr/bin/env bats
# A hostile guest, on the real virtio-serial channel: mvm-init's test mode
# (src/guest/inject.c, enabled by /etc/mvm/test-inject in the image) sends
# what a process writes to /run/mvm-inject to the host as it is, among the
# agent's own frames. The frames come from tests/tools/hostile-frames.c:
# oversized and unknown frames, frames for streams that do not exist, output
# past every window, a HELLO flood; then a minute of console output at full
# speed. Through all of it the supervisor stays up and small (its peak RSS
# under 16 MiB), a session running beside keeps working, console.log stays
# within its cap and `down` ends the VM. The tests run in order on one VM.
bats_require_minimum_version 1.5.0
load helpers
load boot_helpers

VM=hostile
SHIM_RSS_MAX_KIB=16384
CONSOLE_MAX=$((16 << 20)) # SHIM_CONSOLE_MAX in src/shim/shim.c

setup_file() {
	export MVM_HOME="$BATS_FILE_TMPDIR/home"
	kernel_provision || return 1
	local art="$BATS_FILE_TMPDIR/art" root="$BATS_FILE_TMPDIR/root"
	mkdir -p "$art"
	cp "$KERNEL_VMLINUX" "$art/vmlinux"
	cp "$KERNEL_INITRD" "$art/initrd.img"
	busybox_rootfs "$root"
	mkdir -p "$root/etc/mvm" "$root/hostile"
	: >"$root/etc/mvm/test-inject"
	"$MVM_BUILD/tests/hostile-frames" "$root/hostile" || return 1
	mkfs.ext4 -q -F -d "$root" "$art/rootfs.ext4" 64M >/dev/null || return 1
	export MVM_ACCEL=tcg
	"$MVMCTL" up "$art" -d --name "$VM" >/dev/null || return 1
}

teardown_file() {
	local pid
	for pid in $(jq -r '.shim_pid // empty, .vmm_pid // empty' "$MVM_HOME/vms/$VM/vm.json" 2>/dev/null); do
		kill -9 "$pid" 2>/dev/null || true
	done
}

setup() {
	export MVM_ACCEL=tcg
	SHIM=$(jq -r .shim_pid "$MVM_HOME/vms/$VM/vm.json")
}

# inject FILE: the guest sends /hostile/FILE on the agent channel.
inject() {
	run --separate-stderr "$MVMCTL" exec "$VM" -- /bin/sh -c "cat /hostile/$1 >/run/mvm-inject"
	[ "$status" -eq 0 ] || { echo "injecting $1: $status $stderr"; return 1; }
}

# still_serving: the supervisor runs, is small, and a new session works.
still_serving() {
	kill -0 "$SHIM" || { echo "the supervisor is gone"; return 1; }
	local hwm
	hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$SHIM/status")
	echo "shim VmHWM: $hwm KiB" >&3
	[ "$hwm" -lt "$SHIM_RSS_MAX_KIB" ] || { echo "shim peak RSS $hwm KiB"; return 1; }
	run --separate-stderr "$MVMCTL" exec "$VM" -- echo still serving
	[ "$status" -eq 0 ] && [ "$output" = "still serving" ] || {
		echo "exec after: $status '$output' $stderr"
		return 1
	}
}

@test "the guest runs in test mode: its FIFO exists" {
	run "$MVMCTL" exec "$VM" -- test -p /run/mvm-inject
	[ "$status" -eq 0 ]
	grep -q "test mode: bytes written to /run/mvm-inject" "$MVM_HOME/vms/$VM/console.log"
}

@test "frames longer than the cap, then unknown types and versions: the supervisor resynchronises" {
	inject oversize.bin
	still_serving
	inject unknown.bin
	still_serving
}

@test "STDOUT, STDERR, STARTED, WINDOW and EXIT for streams that do not exist change nothing" {
	# a session that runs through the rest of this file's injections
	(
		"$MVMCTL" exec "$VM" -- /bin/sh -c 'i=0; while [ $i -lt 20 ]; do echo tick $i; i=$((i + 1)); sleep 1; done' \
			>"$BATS_FILE_TMPDIR/beside.out" 2>&1
		echo $? >"$BATS_FILE_TMPDIR/beside.rc"
	) 3>&- &
	echo $! >"$BATS_FILE_TMPDIR/beside.pid"
	inject ghost.bin
	still_serving
}

@test "output past every window, on streams 1-16, leaves memory bounded" {
	inject nocredit.bin
	still_serving
}

@test "a flood of 100,000 HELLOs neither stalls the supervisor nor rewrites the record each time" {
	local before after
	before=$(stat -c %Y.%i "$MVM_HOME/vms/$VM/vm.json")
	inject hello.bin
	still_serving
	# the agent name is printable text and the record reads back
	jq -e .agent "$MVM_HOME/vms/$VM/vm.json" >/dev/null
	run "$MVMCTL" ls -q
	assert_contains "$output" "$VM"
	# one HELLO a connection: the flood did not touch the record
	after=$(stat -c %Y.%i "$MVM_HOME/vms/$VM/vm.json")
	assert_eq "$before" "$after"
	assert_eq "mvm-init" "$(jq -r .agent "$MVM_HOME/vms/$VM/vm.json" | cut -d' ' -f1)"
}

@test "the session beside ran to its end with every line, through all of it" {
	gone "$(cat "$BATS_FILE_TMPDIR/beside.pid")" 60
	assert_eq 0 "$(cat "$BATS_FILE_TMPDIR/beside.rc")"
	# its stream may be one the flood of output wrote to (the guest may say
	# anything on its own streams): none of its own lines is lost
	assert_eq "$(seq -f 'tick %g' 0 19)" "$(grep -ao 'tick [0-9]*' "$BATS_FILE_TMPDIR/beside.out")"
}

@test "frames written to the FIFO in pieces never swallow a session's own frames" {
	# ghost.bin 7 bytes a write: the guest reads the FIFO mid-frame again and
	# again while this session's lines go out; each line, and the session's
	# end, still arrives whole (a swallowed EXIT would leave exec waiting)
	run --separate-stderr timeout 120 "$MVMCTL" exec "$VM" -- /bin/sh -c '
		/bin/busybox dd if=/hostile/ghost.bin of=/run/mvm-inject bs=7 2>/dev/null &
		dd=$! i=0
		while kill -0 $dd 2>/dev/null; do echo line $i; i=$((i + 1)); done
		wait $dd'
	[ "$status" -eq 0 ] || { echo "exec: $status $stderr"; return 1; }
	local n
	n=$(grep -ac '^line [0-9]*$' <<<"$output")
	echo "$n lines while injecting" >&3
	[ "$n" -ge 10 ]
	assert_eq "$(seq -f 'line %g' 0 $((n - 1)))" "$(grep -ao 'line [0-9]*' <<<"$output")"
	still_serving
}

@test "a minute of console output at full speed: console.log stays within its cap" {
	run --separate-stderr "$MVMCTL" exec "$VM" -- /bin/sh -c \
		'end=$(($(date +%s) + 60)); while [ "$(date +%s)" -lt $end ]; do cat /bin/busybox; done >/dev/console'
	[ "$status" -eq 0 ]
	local log="$MVM_HOME/vms/$VM/console.log" size old=0
	size=$(stat -c %s "$log")
	[ -e "$log.1" ] && old=$(stat -c %s "$log.1")
	echo "console.log $size bytes, console.log.1 $old bytes" >&3
	[ "$size" -le "$CONSOLE_MAX" ]
	[ "$old" -le "$CONSOLE_MAX" ]
	assert_eq "" "$(ls "$MVM_HOME/vms/$VM" | grep '^console\.log\.[2-9]')"
	still_serving
}

@test "down still ends the hostile VM in bounded time" {
	local vmm
	vmm=$(jq -r .vmm_pid "$MVM_HOME/vms/$VM/vm.json")
	run timeout 60 "$MVMCTL" down "$VM"
	[ "$status" -eq 0 ]
	gone "$vmm" 10
	gone "$SHIM" 10
	[ "$(jq -r .state "$MVM_HOME/vms/$VM/vm.json")" = exited ]
}
