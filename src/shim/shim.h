/* The per-VM supervisor: owns the VMM process, its control socket, the agent
 * channel and the console log, and outlives the mvmctl that started it. Its
 * directory is shim/vmdir.h, its channels shim/ctl.h; src/vm/ starts it. */
#pragma once

#include "core/err.h"

/* The hidden `mvmctl shim` command: runs the supervisor of VM name.
 * notify_fd gets "started <pid>\n", then "ready <ms>\n", or "error <msg>\n";
 * lock_fd is vms/<name>/shim.lock, already locked by the caller. Detaches
 * (fork, new session, stdio on /dev/null) before anything else; the
 * process that called it returns at once. */
int shim_main(const char *name, int notify_fd, int lock_fd, struct err *e);
