/* The command table: one line per verb or noun group. */
#include "cli.h"

extern const struct command cmd_help, cmd_version, cmd_manifest, cmd_locate_manifest;
extern const struct command cmd_init;
extern const struct command cmd_info, cmd_rm, cmd_cache;
extern const struct command cmd_build, cmd_doctor;
extern const struct command cmd_tenant;
extern const struct command cmd_pool;
extern const struct command cmd_instance;
extern const struct command cmd_up, cmd_ls, cmd_down, cmd_logs, cmd_shim, cmd_netproxy, cmd_exec,
    cmd_run;

const struct command *const cli_commands[] = {
    &cmd_init,
    &cmd_build,
    &cmd_up,
    &cmd_run,
    &cmd_exec,
    &cmd_ls,
    &cmd_down,
    &cmd_logs,
    &cmd_info,
    &cmd_rm,
    &cmd_manifest,
    &cmd_cache,
    &cmd_locate_manifest,
    &cmd_version,
    &cmd_doctor,
    &cmd_tenant,
    &cmd_pool,
    &cmd_instance,
    &cmd_help,
    &cmd_shim,
    &cmd_netproxy,
    NULL,
};
