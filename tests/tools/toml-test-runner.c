/* toml-test driver for src/core/toml.c.
 *
 *   toml-test-runner --decode            TOML on stdin → toml-test's tagged JSON on stdout;
 *                                        invalid TOML: "line:col: message" on stderr, exit 1
 *   toml-test-runner --suite DIR LIST    every case of LIST (paths relative to DIR) as TAP
 *   toml-test-runner --parse FILE…       parse and free each file (fuzz regressions); exits 0
 *                                        unless a file cannot be read, or a sanitizer objects
 *
 * Valid cases compare the decoded document with the sibling .json the way
 * toml-test does: floats by value (nan and inf by name), integers by value,
 * date-times normalised, table key order irrelevant.
 */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/strbuf.h"
#include "core/toml.h"
#include "core/util.h"

#define MAX_INPUT (64u << 20)

static void toml_freep(struct toml_value **v)
{
	toml_free(*v);
}

/* jansson cannot load object keys holding U+0000, which toml-test's
 * expectations have. So both sides of a comparison spell strings with the
 * same injective stuffing: U+0001 → U+0001 U+0001, U+0000 → U+0001 U+0002. */
static void stuff(struct strbuf *sb, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\0' || s[i] == '\1') {
			strbuf_addch(sb, '\1');
			strbuf_addch(sb, s[i] == '\0' ? '\2' : '\1');
		} else {
			strbuf_addch(sb, s[i]);
		}
	}
}

/* The same stuffing applied to the \u escapes of JSON text. */
static void stuff_json_text(struct strbuf *out, const char *s, size_t len)
{
	bool in_string = false;

	for (size_t i = 0; i < len; i++) {
		if (in_string && s[i] == '\\' && i + 1 < len) {
			if (i + 6 <= len &&
			    (!memcmp(s + i, "\\u0000", 6) || !memcmp(s + i, "\\u0001", 6))) {
				strbuf_addstr(out, s[i + 5] == '0' ? "\\u0001\\u0002"
								   : "\\u0001\\u0001");
				i += 5;
			} else {
				strbuf_add(out, s + i, 2);
				i++;
			}
			continue;
		}
		if (s[i] == '"')
			in_string = !in_string;
		strbuf_addch(out, s[i]);
	}
}

/* Shortest text that reads back as the same double. */
static void format_float(double d, char *buf, size_t n)
{
	if (isnan(d)) {
		snprintf(buf, n, "nan");
		return;
	}
	if (isinf(d)) {
		snprintf(buf, n, "%sinf", d < 0 ? "-" : "");
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, n, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	if (!strpbrk(buf, ".e"))
		strncat(buf, ".0", n - strlen(buf) - 1);
}

static json_t *tagged(const char *type, const char *value, size_t len, bool stuffed)
{
	_cleanup_(strbuf_release) struct strbuf sb = STRBUF_INIT;

	if (stuffed) {
		stuff(&sb, value, len);
		value = sb.buf;
		len = sb.len;
	}
	return json_pack("{s:s, s:s%}", "type", type, "value", value, len);
}

/* The tagged JSON of toml-test for a value; keys and strings stuffed when asked. */
static json_t *to_json(const struct toml_value *v, bool stuffed)
{
	char num[64];
	json_t *j;

	switch (v->type) {
	case TOML_TABLE:
		j = json_object();
		for (size_t i = 0; i < v->u.table.len; i++) {
			const struct toml_kv *kv = &v->u.table.items[i];
			_cleanup_(strbuf_release) struct strbuf key = STRBUF_INIT;
			if (stuffed)
				stuff(&key, kv->key, kv->keylen);
			else
				strbuf_add(&key, kv->key, kv->keylen);
			json_object_setn_new(j, key.buf, key.len, to_json(kv->value, stuffed));
		}
		return j;
	case TOML_ARRAY:
		j = json_array();
		for (size_t i = 0; i < v->u.array.len; i++)
			json_array_append_new(j, to_json(v->u.array.items[i], stuffed));
		return j;
	case TOML_STRING:
		return tagged("string", v->u.str.ptr, v->u.str.len, stuffed);
	case TOML_INTEGER:
		snprintf(num, sizeof(num), "%" PRId64, v->u.integer);
		return tagged("integer", num, strlen(num), false);
	case TOML_FLOAT:
		format_float(v->u.fp, num, sizeof(num));
		return tagged("float", num, strlen(num), false);
	case TOML_BOOL:
		return tagged("bool", v->u.boolean ? "true" : "false", v->u.boolean ? 4 : 5, false);
	default:
		return tagged(toml_type_name(v->type), v->u.datetime, strlen(v->u.datetime), false);
	}
}

/* ---- comparison ----------------------------------------------------------------------- */

static bool is_tagged(const json_t *j)
{
	return json_is_object(j) && json_object_size(j) == 2 &&
	       json_is_string(json_object_get(j, "type")) &&
	       json_is_string(json_object_get(j, "value"));
}

/* Date-times compare after normalising: 'T' and 'Z' upper case, fractional
 * seconds without trailing zeros, a zero offset written as Z. */
static void normalize_datetime(const char *s, struct strbuf *out)
{
	const char *dot = strchr(s, '.');
	size_t i;

	for (i = 0; s[i] && (!dot || s + i < dot); i++)
		strbuf_addch(out, i == 10 && (s[i] == ' ' || s[i] == 't') ? 'T' : s[i]);
	if (dot) {
		size_t end = 1, keep = 0;
		while (dot[end] >= '0' && dot[end] <= '9')
			if (dot[end++] != '0')
				keep = end;
		if (keep)
			strbuf_add(out, dot, keep);
		s = dot + end;
	} else {
		s += i;
	}
	if (!strcmp(s, "z") || !strcmp(s, "+00:00") || !strcmp(s, "-00:00"))
		s = "Z";
	strbuf_addstr(out, s);
}

static bool same_scalar(const char *type, const char *want, const char *got)
{
	char *end1, *end2;

	if (!strcmp(type, "integer")) {
		errno = 0;
		long long a = strtoll(want, &end1, 10), b = strtoll(got, &end2, 10);
		return !errno && !*end1 && !*end2 && a == b;
	}
	if (!strcmp(type, "float")) {
		double a = strtod(want, &end1), b = strtod(got, &end2);
		if (*end1 || *end2)
			return false;
		if (isnan(a) || isnan(b))
			return isnan(a) && isnan(b);
		return a == b && signbit(a) == signbit(b);
	}
	if (!strcmp(type, "datetime") || !strcmp(type, "datetime-local") ||
	    !strcmp(type, "date-local") || !strcmp(type, "time-local")) {
		_cleanup_(strbuf_release) struct strbuf a = STRBUF_INIT;
		_cleanup_(strbuf_release) struct strbuf b = STRBUF_INIT;
		normalize_datetime(want, &a);
		normalize_datetime(got, &b);
		return !strcmp(a.buf, b.buf);
	}
	return !strcmp(want, got); /* bool */
}

static const char *kind(const json_t *j)
{
	if (is_tagged(j))
		return json_string_value(json_object_get(j, "type"));
	return json_is_object(j) ? "table" : json_is_array(j) ? "array" : "non-toml JSON";
}

/* Compares expected with decoded JSON; on a difference, explains it in why
 * (path is where we are, like a.b[2].c). */
static bool same(const json_t *want, const json_t *got, struct strbuf *path, struct strbuf *why)
{
	size_t mark = path->len;

	if (is_tagged(want) || is_tagged(got)) {
		const char *type = kind(want);
		json_t *wv = json_object_get(want, "value"), *gv = json_object_get(got, "value");
		if (!is_tagged(want) || !is_tagged(got) || strcmp(type, kind(got))) {
			strbuf_addf(why, "at '%s': expected %s, got %s", path->buf, type,
				    kind(got));
			return false;
		}
		bool ok = !strcmp(type, "string")
			      ? json_equal(wv, gv)
			      : same_scalar(type, json_string_value(wv), json_string_value(gv));
		if (!ok)
			strbuf_addf(why, "at '%s': expected %s %s, got %s", path->buf, type,
				    json_string_value(wv), json_string_value(gv));
		return ok;
	}
	if (json_is_object(want) && json_is_object(got)) {
		const char *key;
		size_t keylen;
		json_t *w;
		json_object_keylen_foreach((json_t *)want, key, keylen, w)
		{
			json_t *g = json_object_getn(got, key, keylen);
			strbuf_addf(path, "%s%.*s", mark ? "." : "", (int)keylen, key);
			if (!g) {
				strbuf_addf(why, "missing key '%s'", path->buf);
				return false;
			}
			if (!same(w, g, path, why))
				return false;
			path->len = mark;
			path->buf[mark] = '\0';
		}
		if (json_object_size(got) != json_object_size(want)) {
			strbuf_addf(why, "at '%s': %zu keys, expected %zu", path->buf,
				    json_object_size(got), json_object_size(want));
			return false;
		}
		return true;
	}
	if (json_is_array(want) && json_is_array(got)) {
		if (json_array_size(want) != json_array_size(got)) {
			strbuf_addf(why, "at '%s': %zu elements, expected %zu", path->buf,
				    json_array_size(got), json_array_size(want));
			return false;
		}
		for (size_t i = 0; i < json_array_size(want); i++) {
			strbuf_addf(path, "[%zu]", i);
			if (!same(json_array_get(want, i), json_array_get(got, i), path, why))
				return false;
			path->len = mark;
			path->buf[mark] = '\0';
		}
		return true;
	}
	strbuf_addf(why, "at '%s': expected %s, got %s", path->buf, kind(want), kind(got));
	return false;
}

/* ---- the three modes ------------------------------------------------------------------ */

static int read_file(const char *path, struct strbuf *sb, struct strbuf *why)
{
	int r = strbuf_read_file(sb, path, MAX_INPUT);
	if (r < 0)
		strbuf_addf(why, "cannot read %s: %s", path, strerror(-r));
	return r;
}

static void describe_error(const struct toml_error *err, struct strbuf *out)
{
	if (err->line)
		strbuf_addf(out, "%d:%d: ", err->line, err->col);
	strbuf_addstr(out, err->msg);
}

/* One valid case: decodes rel and compares it with its .json. */
static bool run_valid(const char *dir, const char *rel, struct strbuf *why)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, rel);
	_cleanup_free_ char *json_path = xasprintf("%.*s.json", (int)(strlen(path) - 5), path);
	_cleanup_(strbuf_release) struct strbuf doc = STRBUF_INIT;
	_cleanup_(strbuf_release) struct strbuf json_text = STRBUF_INIT;
	_cleanup_(strbuf_release) struct strbuf stuffed = STRBUF_INIT;
	_cleanup_(strbuf_release) struct strbuf where = STRBUF_INIT;
	_cleanup_(toml_freep) struct toml_value *root = NULL;
	json_auto_t *want = NULL;
	json_auto_t *got = NULL;
	struct toml_error err;
	json_error_t jerr;

	if (read_file(path, &doc, why) < 0 || read_file(json_path, &json_text, why) < 0)
		return false;
	root = toml_parse(doc.buf, doc.len, &err);
	if (!root) {
		describe_error(&err, why);
		return false;
	}
	stuff_json_text(&stuffed, json_text.buf, json_text.len);
	want = json_loadb(stuffed.buf, stuffed.len, 0, &jerr);
	if (!want) {
		strbuf_addf(why, "%s:%d: %s", json_path, jerr.line, jerr.text);
		return false;
	}
	got = to_json(root, true);
	return same(want, got, &where, why);
}

/* One invalid case: the parser must reject it. */
static bool run_invalid(const char *dir, const char *rel, struct strbuf *why)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, rel);
	_cleanup_(strbuf_release) struct strbuf doc = STRBUF_INIT;
	struct toml_error err;
	struct toml_value *root;

	if (read_file(path, &doc, why) < 0)
		return false;
	root = toml_parse(doc.buf, doc.len, &err);
	if (root) {
		toml_free(root);
		strbuf_addstr(why, "accepted an invalid document");
		return false;
	}
	if (err.line < 1 || err.col < 1 || !err.msg[0]) {
		strbuf_addf(why, "error without a position or message (%d:%d: %s)", err.line,
			    err.col, err.msg);
		return false;
	}
	return true;
}

/* A TAP description stays on one line, and '#' would start a directive. */
static void tap_line(int n, bool ok, const char *rel, const char *why)
{
	printf("%sok %d - %s", ok ? "" : "not ", n, rel);
	if (!ok) {
		printf(" (");
		for (const char *p = why; *p; p++) {
			if (*p == '#')
				fputs("\\#", stdout);
			else
				putchar((unsigned char)*p < 0x20 ? ' ' : *p);
		}
		putchar(')');
	}
	putchar('\n');
}

static int run_suite(const char *dir, const char *list)
{
	_cleanup_(strbuf_release) struct strbuf names = STRBUF_INIT;
	_cleanup_(strbuf_release) struct strbuf why = STRBUF_INIT;
	int n = 0, valid = 0, valid_ok = 0, invalid = 0, invalid_ok = 0;
	char *line, *next;

	if (read_file(list, &names, &why) < 0) {
		fprintf(stderr, "toml-test-runner: %s\n", why.buf);
		return 2;
	}
	for (line = names.buf; *line; line = next) {
		size_t len = strcspn(line, "\r\n");
		next = line + len + strspn(line + len, "\r\n");
		line[len] = '\0';
		if (len < 5 || strcmp(line + len - 5, ".toml"))
			continue; /* the expected .json files are listed too */

		bool is_valid = !strncmp(line, "valid/", 6), ok;
		strbuf_reset(&why);
		if (is_valid) {
			ok = run_valid(dir, line, &why);
			valid++, valid_ok += ok;
		} else {
			ok = run_invalid(dir, line, &why);
			invalid++, invalid_ok += ok;
		}
		tap_line(++n, ok, line, why.buf);
	}
	printf("# toml-test: %d/%d valid, %d/%d invalid\n", valid_ok, valid, invalid_ok, invalid);
	if (!n) {
		fprintf(stderr, "toml-test-runner: no cases in %s\n", list);
		return 1;
	}
	return valid_ok == valid && invalid_ok == invalid ? 0 : 1;
}

static int run_decode(void)
{
	_cleanup_(strbuf_release) struct strbuf doc = STRBUF_INIT;
	_cleanup_(toml_freep) struct toml_value *root = NULL;
	json_auto_t *json = NULL;
	struct toml_error err;
	int r = strbuf_read_fd(&doc, 0, MAX_INPUT);

	if (r < 0) {
		fprintf(stderr, "reading stdin: %s\n", strerror(-r));
		return 2;
	}
	root = toml_parse(doc.buf, doc.len, &err);
	if (!root) {
		fprintf(stderr, "%d:%d: %s\n", err.line, err.col, err.msg);
		return 1;
	}
	json = to_json(root, false);
	if (json_dumpf(json, stdout, JSON_INDENT(2)) < 0 || puts("") < 0)
		return 2;
	return 0;
}

static int run_parse(int argc, char **argv)
{
	int status = 0;

	for (int i = 0; i < argc; i++) {
		_cleanup_(strbuf_release) struct strbuf doc = STRBUF_INIT;
		_cleanup_(strbuf_release) struct strbuf why = STRBUF_INIT;
		struct toml_error err;

		if (read_file(argv[i], &doc, &why) < 0) {
			fprintf(stderr, "toml-test-runner: %s\n", why.buf);
			status = 1;
			continue;
		}
		toml_free(toml_parse(doc.buf, doc.len, &err));
	}
	return status;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--decode"))
		return run_decode();
	if (argc == 4 && !strcmp(argv[1], "--suite"))
		return run_suite(argv[2], argv[3]);
	if (argc >= 2 && !strcmp(argv[1], "--parse"))
		return run_parse(argc - 2, argv + 2);
	fprintf(stderr, "usage: toml-test-runner --decode < doc.toml\n"
			"       toml-test-runner --suite DIR LISTFILE\n"
			"       toml-test-runner --parse FILE...\n");
	return 2;
}
