#!/usr/bin/env bash
# Installs every Debian package mvm needs to build, run and test, on a fresh
# Debian 12 machine, then fetches the default guest kernel package. Run as
# root (or with sudo available). Idempotent, and quick when all is present.
set -euo pipefail

packages=(
	# build
	build-essential pkg-config musl-tools
	libjansson-dev libssl-dev libcurl4-openssl-dev libarchive-dev
	# run: image build, VMM, guest userland for the offline fixtures
	nix-bin e2fsprogs qemu-system-x86 busybox-static
	# run: loaded with dlopen() (src/core/dl_*.h), so not pulled in by linking
	libcurl4 libarchive13
	# tests
	libcmocka-dev bats jq curl clang-format
	# tests: man pages rendered with groff -ww and man -l; the zsh and fish completion scripts
	groff-base man-db zsh fish
	# tests: the S3-compatible server of the store suite (s3rver, from npm) runs on node
	nodejs
	# tests: the 3-member etcd cluster of the cluster suite (tests/e2e/cluster.bats), on
	# 127.0.0.1 ports of its own (the package's own service, where systemd runs, is left alone)
	etcd-server etcd-client iproute2
	# tests: a server that checks SigV4 signatures (s3rver does not), for the wrong-secret
	# case of tests/e2e/store_sigv4.bats: Swift's proxy with s3api and tempauth over
	# one-replica account, container and object servers, and memcached for tempauth's
	# tokens, started by the test on 127.0.0.1 (tests/e2e/swift_s3.sh)
	swift-proxy swift-account swift-container swift-object memcached
)

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ "${#missing[@]}" -ne 0 ]; then
	echo "install-deps: installing ${missing[*]}" >&2
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
fi

# Debian's nodejs leaves npm to its own package; a nodejs that carries npm
# (NodeSource's) conflicts with it, so install npm only when it is absent.
if ! command -v npm >/dev/null 2>&1; then
	echo "install-deps: installing npm" >&2
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		npm >/dev/null
fi

# s3rver, the S3-compatible server tests/e2e/store.bats starts on 127.0.0.1, in a prefix of
# the project's own (MVM_S3RVER_PREFIX; the tests look there), pinned to one version.
s3rver_prefix=${MVM_S3RVER_PREFIX:-/opt/mvm-test/s3rver}
s3rver_version=3.7.1
if [ "$(cat "$s3rver_prefix/.installed" 2>/dev/null || true)" != "$s3rver_version" ]; then
	echo "install-deps: installing s3rver $s3rver_version into $s3rver_prefix" >&2
	as_root mkdir -p "$s3rver_prefix"
	as_root npm install --prefix "$s3rver_prefix" --no-audit --no-fund --silent \
		"s3rver@$s3rver_version" >/dev/null
	echo "$s3rver_version" | as_root tee "$s3rver_prefix/.installed" >/dev/null
fi

here=$(cd "$(dirname "$0")" && pwd)
if [ -x "$here/fetch-kernel.sh" ]; then
	"$here/fetch-kernel.sh"
fi
echo "install-deps: all dependencies present" >&2
