/* An outgoing queue of agent frames for a non-blocking socket: frames are
 * encoded straight into it and written out as the peer accepts them. The
 * caller bounds its size (flow control, or dropping a peer that lags). */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct frameq {
	uint8_t *buf;
	size_t head; /* bytes of buf already written */
	size_t len;  /* bytes in buf, written or not */
	size_t cap;
};

#define FRAMEQ_INIT                                                                                \
	{                                                                                          \
		.buf = NULL                                                                        \
	}

/* Appends one frame (payload may be NULL when len is 0). -1 when the payload
 * is over PROTO_MAX_PAYLOAD. */
int frameq_push(struct frameq *q, uint8_t type, uint32_t stream, const void *payload, size_t len);
/* Writes what the socket takes without blocking. 0: nothing left or the
 * socket is full; -errno when the peer is gone. */
int frameq_flush(struct frameq *q, int fd);
/* Bytes waiting to be written. */
static inline size_t frameq_pending(const struct frameq *q)
{
	return q->len - q->head;
}
void frameq_release(struct frameq *q);
