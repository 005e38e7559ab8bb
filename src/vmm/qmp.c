#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/util.h"
#include "vmm/qmp.h"

void qmp_msg_release(struct qmp_msg *m)
{
	if (!m)
		return;
	free(m->event);
	free(m->error_class);
	free(m->error_desc);
	json_decref(m->data);
	*m = (struct qmp_msg)QMP_MSG_INIT;
}

static int proto(struct err *e, const char *what)
{
	return err_set(e, -EPROTO, EXIT_FAILED, "QMP: malformed message: %s", what);
}

int qmp_decode(const char *buf, size_t len, struct qmp_msg *out, struct err *e)
{
	*out = (struct qmp_msg)QMP_MSG_INIT;
	json_error_t jerr;
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return err_set(e, -EPROTO, EXIT_FAILED, "QMP: malformed message: %s", jerr.text);
	int ret = 0;
	if (!json_is_object(root)) {
		ret = proto(e, "not an object");
		goto out;
	}
	json_t *id = json_object_get(root, "id");
	out->id = json_is_integer(id) ? json_integer_value(id) : -1;
	json_t *v;
	if ((v = json_object_get(root, "QMP"))) {
		if (!json_is_object(v)) {
			ret = proto(e, "greeting 'QMP' is not an object");
			goto out;
		}
		out->kind = QMP_GREETING;
		out->data = json_incref(v);
	} else if ((v = json_object_get(root, "return"))) {
		out->kind = QMP_RETURN;
		out->data = json_incref(v);
	} else if ((v = json_object_get(root, "error"))) {
		const char *cls = NULL, *desc = NULL;
		if (json_unpack_ex(v, &jerr, 0, "{s?s, s?s}", "class", &cls, "desc", &desc) < 0 ||
		    !json_is_object(v)) {
			ret = err_set(e, -EPROTO, EXIT_FAILED, "QMP: malformed error reply: %s",
				      jerr.text);
			goto out;
		}
		out->kind = QMP_ERROR;
		out->error_class = xstrdup(cls ? cls : "GenericError");
		out->error_desc = xstrdup(desc ? desc : "(no description)");
	} else if ((v = json_object_get(root, "event"))) {
		if (!json_is_string(v)) {
			ret = proto(e, "event name is not a string");
			goto out;
		}
		json_t *data = json_object_get(root, "data");
		if (data && !json_is_object(data)) {
			ret = proto(e, "event data is not an object");
			goto out;
		}
		out->kind = QMP_EVENT;
		out->event = xstrdup(json_string_value(v));
		out->data = json_incref(data);
	} else {
		ret = proto(e, "none of QMP, return, error, event");
	}
out:
	json_decref(root);
	if (ret < 0)
		qmp_msg_release(out);
	return ret;
}

void qmp_init(struct qmp *q, int fd)
{
	*q = (struct qmp)QMP_INIT;
	q->fd = fd;
	q->next_id = 1;
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

void qmp_release(struct qmp *q)
{
	strbuf_release(&q->in);
	while (q->ev_len) {
		qmp_msg_release(&q->events[q->ev_head]);
		q->ev_head = (q->ev_head + 1) % QMP_MAX_EVENTS;
		q->ev_len--;
	}
}

static void queue_event(struct qmp *q, struct qmp_msg *m)
{
	if (q->ev_len == QMP_MAX_EVENTS) {
		qmp_msg_release(&q->events[q->ev_head]);
		q->ev_head = (q->ev_head + 1) % QMP_MAX_EVENTS;
		q->ev_len--;
		q->ev_dropped++;
	}
	q->events[(q->ev_head + q->ev_len) % QMP_MAX_EVENTS] = *m;
	q->ev_len++;
	*m = (struct qmp_msg)QMP_MSG_INIT;
}

int qmp_event_pop(struct qmp *q, struct qmp_msg *out)
{
	if (!q->ev_len)
		return 0;
	*out = q->events[q->ev_head];
	q->events[q->ev_head] = (struct qmp_msg)QMP_MSG_INIT;
	q->ev_head = (q->ev_head + 1) % QMP_MAX_EVENTS;
	q->ev_len--;
	return 1;
}

int qmp_feed(struct qmp *q, const void *data, size_t len,
	     void (*on_reply)(struct qmp_msg *m, void *arg), void *arg, struct err *e)
{
	strbuf_add(&q->in, data, len);
	int ret = 0;
	size_t start = 0;
	for (;;) {
		char *nl = memchr(q->in.buf + start, '\n', q->in.len - start);
		if (!nl)
			break;
		size_t n = (size_t)(nl - (q->in.buf + start));
		const char *line = q->in.buf + start;
		start += n + 1;
		size_t skip = 0;
		while (skip < n && strchr(" \t\r", line[skip]))
			skip++;
		if (skip == n)
			continue;
		if (n > QMP_MAX_MSG) {
			if (!ret)
				ret = err_set(e, -EMSGSIZE, EXIT_FAILED,
					      "QMP: message of %zu bytes is over the %u-byte limit",
					      n, QMP_MAX_MSG);
			continue;
		}
		struct qmp_msg m;
		struct err derr = ERR_INIT;
		if (qmp_decode(line, n, &m, &derr) < 0) {
			/* keep going: one bad message must not hide the next reply */
			if (!ret)
				ret = err_set(e, -EPROTO, EXIT_FAILED, "%s", derr.msg);
			err_release(&derr);
			continue;
		}
		if (m.kind == QMP_EVENT)
			queue_event(q, &m);
		else if (on_reply)
			on_reply(&m, arg);
		qmp_msg_release(&m);
	}
	if (start) {
		memmove(q->in.buf, q->in.buf + start, q->in.len - start);
		q->in.len -= start;
		q->in.buf[q->in.len] = '\0';
	}
	if (q->in.len > QMP_MAX_MSG) {
		strbuf_reset(&q->in);
		if (!ret)
			ret = err_set(e, -EMSGSIZE, EXIT_FAILED,
				      "QMP: a message went past the %u-byte limit", QMP_MAX_MSG);
	}
	return ret;
}

/* Reads once (non-blocking). 1: got bytes; 0: nothing now; -EPIPE: EOF. */
static int read_some(struct qmp *q, void (*on_reply)(struct qmp_msg *, void *), void *arg,
		     struct err *e)
{
	char buf[65536];
	ssize_t r = read(q->fd, buf, sizeof(buf));
	if (r < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		if (errno == ECONNRESET) {
			q->eof = true;
			return -EPIPE;
		}
		return err_sys(e, -errno, EXIT_FAILED, "QMP: read");
	}
	if (r == 0) {
		q->eof = true;
		return -EPIPE;
	}
	int ret = qmp_feed(q, buf, (size_t)r, on_reply, arg, e);
	return ret < 0 ? ret : 1;
}

int qmp_poll_events(struct qmp *q, struct err *e)
{
	for (;;) {
		int r = read_some(q, NULL, NULL, e);
		if (r <= 0)
			return r;
	}
}

/* Takes the oldest queued event called name that match accepts out of the
 * queue into *out; the events after it move up, keeping their order. */
static bool take_event(struct qmp *q, const char *name,
		       bool (*match)(const json_t *data, void *arg), void *arg, struct qmp_msg *out)
{
	for (size_t i = 0; i < q->ev_len; i++) {
		struct qmp_msg *m = &q->events[(q->ev_head + i) % QMP_MAX_EVENTS];
		if (strcmp(m->event, name) || (match && !match(m->data, arg)))
			continue;
		*out = *m;
		for (size_t j = i; j + 1 < q->ev_len; j++)
			q->events[(q->ev_head + j) % QMP_MAX_EVENTS] =
			    q->events[(q->ev_head + j + 1) % QMP_MAX_EVENTS];
		q->ev_len--;
		q->events[(q->ev_head + q->ev_len) % QMP_MAX_EVENTS] = (struct qmp_msg)QMP_MSG_INIT;
		return true;
	}
	return false;
}

int qmp_wait_event(struct qmp *q, const char *name, bool (*match)(const json_t *data, void *arg),
		   void *arg, int timeout_ms, struct qmp_msg *out, struct err *e)
{
	long long deadline = mono_ms() + timeout_ms;
	struct qmp_msg m = QMP_MSG_INIT;
	/* a look at the queue after every read: only a burst of more than
	 * QMP_MAX_EVENTS events in one read could push the awaited one out */
	while (!take_event(q, name, match, arg, &m)) {
		if (q->eof)
			return err_set(e, -EPIPE, EXIT_FAILED,
				       "QMP: the VMM closed the connection before the %s event",
				       name);
		long long left = deadline - mono_ms();
		struct pollfd p = {.fd = q->fd, .events = POLLIN};
		int r = poll(&p, 1, left > 0 ? (int)left : 0);
		if (r < 0 && errno != EINTR)
			return err_sys(e, -errno, EXIT_FAILED, "QMP: poll");
		if (r == 0)
			return err_set(e, -ETIMEDOUT, EXIT_FAILED, "QMP: no %s event within %d ms",
				       name, timeout_ms);
		if (r < 0)
			continue;
		struct err rerr = ERR_INIT;
		r = read_some(q, NULL, NULL, &rerr); /* replies now are late ones: dropped */
		/* EOF is reported once the queue has been looked at; a malformed
		 * message does not hide the events after it */
		if (r < 0 && r != -EPIPE && r != -EPROTO && r != -EMSGSIZE) {
			err_set(e, r, EXIT_FAILED, "%s", rerr.msg);
			err_release(&rerr);
			return r;
		}
		err_release(&rerr);
	}
	if (out)
		*out = m;
	else
		qmp_msg_release(&m);
	return 0;
}

struct waiter {
	long long id; /* -1: the greeting */
	bool got;
	struct qmp_msg msg;
};

static void on_reply(struct qmp_msg *m, void *arg)
{
	struct waiter *w = arg;
	if (w->got)
		return;
	bool match = w->id < 0 ? m->kind == QMP_GREETING : m->id == w->id;
	if (!match)
		return; /* a late reply to a command given up on */
	w->msg = *m;
	*m = (struct qmp_msg)QMP_MSG_INIT;
	w->got = true;
}

static int wait_for(struct qmp *q, struct waiter *w, long long deadline, struct err *e)
{
	long long timeout = deadline - mono_ms();
	while (!w->got) {
		if (q->eof)
			return err_set(e, -EPIPE, EXIT_FAILED,
				       "QMP: the VMM closed the connection");
		long long left = deadline - mono_ms();
		if (left <= 0)
			return err_set(e, -ETIMEDOUT, EXIT_FAILED, "QMP: no reply within %lld ms",
				       timeout);
		struct pollfd p = {.fd = q->fd, .events = POLLIN};
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno != EINTR)
			return err_sys(e, -errno, EXIT_FAILED, "QMP: poll");
		if (r <= 0)
			continue;
		struct err rerr = ERR_INIT;
		r = read_some(q, on_reply, w, &rerr);
		if (r == -EPIPE)
			continue; /* loop reports EOF unless the reply came with it */
		if (r < 0 && !w->got) {
			err_set(e, r, EXIT_FAILED, "%s", rerr.msg);
			err_release(&rerr);
			return r;
		}
		err_release(&rerr);
	}
	return 0;
}

/* Sends buf; with pass_fd >= 0 the descriptor rides along (SCM_RIGHTS) on
 * the first byte that goes out, as QMP's getfd expects. */
static int send_all(struct qmp *q, const char *buf, size_t len, int pass_fd, long long deadline,
		    struct err *e)
{
	while (len) {
		ssize_t w;
		if (pass_fd >= 0) {
			union {
				char buf[CMSG_SPACE(sizeof(int))];
				struct cmsghdr align;
			} ctl;
			memset(&ctl, 0, sizeof(ctl));
			struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
			struct msghdr mh = {.msg_iov = &iov,
					    .msg_iovlen = 1,
					    .msg_control = ctl.buf,
					    .msg_controllen = sizeof(ctl.buf)};
			struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
			w = sendmsg(q->fd, &mh, MSG_NOSIGNAL);
			if (w > 0)
				pass_fd = -1;
		} else {
			w = send(q->fd, buf, len, MSG_NOSIGNAL); /* no SIGPIPE */
		}
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				long long left = deadline - mono_ms();
				if (left <= 0)
					return err_set(e, -ETIMEDOUT, EXIT_FAILED,
						       "QMP: the VMM does not read its socket");
				struct pollfd p = {.fd = q->fd, .events = POLLOUT};
				poll(&p, 1, (int)left);
				continue;
			}
			int err = errno;
			if (err == EPIPE || err == ECONNRESET) {
				/* the peer is gone: keep what it said before (SHUTDOWN …) */
				struct err ig = ERR_INIT;
				qmp_poll_events(q, &ig);
				err_release(&ig);
				q->eof = true;
			}
			return err_sys(e, -err, EXIT_FAILED, "QMP: write");
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

static int send_cmd(struct qmp *q, const char *cmd, json_t *args, int pass_fd, long long id,
		    long long deadline, struct err *e)
{
	json_t *obj = json_pack("{s:s, s:I}", "execute", cmd, "id", (json_int_t)id);
	if (args)
		json_object_set_new(obj, "arguments", args);
	char *s = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (!s)
		return err_set(e, -ENOMEM, EXIT_FAILED, "QMP: cannot encode '%s'", cmd);
	struct strbuf line = STRBUF_INIT;
	strbuf_addstr(&line, s);
	strbuf_addstr(&line, "\r\n");
	free(s);
	int r = send_all(q, line.buf, line.len, pass_fd, deadline, e);
	strbuf_release(&line);
	return r;
}

int qmp_execute(struct qmp *q, const char *cmd, json_t *args, int timeout_ms, json_t **ret,
		struct err *e)
{
	return qmp_execute_fd(q, cmd, args, -1, timeout_ms, ret, e);
}

int qmp_execute_fd(struct qmp *q, const char *cmd, json_t *args, int pass_fd, int timeout_ms,
		   json_t **ret, struct err *e)
{
	long long deadline = mono_ms() + timeout_ms;
	struct waiter w = {.id = q->next_id++, .msg = QMP_MSG_INIT};
	int r = send_cmd(q, cmd, args, pass_fd, w.id, deadline, e);
	if (r < 0)
		return err_prefix(e, r, "%s", cmd);
	r = wait_for(q, &w, deadline, e);
	if (r < 0)
		return err_prefix(e, r, "%s", cmd);
	if (w.msg.kind == QMP_ERROR) {
		r = err_set(e, -EIO, EXIT_FAILED, "QMP %s: %s: %s", cmd, w.msg.error_class,
			    w.msg.error_desc);
	} else if (w.msg.kind != QMP_RETURN) {
		r = err_set(e, -EPROTO, EXIT_FAILED, "QMP %s: unexpected reply", cmd);
	} else if (ret) {
		*ret = TAKE_PTR(w.msg.data);
	}
	qmp_msg_release(&w.msg);
	return r;
}

int qmp_execute_final(struct qmp *q, const char *cmd, int timeout_ms, struct err *e)
{
	struct err xerr = ERR_INIT;
	int r = qmp_execute(q, cmd, NULL, timeout_ms, NULL, &xerr);
	if (r == -EPIPE || (r < 0 && q->eof))
		r = 0;
	if (r < 0)
		err_set(e, r, xerr.exit, "%s", xerr.msg);
	err_release(&xerr);
	return r;
}

int qmp_handshake(struct qmp *q, int timeout_ms, struct err *e)
{
	long long deadline = mono_ms() + timeout_ms;
	struct waiter w = {.id = -1, .msg = QMP_MSG_INIT};
	int r = wait_for(q, &w, deadline, e);
	if (r < 0)
		return err_prefix(e, r, "waiting for the QMP greeting");
	qmp_msg_release(&w.msg);
	long long left = deadline - mono_ms();
	return qmp_execute(q, "qmp_capabilities", NULL, left > 0 ? (int)left : 1, NULL, e);
}
