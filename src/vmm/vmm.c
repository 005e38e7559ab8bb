#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/fs.h"
#include "core/jsonio.h"
#include "core/paths.h"
#include "core/util.h"
#include "vmm/vmm.h"

extern const struct vmm_backend vmm_qemu;

const struct vmm_backend *const vmm_backends[] = {
    &vmm_qemu,
    NULL,
};

const struct vmm_backend *vmm_backend_find(const char *name)
{
	for (size_t i = 0; vmm_backends[i]; i++)
		if (!strcmp(vmm_backends[i]->name, name))
			return vmm_backends[i];
	return NULL;
}

const char *vmm_backend_default(void)
{
	static char *name;
	if (name)
		return name;
	struct config c = {0};
	struct err e = ERR_INIT;
	if (config_load(&c, &e) == 0 && c.backend)
		name = xstrdup(c.backend);
	else
		name = xstrdup("qemu");
	config_release(&c);
	err_release(&e);
	return name;
}

const char *vmm_accel_name(enum vmm_accel a)
{
	switch (a) {
	case VMM_ACCEL_KVM:
		return "kvm";
	case VMM_ACCEL_TCG:
		return "tcg";
	default:
		return "auto";
	}
}

int vmm_accel_parse(const char *s, enum vmm_accel *out)
{
	if (!strcmp(s, "auto"))
		*out = VMM_ACCEL_AUTO;
	else if (!strcmp(s, "kvm"))
		*out = VMM_ACCEL_KVM;
	else if (!strcmp(s, "tcg"))
		*out = VMM_ACCEL_TCG;
	else
		return -EINVAL;
	return 0;
}

const char *vmm_state_name(enum vmm_state s)
{
	static const char *const names[] = {"running", "paused", "shutdown", "exited", "other"};
	return (unsigned)s < ARRAY_SIZE(names) ? names[s] : "other";
}

void vmm_accel_choice_release(struct vmm_accel_choice *c)
{
	free(c->source);
	free(c->reason);
	*c = (struct vmm_accel_choice)VMM_ACCEL_CHOICE_INIT;
}

/* --- the KVM verdict cache ------------------------------------------------ */

/* What a verdict depends on: host kernel, CPU, VMM version. */
static json_t *host_identity(const struct vmm_backend *b)
{
	struct utsname u;
	uname(&u);
	struct strbuf cpu = STRBUF_INIT, info = STRBUF_INIT;
	if (strbuf_read_file(&info, "/proc/cpuinfo", 4u << 20) >= 0) {
		/* the first processor's identifying lines */
		const char *keys[] = {"vendor_id",  "cpu family", "model",
				      "model name", "stepping",	  "microcode"};
		for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
			size_t kl = strlen(keys[k]);
			for (char *line = info.buf; line && *line;) {
				char *nl = strchr(line, '\n');
				size_t n = nl ? (size_t)(nl - line) : strlen(line);
				if (!n)
					break; /* end of the first processor */
				if (!strncmp(line, keys[k], kl) &&
				    (line[kl] == '\t' || line[kl] == ' ')) {
					const char *colon = memchr(line, ':', n);
					if (colon) {
						const char *v = colon + 1;
						while (*v == ' ')
							v++;
						if (cpu.len)
							strbuf_addstr(&cpu, " / ");
						strbuf_add(&cpu, v, n - (size_t)(v - line));
					}
					break;
				}
				line = nl ? nl + 1 : NULL;
			}
		}
	}
	_cleanup_free_ char *ver = b->version ? b->version() : xstrdup("unknown");
	json_t *id = json_pack("{s:s, s:s, s:s, s:s}", "backend", b->name, "host_kernel", u.release,
			       "host_kernel_build", u.version, "cpu", cpu.buf);
	json_object_set_new(id, "vmm_version", json_string(ver));
	strbuf_release(&cpu);
	strbuf_release(&info);
	return id;
}

/* The verdict is the host's, not one MVM_HOME's: every user's first `up`
 * would pay for the probe again. MVM_HOST_CACHE, else /var/cache/mvm for
 * root, else the user's cache directory (a verdict another user wrote could
 * make us boot guests under a KVM that hangs them). */
static char *cache_dir(void)
{
	const char *env = getenv("MVM_HOST_CACHE");
	if (env && *env)
		return xstrdup(env);
	if (geteuid() == 0)
		return xstrdup("/var/cache/mvm");
	const char *xdg = getenv("XDG_CACHE_HOME");
	if (xdg && *xdg == '/')
		return xasprintf("%s/mvm", xdg);
	const char *home = getenv("HOME");
	if (home && *home == '/')
		return xasprintf("%s/.cache/mvm", home);
	return xasprintf("%s/cache", paths_home());
}

static char *cache_path(const struct vmm_backend *b)
{
	_cleanup_free_ char *dir = cache_dir();
	return xasprintf("%s/accel-%s.json", dir, b->name);
}

/* The cache directory exists, is ours and no one else's to write. */
static bool cache_dir_trusted(bool create)
{
	_cleanup_free_ char *dir = cache_dir();
	struct err e = ERR_INIT;
	int r = create ? fs_mkdir_p(dir, 0700, &e) : 0;
	if (r == 0)
		r = paths_check_private_dir("the host cache", dir, true, &e);
	err_release(&e);
	return r == 0;
}

/* 1 with *works and *reason set when a verdict for this exact host exists. */
static int cache_read(const struct vmm_backend *b, json_t *ident, bool *works, char **reason)
{
	if (!cache_dir_trusted(false))
		return 0;
	_cleanup_free_ char *path = cache_path(b);
	json_t *doc = NULL;
	struct err e = ERR_INIT;
	int r = json_read_file(path, &doc, &e);
	err_release(&e);
	if (r < 0)
		return 0;
	int found = 0;
	json_t *host = json_object_get(doc, "host");
	json_t *kvm = json_object_get(doc, "kvm_works");
	if (host && json_equal(host, ident) && json_is_boolean(kvm)) {
		*works = json_is_true(kvm);
		const char *why = json_get_str(doc, "reason");
		*reason = xstrdup(why ? why : "");
		found = 1;
	}
	json_decref(doc);
	return found;
}

static void cache_write(const struct vmm_backend *b, json_t *ident, bool works, const char *reason,
			long long ms)
{
	struct err e = ERR_INIT;
	if (!cache_dir_trusted(true))
		return;
	_cleanup_free_ char *path = cache_path(b);
	_cleanup_free_ char *now = json_now_rfc3339();
	json_t *doc = json_pack("{s:i, s:O, s:b, s:s, s:s, s:I}", "schema_version", 1, "host",
				ident, "kvm_works", works, "reason", reason, "probed_at", now,
				"probe_ms", (json_int_t)ms);
	json_write_file(path, doc, &e); /* a cache: failing to write it only costs a probe */
	json_decref(doc);
	err_release(&e);
}

/* A guest that boots prints within a fraction of a second (earlyprintk;
 * 0.1 s here even under TCG); one that cannot make progress prints nothing.
 * The whole probe is bounded too. */
#define KVM_PROBE_TIMEOUT_MS 15000
#define KVM_PROBE_SILENCE_MS 3000

static bool kvm_usable(struct strbuf *why)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		strbuf_addf(why, "/dev/kvm: %s", strerror(errno));
		return false;
	}
	close(fd);
	return true;
}

int vmm_accel_resolve(const struct vmm_backend *b, const char *kernel, struct vmm_accel_choice *out,
		      struct err *e)
{
	*out = (struct vmm_accel_choice)VMM_ACCEL_CHOICE_INIT;
	struct config c = {0};
	int r = config_load(&c, e);
	if (r < 0) {
		config_release(&c);
		return r;
	}
	enum vmm_accel want = VMM_ACCEL_AUTO;
	vmm_accel_parse(c.accel, &want); /* config_load validated it */
	const char *env = getenv("MVM_ACCEL");
	out->source = xstrdup(env && *env ? "MVM_ACCEL" : c.path ? "config.toml" : "default");
	config_release(&c);

	struct strbuf why = STRBUF_INIT;
	if (want == VMM_ACCEL_TCG) {
		if (b->supports_accel && !b->supports_accel(VMM_ACCEL_TCG)) {
			strbuf_release(&why);
			return err_set(e, -ENOTSUP, EXIT_NOTREADY,
				       "accel 'tcg' (from %s) is not supported by the %s backend",
				       out->source, b->name);
		}
		out->accel = VMM_ACCEL_TCG;
		out->reason = xasprintf("accel 'tcg' asked for (%s)", out->source);
		strbuf_release(&why);
		return 0;
	}
	if (want == VMM_ACCEL_KVM) {
		if (!kvm_usable(&why)) {
			r = err_set(e, -ENODEV, EXIT_NOTREADY, "accel 'kvm' (from %s): %s",
				    out->source, why.buf);
			err_hint(e, "set MVM_ACCEL=tcg, or run 'mvmctl doctor'");
			strbuf_release(&why);
			return r;
		}
		out->accel = VMM_ACCEL_KVM;
		out->reason = xasprintf("accel 'kvm' asked for (%s)", out->source);
		strbuf_release(&why);
		return 0;
	}

	/* auto */
	bool tcg_ok = !b->supports_accel || b->supports_accel(VMM_ACCEL_TCG);
	if (!kvm_usable(&why)) {
		out->accel = VMM_ACCEL_TCG;
		out->reason = xasprintf("no usable KVM (%s)", why.buf);
		out->notice = true;
		strbuf_release(&why);
		if (!tcg_ok)
			return err_set(e, -ENODEV, EXIT_NOTREADY, "the %s backend needs KVM: %s",
				       b->name, out->reason);
		return 0;
	}
	json_t *ident = host_identity(b);
	bool works = false;
	char *reason = NULL;
	if (!cache_read(b, ident, &works, &reason)) {
		long long t0 = mono_ms();
		strbuf_reset(&why);
		r = b->probe_kvm
			? b->probe_kvm(kernel, KVM_PROBE_TIMEOUT_MS, KVM_PROBE_SILENCE_MS, &why)
			: -ENOTSUP;
		works = r == 0;
		reason = works ? xstrdup("a guest booted under KVM")
			       : xasprintf("KVM guest boot probe failed: %s",
					   why.len ? why.buf : strerror(-r));
		cache_write(b, ident, works, reason, mono_ms() - t0);
		out->probed = true;
	}
	json_decref(ident);
	strbuf_release(&why);
	out->accel = works ? VMM_ACCEL_KVM : VMM_ACCEL_TCG;
	out->notice = !works;
	out->reason = reason;
	if (!works && !tcg_ok)
		return err_set(e, -ENODEV, EXIT_NOTREADY, "the %s backend needs KVM: %s", b->name,
			       reason);
	return 0;
}

/* --- ports ----------------------------------------------------------------- */

int vmm_port_parse(const char *s, struct vmm_port *p, struct err *e)
{
	*p = (struct vmm_port){.proto = VMM_TCP};
	_cleanup_free_ char *copy = xstrdup(s);
	char *slash = strrchr(copy, '/');
	if (slash) {
		*slash = '\0';
		if (!strcmp(slash + 1, "tcp"))
			p->proto = VMM_TCP;
		else if (!strcmp(slash + 1, "udp"))
			p->proto = VMM_UDP;
		else
			return err_set(e, -EINVAL, EXIT_USAGE,
				       "port '%s': protocol must be tcp or udp", s);
	}
	const char *ip = "127.0.0.1";
	char *rest = copy;
	if (copy[0] == '[') {
		char *close = strchr(copy, ']');
		if (!close || close[1] != ':')
			return err_set(e, -EINVAL, EXIT_USAGE,
				       "port '%s': expected [IPv6]:HOST_PORT:GUEST_PORT", s);
		*close = '\0';
		ip = copy + 1;
		rest = close + 2;
	} else {
		char *last = strrchr(copy, ':');
		if (!last)
			return err_set(e, -EINVAL, EXIT_USAGE,
				       "port '%s': expected [HOST_IP:]HOST_PORT:GUEST_PORT", s);
		char *first = memchr(copy, ':', (size_t)(last - copy));
		if (first) {
			*first = '\0';
			ip = copy;
			rest = first + 1;
		}
	}
	char *colon = strchr(rest, ':');
	if (!colon || strchr(colon + 1, ':'))
		return err_set(e, -EINVAL, EXIT_USAGE,
			       "port '%s': expected [HOST_IP:]HOST_PORT:GUEST_PORT", s);
	*colon = '\0';
	long long hp, gp;
	if (parse_int64(rest, 1, 65535, &hp) < 0 || parse_int64(colon + 1, 1, 65535, &gp) < 0)
		return err_set(e, -EINVAL, EXIT_USAGE,
			       "port '%s': ports are numbers from 1 to 65535", s);
	unsigned char addr[16];
	if (inet_pton(AF_INET, ip, addr) != 1 && inet_pton(AF_INET6, ip, addr) != 1)
		return err_set(e, -EINVAL, EXIT_USAGE, "port '%s': '%s' is not an IP address", s,
			       ip);
	if (strlen(ip) >= sizeof(p->host_ip))
		return err_set(e, -EINVAL, EXIT_USAGE, "port '%s': address too long", s);
	memcpy(p->host_ip, ip, strlen(ip) + 1);
	p->host_port = (uint16_t)hp;
	p->guest_port = (uint16_t)gp;
	return 0;
}

void vmm_port_format(const struct vmm_port *p, struct strbuf *out)
{
	bool v6 = strchr(p->host_ip, ':') != NULL;
	strbuf_addf(out, "%s%s%s:%u:%u/%s", v6 ? "[" : "", p->host_ip, v6 ? "]" : "", p->host_port,
		    p->guest_port, p->proto == VMM_UDP ? "udp" : "tcp");
}

int vmm_port_check_free(const struct vmm_port *p, struct err *e)
{
	struct sockaddr_storage ss = {0};
	socklen_t len;
	int family;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, p->host_ip, &in4->sin_addr) == 1) {
		family = in4->sin_family = AF_INET;
		in4->sin_port = htons(p->host_port);
		len = sizeof(*in4);
	} else if (inet_pton(AF_INET6, p->host_ip, &in6->sin6_addr) == 1) {
		family = in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(p->host_port);
		len = sizeof(*in6);
	} else {
		return err_set(e, -EINVAL, EXIT_USAGE, "'%s' is not an IP address", p->host_ip);
	}
	int type = p->proto == VMM_UDP ? SOCK_DGRAM : SOCK_STREAM;
	_cleanup_close_ int fd = socket(family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_sys(e, -errno, EXIT_FAILED, "socket");
	/* as the VMM will bind it: SO_REUSEADDR, so a TIME_WAIT socket is no conflict */
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		int r = -errno;
		struct strbuf sb = STRBUF_INIT;
		vmm_port_format(p, &sb);
		if (r == -EADDRINUSE)
			err_set(e, r, EXIT_FAILED, "port %u on %s is already in use (-p %s)",
				p->host_port, p->host_ip, sb.buf);
		else
			err_sys(e, r, EXIT_FAILED, "port %u on %s cannot be bound (-p %s)",
				p->host_port, p->host_ip, sb.buf);
		err_hint(e, "choose another host port, e.g. -p %u:%u", p->host_port + 1u,
			 p->guest_port);
		strbuf_release(&sb);
		return r;
	}
	return 0;
}

/* --- process ---------------------------------------------------------------- */

int vmm_reap(struct vmm_vm *vm, bool wait)
{
	if (vm->exited)
		return 1;
	if (vm->pid <= 0)
		return 1;
	int st;
	pid_t r;
	do
		r = waitpid(vm->pid, &st, wait ? 0 : WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return 0;
	vm->exited = true;
	if (r < 0) {
		vm->exit_status = -1; /* not our child (or already reaped) */
		return 1;
	}
	vm->exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return 1;
}

void vmm_release(struct vmm_vm *vm)
{
	if (vm->backend && vm->backend->release) {
		vm->backend->release(vm);
		return;
	}
	closep(&vm->pidfd);
	closep(&vm->console_fd);
	closep(&vm->agent_fd);
	free(vm->exit_reason);
	*vm = (struct vmm_vm)VMM_VM_INIT;
}
