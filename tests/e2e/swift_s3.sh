#!/usr/bin/env bash
# swift_s3.sh DIR: starts an S3-compatible server that checks SigV4 signatures, for
# tests/e2e/store_sigv4.bats: Swift's proxy with its s3api and tempauth middleware over
# one-replica account, container and object servers, and the memcached tempauth keeps its
# tokens in, all on free 127.0.0.1 ports, everything under DIR (an absolute path; the
# servers' pids in DIR/run/*.pid, their output in DIR/log/). Prints the proxy's port and
# returns; the servers take a while to answer (poll the proxy). The S3 access key is
# "test:tester", the secret "testing". scripts/install-deps.sh installs the packages.
set -eu
D=$1
case $D in /*) ;; *) echo "swift_s3.sh: DIR must be absolute" >&2 && exit 2 ;; esac
mkdir -p "$D/srv/d1" "$D/run" "$D/log"
read -r -a ports < <(/usr/bin/python3 -c 'import socket
ss = [socket.socket() for _ in range(5)]
[s.bind(("127.0.0.1", 0)) for s in ss]
print(*[s.getsockname()[1] for s in ss])')
pp=${ports[0]} ap=${ports[1]} cp=${ports[2]} op=${ports[3]} mp=${ports[4]}
memcached -l 127.0.0.1 -p "$mp" -U 0 -u "$(id -un)" -m 16 >"$D/log/memcached.log" 2>&1 &
echo $! >"$D/run/memcached.pid"
# the three rings in one interpreter (swift-ring-builder is a python start each)
/usr/bin/python3 - "$D" "$ap" "$cp" "$op" <<'PY'
import sys
from swift.common.ring import RingBuilder
d = sys.argv[1]
for name, port in zip(("account", "container", "object"), sys.argv[2:]):
    b = RingBuilder(0, 1, 1)
    b.add_dev({"region": 1, "zone": 1, "ip": "127.0.0.1", "port": int(port), "device": "d1", "weight": 1})
    b.rebalance()
    b.get_ring().save(f"{d}/{name}.ring.gz")
PY
printf '[swift-hash]\nswift_hash_path_suffix = mvmtest\nswift_hash_path_prefix = mvmtest\n[storage-policy:0]\nname = gold\ndefault = yes\n' >"$D/swift.conf"
for t in account:$ap container:$cp object:$op; do
	n=${t%%:*} p=${t#*:}
	cat >"$D/$n-server.conf" <<C
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $p
workers = 0
devices = $D/srv
mount_check = false
swift_dir = $D
log_name = $n
log_facility = LOG_LOCAL0
[pipeline:main]
pipeline = $n-server
[app:$n-server]
use = egg:swift#$n
[${n}-replicator]
[${n}-updater]
[${n}-auditor]
C
done
cat >"$D/proxy-server.conf" <<C
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $pp
workers = 0
swift_dir = $D
[pipeline:main]
pipeline = catch_errors gatekeeper proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$mp
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:s3api]
use = egg:swift#s3api
location = us-east-1
[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
C
for n in account container object proxy; do
	"swift-$n-server" "$D/$n-server.conf" >"$D/log/$n.log" 2>&1 &
	echo $! >"$D/run/$n.pid"
done
echo "$pp"
