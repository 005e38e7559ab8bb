/* libFuzzer harness for the shim's relay (src/shim/relay.c): the input is a
 * sequence of chunks, each going either from an exec client or from the
 * guest (the first byte of a chunk picks the side and its length), through
 * real socketpairs. Nothing may crash, and the queues must stay within the
 * bounds relay.h promises.
 *
 *   make fuzz && build/fuzz/fuzz_relay fuzz/corpus/relay
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shim/relay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_conn(void *ctx, const struct proto_frame *f)
{
	(void)ctx;
	(void)f;
}

static void drain(int fd)
{
	static uint8_t sink[1 << 16];
	while (read(fd, sink, sizeof(sink)) > 0)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int a[2], c[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a) < 0)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, c) < 0) {
		close(a[0]);
		close(a[1]);
		return 0;
	}
	struct relay r;
	relay_init(&r, a[0]);
	struct relay_peer *p = relay_peer_new(&r, c[0], NULL, 0);
	size_t off = 0;
	while (off < size) {
		uint8_t head = data[off++];
		size_t len = (size_t)(head & 0x7f) * 97 + 1;
		if (len > size - off)
			len = size - off;
		int fd = head & 0x80 ? a[1] : c[1];
		if (len && write(fd, data + off, len) < 0)
			break;
		off += len;
		if (head & 0x80)
			relay_agent_readable(&r, on_conn, NULL);
		else if (relay_accepting(&r))
			relay_peer_readable(&r, p);
		if (frameq_pending(&p->out) > RELAY_PEER_MAX && !p->broken)
			__builtin_trap(); /* a peer over its bound is dropped */
		drain(a[1]);
		drain(c[1]);
		relay_agent_flush(&r);
		relay_peer_flush(p);
		if (relay_peer_finished(p))
			break;
	}
	relay_peer_close(&r, p);
	close(a[0]);
	close(a[1]);
	close(c[1]);
	relay_release(&r);
	return 0;
}
