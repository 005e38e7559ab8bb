#!/usr/bin/env bats
# The kill matrix: SIGKILL of a command at points spread over its run (a delay
# sweep: each command is timed once, then killed at 15%, 50% and 85% of that
# time), for build, build --snapshot, up, down, rm, tenant secrets set, pool
# build, pool scale, instance sleep and instance wake. After every kill, and
# again after the next command of the same kind (which must succeed):
#   - manifest verify passes for the project's slot;
#   - ls -a and instance ls tell the truth: nothing running without its QEMU,
#     no QEMU of this MVM_HOME without a running record;
#   - after the next command, no temporary file is left under $MVM_HOME.
# The last test prints how many kill points were tried. One MVM_HOME, in order.
bats_require_minimum_version 1.5.0
load build_helpers

FRACTIONS=${MVM_KILL_FRACTIONS:-"0.15 0.50 0.85"}

setup_file() {
	file_home_setup
	export PROJ="$BATS_FILE_TMPDIR/proj" FLAKE="$BATS_FILE_TMPDIR/flake"
	cp -r "$MVM_SRC/tests/fixtures/hello" "$PROJ"
	cp -r "$MVM_SRC/tests/fixtures/datadisk" "$FLAKE"
	"$MVMCTL" tenant create acme --max-running 4 >/dev/null || return 1
	echo '{"token":"t0"}' >"$BATS_FILE_TMPDIR/s.json"
	"$MVMCTL" pool create acme/workers --flake "$FLAKE" --profile default --cpus 1 --mem 256 \
		--data-disk 16 >/dev/null || return 1
	: >"$BATS_FILE_TMPDIR/points"
}

teardown_file() {
	local f pid
	for f in "$MVM_HOME"/vms/*/vm.json "$MVM_HOME"/pools/*/*/instances/*/vm.json; do
		[ -e "$f" ] || continue
		for pid in $(jq -r '.shim_pid // empty, .vmm_pid // empty' "$f" 2>/dev/null); do
			kill -9 "$pid" 2>/dev/null || true
		done
	done
}

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
}

alive() { [ -n "$1" ] && [ "$1" != null ] && kill -0 "$1" 2>/dev/null; }

# vm_record REF: the VM record of a VM name or an instance address
vm_record() {
	case $1 in
	*/*/*) echo "$MVM_HOME/pools/${1%/*}/instances/${1##*/}/vm.json" ;;
	*) echo "$MVM_HOME/vms/$1/vm.json" ;;
	esac
}

# truth: what ls -a and instance ls say matches the processes, once what
# the killed command left to its detached supervisor has settled (a sleep
# the supervisor finishes on its own): within 10 s.
truth() {
	local i out
	for i in $(seq 20); do
		out=$(truth_once 2>&1) && return 0
		sleep 0.5
	done
	echo "$out"
	return 1
}

truth_once() {
	local name st pid shim
	while read -r name st pid shim; do
		case $st in
		running | paused)
			alive "$pid" || { echo "VM $name is $st without its QEMU ($pid)"; return 1; } ;;
		starting) # its QEMU may not be there yet; its supervisor is
			alive "$shim" || alive "$pid" || { echo "VM $name is starting with no supervisor"; return 1; } ;;
		esac
	done < <("$MVMCTL" ls -a --json | jq -r '.vms[] | "\(.name) \(.state) \(.vmm_pid) \(.shim_pid)"')
	local inst
	inst=$("$MVMCTL" instance ls --json) || { echo "instance ls failed"; return 1; }
	while read -r name st; do
		pid=$(jq -r '.vmm_pid // empty' "$(vm_record "$name")" 2>/dev/null)
		case $st in
		running | warm)
			alive "$pid" || { echo "instance $name is $st without its QEMU ($pid)"; return 1; } ;;
		esac
	done < <(jq -r '.instances[] | "\(.address) \(.state)"' <<<"$inst")
	# every QEMU of this MVM_HOME is one a record says exists (read after
	# the process list: a record is written before its QEMU starts)
	local ref rec
	for pid in $(pgrep -f "qemu-system.*$MVM_HOME/"); do
		ref=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | sed -n 's/^mvm-//p' | head -n 1)
		[ -n "$ref" ] || continue # it ended meanwhile
		rec=$(vm_record "$ref")
		case $(jq -r .state "$rec" 2>/dev/null) in
		starting | running | paused) ;;
		*) kill -0 "$pid" 2>/dev/null || continue
			echo "QEMU $pid of $ref has no record saying it runs ($rec: $(jq -c '{state, vmm_pid}' "$rec" 2>&1))"
			return 1 ;;
		esac
	done
	if "$MVMCTL" manifest ls --json 2>/dev/null | jq -e '.slots | length > 0' >/dev/null; then
		run "$MVMCTL" manifest verify "$PROJ/mvm.toml"
		[ "$status" -eq 0 ] || { echo "verify: $output"; return 1; }
	fi
}

# no_temporaries: nothing half-written is left under $MVM_HOME.
no_temporaries() {
	local left
	left=$(find "$MVM_HOME" \( -name '.*.tmp-*' -o -path "$MVM_HOME/tmp/*" \) -print 2>/dev/null | head -n 5)
	[ -z "$left" ] || { echo "left behind: $left"; return 1; }
}

# sweep NAME PREP NEXT CMD...: PREP (a function) sets the state; CMD is timed
# once, then killed with SIGKILL at each fraction of that time; after each
# kill the truth holds; NEXT (a function) is the next command of the same
# kind, which must succeed, after which the truth holds and no temporary
# file is left.
sweep() {
	local name=$1 prep=$2 next=$3
	shift 3
	$prep || { echo "$name: preparing failed"; return 1; }
	local t0 t1 ms
	t0=$(date +%s%N)
	"$@" >/dev/null 2>&1 || { echo "$name: the untimed run failed: $*"; "$@"; return 1; }
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
	echo "# $name: $ms ms a run" >&3
	local f at pid
	for f in $FRACTIONS; do
		$prep || { echo "$name: preparing failed"; return 1; }
		at=$(awk -v m="$ms" -v f="$f" 'BEGIN {printf "%.3f", m * f / 1000}')
		"$@" >/dev/null 2>&1 &
		pid=$!
		sleep "$at"
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		echo "$name@$f" >>"$BATS_FILE_TMPDIR/points"
		truth || { echo "$name killed at ${at}s: the truth does not hold"; return 1; }
		$next || { echo "$name killed at ${at}s: the next one failed"; return 1; }
		truth || { echo "$name killed at ${at}s: after the next one"; return 1; }
		no_temporaries || { echo "$name killed at ${at}s"; return 1; }
	done
}

none() { :; }

build_next() { "$MVMCTL" build "$PROJ" >/dev/null; }

@test "kill build and build --snapshot" {
	sweep build none build_next "$MVMCTL" build --force "$PROJ"
	sweep "build --snapshot" none build_next "$MVMCTL" build --force --snapshot "$PROJ"
}

up_next() { "$MVMCTL" down k-up >/dev/null 2>&1; "$MVMCTL" up -d -q "$PROJ" --name k-up >/dev/null; }
up_prep() { "$MVMCTL" down k-up >/dev/null 2>&1 || true; "$MVMCTL" rm k-up >/dev/null 2>&1 || true; }

@test "kill up" {
	sweep up up_prep up_next "$MVMCTL" up -d -q "$PROJ" --name k-up
	"$MVMCTL" down k-up >/dev/null
}

down_prep() { "$MVMCTL" ls -q | grep -qx k-down || "$MVMCTL" up -d -q "$PROJ" --name k-down >/dev/null; }
down_next() { "$MVMCTL" down k-down >/dev/null; }

@test "kill down" {
	sweep down down_prep down_next "$MVMCTL" down k-down
}

rm_prep() {
	"$MVMCTL" up -d -q "$PROJ" --name k-rm >/dev/null 2>&1 || return 1
	"$MVMCTL" down k-rm >/dev/null
}
rm_next() { "$MVMCTL" rm --force k-rm >/dev/null; }

@test "kill rm" {
	sweep rm rm_prep rm_next "$MVMCTL" rm k-rm
}

secrets_next() { "$MVMCTL" tenant secrets set acme --from-file "$BATS_FILE_TMPDIR/s.json" >/dev/null; }

@test "kill tenant secrets set" {
	sweep "tenant secrets set" none secrets_next \
		"$MVMCTL" tenant secrets set acme --from-file "$BATS_FILE_TMPDIR/s.json"
}

pool_build_next() { "$MVMCTL" pool build acme/workers >/dev/null; }
# a new revision each time: the build does all its work
pool_build_prep() { echo "# $RANDOM" >>"$FLAKE/flake.nix"; }

@test "kill pool build" {
	sweep "pool build" pool_build_prep pool_build_next "$MVMCTL" pool build acme/workers
}

scale_prep() { "$MVMCTL" pool scale acme/workers --running 0 --warm 0 --sleeping 0 >/dev/null; }
scale_next() { "$MVMCTL" pool scale acme/workers --running 1 --warm 1 --sleeping 0 >/dev/null; }

@test "kill pool scale" {
	sweep "pool scale" scale_prep scale_next \
		"$MVMCTL" pool scale acme/workers --running 1 --warm 1 --sleeping 0
}

# the one instance acme/workers keeps from here on
inst() { "$MVMCTL" instance ls acme/workers --json | jq -r '.instances[0].address'; }
inst_state() { "$MVMCTL" instance ls acme/workers --json | jq -r '.instances[0].state'; }
sleep_prep() {
	"$MVMCTL" pool scale acme/workers --running 1 --warm 0 --sleeping 0 >/dev/null || return 1
	case $(inst_state) in
	running) ;;
	sleeping) "$MVMCTL" instance wake "$(inst)" >/dev/null ;;
	*) "$MVMCTL" instance start "$(inst)" >/dev/null ;;
	esac
}
sleep_next() {
	case $(inst_state) in
	sleeping) ;;
	running | warm) "$MVMCTL" instance sleep "$(inst)" >/dev/null ;;
	*) "$MVMCTL" instance start "$(inst)" >/dev/null && "$MVMCTL" instance sleep "$(inst)" >/dev/null ;;
	esac
}

@test "kill instance sleep" {
	sweep "instance sleep" sleep_prep sleep_next "$MVMCTL" instance sleep "$(sleep_prep >/dev/null && inst)"
}

wake_prep() {
	sleep_prep && sleep_next
}
wake_next() {
	case $(inst_state) in
	running) ;;
	sleeping) "$MVMCTL" instance wake "$(inst)" >/dev/null ;;
	*) "$MVMCTL" instance start "$(inst)" >/dev/null ;;
	esac
}

@test "kill instance wake; how many kill points were tried" {
	sweep "instance wake" wake_prep wake_next "$MVMCTL" instance wake "$(wake_prep >/dev/null && inst)"
	"$MVMCTL" pool scale acme/workers --running 0 --warm 0 --sleeping 0 >/dev/null
	local n
	n=$(wc -l <"$BATS_FILE_TMPDIR/points")
	echo "# kill points tried and passed: $n" >&3
	# ten sweeps (build has two), each at every fraction
	[ "$n" -eq $((10 * $(wc -w <<<"$FRACTIONS"))) ]
}
