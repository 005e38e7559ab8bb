/* The relay behind an allowed destination (`up --allow HOST:PORT`): QEMU's
 * user network runs `mvmctl netproxy HOST PORT` for each connection the guest
 * makes to the destination's guest address, with the connection on fds 0/1
 * (and 2: nothing may be printed). */
#pragma once

#include "core/err.h"

/* Connects to host:port (TCP, the host's resolver), then copies bytes both
 * ways between fd 0 and it until both directions have ended. Returns 0, or
 * <0 when the destination cannot be reached (the guest sees a close). */
int netproxy_main(const char *host, const char *port, struct err *e);
