#!/usr/bin/env bats
# `mvmctl exec NAME` on a real VM (QEMU -M microvm under TCG), through its
# supervisor: exit statuses, stdin/stdout/stderr streaming with flow control,
# signals, timeouts, concurrent sessions, terminals, and malformed frames
# from a client answered while the channel keeps serving.
#
# One VM serves the whole file (booted in setup_file from a busybox root
# image); every wait is bounded and teardown_file kills what is left.
bats_require_minimum_version 1.5.0
load helpers
load boot_helpers

setup_file() {
	export MVM_HOME="$BATS_FILE_TMPDIR/home"
	export MVM_ACCEL=tcg
	kernel_provision || return 1
	ART="$BATS_FILE_TMPDIR/art"
	mkdir -p "$ART"
	cp "$KERNEL_VMLINUX" "$ART/vmlinux"
	cp "$KERNEL_INITRD" "$ART/initrd.img"
	local root="$BATS_FILE_TMPDIR/root" a
	busybox_rootfs "$root"
	for a in sha256sum head ps seq yes tr; do ln -sf busybox "$root/bin/$a"; done
	mkdir -p "$root/srv"
	printf '#!/bin/sh\necho not a binary\n' >"$root/srv/noexec"
	chmod 0644 "$root/srv/noexec"
	mkimage "$root" "$ART/rootfs.ext4"
	export ART VM=ex
	"$MVMCTL" up "$ART" -d --name "$VM" --mem 256M >/dev/null || return 1
}

teardown_file() {
	"$MVMCTL" down --all >/dev/null 2>&1 || true
	local f pid
	for f in "$MVM_HOME"/vms/*/vm.json; do
		[ -e "$f" ] || continue
		for pid in $(jq -r '.shim_pid // empty, .vmm_pid // empty' "$f"); do
			kill -9 "$pid" 2>/dev/null || true
		done
	done
}

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
}

teardown() {
	[ -z "${BG_PID:-}" ] || kill -9 "$BG_PID" 2>/dev/null || true
}

# wait_for FILE PATTERN [SECONDS]: until FILE holds PATTERN (a fixed string).
wait_for() {
	local i
	for ((i = 0; i < ${3:-30} * 10; i++)); do
		grep -qF -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "'$2' did not appear in $1 within ${3:-30} s:" >&2
	cat "$1" >&2
	return 1
}

@test "exec passes the command's exit status through: 0, 7, 127, 126 and a signal" {
	run --separate-stderr "$MVMCTL" exec "$VM" -- true
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run --separate-stderr "$MVMCTL" exec "$VM" -- sh -c 'exit 7'
	[ "$status" -eq 7 ]
	run --separate-stderr "$MVMCTL" exec "$VM" -- no-such-command --flag
	[ "$status" -eq 127 ]
	assert_contains "$stderr" "cannot run the command in VM '$VM': no-such-command: No such file or directory"
	run --separate-stderr "$MVMCTL" exec "$VM" -- /srv/noexec
	[ "$status" -eq 126 ]
	assert_contains "$stderr" "Permission denied"
	# killed by SIGTERM: 128 + 15
	run --separate-stderr "$MVMCTL" exec "$VM" -- sh -c 'kill -TERM $$; sleep 5'
	[ "$status" -eq 143 ]
}

@test "the guest's ERROR text reaches the terminal as printable text, escape sequences and all" {
	# the guest names the command it could not run in its ERROR: a name with
	# an escape sequence, a bell and a byte over 0x7f comes back as '?'
	run -127 --separate-stderr "$MVMCTL" exec "$VM" -- $'no\e]0;pwned\a\e[2J\xffcmd'
	assert_eq "mvmctl: error: cannot run the command in VM '$VM': no?]0;pwned??[2J?cmd: No such file or directory" \
		"${stderr_lines[0]}"
	[ -z "$(LC_ALL=C tr -d '\n -~' <<<"$stderr")" ]
}

@test "stdout and stderr stay apart; -e, -w and the guest's PATH apply" {
	run --separate-stderr "$MVMCTL" exec -e GREETING=hello -e EMPTY= -w /srv "$VM" -- \
		sh -c 'echo "out:$GREETING:${EMPTY-unset}"; echo err >&2; pwd'
	[ "$status" -eq 0 ]
	[ "$output" = "out:hello:
/srv" ]
	[ "$stderr" = "err" ]
	# -e K takes the host's value, as Docker does (none when the host has none)
	run --separate-stderr env NOEQUALS=from-host "$MVMCTL" exec -e NOEQUALS "$VM" -- sh -c 'echo "$NOEQUALS"'
	[ "$output" = from-host ]
	run --separate-stderr env -u NOEQUALS "$MVMCTL" exec -e NOEQUALS "$VM" -- sh -c 'echo "${NOEQUALS-unset}"'
	[ "$output" = unset ]
	run --separate-stderr "$MVMCTL" exec -e 1BAD=x "$VM" -- true
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "-e '1BAD': '1BAD' is not a valid variable name"
	run --separate-stderr "$MVMCTL" exec "$VM"
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "give the command after '--'"
}

@test "stdin is piped through exec -i, and nothing is read without -i" {
	run --separate-stderr bash -c "printf 'a\nb\nc\n' | '$MVMCTL' exec -i '$VM' -- wc -l"
	[ "$status" -eq 0 ]
	[ "$(tr -d ' ' <<<"$output")" = 3 ]
	# without -i the guest's stdin is /dev/null: cat ends at once
	run --separate-stderr bash -c "printf 'ignored\n' | '$MVMCTL' exec '$VM' -- cat"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "megabytes stream both ways under flow control, byte for byte" {
	head -c 3000000 /dev/urandom >in.bin
	local want got
	want=$(sha256sum <in.bin | cut -d' ' -f1)
	got=$("$MVMCTL" exec -i "$VM" -- sha256sum <in.bin | cut -d' ' -f1)
	[ "$got" = "$want" ]
	# the guest echoes it back: 3 MB out through the 256 KiB windows
	"$MVMCTL" exec -i "$VM" -- cat <in.bin >out.bin
	cmp in.bin out.bin
	# a producer that never stops, cut by our reader: the command ends (SIGPIPE)
	run --separate-stderr timeout 60 bash -c "'$MVMCTL' exec '$VM' -- yes | head -n 3"
	[ "$status" -eq 0 ]
	[ "$output" = "y
y
y" ]
}

@test "output is streamed as it is produced, not at the end" {
	"$MVMCTL" exec "$VM" -- sh -c 'echo first; sleep 8; echo second' >stream.out 2>&1 &
	BG_PID=$!
	wait_for stream.out first 30
	! grep -q second stream.out
	wait "$BG_PID"
	grep -q second stream.out
}

@test "two concurrent execs on one VM do not mix" {
	"$MVMCTL" exec "$VM" -- sh -c 'sleep 3; echo slow' >slow.out 2>&1 &
	BG_PID=$!
	run --separate-stderr "$MVMCTL" exec "$VM" -- echo fast
	[ "$status" -eq 0 ]
	[ "$output" = fast ]
	# the fast one finished while the slow one still ran
	kill -0 "$BG_PID"
	wait "$BG_PID"
	[ "$(cat slow.out)" = slow ]
	# and many at once
	local i pids=()
	for i in 1 2 3 4 5 6; do
		"$MVMCTL" exec "$VM" -- sh -c "echo n$i" >"many.$i" 2>&1 &
		pids+=($!)
	done
	for i in 1 2 3 4 5 6; do
		wait "${pids[$((i - 1))]}"
		[ "$(cat "many.$i")" = "n$i" ]
	done
}

@test "Ctrl-C reaches the command (130); --timeout kills it (124)" {
	"$MVMCTL" exec "$VM" -- sleep 60 >/dev/null 2>&1 &
	BG_PID=$!
	sleep 2
	kill -INT "$BG_PID"
	local st=0
	wait "$BG_PID" || st=$?
	[ "$st" -eq 130 ]
	run --separate-stderr timeout 60 "$MVMCTL" exec --timeout 1 "$VM" -- sleep 60
	[ "$status" -eq 124 ]
	assert_contains "$stderr" "did not finish within 1 s"
}

@test "a client killed mid-command takes its guest process with it" {
	"$MVMCTL" exec "$VM" -- sleep 777 >/dev/null 2>&1 &
	BG_PID=$!
	local i
	for ((i = 0; i < 100; i++)); do
		"$MVMCTL" exec "$VM" -- ps | grep -q 'sleep 777' && break
		sleep 0.2
	done
	kill -9 "$BG_PID"
	for ((i = 0; i < 100; i++)); do
		"$MVMCTL" exec "$VM" -- ps | grep -q 'sleep 777' || break
		sleep 0.2
	done
	! "$MVMCTL" exec "$VM" -- ps | grep -q 'sleep 777'
}

@test "-t gives the command a terminal when stdin is one" {
	command -v script >/dev/null || skip "script(1) is not installed"
	run script -qec "'$MVMCTL' exec -t '$VM' -- tty" /dev/null
	[ "$status" -eq 0 ]
	assert_contains "$output" "/dev/pts/"
	# without a local terminal -t is ignored with a warning
	run --separate-stderr "$MVMCTL" exec -t "$VM" -- tty </dev/null
	assert_contains "$stderr" "-t ignored"
	assert_contains "$output" "not a tty"
}

@test "malformed frames from a client get ERROR and the session still runs" {
	local sock
	sock=$(jq -r .run_dir "$MVM_HOME/vms/$VM/vm.json")/ctl.sock
	run --separate-stderr "$MVM_BUILD/tests/agent-client" --shim "$sock" garbage-exec -- echo still serving
	[ "$status" -eq 0 ]
	assert_contains "$output" "error stream=0 code=1"   # junk before a header
	assert_contains "$output" "error stream=0 code=2"   # a bad version
	assert_contains "$output" "error stream=0 code=3"   # a length over the limit
	assert_contains "$output" "code=5"                  # an unknown type
	assert_contains "$output" "code=4"                  # an EXEC that does not decode
	assert_contains "$output" "still serving"
	# and the VM serves everyone else as before
	run "$MVMCTL" exec "$VM" -- echo ok
	[ "$output" = ok ]
}

@test "exec of a VM that does not run or does not exist is 125" {
	run --separate-stderr "$MVMCTL" exec nosuchvm -- true
	[ "$status" -eq 125 ]
	assert_contains "$stderr" "no VM named 'nosuchvm'"
	"$MVMCTL" up "$ART" -d --name stopped --mem 128M >/dev/null
	"$MVMCTL" down stopped >/dev/null
	run --separate-stderr "$MVMCTL" exec stopped -- true
	[ "$status" -eq 125 ]
	assert_contains "$stderr" "VM 'stopped' is not running"
}

@test "a fast producer and a slow reader: the supervisor's memory stays bounded" {
	local shim rss
	shim=$(jq -r .shim_pid "$MVM_HOME/vms/$VM/vm.json")
	# 'yes' writes as fast as it can; our reader takes nothing for 8 s
	bash -c "'$MVMCTL' exec '$VM' -- yes | (sleep 8; head -c 4 >/dev/null)" &
	BG_PID=$!
	sleep 5
	rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$shim/status")
	echo "shim VmRSS while blocked: $rss KiB" >&2
	# the flow-control windows (256 KiB per channel) bound it; unbounded
	# buffering would have taken hundreds of MiB by now
	[ "$rss" -lt 16384 ]
	wait "$BG_PID" || true
	BG_PID=
	run "$MVMCTL" exec "$VM" -- echo after
	[ "$output" = after ]
}

@test "a command starts with its three standard descriptors and nothing else of the agent's" {
	run "$MVMCTL" exec "$VM" -- ls /proc/self/fd
	[ "$status" -eq 0 ]
	# 0, 1, 2, and the directory ls itself opens to list it
	[ "$(tr '\n' ' ' <<<"$output")" = "0 1 2 3 " ]
}
