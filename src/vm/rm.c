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
#include "shim/vmdir.h"
#include "vm/internal.h"
#include "vm/vm.h"

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

int vm_remove(const char *name, bool force, bool *was_running, struct err *e)
{
	*was_running = false;
	json_t *rec = NULL;
	int r = vm_get_any(name, &rec, e);
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
