#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/util.h"
#include "shim/netproxy.h"

static int dial(const char *host, const char *port, struct err *e)
{
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
	int g = getaddrinfo(host, port, &hints, &res);
	if (g != 0)
		return err_set(e, -EHOSTUNREACH, EXIT_FAILED, "netproxy: %s: %s", host,
			       gai_strerror(g));
	int fd = -1, r = -ECONNREFUSED;
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			r = -errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		return err_sys(e, r, EXIT_FAILED, "netproxy: connecting to %s:%s", host, port);
	return fd;
}

/* Moves what is readable from in to out; false at its end (or an error). */
static bool pump(int in, int out)
{
	char buf[16384];
	ssize_t n = read(in, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	for (ssize_t off = 0; off < n;) {
		ssize_t w = write(out, buf + off, (size_t)(n - off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		off += w;
	}
	return true;
}

int netproxy_main(const char *host, const char *port, struct err *e)
{
	signal(SIGPIPE, SIG_IGN); /* a side that went is an end, not a death */
	int peer = dial(host, port, e);
	if (peer < 0)
		return peer;
	bool guest_open = true, peer_open = true;
	while (guest_open || peer_open) {
		struct pollfd p[2] = {{.fd = guest_open ? 0 : -1, .events = POLLIN},
				      {.fd = peer_open ? peer : -1, .events = POLLIN}};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (guest_open && (p[0].revents & (POLLIN | POLLHUP | POLLERR)) && !pump(0, peer)) {
			guest_open = false;
			shutdown(peer, SHUT_WR);
		}
		if (peer_open && (p[1].revents & (POLLIN | POLLHUP | POLLERR)) && !pump(peer, 1)) {
			peer_open = false;
			shutdown(1, SHUT_WR);
		}
	}
	close(peer);
	return 0;
}
