/* Ephemeral VMs: `run [PATH] [-- CMD]` and `exec PATH -- CMD`. The VM is
 * started with vm_spec.ephemeral, so its supervisor stops it and deletes
 * its directory as soon as we close our end of the owner pipe — normally
 * after the command, but just the same when we are killed at any point. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "core/jsonio.h"
#include "core/util.h"
#include "vm/vm.h"
#include "vm_artifacts.h"
#include "vm_cli.h"

static volatile int interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

int vm_cli_ephemeral(struct cli *cli, const char *path, struct strvec *cmd,
		     const struct strvec *env, const struct vm_secret *secrets, size_t n_secrets,
		     const struct vm_spec *over)
{
	struct vm_artifacts a = VM_ARTIFACTS_INIT;
	struct vm_started st = VM_STARTED_INIT;
	struct vm_spec spec = {.ephemeral = true};
	int r = vm_artifacts_resolve(cli, path, &a);
	if (r < 0)
		goto out;
	if ((r = vm_artifacts_spec(cli, &a, &spec)) < 0)
		goto out;
	spec.env = env->n ? (const char *const *)env->v : NULL; /* services too, not only cmd */
	spec.secrets = secrets;
	spec.n_secrets = n_secrets;
	spec.net = over->net;
	spec.allow = over->allow;
	spec.n_allow = over->n_allow;
	if (over->vcpus) {
		spec.vcpus = over->vcpus;
		spec.vcpus_source = over->vcpus_source;
	}
	if (over->mem_mib) {
		spec.mem_mib = over->mem_mib;
		spec.mem_source = over->mem_source;
	}
	vm_artifacts_pick_snapshot(cli, &a, &spec);
	/* a signal during the boot kills us, and the shim sees its owner go */
	r = vm_start(&spec, VM_WAIT_READY, &st, &cli->err);
	for (size_t i = 0; i < st.warnings.n; i++)
		cli_warn(cli, "%s", st.warnings.v[i]);
	if (r < 0)
		goto out;
	if (cli->verbose)
		cli_note(cli, "VM '%s' ready in %.2f s", st.name, (double)st.boot_ms / 1000.0);
	if (cmd) {
		r = vm_cli_exec(cli, st.name, cmd);
	} else {
		struct sigaction sa = {.sa_handler = on_signal};
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		cli_note(cli, "VM '%s' running; Ctrl-C stops and removes it", st.name);
		fflush(stdout);
		r = vm_attach(st.name, 1, &interrupted, &cli->err);
		if (r >= 0)
			r = r == 1 ? 130 : 0;
	}
	/* stop it and wait until its supervisor has removed it */
	struct err se = ERR_INIT;
	bool was = false;
	int sr = vm_stop(st.name, &was, &se);
	if (sr < 0 && se.exit != EXIT_NOTFOUND && r >= 0) {
		err_set(&cli->err, sr, EXIT_FAILED, "%s", se.msg);
		r = sr;
	}
	err_release(&se);
out:
	vm_started_release(&st); /* closes the owner pipe: the supervisor's cue, in any case */
	vm_artifacts_release(&a);
	return r;
}
