/* The one size syntax of mvm, for flags and manifests alike.
 *
 * A decimal number (fractions allowed), an optional space, and an optional
 * binary unit K|KB|KiB, M|MB|MiB, G|GB|GiB in any case; no unit means MiB.
 * The result is whole MiB, rounded half away from zero: "0.5G" = 512,
 * "512K" = 1, "2048k" = 2.
 */
#pragma once

#include <stdint.h>

#define SIZE_MAX_MIB (UINT64_C(1) << 30) /* 1 PiB: anything larger is a typo */

/* Returns 0, or -EINVAL (not a size) / -ERANGE (too large). */
int size_parse_mib(const char *s, uint64_t *mib);
/* "1024M", "2G", "0": the canonical string form (malloc'd). */
char *size_format_mib(uint64_t mib);
