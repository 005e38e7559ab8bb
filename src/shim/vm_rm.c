/* Removing VMs: the whole vms/<name>/ directory (record, logs, data disk)
 * goes in one rename to a hidden name, then is deleted. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/paths.h"
#include "core/rstore.h"
#include "core/util.h"
#include "shim/internal.h"
#include "shim/vm.h"

#define RM_PREFIX ".rm-"
/* A hidden directory untouched this long is the leftover of an interrupted removal. */
#define RM_STALE_S 60

bool vm_exists(const char *name)
{
	if (!vm_name_valid(name))
		return false;
	_cleanup_free_ char *rec = vm_file(name, "vm.json");
	return fs_is_file(rec);
}

static int refuse_alive(const char *name, struct err *e)
{
	int r = err_set(e, -EBUSY, EXIT_REFUSED, "VM '%s' is running", name);
	err_hint(e, "mvmctl down %s, or mvmctl rm --force %s", name, name);
	return r;
}

/* Deletes what interrupted removals left in vms/ (errors ignored: best effort). */
static void sweep_leftovers(const char *vms)
{
	DIR *d = opendir(vms);
	if (!d)
		return;
	time_t now = time(NULL);
	struct dirent *de;
	while ((de = readdir(d))) {
		struct stat st;
		if (strncmp(de->d_name, RM_PREFIX, strlen(RM_PREFIX)) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode) || now - st.st_ctime < RM_STALE_S)
			continue;
		_cleanup_free_ char *p = fs_join(vms, de->d_name);
		struct err ig = ERR_INIT;
		fs_rm_rf(p, &ig);
		err_release(&ig);
	}
	closedir(d);
}

int vm_remove(const char *name, bool force, bool *was_running, struct err *e)
{
	*was_running = false;
	json_t *rec = NULL;
	int r = vm_get(name, &rec, e);
	if (r < 0)
		return r;
	bool alive = vm_record_alive(rec);
	json_decref(rec);
	if (alive) {
		if (!force)
			return refuse_alive(name, e);
		if ((r = vm_stop(name, was_running, e)) < 0)
			return err_prefix(e, r, "removing VM '%s'", name);
	}

	/* Under the VM's lock nobody starts it while it goes; a holder means it
	 * was started again in the meantime (or is being started). */
	_cleanup_free_ char *lockp = vm_file(name, "shim.lock");
	struct fs_lock lk = FS_LOCK_INIT;
	r = fs_lock_take(&lk, lockp, false, e);
	if (r == -EWOULDBLOCK)
		return refuse_alive(name, e);
	if (r < 0)
		return err_prefix(e, r, "removing VM '%s'", name);
	r = vm_dir_discard(name, e);
	fs_lock_release(&lk); /* the lock file went with the directory */
	return r;
}

int vm_dir_discard(const char *name, struct err *e)
{
	_cleanup_free_ char *dir = vm_dir(name);
	if (strchr(name, '/')) /* a fleet instance: out of its pool in one rename */
		return rstore_remove_tree(dir, "instance", e);
	_cleanup_free_ char *vms = xasprintf("%s/vms", paths_home());
	unsigned char rnd[6] = {0};
	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
		memcpy(rnd, &(pid_t){getpid()}, sizeof(pid_t));
	_cleanup_free_ char *aside =
	    xasprintf("%s/" RM_PREFIX "%s-%02x%02x%02x%02x%02x%02x", vms, name, rnd[0], rnd[1],
		      rnd[2], rnd[3], rnd[4], rnd[5]);
	if (rename(dir, aside) < 0)
		return err_sys(e, -errno, EXIT_FAILED, "removing VM '%s': renaming '%s'", name,
			       dir);
	fs_fsync_dir(vms);
	int r = fs_rm_rf(aside, e);
	if (r < 0)
		return err_prefix(e, r, "VM '%s' was moved to '%s' but not fully deleted", name,
				  aside);
	sweep_leftovers(vms);
	return 0;
}
