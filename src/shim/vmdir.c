#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/jsonio.h"
#include "core/paths.h"
#include "core/rstore.h"
#include "core/util.h"
#include "shim/vmdir.h"

#define RM_PREFIX ".rm-"
/* A hidden directory untouched this long is the leftover of an interrupted removal. */
#define RM_STALE_S 60

/* "<tenant>/<pool>/<id>": a fleet instance, whose VM lives in the
 * instance's own directory (fleet/fleet.h). */
static bool is_instance_ref(const char *name)
{
	return strchr(name, '/') != NULL;
}

char *vm_dir(const char *name)
{
	if (is_instance_ref(name)) {
		const char *id = strrchr(name, '/');
		return xasprintf("%s/pools/%.*s/instances/%s", paths_home(), (int)(id - name), name,
				 id + 1);
	}
	return xasprintf("%s/vms/%s", paths_home(), name);
}

char *vm_file(const char *name, const char *file)
{
	_cleanup_free_ char *d = vm_dir(name);
	return xasprintf("%s/%s", d, file);
}

const char *vm_hostname(const char *name)
{
	const char *id = strrchr(name, '/');
	return id ? id + 1 : name;
}

int vm_record_write(const char *name, json_t *rec, struct err *e)
{
	_cleanup_free_ char *path = vm_file(name, "vm.json");
	return json_write_file(path, rec, e);
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
