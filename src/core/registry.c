#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "fs.h"
#include "jsonio.h"
#include "paths.h"
#include "registry.h"
#include "util.h"

const char *const slot_required_artifacts[] = {"rootfs.ext4", "vmlinux", "initrd.img", NULL};

char *registry_templates_dir(void)
{
	return fs_join(paths_home(), "templates");
}

void registry_slot_id(const char *manifest_path, struct sha256_hex *id)
{
	hash_sha256_str(manifest_path, id);
}

static void slot_paths(struct slot *s)
{
	_cleanup_free_ char *templates = registry_templates_dir();
	s->dir = fs_join(templates, s->id.s);
	s->record_path = fs_join(s->dir, "manifest.json");
	s->lock_path = fs_join(s->dir, "build.lock");
	rstore_init(&s->store, s->dir, SLOT_REVISIONS_REL);
}

/* Why a parsed record cannot be used, or NULL (malloc'd). */
static char *record_problem(const struct slot *s, const json_t *rec)
{
	json_t *sv = json_object_get(rec, "schema_version");
	if (!json_is_integer(sv))
		return xasprintf("%s has no schema_version", s->record_path);
	if (json_integer_value(sv) > SLOT_RECORD_SCHEMA_VERSION)
		return xasprintf("%s declares schema_version=%lld; this mvmctl supports %d; "
				 "upgrade mvmctl",
				 s->record_path, (long long)json_integer_value(sv),
				 SLOT_RECORD_SCHEMA_VERSION);
	static const char *const keys[] = {"manifest_path", "flake", "profile"};
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (!json_get_str(rec, keys[i]))
			return xasprintf("%s has no \"%s\" string", s->record_path, keys[i]);
	const char *mp = json_get_str(rec, "manifest_path");
	struct sha256_hex id;
	registry_slot_id(mp, &id);
	if (strcmp(id.s, s->id.s))
		return xasprintf("%s records manifest_path '%s', which belongs to slot %s, not %s",
				 s->record_path, mp, id.s, s->id.s);
	return NULL;
}

static int load_record(struct slot *s, unsigned flags, struct err *e)
{
	struct stat st;
	if (lstat(s->record_path, &st) < 0 && errno == ENOENT)
		return 0;
	json_t *rec = NULL;
	struct err le = ERR_INIT;
	char *problem = NULL;
	if (json_read_file(s->record_path, &rec, &le) < 0)
		problem = xstrdup(le.msg ? le.msg : s->record_path);
	else
		problem = record_problem(s, rec);
	err_release(&le);
	if (!problem) {
		s->record = rec;
		return 0;
	}
	json_decref(rec);
	if (flags & SLOT_OPEN_ANY) {
		s->record_problem = problem;
		return 0;
	}
	err_set(e, -EBADMSG, EXIT_FAILED, "the slot record is unreadable: %s", problem);
	err_hint(e,
		 "rebuild with 'mvmctl build --force' to replace it, or remove the slot with "
		 "'mvmctl manifest rm %s --force'",
		 s->manifest_path ? s->manifest_path : s->id.s);
	free(problem);
	return -EBADMSG;
}

int slot_open(struct slot *s, const char *manifest_path, unsigned flags, struct err *e)
{
	*s = (struct slot)SLOT_INIT;
	if (manifest_path[0] != '/')
		return err_set(e, -EINVAL, EXIT_FAILED,
			       "slot for '%s': the manifest path must be absolute", manifest_path);
	registry_slot_id(manifest_path, &s->id);
	s->manifest_path = xstrdup(manifest_path);
	slot_paths(s);
	return load_record(s, flags, e);
}

int slot_open_id(struct slot *s, const char *id, unsigned flags, struct err *e)
{
	*s = (struct slot)SLOT_INIT;
	if (!hash_is_sha256_hex(id))
		return err_set(e, -EINVAL, EXIT_FAILED,
			       "'%s' is not a slot id (64 lowercase hex digits)", id);
	memcpy(s->id.s, id, sizeof(s->id.s));
	slot_paths(s);
	if (!fs_is_dir(s->dir)) {
		err_set(e, -ENOENT, EXIT_NOTFOUND, "no slot %s in '%s'", id, s->dir);
		err_hint(e, "'mvmctl manifest ls' lists the built manifests");
		return -ENOENT;
	}
	int r = load_record(s, flags, e);
	if (r < 0)
		return r;
	if (s->record)
		s->manifest_path = xstrdup(json_get_str(s->record, "manifest_path"));
	return 0;
}

void slot_release(struct slot *s)
{
	fs_lock_release(&s->lock);
	free(s->manifest_path);
	free(s->dir);
	free(s->record_path);
	free(s->lock_path);
	rstore_release(&s->store);
	json_decref(s->record);
	free(s->record_problem);
	*s = (struct slot)SLOT_INIT;
}

bool slot_exists(const struct slot *s)
{
	return s->dir && fs_is_dir(s->dir);
}

static const char *slot_label(const struct slot *s)
{
	return s->manifest_path ? s->manifest_path : s->dir;
}

/* The holder's pid; the holder writes it just after taking the lock. */
static pid_t holder_pid(const char *path)
{
	for (int i = 0; i < 50; i++) {
		pid_t pid = fs_lock_holder(path);
		if (pid > 0)
			return pid;
		struct timespec ts = {.tv_sec = 0, .tv_nsec = 2 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return 0;
}

static int busy_error(const struct slot *s, struct err *e)
{
	pid_t pid = holder_pid(s->lock_path);
	if (pid > 0)
		return err_set(e, -EWOULDBLOCK, EXIT_FAILED,
			       "another build is in progress for %s (pid %d)", slot_label(s),
			       (int)pid);
	return err_set(e, -EWOULDBLOCK, EXIT_FAILED, "another build is in progress for %s",
		       slot_label(s));
}

int slot_lock(struct slot *s, bool wait, struct err *e)
{
	if (s->lock.fd >= 0)
		return 0;
	for (;;) {
		int r = fs_mkdir_p(s->dir, 0700, e);
		if (r < 0)
			return r;
		r = fs_lock_take(&s->lock, s->lock_path, wait, e);
		if (r == -EWOULDBLOCK)
			return busy_error(s, e);
		if (r < 0)
			return r;
		/* The slot may have been removed (its directory renamed away) while we
		 * waited: a lock on a file that is no longer at lock_path is no lock. */
		struct stat held, now;
		if (fstat(s->lock.fd, &held) == 0 && stat(s->lock_path, &now) == 0 &&
		    held.st_dev == now.st_dev && held.st_ino == now.st_ino)
			return 0;
		fs_lock_release(&s->lock);
	}
}

void slot_unlock(struct slot *s)
{
	fs_lock_release(&s->lock);
}

bool slot_busy(const struct slot *s)
{
	if (s->lock.fd >= 0)
		return false;
	_cleanup_close_ int fd = open(s->lock_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0)
		return errno == EWOULDBLOCK;
	flock(fd, LOCK_UN);
	return false;
}

int slot_check_drift(const struct slot *s, const char *flake, const char *profile, struct err *e)
{
	if (!s->record)
		return 0;
	const char *rf = json_get_str(s->record, "flake");
	const char *rp = json_get_str(s->record, "profile");
	if (rf && rp && !strcmp(rf, flake) && !strcmp(rp, profile))
		return 0;
	return err_set(
	    e, -EEXIST, EXIT_REFUSED,
	    "Manifest at %s declares flake=%s, profile=%s. The slot at %s was last built "
	    "with flake=%s, profile=%s. Pass --force to overwrite, or pick a different "
	    "manifest directory.",
	    slot_label(s), flake, profile, s->id.s, rf ? rf : "(none)", rp ? rp : "(none)");
}

int slot_current(const struct slot *s, char **revision, struct err *e)
{
	return rstore_current(&s->store, revision, e);
}

int slot_revision_complete(const struct slot *s, const char *revision, char **why)
{
	return rstore_revision_complete(&s->store, revision, slot_required_artifacts, why);
}

int slot_stage(struct slot *s, struct rstore_stage *st, struct err *e)
{
	if (s->lock.fd < 0)
		return err_set(e, -ENOLCK, EXIT_FAILED,
			       "staging a revision for %s without its lock", slot_label(s));
	return rstore_stage_begin(st, s->id.s, e);
}

int slot_commit(struct slot *s, struct rstore_stage *st, const char *revision, struct err *e)
{
	if (s->lock.fd < 0)
		return err_set(e, -ENOLCK, EXIT_FAILED,
			       "committing a revision for %s without its lock", slot_label(s));
	int r = rstore_commit(&s->store, st, revision, slot_required_artifacts, e);
	if (r < 0)
		return err_prefix(e, r, "registering revision %.12s for %s", revision,
				  slot_label(s));
	return 0;
}

void slot_record_from_manifest(const struct manifest *m, struct slot_record *r)
{
	*r = (struct slot_record){
	    .flake = m->flake_resolved,
	    .profile = m->profile,
	    .vcpus = m->vcpus,
	    .mem_mib = m->mem_mib,
	    .data_disk_mib = m->data_disk_mib,
	    .name = m->name,
	};
}

int slot_write_record(struct slot *s, const struct slot_record *r, struct err *e)
{
	if (!s->manifest_path)
		return err_set(e, -EINVAL, EXIT_FAILED,
			       "slot %s: no manifest path to record (open it by path)", s->id.s);
	if (!r->flake || !r->profile)
		return err_set(e, -EINVAL, EXIT_FAILED,
			       "slot record for %s needs flake and profile", s->manifest_path);
	struct sha256_hex mhash;
	int ret = hash_sha256_file(s->manifest_path, &mhash, NULL, e);
	if (ret < 0)
		return ret;
	_cleanup_free_ char *now = json_now_rfc3339();
	const char *created = s->record ? json_get_str(s->record, "created_at") : NULL;
	json_t *rec = json_pack("{s:i, s:s, s:s, s:s, s:s, s:i, s:I, s:I}", "schema_version",
				SLOT_RECORD_SCHEMA_VERSION, "manifest_path", s->manifest_path,
				"manifest_hash", s->id.s, "flake", r->flake, "profile", r->profile,
				"vcpus", r->vcpus, "mem_mib", (json_int_t)r->mem_mib,
				"data_disk_mib", (json_int_t)r->data_disk_mib);
	/* upstream mvm's names: manifest_hash is the slot, flake_ref the flake */
	json_object_set_new(rec, "manifest_sha256", json_string(mhash.s));
	json_object_set_new(rec, "flake_ref", json_string(r->flake));
	if (r->name)
		json_object_set_new(rec, "name", json_string(r->name));
	json_object_set_new(rec, "backend",
			    json_string(r->backend ? r->backend : SLOT_BACKEND_DEFAULT));
	json_object_set_new(rec, "provenance",
			    r->provenance ? json_deep_copy(r->provenance) : json_object());
	json_object_set_new(rec, "created_at", json_string(created ? created : now));
	json_object_set_new(rec, "updated_at", json_string(now));
	json_t *last = NULL;
	if (r->revision)
		last = json_pack("{s:s, s:s}", "revision", r->revision, "built_at", now);
	else if (s->record && json_is_object(json_object_get(s->record, "last_build")))
		last = json_deep_copy(json_object_get(s->record, "last_build"));
	if (last)
		json_object_set_new(rec, "last_build", last);
	ret = fs_mkdir_p(s->dir, 0700, e);
	if (ret >= 0)
		ret = json_write_file(s->record_path, rec, e);
	if (ret < 0) {
		json_decref(rec);
		return ret;
	}
	json_decref(s->record);
	s->record = rec;
	free(s->record_problem);
	s->record_problem = NULL;
	return 0;
}

int slot_remove(struct slot *s, struct err *e)
{
	if (!slot_exists(s))
		return 0;
	int r = slot_lock(s, false, e);
	if (r < 0)
		return r;
	r = rstore_remove_tree(s->dir, s->id.s, e);
	slot_unlock(s);
	if (r < 0)
		return err_prefix(e, r, "removing the slot of %s", slot_label(s));
	return 0;
}

/* The manifest file itself, for registry_remove_slot --manifest-file. */
static int remove_manifest_file(const char *path, bool *removed, struct err *e)
{
	_cleanup_free_ char *base = fs_basename(path);
	if (!strcmp(base, "flake.nix") || !strcmp(base, "flake.lock"))
		return err_set(e, -EPERM, EXIT_REFUSED,
			       "refusing to delete '%s': --manifest-file deletes the manifest, "
			       "never the flake",
			       path);
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return err_sys(e, -errno, EXIT_FAILED, "removing '%s'", path);
	}
	if (!S_ISREG(st.st_mode))
		return err_set(e, -EINVAL, EXIT_FAILED,
			       "refusing to delete '%s': not a regular file", path);
	if (unlink(path) < 0)
		return err_sys(e, -errno, EXIT_FAILED, "removing '%s'", path);
	*removed = true;
	return 0;
}

int registry_remove_slot(struct slot *s, bool manifest_file, struct slot_removal *out,
			 struct err *e)
{
	*out = (struct slot_removal){.removed = slot_exists(s)};
	if (out->removed) {
		out->freed_bytes = rstore_disk_usage(s->dir);
		int r = slot_remove(s, e);
		if (r < 0)
			return r;
	}
	if (manifest_file && s->manifest_path)
		return remove_manifest_file(s->manifest_path, &out->manifest_file_removed, e);
	return 0;
}

/* ---- listing ----------------------------------------------------------------- */

const char *slot_status_name(enum slot_status st)
{
	switch (st) {
	case SLOT_OK:
		return "ok";
	case SLOT_ORPHAN:
		return "orphan";
	case SLOT_UNREADABLE:
		return "unreadable";
	case SLOT_BUILDING:
		return "building";
	}
	return "unknown";
}

bool slot_status_prunable(enum slot_status st)
{
	return st == SLOT_ORPHAN || st == SLOT_UNREADABLE;
}

static void classify(struct slot_entry *en)
{
	struct slot *s = &en->slot;
	struct err e = ERR_INIT;
	if (slot_current(s, &en->current, &e) < 0)
		en->current_problem = xstrdup(e.msg);
	err_release(&e);
	if (!s->record && !s->record_problem) {
		if (slot_busy(s)) {
			en->status = SLOT_BUILDING;
			return;
		}
		s->record_problem = xasprintf("%s is missing", s->record_path);
	}
	if (s->record_problem) {
		en->status = SLOT_UNREADABLE;
		return;
	}
	struct stat st;
	if (stat(s->manifest_path, &st) < 0 && (errno == ENOENT || errno == ENOTDIR))
		en->status = SLOT_ORPHAN;
	else
		en->status = SLOT_OK;
}

int slot_entry_open(struct slot_entry *en, const char *id, struct err *e)
{
	*en = (struct slot_entry){.slot = SLOT_INIT};
	int r = slot_open_id(&en->slot, id, SLOT_OPEN_ANY, e);
	if (r < 0) {
		slot_release(&en->slot);
		return r;
	}
	classify(en);
	return 0;
}

void slot_entry_release(struct slot_entry *en)
{
	slot_release(&en->slot);
	free(en->current);
	free(en->current_problem);
	en->current = en->current_problem = NULL;
}

int registry_prune_slot(const char *id, bool dry_run, enum slot_status *now, struct err *e)
{
	struct slot_entry first;
	int r = slot_entry_open(&first, id, e);
	if (r < 0)
		return r;
	if (dry_run) { /* look only: not even a lock file is created */
		*now = first.status;
		r = slot_busy(&first.slot) ? busy_error(&first.slot, e)
					   : slot_status_prunable(first.status);
		slot_entry_release(&first);
		return r;
	}
	r = slot_lock(&first.slot, false, e);
	if (r < 0) {
		slot_entry_release(&first);
		return r;
	}
	/* Holding the lock, look again: a build may have finished meanwhile. */
	struct slot_entry again;
	struct err le = ERR_INIT;
	r = slot_entry_open(&again, id, &le);
	err_release(&le);
	if (r < 0) {
		slot_entry_release(&first);
		*now = SLOT_UNREADABLE;
		return 0; /* gone already */
	}
	/* "building" can only mean our own lock now */
	if (again.status == SLOT_BUILDING)
		again.status = SLOT_UNREADABLE;
	*now = again.status;
	if (!slot_status_prunable(again.status)) {
		r = 0;
	} else {
		r = rstore_remove_tree(first.slot.dir, id, e);
		if (r >= 0)
			r = 1;
	}
	slot_entry_release(&again);
	slot_entry_release(&first);
	return r;
}

int registry_prune_orphans(struct registry_prune *p, bool dry_run, struct err *e)
{
	*p = (struct registry_prune)REGISTRY_PRUNE_INIT;
	int r = registry_list(&p->list, e);
	if (r < 0)
		return r;
	p->v = xcalloc(p->list.nslots + 1, sizeof(*p->v));
	for (size_t i = 0; i < p->list.nslots; i++) {
		const struct slot_entry *en = &p->list.slots[i];
		if (!slot_status_prunable(en->status))
			continue;
		struct slot_pruned *pr = &p->v[p->n];
		*pr = (struct slot_pruned){.entry = en,
					   .disk_bytes = rstore_disk_usage(en->slot.dir)};
		struct err pe = ERR_INIT;
		int ret = registry_prune_slot(en->slot.id.s, dry_run, &pr->now, &pe);
		if (ret < 0)
			pr->skipped = xstrdup(pe.msg ? pe.msg : strerror(-ret));
		err_release(&pe);
		if (ret == 0)
			continue; /* repaired meanwhile */
		p->n++;
		if (ret > 0) {
			p->removed++;
			p->bytes += pr->disk_bytes;
		}
	}
	return 0;
}

void registry_prune_release(struct registry_prune *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i].skipped);
	free(p->v);
	registry_list_release(&p->list);
	*p = (struct registry_prune)REGISTRY_PRUNE_INIT;
}

static int cmp_slot(const void *pa, const void *pb)
{
	const struct slot_entry *a = pa, *b = pb;
	const char *ma = a->slot.manifest_path, *mb = b->slot.manifest_path;
	if (ma && mb) {
		int c = strcmp(ma, mb);
		if (c)
			return c;
	} else if (ma || mb) {
		return ma ? -1 : 1;
	}
	return strcmp(a->slot.id.s, b->slot.id.s);
}

static int cmp_legacy(const void *pa, const void *pb)
{
	const struct legacy_entry *a = pa, *b = pb;
	return strcmp(a->name, b->name);
}

int registry_list(struct registry_list *l, struct err *e)
{
	*l = (struct registry_list)REGISTRY_LIST_INIT;
	_cleanup_free_ char *templates = registry_templates_dir();
	DIR *d = opendir(templates);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return err_sys(e, -errno, EXIT_FAILED, "reading '%s'", templates);
	}
	struct strvec slots = STRVEC_INIT, legacy = STRVEC_INIT;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		_cleanup_free_ char *path = fs_join(templates, de->d_name);
		struct stat st;
		if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		strvec_push(hash_is_sha256_hex(de->d_name) ? &slots : &legacy, de->d_name);
	}
	closedir(d);
	l->slots = xcalloc(slots.n + 1, sizeof(*l->slots));
	for (size_t i = 0; i < slots.n; i++) {
		struct err le = ERR_INIT;
		/* one that vanished since readdir (removed meanwhile) is not listed */
		if (slot_entry_open(&l->slots[l->nslots], slots.v[i], &le) >= 0)
			l->nslots++;
		err_release(&le);
	}
	l->legacy = xcalloc(legacy.n + 1, sizeof(*l->legacy));
	for (size_t i = 0; i < legacy.n; i++) {
		l->legacy[i].name = xstrdup(legacy.v[i]);
		l->legacy[i].path = fs_join(templates, legacy.v[i]);
	}
	l->nlegacy = legacy.n;
	strvec_clear(&slots);
	strvec_clear(&legacy);
	if (l->nslots)
		qsort(l->slots, l->nslots, sizeof(*l->slots), cmp_slot);
	if (l->nlegacy)
		qsort(l->legacy, l->nlegacy, sizeof(*l->legacy), cmp_legacy);
	return 0;
}

void registry_list_release(struct registry_list *l)
{
	for (size_t i = 0; i < l->nslots; i++)
		slot_entry_release(&l->slots[i]);
	free(l->slots);
	for (size_t i = 0; i < l->nlegacy; i++) {
		free(l->legacy[i].name);
		free(l->legacy[i].path);
	}
	free(l->legacy);
	*l = (struct registry_list)REGISTRY_LIST_INIT;
}

const char *slot_manifest_sha256(const json_t *record)
{
	const char *h = json_get_str(record, "manifest_sha256");
	if (h)
		return h;
	h = json_get_str(record, "manifest_hash");
	/* older records: the content's hash; newer ones name the slot there */
	return h && !json_get_str(record, "flake_ref") ? h : NULL;
}
