# A real 3-member etcd cluster (Debian's etcd-server, installed by
# scripts/install-deps.sh), started and stopped by the tests:
#
#   etcd_cluster_start DIR     members m1 m2 m3; exports MVM_ETCD (the three
#                              client URLs, comma-separated) and ETCD_EP1..3;
#                              waits until the cluster has a leader
#   etcd_member_kill N         SIGKILLs member N
#   etcd_member_start N        starts member N again (its data dir kept)
#   etcd_member_cut N          cuts member N off the network (blackhole routes)
#   etcd_member_heal N         undoes etcd_member_cut
#   etcd_cluster_stop          kills every member, removes the namespaces
#   etcdctl_ ARGS...           etcdctl against the cluster (v3 API)
#
# Where network namespaces can be made (root, iproute2), each member runs in
# its own (mvm<tag>-m<n>), with a veth on a bridge of the test's own
# (10.213.<tag>.0/24, the host at .254, member n at .n), so one member can be
# cut off from the others and from the host by blackhole routes in its
# namespace: packets reach it, its answers go nowhere, as in a partition.
# Elsewhere the members listen on 127.0.0.1 and ETCD_NETNS is empty (the
# partition test skips). Elections are slowed (heartbeat 200 ms, election
# 2 s) so that two cores busy with TCG guests do not make the members lose
# their leader.

ETCD_BIN=${MVM_ETCD_BIN:-etcd}

# free_port: a TCP port nothing listens on now.
free_port() {
	local p
	for ((;;)); do
		p=$((20000 + RANDOM % 30000))
		if ! ss -Htln "sport = :$p" | grep -q .; then
			echo "$p"
			return 0
		fi
	done
}

# etcd_netns_setup: the bridge and three namespaces; false when they cannot be made.
etcd_netns_setup() {
	# a tag of our own: "ip netns add" of its claim fails when another run
	# (the other pass of make check-all) holds it; the claim stays until teardown
	local tag='' n try
	for try in $(seq 1 40); do
		n=$((RANDOM % 250))
		if ip netns add "mvm$n-claim" 2>/dev/null; then
			tag=$n
			break
		fi
	done
	[ -n "$tag" ] || return 1
	local br="mvb$tag"
	echo "$tag" >"$ETCD_DIR/netns"
	# any step that fails (no bridge or veth support here): undo, use 127.0.0.1
	if ! {
		ip link add "$br" type bridge &&
			ip addr add "10.213.$tag.254/24" dev "$br" &&
			ip link set "$br" up
	}; then
		etcd_netns_teardown
		return 1
	fi
	for n in 1 2 3; do
		if ! {
			ip netns add "mvm$tag-m$n" &&
				ip link add "mv$tag-m$n" type veth peer name eth0 netns "mvm$tag-m$n" &&
				ip link set "mv$tag-m$n" master "$br" up &&
				ip -n "mvm$tag-m$n" addr add "10.213.$tag.$n/24" dev eth0 &&
				ip -n "mvm$tag-m$n" link set eth0 up &&
				ip -n "mvm$tag-m$n" link set lo up
		}; then
			etcd_netns_teardown
			return 1
		fi
	done
}

etcd_netns_teardown() {
	local tag n
	tag=$(cat "$ETCD_DIR/netns" 2>/dev/null) || return 0
	for n in 1 2 3; do
		ip netns del "mvm$tag-m$n" 2>/dev/null || true
	done
	ip link del "mvb$tag" 2>/dev/null || true
	ip netns del "mvm$tag-claim" 2>/dev/null || true
	rm -f "$ETCD_DIR/netns"
}

# etcd_addr N: where member N listens.
etcd_addr() {
	if [ -n "${ETCD_NETNS:-}" ]; then
		echo "10.213.$ETCD_NETNS.$1"
	else
		echo 127.0.0.1
	fi
}

etcd_member_start() {
	local n=$1
	local dir=$ETCD_DIR addr
	addr=$(etcd_addr "$n")
	local -a netns=()
	[ -z "${ETCD_NETNS:-}" ] || netns=(ip netns exec "mvm$ETCD_NETNS-m$n")
	# in a subshell: not a job of the test's shell, which would report its kill
	(
		"${netns[@]}" "$ETCD_BIN" --name "m$n" --data-dir "$ETCD_DATA/m$n" \
			--listen-client-urls "http://$addr:$(cat "$dir/m$n.client")" \
			--advertise-client-urls "http://$addr:$(cat "$dir/m$n.client")" \
			--listen-peer-urls "http://$addr:$(cat "$dir/m$n.peer")" \
			--initial-advertise-peer-urls "http://$addr:$(cat "$dir/m$n.peer")" \
			--initial-cluster "$(cat "$dir/initial")" \
			--initial-cluster-state new --initial-cluster-token "mvmtest-$$" \
			--heartbeat-interval 200 --election-timeout 2000 \
			--logger zap --log-outputs "$dir/m$n.log" \
			</dev/null >/dev/null 2>&1 3>&- &
		echo $! >"$dir/m$n.pid"
	)
}

etcd_member_kill() {
	local pid
	pid=$(cat "$ETCD_DIR/m$1.pid" 2>/dev/null) || return 0
	kill -9 "$pid" 2>/dev/null || true
	gone "$pid" 5
}

# the addresses member N must not reach when cut off: the host and the others
etcd_cut_targets() {
	local m
	echo "10.213.$ETCD_NETNS.254"
	for m in 1 2 3; do
		[ "$m" = "$1" ] || etcd_addr "$m"
	done
}

etcd_member_cut() {
	local a
	for a in $(etcd_cut_targets "$1"); do
		ip -n "mvm$ETCD_NETNS-m$1" route add blackhole "$a/32"
	done
}

etcd_member_heal() {
	local a
	for a in $(etcd_cut_targets "$1"); do
		ip -n "mvm$ETCD_NETNS-m$1" route del blackhole "$a/32" 2>/dev/null || true
	done
}

etcdctl_() {
	ETCDCTL_API=3 etcdctl --endpoints "$MVM_ETCD" --dial-timeout 2s --command-timeout 5s "$@"
}

# etcd_healthy: the cluster answers a linearizable read.
etcd_healthy() {
	etcdctl_ get --consistency=l nothing >/dev/null 2>&1
}

etcd_cluster_start() {
	export ETCD_DIR=$1
	mkdir -p "$ETCD_DIR"
	# the members' data in memory where there is /dev/shm: etcd fsyncs every
	# write, and a disk busy with the other suites would make renewals late
	ETCD_DATA=$ETCD_DIR/data
	if [ -d /dev/shm ] && [ -w /dev/shm ]; then
		ETCD_DATA=$(mktemp -d /dev/shm/mvm-etcd.XXXXXX)
		ln -s "$ETCD_DATA" "$ETCD_DIR/data"
	fi
	export ETCD_DATA
	export ETCD_NETNS=
	if [ "$(id -u)" -eq 0 ] && command -v ip >/dev/null && etcd_netns_setup; then
		ETCD_NETNS=$(cat "$ETCD_DIR/netns")
	fi
	local n initial=
	for n in 1 2 3; do
		free_port >"$ETCD_DIR/m$n.client"
		free_port >"$ETCD_DIR/m$n.peer"
		initial+="${initial:+,}m$n=http://$(etcd_addr "$n"):$(cat "$ETCD_DIR/m$n.peer")"
	done
	echo "$initial" >"$ETCD_DIR/initial"
	for n in 1 2 3; do
		etcd_member_start "$n"
	done
	export ETCD_EP1="http://$(etcd_addr 1):$(cat "$ETCD_DIR/m1.client")"
	export ETCD_EP2="http://$(etcd_addr 2):$(cat "$ETCD_DIR/m2.client")"
	export ETCD_EP3="http://$(etcd_addr 3):$(cat "$ETCD_DIR/m3.client")"
	export MVM_ETCD="$ETCD_EP1,$ETCD_EP2,$ETCD_EP3"
	local i
	for ((i = 0; i < 150; i++)); do
		etcd_healthy && return 0
		sleep 0.2
	done
	echo "the etcd cluster did not come up in 30 s:" >&2
	tail -n 5 "$ETCD_DIR"/m*.log >&2
	return 1
}

etcd_cluster_stop() {
	[ -n "${ETCD_DIR:-}" ] || return 0
	local n
	for n in 1 2 3; do
		etcd_member_kill "$n"
	done
	etcd_netns_teardown
	[ -z "${ETCD_DATA:-}" ] || rm -rf "$ETCD_DATA"
}
