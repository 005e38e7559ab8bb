#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/jsonio.h"
#include "core/util.h"
#include "shim/ctl.h"

int ctl_connect(const char *run_dir, int *fd, struct err *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", run_dir, SHIM_CTL_NAME);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return err_set(e, -ENAMETOOLONG, EXIT_FAILED, "control socket path too long: %s/%s",
			       run_dir, SHIM_CTL_NAME);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return err_sys(e, -errno, EXIT_FAILED, "socket");
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;
		close(s);
		return err_sys(e, r, EXIT_FAILED, "connecting to '%s'", sa.sun_path);
	}
	*fd = s;
	return 0;
}

int ctl_read_line(int fd, struct strbuf *line, size_t max, long long deadline)
{
	strbuf_reset(line);
	for (;;) {
		long long left = deadline - mono_ms();
		struct pollfd p = {.fd = fd, .events = POLLIN};
		/* past the deadline, what has arrived is still read: a reader that
		 * was not scheduled for a while must not take its peer for silent */
		int ready = poll(&p, 1, left > 0 ? (int)left : 0);
		if (ready <= 0 && left <= 0 && !(ready < 0 && errno == EINTR))
			return -ETIMEDOUT;
		if (ready <= 0)
			continue;
		char c;
		ssize_t n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		if (c == '\n')
			return 1;
		if (line->len >= max)
			return -EMSGSIZE;
		strbuf_addch(line, c);
	}
}

int ctl_request(int fd, const char *op, int timeout_ms, json_t **reply, struct err *e)
{
	struct strbuf req = STRBUF_INIT;
	strbuf_addf(&req, "{\"op\":\"%s\"}\n", op);
	ssize_t w = send(fd, req.buf, req.len, MSG_NOSIGNAL);
	strbuf_release(&req);
	if (w < 0)
		return err_sys(e, -errno, EXIT_FAILED, "sending '%s' to the supervisor", op);
	struct strbuf line = STRBUF_INIT;
	int r = ctl_read_line(fd, &line, SHIM_MAX_REPLY, mono_ms() + timeout_ms);
	if (r == -ETIMEDOUT)
		err_set(e, r, EXIT_FAILED, "the supervisor did not answer '%s' within %d s", op,
			timeout_ms / 1000);
	else if (r == -EMSGSIZE)
		err_set(e, r, EXIT_FAILED, "the supervisor's reply is too long");
	else if (r == 0)
		r = err_set(e, -EPIPE, EXIT_FAILED,
			    "the supervisor closed the connection before answering '%s'", op);
	if (r > 0)
		r = 0;
	json_t *doc = NULL;
	if (r == 0)
		r = json_parse_buf(line.buf, line.len, "supervisor reply", &doc, e);
	strbuf_release(&line);
	if (r < 0)
		return r;
	if (!json_is_true(json_object_get(doc, "ok"))) {
		const char *msg = json_get_str(doc, "error");
		r = err_set(e, -EIO, EXIT_FAILED, "%s", msg ? msg : "the supervisor refused");
		json_decref(doc);
		return r;
	}
	if (reply)
		*reply = doc;
	else
		json_decref(doc);
	return 0;
}
