/* The command table: one line per verb or noun group. */
#include "cli.h"

extern const struct command cmd_help, cmd_version, cmd_manifest, cmd_locate_manifest;

const struct command *const cli_commands[] = {
	&cmd_manifest,
	&cmd_locate_manifest,
	&cmd_version,
	&cmd_help,
	NULL,
};
