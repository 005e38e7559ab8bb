/* TOML 1.0 parser.
 *
 * One pass over the input with a cursor that keeps line and column; there is
 * no separate lexer because TOML's tokens depend on where they stand (a bare
 * key "1979-05-27" is not a date, "true" may be a key). The tree is built as
 * the document is read: key/value lines go straight into their table, while
 * arrays and inline tables are built aside and attached once complete, so on
 * any error freeing the root and the value under construction frees all.
 *
 * Which tables may be extended, and how, is kept in value->flags (TF_*).
 * Keys are found through one hash index for the whole document, keyed by
 * (table, key), so a table with many keys costs O(1) per lookup.
 *
 * Before parsing, the whole input is checked to be UTF-8; after that the
 * parser only needs to look at ASCII bytes to tell TOML's syntax apart.
 */
#include <inttypes.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "strbuf.h"
#include "toml.h"
#include "util.h"

/* value->flags: how a table or array came to be, which decides how it may grow. */
enum {
	TF_HEADER = 1u << 0,   /* table defined by a [header] (or the root): closed to headers */
	TF_IMPLICIT = 1u << 1, /* table created as a parent by [a.b]; a later [a] may define it */
	TF_DOTTED = 1u << 2,   /* table created by a dotted key a.b = 1; more dotted keys may add */
	TF_INLINE = 1u << 3,   /* inline table or array written with '=': closed once written */
	TF_AOT = 1u << 4,      /* array created by [[header]]; each [[header]] appends a table */
};

struct pos {
	int line, col;
};

/* One slot of the document-wide key index. */
struct index_slot {
	const struct toml_value *tab; /* NULL: empty slot */
	size_t idx;		      /* into tab->u.table.items */
	uint64_t hash;
};

struct parser {
	const char *buf;
	size_t len, pos;
	struct pos at; /* line and column of buf[pos]; the column counts characters */
	struct toml_error *err;
	struct toml_value *root;
	struct toml_value *cur; /* the table key/value lines go into */
	int cur_depth;		/* its nesting depth (the root is 0) */
	struct index_slot *slots;
	size_t nslots, nused;
	locale_t c_locale; /* for strtod_l, made on the first float */
};

/* A key as written: one part per dotted component. */
struct keypart {
	char *s;
	size_t len;
	struct pos at;
};

struct key {
	struct keypart *parts;
	size_t n, cap;
};

/* A short piece of text for messages, returned by value. */
struct desc {
	char s[72];
};

/* ---- cursor and errors ---------------------------------------------------------------- */

static int peek_at(const struct parser *ps, size_t off)
{
	if (off >= ps->len - ps->pos)
		return -1;
	return (unsigned char)ps->buf[ps->pos + off];
}

static int peek(const struct parser *ps)
{
	return peek_at(ps, 0);
}

/* Moves n bytes on, counting lines and characters (UTF-8 continuation bytes
 * do not start a new column). */
static void advance(struct parser *ps, size_t n)
{
	for (; n && ps->pos < ps->len; n--) {
		unsigned char c = (unsigned char)ps->buf[ps->pos++];
		if (c == '\n') {
			ps->at.line++;
			ps->at.col = 1;
		} else if ((c & 0xC0) != 0x80) {
			ps->at.col++;
		}
	}
}

static void skip_ws(struct parser *ps)
{
	while (peek(ps) == ' ' || peek(ps) == '\t')
		advance(ps, 1);
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int hex_value(int c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool is_bare_key_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' ||
	       c == '_';
}

/* Forbidden outside the places that allow newlines: U+0000–U+0008,
 * U+000A–U+001F and U+007F. Tab is allowed. */
static bool is_control(int c)
{
	return (c >= 0 && c < 0x20 && c != '\t') || c == 0x7f;
}

/* Decodes one UTF-8 sequence; returns its length, or 0 when it is malformed,
 * overlong, truncated, a surrogate or beyond U+10FFFF. */
static size_t utf8_decode(const unsigned char *s, size_t avail, uint32_t *cp)
{
	size_t len;
	uint32_t min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		len = 2, min = 0x80, *cp = s[0] & 0x1F;
	} else if ((s[0] & 0xF0) == 0xE0) {
		len = 3, min = 0x800, *cp = s[0] & 0x0F;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		len = 4, min = 0x10000, *cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (avail < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		*cp = *cp << 6 | (s[i] & 0x3F);
	}
	if (*cp < min || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF))
		return 0;
	return len;
}

static void utf8_put(struct strbuf *sb, uint32_t cp)
{
	char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (char)cp, n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xC0 | cp >> 6), n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xE0 | cp >> 12), n = 3;
	} else {
		b[0] = (char)(0xF0 | cp >> 18), n = 4;
	}
	for (size_t i = 1; i < n; i++)
		b[i] = (char)(0x80 | ((cp >> (6 * (n - 1 - i))) & 0x3F));
	strbuf_add(sb, b, n);
}

/* Names the character off bytes ahead of the cursor, for "found …". */
static struct desc found(const struct parser *ps, size_t off)
{
	struct desc d;
	int c = peek_at(ps, off);
	uint32_t cp;

	if (c < 0)
		snprintf(d.s, sizeof(d.s), "end of input");
	else if (c == '\n')
		snprintf(d.s, sizeof(d.s), "a newline");
	else if (c >= 0x20 && c < 0x7f)
		snprintf(d.s, sizeof(d.s), "'%c'", c);
	else if (utf8_decode((const unsigned char *)ps->buf + ps->pos + off,
			     ps->len - ps->pos - off, &cp))
		snprintf(d.s, sizeof(d.s), "U+%04" PRIX32, cp);
	else
		snprintf(d.s, sizeof(d.s), "byte 0x%02X", c);
	return d;
}

/* Quotes a key for messages: truncated on a character boundary, control
 * characters shown as '?'. */
static struct desc keyname(const char *key, size_t len)
{
	struct desc d;
	size_t max = sizeof(d.s) - 8, n = 0;

	if (len > max) {
		len = max;
		while (len && ((unsigned char)key[len] & 0xC0) == 0x80)
			len--;
	}
	d.s[n++] = '\'';
	for (size_t i = 0; i < len; i++)
		d.s[n++] = is_control((unsigned char)key[i]) ? '?' : key[i];
	if (len == max) {
		memcpy(d.s + n, "...", 3);
		n += 3;
	}
	d.s[n++] = '\'';
	d.s[n] = '\0';
	return d;
}

/* Records the first error; returns -EINVAL for `return fail_at(…)`. */
static int fail_at(struct parser *ps, struct pos at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_at(struct parser *ps, struct pos at, const char *fmt, ...)
{
	va_list ap;

	if (ps->err->msg[0])
		return -EINVAL;
	ps->err->line = at.line;
	ps->err->col = at.col;
	va_start(ap, fmt);
	vsnprintf(ps->err->msg, sizeof(ps->err->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

#define fail(ps, ...) fail_at(ps, (ps)->at, __VA_ARGS__)

/* Rejects malformed UTF-8 anywhere in the document, up front. */
static int check_utf8(struct parser *ps)
{
	const unsigned char *s = (const unsigned char *)ps->buf;
	struct pos at = ps->at;
	uint32_t cp;

	for (size_t i = ps->pos; i < ps->len;) {
		size_t n = s[i] < 0x80 ? 1 : utf8_decode(s + i, ps->len - i, &cp);
		if (!n)
			return fail_at(ps, at, "invalid UTF-8 (byte 0x%02X)", s[i]);
		if (s[i] == '\n')
			at.line++, at.col = 1;
		else
			at.col++;
		i += n;
	}
	return 0;
}

/* ---- values and the key index --------------------------------------------------------- */

static struct toml_value *value_new(enum toml_type type, struct pos at)
{
	struct toml_value *v = xcalloc(1, sizeof(*v));
	v->type = type;
	v->line = at.line;
	v->col = at.col;
	return v;
}

void toml_free(struct toml_value *v)
{
	if (!v)
		return;
	switch (v->type) {
	case TOML_STRING:
		free(v->u.str.ptr);
		break;
	case TOML_DATETIME:
	case TOML_DATETIME_LOCAL:
	case TOML_DATE_LOCAL:
	case TOML_TIME_LOCAL:
		free(v->u.datetime);
		break;
	case TOML_ARRAY:
		for (size_t i = 0; i < v->u.array.len; i++)
			toml_free(v->u.array.items[i]);
		free(v->u.array.items);
		break;
	case TOML_TABLE:
		for (size_t i = 0; i < v->u.table.len; i++) {
			free(v->u.table.items[i].key);
			toml_free(v->u.table.items[i].value);
		}
		free(v->u.table.items);
		break;
	default:
		break;
	}
	free(v);
}

static void toml_freep(struct toml_value **v)
{
	toml_free(*v);
}

static void key_release(struct key *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->parts[i].s);
	free(k->parts);
}

static void array_push(struct toml_value *arr, struct toml_value *item)
{
	if (arr->u.array.len == arr->u.array.cap) {
		arr->u.array.cap = arr->u.array.cap ? 2 * arr->u.array.cap : 4;
		arr->u.array.items =
		    xrealloc(arr->u.array.items, arr->u.array.cap * sizeof(*arr->u.array.items));
	}
	arr->u.array.items[arr->u.array.len++] = item;
}

/* FNV-1a over the key, seeded with the table's address, then mixed. */
static uint64_t key_hash(const struct toml_value *tab, const char *key, size_t len)
{
	uint64_t h = 0xcbf29ce484222325u ^ (uint64_t)(uintptr_t)tab;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 0x100000001b3u;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdu;
	h ^= h >> 33;
	return h;
}

static struct toml_kv *table_lookup(const struct parser *ps, const struct toml_value *tab,
				    const char *key, size_t len)
{
	if (!ps->nslots)
		return NULL;

	uint64_t h = key_hash(tab, key, len);
	size_t mask = ps->nslots - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		const struct index_slot *s = &ps->slots[i];
		if (!s->tab)
			return NULL;
		if (s->hash == h && s->tab == tab) {
			struct toml_kv *kv = &tab->u.table.items[s->idx];
			if (kv->keylen == len && !memcmp(kv->key, key, len))
				return kv;
		}
	}
}

static void index_put(struct parser *ps, struct index_slot slot)
{
	size_t mask = ps->nslots - 1, i = slot.hash & mask;

	while (ps->slots[i].tab)
		i = (i + 1) & mask;
	ps->slots[i] = slot;
}

/* Appends key → val to a table (taking both) and indexes it. */
static void table_add(struct parser *ps, struct toml_value *tab, struct keypart *kp,
		      struct toml_value *val)
{
	size_t idx = tab->u.table.len;
	struct toml_kv *kv;

	if (idx == tab->u.table.cap) {
		tab->u.table.cap = tab->u.table.cap ? 2 * tab->u.table.cap : 4;
		tab->u.table.items =
		    xrealloc(tab->u.table.items, tab->u.table.cap * sizeof(*tab->u.table.items));
	}
	kv = &tab->u.table.items[idx];
	*kv = (struct toml_kv){
	    .key = TAKE_PTR(kp->s),
	    .keylen = kp->len,
	    .line = kp->at.line,
	    .col = kp->at.col,
	    .value = val,
	};
	tab->u.table.len++;

	/* Keep the index at most half full. */
	if (2 * (ps->nused + 1) > ps->nslots) {
		struct index_slot *old = ps->slots;
		size_t n = ps->nslots;
		ps->nslots = n ? 2 * n : 64;
		ps->slots = xcalloc(ps->nslots, sizeof(*ps->slots));
		for (size_t i = 0; i < n; i++)
			if (old[i].tab)
				index_put(ps, old[i]);
		free(old);
	}
	uint64_t hash = key_hash(tab, kv->key, kv->keylen);
	index_put(ps, (struct index_slot){.tab = tab, .idx = idx, .hash = hash});
	ps->nused++;
}

/* ---- strings -------------------------------------------------------------------------- */

/* Reads one escape sequence of a basic string; the cursor is on the backslash. */
static int parse_escape(struct parser *ps, struct strbuf *sb)
{
	static const char simple[] = "b\bt\tn\nf\fr\r\"\"\\\\";
	struct pos at = ps->at;
	int c = peek_at(ps, 1);

	for (const char *m = simple; *m; m += 2) {
		if (c == m[0]) {
			strbuf_addch(sb, m[1]);
			advance(ps, 2);
			return 0;
		}
	}
	if (c == 'u' || c == 'U') {
		int ndigits = c == 'u' ? 4 : 8;
		uint32_t cp = 0;
		for (int i = 0; i < ndigits; i++) {
			int d = hex_value(peek_at(ps, 2 + (size_t)i));
			if (d < 0)
				return fail_at(ps, at, "escape \\%c needs %d hex digits", c,
					       ndigits);
			cp = cp << 4 | (uint32_t)d;
		}
		if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return fail_at(ps, at,
				       "escape \\%c%0*" PRIX32 " is not a Unicode scalar value", c,
				       ndigits, cp);
		utf8_put(sb, cp);
		advance(ps, 2 + (size_t)ndigits);
		return 0;
	}
	return fail_at(ps, at, "invalid escape sequence: backslash followed by %s", found(ps, 1).s);
}

/* In a multi-line basic string, a backslash at the end of a line (trailing
 * blanks allowed) swallows the newline and all blanks and newlines after it.
 * Returns false, moving nothing, when the backslash is an ordinary escape. */
static bool skip_line_ending_backslash(struct parser *ps)
{
	size_t i = 1;

	while (peek_at(ps, i) == ' ' || peek_at(ps, i) == '\t')
		i++;
	if (peek_at(ps, i) != '\n' && !(peek_at(ps, i) == '\r' && peek_at(ps, i + 1) == '\n'))
		return false;
	advance(ps, i);
	for (;;) {
		int c = peek(ps);
		if (c == ' ' || c == '\t' || c == '\n')
			advance(ps, 1);
		else if (c == '\r' && peek_at(ps, 1) == '\n')
			advance(ps, 2);
		else
			return true;
	}
}

/* Reads any of the four string kinds into sb; the cursor is on the opening
 * quote. Keys pass multiline = false. Newlines in multi-line strings are
 * kept as LF (CRLF becomes LF). */
static int parse_string(struct parser *ps, bool multiline, struct strbuf *sb)
{
	struct pos start = ps->at;
	int q = peek(ps);
	bool literal = q == '\'';
	bool multi = peek_at(ps, 1) == q && peek_at(ps, 2) == q;

	if (multi && !multiline)
		return fail(ps, "a multi-line string cannot be a key");
	advance(ps, multi ? 3 : 1);
	if (multi) {
		/* A newline right after the opening delimiter is trimmed. */
		if (peek(ps) == '\n')
			advance(ps, 1);
		else if (peek(ps) == '\r' && peek_at(ps, 1) == '\n')
			advance(ps, 2);
	}

	for (;;) {
		int c = peek(ps);
		if (c < 0) {
			return fail_at(ps, start, "unterminated string");
		} else if (c == q) {
			if (!multi) {
				advance(ps, 1);
				return 0;
			}
			/* Up to two quotes may stand right before the closing three. */
			size_t n = 1;
			while (peek_at(ps, n) == q)
				n++;
			if (n >= 3 && n <= 5) {
				strbuf_add(sb, ps->buf + ps->pos, n - 3);
				advance(ps, n);
				return 0;
			}
			if (n > 5)
				return fail(ps, "too many quotes in a row in a multi-line string");
			strbuf_add(sb, ps->buf + ps->pos, n);
			advance(ps, n);
		} else if (c == '\\' && !literal) {
			if (multi && skip_line_ending_backslash(ps))
				continue;
			int r = parse_escape(ps, sb);
			if (r < 0)
				return r;
		} else if (c == '\n' || (c == '\r' && peek_at(ps, 1) == '\n')) {
			if (!multi)
				return fail_at(ps, start,
					       "string not closed before the end of the line");
			strbuf_addch(sb, '\n');
			advance(ps, c == '\n' ? 1 : 2);
		} else if (is_control(c)) {
			return fail(ps, "control character %s is not allowed in a string",
				    found(ps, 0).s);
		} else {
			/* A run of ordinary characters, copied at once. */
			size_t n = 1;
			for (;; n++) {
				int d = peek_at(ps, n);
				if (d < 0 || d == q || (d == '\\' && !literal) || is_control(d))
					break;
			}
			strbuf_add(sb, ps->buf + ps->pos, n);
			advance(ps, n);
		}
	}
}

/* ---- numbers, booleans and date-times ------------------------------------------------- */

static bool is_digit_of(int c, int base)
{
	int d = hex_value(c);
	return d >= 0 && d < base;
}

/* Skips digits of base at s[*i] with single underscores between digits.
 * False when there is no digit or an underscore is misplaced. */
static bool scan_digits(const char *s, size_t n, size_t *i, int base)
{
	size_t j = *i;

	if (j >= n || !is_digit_of(s[j], base))
		return false;
	while (j < n) {
		if (is_digit_of(s[j], base))
			j++;
		else if (s[j] == '_' && j + 1 < n && is_digit_of(s[j + 1], base))
			j++;
		else
			break;
	}
	if (j < n && s[j] == '_')
		return false;
	*i = j;
	return true;
}

/* Converts validated digits (underscores skipped); false on overflow. */
static bool to_int64(const char *s, size_t n, int base, bool neg, int64_t *out)
{
	uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '_')
			continue;
		uint64_t d = (uint64_t)hex_value(s[i]);
		if (v > (limit - d) / (uint64_t)base)
			return false;
		v = v * (uint64_t)base + d;
	}
	if (neg)
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	else
		*out = (int64_t)v;
	return true;
}

/* strtod in the C locale, whatever the process's locale is. */
static int to_double(struct parser *ps, struct pos at, const char *s, size_t n, double *out)
{
	_cleanup_(strbuf_release) struct strbuf digits = STRBUF_INIT;

	for (size_t i = 0; i < n; i++)
		if (s[i] != '_')
			strbuf_addch(&digits, s[i]);
	if (!ps->c_locale) {
		ps->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
		if (!ps->c_locale)
			return fail_at(ps, at, "cannot create the C locale: %s", strerror(errno));
	}
	*out = strtod_l(digits.buf, NULL, ps->c_locale);
	if (isinf(*out))
		return fail_at(ps, at, "float %.*s is out of range", (int)(n > 40 ? 40 : n), s);
	return 0;
}

static bool token_is(const char *s, size_t n, const char *word)
{
	return n == strlen(word) && !memcmp(s, word, n);
}

/* Booleans, integers and floats: the cursor is on a run of [A-Za-z0-9_.+-]. */
static int parse_bare_value(struct parser *ps, struct toml_value **out)
{
	struct pos at = ps->at;
	const char *s = ps->buf + ps->pos;
	size_t n = 0, i = 0;
	int shown;
	bool neg = false, is_float = false;
	int64_t integer = 0;
	double fp = 0;

	while (peek_at(ps, n) == '.' || peek_at(ps, n) == '+' || is_bare_key_char(peek_at(ps, n)))
		n++;
	if (!n)
		return fail(ps, "expected a value, found %s", found(ps, 0).s);
	shown = (int)(n > 40 ? 40 : n);

	if (token_is(s, n, "true") || token_is(s, n, "false")) {
		*out = value_new(TOML_BOOL, at);
		(*out)->u.boolean = s[0] == 't';
		advance(ps, n);
		return 0;
	}
	if (s[0] == '+' || s[0] == '-')
		neg = s[i++] == '-';
	if (token_is(s + i, n - i, "inf") || token_is(s + i, n - i, "nan")) {
		fp = s[i] == 'i' ? INFINITY : NAN;
		*out = value_new(TOML_FLOAT, at);
		(*out)->u.fp = neg ? -fp : fp;
		advance(ps, n);
		return 0;
	}

	if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o' || s[1] == 'b')) {
		int base = s[1] == 'x' ? 16 : s[1] == 'o' ? 8 : 2;
		i = 2;
		if (!scan_digits(s, n, &i, base) || i != n)
			return fail_at(ps, at, "invalid base-%d integer %.*s", base, shown, s);
		if (!to_int64(s + 2, n - 2, base, false, &integer))
			return fail_at(ps, at, "integer %.*s does not fit in 64 bits", shown, s);
	} else {
		size_t int_start = i;
		if (!scan_digits(s, n, &i, 10))
			goto invalid;
		if (s[int_start] == '0' && i - int_start > 1)
			return fail_at(ps, at, "leading zeros are not allowed in %.*s", shown, s);
		if (i < n && s[i] == '.') {
			i++;
			if (!scan_digits(s, n, &i, 10))
				goto invalid;
			is_float = true;
		}
		if (i < n && (s[i] == 'e' || s[i] == 'E')) {
			i++;
			if (i < n && (s[i] == '+' || s[i] == '-'))
				i++;
			if (!scan_digits(s, n, &i, 10))
				goto invalid;
			is_float = true;
		}
		if (i != n)
			goto invalid;
		if (is_float) {
			int r = to_double(ps, at, s, n, &fp);
			if (r < 0)
				return r;
		} else if (!to_int64(s + int_start, n - int_start, 10, neg, &integer)) {
			return fail_at(ps, at, "integer %.*s does not fit in 64 bits", shown, s);
		}
	}

	*out = value_new(is_float ? TOML_FLOAT : TOML_INTEGER, at);
	if (is_float)
		(*out)->u.fp = fp;
	else
		(*out)->u.integer = integer;
	advance(ps, n);
	return 0;

invalid:
	/* A bare word is most likely a string someone forgot to quote. */
	return fail_at(ps, at, "invalid value %.*s%s", shown, s,
		       is_digit(s[0]) || s[0] == '+' || s[0] == '-' || s[0] == '.'
			   ? ""
			   : " (strings need quotes)");
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_digit(s[i]))
			return false;
	return true;
}

static int two_digits(const char *s)
{
	return (s[0] - '0') * 10 + (s[1] - '0');
}

static int days_in_month(int year, int month)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
	return month == 2 && leap ? 29 : days[month - 1];
}

/* Dates and times start with "DDDD-" or "DD:". */
static bool looks_like_datetime(const struct parser *ps)
{
	for (size_t i = 0; i < 4; i++) {
		if (i == 2 && peek_at(ps, 2) == ':')
			return is_digit(peek_at(ps, 0)) && is_digit(peek_at(ps, 1));
		if (!is_digit(peek_at(ps, i)))
			return false;
	}
	return peek_at(ps, 4) == '-';
}

/* Offset date-time, local date-time, local date or local time (RFC 3339
 * with TOML's relaxations: 't' or a space between date and time, 'z'). The
 * text is kept, normalised to 'T' and 'Z'. */
static int parse_datetime(struct parser *ps, struct toml_value **out)
{
	struct pos at = ps->at;
	const char *s = ps->buf + ps->pos;
	size_t avail = ps->len - ps->pos, i = 0;
	bool date = false, time = true, offset = false;
	enum toml_type type;

	if (avail >= 5 && all_digits(s, 4) && s[4] == '-') {
		if (avail < 10 || !all_digits(s + 5, 2) || s[7] != '-' || !all_digits(s + 8, 2))
			return fail_at(ps, at, "malformed date: expected YYYY-MM-DD");
		int year = two_digits(s) * 100 + two_digits(s + 2);
		int month = two_digits(s + 5), day = two_digits(s + 8);
		if (month < 1 || month > 12)
			return fail_at(ps, at, "invalid date: month %02d", month);
		if (day < 1 || day > days_in_month(year, month))
			return fail_at(ps, at, "invalid date: %.7s has no day %02d", s, day);
		date = true;
		i = 10;
		/* A space separates date and time only when a time follows. */
		time = i < avail && (s[i] == 'T' || s[i] == 't' ||
				     (s[i] == ' ' && i + 3 < avail && is_digit(s[i + 1]) &&
				      is_digit(s[i + 2]) && s[i + 3] == ':'));
		if (time)
			i++;
	}
	if (time) {
		const char *t = s + i;
		if (avail - i < 8 || !all_digits(t, 2) || t[2] != ':' || !all_digits(t + 3, 2) ||
		    t[5] != ':' || !all_digits(t + 6, 2))
			return fail_at(ps, at, "malformed time: expected HH:MM:SS");
		if (two_digits(t) > 23 || two_digits(t + 3) > 59 || two_digits(t + 6) > 59)
			return fail_at(ps, at, "invalid time %.8s", t);
		i += 8;
		if (i < avail && s[i] == '.') {
			size_t j = i + 1;
			while (j < avail && is_digit(s[j]))
				j++;
			if (j == i + 1)
				return fail_at(ps, at, "malformed time: expected digits after '.'");
			i = j;
		}
	}
	if (date && time && i < avail) {
		const char *o = s + i;
		if (*o == 'Z' || *o == 'z') {
			offset = true;
			i++;
		} else if (*o == '+' || *o == '-') {
			if (avail - i < 6 || !all_digits(o + 1, 2) || o[3] != ':' ||
			    !all_digits(o + 4, 2))
				return fail_at(ps, at, "malformed time offset: expected +HH:MM");
			if (two_digits(o + 1) > 23 || two_digits(o + 4) > 59)
				return fail_at(ps, at, "invalid time offset %.6s", o);
			offset = true;
			i += 6;
		}
	}

	type = !date	? TOML_TIME_LOCAL
	       : !time	? TOML_DATE_LOCAL
	       : offset ? TOML_DATETIME
			: TOML_DATETIME_LOCAL;
	*out = value_new(type, at);
	(*out)->u.datetime = xstrndup(s, i);
	if (date && time)
		(*out)->u.datetime[10] = 'T';
	if (offset && (*out)->u.datetime[i - 1] == 'z')
		(*out)->u.datetime[i - 1] = 'Z';
	advance(ps, i);
	return 0;
}

/* ---- keys, values, arrays and inline tables ------------------------------------------- */

static int skip_comment(struct parser *ps)
{
	advance(ps, 1); /* '#' */
	for (;;) {
		int c = peek(ps);
		if (c < 0 || c == '\n' || (c == '\r' && peek_at(ps, 1) == '\n'))
			return 0;
		if (is_control(c))
			return fail(ps, "control character %s is not allowed in a comment",
				    found(ps, 0).s);
		advance(ps, 1);
	}
}

/* Blanks, newlines and comments, as allowed between array elements. */
static int skip_blank_lines(struct parser *ps)
{
	for (;;) {
		int c = peek(ps), r;
		if (c == ' ' || c == '\t' || c == '\n') {
			advance(ps, 1);
		} else if (c == '\r' && peek_at(ps, 1) == '\n') {
			advance(ps, 2);
		} else if (c == '#') {
			r = skip_comment(ps);
			if (r < 0)
				return r;
		} else {
			return 0;
		}
	}
}

/* Reads a dotted key up to '=' or ']' (blanks around the dots allowed). */
static int parse_key(struct parser *ps, struct key *key)
{
	for (;;) {
		struct keypart kp = {.at = ps->at};
		int c = peek(ps);

		if (key->n == TOML_MAX_DEPTH)
			return fail(ps, "key has more than %d parts", TOML_MAX_DEPTH);
		if (c == '"' || c == '\'') {
			_cleanup_(strbuf_release) struct strbuf sb = STRBUF_INIT;
			int r = parse_string(ps, false, &sb);
			if (r < 0)
				return r;
			kp.s = strbuf_detach(&sb, &kp.len);
		} else {
			while (is_bare_key_char(peek_at(ps, kp.len)))
				kp.len++;
			if (!kp.len)
				return fail(ps, "expected a key, found %s", found(ps, 0).s);
			kp.s = xstrndup(ps->buf + ps->pos, kp.len);
			advance(ps, kp.len);
		}
		if (key->n == key->cap) {
			key->cap = key->cap ? 2 * key->cap : 4;
			key->parts = xrealloc(key->parts, key->cap * sizeof(*key->parts));
		}
		key->parts[key->n++] = kp;

		skip_ws(ps);
		if (peek(ps) != '.')
			return 0;
		advance(ps, 1);
		skip_ws(ps);
	}
}

/* Explains why kv's value cannot be redefined or extended at kp. */
static int fail_redefine(struct parser *ps, const struct keypart *kp, const struct toml_kv *kv)
{
	const struct toml_value *v = kv->value;
	struct desc name = keyname(kp->s, kp->len);

	if (v->flags & TF_INLINE)
		return fail_at(ps, kp->at, "inline %s %s (line %d) cannot be extended",
			       v->type == TOML_TABLE ? "table" : "array", name.s, kv->line);
	if (v->type == TOML_TABLE)
		return fail_at(ps, kp->at, "table %s is already defined (line %d)", name.s,
			       kv->line);
	if (v->type == TOML_ARRAY)
		return fail_at(ps, kp->at, "%s is already an array of tables (line %d)", name.s,
			       kv->line);
	return fail_at(ps, kp->at, "key %s is already defined as %s (line %d)", name.s,
		       toml_type_name(v->type), kv->line);
}

static int parse_value(struct parser *ps, int depth, struct toml_value **out);

/* key = value into tab, which sits at depth. Dotted keys create tables that
 * later dotted keys of the same table may extend; nothing else may. */
static int parse_keyval(struct parser *ps, struct toml_value *tab, int depth)
{
	_cleanup_(key_release) struct key key = {0};
	_cleanup_(toml_freep) struct toml_value *val = NULL;
	struct keypart *last;
	int r = parse_key(ps, &key);

	if (r < 0)
		return r;
	if (peek(ps) != '=')
		return fail(ps, "expected '=' after a key, found %s", found(ps, 0).s);
	advance(ps, 1);
	skip_ws(ps);

	for (size_t i = 0; i + 1 < key.n; i++) {
		struct keypart *kp = &key.parts[i];
		struct toml_kv *kv = table_lookup(ps, tab, kp->s, kp->len);
		if (++depth > TOML_MAX_DEPTH)
			return fail_at(ps, kp->at, "tables nested deeper than %d levels",
				       TOML_MAX_DEPTH);
		if (!kv) {
			struct toml_value *t = value_new(TOML_TABLE, kp->at);
			t->flags = TF_DOTTED;
			table_add(ps, tab, kp, t);
			tab = t;
		} else if (kv->value->type == TOML_TABLE && kv->value->flags == TF_DOTTED) {
			tab = kv->value;
		} else if (kv->value->type == TOML_TABLE && !(kv->value->flags & TF_INLINE)) {
			return fail_at(
			    ps, kp->at,
			    "dotted keys cannot add to table %s: it has a [header] (line %d)",
			    keyname(kp->s, kp->len).s, kv->line);
		} else {
			return fail_redefine(ps, kp, kv);
		}
	}
	last = &key.parts[key.n - 1];
	const struct toml_kv *dup = table_lookup(ps, tab, last->s, last->len);
	if (dup)
		return fail_at(ps, last->at, "duplicate key %s (first defined at line %d)",
			       keyname(last->s, last->len).s, dup->line);
	r = parse_value(ps, depth + 1, &val);
	if (r < 0)
		return r;
	table_add(ps, tab, last, TAKE_PTR(val));
	return 0;
}

static int parse_array(struct parser *ps, int depth, struct toml_value **out)
{
	_cleanup_(toml_freep) struct toml_value *arr = value_new(TOML_ARRAY, ps->at);
	int r;

	arr->flags = TF_INLINE;
	advance(ps, 1); /* '[' */
	for (;;) {
		_cleanup_(toml_freep) struct toml_value *item = NULL;
		r = skip_blank_lines(ps);
		if (r < 0)
			return r;
		if (peek(ps) == ']')
			break;
		r = parse_value(ps, depth + 1, &item);
		if (r < 0)
			return r;
		array_push(arr, TAKE_PTR(item));
		r = skip_blank_lines(ps);
		if (r < 0)
			return r;
		if (peek(ps) == ']')
			break;
		if (peek(ps) != ',')
			return fail(ps, "expected ',' or ']' in an array, found %s",
				    found(ps, 0).s);
		advance(ps, 1);
	}
	advance(ps, 1); /* ']' */
	*out = TAKE_PTR(arr);
	return 0;
}

/* { k = v, … } on one line, no trailing comma; closed once written. */
static int parse_inline_table(struct parser *ps, int depth, struct toml_value **out)
{
	_cleanup_(toml_freep) struct toml_value *tab = value_new(TOML_TABLE, ps->at);
	int r;

	advance(ps, 1); /* '{' */
	skip_ws(ps);
	if (peek(ps) != '}') {
		for (;;) {
			r = parse_keyval(ps, tab, depth);
			if (r < 0)
				return r;
			skip_ws(ps);
			if (peek(ps) != ',')
				break;
			advance(ps, 1);
			skip_ws(ps);
			if (peek(ps) == '}')
				return fail(ps, "trailing comma in an inline table");
		}
		if (peek(ps) == '\n' || peek(ps) == '\r')
			return fail(ps, "newline in an inline table (it must be on one line)");
		if (peek(ps) != '}')
			return fail(ps, "expected ',' or '}' in an inline table, found %s",
				    found(ps, 0).s);
	}
	advance(ps, 1); /* '}' */
	tab->flags = TF_INLINE;
	*out = TAKE_PTR(tab);
	return 0;
}

/* Any value; depth is the nesting depth the value would sit at. */
static int parse_value(struct parser *ps, int depth, struct toml_value **out)
{
	struct pos at = ps->at;
	int c = peek(ps);

	if (c == '"' || c == '\'') {
		_cleanup_(strbuf_release) struct strbuf sb = STRBUF_INIT;
		int r = parse_string(ps, true, &sb);
		if (r < 0)
			return r;
		*out = value_new(TOML_STRING, at);
		(*out)->u.str.ptr = strbuf_detach(&sb, &(*out)->u.str.len);
		return 0;
	}
	if (c == '[' || c == '{') {
		if (depth > TOML_MAX_DEPTH)
			return fail(ps, "arrays and tables nested deeper than %d levels",
				    TOML_MAX_DEPTH);
		return c == '[' ? parse_array(ps, depth, out) : parse_inline_table(ps, depth, out);
	}
	if (looks_like_datetime(ps))
		return parse_datetime(ps, out);
	return parse_bare_value(ps, out);
}

/* ---- table headers and the document --------------------------------------------------- */

/* [a.b.c] or [[a.b.c]]: makes the named table the current one. Parents are
 * created as implicit tables; arrays of tables on the way lead into their
 * last element. */
static int parse_header(struct parser *ps)
{
	_cleanup_(key_release) struct key key = {0};
	struct pos at = ps->at;
	struct toml_value *tab = ps->root, *t;
	struct keypart *last;
	struct toml_kv *kv;
	int depth = 0, r;
	bool aot;

	advance(ps, 1);
	aot = peek(ps) == '[';
	if (aot)
		advance(ps, 1);
	skip_ws(ps);
	r = parse_key(ps, &key);
	if (r < 0)
		return r;
	if (peek(ps) != ']')
		return fail(ps, "expected ']' after the table name, found %s", found(ps, 0).s);
	advance(ps, 1);
	if (aot) {
		if (peek(ps) != ']')
			return fail(ps, "expected ']]' after the array of tables name, found %s",
				    found(ps, 0).s);
		advance(ps, 1);
	}

	for (size_t i = 0; i + 1 < key.n; i++) {
		struct keypart *kp = &key.parts[i];
		kv = table_lookup(ps, tab, kp->s, kp->len);
		if (!kv) {
			if (++depth > TOML_MAX_DEPTH)
				return fail_at(ps, kp->at, "tables nested deeper than %d levels",
					       TOML_MAX_DEPTH);
			t = value_new(TOML_TABLE, kp->at);
			t->flags = TF_IMPLICIT;
			table_add(ps, tab, kp, t);
			tab = t;
		} else if (kv->value->type == TOML_TABLE && !(kv->value->flags & TF_INLINE)) {
			tab = kv->value;
			depth++;
		} else if (kv->value->type == TOML_ARRAY && (kv->value->flags & TF_AOT)) {
			tab = kv->value->u.array.items[kv->value->u.array.len - 1];
			depth += 2;
		} else {
			return fail_redefine(ps, kp, kv);
		}
	}

	last = &key.parts[key.n - 1];
	kv = table_lookup(ps, tab, last->s, last->len);
	if (aot) {
		struct toml_value *arr;
		if (depth + 2 > TOML_MAX_DEPTH)
			return fail_at(ps, last->at, "tables nested deeper than %d levels",
				       TOML_MAX_DEPTH);
		if (!kv) {
			arr = value_new(TOML_ARRAY, last->at);
			arr->flags = TF_AOT;
			table_add(ps, tab, last, arr);
		} else if (kv->value->type == TOML_ARRAY && (kv->value->flags & TF_AOT)) {
			arr = kv->value;
		} else {
			return fail_redefine(ps, last, kv);
		}
		t = value_new(TOML_TABLE, at);
		t->flags = TF_HEADER;
		array_push(arr, t);
		depth += 2;
	} else {
		if (depth + 1 > TOML_MAX_DEPTH)
			return fail_at(ps, last->at, "tables nested deeper than %d levels",
				       TOML_MAX_DEPTH);
		if (!kv) {
			t = value_new(TOML_TABLE, at);
			table_add(ps, tab, last, t);
		} else if (kv->value->type == TOML_TABLE && kv->value->flags == TF_IMPLICIT) {
			/* Defined at last: it now starts at this header. */
			t = kv->value;
			t->line = at.line;
			t->col = at.col;
		} else {
			return fail_redefine(ps, last, kv);
		}
		t->flags = TF_HEADER;
		depth += 1;
	}
	ps->cur = t;
	ps->cur_depth = depth;
	return 0;
}

/* After a key/value or a header: blanks, an optional comment, then a newline or the end. */
static int end_of_line(struct parser *ps)
{
	int c, r;

	skip_ws(ps);
	if (peek(ps) == '#') {
		r = skip_comment(ps);
		if (r < 0)
			return r;
	}
	c = peek(ps);
	if (c < 0)
		return 0;
	if (c == '\n' || (c == '\r' && peek_at(ps, 1) == '\n')) {
		advance(ps, c == '\n' ? 1 : 2);
		return 0;
	}
	return fail(ps, "expected a newline, found %s", found(ps, 0).s);
}

static int parse_document(struct parser *ps)
{
	while (ps->pos < ps->len) {
		int c, r = 0;

		skip_ws(ps);
		c = peek(ps);
		if (c == '[')
			r = parse_header(ps);
		else if (c >= 0 && c != '#' && c != '\n' && c != '\r')
			r = parse_keyval(ps, ps->cur, ps->cur_depth);
		if (r < 0)
			return r;
		r = end_of_line(ps);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- public API ----------------------------------------------------------------------- */

struct toml_value *toml_parse(const char *buf, size_t len, struct toml_error *err)
{
	struct toml_error ignored;
	struct parser ps = {
	    .buf = buf ? buf : "",
	    .len = buf ? len : 0,
	    .at = {1, 1},
	    .err = err ? err : &ignored,
	};

	*ps.err = (struct toml_error){0};
	if (len > INT_MAX / 2) {
		/* Keeps line and column numbers within int. */
		fail_at(&ps, (struct pos){0, 0}, "document too large (%zu bytes)", len);
		return NULL;
	}
	/* A UTF-8 byte order mark may start the document. */
	if (ps.len >= 3 && !memcmp(ps.buf, "\xEF\xBB\xBF", 3))
		ps.pos = 3;
	if (check_utf8(&ps) == 0) {
		ps.root = value_new(TOML_TABLE, ps.at);
		ps.root->flags = TF_HEADER;
		ps.cur = ps.root;
		if (parse_document(&ps) < 0) {
			toml_free(ps.root);
			ps.root = NULL;
		}
	}
	free(ps.slots);
	if (ps.c_locale)
		freelocale(ps.c_locale);
	return ps.root;
}

const struct toml_kv *toml_table_find(const struct toml_value *tab, const char *key)
{
	size_t len;

	if (!tab || tab->type != TOML_TABLE || !key)
		return NULL;
	len = strlen(key);
	for (size_t i = 0; i < tab->u.table.len; i++) {
		const struct toml_kv *kv = &tab->u.table.items[i];
		if (kv->keylen == len && !memcmp(kv->key, key, len))
			return kv;
	}
	return NULL;
}

const char *toml_type_name(enum toml_type type)
{
	static const char *const names[] = {
	    [TOML_STRING] = "string",	      [TOML_INTEGER] = "integer",
	    [TOML_FLOAT] = "float",	      [TOML_BOOL] = "boolean",
	    [TOML_DATETIME] = "datetime",     [TOML_DATETIME_LOCAL] = "datetime-local",
	    [TOML_DATE_LOCAL] = "date-local", [TOML_TIME_LOCAL] = "time-local",
	    [TOML_ARRAY] = "array",	      [TOML_TABLE] = "table",
	};

	if ((unsigned)type >= ARRAY_SIZE(names))
		return "unknown";
	return names[type];
}
