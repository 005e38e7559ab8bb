/* One VM's directory: what its supervisor (the shim) and every client of it
 * (src/vm/) agree on.
 *
 * One directory per VM name, $MVM_HOME/vms/<name>/ (0700), or a fleet
 * instance's own directory, $MVM_HOME/pools/<tenant>/<pool>/instances/<id>/:
 *   vm.json      the record, written atomically by the shim (and by whoever
 *                finds the shim dead): name, state, backend, accel, pids,
 *                sizing, ports, revision, slot, started_at, boot_ms, exit_reason
 *   spec.json    what `up` asked for; the shim starts the VM from it
 *   shim.lock    flock'd by the shim for as long as it lives: a VM whose lock
 *                is free has no supervisor, whatever vm.json says
 *   console.log  the guest console;  vmm.log  the VMM's own messages
 *   data.ext4    the data disk (0600), when the VM has one: kept across
 *                `down`/`up`, deleted with the VM by vm_remove
 * The shim's control socket lives in a short runtime directory
 * (run_dir in the record): $MVM_HOME/run/<id>/ctl.sock, or, when that path
 * would not fit in sun_path, $XDG_RUNTIME_DIR/mvm/<id>/ or /tmp/mvm-<uid>/<id>/.
 *
 * States: starting → running → stopping → exited. `exited` records why.
 */
#pragma once

#include <jansson.h>

#include "core/err.h"

#define VM_RECORD_SCHEMA_VERSION 1
#define VM_READY_LINE		 "mvm: ready"
#define VM_DEFAULT_VCPUS	 1
#define VM_DEFAULT_MEM_MIB	 256
#define VM_BOOT_TIMEOUT_MS	 120000
/* A sleeping VM's device state, <its directory>/sleep/, and the exit_reason
 * of its record while it sleeps. */
#define VM_SLEEP_DIR	 "sleep"
#define VM_ASLEEP_REASON "asleep"

/* The directory of a VM name or a fleet instance reference "<t>/<p>/<id>",
 * and one file in it (malloc'd). */
char *vm_dir(const char *name);
char *vm_file(const char *name, const char *file);
/* The guest's hostname for a VM name or reference. */
const char *vm_hostname(const char *name);

/* Writes the record atomically (0600). */
int vm_record_write(const char *name, json_t *rec, struct err *e);

/* Deletes the VM's directory: one rename to a hidden vms/.rm-<name>-<random>
 * (a fleet instance: out of its pool), then the tree. Call with the VM's lock
 * held (or knowing nobody holds it). */
int vm_dir_discard(const char *name, struct err *e);
