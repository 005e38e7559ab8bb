#!/bin/bash
# Downloads the Debian guest kernel package (the versioned linux-image-*-cloud-amd64
# that the linux-image-cloud-amd64 metapackage depends on) into the kernel cache.
# Nothing is installed into /boot: mvmctl unpacks the .deb itself.
#
# Run by the install script as root on Debian 12 after `apt-get update`.
# Idempotent: when the current package is already in the cache it does nothing.
#
#   MVM_KERNEL_CACHE   where the .deb goes (default /var/cache/mvm)
#   MVM_KERNEL_META    the metapackage to follow (default linux-image-cloud-amd64)
set -euo pipefail

cache=${MVM_KERNEL_CACHE:-/var/cache/mvm}
meta=${MVM_KERNEL_META:-linux-image-cloud-amd64}

die() {
	echo "fetch-kernel: $*" >&2
	exit 1
}

command -v apt-cache >/dev/null || die "apt-cache not found (this script needs Debian)"

# The metapackage's candidate depends on exactly one versioned image package.
pkg=$(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
	--no-replaces --no-enhances "$meta" 2>/dev/null |
	sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -n 1)
[ -n "$pkg" ] || die "cannot resolve the kernel package behind $meta (run apt-get update)"

ver=$(apt-cache policy "$pkg" | sed -n 's/^ *Candidate: //p')
[ -n "$ver" ] && [ "$ver" != "(none)" ] || die "no candidate version of $pkg"

# apt-get download names files <pkg>_<version with ':' as %3a>_<arch>.deb.
arch=$(dpkg --print-architecture)
file="${pkg}_${ver//:/%3a}_${arch}.deb"

mkdir -p "$cache"
if [ -s "$cache/$file" ] && dpkg-deb --info "$cache/$file" >/dev/null 2>&1; then
	echo "$cache/$file"
	exit 0
fi

# Download into a private temp directory, then rename into place (atomic).
tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# apt drops privileges to _apt for downloads; the directory must be writable by it.
chmod 0755 "$tmp"
if id _apt >/dev/null 2>&1; then
	chown _apt "$tmp"
fi
(cd "$tmp" && apt-get download -q "$pkg=$ver") >&2 || die "apt-get download $pkg=$ver failed"
got=$(find "$tmp" -maxdepth 1 -name '*.deb' | head -n 1)
[ -n "$got" ] || die "apt-get download produced no .deb"
dpkg-deb --info "$got" >/dev/null || die "$got is not a valid .deb"
chmod 0644 "$got"
mv -f "$got" "$cache/$file"
echo "$cache/$file"
