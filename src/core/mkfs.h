/* Running mkfs.ext4 (e2fsprogs) for the small images mvm makes at run time:
 * a VM's data disk, a tenant's secrets image. */
#pragma once

#include "core/err.h"

/* Runs argv (argv[0] "mkfs.ext4", NULL-terminated), its output captured.
 * Fails with the hint to install e2fsprogs when it is missing, or with
 * "mkfs.ext4 failed (status N): <its output>" (EXIT_FAILED). */
int mkfs_ext4_run(const char *const *argv, struct err *e);
