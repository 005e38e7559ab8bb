#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/envfile.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "proto/agent.h"

/* env[i] = kv when env holds its name already, else appended. */
static void env_put(struct strvec *env, const char *kv)
{
	size_t kl = strcspn(kv, "=");
	for (size_t i = 0; i < env->n; i++) {
		if (!strncmp(env->v[i], kv, kl) && env->v[i][kl] == '=') {
			explicit_bzero(env->v[i], strlen(env->v[i]));
			free(env->v[i]);
			env->v[i] = xstrdup(kv);
			return;
		}
	}
	strvec_push(env, kv);
}

/* One entry, "K=V" or "K", of n bytes; where names it in a message. */
static int add_entry(struct strvec *env, const char *s, size_t n, const char *where, struct err *e)
{
	size_t kl = strcspn(s, "=");
	if (kl > n)
		kl = n;
	_cleanup_free_ char *name = xstrndup(s, kl);
	_cleanup_free_ char *probe = xasprintf("%s=", name);
	if (!proto_env_entry_valid(probe)) {
		_cleanup_free_ char *shown = str_shown(name, 64);
		int r = err_set(e, -EINVAL, EXIT_USAGE,
				"%s: '%s' is not a valid variable name (letters, digits and '_', "
				"not starting with a digit)",
				where, shown);
		err_hint(e, "write K=V, e.g. -e LOG_LEVEL=debug");
		return r;
	}
	if (kl == n) { /* the host's value, as Docker does; unset: nothing */
		const char *v = getenv(name);
		if (v) {
			_cleanup_free_ char *kv = xasprintf("%s=%s", name, v);
			env_put(env, kv);
			explicit_bzero(kv, strlen(kv));
		}
		return 0;
	}
	_cleanup_free_ char *kv = xstrndup(s, n);
	env_put(env, kv);
	explicit_bzero(kv, n);
	return 0;
}

int env_add_arg(struct strvec *env, const char *arg, struct err *e)
{
	_cleanup_free_ char *where = xasprintf("-e '%.*s'", (int)strcspn(arg, "="), arg);
	return add_entry(env, arg, strlen(arg), where, e);
}

int env_add_file(struct strvec *env, const char *path, struct err *e)
{
	struct strbuf sb = STRBUF_INIT;
	int r = strbuf_read_file(&sb, path, ENV_FILE_MAX);
	if (r < 0) {
		strbuf_release(&sb);
		if (r == -EFBIG)
			return err_set(e, r, EXIT_USAGE, "env file '%s' is larger than %u bytes",
				       path, ENV_FILE_MAX);
		return err_sys(e, r, EXIT_USAGE, "reading env file '%s'", path);
	}
	if (memchr(sb.buf, '\0', sb.len)) {
		strbuf_release(&sb);
		return err_set(e, -EINVAL, EXIT_USAGE, "env file '%s' holds a NUL byte", path);
	}
	size_t lineno = 0;
	for (const char *l = sb.buf; r >= 0 && *l;) {
		const char *nl = strchrnul(l, '\n');
		size_t n = (size_t)(nl - l);
		lineno++;
		if (n && l[n - 1] == '\r')
			n--;
		while (n && (*l == ' ' || *l == '\t'))
			l++, n--;
		if (n && *l != '#') {
			_cleanup_free_ char *where = xasprintf("%s:%zu", path, lineno);
			r = add_entry(env, l, n, where, e);
		}
		l = *nl ? nl + 1 : nl;
	}
	explicit_bzero(sb.buf, sb.len);
	strbuf_release(&sb);
	return r < 0 ? r : 0;
}
