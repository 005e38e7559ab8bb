#!/usr/bin/env bats
# Man pages (issue 19): written by mvmctl from its command table, one per command path
# plus mvmctl(1) and mvm(1); each renders without a warning and says what --help says.
bats_require_minimum_version 1.5.0
load helpers

setup() { common_setup; }

SECTIONS=(NAME SYNOPSIS DESCRIPTION OPTIONS EXAMPLES ENVIRONMENT "EXIT STATUS" "SEE ALSO")

# paths: every command path that is not hidden, one a line ("pool scale")
paths() { "$MVMCTL" __complete paths; }

# page_file PATH: the page make man wrote for it
page_file() { echo "$MVM_BUILD/man/mvmctl-${1// /-}.1"; }

# renders FILE: groff -ww (every warning) and man -l say nothing on stderr
renders() {
	local err
	err=$(groff -ww -man -Tutf8 "$1" 2>&1 >/dev/null)
	[ -z "$err" ] || { echo "groff -ww $1: $err" >&2 && return 1; }
	local loc
	for loc in C C.UTF-8; do # -Tascii and -Tutf8
		err=$(LC_ALL=$loc MANROFFOPT=-ww MANWIDTH=80 man -l "$1" 2>&1 >/dev/null)
		[ -z "$err" ] || { echo "man -l $1 ($loc): $err" >&2 && return 1; }
	done
}

@test "every command path has a page that make man wrote, the same mvmctl help --man prints" {
	local p n=0
	while IFS= read -r p; do
		# shellcheck disable=SC2086
		"$MVMCTL" help --man $p >"$WORK/page.1"
		[ -s "$WORK/page.1" ]
		cmp "$WORK/page.1" "$(page_file "$p")" || { echo "build/man is stale for '$p'" >&2 && return 1; }
		n=$((n + 1))
	done < <(paths)
	[ "$n" -ge 40 ]
	# nothing hidden has a page
	[ ! -e "$MVM_BUILD/man/mvmctl-shim.1" ]
	[ ! -e "$MVM_BUILD/man/mvmctl-netproxy.1" ]
	[ ! -e "$MVM_BUILD/man/mvmctl-__complete.1" ]
	# the pages are exactly the paths, mvmctl(1) and mvm(1)
	[ "$(find "$MVM_BUILD/man" -name '*.1' | wc -l)" -eq $((n + 2)) ]
}

@test "every page renders with groff -ww and man -l without a warning, with every section" {
	local p f s
	while IFS= read -r p; do
		f=$(page_file "$p")
		renders "$f"
		for s in "${SECTIONS[@]}"; do
			grep -qx "\.SH $s" "$f" || { echo "$f: no $s section" >&2 && return 1; }
		done
		grep -q "^mvmctl\\\\-${p//[ -]/\\\\-} \\\\- " "$f" || { echo "$f: NAME is not mvmctl-${p// /-}" >&2 && return 1; }
	done < <(paths)
	for f in "$MVM_BUILD/man/mvmctl.1" "$MVM_BUILD/man/mvm.1"; do
		renders "$f"
		for s in "${SECTIONS[@]}"; do
			grep -qx "\.SH $s" "$f" || { echo "$f: no $s section" >&2 && return 1; }
		done
	done
}

@test "a page holds every option of its command in the table, and its usage and examples" {
	local p f long short kind
	while IFS= read -r p; do
		f=$(page_file "$p")
		# shellcheck disable=SC2086
		while IFS='|' read -r long short kind; do
			grep -qF "\\fB${long//-/\\-}\\fR" "$f" || { echo "$f lacks $long" >&2 && return 1; }
			[ -z "$short" ] || grep -qF "\\fB${short//-/\\-}\\fR, " "$f" ||
				{ echo "$f lacks $short" >&2 && return 1; }
		done < <("$MVMCTL" __complete options $p)
	done < <(paths)
	# what man shows is what --help shows: usage, an example, an option's help
	run --separate-stderr env MANWIDTH=200 man -l "$(page_file up)"
	[ "$status" -eq 0 ]
	assert_contains "$output" "mvmctl up [PATH] [--name NAME] [-d]"
	assert_contains "$output" "mvmctl up ./web --name web -p 8080:80 -d"
	assert_contains "$output" "guest memory, e.g. 512M or 1G"
	assert_contains "$output" "MVM_NETWORK"
	assert_contains "$output" "mvmctl-down(1)"
	# a hidden option (help --man) is in no page
	run ! grep -q 'man\\fR' "$(page_file help)"
}

@test "man finds the installed pages by name: man mvmctl-pool-scale, man mvm" {
	env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -s -C "${MVM_SRC:-$BATS_TEST_DIRNAME/../..}" BUILD="$MVM_BUILD" install DESTDIR="$WORK/root" PREFIX=/usr >/dev/null
	local man1=$WORK/root/usr/share/man/man1
	[ -f "$man1/mvmctl.1" ]
	[ -f "$man1/mvm.1" ]
	[ -f "$man1/mvmctl-pool-scale.1" ]
	run --separate-stderr env MANWIDTH=100 man -M "$WORK/root/usr/share/man" mvmctl-pool-scale
	[ "$status" -eq 0 ]
	assert_contains "$output" "mvmctl pool scale <tenant>/<pool>"
	assert_contains "$output" "--running"
	run --separate-stderr env MANWIDTH=100 man -M "$WORK/root/usr/share/man" mvm
	[ "$status" -eq 0 ]
	assert_contains "$output" "mvm - mvmctl under the name of the fleet commands"
	assert_contains "$output" "mvm tenant create acme"
	# and the completion files where Debian's shells look for them
	[ -f "$WORK/root/usr/share/bash-completion/completions/mvmctl" ]
	[ "$(readlink "$WORK/root/usr/share/bash-completion/completions/mvm")" = mvmctl ]
	[ -f "$WORK/root/usr/share/zsh/vendor-completions/_mvmctl" ]
	[ -f "$WORK/root/usr/share/fish/vendor_completions.d/mvmctl.fish" ]
	[ -L "$WORK/root/usr/share/fish/vendor_completions.d/mvm.fish" ]
}

@test "roff is escaped: dashes, UTF-8, no text line taken for a request" {
	# up's description has '…' (UTF-8); its options are all dashes
	run --separate-stderr "$MVMCTL" help --man up
	assert_contains "$output" '(the next at .101, ...;'
	assert_contains "$output" '\fB\-\-env\-file\fR'
	# every non-ASCII byte went through \[u…]: every page is pure ASCII (a bare `! cmd`
	# that is not a test's last command fails nothing in bats: the lines found are compared)
	local bad
	bad=$(LC_ALL=C grep -lP '[^\x00-\x7f]' "$MVM_BUILD"/man/*.1 || true)
	assert_eq "" "$bad"
	# no text line of any page starts with a dot or a quote that is not a request
	bad=$(grep -HE "^['.]" "$MVM_BUILD"/man/*.1 | grep -vE ":\.(TH|SH|TP|PP|RS|RE|nf|fi|B|BR|nh|ad)( |$)" || true)
	assert_eq "" "$bad"
}

@test "help --man of an unknown command is a usage error" {
	run --separate-stderr "$MVMCTL" help --man nosuch
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "no such command 'nosuch'"
}

# installs PREFIX: make install into $WORK/root$PREFIX; the tree in $D
installs() {
	D=$WORK/root${1//\//_}
	env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -s -C "${MVM_SRC:-$BATS_TEST_DIRNAME/../..}" \
		BUILD="$MVM_BUILD" install DESTDIR="$D" PREFIX="$1" >/dev/null
}

@test "make install puts pages and scripts where this system's man, bash, zsh and fish look, for PREFIX /usr and /usr/local" {
	local prefix dirs d found
	for prefix in /usr /usr/local; do
		installs "$prefix"
		# man: the directories manpath(1) searches, under DESTDIR
		dirs=$(env -u MANPATH manpath 2>/dev/null)
		run --separate-stderr env MANWIDTH=100 man -M "$D${dirs//:/:$D}" mvmctl-pool-scale
		[ "$status" -eq 0 ] || { echo "man does not find mvmctl-pool-scale under $prefix" >&2 && return 1; }
		assert_contains "$output" "mvmctl pool scale <tenant>/<pool>"
		# bash-completion: <dir>/bash-completion/completions/<command> for each
		# XDG_DATA_DIRS entry, /usr/local/share:/usr/share when unset
		found=
		for d in /usr/local/share /usr/share; do
			[ -f "$D$d/bash-completion/completions/mvmctl" ] && [ -e "$D$d/bash-completion/completions/mvm" ] && found=$d
		done
		[ -n "$found" ] || { echo "no bash completion where bash-completion looks under $prefix" >&2 && return 1; }
		# zsh: autoloads _mvmctl from a directory of its own $fpath
		run zsh -fc 'print -rl -- "$1"${^fpath}/_mvmctl(N)' _ "$D"
		[ -n "$output" ] || { echo "_mvmctl is in no directory of zsh's fpath under $prefix" >&2 && return 1; }
		head -1 "$output" | grep -qx '#compdef mvmctl mvm'
		# fish: a directory of $fish_complete_path (XDG_DATA_DIRS as the XDG default)
		run env XDG_DATA_DIRS=/usr/local/share:/usr/share fish -c \
			'for d in $fish_complete_path; for f in $argv[1]$d/{mvmctl,mvm}.fish; test -e $f; and echo $f; end; end' "$D"
		[ "$(wc -l <<<"$output")" -eq 2 ] || { echo "fish finds '$output' under $prefix" >&2 && return 1; }
	done
}
