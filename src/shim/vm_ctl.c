/* Client side of the requests that change a running VM without stopping
 * it: pause, resume, and sleep (vm.h). */
#include <string.h>

#include "core/jsonio.h"
#include "core/util.h"
#include "shim/internal.h"
#include "shim/vm.h"

#define VM_SLEEP_TIMEOUT_MS 120000

/* Sends op to the supervisor of a running VM; *reply (may be NULL) gets its answer. */
static int request(const char *name, const char *op, int timeout_ms, json_t **reply,
		   struct err *e)
{
	json_t *rec = NULL;
	int r = vm_get(name, &rec, e);
	if (r < 0)
		return r;
	const char *run = json_get_str(rec, "run_dir");
	int fd = -1;
	if (!vm_record_alive(rec) || !run)
		r = err_set(e, -ESRCH, EXIT_REFUSED, "VM '%s' is not running", name);
	else if ((r = ctl_connect(run, &fd, e)) == 0)
		r = ctl_request(fd, op, timeout_ms, reply, e);
	closep(&fd);
	json_decref(rec);
	if (r < 0)
		err_prefix(e, r, "VM '%s'", name);
	return r;
}

int vm_pause(const char *name, struct err *e)
{
	return request(name, "pause", 10000, NULL, e);
}

int vm_resume(const char *name, struct err *e)
{
	return request(name, "resume", 10000, NULL, e);
}

int vm_sleep(const char *name, long long *save_ms, struct err *e)
{
	json_t *reply = NULL;
	int r = request(name, "sleep", VM_SLEEP_TIMEOUT_MS, &reply, e);
	if (r < 0)
		return r;
	if (save_ms)
		*save_ms = json_get_int(reply, "save_ms", 0);
	json_decref(reply);
	/* the supervisor writes its last record and goes */
	vm_wait_gone(name, 5000);
	return 0;
}
