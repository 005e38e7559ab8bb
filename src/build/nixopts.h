/* The nix options of one build: what config.toml and the environment say
 * (core/config.h), with the command's own flags on top. Shared by `mvmctl
 * build` and `pool build`. */
#pragma once

#include "core/strvec.h"

/* Appends to out the --override-input NAME, REF pairs of cfg (config and
 * environment) that flags does not name, then every pair of flags: a flag
 * replaces the same input. */
void nix_overrides_merge(struct strvec *out, const struct strvec *cfg, const struct strvec *flags);
