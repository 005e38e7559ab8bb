/* CLI pieces of the VM verbs (cmd_vm.c) that other command files call. */
#pragma once

#include "cli.h"

/* Prints the record of the VM called name (`mvmctl info NAME`), JSON with
 * --json. Returns 0 or -errno with cli->err set (EXIT_NOTFOUND: no such VM). */
int vm_cli_info(struct cli *cli, const char *name);
/* Removes the VM called name (`mvmctl rm NAME`): refused while it runs unless
 * force, which stops it first. Prints the name (JSON with --json). */
int vm_cli_rm(struct cli *cli, const char *name, bool force);
/* `exec NAME -- CMD` (cmd_exec.c): runs cmd in the running VM called name
 * with the exec options parsed; returns its exit status, or <0 with
 * cli->err (exit 124/126/127, or 125 when the guest cannot be reached). */
int vm_cli_exec(struct cli *cli, const char *name, struct strvec *cmd);
/* `run [PATH] [-- CMD]` and `exec PATH -- CMD` (ephemeral.c): boots the
 * current revision of the manifest at path (NULL: walk up) as an ephemeral
 * VM, runs cmd in it (NULL: shows the console until Ctrl-C), and removes the
 * VM. Returns the exit status, or <0 with cli->err. */
struct vm_secret;
struct vm_spec;
/* over: what the command's flags set for the VM: the egress of
 * vm_cli_network_resolve (net, allow, n_allow), and vcpus/mem_mib (0: not
 * given) with their sources. */
int vm_cli_ephemeral(struct cli *cli, const char *path, struct strvec *cmd,
		     const struct strvec *env, const struct vm_secret *secrets, size_t n_secrets,
		     const struct vm_spec *over);
/* The environment a VM or command gets from --env-file FILE… (first) and
 * -e K=V|K… (after, so they win), by Docker's rules, appended to out. A bad
 * line or name: EXIT_USAGE naming it (never a value). */
int vm_cli_env_resolve(struct cli *cli, const struct strvec *files, const struct strvec *args,
		       struct strvec *out);
/* The secrets of --secret NAME=FILE… (files, split in place) and
 * --secret-env NAME… (the host's variables), checked (vm_secrets_check):
 * *out (free it) points into both and into the environment. Bad input:
 * EXIT_USAGE naming it (never a value). */
int vm_cli_secrets_resolve(struct cli *cli, struct strvec *files, const struct strvec *envs,
			   struct vm_secret **out, size_t *n);
/* The options of `exec NAME` (-i, -t, -e, --env-file, -w, --timeout), which vm_cli_exec
 * reads; other commands that run a guest command take the same table. */
extern const struct opt vm_cli_exec_opts[];

/* Egress: --network (flag), else nat|isolated|none from MVM_NETWORK, else
 * config.toml's [network] default, else nat; --allow HOST:PORT… makes it
 * isolated (any other mode with it is a usage error), and -p with none is
 * one. Sets spec->net/allow/n_allow; *allow (free it) holds the entries. */
struct vmm_allow;
int vm_cli_network_resolve(struct cli *cli, const char *flag, const struct strvec *allows,
			   size_t n_ports, struct vm_spec *spec, struct vmm_allow **allow);
