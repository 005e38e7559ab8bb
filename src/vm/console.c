/* A VM's console: attach (live, through the supervisor) and logs (the
 * console log on disk, optionally followed). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/jsonio.h"
#include "core/util.h"
#include "shim/ctl.h"
#include "shim/vmdir.h"
#include "vm/internal.h"
#include "vm/vm.h"

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
