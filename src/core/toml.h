/* TOML 1.0 parser: a document becomes a tree of struct toml_value.
 *
 * The whole public surface is this header. Parsing never prints, never exits,
 * and on failure reports the first error with its 1-based line and column.
 * The parser is held to the public toml-test suite (tests/toml/) and fuzzed
 * (fuzz/fuzz_toml.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum toml_type {
	TOML_STRING,
	TOML_INTEGER,
	TOML_FLOAT,
	TOML_BOOL,
	TOML_DATETIME,	     /* offset date-time: 1979-05-27T07:32:00Z */
	TOML_DATETIME_LOCAL, /* 1979-05-27T07:32:00 */
	TOML_DATE_LOCAL,     /* 1979-05-27 */
	TOML_TIME_LOCAL,     /* 07:32:00 */
	TOML_ARRAY,
	TOML_TABLE,
};

/* Deepest nesting of tables and arrays below the root; deeper documents are
 * rejected (a = [[…]] with 128 brackets is fine, 129 is not). */
#define TOML_MAX_DEPTH 128

struct toml_value;

struct toml_kv {
	char *key; /* UTF-8, NUL-terminated; keylen excludes the NUL (keys may hold U+0000) */
	size_t keylen;
	int line, col; /* where the key was written (for tables made implicitly: first mention) */
	struct toml_value *value;
};

struct toml_value {
	enum toml_type type;
	int line, col; /* where the value starts */
	union {
		struct {
			char *ptr; /* UTF-8, NUL-terminated */
			size_t len;
		} str;
		int64_t integer;
		double fp;
		bool boolean;
		/* Date/time kinds keep their text normalised to RFC 3339 with an
		 * upper-case 'T' and 'Z' (the space separator becomes 'T'). */
		char *datetime;
		struct {
			struct toml_value **items;
			size_t len, cap;
		} array;
		struct {
			struct toml_kv *items; /* in document order */
			size_t len, cap;
		} table;
	} u;
	unsigned flags; /* parser bookkeeping (defined/implicit/inline/array-of-tables) */
};

struct toml_error {
	int line, col; /* 1-based; 0 when the error has no position. The column
			* counts characters (code points), a tab counting one. */
	char msg[200];
};

/* Parses a whole document (need not be NUL-terminated). Returns the root
 * table, or NULL with *err filled. Input with invalid UTF-8 is rejected. */
struct toml_value *toml_parse(const char *buf, size_t len, struct toml_error *err);

/* Frees a tree returned by toml_parse. Accepts NULL. */
void toml_free(struct toml_value *root);

/* Looks up a key in a table value; NULL when absent or when tab is not a table. */
const struct toml_kv *toml_table_find(const struct toml_value *tab, const char *key);

/* "string", "integer", "float", "boolean", "datetime", "datetime-local",
 * "date-local", "time-local", "array", "table" (toml-test's tag names,
 * except that toml-test calls a boolean "bool"). */
const char *toml_type_name(enum toml_type type);
