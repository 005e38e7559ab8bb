/* Exec sessions relayed between control-socket clients and the agent
 * channel (see relay.h). */
#include "shim/relay.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"

void relay_init(struct relay *r, int agent_fd)
{
	*r = (struct relay){.agent_fd = agent_fd, .to_agent = FRAMEQ_INIT, .next_id = 1};
	if (agent_fd >= 0) {
		r->decbuf = xmalloc(2 * PROTO_MAX_FRAME);
		proto_decoder_init(&r->dec, r->decbuf, 2 * PROTO_MAX_FRAME);
	}
}

void relay_release(struct relay *r)
{
	frameq_release(&r->to_agent);
	free(r->decbuf);
	r->decbuf = NULL;
}

void relay_agent_flush(struct relay *r)
{
	if (r->agent_fd >= 0 && frameq_pending(&r->to_agent))
		frameq_flush(&r->to_agent, r->agent_fd); /* a dead channel shows as POLLHUP */
}

int relay_agent_send(struct relay *r, uint8_t type, uint32_t stream, const void *payload,
		     size_t len)
{
	if (r->agent_fd < 0)
		return -EPIPE;
	if (frameq_push(&r->to_agent, type, stream, payload, len) < 0)
		return -EMSGSIZE;
	relay_agent_flush(r);
	return 0;
}

bool relay_accepting(const struct relay *r)
{
	return r->agent_fd >= 0 && frameq_pending(&r->to_agent) < RELAY_AGENT_HIGH;
}

/* --- towards a client ------------------------------------------------------------ */

static void peer_push_on(struct relay_peer *p, uint32_t stream, uint8_t type, const void *payload,
			 size_t len)
{
	if (p->broken)
		return;
	if (frameq_push(&p->out, type, stream, payload, len) < 0 ||
	    frameq_pending(&p->out) > RELAY_PEER_MAX) {
		p->broken = true; /* it does not read: dropped rather than buffered without end */
		return;
	}
	relay_peer_flush(p);
}

static void peer_push(struct relay_peer *p, uint8_t type, const void *payload, size_t len)
{
	peer_push_on(p, p->stream, type, payload, len);
}

/* An ERROR to the client on a stream (its session's, or the one a bad frame named). */
static void peer_error(struct relay_peer *p, uint32_t stream, uint32_t code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void peer_error(struct relay_peer *p, uint32_t stream, uint32_t code, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	uint8_t buf[4 + sizeof(msg)];
	int n = proto_error_encode(code, msg, buf, sizeof(buf));
	if (n >= 0)
		peer_push_on(p, stream, PROTO_ERROR, buf, (size_t)n);
}

void relay_peer_flush(struct relay_peer *p)
{
	if (!p->broken && frameq_flush(&p->out, p->fd) < 0)
		p->broken = true;
}

bool relay_peer_finished(const struct relay_peer *p)
{
	return p->broken || (p->done && !frameq_pending(&p->out));
}

/* --- sessions ------------------------------------------------------------------- */

static struct relay_session *find_session(struct relay *r, uint32_t id)
{
	for (size_t i = 0; i < RELAY_MAX_SESSIONS; i++)
		if (r->sessions[i].used && r->sessions[i].id == id)
			return &r->sessions[i];
	return NULL;
}

static uint32_t new_id(struct relay *r)
{
	for (;;) {
		uint32_t id = r->next_id++;
		if (id && !find_session(r, id))
			return id;
	}
}

static void end_session(struct relay *r, struct relay_session *s)
{
	if (s->peer)
		s->peer->session = -1;
	(void)r;
	*s = (struct relay_session){0};
}

static void relay_from_guest(struct relay *r, const struct proto_frame *f)
{
	struct relay_session *s = find_session(r, f->stream);
	if (!s)
		return; /* a session already forgotten */
	if (s->orphan) {
		if (f->type == PROTO_EXIT)
			end_session(r, s);
		return;
	}
	struct relay_peer *p = s->peer;
	switch (f->type) {
	case PROTO_STDOUT:
	case PROTO_STDERR: {
		int ch = f->type == PROTO_STDOUT ? PROTO_CH_STDOUT : PROTO_CH_STDERR;
		if (f->len > s->credit[ch])
			return; /* beyond the window: the guest broke the protocol; dropped */
		s->credit[ch] -= f->len;
		peer_push(p, f->type, f->payload, f->len);
		break;
	}
	case PROTO_EXIT:
		peer_push(p, f->type, f->payload, f->len);
		p->done = true;
		end_session(r, s);
		break;
	case PROTO_STARTED:
	case PROTO_WINDOW:
	case PROTO_ERROR:
	case PROTO_PONG:
		peer_push(p, f->type, f->payload, f->len);
		break;
	default:
		break; /* nothing else belongs on a session stream */
	}
}

int relay_agent_readable(struct relay *r, void (*on_conn)(void *ctx, const struct proto_frame *f),
			 void *ctx)
{
	if (r->agent_fd < 0)
		return -EPIPE;
	size_t room;
	uint8_t *at = proto_decoder_space(&r->dec, &room);
	ssize_t n = read(r->agent_fd, at, room);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0)
		return -EPIPE;
	proto_decoder_commit(&r->dec, (size_t)n);
	struct proto_frame f;
	int d;
	while ((d = proto_decoder_next(&r->dec, &f)) != 0) {
		if (d < 0 || proto_validate(&f) < 0)
			r->malformed++; /* skipped: the decoder has resynchronised */
		else if (f.stream)
			relay_from_guest(r, &f);
		else
			on_conn(ctx, &f);
	}
	return 0;
}

void relay_agent_lost(struct relay *r, const char *why)
{
	for (size_t i = 0; i < RELAY_MAX_SESSIONS; i++) {
		struct relay_session *s = &r->sessions[i];
		if (!s->used)
			continue;
		if (s->peer) {
			peer_error(s->peer, s->peer->stream, EPIPE, "%s", why);
			s->peer->done = true;
		}
		end_session(r, s);
	}
	frameq_release(&r->to_agent);
	r->agent_fd = -1;
}

/* --- from a client --------------------------------------------------------------- */

static void peer_drain(struct relay *r, struct relay_peer *p);

struct relay_peer *relay_peer_new(struct relay *r, int fd, const void *early, size_t early_len)
{
	struct relay_peer *p = xcalloc(1, sizeof(*p));
	p->fd = fd;
	p->session = -1;
	p->out = (struct frameq)FRAMEQ_INIT;
	/* twice a frame: a whole frame always fits behind a partial one */
	p->decbuf = xmalloc(2 * PROTO_MAX_FRAME);
	proto_decoder_init(&p->dec, p->decbuf, 2 * PROTO_MAX_FRAME);
	if (early_len) {
		proto_decoder_feed(&p->dec, early, early_len); /* under SHIM_MAX_REQUEST: fits */
		peer_drain(r, p);
	}
	return p;
}

static void start_session(struct relay *r, struct relay_peer *p, const struct proto_frame *f)
{
	if (p->session >= 0) {
		peer_error(p, f->stream, PROTO_ESTREAM, "this connection already runs a session");
		return;
	}
	if (r->agent_fd < 0) {
		peer_error(p, f->stream, EPIPE, "the guest agent is not connected");
		p->done = true;
		return;
	}
	if (f->stream == 0) {
		peer_error(p, 0, PROTO_ESTREAM, "EXEC needs a stream id other than 0");
		return;
	}
	for (size_t i = 0; i < RELAY_MAX_SESSIONS; i++) {
		struct relay_session *s = &r->sessions[i];
		if (s->used)
			continue;
		*s = (struct relay_session){
		    .used = true,
		    .id = new_id(r),
		    .peer = p,
		    .credit = {0, PROTO_INITIAL_WINDOW, PROTO_INITIAL_WINDOW},
		};
		p->stream = f->stream;
		p->session = (int)i;
		relay_agent_send(r, PROTO_EXEC, s->id, f->payload, f->len);
		return;
	}
	peer_error(p, f->stream, PROTO_ELIMIT, "too many sessions on this VM (%d)",
		   RELAY_MAX_SESSIONS);
	p->done = true;
}

/* A client grants output credit: forwarded, clamped to one initial window
 * in flight per channel. */
static void grant(struct relay *r, struct relay_peer *p, struct relay_session *s,
		  const struct proto_frame *f)
{
	struct proto_window w;
	if (proto_window_decode(f->payload, f->len, &w) < 0 || w.channel == PROTO_CH_STDIN) {
		peer_error(p, f->stream, PROTO_EPAYLOAD,
			   "WINDOW from a client is for stdout or stderr");
		return;
	}
	uint32_t room = PROTO_INITIAL_WINDOW - s->credit[w.channel];
	uint32_t add = w.bytes < room ? w.bytes : room;
	if (!add)
		return;
	s->credit[w.channel] += add;
	struct proto_window fw = {.channel = w.channel, .bytes = add};
	uint8_t buf[8];
	int n = proto_window_encode(&fw, buf, sizeof(buf));
	if (n > 0)
		relay_agent_send(r, PROTO_WINDOW, s->id, buf, (size_t)n);
}

static void peer_frame(struct relay *r, struct relay_peer *p, const struct proto_frame *f)
{
	int v = proto_validate(f);
	if (v < 0) {
		peer_error(p, f->stream, (uint32_t)-v, "malformed %s frame",
			   proto_type_name(f->type));
		return;
	}
	if (f->type == PROTO_EXEC) {
		start_session(r, p, f);
		return;
	}
	if (f->type == PROTO_PING) {
		peer_push_on(p, f->stream, PROTO_PONG, f->payload, f->len); /* the shim answers */
		return;
	}
	struct relay_session *s = p->session >= 0 ? &r->sessions[p->session] : NULL;
	if (!s || f->stream != p->stream) {
		peer_error(p, f->stream, PROTO_ESTREAM, "no session on stream %u", f->stream);
		return;
	}
	switch (f->type) {
	case PROTO_STDIN:
	case PROTO_RESIZE:
	case PROTO_SIGNAL:
		relay_agent_send(r, f->type, s->id, f->payload, f->len);
		break;
	case PROTO_WINDOW:
		grant(r, p, s, f);
		break;
	default:
		peer_error(p, f->stream, PROTO_ETYPE, "a client does not send %s",
			   proto_type_name(f->type));
		break;
	}
}

void relay_peer_readable(struct relay *r, struct relay_peer *p)
{
	size_t room;
	uint8_t *at = proto_decoder_space(&p->dec, &room);
	ssize_t n = read(p->fd, at, room);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		p->broken = true;
		return;
	}
	proto_decoder_commit(&p->dec, (size_t)n);
	peer_drain(r, p);
}

static void peer_drain(struct relay *r, struct relay_peer *p)
{
	struct proto_frame f;
	int d;
	while (!p->broken && (d = proto_decoder_next(&p->dec, &f)) != 0) {
		if (d < 0)
			peer_error(p, 0, (uint32_t)-d, "malformed frame header; bytes skipped");
		else
			peer_frame(r, p, &f);
	}
}

void relay_peer_close(struct relay *r, struct relay_peer *p)
{
	if (p->session >= 0) {
		struct relay_session *s = &r->sessions[p->session];
		uint8_t sig[4];
		proto_u32_encode(SIGKILL, sig, sizeof(sig));
		if (relay_agent_send(r, PROTO_SIGNAL, s->id, sig, sizeof(sig)) == 0) {
			s->orphan = true;
			s->peer = NULL;
		} else {
			end_session(r, s);
		}
	}
	close(p->fd);
	free(p->decbuf);
	frameq_release(&p->out);
	free(p);
}
