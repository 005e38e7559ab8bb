/* File-system operations with the guarantees mvm promises for $MVM_HOME:
 * writes are atomic (temp file in the same directory, fsync, rename, fsync of
 * the directory), directories are 0700 and files 0600 unless asked otherwise. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"
#include "strbuf.h"

int fs_mkdir_p(const char *path, mode_t mode, struct err *e);
/* Writes len bytes to path atomically with the given mode. */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, struct err *e);
/* Reads a whole file (at most max bytes; more is an error naming the file). */
int fs_read_file(const char *path, size_t max, struct strbuf *out, struct err *e);
/* Points linkpath at target atomically (new link under a temp name + rename). */
int fs_symlink_atomic(const char *target, const char *linkpath, struct err *e);
/* Removes a file or a whole tree; an absent path is success. Does not follow symlinks. */
int fs_rm_rf(const char *path, struct err *e);
/* fsync a directory so a rename inside it is durable. */
int fs_fsync_dir(const char *dir);
bool fs_exists(const char *path);
bool fs_is_dir(const char *path);
bool fs_is_file(const char *path);
/* dirname/basename that allocate and never modify their argument. */
char *fs_dirname(const char *path);
char *fs_basename(const char *path);
/* a/b joined with exactly one slash (malloc'd). */
char *fs_join(const char *a, const char *b);
/* Copies src to dst (mode) atomically, keeping src's holes: only the data
 * extents are copied, in the kernel (copy_file_range). With durable the
 * copy is fsync'd before it is renamed into place. */
int fs_copy_sparse(const char *src, const char *dst, mode_t mode, bool durable, struct err *e);
/* A unique temporary name beside path: "<dir>/.<base>.tmp-<pid>-<n>" (malloc'd). */
char *fs_temp_beside(const char *path);
/* Removes from dir the temporaries (fs_temp_beside) of writers that are dead:
 * what a killed command left half-written. */
void fs_sweep_temps(const char *dir);

/* An exclusive advisory lock (flock) on a lock file. Non-blocking when wait is
 * false: -EWOULDBLOCK if held. The lock file records the holder's pid. */
struct fs_lock {
	int fd;
	char *path;
};
#define FS_LOCK_INIT                                                                               \
	{                                                                                          \
		.fd = -1, .path = NULL                                                             \
	}
int fs_lock_take(struct fs_lock *l, const char *path, bool wait, struct err *e);
/* The pid recorded by the current holder, or 0. */
pid_t fs_lock_holder(const char *path);
void fs_lock_release(struct fs_lock *l);
