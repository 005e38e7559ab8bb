#!/usr/bin/env bash
# The main job on a fresh machine: scaffold the `http` preset, build it with
# real nix, boot it as a microVM with port 8080 forwarded, fetch its page from
# the host, run a command inside it, shut it down and remove it. Offline (no internet to fetch nixpkgs), it builds
# against the busybox-only stand-in; set MVM_QUICKSTART_ONLINE=1 to use real
# nixpkgs instead.
#
#   scripts/quickstart.sh [DIR]     (DIR defaults to a new temporary directory)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mvmctl=${MVMCTL:-$(command -v mvmctl || echo "$root/build/mvmctl")}
dir=${1:-$(mktemp -d)}/hello-web
port=${MVM_QUICKSTART_PORT:-18080}

if [ "${MVM_QUICKSTART_ONLINE:-0}" != 1 ]; then
	standin=${MVM_STANDIN:-${XDG_CACHE_HOME:-$HOME/.cache}/mvm/nixpkgs-standin}
	"$root/scripts/standin-nixpkgs.sh" "$standin"
	export MVM_OFFLINE=1 MVM_OVERRIDE_INPUTS="nixpkgs=path:$standin"
fi

set -x
"$mvmctl" init "$dir" --preset http
"$mvmctl" build "$dir"
"$mvmctl" up "$dir" -d --name hello-web -p "127.0.0.1:$port:8080"
"$mvmctl" ls
for _ in $(seq 50); do
	curl -fsS "http://127.0.0.1:$port/" && break
	sleep 0.2
done
"$mvmctl" exec hello-web -- sh -c 'echo "inside $(hostname): $(ls /data 2>/dev/null | wc -l) files in /data"'
"$mvmctl" logs hello-web -n 5
"$mvmctl" down hello-web
"$mvmctl" rm hello-web
