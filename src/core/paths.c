#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fs.h"
#include "paths.h"
#include "util.h"

const char *paths_home(void)
{
	static char *home;
	if (home)
		return home;
	const char *env = getenv("MVM_HOME");
	if (env && *env) {
		home = xstrdup(env);
	} else {
		const char *h = getenv("HOME");
		if (!h || !*h) {
			struct passwd *pw = getpwuid(getuid());
			h = pw ? pw->pw_dir : NULL;
		}
		home = h ? xasprintf("%s/.mvm", h) : xasprintf("/tmp/.mvm-%u", (unsigned)getuid());
	}
	return home;
}

int paths_ensure_home(struct err *e)
{
	return fs_mkdir_p(paths_home(), 0700, e);
}

char *paths_exe_dir(void)
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	if (n <= 0)
		return xstrdup(".");
	buf[n] = '\0';
	char *slash = strrchr(buf, '/');
	if (slash)
		*slash = '\0';
	return xstrdup(buf);
}

static bool is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *paths_datadir(void)
{
	static char *dir;
	if (dir)
		return dir;
	const char *env = getenv("MVM_DATADIR");
	if (env && *env)
		return dir = xstrdup(env);
	_cleanup_free_ char *exe = paths_exe_dir();
	const char *cands[] = {"/../share/mvm", "/../share", "/../../share"};
	for (size_t i = 0; i < ARRAY_SIZE(cands); i++) {
		char *c = xasprintf("%s%s", exe, cands[i]);
		_cleanup_free_ char *probe = xasprintf("%s/presets", c);
		if (is_dir(probe)) {
			char *real = realpath(c, NULL);
			if (!real)
				return dir = c;
			free(c);
			return dir = real;
		}
		free(c);
	}
	return dir = xasprintf("%s/../share/mvm", exe);
}

char *paths_libexec(const char *name)
{
	const char *env = getenv("MVM_LIBEXEC");
	if (env && *env) {
		char *p = xasprintf("%s/%s", env, name);
		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	_cleanup_free_ char *exe = paths_exe_dir();
	const char *cands[] = {"/", "/../lib/mvm/"};
	for (size_t i = 0; i < ARRAY_SIZE(cands); i++) {
		char *p = xasprintf("%s%s%s", exe, cands[i], name);
		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}
