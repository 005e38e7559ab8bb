/* Shared by vm.c (the client side) and shim.c (the supervisor); not part of
 * the module's public surface (vm.h). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/err.h"
#include "core/strbuf.h"

#define VM_RECORD_SCHEMA_VERSION 1
#define SHIM_CTL_NAME		 "ctl.sock"
#define SHIM_MAX_REQUEST	 4096 /* one control request line */
#define SHIM_MAX_REPLY		 (64u << 10)

/* $MVM_HOME/vms (malloc'd) and the files of one VM. */
char *vm_dir(const char *name);
char *vm_file(const char *name, const char *file);

/* The start time of a process (field 22 of /proc/<pid>/stat, in clock
 * ticks since boot), 0 when it does not exist or has exited (a zombie). */
unsigned long long proc_starttime(pid_t pid);

/* Writes the record atomically (0600). */
int vm_record_write(const char *name, json_t *rec, struct err *e);

/* Waits (at most ms) until the VM's supervisor has released its lock, that
 * is, has written its last record. */
void vm_wait_gone(const char *name, int ms);

/* Milliseconds of CLOCK_MONOTONIC. */
long long mono_ms(void);

/* Control protocol: one JSON object per line each way. A client sends one
 * request ({"op": "status"|"stop"|"attach"|"pause"|"resume"}) and reads one
 * reply ({"ok": true, …} or {"ok": false, "error": "…"}); after the reply
 * to "attach" the socket carries the console's bytes until the VM exits. */
int ctl_connect(const char *run_dir, int *fd, struct err *e);
int ctl_request(int fd, const char *op, int timeout_ms, json_t **reply, struct err *e);

/* The per-VM data disk (datadisk.c): vms/<name>/data.ext4, an ext4 file
 * system labelled VM_DATA_DISK_LABEL (the guest mounts it at /data by that
 * label). Made once per VM name, sparse, 0600, under a temporary name and
 * renamed into place; an existing one is reused untouched whatever size is
 * asked now. *mib is its actual size. Call with the VM's lock held. */
#define VM_DATA_DISK_LABEL "mvm-data"
int vm_data_disk_ensure(const char *name, uint64_t want_mib, char **path, uint64_t *mib,
			struct err *e);

/* Deletes vms/<name>/ (vm_rm.c): one rename to a hidden vms/.rm-<name>-<random>,
 * then the tree. Call with the VM's lock held (or knowing nobody holds it). */
int vm_dir_discard(const char *name, struct err *e);
