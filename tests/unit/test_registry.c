/* The registry: SHA-256 helpers, slot ids, the revision store's commit
 * (layout, modes, replacing a revision, `current`), completeness and
 * verification, staging leftovers, the build lock and the slot record. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <dirent.h>

#include "core/fs.h"
#include "core/hash.h"
#include "core/jsonio.h"
#include "core/paths.h"
#include "core/registry.h"
#include "core/rstore.h"
#include "core/util.h"

static char *base; /* a fresh directory; $MVM_HOME is <base>/home */

static const char rev_a[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char rev_b[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

static void put(const char *dir, const char *name, const char *content)
{
	_cleanup_free_ char *path = fs_join(dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	chmod(path, 0644); /* as mkfs or cp would leave it */
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	size_t n = 0;
	if (!d)
		return 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* A manifest file at <base>/<project>/mvm.toml; returns its path. */
static char *project(const char *name)
{
	_cleanup_free_ char *dir = fs_join(base, name);
	struct err e = ERR_INIT;
	assert_int_equal(fs_mkdir_p(dir, 0755, &e), 0);
	put(dir, "mvm.toml", "vcpus = 2\n");
	return fs_join(dir, "mvm.toml");
}

/* Stages the three required artifacts (rootfs with the given content). */
static void stage_artifacts(struct slot *s, struct rstore_stage *st, const char *rootfs)
{
	struct err e = ERR_INIT;
	assert_int_equal(slot_stage(s, st, &e), 0);
	put(st->dir, "rootfs.ext4", rootfs);
	put(st->dir, "vmlinux", "kernel");
	put(st->dir, "initrd.img", "initrd");
	put(st->dir, "revision.json", "{}\n");
}

static void open_locked(struct slot *s, const char *mp)
{
	struct err e = ERR_INIT;
	assert_int_equal(slot_open(s, mp, 0, &e), 0);
	assert_int_equal(slot_lock(s, false, &e), 0);
}

static void commit(struct slot *s, const char *rev, const char *rootfs)
{
	struct rstore_stage st = RSTORE_STAGE_INIT;
	struct err e = ERR_INIT;
	stage_artifacts(s, &st, rootfs);
	int r = slot_commit(s, &st, rev, &e);
	if (r < 0)
		fail_msg("commit: %s", e.msg);
	assert_null(st.dir);
	rstore_stage_release(&st);
}

static void test_hash_vectors(void **state)
{
	(void)state;
	struct sha256_hex h;
	hash_sha256_str("abc", &h);
	assert_string_equal(h.s,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	hash_sha256_buf("", 0, &h);
	assert_string_equal(h.s,
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	put(base, "abc", "abc");
	_cleanup_free_ char *p = fs_join(base, "abc");
	uint64_t size = 0;
	struct err e = ERR_INIT;
	assert_int_equal(hash_sha256_file(p, &h, &size, &e), 0);
	assert_string_equal(h.s,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(size, 3);
	_cleanup_free_ char *missing = fs_join(base, "nope");
	assert_true(hash_sha256_file(missing, &h, NULL, &e) < 0);
	assert_int_equal(e.exit, EXIT_NOTFOUND);
	assert_non_null(strstr(e.msg, missing));
	err_release(&e);
	assert_true(hash_is_sha256_hex(rev_a));
	assert_false(hash_is_sha256_hex("ABCDEF"));
	assert_false(
	    hash_is_sha256_hex("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
}

static void test_slot_open_creates_nothing(void **state)
{
	(void)state;
	struct slot s;
	struct err e = ERR_INIT;
	assert_int_equal(slot_open(&s, "/no/such/project/mvm.toml", 0, &e), 0);
	struct sha256_hex want;
	hash_sha256_str("/no/such/project/mvm.toml", &want);
	assert_string_equal(s.id.s, want.s);
	_cleanup_free_ char *dir = xasprintf("%s/templates/%s", paths_home(), want.s);
	assert_string_equal(s.dir, dir);
	assert_null(s.record);
	assert_false(slot_exists(&s));
	assert_false(fs_exists(dir));
	char *cur = NULL;
	assert_int_equal(slot_current(&s, &cur, &e), 0);
	slot_release(&s);
	assert_true(slot_open(&s, "relative/mvm.toml", 0, &e) < 0);
	err_release(&e);
	slot_release(&s);
}

static void test_commit_layout_and_modes(void **state)
{
	(void)state;
	_cleanup_free_ char *mp = project("layout");
	struct slot s;
	open_locked(&s, mp);
	commit(&s, rev_a, "rootfs-a");

	_cleanup_free_ char *rd = rstore_revision_dir(&s.store, rev_a);
	char target[256];
	ssize_t n = readlink(s.store.current, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	_cleanup_free_ char *want = xasprintf("artifacts/revisions/%s", rev_a);
	assert_string_equal(target, want);

	char *cur = NULL;
	struct err e = ERR_INIT;
	assert_int_equal(slot_current(&s, &cur, &e), 1);
	assert_string_equal(cur, rev_a);
	free(cur);

	assert_int_equal(mode_of(s.dir), 0700);
	assert_int_equal(mode_of(s.store.revisions), 0700);
	assert_int_equal(mode_of(rd), 0700);
	static const char *const files[] = {"rootfs.ext4", "vmlinux", "initrd.img", "revision.json",
					    "checksums.json"};
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		_cleanup_free_ char *p = fs_join(rd, files[i]);
		assert_int_equal(mode_of(p), 0600);
	}

	json_t *sums = NULL;
	_cleanup_free_ char *sp = fs_join(rd, "checksums.json");
	assert_int_equal(json_read_file(sp, &sums, &e), 0);
	json_t *files_o = json_object_get(sums, "files");
	assert_int_equal(json_object_size(files_o), 4);
	json_t *rootfs = json_object_get(files_o, "rootfs.ext4");
	struct sha256_hex h;
	hash_sha256_str("rootfs-a", &h);
	assert_string_equal(json_get_str(rootfs, "sha256"), h.s);
	assert_int_equal(json_get_int(rootfs, "size", -1), 8);
	json_decref(sums);

	assert_int_equal(slot_revision_complete(&s, rev_a, NULL), 1);
	_cleanup_free_ char *tmp = rstore_tmp_dir();
	assert_int_equal(count_entries(tmp), 0);
	slot_release(&s);
}

static void test_recommit_same_hash_replaces(void **state)
{
	(void)state;
	_cleanup_free_ char *mp = project("recommit");
	struct slot s;
	open_locked(&s, mp);
	commit(&s, rev_a, "first");
	commit(&s, rev_a, "second!");
	_cleanup_free_ char *rd = rstore_revision_dir(&s.store, rev_a);
	_cleanup_free_ char *rootfs = fs_join(rd, "rootfs.ext4");
	struct strbuf sb = STRBUF_INIT;
	assert_int_equal(strbuf_read_file(&sb, rootfs, 100), 0);
	assert_string_equal(sb.buf, "second!");
	strbuf_release(&sb);
	char *cur = NULL;
	struct err e = ERR_INIT;
	assert_int_equal(slot_current(&s, &cur, &e), 1);
	assert_string_equal(cur, rev_a);
	free(cur);
	struct rstore_verify v = RSTORE_VERIFY_INIT;
	assert_int_equal(rstore_verify(&s.store, rev_a, slot_required_artifacts, &v, &e), 0);
	assert_int_equal(v.problems, 0);
	assert_int_equal(v.n, 4);
	rstore_verify_release(&v);
	/* the replaced tree is gone, nothing else is left in tmp/ */
	_cleanup_free_ char *tmp = rstore_tmp_dir();
	assert_int_equal(count_entries(tmp), 0);
	assert_int_equal(count_entries(s.store.revisions), 1);
	slot_release(&s);
}

static void test_new_revision_keeps_old(void **state)
{
	(void)state;
	_cleanup_free_ char *mp = project("tworevs");
	struct slot s;
	open_locked(&s, mp);
	commit(&s, rev_b, "b");
	commit(&s, rev_a, "a");
	struct strvec hashes = STRVEC_INIT;
	struct err e = ERR_INIT;
	assert_int_equal(rstore_list(&s.store, &hashes, &e), 0);
	assert_int_equal(hashes.n, 2);
	assert_string_equal(hashes.v[0], rev_a);
	assert_string_equal(hashes.v[1], rev_b);
	strvec_clear(&hashes);
	char *cur = NULL;
	assert_int_equal(slot_current(&s, &cur, &e), 1);
	assert_string_equal(cur, rev_a);
	free(cur);
	assert_int_equal(rstore_set_current(&s.store, rev_b, &e), 0);
	assert_int_equal(slot_current(&s, &cur, &e), 1);
	assert_string_equal(cur, rev_b);
	free(cur);
	slot_release(&s);
}

static void test_complete_and_verify_detect_damage(void **state)
{
	(void)state;
	_cleanup_free_ char *mp = project("damage");
	struct slot s;
	open_locked(&s, mp);
	commit(&s, rev_a, "rootfs");
	_cleanup_free_ char *rd = rstore_revision_dir(&s.store, rev_a);
	_cleanup_free_ char *rootfs = fs_join(rd, "rootfs.ext4");
	_cleanup_free_ char *vmlinux = fs_join(rd, "vmlinux");
	_cleanup_free_ char *initrd = fs_join(rd, "initrd.img");

	/* same size, one byte different: complete (no hashing), verify catches it */
	put(rd, "initrd.img", "initrD");
	assert_int_equal(slot_revision_complete(&s, rev_a, NULL), 1);

	/* a size change is caught without hashing */
	put(rd, "rootfs.ext4", "rootfs+");
	char *why = NULL;
	assert_int_equal(slot_revision_complete(&s, rev_a, &why), 0);
	assert_non_null(strstr(why, "rootfs.ext4"));
	assert_non_null(strstr(why, "7 bytes, 6 recorded"));
	free(why);

	unlink(vmlinux);
	struct rstore_verify v = RSTORE_VERIFY_INIT;
	struct err e = ERR_INIT;
	assert_int_equal(rstore_verify(&s.store, rev_a, slot_required_artifacts, &v, &e), 0);
	assert_int_equal(v.problems, 3);
	for (size_t i = 0; i < v.n; i++) {
		const struct rstore_verified *f = &v.files[i];
		if (!strcmp(f->name, "vmlinux"))
			assert_int_equal(f->status, RSTORE_FILE_MISSING);
		else if (!strcmp(f->name, "rootfs.ext4") || !strcmp(f->name, "initrd.img"))
			assert_int_equal(f->status, RSTORE_FILE_CHANGED);
		else
			assert_int_equal(f->status, RSTORE_FILE_OK);
	}
	rstore_verify_release(&v);
	why = NULL;
	assert_int_equal(slot_revision_complete(&s, rev_a, &why), 0);
	free(why);
	assert_int_equal(slot_revision_complete(&s, rev_b, NULL), 0);
	(void)initrd;
	slot_release(&s);
}

static void test_commit_refuses_missing_or_empty(void **state)
{
	(void)state;
	_cleanup_free_ char *mp = project("required");
	struct slot s;
	open_locked(&s, mp);
	commit(&s, rev_a, "good");
	struct rstore_stage st = RSTORE_STAGE_INIT;
	struct err e = ERR_INIT;
	stage_artifacts(&s, &st, "");
	assert_true(slot_commit(&s, &st, rev_b, &e) < 0);
	assert_int_equal(e.exit, EXIT_BUILD);
	assert_non_null(strstr(e.msg, "empty rootfs.ext4"));
	err_release(&e);
	_cleanup_free_ char *vml = fs_join(st.dir, "vmlinux");
	put(st.dir, "rootfs.ext4", "x");
	unlink(vml);
	assert_true(slot_commit(&s, &st, rev_b, &e) < 0);
	assert_non_null(strstr(e.msg, "no vmlinux"));
	err_release(&e);
	rstore_stage_release(&st);
	assert_false(rstore_has_revision(&s.store, rev_b));
	char *cur = NULL;
	assert_int_equal(slot_current(&s, &cur, &e), 1);
	assert_string_equal(cur, rev_a);
	free(cur);
	/* a symlink in the stage is refused */
	stage_artifacts(&s, &st, "r");
	_cleanup_free_ char *ln = fs_join(st.dir, "extra");
	assert_int_equal(symlink("/etc/passwd", ln), 0);
	assert_true(slot_commit(&s, &st, rev_b, &e) < 0);
	assert_non_null(strstr(e.msg, "not a regular file"));
	err_release(&e);
	rstore_stage_release(&st);
	assert_false(rstore_has_revision(&s.store, rev_b));
	slot_release(&s);
}

static void test_stage_sweeps_leftovers(void **state)
{
	(void)state;
	_cleanup_free_ char *mp = project("sweep");
	struct slot s;
	open_locked(&s, mp);
	_cleanup_free_ char *tmp = rstore_tmp_dir();
	struct err e = ERR_INIT;
	assert_int_equal(fs_mkdir_p(tmp, 0700, &e), 0);
	pid_t dead = fork();
	if (dead == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	/* ours (killed build of this slot), a dead process's, a live other slot's */
	_cleanup_free_ char *mine = xasprintf("%s/1-0-stage-%s", tmp, s.id.s);
	_cleanup_free_ char *gone = xasprintf("%s/%d-0-stage-other", tmp, (int)dead);
	_cleanup_free_ char *live = xasprintf("%s/1-0-stage-other", tmp);
	assert_int_equal(fs_mkdir_p(mine, 0700, &e), 0);
	put(mine, "rootfs.ext4", "half");
	assert_int_equal(fs_mkdir_p(gone, 0700, &e), 0);
	assert_int_equal(fs_mkdir_p(live, 0700, &e), 0);
	struct rstore_stage st = RSTORE_STAGE_INIT;
	assert_int_equal(slot_stage(&s, &st, &e), 0);
	assert_false(fs_exists(mine));
	assert_false(fs_exists(gone));
	assert_true(fs_is_dir(live));
	assert_int_equal(mode_of(st.dir), 0700);
	assert_int_equal(mode_of(tmp), 0700);
	rstore_stage_release(&st);
	assert_int_equal(count_entries(tmp), 1);
	struct strvec removed = STRVEC_INIT;
	assert_int_equal(rstore_sweep_tmp(false, &removed, NULL, &e), 0);
	assert_int_equal(removed.n, 0); /* pid 1 is alive */
	fs_rm_rf(live, &e);
	strvec_clear(&removed);
	slot_release(&s);
}

static void test_lock_is_exclusive_and_names_the_holder(void **state)
{
	(void)state;
	_cleanup_free_ char *mp = project("lock");
	struct slot a, b;
	open_locked(&a, mp);
	struct err e = ERR_INIT;
	assert_int_equal(slot_open(&b, mp, 0, &e), 0);
	assert_true(slot_busy(&b));
	assert_int_equal(slot_lock(&b, false, &e), -EWOULDBLOCK);
	assert_int_equal(e.exit, EXIT_FAILED);
	_cleanup_free_ char *want =
	    xasprintf("another build is in progress for %s (pid %d)", mp, (int)getpid());
	assert_string_equal(e.msg, want);
	err_release(&e);
	struct rstore_stage st = RSTORE_STAGE_INIT;
	assert_true(slot_stage(&b, &st, &e) < 0); /* no lock, no stage */
	err_release(&e);
	slot_unlock(&a);
	assert_false(slot_busy(&b));
	assert_int_equal(slot_lock(&b, false, &e), 0);
	_cleanup_free_ char *lock = fs_join(b.dir, "build.lock");
	assert_int_equal(mode_of(lock), 0600);
	slot_release(&b);
	slot_release(&a);
}

static void test_record_roundtrip_and_drift(void **state)
{
	(void)state;
	_cleanup_free_ char *mp = project("record");
	struct slot s;
	open_locked(&s, mp);
	commit(&s, rev_a, "r");
	json_t *prov = json_pack("{s:s}", "builder", "host");
	struct slot_record r = {.flake = "/p",
				.profile = "default",
				.vcpus = 2,
				.mem_mib = 1024,
				.provenance = prov,
				.revision = rev_a};
	struct err e = ERR_INIT;
	assert_int_equal(slot_write_record(&s, &r, &e), 0);
	json_decref(prov);
	assert_int_equal(mode_of(s.record_path), 0600);
	json_t *rec = NULL;
	assert_int_equal(json_read_file(s.record_path, &rec, &e), 0);
	struct sha256_hex mh;
	hash_sha256_str("vcpus = 2\n", &mh);
	assert_int_equal(json_get_int(rec, "schema_version", 0), 1);
	assert_string_equal(json_get_str(rec, "manifest_path"), mp);
	assert_string_equal(json_get_str(rec, "manifest_sha256"), mh.s);
	assert_string_equal(slot_manifest_sha256(rec), mh.s);
	assert_string_equal(json_get_str(rec, "manifest_hash"), s.id.s);
	assert_string_equal(json_get_str(rec, "flake"), "/p");
	assert_string_equal(json_get_str(rec, "flake_ref"), "/p");
	assert_string_equal(json_get_str(rec, "backend"), "qemu");
	assert_int_equal(json_get_int(rec, "mem_mib", 0), 1024);
	assert_int_equal(json_get_int(rec, "data_disk_mib", -1), 0);
	assert_null(json_object_get(rec, "name"));
	assert_string_equal(json_get_str(json_object_get(rec, "provenance"), "builder"), "host");
	assert_string_equal(json_get_str(json_object_get(rec, "last_build"), "revision"), rev_a);
	/* created_at survives a rebuild */
	json_object_set_new(rec, "created_at", json_string("2020-01-01T00:00:00Z"));
	assert_int_equal(json_write_file(s.record_path, rec, &e), 0);
	json_decref(rec);
	slot_release(&s);

	assert_int_equal(slot_open(&s, mp, 0, &e), 0);
	assert_non_null(s.record);
	assert_int_equal(slot_check_drift(&s, "/p", "default", &e), 0);
	assert_int_equal(slot_check_drift(&s, "/p", "web", &e), -EEXIST);
	assert_int_equal(e.exit, EXIT_REFUSED);
	_cleanup_free_ char *want = xasprintf(
	    "Manifest at %s declares flake=/p, profile=web. The slot at %s was last built with "
	    "flake=/p, profile=default. Pass --force to overwrite, or pick a different manifest "
	    "directory.",
	    mp, s.id.s);
	assert_string_equal(e.msg, want);
	err_release(&e);
	r = (struct slot_record){
	    .flake = "/p", .profile = "web", .vcpus = 4, .mem_mib = 2048, .name = "api"};
	assert_int_equal(slot_write_record(&s, &r, &e), 0);
	assert_string_equal(json_get_str(s.record, "created_at"), "2020-01-01T00:00:00Z");
	assert_string_equal(json_get_str(s.record, "name"), "api");
	/* no revision given: last_build is kept */
	assert_string_equal(json_get_str(json_object_get(s.record, "last_build"), "revision"),
			    rev_a);
	slot_release(&s);
}

static void test_corrupt_record(void **state)
{
	(void)state;
	_cleanup_free_ char *mp = project("corrupt");
	struct slot s;
	struct err e = ERR_INIT;
	open_locked(&s, mp);
	put(s.dir, "manifest.json", "{\"schema_version\": 1,");
	slot_release(&s);
	assert_true(slot_open(&s, mp, 0, &e) < 0);
	assert_int_equal(e.exit, EXIT_FAILED);
	assert_non_null(strstr(e.msg, "manifest.json"));
	assert_non_null(e.hint);
	err_release(&e);
	slot_release(&s);
	assert_int_equal(slot_open(&s, mp, SLOT_OPEN_ANY, &e), 0);
	assert_null(s.record);
	assert_non_null(s.record_problem);
	slot_release(&s);
	/* a record of another manifest (a copied slot) is inconsistent */
	assert_int_equal(slot_open(&s, mp, SLOT_OPEN_ANY, &e), 0);
	assert_int_equal(slot_lock(&s, false, &e), 0);
	put(s.dir, "manifest.json",
	    "{\"schema_version\": 1, \"manifest_path\": \"/elsewhere/mvm.toml\", \"flake\": \"x\", "
	    "\"profile\": \"y\"}");
	slot_release(&s);
	assert_int_equal(slot_open(&s, mp, 0, &e), -EBADMSG);
	assert_non_null(strstr(e.msg, "belongs to slot"));
	err_release(&e);
	slot_release(&s);
}

static void test_dangling_current_is_an_error(void **state)
{
	(void)state;
	_cleanup_free_ char *mp = project("dangling");
	struct slot s;
	open_locked(&s, mp);
	commit(&s, rev_a, "x");
	struct err e = ERR_INIT;
	_cleanup_free_ char *target = xasprintf("artifacts/revisions/%s", rev_b);
	assert_int_equal(fs_symlink_atomic(target, s.store.current, &e), 0);
	char *cur = NULL;
	assert_true(slot_current(&s, &cur, &e) < 0);
	assert_non_null(strstr(e.msg, "missing revision"));
	err_release(&e);
	assert_int_equal(fs_symlink_atomic("/etc", s.store.current, &e), 0);
	assert_true(slot_current(&s, &cur, &e) < 0);
	assert_non_null(strstr(e.msg, "not a revision of this store"));
	err_release(&e);
	slot_release(&s);
}

static void test_remove_and_list(void **state)
{
	(void)state;
	_cleanup_free_ char *mp = project("listed");
	struct slot s;
	open_locked(&s, mp);
	commit(&s, rev_a, "x");
	struct slot_record r = {.flake = "/p", .profile = "default", .vcpus = 1, .mem_mib = 64};
	struct err e = ERR_INIT;
	assert_int_equal(slot_write_record(&s, &r, &e), 0);
	slot_unlock(&s);
	_cleanup_free_ char *templates = registry_templates_dir();
	_cleanup_free_ char *legacy = fs_join(templates, "oldname");
	assert_int_equal(fs_mkdir_p(legacy, 0700, &e), 0);

	struct registry_list l;
	assert_int_equal(registry_list(&l, &e), 0);
	bool found = false;
	for (size_t i = 0; i < l.nslots; i++)
		if (!strcmp(l.slots[i].slot.id.s, s.id.s)) {
			found = true;
			assert_int_equal(l.slots[i].status, SLOT_OK);
			assert_string_equal(l.slots[i].current, rev_a);
		}
	assert_true(found);
	assert_int_equal(l.nlegacy, 1);
	assert_string_equal(l.legacy[0].name, "oldname");
	registry_list_release(&l);

	unlink(mp);
	enum slot_status now;
	assert_int_equal(registry_prune_slot(s.id.s, true, &now, &e), 1);
	assert_int_equal(now, SLOT_ORPHAN);
	assert_true(slot_exists(&s));
	assert_int_equal(slot_remove(&s, &e), 0);
	assert_false(slot_exists(&s));
	assert_int_equal(slot_remove(&s, &e), 0); /* absent: success */
	_cleanup_free_ char *tmp = rstore_tmp_dir();
	assert_int_equal(count_entries(tmp), 0);
	assert_true(fs_is_dir(legacy));
	slot_release(&s);
}

static void test_pool_style_store(void **state)
{
	(void)state;
	_cleanup_free_ char *root = xasprintf("%s/pools/t1/p1", paths_home());
	struct err e = ERR_INIT;
	assert_int_equal(fs_mkdir_p(root, 0700, &e), 0);
	struct rstore store;
	rstore_init(&store, root, "revisions");
	struct rstore_stage st = RSTORE_STAGE_INIT;
	assert_int_equal(rstore_stage_begin(&st, "pool-t1-p1", &e), 0);
	_cleanup_free_ char *sub = fs_join(st.dir, "snapshot");
	assert_int_equal(fs_mkdir_p(sub, 0755, &e), 0);
	put(sub, "vmstate", "state");
	put(st.dir, "rootfs.ext4", "r");
	assert_int_equal(rstore_commit(&store, &st, rev_b, NULL, &e), 0);
	char target[256];
	ssize_t n = readlink(store.current, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	_cleanup_free_ char *want = xasprintf("revisions/%s", rev_b);
	assert_string_equal(target, want);
	_cleanup_free_ char *rd = rstore_revision_dir(&store, rev_b);
	struct rstore_checksums c = RSTORE_CHECKSUMS_INIT;
	assert_int_equal(rstore_read_checksums(rd, &c, &e), 0);
	assert_int_equal(c.n, 2);
	assert_non_null(rstore_checksums_find(&c, "snapshot/vmstate"));
	rstore_checksums_release(&c);
	_cleanup_free_ char *snapdir = fs_join(rd, "snapshot");
	assert_int_equal(mode_of(snapdir), 0700);
	assert_int_equal(rstore_revision_complete(&store, rev_b, NULL, NULL), 1);
	assert_int_equal(rstore_stage_begin(&st, "bad/tag", &e), -EINVAL);
	err_release(&e);
	rstore_release(&store);
}

static void test_checksums_reject_escaping_names(void **state)
{
	(void)state;
	_cleanup_free_ char *dir = fs_join(base, "evil");
	struct err e = ERR_INIT;
	assert_int_equal(fs_mkdir_p(dir, 0700, &e), 0);
	put(dir, "checksums.json",
	    "{\"files\": {\"../../etc/passwd\": {\"sha256\": "
	    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", \"size\": 1}}}");
	struct rstore_checksums c = RSTORE_CHECKSUMS_INIT;
	assert_true(rstore_read_checksums(dir, &c, &e) < 0);
	assert_non_null(strstr(e.msg, "not a file name inside the revision"));
	err_release(&e);
}

int main(void)
{
	char tmpl[] = "/tmp/mvm-test-registry.XXXXXX";
	char *d = mkdtemp(tmpl);
	if (!d)
		return 1;
	base = realpath(d, NULL);
	_cleanup_free_ char *home = fs_join(base, "home");
	setenv("MVM_HOME", home, 1);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hash_vectors),
	    cmocka_unit_test(test_slot_open_creates_nothing),
	    cmocka_unit_test(test_commit_layout_and_modes),
	    cmocka_unit_test(test_recommit_same_hash_replaces),
	    cmocka_unit_test(test_new_revision_keeps_old),
	    cmocka_unit_test(test_complete_and_verify_detect_damage),
	    cmocka_unit_test(test_commit_refuses_missing_or_empty),
	    cmocka_unit_test(test_stage_sweeps_leftovers),
	    cmocka_unit_test(test_lock_is_exclusive_and_names_the_holder),
	    cmocka_unit_test(test_record_roundtrip_and_drift),
	    cmocka_unit_test(test_corrupt_record),
	    cmocka_unit_test(test_dangling_current_is_an_error),
	    cmocka_unit_test(test_remove_and_list),
	    cmocka_unit_test(test_pool_style_store),
	    cmocka_unit_test(test_checksums_reject_escaping_names),
	};
	int failed = cmocka_run_group_tests_name("registry", tests, NULL, NULL);
	struct err e = ERR_INIT;
	fs_rm_rf(base, &e);
	err_release(&e);
	free(base);
	return failed ? 1 : 0;
}
