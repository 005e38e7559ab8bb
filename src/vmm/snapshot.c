/* Snapshot dependencies (snapshot.h). */
#include "vmm/snapshot.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/fs.h"
#include "core/hash.h"
#include "core/jsonio.h"
#include "core/rstore.h"
#include "core/util.h"

#define SNAPSHOT_SCHEMA 1

json_t *snapshot_devices(const struct snapshot_deps *d)
{
	json_t *a = json_array();
	json_array_append_new(a, json_string("blk:root"));
	if (d->secrets_disk)
		json_array_append_new(a, json_string("blk:secrets"));
	if (d->data_disk_mib)
		json_array_append_new(a, json_string("blk:data"));
	json_array_append_new(a, json_string("serial:agent"));
	if (!d->no_network)
		json_array_append_new(a, json_string("net:user"));
	return a;
}

json_t *snapshot_meta_new(const struct snapshot_deps *d)
{
	_cleanup_free_ char *now = json_now_rfc3339();
	return json_pack("{s:i, s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:s?, s:o, s:s}",
			 "schema_version", SNAPSHOT_SCHEMA, "backend", d->backend, "vmm_version",
			 d->vmm_version ? d->vmm_version : "", "machine", "microvm", "accel",
			 vmm_accel_name(d->accel), "vcpus", (int)d->vcpus, "mem_mib",
			 (json_int_t)d->mem_mib, "data_disk_mib", (json_int_t)d->data_disk_mib,
			 "kernel_sha256", d->kernel_sha256, "devices", snapshot_devices(d),
			 "created_at", now);
}

char *snapshot_kernel_sha256(const char *rev_dir)
{
	struct rstore_checksums c = RSTORE_CHECKSUMS_INIT;
	struct err e = ERR_INIT;
	char *out = NULL;
	if (rstore_read_checksums(rev_dir, &c, &e) == 0) {
		const struct rstore_file *f = rstore_checksums_find(&c, "vmlinux");
		if (f)
			out = xstrdup(f->sha256.s);
	}
	rstore_checksums_release(&c);
	err_release(&e);
	return out;
}

static void size_words(struct strbuf *sb, unsigned vcpus, uint64_t mem, uint64_t data)
{
	strbuf_addf(sb, "vcpus=%u mem=%lluM", vcpus, (unsigned long long)mem);
	if (data)
		strbuf_addf(sb, " data_disk=%lluM", (unsigned long long)data);
}

/* The snapshot's files against checksums.json: the small state file is
 * hashed (a corrupt one would make the restore fail late), the RAM file
 * only sized (hashing it is `manifest verify`'s job). */
static int files_intact(const char *rev_dir, struct strbuf *why)
{
	struct rstore_checksums c = RSTORE_CHECKSUMS_INIT;
	struct err e = ERR_INIT;
	int ok = 0;
	if (rstore_read_checksums(rev_dir, &c, &e) < 0) {
		strbuf_addf(why, "the revision's checksums cannot be read: %s", e.msg);
		goto out;
	}
	const char *names[] = {SNAPSHOT_DIR "/" VMM_SNAPSHOT_STATE, SNAPSHOT_DIR "/" SNAPSHOT_MEM,
			       SNAPSHOT_DIR "/" SNAPSHOT_META};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		const struct rstore_file *f = rstore_checksums_find(&c, names[i]);
		_cleanup_free_ char *p = fs_join(rev_dir, names[i]);
		struct stat st;
		if (!f) {
			strbuf_addf(why, "%s is not in the revision's checksums", names[i]);
			goto out;
		}
		if (stat(p, &st) < 0 || (uint64_t)st.st_size != f->size) {
			strbuf_addf(
			    why, "%s is missing or has changed size (run mvmctl manifest verify)",
			    names[i]);
			goto out;
		}
		if (i == 1)
			continue;
		struct sha256_hex h;
		if (hash_sha256_file(p, &h, NULL, &e) < 0 || strcmp(h.s, f->sha256.s)) {
			strbuf_addf(why,
				    "%s does not match its checksum (run mvmctl manifest verify)",
				    names[i]);
			goto out;
		}
	}
	ok = 1;
out:
	rstore_checksums_release(&c);
	err_release(&e);
	return ok;
}

int snapshot_usable(const char *rev_dir, const struct snapshot_deps *want, struct strbuf *why)
{
	_cleanup_free_ char *mp = xasprintf("%s/" SNAPSHOT_DIR "/" SNAPSHOT_META, rev_dir);
	if (!fs_exists(mp))
		return -ENOENT;
	json_t *m = NULL;
	struct err e = ERR_INIT;
	if (json_read_file(mp, &m, &e) < 0) {
		strbuf_addf(why, "the snapshot's record is unreadable: %s", e.msg);
		err_release(&e);
		return 0;
	}
	int ok = 0;
	const char *backend = json_get_str(m, "backend");
	const char *vmm = json_get_str(m, "vmm_version");
	const char *accel = json_get_str(m, "accel");
	const char *ksha = json_get_str(m, "kernel_sha256");
	unsigned vcpus = (unsigned)json_get_int(m, "vcpus", 0);
	uint64_t mem = (uint64_t)json_get_int(m, "mem_mib", 0);
	uint64_t data = (uint64_t)json_get_int(m, "data_disk_mib", 0);
	json_t *devs = snapshot_devices(want);
	if (!backend || strcmp(backend, want->backend)) {
		strbuf_addf(why, "snapshot taken with the %s backend; starting with %s",
			    backend ? backend : "?", want->backend);
	} else if (want->vmm_version && (!vmm || strcmp(vmm, want->vmm_version))) {
		strbuf_addf(why, "snapshot taken with %s; this is %s", vmm ? vmm : "?",
			    want->vmm_version);
	} else if (!accel || strcmp(accel, vmm_accel_name(want->accel))) {
		strbuf_addf(why, "snapshot taken under %s; starting under %s", accel ? accel : "?",
			    vmm_accel_name(want->accel));
	} else if (vcpus != want->vcpus || mem != want->mem_mib || data != want->data_disk_mib) {
		strbuf_addstr(why, "snapshot taken at ");
		size_words(why, vcpus, mem, data);
		strbuf_addstr(why, "; starting with ");
		size_words(why, want->vcpus, want->mem_mib, want->data_disk_mib);
	} else if (want->kernel_sha256 && (!ksha || strcmp(ksha, want->kernel_sha256))) {
		strbuf_addstr(why, "snapshot taken with another kernel");
	} else if (!json_equal(json_object_get(m, "devices"), devs)) {
		strbuf_addstr(why, "snapshot taken with other devices");
	} else {
		ok = files_intact(rev_dir, why);
	}
	json_decref(devs);
	json_decref(m);
	return ok;
}

bool snapshot_has_secrets_slot(const char *rev_dir)
{
	_cleanup_free_ char *mp = xasprintf("%s/" SNAPSHOT_DIR "/" SNAPSHOT_META, rev_dir);
	json_t *m = NULL;
	struct err e = ERR_INIT;
	bool has = false;
	if (json_read_file(mp, &m, &e) == 0) {
		json_t *d;
		size_t i;
		json_array_foreach(json_object_get(m, "devices"), i,
				   d) if (json_is_string(d) &&
					  !strcmp(json_string_value(d), "blk:secrets")) has = true;
	}
	json_decref(m);
	err_release(&e);
	return has;
}
