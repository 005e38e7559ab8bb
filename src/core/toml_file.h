/* Reading a TOML file (a manifest, config.toml) into a tree, with the
 * error every reader reports the same way: "<path>:<line>:<col>: invalid
 * TOML: <why>" and EXIT_INVALID. */
#pragma once

#include <stddef.h>

#include "err.h"
#include "toml.h"

/* *root is the document's table (free with toml_free). Files larger than max
 * bytes are refused naming the file. */
int toml_read_file(const char *path, size_t max, struct toml_value **root, struct err *e);
