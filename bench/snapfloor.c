/* The bare-QEMU floors of bench/snapshot.sh: what QEMU itself needs to
 * restore a snapshot and to save one, driven over QMP with nothing of mvm in
 * between. Self-contained (libc only): QMP lines are classified by their
 * top-level key, agent frames are built and parsed here (docs/agent-protocol.md).
 *
 *   snapfloor restore ARGV STATE CONSOLE [HOSTNAME]
 *       starts QEMU with the NUL-separated argv in file ARGV (a restored VM's
 *       /proc/PID/cmdline: -incoming defer -S, RAM file share=off), its
 *       chardevs con/qmp/agent replaced: QMP and agent on socketpairs (as the
 *       shim does), the console to file CONSOLE. Then qmp_capabilities,
 *       migrate-set-capabilities (x-ignore-shared, events), getfd STATE,
 *       migrate-incoming fd:…, the MIGRATION "completed" event, cont, and a
 *       HELLO on the agent port. Prints, in seconds since the fork:
 *           qmp=T paused=T running=T hello=T [ready=T]
 *       hello: the guest's HELLO reply read. With HOSTNAME it also sends
 *       IDENTITY (as the shim does) and waits for READY (ready=).
 *   snapfloor save ARGV STATE CONSOLE [poll]
 *       starts QEMU with argv ARGV (a snapshot-mode boot, RAM file share=on),
 *       waits for the agent's PARKED, then times what mvm's save does: stop,
 *       migrate-set-capabilities (x-ignore-shared, events), open STATE,
 *       getfd, migrate fd:…, the MIGRATION "completed" event, fsync.
 *       With "poll", the end of the migration is found as mvm found it
 *       before it waited for the event (query-migrate, napping 1, 2, 4, 8,
 *       16 ms between queries) instead of by its event. Prints: boot=T save=T (seconds)
 *   Both kill QEMU at the end. Exit 0 ok, 1 failure (message on stderr). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_MS 60000

static pid_t qemu = -1;
static int qmp = -1, agent = -1;
static double t0;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "snapfloor: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	if (qemu > 0) {
		kill(qemu, SIGKILL);
		waitpid(qemu, NULL, 0);
	}
	exit(1);
}

/* Waits until fd is readable, or dies after the deadline / when QEMU exits. */
static void wait_readable(int fd, double deadline)
{
	for (;;) {
		int left = (int)((deadline - now()) * 1000);
		if (left <= 0)
			die("timed out");
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, left);
		if (r > 0)
			return;
		if (r < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
	}
}

/* --- QMP: one JSON object per line ----------------------------------------- */

static char qbuf[1 << 16];
static size_t qlen;

/* The next QMP line (NUL-terminated, valid until the next call). */
static char *qmp_line(double deadline)
{
	static size_t consumed;
	if (consumed) {
		memmove(qbuf, qbuf + consumed, qlen - consumed);
		qlen -= consumed;
		consumed = 0;
	}
	for (;;) {
		char *nl = memchr(qbuf, '\n', qlen);
		if (nl) {
			*nl = 0;
			consumed = (size_t)(nl - qbuf) + 1;
			return qbuf;
		}
		if (qlen == sizeof(qbuf) - 1)
			die("QMP line too long");
		wait_readable(qmp, deadline);
		ssize_t n = read(qmp, qbuf + qlen, sizeof(qbuf) - 1 - qlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("QMP closed (QEMU exited?)");
		qlen += (size_t)n;
	}
}

static void send_all(int fd, const void *p, size_t n)
{
	const char *b = p;
	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			die("write: %s", strerror(errno));
		b += w;
		n -= (size_t)w;
	}
}

/* Sends cmd (a JSON object, one line), with fd as SCM_RIGHTS when >= 0, and
 * waits for its reply (returned; valid until the next QMP read); events that
 * come first are handed to on_event. */
static const char *qmp_cmd(const char *cmd, int fd, void (*on_event)(const char *))
{
	double deadline = now() + TIMEOUT_MS / 1000.0;
	size_t n = strlen(cmd);
	if (fd < 0) {
		send_all(qmp, cmd, n);
	} else {
		char ctl[CMSG_SPACE(sizeof(int))] = {0};
		struct iovec iov = {.iov_base = (void *)cmd, .iov_len = n};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = ctl,
				    .msg_controllen = sizeof(ctl)};
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
		if (sendmsg(qmp, &mh, 0) != (ssize_t)n)
			die("sendmsg: %s", strerror(errno));
	}
	for (;;) {
		char *l = qmp_line(deadline);
		if (!strncmp(l, "{\"return\"", 9))
			return l;
		if (!strncmp(l, "{\"error\"", 8))
			die("QMP %s: %s", cmd, l);
		if (on_event && strstr(l, "\"event\""))
			on_event(l);
	}
}

static int migration_done; /* 1 completed, -1 failed */

static void migration_event(const char *l)
{
	if (!strstr(l, "\"MIGRATION\""))
		return;
	if (strstr(l, "\"completed\""))
		migration_done = 1;
	else if (strstr(l, "\"failed\"") || strstr(l, "\"cancelled\""))
		migration_done = -1;
}

static void wait_migration(void)
{
	double deadline = now() + TIMEOUT_MS / 1000.0;
	while (!migration_done)
		migration_event(qmp_line(deadline));
	if (migration_done < 0)
		die("migration failed");
}

/* --- agent frames (12-byte header, big-endian) ------------------------------ */

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v;
}

static void send_frame(uint8_t type, const uint8_t *payload, uint32_t len)
{
	uint8_t f[12 + 1024];
	if (len > 1024)
		die("frame too big");
	f[0] = 'M', f[1] = 'V', f[2] = 1, f[3] = type;
	put32(f + 4, 0);
	put32(f + 8, len);
	memcpy(f + 12, payload, len);
	send_all(agent, f, 12 + len);
}

/* This connection's nonce: the guest's HELLO echoes it, and every frame
 * before that answer was queued for an earlier host (docs/agent-protocol.md). */
static uint8_t nonce[8];

static void send_hello(void)
{
	static const char me[] = "snapfloor";
	uint8_t p[16 + sizeof(me)];
	p[0] = 0, p[1] = 1, p[2] = 0, p[3] = 1;
	put32(p + 4, 65536);
	if (getrandom(nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce))
		die("getrandom");
	memcpy(p + 8, nonce, sizeof(nonce));
	memcpy(p + 16, me, sizeof(me) - 1);
	send_frame(1, p, 16 + sizeof(me) - 1);
}

static uint32_t put_str(uint8_t *p, const char *s)
{
	uint32_t n = (uint32_t)strlen(s) + 1;
	put32(p, n);
	memcpy(p + 4, s, n);
	return 4 + n;
}

static void send_identity(const char *hostname)
{
	uint8_t p[512];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	put32(p, (uint32_t)(ns >> 32));
	put32(p + 4, (uint32_t)ns);
	put32(p + 8, 64);
	if (getrandom(p + 12, 64, 0) != 64)
		die("getrandom");
	uint32_t off = 12 + 64;
	off += put_str(p + off, hostname);
	off += put_str(p + off, "");
	off += put_str(p + off, "");
	off += put_str(p + off, "");
	send_frame(7, p, off);
}

static uint8_t abuf[1 << 17];
static size_t alen;

/* Reads frames until one of type want arrives; dies on ERROR. */
/* Waits for a frame of type want; a HELLO only when it bears our nonce,
 * and an ERROR only after it (before, it was another host's). */
static void wait_frame(uint8_t want, double deadline)
{
	for (;;) {
		while (alen >= 12) {
			if (abuf[0] != 'M' || abuf[1] != 'V')
				die("agent: bad frame header");
			uint32_t len = (uint32_t)abuf[8] << 24 | (uint32_t)abuf[9] << 16 |
				       (uint32_t)abuf[10] << 8 | abuf[11];
			if (len > 65536)
				die("agent: frame too big");
			if (alen < 12 + len)
				break;
			uint8_t type = abuf[3];
			bool ours = type == 1 && len >= 16 && !memcmp(abuf + 20, nonce, 8);
			memmove(abuf, abuf + 12 + len, alen - 12 - len);
			alen -= 12 + len;
			if (type == want && (want != 1 || ours))
				return;
			if (type == 5 && want != 1)
				die("agent: ERROR frame from the guest");
		}
		wait_readable(agent, deadline);
		ssize_t n = read(agent, abuf + alen, sizeof(abuf) - alen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("agent channel closed");
		alen += (size_t)n;
	}
}

/* --- QEMU ------------------------------------------------------------------ */

static char **load_argv(const char *path, const char *console, int qmp_fd, int agent_fd)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	static char data[1 << 16];
	ssize_t n = read(fd, data, sizeof(data) - 1);
	close(fd);
	if (n <= 0 || n == (ssize_t)sizeof(data) - 1)
		die("%s: empty or too long", path);
	if (data[n - 1] != 0)
		data[n++] = 0;
	size_t argc = 0;
	for (ssize_t i = 0; i < n; i++)
		argc += data[i] == 0;
	char **argv = calloc(argc + 1, sizeof(*argv));
	int seen = 0;
	size_t k = 0;
	for (char *a = data; a < data + n; a += strlen(a) + 1) {
		if (!strncmp(a, "socket,id=con,", 14)) {
			asprintf(&argv[k++], "file,id=con,path=%s", console), seen++;
		} else if (!strncmp(a, "socket,id=qmp,", 14)) {
			asprintf(&argv[k++], "socket,id=qmp,fd=%d", qmp_fd), seen++;
		} else if (!strncmp(a, "socket,id=agent,", 16)) {
			asprintf(&argv[k++], "socket,id=agent,fd=%d", agent_fd), seen++;
		} else {
			argv[k++] = a;
		}
	}
	if (seen != 3)
		die("%s: expected the con, qmp and agent chardevs", path);
	return argv;
}

static void start(const char *argv_path, const char *console)
{
	int q[2], a[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, q) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a) < 0)
		die("socketpair: %s", strerror(errno));
	char **argv = load_argv(argv_path, console, q[1], a[1]);
	t0 = now();
	qemu = fork();
	if (qemu < 0)
		die("fork: %s", strerror(errno));
	if (qemu == 0) {
		/* QEMU dies with this helper, whatever kills it */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fcntl(q[1], F_SETFD, 0);
		fcntl(a[1], F_SETFD, 0);
		int nul = open("/dev/null", O_RDWR);
		dup2(nul, 0);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(q[1]);
	close(a[1]);
	qmp = q[0];
	agent = a[0];
	/* greeting, then capabilities negotiation */
	qmp_line(now() + TIMEOUT_MS / 1000.0);
	qmp_cmd("{\"execute\":\"qmp_capabilities\"}\n", -1, NULL);
}

static const char caps[] =
    "{\"execute\":\"migrate-set-capabilities\",\"arguments\":{\"capabilities\":["
    "{\"capability\":\"x-ignore-shared\",\"state\":true},"
    "{\"capability\":\"events\",\"state\":true}]}}\n";

static int do_restore(const char *argv_path, const char *state, const char *console,
		      const char *hostname)
{
	int sfd = open(state, O_RDONLY | O_CLOEXEC);
	if (sfd < 0)
		die("%s: %s", state, strerror(errno));
	start(argv_path, console);
	double t_qmp = now();
	qmp_cmd(caps, -1, migration_event);
	qmp_cmd("{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"st\"}}\n", sfd,
		migration_event);
	close(sfd);
	qmp_cmd("{\"execute\":\"migrate-incoming\",\"arguments\":{\"uri\":\"fd:st\"}}\n", -1,
		migration_event);
	wait_migration();
	double t_paused = now();
	qmp_cmd("{\"execute\":\"cont\"}\n", -1, NULL);
	double t_run = now();
	send_hello();
	wait_frame(1, now() + TIMEOUT_MS / 1000.0);
	double t_hello = now();
	printf("qmp=%.6f paused=%.6f running=%.6f hello=%.6f", t_qmp - t0, t_paused - t0,
	       t_run - t0, t_hello - t0);
	if (hostname) {
		send_identity(hostname);
		wait_frame(4, now() + TIMEOUT_MS / 1000.0);
		printf(" ready=%.6f", now() - t0);
	}
	printf("\n");
	kill(qemu, SIGKILL);
	waitpid(qemu, NULL, 0);
	return 0;
}

static void nap_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

/* How src/vmm/qemu.c used to wait for the end of a save (it now waits for
 * the MIGRATION event): query-migrate, with naps of 1, 2, 4, 8, then 16 ms
 * between the queries. */
static void poll_migration(void)
{
	long nap = 1;
	for (;;) {
		const char *l = qmp_cmd("{\"execute\":\"query-migrate\"}\n", -1, NULL);
		if (strstr(l, "\"completed\""))
			return;
		if (strstr(l, "\"failed\"") || strstr(l, "\"cancelled\""))
			die("migration failed: %s", l);
		nap_ms(nap);
		nap = nap < 16 ? nap * 2 : nap;
	}
}

static int do_save(const char *argv_path, const char *state, const char *console, bool poll)
{
	start(argv_path, console);
	send_hello();
	wait_frame(1, now() + TIMEOUT_MS / 1000.0);
	wait_frame(8, now() + TIMEOUT_MS / 1000.0); /* PARKED */
	double t_boot = now();
	qmp_cmd("{\"execute\":\"stop\"}\n", -1, NULL);
	qmp_cmd(caps, -1, NULL);
	int fd = open(state, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die("%s: %s", state, strerror(errno));
	qmp_cmd("{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"st\"}}\n", fd, migration_event);
	qmp_cmd("{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"fd:st\"}}\n", -1,
		migration_event);
	if (poll)
		poll_migration();
	else
		wait_migration();
	if (fsync(fd) < 0)
		die("fsync: %s", strerror(errno));
	close(fd);
	double t_saved = now();
	printf("boot=%.6f save=%.6f\n", t_boot - t0, t_saved - t_boot);
	kill(qemu, SIGKILL);
	waitpid(qemu, NULL, 0);
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 5 && argc <= 6 && !strcmp(argv[1], "restore"))
		return do_restore(argv[2], argv[3], argv[4], argc == 6 ? argv[5] : NULL);
	if (argc >= 5 && argc <= 6 && !strcmp(argv[1], "save"))
		return do_save(argv[2], argv[3], argv[4], argc == 6 && !strcmp(argv[5], "poll"));
	fprintf(stderr, "usage: snapfloor restore ARGV STATE CONSOLE [HOSTNAME]\n"
			"       snapfloor save ARGV STATE CONSOLE [poll]\n");
	return 2;
}
