#!/usr/bin/env bats
# The seed 003 walkthrough on real VMs (QEMU under TCG): a tenant with
# secrets, a pool built from an offline flake, instances scaled through
# running, warm and sleeping, a rollback, quotas, invalid moves, and repair.
# The whole file shares one MVM_HOME and one pool, built once (setup_file);
# the tests run in order and each leaves the pool in the state it says.
bats_require_minimum_version 1.5.0
load build_helpers

SECRET='s3cr3t-f1eet-value'

setup_file() {
	file_home_setup
	export FLAKE="$BATS_FILE_TMPDIR/flake"
	cp -r "$MVM_SRC/tests/fixtures/datadisk" "$FLAKE"
	# seed 003 writes `mvm …`: the same binary under that name
	export MVM="$BATS_FILE_TMPDIR/bin/mvm"
	mkdir -p "${MVM%/*}" && ln -s "$MVMCTL" "$MVM"
	"$MVM" tenant create acme --max-vcpus 4 --max-running 3 >/dev/null || return 1
	printf '{"api_key": "%s", "db": {"user": "w"}}\n' "$SECRET" >"$BATS_FILE_TMPDIR/secrets.json"
	"$MVM" tenant secrets set acme --from-file "$BATS_FILE_TMPDIR/secrets.json" || return 1
	"$MVM" pool create acme/workers --flake "$FLAKE" --profile default --cpus 1 --mem 256 \
		--data-disk 64 >/dev/null || return 1
	"$MVM" pool build acme/workers --json >"$BATS_FILE_TMPDIR/build1.json" || return 1
}

teardown_file() {
	local d p
	for d in "$MVM_HOME"/pools/*/*/instances/*/; do
		[ -d "$d" ] || continue
		p=${d#"$MVM_HOME"/pools/}
		"$MVM" instance stop "${p%%/instances/*}/$(basename "$d")" >/dev/null 2>&1 || true
	done
}

# idir ADDRESS: the directory of instance <t>/<p>/<id>
idir() { printf '%s/pools/%s/instances/%s' "$MVM_HOME" "${1%/*}" "${1##*/}"; }

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
}

# ids STATE: the instance addresses of acme/workers in STATE, one per line
ids() {
	"$MVM" instance ls acme/workers --json | jq -r ".instances[] | select(.state == \"$1\") | .address"
}

count() { ids "$1" | grep -c . || true; }

@test "scale 2/1/1 from nothing: cheapest moves, restored from the pool snapshot" {
	[ "$(jq -r .snapshot.created "$BATS_FILE_TMPDIR/build1.json")" = true ] ||
		jq . "$BATS_FILE_TMPDIR/build1.json"
	run --separate-stderr "$MVM" pool scale acme/workers --running 2 --warm 1 --sleeping 1
	echo "$output"
	echo "$stderr"
	[ "$status" -eq 0 ]
	assert_eq 2 "$(count running)"
	assert_eq 1 "$(count warm)"
	assert_eq 1 "$(count sleeping)"
	assert_contains "$output" "stopped -> running (restored from the pool snapshot"
	assert_contains "$output" "running -> warm (paused"
	assert_contains "$output" "running -> sleeping (saved to disk"
	assert_contains "$output" "acme/workers: 2 running, 1 warm, 1 sleeping"
	# a sleeping instance holds no VMM
	local s
	s=$(ids sleeping)
	[ -d "$(idir "$s")/sleep" ]
	! pgrep -f "mvmctl shim $s" >/dev/null
	[ ! -e "$(idir "$s")/secrets.img" ]
	[ -f "$(idir "$s")/mem" ]
}

@test "a second scale with the same counts changes nothing" {
	run "$MVM" pool scale acme/workers --running 2 --warm 1 --sleeping 1
	[ "$status" -eq 0 ]
	assert_eq "acme/workers: 2 running, 1 warm, 1 sleeping (nothing to do)" "$output"
}

@test "secrets are readable in the guest and appear in no host output" {
	local inst
	inst=$(ids running | head -n1)
	run "$MVM" instance exec "$inst" -- cat /run/secrets/secrets.json
	[ "$status" -eq 0 ]
	assert_contains "$output" "$SECRET"
	run "$MVM" instance exec "$inst" -- touch /run/secrets/x
	[ "$status" -ne 0 ]
	assert_eq "700 0" "$("$MVM" instance exec "$inst" -- stat -c '%a %u' /run/secrets)"
	local out
	out=$("$MVM" instance ls 2>&1; "$MVM" instance ls --json 2>&1; "$MVM" tenant info acme 2>&1
	      "$MVM" tenant info acme --json 2>&1; "$MVM" pool info acme/workers --json 2>&1
	      "$MVM" instance logs "$inst" 2>&1)
	[[ $out != *"$SECRET"* ]]
	! grep -rqs --exclude=secrets.json --exclude='*.img' --exclude=mem --exclude='*.ext4' \
		--exclude=vmstate "$SECRET" "$MVM_HOME"
}

@test "two instances restored from one snapshot differ in hostname and randomness" {
	local a b
	a=$(ids running | sed -n 1p)
	b=$(ids running | sed -n 2p)
	assert_eq "${a##*/}" "$("$MVM" instance exec "$a" -- hostname)"
	assert_eq "${b##*/}" "$("$MVM" instance exec "$b" -- hostname)"
	local ra rb
	ra=$("$MVM" instance exec "$a" -- od -An -tx1 -N16 /dev/urandom)
	rb=$("$MVM" instance exec "$b" -- od -An -tx1 -N16 /dev/urandom)
	[ "$ra" != "$rb" ]
}

@test "instances are isolated from each other on the network" {
	local a b
	a=$(ids running | sed -n 1p)
	b=$(ids running | sed -n 2p)
	"$MVM" instance exec "$a" -- sh -c 'mkdir -p /tmp/www && echo hello-from-a >/tmp/www/index.html
		busybox httpd -p 8080 -h /tmp/www'
	# it serves inside its own VM ...
	local get='printf "GET / HTTP/1.0\r\n\r\n" | busybox nc -w 3'
	run "$MVM" instance exec "$a" -- sh -c "$get 127.0.0.1 8080"
	[ "$status" -eq 0 ]
	assert_contains "$output" hello-from-a
	# ... and nothing of it is reachable from the other instance: not at the
	# address both guests have, not through the host side of the NAT
	run "$MVM" instance exec "$b" -- sh -c "$get 10.0.2.15 8080"
	[ "$status" -ne 0 ]
	run "$MVM" instance exec "$b" -- sh -c "$get 10.0.2.2 8080"
	[ "$status" -ne 0 ]
	[[ $output != *hello-from-a* ]]
}

@test "data in /data survives sleep/wake and stop/start; wake gets fresh secrets" {
	local inst
	inst=$(ids running | head -n1)
	"$MVM" instance exec "$inst" -- sh -c 'echo kept-1 >/data/mark && sync'
	run "$MVM" instance sleep "$inst"
	[ "$status" -eq 0 ]
	assert_contains "$output" "running -> sleeping"
	# new secrets while it sleeps: the wake mounts a fresh secrets disk
	printf '{"api_key": "rotated-2"}\n' >"$BATS_TEST_TMPDIR/s2.json"
	"$MVM" tenant secrets set acme --from-file "$BATS_TEST_TMPDIR/s2.json"
	local woken
	woken=$("$MVM" instance logs "$inst" | grep -c "woken up" || true)
	run "$MVM" instance wake "$inst"
	[ "$status" -eq 0 ]
	assert_contains "$output" "sleeping -> running (woke from its sleep"
	# wake returns once the guest has applied the WAKE, not on the READY a
	# woken guest sends with its HELLO
	assert_eq $((woken + 1)) "$("$MVM" instance logs "$inst" | grep -c "woken up")"
	assert_eq kept-1 "$("$MVM" instance exec "$inst" -- cat /data/mark)"
	assert_contains "$("$MVM" instance exec "$inst" -- cat /run/secrets/secrets.json)" rotated-2
	# the guest's clock was set on wake: within a minute of the host's
	local g h
	g=$("$MVM" instance exec "$inst" -- date +%s)
	h=$(date +%s)
	[ $((h - g)) -lt 60 ] && [ $((g - h)) -lt 60 ]
	"$MVM" instance stop "$inst"
	"$MVM" instance start "$inst"
	assert_eq kept-1 "$("$MVM" instance exec "$inst" -- cat /data/mark)"
	printf '{"api_key": "%s"}\n' "$SECRET" >"$BATS_TEST_TMPDIR/s3.json"
	"$MVM" tenant secrets set acme --from-file "$BATS_TEST_TMPDIR/s3.json"
}

@test "invalid transitions are refused with their message" {
	local w s
	w=$(ids warm | head -n1)
	s=$(ids sleeping | head -n1)
	run --separate-stderr "$MVM" instance pause "$w"
	[ "$status" -eq 5 ]
	assert_contains "$stderr" "Invalid state transition: warm -> warm"
	run --separate-stderr "$MVM" instance pause "$s"
	[ "$status" -eq 5 ]
	assert_contains "$stderr" "Invalid state transition: sleeping -> warm"
	run --separate-stderr "$MVM" instance rm "$w"
	[ "$status" -eq 5 ]
	assert_contains "$stderr" "Invalid state transition: warm -> removed"
	run --separate-stderr "$MVM" instance start acme/workers/i-00000000
	[ "$status" -eq 4 ]
	assert_contains "$stderr" "Instance 'acme/workers/i-00000000' does not exist"
	run --separate-stderr "$MVM" pool scale workers --running 1
	[ "$status" -eq 2 ]
	assert_contains "$stderr" 'Expected <tenant>/<pool>, got "workers"'
}

@test "quotas: a start beyond max_running or max_vcpus is refused, naming it" {
	# 2 running + 1 warm use 3 of 4 vCPUs; max_running is 3
	local s
	s=$(ids sleeping | head -n1)
	"$MVM" instance resume "$(ids warm | head -n1)"
	run --separate-stderr "$MVM" instance wake "$s"
	[ "$status" -eq 5 ]
	assert_contains "$stderr" "Quota exceeded for tenant 'acme': max_running is 3, 3 running"
	assert_eq 3 "$(count running)"
	# tenant info shows the same usage the check counted
	assert_eq '{"vcpus":3,"running":3,"warm":0,"sleeping":1}' \
		"$("$MVM" tenant info acme --json | jq -c '.usage | {vcpus, running, warm, sleeping}')"
	"$MVM" instance pause "$(ids running | tail -n1)"
	"$MVM" pool create acme/big --flake "$FLAKE" --profile default --cpus 2 --mem 256
	run --separate-stderr "$MVM" pool scale acme/big --running 1
	[ "$status" -eq 5 ]
	assert_contains "$stderr" "Quota exceeded for tenant 'acme': max_vcpus is 4"
	# scaling acme/big touched nothing of acme/workers
	assert_eq 2 "$(count running)"
	assert_eq 1 "$(count warm)"
	"$MVM" pool scale acme/big --running 0
	rm -rf "$MVM_HOME/pools/acme/big/instances"
	"$MVM" pool rm acme/big
}

@test "a VM record that cannot be read is no proof of death while its supervisor holds the lock" {
	local a d
	a=$(ids running | head -n1)
	d=$(idir "$a")
	cp "$d/vm.json" "$BATS_TEST_TMPDIR/vm.json"
	# what a guest's HELLO with a NUL in its name used to leave: jansson writes
	# \u0000 and refuses to read it back
	jq -c '.agent = "evil"' "$d/vm.json" | sed 's/"evil"/"ev\\u0000il"/' >"$d/vm.json.tmp"
	mv "$d/vm.json.tmp" "$d/vm.json"
	run "$MVM" instance ls acme/workers --json
	[ "$status" -eq 0 ]
	[ "$(jq -r ".instances[] | select(.address == \"$a\") | .state" <<<"$output")" = running ]
	[ -e "$d/mem" ] && [ -e "$d/secrets.img" ]
	assert_eq 2 "$(count running)"
	# and it still counts toward the quotas: with the warm one resumed, a wake
	# is over max_running (3)
	local w s
	w=$(ids warm | head -n1)
	s=$(ids sleeping | head -n1)
	"$MVM" instance resume "$w"
	run --separate-stderr "$MVM" instance wake "$s"
	[ "$status" -eq 5 ]
	assert_contains "$stderr" "Quota exceeded for tenant 'acme': max_running is 3, 3 running"
	assert_eq sleeping "$("$MVM" instance ls acme/workers --json | jq -r ".instances[] | select(.address == \"$s\") | .state")"
	"$MVM" instance pause "$w"
	cp "$BATS_TEST_TMPDIR/vm.json" "$d/vm.json"
	run "$MVM" instance exec "$a" -- true
	[ "$status" -eq 0 ]
}

@test "kill -9 of an instance's VMM is repaired by pool reconcile" {
	local inst pid
	inst=$(ids running | head -n1)
	pid=$(jq -r .vmm_pid "$(idir "$inst")/vm.json")
	[ "$pid" -gt 0 ]
	kill -9 "$pid"
	gone "$pid"
	run "$MVM" instance ls acme/workers
	assert_contains "$output" "stopped"
	run "$MVM" pool reconcile acme/workers
	[ "$status" -eq 0 ]
	assert_contains "$output" "$inst: repaired"
	assert_contains "$output" "$inst: stopped -> running"
	assert_eq 2 "$(count running)"
	ids running | grep -qxF "$inst"
}

@test "rollback: new instances boot the older revision, running ones keep theirs" {
	local rev1 rev2 old
	rev1=$(jq -r .revision "$BATS_FILE_TMPDIR/build1.json")
	echo "# edited" >>"$FLAKE/flake.nix"
	"$MVM" pool build acme/workers --json >"$BATS_TEST_TMPDIR/b2.json"
	rev2=$(jq -r .revision "$BATS_TEST_TMPDIR/b2.json")
	[ "$rev1" != "$rev2" ]
	# scale 1/0/2: one running stays on rev1, the warm and one running go to sleep
	run "$MVM" pool scale acme/workers --running 1 --warm 0 --sleeping 2
	[ "$status" -eq 0 ]
	assert_eq 1 "$(count running)"
	assert_eq 2 "$(count sleeping)"
	old=$(ids running)
	assert_eq "$rev1" "$("$MVM" instance ls --json | jq -r ".instances[] | select(.address == \"$old\") | .revision")"
	run "$MVM" pool rollback acme/workers --revision "${rev1:0:12}"
	[ "$status" -eq 0 ]
	run --separate-stderr "$MVM" pool rollback acme/workers --revision deadbeefdeadbeef
	[ "$status" -eq 4 ]
	assert_contains "$stderr" "Revision deadbeefdeadbeef not found"
	# build again (rev2 current), start a new instance on it, roll back, start another
	"$MVM" pool build acme/workers >/dev/null
	"$MVM" pool scale acme/workers --running 2
	local on2
	on2=$("$MVM" instance ls --json | jq -r ".instances[] | select(.state == \"running\" and .revision == \"$rev2\") | .address")
	[ -n "$on2" ]
	"$MVM" pool rollback acme/workers --revision "$rev1"
	"$MVM" pool scale acme/workers --running 3 --sleeping 0
	# the one on rev2 keeps it; the newly started ones boot rev1
	assert_eq "$rev2" "$("$MVM" instance ls --json | jq -r ".instances[] | select(.address == \"$on2\") | .revision")"
	assert_eq 2 "$("$MVM" instance ls --json | jq "[.instances[] | select(.state == \"running\" and .revision == \"$rev1\")] | length")"
}

@test "two concurrent scales of one pool: both tell the truth, the counts converge, no record is torn" {
	local a b ra=0 rb=0
	"$MVM" pool scale acme/workers --running 1 --warm 1 --sleeping 0 >"$BATS_TEST_TMPDIR/a" 2>&1 &
	a=$!
	"$MVM" pool scale acme/workers --running 2 --warm 0 --sleeping 1 >"$BATS_TEST_TMPDIR/b" 2>&1 &
	b=$!
	wait "$a" || ra=$?
	wait "$b" || rb=$?
	cat "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
	[ "$ra" -eq 0 ] && [ "$rb" -eq 0 ]
	# the one that ran last holds
	local got="$(count running) $(count warm) $(count sleeping)"
	[ "$got" = "1 1 0" ] || [ "$got" = "2 0 1" ]
	if [ "$got" = "1 1 0" ]; then
		grep -q "acme/workers: 1 running, 1 warm, 0 sleeping" "$BATS_TEST_TMPDIR/a"
	else
		grep -q "acme/workers: 2 running, 0 warm, 1 sleeping" "$BATS_TEST_TMPDIR/b"
	fi
	# every record reads back whole, and each state is real
	local f
	for f in "$MVM_HOME"/pools/acme/workers/instances/*/instance.json; do
		jq -e . "$f" >/dev/null || { echo "torn: $f"; return 1; }
	done
	local inst
	for inst in $(ids running) $(ids warm); do
		pgrep -f "mvmctl shim $inst" >/dev/null || { echo "$inst has no supervisor"; return 1; }
	done
	for inst in $(ids sleeping) $(ids stopped); do
		! pgrep -f "mvmctl shim $inst" >/dev/null || { echo "$inst still has one"; return 1; }
	done
	run "$MVM" pool scale acme/workers --running "${got%% *}" --warm "$(cut -d' ' -f2 <<<"$got")" \
		--sleeping "${got##* }"
	[ "$status" -eq 0 ]
	assert_contains "$output" "(nothing to do)"
}

@test "scale 0/0/0 stops everything; rm keeps data volumes unless --wipe-volumes" {
	run "$MVM" pool scale acme/workers --running 0 --warm 0 --sleeping 0
	[ "$status" -eq 0 ]
	assert_eq 0 "$(count running)"
	assert_eq 0 "$(count warm)"
	assert_eq 0 "$(count sleeping)"
	local inst
	for inst in $(ids stopped); do
		[ ! -e "$(idir "$inst")/mem" ] && [ ! -e "$(idir "$inst")/secrets.img" ]
	done
	for inst in $(ids stopped); do [ -f "$(idir "$inst")/data.ext4" ] && break; done
	[ -f "$(idir "$inst")/data.ext4" ]
	run --separate-stderr "$MVM" instance rm "$inst"
	[ "$status" -eq 5 ]
	assert_contains "$stderr" "has a data volume"
	[ -f "$(idir "$inst")/data.ext4" ]
	run "$MVM" instance rm "$inst" --wipe-volumes
	[ "$status" -eq 0 ]
	[ ! -e "$(idir "$inst")" ]
}
