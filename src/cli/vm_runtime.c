/* What crosses into a VM when it starts, as `up`, `run` and `exec` take it:
 * -e/--env and --env-file (core/envfile.h), --secret and --secret-env
 * (vm.h: struct vm_secret), --network and --allow (vmm.h: egress). */
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
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

int vm_cli_network_resolve(struct cli *cli, const char *flag, const struct strvec *allows,
			   size_t n_ports, struct vm_spec *spec, struct vmm_allow **allow)
{
	struct err *e = &cli->err;
	enum vmm_net net = VMM_NET_NAT;
	*allow = NULL;
	if (flag) {
		if (vmm_net_parse(flag, &net) < 0) {
			int r = err_set(e, -EINVAL, EXIT_USAGE,
					"--network '%s' is not one of nat, isolated, none", flag);
			err_hint(e, "mvmctl help up");
			return r;
		}
	} else if (allows->n) {
		net = VMM_NET_ISOLATED; /* --allow: that, and nothing else */
	} else {
		struct config c;
		int r = config_load(&c, e);
		if (r == 0)
			vmm_net_parse(c.network, &net); /* checked by config_load */
		config_release(&c);
		if (r < 0)
			return r;
	}
	if (allows->n && net != VMM_NET_ISOLATED)
		return err_set(e, -EINVAL, EXIT_USAGE,
			       "--allow lets an isolated VM reach a destination; --network %s "
			       "cannot have it",
			       vmm_net_name(net));
	if (net == VMM_NET_NONE && n_ports) {
		int r = err_set(e, -EINVAL, EXIT_USAGE,
				"-p needs a network: with --network none the VM has no network "
				"device");
		err_hint(e, "use --network isolated to publish ports and reach nothing else");
		return r;
	}
	if (allows->n > VMM_ALLOW_MAX)
		return err_set(e, -E2BIG, EXIT_USAGE, "at most %d --allow destinations",
			       VMM_ALLOW_MAX);
	*allow = xcalloc(allows->n + 1, sizeof(**allow));
	for (size_t i = 0; i < allows->n; i++) {
		int r = vmm_allow_parse(allows->v[i], &(*allow)[i], e);
		if (r < 0)
			return r;
	}
	spec->net = net;
	spec->allow = *allow;
	spec->n_allow = allows->n;
	return 0;
}
