/* The VMM interface: how the rest of mvm starts, stops, pauses, resumes and
 * inspects a microVM without knowing which VMM runs it.
 *
 * A backend (QEMU -M microvm over QMP today; Firecracker over its HTTP API
 * later) is a table of operations, found by name in a small registry. The
 * caller (the per-VM supervisor, src/shim/) fills a struct vmm_config with
 * artifacts and sizing, calls start, and then owns the running struct vmm_vm:
 *
 *   - vm->pidfd        becomes readable when the VMM process exits;
 *   - vm->console_fd   yields the guest's console bytes (the caller keeps the log);
 *   - vm->agent_fd     is the one byte stream to the guest agent (virtio-serial
 *                      port under QEMU, a vsock connection under Firecracker),
 *                      connected for the life of the VM; -1 without an agent;
 *   - vm->event_fd     when readable, call handle_events (-1: the backend has
 *                      no asynchronous events).
 *
 * Everything is argv-spawned; no backend-specific word leaves its own files.
 * Library code: never prints, never exits.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/err.h"
#include "core/strbuf.h"

/* --- accelerator ------------------------------------------------------- */

enum vmm_accel {
	VMM_ACCEL_AUTO = 0,
	VMM_ACCEL_KVM,
	VMM_ACCEL_TCG, /* software emulation; the only choice of backends that can do it */
};

const char *vmm_accel_name(enum vmm_accel a); /* "auto", "kvm", "tcg" */
int vmm_accel_parse(const char *s, enum vmm_accel *out);

struct vmm_backend;

/* The accelerator a VM will use, and why. */
struct vmm_accel_choice {
	enum vmm_accel accel; /* KVM or TCG, never AUTO */
	char *source;	      /* "MVM_ACCEL", "config.toml", "default" */
	char *reason;	      /* why (malloc'd): "KVM guest boot probe failed: …" */
	bool notice;	      /* auto fell back to TCG: the CLI prints one line */
	bool probed;	      /* a probe ran now (else cached or not needed) */
};

#define VMM_ACCEL_CHOICE_INIT                                                                      \
	{                                                                                          \
		.accel = VMM_ACCEL_TCG                                                             \
	}

/* Resolves the accelerator: flag/env MVM_ACCEL, else config key `accel`
 * (config_load), else auto. `auto` picks KVM only when a real guest boot of
 * kernel under KVM has been seen to work on this host: the verdict is cached
 * per host (MVM_HOST_CACHE, else /var/cache/mvm for root, else
 * ~/.cache/mvm; accel-<backend>.json) with the host kernel, CPU and VMM
 * version it was made on, and probed again (bounded in time, failing fast on
 * a silent guest) when any of them changes.
 * `kvm` asked explicitly with no usable /dev/kvm fails with EXIT_NOTREADY. */
int vmm_accel_resolve(const struct vmm_backend *b, const char *kernel, struct vmm_accel_choice *out,
		      struct err *e);
void vmm_accel_choice_release(struct vmm_accel_choice *c);

/* --- port forwards ----------------------------------------------------- */

enum vmm_proto { VMM_TCP = 0, VMM_UDP };

struct vmm_port {
	char host_ip[46]; /* numeric address; "127.0.0.1" by default */
	uint16_t host_port, guest_port;
	enum vmm_proto proto;
};

/* "[HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|/udp]" (IPv6 host in brackets). */
int vmm_port_parse(const char *s, struct vmm_port *p, struct err *e);
/* "127.0.0.1:8080:80/tcp" into out. */
void vmm_port_format(const struct vmm_port *p, struct strbuf *out);
/* Fails (EXIT_FAILED) naming the port when host_ip:host_port cannot be bound now. */
int vmm_port_check_free(const struct vmm_port *p, struct err *e);

/* Egress: what the guest may reach.
 *   nat       user-mode NAT: the internet and the host (10.0.2.2 is its loopback)
 *   isolated  nothing: not the internet, not the host, not other VMs; published
 *             ports still reach the guest (QEMU's restrict=on)
 *   none      no network device at all
 * With allow entries (isolated), allowed destination i is reachable from the
 * guest at VMM_ALLOW_NET.(VMM_ALLOW_FIRST + i), on its own port; each
 * connection there is relayed to it by `<proxy_exe> netproxy HOST PORT`. */
enum vmm_net { VMM_NET_NAT = 0, VMM_NET_ISOLATED, VMM_NET_NONE };
const char *vmm_net_name(enum vmm_net n);
int vmm_net_parse(const char *s, enum vmm_net *out); /* -EINVAL: not a mode */

#define VMM_ALLOW_NET	"10.0.2"
#define VMM_ALLOW_FIRST 100
#define VMM_ALLOW_MAX	32
#define VMM_HOST_MAX	253
struct vmm_allow {
	char host[VMM_HOST_MAX + 1]; /* an IPv4 address or a DNS name */
	uint16_t port;
};
/* "HOST:PORT" (EXIT_USAGE naming what is wrong). */
int vmm_allow_parse(const char *s, struct vmm_allow *a, struct err *e);
/* "HOST:PORT" and the guest's "10.0.2.N:PORT" for entry i, into out. */
void vmm_allow_format(const struct vmm_allow *a, struct strbuf *out);
void vmm_allow_guest(const struct vmm_allow *a, size_t i, struct strbuf *out);

/* --- starting ---------------------------------------------------------- */

struct vmm_drive {
	const char *path;
	bool read_only; /* the guest cannot write it (enforced by the VMM) */
};

struct vmm_config {
	const char *name; /* VM name, for the VMM's own diagnostics */
	/* artifacts */
	const char *kernel;		/* uncompressed ELF vmlinux (PVH entry) */
	const char *initrd;		/* may be NULL */
	const char *cmdline;		/* the whole guest command line */
	const char *rootfs;		/* first drive (vda), always read-only */
	const struct vmm_drive *drives; /* vdb, vdc, … in order */
	size_t n_drives;
	/* sizing */
	unsigned vcpus;
	uint64_t mem_mib;
	/* guest RAM in this file (shared mapping) so that a snapshot can save
	 * device state only and a restore can map the RAM copy-on-write;
	 * NULL: anonymous memory (no snapshot possible) */
	const char *mem_file;
	/* map mem_file copy-on-write (a restore: the file is never written);
	 * else shared (the snapshot's source writes guest RAM into it) */
	bool mem_private;
	/* network: user-mode NAT with these forwards (guest 10.0.2.15/24 via 10.0.2.2) */
	const struct vmm_port *ports;
	size_t n_ports;
	enum vmm_net net; /* egress (above); VMM_NET_NONE: no ports either */
	const struct vmm_allow *allow;
	size_t n_allow;
	const char *proxy_exe;	/* mvmctl, for allow entries: <proxy_exe> netproxy HOST PORT */
	bool agent;		/* create the agent channel (vm->agent_fd) */
	enum vmm_accel accel;	/* resolved: KVM or TCG */
	unsigned tcg_cache_mib; /* TCG translation cache cap; 0: the backend's default */
	const char *vmm_log;	/* the VMM's own stderr goes here (0600, appended) */
	bool die_with_parent;	/* the VMM is killed when the calling thread exits */
};

enum vmm_state {
	VMM_STATE_RUNNING = 0,
	VMM_STATE_PAUSED,
	VMM_STATE_SHUTDOWN, /* the guest powered off; the VMM is exiting */
	VMM_STATE_EXITED,   /* the VMM process is gone */
	VMM_STATE_OTHER,    /* e.g. an internal error of the VMM */
};

const char *vmm_state_name(enum vmm_state s); /* "running", "paused", … */

struct vmm_vm {
	const struct vmm_backend *backend;
	pid_t pid;
	int pidfd;
	int console_fd;
	int agent_fd;
	int event_fd;
	bool exited;	   /* the VMM process was reaped */
	int exit_status;   /* its status: exit code or 128+signal */
	char *exit_reason; /* what the VMM last said about stopping (malloc'd), or NULL */
	void *priv;	   /* the backend's own state */
};

#define VMM_VM_INIT                                                                                \
	{                                                                                          \
		.pid = -1, .pidfd = -1, .console_fd = -1, .agent_fd = -1, .event_fd = -1           \
	}

struct vmm_backend {
	const char *name; /* "qemu", "firecracker" */
	/* Whether the backend can run here (its binary exists …); why not into why. */
	bool (*available)(struct strbuf *why);
	/* Whether it can run guests with accel (firecracker: KVM only). */
	bool (*supports_accel)(enum vmm_accel accel);
	/* Boots a guest of kernel under KVM with a bounded timeout: 0 when the
	 * kernel ran to its end (a panic at the missing root), else -errno with
	 * the failure in why. */
	/* boots kernel under KVM: 0 when it ran to its end; fails when it does
	 * not within timeout_ms, or prints nothing for silence_ms */
	int (*probe_kvm)(const char *kernel, int timeout_ms, int silence_ms, struct strbuf *why);
	/* A one-line version of the VMM ("QEMU 7.2.22"), malloc'd, for records.
	 * Cheap after the first call: QEMU keeps it in $MVM_HOME/qemu-version.json
	 * across processes, valid while its binary is the same file. */
	char *(*version)(void);
	/* Starts the VMM and returns when it accepts control requests. */
	int (*start)(struct vmm_vm *vm, const struct vmm_config *cfg, struct err *e);
	/* Graceful stop (ACPI power button or equivalent) waiting at most
	 * graceful_ms for the VMM to exit, then a VMM-level quit, then SIGKILL;
	 * returns with the process reaped. Bounded: graceful_ms + 2 s at most. */
	int (*stop)(struct vmm_vm *vm, int graceful_ms, struct err *e);
	int (*pause)(struct vmm_vm *vm, struct err *e);
	int (*resume)(struct vmm_vm *vm, struct err *e);
	int (*status)(struct vmm_vm *vm, enum vmm_state *st, struct err *e);
	/* Reads the backend's pending events (vm->event_fd readable); may set
	 * vm->exit_reason. */
	int (*handle_events)(struct vmm_vm *vm, struct err *e);
	/* Snapshots. NULL when the backend cannot. snapshot saves a paused VM's
	 * device state into dir/VMM_SNAPSHOT_STATE (RAM stays in cfg->mem_file,
	 * which the VM must have been started with); restore starts a VM from
	 * cfg (mem_file mapped copy-on-write with mem_private, else shared so
	 * that it can be saved again; same devices and sizing as the saved
	 * one) and the state in dir, and returns it paused; resume runs it. */
	int (*snapshot)(struct vmm_vm *vm, const char *dir, struct err *e);
	int (*restore)(struct vmm_vm *vm, const struct vmm_config *cfg, const char *dir,
		       struct err *e);
	/* Frees the backend's state and closes the fds; kills a VMM still running. */
	void (*release)(struct vmm_vm *vm);
};

#define VMM_SNAPSHOT_STATE "vmstate"

/* The registry: NULL when no backend has that name. */
const struct vmm_backend *vmm_backend_find(const char *name);
/* The backend to use when none is asked for (config `backend`, else "qemu"). */
const char *vmm_backend_default(void);
/* Names of every backend compiled in, NULL-terminated. */
extern const struct vmm_backend *const vmm_backends[];

/* Collects the VMM's exit after vm->pidfd became readable (or blocking when
 * wait is true): sets vm->exited and vm->exit_status. 1: exited; 0: still running. */
int vmm_reap(struct vmm_vm *vm, bool wait);
/* Releases through the backend (accepts a vm that never started). */
void vmm_release(struct vmm_vm *vm);
