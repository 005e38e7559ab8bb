#!/usr/bin/env bats
# What crosses into a VM at `up`, with real VMs under TCG: sizing from the
# manifest as it is now (no rebuild), the environment (-e, --env-file) for
# every service and exec, and secrets (--secret, --secret-env) on a
# read-only disk made for each start. One snapshot serves VMs with and
# without both; each restored VM gets its own values.
#
# Fixture: tests/fixtures/boundary, one service that writes the environment
# it was started with to /run/service.env.
bats_require_minimum_version 1.5.0
load build_helpers

setup_file() {
	file_home_setup
	export PROJ="$BATS_FILE_TMPDIR/boundary"
	cp -r "$MVM_SRC/tests/fixtures/boundary" "$PROJ"
	"$MVMCTL" build --snapshot "$PROJ" 2>/dev/null || return 1
	# the same flake in a second slot, built without a snapshot: the cold path
	export COLD="$BATS_FILE_TMPDIR/cold"
	cp -r "$MVM_SRC/tests/fixtures/boundary" "$COLD"
	"$MVMCTL" build "$COLD" 2>/dev/null || return 1
}

setup() {
	export MVM_CEILING_DIRECTORIES="$BATS_FILE_TMPDIR"
	cd "$BATS_TEST_TMPDIR" || return 1
	cp "$MVM_SRC/tests/fixtures/boundary/mvm.toml" "$PROJ/mvm.toml"
	cp "$MVM_SRC/tests/fixtures/boundary/mvm.toml" "$COLD/mvm.toml"
}

teardown() {
	stop_servers # also after a failed test
	"$MVMCTL" down --all >/dev/null 2>&1 || true
}

# service_env NAME: the environment the fixture's service started with.
service_env() {
	local i
	for ((i = 0; i < 100; i++)); do
		"$MVMCTL" exec "$1" -- cat /run/service.env 2>/dev/null && return 0
		sleep 0.1
	done
	echo "the service of $1 wrote no /run/service.env" >&2
	return 1
}

# no_vm NAME: nothing of a VM called NAME is on disk.
no_vm() {
	[ ! -e "$MVM_HOME/vms/$1" ] || { ls -la "$MVM_HOME/vms/$1" >&2; return 1; }
}

@test "a manifest's sizing edit takes effect at the next up without a rebuild: the snapshot is ignored with a warning" {
	sed -i 's/^vcpus = 1$/vcpus = 2/; s/^mem = "256M"$/mem = "320M"/' "$PROJ/mvm.toml"
	run --separate-stderr "$MVMCTL" up "$PROJ" -d --name sized
	[ "$status" -eq 0 ]
	assert_contains "$stderr" "warning: snapshot taken at vcpus=1 mem=256M; starting with vcpus=2 mem=320M: cold boot"
	run "$MVMCTL" exec sized -- grep -c ^processor /proc/cpuinfo
	[ "$output" = 2 ]
	local kib
	kib=$("$MVMCTL" exec sized -- awk '/MemTotal/ {print $2}' /proc/meminfo)
	[ "$kib" -gt $((256 * 1024)) ] && [ "$kib" -le $((320 * 1024)) ]
	local j
	j=$("$MVMCTL" info sized --json)
	[ "$(jq -r .vm.started_from <<<"$j")" = cold ]
	[ "$(jq -r .vm.vcpus <<<"$j")" = 2 ]
	[ "$(jq -r .vm.mem_mib <<<"$j")" = 320 ]
	[ "$(jq -r .vm.sizing_source.vcpus <<<"$j")" = manifest ]
	[ "$(jq -r .vm.sizing_source.mem_mib <<<"$j")" = manifest ]
	run "$MVMCTL" ls --json
	[ "$(jq -r '.vms[] | select(.name == "sized") | .vcpus' <<<"$output")" = 2 ]
}

@test "flags beat the manifest, the manifest beats the last build's record; a slot without a snapshot boots cold at the new size" {
	sed -i 's/^vcpus = 1$/vcpus = 2/' "$COLD/mvm.toml"
	run --separate-stderr "$MVMCTL" up "$COLD" -d --name cold2
	[ "$status" -eq 0 ]
	run "$MVMCTL" exec cold2 -- grep -c ^processor /proc/cpuinfo
	[ "$output" = 2 ]
	# a manifest that no longer says vcpus: the record's (the build's 1)
	sed -i '/^vcpus = /d' "$COLD/mvm.toml"
	"$MVMCTL" up "$COLD" -d --name cold1 --mem 300M 2>/dev/null
	run "$MVMCTL" exec cold1 -- grep -c ^processor /proc/cpuinfo
	[ "$output" = 1 ]
	local j
	j=$("$MVMCTL" info cold1 --json)
	[ "$(jq -r .vm.sizing_source.vcpus <<<"$j")" = slot ]
	[ "$(jq -r .vm.sizing_source.mem_mib <<<"$j")" = flag ]
	[ "$(jq -r .vm.mem_mib <<<"$j")" = 300 ]
	[ "$(jq -r .vm.started_from <<<"$j")" = cold ]
}

@test "up -e and --env-file reach every service and every exec; an exec's own -e wins; -e K takes the host's value" {
	printf '# a comment\n\nFROM_FILE=file value with spaces\nGREETING=from-the-file\n  INDENTED=yes\nQUOTED="kept"\n' >env.list
	export HOST_ONLY=from-the-host
	unset NOT_ON_HOST
	run --separate-stderr "$MVMCTL" up "$PROJ" -d --name envy --env-file env.list -e GREETING=hello -e HOST_ONLY -e NOT_ON_HOST
	[ "$status" -eq 0 ]
	local svc
	svc=$(service_env envy)
	assert_contains "$svc" "GREETING=hello"
	assert_contains "$svc" "FROM_FILE=file value with spaces"
	assert_contains "$svc" "INDENTED=yes"
	assert_contains "$svc" 'QUOTED="kept"'
	assert_contains "$svc" "HOST_ONLY=from-the-host"
	assert_contains "$svc" "FROM_UNIT=unit"
	! grep -q NOT_ON_HOST <<<"$svc"
	run "$MVMCTL" exec envy -- sh -c 'echo "$GREETING|$FROM_FILE|$HOST_ONLY"'
	[ "$output" = "hello|file value with spaces|from-the-host" ]
	run "$MVMCTL" exec envy -e GREETING=mine -- sh -c 'echo "$GREETING"'
	[ "$output" = mine ]
	local j
	j=$("$MVMCTL" info envy --json)
	[ "$(jq -r .vm.started_from <<<"$j")" = snapshot ]
	[ "$(jq -r '.vm.env_keys | join(",")' <<<"$j")" = "FROM_FILE,GREETING,INDENTED,QUOTED,HOST_ONLY" ]
	# the values are not in the record, the console or the QEMU command line
	! grep -q 'from-the-host' "$MVM_HOME/vms/envy/vm.json"
	! "$MVMCTL" logs envy | grep -q 'from-the-host'
	local qemu
	qemu=$(jq -r .vm.vmm_pid <<<"$j")
	! tr '\0' ' ' <"/proc/$qemu/cmdline" | grep -q 'from-the-host'
}

@test "a cold boot with an environment waits for it: the services start with it" {
	run --separate-stderr "$MVMCTL" up "$COLD" -d --name coldenv -e GREETING=cold-hello
	[ "$status" -eq 0 ]
	[ "$("$MVMCTL" info coldenv --json | jq -r .vm.started_from)" = cold ]
	assert_contains "$(service_env coldenv)" "GREETING=cold-hello"
	run "$MVMCTL" exec coldenv -- sh -c 'echo "$GREETING"'
	[ "$output" = cold-hello ]
}

@test "bad -e and --env-file input: exit 2 naming the argument or the line, and nothing on disk" {
	printf 'GOOD=1\nBAD NAME=2\n' >bad.env
	run --separate-stderr "$MVMCTL" up "$PROJ" -d --name badenv --env-file bad.env
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "bad.env:2: 'BAD NAME' is not a valid variable name"
	no_vm badenv
	run --separate-stderr "$MVMCTL" up "$PROJ" -d --name badenv -e 1X=y
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "-e '1X': '1X' is not a valid variable name"
	no_vm badenv
	run --separate-stderr "$MVMCTL" up "$PROJ" -d --name badenv --env-file missing.env
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "reading env file 'missing.env'"
	no_vm badenv
	run --separate-stderr "$MVMCTL" run "$PROJ" --env-file bad.env -- true
	[ "$status" -eq 2 ]
}

@test "--secret and --secret-env: /run/secrets/NAME, 0400 and root's on a read-only disk; a VM without them has none" {
	printf 'db-password-1' >db.txt
	export API_TOKEN=token-1
	run --separate-stderr "$MVMCTL" up "$PROJ" -d --name sec --secret db=db.txt --secret-env API_TOKEN
	[ "$status" -eq 0 ]
	run "$MVMCTL" exec sec -- cat /run/secrets/db
	[ "$output" = db-password-1 ]
	run "$MVMCTL" exec sec -- cat /run/secrets/API_TOKEN
	[ "$output" = token-1 ]
	run "$MVMCTL" exec sec -- stat -c '%a %u %g' /run/secrets/db /run/secrets/API_TOKEN /run/secrets
	[ "$output" = "$(printf '400 0 0\n400 0 0\n700 0 0')" ]
	run "$MVMCTL" exec sec -- sh -c 'echo x > /run/secrets/db'
	[ "$status" -ne 0 ]
	assert_contains "$output" "Read-only file system"
	# on the host: the VM's own disk, 0600, for as long as it runs
	assert_mode "$MVM_HOME/vms/sec/secrets.img" 600
	[ "$("$MVMCTL" info sec --json | jq -r '.vm.secrets | join(",")')" = "db,API_TOKEN" ]
	"$MVMCTL" down sec
	[ ! -e "$MVM_HOME/vms/sec/secrets.img" ]
	# without --secret: no secrets disk, nothing mounted
	"$MVMCTL" up "$COLD" -d --name nosec 2>/dev/null
	run "$MVMCTL" exec nosec -- sh -c 'ls /run/secrets; ls /dev/vd*'
	assert_contains "$output" "No such file or directory"
	assert_contains "$output" "/dev/vda"
	[[ $output != *"/dev/vdb"* ]]
	[ -z "$(ls "$MVM_HOME/vms/nosec" | grep secrets)" ]
}

@test "one snapshot, two restored VMs, two values of the same variable and secret" {
	printf 'first' >one.txt
	printf 'second' >two.txt
	"$MVMCTL" up "$PROJ" -d --name r1 -e WHO=one --secret who=one.txt 2>/dev/null
	"$MVMCTL" up "$PROJ" -d --name r2 -e WHO=two --secret who=two.txt 2>/dev/null
	"$MVMCTL" up "$PROJ" -d --name r3 2>/dev/null
	for vm in r1 r2 r3; do
		[ "$("$MVMCTL" info $vm --json | jq -r .vm.started_from)" = snapshot ]
	done
	[ "$("$MVMCTL" exec r1 -- sh -c 'echo $WHO; cat /run/secrets/who')" = "$(printf 'one\nfirst')" ]
	[ "$("$MVMCTL" exec r2 -- sh -c 'echo $WHO; cat /run/secrets/who')" = "$(printf 'two\nsecond')" ]
	assert_contains "$(service_env r1)" "WHO=one"
	assert_contains "$(service_env r2)" "WHO=two"
	# r3 restored into the snapshot's secrets slot: a blank placeholder, not mounted
	run "$MVMCTL" exec r3 -- sh -c 'ls /run/secrets; echo "[$WHO]"'
	assert_contains "$output" "No such file or directory"
	assert_contains "$output" "[]"
}

@test "a secret's value is nowhere but in the VM: not in argv, logs, info, ls, JSON, errors or files outside its directory" {
	local value="s3cr3t-$RANDOM-$RANDOM"
	printf '%s' "$value" >secret.txt
	export LEAKY="$value-env"
	run --separate-stderr "$MVMCTL" up "$PROJ" -d --json --name leak --secret s=secret.txt --secret-env LEAKY
	[ "$status" -eq 0 ]
	local all="$output$stderr"
	[ "$("$MVMCTL" exec leak -- cat /run/secrets/s)" = "$value" ]
	all+=$("$MVMCTL" info leak 2>&1; "$MVMCTL" info leak --json 2>&1; "$MVMCTL" ls -a 2>&1; "$MVMCTL" ls --json 2>&1; "$MVMCTL" logs leak 2>&1)
	# an error that involves the same VM and secrets: refused, the values not quoted
	run --separate-stderr "$MVMCTL" up "$PROJ" -d --name leak --secret s=secret.txt --secret-env LEAKY
	[ "$status" -eq 5 ]
	all+="$output$stderr"
	! grep -q "$value" <<<"$all"
	# every process mvm started (the shim and QEMU): argv and environment
	local j pid
	j=$("$MVMCTL" info leak --json)
	for pid in $(jq -r '.vm.shim_pid, .vm.vmm_pid' <<<"$j"); do
		[ -r "/proc/$pid/cmdline" ]
		! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$value"
		! tr '\0' '\n' <"/proc/$pid/environ" | grep -q "$value"
	done
	# files: only the VM's own secrets disk may hold it (console.log, vmm.log and the
	# records are in the VM's directory too, and must not)
	run grep -rla -- "$value" "$MVM_HOME"
	[ "$output" = "$MVM_HOME/vms/leak/secrets.img" ]
	"$MVMCTL" down leak
	run grep -rla -- "$value" "$MVM_HOME"
	[ -z "$output" ]
}

@test "bad --secret input: exit 2 naming the secret, and nothing on disk" {
	run --separate-stderr "$MVMCTL" up "$PROJ" -d --name badsec --secret db=/nonexistent/db.txt
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "secret 'db': '/nonexistent/db.txt': No such file or directory"
	no_vm badsec
	run --separate-stderr "$MVMCTL" up "$PROJ" -d --name badsec --secret nofile
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "--secret expects NAME=FILE, got 'nofile'"
	printf x >x.txt
	run --separate-stderr "$MVMCTL" up "$PROJ" -d --name badsec --secret ../up=x.txt
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "'../up' is not a valid secret name"
	unset NOT_SET_ANYWHERE
	run --separate-stderr "$MVMCTL" up "$PROJ" -d --name badsec --secret-env NOT_SET_ANYWHERE
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "--secret-env NOT_SET_ANYWHERE: no variable 'NOT_SET_ANYWHERE' in this environment"
	no_vm badsec
	"$MVMCTL" up "$PROJ" -d --name running 2>/dev/null
	run --separate-stderr "$MVMCTL" exec running --secret a=x.txt -- true
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "--secret, --secret-env, --network, --allow, --vcpus and --mem are for a VM being started; 'running' is running already"
}

@test "an ephemeral exec and run get the environment and the secrets, and leave nothing behind" {
	printf 'eph-secret' >e.txt
	local before
	before=$(ls "$MVM_HOME/vms")
	run --separate-stderr "$MVMCTL" exec "$PROJ" -e EPH=yes --secret e=e.txt -- sh -c 'echo "$EPH"; cat /run/secrets/e'
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'yes\neph-secret')" ]
	run --separate-stderr "$MVMCTL" run "$PROJ" -e EPH=run -- sh -c 'for i in $(seq 50); do [ -f /run/service.env ] && break; sleep 0.1; done; grep EPH /run/service.env'
	[ "$status" -eq 0 ]
	[ "$output" = "EPH=run" ]
	[ "$(ls "$MVM_HOME/vms")" = "$before" ]
	run grep -rla -- eph-secret "$MVM_HOME"
	[ -z "$output" ]
}

# serve TEXT [ADDR]: a TCP server on this machine answering TEXT; sets $PORT.
serve() {
	local out="$BATS_TEST_TMPDIR/serve.$RANDOM"
	: >"$out" # there before the server writes it: a loaded machine may run us first
	# not holding bats' fd 3: a server a failed test leaves must not hang the suite
	"$MVM_BUILD/tests/tcp-reply" "${2:-127.0.0.1}" 0 "$1" >"$out" 3>&- &
	SERVERS+=" $!"
	local i
	for ((i = 0; i < 100; i++)); do
		PORT=$(head -1 "$out")
		[ -n "$PORT" ] && return 0
		sleep 0.05
	done
	return 1
}

# reach VM ADDR PORT: what the guest reads from ADDR:PORT (empty: nothing).
reach() {
	"$MVMCTL" exec "$1" -- sh -c "timeout 4 nc $2 $3 </dev/null 2>&1" || true
}

stop_servers() {
	[ -z "${SERVERS:-}" ] || kill $SERVERS 2>/dev/null || true
}

@test "run and an ephemeral exec take --vcpus and --mem over the manifest" {
	run --separate-stderr "$MVMCTL" run "$PROJ" --vcpus 2 -- grep -c ^processor /proc/cpuinfo
	[ "$status" -eq 0 ]
	[ "$output" = 2 ]
	assert_contains "$stderr" "starting with vcpus=2 mem=256M: cold boot"
	run --separate-stderr "$MVMCTL" exec "$PROJ" --mem 320M -- awk '/MemTotal/ {print $2}' /proc/meminfo
	[ "$status" -eq 0 ]
	[ "$output" -gt $((256 * 1024)) ] && [ "$output" -le $((320 * 1024)) ]
}

@test "--network nat (the default) reaches the host's loopback at 10.0.2.2 and its other addresses" {
	SERVERS=""
	serve via-loopback
	local lport=$PORT
	"$MVMCTL" up "$PROJ" -d --name natvm 2>/dev/null
	[ "$(reach natvm 10.0.2.2 "$lport")" = via-loopback ]
	local j
	j=$("$MVMCTL" info natvm --json)
	[ "$(jq -r .vm.network <<<"$j")" = nat ]
	[ "$(jq -r '.vm.allow | length' <<<"$j")" = 0 ]
	[ "$("$MVMCTL" ls --json | jq -r '.vms[] | select(.name == "natvm") | .network')" = nat ]
	local ip
	ip=$(hostname -I 2>/dev/null | awk '{print $1}')
	if [ -n "$ip" ]; then
		serve via-address 0.0.0.0
		[ "$(reach natvm "$ip" "$PORT")" = via-address ]
	fi
	stop_servers
}

@test "--network isolated: nothing is reached, not the host's loopback nor its addresses; published ports still work" {
	SERVERS=""
	serve loopback-secret
	local lport=$PORT
	run --separate-stderr "$MVMCTL" up "$PROJ" -d --name iso --network isolated -p 127.0.0.1:0:8000
	[ "$status" -eq 2 ] # port 0 is not a port: the usual check still applies
	local hport=$((20000 + RANDOM % 20000))
	"$MVMCTL" up "$PROJ" -d --name iso --network isolated -p "127.0.0.1:$hport:8000" 2>/dev/null
	[ "$("$MVMCTL" info iso --json | jq -r .vm.started_from)" = snapshot ]
	local got
	got=$(reach iso 10.0.2.2 "$lport")
	[[ $got != *loopback-secret* ]]
	assert_contains "$got" "Connection refused"
	local ip
	ip=$(hostname -I 2>/dev/null | awk '{print $1}')
	if [ -n "$ip" ]; then
		serve address-secret 0.0.0.0
		got=$(reach iso "$ip" "$PORT")
		[[ $got != *address-secret* ]]
	fi
	# a published port: the host reaches a server in the guest
	"$MVMCTL" exec iso -- sh -c '(echo published | nc -l -p 8000 >/dev/null &); sleep 0.3'
	run bash -c "exec 3<>/dev/tcp/127.0.0.1/$hport && cat <&3"
	[ "$output" = published ]
	[ "$("$MVMCTL" info iso --json | jq -r .vm.network)" = isolated ]
	stop_servers
}

@test "--allow HOST:PORT: that destination, at 10.0.2.100:PORT in the guest, and nothing else" {
	SERVERS=""
	serve allowed-one
	local allowed=$PORT
	serve not-allowed
	local other=$PORT
	"$MVMCTL" up "$PROJ" -d --name allow1 --allow "127.0.0.1:$allowed" 2>/dev/null
	[ "$(reach allow1 10.0.2.100 "$allowed")" = allowed-one ]
	# twice: the relay runs once per connection
	[ "$(reach allow1 10.0.2.100 "$allowed")" = allowed-one ]
	assert_contains "$(reach allow1 10.0.2.2 "$other")" "Connection refused"
	assert_contains "$(reach allow1 10.0.2.2 "$allowed")" "Connection refused"
	[ "$(reach allow1 10.0.2.100 "$other")" != not-allowed ]
	local j
	j=$("$MVMCTL" info allow1 --json)
	[ "$(jq -r .vm.network <<<"$j")" = isolated ]
	[ "$(jq -c .vm.allow <<<"$j")" = "[{\"dest\":\"127.0.0.1:$allowed\",\"guest\":\"10.0.2.100:$allowed\"}]" ]
	# the relay is mvmctl itself, spawned without a shell
	local qemu
	qemu=$(jq -r .vm.vmm_pid <<<"$j")
	assert_contains "$(tr '\0' ' ' <"/proc/$qemu/cmdline")" "guestfwd=tcp:10.0.2.100:$allowed-cmd:$MVMCTL netproxy 127.0.0.1 $allowed"
	stop_servers
}

@test "--network none: no network device; -p with it, a bogus mode and --allow with nat are usage errors" {
	run --separate-stderr "$MVMCTL" up "$PROJ" -d --name nonet --network none
	[ "$status" -eq 0 ]
	assert_contains "$stderr" "snapshot taken with other devices: cold boot"
	run "$MVMCTL" exec nonet -- ls /sys/class/net
	[ "$output" = lo ]
	[ "$("$MVMCTL" info nonet --json | jq -r .vm.network)" = none ]
	run --separate-stderr "$MVMCTL" up "$PROJ" -d --name badnet --network none -p 18099:80
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "-p needs a network: with --network none the VM has no network device"
	run --separate-stderr "$MVMCTL" up "$PROJ" -d --name badnet --network bogus
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "--network 'bogus' is not one of nat, isolated, none"
	run --separate-stderr "$MVMCTL" up "$PROJ" -d --name badnet --network nat --allow 10.1.2.3:80
	[ "$status" -eq 2 ]
	run --separate-stderr "$MVMCTL" up "$PROJ" -d --name badnet --allow 'no such:80'
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "is neither an IPv4 address nor a DNS name"
	run --separate-stderr "$MVMCTL" exec "$PROJ" --network bogus -- true
	[ "$status" -eq 2 ]
	no_vm badnet
}

@test "the default egress: MVM_NETWORK, then [network] default in config.toml, then nat" {
	printf '[network]\ndefault = "isolated"\n' >"$BATS_TEST_TMPDIR/config.toml"
	MVM_CONFIG="$BATS_TEST_TMPDIR/config.toml" "$MVMCTL" up "$PROJ" -d --name byconfig 2>/dev/null
	[ "$("$MVMCTL" info byconfig --json | jq -r .vm.network)" = isolated ]
	MVM_CONFIG="$BATS_TEST_TMPDIR/config.toml" MVM_NETWORK=none "$MVMCTL" up "$PROJ" -d --name byenv 2>/dev/null
	[ "$("$MVMCTL" info byenv --json | jq -r .vm.network)" = none ]
	run --separate-stderr env MVM_NETWORK=weird "$MVMCTL" up "$PROJ" -d --name badenv
	[ "$status" -eq 3 ]
	assert_contains "$stderr" "MVM_NETWORK 'weird' is not one of nat, isolated, none"
	printf '[network]\ndefault = "open"\n' >"$BATS_TEST_TMPDIR/bad.toml"
	run --separate-stderr env MVM_CONFIG="$BATS_TEST_TMPDIR/bad.toml" "$MVMCTL" up "$PROJ" -d --name badenv
	[ "$status" -eq 3 ]
	assert_contains "$stderr" 'default: expected "nat", "isolated" or "none"'
	no_vm badenv
	run "$MVMCTL" doctor --json
	[ "$(jq -r '.checks[] | select(.name == "network") | .status' <<<"$output")" = ok ]
}
