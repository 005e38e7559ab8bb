# A real 3-member etcd cluster on 127.0.0.1 (Debian's etcd-server, installed
# by scripts/install-deps.sh), started and stopped by the tests:
#
#   etcd_cluster_start DIR     members m1 m2 m3 on free ports; exports MVM_ETCD
#                              (the three client URLs, comma-separated) and
#                              ETCD_EP1..3; waits until the cluster has a leader
#   etcd_member_kill N         SIGKILLs member N
#   etcd_member_start N        starts member N again (its data dir kept)
#   etcd_cluster_stop          kills every member
#   etcdctl_ ARGS...           etcdctl against the cluster (v3 API)
#
# Elections are slowed (heartbeat 200 ms, election 2 s) so that two cores
# busy with TCG guests do not make the members lose their leader.

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

etcd_member_start() {
	local n=$1
	local dir=$ETCD_DIR
	# in a subshell: not a job of the test's shell, which would report its kill
	(
		"$ETCD_BIN" --name "m$n" --data-dir "$dir/m$n.data" \
			--listen-client-urls "http://127.0.0.1:$(cat "$dir/m$n.client")" \
			--advertise-client-urls "http://127.0.0.1:$(cat "$dir/m$n.client")" \
			--listen-peer-urls "http://127.0.0.1:$(cat "$dir/m$n.peer")" \
			--initial-advertise-peer-urls "http://127.0.0.1:$(cat "$dir/m$n.peer")" \
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

etcdctl_() {
	ETCDCTL_API=3 etcdctl --endpoints "$MVM_ETCD" --command-timeout 5s "$@"
}

# etcd_healthy: the cluster answers a linearizable read.
etcd_healthy() {
	etcdctl_ get --consistency=l nothing >/dev/null 2>&1
}

etcd_cluster_start() {
	export ETCD_DIR=$1
	mkdir -p "$ETCD_DIR"
	local n initial=
	for n in 1 2 3; do
		free_port >"$ETCD_DIR/m$n.client"
		free_port >"$ETCD_DIR/m$n.peer"
		initial+="${initial:+,}m$n=http://127.0.0.1:$(cat "$ETCD_DIR/m$n.peer")"
	done
	echo "$initial" >"$ETCD_DIR/initial"
	for n in 1 2 3; do
		etcd_member_start "$n"
	done
	export ETCD_EP1="http://127.0.0.1:$(cat "$ETCD_DIR/m1.client")"
	export ETCD_EP2="http://127.0.0.1:$(cat "$ETCD_DIR/m2.client")"
	export ETCD_EP3="http://127.0.0.1:$(cat "$ETCD_DIR/m3.client")"
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
}
