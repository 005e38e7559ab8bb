/* Shared by the host harnesses: a private directory per process (MVM_HOME
 * points into it), removed at exit, and a helper to put an input in a file
 * there. Nothing a harness does reaches outside it. */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/fs.h"
#include "core/util.h"

static char fuzz_dir_buf[64];

static void fuzz_dir_remove(void)
{
	struct err e = ERR_INIT;
	fs_rm_rf(fuzz_dir_buf, &e);
	err_release(&e);
}

/* The per-process directory, made (and MVM_HOME set to DIR/home) on first use. */
static inline const char *fuzz_dir(void)
{
	if (fuzz_dir_buf[0])
		return fuzz_dir_buf;
	const char *tmp = getenv("TMPDIR");
	snprintf(fuzz_dir_buf, sizeof(fuzz_dir_buf), "%s/mvm-fuzz-XXXXXX",
		 tmp && *tmp && strlen(tmp) < 40 ? tmp : "/tmp");
	if (!mkdtemp(fuzz_dir_buf))
		abort();
	atexit(fuzz_dir_remove);
	char *home = xasprintf("%s/home", fuzz_dir_buf);
	setenv("MVM_HOME", home, 1);
	free(home);
	return fuzz_dir_buf;
}

/* Writes data to path (made with its parent directories), no fsync. */
static inline void fuzz_put(const char *path, const void *data, size_t size)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		struct err e = ERR_INIT;
		fs_mkdir_p(dir, 0700, &e);
		err_release(&e);
	}
	free(dir);
	FILE *f = fopen(path, "wb");
	if (!f)
		abort();
	if (size && fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);
}
