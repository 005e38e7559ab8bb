/* Reading and writing the JSON records under $MVM_HOME (jansson). Reads are
 * size-capped and reject duplicate keys; writes are atomic and 0600. */
#pragma once

#include <jansson.h>

#include "err.h"

#define JSONIO_MAX_BYTES (4u << 20)

/* Loads a JSON object from path. A missing file fails with EXIT_NOTFOUND. */
int json_read_file(const char *path, json_t **out, struct err *e);
/* Parses a JSON document from memory (same rules). */
int json_parse_buf(const char *buf, size_t len, const char *what, json_t **out, struct err *e);
/* Writes obj (pretty, keys in insertion order, trailing newline) atomically, mode 0600. */
int json_write_file(const char *path, json_t *obj, struct err *e);
/* Current time as RFC 3339 UTC ("2026-11-22T03:15:00Z"), malloc'd. */
char *json_now_rfc3339(void);
/* Convenience getters: NULL / fallback when missing or of another type. */
const char *json_get_str(const json_t *obj, const char *key);
long long json_get_int(const json_t *obj, const char *key, long long fallback);
