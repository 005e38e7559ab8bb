/* What crosses into a VM when it starts, as `up`, `run` and `exec` take it:
 * -e/--env and --env-file (core/envfile.h), --secret and --secret-env
 * (vm.h: struct vm_secret). */
#include <stdlib.h>
#include <string.h>

#include "core/envfile.h"
#include "core/util.h"
#include "vm/vm.h"
#include "vm_cli.h"

int vm_cli_env_resolve(struct cli *cli, const struct strvec *files, const struct strvec *args,
		       struct strvec *out)
{
	int r = 0;
	for (size_t i = 0; r == 0 && i < files->n; i++)
		r = env_add_file(out, files->v[i], &cli->err);
	for (size_t i = 0; r == 0 && i < args->n; i++)
		r = env_add_arg(out, args->v[i], &cli->err);
	return r;
}

int vm_cli_secrets_resolve(struct cli *cli, struct strvec *files, const struct strvec *envs,
			   struct vm_secret **out, size_t *n)
{
	*out = xcalloc(files->n + envs->n + 1, sizeof(**out));
	*n = 0;
	for (size_t i = 0; i < files->n; i++) {
		char *eq = strchr(files->v[i], '=');
		if (!eq || eq == files->v[i] || !eq[1])
			return cli_usage_error(cli, "--secret expects NAME=FILE, got '%s'",
					       files->v[i]);
		*eq = '\0'; /* the option's own copy: NAME and FILE */
		(*out)[(*n)++] = (struct vm_secret){.name = files->v[i], .file = eq + 1};
	}
	for (size_t i = 0; i < envs->n; i++) {
		const char *name = envs->v[i];
		const char *v = getenv(name);
		if (!v) {
			int r = err_set(&cli->err, -ENOENT, EXIT_USAGE,
					"--secret-env %s: no variable '%s' in this environment",
					name, name);
			err_hint(&cli->err, "export %s first, or use --secret %s=FILE", name, name);
			return r;
		}
		(*out)[(*n)++] = (struct vm_secret){.name = name, .value = v, .len = strlen(v)};
	}
	return vm_secrets_check(*out, *n, &cli->err);
}
