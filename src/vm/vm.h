/* The client side of VMs, the layer every command uses: starting one under
 * its own supervisor (src/shim/), reading, stopping, following and removing
 * the VMs that exist, and running commands in them. The directory of a VM
 * and its record are described in shim/vmdir.h. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/err.h"
#include "core/strvec.h"
#include "shim/vmdir.h"
#include "vmm/vmm.h"

/* One file of a VM's secrets disk, /run/secrets/<name> in the guest (0400,
 * root's, read-only): the contents of file, or value (len bytes) when file
 * is NULL. Names are 1-VM_SECRET_NAME_MAX of [A-Za-z0-9_.-], not starting
 * with '.'; all of a VM's values add up to at most SECRETS_IMG_MIN_PAYLOAD. */
#define VM_SECRET_NAME_MAX 64
struct vm_secret {
	const char *name;
	const char *file;
	const char *value;
	size_t len;
};
bool vm_secret_name_valid(const char *name);
/* Checks names, files and sizes (EXIT_USAGE naming the secret, never a value). */
int vm_secrets_check(const struct vm_secret *secrets, size_t n, struct err *e);

/* What to start. Paths must be absolute. */
struct vm_spec {
	const char *name;      /* NULL: generated from name_base ("<base>-<4 hex>") */
	const char *name_base; /* NULL: "vm" */
	const char *backend;   /* NULL: vmm_backend_default() */
	enum vmm_accel accel;  /* AUTO: resolved by vm_start (see vmm_accel_resolve) */
	const char *kernel, *initrd, *rootfs;
	const char *cmdline_extra; /* appended to the kernel command line; may be NULL */
	/* "K=V" for every service and exec of the VM (NULL-terminated, may be
	 * NULL): delivered over the agent before the identity, never on a command
	 * line; a VM with an environment boots parked (cold or restored) and the
	 * record lists only the names (env_keys). */
	const char *const *env;
	/* The VM's secrets disk, made fresh in its directory (secrets.img, 0600)
	 * for this start, attached read-only before the data disk and deleted
	 * when the VM stops; n_secrets 0: no secrets disk. */
	const struct vm_secret *secrets;
	size_t n_secrets;
	/* The snapshot to restore has a secrets slot (blk:secrets): a VM without
	 * secrets gets a blank, unlabelled placeholder there, which the guest
	 * does not mount. */
	bool snapshot_secrets_slot;
	const struct vmm_drive *drives;
	size_t n_drives;
	unsigned vcpus;	  /* 0: VM_DEFAULT_VCPUS */
	uint64_t mem_mib; /* 0: VM_DEFAULT_MEM_MIB */
	/* >0: the VM's data disk, vms/<name>/data.ext4 (ext4 labelled "mvm-data", the
	 * guest's /data), made with this size the first time and reused as it is by
	 * every later start of the name; attached read-write after drives. 0: none */
	uint64_t data_disk_mib;
	/* where vcpus, mem_mib and data_disk_mib came from ("flag", "manifest",
	 * "slot", "default"): recorded as sizing_source; may be NULL */
	const char *vcpus_source, *mem_source, *data_disk_source;
	const struct vmm_port *ports;
	size_t n_ports;
	/* egress (vmm.h): nat, isolated or none; allow entries need isolated */
	enum vmm_net net;
	const struct vmm_allow *allow;
	size_t n_allow;
	const char *revision, *slot; /* recorded only; may be NULL */
	const char *manifest_path;   /* recorded only; may be NULL */
	int boot_timeout_ms;	     /* 0: VM_BOOT_TIMEOUT_MS */
	/* An ephemeral VM lives only as long as vm_started.owner_fd is open (the
	 * shim stops it when the caller closes it or dies) and leaves no trace:
	 * its directory goes when it stops. */
	bool ephemeral;
	/* A revision snapshot (vmm/snapshot.h) found usable for this VM: the
	 * supervisor restores it, then sends the VM its identity; if the data
	 * disk turns out to differ from snapshot_data_disk_mib, or the restore
	 * fails, it cold-boots instead (with a warning). NULL: cold boot. */
	const char *snapshot_dir;
	uint64_t snapshot_data_disk_mib;
	/* Guest RAM in this file, mapped shared, so that the VM can be put to
	 * sleep (vm_sleep) by saving its device state only. With snapshot_dir,
	 * the caller has filled it with the snapshot's RAM and the restore maps
	 * it shared instead of the snapshot's own RAM file. NULL: anonymous RAM. */
	const char *mem_file;
	/* snapshot_dir is this VM's own sleep (vm_sleep): the guest is told to
	 * wake (clock, random pool, fresh secrets disk) instead of being given
	 * an identity. */
	bool wake;
	/* Files the supervisor deletes when the VM stops or sleeps (the fresh
	 * secrets disk of a fleet instance); NULL-terminated, may be NULL. */
	const char *const *remove_on_exit;
	/* The fence file of the cluster agent that starts this VM (shim/fence.h):
	 * the supervisor pauses the VM once the deadline in it has passed. NULL:
	 * no fence (every VM not started by `mvm host serve`). */
	const char *fence;
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
	int owner_fd;		/* ephemeral VMs: close it to stop the VM; else -1 */
	bool restored;		/* started from the snapshot (else a cold boot) */
	struct strvec warnings; /* one line each, for the user (a snapshot not used, …) */
};

#define VM_STARTED_INIT                                                                            \
	{                                                                                          \
		.name = NULL, .accel = VMM_ACCEL_CHOICE_INIT, .owner_fd = -1,                      \
		.warnings = STRVEC_INIT                                                            \
	}

/* Starts a VM under a new shim. Refuses a name whose VM is alive
 * (EXIT_REFUSED), a taken host port (naming it) and missing artifacts before
 * anything boots. A boot that fails or times out is torn down and fails with
 * the reason (and the VM is left `exited` with that reason). */
int vm_start(const struct vm_spec *spec, enum vm_wait wait, struct vm_started *out, struct err *e);
void vm_started_release(struct vm_started *s);

/* A name is [A-Za-z0-9][A-Za-z0-9.-]{0,62} (it is also the guest's hostname,
 * vm_hostname in shim/vmdir.h). */
bool vm_name_valid(const char *name);
/* The refusal of a name that is not valid, with the rule (EXIT_USAGE). */
int vm_name_refuse(const char *name, struct err *e);
/* A name, or a fleet instance's "<tenant>/<pool>/<id>" (three names): its
 * VM lives in $MVM_HOME/pools/<tenant>/<pool>/instances/<id>/, is not listed
 * by vm_list, and its hostname is <id>. */
bool vm_ref_valid(const char *ref);

/* The record of one VM, with its liveness checked: a record whose shim is
 * gone is turned into `exited` ("the supervisor died") on disk first, and an
 * orphaned VMM is killed. Unknown name: EXIT_NOTFOUND. */
int vm_get(const char *name, json_t **rec, struct err *e);
/* vm_get, but a VM whose record cannot be read while its supervisor holds
 * the lock gets a stand-in record (state "unknown", "record_error", and
 * backend, vcpus, mem_mib and run_dir from its spec.json): it runs. */
int vm_get_any(const char *name, json_t **rec, struct err *e);
/* Every VM's record (checked as vm_get_any does), sorted by name. */
int vm_list(json_t **records, struct err *e);
/* The names of the VMs that have a record, sorted, for shell completion:
 * nothing is locked, repaired or killed. alive_only reads each record and
 * keeps those it says are alive, as written: a VM whose supervisor died
 * unnoticed is still listed until vm_get or vm_list repairs its record. */
int vm_names(struct strvec *names, bool alive_only, struct err *e);
/* True when the record says the VM is alive (starting, running, stopping). */
bool vm_record_alive(const json_t *rec);
/* True when a supervisor holds the VM's lock: it lives, whatever its record
 * says or whether it can be read at all. */
bool vm_supervised(const char *name);

/* Stops a VM through its shim and waits (bounded) for the shim to finish:
 * agent shutdown when there is an agent, then the VMM's graceful stop, then
 * a forced one. A VM that already exited is success (*was_running false). */
int vm_stop(const char *name, bool *was_running, struct err *e);

/* True when name is a VM: vms/<name>/ holds a record. */
bool vm_exists(const char *name);

/* Pauses (vCPUs stopped, memory kept) or resumes a running VM. */
int vm_pause(const char *name, struct err *e);
int vm_resume(const char *name, struct err *e);

/* Puts a VM started with a mem_file to sleep: vCPUs stopped, device state
 * saved into <its directory>/sleep/ (VMM_SNAPSHOT_STATE, written under a
 * temporary name and renamed into place), the RAM file synced to disk and
 * dropped from the page cache, the VMM process ended without shutting the
 * guest down. On success the VM's record is `exited` (exit_reason "asleep")
 * and *save_ms is how long the save took. Restore it with vm_start and
 * snapshot_dir = that directory, mem_file = the same file, wake = true. */
int vm_sleep(const char *name, long long *save_ms, struct err *e);

/* Deletes a VM: its directory with record, logs and data disk. A VM that is
 * alive is refused (EXIT_REFUSED) unless force, which stops it first
 * (*was_running then says so). The directory is renamed to a hidden
 * vms/.rm-<name>-<random> in one step before it is deleted, so an interrupted
 * removal leaves the whole VM or nothing listed as one. Unknown name:
 * EXIT_NOTFOUND. */
int vm_remove(const char *name, bool force, bool *was_running, struct err *e);

/* Prints the last `lines` lines (<0: all) of the console log to fd, and with
 * follow keeps printing until the VM exits or *stop becomes true. */
int vm_logs(const char *name, long long lines, bool follow, int fd, volatile int *stop,
	    struct err *e);

/* Attaches to the console: replays the recent console and streams it to fd
 * until the VM exits. When *interrupt becomes nonzero (a signal handler sets
 * it), the VM is stopped and the stream drained. Returns 0 when the VM
 * exited, 1 when it was stopped because of the interrupt. */
int vm_attach(const char *name, int fd, volatile int *interrupt, struct err *e);

/* One command in a running VM (`mvmctl exec NAME`), through its shim. */
struct vm_exec {
	const char *const *argv; /* NULL-terminated, argv[0] looked up in the guest's PATH */
	const char *const *env;	 /* "K=V" added to the guest's environment; may be NULL */
	const char *cwd;	 /* NULL: "/" */
	bool input;		 /* forward in_fd as the command's stdin (else /dev/null) */
	bool tty;		 /* a guest pseudo-terminal; honoured when in_fd is a terminal */
	int timeout_s;		 /* > 0: killed after this long (status 124) */
	int in_fd, out_fd, err_fd;
};

/* Runs x->argv in VM name and streams its input and output until it ends.
 * 0 with *status the guest's exit status (0..255, 128+N after signal N).
 * Otherwise <0 with e->exit saying why: 124 the timeout expired (the command
 * was killed), 126/127 the command could not be executed / was not found
 * (the guest's message in e), anything else: the guest could not be reached
 * or the connection was lost (callers exit 125). */
int vm_exec(const char *name, const struct vm_exec *x, int *status, struct err *e);
