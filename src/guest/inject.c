/* Test mode: a hostile guest's bytes on the agent channel.
 *
 * An image that holds INJECT_MARKER gets the FIFO INJECT_FIFO: whatever a
 * process writes there is appended to the queue to the host as it is,
 * between the agent's own frames (never inside one). tests/e2e/hostile.bats
 * sends oversized, unknown and unsolicited frames and a HELLO flood this
 * way, while real exec sessions run beside them. The guest is the tenant's:
 * this is nothing its own PID 1 could not send, and an image without the
 * marker has no FIFO. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest/init.h"
#include "proto/agent.h"

#define INJECT_MARKER "/etc/mvm/test-inject"
#define INJECT_FIFO   "/run/mvm-inject"

static struct watch inject = {.fd = -1};
static bool paused; /* the queue was full: not watched until it has room */

/* A FIFO read ends wherever the writer's write did, often inside a frame. Sent
 * as read, the agent's next frame would follow that part of a frame and the
 * host's decoder would take it as the rest of the injected one: a session's
 * line lost. So the bytes go through the host's own decoder first and only
 * what it has used up (whole frames, and bytes it drops resynchronising) is
 * sent; the rest waits for the next read. The host's decoder, at a frame
 * boundary before these bytes, is at one after them, where the agent's frames
 * go. */
static uint8_t decbuf[2 * PROTO_MAX_FRAME];
static struct proto_decoder dec;

static void on_inject(struct watch *w, uint32_t events)
{
	(void)events;
	for (;;) {
		if (agent_raw_room() < sizeof(decbuf)) {
			/* the host reads slower than we write: wait for room */
			loop_mod(w, 0);
			paused = true;
			return;
		}
		size_t room;
		uint8_t *p = proto_decoder_space(&dec, &room);
		ssize_t n = read(w->fd, p, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		proto_decoder_commit(&dec, (size_t)n);
		struct proto_frame f;
		while (proto_decoder_next(&dec, &f) != 0)
			;
		/* dec.buf[0, dec.consumed): what the decoder is done with, byte
		 * for byte as written (the next space call drops it) */
		agent_send_raw(dec.buf, dec.consumed);
	}
}

void inject_start(void)
{
	if (access(INJECT_MARKER, F_OK) < 0)
		return;
	unlink(INJECT_FIFO);
	if (mkfifo(INJECT_FIFO, 0600) < 0) {
		log_msg("test mode: %s: %s", INJECT_FIFO, strerror(errno));
		return;
	}
	/* read and write: a writer closing is not an end of file */
	int fd = open(INJECT_FIFO, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		log_msg("test mode: %s: %s", INJECT_FIFO, strerror(errno));
		return;
	}
	proto_decoder_init(&dec, decbuf, sizeof(decbuf));
	inject.fd = fd;
	inject.fn = on_inject;
	if (loop_add(&inject, EPOLLIN) < 0) {
		close(fd);
		inject.fd = -1;
		return;
	}
	log_msg("test mode: bytes written to %s go to the host as they are", INJECT_FIFO);
}

void inject_rearm(void)
{
	if (paused && agent_raw_room() >= sizeof(decbuf)) {
		paused = false;
		loop_mod(&inject, EPOLLIN);
	}
}
