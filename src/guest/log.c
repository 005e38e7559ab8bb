#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/reboot.h>
#include <unistd.h>

#include "init.h"

void console_write(const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t w = write(STDOUT_FILENO, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				continue; /* the console is blocking; never spin for long */
			return;
		}
		p += w;
		len -= (size_t)w;
	}
}

static void vlog(const char *prefix, const char *fmt, va_list ap)
{
	char buf[1024];
	int n = snprintf(buf, sizeof(buf), "%s", prefix);
	int m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof(buf) - 2)
		len = sizeof(buf) - 2;
	buf[len++] = '\n';
	console_write(buf, len);
}

void log_msg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog("mvm-init: ", fmt, ap);
	va_end(ap);
}

void console_setup(void)
{
	/* The kernel gives PID 1 /dev/console as fds 0-2 when the initramfs has
	 * the node; otherwise open it once devtmpfs is mounted. */
	if (fcntl(STDOUT_FILENO, F_GETFD) >= 0 && fcntl(STDERR_FILENO, F_GETFD) >= 0)
		return;
	int fd = open("/dev/console", O_RDWR | O_NOCTTY);
	if (fd < 0)
		return;
	for (int i = 0; i < 3; i++)
		if (fd != i)
			dup2(fd, i);
	if (fd > 2)
		close(fd);
}

void power_off(void)
{
	sync();
	for (;;) {
		reboot(RB_POWER_OFF);
		/* Without a power-off method the kernel halts; reboot (=QEMU exits
		 * with -no-reboot) is the next best. */
		reboot(RB_AUTOBOOT);
		pause();
	}
}

void fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog("mvm-init: fatal: ", fmt, ap);
	va_end(ap);
	kill(-1, SIGKILL);
	power_off();
}
