/* The monotonic clock (CLOCK_MONOTONIC), for timeouts and for how long
 * something took. Wall-clock times in records are json_now_rfc3339(). */
#pragma once

long long mono_ms(void);
/* CLOCK_BOOTTIME: like mono_ms, but it also counts time suspended. The
 * cluster's fence deadlines (shim/fence.h) are on it, so that a host that
 * slept past one finds it passed. */
long long boot_ms(void);
long long mono_us(void);
double mono_s(void);
