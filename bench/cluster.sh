#!/usr/bin/env bash
# Pools across hosts on etcd (issue 18), on one machine: a 3-member etcd
# cluster (on a bridge of network namespaces where root can make them, else
# 127.0.0.1) and two `mvm host serve` agents, node-a and node-b,
# each with its own MVM_HOME (tests/e2e/etcd_helpers.bash, set up as
# tests/e2e/cluster.bats does: hello fixture, 1 vCPU, 256 MiB, pool snapshot,
# built offline in each home). Medians of N, alternated within each round:
#   1. `pool scale acme/web --running 4` from 0 through the cluster (MVM_ETCD
#      set: it writes the desired counts and returns once the hosts have
#      converged) with two agents serving vs with only node-a serving (node-b
#      stopped and its lease revoked); its floor: the same scale on a single
#      host without a cluster (MVM_ETCD empty, a third home). Scaled back to
#      0 untimed after each. Ratios two hosts / one host and cluster one
#      host / local. Both "hosts" share this machine's two cores; each agent
#      moves its instances one after another, so two agents restore two at a
#      time: the ratio says what spreading costs or gains here, not what two
#      machines would.
#   2. failover: `pool scale --running 2` (one instance per host), SIGKILL
#      node-b's agent; times (a) the kill to the lease's expiry (node-b's
#      mvm/hosts/node-b key deleted, seen through an `etcdctl watch`
#      started before the kill) and (b) the expiry to the instance `running`
#      on node-a per `mvmctl instance ls --json` (polled every 50 ms; the
#      agent reports running after the guest agent's READY). The killed
#      agent's QEMUs keep running (nothing stops them); they are killed once
#      the instance runs on node-a, then node-b is started again.
#
#   N=3 bench/cluster.sh     TTL (lease_ttl, default 6), MVM_ACCEL (default tcg),
#                            MVM_BUILD, VERBOSE=1
# Needs a built tree (make all tests) and etcd-server; runs offline under
# ${TMPDIR:-/tmp}.
set -euo pipefail
. "$(dirname "$0")/vm_common.bash" # now, median, ratio
N=${N:-3}
TTL=${TTL:-6}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MVM_BUILD:-$root/build}
[ -x "$build/mvmctl" ] || { echo "no $build/mvmctl: run make first" >&2; exit 1; }
command -v etcd >/dev/null || { echo "no etcd: scripts/install-deps.sh installs etcd-server" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mvm-clusterbench.XXXXXX")
export MVM_LIBEXEC=${MVM_LIBEXEC:-$build} MVM_DATADIR=${MVM_DATADIR:-$root/share}
export MVM_OFFLINE=1 MVM_ACCEL=${MVM_ACCEL:-tcg} MVM_BUILD=$build MVM_BUILDER=host
export MVM_CEILING_DIRECTORIES=$tmp
unset MVM_CONFIG
H=$tmp # homes: $H/a, $H/b (the two hosts), $H/l (single host, no cluster)
WATCH_PID=''

. "$root/tests/e2e/helpers.bash" # gone, which etcd_helpers.bash needs
. "$root/tests/e2e/etcd_helpers.bash"

# kill_qemus HOME: SIGKILLs the shim and QEMU every live record of HOME names.
kill_qemus() {
	local f p
	for f in "$1"/pools/*/*/instances/*/vm.json; do
		[ -e "$f" ] || continue
		for p in $(jq -r 'select(.state != "exited") | .shim_pid // empty, .vmm_pid // empty' "$f" 2>/dev/null); do
			kill -9 "$p" 2>/dev/null || true
		done
	done
}

cleanup() {
	local rc=$? h
	trap - EXIT INT TERM HUP
	[ -z "$WATCH_PID" ] || kill "$WATCH_PID" 2>/dev/null || true
	for h in a b; do agent_stop "$h" -9; done
	for h in a b l; do kill_qemus "$H/$h"; done
	etcd_cluster_stop || true
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

mkdir -p "$tmp/bin"
cp "$build/mvmctl" "$tmp/bin/mvmctl"
MVMCTL=$tmp/bin/mvmctl

say() { [ -z "${VERBOSE:-}" ] || echo "$*" >&2; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN {print b - a}'; }
med() { printf '%s\n' "$@" | median; }
timed() { # timed CMD...: runs it quietly, its wall time in T_S
	local t0 t1
	t0=$EPOCHREALTIME
	"$@" >"$tmp/cmd.out" 2>&1 || { echo "failed: $*" >&2; cat "$tmp/cmd.out" >&2; exit 1; }
	t1=$EPOCHREALTIME
	T_S=$(secs "$t0" "$t1")
}
# C ARGS...: mvmctl through the cluster (MVM_ETCD, from etcd_cluster_start)
C() { MVM_HOME=$H/a "$MVMCTL" "$@"; }
# L HOST ARGS...: mvmctl on HOST's own state, not the cluster's
L() {
	local h=$1
	shift
	MVM_HOME=$H/$h MVM_ETCD='' "$MVMCTL" "$@"
}
# bounded CMD...: evaluates CMD every 0.1 s for at most 60 s
bounded() {
	local i
	for ((i = 0; i < 600; i++)); do
		eval "$*" && return 0
		sleep 0.1
	done
	echo "not within 60 s: $*" >&2
	exit 1
}

agent_start() {
	local h=$1
	( MVM_HOME=$H/$h "$MVMCTL" host serve --name "node-$h" --mem 2G \
		</dev/null >>"$tmp/node-$h.log" 2>&1 &
	echo $! >"$tmp/node-$h.pid" )
}
agent_stop() { # agent_stop HOST [-SIG]
	local pid
	pid=$(cat "$tmp/node-$1.pid" 2>/dev/null) || return 0
	kill -CONT "$pid" 2>/dev/null || true
	kill "${2:--TERM}" "$pid" 2>/dev/null || true
	gone "$pid" 10 || kill -9 "$pid" 2>/dev/null || true
	rm -f "$tmp/node-$1.pid"
}
nhosts() { C host ls --json | jq '.hosts | length'; }
# rows: "<address> <state> <want> <host>" per instance, from etcd
rows() { C instance ls acme/web --json | jq -r '.instances[] | "\(.address) \(.state) \(.want) \(.host)"'; }
live() { # live HOST: instances HOST runs or keeps paused
	L "$1" instance ls acme/web --json 2>/dev/null |
		jq '[.instances[] | select(.state == "running" or .state == "warm")] | length'
}
running_on() { rows | awk -v h="node-$1" '$2 == "running" && $4 == h' | wc -l; }
# lease_of HOST: its lease id in hex (not through jq: its numbers are doubles)
lease_of() { etcdctl_ get mvm/hosts/"$1" -w fields | sed -n 's/^"Lease" : \([0-9]*\)$/\1/p' | xargs -r printf '%x\n'; }

# --- setup, as cluster.bats's setup_file -------------------------------------
"$root/scripts/standin-nixpkgs.sh" "$tmp/standin" >/dev/null
export MVM_OVERRIDE_INPUTS="nixpkgs=path:$tmp/standin"
mkdir -p "$tmp/kcache"
MVM_HOME=$tmp/kcache "$build/tests/kernel-ensure" >/dev/null
etcd_cluster_start "$tmp/etcd"
cp -r "$root/tests/fixtures/hello" "$tmp/flake"
for h in a b l; do
	mkdir -p "$H/$h" && chmod 700 "$H/$h"
	cp -al "$tmp/kcache/kernels" "$H/$h/kernels"
	[ "$h" = l ] || printf '[cluster]\nlease_ttl = %d\n' "$TTL" >"$H/$h/config.toml"
	L "$h" tenant create acme --max-vcpus 16 --max-running 16 >/dev/null 2>&1
	L "$h" pool create acme/web --flake "$tmp/flake" --profile default --cpus 1 --mem 256 >/dev/null 2>&1
	L "$h" pool build acme/web --json >"$tmp/build-$h.json" 2>"$tmp/build-$h.err" ||
		{ cat "$tmp/build-$h.err" >&2; exit 1; }
	[ "$(jq -r .snapshot.created "$tmp/build-$h.json")" = true ] || { echo "$h: no pool snapshot" >&2; exit 1; }
done
agent_start a
agent_start b
bounded '[ "$(nhosts)" -eq 2 ]'

# --- 1: pool scale --running 4: two hosts, one host, local --------------------
# move_ms < LOG: the ms of each "<ref>: ... -> running (<how>, <ms> ms)" line
move_ms() { sed -n 's/.* -> running (.*, \([0-9]*\) ms)$/\1/p'; }
scale_local() {
	timed L l pool scale acme/web --running 4
	move_ms <"$tmp/cmd.out" >>"$tmp/moves-local"
	[ "$(live l)" -eq 4 ] || { echo "local scale: not 4 running" >&2; exit 1; }
	if grep -q "cold boot" "$tmp/cmd.out"; then
		echo "local scale cold-booted:" >&2
		cat "$tmp/cmd.out" >&2
		exit 1
	fi
	L l pool scale acme/web --running 0 >/dev/null
}
scale_cluster() { # scale_cluster NA NB TAG: expects NA instances on node-a, NB on node-b
	local na nb ra rb
	na=$(wc -l <"$tmp/node-a.log") nb=$(wc -l <"$tmp/node-b.log")
	timed C pool scale acme/web --running 4 --timeout 120
	{ tail -n +"$((na + 1))" "$tmp/node-a.log"; tail -n +"$((nb + 1))" "$tmp/node-b.log"; } | move_ms >>"$tmp/moves-$3"
	ra=$(running_on a) rb=$(running_on b)
	[ "$ra $rb" = "$1 $2" ] || { echo "cluster scale: $ra on node-a, $rb on node-b (wanted $1 $2)" >&2; rows >&2; exit 1; }
	C instance ls acme/web --json | jq -r '.instances[].how' >>"$tmp/hows"
	C pool scale acme/web --running 0 --timeout 120 >/dev/null
	bounded '[ "$(live a)" -eq 0 ] && [ "$(live b)" -eq 0 ]'
}
one_host() { # node-b out: stopped, its lease revoked (a stopped agent's lease lives its TTL)
	local l
	l=$(lease_of node-b)
	agent_stop b
	[ -z "$l" ] || etcdctl_ lease revoke "$l" >/dev/null
	bounded '[ "$(nhosts)" -eq 1 ]'
}
two_hosts() {
	agent_start b
	bounded '[ "$(nhosts)" -eq 2 ]'
}

: >"$tmp/hows"
# one untimed round of each first (caches, the agents' first passes)
scale_local
scale_cluster 2 2 warmup
: >"$tmp/moves-local"
m_local=() m_two=() m_one=()
for i in $(seq "$N"); do
	scale_local
	m_local+=("$T_S")
	scale_cluster 2 2 two
	m_two+=("$T_S")
	one_host
	scale_cluster 4 0 one
	m_one+=("$T_S")
	two_hosts
	say "run $i: local ${m_local[-1]} s, two hosts ${m_two[-1]} s, one host ${m_one[-1]} s"
done

# --- 2: failover --------------------------------------------------------------
f_expire=() f_ready=() f_total=() f_move=() granted=''
for i in $(seq "$N"); do
	C pool scale acme/web --running 2 --timeout 120 >/dev/null
	[ "$(running_on a) $(running_on b)" = "1 1" ] || { echo "not spread:" >&2; rows >&2; exit 1; }
	addr=$(rows | awk '$4 == "node-b" {print $1}')
	l=$(lease_of node-b)
	granted=$(etcdctl_ lease timetolive "$l" | sed -n 's/.*granted with TTL(\([0-9]*\)s).*/\1/p')
	rev=$(etcdctl_ get mvm/hosts/node-b -w json | jq -r .header.revision)
	# the watch, from the next revision: no event missed even if it connects late
	exec {wfd}< <(exec env ETCDCTL_API=3 etcdctl --endpoints "$MVM_ETCD" watch --rev=$((rev + 1)) mvm/hosts/node-b)
	WATCH_PID=$!
	sleep 0.5
	old=$(jq -r '.vmm_pid // empty' "$H/b/pools/acme/web/instances/${addr##*/}/vm.json")
	nlog=$(wc -l <"$tmp/node-a.log")
	t_kill=$EPOCHREALTIME
	kill -9 "$(cat "$tmp/node-b.pid")"
	t_exp=''
	while IFS= read -r -t $((TTL + 30)) -u "$wfd" line; do
		if [ "$line" = DELETE ]; then
			t_exp=$EPOCHREALTIME
			break
		fi
	done
	[ -n "$t_exp" ] || { echo "node-b's lease did not expire within $((TTL + 30)) s" >&2; exit 1; }
	kill "$WATCH_PID" 2>/dev/null || true
	exec {wfd}<&-
	WATCH_PID=''
	t_run=''
	for ((k = 0; k < 1200; k++)); do # 60 s at most (polls of 50 ms + the command)
		if C instance ls acme/web --json |
			jq -e --arg a "$addr" '.instances[] | select(.address == $a and .host == "node-a" and .state == "running")' >/dev/null; then
			t_run=$EPOCHREALTIME
			break
		fi
		sleep 0.05
	done
	[ -n "$t_run" ] || { echo "$addr not running on node-a within 60 s of the expiry" >&2; rows >&2; exit 1; }
	f_expire+=("$(secs "$t_kill" "$t_exp")") f_ready+=("$(secs "$t_exp" "$t_run")") f_total+=("$(secs "$t_kill" "$t_run")")
	# the move node-a logged for it: "<ref>: ... -> running (<how>, <ms> ms)"
	mv=$(tail -n +"$((nlog + 1))" "$tmp/node-a.log" | grep -F "$addr" | move_ms | tail -1 || true)
	f_move+=("$(awk -v m="${mv:-0}" 'BEGIN {print m / 1000}')")
	orphan=no
	[ -n "$old" ] && kill -0 "$old" 2>/dev/null && orphan=yes
	say "run $i: $addr: kill -> expiry ${f_expire[-1]} s, expiry -> running on node-a ${f_ready[-1]} s (move ${f_move[-1]} s), node-b's QEMU still ran: $orphan"
	# the dead host's copies: killed, then node-b back (it removes its records)
	kill_qemus "$H/b"
	agent_start b
	bounded '[ "$(nhosts)" -eq 2 ] && [ "$(live b)" -eq 0 ]'
	C pool scale acme/web --running 0 --timeout 120 >/dev/null
	bounded '[ "$(live a)" -eq 0 ] && [ "$(live b)" -eq 0 ]'
done

# --- report ---------------------------------------------------------------------
two=$(med "${m_two[@]}") one=$(med "${m_one[@]}") loc=$(med "${m_local[@]}")
fe=$(med "${f_expire[@]}") fr=$(med "${f_ready[@]}") ft=$(med "${f_total[@]}") fm=$(med "${f_move[@]}")
hows=$(sort "$tmp/hows" | uniq -c | awk '{c=$1; $1=""; printf "%s%s x%s", (NR > 1 ? ", " : ""), substr($0, 2), c}')
echo "cluster benchmarks: hello fixture (1 vCPU, 256 MiB, pool snapshot), $MVM_ACCEL, $(nproc) cores, 3 etcd members, medians of $N"
echo "   both \"hosts\" and etcd share this machine's $(nproc) cores: two hosts have no more CPU than one here;"
echo "   what two gain is that each agent starts its instances one after another, so two agents overlap"
printf '1. pool scale --running 4 from 0: two hosts (2 + 2) %.3f s   one host (4) %.3f s   ratio two/one %s\n' \
	"$two" "$one" "$(ratio "$two" "$one")"
printf '   floor: the same scale on one host without a cluster (MVM_ETCD empty) %.3f s   ratio cluster one host / local %s\n' \
	"$loc" "$(ratio "$one" "$loc")"
msec() { awk '{print $1 / 1000}' "$1" | median; }
printf '   one instance started (restore to running, median of the moves the agents and the local scale logged): two hosts %.3f s, one host %.3f s, local %.3f s\n' \
	"$(msec "$tmp/moves-two")" "$(msec "$tmp/moves-one")" "$(msec "$tmp/moves-local")"
printf '   how the cluster started them: %s\n' "$hows"
printf '2. failover (lease TTL %s s, granted %s s; SIGKILL of node-b'"'"'s agent, one running instance there):\n' "$TTL" "${granted:-?}"
printf '   kill -> lease expiry %.3f s   expiry -> running on node-a %.3f s (the move itself %.3f s)   kill -> running %.3f s\n' \
	"$fe" "$fr" "$fm" "$ft"
