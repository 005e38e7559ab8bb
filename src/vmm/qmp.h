/* A QMP client (QEMU Machine Protocol) over one connected stream socket,
 * in practice one end of a socketpair whose other end QEMU inherited
 * (`-chardev socket,id=qmp,fd=N -mon chardev=qmp,mode=control`).
 *
 * QMP is a stream of JSON objects, each ended by "\r\n". The client sends one
 * command at a time with a numeric "id" and matches the reply by that id;
 * events (which can arrive before the reply they relate to: SHUTDOWN comes
 * before the reply to `quit`) are queued apart, and replies to commands that
 * were given up on (timeout) are dropped. Every read is size-capped: a
 * message longer than QMP_MAX_MSG, or more than QMP_MAX_EVENTS queued events,
 * never grows memory (the message is an error; the oldest event is dropped).
 *
 * Used only by src/vmm/qemu*.c; nothing else in mvm speaks QMP.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "core/strbuf.h"

#define QMP_MAX_MSG    (1u << 20)
#define QMP_MAX_EVENTS 64

enum qmp_kind {
	QMP_GREETING, /* {"QMP": {...}} */
	QMP_RETURN,   /* {"return": ..., "id": N} */
	QMP_ERROR,    /* {"error": {"class": ..., "desc": ...}, "id": N} */
	QMP_EVENT,    /* {"event": "...", "data": {...}, "timestamp": {...}} */
};

/* One decoded message. */
struct qmp_msg {
	enum qmp_kind kind;
	long long id;	   /* -1 when the message has no integer id */
	char *event;	   /* QMP_EVENT: its name (malloc'd) */
	char *error_class; /* QMP_ERROR (malloc'd) */
	char *error_desc;  /* QMP_ERROR (malloc'd) */
	json_t *data;	   /* QMP_RETURN: the return value; QMP_EVENT: data (may be NULL);
			    * QMP_GREETING: the "QMP" object. Owned. */
};

#define QMP_MSG_INIT                                                                               \
	{                                                                                          \
		.kind = QMP_EVENT, .id = -1                                                        \
	}

/* Decodes one message (the bytes between two "\r\n"; surrounding whitespace
 * allowed). Anything that is not one JSON object of the four shapes above
 * fails with -EPROTO and a message saying what was wrong. */
int qmp_decode(const char *buf, size_t len, struct qmp_msg *out, struct err *e);
void qmp_msg_release(struct qmp_msg *m);

struct qmp {
	int fd;		   /* not owned: the caller closes it */
	struct strbuf in;  /* bytes read and not yet decoded */
	long long next_id; /* ids of our commands */
	struct qmp_msg events[QMP_MAX_EVENTS];
	size_t ev_head, ev_len;
	size_t ev_dropped; /* events dropped because the queue was full */
	bool eof;	   /* the peer closed its end */
};

#define QMP_INIT                                                                                   \
	{                                                                                          \
		.fd = -1, .in = STRBUF_INIT                                                        \
	}

/* Makes fd non-blocking and takes it as the connection. */
void qmp_init(struct qmp *q, int fd);
void qmp_release(struct qmp *q);

/* Reads the greeting and negotiates capabilities (qmp_capabilities). */
int qmp_handshake(struct qmp *q, int timeout_ms, struct err *e);

/* Sends cmd with args (stolen; may be NULL) and waits for its reply. On
 * success *ret (may be NULL) receives the "return" value (owned by the
 * caller). A QMP error reply fails with -EIO and its class and desc; no reply
 * within timeout_ms fails with -ETIMEDOUT; a closed connection with -EPIPE. */
int qmp_execute(struct qmp *q, const char *cmd, json_t *args, int timeout_ms, json_t **ret,
		struct err *e);

/* Like qmp_execute, passing the descriptor pass_fd along with the command
 * (SCM_RIGHTS), as `getfd` and `add-fd` expect. */
int qmp_execute_fd(struct qmp *q, const char *cmd, json_t *args, int pass_fd, int timeout_ms,
		   json_t **ret, struct err *e);

/* Like qmp_execute for commands after which QEMU may exit before it answers
 * (`quit`): EOF instead of a reply counts as success. */
int qmp_execute_final(struct qmp *q, const char *cmd, int timeout_ms, struct err *e);

/* Reads whatever is available now without blocking and queues the events
 * found. Returns 0, or -EPIPE once the peer has closed (events read before
 * that are still queued), or another -errno. For an event loop: call it when
 * q->fd is readable. */
int qmp_poll_events(struct qmp *q, struct err *e);

/* Takes the oldest queued event into *out (the caller releases it). Returns
 * 1 when there was one, 0 when the queue is empty. */
int qmp_event_pop(struct qmp *q, struct qmp_msg *out);

/* Waits at most timeout_ms for the event called name whose data match
 * accepts (match NULL: any; data may be NULL), looking first among the events
 * already queued: an event can arrive before the reply to the command that
 * caused it. The one found is taken out of the queue into *out (the caller
 * releases it; out NULL: dropped); every other event stays queued, in order,
 * for qmp_event_pop. With timeout_ms 0 only what is queued or readable now
 * counts. No such event in time fails with -ETIMEDOUT; a peer that closed
 * before sending it with -EPIPE. */
int qmp_wait_event(struct qmp *q, const char *name, bool (*match)(const json_t *data, void *arg),
		   void *arg, int timeout_ms, struct qmp_msg *out, struct err *e);

/* Feeds raw bytes as if read from the socket (for tests and the fuzzer):
 * complete messages are decoded, events queued, and replies handed to
 * on_reply (may be NULL: replies are then dropped). */
int qmp_feed(struct qmp *q, const void *data, size_t len,
	     void (*on_reply)(struct qmp_msg *m, void *arg), void *arg, struct err *e);
