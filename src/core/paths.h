/* Where mvm keeps and finds things: $MVM_HOME, its runtime directory, and the
 * files shipped with mvmctl (presets, mvm-init). */
#pragma once

#include <stdbool.h>

#include "err.h"

/* $MVM_HOME, else ~/.mvm. Never NULL (falls back to /tmp/.mvm-<uid> with no HOME). */
const char *paths_home(void);
/* Creates $MVM_HOME (0700) if missing, then checks it (paths_check_home). */
int paths_ensure_home(struct err *e);
/* $MVM_HOME, when it exists, is a directory of the effective user that no
 * one else can write (else EXIT_NOTREADY, naming the fault and the fix). A
 * given MVM_HOME may be a symbolic link to such a directory; the fallback in
 * /tmp may not. */
int paths_check_home(struct err *e);
/* The same rules for any directory mvm keeps private (what names it in
 * messages); follow: a symbolic link to a good directory is good. */
int paths_check_private_dir(const char *what, const char *dir, bool follow, struct err *e);
/* Data shipped with mvmctl: $MVM_DATADIR, else <exe>/../share/mvm when
 * installed, else the source tree's share/ when run from build/. */
const char *paths_datadir(void);
/* A helper program shipped with mvmctl (e.g. "mvm-init"): $MVM_LIBEXEC/<name>,
 * <exe dir>/<name> (build tree), <exe>/../lib/mvm/<name> (installed).
 * Returns a malloc'd path, or NULL when none exists. */
char *paths_libexec(const char *name);
/* The directory of the running executable (malloc'd). */
char *paths_exe_dir(void);
