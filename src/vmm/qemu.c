/* The QEMU backend: `qemu-system-x86_64 -M microvm`, PVH boot of vmlinux,
 * virtio-mmio devices (found by the guest through ACPI), driven over QMP on
 * an inherited socketpair. The console and the agent port are socketpairs
 * too, so no socket path exists that anyone else could connect to. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#include "core/clock.h"
#include "core/fs.h"
#include "core/jsonio.h"
#include "core/paths.h"
#include "core/spawn.h"
#include "core/strvec.h"
#include "core/util.h"
#include "vmm/qmp.h"
#include "vmm/vmm.h"

#define QEMU_DEFAULT "qemu-system-x86_64"
/* The TCG translation cache cap (-accel tcg,tb-size=, MiB). Uncapped, QEMU 7.2
 * reserves min(1 GiB, host RAM / 8) per VM for system emulation on a 64-bit
 * host (tcg/region.c) and the cache keeps growing into it as the guest runs
 * new code. Booting the Debian cloud kernel to "mvm: ready" fills about
 * 44 MiB (some 80 000 blocks; the buffer is THP-backed, resident in 2 MiB
 * steps). At 32 MiB (the cap before) the cache was flushed once in every
 * boot, which cost 4-6% more QEMU CPU to ready; 64 MiB boots with no flush,
 * as fast as uncapped and with the same RSS at ready (14 MiB more than 32),
 * and bounds the growth afterwards. bench/tbsize.sh measures the three,
 * bench/rss.sh the resulting RSS. */
#define QEMU_TCG_CACHE_MIB    64
#define QEMU_START_TIMEOUT_MS 10000
#define QEMU_CMD_TIMEOUT_MS   5000
#define QEMU_AGENT_PORT	      "org.mvm.agent"
#define QEMU_LOG_TAIL	      2048

extern const struct vmm_backend vmm_qemu;

struct qemu {
	struct qmp qmp;
	int qmp_fd;
	char *log_path;
	bool migrate_ready; /* the migration capabilities are set (RAM in a file) */
};

static int migrate_caps(struct vmm_vm *vm, struct err *e);

static const char *qemu_binary(void)
{
	const char *env = getenv("MVM_QEMU");
	return env && *env ? env : QEMU_DEFAULT;
}

static bool qemu_available(struct strbuf *why)
{
	_cleanup_free_ char *p = which(qemu_binary());
	if (!p) {
		strbuf_addf(why, "%s not found in PATH (Debian: apt-get install qemu-system-x86)",
			    qemu_binary());
		return false;
	}
	return true;
}

static bool qemu_supports_accel(enum vmm_accel accel)
{
	(void)accel;
	return true;
}

/* --- the version, kept across processes -------------------------------------
 * `qemu-system-x86_64 --version` forks and execs QEMU (15-20 ms), and every
 * `up` of a revision with a snapshot compares it with the snapshot's. The
 * answer is kept in $MVM_HOME/qemu-version.json with the identity of the
 * binary that gave it: its absolute path and its device, inode, size and
 * mtime (to the nanosecond), which a package upgrade changes. A missing,
 * unreadable or mismatching file means asking QEMU again and rewriting it. */

#define QEMU_VERSION_CACHE "qemu-version.json"
#define QEMU_VERSION_MAX   256

/* What the cached version depends on; NULL when the binary is not found. */
static json_t *binary_identity(void)
{
	_cleanup_free_ char *found = which(qemu_binary());
	_cleanup_free_ char *abs = found ? realpath(found, NULL) : NULL;
	struct stat st;
	if (!abs || stat(abs, &st) < 0)
		return NULL;
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "path", abs, "dev",
			 (json_int_t)st.st_dev, "ino", (json_int_t)st.st_ino, "size",
			 (json_int_t)st.st_size, "mtime_sec", (json_int_t)st.st_mtim.tv_sec,
			 "mtime_nsec", (json_int_t)st.st_mtim.tv_nsec);
}

static char *version_cache_read(json_t *binary)
{
	_cleanup_free_ char *path = fs_join(paths_home(), QEMU_VERSION_CACHE);
	json_t *doc = NULL;
	if (json_read_file(path, &doc, NULL) < 0)
		return NULL;
	const char *v = json_get_str(doc, "version");
	char *ret = NULL;
	if (json_equal(json_object_get(doc, "binary"), binary) && v && *v &&
	    strlen(v) < QEMU_VERSION_MAX && !strpbrk(v, "\r\n"))
		ret = xstrdup(v);
	json_decref(doc);
	return ret;
}

/* A cache: a home not made yet, or one that cannot be written, only costs
 * the next command a --version run. */
static void version_cache_write(json_t *binary, const char *version)
{
	_cleanup_free_ char *path = fs_join(paths_home(), QEMU_VERSION_CACHE);
	json_t *doc =
	    json_pack("{s:i, s:O, s:s}", "schema_version", 1, "binary", binary, "version", version);
	json_write_file(path, doc, NULL);
	json_decref(doc);
}

/* `--version` run now: "QEMU 7.2.22", or NULL when it could not be run. */
static char *version_ask(void)
{
	const char *argv[] = {qemu_binary(), "--version", NULL};
	struct child c = CHILD_INIT;
	c.argv = argv;
	c.capture_out = true;
	c.max_capture = 4096;
	struct err e = ERR_INIT;
	char *v = NULL;
	if (child_run(&c, &e) == 0 && c.status == 0) {
		size_t n = strcspn(c.out.buf, "\n");
		const char *prefix = "QEMU emulator version ";
		const char *s = c.out.buf;
		if (!strncmp(s, prefix, strlen(prefix)))
			v = xasprintf("QEMU %.*s", (int)(n - strlen(prefix)), s + strlen(prefix));
		else
			v = xstrndup(s, n);
	}
	child_release(&c);
	err_release(&e);
	return v;
}

static char *qemu_version(void)
{
	static char *cached;
	if (cached)
		return xstrdup(cached);
	json_t *binary = binary_identity();
	char *v = binary ? version_cache_read(binary) : NULL;
	if (!v) {
		v = version_ask();
		if (v && binary && *v && strlen(v) < QEMU_VERSION_MAX)
			version_cache_write(binary, v);
	}
	json_decref(binary);
	cached = v ? v : xstrdup("QEMU (unknown version)");
	return xstrdup(cached);
}

/* QEMU option values: a comma is written twice. */
static void add_escaped(struct strbuf *sb, const char *s)
{
	for (; *s; s++) {
		if (*s == ',')
			strbuf_addch(sb, ',');
		strbuf_addch(sb, *s);
	}
}

static void push_opt(struct strvec *argv, const char *flag, struct strbuf *val)
{
	strvec_push(argv, flag);
	strvec_push(argv, val->buf);
	strbuf_reset(val);
}

/* The last lines of the VMM's log, to explain a failed start. */
static void log_tail(const char *path, struct strbuf *out)
{
	if (!path)
		return;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	struct stat st;
	if (fstat(fd, &st) == 0 && st.st_size > QEMU_LOG_TAIL)
		lseek(fd, st.st_size - QEMU_LOG_TAIL, SEEK_SET);
	struct strbuf sb = STRBUF_INIT;
	strbuf_read_fd(&sb, fd, QEMU_LOG_TAIL);
	close(fd);
	strbuf_rtrim(&sb);
	/* the last error line QEMU wrote, without its program-name prefix */
	char *line = strrchr(sb.buf, '\n');
	line = line ? line + 1 : sb.buf;
	const char *prefix = "qemu-system-x86_64: ";
	if (!strncmp(line, prefix, strlen(prefix)))
		line += strlen(prefix);
	strbuf_addstr(out, line);
	strbuf_release(&sb);
}

static int socketpair_cloexec(int sv[2], struct err *e)
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return err_sys(e, -errno, EXIT_FAILED, "socketpair");
	return 0;
}

/* Lets the child inherit fd (clears CLOEXEC in this process until closed). */
static void inheritable(int fd)
{
	int fl = fcntl(fd, F_GETFD);
	if (fl >= 0)
		fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
}

/* What -netdev will say must survive QEMU's option parser (',' separates
 * options) and slirp's split of the guestfwd command at spaces. */
static int qemu_check_net(const struct vmm_config *cfg, struct err *e)
{
	if (cfg->net == VMM_NET_NONE && cfg->n_ports)
		return err_set(e, -EINVAL, EXIT_USAGE, "published ports need a network (not none)");
	if (!cfg->n_allow)
		return 0;
	if (cfg->net != VMM_NET_ISOLATED || cfg->n_allow > VMM_ALLOW_MAX)
		return err_set(e, -EINVAL, EXIT_USAGE,
			       "allowed destinations need the isolated network, at most %d",
			       VMM_ALLOW_MAX);
	if (!cfg->proxy_exe || strcspn(cfg->proxy_exe, " ,\t\n'\"\\") != strlen(cfg->proxy_exe))
		return err_set(e, -EINVAL, EXIT_NOTREADY,
			       "the path of mvmctl ('%s') holds a space, comma or quote: QEMU "
			       "cannot run it for --allow",
			       cfg->proxy_exe ? cfg->proxy_exe : "");
	for (size_t i = 0; i < cfg->n_allow; i++)
		if (strcspn(cfg->allow[i].host, " ,\t\n'\"\\") != strlen(cfg->allow[i].host))
			return err_set(e, -EINVAL, EXIT_USAGE, "--allow: bad host '%s'",
				       cfg->allow[i].host);
	return 0;
}

static void build_argv(struct strvec *argv, const struct vmm_config *cfg, int con_fd, int qmp_fd,
		       int agent_fd, bool incoming)
{
	struct strbuf v = STRBUF_INIT;
	strvec_push(argv, qemu_binary());
	if (cfg->name) {
		strbuf_addstr(&v, "mvm-");
		add_escaped(&v, cfg->name);
		push_opt(argv, "-name", &v);
	}
	strvec_push(argv, "-M");
	strvec_push(argv, "microvm");
	strvec_push(argv, "-nodefaults");
	strvec_push(argv, "-no-user-config");
	strvec_push(argv, "-nographic");
	strvec_push(argv, "-no-reboot");
	if (cfg->accel == VMM_ACCEL_KVM) {
		strvec_push(argv, "-accel");
		strvec_push(argv, "kvm");
		strvec_push(argv, "-cpu");
		strvec_push(argv, "host");
	} else {
		strbuf_addf(&v, "tcg,thread=multi,tb-size=%u",
			    cfg->tcg_cache_mib ? cfg->tcg_cache_mib : QEMU_TCG_CACHE_MIB);
		push_opt(argv, "-accel", &v);
		strvec_push(argv, "-cpu");
		strvec_push(argv, "max");
	}
	strbuf_addf(&v, "%u", cfg->vcpus ? cfg->vcpus : 1);
	push_opt(argv, "-smp", &v);
	strbuf_addf(&v, "%lluM", (unsigned long long)cfg->mem_mib);
	push_opt(argv, "-m", &v);
	if (cfg->mem_file) {
		/* share=off: MAP_PRIVATE, the restored guest's writes never reach the file */
		strbuf_addf(&v, "memory-backend-file,id=mem,share=%s,size=%lluM,mem-path=",
			    cfg->mem_private ? "off" : "on", (unsigned long long)cfg->mem_mib);
		add_escaped(&v, cfg->mem_file);
		push_opt(argv, "-object", &v);
		strvec_push(argv, "-machine");
		strvec_push(argv, "memory-backend=mem");
	}
	strvec_push(argv, "-kernel");
	strvec_push(argv, cfg->kernel);
	if (cfg->initrd) {
		strvec_push(argv, "-initrd");
		strvec_push(argv, cfg->initrd);
	}
	strvec_push(argv, "-append");
	strvec_push(argv, cfg->cmdline ? cfg->cmdline : "");

	strbuf_addf(&v, "socket,id=con,fd=%d", con_fd);
	push_opt(argv, "-chardev", &v);
	strvec_push(argv, "-serial");
	strvec_push(argv, "chardev:con");
	strbuf_addf(&v, "socket,id=qmp,fd=%d", qmp_fd);
	push_opt(argv, "-chardev", &v);
	strvec_push(argv, "-mon");
	strvec_push(argv, "chardev=qmp,mode=control");

	/* vda: the shared root image, read-only in the VMM (the guest cannot write it) */
	strbuf_addstr(&v, "id=vda,format=raw,if=none,readonly=on,file=");
	add_escaped(&v, cfg->rootfs);
	push_opt(argv, "-drive", &v);
	strvec_push(argv, "-device");
	strvec_push(argv, "virtio-blk-device,drive=vda");
	for (size_t i = 0; i < cfg->n_drives; i++) {
		char id[8];
		snprintf(id, sizeof(id), "vd%c", (char)('b' + i));
		strbuf_addf(&v, "id=%s,format=raw,if=none,%sfile=", id,
			    cfg->drives[i].read_only ? "readonly=on," : "");
		add_escaped(&v, cfg->drives[i].path);
		push_opt(argv, "-drive", &v);
		strbuf_addf(&v, "virtio-blk-device,drive=%s", id);
		push_opt(argv, "-device", &v);
	}
	if (agent_fd >= 0) {
		strvec_push(argv, "-device");
		strvec_push(argv, "virtio-serial-device");
		strbuf_addf(&v, "socket,id=agent,fd=%d", agent_fd);
		push_opt(argv, "-chardev", &v);
		strvec_push(argv, "-device");
		strvec_push(argv, "virtserialport,chardev=agent,name=" QEMU_AGENT_PORT);
	}
	if (cfg->net != VMM_NET_NONE) {
		strbuf_addstr(&v, "user,id=net0");
		if (cfg->net == VMM_NET_ISOLATED) /* hostfwd and guestfwd only */
			strbuf_addstr(&v, ",restrict=on");
		for (size_t i = 0; i < cfg->n_ports; i++) {
			const struct vmm_port *p = &cfg->ports[i];
			bool v6 = strchr(p->host_ip, ':') != NULL;
			strbuf_addf(&v, ",hostfwd=%s:%s%s%s:%u-:%u",
				    p->proto == VMM_UDP ? "udp" : "tcp", v6 ? "[" : "", p->host_ip,
				    v6 ? "]" : "", p->host_port, p->guest_port);
		}
		/* slirp splits the command at spaces itself (no shell); the strings
		 * were checked to hold no space, comma or quote (qemu_check_net) */
		for (size_t i = 0; i < cfg->n_allow; i++)
			strbuf_addf(&v,
				    ",guestfwd=tcp:" VMM_ALLOW_NET ".%zu:%u-cmd:%s netproxy %s %u",
				    VMM_ALLOW_FIRST + i, cfg->allow[i].port, cfg->proxy_exe,
				    cfg->allow[i].host, cfg->allow[i].port);
		push_opt(argv, "-netdev", &v);
		strvec_push(argv, "-device");
		strvec_push(argv, "virtio-net-device,netdev=net0");
	}
	if (incoming) {
		/* the state comes over QMP (migrate-incoming); stay paused after it */
		strvec_push(argv, "-incoming");
		strvec_push(argv, "defer");
		strvec_push(argv, "-S");
	}
	strbuf_release(&v);
}

/* Waits at most ms for the process behind pidfd to exit. 1: exited. */
static int wait_exit(struct vmm_vm *vm, int ms)
{
	if (vm->exited)
		return 1;
	long long deadline = mono_ms() + ms;
	for (;;) {
		if (vmm_reap(vm, false))
			return 1;
		long long left = deadline - mono_ms();
		if (left <= 0)
			return 0;
		struct pollfd p = {.fd = vm->pidfd, .events = POLLIN};
		if (vm->pidfd < 0) {
			/* no pidfd (old kernel): poll by time */
			struct timespec ts = {0, 20 * 1000000};
			nanosleep(&ts, NULL);
			continue;
		}
		poll(&p, 1, (int)left);
	}
}

static int send_signal(struct vmm_vm *vm, int sig)
{
	if (vm->exited)
		return 0;
	if (vm->pidfd >= 0)
		return syscall(SYS_pidfd_send_signal, vm->pidfd, sig, NULL, 0) < 0 ? -errno : 0;
	return kill(vm->pid, sig) < 0 ? -errno : 0;
}

static void qemu_release(struct vmm_vm *vm)
{
	if (vm->pid > 0 && !vm->exited) {
		send_signal(vm, SIGKILL);
		vmm_reap(vm, true);
	}
	struct qemu *q = vm->priv;
	if (q) {
		qmp_release(&q->qmp);
		closep(&q->qmp_fd);
		free(q->log_path);
		free(q);
	}
	closep(&vm->pidfd);
	closep(&vm->console_fd);
	closep(&vm->agent_fd);
	free(vm->exit_reason);
	*vm = (struct vmm_vm)VMM_VM_INIT;
}

static int qemu_launch(struct vmm_vm *vm, const struct vmm_config *cfg, bool incoming,
		       struct err *e)
{
	*vm = (struct vmm_vm)VMM_VM_INIT;
	if (!cfg->kernel || !cfg->rootfs)
		return err_set(e, -EINVAL, EXIT_FAILED,
			       "QEMU: a kernel and a root image are needed");
	int cr = qemu_check_net(cfg, e);
	if (cr < 0)
		return cr;
	int con[2] = {-1, -1}, qmp[2] = {-1, -1}, agent[2] = {-1, -1};
	_cleanup_close_ int logfd = -1;
	struct strvec argv = STRVEC_INIT;
	struct qemu *q = xcalloc(1, sizeof(*q));
	q->qmp_fd = -1;
	vm->priv = q;
	vm->backend = &vmm_qemu;
	int r;
	if ((r = socketpair_cloexec(con, e)) < 0 || (r = socketpair_cloexec(qmp, e)) < 0 ||
	    (cfg->agent && (r = socketpair_cloexec(agent, e)) < 0))
		goto fail;
	if (cfg->vmm_log) {
		logfd =
		    open(cfg->vmm_log,
			 O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
		if (logfd < 0) {
			r = err_sys(e, -errno, EXIT_FAILED, "open '%s'", cfg->vmm_log);
			goto fail;
		}
		q->log_path = xstrdup(cfg->vmm_log);
	}
	build_argv(&argv, cfg, con[1], qmp[1], cfg->agent ? agent[1] : -1, incoming);
	inheritable(con[1]);
	inheritable(qmp[1]);
	if (cfg->agent)
		inheritable(agent[1]);

	struct child c = CHILD_INIT;
	c.argv = strvec_argv(&argv);
	c.out_fd = logfd;
	c.err_fd = logfd;
	/* the VMM dies with its supervisor, whatever kills it */
	c.pdeathsig = cfg->die_with_parent ? SIGKILL : 0;
	r = child_start(&c, e);
	closep(&con[1]);
	closep(&qmp[1]);
	closep(&agent[1]);
	if (r < 0) {
		err_prefix(e, r, "starting QEMU");
		goto fail;
	}
	vm->pid = c.pid;
	vm->pidfd = TAKE_FD(c.pidfd);
	child_release(&c);
	vm->console_fd = TAKE_FD(con[0]);
	vm->agent_fd = TAKE_FD(agent[0]);
	q->qmp_fd = TAKE_FD(qmp[0]);
	qmp_init(&q->qmp, q->qmp_fd);
	vm->event_fd = q->qmp_fd;

	struct err herr = ERR_INIT;
	r = qmp_handshake(&q->qmp, QEMU_START_TIMEOUT_MS, &herr);
	if (r < 0) {
		/* QEMU refused its command line (a port taken, a missing file …) */
		wait_exit(vm, 1000);
		struct strbuf why = STRBUF_INIT;
		log_tail(q->log_path, &why);
		if (vm->exited && why.len)
			r = err_set(e, -EIO, EXIT_FAILED, "QEMU exited at start: %s", why.buf);
		else
			r = err_set(e, r, EXIT_FAILED, "QEMU did not start: %s", herr.msg);
		strbuf_release(&why);
		err_release(&herr);
		goto fail;
	}
	/* A VM whose RAM is a file can be saved or is about to be restored: its
	 * migration is set up now, not while it is frozen for a save */
	if (cfg->mem_file && (r = migrate_caps(vm, e)) < 0)
		goto fail;
	strvec_clear(&argv);
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		closep(&con[i]);
		closep(&qmp[i]);
		closep(&agent[i]);
	}
	strvec_clear(&argv);
	qemu_release(vm);
	return r;
}

static int qemu_start(struct vmm_vm *vm, const struct vmm_config *cfg, struct err *e)
{
	return qemu_launch(vm, cfg, false, e);
}

static struct qemu *priv(struct vmm_vm *vm)
{
	return vm->priv;
}

static int qemu_cmd(struct vmm_vm *vm, const char *cmd, json_t **ret, struct err *e)
{
	if (!vm->priv || vm->exited)
		return err_set(e, -ESRCH, EXIT_FAILED, "the VMM is not running");
	return qmp_execute(&priv(vm)->qmp, cmd, NULL, QEMU_CMD_TIMEOUT_MS, ret, e);
}

static int qemu_pause(struct vmm_vm *vm, struct err *e)
{
	return qemu_cmd(vm, "stop", NULL, e);
}

static int qemu_resume(struct vmm_vm *vm, struct err *e)
{
	return qemu_cmd(vm, "cont", NULL, e);
}

static int qemu_status(struct vmm_vm *vm, enum vmm_state *st, struct err *e)
{
	if (vmm_reap(vm, false)) {
		*st = VMM_STATE_EXITED;
		return 0;
	}
	json_t *ret = NULL;
	int r = qemu_cmd(vm, "query-status", &ret, e);
	if (r < 0)
		return r;
	const char *s = json_get_str(ret, "status");
	if (!s)
		*st = VMM_STATE_OTHER;
	else if (!strcmp(s, "running"))
		*st = VMM_STATE_RUNNING;
	else if (!strcmp(s, "paused") || !strcmp(s, "suspended") || !strcmp(s, "prelaunch"))
		*st = VMM_STATE_PAUSED;
	else if (!strcmp(s, "shutdown"))
		*st = VMM_STATE_SHUTDOWN;
	else
		*st = VMM_STATE_OTHER;
	json_decref(ret);
	return 0;
}

static const char *shutdown_reason(const char *r)
{
	if (!r)
		return "the VMM shut down";
	if (!strcmp(r, "guest-shutdown"))
		return "the guest powered off";
	if (!strcmp(r, "guest-reset"))
		return "the guest rebooted (reboot or kernel panic)";
	if (!strcmp(r, "guest-panic"))
		return "guest kernel panic";
	if (!strcmp(r, "host-qmp-quit") || !strcmp(r, "host-qmp-system-reset"))
		return "stopped by the supervisor";
	if (!strcmp(r, "host-signal"))
		return "the VMM was sent a signal";
	return r;
}

static int qemu_handle_events(struct vmm_vm *vm, struct err *e)
{
	struct qemu *q = priv(vm);
	if (!q)
		return 0;
	int r = qmp_poll_events(&q->qmp, e);
	struct qmp_msg m;
	while (qmp_event_pop(&q->qmp, &m)) {
		const char *why = NULL;
		if (!strcmp(m.event, "SHUTDOWN"))
			why = shutdown_reason(json_get_str(m.data, "reason"));
		else if (!strcmp(m.event, "GUEST_PANICKED"))
			why = "guest kernel panic";
		if (why && !vm->exit_reason)
			vm->exit_reason = xstrdup(why);
		qmp_msg_release(&m);
	}
	if (r == -EPIPE) {
		vm->event_fd = -1; /* nothing more will come */
		return 0;
	}
	return r;
}

static int qemu_stop(struct vmm_vm *vm, int graceful_ms, struct err *e)
{
	(void)e;
	if (!vm->exited && vm->priv && graceful_ms > 0) {
		struct err ign = ERR_INIT;
		if (qemu_cmd(vm, "system_powerdown", NULL, &ign) == 0)
			wait_exit(vm, graceful_ms);
		err_release(&ign);
	}
	if (!vm->exited && vm->priv && !priv(vm)->qmp.eof) {
		struct err ign = ERR_INIT;
		if (qmp_execute_final(&priv(vm)->qmp, "quit", 1000, &ign) == 0)
			wait_exit(vm, 1000);
		err_release(&ign);
	}
	if (!vm->exited) {
		send_signal(vm, SIGKILL);
		vmm_reap(vm, true);
	}
	struct err ign = ERR_INIT;
	qemu_handle_events(vm, &ign); /* the SHUTDOWN reason, if it came */
	err_release(&ign);
	return 0;
}

/* --- snapshots ---------------------------------------------------------------
 * Guest RAM lives in cfg->mem_file (memory-backend-file); with the
 * x-ignore-shared capability a migration of a VM whose RAM is shared writes
 * only device state (tens of KB). A restore maps the same file share=off
 * (copy-on-write, faulted in lazily) and loads the device state with
 * -incoming defer + migrate-incoming: its cost does not grow with memory. */

#define QEMU_MIGRATE_TIMEOUT_MS 60000

/* One call for both capabilities: x-ignore-shared (RAM in the shared file is
 * not copied) and events (the end of the migration comes as a MIGRATION
 * event, so it is waited for, not polled). */
static int migrate_caps(struct vmm_vm *vm, struct err *e)
{
	if (priv(vm)->migrate_ready)
		return 0;
	json_t *caps = json_pack("{s:[{s:s, s:b}, {s:s, s:b}]}", "capabilities", "capability",
				 "x-ignore-shared", "state", 1, "capability", "events", "state", 1);
	int r = qmp_execute(&priv(vm)->qmp, "migrate-set-capabilities", caps, QEMU_CMD_TIMEOUT_MS,
			    NULL, e);
	priv(vm)->migrate_ready = r == 0;
	return r;
}

/* A MIGRATION event that ends a migration. */
static bool migration_ended(const json_t *data, void *arg)
{
	(void)arg;
	const char *st = json_get_str(data, "status");
	return st &&
	       (!strcmp(st, "completed") || !strcmp(st, "failed") || !strcmp(st, "cancelled"));
}

/* Blocks until the migration under way ends, its last status into *status:
 * 0 "completed"; -EIO "failed" or "cancelled" (e not set: the caller says
 * why); else -ETIMEDOUT, or -EPIPE when QEMU went away, with e set. */
static int wait_migration(struct vmm_vm *vm, char **status, struct err *e)
{
	struct qmp_msg m = QMP_MSG_INIT;
	int r = qmp_wait_event(&priv(vm)->qmp, "MIGRATION", migration_ended, NULL,
			       QEMU_MIGRATE_TIMEOUT_MS, &m, e);
	if (r < 0)
		return r;
	const char *st = json_get_str(m.data, "status");
	r = strcmp(st, "completed") ? -EIO : 0;
	*status = xstrdup(st);
	qmp_msg_release(&m);
	return r;
}

static int qemu_snapshot(struct vmm_vm *vm, const char *dir, struct err *e)
{
	struct qmp *q = &priv(vm)->qmp;
	int r;
	if ((r = migrate_caps(vm, e)) < 0 || (r = qemu_cmd(vm, "stop", NULL, e)) < 0)
		return err_prefix(e, r, "snapshot");
	/* a MIGRATION event still queued from an earlier migration of this QEMU
	 * (a restore) must not be taken for the end of this one */
	struct err ig = ERR_INIT;
	while (qmp_wait_event(q, "MIGRATION", NULL, NULL, 0, NULL, &ig) == 0)
		;
	err_release(&ig);
	_cleanup_free_ char *path = xasprintf("%s/" VMM_SNAPSHOT_STATE, dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return err_sys(e, -errno, EXIT_FAILED, "snapshot: creating '%s'", path);
	r = qmp_execute_fd(q, "getfd", json_pack("{s:s}", "fdname", "mvm-snapshot"), fd,
			   QEMU_CMD_TIMEOUT_MS, NULL, e);
	if (r == 0)
		r = qmp_execute(q, "migrate", json_pack("{s:s}", "uri", "fd:mvm-snapshot"),
				QEMU_CMD_TIMEOUT_MS, NULL, e);
	_cleanup_free_ char *st = NULL;
	if (r == 0 && (r = wait_migration(vm, &st, e)) == -EIO) {
		/* the event says only "failed": query-migrate says why */
		json_t *ret = NULL;
		struct err qe = ERR_INIT;
		qemu_cmd(vm, "query-migrate", &ret, &qe);
		const char *why = json_get_str(ret, "error-desc");
		r = err_set(e, -EIO, EXIT_FAILED, "QEMU could not save the VM: %s", why ? why : st);
		json_decref(ret);
		err_release(&qe);
	} else if (r == -ETIMEDOUT) {
		r = err_set(e, r, EXIT_FAILED, "QEMU did not finish saving the VM within %d s",
			    QEMU_MIGRATE_TIMEOUT_MS / 1000);
	}
	if (r == 0 && fsync(fd) < 0)
		r = err_sys(e, -errno, EXIT_FAILED, "snapshot: writing '%s'", path);
	close(fd);
	if (r < 0)
		unlink(path);
	return r;
}

static int qemu_restore(struct vmm_vm *vm, const struct vmm_config *cfg, const char *dir,
			struct err *e)
{
	if (!cfg->mem_file)
		return err_set(e, -EINVAL, EXIT_FAILED, "restore: the guest RAM file is needed");
	_cleanup_free_ char *path = xasprintf("%s/" VMM_SNAPSHOT_STATE, dir);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return err_sys(e, -errno, EXIT_FAILED, "restore: opening '%s'", path);
	_cleanup_free_ char *st = NULL; /* how the migration ended */
	int r = qemu_launch(vm, cfg, true, e);
	if (r < 0)
		return r;
	/* the state is passed over QMP, as getfd: no path reaches QEMU */
	if ((r = migrate_caps(vm, e)) < 0 ||
	    (r = qmp_execute_fd(&priv(vm)->qmp, "getfd",
				json_pack("{s:s}", "fdname", "mvm-restore"), fd,
				QEMU_CMD_TIMEOUT_MS, NULL, e)) < 0 ||
	    (r = qmp_execute(&priv(vm)->qmp, "migrate-incoming",
			     json_pack("{s:s}", "uri", "fd:mvm-restore"), QEMU_CMD_TIMEOUT_MS, NULL,
			     e)) < 0)
		goto fail;
	/* QEMU sends "completed" once the state is loaded and the VM is paused
	 * (-S: it is not started); a state that does not load makes it send
	 * "failed" and exit */
	struct err we = ERR_INIT;
	r = wait_migration(vm, &st, &we);
	if (r == 0) {
		err_release(&we);
		return 0;
	}
	if (r == -ETIMEDOUT) {
		r = err_set(e, r, EXIT_FAILED, "QEMU did not load the snapshot within %d s",
			    QEMU_MIGRATE_TIMEOUT_MS / 1000);
	} else {
		wait_exit(vm, 1000);
		struct strbuf why = STRBUF_INIT;
		log_tail(priv(vm)->log_path, &why);
		r = err_set(e, -EIO, EXIT_FAILED, "QEMU could not load the snapshot: %s",
			    why.len	  ? why.buf
			    : st	  ? st
			    : r == -EPIPE ? "it exited"
					  : we.msg);
		strbuf_release(&why);
	}
	err_release(&we);
fail:
	qemu_release(vm);
	return r;
}

/* Boots kernel under KVM to its end: no root device, so a working guest
 * panics at mounting root, reboots (reboot=t) and QEMU exits (-no-reboot). */
static int qemu_probe_kvm(const char *kernel, int timeout_ms, int silence_ms, struct strbuf *why)
{
	struct strvec argv = STRVEC_INIT;
	strvec_push(&argv, qemu_binary());
	strvec_pushv(
	    &argv, (const char *const[]){
		       "-M",
		       "microvm",
		       "-nodefaults",
		       "-no-user-config",
		       "-display",
		       "none",
		       "-no-reboot",
		       "-accel",
		       "kvm",
		       "-cpu",
		       "host",
		       "-smp",
		       "1",
		       "-m",
		       "128",
		       "-kernel",
		       kernel,
		       "-append",
		       "console=ttyS0 earlyprintk=ttyS0 reboot=t panic=-1 root=/dev/mvm-kvm-probe",
		       "-chardev",
		       "stdio,id=con,signal=off",
		       "-serial",
		       "chardev:con",
		       NULL});
	struct child c = CHILD_INIT;
	c.argv = strvec_argv(&argv);
	c.capture_out = true;
	c.merge_err = true;
	c.pdeathsig = SIGKILL;
	struct err e = ERR_INIT;
	int r = child_start(&c, &e);
	if (r < 0) {
		strbuf_addstr(why, e.msg);
		goto out;
	}
	struct strbuf out = STRBUF_INIT;
	long long start = mono_ms(), deadline = start + timeout_ms, last = start;
	bool timed_out = false, silent = false;
	for (int fd = c.out_fd; fd >= 0;) {
		long long now = mono_ms(), left = deadline - now;
		if (left <= 0) {
			timed_out = true;
			break;
		}
		if (now - last >= silence_ms) {
			silent = true;
			break;
		}
		if (left > last + silence_ms - now)
			left = last + silence_ms - now;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		char buf[4096];
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		last = mono_ms();
		if (out.len < 65536)
			strbuf_add(&out, buf, (size_t)n);
	}
	child_kill(&c, SIGKILL);
	child_finish(&c, &e);
	bool panicked = strstr(out.buf, "Kernel panic") && strstr(out.buf, "mount root");
	if (panicked && !timed_out && !silent) {
		r = 0;
	} else if (silent) {
		r = -ETIMEDOUT;
		strbuf_addf(why, "the guest printed nothing for %d ms under KVM (%s)", silence_ms,
			    out.len ? "it stopped after starting" : "it never started");
	} else if (timed_out) {
		r = -ETIMEDOUT;
		strbuf_addf(why, "the guest made no progress within %d ms under KVM", timeout_ms);
	} else {
		r = -EIO;
		/* the first line QEMU wrote about the failure */
		const char *err = strstr(out.buf, "qemu-system-x86_64: ");
		if (!err)
			err = strstr(out.buf, "KVM internal error");
		if (err) {
			if (!strncmp(err, "qemu-system-x86_64: ", 20))
				err += 20;
			strbuf_add(why, err, strcspn(err, "\r\n"));
		} else {
			strbuf_addf(why, "QEMU exited with status %d before the guest ran",
				    c.status);
		}
	}
	strbuf_release(&out);
out:
	child_release(&c);
	err_release(&e);
	strvec_clear(&argv);
	return r;
}

const struct vmm_backend vmm_qemu = {
    .name = "qemu",
    .available = qemu_available,
    .supports_accel = qemu_supports_accel,
    .probe_kvm = qemu_probe_kvm,
    .version = qemu_version,
    .start = qemu_start,
    .stop = qemu_stop,
    .pause = qemu_pause,
    .resume = qemu_resume,
    .status = qemu_status,
    .handle_events = qemu_handle_events,
    .snapshot = qemu_snapshot,
    .restore = qemu_restore,
    .release = qemu_release,
};
