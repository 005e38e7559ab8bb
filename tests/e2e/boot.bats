#!/usr/bin/env bats
# The guest kernel, its initramfs and mvm-init, booted with a bare
# `qemu-system-x86_64 -M microvm` under TCG (issue 4's proof that it boots).
load helpers
load boot_helpers

setup_file() {
	# Provision once per file; tests that check provisioning use their own home.
	export KCACHE="$BATS_FILE_TMPDIR/kcache"
	mkdir -p "$KCACHE"
	MVM_HOME="$KCACHE" "$MVM_BUILD/tests/kernel-ensure" >"$BATS_FILE_TMPDIR/kernel.out"
}

setup() {
	common_setup
	mkdir -p "$MVM_HOME"
	chmod 700 "$MVM_HOME"
	cp -al "$KCACHE/kernels" "$MVM_HOME/kernels"
	kernel_provision
}

teardown() {
	boot_stop_all
}

unit() { # unit ROOTFS NAME: writes stdin to etc/systemd/system/NAME.service
	cat >"$1/etc/systemd/system/$2.service"
}

@test "kernel-ensure provisions vmlinux, initrd.img and meta.json with private modes" {
	export MVM_HOME="$BATS_TEST_TMPDIR/fresh"
	run "$MVM_BUILD/tests/kernel-ensure"
	[ "$status" -eq 0 ]
	id=$(sed -n 's/^id=//p' <<<"$output")
	dir="$MVM_HOME/kernels/$id"
	[[ $id =~ ^[0-9]+\.[0-9]+.*-[0-9a-f]{12}$ ]]
	assert_mode "$MVM_HOME" 700
	assert_mode "$MVM_HOME/kernels" 700
	assert_mode "$dir" 700
	for f in vmlinux initrd.img meta.json; do assert_mode "$dir/$f" 600; done
	# an uncompressed ELF kernel
	[ "$(head -c 4 "$dir/vmlinux" | od -An -c | tr -d ' ')" = '177ELF' ]
	grep -q '"schema_version": 1' "$dir/meta.json"
	grep -q '"virtio_blk"' "$dir/meta.json"
	# the initramfs is cpio newc holding /init and the modules in order
	[ "$(head -c 6 "$dir/initrd.img")" = 070701 ]
	grep -aq 'lib/modules/order' "$dir/initrd.img"
	grep -aq 'virtio_ring.ko' "$dir/initrd.img"
	# nothing left under a temporary name
	[ -z "$(find "$MVM_HOME/kernels" -maxdepth 1 -name '.*')" ]
	# a second run finds it and rewrites nothing
	before=$(stat -c %Y.%i "$dir/vmlinux")
	run "$MVM_BUILD/tests/kernel-ensure"
	[ "$status" -eq 0 ]
	assert_contains "$output" "id=$id"
	[ "$(stat -c %Y.%i "$dir/vmlinux")" = "$before" ]
	run "$MVM_BUILD/tests/kernel-ensure" --probe
	assert_contains "$output" "state=ready"
}

@test "the kernel id changes when mvm-init changes" {
	export MVM_LIBEXEC="$BATS_TEST_TMPDIR/libexec"
	mkdir -p "$MVM_LIBEXEC"
	cp "$MVM_BUILD/mvm-init" "$MVM_LIBEXEC/mvm-init"
	run "$MVM_BUILD/tests/kernel-ensure" --probe
	assert_contains "$output" "id=$KERNEL_ID"
	printf '\0' >>"$MVM_LIBEXEC/mvm-init"
	run "$MVM_BUILD/tests/kernel-ensure" --probe
	assert_contains "$output" "state=available"
	new=$(sed -n 's/^id=//p' <<<"$output")
	[ -n "$new" ] && [ "$new" != "$KERNEL_ID" ]
}

@test "without a kernel source: exit 6 (host not ready) with a hint" {
	export MVM_HOME="$BATS_TEST_TMPDIR/fresh" MVM_KERNEL_CACHE="$BATS_TEST_TMPDIR/empty"
	unset MVM_KERNEL MVM_KERNEL_DEB
	mkdir -p "$MVM_KERNEL_CACHE"
	run "$MVM_BUILD/tests/kernel-ensure"
	[ "$status" -eq 6 ]
	assert_contains "$output" "no guest kernel"
	assert_contains "$output" "hint: run scripts/fetch-kernel.sh"
	run "$MVM_BUILD/tests/kernel-ensure" --probe
	assert_contains "$output" "state=none"
	[ ! -e "$MVM_HOME/kernels" ]
}

@test "a provisioning killed with SIGKILL leaves no half-made kernel" {
	export MVM_HOME="$BATS_TEST_TMPDIR/fresh"
	"$MVM_BUILD/tests/kernel-ensure" >/dev/null &
	pid=$!
	sleep 0.4
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" || true
	# whatever is under a real id is complete
	for d in "$MVM_HOME"/kernels/*/; do
		[ -d "$d" ] || continue
		[ -f "$d/meta.json" ] && [ -f "$d/vmlinux" ] && [ -f "$d/initrd.img" ]
	done
	run "$MVM_BUILD/tests/kernel-ensure"
	[ "$status" -eq 0 ]
	# the killed run's temporary directory was swept
	[ -z "$(find "$MVM_HOME/kernels" -maxdepth 1 -name '.*')" ]
}

@test "boots a busybox root: services with env, order, restart, network, then mvm: ready" {
	root="$BATS_TEST_TMPDIR/root"
	busybox_rootfs "$root"
	mkdir -p "$root/srv/app"
	unit "$root" hello <<'U'
[Unit]
Description=says hello
[Service]
Environment="GREETING=hello from" WHO=mvm
Environment=QUOTED="a  b"
WorkingDirectory=/srv/app
ExecStart=/bin/sh -c 'echo "$GREETING $WHO in $(pwd) [$QUOTED] host=$(hostname)"; exec sleep 1000'
U
	unit "$root" first <<'U'
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'sleep 0.3; echo one > /run/first; echo first done'
U
	unit "$root" second <<'U'
[Unit]
After=first.service
[Service]
ExecStart=/bin/cat /run/first
U
	unit "$root" flaky <<'U'
[Service]
Restart=on-failure
RestartSec=200ms
ExecStart=/bin/sh -c 'if [ -e /run/flaky ]; then echo flaky recovered; exec sleep 1000; fi; touch /run/flaky; echo flaky failing; exit 3'
U
	unit "$root" net <<'U'
[Service]
ExecStart=/bin/sh -c 'ifconfig eth0 | grep -o "inet addr:[0-9.]*"; ip route | grep default; cat /etc/resolv.conf; echo overlay-write > /etc/written && cat /etc/written'
U
	mkimage "$root" "$BATS_TEST_TMPDIR/rootfs.ext4"
	sum=$(sha256sum <"$BATS_TEST_TMPDIR/rootfs.ext4")
	log="$BATS_TEST_TMPDIR/console.log"
	boot_start "$BATS_TEST_TMPDIR/rootfs.ext4" "$log" mvm.hostname=bats-vm
	boot_wait "$log" "mvm: ready" 60
	boot_wait "$log" "[flaky] flaky recovered" 20
	boot_wait "$log" "[net] overlay-write" 20
	con=$(cat "$log")
	assert_contains "$con" "[hello] hello from mvm in /srv/app [a  b] host=bats-vm"
	assert_contains "$con" "[first] first done"
	assert_contains "$con" "[second] one"
	assert_contains "$con" "[flaky] flaky failing"
	assert_contains "$con" "mvm-init: flaky.service exited with status 3"
	assert_contains "$con" "[net] inet addr:10.0.2.15"
	assert_contains "$con" "[net] default via 10.0.2.2"
	assert_contains "$con" "[net] nameserver 10.0.2.3"
	# order: first finished before second started; ready only after both
	n_first=$(grep -n '\[first\] first done' "$log" | cut -d: -f1)
	n_second=$(grep -n '\[second\] one' "$log" | cut -d: -f1)
	n_ready=$(grep -n '^mvm: ready' "$log" | cut -d: -f1)
	[ "$n_first" -lt "$n_second" ]
	[ "$n_first" -lt "$n_ready" ]
	boot_stop_all
	# the guest wrote into its overlay, never into the image
	[ "$(sha256sum <"$BATS_TEST_TMPDIR/rootfs.ext4")" = "$sum" ]
}

@test "SIGTERM to PID 1 stops the services and powers the VM off (QEMU exits 0)" {
	root="$BATS_TEST_TMPDIR/root"
	busybox_rootfs "$root"
	unit "$root" term-ignorer <<'U'
[Service]
ExecStart=/bin/sh -c 'trap "echo got TERM; exit 0" TERM; echo up; while true; do sleep 0.1; done'
U
	unit "$root" stopper <<'U'
[Unit]
After=term-ignorer.service
[Service]
ExecStart=/bin/sh -c 'sleep 0.5; kill -TERM 1'
U
	mkimage "$root" "$BATS_TEST_TMPDIR/rootfs.ext4"
	log="$BATS_TEST_TMPDIR/console.log"
	boot_start "$BATS_TEST_TMPDIR/rootfs.ext4" "$log"
	boot_wait "$log" "mvm: ready" 60
	boot_wait_exit 30
	[ "$QEMU_STATUS" -eq 0 ]
	con=$(cat "$log")
	assert_contains "$con" "[term-ignorer] got TERM"
	assert_contains "$con" "mvm-init: powering off"
}

@test "no root disk: mvm-init says why and powers off instead of hanging" {
	log="$BATS_TEST_TMPDIR/console.log"
	boot_start "" "$log"
	boot_wait_exit 60
	assert_contains "$(cat "$log")" "mvm-init: fatal: no root disk /dev/vda"
}

@test "MVM_KERNEL points at another kernel (a bzImage) with MVM_KERNEL_MODULES" {
	ex="$BATS_TEST_TMPDIR/deb"
	deb=$(sed -n 's/^source=//p' "$BATS_FILE_TMPDIR/kernel.out")
	mkdir -p "$ex"
	dpkg-deb -x "$deb" "$ex"
	export MVM_KERNEL=$(ls "$ex"/boot/vmlinuz-*)
	export MVM_KERNEL_MODULES="$ex/lib/modules"
	kernel_provision
	assert_contains "$KERNEL_ID" "custom-"
	grep -q '"source": "custom"' "$MVM_HOME/kernels/$KERNEL_ID/meta.json"
	root="$BATS_TEST_TMPDIR/root"
	busybox_rootfs "$root"
	unit "$root" hi <<'U'
[Service]
ExecStart=/bin/echo custom kernel up
U
	mkimage "$root" "$BATS_TEST_TMPDIR/rootfs.ext4"
	log="$BATS_TEST_TMPDIR/console.log"
	boot_start "$BATS_TEST_TMPDIR/rootfs.ext4" "$log"
	boot_wait "$log" "mvm: ready" 60
	# the service's output goes through a pipe and may trail the ready line
	boot_wait "$log" "[hi] custom kernel up" 10
}
