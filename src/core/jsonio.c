#include <string.h>
#include <time.h>

#include "fs.h"
#include "jsonio.h"
#include "strbuf.h"
#include "util.h"

int json_parse_buf(const char *buf, size_t len, const char *what, json_t **out, struct err *e)
{
	json_error_t jerr;
	json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		return err_set(e, -EINVAL, EXIT_FAILED, "%s: invalid JSON at line %d: %s", what,
			       jerr.line, jerr.text);
	if (!json_is_object(j)) {
		json_decref(j);
		return err_set(e, -EINVAL, EXIT_FAILED, "%s: expected a JSON object", what);
	}
	*out = j;
	return 0;
}

int json_read_file(const char *path, json_t **out, struct err *e)
{
	struct strbuf sb = STRBUF_INIT;
	int r = fs_read_file(path, JSONIO_MAX_BYTES, &sb, e);
	if (r >= 0)
		r = json_parse_buf(sb.buf, sb.len, path, out, e);
	strbuf_release(&sb);
	return r;
}

int json_write_file(const char *path, json_t *obj, struct err *e)
{
	char *s = json_dumps(obj, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (!s)
		return err_set(e, -ENOMEM, EXIT_FAILED, "encoding '%s'", path);
	size_t len = strlen(s);
	char *withnl = xmalloc(len + 2);
	memcpy(withnl, s, len);
	withnl[len] = '\n';
	withnl[len + 1] = '\0';
	free(s);
	int r = fs_write_atomic(path, withnl, len + 1, 0600, e);
	free(withnl);
	return r;
}

char *json_now_rfc3339(void)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	char buf[32];
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return xstrdup(buf);
}

const char *json_get_str(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

long long json_get_int(const json_t *obj, const char *key, long long fallback)
{
	const json_t *v = json_object_get(obj, key);
	return json_is_integer(v) ? (long long)json_integer_value(v) : fallback;
}
