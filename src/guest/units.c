#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "units.h"

#define UNIT_MAX_LINE  (64u << 10)
#define UNIT_MAX_WORDS 4096

/* --- small growable helpers ---------------------------------------- */

struct sbuf {
	char *p;
	size_t len, cap;
};

static void sb_addn(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p)
			abort();
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_addc(struct sbuf *b, char c)
{
	sb_addn(b, &c, 1);
}

static char *sb_take(struct sbuf *b)
{
	if (!b->p)
		sb_addn(b, "", 0);
	char *p = b->p;
	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}

static char *xstrdup_(const char *s)
{
	char *p = strdup(s);
	if (!p)
		abort();
	return p;
}

static void list_push(struct unit_list *l, char *s)
{
	char **v = realloc(l->v, (l->n + 2) * sizeof(*v));
	if (!v)
		abort();
	v[l->n++] = s;
	v[l->n] = NULL;
	l->v = v;
}

void unit_list_free(struct unit_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void unit_list_setenv(struct unit_list *list, const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv)
		return;
	size_t kl = (size_t)(eq - kv);
	for (size_t i = 0; i < kl; i++)
		if (!(isalnum((unsigned char)kv[i]) || kv[i] == '_'))
			return;
	for (size_t i = 0; i < list->n; i++) {
		if (!strncmp(list->v[i], kv, kl) && list->v[i][kl] == '=') {
			free(list->v[i]);
			list->v[i] = xstrdup_(kv);
			return;
		}
	}
	list_push(list, xstrdup_(kv));
}

static const char *env_lookup(const char *const *env, const char *name, size_t n)
{
	for (size_t i = 0; env && env[i]; i++)
		if (!strncmp(env[i], name, n) && env[i][n] == '=')
			return env[i] + n + 1;
	return NULL;
}

/* --- word splitting ------------------------------------------------ */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Reads one escape after a backslash at *s; appends its value. */
static void unescape(const char **s, struct sbuf *b)
{
	char c = **s;
	if (!c) {
		sb_addc(b, '\\');
		return;
	}
	(*s)++;
	switch (c) {
	case 'a':
		sb_addc(b, '\a');
		return;
	case 'b':
		sb_addc(b, '\b');
		return;
	case 'f':
		sb_addc(b, '\f');
		return;
	case 'n':
		sb_addc(b, '\n');
		return;
	case 'r':
		sb_addc(b, '\r');
		return;
	case 't':
		sb_addc(b, '\t');
		return;
	case 'v':
		sb_addc(b, '\v');
		return;
	case 's':
		sb_addc(b, ' ');
		return;
	case 'x': {
		int h = hexval((*s)[0]), l = h >= 0 ? hexval((*s)[1]) : -1;
		if (h >= 0 && l >= 0) {
			sb_addc(b, (char)(h * 16 + l));
			*s += 2;
			return;
		}
		sb_addc(b, 'x');
		return;
	}
	default:
		if (c >= '0' && c <= '7' && (*s)[0] >= '0' && (*s)[0] <= '7' && (*s)[1] >= '0' &&
		    (*s)[1] <= '7') {
			int v = (c - '0') * 64 + ((*s)[0] - '0') * 8 + ((*s)[1] - '0');
			if (v > 0 && v < 256) {
				sb_addc(b, (char)v);
				*s += 2;
				return;
			}
		}
		sb_addc(b, c); /* \\ \" \' \$ and anything else: the character itself */
		return;
	}
}

/* Expands ${NAME} in place and $$ → $ within a word ($NAME inside a word stays). */
static char *expand_word(const char *w, const char *const *env)
{
	struct sbuf b = {0};
	for (const char *p = w; *p;) {
		if (p[0] == '$' && p[1] == '$') {
			sb_addc(&b, '$');
			p += 2;
		} else if (p[0] == '$' && p[1] == '{') {
			const char *end = strchr(p + 2, '}');
			if (!end) {
				sb_addn(&b, p, strlen(p));
				break;
			}
			const char *v = env_lookup(env, p + 2, (size_t)(end - p - 2));
			if (v)
				sb_addn(&b, v, strlen(v));
			p = end + 1;
		} else {
			sb_addc(&b, *p++);
		}
	}
	return sb_take(&b);
}

static bool is_var_word(const char *w)
{
	if (w[0] != '$' || !(isalpha((unsigned char)w[1]) || w[1] == '_'))
		return false;
	for (const char *p = w + 2; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_'))
			return false;
	return true;
}

void unit_argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

int unit_split(const char *line, const char *const *env, bool expand, char ***argv)
{
	struct unit_list out = {0};
	const char *s = line;
	for (;;) {
		while (*s && isspace((unsigned char)*s))
			s++;
		if (!*s)
			break;
		struct sbuf w = {0};
		char quote = 0;
		while (*s && (quote || !isspace((unsigned char)*s))) {
			char c = *s++;
			if (quote && c == quote) {
				quote = 0;
			} else if (!quote && (c == '"' || c == '\'')) {
				quote = c;
			} else if (c == '\\') {
				unescape(&s, &w);
			} else {
				sb_addc(&w, c);
			}
		}
		if (quote) {
			free(w.p);
			unit_list_free(&out);
			return -1;
		}
		char *word = sb_take(&w);
		if (expand && is_var_word(word)) {
			const char *v = env_lookup(env, word + 1, strlen(word + 1));
			free(word);
			for (const char *p = v; p && *p;) {
				while (*p && isspace((unsigned char)*p))
					p++;
				size_t n = 0;
				while (p[n] && !isspace((unsigned char)p[n]))
					n++;
				if (n) {
					char *piece = strndup(p, n);
					if (!piece)
						abort();
					list_push(&out, piece);
				}
				p += n;
			}
		} else if (expand) {
			list_push(&out, expand_word(word, env));
			free(word);
		} else {
			list_push(&out, word);
		}
		if (out.n > UNIT_MAX_WORDS) {
			unit_list_free(&out);
			return -1;
		}
	}
	if (!out.v)
		list_push(&out, NULL), out.n = 0;
	*argv = out.v;
	return (int)out.n;
}

void unit_exec_free(struct unit_exec *x)
{
	free(x->path);
	unit_argv_free(x->argv);
	memset(x, 0, sizeof(*x));
}

int unit_exec_prepare(const char *value, const char *const *env, struct unit_exec *x)
{
	memset(x, 0, sizeof(*x));
	const char *p = value;
	while (isspace((unsigned char)*p))
		p++;
	bool at = false;
	for (; *p && strchr("-@+!:", *p); p++) {
		if (*p == '-')
			x->ignore_failure = true;
		else if (*p == '@')
			at = true;
		if (p[0] == '!' && p[1] == '!')
			p++;
	}
	char **words = NULL;
	int n = unit_split(p, env, true, &words);
	if (n < 1 || (at && n < 2)) {
		unit_argv_free(words);
		return -1;
	}
	x->path = xstrdup_(words[0]);
	if (at) {
		/* "@/bin/prog name args": run /bin/prog with argv[0] = name */
		free(words[0]);
		memmove(words, words + 1, (size_t)n * sizeof(*words));
	}
	x->argv = words;
	return 0;
}

/* --- time spans ---------------------------------------------------- */

long long unit_parse_timespan_ms(const char *s)
{
	static const struct {
		const char *suffix;
		double ms;
	} units[] = {
	    {"usec", 0.001},	{"us", 0.001},	   {"msec", 1},	    {"ms", 1},
	    {"seconds", 1000},	{"second", 1000},  {"sec", 1000},   {"s", 1000},
	    {"minutes", 60000}, {"minute", 60000}, {"min", 60000},  {"m", 60000},
	    {"hours", 3600000}, {"hour", 3600000}, {"hr", 3600000}, {"h", 3600000},
	    {"days", 86400000}, {"day", 86400000}, {"d", 86400000}, {"", 1000},
	};
	double total = 0;
	bool any = false;
	while (*s) {
		while (isspace((unsigned char)*s))
			s++;
		if (!*s)
			break;
		if (!isdigit((unsigned char)*s) && *s != '.')
			return -1;
		char *end;
		double v = strtod(s, &end);
		if (end == s || v < 0)
			return -1;
		s = end;
		while (isspace((unsigned char)*s))
			s++;
		size_t n = 0;
		while (isalpha((unsigned char)s[n]))
			n++;
		double mult = -1;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			if (strlen(units[i].suffix) == n && !strncmp(s, units[i].suffix, n)) {
				mult = units[i].ms;
				break;
			}
		}
		if (mult < 0)
			return -1;
		s += n;
		total += v * mult;
		any = true;
		if (total > 1e12)
			return -1;
	}
	return any ? (long long)(total + 0.5) : -1;
}

/* --- environment files --------------------------------------------- */

void unit_env_file(struct unit_list *list, const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char *line = strndup(p, n);
		if (!line)
			abort();
		p += n + (nl ? 1 : 0);
		char *l = line;
		while (isspace((unsigned char)*l))
			l++;
		if (*l == '#' || *l == ';' || !*l) {
			free(line);
			continue;
		}
		if (!strncmp(l, "export ", 7))
			l += 7;
		char *eq = strchr(l, '=');
		if (!eq) {
			free(line);
			continue;
		}
		char *k = l, *kend = eq;
		while (kend > k && isspace((unsigned char)kend[-1]))
			kend--;
		*kend = '\0';
		char *v = eq + 1;
		while (isspace((unsigned char)*v))
			v++;
		size_t vl = strlen(v);
		while (vl && isspace((unsigned char)v[vl - 1]))
			v[--vl] = '\0';
		struct sbuf val = {0};
		if (vl >= 2 && (v[0] == '"' || v[0] == '\'') && v[vl - 1] == v[0]) {
			v[vl - 1] = '\0';
			const char *q = v + 1;
			while (*q) {
				if (v[0] == '"' && *q == '\\' && q[1]) {
					sb_addc(&val, q[1]);
					q += 2;
				} else {
					sb_addc(&val, *q++);
				}
			}
		} else {
			sb_addn(&val, v, vl);
		}
		struct sbuf kv = {0};
		sb_addn(&kv, k, strlen(k));
		sb_addc(&kv, '=');
		char *vs = sb_take(&val);
		sb_addn(&kv, vs, strlen(vs));
		free(vs);
		char *kvs = sb_take(&kv);
		unit_list_setenv(list, kvs);
		free(kvs);
		free(line);
	}
}

/* --- the file ------------------------------------------------------ */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Replaces %-specifiers. */
static char *specifiers(const struct unit *u, const char *v)
{
	struct sbuf b = {0};
	for (const char *p = v; *p; p++) {
		if (*p != '%' || !p[1]) {
			sb_addc(&b, *p);
			continue;
		}
		p++;
		const char *r = NULL;
		switch (*p) {
		case '%':
			r = "%";
			break;
		case 'n':
			r = u->name;
			break;
		case 'N':
		case 'p':
			r = u->label;
			break;
		case 'i':
		case 'I':
			r = "";
			break;
		case 'h':
			r = "/root";
			break;
		case 'u':
			r = "root";
			break;
		case 't':
			r = "/run";
			break;
		case 'T':
			r = "/tmp";
			break;
		case 'V':
			r = "/var/tmp";
			break;
		case 'S':
			r = "/var/lib";
			break;
		case 'C':
			r = "/var/cache";
			break;
		case 'L':
			r = "/var/log";
			break;
		case 'E':
			r = "/etc";
			break;
		default:
			sb_addc(&b, '%');
			sb_addc(&b, *p);
			continue;
		}
		sb_addn(&b, r, strlen(r));
	}
	return sb_take(&b);
}

static void add_words(struct unit_list *l, const char *v)
{
	char **w = NULL;
	int n = unit_split(v, NULL, false, &w);
	for (int i = 0; i < n; i++)
		list_push(l, w[i]);
	free(w);
}

static int set_key(struct unit *u, const char *section, const char *key, const char *raw, char *err,
		   size_t errlen, int lineno)
{
	char *v = specifiers(u, raw);
	int r = 0;
	if (!strcmp(section, "Unit")) {
		if (!strcmp(key, "After"))
			add_words(&u->after, v);
		else if (!strcmp(key, "Before"))
			add_words(&u->before, v);
		else if (!strcmp(key, "Description")) {
			free(u->description);
			u->description = xstrdup_(v);
		}
	} else if (!strcmp(section, "Service")) {
		if (!strcmp(key, "ExecStart")) {
			if (!*v)
				unit_list_free(&u->exec);
			else
				list_push(&u->exec, xstrdup_(v));
		} else if (!strcmp(key, "Environment")) {
			char **w = NULL;
			int n = unit_split(v, NULL, false, &w);
			if (n < 0) {
				set_err(err, errlen, "%s:%d: Environment: unbalanced quotes",
					u->name, lineno);
				r = -1;
			}
			for (int i = 0; i < n; i++)
				unit_list_setenv(&u->env, w[i]);
			unit_argv_free(w);
		} else if (!strcmp(key, "EnvironmentFile")) {
			if (!*v)
				unit_list_free(&u->env_files);
			else
				list_push(&u->env_files, xstrdup_(v));
		} else if (!strcmp(key, "WorkingDirectory")) {
			free(u->workdir);
			u->workdir = NULL;
			u->workdir_optional = false;
			const char *w = v;
			if (*w == '-') {
				u->workdir_optional = true;
				w++;
			}
			if (*w)
				u->workdir = xstrdup_(w);
		} else if (!strcmp(key, "User")) {
			free(u->user);
			u->user = *v ? xstrdup_(v) : NULL;
		} else if (!strcmp(key, "Group")) {
			free(u->group);
			u->group = *v ? xstrdup_(v) : NULL;
		} else if (!strcmp(key, "Type")) {
			if (!strcmp(v, "oneshot"))
				u->type = UNIT_ONESHOT;
			else if (!strcmp(v, "forking"))
				u->type = UNIT_FORKING;
			else if (!strcmp(v, "simple") || !strcmp(v, "exec") ||
				 !strcmp(v, "notify") || !strcmp(v, "notify-reload") ||
				 !strcmp(v, "idle") || !strcmp(v, "dbus") || !*v)
				u->type = UNIT_SIMPLE;
			else {
				set_err(err, errlen, "%s:%d: unknown Type=%s", u->name, lineno, v);
				r = -1;
			}
		} else if (!strcmp(key, "Restart")) {
			static const char *const names[] = {
			    "no", "always", "on-success", "on-failure", "on-abnormal", "on-abort"};
			size_t i;
			for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
				if (!strcmp(v, names[i]))
					break;
			if (i == sizeof(names) / sizeof(names[0])) {
				if (!strcmp(v, "on-watchdog")) {
					u->restart = RESTART_ON_FAILURE;
				} else {
					set_err(err, errlen, "%s:%d: unknown Restart=%s", u->name,
						lineno, v);
					r = -1;
				}
			} else {
				u->restart = (enum unit_restart)i;
			}
		} else if (!strcmp(key, "RestartSec")) {
			long long ms = unit_parse_timespan_ms(v);
			if (ms < 0 || ms > 24LL * 3600 * 1000) {
				set_err(err, errlen, "%s:%d: bad RestartSec=%s", u->name, lineno,
					v);
				r = -1;
			} else {
				u->restart_ms = (unsigned)ms;
			}
		}
	} else if (!strcmp(section, "Install")) {
		if (!strcmp(key, "WantedBy"))
			add_words(&u->wanted_by, v);
	}
	free(v);
	return r;
}

static void trim(char **s, char **e)
{
	while (*s < *e && isspace((unsigned char)**s))
		(*s)++;
	while (*e > *s && isspace((unsigned char)(*e)[-1]))
		(*e)--;
}

void unit_free(struct unit *u)
{
	free(u->name);
	free(u->label);
	free(u->description);
	unit_list_free(&u->exec);
	unit_list_free(&u->env);
	unit_list_free(&u->env_files);
	free(u->workdir);
	free(u->user);
	free(u->group);
	unit_list_free(&u->after);
	unit_list_free(&u->before);
	unit_list_free(&u->wanted_by);
	memset(u, 0, sizeof(*u));
}

int unit_parse(struct unit *u, const char *name, const char *text, size_t len, char *err,
	       size_t errlen)
{
	memset(u, 0, sizeof(*u));
	u->name = xstrdup_(name);
	const char *dot = strrchr(name, '.');
	u->label = dot ? strndup(name, (size_t)(dot - name)) : xstrdup_(name);
	if (!u->label)
		abort();
	u->restart_ms = 100;
	char section[64] = "";
	const char *p = text, *end = text + len;
	int lineno = 0;
	struct sbuf line = {0};
	int r = 0;
	while (p < end && r == 0) {
		/* one logical line: physical lines joined at a trailing backslash */
		line.len = 0;
		int first = lineno + 1;
		bool cont;
		do {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
			const char *s = p;
			p += n + (nl ? 1 : 0);
			lineno++;
			if (memchr(s, '\0', n)) {
				set_err(err, errlen, "%s:%d: NUL byte", name, lineno);
				r = -1;
				break;
			}
			while (n && (s[n - 1] == '\r'))
				n--;
			/* comment lines inside a continuation are skipped */
			const char *t = s;
			while (t < s + n && isspace((unsigned char)*t))
				t++;
			if (line.len && t < s + n && (*t == '#' || *t == ';')) {
				cont = p < end;
				continue;
			}
			cont = n && s[n - 1] == '\\' && p < end;
			if (n && s[n - 1] == '\\')
				n--;
			sb_addn(&line, s, n);
			if (cont)
				sb_addc(&line, ' ');
			if (line.len > UNIT_MAX_LINE) {
				set_err(err, errlen, "%s:%d: line too long", name, lineno);
				r = -1;
				break;
			}
		} while (cont && p < end);
		if (r)
			break;
		if (!line.p)
			continue;
		char *s = line.p, *e = line.p + line.len;
		trim(&s, &e);
		*e = '\0';
		if (s == e || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			if (e[-1] != ']' || (size_t)(e - s - 2) >= sizeof(section)) {
				set_err(err, errlen, "%s:%d: bad section header", name, first);
				r = -1;
				break;
			}
			memcpy(section, s + 1, (size_t)(e - s - 2));
			section[e - s - 2] = '\0';
			continue;
		}
		char *eq = strchr(s, '=');
		if (!eq) {
			set_err(err, errlen, "%s:%d: expected Key=Value", name, first);
			r = -1;
			break;
		}
		if (!section[0]) {
			set_err(err, errlen, "%s:%d: assignment outside of a section", name, first);
			r = -1;
			break;
		}
		char *ks = s, *ke = eq, *vs = eq + 1, *ve = e;
		trim(&ks, &ke);
		trim(&vs, &ve);
		*ke = '\0';
		*ve = '\0';
		r = set_key(u, section, ks, vs, err, errlen, first);
	}
	free(line.p);
	if (r == 0 && !u->exec.n) {
		set_err(err, errlen, "%s: no ExecStart=", name);
		r = -1;
	}
	if (r == 0 && u->type != UNIT_ONESHOT && u->exec.n > 1) {
		set_err(err, errlen, "%s: several ExecStart= need Type=oneshot", name);
		r = -1;
	}
	if (r < 0)
		unit_free(u);
	return r;
}
