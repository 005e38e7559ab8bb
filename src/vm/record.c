/* VM names, and the records of the VMs that exist with their liveness
 * checked: a record whose supervisor is gone is repaired on the way. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "core/jsonio.h"
#include "core/paths.h"
#include "core/spawn.h"
#include "core/strvec.h"
#include "core/util.h"
#include "core/strbuf.h"
#include "shim/vmdir.h"
#include "vm/vm.h"

static bool plain_name_valid(const char *name, size_t n);

bool vm_name_valid(const char *name)
{
	return plain_name_valid(name, strlen(name));
}

int vm_name_refuse(const char *name, struct err *e)
{
	_cleanup_free_ char *shown = str_shown(name, 64);
	return err_set(e, -EINVAL, EXIT_USAGE,
		       "'%s' is not a valid VM name (1-63 letters, digits, '-' and '.', starting "
		       "with a letter or digit)",
		       shown);
}

bool vm_ref_valid(const char *ref)
{
	size_t parts = 0;
	for (const char *p = ref;; parts++) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (!plain_name_valid(p, n) || parts == 3)
			return false;
		if (!slash)
			return parts == 0 || parts == 2;
		p = slash + 1;
	}
}

static bool plain_name_valid(const char *name, size_t n)
{
	if (!n || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool alnum =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '-' && c != '.')))
			return false;
	}
	return true;
}

bool vm_record_alive(const json_t *rec)
{
	const char *st = json_get_str(rec, "state");
	return st && strcmp(st, "exited") != 0;
}

/* --- liveness ---------------------------------------------------------------- */

bool vm_supervised(const char *name)
{
	if (!vm_ref_valid(name))
		return false;
	_cleanup_free_ char *lockp = vm_file(name, "shim.lock");
	if (!fs_exists(lockp))
		return false;
	struct fs_lock lk = FS_LOCK_INIT;
	struct err ig = ERR_INIT;
	int r = fs_lock_take(&lk, lockp, false, &ig);
	err_release(&ig);
	fs_lock_release(&lk);
	return r == -EWOULDBLOCK;
}

/* Turns a record whose shim is gone into `exited`. Called with nothing held. */
static int reconcile(const char *name, json_t **recp, struct err *e)
{
	json_t *rec = *recp;
	if (!vm_record_alive(rec))
		return 0;
	_cleanup_free_ char *lockp = vm_file(name, "shim.lock");
	struct fs_lock lk = FS_LOCK_INIT;
	int r = fs_lock_take(&lk, lockp, false, e);
	if (r == -EWOULDBLOCK)
		return 0; /* the shim (or an `up` starting it) holds it: alive */
	if (r < 0)
		return r;
	/* Nobody supervises it. Re-read under the lock: it may have just exited cleanly. */
	json_t *fresh = NULL;
	_cleanup_free_ char *recp_path = vm_file(name, "vm.json");
	struct err rerr = ERR_INIT;
	if (json_read_file(recp_path, &fresh, &rerr) == 0) {
		json_decref(rec);
		*recp = rec = fresh;
	}
	err_release(&rerr);
	if (vm_record_alive(rec)) {
		pid_t shim = (pid_t)json_get_int(rec, "shim_pid", 0);
		pid_t vmm = (pid_t)json_get_int(rec, "vmm_pid", 0);
		unsigned long long vst = (unsigned long long)json_get_int(rec, "vmm_start", 0);
		struct strbuf why = STRBUF_INIT;
		if (shim > 0)
			strbuf_addf(&why, "the supervisor (pid %d) died", (int)shim);
		else
			strbuf_addstr(&why, "the start was interrupted");
		if (vmm > 0 && vst && proc_starttime(vmm) == vst) {
			kill(vmm, SIGKILL);
			strbuf_addf(&why, "; its VMM (pid %d) was killed", (int)vmm);
		}
		_cleanup_free_ char *now = json_now_rfc3339();
		json_object_set_new(rec, "state", json_string("exited"));
		json_object_set_new(rec, "exit_reason", json_string(why.buf));
		json_object_set_new(rec, "exited_at", json_string(now));
		strbuf_release(&why);
		r = vm_record_write(name, rec, e);
		const char *run = json_get_str(rec, "run_dir");
		if (run) {
			struct err ig = ERR_INIT;
			fs_rm_rf(run, &ig);
			err_release(&ig);
		}
		if (json_is_true(json_object_get(rec, "ephemeral"))) {
			/* an ephemeral VM leaves no trace, even when its supervisor was killed */
			struct err ig = ERR_INIT;
			vm_dir_discard(name, &ig);
			err_release(&ig);
			fs_lock_release(&lk);
			return err_set(e, -ENOENT, EXIT_NOTFOUND, "no VM named '%s'", name);
		}
	}
	fs_lock_release(&lk);
	return r < 0 ? r : 0;
}

int vm_get(const char *name, json_t **out, struct err *e)
{
	if (!vm_ref_valid(name))
		return err_set(e, -EINVAL, EXIT_NOTFOUND, "no VM named '%s'", name);
	_cleanup_free_ char *path = vm_file(name, "vm.json");
	json_t *rec = NULL;
	struct err rerr = ERR_INIT;
	int r = json_read_file(path, &rec, &rerr);
	if (r < 0) {
		if (rerr.exit == EXIT_NOTFOUND) {
			err_release(&rerr);
			r = err_set(e, -ENOENT, EXIT_NOTFOUND, "no VM named '%s'", name);
			err_hint(e, "mvmctl ls -a");
			return r;
		}
		err_set(e, r, rerr.exit, "%s", rerr.msg);
		err_release(&rerr);
		return r;
	}
	r = reconcile(name, &rec, e);
	if (r < 0) {
		json_decref(rec);
		return r;
	}
	*out = rec;
	return 0;
}

/* vm_get, and for a record that cannot be read while a supervisor holds the
 * VM's lock (a VM that runs), a stand-in from its spec.json: name, state
 * "unknown", the reason, and what reaches the supervisor (run_dir), so that
 * `ls` shows the VM and `down` can stop it (its supervisor then writes a
 * whole record again). */
int vm_get_any(const char *name, json_t **out, struct err *e)
{
	struct err ge = ERR_INIT;
	int r = vm_get(name, out, &ge);
	if (r == 0 || ge.exit == EXIT_NOTFOUND || !vm_supervised(name)) {
		if (r < 0) {
			*e = ge; /* the caller's, now */
			return r;
		}
		err_release(&ge);
		return r;
	}
	_cleanup_free_ char *specp = vm_file(name, "spec.json");
	json_t *spec = NULL;
	struct err se = ERR_INIT;
	json_read_file(specp, &spec, &se); /* without it: no run_dir, down says so */
	err_release(&se);
	json_t *rec = json_pack("{s:i, s:s, s:s, s:s}", "schema_version", 1, "name", name, "state",
				"unknown", "record_error", ge.msg ? ge.msg : "unreadable");
	const char *keys[] = {"backend", "vcpus", "mem_mib", "run_dir"};
	for (size_t i = 0; spec && i < ARRAY_SIZE(keys); i++) {
		json_t *v = json_object_get(spec, keys[i]);
		if (v)
			json_object_set(rec, keys[i], v);
	}
	if (!json_object_get(rec, "backend"))
		json_object_set_new(rec, "backend", json_string("-"));
	json_decref(spec);
	err_release(&ge);
	*out = rec;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names under vms/ that are valid, sorted (no record read). */
static int dir_names(struct strvec *names, struct err *e)
{
	_cleanup_free_ char *dir = xasprintf("%s/vms", paths_home());
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : err_sys(e, -errno, EXIT_FAILED, "opening '%s'", dir);
	size_t first = names->n;
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && vm_name_valid(de->d_name))
			strvec_push(names, de->d_name);
	closedir(d);
	if (names->n > first)
		qsort(names->v + first, names->n - first, sizeof(char *), cmp_names);
	return 0;
}

int vm_list(json_t **records, struct err *e)
{
	*records = json_array();
	struct strvec names = STRVEC_INIT;
	int r = dir_names(&names, e);
	for (size_t i = 0; r == 0 && i < names.n; i++) {
		json_t *rec = NULL;
		struct err ge = ERR_INIT;
		if (vm_get_any(names.v[i], &rec, &ge) == 0)
			json_array_append_new(*records, rec);
		err_release(&ge); /* a directory without a record (being made) is not listed */
	}
	strvec_clear(&names);
	return r;
}

int vm_names(struct strvec *names, bool alive_only, struct err *e)
{
	struct strvec all = STRVEC_INIT;
	int r = dir_names(&all, e);
	for (size_t i = 0; r == 0 && i < all.n; i++) {
		_cleanup_free_ char *path = vm_file(all.v[i], "vm.json");
		if (!alive_only) {
			if (fs_is_file(path))
				strvec_push(names, all.v[i]);
			continue;
		}
		json_t *rec = NULL;
		struct err ig = ERR_INIT;
		if (json_read_file(path, &rec, &ig) == 0 && vm_record_alive(rec))
			strvec_push(names, all.v[i]);
		json_decref(rec);
		err_release(&ig);
	}
	strvec_clear(&all);
	return r;
}
