#!/usr/bin/env bats
# mvm-init's guest agent over virtio-serial, driven by the reference client
# (tests/tools/agent-client.c) through QEMU's Unix-socket chardev. One VM
# serves every test of this file.
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
	export BOOT_AGENT_SOCK="$BATS_FILE_TMPDIR/agent.sock"
	export CONSOLE="$BATS_FILE_TMPDIR/console.log"
	boot_start "$BATS_FILE_TMPDIR/rootfs.ext4" "$CONSOLE"
	echo "$QEMU_PID" >"$BATS_FILE_TMPDIR/qemu.pid"
	boot_wait "$CONSOLE" "mvm: ready" 60
}

teardown_file() {
	local pid
	pid=$(cat "$BATS_FILE_TMPDIR/qemu.pid" 2>/dev/null) || return 0
	kill -9 "$pid" 2>/dev/null || true
}

agent() {
	"$MVM_BUILD/tests/agent-client" --timeout 30 "$BOOT_AGENT_SOCK" "$@"
}

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
