#include <dlfcn.h>
#include <string.h>

#include "core/dlib.h"
#include "core/util.h"

static void clear(const struct dlib *lib)
{
	for (const struct dlib_sym *s = lib->syms; s->ptr; s++)
		*s->ptr = NULL;
}

int dlib_load(struct dlib *lib, struct err *e)
{
	if (lib->handle)
		return 0;
	void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		/* dlerror() starts with the name we gave it: keep only the reason. */
		const char *why = dlerror() ?: "unknown error";
		size_t n = strlen(lib->soname);
		if (!strncmp(why, lib->soname, n) && !strncmp(why + n, ": ", 2))
			why += n + 2;
		err_set(e, -ENOENT, EXIT_NOTREADY, "%s could not be loaded: %s", lib->soname, why);
		err_hint(e, "install it with 'apt-get install %s'", lib->package);
		return -ENOENT;
	}
	for (const struct dlib_sym *s = lib->syms; s->ptr; s++) {
		*s->ptr = dlsym(h, s->name);
		if (!*s->ptr) {
			err_set(e, -ENOSYS, EXIT_NOTREADY,
				"%s has no function %s: too old a version", lib->soname, s->name);
			err_hint(e, "upgrade it with 'apt-get install %s'", lib->package);
			clear(lib);
			dlclose(h);
			return -ENOSYS;
		}
	}
	lib->handle = h;
	return 0;
}
