/* libFuzzer harness for the JSON records read back from $MVM_HOME (a
 * private directory): the first byte picks the record, the rest is its
 * file: a VM's vm.json (vm_get, src/vm/record.c), a tenant's tenant.json
 * (tenant_load), a pool's pool.json (pool_load), an instance's
 * instance.json (instance_load, which also reads its VM's record). The
 * harness holds the VM's shim.lock, so a record that claims to be running
 * counts as supervised: the reconciling of a dead VM (which kills a VMM by
 * its recorded pid and deletes its recorded run_dir) is never reached from
 * fuzzed input. Nothing may crash or leak.
 *
 *   make fuzz && build/fuzz/fuzz_records fuzz/corpus/records
 */
#include <stdint.h>
#include <stdlib.h>

#include "core/jsonio.h"
#include "fleet/instance.h"
#include "fleet/pool.h"
#include "fleet/tenant.h"
#include "fuzz_util.h"
#include "vm/vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fs_lock vm_lock = FS_LOCK_INIT, inst_lock = FS_LOCK_INIT;

static void put_home(const char *rel, const void *data, size_t size)
{
	char *p = xasprintf("%s/home/%s", fuzz_dir(), rel);
	fuzz_put(p, data, size);
	free(p);
}

static void hold(struct fs_lock *lk, const char *rel)
{
	if (lk->fd >= 0)
		return;
	put_home(rel, "", 0);
	char *p = xasprintf("%s/home/%s", fuzz_dir(), rel);
	struct err e = ERR_INIT;
	if (fs_lock_take(lk, p, false, &e) < 0)
		abort();
	err_release(&e);
	free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	fuzz_dir();
	hold(&vm_lock, "vms/web/shim.lock");
	hold(&inst_lock, "pools/acme/workers/instances/i-1/shim.lock");
	struct err e = ERR_INIT;
	switch (data[0] % 4) {
	case 0: {
		put_home("vms/web/vm.json", data + 1, size - 1);
		json_t *rec = NULL;
		if (vm_get("web", &rec, &e) == 0) {
			(void)vm_record_alive(rec);
			json_decref(rec);
		}
		break;
	}
	case 1: {
		put_home("tenants/acme/tenant.json", data + 1, size - 1);
		struct tenant t;
		if (tenant_load("acme", &t, &e) == 0)
			tenant_release(&t);
		break;
	}
	case 2: {
		put_home("pools/acme/workers/pool.json", data + 1, size - 1);
		struct pool p;
		if (pool_load("acme", "workers", &p, &e) == 0)
			pool_release(&p);
		break;
	}
	default: {
		put_home("pools/acme/workers/instances/i-1/instance.json", data + 1, size - 1);
		struct instance in;
		int r = instance_load("acme", "workers", "i-1", &in, &e);
		(void)r;
		instance_release(&in);
		break;
	}
	}
	err_release(&e);
	return 0;
}
