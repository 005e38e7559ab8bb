/* Starting a VM under a new supervisor, step by step (vm_start, at the end
 * of this file): check what it boots, claim its name, prepare its runtime
 * directory and disks, choose a restore or a cold boot and write the spec
 * the supervisor starts from, write the first record, spawn the supervisor,
 * and wait for it to report. A failed step undoes what the earlier ones made
 * (start_undo): nothing runs, and the record says why, or there is none. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "build/kernel.h"
#include "core/clock.h"
#include "core/fs.h"
#include "core/jsonio.h"
#include "core/paths.h"
#include "core/spawn.h"
#include "core/strvec.h"
#include "core/util.h"
#include "shim/ctl.h"
#include "shim/vmdir.h"
#include "vm/internal.h"
#include "vm/vm.h"
#include "vmm/snapshot.h"

static char *self_exe(void)
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	return xstrdup(buf);
}

/* A private directory (0700, ours, not a symlink). */
static int private_dir(const char *path, struct err *e)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return err_sys(e, -errno, EXIT_FAILED, "creating '%s'", path);
	struct stat st;
	if (lstat(path, &st) < 0)
		return err_sys(e, -errno, EXIT_FAILED, "'%s'", path);
	if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077))
		return err_set(e, -EPERM, EXIT_FAILED,
			       "'%s' is not a private directory of this user (0700)", path);
	return 0;
}

/* A short runtime directory for the control socket (sun_path is 108 bytes). */
static int make_run_dir(char **out, struct err *e)
{
	char id[13];
	random_hex(id, 12);
	size_t need = strlen("/") + strlen(id) + strlen("/" SHIM_CTL_NAME) + 1;
	struct sockaddr_un sa;
	_cleanup_free_ char *home_run = xasprintf("%s/run", paths_home());
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	_cleanup_free_ char *xdg_run = xdg && *xdg == '/' ? xasprintf("%s/mvm", xdg) : NULL;
	_cleanup_free_ char *tmp_run = xasprintf("/tmp/mvm-%u", (unsigned)getuid());
	const char *cands[] = {home_run, xdg_run, tmp_run};
	for (size_t i = 0; i < ARRAY_SIZE(cands); i++) {
		if (!cands[i] || strlen(cands[i]) + need > sizeof(sa.sun_path))
			continue;
		int r = private_dir(cands[i], e);
		if (r < 0)
			return r;
		char *dir = xasprintf("%s/%s", cands[i], id);
		r = private_dir(dir, e);
		if (r < 0) {
			free(dir);
			return r;
		}
		*out = dir;
		return 0;
	}
	return err_set(e, -ENAMETOOLONG, EXIT_FAILED,
		       "no runtime directory short enough for a socket path (MVM_HOME '%s')",
		       paths_home());
}

static int check_file(const char *what, const char *path, struct err *e)
{
	if (!path)
		return err_set(e, -EINVAL, EXIT_FAILED, "no %s given", what);
	if (path[0] != '/')
		return err_set(e, -EINVAL, EXIT_FAILED, "%s '%s' is not an absolute path", what,
			       path);
	if (!fs_is_file(path)) {
		int r = err_set(e, -ENOENT, EXIT_NOTFOUND, "%s '%s' does not exist", what, path);
		err_hint(e, "mvmctl build");
		return r;
	}
	return 0;
}

static json_t *ports_json(const struct vmm_port *ports, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		struct strbuf sb = STRBUF_INIT;
		vmm_port_format(&ports[i], &sb);
		json_array_append_new(a, json_string(sb.buf));
		strbuf_release(&sb);
	}
	return a;
}

static int pick_name(const struct vm_spec *spec, char **out, struct err *e)
{
	if (spec->name) {
		if (!vm_ref_valid(spec->name))
			return vm_name_refuse(spec->name, e);
		*out = xstrdup(spec->name);
		return 0;
	}
	const char *base =
	    spec->name_base && vm_name_valid(spec->name_base) ? spec->name_base : "vm";
	for (int i = 0; i < 100; i++) {
		char hex[5];
		random_hex(hex, 4);
		char *name = xasprintf("%.*s-%s", 58, base, hex);
		_cleanup_free_ char *dir = vm_dir(name);
		if (!fs_exists(dir)) {
			*out = name;
			return 0;
		}
		free(name);
	}
	return err_set(e, -EEXIST, EXIT_FAILED, "cannot find a free VM name for '%s'", base);
}

void vm_started_release(struct vm_started *s)
{
	closep(&s->owner_fd);
	strvec_clear(&s->warnings);
	free(s->name);
	vmm_accel_choice_release(&s->accel);
	*s = (struct vm_started)VM_STARTED_INIT;
}

/* What one start has made so far. */
struct start {
	const struct vm_spec *spec;
	struct vm_started *out;
	const struct vmm_backend *b;
	char *name, *dir, *run_dir;
	struct fs_lock lk; /* vms/<name>/shim.lock until the supervisor holds it */
	bool fresh_dir, recorded, spawned;
	char *data_disk, *secrets_disk;
	uint64_t data_disk_mib;
	json_t *spec_json, *rec;
	int notify_fd; /* the read end of the supervisor's notify pipe */
};

/* 1. The backend runs here, and every file the VM boots from exists. */
static int check_inputs(struct start *st, struct err *e)
{
	const struct vm_spec *spec = st->spec;
	const char *bname = spec->backend ? spec->backend : vmm_backend_default();
	st->b = vmm_backend_find(bname);
	if (!st->b)
		return err_set(e, -ENOENT, EXIT_NOTREADY, "unknown VMM backend '%s'", bname);
	struct strbuf why = STRBUF_INIT;
	if (st->b->available && !st->b->available(&why)) {
		int r = err_set(e, -ENOENT, EXIT_NOTREADY, "the %s backend cannot run here: %s",
				st->b->name, why.buf);
		err_hint(e, "mvmctl doctor");
		strbuf_release(&why);
		return r;
	}
	strbuf_release(&why);
	int r;
	if ((r = check_file("kernel", spec->kernel, e)) < 0 ||
	    (spec->initrd && (r = check_file("initrd", spec->initrd, e)) < 0) ||
	    (r = check_file("root image", spec->rootfs, e)) < 0)
		return r;
	for (size_t i = 0; i < spec->n_drives; i++)
		if ((r = check_file("drive", spec->drives[i].path, e)) < 0)
			return r;
	return vm_secrets_check(spec->secrets, spec->n_secrets, e);
}

/* 2. The name, its directory, and its lock: a held lock is a live VM. */
static int claim_name(struct start *st, struct err *e)
{
	int r;
	if ((r = pick_name(st->spec, &st->name, e)) < 0 || (r = paths_ensure_home(e)) < 0)
		return r;
	st->dir = vm_dir(st->name);
	st->fresh_dir = !fs_exists(st->dir);
	if ((r = fs_mkdir_p(st->dir, 0700, e)) < 0)
		return r;
	_cleanup_free_ char *lockp = vm_file(st->name, "shim.lock");
	r = fs_lock_take(&st->lk, lockp, false, e);
	if (r == -EWOULDBLOCK) {
		r = err_set(e, -EEXIST, EXIT_REFUSED, "VM '%s' is already running", st->name);
		err_hint(e, "mvmctl down %s, or choose another --name", st->name);
	}
	return r;
}

/* 3. Host ports free, the accelerator chosen, the runtime directory made,
 * the data disk made (once per name, under the lock: it outlives down/up). */
static int prepare(struct start *st, struct err *e)
{
	const struct vm_spec *spec = st->spec;
	int r;
	for (size_t i = 0; i < spec->n_ports; i++)
		if ((r = vmm_port_check_free(&spec->ports[i], e)) < 0)
			return r;
	if (spec->accel == VMM_ACCEL_AUTO) {
		if ((r = vmm_accel_resolve(st->b, spec->kernel, &st->out->accel, e)) < 0)
			return r;
	} else {
		st->out->accel.accel = spec->accel;
		st->out->accel.source = xstrdup("caller");
		st->out->accel.reason =
		    xasprintf("accel '%s' asked for", vmm_accel_name(spec->accel));
	}
	if ((r = make_run_dir(&st->run_dir, e)) < 0)
		return r;
	if (spec->data_disk_mib) {
		r = vm_data_disk_ensure(st->name, spec->data_disk_mib, &st->data_disk,
					&st->data_disk_mib, e);
		if (r < 0)
			return err_prefix(e, r, "VM '%s'", st->name);
	}
	if (spec->n_secrets)
		r = vm_secrets_disk_make(st->name, spec->secrets, spec->n_secrets,
					 &st->secrets_disk, e);
	else if (spec->snapshot_dir && spec->snapshot_secrets_slot)
		r = vm_secrets_slot_make(st->name, &st->secrets_disk, e);
	return r;
}

/* 4. Restore or cold boot: the snapshot is used only when the data disk it
 * was taken with is the VM's. */
static void choose_boot(struct start *st)
{
	const struct vm_spec *spec = st->spec;
	if (!spec->snapshot_dir)
		return;
	if (spec->snapshot_data_disk_mib != st->data_disk_mib) {
		strvec_pushf(&st->out->warnings,
			     "snapshot taken with a %lluM data disk; VM '%s' has %lluM: cold boot",
			     (unsigned long long)spec->snapshot_data_disk_mib, st->name,
			     (unsigned long long)st->data_disk_mib);
	} else if (spec->mem_file) {
		/* the caller put the snapshot's RAM into the VM's own file */
		json_object_set_new(st->spec_json, "restore",
				    json_pack("{s:s, s:s, s:b, s:b}", "dir", spec->snapshot_dir,
					      "mem_file", spec->mem_file, "shared", 1, "wake",
					      spec->wake));
	} else {
		json_object_set_new(st->spec_json, "restore",
				    json_pack("{s:s, s:s+}", "dir", spec->snapshot_dir, "mem_file",
					      spec->snapshot_dir, "/" SNAPSHOT_MEM));
	}
}

static unsigned spec_vcpus(const struct vm_spec *spec)
{
	return spec->vcpus ? spec->vcpus : VM_DEFAULT_VCPUS;
}

static uint64_t spec_mem(const struct vm_spec *spec)
{
	return spec->mem_mib ? spec->mem_mib : VM_DEFAULT_MEM_MIB;
}

/* 5. spec.json: everything the supervisor starts the VM from. */
static int write_spec(struct start *st, struct err *e)
{
	const struct vm_spec *spec = st->spec;
	bool tcg = st->out->accel.accel == VMM_ACCEL_TCG;
	bool parked = spec->env && spec->env[0];
	struct strbuf extra = STRBUF_INIT, cmdline = STRBUF_INIT;
	if (spec->cmdline_extra)
		strbuf_addstr(&extra, spec->cmdline_extra);
	if (parked) /* the guest waits for ENV and IDENTITY before its services */
		strbuf_addf(&extra, "%smvm.snapshot=1", extra.len ? " " : "");
	int r = kernel_cmdline(&cmdline, tcg, vm_hostname(st->name), extra.len ? extra.buf : NULL);
	strbuf_release(&extra);
	if (r < 0) {
		strbuf_release(&cmdline);
		return err_set(e, r, EXIT_FAILED, "cannot build the kernel command line for '%s'",
			       st->name);
	}
	json_t *drives = json_array();
	if (st->secrets_disk) /* where a snapshot's secrets slot is: before the data disk */
		json_array_append_new(
		    drives, json_pack("{s:s, s:b}", "path", st->secrets_disk, "read_only", 1));
	for (size_t i = 0; i < spec->n_drives; i++)
		json_array_append_new(drives, json_pack("{s:s, s:b}", "path", spec->drives[i].path,
							"read_only", spec->drives[i].read_only));
	if (st->data_disk)
		json_array_append_new(
		    drives, json_pack("{s:s, s:b}", "path", st->data_disk, "read_only", 0));
	st->spec_json =
	    json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:o, s:i, s:I, s:o, s:s, s:i, s:b, s:s}",
		      "schema_version", 1, "name", st->name, "backend", st->b->name, "accel",
		      vmm_accel_name(st->out->accel.accel), "kernel", spec->kernel, "rootfs",
		      spec->rootfs, "drives", drives, "vcpus", (int)spec_vcpus(spec), "mem_mib",
		      (json_int_t)spec_mem(spec), "ports", ports_json(spec->ports, spec->n_ports),
		      "cmdline", cmdline.buf, "boot_timeout_ms",
		      spec->boot_timeout_ms > 0 ? spec->boot_timeout_ms : VM_BOOT_TIMEOUT_MS,
		      "agent", true, "run_dir", st->run_dir);
	strbuf_release(&cmdline);
	json_object_set_new(st->spec_json, "network", json_string(vmm_net_name(spec->net)));
	if (spec->n_allow) {
		json_t *al = json_array();
		for (size_t i = 0; i < spec->n_allow; i++) {
			struct strbuf sb = STRBUF_INIT;
			vmm_allow_format(&spec->allow[i], &sb);
			json_array_append_new(al, json_string(sb.buf));
			strbuf_release(&sb);
		}
		json_object_set_new(st->spec_json, "allow", al);
	}
	if (spec->initrd)
		json_object_set_new(st->spec_json, "initrd", json_string(spec->initrd));
	if (spec->ephemeral)
		json_object_set_new(st->spec_json, "ephemeral", json_true());
	choose_boot(st);
	if (parked) {
		json_t *env = json_array();
		for (const char *const *kv = spec->env; *kv; kv++)
			json_array_append_new(env, json_string(*kv));
		json_object_set_new(st->spec_json, "env", env);
		json_object_set_new(st->spec_json, "parked_boot", json_true());
	}
	if (spec->mem_file)
		json_object_set_new(st->spec_json, "mem_file", json_string(spec->mem_file));
	if (spec->fence)
		json_object_set_new(st->spec_json, "fence", json_string(spec->fence));
	json_t *rm = json_array();
	for (const char *const *f = spec->remove_on_exit; f && *f; f++)
		json_array_append_new(rm, json_string(*f));
	if (st->secrets_disk)
		json_array_append_new(rm, json_string(st->secrets_disk));
	if (json_array_size(rm))
		json_object_set_new(st->spec_json, "remove_on_exit", rm);
	else
		json_decref(rm);
	_cleanup_free_ char *path = vm_file(st->name, "spec.json");
	return json_write_file(path, st->spec_json, e);
}

/* 6. The first record, so nobody reads a stale one while the supervisor
 * starts, and empty logs. */
static int write_record(struct start *st, struct err *e)
{
	const struct vm_spec *spec = st->spec;
	_cleanup_free_ char *now = json_now_rfc3339();
	st->rec = json_pack("{s:i, s:s, s:s, s:s, s:s, s:i, s:I, s:O, s:s, s:s}", "schema_version",
			    VM_RECORD_SCHEMA_VERSION, "name", st->name, "state", "starting",
			    "backend", st->b->name, "accel", vmm_accel_name(st->out->accel.accel),
			    "vcpus", (int)spec_vcpus(spec), "mem_mib", (json_int_t)spec_mem(spec),
			    "ports", json_object_get(st->spec_json, "ports"), "started_at", now,
			    "run_dir", st->run_dir);
	if (spec->revision)
		json_object_set_new(st->rec, "revision", json_string(spec->revision));
	if (spec->slot)
		json_object_set_new(st->rec, "slot", json_string(spec->slot));
	if (spec->manifest_path)
		json_object_set_new(st->rec, "manifest_path", json_string(spec->manifest_path));
	if (st->data_disk)
		json_object_set_new(st->rec, "data_disk", json_string(st->data_disk));
	if (spec->ephemeral)
		json_object_set_new(st->rec, "ephemeral", json_true());
	json_object_set_new(st->rec, "sizing_source",
			    json_pack("{s:s, s:s, s:s}", "vcpus",
				      spec->vcpus_source ? spec->vcpus_source : "default",
				      "mem_mib", spec->mem_source ? spec->mem_source : "default",
				      "data_disk_mib",
				      spec->data_disk_source ? spec->data_disk_source : "default"));
	json_object_set_new(st->rec, "network", json_string(vmm_net_name(spec->net)));
	json_t *allow = json_array();
	for (size_t i = 0; i < spec->n_allow; i++) {
		struct strbuf dest = STRBUF_INIT, guest = STRBUF_INIT;
		vmm_allow_format(&spec->allow[i], &dest);
		vmm_allow_guest(&spec->allow[i], i, &guest);
		json_array_append_new(
		    allow, json_pack("{s:s, s:s}", "dest", dest.buf, "guest", guest.buf));
		strbuf_release(&dest);
		strbuf_release(&guest);
	}
	json_object_set_new(st->rec, "allow", allow);
	json_t *keys = json_array();
	for (const char *const *kv = spec->env; kv && *kv; kv++)
		json_array_append_new(keys, json_stringn(*kv, strcspn(*kv, "=")));
	json_object_set_new(st->rec, "env_keys", keys);
	json_t *snames = json_array();
	for (size_t i = 0; i < spec->n_secrets; i++)
		json_array_append_new(snames, json_string(spec->secrets[i].name));
	json_object_set_new(st->rec, "secrets", snames);
	json_object_set_new(st->rec, "data_disk_mib", json_integer((json_int_t)st->data_disk_mib));
	int r = vm_record_write(st->name, st->rec, e);
	if (r < 0)
		return r;
	st->recorded = true;
	const char *logs[] = {"console.log", "vmm.log"};
	for (size_t i = 0; i < ARRAY_SIZE(logs); i++) {
		_cleanup_free_ char *p = vm_file(st->name, logs[i]);
		/* anew, never through a link planted in its place */
		if (unlink(p) < 0 && errno != ENOENT)
			return err_sys(e, -errno, EXIT_FAILED, "removing '%s'", p);
		int fd =
		    open(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
		if (fd < 0)
			return err_sys(e, -errno, EXIT_FAILED, "creating '%s'", p);
		close(fd);
	}
	return 0;
}

/* 7. `mvmctl shim NAME`, detached, inheriting the lock and the notify pipe's
 * write end; once it runs, the lock is its. */
static int spawn_supervisor(struct start *st, struct err *e)
{
	_cleanup_free_ char *exe = self_exe();
	if (!exe)
		return err_sys(e, -errno, EXIT_FAILED, "cannot find the mvmctl executable");
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return err_sys(e, -errno, EXIT_FAILED, "pipe");
	st->notify_fd = pfd[0];
	char nfd[16], lfd[16];
	snprintf(nfd, sizeof(nfd), "%d", pfd[1]);
	snprintf(lfd, sizeof(lfd), "%d", st->lk.fd);
	const char *argv[] = {exe, "shim", st->name, "--notify-fd", nfd, "--lock-fd", lfd, NULL};
	fcntl(pfd[1], F_SETFD, 0);
	fcntl(st->lk.fd, F_SETFD, 0);
	_cleanup_close_ int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	/* the values of --secret-env reach the guest on its disk only: not the
	 * environment of the supervisor, and so not QEMU's */
	struct strvec unset = STRVEC_INIT;
	for (size_t i = 0; i < st->spec->n_secrets; i++)
		if (!st->spec->secrets[i].file)
			strvec_push(&unset, st->spec->secrets[i].name);
	struct child c = CHILD_INIT;
	c.argv = argv;
	c.env_unset = strvec_argv(&unset);
	c.new_session = true;
	c.out_fd = devnull;
	c.err_fd = devnull;
	int r = child_start(&c, e);
	strvec_clear(&unset);
	close(pfd[1]);
	if (r < 0) {
		child_release(&c);
		return err_prefix(e, r, "starting the supervisor of '%s'", st->name);
	}
	st->spawned = true;
	fs_lock_release(&st->lk); /* the shim holds it now (the same open file) */
	child_finish(&c, e);	  /* the shim forks; its first process exits at once */
	child_release(&c);
	return 0;
}

/* 8. The supervisor's notify lines, until the VM runs (VM_WAIT_STARTED) or
 * is ready, or the supervisor reports an error or goes. */
static int wait_reported(struct start *st, enum vm_wait wait, struct err *e)
{
	int boot_ms = (int)json_get_int(st->spec_json, "boot_timeout_ms", VM_BOOT_TIMEOUT_MS);
	long long deadline = mono_ms() + boot_ms + 30000;
	struct strbuf line = STRBUF_INIT;
	int r = 0;
	for (;;) {
		int n = ctl_read_line(st->notify_fd, &line, 4096, deadline);
		if (n == 0 && line.len)
			n = 1; /* a last line without its newline */
		if (n == -EMSGSIZE) {
			r = err_set(e, n, EXIT_FAILED,
				    "VM '%s': the supervisor sent an overlong line", st->name);
			break;
		}
		if (n < 0) {
			r = err_set(e, -ETIMEDOUT, EXIT_FAILED,
				    "VM '%s': the supervisor reported nothing in time", st->name);
			break;
		}
		if (n == 0) {
			r = err_set(e, -EPIPE, EXIT_FAILED,
				    "VM '%s': the supervisor exited during the start", st->name);
			err_hint(e, "mvmctl logs %s", st->name);
			break;
		}
		if (!strncmp(line.buf, "started ", 8)) {
			long long pid = 0;
			parse_int64(line.buf + 8, 1, INT_MAX, &pid);
			st->out->shim_pid = (pid_t)pid;
			if (wait == VM_WAIT_STARTED)
				break;
		} else if (!strncmp(line.buf, "warning ", 8)) {
			strvec_push(&st->out->warnings, line.buf + 8);
		} else if (!strncmp(line.buf, "restored", 8)) {
			st->out->restored = true;
		} else if (!strncmp(line.buf, "ready ", 6)) {
			parse_int64(line.buf + 6, 0, LLONG_MAX, &st->out->boot_ms);
			break;
		} else if (!strncmp(line.buf, "error ", 6)) {
			r = err_set(e, -EIO, EXIT_FAILED, "VM '%s': %s", st->name, line.buf + 6);
			err_hint(e, "mvmctl logs %s", st->name);
			break;
		}
	}
	strbuf_release(&line);
	return r;
}

/* A start that failed before the supervisor ran leaves a truthful record,
 * or none at all, and no runtime directory. */
static void start_undo(struct start *st, struct err *e)
{
	struct err ig = ERR_INIT;
	if (!st->spawned) {
		if (st->recorded) {
			_cleanup_free_ char *t = json_now_rfc3339();
			json_object_set_new(st->rec, "state", json_string("exited"));
			json_object_set_new(st->rec, "exit_reason",
					    json_string(e && e->msg ? e->msg : "the start failed"));
			json_object_set_new(st->rec, "exited_at", json_string(t));
			vm_record_write(st->name, st->rec, &ig);
		} else if (st->fresh_dir) {
			fs_rm_rf(st->dir, &ig);
		}
	}
	if (st->run_dir && !st->out->shim_pid)
		fs_rm_rf(st->run_dir, &ig);
	if (st->secrets_disk && !st->spawned)
		unlink(st->secrets_disk);
	err_release(&ig);
}

static void start_release(struct start *st)
{
	fs_lock_release(&st->lk);
	closep(&st->notify_fd);
	free(st->name);
	free(st->dir);
	free(st->run_dir);
	free(st->data_disk);
	free(st->secrets_disk);
	json_decref(st->spec_json);
	json_decref(st->rec);
}

int vm_start(const struct vm_spec *spec, enum vm_wait wait, struct vm_started *out, struct err *e)
{
	*out = (struct vm_started)VM_STARTED_INIT;
	struct start st = {.spec = spec, .out = out, .lk = FS_LOCK_INIT, .notify_fd = -1};
	int r = check_inputs(&st, e);
	if (r == 0)
		r = claim_name(&st, e);
	if (r < 0) { /* nothing made yet but the directory, which an earlier VM may own */
		start_release(&st);
		return r;
	}
	if ((r = prepare(&st, e)) < 0 || (r = write_spec(&st, e)) < 0 ||
	    (r = write_record(&st, e)) < 0 || (r = spawn_supervisor(&st, e)) < 0 ||
	    (r = wait_reported(&st, wait, e)) < 0) {
		start_undo(&st, e);
	} else {
		out->name = TAKE_PTR(st.name);
		if (spec->ephemeral) /* the shim watches the other end */
			out->owner_fd = TAKE_FD(st.notify_fd);
	}
	start_release(&st);
	return r;
}
