/* Snapshot mode (mvm.snapshot=1 on the kernel command line): the guest stops
 * after the generic setup, the host saves it, and every VM restored from that
 * snapshot is told who it is by an IDENTITY frame (docs/agent-protocol.md).
 * Only then does it do what a cold boot does from the command line: hostname,
 * network, data and secrets disks, services; first the clock and the random
 * pool, which a restored VM would otherwise share with every other copy of
 * the snapshot.
 *
 * A VM put to sleep and restored gets a WAKE instead: it is already somebody,
 * but its clock is behind, its random state was saved in a file, and its
 * secrets disk is a new file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "init.h"
#include "proto/agent.h"

/* <linux/random.h>, which musl-gcc does not ship. */
#ifndef RNDADDENTROPY
#define RNDADDENTROPY _IOW('R', 0x03, int[2])
#endif
#ifndef RNDRESEEDCRNG
#define RNDRESEEDCRNG _IO('R', 0x07)
#endif

static int set_clock(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u),
			      .tv_nsec = (long)(ns % 1000000000u)};
	return clock_settime(CLOCK_REALTIME, &ts) < 0 ? -errno : 0;
}

/* Mixes the seed into the input pool, credited in full, then makes the CRNG
 * reseed from the pool now instead of at its next scheduled reseed. */
static int reseed(const uint8_t *seed, uint32_t len)
{
	struct {
		int entropy_count; /* struct rand_pool_info */
		int buf_size;
		uint32_t buf[PROTO_SEED_MAX / 4 + 1];
	} info;
	if (len > PROTO_SEED_MAX)
		return -EINVAL;
	info.entropy_count = (int)(8 * len);
	info.buf_size = (int)len;
	memcpy(info.buf, seed, len);
	int r = 0;
	int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		r = -errno;
	else if (ioctl(fd, RNDADDENTROPY, &info) < 0 || ioctl(fd, RNDRESEEDCRNG) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	explicit_bzero(&info, sizeof(info));
	return r;
}

/* When the identity arrived and how long each part of applying it took
 * (microseconds), for identity_ready(); arrived == 0: no identity (yet). */
static struct {
	uint64_t arrived, identity, disks, data_mount;
} took;

void identity_apply(const struct proto_identity *id)
{
	took.arrived = now_us();
	int rc = set_clock(id->realtime_ns);
	if (rc < 0)
		log_msg("identity: setting the clock: %s", strerror(-rc));
	int rr = reseed(id->seed, id->seed_len);
	if (rr < 0)
		log_msg("identity: reseeding the random pool: %s", strerror(-rr));
	hostname_setup(id->hostname);
	network_setup(id->ip, id->gateway, id->dns);
	uint64_t t = now_us();
	took.identity = t - took.arrived;
	log_msg("identity applied: hostname %s, clock %s, random pool %s (%u bytes) in %.1f ms",
		id->hostname, rc < 0 ? "NOT set" : "set", rr < 0 ? "NOT reseeded" : "reseeded",
		id->seed_len, (double)took.identity / 1000);
	took.data_mount = mounts_data();
	mounts_secrets();
	took.disks = now_us() - t;
	services_start();
}

void identity_ready(void)
{
	if (!took.arrived)
		return;
	uint64_t all = now_us() - took.arrived;
	char mount[48] = "";
	if (took.data_mount)
		snprintf(mount, sizeof(mount), " (mount of /data %.1f ms)",
			 (double)took.data_mount / 1000);
	log_msg("ready %.1f ms after the identity: identity %.1f ms, disks %.1f ms%s, services "
		"%.1f ms",
		(double)all / 1000, (double)took.identity / 1000, (double)took.disks / 1000, mount,
		(double)(all - took.identity - took.disks) / 1000);
	took.arrived = 0; /* once: a WAKE's READY is not an identity's */
}

void wake_apply(const struct proto_identity *id)
{
	int rc = set_clock(id->realtime_ns);
	if (rc < 0)
		log_msg("wake: setting the clock: %s", strerror(-rc));
	int rr = reseed(id->seed, id->seed_len);
	if (rr < 0)
		log_msg("wake: reseeding the random pool: %s", strerror(-rr));
	if (*id->hostname)
		hostname_setup(id->hostname);
	log_msg("woken up: clock %s, random pool %s (%u bytes)", rc < 0 ? "NOT set" : "set",
		rr < 0 ? "NOT reseeded" : "reseeded", id->seed_len);
	mounts_secrets();
}
