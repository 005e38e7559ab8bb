/* The bare-QEMU floors of bench/fleet.sh, built on bench/snapfloor.c's QMP
 * and agent helpers (included: libc only, same conventions). QEMU gets the
 * argv of an mvm instance (NUL-separated, /proc/PID/cmdline), its con, qmp
 * and agent chardevs replaced (console to a file, QMP and agent on
 * socketpairs as the shim has them).
 *
 *   fleetfloor cycle ARGV STATE MEM CONSOLE K
 *       one sleep/wake cycle of the floor, what mvm's wake, resume and sleep
 *       do with nothing of mvm in between:
 *       wake:  exec QEMU (-incoming defer, RAM file MEM share=on),
 *              qmp_capabilities, migrate-set-capabilities (x-ignore-shared,
 *              events), getfd STATE, migrate-incoming, the MIGRATION
 *              completed event, cont, HELLO; then WAKE (as the shim sends it)
 *              and READY. Printed: hello= (fork to the HELLO reply), ready=
 *              (the READY following HELLO, sent before the guest saw the
 *              WAKE), woke= (the READY answering WAKE: what the shim's wake
 *              waits for, its PING's PONG says the WAKE was applied).
 *       warm:  K times: stop (untimed), then cont + one PING/PONG round trip
 *              on the agent port. Printed: warm=T1,T2,...
 *       sleep: stop, capabilities, getfd STATE (truncated), migrate fd:,
 *              the completed event, fsync STATE, SIGKILL + waitpid of QEMU,
 *              fsync MEM (+ POSIX_FADV_DONTNEED, as mvm does). Printed: save=
 *       STATE and MEM are left as a later cycle restores them.
 *   fleetfloor hold ARGV STATE CONSOLE HOSTNAME
 *       restore as above but from a pool snapshot (IDENTITY instead of WAKE,
 *       to READY), then stop (paused, as a warm instance is); prints
 *       "pid=QEMU_PID" and keeps QEMU until stdin reaches EOF. */
#define main snapfloor_main
#include "snapfloor.c"
#undef main

static void send_wake(void)
{
	/* IDENTITY's payload; hostname "" = unchanged */
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
	for (int i = 0; i < 4; i++)
		off += put_str(p + off, "");
	send_frame(9, p, off);
}

static void restore_to_running(const char *argv_path, const char *state, const char *console)
{
	int sfd = open(state, O_RDONLY | O_CLOEXEC);
	if (sfd < 0)
		die("%s: %s", state, strerror(errno));
	start(argv_path, console);
	qmp_cmd(caps, -1, migration_event);
	qmp_cmd("{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"st\"}}\n", sfd,
		migration_event);
	close(sfd);
	qmp_cmd("{\"execute\":\"migrate-incoming\",\"arguments\":{\"uri\":\"fd:st\"}}\n", -1,
		migration_event);
	wait_migration();
	qmp_cmd("{\"execute\":\"cont\"}\n", -1, NULL);
	send_hello();
	wait_frame(1, now() + TIMEOUT_MS / 1000.0);
}

static int do_cycle(const char *argv_path, const char *state, const char *mem, const char *console,
		    int k)
{
	restore_to_running(argv_path, state, console);
	double t_hello = now();
	send_wake();
	wait_frame(4, now() + TIMEOUT_MS / 1000.0);
	double t_ready = now(); /* the READY that follows HELLO, before the WAKE is seen */
	wait_frame(4, now() + TIMEOUT_MS / 1000.0);
	double t_woke =
	    now(); /* the READY answering WAKE: the guest applied it (the shim's wait) */
	printf("hello=%.6f ready=%.6f woke=%.6f warm=", t_hello - t0, t_ready - t0, t_woke - t0);
	for (int i = 0; i < k; i++) {
		qmp_cmd("{\"execute\":\"stop\"}\n", -1, NULL);
		nap_ms(20);
		double a = now();
		qmp_cmd("{\"execute\":\"cont\"}\n", -1, NULL);
		send_frame(2, (const uint8_t *)"fleetfloor", 10);
		wait_frame(3, now() + TIMEOUT_MS / 1000.0);
		printf("%s%.6f", i ? "," : "", now() - a);
	}
	nap_ms(20);
	/* sleep */
	migration_done = 0;
	double s0 = now();
	qmp_cmd("{\"execute\":\"stop\"}\n", -1, NULL);
	qmp_cmd(caps, -1, NULL);
	int fd = open(state, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die("%s: %s", state, strerror(errno));
	qmp_cmd("{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"st\"}}\n", fd, migration_event);
	qmp_cmd("{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"fd:st\"}}\n", -1,
		migration_event);
	wait_migration();
	if (fsync(fd) < 0)
		die("fsync: %s", strerror(errno));
	close(fd);
	kill(qemu, SIGKILL);
	waitpid(qemu, NULL, 0);
	qemu = -1;
	int mfd = open(mem, O_RDWR | O_CLOEXEC);
	if (mfd < 0 || fsync(mfd) < 0)
		die("%s: %s", mem, strerror(errno));
	posix_fadvise(mfd, 0, 0, POSIX_FADV_DONTNEED);
	close(mfd);
	printf(" save=%.6f\n", now() - s0);
	return 0;
}

static int do_hold(const char *argv_path, const char *state, const char *console,
		   const char *hostname)
{
	restore_to_running(argv_path, state, console);
	send_identity(hostname);
	wait_frame(4, now() + TIMEOUT_MS / 1000.0);
	qmp_cmd("{\"execute\":\"stop\"}\n", -1, NULL);
	printf("pid=%d\n", (int)qemu);
	fflush(stdout);
	char c;
	while (read(0, &c, 1) > 0)
		;
	kill(qemu, SIGKILL);
	waitpid(qemu, NULL, 0);
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 7 && !strcmp(argv[1], "cycle"))
		return do_cycle(argv[2], argv[3], argv[4], argv[5], atoi(argv[6]));
	if (argc == 6 && !strcmp(argv[1], "hold"))
		return do_hold(argv[2], argv[3], argv[4], argv[5]);
	fprintf(stderr, "usage: fleetfloor cycle ARGV STATE MEM CONSOLE K\n"
			"       fleetfloor hold ARGV STATE CONSOLE HOSTNAME\n");
	return 2;
}
