/* The shim's half of the agent protocol: the one channel to mvm-init, and
 * the exec clients multiplexed onto it.
 *
 * An exec client connects to the control socket, sends {"op":"exec"} and,
 * after the {"ok":true} line, speaks agent frames (docs/agent-protocol.md)
 * for one session: EXEC, then STDIN / WINDOW / RESIZE / SIGNAL; it gets
 * STARTED, STDOUT, STDERR, WINDOW, ERROR and EXIT back, on the stream id it
 * chose. The relay gives every session a guest stream id of its own and
 * rewrites ids both ways, so clients never see each other.
 *
 * Nothing here blocks and memory stays bounded: output credit a client
 * grants is clamped so the guest never has more than PROTO_INITIAL_WINDOW
 * bytes per channel in flight towards it (its queue is bounded by that), and
 * clients are not read while the queue towards the guest is over
 * RELAY_AGENT_HIGH. Malformed frames from a client are answered with ERROR
 * and skipped; the session and the channel go on. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "proto/agent.h"
#include "proto/frameq.h"

#define RELAY_MAX_SESSIONS 64		/* the guest's own limit */
#define RELAY_AGENT_HIGH   (256u << 10) /* stop reading clients above this */
#define RELAY_PEER_MAX	   (2 * PROTO_INITIAL_WINDOW + (64u << 10) + 4 * PROTO_MAX_FRAME)

struct relay_peer;

struct relay_session {
	bool used;
	bool orphan; /* the client left: its process was killed; waiting for EXIT */
	uint32_t id; /* on the guest channel */
	struct relay_peer *peer;
	uint32_t credit[3]; /* bytes the guest may still send per output channel */
};

struct relay {
	int agent_fd; /* -1 when the channel is gone */
	struct proto_decoder dec;
	uint8_t *decbuf;
	uint64_t malformed; /* frames from the guest that were dropped */
	struct frameq to_agent;
	struct relay_session sessions[RELAY_MAX_SESSIONS];
	uint32_t next_id;
};

struct relay_peer {
	int fd;
	struct proto_decoder dec;
	uint8_t *decbuf;
	struct frameq out;
	uint32_t stream; /* the id the client chose */
	int session;	 /* index into relay.sessions, -1 before EXEC */
	bool done;	 /* EXIT (or a fatal error) queued: close once flushed */
	bool broken;	 /* the socket failed: close now */
};

void relay_init(struct relay *r, int agent_fd);
void relay_release(struct relay *r);
/* Reads what the agent channel holds: session frames are relayed to their
 * clients, connection frames (stream 0) handed to on_conn. Malformed input
 * is skipped and counted; the channel goes on. -EPIPE once it closed. */
int relay_agent_readable(struct relay *r, void (*on_conn)(void *ctx, const struct proto_frame *f),
			 void *ctx);
/* Queues a frame to the guest and writes what the channel takes. */
int relay_agent_send(struct relay *r, uint8_t type, uint32_t stream, const void *payload,
		     size_t len);
/* When the agent fd is writable. */
void relay_agent_flush(struct relay *r);
/* The agent channel closed: every client is told and finished. */
void relay_agent_lost(struct relay *r, const char *why);
/* False while the queue towards the guest is too long to take client input. */
bool relay_accepting(const struct relay *r);

/* A new exec client on fd (non-blocking); bytes already read after its
 * request line are fed first. */
struct relay_peer *relay_peer_new(struct relay *r, int fd, const void *early, size_t early_len);
/* Reads and forwards what the client sent. */
void relay_peer_readable(struct relay *r, struct relay_peer *p);
/* Writes queued output; marks the peer broken when the socket failed. */
void relay_peer_flush(struct relay_peer *p);
/* True once the peer should be closed (broken, or done with nothing queued). */
bool relay_peer_finished(const struct relay_peer *p);
/* Detaches and frees the peer (closing its fd); a session still running is
 * killed (SIGKILL to its process) and forgotten once its EXIT arrives. */
void relay_peer_close(struct relay *r, struct relay_peer *p);
