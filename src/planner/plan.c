#include <jansson.h>
#include <stdarg.h>
#include <string.h>

#include "core/manifest.h"
#include "core/size.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "plan.h"

static const char *const plan_keys[] = {
    "schema_version", "summary",     "primary_preset",	     "features",
    "http_port",      "health_path", "worker_interval_secs", "python_entrypoint",
    "resources",      "notes",
};
static const char *const resource_keys[] = {"vcpus", "mem_mib", "data_disk_mib"};

void plan_init_defaults(struct plan *p, const struct preset *preset)
{
	*p = (struct plan){.features = STRVEC_INIT, .notes = STRVEC_INIT};
	p->schema_version = PLAN_SCHEMA_VERSION;
	p->summary = xasprintf("%s preset: %s", preset->name, preset->summary);
	p->primary = preset;
	if (strcmp(preset->name, "minimal"))
		strvec_push(&p->features, preset->name);
	p->http_port = PLAN_DEFAULT_HTTP_PORT;
	p->health_path = xstrdup(PLAN_DEFAULT_HEALTH_PATH);
	p->worker_interval_secs = PLAN_DEFAULT_WORKER_INTERVAL;
	p->python_entrypoint = xstrdup(PLAN_DEFAULT_PYTHON_ENTRYPOINT);
	p->vcpus = preset->vcpus;
	p->mem_mib = preset->mem_mib;
	p->data_disk_mib = preset->data_disk_mib;
}

void plan_release(struct plan *p)
{
	free(p->summary);
	free(p->health_path);
	free(p->python_entrypoint);
	strvec_clear(&p->features);
	strvec_clear(&p->notes);
	*p = (struct plan){0};
}

void plan_note_uncovered(struct plan *p)
{
	for (size_t i = 0; i < p->features.n; i++)
		if (strcmp(p->features.v[i], p->primary->name))
			strvec_pushf(
			    &p->notes,
			    "the %s preset does not set up %s: add it to flake.nix by hand "
			    "(the %s preset shows how)",
			    p->primary->name, p->features.v[i], p->features.v[i]);
}

bool plan_has_feature(const struct plan *p, const char *name)
{
	for (size_t i = 0; i < p->features.n; i++)
		if (!strcmp(p->features.v[i], name))
			return true;
	return false;
}

static bool is_alnum_(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

bool plan_valid_health_path(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len > PLAN_MAX_PATH || s[0] != '/')
		return false;
	for (const char *c = s; *c; c++)
		if (!is_alnum_(*c) && !strchr(".~/-", *c))
			return false;
	/* segment by segment: none empty (except a trailing one), "." or ".." */
	for (const char *seg = s + 1; *seg;) {
		const char *end = strchrnul(seg, '/');
		size_t n = (size_t)(end - seg);
		if ((n == 0 && *end) || (n == 1 && seg[0] == '.') ||
		    (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return false;
		seg = *end ? end + 1 : end;
	}
	return true;
}

bool plan_valid_entrypoint(const char *s)
{
	size_t len = strlen(s);
	if (len < 4 || len > PLAN_MAX_PATH || strcmp(s + len - 3, ".py"))
		return false;
	for (const char *seg = s;;) {
		if (!is_alnum_(*seg))
			return false; /* empty segment, leading '/', '.', '-' */
		const char *c = seg;
		while (is_alnum_(*c) || *c == '.' || *c == '-')
			c++;
		if (*c == '\0')
			return true;
		if (*c != '/')
			return false;
		seg = c + 1;
	}
}

/* NULL when s is acceptable free text for the summary or a note. */
static const char *text_problem(const char *s)
{
	if (strlen(s) > PLAN_MAX_TEXT)
		return "is longer than 500 bytes";
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			return "contains a control character";
	return NULL;
}

/* A value for a message: JSON-quoted, cut at 80 bytes. */
static char *quote(const char *s)
{
	json_t *j = json_stringn(s, strnlen(s, 80));
	char *q = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
	json_decref(j);
	return q ? q : xstrdup("(unprintable)");
}

static int field_err(struct err *e, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int field_err(struct err *e, const char *field, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	err_set(e, -EINVAL, EXIT_FAILED, "plan field \"%s\": %s", field, sb.buf);
	strbuf_release(&sb);
	return -EINVAL;
}

static int check_range(struct err *e, const char *field, long long v, long long min, long long max,
		       const char *what)
{
	if (v < min || v > max)
		return field_err(e, field, "%lld is not %s (%lld-%lld)", v, what, min, max);
	return 0;
}

static int check_text(struct err *e, const char *field, const char *s)
{
	const char *why = text_problem(s);
	if (!why)
		return 0;
	_cleanup_free_ char *q = quote(s);
	return field_err(e, field, "%s %s", q, why);
}

static int check_feature(struct err *e, const struct strvec *features, size_t i)
{
	const char *f = features->v[i];
	if (!preset_find(f)) {
		_cleanup_free_ char *q = quote(f);
		return field_err(e, "features", "%s is not a preset", q);
	}
	for (size_t k = 0; k < i; k++)
		if (!strcmp(features->v[k], f))
			return field_err(e, "features", "\"%s\" is listed twice", f);
	return 0;
}

int plan_validate(const struct plan *p, struct err *e)
{
	int r;
	if (p->schema_version != PLAN_SCHEMA_VERSION)
		return field_err(e, "schema_version",
				 "%lld is not supported (this mvmctl reads %d)", p->schema_version,
				 PLAN_SCHEMA_VERSION);
	if ((r = check_text(e, "summary", p->summary)) < 0)
		return r;
	if (!p->primary)
		return field_err(e, "primary_preset", "missing");
	for (size_t i = 0; i < p->features.n; i++)
		if ((r = check_feature(e, &p->features, i)) < 0)
			return r;
	if ((r = check_range(e, "http_port", p->http_port, 1, 65535, "a port")) < 0)
		return r;
	if (!plan_valid_health_path(p->health_path)) {
		_cleanup_free_ char *q = quote(p->health_path);
		return field_err(e, "health_path",
				 "%s is not an absolute URL path of [A-Za-z0-9._~/-] without "
				 "\".\", \"..\" or empty segments",
				 q);
	}
	if ((r = check_range(e, "worker_interval_secs", p->worker_interval_secs, 1,
			     PLAN_MAX_WORKER_INTERVAL, "an interval in seconds")) < 0)
		return r;
	if (!plan_valid_entrypoint(p->python_entrypoint)) {
		_cleanup_free_ char *q = quote(p->python_entrypoint);
		return field_err(e, "python_entrypoint",
				 "%s is not a safe relative path to a .py file (segments of "
				 "[A-Za-z0-9_.-] starting with a letter, digit or _)",
				 q);
	}
	if ((r = check_range(e, "resources.vcpus", p->vcpus, 1, MANIFEST_MAX_VCPUS,
			     "a vCPU count")) < 0)
		return r;
	if (p->mem_mib < MANIFEST_MIN_MEM_MIB || p->mem_mib > SIZE_MAX_MIB)
		return field_err(e, "resources.mem_mib", "%llu is not a memory size (%d-%llu MiB)",
				 (unsigned long long)p->mem_mib, MANIFEST_MIN_MEM_MIB,
				 (unsigned long long)SIZE_MAX_MIB);
	if (p->data_disk_mib > SIZE_MAX_MIB)
		return field_err(e, "resources.data_disk_mib", "%llu is more than %llu MiB",
				 (unsigned long long)p->data_disk_mib,
				 (unsigned long long)SIZE_MAX_MIB);
	if (p->notes.n > PLAN_MAX_NOTES)
		return field_err(e, "notes", "%zu notes, at most %d", p->notes.n, PLAN_MAX_NOTES);
	for (size_t i = 0; i < p->notes.n; i++)
		if ((r = check_text(e, "notes", p->notes.v[i])) < 0)
			return r;
	return 0;
}

/* Every key of obj is one of keys[]. */
static int check_keys(const json_t *obj, const char *const *keys, size_t n, const char *where,
		      struct err *e)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)obj, k, v)
	{
		size_t i = 0;
		while (i < n && strcmp(keys[i], k))
			i++;
		if (i == n) {
			_cleanup_free_ char *q = quote(k);
			return err_set(e, -EINVAL, EXIT_FAILED, "plan has an unknown field %s%s", q,
				       where);
		}
	}
	return 0;
}

static int get(const json_t *obj, const char *field, const char *name, json_type type,
	       const char *what, json_t **out, struct err *e)
{
	*out = json_object_get(obj, name);
	if (!*out)
		return field_err(e, field, "missing");
	if (json_typeof(*out) != type)
		return field_err(e, field, "expected %s", what);
	return 0;
}

static int get_int(const json_t *obj, const char *field, const char *name, long long *out,
		   struct err *e)
{
	json_t *v;
	int r = get(obj, field, name, JSON_INTEGER, "an integer", &v, e);
	if (r == 0)
		*out = json_integer_value(v);
	return r;
}

static int get_size(const json_t *obj, const char *field, const char *name, uint64_t *out,
		    struct err *e)
{
	long long v = 0;
	int r = get_int(obj, field, name, &v, e);
	if (r < 0)
		return r;
	if (v < 0)
		return field_err(e, field, "%lld is negative", v);
	*out = (uint64_t)v;
	return 0;
}

static int get_str(const json_t *obj, const char *name, char **out, struct err *e)
{
	json_t *v;
	int r = get(obj, name, name, JSON_STRING, "a string", &v, e);
	if (r < 0)
		return r;
	if (strlen(json_string_value(v)) != json_string_length(v))
		return field_err(e, name, "contains a NUL byte");
	*out = xstrdup(json_string_value(v));
	return 0;
}

static int get_strings(const json_t *obj, const char *name, size_t max, struct strvec *out,
		       struct err *e)
{
	json_t *arr, *v;
	size_t i;
	int r = get(obj, name, name, JSON_ARRAY, "an array of strings", &arr, e);
	if (r < 0)
		return r;
	if (json_array_size(arr) > max)
		return field_err(e, name, "%zu entries, at most %zu", json_array_size(arr), max);
	json_array_foreach(arr, i, v)
	{
		if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
			return field_err(e, name, "entry %zu is not a string", i);
		strvec_push(out, json_string_value(v));
	}
	return 0;
}

static int from_json(const json_t *j, struct plan *p, struct err *e)
{
	int r;
	json_t *res, *primary;
	if (!json_is_object(j))
		return err_set(e, -EINVAL, EXIT_FAILED, "plan is not a JSON object");
	if ((r = check_keys(j, plan_keys, ARRAY_SIZE(plan_keys), "", e)) < 0 ||
	    (r = get_int(j, "schema_version", "schema_version", &p->schema_version, e)) < 0 ||
	    (r = get_str(j, "summary", &p->summary, e)) < 0 ||
	    (r = get(j, "primary_preset", "primary_preset", JSON_STRING, "a string", &primary, e)) <
		0)
		return r;
	p->primary = preset_find(json_string_value(primary));
	if (!p->primary) {
		_cleanup_free_ char *q = quote(json_string_value(primary));
		return field_err(e, "primary_preset", "%s is not a preset", q);
	}
	if ((r = get_strings(j, "features", presets_count, &p->features, e)) < 0 ||
	    (r = get_int(j, "http_port", "http_port", &p->http_port, e)) < 0 ||
	    (r = get_str(j, "health_path", &p->health_path, e)) < 0 ||
	    (r = get_int(j, "worker_interval_secs", "worker_interval_secs",
			 &p->worker_interval_secs, e)) < 0 ||
	    (r = get_str(j, "python_entrypoint", &p->python_entrypoint, e)) < 0 ||
	    (r = get(j, "resources", "resources", JSON_OBJECT, "an object", &res, e)) < 0 ||
	    (r = check_keys(res, resource_keys, ARRAY_SIZE(resource_keys), " in resources", e)) <
		0 ||
	    (r = get_int(res, "resources.vcpus", "vcpus", &p->vcpus, e)) < 0 ||
	    (r = get_size(res, "resources.mem_mib", "mem_mib", &p->mem_mib, e)) < 0 ||
	    (r = get_size(res, "resources.data_disk_mib", "data_disk_mib", &p->data_disk_mib, e)) <
		0 ||
	    (r = get_strings(j, "notes", PLAN_MAX_READ_NOTES, &p->notes, e)) < 0)
		return r;
	return plan_validate(p, e);
}

int plan_from_json(const json_t *j, struct plan *p, struct err *e)
{
	*p = (struct plan){.features = STRVEC_INIT, .notes = STRVEC_INIT};
	int r = from_json(j, p, e);
	if (r < 0)
		plan_release(p);
	return r;
}

int plan_parse(const char *text, size_t len, struct plan *p, struct err *e)
{
	*p = (struct plan){.features = STRVEC_INIT, .notes = STRVEC_INIT};
	if (len > PLAN_MAX_JSON)
		return err_set(e, -EFBIG, EXIT_FAILED, "plan is larger than %d bytes",
			       PLAN_MAX_JSON);
	json_error_t je;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return err_set(e, -EINVAL, EXIT_FAILED, "plan is not valid JSON: %s (line %d)",
			       je.text, je.line);
	int r = plan_from_json(j, p, e);
	json_decref(j);
	return r;
}

static json_t *strings_json(const struct strvec *sv)
{
	json_t *a = json_array();
	for (size_t i = 0; i < sv->n; i++)
		json_array_append_new(a, json_string(sv->v[i]));
	return a;
}

json_t *plan_to_json(const struct plan *p)
{
	return json_pack("{s:I, s:s, s:s, s:o, s:I, s:s, s:I, s:s, s:{s:I, s:I, s:I}, s:o}",
			 "schema_version", (json_int_t)p->schema_version, "summary", p->summary,
			 "primary_preset", p->primary->name, "features", strings_json(&p->features),
			 "http_port", (json_int_t)p->http_port, "health_path", p->health_path,
			 "worker_interval_secs", (json_int_t)p->worker_interval_secs,
			 "python_entrypoint", p->python_entrypoint, "resources", "vcpus",
			 (json_int_t)p->vcpus, "mem_mib", (json_int_t)p->mem_mib, "data_disk_mib",
			 (json_int_t)p->data_disk_mib, "notes", strings_json(&p->notes));
}

json_t *plan_json_schema(void)
{
	json_t *names = json_array();
	for (size_t i = 0; i < presets_count; i++)
		json_array_append_new(names, json_string(presets[i].name));
	json_t *integer = json_pack("{s:s}", "type", "integer");
	json_t *string = json_pack("{s:s}", "type", "string");
	json_t *schema = json_pack(
	    "{s:s, s:b, s:[ssssssssss], s:{"
	    "s:{s:s, s:[i]}, s:O, s:{s:s, s:O}, s:{s:s, s:{s:s, s:O}}, s:O, s:O, s:O, s:O, "
	    "s:{s:s, s:b, s:[sss], s:{s:O, s:O, s:O}}, s:{s:s, s:O}}}",
	    "type", "object", "additionalProperties", 0, "required", "schema_version", "summary",
	    "primary_preset", "features", "http_port", "health_path", "worker_interval_secs",
	    "python_entrypoint", "resources", "notes", "properties", "schema_version", "type",
	    "integer", "enum", PLAN_SCHEMA_VERSION, "summary", string, "primary_preset", "type",
	    "string", "enum", names, "features", "type", "array", "items", "type", "string", "enum",
	    names, "http_port", integer, "health_path", string, "worker_interval_secs", integer,
	    "python_entrypoint", string, "resources", "type", "object", "additionalProperties", 0,
	    "required", "vcpus", "mem_mib", "data_disk_mib", "properties", "vcpus", integer,
	    "mem_mib", integer, "data_disk_mib", integer, "notes", "type", "array", "items",
	    string);
	json_decref(names);
	json_decref(integer);
	json_decref(string);
	return schema;
}
