#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "proto/agent.h"

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* --- framing ------------------------------------------------------- */

int proto_decoder_init(struct proto_decoder *d, uint8_t *buf, size_t cap)
{
	memset(d, 0, sizeof(*d));
	if (!buf || cap < PROTO_MAX_FRAME)
		return -1;
	d->buf = buf;
	d->cap = cap;
	return 0;
}

static void compact(struct proto_decoder *d)
{
	if (!d->consumed)
		return;
	memmove(d->buf, d->buf + d->consumed, d->len - d->consumed);
	d->len -= d->consumed;
	d->consumed = 0;
}

uint8_t *proto_decoder_space(struct proto_decoder *d, size_t *room)
{
	compact(d);
	*room = d->cap - d->len;
	return d->buf + d->len;
}

void proto_decoder_commit(struct proto_decoder *d, size_t n)
{
	if (n > d->cap - d->len)
		n = d->cap - d->len;
	d->len += n;
}

size_t proto_decoder_feed(struct proto_decoder *d, const void *data, size_t len)
{
	size_t room;
	uint8_t *p = proto_decoder_space(d, &room);
	size_t n = len < room ? len : room;
	memcpy(p, data, n);
	proto_decoder_commit(d, n);
	return n;
}

/* Drops bytes up to the next 'M' 'V' after the current position. */
static void resync(struct proto_decoder *d)
{
	size_t start = d->consumed + 1, end = d->len;
	size_t i = start;
	for (; i < end; i++) {
		if (d->buf[i] != PROTO_MAGIC0)
			continue;
		if (i + 1 == end || d->buf[i + 1] == PROTO_MAGIC1)
			break;
	}
	d->dropped += i - d->consumed;
	d->consumed = i;
}

int proto_decoder_next(struct proto_decoder *d, struct proto_frame *f)
{
	size_t avail = d->len - d->consumed;
	const uint8_t *h = d->buf + d->consumed;
	if (avail < 1)
		return 0;
	if (h[0] != PROTO_MAGIC0 || (avail >= 2 && h[1] != PROTO_MAGIC1)) {
		resync(d);
		return -PROTO_EMAGIC;
	}
	if (avail < PROTO_HEADER_SIZE)
		return 0;
	if (h[2] != PROTO_VERSION) {
		resync(d);
		return -PROTO_EVERSION;
	}
	uint32_t len = get32(h + 8);
	if (len > PROTO_MAX_PAYLOAD) {
		resync(d);
		return -PROTO_ETOOBIG;
	}
	if (avail < PROTO_HEADER_SIZE + (size_t)len)
		return 0;
	f->version = h[2];
	f->type = h[3];
	f->stream = get32(h + 4);
	f->len = len;
	f->payload = h + PROTO_HEADER_SIZE;
	d->consumed += PROTO_HEADER_SIZE + len;
	return 1;
}

int proto_encode(uint8_t *out, size_t cap, uint8_t type, uint32_t stream, const void *payload,
		 size_t len)
{
	if (len > PROTO_MAX_PAYLOAD || cap < PROTO_HEADER_SIZE + len || (len && !payload))
		return -1;
	out[0] = PROTO_MAGIC0;
	out[1] = PROTO_MAGIC1;
	out[2] = PROTO_VERSION;
	out[3] = type;
	put32(out + 4, stream);
	put32(out + 8, (uint32_t)len);
	if (len)
		memmove(out + PROTO_HEADER_SIZE, payload, len);
	return (int)(PROTO_HEADER_SIZE + len);
}

/* --- payloads ------------------------------------------------------ */

/* HELLO: u16 min version, u16 max version, u32 max payload, the nonce,
 * then the agent name. */
#define HELLO_FIXED (8 + PROTO_NONCE_SIZE)

int proto_hello_encode(const struct proto_hello *h, uint8_t *buf, size_t cap)
{
	size_t n = HELLO_FIXED + h->agent_len;
	if (h->agent_len > PROTO_MAX_AGENT || cap < n)
		return -1;
	put16(buf, h->min_version);
	put16(buf + 2, h->max_version);
	put32(buf + 4, h->max_payload);
	memcpy(buf + 8, h->nonce, PROTO_NONCE_SIZE);
	if (h->agent_len)
		memcpy(buf + HELLO_FIXED, h->agent, h->agent_len);
	return (int)n;
}

int proto_hello_decode(const uint8_t *p, size_t len, struct proto_hello *h)
{
	if (len < HELLO_FIXED || len > PROTO_HELLO_MAX)
		return -PROTO_EPAYLOAD;
	h->min_version = get16(p);
	h->max_version = get16(p + 2);
	h->max_payload = get32(p + 4);
	if (!h->min_version || h->min_version > h->max_version || h->max_payload < 1024)
		return -PROTO_EPAYLOAD;
	memcpy(h->nonce, p + 8, PROTO_NONCE_SIZE);
	h->agent = (const char *)p + HELLO_FIXED;
	h->agent_len = len - HELLO_FIXED;
	return 0;
}

int proto_hello_ours(const char *name, const uint8_t nonce[PROTO_NONCE_SIZE], uint8_t *buf,
		     size_t cap)
{
	struct proto_hello h = {.min_version = PROTO_VERSION,
				.max_version = PROTO_VERSION,
				.max_payload = PROTO_MAX_PAYLOAD,
				.agent = name,
				.agent_len = strlen(name)};
	memcpy(h.nonce, nonce, PROTO_NONCE_SIZE);
	return proto_hello_encode(&h, buf, cap);
}

int proto_nonce_new(uint8_t nonce[PROTO_NONCE_SIZE])
{
	ssize_t n = getrandom(nonce, PROTO_NONCE_SIZE, 0);
	if (n < 0)
		return -errno;
	return n == PROTO_NONCE_SIZE ? 0 : -EIO;
}

int proto_hello_answers(const uint8_t *p, size_t len, const uint8_t nonce[PROTO_NONCE_SIZE],
			struct proto_hello *h)
{
	int r = proto_hello_decode(p, len, h);
	if (r < 0)
		return r;
	return !memcmp(h->nonce, nonce, PROTO_NONCE_SIZE);
}

int proto_error_encode(uint32_t code, const char *msg, uint8_t *buf, size_t cap)
{
	size_t ml = msg ? strlen(msg) : 0;
	if (ml > 1024)
		ml = 1024;
	if (cap < 4 + ml)
		return -1;
	put32(buf, code);
	if (ml)
		memcpy(buf + 4, msg, ml);
	return (int)(4 + ml);
}

int proto_error_decode(const uint8_t *p, size_t len, struct proto_error *e)
{
	if (len < 4 || len > 4 + 1024)
		return -PROTO_EPAYLOAD;
	e->code = get32(p);
	e->msg = (const char *)p + 4;
	e->msg_len = len - 4;
	return 0;
}

static int put_str(uint8_t *buf, size_t cap, size_t *off, const char *s)
{
	size_t n = strlen(s) + 1;
	if (n > PROTO_MAX_PAYLOAD || cap - *off < 4 || cap - *off - 4 < n)
		return -1;
	put32(buf + *off, (uint32_t)n);
	memcpy(buf + *off + 4, s, n);
	*off += 4 + n;
	return 0;
}

int proto_exec_encode(const struct proto_exec_spec *s, uint8_t *buf, size_t cap)
{
	size_t argc = 0, envc = 0, off = 0;
	while (s->argv && s->argv[argc])
		argc++;
	while (s->env && s->env[envc])
		envc++;
	if (!argc || argc > PROTO_MAX_ARGS || envc > PROTO_MAX_ARGS ||
	    (s->flags & ~PROTO_EXEC_FLAGS))
		return -1;
	if (cap > PROTO_MAX_PAYLOAD)
		cap = PROTO_MAX_PAYLOAD;
	if (cap < 12)
		return -1;
	put32(buf, s->flags);
	put16(buf + 4, s->rows);
	put16(buf + 6, s->cols);
	put32(buf + 8, (uint32_t)argc);
	off = 12;
	for (size_t i = 0; i < argc; i++)
		if (put_str(buf, cap, &off, s->argv[i]) < 0)
			return -1;
	if (cap - off < 4)
		return -1;
	put32(buf + off, (uint32_t)envc);
	off += 4;
	for (size_t i = 0; i < envc; i++) {
		if (!strchr(s->env[i], '=') || s->env[i][0] == '=')
			return -1;
		if (put_str(buf, cap, &off, s->env[i]) < 0)
			return -1;
	}
	if (s->cwd && *s->cwd) {
		if (put_str(buf, cap, &off, s->cwd) < 0)
			return -1;
	} else {
		if (cap - off < 4)
			return -1;
		put32(buf + off, 0);
		off += 4;
	}
	return (int)off;
}

/* Validates one string record at p[*off]; returns its start or NULL. */
static const char *take_str(const uint8_t *p, size_t len, size_t *off)
{
	if (len - *off < 4)
		return NULL;
	uint32_t n = get32(p + *off);
	if (n < 1 || n > len - *off - 4)
		return NULL;
	const char *s = (const char *)p + *off + 4;
	if (s[n - 1] != '\0' || memchr(s, '\0', n - 1))
		return NULL;
	*off += 4 + n;
	return s;
}

int proto_exec_decode(const uint8_t *p, size_t len, struct proto_exec *x)
{
	memset(x, 0, sizeof(*x));
	if (len < 12 || len > PROTO_MAX_PAYLOAD)
		return -PROTO_EPAYLOAD;
	x->flags = get32(p);
	x->rows = get16(p + 4);
	x->cols = get16(p + 6);
	x->argc = get32(p + 8);
	if ((x->flags & ~PROTO_EXEC_FLAGS) || !x->argc || x->argc > PROTO_MAX_ARGS)
		return -PROTO_EPAYLOAD;
	size_t off = 12;
	x->argv_p = p + off;
	for (uint32_t i = 0; i < x->argc; i++) {
		const char *s = take_str(p, len, &off);
		if (!s || (i == 0 && !*s))
			return -PROTO_EPAYLOAD;
	}
	if (len - off < 4)
		return -PROTO_EPAYLOAD;
	x->envc = get32(p + off);
	off += 4;
	if (x->envc > PROTO_MAX_ARGS)
		return -PROTO_EPAYLOAD;
	x->env_p = p + off;
	for (uint32_t i = 0; i < x->envc; i++) {
		const char *s = take_str(p, len, &off);
		if (!s || s[0] == '=' || !strchr(s, '='))
			return -PROTO_EPAYLOAD;
	}
	if (len - off < 4)
		return -PROTO_EPAYLOAD;
	if (get32(p + off) == 0) {
		off += 4;
		x->cwd = NULL;
	} else {
		x->cwd = take_str(p, len, &off);
		if (!x->cwd)
			return -PROTO_EPAYLOAD;
	}
	if (off != len)
		return -PROTO_EPAYLOAD;
	return 0;
}

bool proto_env_entry_valid(const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv || (kv[0] >= '0' && kv[0] <= '9'))
		return false;
	for (const char *c = kv; c < eq; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '_'))
			return false;
	return true;
}

int proto_env_encode(const char *const *env, uint8_t *buf, size_t cap)
{
	size_t n = 0, off = 4;
	while (env && env[n])
		n++;
	if (n > PROTO_MAX_ARGS)
		return -1;
	if (cap > PROTO_MAX_PAYLOAD)
		cap = PROTO_MAX_PAYLOAD;
	if (cap < 4)
		return -1;
	put32(buf, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		if (!proto_env_entry_valid(env[i]) || put_str(buf, cap, &off, env[i]) < 0)
			return -1;
	return (int)off;
}

int proto_env_decode(const uint8_t *p, size_t len, uint32_t *count, const uint8_t **first)
{
	if (len < 4 || len > PROTO_MAX_PAYLOAD)
		return -PROTO_EPAYLOAD;
	uint32_t n = get32(p);
	if (n > PROTO_MAX_ARGS)
		return -PROTO_EPAYLOAD;
	size_t off = 4;
	for (uint32_t i = 0; i < n; i++) {
		const char *s = take_str(p, len, &off);
		if (!s || !proto_env_entry_valid(s))
			return -PROTO_EPAYLOAD;
	}
	if (off != len)
		return -PROTO_EPAYLOAD;
	*count = n;
	*first = p + 4;
	return 0;
}

const char *proto_strings_next(const uint8_t **cursor)
{
	uint32_t n = get32(*cursor);
	const char *s = (const char *)*cursor + 4;
	*cursor += 4 + n;
	return s;
}

bool proto_hostname_valid(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > PROTO_HOSTNAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '.' && c != '-')))
			return false;
	}
	return true;
}

/* Up to 3 digits, value <= max; advances *s. */
static bool take_dec(const char **s, unsigned max)
{
	unsigned v = 0, digits = 0;
	while (**s >= '0' && **s <= '9' && digits < 3) {
		v = v * 10 + (unsigned)(**s - '0');
		(*s)++;
		digits++;
	}
	return digits > 0 && v <= max;
}

bool proto_ipv4_valid(const char *s, bool with_prefix)
{
	for (int i = 0; i < 4; i++) {
		if (i && *s++ != '.')
			return false;
		if (!take_dec(&s, 255))
			return false;
	}
	if (with_prefix && *s == '/') {
		s++;
		if (!take_dec(&s, 32))
			return false;
	}
	return *s == '\0';
}

/* IDENTITY and WAKE share a payload; a WAKE's hostname may be "" (unchanged). */
static bool identity_hostname_ok(const char *s, bool wake)
{
	return proto_hostname_valid(s) || (wake && !*s);
}

static int identity_encode(const struct proto_identity *id, uint8_t *buf, size_t cap, bool wake)
{
	const char *host = id->hostname ? id->hostname : wake ? "" : NULL;
	const char *str[4] = {host, id->ip ? id->ip : "", id->gateway ? id->gateway : "",
			      id->dns ? id->dns : ""};
	if (!host || !identity_hostname_ok(host, wake) || id->seed_len < PROTO_SEED_MIN ||
	    id->seed_len > PROTO_SEED_MAX || !id->seed ||
	    (*str[1] && !proto_ipv4_valid(str[1], true)) ||
	    (*str[2] && !proto_ipv4_valid(str[2], false)) ||
	    (*str[3] && !proto_ipv4_valid(str[3], false)))
		return -1;
	if (cap > PROTO_MAX_PAYLOAD)
		cap = PROTO_MAX_PAYLOAD;
	size_t off = 12 + id->seed_len;
	if (cap < off)
		return -1;
	put64(buf, id->realtime_ns);
	put32(buf + 8, id->seed_len);
	memcpy(buf + 12, id->seed, id->seed_len);
	for (int i = 0; i < 4; i++)
		if (put_str(buf, cap, &off, str[i]) < 0)
			return -1;
	return (int)off;
}

static int identity_decode(const uint8_t *p, size_t len, struct proto_identity *id, bool wake)
{
	memset(id, 0, sizeof(*id));
	if (len < 12 || len > PROTO_MAX_PAYLOAD)
		return -PROTO_EPAYLOAD;
	id->realtime_ns = get64(p);
	id->seed_len = get32(p + 8);
	if (id->seed_len < PROTO_SEED_MIN || id->seed_len > PROTO_SEED_MAX ||
	    id->seed_len > len - 12)
		return -PROTO_EPAYLOAD;
	id->seed = p + 12;
	size_t off = 12 + id->seed_len;
	const char *str[4];
	for (int i = 0; i < 4; i++)
		if (!(str[i] = take_str(p, len, &off)))
			return -PROTO_EPAYLOAD;
	if (off != len || !identity_hostname_ok(str[0], wake) ||
	    (*str[1] && !proto_ipv4_valid(str[1], true)) ||
	    (*str[2] && !proto_ipv4_valid(str[2], false)) ||
	    (*str[3] && !proto_ipv4_valid(str[3], false)))
		return -PROTO_EPAYLOAD;
	id->hostname = str[0];
	id->ip = str[1];
	id->gateway = str[2];
	id->dns = str[3];
	return 0;
}

int proto_identity_encode(const struct proto_identity *id, uint8_t *buf, size_t cap)
{
	return identity_encode(id, buf, cap, false);
}

int proto_identity_decode(const uint8_t *p, size_t len, struct proto_identity *id)
{
	return identity_decode(p, len, id, false);
}

int proto_wake_encode(const struct proto_identity *id, uint8_t *buf, size_t cap)
{
	return identity_encode(id, buf, cap, true);
}

int proto_wake_decode(const uint8_t *p, size_t len, struct proto_identity *id)
{
	return identity_decode(p, len, id, true);
}

int proto_window_encode(const struct proto_window *w, uint8_t *buf, size_t cap)
{
	if (cap < 5)
		return -1;
	buf[0] = w->channel;
	put32(buf + 1, w->bytes);
	return 5;
}

int proto_window_decode(const uint8_t *p, size_t len, struct proto_window *w)
{
	if (len != 5 || p[0] > PROTO_CH_STDERR)
		return -PROTO_EPAYLOAD;
	w->channel = p[0];
	w->bytes = get32(p + 1);
	if (!w->bytes || w->bytes > (1u << 30))
		return -PROTO_EPAYLOAD;
	return 0;
}

int proto_resize_encode(const struct proto_resize *r, uint8_t *buf, size_t cap)
{
	if (cap < 4)
		return -1;
	put16(buf, r->rows);
	put16(buf + 2, r->cols);
	return 4;
}

int proto_resize_decode(const uint8_t *p, size_t len, struct proto_resize *r)
{
	if (len != 4)
		return -PROTO_EPAYLOAD;
	r->rows = get16(p);
	r->cols = get16(p + 2);
	if (!r->rows || !r->cols)
		return -PROTO_EPAYLOAD;
	return 0;
}

int proto_u32_encode(uint32_t v, uint8_t *buf, size_t cap)
{
	if (cap < 4)
		return -1;
	put32(buf, v);
	return 4;
}

int proto_u32_decode(const uint8_t *p, size_t len, uint32_t *v)
{
	if (len != 4)
		return -PROTO_EPAYLOAD;
	*v = get32(p);
	return 0;
}

int proto_exit_encode(const struct proto_exit *x, uint8_t *buf, size_t cap)
{
	if (cap < 5)
		return -1;
	buf[0] = x->kind;
	put32(buf + 1, x->code);
	return 5;
}

int proto_exit_decode(const uint8_t *p, size_t len, struct proto_exit *x)
{
	if (len != 5 || p[0] > PROTO_EXIT_NOEXEC)
		return -PROTO_EPAYLOAD;
	x->kind = p[0];
	x->code = get32(p + 1);
	if ((x->kind == PROTO_EXIT_CODE && x->code > 255) ||
	    (x->kind == PROTO_EXIT_SIGNAL && (x->code < 1 || x->code > 64)) ||
	    (x->kind == PROTO_EXIT_NOEXEC && (x->code < 1 || x->code > 4095)))
		return -PROTO_EPAYLOAD;
	return 0;
}

int proto_exit_status(const struct proto_exit *x)
{
	switch (x->kind) {
	case PROTO_EXIT_CODE:
		return (int)x->code;
	case PROTO_EXIT_SIGNAL:
		return 128 + (int)x->code;
	default:
		return x->code == ENOENT ? 127 : 126;
	}
}

int proto_validate(const struct proto_frame *f)
{
	const uint8_t *p = f->payload;
	size_t n = f->len;
	union {
		struct proto_hello h;
		struct proto_error e;
		struct proto_exec x;
		struct proto_window w;
		struct proto_resize r;
		struct proto_exit ex;
		struct proto_identity id;
		uint32_t u;
	} u;
	switch (f->type) {
	case PROTO_HELLO:
		return proto_hello_decode(p, n, &u.h);
	case PROTO_PING:
	case PROTO_PONG:
		return n <= PROTO_MAX_PING ? 0 : -PROTO_EPAYLOAD;
	case PROTO_READY:
	case PROTO_SHUTDOWN:
	case PROTO_PARKED:
		return n == 0 ? 0 : -PROTO_EPAYLOAD;
	case PROTO_ERROR:
		return proto_error_decode(p, n, &u.e);
	case PROTO_IDENTITY:
		return proto_identity_decode(p, n, &u.id);
	case PROTO_WAKE:
		return proto_wake_decode(p, n, &u.id);
	case PROTO_ENV: {
		uint32_t count;
		const uint8_t *first;
		return proto_env_decode(p, n, &count, &first);
	}
	case PROTO_EXEC:
		return proto_exec_decode(p, n, &u.x);
	case PROTO_STARTED:
		return proto_u32_decode(p, n, &u.u);
	case PROTO_STDIN:
	case PROTO_STDOUT:
	case PROTO_STDERR:
		return 0;
	case PROTO_WINDOW:
		return proto_window_decode(p, n, &u.w);
	case PROTO_RESIZE:
		return proto_resize_decode(p, n, &u.r);
	case PROTO_SIGNAL:
		if (proto_u32_decode(p, n, &u.u) < 0 || u.u < 1 || u.u > 64)
			return -PROTO_EPAYLOAD;
		return 0;
	case PROTO_EXIT:
		return proto_exit_decode(p, n, &u.ex);
	default:
		return -PROTO_ETYPE;
	}
}

const char *proto_type_name(uint8_t type)
{
	switch (type) {
	case PROTO_HELLO:
		return "hello";
	case PROTO_PING:
		return "ping";
	case PROTO_PONG:
		return "pong";
	case PROTO_READY:
		return "ready";
	case PROTO_ERROR:
		return "error";
	case PROTO_SHUTDOWN:
		return "shutdown";
	case PROTO_IDENTITY:
		return "identity";
	case PROTO_PARKED:
		return "parked";
	case PROTO_WAKE:
		return "wake";
	case PROTO_ENV:
		return "env";
	case PROTO_EXEC:
		return "exec";
	case PROTO_STARTED:
		return "started";
	case PROTO_STDIN:
		return "stdin";
	case PROTO_STDOUT:
		return "stdout";
	case PROTO_STDERR:
		return "stderr";
	case PROTO_WINDOW:
		return "window";
	case PROTO_RESIZE:
		return "resize";
	case PROTO_SIGNAL:
		return "signal";
	case PROTO_EXIT:
		return "exit";
	default:
		return "unknown";
	}
}
