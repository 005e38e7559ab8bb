#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "init.h"

#define ROOT_DEV     "/dev/vda"
#define ROOT_WAIT_MS 5000
/* The data and secrets disks are found by their ext4 labels (the host makes
 * them so), not by their places among the drives. */
#define DATA_LABEL	   "mvm-data"
#define SECRETS_LABEL	   "mvm-secrets"
#define SECRETS_DIR	   "/run/secrets"
#define BUILD_IN_LABEL	   "mvm-build-in"
#define EXT4_SB_OFFSET	   1024
#define EXT4_SB_MAGIC_OFF  56
#define EXT4_SB_MAGIC	   0xEF53
#define EXT4_SB_LABEL_OFF  120
#define EXT4_SB_LABEL_SIZE 16
/* <linux/fs.h>, which musl-gcc does not ship: drop a block device's cache. */
#ifndef BLKFLSBUF
#define BLKFLSBUF _IO(0x12, 97)
#endif

/* "/dev/" and a name from /sys/block */
#define DEV_PATH_SIZE (sizeof(((struct dirent *)0)->d_name) + 8)
/* The disks mounted on /data and /run/secrets ("" when none). */
static char data_dev[DEV_PATH_SIZE], secrets_dev[DEV_PATH_SIZE];

static void mkdirs(const char *path, mode_t mode)
{
	char buf[256];
	size_t n = strlen(path);
	if (n >= sizeof(buf))
		return;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(buf, 0755);
		*p = '/';
	}
	mkdir(buf, mode);
}

static int do_mount(const char *src, const char *dst, const char *type, unsigned long flags,
		    const char *data)
{
	mkdirs(dst, 0755);
	if (mount(src, dst, type, flags, data) < 0)
		return -errno;
	return 0;
}

static void must_mount(const char *src, const char *dst, const char *type, unsigned long flags,
		       const char *data)
{
	int r = do_mount(src, dst, type, flags, data);
	if (r < 0 && r != -EBUSY)
		fatal("mount %s on %s (%s): %s", src, dst, type, strerror(-r));
}

void mounts_early(void)
{
	must_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	must_mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	must_mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
}

static void wait_for(const char *dev)
{
	uint64_t deadline = now_ms() + ROOT_WAIT_MS;
	while (access(dev, F_OK) < 0) {
		if (now_ms() > deadline)
			fatal("no root disk %s (is a virtio-blk device attached?)", dev);
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

static void move_into(const char *what, const char *newroot)
{
	char dst[128];
	snprintf(dst, sizeof(dst), "%s%s", newroot, what);
	mkdirs(dst, 0755);
	if (mount(what, dst, NULL, MS_MOVE, NULL) < 0)
		fatal("moving %s into the new root: %s", what, strerror(errno));
}

void mounts_switch_root(void)
{
	wait_for(ROOT_DEV);
	int r = do_mount(ROOT_DEV, "/mnt/lower", "ext4", MS_RDONLY | MS_NODEV, NULL);
	if (r < 0)
		fatal("mounting root disk %s (ext4, read-only): %s", ROOT_DEV, strerror(-r));
	must_mount("tmpfs", "/mnt/rw", "tmpfs", MS_NODEV, "mode=0755");
	mkdirs("/mnt/rw/upper", 0755);
	mkdirs("/mnt/rw/work", 0755);
	r = do_mount("overlay", "/newroot", "overlay", 0,
		     "lowerdir=/mnt/lower,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work");
	if (r < 0)
		fatal("mounting the overlay root: %s", strerror(-r));

	/* /run first: the lower and upper layers move under /run/mvm. */
	must_mount("tmpfs", "/newroot/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
	move_into("/proc", "/newroot");
	move_into("/sys", "/newroot");
	move_into("/dev", "/newroot");
	mkdirs("/newroot/run/mvm/lower", 0755);
	mkdirs("/newroot/run/mvm/rw", 0755);
	if (mount("/mnt/lower", "/newroot/run/mvm/lower", NULL, MS_MOVE, NULL) < 0 ||
	    mount("/mnt/rw", "/newroot/run/mvm/rw", NULL, MS_MOVE, NULL) < 0)
		log_msg("moving the overlay layers under /run/mvm: %s", strerror(errno));

	if (chdir("/newroot") < 0)
		fatal("chdir /newroot: %s", strerror(errno));
	if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
		fatal("moving the new root onto /: %s", strerror(errno));
	if (chroot(".") < 0)
		fatal("chroot: %s", strerror(errno));
	if (chdir("/") < 0)
		fatal("chdir /: %s", strerror(errno));
}

/* True when dev holds an ext2/3/4 file system whose volume label is label. */
static bool ext4_labelled(const char *dev, const char *label)
{
	unsigned char sb[EXT4_SB_LABEL_OFF + EXT4_SB_LABEL_SIZE];
	int fd = open(dev, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return false;
	ssize_t n = pread(fd, sb, sizeof(sb), EXT4_SB_OFFSET);
	close(fd);
	if (n != (ssize_t)sizeof(sb))
		return false;
	unsigned magic = sb[EXT4_SB_MAGIC_OFF] | (unsigned)sb[EXT4_SB_MAGIC_OFF + 1] << 8;
	if (magic != EXT4_SB_MAGIC)
		return false;
	char name[EXT4_SB_LABEL_SIZE + 1];
	memcpy(name, sb + EXT4_SB_LABEL_OFF, EXT4_SB_LABEL_SIZE);
	name[EXT4_SB_LABEL_SIZE] = '\0';
	return strcmp(name, label) == 0;
}

static int virtio_disk(const struct dirent *de)
{
	return strncmp(de->d_name, "vd", 2) == 0;
}

/* The virtio disks other than root, in name order. The set is part of a
 * snapshot's recorded device layout, so it is read once, before a snapshot is
 * taken: a restored guest does not walk sysfs again. What is on each disk is
 * read anew every time (a restored VM's disks are not the snapshot's). */
#define MAX_DISKS 16
static char disks[MAX_DISKS][DEV_PATH_SIZE];
static int ndisks = -1;

void mounts_scan_disks(void)
{
	struct dirent **names = NULL;
	int n = scandir("/sys/block", &names, virtio_disk, alphasort);
	ndisks = 0;
	for (int i = 0; i < n; i++) {
		char dev[DEV_PATH_SIZE];
		snprintf(dev, sizeof(dev), "/dev/%s", names[i]->d_name);
		free(names[i]);
		if (strcmp(dev, ROOT_DEV) && ndisks < MAX_DISKS)
			memcpy(disks[ndisks++], dev, sizeof(dev));
	}
	free(names);
}

/* Writes back and drops what the kernel caches of dev. A VM restored from a
 * snapshot may have a different disk behind a device than the one the
 * snapshot saw (a placeholder stood where the data disk is now): nothing read
 * before the restore may be trusted. */
static void flush_blockdev(const char *dev)
{
	int fd = open(dev, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return;
	if (ioctl(fd, BLKFLSBUF, 0) < 0)
		log_msg("dropping the cache of %s: %s", dev, strerror(errno));
	close(fd);
}

/* Mounts the disk labelled DATA_LABEL at /data (the first, in name order, when
 * there are several). */
uint64_t mounts_data(void)
{
	if (ndisks < 0)
		mounts_scan_disks();
	bool mounted = false;
	uint64_t took = 0;
	for (int i = 0; i < ndisks; i++) {
		const char *dev = disks[i];
		flush_blockdev(dev);
		if (!ext4_labelled(dev, DATA_LABEL))
			continue;
		if (mounted) {
			log_msg("ignoring %s: another disk labelled %s is mounted on /data", dev,
				DATA_LABEL);
			continue;
		}
		uint64_t t0 = now_us();
		int r = do_mount(dev, "/data", "ext4", MS_NODEV, NULL);
		if (r < 0) {
			log_msg("mounting data disk %s (%s) on /data: %s", dev, DATA_LABEL,
				strerror(-r));
			continue;
		}
		took = now_us() - t0;
		log_msg("data disk %s (%s) mounted on /data in %.1f ms", dev, DATA_LABEL,
			(double)took / 1000);
		mounted = true;
		memcpy(data_dev, dev, sizeof(data_dev));
	}
	return took;
}

/* True when nothing holds dev exclusively: no file system lives on it. A
 * file system unmounted with MNT_DETACH lives on while files in it are open,
 * and mounting dev again would then share its superblock and caches instead of
 * reading the disk. */
static bool blockdev_free(const char *dev)
{
	int fd = open(dev, O_RDONLY | O_EXCL | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errno != EBUSY;
	close(fd);
	return true;
}

/* Mounts the disk labelled SECRETS_LABEL read-only on /run/secrets (0700),
 * after unmounting what was there. Every candidate's cache is dropped before
 * its label is read: after a wake the device is backed by a fresh file, and
 * nothing the guest cached of the old one may survive. */
void mounts_secrets(void)
{
	if (secrets_dev[0]) {
		if (umount2(SECRETS_DIR, MNT_DETACH) < 0 && errno != EINVAL)
			log_msg("unmounting %s: %s", SECRETS_DIR, strerror(errno));
		secrets_dev[0] = '\0';
	}
	if (ndisks < 0)
		mounts_scan_disks();
	for (int i = 0; i < ndisks; i++) {
		const char *dev = disks[i];
		if (!strcmp(dev, data_dev))
			continue;
		flush_blockdev(dev);
		if (!ext4_labelled(dev, SECRETS_LABEL))
			continue;
		if (secrets_dev[0]) {
			log_msg("ignoring %s: another disk labelled %s is mounted on %s", dev,
				SECRETS_LABEL, SECRETS_DIR);
			continue;
		}
		if (!blockdev_free(dev)) {
			log_msg("secrets disk %s (%s) not mounted: its previous mount is still in "
				"use (files under %s left open)",
				dev, SECRETS_LABEL, SECRETS_DIR);
			continue;
		}
		if ((mkdir(SECRETS_DIR, 0700) < 0 && errno != EEXIST) ||
		    chown(SECRETS_DIR, 0, 0) < 0 || chmod(SECRETS_DIR, 0700) < 0) {
			log_msg("creating %s: %s", SECRETS_DIR, strerror(errno));
			continue;
		}
		int r = do_mount(dev, SECRETS_DIR, "ext4",
				 MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
		if (r < 0) {
			log_msg("mounting secrets disk %s (%s) on %s: %s", dev, SECRETS_LABEL,
				SECRETS_DIR, strerror(-r));
			continue;
		}
		log_msg("secrets disk %s (%s) mounted read-only at %s", dev, SECRETS_LABEL,
			SECRETS_DIR);
		memcpy(secrets_dev, dev, sizeof(secrets_dev));
	}
}

void mounts_builder(void)
{
	if (ndisks < 0)
		mounts_scan_disks();
	bool in = false;
	for (int i = 0; i < ndisks && !in; i++) {
		if (!strcmp(disks[i], data_dev) || !ext4_labelled(disks[i], BUILD_IN_LABEL))
			continue;
		int r = do_mount(disks[i], "/in", "ext4", MS_RDONLY | MS_NOSUID | MS_NODEV, NULL);
		if (r < 0)
			log_msg("mounting the build's inputs %s (%s) on /in: %s", disks[i],
				BUILD_IN_LABEL, strerror(-r));
		else
			log_msg("build inputs %s (%s) mounted read-only on /in", disks[i],
				BUILD_IN_LABEL);
		in = r == 0;
	}
	if (!in)
		log_msg("builder: no disk labelled %s was mounted on /in", BUILD_IN_LABEL);
	if (!data_dev[0]) {
		log_msg("builder: no store disk (%s) on /data, /nix stays empty", DATA_LABEL);
		return;
	}
	mkdirs("/data/nix", 0755);
	int r = do_mount("/data/nix", "/nix", NULL, MS_BIND, NULL);
	if (r < 0)
		log_msg("binding /data/nix on /nix: %s", strerror(-r));
	else
		log_msg("builder: /data/nix bound on /nix");
}

void mounts_late(void)
{
	must_mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	int r = do_mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
			 "gid=5,mode=0620,ptmxmode=0666");
	if (r < 0 && r != -EBUSY)
		log_msg("mounting /dev/pts: %s", strerror(-r));
	if (access("/dev/ptmx", F_OK) < 0)
		symlink("pts/ptmx", "/dev/ptmx");
	r = do_mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	if (r < 0 && r != -EBUSY)
		log_msg("mounting /dev/shm: %s", strerror(-r));
	symlink("/proc/self/fd", "/dev/fd");
	symlink("/proc/self/fd/0", "/dev/stdin");
	symlink("/proc/self/fd/1", "/dev/stdout");
	symlink("/proc/self/fd/2", "/dev/stderr");
	mkdirs("/var/tmp", 01777);
	mkdirs("/var/log", 0755);
	mkdirs("/root", 0700);
}

void mounts_shutdown(void)
{
	sync();
	umount2(SECRETS_DIR, 0);
	umount2("/nix", 0); /* a builder's (mounts_builder) */
	umount2("/in", 0);
	umount2("/data", 0);
	sync();
}
