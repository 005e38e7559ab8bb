/* CLI pieces of the VM verbs (cmd_vm.c) that other command files call. */
#pragma once

#include "cli.h"

/* Prints the record of the VM called name (`mvmctl info NAME`), JSON with
 * --json. Returns 0 or -errno with cli->err set (EXIT_NOTFOUND: no such VM). */
int vm_cli_info(struct cli *cli, const char *name);
