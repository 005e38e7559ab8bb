#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "discover.h"
#include "fs.h"
#include "strbuf.h"
#include "util.h"

static const char *const names[] = {"mvm.toml", "Mvmfile.toml"};

static bool is_regular(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int discover_in_dir(const char *dir, char **manifest_path, struct err *e)
{
	char *found[2] = {NULL, NULL};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		char *p = fs_join(dir, names[i]);
		if (is_regular(p))
			found[i] = p;
		else
			free(p);
	}
	if (found[0] && found[1]) {
		free(found[0]);
		free(found[1]);
		return err_set(e, -EEXIST, EXIT_INVALID,
			       "found both mvm.toml and Mvmfile.toml in %s; pick one", dir);
	}
	char *p = found[0] ? found[0] : found[1];
	if (!p)
		return 0;
	*manifest_path = realpath(p, NULL);
	free(p);
	if (!*manifest_path)
		return err_sys(e, -errno, EXIT_FAILED, "resolving manifest in '%s'", dir);
	return 1;
}

static bool is_ceiling(const char *dir)
{
	const char *env = getenv("MVM_CEILING_DIRECTORIES");
	if (!env || !*env)
		return false;
	_cleanup_free_ char *list = xstrdup(env);
	for (char *save = NULL, *tok = strtok_r(list, ":", &save); tok;
	     tok = strtok_r(NULL, ":", &save)) {
		_cleanup_free_ char *real = realpath(tok, NULL);
		if (real && !strcmp(real, dir))
			return true;
		size_t len = strlen(tok);
		while (len > 1 && tok[len - 1] == '/')
			tok[--len] = '\0';
		if (!strcmp(tok, dir))
			return true;
	}
	return false;
}

static int walk_up(char **manifest_path, struct err *e)
{
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd)))
		return err_sys(e, -errno, EXIT_FAILED, "reading the working directory");
	_cleanup_free_ char *dir = xstrdup(cwd);
	const char *why = "the filesystem root";
	for (;;) {
		if (is_ceiling(dir)) {
			why = "a directory in MVM_CEILING_DIRECTORIES";
			break;
		}
		int r = discover_in_dir(dir, manifest_path, e);
		if (r != 0)
			return r < 0 ? r : 0;
		_cleanup_free_ char *git = fs_join(dir, ".git");
		if (fs_exists(git)) {
			why = "the repository root (.git)";
			break;
		}
		if (!strcmp(dir, "/"))
			break;
		char *parent = fs_dirname(dir);
		free(dir);
		dir = parent;
	}
	err_set(e, -ENOENT, EXIT_NOTFOUND,
		"no mvm.toml or Mvmfile.toml found in %s or any parent up to %s (stopped at %s)",
		cwd, dir, why);
	err_hint(e, "run 'mvmctl init' to create one, or pass the path of a manifest or its "
		    "directory");
	return -ENOENT;
}

int discover_manifest(const char *arg, char **manifest_path, struct err *e)
{
	if (!arg)
		return walk_up(manifest_path, e);
	struct stat st;
	if (stat(arg, &st) < 0) {
		int r = -errno;
		err_sys(e, r, EXIT_NOTFOUND, "manifest path '%s'", arg);
		err_hint(e, "pass an existing mvm.toml or a directory holding one");
		return r;
	}
	if (S_ISDIR(st.st_mode)) {
		int r = discover_in_dir(arg, manifest_path, e);
		if (r < 0)
			return r;
		if (r == 0) {
			_cleanup_free_ char *real = realpath(arg, NULL);
			err_set(e, -ENOENT, EXIT_NOTFOUND,
				"no mvm.toml or Mvmfile.toml in directory '%s'", real ? real : arg);
			err_hint(e, "run 'mvmctl init %s' to create one", arg);
			return -ENOENT;
		}
		return 0;
	}
	if (!S_ISREG(st.st_mode))
		return err_set(e, -EINVAL, EXIT_NOTFOUND,
			       "'%s' is not a manifest file or directory", arg);
	*manifest_path = realpath(arg, NULL);
	if (!*manifest_path)
		return err_sys(e, -errno, EXIT_FAILED, "resolving '%s'", arg);
	return 0;
}
