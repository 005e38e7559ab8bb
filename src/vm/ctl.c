/* Requests to a running VM's supervisor: stop, pause, resume and sleep
 * (vm.h), and waiting for a supervisor to be gone. */
#include <errno.h>
#include <stdbool.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/fs.h"
#include "core/jsonio.h"
#include "core/util.h"
#include "shim/ctl.h"
#include "shim/vmdir.h"
#include "vm/internal.h"
#include "vm/vm.h"

#define VM_SLEEP_TIMEOUT_MS 120000
#define VM_GONE_TIMEOUT_MS  5000
#define VM_STOP_TIMEOUT_MS  30000

/* Waits (at most ms) until the supervisor closes the connection: it does
 * when it exits, after its last record (its descriptors are close-on-exec,
 * and nothing it spawned outlives it). */
static void wait_closed(int fd, int ms)
{
	long long deadline = mono_ms() + ms;
	for (;;) {
		long long left = deadline - mono_ms();
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return;
		char buf[256];
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
			return;
	}
}

/* Sends op to the supervisor of a running VM; *reply (may be NULL) gets its
 * answer. With until_gone, also waits for the supervisor to exit. */
static int request(const char *name, const char *op, int timeout_ms, json_t **reply,
		   bool until_gone, struct err *e)
{
	json_t *rec = NULL;
	int r = vm_get_any(name, &rec, e);
	if (r < 0)
		return r;
	const char *run = json_get_str(rec, "run_dir");
	int fd = -1;
	if (!vm_record_alive(rec) || !run)
		r = err_set(e, -ESRCH, EXIT_REFUSED, "VM '%s' is not running", name);
	else if ((r = ctl_connect(run, &fd, e)) == 0)
		r = ctl_request(fd, op, timeout_ms, reply, e);
	if (r == 0 && until_gone) {
		wait_closed(fd, VM_GONE_TIMEOUT_MS);
		vm_wait_gone(name, VM_GONE_TIMEOUT_MS); /* its lock, at once by now */
	}
	closep(&fd);
	json_decref(rec);
	if (r < 0)
		err_prefix(e, r, "VM '%s'", name);
	return r;
}

int vm_pause(const char *name, struct err *e)
{
	return request(name, "pause", 10000, NULL, false, e);
}

int vm_resume(const char *name, struct err *e)
{
	return request(name, "resume", 10000, NULL, false, e);
}

int vm_sleep(const char *name, long long *save_ms, struct err *e)
{
	json_t *reply = NULL;
	/* the supervisor writes its last record and goes */
	int r = request(name, "sleep", VM_SLEEP_TIMEOUT_MS, &reply, true, e);
	if (r < 0)
		return r;
	if (save_ms)
		*save_ms = json_get_int(reply, "save_ms", 0);
	json_decref(reply);
	return 0;
}

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
	int r = vm_get_any(name, &rec, e);
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
