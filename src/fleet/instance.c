/* Instances: records, the state diagram (instance.h) and the moves that
 * carry it out on the instance's VM (shim/vm.h). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/fs.h"
#include "core/jsonio.h"
#include "core/rstore.h"
#include "core/util.h"
#include "fleet/fleet.h"
#include "fleet/instance.h"
#include "fleet/quota.h"
#include "fleet/tenant.h"
#include "vm/vm.h"
#include "vmm/snapshot.h"

#define INSTANCE_RECORD	 "instance.json"
#define INSTANCE_MEM	 "mem"
#define INSTANCE_SECRETS "secrets.img"
#define INSTANCE_DATA	 "data.ext4"

static const char *const state_names[] = {
    [INST_STOPPED] = "stopped",	  [INST_RUNNING] = "running", [INST_WARM] = "warm",
    [INST_SLEEPING] = "sleeping", [INST_REMOVED] = "removed",
};

const char *inst_state_name(enum inst_state s)
{
	return s <= INST_REMOVED ? state_names[s] : "?";
}

static enum inst_state state_parse(const char *s)
{
	for (size_t i = 0; s && i < ARRAY_SIZE(state_names); i++)
		if (!strcmp(s, state_names[i]))
			return (enum inst_state)i;
	return INST_STOPPED;
}

void instance_release(struct instance *in)
{
	free(in->ref);
	free(in->dir);
	free(in->problem);
	json_decref(in->record);
	*in = (struct instance)INSTANCE_INIT;
}

void inst_move_release(struct inst_move *m)
{
	strvec_clear(&m->warnings);
	*m = (struct inst_move)INST_MOVE_INIT;
}

static char *inst_file(const struct instance *in, const char *name)
{
	return fs_join(in->dir, name);
}

int instance_save(struct instance *in, struct err *e)
{
	_cleanup_free_ char *now = json_now_rfc3339();
	if (!in->adopted)
		json_object_del(in->record, "adopted_from");
	json_object_set_new(in->record, "state", json_string(inst_state_name(in->state)));
	json_object_set_new(in->record, "updated_at", json_string(now));
	_cleanup_free_ char *path = inst_file(in, INSTANCE_RECORD);
	return json_write_file(path, in->record, e);
}

static void fill_names(struct instance *in, const char *t, const char *p, const char *id)
{
	snprintf(in->tenant, sizeof(in->tenant), "%s", t);
	snprintf(in->pool, sizeof(in->pool), "%s", p);
	snprintf(in->id, sizeof(in->id), "%s", id);
	in->ref = xasprintf("%s/%s/%s", t, p, id);
	in->dir = fleet_instance_dir(t, p, id);
}

/* The files a VM that is not running leaves behind and no longer needs. */
static void drop_runtime_files(struct instance *in, bool mem)
{
	_cleanup_free_ char *sec = inst_file(in, INSTANCE_SECRETS);
	unlink(sec);
	if (mem) {
		_cleanup_free_ char *m = inst_file(in, INSTANCE_MEM);
		_cleanup_free_ char *sl = inst_file(in, VM_SLEEP_DIR);
		struct err ig = ERR_INIT;
		unlink(m);
		fs_rm_rf(sl, &ig);
		err_release(&ig);
	}
}

/* The tenant whose lock this process holds (instance_move, pool_converge):
 * only under it may a reader turn a dead VM's record into `stopped` and
 * delete its files, or it could race a sleep that is ending the VMM. */
static char held_tenant[FLEET_ID_MAX + 1];

static bool holding(const char *t)
{
	return held_tenant[0] && !strcmp(held_tenant, t);
}

void instance_hold_tenant(const char *t)
{
	snprintf(held_tenant, sizeof(held_tenant), "%s", t ? t : "");
}

static int try_tenant_lock(const char *t, struct fs_lock *lk)
{
	_cleanup_free_ char *dir = fleet_tenant_dir(t);
	_cleanup_free_ char *path = fs_join(dir, "tenant.lock");
	struct err e = ERR_INIT;
	int r = fs_lock_take(lk, path, false, &e);
	err_release(&e);
	return r;
}

/* A stopped or sleeping instance whose VM runs: a start or a wake cut short
 * after the VM was up (the command was killed before it recorded the move).
 * The VM is the truth: the instance is running (warm when paused), and says
 * so; a woken one's saved state is stale. A VM still starting is left to
 * the next reader. */
static int adopt_started(struct instance *in, const char *t)
{
	if (!vm_supervised(in->ref))
		return 0;
	json_t *vm = NULL;
	struct err ve = ERR_INIT;
	int g = vm_get(in->ref, &vm, &ve);
	err_release(&ve);
	const char *vst = g == 0 ? json_get_str(vm, "state") : NULL;
	struct fs_lock lk = FS_LOCK_INIT;
	if (vst && !strcmp(vst, "running") && (holding(t) || try_tenant_lock(t, &lk) == 0)) {
		if (in->state == INST_SLEEPING) {
			_cleanup_free_ char *sl = inst_file(in, VM_SLEEP_DIR);
			struct err ig = ERR_INIT;
			fs_rm_rf(sl, &ig);
			err_release(&ig);
		}
		in->adopted = true;
		in->adopted_from = in->state;
		in->state = json_is_true(json_object_get(vm, "paused")) ? INST_WARM : INST_RUNNING;
		json_object_del(in->record, "problem");
		/* kept until a move reports it: the command that asks for this
		 * move after another reader adopted it is told it is done */
		json_object_set_new(in->record, "adopted_from",
				    json_string(inst_state_name(in->adopted_from)));
		struct err se = ERR_INIT;
		instance_save(in, &se); /* best effort: the next reader repeats it */
		err_release(&se);
	}
	fs_lock_release(&lk);
	json_decref(vm);
	return 0;
}

int instance_load(const char *t, const char *p, const char *id, struct instance *in, struct err *e)
{
	*in = (struct instance)INSTANCE_INIT;
	fill_names(in, t, p, id);
	_cleanup_free_ char *path = inst_file(in, INSTANCE_RECORD);
	if (!fs_exists(path)) {
		int r = err_set(e, -ENOENT, EXIT_NOTFOUND, "Instance '%s' does not exist", in->ref);
		err_hint(e, "instance ls %s/%s", t, p);
		return r;
	}
	int r = json_read_file(path, &in->record, e);
	if (r < 0)
		return r;
	if (holding(t))
		fs_sweep_temps(in->dir); /* what a killed move left half-copied */
	in->state = state_parse(json_get_str(in->record, "state"));
	if (in->state == INST_STOPPED || in->state == INST_SLEEPING)
		return adopt_started(in, t);
	const char *from = json_get_str(in->record, "adopted_from");
	if (from) {
		in->adopted = true;
		in->adopted_from = state_parse(from);
	}
	if (in->state != INST_RUNNING && in->state != INST_WARM)
		return 0;
	/* running or warm is only true while its VM lives */
	json_t *vm = NULL;
	struct err ve = ERR_INIT;
	int g = vm_get(in->ref, &vm, &ve);
	/* a record that cannot be read is no proof of death while a supervisor
	 * holds the lock: its QEMU may be running on the instance's files */
	bool alive = g == 0 ? vm_record_alive(vm) : vm_supervised(in->ref);
	struct fs_lock lk = FS_LOCK_INIT;
	if (!alive && !holding(t) && try_tenant_lock(t, &lk) < 0)
		alive = true; /* a move of it is under way elsewhere: its record stands */
	if (!alive) {
		const char *why = vm ? json_get_str(vm, "exit_reason") : NULL;
		in->problem = xasprintf("its VM stopped on its own: %s", why	  ? why
									 : ve.msg ? ve.msg
										  : "no record");
		in->state = INST_STOPPED;
		in->adopted = false;
		json_object_set_new(in->record, "problem", json_string(in->problem));
		drop_runtime_files(in, true);
		struct err se = ERR_INIT;
		instance_save(in, &se); /* best effort: the next reader repeats it */
		err_release(&se);
	} else if (vm && json_is_true(json_object_get(vm, "paused")) != (in->state == INST_WARM)) {
		in->state = json_is_true(json_object_get(vm, "paused")) ? INST_WARM : INST_RUNNING;
	}
	fs_lock_release(&lk);
	json_decref(vm);
	err_release(&ve);
	return 0;
}

static int cmp_inst(const void *a, const void *b)
{
	return strcmp(((const struct instance *)a)->id, ((const struct instance *)b)->id);
}

int instance_list(const char *t, const char *p, struct instance **out, size_t *n, struct err *e)
{
	*out = NULL;
	*n = 0;
	_cleanup_free_ char *dir = fleet_instances_dir(t, p);
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : err_sys(e, -errno, EXIT_FAILED, "reading '%s'", dir);
	struct dirent *de;
	int r = 0;
	while (r == 0 && (de = readdir(d))) {
		if (!fleet_id_valid(de->d_name))
			continue;
		struct instance in;
		struct err le = ERR_INIT;
		int lr = instance_load(t, p, de->d_name, &in, &le);
		err_release(&le);
		if (lr < 0) {
			instance_release(&in); /* half-created (no record): not an instance */
			continue;
		}
		*out = xrealloc(*out, (*n + 1) * sizeof(**out));
		(*out)[(*n)++] = in;
	}
	closedir(d);
	if (*n)
		qsort(*out, *n, sizeof(**out), cmp_inst);
	return r;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int instance_ids(const char *t, const char *p, struct strvec *ids, struct err *e)
{
	_cleanup_free_ char *dir = fleet_instances_dir(t, p);
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : err_sys(e, -errno, EXIT_FAILED, "reading '%s'", dir);
	size_t first = ids->n;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!fleet_id_valid(de->d_name))
			continue;
		_cleanup_free_ char *path = xasprintf("%s/%s/%s", dir, de->d_name, INSTANCE_RECORD);
		if (fs_is_file(path))
			strvec_push(ids, de->d_name);
	}
	closedir(d);
	if (ids->n > first)
		qsort(ids->v + first, ids->n - first, sizeof(char *), cmp_str);
	return 0;
}

void instance_list_release(struct instance *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		instance_release(&v[i]);
	free(v);
}

int instance_create_id(const struct pool *p, const char *want_id, struct instance *in,
		       struct err *e)
{
	*in = (struct instance)INSTANCE_INIT;
	struct tenant t = TENANT_INIT;
	int r = tenant_load(p->tenant, &t, e);
	if (r < 0)
		return r;
	struct instance *all = NULL;
	size_t n = 0;
	r = instance_list(p->tenant, p->id, &all, &n, e);
	instance_list_release(all, n);
	if (r == 0 && (long long)n >= t.q.max_instances_per_pool)
		r = err_set(e, -EDQUOT, EXIT_REFUSED,
			    "Quota exceeded for tenant '%s': max_instances_per_pool is %lld, pool "
			    "'%s/%s' has %zu",
			    p->tenant, t.q.max_instances_per_pool, p->tenant, p->id, n);
	tenant_release(&t);
	if (r < 0)
		return r;
	_cleanup_free_ char *idir = fleet_instances_dir(p->tenant, p->id);
	if ((r = fs_mkdir_p(idir, 0700, e)) < 0)
		return r;
	if (want_id && !instance_id_valid(want_id))
		return err_set(e, -EINVAL, EXIT_USAGE,
			       "'%s' is not an instance id (i- and 8 hex digits)", want_id);
	for (int tries = 0; tries < 64; tries++) {
		char hex[9];
		random_hex(hex, 8);
		_cleanup_free_ char *id = want_id ? xstrdup(want_id) : xasprintf("i-%s", hex);
		_cleanup_free_ char *dir = fleet_instance_dir(p->tenant, p->id, id);
		if (mkdir(dir, 0700) < 0) {
			if (errno == EEXIST && !want_id)
				continue;
			if (errno == EEXIST)
				return err_set(e, -EEXIST, EXIT_REFUSED,
					       "Instance '%s/%s/%s' already exists", p->tenant,
					       p->id, id);
			return err_sys(e, -errno, EXIT_FAILED, "creating '%s'", dir);
		}
		fill_names(in, p->tenant, p->id, id);
		_cleanup_free_ char *now = json_now_rfc3339();
		in->state = INST_STOPPED;
		in->record =
		    json_pack("{s:i, s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:s}", "schema_version", 1,
			      "id", id, "tenant", p->tenant, "pool", p->id, "state", "stopped",
			      "vcpus", (int)p->vcpus, "mem_mib", (json_int_t)p->mem_mib,
			      "data_disk_mib", (json_int_t)p->data_disk_mib, "created_at", now);
		if ((r = instance_save(in, e)) < 0)
			rmdir(dir);
		return r;
	}
	return err_set(e, -EEXIST, EXIT_FAILED, "cannot find a free instance id in '%s/%s'",
		       p->tenant, p->id);
}

int instance_create(const struct pool *p, struct instance *in, struct err *e)
{
	return instance_create_id(p, NULL, in, e);
}

bool instance_id_valid(const char *id)
{
	if (strlen(id) != 10 || strncmp(id, "i-", 2))
		return false;
	for (size_t i = 2; i < 10; i++)
		if (!strchr("0123456789abcdef", id[i]))
			return false;
	return true;
}

/* --- booting ------------------------------------------------------------------ */

/* The files of one revision of the pool. */
struct rev_files {
	char *dir, *kernel, *initrd, *rootfs;
};

static void rev_files_release(struct rev_files *f)
{
	free(f->dir);
	free(f->kernel);
	free(f->initrd);
	free(f->rootfs);
}

static int rev_files(const struct pool *p, const char *rev, struct rev_files *f, struct err *e)
{
	*f = (struct rev_files){0};
	if (!rev || !rstore_has_revision(&p->store, rev)) {
		int r = err_set(e, -ENOENT, EXIT_NOTFOUND, "Revision %s not found in pool '%s/%s'",
				rev ? rev : "(none)", p->tenant, p->id);
		err_hint(e, "pool build %s/%s", p->tenant, p->id);
		return r;
	}
	f->dir = rstore_revision_dir(&p->store, rev);
	f->kernel = fs_join(f->dir, "vmlinux");
	f->initrd = fs_join(f->dir, "initrd.img");
	f->rootfs = fs_join(f->dir, "rootfs.ext4");
	if (!fs_is_file(f->initrd)) {
		free(f->initrd);
		f->initrd = NULL;
	}
	return 0;
}

/* Whether the revision's snapshot can start this instance (its sizing, the
 * backend and accelerator here); the reason when it cannot. */
static bool snapshot_fits(const struct rev_files *f, const struct instance *in, struct strbuf *why)
{
	const struct vmm_backend *b = vmm_backend_find(vmm_backend_default());
	if (!b || !b->restore)
		return false;
	struct vmm_accel_choice ac = VMM_ACCEL_CHOICE_INIT;
	struct err e = ERR_INIT;
	if (vmm_accel_resolve(b, f->kernel, &ac, &e) < 0) {
		err_release(&e);
		return false;
	}
	_cleanup_free_ char *version = b->version ? b->version() : NULL;
	_cleanup_free_ char *ksha = snapshot_kernel_sha256(f->dir);
	struct snapshot_deps want = {
	    .backend = b->name,
	    .vmm_version = version,
	    .accel = ac.accel,
	    .vcpus = (unsigned)json_get_int(in->record, "vcpus", 1),
	    .mem_mib = (uint64_t)json_get_int(in->record, "mem_mib", 256),
	    .data_disk_mib = (uint64_t)json_get_int(in->record, "data_disk_mib", 0),
	    .secrets_disk = true,
	    .kernel_sha256 = ksha,
	};
	vmm_accel_choice_release(&ac);
	return snapshot_usable(f->dir, &want, why) == 1;
}

enum boot_kind { BOOT_FRESH, BOOT_WAKE };

/* A VM of this instance that a killed start or wake left starting under
 * its own supervisor: waits for it to settle. 1 when it came up (the move
 * is done), 0 when it ended (start afresh), < 0 when it does neither in
 * time. */
#define IN_FLIGHT_WAIT_MS 120000
static int settle_in_flight(const struct instance *in, struct err *e)
{
	long long deadline = mono_ms() + IN_FLIGHT_WAIT_MS;
	while (vm_supervised(in->ref)) {
		json_t *vm = NULL;
		struct err ve = ERR_INIT;
		int g = vm_get(in->ref, &vm, &ve);
		err_release(&ve);
		const char *st = g == 0 ? json_get_str(vm, "state") : NULL;
		bool up = st && !strcmp(st, "running");
		json_decref(vm);
		if (up)
			return 1;
		if (mono_ms() > deadline)
			return err_set(e, -ETIMEDOUT, EXIT_FAILED,
				       "VM '%s' is still starting under another supervisor",
				       in->ref);
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* Starts the instance's VM: a fresh start of revision rev (restored from its
 * snapshot when that fits, else cold), or a wake from its own sleep. */
static int boot(const struct pool *p, struct instance *in, const char *rev, enum boot_kind kind,
		struct inst_move *m, struct err *e)
{
	struct rev_files f;
	int r = rev_files(p, rev, &f, e);
	if (r < 0)
		return r;
	_cleanup_free_ char *secrets = inst_file(in, INSTANCE_SECRETS);
	_cleanup_free_ char *mem = inst_file(in, INSTANCE_MEM);
	_cleanup_free_ char *sleep_dir = inst_file(in, VM_SLEEP_DIR);
	_cleanup_free_ char *snap = fs_join(f.dir, SNAPSHOT_DIR);
	const char *restore = NULL;
	struct strbuf why = STRBUF_INIT;
	if ((r = settle_in_flight(in, e)) != 0) {
		/* the start a killed command began came up: it is this move */
		if (r > 0) {
			r = 0;
			m->how = "a start already under way came up";
			json_object_set_new(in->record, "revision", json_string(rev));
			if (kind == BOOT_WAKE) {
				struct err ig = ERR_INIT;
				fs_rm_rf(sleep_dir, &ig);
				err_release(&ig);
			}
		}
		goto out;
	}
	if ((r = tenant_secrets_disk(in->tenant, secrets, e)) < 0)
		goto out;
	if (kind == BOOT_WAKE) {
		restore = sleep_dir;
		m->how = "woke from its sleep";
	} else if (snapshot_fits(&f, in, &why)) {
		/* its own RAM file, a copy of the snapshot's: it can sleep later */
		_cleanup_free_ char *snap_mem = fs_join(snap, SNAPSHOT_MEM);
		if ((r = fs_copy_sparse(snap_mem, mem, 0600, false, e)) < 0)
			goto out;
		restore = snap;
		m->how = "restored from the pool snapshot";
	} else {
		if (why.len)
			strvec_pushf(&m->warnings, "%s: cold boot", why.buf);
		unlink(mem); /* a cold boot starts from zeroed memory */
		m->how = "cold boot";
	}
	const struct vmm_drive drives[] = {{.path = secrets, .read_only = true}};
	const char *const rm_on_exit[] = {secrets, NULL};
	uint64_t data_mib = (uint64_t)json_get_int(in->record, "data_disk_mib", 0);
	struct vm_spec spec = {
	    .name = in->ref,
	    .kernel = f.kernel,
	    .initrd = f.initrd,
	    .rootfs = f.rootfs,
	    .drives = drives,
	    .n_drives = ARRAY_SIZE(drives),
	    .vcpus = (unsigned)json_get_int(in->record, "vcpus", 1),
	    .mem_mib = (uint64_t)json_get_int(in->record, "mem_mib", 256),
	    .data_disk_mib = data_mib,
	    .revision = rev,
	    .mem_file = mem,
	    .snapshot_dir = restore,
	    .snapshot_data_disk_mib = data_mib,
	    .wake = kind == BOOT_WAKE,
	    .remove_on_exit = rm_on_exit,
	    .fence = p->run_fence,
	};
	struct vm_started st = VM_STARTED_INIT;
	r = vm_start(&spec, VM_WAIT_READY, &st, e);
	for (size_t i = 0; i < st.warnings.n; i++)
		strvec_push(&m->warnings, st.warnings.v[i]);
	if (r == 0 && restore && !st.restored)
		m->how = "cold boot";
	if (r == 0) {
		json_object_set_new(in->record, "revision", json_string(rev));
		json_object_set_new(in->record, "started_from",
				    json_string(!st.restored	    ? "cold"
						: kind == BOOT_WAKE ? "sleep"
								    : "snapshot"));
		json_t *w = json_array();
		for (size_t i = 0; i < m->warnings.n; i++)
			json_array_append_new(w, json_string(m->warnings.v[i]));
		json_object_set_new(in->record, "warnings", w);
		json_object_del(in->record, "problem");
	}
	vm_started_release(&st);
	if (kind == BOOT_WAKE) {
		struct err ig =
		    ERR_INIT; /* awake, its saved state is stale: never restore it twice */
		fs_rm_rf(sleep_dir, &ig);
		err_release(&ig);
	}
out:
	if (r < 0)
		unlink(secrets);
	strbuf_release(&why);
	rev_files_release(&f);
	return r;
}

/* --- the state diagram -------------------------------------------------------- */

static bool allowed(enum inst_state from, enum inst_state to)
{
	switch (to) {
	case INST_RUNNING:
		return from == INST_STOPPED || from == INST_WARM || from == INST_SLEEPING;
	case INST_WARM:
		return from == INST_RUNNING;
	case INST_SLEEPING:
		return from == INST_RUNNING || from == INST_WARM;
	case INST_STOPPED:
		return from == INST_RUNNING || from == INST_WARM || from == INST_SLEEPING;
	case INST_REMOVED:
		return from == INST_STOPPED;
	}
	return false;
}

static int do_move(struct pool *p, struct instance *in, enum inst_state to, bool wipe,
		   struct inst_move *m, struct err *e)
{
	enum inst_state from = in->state;
	int r = 0;
	long long save_ms = 0;
	_cleanup_free_ char *cur = NULL;
	if (to == INST_RUNNING && from == INST_STOPPED) {
		/* a (re)start boots what the pool has now (in a cluster: what it runs) */
		if (p->run_revision)
			cur = xstrdup(p->run_revision), r = 1;
		else if ((r = pool_current(p, &cur, e)) < 0)
			return r;
		if (r == 0) {
			r = err_set(e, -ENOENT, EXIT_NOTFOUND, "Pool '%s/%s' has not been built",
				    p->tenant, p->id);
			err_hint(e, "pool build %s/%s", p->tenant, p->id);
			return r;
		}
		r = boot(p, in, cur, BOOT_FRESH, m, e);
	} else if (to == INST_RUNNING && from == INST_SLEEPING) {
		r = boot(p, in, json_get_str(in->record, "revision"), BOOT_WAKE, m, e);
	} else if (to == INST_RUNNING && from == INST_WARM) {
		r = vm_resume(in->ref, e);
		m->how = "resumed";
	} else if (to == INST_WARM) {
		r = vm_pause(in->ref, e);
		m->how = "paused";
	} else if (to == INST_SLEEPING) {
		r = vm_sleep(in->ref, &save_ms, e);
		m->how = "saved to disk";
	} else if (to == INST_STOPPED) {
		bool was = false;
		if (from != INST_SLEEPING)
			r = vm_stop(in->ref, &was, e);
		if (r == 0)
			drop_runtime_files(in, true);
		m->how = from == INST_SLEEPING ? "sleep discarded" : "shut down";
	} else if (to == INST_REMOVED) {
		_cleanup_free_ char *data = inst_file(in, INSTANCE_DATA);
		if (fs_exists(data) && !wipe) {
			r = err_set(e, -EBUSY, EXIT_REFUSED,
				    "Instance '%s' has a data volume; it is only removed with "
				    "--wipe-volumes",
				    in->ref);
			err_hint(e, "instance rm %s --wipe-volumes", in->ref);
			return r;
		}
		m->how = "removed";
		return rstore_remove_tree(in->dir, "instance", e);
	}
	if (r < 0)
		return r;
	in->state = to;
	in->adopted = false;
	return instance_save(in, e);
}

int instance_move(struct pool *p, struct instance *in, enum inst_state to, bool wipe_volumes,
		  bool locked, struct inst_move *m, struct err *e)
{
	m->from = in->state;
	m->to = to;
	struct fs_lock lk = FS_LOCK_INIT;
	int r = locked ? 0 : tenant_lock(in->tenant, &lk, e);
	if (r < 0)
		return r;
	if (!locked)
		instance_hold_tenant(in->tenant);
	/* the state may have changed while we waited */
	if (!locked) {
		struct instance fresh;
		if ((r = instance_load(in->tenant, in->pool, in->id, &fresh, e)) < 0)
			goto out;
		if (in->adopted && !fresh.adopted && fresh.state == in->state) {
			/* the first look adopted it (and recorded so) */
			fresh.adopted = true;
			fresh.adopted_from = in->adopted_from;
		}
		instance_release(in);
		*in = fresh;
		m->from = in->state;
	}
	if (in->adopted && in->state == to && allowed(in->adopted_from, to)) {
		/* what a killed command started came up as we looked: it is this move */
		m->from = in->adopted_from;
		m->how = "a start already under way came up";
		in->adopted = false;
		r = instance_save(in, e);
		goto out;
	}
	if (!allowed(in->state, to)) {
		r = err_set(e, -EINVAL, EXIT_REFUSED, "Invalid state transition: %s -> %s",
			    inst_state_name(in->state), inst_state_name(to));
		goto out;
	}
	if ((r = quota_check_move(in, to, e)) < 0)
		goto out;
	long long t0 = mono_ms();
	r = do_move(p, in, to, wipe_volumes, m, e);
	m->ms = mono_ms() - t0;
	if (r < 0)
		err_prefix(e, r, "%s: %s -> %s", in->ref, inst_state_name(m->from),
			   inst_state_name(to));
out:
	if (!locked)
		instance_hold_tenant(NULL);
	fs_lock_release(&lk);
	return r;
}

void instance_id_new(char out[11])
{
	char hex[9];
	random_hex(hex, 8);
	snprintf(out, 11, "i-%s", hex);
}
