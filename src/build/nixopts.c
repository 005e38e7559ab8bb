/* Merging input overrides (nixopts.h). */
#include "build/nixopts.h"

#include <stdbool.h>
#include <string.h>

void nix_overrides_merge(struct strvec *out, const struct strvec *cfg, const struct strvec *flags)
{
	for (size_t i = 0; i + 1 < cfg->n; i += 2) {
		bool replaced = false;
		for (size_t j = 0; j + 1 < flags->n; j += 2)
			replaced |= !strcmp(cfg->v[i], flags->v[j]);
		if (!replaced) {
			strvec_push(out, cfg->v[i]);
			strvec_push(out, cfg->v[i + 1]);
		}
	}
	for (size_t j = 0; j < flags->n; j++)
		strvec_push(out, flags->v[j]);
}
