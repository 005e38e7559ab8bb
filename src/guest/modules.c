#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"

static int load_one(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = (int)syscall(SYS_finit_module, fd, "", 0);
	int err = errno;
	close(fd);
	if (r < 0 && err != EEXIST)
		return -err;
	return 0;
}

int modules_load(const char *dir)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/order", dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : 1;
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return 1;
	buf[n] = '\0';
	int failed = 0;
	for (char *line = buf; *line;) {
		size_t len = strcspn(line, "\n");
		char *next = line + len + (line[len] ? 1 : 0);
		line[len] = '\0';
		if (len && !strchr(line, '/') &&
		    snprintf(path, sizeof(path), "%s/%s", dir, line) < (int)sizeof(path)) {
			int r = load_one(path);
			if (r < 0) {
				log_msg("loading module %s: %s", line, strerror(-r));
				failed++;
			}
			/* The initramfs is RAM: give the module file's pages back. */
			unlink(path);
		}
		line = next;
	}
	return failed;
}
