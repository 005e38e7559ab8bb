/* The monotonic clock (CLOCK_MONOTONIC), for timeouts and for how long
 * something took. Wall-clock times in records are json_now_rfc3339(). */
#pragma once

long long mono_ms(void);
long long mono_us(void);
double mono_s(void);
