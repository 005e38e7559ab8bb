#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "paths.h"
#include "util.h"

static bool home_in_tmp; /* /tmp/.mvm-<uid>: a shared directory, where a symlink is planted */

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
		home_in_tmp = !h;
		home = h ? xasprintf("%s/.mvm", h) : xasprintf("/tmp/.mvm-%u", (unsigned)getuid());
	}
	return home;
}

int paths_check_private_dir(const char *what, const char *dir, bool follow, struct err *e)
{
	struct stat st;
	if ((follow ? stat(dir, &st) : lstat(dir, &st)) < 0) {
		if (errno == ENOENT)
			return 0;
		return err_sys(e, -errno, EXIT_NOTREADY, "%s '%s'", what, dir);
	}
	int r = 0;
	if (!S_ISDIR(st.st_mode)) {
		r = err_set(e, -ENOTDIR, EXIT_NOTREADY, "%s '%s' is %s, not a directory", what, dir,
			    S_ISLNK(st.st_mode) ? "a symbolic link" : "a file");
		err_hint(e, "remove it, or point MVM_HOME at a directory of yours");
	} else if (st.st_uid != geteuid()) {
		r = err_set(e, -EPERM, EXIT_NOTREADY,
			    "%s '%s' belongs to uid %u, not to you (uid %u)", what, dir,
			    (unsigned)st.st_uid, (unsigned)geteuid());
		err_hint(e, "point MVM_HOME at a directory of yours");
	} else if (st.st_mode & 022) {
		r = err_set(e, -EPERM, EXIT_NOTREADY,
			    "%s '%s' can be written by others (mode %04o)", what, dir,
			    (unsigned)(st.st_mode & 07777));
		err_hint(e, "chmod 700 '%s'", dir);
	}
	return r;
}

int paths_check_home(struct err *e)
{
	const char *home = paths_home();
	return paths_check_private_dir("MVM_HOME", home, !home_in_tmp, e);
}

int paths_ensure_home(struct err *e)
{
	int r = fs_mkdir_p(paths_home(), 0700, e);
	return r < 0 ? r : paths_check_home(e);
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
