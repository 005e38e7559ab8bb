#!/usr/bin/env bash
# Boot benchmark (issue 5): `mvmctl up -d DIR` until it returns (the guest is
# ready) against its floor, a bare `qemu-system-x86_64` with the very argv
# the shim gave QEMU (read from /proc/<vmm_pid>/cmdline of a running VM),
# timed from exec to "mvm: ready" on the console, read from a pipe. Only the
# chardevs backed by inherited fds differ (see vm_common.bash). `mvmctl down`
# runs outside the timed region. Runs alternate so both see the same noise.
# Prints medians of N runs and the ratio (target: at most 1.05), the median
# of the paired ratios, and up's time outside the guest's boot (its wall time
# minus the boot_ms the shim records from QEMU's spawn to ready), which the
# boot's own noise under TCG does not drown.
#
#   N=21 bench/up.sh        MVM_ACCEL (default tcg), MVM_BUILD as for the tests,
#                           VERBOSE=1 prints every pair
#   BOUNDARY=1 bench/up.sh  the timed `up` also gets an environment and two
#                           secrets (-e, --env-file, --secret, --secret-env:
#                           a parked boot that takes ENV and IDENTITY over the
#                           agent, and a secrets disk made per start); the
#                           floor stays the plain boot
set -euo pipefail
. "$(dirname "$0")/vm_common.bash"
N=${N:-21}
vm_bench_init

# the argv to replay, from a VM started the ordinary way
"$MVMCTL" up -d -q "$ART" --name argv >/dev/null
capture_argv argv
"$MVMCTL" down -q argv >/dev/null

extra=()
if [ -n "${BOUNDARY:-}" ]; then
	printf 'LOG_LEVEL=debug\nGREETING=hello world\n' >"$tmp/env.list"
	printf 'db-password' >"$tmp/db.txt"
	export BENCH_TOKEN=token-value
	extra=(-e MODE=bench --env-file "$tmp/env.list" --secret "db=$tmp/db.txt"
		--secret-env BENCH_TOKEN)
fi

ups=() bares=() pairs=() own=()
for i in $(seq "$N"); do
	t0=$EPOCHREALTIME
	if ! "$MVMCTL" up -d -q "$ART" --name u "${extra[@]}" >/dev/null; then
		echo "run $i: mvmctl up failed" >&2
		exit 1
	fi
	t1=$EPOCHREALTIME
	ups+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')")
	# what is not the guest booting: up's wall time minus the shim's boot_ms
	# (QEMU spawn to ready); noise-proof, unlike the boot itself
	own+=("$(awk -v u="${ups[-1]}" -v b="$(vm_field u boot_ms)" 'BEGIN {print u * 1000 - b}')")
	"$MVMCTL" down -q u >/dev/null

	bare_start
	bare_wait_ready 60 || { echo "run $i: bare QEMU did not get ready" >&2; exit 1; }
	t1=$BARE_T1
	bare_stop
	bares+=("$(awk -v a="$BARE_T0" -v b="$t1" 'BEGIN {print b - a}')")
	[ -z "${VERBOSE:-}" ] || echo "run $i: up ${ups[-1]} s, bare ${bares[-1]} s" >&2
	pairs+=("$(ratio "${ups[-1]}" "${bares[-1]}")")
done

up=$(printf '%s\n' "${ups[@]}" | median)
bare=$(printf '%s\n' "${bares[@]}" | median)
printf 'up -d to ready  %.3f s   bare QEMU, same argv, to "mvm: ready" %.3f s   (medians of %d, %s)\n' \
	"$up" "$bare" "$N" "$MVM_ACCEL"
printf 'median of the %d paired ratios (each up against the bare boot right after it): %s\n' "$N" \
	"$(printf '%s\n' "${pairs[@]}" | median)"
printf 'up -d outside the boot (wall minus the shim'"'"'s spawn-to-ready boot_ms): %.1f ms\n' \
	"$(printf '%s\n' "${own[@]}" | median)"
printf 'up%s: ratio %s (target <= 1.05)\n' "${BOUNDARY:+ with -e, --env-file, --secret, --secret-env}" \
	"$(ratio "$up" "$bare")"
