/* What a VM boots (vm_artifacts.h). */
#include <stdlib.h>
#include <string.h>

#include "core/discover.h"
#include "core/fs.h"
#include "core/hash.h"
#include "core/jsonio.h"
#include "core/manifest.h"
#include "core/registry.h"
#include "core/util.h"
#include "vm_artifacts.h"
#include "vmm/snapshot.h"

void vm_artifacts_release(struct vm_artifacts *a)
{
	free(a->kernel);
	free(a->initrd);
	free(a->rootfs);
	free(a->revision);
	free(a->slot);
	free(a->manifest_path);
	free(a->name_base);
	free(a->backend);
	free(a->rev_dir);
	free(a->snapshot_dir);
	kernel_release(&a->k);
}

/* A directory of artifacts (rootfs.ext4 [+ vmlinux + initrd.img]): boots it as is. */
static int artifacts_from_dir(struct cli *cli, const char *dir, struct vm_artifacts *a)
{
	char *real = realpath(dir, NULL);
	if (!real)
		return err_sys(&cli->err, -errno, EXIT_NOTFOUND, "'%s'", dir);
	a->rootfs = fs_join(real, "rootfs.ext4");
	_cleanup_free_ char *vmlinux = fs_join(real, "vmlinux");
	_cleanup_free_ char *initrd = fs_join(real, "initrd.img");
	if (fs_is_file(vmlinux)) {
		a->kernel = TAKE_PTR(vmlinux);
		if (fs_is_file(initrd))
			a->initrd = TAKE_PTR(initrd);
	} else {
		int r = kernel_ensure(&a->k, &cli->err);
		if (r < 0) {
			free(real);
			return r;
		}
		a->kernel = xstrdup(a->k.vmlinux);
		a->initrd = xstrdup(a->k.initrd);
	}
	_cleanup_free_ char *base = fs_basename(real);
	if (hash_is_sha256_hex(base))
		a->revision = xstrdup(base);
	free(real);
	return 0;
}

/* Sizing: the manifest as it is on disk now (resource edits take effect at
 * the next up, no rebuild), then the last build's record where the manifest
 * does not say, then the VM defaults. */
static int size_from(struct cli *cli, const char *mpath, const json_t *rec, struct vm_artifacts *a)
{
	struct manifest m;
	int r = manifest_load(mpath, &m, &cli->err);
	if (r < 0)
		return r;
	a->vcpus = (unsigned)json_get_int(rec, "vcpus", 0);
	a->mem_mib = (uint64_t)json_get_int(rec, "mem_mib", 0);
	a->data_disk_mib = (uint64_t)json_get_int(rec, "data_disk_mib", 0);
	a->vcpus_from = a->vcpus ? "slot" : "default";
	a->mem_from = a->mem_mib ? "slot" : "default";
	a->data_disk_from = json_object_get(rec, "data_disk_mib") ? "slot" : "default";
	if (m.vcpus_set) {
		a->vcpus = (unsigned)m.vcpus;
		a->vcpus_from = "manifest";
	}
	if (m.mem_set) {
		a->mem_mib = m.mem_mib;
		a->mem_from = "manifest";
	}
	if (m.data_disk_set) {
		a->data_disk_mib = m.data_disk_mib;
		a->data_disk_from = "manifest";
	}
	manifest_release(&m);
	return 0;
}

static int artifacts_from_slot(struct cli *cli, const char *arg, struct vm_artifacts *a)
{
	_cleanup_free_ char *mpath = NULL, *dir = NULL;
	int r = discover_manifest(arg, &mpath, &cli->err);
	if (r < 0)
		return r;
	struct slot s = SLOT_INIT;
	if ((r = slot_open(&s, mpath, 0, &cli->err)) < 0)
		goto out;
	char *rev = NULL;
	r = s.record ? slot_current(&s, &rev, &cli->err) : 0;
	if (r < 0)
		goto out;
	if (r == 0 || !rev) {
		r = err_set(&cli->err, -ENOENT, EXIT_NOTFOUND,
			    "no built revision for the manifest at %s", mpath);
		err_hint(&cli->err, "mvmctl build%s%s", arg ? " " : "", arg ? arg : "");
		goto out;
	}
	a->revision = rev;
	a->slot = xstrdup(s.id.s);
	a->manifest_path = xstrdup(mpath);
	dir = rstore_revision_dir(&s.store, rev);
	a->rootfs = fs_join(dir, "rootfs.ext4");
	a->kernel = fs_join(dir, "vmlinux");
	a->rev_dir = xstrdup(dir);
	char *initrd = fs_join(dir, "initrd.img");
	if (fs_is_file(initrd))
		a->initrd = initrd;
	else
		free(initrd);
	if ((r = size_from(cli, mpath, s.record, a)) < 0)
		goto out;
	const char *nm = json_get_str(s.record, "name");
	if (nm)
		a->name_base = xstrdup(nm);
	const char *be = json_get_str(s.record, "backend");
	if (be)
		a->backend = xstrdup(be);
	r = 0;
out:
	slot_release(&s);
	return r;
}

static bool is_artifact_dir(const char *arg)
{
	if (!arg || !fs_is_dir(arg))
		return false;
	_cleanup_free_ char *root = fs_join(arg, "rootfs.ext4");
	_cleanup_free_ char *m1 = fs_join(arg, "mvm.toml");
	_cleanup_free_ char *m2 = fs_join(arg, "Mvmfile.toml");
	return fs_is_file(root) && !fs_is_file(m1) && !fs_is_file(m2);
}

int vm_artifacts_resolve(struct cli *cli, const char *arg, struct vm_artifacts *a)
{
	return is_artifact_dir(arg) ? artifacts_from_dir(cli, arg, a)
				    : artifacts_from_slot(cli, arg, a);
}

int vm_artifacts_spec(struct cli *cli, const struct vm_artifacts *a, struct vm_spec *spec)
{
	const char *backend = vmm_backend_default();
	if (a->backend && strcmp(a->backend, backend))
		cli_warn(cli, "the slot was built for the %s backend; booting it with %s",
			 a->backend, backend);
	const struct vmm_backend *b = vmm_backend_find(backend);
	if (!b)
		return err_set(&cli->err, -ENOENT, EXIT_NOTREADY, "unknown VMM backend '%s'",
			       backend);
	spec->name_base = a->name_base;
	spec->backend = backend;
	spec->kernel = a->kernel;
	spec->initrd = a->initrd;
	spec->rootfs = a->rootfs;
	spec->vcpus = a->vcpus;
	spec->mem_mib = a->mem_mib;
	spec->data_disk_mib = a->data_disk_mib;
	spec->vcpus_source = a->vcpus_from ? a->vcpus_from : "default";
	spec->mem_source = a->mem_from ? a->mem_from : "default";
	spec->data_disk_source = a->data_disk_from ? a->data_disk_from : "default";
	spec->revision = a->revision;
	spec->slot = a->slot;
	spec->manifest_path = a->manifest_path;
	struct vmm_accel_choice ac = VMM_ACCEL_CHOICE_INIT;
	int r = vmm_accel_resolve(b, a->kernel, &ac, &cli->err);
	if (r < 0)
		return r;
	if (ac.notice)
		cli_note(cli, "%s: using TCG (software emulation): %s", cli->prog, ac.reason);
	spec->accel = ac.accel;
	vmm_accel_choice_release(&ac);
	return 0;
}

void vm_artifacts_pick_snapshot(struct cli *cli, struct vm_artifacts *a, struct vm_spec *spec)
{
	spec->snapshot_dir = NULL;
	const struct vmm_backend *b = vmm_backend_find(spec->backend);
	if (!a->rev_dir || !b)
		return;
	_cleanup_free_ char *version = b->version ? b->version() : NULL;
	_cleanup_free_ char *ksha = snapshot_kernel_sha256(a->rev_dir);
	struct snapshot_deps want = {
	    .backend = b->name,
	    .vmm_version = version,
	    .accel = spec->accel,
	    .vcpus = spec->vcpus ? spec->vcpus : VM_DEFAULT_VCPUS,
	    .mem_mib = spec->mem_mib ? spec->mem_mib : VM_DEFAULT_MEM_MIB,
	    .data_disk_mib = spec->data_disk_mib,
	    .kernel_sha256 = ksha,
	    /* a snapshot with a secrets slot serves a VM without secrets too */
	    .secrets_disk = spec->n_secrets > 0 || snapshot_has_secrets_slot(a->rev_dir),
	    .no_network = spec->net == VMM_NET_NONE,
	};
	struct strbuf why = STRBUF_INIT;
	int r = snapshot_usable(a->rev_dir, &want, &why);
	spec->snapshot_secrets_slot = want.secrets_disk;
	if (r == 1) {
		free(a->snapshot_dir);
		a->snapshot_dir = fs_join(a->rev_dir, SNAPSHOT_DIR);
		spec->snapshot_dir = a->snapshot_dir;
		spec->snapshot_data_disk_mib = want.data_disk_mib;
	} else if (r == 0) {
		cli_warn(cli, "%s: cold boot", why.buf);
	}
	strbuf_release(&why);
}
