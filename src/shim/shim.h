/* The per-VM supervisor: owns the VMM process, its control socket, the agent
 * channel and the console log, and outlives the mvmctl that started it. Its
 * directory is shim/vmdir.h, its channels shim/ctl.h; src/vm/ starts it. */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "proto/agent.h"

/* The hidden `mvmctl shim` command: runs the supervisor of VM name.
 * notify_fd gets "started <pid>\n", then "ready <ms>\n", or "error <msg>\n";
 * lock_fd is vms/<name>/shim.lock, already locked by the caller. Detaches
 * (fork, new session, stdio on /dev/null) before anything else; the
 * process that called it returns at once. */
int shim_main(const char *name, int notify_fd, int lock_fd, struct err *e);

/* A HELLO from the guest (its payload), answering the host's HELLO that
 * carried nonce: sets rec's "agent" to the guest's name as printable text (at
 * most 64 bytes of it). 1: the name changed, 0: the same as before, -EINVAL:
 * not a valid HELLO, -ESTALE: a valid HELLO bearing another nonce (an earlier
 * host's answer), rec untouched. */
int shim_hello_record(json_t *rec, const uint8_t nonce[PROTO_NONCE_SIZE], const uint8_t *payload,
		      size_t len);
