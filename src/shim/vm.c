/* The client side of running VMs: start (spawning the shim), records with
 * their liveness checked, stop, logs, attach. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "build/kernel.h"
#include "core/fs.h"
#include "core/jsonio.h"
#include "core/paths.h"
#include "core/spawn.h"
#include "core/strvec.h"
#include "core/util.h"
#include "shim/internal.h"
#include "shim/vm.h"
#include "vmm/snapshot.h"

#define VM_STOP_TIMEOUT_MS 30000
#define VM_LOCK_WAIT_MS	   5000

long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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

unsigned long long proc_starttime(pid_t pid)
{
	if (pid <= 0)
		return 0;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	struct strbuf sb = STRBUF_INIT;
	unsigned long long st = 0;
	if (strbuf_read_file(&sb, path, 4096) >= 0) {
		/* the command name may hold spaces and parentheses: fields follow the last ')' */
		char *p = strrchr(sb.buf, ')');
		if (p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
			p = NULL; /* a zombie has exited */
		for (int field = 2; p && field < 22; field++)
			p = strchr(p + 1, ' ');
		if (p)
			st = strtoull(p + 1, NULL, 10);
	}
	strbuf_release(&sb);
	return st;
}

int vm_record_write(const char *name, json_t *rec, struct err *e)
{
	_cleanup_free_ char *path = vm_file(name, "vm.json");
	return json_write_file(path, rec, e);
}

static bool plain_name_valid(const char *name, size_t n);

bool vm_name_valid(const char *name)
{
	return plain_name_valid(name, strlen(name));
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

/* --- control socket client ------------------------------------------------- */

int ctl_connect(const char *run_dir, int *fd, struct err *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", run_dir, SHIM_CTL_NAME);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return err_set(e, -ENAMETOOLONG, EXIT_FAILED, "control socket path too long: %s/%s",
			       run_dir, SHIM_CTL_NAME);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return err_sys(e, -errno, EXIT_FAILED, "socket");
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;
		close(s);
		return err_sys(e, r, EXIT_FAILED, "connecting to '%s'", sa.sun_path);
	}
	*fd = s;
	return 0;
}

/* Reads one '\n'-terminated line from fd, byte-wise so nothing after it is
 * consumed. 1: a line; 0: end of file (line may hold a partial one);
 * -ETIMEDOUT at the deadline; -EMSGSIZE past max bytes. */
static int read_line(int fd, struct strbuf *line, size_t max, long long deadline)
{
	strbuf_reset(line);
	for (;;) {
		long long left = deadline - mono_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		char c;
		ssize_t n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		if (c == '\n')
			return 1;
		if (line->len >= max)
			return -EMSGSIZE;
		strbuf_addch(line, c);
	}
}

int ctl_request(int fd, const char *op, int timeout_ms, json_t **reply, struct err *e)
{
	struct strbuf req = STRBUF_INIT;
	strbuf_addf(&req, "{\"op\":\"%s\"}\n", op);
	ssize_t w = send(fd, req.buf, req.len, MSG_NOSIGNAL);
	strbuf_release(&req);
	if (w < 0)
		return err_sys(e, -errno, EXIT_FAILED, "sending '%s' to the supervisor", op);
	struct strbuf line = STRBUF_INIT;
	int r = read_line(fd, &line, SHIM_MAX_REPLY, mono_ms() + timeout_ms);
	if (r == -ETIMEDOUT)
		err_set(e, r, EXIT_FAILED, "the supervisor did not answer '%s' within %d s", op,
			timeout_ms / 1000);
	else if (r == -EMSGSIZE)
		err_set(e, r, EXIT_FAILED, "the supervisor's reply is too long");
	else if (r == 0)
		r = err_set(e, -EPIPE, EXIT_FAILED,
			    "the supervisor closed the connection before answering '%s'", op);
	if (r > 0)
		r = 0;
	json_t *doc = NULL;
	if (r == 0)
		r = json_parse_buf(line.buf, line.len, "supervisor reply", &doc, e);
	strbuf_release(&line);
	if (r < 0)
		return r;
	if (!json_is_true(json_object_get(doc, "ok"))) {
		const char *msg = json_get_str(doc, "error");
		r = err_set(e, -EIO, EXIT_FAILED, "%s", msg ? msg : "the supervisor refused");
		json_decref(doc);
		return r;
	}
	if (reply)
		*reply = doc;
	else
		json_decref(doc);
	return 0;
}

/* --- liveness ---------------------------------------------------------------- */

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

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int vm_list(json_t **records, struct err *e)
{
	*records = json_array();
	_cleanup_free_ char *dir = xasprintf("%s/vms", paths_home());
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : err_sys(e, -errno, EXIT_FAILED, "opening '%s'", dir);
	struct strvec names = STRVEC_INIT;
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && vm_name_valid(de->d_name))
			strvec_push(&names, de->d_name);
	closedir(d);
	if (names.n)
		qsort(names.v, names.n, sizeof(char *), cmp_names);
	for (size_t i = 0; i < names.n; i++) {
		json_t *rec = NULL;
		struct err ge = ERR_INIT;
		if (vm_get(names.v[i], &rec, &ge) == 0)
			json_array_append_new(*records, rec);
		err_release(&ge); /* a directory without a record (being made) is not listed */
	}
	strvec_clear(&names);
	return 0;
}

/* --- start ------------------------------------------------------------------ */

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

/* Reads one notify line ("started …", "ready …", "error …") within the deadline.
 * 1: a line; 0: EOF; <0: timeout. */

static int pick_name(const struct vm_spec *spec, char **out, struct err *e)
{
	if (spec->name) {
		if (!vm_ref_valid(spec->name))
			return err_set(e, -EINVAL, EXIT_USAGE,
				       "'%s' is not a valid VM name (letters, digits, '-' and '.', "
				       "at most 63, starting with a letter or digit)",
				       spec->name);
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

int vm_start(const struct vm_spec *spec, enum vm_wait wait, struct vm_started *out, struct err *e)
{
	*out = (struct vm_started)VM_STARTED_INIT;
	const char *bname = spec->backend ? spec->backend : vmm_backend_default();
	const struct vmm_backend *b = vmm_backend_find(bname);
	if (!b)
		return err_set(e, -ENOENT, EXIT_NOTREADY, "unknown VMM backend '%s'", bname);
	struct strbuf why = STRBUF_INIT;
	if (b->available && !b->available(&why)) {
		int r = err_set(e, -ENOENT, EXIT_NOTREADY, "the %s backend cannot run here: %s",
				b->name, why.buf);
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

	_cleanup_free_ char *name = NULL;
	if ((r = pick_name(spec, &name, e)) < 0)
		return r;
	if ((r = paths_ensure_home(e)) < 0)
		return r;
	_cleanup_free_ char *dir = vm_dir(name);
	bool fresh_dir = !fs_exists(dir);
	bool recorded = false, spawned = false;
	if ((r = fs_mkdir_p(dir, 0700, e)) < 0)
		return r;
	_cleanup_free_ char *lockp = vm_file(name, "shim.lock");
	struct fs_lock lk = FS_LOCK_INIT;
	r = fs_lock_take(&lk, lockp, false, e);
	if (r == -EWOULDBLOCK) {
		r = err_set(e, -EEXIST, EXIT_REFUSED, "VM '%s' is already running", name);
		err_hint(e, "mvmctl down %s, or choose another --name", name);
		return r;
	}
	if (r < 0)
		return r;

	_cleanup_free_ char *run_dir = NULL, *exe = NULL, *spec_path = NULL;
	_cleanup_free_ char *data_disk = NULL;
	uint64_t data_disk_mib = 0;
	_cleanup_close_ int devnull = -1;
	json_t *spec_json = NULL, *rec = NULL;
	int pfd[2] = {-1, -1};
	struct child c = CHILD_INIT;
	struct strbuf cmdline = STRBUF_INIT, line = STRBUF_INIT;
	_cleanup_free_ char *now = json_now_rfc3339();

	for (size_t i = 0; i < spec->n_ports; i++)
		if ((r = vmm_port_check_free(&spec->ports[i], e)) < 0)
			goto out;
	if (spec->accel == VMM_ACCEL_AUTO) {
		if ((r = vmm_accel_resolve(b, spec->kernel, &out->accel, e)) < 0)
			goto out;
	} else {
		out->accel.accel = spec->accel;
		out->accel.source = xstrdup("caller");
		out->accel.reason = xasprintf("accel '%s' asked for", vmm_accel_name(spec->accel));
	}
	bool tcg = out->accel.accel == VMM_ACCEL_TCG;
	if ((r = kernel_cmdline(&cmdline, tcg, vm_hostname(name), spec->cmdline_extra)) < 0) {
		r = err_set(e, r, EXIT_FAILED, "cannot build the kernel command line for '%s'",
			    name);
		goto out;
	}
	if ((r = make_run_dir(&run_dir, e)) < 0)
		goto out;

	/* made once per name (under the lock), then kept: its data outlives down/up */
	if (spec->data_disk_mib) {
		r = vm_data_disk_ensure(name, spec->data_disk_mib, &data_disk, &data_disk_mib, e);
		if (r < 0) {
			err_prefix(e, r, "VM '%s'", name);
			goto out;
		}
	}

	unsigned vcpus = spec->vcpus ? spec->vcpus : VM_DEFAULT_VCPUS;
	uint64_t mem = spec->mem_mib ? spec->mem_mib : VM_DEFAULT_MEM_MIB;
	json_t *drives = json_array();
	for (size_t i = 0; i < spec->n_drives; i++)
		json_array_append_new(drives, json_pack("{s:s, s:b}", "path", spec->drives[i].path,
							"read_only", spec->drives[i].read_only));
	if (data_disk)
		json_array_append_new(drives,
				      json_pack("{s:s, s:b}", "path", data_disk, "read_only", 0));
	spec_json = json_pack(
	    "{s:i, s:s, s:s, s:s, s:s, s:s, s:o, s:i, s:I, s:o, s:s, s:i, s:b, s:s}",
	    "schema_version", 1, "name", name, "backend", b->name, "accel",
	    vmm_accel_name(out->accel.accel), "kernel", spec->kernel, "rootfs", spec->rootfs,
	    "drives", drives, "vcpus", (int)vcpus, "mem_mib", (json_int_t)mem, "ports",
	    ports_json(spec->ports, spec->n_ports), "cmdline", cmdline.buf, "boot_timeout_ms",
	    spec->boot_timeout_ms > 0 ? spec->boot_timeout_ms : VM_BOOT_TIMEOUT_MS, "agent", true,
	    "run_dir", run_dir);
	if (spec->initrd)
		json_object_set_new(spec_json, "initrd", json_string(spec->initrd));
	if (spec->ephemeral)
		json_object_set_new(spec_json, "ephemeral", json_true());
	if (spec->snapshot_dir && spec->snapshot_data_disk_mib != data_disk_mib) {
		strvec_pushf(&out->warnings,
			     "snapshot taken with a %lluM data disk; VM '%s' has %lluM: cold boot",
			     (unsigned long long)spec->snapshot_data_disk_mib, name,
			     (unsigned long long)data_disk_mib);
	} else if (spec->snapshot_dir && spec->mem_file) {
		/* the caller put the snapshot's RAM into the VM's own file */
		json_object_set_new(spec_json, "restore",
				    json_pack("{s:s, s:s, s:b, s:b}", "dir", spec->snapshot_dir,
					      "mem_file", spec->mem_file, "shared", 1, "wake",
					      spec->wake));
	} else if (spec->snapshot_dir) {
		json_object_set_new(spec_json, "restore",
				    json_pack("{s:s, s:s+}", "dir", spec->snapshot_dir, "mem_file",
					      spec->snapshot_dir, "/" SNAPSHOT_MEM));
	}
	if (spec->mem_file)
		json_object_set_new(spec_json, "mem_file", json_string(spec->mem_file));
	if (spec->remove_on_exit) {
		json_t *rm = json_array();
		for (const char *const *f = spec->remove_on_exit; *f; f++)
			json_array_append_new(rm, json_string(*f));
		json_object_set_new(spec_json, "remove_on_exit", rm);
	}
	spec_path = vm_file(name, "spec.json");
	if ((r = json_write_file(spec_path, spec_json, e)) < 0)
		goto out;

	/* the first record, so nobody reads a stale one while the shim starts */
	rec = json_pack("{s:i, s:s, s:s, s:s, s:s, s:i, s:I, s:O, s:s, s:s}", "schema_version",
			VM_RECORD_SCHEMA_VERSION, "name", name, "state", "starting", "backend",
			b->name, "accel", vmm_accel_name(out->accel.accel), "vcpus", (int)vcpus,
			"mem_mib", (json_int_t)mem, "ports", json_object_get(spec_json, "ports"),
			"started_at", now, "run_dir", run_dir);
	if (spec->revision)
		json_object_set_new(rec, "revision", json_string(spec->revision));
	if (spec->slot)
		json_object_set_new(rec, "slot", json_string(spec->slot));
	if (spec->manifest_path)
		json_object_set_new(rec, "manifest_path", json_string(spec->manifest_path));
	if (data_disk)
		json_object_set_new(rec, "data_disk", json_string(data_disk));
	if (spec->ephemeral)
		json_object_set_new(rec, "ephemeral", json_true());
	json_object_set_new(rec, "data_disk_mib", json_integer((json_int_t)data_disk_mib));
	if ((r = vm_record_write(name, rec, e)) < 0)
		goto out;
	recorded = true;
	const char *logs[] = {"console.log", "vmm.log"};
	for (size_t i = 0; i < ARRAY_SIZE(logs); i++) {
		_cleanup_free_ char *p = vm_file(name, logs[i]);
		int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0600);
		if (fd < 0) {
			r = err_sys(e, -errno, EXIT_FAILED, "creating '%s'", p);
			goto out;
		}
		close(fd);
	}

	exe = self_exe();
	if (!exe) {
		r = err_sys(e, -errno, EXIT_FAILED, "cannot find the mvmctl executable");
		goto out;
	}
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		r = err_sys(e, -errno, EXIT_FAILED, "pipe");
		goto out;
	}
	char nfd[16], lfd[16];
	snprintf(nfd, sizeof(nfd), "%d", pfd[1]);
	snprintf(lfd, sizeof(lfd), "%d", lk.fd);
	const char *argv[] = {exe, "shim", name, "--notify-fd", nfd, "--lock-fd", lfd, NULL};
	fcntl(pfd[1], F_SETFD, 0);
	fcntl(lk.fd, F_SETFD, 0);
	c.argv = argv;
	c.new_session = true;
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	c.out_fd = devnull;
	c.err_fd = devnull;
	r = child_start(&c, e);
	closep(&pfd[1]);
	pfd[1] = -1;
	if (r < 0) {
		err_prefix(e, r, "starting the supervisor of '%s'", name);
		goto out;
	}
	spawned = true;
	fs_lock_release(&lk); /* the shim holds it now (the same open file) */
	child_finish(&c, e);  /* the shim forks; its first process exits at once */

	int boot_ms = (int)json_get_int(spec_json, "boot_timeout_ms", VM_BOOT_TIMEOUT_MS);
	long long deadline = mono_ms() + boot_ms + 30000;
	for (;;) {
		int n = read_line(pfd[0], &line, 4096, deadline);
		if (n == 0 && line.len)
			n = 1; /* a last line without its newline */
		if (n == -EMSGSIZE) {
			r = err_set(e, n, EXIT_FAILED,
				    "VM '%s': the supervisor sent an overlong line", name);
			break;
		}
		if (n < 0) {
			r = err_set(e, -ETIMEDOUT, EXIT_FAILED,
				    "VM '%s': the supervisor reported nothing in time", name);
			break;
		}
		if (n == 0) {
			r = err_set(e, -EPIPE, EXIT_FAILED,
				    "VM '%s': the supervisor exited during the start", name);
			err_hint(e, "mvmctl logs %s", name);
			break;
		}
		if (!strncmp(line.buf, "started ", 8)) {
			long long pid = 0;
			parse_int64(line.buf + 8, 1, INT_MAX, &pid);
			out->shim_pid = (pid_t)pid;
			if (wait == VM_WAIT_STARTED)
				break;
		} else if (!strncmp(line.buf, "warning ", 8)) {
			strvec_push(&out->warnings, line.buf + 8);
		} else if (!strncmp(line.buf, "restored", 8)) {
			out->restored = true;
		} else if (!strncmp(line.buf, "ready ", 6)) {
			parse_int64(line.buf + 6, 0, LLONG_MAX, &out->boot_ms);
			break;
		} else if (!strncmp(line.buf, "error ", 6)) {
			r = err_set(e, -EIO, EXIT_FAILED, "VM '%s': %s", name, line.buf + 6);
			err_hint(e, "mvmctl logs %s", name);
			break;
		}
	}
	if (r == 0) {
		out->name = TAKE_PTR(name);
		if (spec->ephemeral) /* the shim watches the other end */
			out->owner_fd = TAKE_FD(pfd[0]);
	}
out:
	if (r < 0 && !spawned) {
		/* nothing runs: leave a truthful record, or none at all */
		struct err ig = ERR_INIT;
		if (recorded) {
			_cleanup_free_ char *t = json_now_rfc3339();
			json_object_set_new(rec, "state", json_string("exited"));
			json_object_set_new(rec, "exit_reason",
					    json_string(e && e->msg ? e->msg : "the start failed"));
			json_object_set_new(rec, "exited_at", json_string(t));
			vm_record_write(name, rec, &ig);
		} else if (fresh_dir) {
			fs_rm_rf(dir, &ig);
		}
		err_release(&ig);
	}
	fs_lock_release(&lk);
	closep(&pfd[0]);
	closep(&pfd[1]);
	child_release(&c);
	json_decref(spec_json);
	json_decref(rec);
	strbuf_release(&cmdline);
	strbuf_release(&line);
	if (r < 0 && run_dir && !out->shim_pid) {
		struct err ig = ERR_INIT;
		fs_rm_rf(run_dir, &ig);
		err_release(&ig);
	}
	return r;
}

/* --- stop / attach / logs ---------------------------------------------------- */

/* Waits until the shim has released its lock (it has written its last record). */
void vm_wait_gone(const char *name, int ms)
{
	_cleanup_free_ char *lockp = vm_file(name, "shim.lock");
	long long deadline = mono_ms() + ms;
	long nap_ms = 1; /* a supervisor mostly goes within milliseconds */
	while (mono_ms() < deadline) {
		struct fs_lock lk = FS_LOCK_INIT;
		struct err ig = ERR_INIT;
		int r = fs_lock_take(&lk, lockp, false, &ig);
		err_release(&ig);
		if (r != -EWOULDBLOCK) {
			fs_lock_release(&lk);
			return;
		}
		struct timespec ts = {0, nap_ms * 1000000};
		nanosleep(&ts, NULL);
		nap_ms = nap_ms < 10 ? nap_ms * 2 : 10;
	}
}

int vm_stop(const char *name, bool *was_running, struct err *e)
{
	*was_running = false;
	json_t *rec = NULL;
	int r = vm_get(name, &rec, e);
	if (r < 0)
		return r;
	if (!vm_record_alive(rec)) {
		json_decref(rec);
		return 0;
	}
	*was_running = true;
	const char *run = json_get_str(rec, "run_dir");
	int fd = -1;
	struct err ce = ERR_INIT;
	r = run ? ctl_connect(run, &fd, &ce) : -ENOENT;
	if (r == 0) {
		r = ctl_request(fd, "stop", VM_STOP_TIMEOUT_MS, NULL, &ce);
		close(fd);
	}
	json_decref(rec);
	/* whatever the socket said, the record must end `exited` */
	vm_wait_gone(name, VM_LOCK_WAIT_MS);
	rec = NULL;
	int g = vm_get(name, &rec, e);
	if (g == 0 && vm_record_alive(rec))
		g = err_set(e, -EBUSY, EXIT_FAILED, "VM '%s' did not stop: %s", name,
			    ce.msg ? ce.msg : "its supervisor is still running");
	json_decref(rec);
	err_release(&ce);
	return g;
}

int vm_attach(const char *name, int fd, volatile int *interrupt, struct err *e)
{
	json_t *rec = NULL;
	int r = vm_get(name, &rec, e);
	if (r < 0)
		return r;
	const char *run = json_get_str(rec, "run_dir");
	int s = -1;
	r = run && vm_record_alive(rec)
		? ctl_connect(run, &s, e)
		: err_set(e, -ESRCH, EXIT_FAILED, "VM '%s' is not running", name);
	json_decref(rec);
	if (r < 0)
		return r;
	if ((r = ctl_request(s, "attach", 5000, NULL, e)) < 0) {
		close(s);
		return r;
	}
	bool stopped = false;
	char buf[16384];
	for (;;) {
		if (interrupt && *interrupt && !stopped) {
			stopped = true;
			bool was;
			struct err se = ERR_INIT;
			/* stops in a second connection; the stream then ends */
			_cleanup_free_ char *n2 = xstrdup(name);
			int sr = vm_stop(n2, &was, &se);
			err_release(&se);
			(void)sr;
		}
		struct pollfd p = {.fd = s, .events = POLLIN};
		int pr = poll(&p, 1, 200);
		if (pr < 0 && errno != EINTR)
			break;
		if (pr <= 0)
			continue;
		ssize_t n = read(s, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				break;
			off += w;
		}
	}
	close(s);
	vm_wait_gone(name, VM_LOCK_WAIT_MS);
	return stopped ? 1 : 0;
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		buf += w;
		len -= (size_t)w;
	}
}

/* Copies path from *off to its end into fd. */
static void copy_from(const char *path, off_t *off, int fd)
{
	int in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return;
	struct stat st;
	if (fstat(in, &st) == 0 && st.st_size < *off)
		*off = 0; /* the log was started anew */
	char buf[65536];
	for (;;) {
		ssize_t n = pread(in, buf, sizeof(buf), *off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		write_all(fd, buf, (size_t)n);
		*off += n;
	}
	close(in);
}

int vm_logs(const char *name, long long lines, bool follow, int fd, volatile int *stop,
	    struct err *e)
{
	json_t *rec = NULL;
	int r = vm_get(name, &rec, e);
	if (r < 0)
		return r;
	json_decref(rec);
	_cleanup_free_ char *path = vm_file(name, "console.log");
	off_t off = 0;
	struct stat st;
	if (stat(path, &st) == 0 && lines >= 0) {
		/* where the last `lines` lines start, reading back in chunks (the
		 * newline ending the file ends the last line, it starts none) */
		int in = open(path, O_RDONLY | O_CLOEXEC);
		off_t pos = st.st_size, start = lines ? 0 : st.st_size;
		long long seen = 0;
		char buf[65536];
		while (in >= 0 && pos > 0 && lines && seen < lines) {
			size_t n = pos > (off_t)sizeof(buf) ? sizeof(buf) : (size_t)pos;
			pos -= (off_t)n;
			if (pread(in, buf, n, pos) != (ssize_t)n)
				break;
			for (size_t i = n; i-- > 0;) {
				if (buf[i] != '\n' || pos + (off_t)i == st.st_size - 1)
					continue;
				if (++seen == lines) {
					start = pos + (off_t)i + 1;
					break;
				}
			}
		}
		if (in >= 0)
			close(in);
		off = start;
	}
	copy_from(path, &off, fd);
	if (!follow)
		return 0;
	int ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	_cleanup_free_ char *d = vm_dir(name);
	if (ino >= 0)
		inotify_add_watch(ino, d, IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE);
	for (;;) {
		if (stop && *stop)
			break;
		struct pollfd p = {.fd = ino, .events = POLLIN};
		poll(&p, ino >= 0 ? 1 : 0, 500);
		char ev[4096];
		while (ino >= 0 && read(ino, ev, sizeof(ev)) > 0)
			;
		copy_from(path, &off, fd);
		json_t *now = NULL;
		struct err ge = ERR_INIT;
		int g = vm_get(name, &now, &ge);
		bool alive = g == 0 && vm_record_alive(now);
		json_decref(now);
		err_release(&ge);
		if (!alive) {
			copy_from(path, &off, fd);
			break;
		}
	}
	if (ino >= 0)
		close(ino);
	return 0;
}
