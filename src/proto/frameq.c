#include "proto/frameq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proto/agent.h"

static int reserve(struct frameq *q, size_t n)
{
	if (q->head && q->head == q->len)
		q->head = q->len = 0;
	if (q->len + n <= q->cap)
		return 0;
	if (q->head) { /* reclaim what was written before growing */
		memmove(q->buf, q->buf + q->head, q->len - q->head);
		q->len -= q->head;
		q->head = 0;
		if (q->len + n <= q->cap)
			return 0;
	}
	size_t cap = q->cap ? q->cap : 4096;
	while (cap < q->len + n)
		cap *= 2;
	uint8_t *b = realloc(q->buf, cap);
	if (!b)
		abort(); /* as xmalloc: out of memory is not recoverable here */
	q->buf = b;
	q->cap = cap;
	return 0;
}

int frameq_push(struct frameq *q, uint8_t type, uint32_t stream, const void *payload, size_t len)
{
	if (len > PROTO_MAX_PAYLOAD)
		return -1;
	reserve(q, PROTO_HEADER_SIZE + len);
	int n = proto_encode(q->buf + q->len, q->cap - q->len, type, stream, payload, len);
	if (n < 0)
		return -1;
	q->len += (size_t)n;
	return 0;
}

int frameq_flush(struct frameq *q, int fd)
{
	while (q->head < q->len) {
		ssize_t w =
		    send(fd, q->buf + q->head, q->len - q->head, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (w <= 0)
			return w < 0 ? -errno : -EPIPE;
		q->head += (size_t)w;
	}
	q->head = q->len = 0;
	return 0;
}

void frameq_release(struct frameq *q)
{
	free(q->buf);
	*q = (struct frameq)FRAMEQ_INIT;
}
