/* Shared by the files of src/vm/; not part of the layer's surface (vm.h). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* How long a client waits for a supervisor to write its last record. */
#define VM_LOCK_WAIT_MS 5000

/* Waits (at most ms) until the VM's supervisor has released its lock, that
 * is, has written its last record. */
void vm_wait_gone(const char *name, int ms);

/* The per-VM data disk (datadisk.c): vms/<name>/data.ext4, an ext4 file
 * system labelled VM_DATA_DISK_LABEL (the guest mounts it at /data by that
 * label). Made once per VM name, sparse, 0600, under a temporary name and
 * renamed into place; an existing one is reused untouched whatever size is
 * asked now. *mib is its actual size. Call with the VM's lock held. */
#define VM_DATA_DISK_LABEL "mvm-data"
int vm_data_disk_ensure(const char *name, uint64_t want_mib, char **path, uint64_t *mib,
			struct err *e);

/* The secrets disk of a start (secrets.c): vms/<name>/VM_SECRETS_IMG, made
 * fresh; or, for a restore into a snapshot's secrets slot without secrets, a
 * blank placeholder of the slot's size, VM_SECRETS_SLOT. Call with the VM's
 * lock held. */
#define VM_SECRETS_IMG	"secrets.img"
#define VM_SECRETS_SLOT "secrets-slot.img"
struct vm_secret;
int vm_secrets_disk_make(const char *name, const struct vm_secret *secrets, size_t n, char **path,
			 struct err *e);
int vm_secrets_slot_make(const char *name, char **path, struct err *e);
