/* Running VMs: starting one under its own supervisor (the shim), and
 * reading, stopping and following the VMs that exist.
 *
 * One directory per VM name, $MVM_HOME/vms/<name>/ (0700):
 *   vm.json      the record, written atomically by the shim (and by whoever
 *                finds the shim dead): name, state, backend, accel, pids,
 *                sizing, ports, revision, slot, started_at, boot_ms, exit_reason
 *   spec.json    what `up` asked for; the shim starts the VM from it
 *   shim.lock    flock'd by the shim for as long as it lives: a VM whose lock
 *                is free has no supervisor, whatever vm.json says
 *   console.log  the guest console;  vmm.log  the VMM's own messages
 * The shim's control socket lives in a short runtime directory
 * (run_dir in the record): $MVM_HOME/run/<id>/ctl.sock, or, when that path
 * would not fit in sun_path, $XDG_RUNTIME_DIR/mvm/<id>/ or /tmp/mvm-<uid>/<id>/.
 *
 * States: starting → running → stopping → exited. `exited` records why.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/err.h"
#include "vmm/vmm.h"

#define VM_READY_LINE	   "mvm: ready"
#define VM_DEFAULT_VCPUS   1
#define VM_DEFAULT_MEM_MIB 256
#define VM_BOOT_TIMEOUT_MS 120000

/* What to start. Paths must be absolute. */
struct vm_spec {
	const char *name;      /* NULL: generated from name_base ("<base>-<4 hex>") */
	const char *name_base; /* NULL: "vm" */
	const char *backend;   /* NULL: vmm_backend_default() */
	enum vmm_accel accel;  /* AUTO: resolved by vm_start (see vmm_accel_resolve) */
	const char *kernel, *initrd, *rootfs;
	const char *cmdline_extra; /* appended to the kernel command line; may be NULL */
	const struct vmm_drive *drives;
	size_t n_drives;
	unsigned vcpus;	  /* 0: VM_DEFAULT_VCPUS */
	uint64_t mem_mib; /* 0: VM_DEFAULT_MEM_MIB */
	const struct vmm_port *ports;
	size_t n_ports;
	const char *revision, *slot; /* recorded only; may be NULL */
	const char *manifest_path;   /* recorded only; may be NULL */
	int boot_timeout_ms;	     /* 0: VM_BOOT_TIMEOUT_MS */
};

enum vm_wait {
	VM_WAIT_STARTED, /* return once the VMM runs (attach to follow the boot) */
	VM_WAIT_READY,	 /* return once the guest reports ready */
};

struct vm_started {
	char *name;
	pid_t shim_pid;
	long long boot_ms; /* VMM start to ready (VM_WAIT_READY) */
	struct vmm_accel_choice accel;
};

#define VM_STARTED_INIT                                                                            \
	{                                                                                          \
		.name = NULL, .accel = VMM_ACCEL_CHOICE_INIT                                       \
	}

/* Starts a VM under a new shim. Refuses a name whose VM is alive
 * (EXIT_REFUSED), a taken host port (naming it) and missing artifacts before
 * anything boots. A boot that fails or times out is torn down and fails with
 * the reason (and the VM is left `exited` with that reason). */
int vm_start(const struct vm_spec *spec, enum vm_wait wait, struct vm_started *out, struct err *e);
void vm_started_release(struct vm_started *s);

/* A name is [A-Za-z0-9][A-Za-z0-9.-]{0,62} (it is also the guest's hostname). */
bool vm_name_valid(const char *name);

/* The record of one VM, with its liveness checked: a record whose shim is
 * gone is turned into `exited` ("the supervisor died") on disk first, and an
 * orphaned VMM is killed. Unknown name: EXIT_NOTFOUND. */
int vm_get(const char *name, json_t **rec, struct err *e);
/* Every VM's record (checked the same way), sorted by name. */
int vm_list(json_t **records, struct err *e);
/* True when the record says the VM is alive (starting, running, stopping). */
bool vm_record_alive(const json_t *rec);

/* Stops a VM through its shim and waits (bounded) for the shim to finish:
 * agent shutdown when there is an agent, then the VMM's graceful stop, then
 * a forced one. A VM that already exited is success (*was_running false). */
int vm_stop(const char *name, bool *was_running, struct err *e);

/* Prints the last `lines` lines (<0: all) of the console log to fd, and with
 * follow keeps printing until the VM exits or *stop becomes true. */
int vm_logs(const char *name, long long lines, bool follow, int fd, volatile int *stop,
	    struct err *e);

/* Attaches to the console: replays the recent console and streams it to fd
 * until the VM exits. When *interrupt becomes nonzero (a signal handler sets
 * it), the VM is stopped and the stream drained. Returns 0 when the VM
 * exited, 1 when it was stopped because of the interrupt. */
int vm_attach(const char *name, int fd, volatile int *interrupt, struct err *e);

/* The hidden `mvmctl shim` command: runs the supervisor of VM name.
 * notify_fd gets "started <pid>\n", then "ready <ms>\n", or "error <msg>\n";
 * lock_fd is vms/<name>/shim.lock, already locked by the caller. Detaches
 * (fork, new session, stdio on /dev/null) before anything else; the
 * process that called it returns at once. */
int shim_main(const char *name, int notify_fd, int lock_fd, struct err *e);
