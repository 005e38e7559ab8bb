/* Shared libraries loaded with dlopen() when a command first needs them.
 *
 * libcurl and libarchive bring a large tree of libraries (TLS, HTTP/2, LDAP,
 * Kerberos, compressors, XML) that the dynamic loader would map and relocate
 * at every exec of mvmctl: ~4 ms on a command that otherwise starts in ~1.
 * Only a few operations use them (the LLM planner, provisioning the guest
 * kernel), so they are not linked. As systemd does for its optional
 * libraries, each has a module (core/dl_curl.h, core/dl_archive.h) that
 *
 *   - lists the functions the project calls in one X-macro, and declares a
 *     pointer sym_<name> for each, typed from the library's own header
 *     (typeof(&name)), so the compiler checks every call;
 *   - has a dl_<lib>_load() that opens the soname once and resolves every
 *     pointer, or fails saying which library is missing and how to install it.
 *
 * Call the load function at the entry of the operation, then call sym_<name>
 * wherever the real function would be called.
 */
#pragma once

#include "core/err.h"

/* Expanders for a library's X-macro list: in its header, in its .c, and in
 * its table of struct dlib_sym. */
#define DLIB_DECLARE(fn) extern typeof(&fn) sym_##fn;
#define DLIB_DEFINE(fn)	 typeof(&fn) sym_##fn;
#define DLIB_SYM(fn)	 {(void **)&sym_##fn, #fn},

struct dlib_sym {
	void **ptr; /* &sym_<name> */
	const char *name;
};

struct dlib {
	const char *soname;	     /* "libcurl.so.4": the ABI the headers describe */
	const char *package;	     /* the Debian package that ships it, for the hint */
	const struct dlib_sym *syms; /* ends with {NULL, NULL} */
	void *handle;		     /* set once every symbol is resolved */
};

/* Opens lib->soname and resolves every symbol; once loaded, returns 0 at once.
 * On failure nothing stays open and every pointer is NULL; the error
 * (EXIT_NOTREADY, with a hint naming lib->package) says what is missing:
 * -ENOENT when the library cannot be loaded, -ENOSYS when it lacks a symbol. */
int dlib_load(struct dlib *lib, struct err *e);
