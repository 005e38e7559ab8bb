#!/usr/bin/env bats
# mvm-init's guest agent over virtio-serial, driven by the reference client
# (tests/tools/agent-client.c) through QEMU's Unix-socket chardev. One cold-booted
# VM serves most tests of this file; a second one, booted at the same time in
# snapshot mode (mvm.snapshot=1, with a secrets disk, a data disk and its clock
# in 2001), serves the PARKED / IDENTITY tests, in order; a third one, cold-booted
# with a secrets disk and a HMP monitor on a pair of FIFOs, is put to sleep for
# real (stopped, its state and RAM saved to a file, QEMU gone) and restored with
# a new secrets file for the WAKE tests, in order.
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
	secrets_image "$BATS_FILE_TMPDIR/snap-secrets.ext4" '{"token":"snap-secret"}'
	# drives as a fleet instance gets them: root, secrets (read-only), data
	export SNAP_SOCK="$BATS_FILE_TMPDIR/snap.sock"
	export SNAP_CONSOLE="$BATS_FILE_TMPDIR/snap-console.log"
	BOOT_AGENT_SOCK=$SNAP_SOCK BOOT_QEMU_ARGS="-rtc base=2001-01-01T00:00:00
		$(secrets_drive "$BATS_FILE_TMPDIR/snap-secrets.ext4")
		-drive id=data,file=$BATS_FILE_TMPDIR/data.ext4,format=raw,if=none
		-device virtio-blk-device,drive=data" \
		boot_start "$BATS_FILE_TMPDIR/rootfs.ext4" "$SNAP_CONSOLE" mvm.snapshot=1
	echo "$QEMU_PID" >"$BATS_FILE_TMPDIR/snap.pid"
	# the VM that sleeps and wakes
	export WAKE_SOCK="$BATS_FILE_TMPDIR/wake.sock"
	export WAKE_CONSOLE="$BATS_FILE_TMPDIR/wake-console.log"
	export WAKE_CONSOLE2="$BATS_FILE_TMPDIR/wake-console2.log" # after the restore
	export WAKE_SECRETS="$BATS_FILE_TMPDIR/wake-secrets.ext4"
	export WAKE_MON="$BATS_FILE_TMPDIR/wake-mon"
	secrets_image "$WAKE_SECRETS" '{"token":"AAAA-first"}'
	monitor_fifos "$WAKE_MON"
	BOOT_AGENT_SOCK=$WAKE_SOCK BOOT_QEMU_ARGS="$(secrets_drive "$WAKE_SECRETS")
		-monitor pipe:$WAKE_MON" \
		boot_start "$BATS_FILE_TMPDIR/rootfs.ext4" "$WAKE_CONSOLE" 3>&-
	echo "$QEMU_PID" >"$BATS_FILE_TMPDIR/wake.pid"
	export BOOT_AGENT_SOCK="$BATS_FILE_TMPDIR/agent.sock"
	export CONSOLE="$BATS_FILE_TMPDIR/console.log"
	# two vCPUs, as mvm's default: the port's open and close then reach the guest late
	BOOT_QEMU_ARGS="-smp 2" boot_start "$BATS_FILE_TMPDIR/rootfs.ext4" "$CONSOLE"
	echo "$QEMU_PID" >"$BATS_FILE_TMPDIR/qemu.pid"
	boot_wait "$CONSOLE" "mvm: ready" 60
}

teardown_file() {
	local f pid
	for f in qemu.pid snap.pid wake.pid; do
		pid=$(cat "$BATS_FILE_TMPDIR/$f" 2>/dev/null) || continue
		kill -9 "$pid" 2>/dev/null || true
	done
}

# secrets_image IMAGE JSON: a 1 MiB ext4 image labelled mvm-secrets holding
# secrets.json, made as a host makes one.
secrets_image() {
	local dir
	dir=$(mktemp -d "$BATS_FILE_TMPDIR/secrets.XXXXXX")
	printf '%s\n' "$2" >"$dir/secrets.json"
	rm -f "$1"
	mkfs.ext4 -q -L mvm-secrets -d "$dir" "$1" 1M >/dev/null 2>&1
}

# secrets_drive IMAGE: the QEMU arguments attaching IMAGE read-only.
secrets_drive() {
	echo "-drive id=secrets,file=$1,format=raw,if=none,read-only=on" \
		"-device virtio-blk-device,drive=secrets"
}

# monitor_fifos MON: MON.in and MON.out for QEMU's `-monitor pipe:MON`, and a
# reader copying what the monitor says to MON.log (it ends with QEMU).
monitor_fifos() {
	rm -f "$1.in" "$1.out"
	mkfifo "$1.in" "$1.out"
	: >"$1.log"
	cat "$1.out" >>"$1.log" 2>/dev/null 3>&- &
}

# hmp MON CMD...: sends human monitor commands, one a line.
hmp() {
	local mon=$1
	shift
	printf '%s\n' "$@" >"$mon.in"
}

# hmp_wait MON LINE [SECONDS]: waits for a whole line of the monitor's output.
hmp_wait() {
	local i
	for ((i = 0; i < ${3:-30} * 10; i++)); do
		tr -d '\r' <"$1.log" | grep -aqxF -- "$2" && return 0
		sleep 0.1
	done
	echo "monitor never said '$2':" >&2
	tr -d '\r' <"$1.log" | grep -a "status" >&2
	return 1
}

agent() {
	"$MVM_BUILD/tests/agent-client" --timeout 30 "$BOOT_AGENT_SOCK" "$@"
}

# the guest booted in snapshot mode
snap() {
	"$MVM_BUILD/tests/agent-client" --timeout 30 "$SNAP_SOCK" "$@"
}

# the guest that sleeps and wakes
wakevm() {
	"$MVM_BUILD/tests/agent-client" --timeout 30 "$WAKE_SOCK" "$@"
}

# near EXPECTED ACTUAL SLACK: |EXPECTED - ACTUAL| <= SLACK
near() {
	local d=$(($2 - $1))
	[ "${d#-}" -le "$3" ] || { echo "expected $1 (± $3), got $2" >&2; return 1; }
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

@test "a VM without a secrets disk has no /run/secrets, and says nothing about it" {
	run agent exec -- /bin/cat /proc/mounts
	[ "$status" -eq 0 ]
	[[ $output != *" /run/secrets "* ]]
	! grep -q "secrets" "$CONSOLE"
}

@test "malformed WAKE frames get ERROR 4 and change nothing" {
	run agent bad-wake
	[ "$status" -eq 0 ]
	[ "$(grep -c 'code=4: malformed wake frame' <<<"$output")" -eq 5 ]
	assert_contains "$output" "pong"
	! grep -q "woken up" "$CONSOLE"
}

@test "a WAKE to a cold-booted VM without a secrets disk: READY, and it keeps serving" {
	run agent wake
	[ "$status" -eq 0 ]
	assert_contains "$output" "ready"
	QEMU_PID=$(cat "$BATS_FILE_TMPDIR/qemu.pid")
	boot_wait "$CONSOLE" "mvm-init: woken up: clock set, random pool reseeded (32 bytes)" 10
	run agent exec -- /bin/cat /proc/mounts
	[ "$status" -eq 0 ]
	[[ $output != *" /run/secrets "* ]]
	! grep -q "secrets" "$CONSOLE"
	run agent exec -- /bin/hostname
	assert_eq "mvm" "$output"
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
	[[ $output != *" /run/secrets "* ]]
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

@test "snapshot mode: a WAKE while parked is refused and changes nothing" {
	run snap wake
	[ "$status" -eq 1 ]
	assert_contains "$output" "error stream=0 code=5"
	assert_contains "$output" "parked, waiting for an identity"
	run snap wait-parked
	assert_contains "$output" "parked"
	run snap exec -- /bin/date +%Y
	assert_eq "2001" "$output"
	! grep -q "woken up" "$SNAP_CONSOLE"
	! grep -q "secrets disk" "$SNAP_CONSOLE"
}

@test "snapshot mode: IDENTITY sets clock, seed, hostname, network, data and secrets disks; then services and READY" {
	# the guest's clock started in 2001
	run snap exec -- /bin/date +%Y
	assert_eq "2001" "$output"
	seed_hex=$(printf '%s' "$SEED_TEXT" | od -An -tx1 | tr -d ' \n')
	run snap identity myhost "$seed_hex"
	[ "$status" -eq 0 ]
	assert_contains "$output" "ready"
	QEMU_PID=$(cat "$BATS_FILE_TMPDIR/snap.pid")
	boot_wait "$SNAP_CONSOLE" "service up" 30 # its output may follow READY
	boot_wait "$SNAP_CONSOLE" "ms after the identity" 10 # logged once READY is sent
	console=$(cat "$SNAP_CONSOLE")
	assert_contains "$console" "mvm-init: identity applied: hostname myhost, clock set, random pool reseeded (32 bytes) in "
	assert_contains "$console" "mvm: ready"
	assert_contains "$console" "data disk /dev/vdc (mvm-data) mounted on /data in "
	# how long each part took, by the guest's clock (bench/snapshot.sh reads it)
	local ms='[0-9]+\.[0-9] ms'
	[[ $console =~ "mvm-init: ready "$ms" after the identity: identity "$ms", disks "$ms" (mount of /data "$ms"), services "$ms ]]
	assert_contains "$console" "secrets disk /dev/vdb (mvm-secrets) mounted read-only at /run/secrets"
	[[ $console != *snap-secret* ]]
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
	run snap exec -- /bin/cat /run/secrets/secrets.json
	assert_eq '{"token":"snap-secret"}' "$output"
	run snap exec -- /bin/grep " /run/secrets " /proc/mounts
	assert_contains "$output" "/dev/vdb /run/secrets ext4 ro,nosuid,nodev,noexec"
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

@test "snapshot mode: once identified, a WAKE is accepted (READY) and remounts the secrets" {
	run snap wake
	[ "$status" -eq 0 ]
	assert_contains "$output" "ready"
	QEMU_PID=$(cat "$BATS_FILE_TMPDIR/snap.pid")
	boot_wait "$SNAP_CONSOLE" "mvm-init: woken up" 10
	[ "$(grep -c "secrets disk /dev/vdb (mvm-secrets) mounted read-only" "$SNAP_CONSOLE")" -eq 2 ]
	run snap exec -- /bin/cat /run/secrets/secrets.json
	assert_eq '{"token":"snap-secret"}' "$output"
	run snap exec -- /bin/hostname
	assert_eq "myhost" "$output"
}

@test "a cold boot mounts the secrets disk read-only (nosuid, nodev, noexec) at /run/secrets" {
	QEMU_PID=$(cat "$BATS_FILE_TMPDIR/wake.pid")
	boot_wait "$WAKE_CONSOLE" "mvm: ready" 60
	run wakevm exec -- /bin/cat /run/secrets/secrets.json
	[ "$status" -eq 0 ]
	assert_eq '{"token":"AAAA-first"}' "$output"
	run wakevm exec -- /bin/touch /run/secrets/x
	[ "$status" -ne 0 ]
	assert_contains "$output" "Read-only file system"
	run wakevm exec -- /bin/grep " /run/secrets " /proc/mounts
	assert_contains "$output" "/dev/vdb /run/secrets ext4 ro,nosuid,nodev,noexec"
	console=$(cat "$WAKE_CONSOLE")
	assert_contains "$console" "mvm-init: secrets disk /dev/vdb (mvm-secrets) mounted read-only at /run/secrets"
	[[ $console != *AAAA* ]]
}

@test "sleep and wake: after a restore with a new secrets file, WAKE sets the clock and remounts the secrets; READY" {
	# read before the sleep: the guest caches the old file's blocks
	run wakevm exec -- /bin/cat /run/secrets/secrets.json
	assert_eq '{"token":"AAAA-first"}' "$output"
	# sleep: vCPUs stopped, the state (RAM included) saved to a file, QEMU gone
	QEMU_PID=$(cat "$BATS_FILE_TMPDIR/wake.pid")
	hmp "$WAKE_MON" stop "migrate exec:cat>$BATS_FILE_TMPDIR/wake.state" "info migrate" quit
	for ((i = 0; i < 600; i++)); do
		kill -0 "$QEMU_PID" 2>/dev/null || break
		sleep 0.1
	done
	! kill -0 "$QEMU_PID" 2>/dev/null
	hmp_wait "$WAKE_MON" "Migration status: completed" 1
	# the host puts a fresh secrets file (same size, other bytes) at the same place
	secrets_image "$BATS_FILE_TMPDIR/new-secrets.ext4" '{"token":"BBBB-fresh"}'
	mv "$BATS_FILE_TMPDIR/new-secrets.ext4" "$WAKE_SECRETS"
	# restore: the same devices, the saved state, a new agent connection
	rm -f "$WAKE_SOCK"
	monitor_fifos "$WAKE_MON"
	BOOT_AGENT_SOCK=$WAKE_SOCK BOOT_QEMU_ARGS="$(secrets_drive "$WAKE_SECRETS")
		-monitor pipe:$WAKE_MON -incoming exec:cat<$BATS_FILE_TMPDIR/wake.state" \
		boot_start "$BATS_FILE_TMPDIR/rootfs.ext4" "$WAKE_CONSOLE2" 3>&-
	echo "$QEMU_PID" >"$BATS_FILE_TMPDIR/wake.pid"
	# it was saved stopped, so it is restored stopped: wait for the state, resume
	for ((i = 0; i < 300; i++)); do
		hmp "$WAKE_MON" "info status"
		tr -d '\r' <"$WAKE_MON.log" | grep -aqx "VM status: paused" && break
		sleep 0.1
	done
	hmp "$WAKE_MON" cont "info status"
	hmp_wait "$WAKE_MON" "VM status: running" 10
	# before the WAKE it still sees the old file's blocks it had cached
	run wakevm exec -- /bin/cat /run/secrets/secrets.json
	assert_eq '{"token":"AAAA-first"}' "$output"
	# WAKE: the host's clock plus a day
	run wakevm wake 86400
	[ "$status" -eq 0 ]
	assert_contains "$output" "ready"
	guest=$(wakevm exec -- /bin/date +%s)
	near $(($(date +%s) + 86400)) "$guest" 30
	run wakevm exec -- /bin/cat /run/secrets/secrets.json
	[ "$status" -eq 0 ]
	assert_eq '{"token":"BBBB-fresh"}' "$output"
	run wakevm exec -- /bin/touch /run/secrets/x
	[ "$status" -ne 0 ]
	run wakevm exec -- /bin/grep " /run/secrets " /proc/mounts
	assert_contains "$output" "/dev/vdb /run/secrets ext4 ro,nosuid,nodev,noexec"
	boot_wait "$WAKE_CONSOLE2" "mvm-init: woken up: clock set, random pool reseeded (32 bytes)" 10
	boot_wait "$WAKE_CONSOLE2" "mvm-init: secrets disk /dev/vdb (mvm-secrets) mounted read-only at /run/secrets" 10
	console=$(cat "$WAKE_CONSOLE" "$WAKE_CONSOLE2")
	[[ $console != *BBBB* && $console != *AAAA* ]]
	run wakevm exec -- /bin/echo still serving
	assert_eq "still serving" "$output"
}

@test "a WAKE during an exec session leaves it running; it sees the new clock" {
	run --separate-stderr wakevm exec --wake-after 500 172800 -- \
		/bin/sh -c 'sleep 2; date +%s; cat /run/secrets/secrets.json'
	[ "$status" -eq 0 ]
	near $(($(date +%s) + 172800)) "${lines[0]}" 30
	assert_eq '{"token":"BBBB-fresh"}' "${lines[1]}"
	assert_contains "$stderr" "ready after wake"
}

@test "a WAKE while a file of the old secrets is open does not mount stale secrets; the next one mounts" {
	run --separate-stderr wakevm exec --wake-after 500 0 -- /bin/sh -c \
		'exec 3</run/secrets/secrets.json; sleep 2; ls -A /run/secrets; /bin/busybox stat -c "%a %u" /run/secrets'
	[ "$status" -eq 0 ]
	assert_eq "700 0" "$output" # an empty mount point, root's alone
	QEMU_PID=$(cat "$BATS_FILE_TMPDIR/wake.pid")
	boot_wait "$WAKE_CONSOLE2" "mvm-init: secrets disk /dev/vdb (mvm-secrets) not mounted: its previous mount is still in use" 10
	run wakevm wake
	[ "$status" -eq 0 ]
	run wakevm exec -- /bin/cat /run/secrets/secrets.json
	assert_eq '{"token":"BBBB-fresh"}' "$output"
}

@test "a host gone mid-frame does not swallow the next host's HELLO" {
	run agent cut
	[ "$status" -eq 0 ]
	sleep 0.5 # the guest sees the port closed
	run agent ping
	[ "$status" -eq 0 ]
	assert_eq "pong" "${lines[-1]}"
}

# A new host's HELLO can be read before the guest's kernel has seen the
# previous host close the port (control messages travel apart from the
# data); the answer queued then must survive that late close. Before, one
# fresh connection in 700 to 15,000 went unanswered (bench/reconnect.sh) and
# this test failed 2 runs of 2 under load. The client stops at the first
# connection not answered within 10 s and names it; 10,000 take about 9 s.
@test "10,000 fresh connections in a row each get their HELLO answered" {
	run "$MVM_BUILD/tests/agent-client" "$BOOT_AGENT_SOCK" reconnect 10000 10
	assert_eq "answered 10000 of 10000" "$output"
	[ "$status" -eq 0 ]
}

# A host that says HELLO and goes before the answer is written leaves that
# answer (and READY) in the guest's queue, and the next host gets it first:
# it must skip it and take only the HELLO bearing its own nonce; after that,
# nothing of the earlier host reaches it (a second HELLO before the PONG of
# its ping would mean it took the earlier one). Without the nonce a host took
# the leftover answer for its own: with --any-nonce (a host before the
# nonce) the client does so, and failed 3 runs of 3, by its 1st to 56th
# connection; with the nonce it skipped an earlier answer in 48 to 66 of
# 2,000 connections.
@test "a host takes only the HELLO bearing its own nonce, never one left for a host that went" {
	run --separate-stderr "$MVM_BUILD/tests/agent-client" "$BOOT_AGENT_SOCK" stale 2000 10
	echo "$stderr"
	assert_eq "answered 2000 of 2000" "$output"
	[ "$status" -eq 0 ]
}

@test "a client that disconnects mid-exec leaves the agent serving; its process is killed when the next one connects" {
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
