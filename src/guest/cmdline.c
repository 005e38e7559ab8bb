#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "init.h"

char *cmdline_find(const char *buf, const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = buf; *p;) {
		p += strspn(p, " \t\n");
		size_t wl = strcspn(p, " \t\n");
		if (wl > kl && !strncmp(p, key, kl) && p[kl] == '=')
			return strndup(p + kl + 1, wl - kl - 1);
		p += wl;
	}
	return NULL;
}

char *cmdline_get(const char *key)
{
	char buf[4096];
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	return cmdline_find(buf, key);
}
