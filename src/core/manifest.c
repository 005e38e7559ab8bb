#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fs.h"
#include "manifest.h"
#include "size.h"
#include "strbuf.h"
#include "toml_file.h"
#include "util.h"

#define MANIFEST_MAX_BYTES (1u << 20)

static const char *const known_keys[] = {
    "schema_version", "flake", "profile", "vcpus", "mem", "data_disk", "name",
};

bool manifest_valid_profile(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

bool manifest_valid_name(const char *s)
{
	size_t len = strlen(s);
	if (len < 1 || len > 63 || s[0] == '-' || s[0] == '_')
		return false;
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

const char *manifest_flake_problem(const char *s)
{
	if (!*s)
		return "it is empty";
	if (*s == '-')
		return "it starts with '-' (nix would take it for an option)";
	if (strchr(s, '\n'))
		return "it contains a newline";
	for (const char *p = s; *p; p++) {
		if (strchr(";|&$()`!<>", *p))
			return "it contains a shell metacharacter (one of ; | & $ ( ) ` ! < >)";
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return "it contains a control character";
	}
	return NULL;
}

/* Lexically normalises an absolute path: removes "." and empty components
 * and resolves ".." against what precedes it. */
static char *normalize_path(const char *path)
{
	struct strbuf out = STRBUF_INIT;
	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);
		if (len == 0 || (len == 1 && p[0] == '.')) {
			/* skip */
		} else if (len == 2 && p[0] == '.' && p[1] == '.') {
			char *slash = strrchr(out.buf, '/');
			if (slash)
				out.len = (size_t)(slash - out.buf), out.buf[out.len] = '\0';
		} else {
			strbuf_addch(&out, '/');
			strbuf_add(&out, p, len);
		}
		p = end;
	}
	if (!out.len)
		strbuf_addch(&out, '/');
	return strbuf_detach(&out, NULL);
}

char *manifest_resolve_flake(const char *flake, const char *dir)
{
	if (flake[0] == '/' || strchr(flake, ':'))
		return xstrdup(flake);
	_cleanup_free_ char *joined = xasprintf("%s/%s", dir, flake);
	return normalize_path(joined);
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 32 || lb > 32)
		return 99;
	size_t d[33][33];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
			size_t best = sub < del ? sub : del;
			best = best < ins ? best : ins;
			/* adjacent transposition (vpcus -> vcpus) counts as one edit */
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

static const char *nearest_key(const char *key)
{
	const char *best = NULL;
	size_t best_d = 3; /* suggest only close matches */
	for (size_t i = 0; i < ARRAY_SIZE(known_keys); i++) {
		size_t d = edit_distance(key, known_keys[i]);
		if (d < best_d)
			best_d = d, best = known_keys[i];
	}
	return best;
}

static const char *describe(const struct toml_value *v)
{
	switch (v->type) {
	case TOML_STRING:
		return "a string";
	case TOML_INTEGER:
		return "an integer";
	case TOML_FLOAT:
		return "a float";
	case TOML_BOOL:
		return "a boolean";
	case TOML_ARRAY:
		return "an array";
	case TOML_TABLE:
		return "a table";
	default:
		return "a date/time";
	}
}

/* "<file>:<line>: <key>: <what>" with EXIT_INVALID. */
static int bad(struct err *e, const struct manifest *m, const struct toml_kv *kv, const char *fmt,
	       ...) __attribute__((format(printf, 4, 5)));
static int bad(struct err *e, const struct manifest *m, const struct toml_kv *kv, const char *fmt,
	       ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	err_set(e, -EINVAL, EXIT_INVALID, "%s:%d: %s: %s", m->path, kv->line, kv->key, sb.buf);
	strbuf_release(&sb);
	return -EINVAL;
}

static int want_string(struct err *e, const struct manifest *m, const struct toml_kv *kv,
		       const char **out)
{
	if (kv->value->type != TOML_STRING)
		return bad(e, m, kv, "expected a string, got %s", describe(kv->value));
	if (strlen(kv->value->u.str.ptr) != kv->value->u.str.len)
		return bad(e, m, kv, "expected a string without NUL characters");
	*out = kv->value->u.str.ptr;
	return 0;
}

static int want_size(struct err *e, const struct manifest *m, const struct toml_kv *kv,
		     uint64_t *out)
{
	if (kv->value->type == TOML_INTEGER) {
		bad(e, m, kv, "expected a size string such as \"1024M\", got the integer %lld",
		    (long long)kv->value->u.integer);
		err_hint(e,
			 "write %s = \"%lldM\" (sizes are strings: K, M or G; no unit means MiB)",
			 kv->key, (long long)kv->value->u.integer);
		return -EINVAL;
	}
	const char *s;
	int r = want_string(e, m, kv, &s);
	if (r < 0)
		return r;
	r = size_parse_mib(s, out);
	if (r == -ERANGE)
		return bad(e, m, kv, "size \"%s\" is too large", s);
	if (r < 0)
		return bad(e, m, kv,
			   "invalid size \"%s\": expected a number with an optional unit "
			   "K, M or G (such as \"512M\" or \"1.5G\")",
			   s);
	return 0;
}

static int apply_key(struct manifest *m, const struct toml_kv *kv, struct err *e)
{
	const struct toml_value *v = kv->value;
	const char *s;
	int r;
	bool plain = strlen(kv->key) == kv->keylen;

	if (!plain) {
		strvec_pushf(&m->warnings, "%s:%d: unknown key with a NUL character (ignored)",
			     m->path, kv->line);
	} else if (!strcmp(kv->key, "schema_version")) {
		if (v->type != TOML_INTEGER)
			return bad(e, m, kv, "expected an integer, got %s", describe(v));
		if (v->u.integer < 1)
			return bad(e, m, kv, "expected an integer of at least 1, got %lld",
				   (long long)v->u.integer);
		m->schema_version = v->u.integer;
	} else if (!strcmp(kv->key, "flake")) {
		if ((r = want_string(e, m, kv, &s)) < 0)
			return r;
		const char *why = manifest_flake_problem(s);
		if (why)
			return bad(e, m, kv, "expected a flake reference, but %s", why);
		free(m->flake);
		m->flake = xstrdup(s);
	} else if (!strcmp(kv->key, "profile")) {
		if ((r = want_string(e, m, kv, &s)) < 0)
			return r;
		if (!manifest_valid_profile(s))
			return bad(e, m, kv,
				   "expected a profile name of letters, digits, '_', '.' or '-', "
				   "got \"%s\"",
				   s);
		free(m->profile);
		m->profile = xstrdup(s);
	} else if (!strcmp(kv->key, "vcpus")) {
		if (v->type != TOML_INTEGER)
			return bad(e, m, kv, "expected an integer from 1 to %d, got %s",
				   MANIFEST_MAX_VCPUS, describe(v));
		if (v->u.integer < 1 || v->u.integer > MANIFEST_MAX_VCPUS)
			return bad(e, m, kv, "expected an integer from 1 to %d, got %lld",
				   MANIFEST_MAX_VCPUS, (long long)v->u.integer);
		m->vcpus = (int)v->u.integer;
		m->vcpus_set = true;
	} else if (!strcmp(kv->key, "mem")) {
		if ((r = want_size(e, m, kv, &m->mem_mib)) < 0)
			return r;
		if (m->mem_mib < MANIFEST_MIN_MEM_MIB)
			return bad(e, m, kv, "expected at least %dM, got \"%s\" (%llu MiB)",
				   MANIFEST_MIN_MEM_MIB, v->u.str.ptr,
				   (unsigned long long)m->mem_mib);
		m->mem_set = true;
	} else if (!strcmp(kv->key, "data_disk")) {
		if ((r = want_size(e, m, kv, &m->data_disk_mib)) < 0)
			return r;
		m->data_disk_set = true;
	} else if (!strcmp(kv->key, "name")) {
		if ((r = want_string(e, m, kv, &s)) < 0)
			return r;
		if (!manifest_valid_name(s))
			return bad(e, m, kv,
				   "expected 1-63 characters of a-z, 0-9, '_' or '-', not starting "
				   "with '-' or '_', got \"%s\"",
				   s);
		free(m->name);
		m->name = xstrdup(s);
	} else {
		const char *near = nearest_key(kv->key);
		if (near)
			strvec_pushf(&m->warnings, "%s:%d: unknown key '%s' (did you mean '%s'?)",
				     m->path, kv->line, kv->key, near);
		else
			strvec_pushf(&m->warnings, "%s:%d: unknown key '%s' (ignored)", m->path,
				     kv->line, kv->key);
	}
	return 0;
}

static int load(const char *path, struct manifest *m, struct err *e)
{
	*m = (struct manifest){.schema_version = 1, .vcpus = 2, .mem_mib = 1024};
	m->path = realpath(path, NULL);
	if (!m->path)
		return err_sys(e, -errno, EXIT_NOTFOUND, "manifest '%s'", path);
	m->dir = fs_dirname(m->path);
	m->flake = xstrdup(".");
	m->profile = xstrdup("default");

	struct toml_value *root = NULL;
	int r = toml_read_file(m->path, MANIFEST_MAX_BYTES, &root, e);
	if (r < 0)
		return r;

	/* schema_version first: a newer manifest is refused before anything else. */
	const struct toml_kv *sv = toml_table_find(root, "schema_version");
	if (sv && sv->value->type == TOML_INTEGER &&
	    sv->value->u.integer > MANIFEST_SCHEMA_VERSION) {
		r = err_set(e, -EINVAL, EXIT_INVALID,
			    "this manifest declares schema_version=%lld; this mvmctl supports %d; "
			    "upgrade mvmctl",
			    (long long)sv->value->u.integer, MANIFEST_SCHEMA_VERSION);
		toml_free(root);
		return r;
	}
	for (size_t i = 0; i < root->u.table.len && r >= 0; i++)
		r = apply_key(m, &root->u.table.items[i], e);
	toml_free(root);
	if (r < 0)
		return r;
	m->flake_resolved = manifest_resolve_flake(m->flake, m->dir);
	return 0;
}

int manifest_load(const char *path, struct manifest *m, struct err *e)
{
	int r = load(path, m, e);
	if (r < 0)
		manifest_release(m);
	return r;
}

void manifest_release(struct manifest *m)
{
	free(m->path);
	free(m->dir);
	free(m->flake);
	free(m->flake_resolved);
	free(m->profile);
	free(m->name);
	strvec_clear(&m->warnings);
	*m = (struct manifest){0};
}
