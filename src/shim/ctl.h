/* The supervisor's two channels to its clients.
 *
 * Notify pipe (inherited by `mvmctl shim`): one line each, "started <pid>",
 * "warning <text>", "restored", then "ready <ms>" or "error <msg>".
 *
 * Control socket, <run_dir>/ctl.sock: one JSON object per line each way. A
 * client sends one request ({"op": "status"|"stop"|"attach"|"pause"|
 * "resume"|"sleep"|"exec"}) and reads one reply ({"ok": true, …} or
 * {"ok": false, "error": "…"}); after the reply to "attach" the socket
 * carries the console's bytes until the VM exits, after "exec" agent frames. */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "core/err.h"
#include "core/strbuf.h"

#define SHIM_CTL_NAME	 "ctl.sock"
#define SHIM_MAX_REQUEST 4096 /* one control request line */
#define SHIM_MAX_REPLY	 (64u << 10)

int ctl_connect(const char *run_dir, int *fd, struct err *e);
int ctl_request(int fd, const char *op, int timeout_ms, json_t **reply, struct err *e);

/* Reads one '\n'-terminated line from fd, byte-wise so nothing after it is
 * consumed. 1: a line; 0: end of file (line may hold a partial one);
 * -ETIMEDOUT at the deadline (mono_ms); -EMSGSIZE past max bytes. */
int ctl_read_line(int fd, struct strbuf *line, size_t max, long long deadline);
