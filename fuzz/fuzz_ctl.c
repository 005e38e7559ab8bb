/* libFuzzer harness for the control socket's line protocol (src/shim/ctl.c):
 * the input, through a real socketpair, is read line by line by
 * ctl_read_line with the shim's request cap, and each line is parsed as
 * the shim parses a request (json_parse_buf, then "op"); then the whole
 * input is read as the reply to a client's ctl_request, as mvmctl reads
 * its supervisor's answer. Nothing may crash or leak; a line is never
 * longer than its cap, and a read never consumes past its newline.
 *
 *   make fuzz && build/fuzz/fuzz_ctl fuzz/corpus/ctl
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/jsonio.h"
#include "shim/ctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A socketpair whose one end holds data and is shut for writing. */
static int feed(const uint8_t *data, size_t size, int *other)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (size && send(sv[1], data, size, MSG_NOSIGNAL) != (ssize_t)size)
		abort();
	shutdown(sv[1], SHUT_WR);
	*other = sv[1];
	return sv[0];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 64 << 10)
		return 0; /* one socket buffer */
	int peer, fd = feed(data, size, &peer);
	struct strbuf line = STRBUF_INIT;
	size_t consumed = 0;
	int r;
	while ((r = ctl_read_line(fd, &line, SHIM_MAX_REQUEST, mono_ms() + 1000)) == 1) {
		if (line.len > SHIM_MAX_REQUEST || consumed + line.len >= size ||
		    memcmp(data + consumed, line.buf, line.len) ||
		    data[consumed + line.len] != '\n')
			abort();
		consumed += line.len + 1;
		json_t *req = NULL;
		struct err e = ERR_INIT;
		if (json_parse_buf(line.buf, line.len, "control request", &req, &e) == 0) {
			const char *op = json_get_str(req, "op");
			(void)op;
			json_decref(req);
		} else if (!e.msg) {
			abort(); /* a refusal says why: the shim replies with it */
		}
		err_release(&e);
	}
	if (r == -ETIMEDOUT)
		abort(); /* the peer is shut: end of file, never a wait */
	strbuf_release(&line);
	close(fd);
	close(peer);

	/* the same bytes as a supervisor's reply to a request */
	fd = feed(data, size, &peer);
	json_t *reply = NULL;
	struct err e = ERR_INIT;
	if (ctl_request(fd, "status", 1000, &reply, &e) == 0) {
		if (!json_is_true(json_object_get(reply, "ok")))
			abort();
		json_decref(reply);
	} else if (!e.msg) {
		abort();
	}
	err_release(&e);
	close(fd);
	close(peer);
	return 0;
}
