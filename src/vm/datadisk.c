/* The per-VM data disk: $MVM_HOME/vms/<name>/data.ext4, made once per VM
 * name and kept across `down`/`up` until `rm NAME`. The guest finds it by its
 * ext4 label (VM_DATA_DISK_LABEL) and mounts it at /data. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/mkfs.h"
#include "core/util.h"
#include "shim/vmdir.h"
#include "vm/internal.h"

#define DATA_DISK_FILE "data.ext4"
/* What ext4 with 4 KiB blocks and the 64bit feature allows, and far beyond any typo'd size. */
#define DATA_DISK_MAX_MIB (UINT64_C(1) << 26) /* 64 TiB */

/* Removes what an interrupted creation left (".data.ext4.tmp-…"). The caller
 * holds the VM's lock, so nobody is making one right now. */
static void remove_leftovers(const char *name)
{
	_cleanup_free_ char *dir = vm_dir(name);
	DIR *d = opendir(dir);
	if (!d)
		return;
	const char prefix[] = "." DATA_DISK_FILE ".tmp-";
	struct dirent *de;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, prefix, sizeof(prefix) - 1))
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
}

/* A sparse file of mib MiB at tmp made into an empty ext4 file system. */
static int make_fs(const char *tmp, uint64_t mib, struct err *e)
{
	_cleanup_close_ int fd =
	    open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_sys(e, -errno, EXIT_FAILED, "creating '%s'", tmp);
	if (ftruncate(fd, (off_t)(mib << 20)) < 0)
		return err_sys(e, -errno, EXIT_FAILED, "sizing '%s' to %llu MiB", tmp,
			       (unsigned long long)mib);
	const char *argv[] = {"mkfs.ext4",	"-q", "-F", "-L", VM_DATA_DISK_LABEL, "-E",
			      "root_owner=0:0", tmp,  NULL};
	int r = mkfs_ext4_run(argv, e);
	if (r == 0 && fsync(fd) < 0)
		r = err_sys(e, -errno, EXIT_FAILED, "writing '%s'", tmp);
	return r;
}

int vm_data_disk_ensure(const char *name, uint64_t want_mib, char **path_out, uint64_t *mib_out,
			struct err *e)
{
	_cleanup_free_ char *path = vm_file(name, DATA_DISK_FILE);
	remove_leftovers(name);
	struct stat st;
	if (lstat(path, &st) == 0) {
		/* made by an earlier `up` of this name: its data stays, whatever size is asked now
		 */
		if (!S_ISREG(st.st_mode))
			return err_set(e, -EINVAL, EXIT_FAILED,
				       "data disk '%s' is not a regular file", path);
		*mib_out = (uint64_t)st.st_size >> 20;
		*path_out = TAKE_PTR(path);
		return 0;
	}
	if (errno != ENOENT)
		return err_sys(e, -errno, EXIT_FAILED, "data disk '%s'", path);
	if (want_mib == 0 || want_mib > DATA_DISK_MAX_MIB)
		return err_set(e, -EINVAL, EXIT_INVALID,
			       "data disk size %llu MiB is out of range (1 MiB to 64 TiB)",
			       (unsigned long long)want_mib);

	/* made under a temporary name and renamed into place: never a half-made data.ext4 */
	_cleanup_free_ char *tmp = fs_temp_beside(path);
	int r = make_fs(tmp, want_mib, e);
	if (r == 0 && rename(tmp, path) < 0)
		r = err_sys(e, -errno, EXIT_FAILED, "renaming '%s' to '%s'", tmp, path);
	if (r < 0) {
		unlink(tmp);
		return err_prefix(e, r, "creating the data disk '%s'", path);
	}
	_cleanup_free_ char *dir = vm_dir(name);
	fs_fsync_dir(dir);
	*mib_out = want_mib;
	*path_out = TAKE_PTR(path);
	return 0;
}
