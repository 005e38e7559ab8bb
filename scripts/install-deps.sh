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

here=$(cd "$(dirname "$0")" && pwd)
if [ -x "$here/fetch-kernel.sh" ]; then
	"$here/fetch-kernel.sh"
fi
echo "install-deps: all dependencies present" >&2
