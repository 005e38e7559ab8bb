/* mvm-init: PID 1 of every mvm guest.
 *
 * Runs from the initramfs: mounts /proc, /sys, /dev, loads the modules the
 * initramfs carries, makes /dev/vda (read-only) + a tmpfs overlay the root,
 * and keeps running as PID 1 inside it: hostname, network, services, agent.
 * It never exits (that would panic the kernel): fatal errors power off.
 *
 * With mvm.snapshot=1 on the command line it stops after the generic part
 * (the agent serves, nothing VM-specific is done) and tells the host it is
 * parked; identity.c does the rest when the host sends IDENTITY.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"

#define FINAL_GRACE_MS 2000u

static struct watch sig_watch = {.fd = -1};
static bool shutting_down;
static uint64_t hard_deadline;

static void reap(void)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid <= 0)
			return;
		if (!services_reap(pid, status))
			agent_reap(pid, status);
	}
}

void shutdown_request(const char *why)
{
	if (shutting_down)
		return;
	shutting_down = true;
	log_msg("shutting down (%s)", why);
	services_stop();
	hard_deadline = now_ms() + 5000 + FINAL_GRACE_MS;
	timer_want(hard_deadline);
}

static void __attribute__((noreturn)) finish(void)
{
	/* Whatever is left (daemons, exec sessions) gets a last chance, then none. */
	kill(-1, SIGTERM);
	kill(-1, SIGKILL);
	reap();
	mounts_shutdown();
	log_msg("powering off");
	power_off();
}

static void on_signal(struct watch *w, uint32_t events)
{
	(void)events;
	struct signalfd_siginfo si;
	while (read(w->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap();
			break;
		case SIGTERM:
		case SIGINT: /* Ctrl-Alt-Del */
		case SIGPWR:
		case SIGUSR2:
			shutdown_request(strsignal((int)si.ssi_signo));
			break;
		default:
			break;
		}
	}
}

int main(void)
{
	if (getpid() != 1) {
		fprintf(stderr, "mvm-init: this is the guest's init; it only runs as PID 1\n");
		return 1;
	}
	console_setup();
	umask(022);
	setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);

	sigset_t set;
	sigemptyset(&set);
	int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGPWR, SIGUSR1, SIGUSR2, SIGHUP, SIGPIPE};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&set, sigs[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	reboot(RB_DISABLE_CAD); /* Ctrl-Alt-Del becomes SIGINT to us */

	mounts_early();
	console_setup();
	modules_load("/lib/modules");
	mounts_switch_root();
	mounts_late();
	char *snap = cmdline_get("mvm.snapshot");
	bool snapshot = snap && !strcmp(snap, "1");
	free(snap);
	if (!snapshot) {
		mounts_data();
		mounts_secrets();
		char *builder = cmdline_get("mvm.builder");
		if (builder && !strcmp(builder, "1"))
			mounts_builder();
		free(builder);
		char *name = cmdline_get("mvm.hostname");
		hostname_setup(name);
		free(name);
		char *ip = cmdline_get("mvm.ip"), *gw = cmdline_get("mvm.gw"),
		     *dns = cmdline_get("mvm.dns");
		network_setup(ip, gw, dns);
		free(ip);
		free(gw);
		free(dns);
	}

	if (loop_init() < 0)
		fatal("event loop: %s", strerror(errno));
	sig_watch.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sig_watch.fd < 0)
		fatal("signalfd: %s", strerror(errno));
	sig_watch.fn = on_signal;
	loop_add(&sig_watch, EPOLLIN);

	/* What is the same for every VM restored from a snapshot is done before
	 * the snapshot is taken; identity.c does the rest after. */
	services_load(UNIT_DIR);
	if (snapshot) {
		mounts_scan_disks();
		network_prepare();
		log_msg("snapshot mode: waiting for the host's identity");
	}
	agent_start(snapshot);
	inject_start();
	if (!snapshot)
		services_start();
	reap();

	for (;;) {
		loop_run_once();
		agent_after_round();
		inject_rearm();
		if (shutting_down && (services_all_stopped() || now_ms() >= hard_deadline))
			finish();
	}
}
