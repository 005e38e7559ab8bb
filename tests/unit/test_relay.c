/* The shim's relay (src/shim/relay.c) over real socketpairs: one end plays
 * mvm-init, the other an exec client. Stream ids are rewritten both ways,
 * malformed bytes from either side are skipped with the session going on,
 * output credit is clamped, and a client that leaves has its process killed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "shim/relay.h"

struct rig {
	struct relay r;
	int agent;  /* the shim's end (the relay's agent_fd) */
	int guest;  /* the guest's end of the agent channel */
	int client; /* the exec client's end */
	struct relay_peer *peer;
	struct proto_decoder gdec, cdec;
	uint8_t gbuf[2 * PROTO_MAX_FRAME], cbuf[2 * PROTO_MAX_FRAME];
	int conn_frames;
};

static struct rig rig;

static void on_conn(void *ctx, const struct proto_frame *f)
{
	(void)f;
	((struct rig *)ctx)->conn_frames++;
}

static int setup(void **state)
{
	(void)state;
	int a[2], c[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, c), 0);
	memset(&rig, 0, sizeof(rig));
	relay_init(&rig.r, a[0]);
	rig.agent = a[0];
	rig.guest = a[1];
	rig.client = c[1];
	rig.peer = relay_peer_new(&rig.r, c[0], NULL, 0);
	proto_decoder_init(&rig.gdec, rig.gbuf, sizeof(rig.gbuf));
	proto_decoder_init(&rig.cdec, rig.cbuf, sizeof(rig.cbuf));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (rig.peer)
		relay_peer_close(&rig.r, rig.peer);
	close(rig.agent);
	relay_release(&rig.r);
	close(rig.guest);
	close(rig.client);
	return 0;
}

static void put(int fd, uint8_t type, uint32_t stream, const void *p, size_t len)
{
	uint8_t f[PROTO_MAX_FRAME];
	int n = proto_encode(f, sizeof(f), type, stream, p, len);
	assert_true(n > 0);
	assert_int_equal(write(fd, f, (size_t)n), n);
}

/* The next frame on fd (the relay has already written it: nothing blocks). */
static int get(int fd, struct proto_decoder *d, struct proto_frame *f)
{
	for (;;) {
		int r = proto_decoder_next(d, f);
		if (r)
			return r;
		size_t room;
		uint8_t *at = proto_decoder_space(d, &room);
		ssize_t n = read(fd, at, room);
		if (n <= 0)
			return 0;
		proto_decoder_commit(d, (size_t)n);
	}
}

static void client_sends(uint8_t type, uint32_t stream, const void *p, size_t len)
{
	put(rig.client, type, stream, p, len);
	relay_peer_readable(&rig.r, rig.peer);
}

static void guest_sends(uint8_t type, uint32_t stream, const void *p, size_t len)
{
	put(rig.guest, type, stream, p, len);
	assert_int_equal(relay_agent_readable(&rig.r, on_conn, &rig), 0);
}

/* Starts `true` on the client's stream 9; returns the guest's stream id. */
static uint32_t start(void)
{
	static const char *const argv[] = {"true", NULL};
	struct proto_exec_spec spec = {.argv = argv};
	uint8_t p[256];
	int n = proto_exec_encode(&spec, p, sizeof(p));
	client_sends(PROTO_EXEC, 9, p, (size_t)n);
	struct proto_frame f;
	assert_int_equal(get(rig.guest, &rig.gdec, &f), 1);
	assert_int_equal(f.type, PROTO_EXEC);
	assert_int_not_equal(f.stream, 0);
	return f.stream;
}

static void test_ids_are_rewritten_both_ways(void **state)
{
	(void)state;
	uint32_t id = start();
	client_sends(PROTO_STDIN, 9, "in", 2);
	struct proto_frame f;
	assert_int_equal(get(rig.guest, &rig.gdec, &f), 1);
	assert_int_equal(f.type, PROTO_STDIN);
	assert_int_equal(f.stream, id);
	assert_memory_equal(f.payload, "in", 2);

	guest_sends(PROTO_STDOUT, id, "out", 3);
	assert_int_equal(get(rig.client, &rig.cdec, &f), 1);
	assert_int_equal(f.type, PROTO_STDOUT);
	assert_int_equal(f.stream, 9);
	assert_memory_equal(f.payload, "out", 3);

	uint8_t x[8];
	int n = proto_exit_encode(&(struct proto_exit){.kind = PROTO_EXIT_CODE, .code = 7}, x,
				  sizeof(x));
	guest_sends(PROTO_EXIT, id, x, (size_t)n);
	assert_int_equal(get(rig.client, &rig.cdec, &f), 1);
	assert_int_equal(f.type, PROTO_EXIT);
	assert_true(relay_peer_finished(rig.peer));
}

static void test_malformed_guest_bytes_are_skipped(void **state)
{
	(void)state;
	uint32_t id = start();
	/* junk, a bad version, an oversize length, a payload that does not
	 * decode for its type, and output for a stream nobody owns */
	assert_int_equal(write(rig.guest, "garbage!", 8), 8);
	static const uint8_t badver[12] = {'M', 'V', 9, 19, 0, 0, 0, 1, 0, 0, 0, 0};
	assert_int_equal(write(rig.guest, badver, 12), 12);
	static const uint8_t big[12] = {'M', 'V', 1, 19, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff};
	assert_int_equal(write(rig.guest, big, 12), 12);
	guest_sends(PROTO_EXIT, id, "x", 1);
	guest_sends(PROTO_STDOUT, id + 100, "lost", 4);
	assert_true(rig.r.malformed >= 3);
	/* the session still works */
	guest_sends(PROTO_STDOUT, id, "fine", 4);
	struct proto_frame f;
	assert_int_equal(get(rig.client, &rig.cdec, &f), 1);
	assert_int_equal(f.type, PROTO_STDOUT);
	assert_memory_equal(f.payload, "fine", 4);
	assert_false(relay_peer_finished(rig.peer));
	/* connection frames go to the shim */
	guest_sends(PROTO_READY, 0, NULL, 0);
	assert_int_equal(rig.conn_frames, 1);
}

static void test_malformed_client_bytes_get_errors(void **state)
{
	(void)state;
	assert_int_equal(write(rig.client, "junk", 4), 4);
	client_sends(99, 0, NULL, 0);
	client_sends(PROTO_STDIN, 3, "x", 1); /* no session yet */
	struct proto_frame f;
	struct proto_error pe;
	uint32_t codes[3];
	for (int i = 0; i < 3; i++) {
		assert_int_equal(get(rig.client, &rig.cdec, &f), 1);
		assert_int_equal(f.type, PROTO_ERROR);
		assert_int_equal(proto_error_decode(f.payload, f.len, &pe), 0);
		codes[i] = pe.code;
	}
	assert_int_equal(codes[0], PROTO_EMAGIC);
	assert_int_equal(codes[1], PROTO_ETYPE);
	assert_int_equal(codes[2], PROTO_ESTREAM);
	/* nothing reached the guest, and a session still starts */
	start();
}

static void test_output_credit_is_clamped(void **state)
{
	(void)state;
	uint32_t id = start();
	/* the client grants far more than one window: the guest gets nothing
	 * more while it still holds a whole window */
	uint8_t w[8];
	int n =
	    proto_window_encode(&(struct proto_window){PROTO_CH_STDOUT, 1u << 30}, w, sizeof(w));
	client_sends(PROTO_WINDOW, 9, w, (size_t)n);
	struct proto_frame f;
	assert_int_equal(get(rig.guest, &rig.gdec, &f), 0);
	/* output beyond the credit is dropped */
	static uint8_t chunk[PROTO_MAX_PAYLOAD];
	for (unsigned i = 0; i < PROTO_INITIAL_WINDOW / sizeof(chunk); i++) {
		guest_sends(PROTO_STDOUT, id, chunk, sizeof(chunk));
		assert_int_equal(get(rig.client, &rig.cdec, &f), 1);
	}
	guest_sends(PROTO_STDOUT, id, "over", 4);
	assert_int_equal(get(rig.client, &rig.cdec, &f), 0);
	/* once the client has consumed it, credit flows again, at most a window */
	client_sends(PROTO_WINDOW, 9, w, (size_t)n);
	assert_int_equal(get(rig.guest, &rig.gdec, &f), 1);
	assert_int_equal(f.type, PROTO_WINDOW);
	struct proto_window got;
	assert_int_equal(proto_window_decode(f.payload, f.len, &got), 0);
	assert_int_equal(got.bytes, PROTO_INITIAL_WINDOW);
}

static void test_a_client_that_leaves_has_its_process_killed(void **state)
{
	(void)state;
	uint32_t id = start();
	relay_peer_close(&rig.r, rig.peer);
	rig.peer = NULL;
	struct proto_frame f;
	assert_int_equal(get(rig.guest, &rig.gdec, &f), 1);
	assert_int_equal(f.type, PROTO_SIGNAL);
	assert_int_equal(f.stream, id);
	uint32_t sig;
	assert_int_equal(proto_u32_decode(f.payload, f.len, &sig), 0);
	assert_int_equal(sig, SIGKILL);
	/* its remaining output goes nowhere; its EXIT frees the stream */
	guest_sends(PROTO_STDOUT, id, "late", 4);
	assert_true(rig.r.sessions[0].used);
	uint8_t x[8];
	int n = proto_exit_encode(&(struct proto_exit){.kind = PROTO_EXIT_SIGNAL, .code = 9}, x,
				  sizeof(x));
	guest_sends(PROTO_EXIT, id, x, (size_t)n);
	assert_false(rig.r.sessions[0].used);
}

static void test_a_lost_channel_ends_every_session(void **state)
{
	(void)state;
	start();
	relay_agent_lost(&rig.r, "the VM stopped");
	struct proto_frame f;
	assert_int_equal(get(rig.client, &rig.cdec, &f), 1);
	assert_int_equal(f.type, PROTO_ERROR);
	assert_int_equal(f.stream, 9);
	assert_true(relay_peer_finished(rig.peer));
	assert_false(relay_accepting(&rig.r));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_ids_are_rewritten_both_ways, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_guest_bytes_are_skipped, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_client_bytes_get_errors, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_output_credit_is_clamped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_client_that_leaves_has_its_process_killed, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_a_lost_channel_ends_every_session, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
