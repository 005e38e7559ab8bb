/* The QMP client: message decoding, framing across reads, reply matching by
 * id with events arriving first, errors, timeouts, EOF, the caps, and
 * waiting for one event while the others stay queued. The
 * peer is a thread on the other end of a socketpair playing QEMU. */
#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/util.h"
#include "vmm/qmp.h"

static int decode(const char *s, struct qmp_msg *m)
{
	struct err e = ERR_INIT;
	int r = qmp_decode(s, strlen(s), m, &e);
	err_release(&e);
	return r;
}

static void test_decode_kinds(void **state)
{
	(void)state;
	struct qmp_msg m;
	assert_int_equal(decode("{\"QMP\": {\"version\": {}, \"capabilities\": []}}\r", &m), 0);
	assert_int_equal(m.kind, QMP_GREETING);
	assert_int_equal(m.id, -1);
	qmp_msg_release(&m);

	assert_int_equal(decode("{\"return\": {\"status\": \"running\"}, \"id\": 7}", &m), 0);
	assert_int_equal(m.kind, QMP_RETURN);
	assert_int_equal(m.id, 7);
	assert_string_equal(json_string_value(json_object_get(m.data, "status")), "running");
	qmp_msg_release(&m);

	assert_int_equal(decode("{\"error\": {\"class\": \"GenericError\", \"desc\": \"nope\"}, "
				"\"id\": 3}",
				&m),
			 0);
	assert_int_equal(m.kind, QMP_ERROR);
	assert_int_equal(m.id, 3);
	assert_string_equal(m.error_class, "GenericError");
	assert_string_equal(m.error_desc, "nope");
	qmp_msg_release(&m);

	assert_int_equal(decode("{\"timestamp\": {\"seconds\": 1}, \"event\": \"SHUTDOWN\", "
				"\"data\": {\"guest\": true, \"reason\": \"guest-shutdown\"}}",
				&m),
			 0);
	assert_int_equal(m.kind, QMP_EVENT);
	assert_string_equal(m.event, "SHUTDOWN");
	assert_string_equal(json_string_value(json_object_get(m.data, "reason")), "guest-shutdown");
	qmp_msg_release(&m);
}

static void test_decode_rejects(void **state)
{
	(void)state;
	const char *bad[] = {
	    "",
	    "[1, 2]",
	    "\"return\"",
	    "{\"return\": 1",
	    "{\"id\": 1}",
	    "{\"event\": 5}",
	    "{\"event\": \"X\", \"data\": [1]}",
	    "{\"error\": \"string\", \"id\": 1}",
	    "{\"error\": {\"class\": 1}, \"id\": 1}",
	    "{\"QMP\": 1}",
	    "{\"return\": {}, \"return\": {}, \"id\": 1}",
	    "{\"return\": {}} trailing",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct qmp_msg m;
		struct err e = ERR_INIT;
		int r = qmp_decode(bad[i], strlen(bad[i]), &m, &e);
		if (r != -EPROTO)
			fail_msg("accepted: %s", bad[i]);
		assert_non_null(e.msg);
		assert_null(m.data);
		err_release(&e);
	}
}

struct collected {
	int n;
	long long ids[8];
};

static void collect(struct qmp_msg *m, void *arg)
{
	struct collected *c = arg;
	if (c->n < 8)
		c->ids[c->n++] = m->id;
}

static void test_framing(void **state)
{
	(void)state;
	struct qmp q;
	qmp_init(&q, -1);
	struct collected c = {0};
	struct err e = ERR_INIT;
	const char *stream = "{\"event\": \"STOP\"}\r\n{\"return\": {}, \"id\": 1}\r\n\r\n"
			     "{\"return\": {}, \"id\": 2}\r\n{\"event\": \"RESUME\"}\r\n";
	/* fed one byte at a time: messages split anywhere still decode */
	for (size_t i = 0; i < strlen(stream); i++)
		assert_int_equal(qmp_feed(&q, stream + i, 1, collect, &c, &e), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ids[0], 1);
	assert_int_equal(c.ids[1], 2);
	struct qmp_msg m;
	assert_int_equal(qmp_event_pop(&q, &m), 1);
	assert_string_equal(m.event, "STOP");
	qmp_msg_release(&m);
	assert_int_equal(qmp_event_pop(&q, &m), 1);
	assert_string_equal(m.event, "RESUME");
	qmp_msg_release(&m);
	assert_int_equal(qmp_event_pop(&q, &m), 0);
	assert_int_equal(q.in.len, 0);
	qmp_release(&q);
}

static void test_bad_message_does_not_hide_next(void **state)
{
	(void)state;
	struct qmp q;
	qmp_init(&q, -1);
	struct collected c = {0};
	struct err e = ERR_INIT;
	const char *s = "{garbage}\r\n{\"return\": {}, \"id\": 4}\r\n";
	assert_int_equal(qmp_feed(&q, s, strlen(s), collect, &c, &e), -EPROTO);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.ids[0], 4);
	err_release(&e);
	qmp_release(&q);
}

static void test_size_cap(void **state)
{
	(void)state;
	struct qmp q;
	qmp_init(&q, -1);
	struct err e = ERR_INIT;
	char *big = xmalloc(QMP_MAX_MSG + 2);
	memset(big, ' ', QMP_MAX_MSG + 1);
	big[QMP_MAX_MSG + 1] = '\0';
	/* a message with no end past the cap is refused, and memory is given back */
	assert_int_equal(qmp_feed(&q, big, QMP_MAX_MSG + 1, NULL, NULL, &e), -EMSGSIZE);
	assert_true(q.in.len == 0);
	err_release(&e);
	struct collected c = {0};
	const char *ok = "{\"return\": {}, \"id\": 9}\n";
	assert_int_equal(qmp_feed(&q, ok, strlen(ok), collect, &c, &e), 0);
	assert_int_equal(c.n, 1);
	free(big);
	qmp_release(&q);
}

static void test_event_queue_cap(void **state)
{
	(void)state;
	struct qmp q;
	qmp_init(&q, -1);
	struct err e = ERR_INIT;
	for (int i = 0; i < QMP_MAX_EVENTS + 10; i++) {
		char buf[64];
		int n = snprintf(buf, sizeof(buf), "{\"event\": \"E%d\"}\r\n", i);
		assert_int_equal(qmp_feed(&q, buf, (size_t)n, NULL, NULL, &e), 0);
	}
	assert_int_equal(q.ev_len, QMP_MAX_EVENTS);
	assert_int_equal(q.ev_dropped, 10);
	struct qmp_msg m;
	assert_int_equal(qmp_event_pop(&q, &m), 1);
	assert_string_equal(m.event, "E10"); /* the oldest were dropped */
	qmp_msg_release(&m);
	qmp_release(&q);
}

/* --- against a fake QEMU on a socketpair --------------------------------------- */

enum script {
	PEER_NORMAL,
	PEER_ERROR,
	PEER_SILENT,
	PEER_CLOSE,
	PEER_MIGRATE_EARLY, /* `migrate`: its events, the end among them, before the reply */
	PEER_MIGRATE_LATE,  /* the reply, then the events, 50 and 100 ms later */
	PEER_MIGRATE_EXIT,  /* the reply, some events, then QEMU exits before the end */
};

struct peer {
	int fd;
	enum script script;
	char last_cmd[256];
};

static void peer_send(int fd, const char *s)
{
	ssize_t w = write(fd, s, strlen(s));
	(void)w;
}

/* Reads one line (a command) from fd into buf. */
static int peer_read_line(int fd, char *buf, size_t n)
{
	size_t len = 0;
	while (len + 1 < n) {
		char ch;
		ssize_t r = read(fd, &ch, 1);
		if (r <= 0)
			return -1;
		if (ch == '\n')
			break;
		buf[len++] = ch;
	}
	buf[len] = '\0';
	return 0;
}

static long long id_of(const char *line)
{
	json_error_t je;
	json_t *j = json_loads(line, 0, &je);
	long long id = json_integer_value(json_object_get(j, "id"));
	json_decref(j);
	return id;
}

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	char line[256], reply[512];
	peer_send(p->fd, "{\"QMP\": {\"version\": {\"qemu\": {\"major\": 7}}, "
			 "\"capabilities\": [\"oob\"]}}\r\n");
	if (peer_read_line(p->fd, line, sizeof(line)) < 0)
		return NULL;
	snprintf(reply, sizeof(reply), "{\"return\": {}, \"id\": %lld}\r\n", id_of(line));
	peer_send(p->fd, reply);
	if (p->script == PEER_CLOSE) {
		/* QEMU going away: a last event, then the end of the stream */
		peer_send(p->fd, "{\"event\": \"SHUTDOWN\"}\r\n");
		return NULL;
	}
	if (peer_read_line(p->fd, line, sizeof(line)) < 0)
		return NULL;
	snprintf(p->last_cmd, sizeof(p->last_cmd), "%s", line);
	long long id = id_of(line);
	switch (p->script) {
	case PEER_NORMAL:
		/* an event first, then a stale reply to another id, then ours in two pieces */
		peer_send(p->fd, "{\"event\": \"SHUTDOWN\", \"data\": {\"reason\": "
				 "\"host-qmp-quit\"}}\r\n");
		snprintf(reply, sizeof(reply),
			 "{\"return\": {\"status\": \"stale\"}, \"id\": %lld}\r\n", id + 100);
		peer_send(p->fd, reply);
		snprintf(reply, sizeof(reply),
			 "{\"return\": {\"status\": \"running\"}, \"id\": %lld}\r\n", id);
		peer_send(p->fd, "{\"return\": {\"status\": \"run");
		peer_send(p->fd, reply + strlen("{\"return\": {\"status\": \"run"));
		break;
	case PEER_ERROR:
		snprintf(reply, sizeof(reply),
			 "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command "
			 "bogus has not been found\"}, \"id\": %lld}\r\n",
			 id);
		peer_send(p->fd, reply);
		break;
	case PEER_SILENT:
		/* keeps the connection open, never answers */
		sleep(1);
		break;
	case PEER_CLOSE:
		break;
	case PEER_MIGRATE_EARLY:
		peer_send(p->fd, "{\"event\": \"MIGRATION\", \"data\": {\"status\": \"setup\"}}\r\n"
				 "{\"event\": \"STOP\"}\r\n"
				 "{\"event\": \"MIGRATION\", \"data\": {\"status\": "
				 "\"completed\"}}\r\n");
		snprintf(reply, sizeof(reply), "{\"return\": {}, \"id\": %lld}\r\n", id);
		peer_send(p->fd, reply);
		break;
	case PEER_MIGRATE_LATE:
		snprintf(reply, sizeof(reply), "{\"return\": {}, \"id\": %lld}\r\n", id);
		peer_send(p->fd, reply);
		usleep(50 * 1000);
		peer_send(p->fd, "{\"event\": \"RESUME\"}\r\n{\"event\": \"MIGRATION\", \"data\": "
				 "{\"status\": \"active\"}}\r\n");
		usleep(50 * 1000);
		peer_send(p->fd, "{\"event\": \"MIGRATION\", \"data\": {\"status\": "
				 "\"completed\"}}\r\n");
		break;
	case PEER_MIGRATE_EXIT:
		snprintf(reply, sizeof(reply), "{\"return\": {}, \"id\": %lld}\r\n", id);
		peer_send(p->fd, reply);
		peer_send(p->fd,
			  "{\"event\": \"MIGRATION\", \"data\": {\"status\": \"active\"}}\r\n"
			  "{\"event\": \"SHUTDOWN\", \"data\": {\"reason\": "
			  "\"host-error\"}}\r\n");
		shutdown(p->fd, SHUT_WR); /* the end of the stream, as when QEMU exits */
		break;
	}
	return NULL;
}

struct conn {
	int fds[2];
	pthread_t th;
	struct peer peer;
	struct qmp q;
};

static void conn_open(struct conn *c, enum script script)
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, c->fds), 0);
	c->peer = (struct peer){.fd = c->fds[1], .script = script};
	assert_int_equal(pthread_create(&c->th, NULL, peer_main, &c->peer), 0);
	qmp_init(&c->q, c->fds[0]);
	struct err e = ERR_INIT;
	assert_int_equal(qmp_handshake(&c->q, 2000, &e), 0);
	err_release(&e);
}

static void conn_close(struct conn *c)
{
	close(c->fds[1]); /* EOF for the client if the peer is still in a read */
	pthread_join(c->th, NULL);
	close(c->fds[0]);
	qmp_release(&c->q);
}

static void test_execute_matches_id(void **state)
{
	(void)state;
	struct conn c;
	conn_open(&c, PEER_NORMAL);
	json_t *ret = NULL;
	struct err e = ERR_INIT;
	assert_int_equal(qmp_execute(&c.q, "query-status", NULL, 2000, &ret, &e), 0);
	assert_string_equal(json_string_value(json_object_get(ret, "status")), "running");
	json_decref(ret);
	assert_non_null(strstr(c.peer.last_cmd, "\"execute\":\"query-status\""));
	/* the event that came before the reply was kept for the event loop */
	struct qmp_msg m;
	assert_int_equal(qmp_event_pop(&c.q, &m), 1);
	assert_string_equal(m.event, "SHUTDOWN");
	qmp_msg_release(&m);
	conn_close(&c);
}

static void test_execute_error_reply(void **state)
{
	(void)state;
	struct conn c;
	conn_open(&c, PEER_ERROR);
	struct err e = ERR_INIT;
	assert_int_equal(qmp_execute(&c.q, "bogus", NULL, 2000, NULL, &e), -EIO);
	assert_non_null(strstr(e.msg, "CommandNotFound"));
	assert_non_null(strstr(e.msg, "bogus"));
	err_release(&e);
	conn_close(&c);
}

static void test_execute_timeout(void **state)
{
	(void)state;
	struct conn c;
	conn_open(&c, PEER_SILENT);
	struct err e = ERR_INIT;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(qmp_execute(&c.q, "query-status", NULL, 150, NULL, &e), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 140 && ms < 900);
	err_release(&e);
	conn_close(&c);
}

static void test_eof(void **state)
{
	(void)state;
	struct conn c;
	conn_open(&c, PEER_CLOSE);
	struct err e = ERR_INIT;
	pthread_join(c.th, NULL);
	close(c.fds[1]);
	c.fds[1] = -1;
	/* `quit`: QEMU may exit before it answers; EOF is then success */
	assert_int_equal(qmp_execute_final(&c.q, "quit", 2000, &e), 0);
	assert_true(c.q.eof);
	assert_int_equal(qmp_execute(&c.q, "query-status", NULL, 2000, NULL, &e), -EPIPE);
	err_release(&e);
	struct qmp_msg m;
	assert_int_equal(qmp_event_pop(&c.q, &m), 1);
	assert_string_equal(m.event, "SHUTDOWN");
	qmp_msg_release(&m);
	close(c.fds[0]);
	qmp_release(&c.q);
}

/* --- waiting for an event ------------------------------------------------------ */

static char completed[] = "completed", failed[] = "failed";

static bool status_is(const json_t *data, void *arg)
{
	const char *s = json_string_value(json_object_get(data, "status"));
	return s && !strcmp(s, arg);
}

static long long elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Pops the next queued event and checks its name (and status when given). */
static void assert_next_event(struct qmp *q, const char *name, const char *status)
{
	struct qmp_msg m;
	assert_int_equal(qmp_event_pop(q, &m), 1);
	assert_string_equal(m.event, name);
	if (status)
		assert_string_equal(json_string_value(json_object_get(m.data, "status")), status);
	qmp_msg_release(&m);
}

static void test_wait_event_already_queued(void **state)
{
	(void)state;
	struct conn c;
	conn_open(&c, PEER_MIGRATE_EARLY);
	struct err e = ERR_INIT;
	assert_int_equal(qmp_execute(&c.q, "migrate", NULL, 2000, NULL, &e), 0);
	/* the end came before the reply to `migrate`: it is found in the queue */
	struct qmp_msg m;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(qmp_wait_event(&c.q, "MIGRATION", status_is, completed, 2000, &m, &e), 0);
	assert_true(elapsed_ms(&t0) < 50);
	assert_int_equal(m.kind, QMP_EVENT);
	assert_string_equal(m.event, "MIGRATION");
	assert_string_equal(json_string_value(json_object_get(m.data, "status")), "completed");
	qmp_msg_release(&m);
	/* the others stay, in their order, for the event loop */
	assert_next_event(&c.q, "MIGRATION", "setup");
	assert_next_event(&c.q, "STOP", NULL);
	assert_int_equal(qmp_event_pop(&c.q, &m), 0);
	err_release(&e);
	conn_close(&c);
}

static void test_wait_event_blocks_until_it_comes(void **state)
{
	(void)state;
	struct conn c;
	conn_open(&c, PEER_MIGRATE_LATE);
	struct err e = ERR_INIT;
	assert_int_equal(qmp_execute(&c.q, "migrate", NULL, 2000, NULL, &e), 0);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* out NULL: the event is consumed and dropped */
	assert_int_equal(qmp_wait_event(&c.q, "MIGRATION", status_is, completed, 2000, NULL, &e),
			 0);
	long long ms = elapsed_ms(&t0);
	assert_true(ms >= 80 && ms < 1000);
	assert_next_event(&c.q, "RESUME", NULL);
	assert_next_event(&c.q, "MIGRATION", "active");
	struct qmp_msg m;
	assert_int_equal(qmp_event_pop(&c.q, &m), 0);
	err_release(&e);
	conn_close(&c);
}

static void test_wait_event_timeout(void **state)
{
	(void)state;
	struct conn c;
	conn_open(&c, PEER_MIGRATE_LATE);
	struct err e = ERR_INIT;
	assert_int_equal(qmp_execute(&c.q, "migrate", NULL, 2000, NULL, &e), 0);
	/* 0 ms: only what is there now, and nothing is */
	assert_int_equal(qmp_wait_event(&c.q, "MIGRATION", NULL, NULL, 0, NULL, &e), -ETIMEDOUT);
	err_release(&e);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(qmp_wait_event(&c.q, "MIGRATION", status_is, failed, 300, NULL, &e),
			 -ETIMEDOUT);
	long long ms = elapsed_ms(&t0);
	assert_true(ms >= 290 && ms < 1000);
	assert_non_null(strstr(e.msg, "MIGRATION"));
	err_release(&e);
	/* everything that came meanwhile is still queued, in order */
	assert_next_event(&c.q, "RESUME", NULL);
	assert_next_event(&c.q, "MIGRATION", "active");
	assert_next_event(&c.q, "MIGRATION", "completed");
	conn_close(&c);
}

static void test_wait_event_peer_exits(void **state)
{
	(void)state;
	struct conn c;
	conn_open(&c, PEER_MIGRATE_EXIT);
	struct err e = ERR_INIT;
	assert_int_equal(qmp_execute(&c.q, "migrate", NULL, 2000, NULL, &e), 0);
	assert_int_equal(qmp_wait_event(&c.q, "MIGRATION", status_is, completed, 2000, NULL, &e),
			 -EPIPE);
	assert_non_null(strstr(e.msg, "closed"));
	err_release(&e);
	assert_true(c.q.eof);
	/* what QEMU said before it went is kept (the shim reads SHUTDOWN's reason) */
	assert_next_event(&c.q, "MIGRATION", "active");
	assert_next_event(&c.q, "SHUTDOWN", NULL);
	conn_close(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decode_kinds),
	    cmocka_unit_test(test_decode_rejects),
	    cmocka_unit_test(test_framing),
	    cmocka_unit_test(test_bad_message_does_not_hide_next),
	    cmocka_unit_test(test_size_cap),
	    cmocka_unit_test(test_event_queue_cap),
	    cmocka_unit_test(test_execute_matches_id),
	    cmocka_unit_test(test_execute_error_reply),
	    cmocka_unit_test(test_execute_timeout),
	    cmocka_unit_test(test_eof),
	    cmocka_unit_test(test_wait_event_already_queued),
	    cmocka_unit_test(test_wait_event_blocks_until_it_comes),
	    cmocka_unit_test(test_wait_event_timeout),
	    cmocka_unit_test(test_wait_event_peer_exits),
	};
	return cmocka_run_group_tests_name("qmp", tests, NULL, NULL);
}
