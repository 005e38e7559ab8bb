#!/usr/bin/env bats
# Pools across hosts on etcd (docs/cluster.md), on one machine: a real
# 3-member etcd cluster on 127.0.0.1 (etcd_helpers.bash) and two
# `mvm host serve` agents, node-a and node-b, each with its own MVM_HOME
# (their "hosts"), both having built the same pool. Real VMs under TCG.
#
# The tests run in order and share the cluster, the agents and the pool;
# each leaves the pool as it says. After every test the invariant of the
# claim holds: no instance has a live copy on two hosts (one_copy_each).
bats_require_minimum_version 1.5.0
load build_helpers
load etcd_helpers
load s3_helpers

TTL=10

setup_file() {
	build_setup_file
	export ETCD_DIR="$BATS_FILE_TMPDIR/etcd"
	etcd_cluster_start "$ETCD_DIR" || return 1
	# the store revisions travel through (docs/cluster.md): each host signs
	# what it pushes, and trusts both keys
	mkdir -p "$BATS_FILE_TMPDIR/s3"
	s3rver_start "$BATS_FILE_TMPDIR/s3" || return 1
	export FLAKE="$BATS_FILE_TMPDIR/flake"
	cp -r "$MVM_SRC/tests/fixtures/hello" "$FLAKE"
	export MVM_OFFLINE=1 MVM_ACCEL=tcg MVM_OVERRIDE_INPUTS="nixpkgs=path:$STANDIN"
	local h pub pubs=()
	for h in a b; do
		mkdir -p "$BATS_FILE_TMPDIR/$h" && chmod 700 "$BATS_FILE_TMPDIR/$h"
		pub=$(MVM_HOME="$BATS_FILE_TMPDIR/$h" "$MVMCTL" key generate 2>/dev/null) || return 1
		pubs+=("$pub")
	done
	for h in a b; do
		cp -al "$KCACHE/kernels" "$BATS_FILE_TMPDIR/$h/kernels"
		printf '[cluster]\nlease_ttl = %d\n[store]\nurl = "s3://mvmtest/cluster"\ntrusted_keys = ["%s", "%s"]\n' \
			"$TTL" "${pubs[0]}" "${pubs[1]}" >"$BATS_FILE_TMPDIR/$h/config.toml"
		local_ "$h" tenant create acme --max-running 8 >/dev/null || return 1
		local_ "$h" pool create acme/web --flake "$FLAKE" --profile default --cpus 1 \
			--mem 256 >/dev/null || return 1
		local_ "$h" pool build acme/web >/dev/null 2>&1 || return 1
	done
}

teardown_file() {
	local h f pid
	for h in a b; do
		agent_stop "$h"
		for f in "$BATS_FILE_TMPDIR/$h"/pools/*/*/instances/*/vm.json; do
			[ -e "$f" ] || continue
			for pid in $(jq -r '.shim_pid // empty, .vmm_pid // empty' "$f"); do
				kill -9 "$pid" 2>/dev/null || true
			done
		done
	done
	etcd_cluster_stop
	s3rver_stop "$BATS_FILE_TMPDIR/s3"
}

setup() {
	export MVM_HOME="$BATS_FILE_TMPDIR/a"
	export MVM_CEILING_DIRECTORIES="$BATS_FILE_TMPDIR"
	cd "$BATS_TEST_TMPDIR" || return 1
}

teardown() {
	one_copy_each
}

# local_ HOST ARGS...: mvmctl on HOST's own state, not the cluster's.
local_() {
	local h=$1
	shift
	MVM_HOME="$BATS_FILE_TMPDIR/$h" MVM_ETCD= "$MVMCTL" "$@"
}

# agent_start HOST: `mvm host serve` of node-HOST in the background.
agent_start() {
	local h=$1
	MVM_HOME="$BATS_FILE_TMPDIR/$h" "$MVMCTL" host serve --name "node-$h" --mem 1G \
		>>"$BATS_FILE_TMPDIR/node-$h.log" 2>&1 3>&- &
	echo $! >"$BATS_FILE_TMPDIR/node-$h.pid"
}

agent_stop() {
	local pid
	pid=$(cat "$BATS_FILE_TMPDIR/node-$1.pid" 2>/dev/null) || return 0
	kill -CONT "$pid" 2>/dev/null || true
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$BATS_FILE_TMPDIR/node-$1.pid"
}

agent_pid() { cat "$BATS_FILE_TMPDIR/node-$1.pid"; }

# local_live HOST: the instances HOST runs or keeps paused, "<id> <state>" per line.
local_live() {
	local_ "$1" instance ls acme/web --json |
		jq -r '.instances[] | select(.state == "running" or .state == "warm") | "\(.id) \(.state)"'
}

# cluster_rows: "<address> <state> <want> <host>" per instance, from etcd.
cluster_rows() {
	"$MVMCTL" instance ls acme/web --json |
		jq -r '.instances[] | "\(.address) \(.state) \(.want) \(.host)"'
}

# one_copy_each: no instance is live on both hosts.
one_copy_each() {
	local both
	both=$(comm -12 <(local_live a | cut -d' ' -f1 | sort) <(local_live b | cut -d' ' -f1 | sort))
	if [ -n "$both" ]; then
		echo "live on both hosts: $both" >&2
		return 1
	fi
}

# wait_for SECONDS 'COMMAND': evaluates COMMAND (the test's own text) every
# 0.5 s until it succeeds.
wait_for() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 2; i++)); do
		eval "$*" && return 0
		sleep 0.5
	done
	echo "not within $secs s: $*" >&2
	return 1
}

# hosts_of STATE: the hosts of the instances in STATE, sorted, one per line.
hosts_of() {
	cluster_rows | awk -v s="$1" '$2 == s {print $4}' | sort
}

# all_on HOST N: N instances, every one running on HOST.
all_on() {
	[ "$(cluster_rows | awk -v h="node-$1" '$2 == "running" && $4 == h' | wc -l)" -eq "$2" ] &&
		[ "$(cluster_rows | wc -l)" -eq "$2" ]
}

# fenced_copy HOST ID: HOST's copy of instance ID was paused by its own
# supervisor for the fence (shim/fence.h), its QEMU kept.
fenced_copy() {
	local f="$BATS_FILE_TMPDIR/$1/pools/acme/web/instances/$2/vm.json"
	jq -e '.paused == true and (.fenced | type) == "string"' "$f" >/dev/null
}

# failover_to HOST SECONDS FROM N IDS...: waits until all N instances run on
# HOST, checking twice a second that whenever HOST runs one of IDS (FROM's
# copies), FROM's copy of it is already fenced: no moment with both running.
failover_to() {
	local to=$1 secs=$2 from=$3 n=$4 i id
	shift 4
	for ((i = 0; i < secs * 2; i++)); do
		for id in "$@"; do
			if local_live "$to" | grep -qx "$id running" && ! fenced_copy "$from" "$id"; then
				echo "$id runs on $to while $from's copy is not fenced" >&2
				return 1
			fi
		done
		all_on "$to" "$n" && return 0
		sleep 0.5
	done
	echo "not all on $to within $secs s" >&2
	return 1
}

# qemu_of HOST ID: the pid of the QEMU of HOST's copy of instance ID.
qemu_of() {
	local f="$BATS_FILE_TMPDIR/$1/pools/acme/web/instances/$2/vm.json"
	[ -e "$f" ] && jq -r '.vmm_pid // empty' "$f"
	return 0
}

@test "make install ships the agent's systemd unit, which leaves the VMs running when it stops" {
	local prefix="$BATS_TEST_TMPDIR/prefix"
	env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -s -C "$MVM_SRC" BUILD="$MVM_BUILD" install \
		PREFIX="$prefix" >/dev/null
	local unit="$prefix/lib/systemd/system/mvm-host.service"
	[ -f "$unit" ]
	assert_mode "$unit" 644
	grep -qx "ExecStart=$prefix/bin/mvmctl host serve" "$unit"
	grep -qx "KillMode=process" "$unit"
	grep -qx "WantedBy=multi-user.target" "$unit"
	if command -v systemd-analyze >/dev/null; then
		run systemd-analyze verify --man=no "$unit"
		[ "$status" -eq 0 ]
		assert_eq "" "$output"
	fi
}

@test "host commands without a cluster, or with one that is down, fail clearly" {
	run --separate-stderr env MVM_ETCD= "$MVMCTL" host serve --name x
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "no cluster is configured: set [cluster] etcd in config.toml or MVM_ETCD"
	run --separate-stderr env MVM_ETCD=http://127.0.0.1:1 "$MVMCTL" host ls
	[ "$status" -eq 6 ]
	assert_contains "$stderr" "etcd is unreachable at http://127.0.0.1:1:"
	assert_contains "$stderr" "[cluster] etcd in config.toml (or MVM_ETCD)"
	run --separate-stderr "$MVMCTL" host serve --name -bad
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "'-bad' is not a host name"
	printf '[cluster]\netcd = "http://127.0.0.1:2379"\n' >"$BATS_TEST_TMPDIR/bad.toml"
	run --separate-stderr env MVM_CONFIG="$BATS_TEST_TMPDIR/bad.toml" MVM_ETCD= "$MVMCTL" host ls
	[ "$status" -eq 3 ]
	assert_contains "$stderr" "expected an array of endpoints"
	printf '[cluster]\netcd = ["ftp://127.0.0.1:2379"]\n' >"$BATS_TEST_TMPDIR/bad.toml"
	run --separate-stderr env MVM_CONFIG="$BATS_TEST_TMPDIR/bad.toml" MVM_ETCD= "$MVMCTL" host ls
	[ "$status" -eq 3 ]
	assert_contains "$stderr" "expected an array of http:// or https:// endpoints"
	printf '[cluster]\nlease_ttl = 1\n' >"$BATS_TEST_TMPDIR/bad.toml"
	run --separate-stderr env MVM_CONFIG="$BATS_TEST_TMPDIR/bad.toml" "$MVMCTL" host ls
	[ "$status" -eq 3 ]
	assert_contains "$stderr" "expected seconds, from 2 to 3600"
}

@test "the gateway's traps: absent keys, failed compares, expired leases, untyped PUT events, compaction" {
	local P="$MVM_BUILD/tests/etcd-probe" rev
	run "$P" "$MVM_ETCD" get probe/none
	[ "$status" -eq 0 ] && [[ $output == "absent rev="* ]]
	run "$P" "$MVM_ETCD" create probe/k v1
	assert_eq "succeeded=1" "$output"
	run "$P" "$MVM_ETCD" create probe/k v2
	assert_eq "succeeded=0" "$output"
	run "$P" "$MVM_ETCD" lease 30
	assert_eq "granted ttl=30 renewed ttl=30 revoked ttl=0" "$output"
	rev=$("$P" "$MVM_ETCD" put probe/k2 'a b' | cut -d= -f2)
	run "$P" "$MVM_ETCD" watch probe/ "$rev" 2000
	assert_eq $'PUT probe/k2 a b\nnext='$((rev + 1)) "$output"
	"$P" "$MVM_ETCD" del-prefix probe/ >/dev/null
	run "$P" "$MVM_ETCD" watch probe/ $((rev + 1)) 2000
	assert_eq $'DELETE probe/k\nDELETE probe/k2\nnext='$((rev + 2)) "$output"
	"$P" "$MVM_ETCD" compact $((rev + 1))
	run --separate-stderr "$P" "$MVM_ETCD" watch probe/ "$rev" 2000
	[ "$status" -eq 1 ]
	assert_eq "stale next=$((rev + 2))" "$output"
}

@test "two hosts register with their capacity and the pool at its revision" {
	agent_start a
	agent_start b
	wait_for 20 '[ "$("$MVMCTL" host ls --json | jq ".hosts | length")" -eq 2 ]'
	local rev
	rev=$(local_ a pool info acme/web --json | jq -r .current_revision)
	run "$MVMCTL" host ls --json
	assert_eq "node-a node-b" "$(jq -r '[.hosts[].host] | join(" ")' <<<"$output")"
	assert_eq "1024 1024" "$(jq -r '[.hosts[].mem_mib] | join(" ")' <<<"$output")"
	assert_eq "$rev $rev" "$(jq -r '[.hosts[].pools["acme/web"]] | join(" ")' <<<"$output")"
	run "$MVMCTL" host ls
	[ "$status" -eq 0 ]
	assert_contains "$output" "HOST"
	[ "$(grep -c "acme/web@${rev:0:12}" <<<"$output")" -eq 2 ]
}

@test "pool scale --running 2 spreads the pool over both hosts and returns once they run" {
	run --separate-stderr "$MVMCTL" pool scale acme/web --running 2 --timeout 120
	[ "$status" -eq 0 ]
	assert_contains "$output" "acme/web: 2 running, 0 warm, 0 sleeping (on 2 hosts)"
	assert_eq $'node-a\nnode-b' "$(hosts_of running)"
	# each host runs its one instance for real
	[ "$(local_live a | grep -c ' running$')" -eq 1 ]
	[ "$(local_live b | grep -c ' running$')" -eq 1 ]
	run "$MVMCTL" instance ls acme/web
	assert_contains "$output" "node-a"
	assert_contains "$output" "node-b"
}

@test "quotas are admitted cluster-wide, in the transaction that writes the counts" {
	# acme may run 8 (setup_file): web runs 2 now
	run --separate-stderr "$MVMCTL" pool scale acme/web --running 9 --timeout 10
	[ "$status" -eq 5 ]
	assert_contains "$stderr" "Quota exceeded for tenant 'acme': max_running is 8, the cluster's pools of 'acme' would need 9"
	assert_eq 2 "$(etcdctl_ get mvm/pools/acme/web --print-value-only | jq .desired.running)"
	# a second pool of the tenant counts against the same quota
	local_ a pool create acme/api --flake "$FLAKE" --profile default --cpus 1 --mem 256 >/dev/null
	local_ a pool build acme/api >/dev/null 2>&1
	run --separate-stderr "$MVMCTL" pool scale acme/api --running 7 --no-wait
	[ "$status" -eq 5 ]
	assert_contains "$stderr" "max_running is 8, the cluster's pools of 'acme' would need 9"
	assert_eq "" "$(etcdctl_ get mvm/pools/acme/api)"
	# the cluster keeps the tenant's quotas, written by the scale from a host that has it
	assert_eq 8 "$(etcdctl_ get mvm/tenants/acme --print-value-only | jq .max_running)"
}

@test "tenant commands with a cluster: create registers one set of quotas for every host, info shows the cluster's use, rm is refused while pools have instances" {
	run --separate-stderr "$MVMCTL" tenant create beta --max-running 3
	[ "$status" -eq 0 ]
	assert_contains "$stderr" "the cluster holds 'beta' and its quotas now, for every host"
	assert_eq 3 "$(etcdctl_ get mvm/tenants/beta --print-value-only | jq .max_running)"
	# another host with the same quotas joins it; other quotas are refused, naming the cluster's
	run --separate-stderr env MVM_HOME="$BATS_FILE_TMPDIR/b" "$MVMCTL" tenant create beta --max-running 3
	[ "$status" -eq 0 ]
	assert_contains "$stderr" "the cluster had 'beta' already, with these quotas"
	mkdir -m 700 "$BATS_TEST_TMPDIR/c"
	run --separate-stderr env MVM_HOME="$BATS_TEST_TMPDIR/c" "$MVMCTL" tenant create beta --max-running 5
	[ "$status" -eq 5 ]
	assert_contains "$stderr" "tenant 'beta' exists in the cluster with other quotas (vcpus 16, mem 16G, running 3, warm 16, per pool 16)"
	assert_contains "$stderr" "--max-running 3 --max-warm 16"
	[ ! -e "$BATS_TEST_TMPDIR/c/tenants/beta" ]
	assert_eq 3 "$(etcdctl_ get mvm/tenants/beta --print-value-only | jq .max_running)"
	# info: acme's use over both hosts, against the cluster's quotas
	run --separate-stderr "$MVMCTL" tenant info acme --json
	[ "$status" -eq 0 ]
	assert_eq 2 "$(jq .cluster.desired.running <<<"$output")"
	assert_eq 8 "$(jq .cluster.quotas.max_running <<<"$output")"
	assert_eq '{"node-a":1,"node-b":1}' "$(jq -c .cluster.hosts <<<"$output")"
	assert_eq '{"running":2,"sleeping":0,"unplaced":0,"warm":0}' "$(jq -cS .cluster.instances <<<"$output")"
	run "$MVMCTL" tenant info acme
	assert_contains "$output" "cluster (desired / max, over every host)"
	assert_contains "$output" "node-a (1) node-b (1)"
	# rm: refused while acme's pools have instances, nothing removed; beta goes from both
	run --separate-stderr "$MVMCTL" tenant rm acme
	[ "$status" -eq 5 ]
	assert_contains "$stderr" "tenant 'acme' has pools with instances in the cluster: acme/web"
	[ -n "$(etcdctl_ get mvm/tenants/acme)" ]
	[ -e "$MVM_HOME/tenants/acme/tenant.json" ]
	run --separate-stderr "$MVMCTL" tenant rm beta
	[ "$status" -eq 0 ]
	assert_eq "" "$(etcdctl_ get mvm/tenants/beta)"
	[ ! -e "$MVM_HOME/tenants/beta" ]
	# node-b's local beta is its own to remove; the cluster has none left
	run --separate-stderr env MVM_HOME="$BATS_FILE_TMPDIR/b" "$MVMCTL" tenant rm beta --json
	[ "$status" -eq 0 ]
	assert_eq false "$(jq .removed_from_cluster <<<"$output")"
}

@test "a warm count pauses one instance where it runs; --no-wait returns before the hosts move" {
	run --separate-stderr "$MVMCTL" pool scale acme/web --running 1 --warm 1 --timeout 120
	[ "$status" -eq 0 ]
	assert_contains "$output" "acme/web: 1 running, 1 warm, 0 sleeping"
	[ "$(hosts_of running | wc -l)" -eq 1 ]
	[ "$(hosts_of warm | wc -l)" -eq 1 ]
	[ "$(local_live a; local_live b)" != "" ]
	[ "$( (local_live a; local_live b) | grep -c ' warm$')" -eq 1 ]
	run --separate-stderr "$MVMCTL" pool scale acme/web --running 2 --warm 0 --no-wait --json
	[ "$status" -eq 0 ]
	assert_eq "2" "$(jq -r .desired.running <<<"$output")"
	wait_for 60 '[ "$(hosts_of running | wc -l)" -eq 2 ]'
}

@test "a scale that does not converge within --timeout exits 1 saying what is missing; the hosts get there later" {
	# both agents frozen for a moment, well inside the fence's deadline: nothing moves
	# (a pause, not a new instance: which host keeps what stays as it was)
	kill -STOP "$(agent_pid a)" "$(agent_pid b)"
	run --separate-stderr "$MVMCTL" pool scale acme/web --running 1 --warm 1 --timeout 1
	kill -CONT "$(agent_pid a)" "$(agent_pid b)"
	[ "$status" -eq 1 ]
	assert_contains "$stderr" "mvmctl: error: acme/web did not converge within 1 s: "
	# the counts were written: the hosts converge to them once they can
	assert_eq 1 "$(etcdctl_ get mvm/pools/acme/web --print-value-only | jq .desired.warm)"
	wait_for 60 '[ "$(hosts_of warm | wc -l)" -eq 1 ]'
	run --separate-stderr "$MVMCTL" pool scale acme/web --running 2 --warm 0 --timeout 60
	[ "$status" -eq 0 ]
	assert_eq $'node-a\nnode-b' "$(hosts_of running)"
}

@test "one etcd member killed: nothing changes, commands and agents carry on" {
	local before
	before=$(cluster_rows)
	etcd_member_kill 1
	run --separate-stderr "$MVMCTL" instance ls acme/web
	[ "$status" -eq 0 ]
	run --separate-stderr "$MVMCTL" pool scale acme/web --running 2 --timeout 60
	[ "$status" -eq 0 ]
	sleep $((TTL + 2)) # past a lease's TTL: the agents renewed through the other members
	assert_eq "$before" "$(cluster_rows)"
	run "$MVMCTL" host ls --json
	assert_eq 2 "$(jq '.hosts | length' <<<"$output")"
	etcd_member_start 1
	wait_for 30 etcd_healthy
}

# etcd_leader: the number of the member that leads now.
etcd_leader() {
	local ep n
	ep=$(etcdctl_ endpoint status -w json 2>/dev/null |
		jq -r '.[] | select(.Status.leader == .Status.header.member_id) | .Endpoint')
	for n in 1 2 3; do
		local v="ETCD_EP$n"
		[ "${!v}" = "$ep" ] && echo "$n" && return 0
	done
	return 1
}

@test "the leading member cut off the network: the other two carry on, no host is fenced, the member rejoins" {
	[ -n "$ETCD_NETNS" ] || skip "no network namespaces here (needs root and iproute2)"
	local before leader la lb
	before=$(cluster_rows)
	leader=$(etcd_leader)
	[ -n "$leader" ]
	la=$(wc -l <"$BATS_FILE_TMPDIR/node-a.log")
	lb=$(wc -l <"$BATS_FILE_TMPDIR/node-b.log")
	etcd_member_cut "$leader"
	run --separate-stderr "$MVMCTL" instance ls acme/web
	[ "$status" -eq 0 ]
	run --separate-stderr "$MVMCTL" pool scale acme/web --running 2 --timeout 60
	[ "$status" -eq 0 ]
	sleep $((TTL + 2)) # past a lease's TTL: renewed through the other two
	assert_eq "$before" "$(cluster_rows)"
	! tail -n +"$((la + 1))" "$BATS_FILE_TMPDIR/node-a.log" | grep -E "fencing|claimed|lease .* expired"
	! tail -n +"$((lb + 1))" "$BATS_FILE_TMPDIR/node-b.log" | grep -E "fencing|claimed|lease .* expired"
	[ "$(etcd_leader)" != "$leader" ]
	etcd_member_heal "$leader"
	# it rejoins: it answers as a member of the cluster again
	wait_for 30 'ETCDCTL_API=3 etcdctl --endpoints "$(eval echo \$ETCD_EP$leader)" --command-timeout 2s get --consistency=l nothing >/dev/null 2>&1'
}

@test "compaction under watching agents: they list again and keep converging" {
	local rev
	rev=$(etcdctl_ get mvm/ --prefix -w json | jq -r .header.revision)
	etcdctl_ compact "$rev" >/dev/null
	run --separate-stderr "$MVMCTL" pool scale acme/web --running 1 --warm 1 --timeout 60
	[ "$status" -eq 0 ]
	run --separate-stderr "$MVMCTL" pool scale acme/web --running 2 --warm 0 --timeout 60
	[ "$status" -eq 0 ]
	assert_eq $'node-a\nnode-b' "$(hosts_of running)"
}

@test "an agent killed: its instance comes back on the other host within TTL + 20 s; restarted, it stops its copy" {
	local id start took
	id=$(cluster_rows | awk '$4 == "node-b" {print $1}' | sed 's|.*/||')
	[ -n "$id" ]
	local old_qemu
	old_qemu=$(qemu_of b "$id")
	[ -n "$old_qemu" ]
	start=$SECONDS
	kill -9 "$(agent_pid b)"
	failover_to a $((TTL + 20)) b 2 "$id"
	took=$((SECONDS - start))
	echo "# failover took $took s (lease TTL $TTL s)" >&3
	run "$MVMCTL" instance ls acme/web
	assert_contains "$output" "failover from node-b"
	grep -q "acme/web/$id: claimed; it was running on node-b, which is gone" \
		"$BATS_FILE_TMPDIR/node-a.log"
	# the killed agent's VM was paused by its supervisor, not killed
	kill -0 "$old_qemu"
	fenced_copy b "$id"
	# and an operator on node-b cannot resume it by hand while the lease is in doubt
	run --separate-stderr local_ b instance resume "acme/web/$id"
	[ "$status" -eq 1 ]
	assert_contains "$stderr" "the VM is fenced: this host's cluster lease was not renewed in time"
	fenced_copy b "$id"
	# restarted, node-b finds the instance owned by node-a and stops its copy
	agent_start b
	wait_for 30 '[ -z "$(local_live b)" ]'
	gone "$old_qemu" 10
	grep -q "acme/web/$id: owned by node-a: stopped and removed the copy here" \
		"$BATS_FILE_TMPDIR/node-b.log"
	all_on a 2
}

@test "an agent frozen past its TTL (SIGSTOP) finds its instances owned elsewhere and stops its copies" {
	# both instances are on node-a now; freeze it
	local pa id
	pa=$(agent_pid a)
	kill -STOP "$pa"
	# its supervisors pause its copies before node-b may start them
	# shellcheck disable=SC2046
	failover_to b $((TTL + 30)) a 2 $(local_live a | cut -d' ' -f1)
	for id in $(local_live a | cut -d' ' -f1); do fenced_copy a "$id"; done
	kill -CONT "$pa"
	wait_for 30 '[ -z "$(local_live a)" ]'
	grep -q "owned by node-b: stopped and removed the copy here" "$BATS_FILE_TMPDIR/node-a.log"
	all_on b 2
	# node-a serves again and takes its share of the next instance
	run --separate-stderr "$MVMCTL" pool scale acme/web --running 3 --timeout 120
	[ "$status" -eq 0 ]
	assert_eq 1 "$(hosts_of running | grep -c node-a)"
}

@test "two etcd members killed: commands fail clearly, VMs are paused not killed, and all resumes with the quorum" {
	declare -A pid_of
	local id
	for id in $(local_live b | cut -d' ' -f1); do pid_of[$id]=$(qemu_of b "$id"); done
	[ "${#pid_of[@]}" -eq 2 ]
	etcd_member_kill 2
	etcd_member_kill 3
	run --separate-stderr "$MVMCTL" instance ls acme/web
	[ "$status" -eq 6 ]
	assert_contains "$stderr" "etcd is unreachable at"
	run --separate-stderr "$MVMCTL" pool scale acme/web --running 1 --timeout 10
	[ "$status" -eq 6 ]
	# past the TTL the agents fence: running instances paused, their QEMUs kept
	wait_for $((TTL + 10)) 'grep -q "fencing: the lease was not renewed" "$BATS_FILE_TMPDIR/node-b.log"'
	wait_for 20 '[ "$(local_live b | grep -c " warm$")" -eq 2 ]'
	for id in "${!pid_of[@]}"; do kill -0 "${pid_of[$id]}"; done
	etcd_member_start 2
	etcd_member_start 3
	wait_for 30 etcd_healthy
	# the leases outlived the outage (a new leader renews them): the same VMs run again
	wait_for 60 '[ "$(local_live b | grep -c " running$")" -eq 2 ]'
	for id in "${!pid_of[@]}"; do assert_eq "${pid_of[$id]}" "$(qemu_of b "$id")"; done
	assert_eq 3 "$(hosts_of running | wc -l)"
}

# revision_of HOST ID: the revision HOST's copy of instance ID runs.
revision_of() {
	local_ "$1" instance ls acme/web --json | jq -r --arg id "$2" '.instances[] | select(.id == $id) | .revision'
}

# ids_on HOST: the ids of the instances the cluster has on node-HOST.
ids_on() {
	cluster_rows | awk -v h="node-$1" '$4 == h {print $1}' | sed 's|.*/||' | sort
}

@test "a build moves the revision the cluster runs and pushes it to the store; the other host pulls it, and new instances boot it on both; a rollback moves it back" {
	local r1 r2 before_a before_b new n
	r1=$(etcdctl_ get mvm/pools/acme/web --print-value-only | jq -r .revision)
	[ "$r1" = "$(local_ a pool info acme/web --json | jq -r .current_revision)" ]
	n=$(cluster_rows | wc -l)
	# a new revision, built on node-b only, with the cluster and the store configured
	sed -i 's/hello from the mvm fixture/hello from the second revision/' "$FLAKE/flake.nix"
	run --separate-stderr env MVM_HOME="$BATS_FILE_TMPDIR/b" "$MVMCTL" pool build acme/web
	[ "$status" -eq 0 ]
	r2=$(local_ b pool info acme/web --json | jq -r .current_revision)
	[ "$r2" != "$r1" ]
	assert_contains "$stderr" "pushed revision ${r2:0:12} of acme/web to s3://mvmtest/cluster"
	assert_contains "$stderr" "the cluster runs revision ${r2:0:12} of acme/web now (was ${r1:0:12})"
	assert_eq "$r2" "$(etcdctl_ get mvm/pools/acme/web --print-value-only | jq -r .revision)"
	# node-a pulls it (signed by node-b's key, which it trusts), its own current untouched
	wait_for 120 'grep -q "acme/web: pulled revision ${r2:0:12} from the store" "$BATS_FILE_TMPDIR/node-a.log"'
	local_ a pool info acme/web --json | jq -e --arg r "$r2" '[.revisions[].revision] | index($r) != null' >/dev/null
	assert_eq "$r1" "$(local_ a pool info acme/web --json | jq -r .current_revision)"
	wait_for 30 'etcdctl_ get mvm/hosts/node-a --print-value-only | jq -e --arg r "$r2" ".revisions[\"acme/web\"] | index(\$r) != null" >/dev/null'
	# a scale: new instances go to both hosts, spread, and every one boots r2
	before_a=$(ids_on a) before_b=$(ids_on b)
	run --separate-stderr "$MVMCTL" pool scale acme/web --running $((n + 3)) --timeout 180
	[ "$status" -eq 0 ]
	new=$(comm -13 <(echo "$before_a") <(ids_on a))
	[ -n "$new" ]
	for id in $new; do assert_eq "$r2" "$(revision_of a "$id")"; done
	new=$(comm -13 <(echo "$before_b") <(ids_on b))
	[ -n "$new" ]
	for id in $new; do assert_eq "$r2" "$(revision_of b "$id")"; done
	# rolled back from node-a: new instances start from r1 again
	run --separate-stderr "$MVMCTL" pool rollback acme/web --revision "${r1:0:12}"
	[ "$status" -eq 0 ]
	assert_contains "$stderr" "the cluster runs revision ${r1:0:12} of acme/web now (was ${r2:0:12})"
	before_a=$(ids_on a) before_b=$(ids_on b)
	run --separate-stderr "$MVMCTL" pool scale acme/web --running $((n + 4)) --timeout 120
	[ "$status" -eq 0 ]
	new=$( (comm -13 <(echo "$before_a") <(ids_on a)) | head -n1)
	if [ -n "$new" ]; then
		assert_eq "$r1" "$(revision_of a "$new")"
	else
		new=$(comm -13 <(echo "$before_b") <(ids_on b))
		assert_eq "$r1" "$(revision_of b "$new")"
	fi
	# the rollback pushed r1 from node-a: a push by hand finds every file there
	run --separate-stderr local_ a pool push acme/web --json
	[ "$status" -eq 0 ]
	assert_eq "$r1" "$(jq -r .revision <<<"$output")"
	assert_eq 0 "$(jq -r .uploaded <<<"$output")"
	[ "$(jq -r .files <<<"$output")" -gt 3 ]
}

@test "pool scale --running 0 stops and removes every copy on every host" {
	run --separate-stderr "$MVMCTL" pool scale acme/web --running 0 --timeout 60
	[ "$status" -eq 0 ]
	assert_eq "" "$(cluster_rows)"
	wait_for 20 '[ -z "$(local_live a)$(local_live b)" ]'
	assert_eq "" "$(etcdctl_ get mvm/owners/ --prefix --keys-only)"
}
