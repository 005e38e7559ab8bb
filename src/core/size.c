#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "size.h"
#include "util.h"

int size_parse_mib(const char *s, uint64_t *mib)
{
	const char *p = s;
	unsigned __int128 num = 0, den = 1;
	int int_digits = 0, frac_digits = 0;

	while (isdigit((unsigned char)*p)) {
		if (++int_digits > 15)
			return -ERANGE;
		num = num * 10 + (unsigned)(*p++ - '0');
	}
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p)) {
			if (++frac_digits > 12)
				return -EINVAL;
			num = num * 10 + (unsigned)(*p++ - '0');
			den *= 10;
		}
		if (!frac_digits)
			return -EINVAL;
	}
	if (!int_digits && !frac_digits)
		return -EINVAL;
	if (*p == ' ') {
		p++;
		if (!*p)
			return -EINVAL; /* a space only separates a number from its unit */
	}

	static const struct {
		const char *suffix[3];
		unsigned num, den;
	} units[] = {
	    {{"", NULL, NULL}, 1, 1},
	    {{"k", "kb", "kib"}, 1, 1024},
	    {{"m", "mb", "mib"}, 1, 1},
	    {{"g", "gb", "gib"}, 1024, 1},
	};
	bool matched = false;
	for (size_t i = 0; i < ARRAY_SIZE(units) && !matched; i++) {
		for (size_t j = 0; j < 3 && units[i].suffix[j]; j++) {
			if (!strcasecmp(p, units[i].suffix[j])) {
				num *= units[i].num;
				den *= units[i].den;
				matched = true;
				break;
			}
		}
	}
	if (!matched)
		return -EINVAL;
	unsigned __int128 v = (num * 2 + den) / (den * 2);
	if (v > SIZE_MAX_MIB)
		return -ERANGE;
	*mib = (uint64_t)v;
	return 0;
}

char *size_format_mib(uint64_t mib)
{
	if (mib && mib % 1024 == 0)
		return xasprintf("%lluG", (unsigned long long)(mib / 1024));
	if (!mib)
		return xstrdup("0");
	return xasprintf("%lluM", (unsigned long long)mib);
}
