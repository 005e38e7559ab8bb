# Booting guests with a bare QEMU command (no mvmctl in between): the floor the
# VMM layer is measured against, and the proof that kernel + initramfs +
# mvm-init + an ext4 root boot. Every boot is bounded in time and QEMU is
# always killed in teardown (call boot_stop_all there).
#
#   boot_start ROOTFS LOG [extra kernel args]   starts QEMU in the background; sets $QEMU_PID
#   boot_wait LOG PATTERN [SECONDS]             waits (default 60 s) for a fixed string on the console
#   boot_wait_exit [SECONDS]                    waits for QEMU to exit by itself; sets $QEMU_STATUS
#   boot_stop_all                               kills every QEMU this test started
#
# With BOOT_AGENT_SOCK set, the guest gets the org.mvm.agent virtio-serial port
# behind a Unix socket at that path (QEMU is the server; one client at a time).
# With BOOT_DATA_DISK set, that image is attached as a second disk (read-write).
# BOOT_QEMU_ARGS (split on spaces) are added to QEMU's command line.
#
# Needs $KERNEL_VMLINUX and $KERNEL_INITRD (see kernel_provision).

BOOT_PIDS=()

# kernel_provision: provisions the guest kernel into $MVM_HOME and sets
# KERNEL_ID, KERNEL_VMLINUX, KERNEL_INITRD, KERNEL_CMDLINE.
kernel_provision() {
	local out
	out=$("$MVM_BUILD/tests/kernel-ensure") || return 1
	KERNEL_ID=$(sed -n 's/^id=//p' <<<"$out")
	KERNEL_VMLINUX=$(sed -n 's/^vmlinux=//p' <<<"$out")
	KERNEL_INITRD=$(sed -n 's/^initrd=//p' <<<"$out")
	KERNEL_CMDLINE=$(sed -n 's/^cmdline=//p' <<<"$out")
	export KERNEL_ID KERNEL_VMLINUX KERNEL_INITRD KERNEL_CMDLINE
}

# busybox_rootfs DIR: a minimal guest userland (Debian's static busybox).
busybox_rootfs() {
	local dir=$1 a
	mkdir -p "$dir/bin" "$dir/etc/systemd/system"
	cp /bin/busybox "$dir/bin/busybox"
	for a in sh echo cat sleep ls ip ifconfig hostname mount kill touch test false true \
		env pwd id grep wc date rm mkdir tty stty; do
		ln -sf busybox "$dir/bin/$a"
	done
}

# mkimage DIR IMAGE: an ext4 image of DIR, no root needed.
mkimage() {
	mkfs.ext4 -q -F -d "$1" "$2" 32M >/dev/null
}

boot_start() {
	local rootfs=$1 log=$2
	shift 2
	: >"$log"
	qemu-system-x86_64 -M microvm -accel tcg,thread=multi -cpu max -m 256 -smp 1 \
		-nodefaults -no-user-config -display none -no-reboot \
		-serial "file:$log" \
		-kernel "$KERNEL_VMLINUX" -initrd "$KERNEL_INITRD" \
		-append "$KERNEL_CMDLINE $*" \
		${rootfs:+-drive "id=root,file=$rootfs,format=raw,if=none,read-only=on"} \
		${rootfs:+-device virtio-blk-device,drive=root} \
		${BOOT_DATA_DISK:+-drive "id=data,file=$BOOT_DATA_DISK,format=raw,if=none"} \
		${BOOT_DATA_DISK:+-device virtio-blk-device,drive=data} \
		-netdev user,id=n0 -device virtio-net-device,netdev=n0 \
		${BOOT_AGENT_SOCK:+-chardev "socket,id=agent,path=$BOOT_AGENT_SOCK,server=on,wait=off"} \
		${BOOT_AGENT_SOCK:+-device virtio-serial-device} \
		${BOOT_AGENT_SOCK:+-device virtserialport,chardev=agent,name=org.mvm.agent} \
		${BOOT_QEMU_ARGS:-} </dev/null >"$log.qemu" 2>&1 &
	QEMU_PID=$!
	BOOT_PIDS+=("$QEMU_PID")
}

boot_wait() {
	local log=$1 pattern=$2 secs=${3:-60} i
	for ((i = 0; i < secs * 10; i++)); do
		grep -qF -- "$pattern" "$log" && return 0
		if ! kill -0 "$QEMU_PID" 2>/dev/null; then
			grep -qF -- "$pattern" "$log" && return 0
			echo "QEMU exited before '$pattern' appeared; console:" >&2
			cat "$log" "$log.qemu" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "'$pattern' did not appear within $secs s; console:" >&2
	cat "$log" >&2
	return 1
}

boot_wait_exit() {
	local secs=${1:-60} i
	for ((i = 0; i < secs * 10; i++)); do
		if ! kill -0 "$QEMU_PID" 2>/dev/null; then
			wait "$QEMU_PID"
			QEMU_STATUS=$?
			return 0
		fi
		sleep 0.1
	done
	echo "QEMU still running after $secs s" >&2
	return 1
}

boot_stop_all() {
	local p
	for p in "${BOOT_PIDS[@]}"; do
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null || true
	done
	BOOT_PIDS=()
}
