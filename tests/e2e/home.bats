#!/usr/bin/env bats
# $MVM_HOME itself: whose it is, who may write it, the fallback in /tmp when
# there is no HOME, and what a killed command left in its tmp/.
bats_require_minimum_version 1.5.0
load helpers

setup() { common_setup; }

# A uid with no passwd entry.
STRAY=54321

# as_stray ARGS...: mvmctl as that uid with no HOME: its home falls back to
# /tmp/.mvm-<uid>.
as_stray() {
	setpriv --reuid=$STRAY --regid=$STRAY --clear-groups \
		env -u HOME -u MVM_HOME "$MVMCTL" "$@"
}

needs_stray() {
	[ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null || skip "needs root and setpriv"
	! getent passwd $STRAY >/dev/null || skip "uid $STRAY has a passwd entry here"
	setpriv --reuid=$STRAY --regid=$STRAY --clear-groups test -x "$MVMCTL" ||
		skip "$MVMCTL cannot be run by another user"
}

@test "an MVM_HOME others can write is refused, naming the mode and the fix" {
	mkdir -p "$MVM_HOME"
	chmod 777 "$MVM_HOME"
	run --separate-stderr "$MVMCTL" ls
	[ "$status" -eq 6 ]
	assert_eq "mvmctl: error: MVM_HOME '$MVM_HOME' can be written by others (mode 0777)" "${stderr_lines[0]}"
	assert_contains "$stderr" "hint: chmod 700 '$MVM_HOME'"
	[ -z "$output" ]
	# nothing was written into it
	[ -z "$(ls -A "$MVM_HOME")" ]
	chmod 700 "$MVM_HOME"
	run "$MVMCTL" ls
	[ "$status" -eq 0 ]
}

@test "an MVM_HOME of another user is refused; one that is a file too" {
	mkdir -p "$MVM_HOME"
	chown 4242 "$MVM_HOME"
	run --separate-stderr "$MVMCTL" ls -a
	[ "$status" -eq 6 ]
	assert_contains "$stderr" "MVM_HOME '$MVM_HOME' belongs to uid 4242, not to you (uid $(id -u))"
	rmdir "$MVM_HOME"
	: >"$MVM_HOME"
	run --separate-stderr "$MVMCTL" tenant ls
	[ "$status" -eq 6 ]
	assert_contains "$stderr" "MVM_HOME '$MVM_HOME' is a file, not a directory"
	# help and version touch no state
	run "$MVMCTL" version
	[ "$status" -eq 0 ]
}

@test "an MVM_HOME given as a symbolic link to a directory of one's own is used" {
	mkdir -m 700 "$BATS_TEST_TMPDIR/real"
	ln -s "$BATS_TEST_TMPDIR/real" "$MVM_HOME"
	run "$MVMCTL" tenant create acme
	[ "$status" -eq 0 ]
	[ -d "$BATS_TEST_TMPDIR/real/tenants/acme" ]
}

@test "with no HOME and no passwd entry: /tmp/.mvm-<uid> is made 0700, and refused when planted" {
	needs_stray
	local uid=$STRAY dir=/tmp/.mvm-$STRAY
	rm -rf "$dir"
	run --separate-stderr as_stray tenant create acme
	[ "$status" -eq 0 ]
	[ "$(stat -c '%u %a' "$dir")" = "$uid 700" ]
	rm -rf "$dir"
	# planted by someone else: a directory of root's, then a link to one of the user's
	mkdir -m 700 "$dir"
	run --separate-stderr as_stray tenant ls
	[ "$status" -eq 6 ]
	assert_contains "$stderr" "MVM_HOME '$dir' belongs to uid 0, not to you (uid $uid)"
	rmdir "$dir"
	mkdir -m 700 "$BATS_TEST_TMPDIR/bait"
	chown $uid "$BATS_TEST_TMPDIR/bait"
	ln -s "$BATS_TEST_TMPDIR/bait" "$dir"
	run --separate-stderr as_stray tenant create acme
	[ "$status" -eq 6 ]
	assert_contains "$stderr" "MVM_HOME '$dir' is a symbolic link, not a directory"
	[ -z "$(ls -A "$BATS_TEST_TMPDIR/bait")" ]
	rm -f "$dir"
}

@test "what a killed command left in tmp/ goes at the next command; a live one's stays" {
	mkdir -p -m 700 "$MVM_HOME/tmp"
	# the pid of a process that has ended
	sh -c 'exit 0' &
	local dead=$!
	wait "$dead"
	# as a killed 'tenant secrets set' leaves its staging directory
	mkdir -p "$MVM_HOME/tmp/$dead-0-stage-tenant-acme-secrets"
	echo '{"token":"plaintext"}' >"$MVM_HOME/tmp/$dead-0-stage-tenant-acme-secrets/secrets.json"
	mkdir -p "$MVM_HOME/tmp/$$-0-stage-tenant-acme-secrets"
	run "$MVMCTL" ls
	[ "$status" -eq 0 ]
	[ ! -e "$MVM_HOME/tmp/$dead-0-stage-tenant-acme-secrets" ]
	[ -d "$MVM_HOME/tmp/$$-0-stage-tenant-acme-secrets" ]
}

@test "a killed build's staging tree, with the Nix store's 0555 directories, goes as an unprivileged user" {
	needs_stray
	local dir=/tmp/.mvm-$STRAY
	rm -rf "$dir"
	sh -c 'exit 0' &
	local dead=$!
	wait "$dead"
	local stage="$dir/tmp/$dead-0-stage-rev-abc"
	# as rootfs_stage mirrors the store: directories keep their 0555
	setpriv --reuid=$STRAY --regid=$STRAY --clear-groups sh -c '
		umask 077
		mkdir -p "$1/.rootfs/nix/store/abc-hello/bin" &&
		echo hi >"$1/.rootfs/nix/store/abc-hello/bin/hello" &&
		chmod 555 "$1/.rootfs/nix/store/abc-hello/bin" "$1/.rootfs/nix/store/abc-hello" \
			"$1/.rootfs/nix/store" &&
		mkdir -m 0 "$1/.rootfs/locked"' _ "$stage"
	run --separate-stderr as_stray tenant ls
	[ "$status" -eq 0 ]
	[ ! -e "$stage" ]
	rm -rf "$dir"
}
