#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/dl_curl.h"

DL_CURL_FUNCS(DLIB_DEFINE)

static const struct dlib_sym syms[] = {DL_CURL_FUNCS(DLIB_SYM){NULL, NULL}};

static struct dlib lib = {.soname = DL_CURL_SONAME, .package = DL_CURL_PACKAGE, .syms = syms};

int dl_curl_load(struct err *e)
{
	static bool ready;
	if (ready)
		return 0;
	int r = dlib_load(&lib, e);
	if (r < 0)
		return r;
	CURLcode rc = sym_curl_global_init(CURL_GLOBAL_DEFAULT);
	if (rc != CURLE_OK)
		return err_set(e, -EIO, EXIT_FAILED, "%s: initialising: %s", DL_CURL_SONAME,
			       sym_curl_easy_strerror(rc));
	ready = true;
	return 0;
}
