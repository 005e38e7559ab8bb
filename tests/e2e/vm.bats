#!/usr/bin/env bats
# Running VMs for real (QEMU -M microvm under TCG): up -d, ls, logs, down, the
# attached console, port forwarding, ports already taken, and a truthful `ls`
# after kill -9 of the supervisor or of QEMU.
#
# The artifacts are made by hand once per file: the provisioned kernel and
# initramfs (mvm-init as /init) and a busybox root image whose one service is
# `busybox httpd`. Every wait is bounded; teardown kills whatever a test left.
bats_require_minimum_version 1.5.0
load helpers
load boot_helpers

setup_file() {
	export MVM_HOME="$BATS_FILE_TMPDIR/prov"
	kernel_provision || return 1
	ART="$BATS_FILE_TMPDIR/art"
	mkdir -p "$ART"
	cp "$KERNEL_VMLINUX" "$ART/vmlinux"
	cp "$KERNEL_INITRD" "$ART/initrd.img"
	local root="$BATS_FILE_TMPDIR/root"
	busybox_rootfs "$root"
	mkdir -p "$root/www"
	echo "hello from the guest" >"$root/www/index.html"
	cat >"$root/etc/systemd/system/httpd.service" <<-'EOF'
		[Service]
		ExecStart=/bin/busybox httpd -f -p 80 -h /www
		[Install]
		WantedBy=multi-user.target
	EOF
	mkimage "$root" "$ART/rootfs.ext4"
	export ART
	# a guest whose service prints the ready line long before it is done
	ART_SPOOF="$BATS_FILE_TMPDIR/art-spoof"
	mkdir -p "$ART_SPOOF"
	cp "$ART/vmlinux" "$ART/initrd.img" "$ART_SPOOF/"
	cat >"$root/etc/systemd/system/spoof.service" <<-'EOF'
		[Service]
		Type=oneshot
		ExecStart=/bin/sh -c 'echo "mvm: ready" >/dev/console; sleep 4; touch /run/spoof-done'
		[Install]
		WantedBy=multi-user.target
	EOF
	mkimage "$root" "$ART_SPOOF/rootfs.ext4"
	export ART_SPOOF
}

setup() {
	common_setup
	export MVM_ACCEL=tcg
	VM="t$$-$BATS_TEST_NUMBER"
}

# Kills what the test's VMs left running, by the pids their records hold.
teardown() {
	local f pid
	for f in "$MVM_HOME"/vms/*/vm.json; do
		[ -e "$f" ] || continue
		for pid in $(jq -r '.shim_pid // empty, .vmm_pid // empty' "$f"); do
			kill -9 "$pid" 2>/dev/null || true
		done
	done
	[ -z "${HOLDER_PID:-}" ] || kill "$HOLDER_PID" 2>/dev/null || true
	[ -z "${UP_PID:-}" ] || kill -9 "$UP_PID" 2>/dev/null || true
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

rec() { jq -r "$2" "$MVM_HOME/vms/$1/vm.json"; }

@test "up -d boots, ls lists it, logs shows the console, down stops it" {
	run --separate-stderr "$MVMCTL" up "$ART" -d --name "$VM"
	[ "$status" -eq 0 ]
	[ "$output" = "$VM" ]
	assert_contains "$stderr" "VM '$VM' ready in"
	[ "$(rec "$VM" .state)" = running ]
	[ "$(rec "$VM" .accel)" = tcg ]
	local shim qemu
	shim=$(rec "$VM" .shim_pid)
	qemu=$(rec "$VM" .vmm_pid)
	kill -0 "$shim"
	kill -0 "$qemu"
	# the supervisor is detached: its own session, not the test's
	[ "$(ps -o sid= -p "$shim" | tr -d ' ')" != "$(ps -o sid= -p $$ | tr -d ' ')" ]

	run --separate-stderr "$MVMCTL" ls
	[ "$status" -eq 0 ]
	assert_contains "$output" "$VM"
	assert_contains "$output" "running"
	run --separate-stderr "$MVMCTL" ls -q
	[ "$output" = "$VM" ]
	run --separate-stderr "$MVMCTL" ls --json
	[ "$(jq -r '.vms[0].name' <<<"$output")" = "$VM" ]
	[ "$(jq -r '.vms[0].state' <<<"$output")" = running ]
	[ "$(jq -r '.schema_version' <<<"$output")" = 1 ]

	run --separate-stderr "$MVMCTL" logs "$VM"
	[ "$status" -eq 0 ]
	assert_contains "$output" "mvm: ready"
	run --separate-stderr "$MVMCTL" logs -n 1 "$VM"
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 1 ]

	run --separate-stderr "$MVMCTL" down "$VM"
	[ "$status" -eq 0 ]
	[ "$output" = "$VM" ]
	gone "$qemu"
	gone "$shim"
	[ "$(rec "$VM" .state)" = exited ]
	run --separate-stderr "$MVMCTL" ls -q
	[ -z "$output" ]
	run --separate-stderr "$MVMCTL" ls -a --json
	[ "$(jq -r '.vms[0].state' <<<"$output")" = exited ]
	assert_contains "$(jq -r '.vms[0].exit_reason' <<<"$output")" "stopped"
	# a second down of an exited VM is no error; an unknown one is
	run "$MVMCTL" down "$VM"
	[ "$status" -eq 0 ]
	run "$MVMCTL" down nosuchvm
	[ "$status" -eq 4 ]
}

@test "the state directory is private, the root image is never written, a running VM's unreadable record hides it from neither ls nor down" {
	local before after
	before=$(sha256sum <"$ART/rootfs.ext4")
	run "$MVMCTL" up "$ART" -d --name "$VM"
	[ "$status" -eq 0 ]
	assert_mode "$MVM_HOME/vms/$VM" 700
	assert_mode "$MVM_HOME/vms/$VM/vm.json" 600
	assert_mode "$MVM_HOME/vms/$VM/console.log" 600
	assert_mode "$(rec "$VM" .run_dir)" 700
	[ -S "$(rec "$VM" .run_dir)/ctl.sock" ]
	assert_mode "$(rec "$VM" .run_dir)/ctl.sock" 700 || assert_mode "$(rec "$VM" .run_dir)/ctl.sock" 600
	# a record jansson cannot read back (what a guest's HELLO with a NUL in
	# its name once left): the VM still runs, so ls shows it and down stops it
	local d="$MVM_HOME/vms/$VM" qemu run_dir
	qemu=$(rec "$VM" .vmm_pid)
	run_dir=$(rec "$VM" .run_dir)
	jq -c '.agent = "evil"' "$d/vm.json" | sed 's/"evil"/"ev\\u0000il"/' >"$d/vm.json.tmp"
	mv "$d/vm.json.tmp" "$d/vm.json"
	run --separate-stderr "$MVMCTL" info "$VM"
	[ "$status" -ne 0 ]
	run --separate-stderr "$MVMCTL" ls -q
	[ "$status" -eq 0 ]
	assert_eq "$VM" "$output"
	run --separate-stderr "$MVMCTL" ls --json
	[ "$(jq -r '.vms[0].state' <<<"$output")" = unknown ]
	assert_contains "$(jq -r '.vms[0].record_error' <<<"$output")" "vm.json"
	run --separate-stderr "$MVMCTL" down "$VM"
	[ "$status" -eq 0 ] || { echo "down: $stderr"; return 1; }
	gone "$qemu"
	# its supervisor wrote a whole record as it went
	[ "$(rec "$VM" .state)" = exited ]
	[ ! -e "$run_dir" ]
	after=$(sha256sum <"$ART/rootfs.ext4")
	[ "$before" = "$after" ]
}

@test "links planted where a VM writes (console.log, vmm.log, vm.json, spec.json, shim.lock) are not followed" {
	run "$MVMCTL" up "$ART" -d --name "$VM"
	[ "$status" -eq 0 ]
	run "$MVMCTL" down "$VM"
	[ "$status" -eq 0 ]
	local d="$MVM_HOME/vms/$VM" f out="$BATS_TEST_TMPDIR/outside"
	mkdir -p "$out"
	for f in console.log vmm.log vm.json spec.json shim.lock; do
		echo "outside $f" >"$out/$f"
		rm -f "$d/$f"
		ln -s "$out/$f" "$d/$f"
	done
	run --separate-stderr "$MVMCTL" up "$ART" -d --name "$VM"
	# refused (the lock is a link) or started afresh: never written through
	if [ "$status" -eq 0 ]; then
		[ "$(rec "$VM" .state)" = running ]
		run "$MVMCTL" down "$VM"
	else
		assert_contains "$stderr" "$d/shim.lock"
	fi
	for f in console.log vmm.log vm.json spec.json shim.lock; do
		assert_eq "outside $f" "$(cat "$out/$f")"
	done
	# once the planted lock is gone, the name starts afresh
	rm -f "$d/shim.lock"
	run "$MVMCTL" up "$ART" -d --name "$VM"
	[ "$status" -eq 0 ]
	for f in console.log vmm.log vm.json spec.json; do
		[ -f "$d/$f" ] && [ ! -L "$d/$f" ] || { echo "$f is not a file of its own"; return 1; }
		assert_eq "outside $f" "$(cat "$out/$f")"
	done
	grep -q "mvm: ready" "$d/console.log"
	run "$MVMCTL" down "$VM"
	[ "$status" -eq 0 ]
}

@test "under umask 000 every file mvm makes is 0600 and every directory 0700" {
	umask 000
	run "$MVMCTL" up "$ART" -d --name "$VM"
	[ "$status" -eq 0 ]
	local loose
	loose=$(find "$MVM_HOME" "$(rec "$VM" .run_dir)" \( -type f -perm /077 \) -o \( -type d -perm /077 \))
	assert_eq "" "$loose"
	run "$MVMCTL" down "$VM"
	[ "$status" -eq 0 ]
	loose=$(find "$MVM_HOME" \( -type f -perm /077 \) -o \( -type d -perm /077 \))
	assert_eq "" "$loose"
}

@test "8 parallel ups of different names, 8 parallel execs on one, 8 parallel downs: each status is the truth" {
	local i pids=() d="$BATS_TEST_TMPDIR/par"
	mkdir -p "$d"
	for i in 1 2 3 4 5 6 7 8; do
		"$MVMCTL" up "$ART" -d --name "$VM-$i" >"$d/up.$i" 2>"$d/up.$i.err" &
		pids+=($!)
	done
	for i in 1 2 3 4 5 6 7 8; do
		wait "${pids[$((i - 1))]}" || { echo "up $i:" && cat "$d/up.$i.err" && return 1; }
		assert_eq "$VM-$i" "$(cat "$d/up.$i")"
		[ "$(rec "$VM-$i" .state)" = running ]
	done
	run "$MVMCTL" ls -q
	[ "$status" -eq 0 ]
	assert_eq "8" "$(grep -c "^$VM-" <<<"$output")"
	pids=()
	for i in 1 2 3 4 5 6 7 8; do
		"$MVMCTL" exec "$VM-1" -- /bin/sh -c "echo exec-$i; exit $i" >"$d/exec.$i" 2>&1 &
		pids+=($!)
	done
	for i in 1 2 3 4 5 6 7 8; do
		local rc=0
		wait "${pids[$((i - 1))]}" || rc=$?
		assert_eq "$i" "$rc"
		assert_eq "exec-$i" "$(cat "$d/exec.$i")"
	done
	pids=()
	for i in 1 2 3 4 5 6 7 8; do
		"$MVMCTL" down "$VM-$i" >"$d/down.$i" 2>&1 &
		pids+=($!)
	done
	for i in 1 2 3 4 5 6 7 8; do
		wait "${pids[$((i - 1))]}" || { echo "down $i:" && cat "$d/down.$i" && return 1; }
		[ "$(rec "$VM-$i" .state)" = exited ]
		! kill -0 "$(rec "$VM-$i" .vmm_pid)" 2>/dev/null
	done
	run "$MVMCTL" ls -q
	assert_eq "" "$(grep "^$VM-" <<<"$output")"
}

@test "a ready line a service prints on the console does not make the VM ready; the agent's READY does" {
	run --separate-stderr "$MVMCTL" up "$ART_SPOOF" -d --name "$VM"
	[ "$status" -eq 0 ]
	[ "$(rec "$VM" .ready_source)" = agent ]
	# up returned only once every service had started
	run "$MVMCTL" exec "$VM" -- test -e /run/spoof-done
	[ "$status" -eq 0 ]
	[ "$(grep -c "mvm: ready" "$MVM_HOME/vms/$VM/console.log")" -eq 2 ]
	run "$MVMCTL" down "$VM"
	[ "$status" -eq 0 ]
}

@test "-p forwards a host port to a service in the guest" {
	local port i body=
	port=$(free_port)
	run --separate-stderr "$MVMCTL" up "$ART" -d --name "$VM" -p "$port:80"
	[ "$status" -eq 0 ]
	[ "$(rec "$VM" '.ports[0]')" = "127.0.0.1:$port:80/tcp" ]
	# ready means the service was started; give it a bounded moment to listen
	for ((i = 0; i < 100; i++)); do
		body=$(curl -fsS -m 2 "http://127.0.0.1:$port/index.html" 2>/dev/null) && break
		sleep 0.1
	done
	[ "$body" = "hello from the guest" ]
	run "$MVMCTL" ls
	assert_contains "$output" "127.0.0.1:$port:80/tcp"
	run "$MVMCTL" down "$VM"
	[ "$status" -eq 0 ]
	# the forward went away with the VM
	run curl -fsS -m 2 "http://127.0.0.1:$port/"
	[ "$status" -ne 0 ]
}

@test "a host port already in use is refused before boot, naming the port" {
	local port
	port=$(free_port)
	python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(60)' "$port" &
	HOLDER_PID=$!
	for ((i = 0; i < 50; i++)); do
		python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$port" 2>/dev/null && break
		sleep 0.1
	done
	run --separate-stderr "$MVMCTL" up "$ART" -d --name "$VM" -p "$port:80"
	[ "$status" -eq 1 ]
	assert_contains "$stderr" "port $port"
	assert_contains "$stderr" "already in use"
	# nothing booted: no record, no console
	[ ! -e "$MVM_HOME/vms/$VM/vm.json" ]
	[ ! -e "$MVM_HOME/vms/$VM/console.log" ]
	run "$MVMCTL" ls -a -q
	[ -z "$output" ]
}

@test "kill -9 of the supervisor: ls does not show the VM, and its QEMU is gone" {
	run "$MVMCTL" up "$ART" -d --name "$VM"
	[ "$status" -eq 0 ]
	local shim qemu
	shim=$(rec "$VM" .shim_pid)
	qemu=$(rec "$VM" .vmm_pid)
	kill -9 "$shim"
	gone "$shim"
	gone "$qemu" # it dies with its supervisor
	run --separate-stderr "$MVMCTL" ls -q
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run --separate-stderr "$MVMCTL" ls -a --json
	[ "$(jq -r '.vms[0].state' <<<"$output")" = exited ]
	assert_contains "$(jq -r '.vms[0].exit_reason' <<<"$output")" "supervisor (pid $shim) died"
	# the name can be used again
	run "$MVMCTL" up "$ART" -d --name "$VM"
	[ "$status" -eq 0 ]
	run "$MVMCTL" down "$VM"
	[ "$status" -eq 0 ]
}

@test "kill -9 of QEMU: the supervisor records why and ls does not show the VM" {
	run "$MVMCTL" up "$ART" -d --name "$VM"
	[ "$status" -eq 0 ]
	local shim qemu i
	shim=$(rec "$VM" .shim_pid)
	qemu=$(rec "$VM" .vmm_pid)
	kill -9 "$qemu"
	gone "$shim"
	run --separate-stderr "$MVMCTL" ls -q
	[ -z "$output" ]
	run --separate-stderr "$MVMCTL" ls -a --json
	[ "$(jq -r '.vms[0].state' <<<"$output")" = exited ]
	assert_contains "$(jq -r '.vms[0].exit_reason' <<<"$output")" "killed by signal 9"
}

@test "a second VM of the same name is refused while the first runs" {
	run "$MVMCTL" up "$ART" -d --name "$VM"
	[ "$status" -eq 0 ]
	run --separate-stderr "$MVMCTL" up "$ART" -d --name "$VM"
	[ "$status" -eq 5 ]
	assert_contains "$stderr" "VM '$VM' is already running"
	[ "$(rec "$VM" .state)" = running ]
	run "$MVMCTL" down --all
	[ "$status" -eq 0 ]
	[ "$output" = "$VM" ]
}

@test "up without -d shows the console and Ctrl-C stops the VM" {
	local out="$BATS_TEST_TMPDIR/up.out" i
	"$MVMCTL" up "$ART" --name "$VM" >"$out" 2>"$out.err" &
	UP_PID=$!
	for ((i = 0; i < 1200; i++)); do
		grep -qF "mvm: ready" "$out" && break
		kill -0 "$UP_PID" 2>/dev/null || break
		sleep 0.1
	done
	grep -qF "mvm: ready" "$out"
	[ "$(rec "$VM" .state)" = running ]
	kill -INT "$UP_PID"
	local st=0
	for ((i = 0; i < 300; i++)); do
		kill -0 "$UP_PID" 2>/dev/null || break
		sleep 0.1
	done
	wait "$UP_PID" || st=$?
	UP_PID=
	[ "$st" -eq 130 ]
	[ "$(rec "$VM" .state)" = exited ]
	run "$MVMCTL" ls -q
	[ -z "$output" ]
}

@test "a boot that never reports ready fails with the reason and leaves nothing running" {
	# init=/bin/false in the guest is not possible from here; a root image that is
	# not ext4 makes mvm-init give up, which powers the guest off
	local bad="$BATS_TEST_TMPDIR/bad"
	mkdir -p "$bad"
	cp "$ART/vmlinux" "$ART/initrd.img" "$bad/"
	head -c 1048576 /dev/zero >"$bad/rootfs.ext4"
	run --separate-stderr timeout 120 "$MVMCTL" up "$bad" -d --name "$VM"
	[ "$status" -eq 1 ]
	assert_contains "$stderr" "VM '$VM'"
	[ "$(rec "$VM" .state)" = exited ]
	local qemu
	qemu=$(rec "$VM" .vmm_pid)
	gone "$qemu"
	run "$MVMCTL" ls -q
	[ -z "$output" ]
}

@test "bad flags are usage errors" {
	run --separate-stderr "$MVMCTL" up "$ART" -p 80
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "HOST_PORT:GUEST_PORT"
	run --separate-stderr "$MVMCTL" up "$ART" --name 'bad name'
	[ "$status" -eq 2 ]
	run --separate-stderr "$MVMCTL" down
	[ "$status" -eq 2 ]
	run --separate-stderr "$MVMCTL" logs
	[ "$status" -eq 2 ]
	run --separate-stderr "$MVMCTL" logs nosuchvm
	[ "$status" -eq 4 ]
}

@test "accel auto probes KVM once per host, caches the verdict, and says so when it falls back to TCG" {
	export MVM_ACCEL=auto
	export MVM_HOST_CACHE="$BATS_TEST_TMPDIR/hostcache"
	run --separate-stderr "$MVMCTL" up "$ART" -d --name "$VM"
	[ "$status" -eq 0 ]
	local cache="$MVM_HOST_CACHE/accel-qemu.json"
	# (test -c first: as root, <> on a missing /dev/kvm would create a plain file there)
	if [ ! -c /dev/kvm ] || ! { exec 9<>/dev/kvm; } 2>/dev/null; then
		# no KVM device here, or not ours to open (not root): no probe, no verdict
		[ "$(rec "$VM" .accel)" = tcg ]
		if [ -c /dev/kvm ]; then
			assert_contains "$stderr" "no usable KVM (/dev/kvm: Permission denied)"
		else
			assert_contains "$stderr" "no usable KVM (/dev/kvm: No such file or directory)"
		fi
		[ ! -e "$cache" ]
		run "$MVMCTL" down "$VM"
		return 0
	fi
	exec 9>&-
	[ -f "$cache" ]
	[ ! -e "$MVM_HOME/accel-qemu.json" ]
	assert_mode "$MVM_HOST_CACHE" 700
	assert_mode "$cache" 600
	[ "$(jq -r .host.host_kernel "$cache")" = "$(uname -r)" ]
	local works probed
	works=$(jq -r .kvm_works "$cache")
	probed=$(jq -r .probed_at "$cache")
	if [ "$works" = true ]; then
		[ "$(rec "$VM" .accel)" = kvm ]
	else
		# here: /dev/kvm is broken for Linux guests; one line says why TCG is used
		[ "$(rec "$VM" .accel)" = tcg ]
		[ "$(grep -c 'using TCG' <<<"$stderr")" -eq 1 ]
		assert_contains "$stderr" "$(jq -r .reason "$cache")"
		# a guest that cannot run prints nothing: the probe ends on that
		# silence, not at its 15 s bound
		assert_contains "$(jq -r .reason "$cache")" "the guest printed nothing for 3000 ms under KVM"
	fi
	run "$MVMCTL" down "$VM"
	[ "$status" -eq 0 ]
	# a second start reuses the verdict: no new probe
	run "$MVMCTL" up "$ART" -d --name "$VM"
	[ "$status" -eq 0 ]
	[ "$(jq -r .probed_at "$cache")" = "$probed" ]
	run "$MVMCTL" down "$VM"
	[ "$status" -eq 0 ]
	# so does another MVM_HOME on this host (a new user's first up)
	local other="$BATS_TEST_TMPDIR/other-home"
	MVM_HOME=$other run "$MVMCTL" up "$ART" -d --name "$VM"
	[ "$status" -eq 0 ]
	[ "$(jq -r .probed_at "$cache")" = "$probed" ]
	MVM_HOME=$other run "$MVMCTL" down "$VM"
	[ "$status" -eq 0 ]
	# a cache directory others can write is neither believed nor written
	local accel=tcg
	[ "$works" = true ] && accel=kvm
	chmod 777 "$MVM_HOST_CACHE"
	jq '.kvm_works = (.kvm_works | not) | .reason = "planted"' "$cache" >"$BATS_TEST_TMPDIR/planted"
	cp "$BATS_TEST_TMPDIR/planted" "$cache"
	run "$MVMCTL" up "$ART" -d --name "$VM"
	[ "$status" -eq 0 ]
	[ "$(rec "$VM" .accel)" = "$accel" ]
	cmp "$cache" "$BATS_TEST_TMPDIR/planted"
	run "$MVMCTL" down "$VM"
	[ "$status" -eq 0 ]
	chmod 700 "$MVM_HOST_CACHE"
	# MVM_ACCEL=tcg needs no probe at all; a bad value is a config error
	rm -f "$cache"
	MVM_ACCEL=tcg run "$MVMCTL" up "$ART" -d --name "$VM"
	[ "$status" -eq 0 ]
	[ ! -e "$cache" ]
	run "$MVMCTL" down "$VM"
	MVM_ACCEL=fast run --separate-stderr "$MVMCTL" up "$ART" -d --name "$VM"
	[ "$status" -eq 3 ]
	assert_contains "$stderr" "auto, kvm, tcg"
}

# with_kvm_device CMD...: runs CMD in a private mount namespace whose /dev
# has a /dev/kvm that opens (the null device), so that accel auto probes it,
# as on a host whose KVM is there but broken. The host's /dev is untouched.
with_kvm_device() {
	local ns="$BATS_TEST_TMPDIR/devns"
	mkdir -p "$ns/keep" "$ns/up" "$ns/work"
	unshare -m --propagation private sh -c '
		ns=$1 && shift &&
		mount --rbind /dev "$ns/keep" &&
		mount -t overlay overlay -o "lowerdir=/dev,upperdir=$ns/up,workdir=$ns/work" /dev &&
		{ [ -e /dev/kvm ] || mknod /dev/kvm c 1 3; } &&
		mount --rbind "$ns/keep/pts" /dev/pts && mount --rbind "$ns/keep/shm" /dev/shm &&
		exec "$@"' _ "$ns" "$@"
}

@test "a broken KVM: the probe ends on QEMU's KVM error or on the guest's silence, once per host, keyed by kernel, QEMU and CPU" {
	[ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null || skip "needs root for a /dev of its own"
	local real bin="$BATS_TEST_TMPDIR/bin" cache
	real=$(command -v qemu-system-x86_64)
	mkdir -p "$bin"
	# A QEMU whose KVM is broken: the probe's guest (root=/dev/mvm-kvm-probe)
	# gets what $0.mode says; any other run is the real QEMU under TCG, or
	# fails at once when $0.noboot exists (a verdict needs no boot).
	write_stand_in() {
		cat >"$bin/qemu-system-x86_64" <<-EOF
			#!/bin/sh
			# stand-in $1
			for a in "\$@"; do
				case \$a in *root=/dev/mvm-kvm-probe*)
					echo probe >>"\$0.probes"
					case \$(cat "\$0.mode") in
					silent) exec sleep 60 ;;
					error) echo 'KVM internal error. Suberror: 1' >&2; echo 'emulation failure' >&2; exit 1 ;;
					esac ;;
				esac
			done
			[ "\$1" = --version ] && { "$real" --version | sed '1s/\$/ (stand-in $1)/'; exit; }
			[ -e "\$0.noboot" ] && { echo 'stand-in: no boot' >&2; exit 1; }
			exec "$real" "\$@"
		EOF
		chmod 755 "$bin/qemu-system-x86_64"
	}
	write_stand_in 1
	probes() { cat "$bin/qemu-system-x86_64.probes" 2>/dev/null | wc -l; }
	export MVM_ACCEL=auto MVM_QEMU="$bin/qemu-system-x86_64"
	export MVM_HOST_CACHE="$BATS_TEST_TMPDIR/hostcache"
	cache="$MVM_HOST_CACHE/accel-qemu.json"

	# KVM internal error: the probe ends when QEMU exits, and says why
	echo error >"$bin/qemu-system-x86_64.mode"
	local t0=$SECONDS
	run --separate-stderr with_kvm_device "$MVMCTL" up "$ART" -d --name "$VM"
	[ "$status" -eq 0 ] || { echo "$stderr"; return 1; }
	echo "first up with a broken KVM: $((SECONDS - t0)) s, probe $(jq .probe_ms "$cache") ms" >&3
	[ "$(rec "$VM" .accel)" = tcg ]
	assert_eq 1 "$(probes)"
	assert_eq "mvmctl: using TCG (software emulation): KVM guest boot probe failed: KVM internal error. Suberror: 1" \
		"$(grep 'using TCG' <<<"$stderr")"
	[ "$(jq -r .kvm_works "$cache")" = false ]
	assert_contains "$(jq -r .host.vmm_version "$cache")" "(stand-in 1)"
	assert_eq "$(uname -r)" "$(jq -r .host.host_kernel "$cache")"
	[ -n "$(jq -r .host.cpu "$cache")" ]
	assert_mode "$MVM_HOST_CACHE" 700
	assert_mode "$cache" 600
	run with_kvm_device "$MVMCTL" down "$VM"
	[ "$status" -eq 0 ]

	# the verdict is the host's: another MVM_HOME (a new user's first up) probes nothing
	: >"$bin/qemu-system-x86_64.noboot"
	MVM_HOME="$BATS_TEST_TMPDIR/other" run --separate-stderr with_kvm_device "$MVMCTL" up "$ART" -d --name "$VM"
	[ "$status" -eq 1 ]
	assert_contains "$stderr" "KVM guest boot probe failed: KVM internal error. Suberror: 1"
	assert_eq 1 "$(probes)"

	# another QEMU is another verdict; a guest that prints nothing ends the
	# probe on its silence (3 s), not at its 15 s bound
	write_stand_in 2
	echo silent >"$bin/qemu-system-x86_64.mode"
	run --separate-stderr with_kvm_device "$MVMCTL" up "$ART" -d --name "$VM"
	[ "$status" -eq 1 ]
	assert_eq 2 "$(probes)"
	assert_contains "$stderr" "KVM guest boot probe failed: the guest printed nothing for 3000 ms under KVM (it never started)"
	assert_contains "$(jq -r .host.vmm_version "$cache")" "(stand-in 2)"
	echo "silent probe: $(jq .probe_ms "$cache") ms" >&3

	# a verdict for another host kernel, or another CPU, is not believed
	local k
	for k in host_kernel cpu; do
		jq ".host.$k = \"another\"" "$cache" >"$cache.new" && mv "$cache.new" "$cache"
		run --separate-stderr with_kvm_device "$MVMCTL" up "$ART" -d --name "$VM"
		[ "$status" -eq 1 ]
		[ "$(jq -r ".host.$k" "$cache")" != another ] || { echo "$k: not probed again"; return 1; }
	done
	assert_eq 4 "$(probes)"
	# and the same host again: no probe
	run --separate-stderr with_kvm_device "$MVMCTL" up "$ART" -d --name "$VM"
	assert_eq 4 "$(probes)"
	run "$MVMCTL" ls -a -q
	assert_eq "$VM" "$output"
}

@test "up of a manifest that was never built says so and points at build" {
	: >"$WORK/mvm.toml"
	run --separate-stderr "$MVMCTL" up
	[ "$status" -eq 4 ]
	assert_contains "$stderr" "no built revision for the manifest at $WORK/mvm.toml"
	assert_contains "$stderr" "hint: mvmctl build"
	run "$MVMCTL" ls -a -q
	[ -z "$output" ]
}
