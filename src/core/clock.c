#include <time.h>

#include "core/clock.h"

static struct timespec now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts;
}

long long mono_ms(void)
{
	struct timespec ts = now();
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long boot_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long mono_us(void)
{
	struct timespec ts = now();
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

double mono_s(void)
{
	struct timespec ts = now();
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
