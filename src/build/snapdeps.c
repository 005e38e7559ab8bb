/* A snapshot's dependencies on this host (snapdeps.h). */
#include "build/snapdeps.h"

#include "build/snapshot.h"
#include "core/fs.h"
#include "core/util.h"

int snapshot_host_deps(const char *rev_dir, struct snapshot_host_deps *h, struct err *e)
{
	*h = (struct snapshot_host_deps)SNAPSHOT_HOST_DEPS_INIT;
	const char *bname = vmm_backend_default();
	const struct vmm_backend *b = vmm_backend_find(bname);
	if (!b)
		return err_set(e, -ENOENT, EXIT_NOTREADY, "unknown VMM backend '%s'", bname);
	_cleanup_free_ char *kernel = fs_join(rev_dir, "vmlinux");
	struct vmm_accel_choice ac = VMM_ACCEL_CHOICE_INIT;
	int r = vmm_accel_resolve(b, kernel, &ac, e);
	if (r < 0)
		return r;
	h->vmm_version = b->version ? b->version() : NULL;
	h->kernel_sha256 = snapshot_kernel_sha256(rev_dir);
	h->deps = (struct snapshot_deps){
	    .backend = b->name,
	    .vmm_version = h->vmm_version,
	    .accel = ac.accel,
	    .kernel_sha256 = h->kernel_sha256,
	};
	vmm_accel_choice_release(&ac);
	return 0;
}

void snapshot_host_deps_release(struct snapshot_host_deps *h)
{
	free(h->vmm_version);
	free(h->kernel_sha256);
	*h = (struct snapshot_host_deps)SNAPSHOT_HOST_DEPS_INIT;
}
