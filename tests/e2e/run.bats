#!/usr/bin/env bats
# Ephemeral VMs: `mvmctl run [PATH] [-- CMD]` and `mvmctl exec PATH -- CMD`
# boot the fixture project's current revision (a real offline nix build),
# run, and leave no trace: no VM directory, no runtime directory, no
# supervisor or QEMU process — also when mvmctl is killed mid-way.
bats_require_minimum_version 1.5.0
load build_helpers

setup_file() {
	build_setup_file
	export MVM_HOME="$BATS_FILE_TMPDIR/home" MVM_OFFLINE=1
	export MVM_OVERRIDE_INPUTS="nixpkgs=path:$STANDIN"
	mkdir -p "$MVM_HOME" && chmod 700 "$MVM_HOME"
	cp -al "$KCACHE/kernels" "$MVM_HOME/kernels"
	export PROJ="$BATS_FILE_TMPDIR/hello"
	cp -r "$MVM_SRC/tests/fixtures/hello" "$PROJ"
	"$MVMCTL" build -q "$PROJ" >/dev/null || return 1
}

setup() {
	export MVM_ACCEL=tcg MVM_CEILING_DIRECTORIES="$BATS_FILE_TMPDIR"
	cd "$BATS_TEST_TMPDIR" || return 1
}

teardown() {
	[ -z "${BG_PID:-}" ] || kill -9 "$BG_PID" 2>/dev/null || true
	local p
	for p in $(strays); do kill -9 "${p%%:*}" 2>/dev/null || true; done
}

# no_trace: nothing of any VM is left under MVM_HOME or running.
no_trace() {
	local left
	left=$(find "$MVM_HOME/vms" -mindepth 1 -maxdepth 1 2>/dev/null || true)
	[ -z "$left" ] || { echo "left in vms/: $left" >&2; return 1; }
	left=$(find "$MVM_HOME/run" -mindepth 1 -maxdepth 1 2>/dev/null || true)
	[ -z "$left" ] || { echo "left in run/: $left" >&2; return 1; }
	run "$MVMCTL" ls -a -q
	[ -z "$output" ] || { echo "ls -a: $output" >&2; return 1; }
	# the supervisor releases the VM just before it exits: allow it a moment
	local i
	for ((i = 0; i < 50; i++)); do
		left=$(strays)
		[ -n "$left" ] || return 0
		sleep 0.1
	done
	echo "still running: $left" >&2
	return 1
}

# strays: mvmctl or QEMU processes of this MVM_HOME (found by their environment).
strays() {
	local f p c
	for f in $(grep -l -z -x "MVM_HOME=$MVM_HOME" /proc/[0-9]*/environ 2>/dev/null); do
		p=${f#/proc/}
		p=${p%/environ}
		c=$(cat "/proc/$p/comm" 2>/dev/null) || continue
		case $c in mvmctl | qemu-system-x86*) echo "$p:$c" ;; esac
	done
}

# eventually SECONDS CMD...: until CMD succeeds.
eventually() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 10; i++)); do
		"$@" 2>/dev/null && return 0
		sleep 0.1
	done
	"$@"
}

running_vm() {
	[ -n "$("$MVMCTL" ls -q)" ]
}

@test "exec PATH -- CMD boots an ephemeral VM, runs CMD, and leaves no trace" {
	run --separate-stderr "$MVMCTL" exec "$PROJ" -- sh -c 'echo "in $(hostname)"; exit 3'
	[ "$status" -eq 3 ]
	assert_contains "$output" "in hello-"
	no_trace
}

@test "run -- CMD passes stdin and the status through; walking up finds the manifest" {
	cd "$PROJ"
	run --separate-stderr bash -c "echo piped | '$MVMCTL' run -i -- cat"
	[ "$status" -eq 0 ]
	[ "$output" = piped ]
	no_trace
	run --separate-stderr "$MVMCTL" exec -- sh -c 'exit 0'
	[ "$status" -eq 0 ]
	no_trace
}

@test "run without a command shows the console until Ctrl-C, then removes the VM" {
	"$MVMCTL" run "$PROJ" >console.out 2>&1 &
	BG_PID=$!
	eventually 120 grep -q "hello from the mvm fixture" console.out
	running_vm
	kill -INT "$BG_PID"
	local st=0
	wait "$BG_PID" || st=$?
	BG_PID=
	[ "$st" -eq 130 ]
	no_trace
}

@test "kill -9 of mvmctl run still tears the VM down and removes it" {
	"$MVMCTL" run "$PROJ" -- sleep 600 >/dev/null 2>&1 &
	BG_PID=$!
	eventually 120 running_vm
	local name
	name=$("$MVMCTL" ls -q)
	kill -9 "$BG_PID"
	BG_PID=
	eventually 60 bash -c "[ ! -e '$MVM_HOME/vms/$name' ]"
	no_trace
}

@test "an ephemeral VM whose supervisor is killed is removed by the next reader" {
	"$MVMCTL" run "$PROJ" -- sleep 600 >/dev/null 2>&1 &
	BG_PID=$!
	eventually 120 running_vm
	local name shim
	name=$("$MVMCTL" ls -q)
	shim=$(jq -r .shim_pid "$MVM_HOME/vms/$name/vm.json")
	kill -9 "$shim"
	eventually 30 bash -c "! kill -0 $shim 2>/dev/null"
	run "$MVMCTL" ls -a -q
	[ -z "$output" ]
	[ ! -e "$MVM_HOME/vms/$name" ]
	eventually 30 bash -c "! kill -0 $BG_PID 2>/dev/null"
	BG_PID=
	no_trace
}

@test "run of a project that was never built fails with a build hint (125)" {
	mkdir fresh
	cp "$PROJ/flake.nix" fresh/
	printf 'name = "fresh"\n' >fresh/mvm.toml
	run --separate-stderr "$MVMCTL" run fresh -- true
	[ "$status" -eq 125 ]
	assert_contains "$stderr" "no built revision"
	assert_contains "$stderr" "mvmctl build"
	no_trace
}
