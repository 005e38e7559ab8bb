/* A VM's environment as the user gives it, by Docker's rules:
 *   -e K=V    that value;  -e K  the host's value of K (skipped when unset)
 *   --env-file FILE   one K=V (or K) a line; blank lines and lines whose
 *                     first non-blank is '#' are skipped; no quotes, no
 *                     expansion: V is the rest of the line, as it is
 * K is [A-Za-z_][A-Za-z0-9_]* (proto_env_entry_valid). A later entry of a
 * name replaces an earlier one in place. Bad input is EXIT_USAGE, naming the
 * argument or FILE:LINE; values never appear in a message. */
#pragma once

#include "core/err.h"
#include "core/strvec.h"

#define ENV_FILE_MAX (1u << 20)

/* Adds one -e argument to env. */
int env_add_arg(struct strvec *env, const char *arg, struct err *e);
/* Adds every entry of an env file to env. */
int env_add_file(struct strvec *env, const char *path, struct err *e);
