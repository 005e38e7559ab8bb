#!/usr/bin/env bats
# mvm-init's guest agent over virtio-serial, driven by the reference client
# (tests/tools/agent-client.c) through QEMU's Unix-socket chardev. One cold-booted
# VM serves most tests of this file; a second one, booted at the same time in
# snapshot mode (mvm.snapshot=1, with a data disk and its clock in 2001), serves
# the PARKED / IDENTITY tests, in order.
bats_require_minimum_version 1.5.0
load helpers
load boot_helpers

setup_file() {
	export MVM_HOME="$BATS_FILE_TMPDIR/home"
	kernel_provision
	root="$BATS_FILE_TMPDIR/root"
	busybox_rootfs "$root"
	printf '[Service]\nExecStart=/bin/echo service up\n' >"$root/etc/systemd/system/hi.service"
	mkimage "$root" "$BATS_FILE_TMPDIR/rootfs.ext4"
	mkdir -p "$BATS_FILE_TMPDIR/data"
	echo "kept on the data disk" >"$BATS_FILE_TMPDIR/data/hello.txt"
	mkfs.ext4 -q -F -L mvm-data -d "$BATS_FILE_TMPDIR/data" "$BATS_FILE_TMPDIR/data.ext4" 16M
	export SNAP_SOCK="$BATS_FILE_TMPDIR/snap.sock"
	export SNAP_CONSOLE="$BATS_FILE_TMPDIR/snap-console.log"
	BOOT_AGENT_SOCK=$SNAP_SOCK BOOT_DATA_DISK="$BATS_FILE_TMPDIR/data.ext4" \
		BOOT_QEMU_ARGS="-rtc base=2001-01-01T00:00:00" \
		boot_start "$BATS_FILE_TMPDIR/rootfs.ext4" "$SNAP_CONSOLE" mvm.snapshot=1
	echo "$QEMU_PID" >"$BATS_FILE_TMPDIR/snap.pid"
	export BOOT_AGENT_SOCK="$BATS_FILE_TMPDIR/agent.sock"
	export CONSOLE="$BATS_FILE_TMPDIR/console.log"
	boot_start "$BATS_FILE_TMPDIR/rootfs.ext4" "$CONSOLE"
	echo "$QEMU_PID" >"$BATS_FILE_TMPDIR/qemu.pid"
	boot_wait "$CONSOLE" "mvm: ready" 60
}

teardown_file() {
	local f pid
	for f in qemu.pid snap.pid; do
		pid=$(cat "$BATS_FILE_TMPDIR/$f" 2>/dev/null) || continue
		kill -9 "$pid" 2>/dev/null || true
	done
}

agent() {
	"$MVM_BUILD/tests/agent-client" --timeout 30 "$BOOT_AGENT_SOCK" "$@"
}

# the guest booted in snapshot mode
snap() {
	"$MVM_BUILD/tests/agent-client" --timeout 30 "$SNAP_SOCK" "$@"
}

# A seed whose bytes are printable, so that a leak would show on the console.
SEED_TEXT="never-print-this-seed-0123456789"

@test "hello names the agent and reports ready; ping answers" {
	run agent hello
	[ "$status" -eq 0 ]
	assert_contains "$output" "agent=mvm-init"
	assert_contains "$output" "ready"
	run agent ping
	[ "$status" -eq 0 ]
	assert_contains "$output" "pong"
}

@test "exec passes exit codes through: 0, 7, 127 (not found), 128+N (signal)" {
	run agent exec -- /bin/true
	[ "$status" -eq 0 ]
	run agent exec -- /bin/sh -c 'exit 7'
	[ "$status" -eq 7 ]
	run -127 agent exec -- /no/such/program
	[ "$status" -eq 127 ]
	assert_contains "$output" "No such file or directory"
	run agent exec --signal-after 300 15 -- /bin/sleep 30
	[ "$status" -eq 143 ]
	run agent exec -- /bin/sh -c 'kill -9 $$'
	[ "$status" -eq 137 ]
}

@test "exec streams stdout and stderr apart, with env and working directory" {
	out=$(agent exec -e GREETING=hi -w /etc -- /bin/sh -c 'echo "$GREETING from $(pwd)"; echo oops >&2' 2>"$BATS_TEST_TMPDIR/err")
	assert_eq "hi from /etc" "$out"
	assert_eq "oops" "$(cat "$BATS_TEST_TMPDIR/err")"
}

@test "stdin is piped through exec -i, byte for byte" {
	head -c 3000000 /dev/urandom >"$BATS_TEST_TMPDIR/in"
	want=$(sha256sum <"$BATS_TEST_TMPDIR/in" | cut -d' ' -f1)
	got=$(agent exec -i -- /bin/busybox sha256sum <"$BATS_TEST_TMPDIR/in" | cut -d' ' -f1)
	assert_eq "$want" "$got"
}

@test "a large output is streamed whole under flow control, and init stays small" {
	n=$(agent exec -- /bin/busybox dd if=/dev/zero bs=65536 count=320 2>/dev/null | wc -c)
	assert_eq 20971520 "$n"
	# a slow reader: the guest waits for credit instead of buffering
	n=$(agent exec -- /bin/busybox dd if=/dev/zero bs=65536 count=64 2>/dev/null | (sleep 2; wc -c))
	assert_eq 4194304 "$n"
	hwm=$(agent exec -- /bin/grep VmHWM /proc/1/status | tr -dc 0-9)
	[ "$hwm" -lt 4096 ]
}

@test "exec -t runs on a pseudo-terminal with the window size asked for" {
	run agent exec -t -- /bin/sh -c 'tty; stty size; echo "TERM=$TERM"'
	[ "$status" -eq 0 ]
	assert_contains "$output" "/dev/pts/"
	assert_contains "$output" "30 100"
	assert_contains "$output" "TERM=xterm-256color"
	run agent exec -t -- /bin/sh -c 'exit 3'
	[ "$status" -eq 3 ]
}

@test "malformed frames are rejected and the agent keeps serving" {
	run agent garbage
	[ "$status" -eq 0 ]
	assert_contains "$output" "malformed frame header"
	assert_contains "$output" "malformed unknown frame"
	assert_contains "$output" "malformed exec frame"
	assert_contains "$output" "pong"
	run agent exec -- /bin/echo still here
	[ "$status" -eq 0 ]
	assert_contains "$output" "still here"
}

@test "an IDENTITY for a cold-booted guest is refused and the guest keeps serving" {
	run agent identity other
	[ "$status" -eq 1 ]
	assert_contains "$output" "error stream=0 code=5"
	assert_contains "$output" "not in snapshot mode"
	run agent exec -- /bin/hostname
	[ "$status" -eq 0 ]
	assert_eq "mvm" "$output"
	run agent ping
	assert_contains "$output" "pong"
	! grep -q "identity applied" "$CONSOLE"
}

@test "snapshot mode: parked after the generic setup; nothing VM-specific until IDENTITY" {
	QEMU_PID=$(cat "$BATS_FILE_TMPDIR/snap.pid")
	boot_wait "$SNAP_CONSOLE" "snapshot mode: waiting for the host's identity" 60
	run snap wait-parked
	[ "$status" -eq 0 ]
	assert_contains "$output" "parked"
	# exec is served while parked: no hostname, no address, no /data
	run snap exec -- /bin/hostname
	[ "$status" -eq 0 ]
	[ "$output" != "mvm" ]
	run snap exec -- /bin/ip -4 addr show
	[ "$status" -eq 0 ]
	[[ $output != *10.0.2.15* ]]
	run snap exec -- /bin/cat /proc/mounts
	[[ $output != *" /data "* ]]
	sleep 1
	! grep -q "mvm: ready" "$SNAP_CONSOLE"
	! grep -q "service up" "$SNAP_CONSOLE"
	# a new connection (a restored VM's new host) is told again
	run snap wait-parked
	assert_contains "$output" "parked"
}

@test "snapshot mode: malformed IDENTITY frames get ERROR 4 and change nothing" {
	run snap bad-identity
	[ "$status" -eq 0 ]
	[ "$(grep -c 'code=4: malformed identity frame' <<<"$output")" -eq 5 ]
	assert_contains "$output" "pong"
	run snap wait-parked
	assert_contains "$output" "parked"
	! grep -q "identity applied" "$SNAP_CONSOLE"
	! grep -q "mvm: ready" "$SNAP_CONSOLE"
}

@test "snapshot mode: IDENTITY sets clock, seed, hostname, network, data disk; then services and READY" {
	# the guest's clock started in 2001
	run snap exec -- /bin/date +%Y
	assert_eq "2001" "$output"
	seed_hex=$(printf '%s' "$SEED_TEXT" | od -An -tx1 | tr -d ' \n')
	run snap identity myhost "$seed_hex"
	[ "$status" -eq 0 ]
	assert_contains "$output" "ready"
	QEMU_PID=$(cat "$BATS_FILE_TMPDIR/snap.pid")
	boot_wait "$SNAP_CONSOLE" "service up" 30 # its output may follow READY
	console=$(cat "$SNAP_CONSOLE")
	assert_contains "$console" "mvm-init: identity applied: hostname myhost, clock set, random pool reseeded (32 bytes)"
	assert_contains "$console" "mvm: ready"
	assert_contains "$console" "data disk /dev/vdb (mvm-data) mounted on /data"
	# the seed never shows, in any form
	[[ $console != *"$SEED_TEXT"* ]]
	[[ $console != *"$seed_hex"* ]]
	run snap exec -- /bin/hostname
	assert_eq "myhost" "$output"
	run snap exec -- /bin/cat /etc/hostname
	assert_eq "myhost" "$output"
	guest=$(snap exec -- /bin/date +%s)
	host=$(date +%s)
	[ $((host - guest)) -le 5 ] && [ $((guest - host)) -le 5 ]
	run snap exec -- /bin/ip -4 addr show eth0
	assert_contains "$output" "10.0.2.15/24"
	run snap exec -- /bin/cat /data/hello.txt
	assert_eq "kept on the data disk" "$output"
	# READY on every later connection, and no PARKED any more
	run snap hello
	assert_contains "$output" "ready"
}

@test "snapshot mode: a second IDENTITY is refused; the guest keeps serving" {
	run snap identity other
	[ "$status" -eq 1 ]
	assert_contains "$output" "code=5"
	assert_contains "$output" "already applied"
	run snap exec -- /bin/hostname
	assert_eq "myhost" "$output"
	[ "$(grep -c "identity applied" "$SNAP_CONSOLE")" -eq 1 ]
}

@test "a client that disconnects mid-exec leaves the agent serving; its process is killed" {
	agent exec -- /bin/sh -c 'echo $$ > /tmp/orphan.pid; exec sleep 1000' &
	pid=$!
	sleep 1
	kill -9 "$pid"
	wait "$pid" || true
	run agent exec -- /bin/sh -c 'p=$(cat /tmp/orphan.pid); sleep 0.2; if [ -d /proc/$p ]; then echo alive; else echo gone; fi'
	[ "$status" -eq 0 ]
	assert_contains "$output" "gone"
}

@test "shutdown stops the services and powers the VM off" {
	run agent shutdown
	[ "$status" -eq 0 ]
	QEMU_PID=$(cat "$BATS_FILE_TMPDIR/qemu.pid")
	for ((i = 0; i < 300; i++)); do
		kill -0 "$QEMU_PID" 2>/dev/null || break
		sleep 0.1
	done
	! kill -0 "$QEMU_PID" 2>/dev/null
	assert_contains "$(cat "$CONSOLE")" "mvm-init: shutting down (agent)"
}
