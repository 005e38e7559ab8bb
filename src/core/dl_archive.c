#include <stddef.h>

#include "core/dl_archive.h"

DL_ARCHIVE_FUNCS(DLIB_DEFINE)

static const struct dlib_sym syms[] = {DL_ARCHIVE_FUNCS(DLIB_SYM){NULL, NULL}};

static struct dlib lib = {.soname = DL_ARCHIVE_SONAME, .package = DL_ARCHIVE_PACKAGE, .syms = syms};

int dl_archive_load(struct err *e)
{
	return dlib_load(&lib, e);
}
