#!/bin/sh
# Materialises the offline nixpkgs stand-in (tests/fixtures/nixpkgs-standin)
# into DEST: its .nix/.sh files; DEST/bootstrap/busybox, a copy of a static
# busybox ($MVM_STANDIN_BUSYBOX, else Debian's busybox-static at /bin/busybox),
# with its applet link DEST/bootstrap/sh; and DEST/system, the nix system that
# busybox runs on. Idempotent: files already current are left alone, so a
# second run costs a few comparisons and changes nothing nix would hash.
#
#   scripts/standin-nixpkgs.sh DEST
#   nix build … --override-input nixpkgs path:DEST …
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 DEST" >&2
	exit 2
fi
dest=$1
src=$(cd "$(dirname "$0")/../tests/fixtures/nixpkgs-standin" && pwd)
busybox=${MVM_STANDIN_BUSYBOX:-/bin/busybox}

if ! [ -x "$busybox" ]; then
	echo "$0: no busybox at $busybox (install busybox-static or set MVM_STANDIN_BUSYBOX)" >&2
	exit 1
fi
# A dynamically linked busybox would find no libc inside the nix build.
if command -v file > /dev/null && ! file -L -b "$busybox" | grep -q 'statically linked'; then
	echo "$0: $busybox is not statically linked (install busybox-static)" >&2
	exit 1
fi

case "$(uname -m)" in
x86_64) system=x86_64-linux ;;
aarch64) system=aarch64-linux ;;
*)
	echo "$0: unsupported machine $(uname -m)" >&2
	exit 1
	;;
esac

# put SRC NAME MODE: make DEST/NAME a copy of SRC (temp + rename) unless it is one.
put() {
	if [ -f "$dest/$2" ] && cmp -s "$1" "$dest/$2"; then
		return 0
	fi
	tmp="$dest/.standin.tmp.$$"
	cp "$1" "$tmp"
	chmod "$3" "$tmp"
	mv -f "$tmp" "$dest/$2"
}

mkdir -p "$dest/bootstrap"
trap 'rm -f "$dest/.standin.tmp.$$"' EXIT

for f in "$src"/*.nix "$src"/*.sh; do
	put "$f" "$(basename "$f")" 0644
done
put "$busybox" bootstrap/busybox 0755
# busybox runs the applet its argv[0] names: nix execs bootstrap/sh as the builder.
if [ "$(readlink "$dest/bootstrap/sh" 2> /dev/null)" != busybox ]; then
	ln -sfn busybox "$dest/bootstrap/sh"
fi
if [ "$(cat "$dest/system" 2> /dev/null)" != "$system" ]; then
	printf '%s\n' "$system" > "$dest/.standin.tmp.$$"
	mv -f "$dest/.standin.tmp.$$" "$dest/system"
fi
