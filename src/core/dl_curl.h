/* libcurl, loaded on first use (core/dlib.h): call dl_curl_load() first,
 * then sym_curl_easy_init() and the rest where curl_easy_init() would be. */
#pragma once

#include <curl/curl.h>

#include "core/dlib.h"
#include "core/err.h"

/* libcurl4 (OpenSSL flavour), which libcurl4-openssl-dev links to. */
#define DL_CURL_SONAME	"libcurl.so.4"
#define DL_CURL_PACKAGE "libcurl4"

/* Every libcurl function the project calls. */
#define DL_CURL_FUNCS(X)                                                                           \
	X(curl_global_init)                                                                        \
	X(curl_easy_init)                                                                          \
	X(curl_easy_setopt)                                                                        \
	X(curl_easy_perform)                                                                       \
	X(curl_easy_getinfo)                                                                       \
	X(curl_easy_strerror)                                                                      \
	X(curl_easy_reset)                                                                         \
	X(curl_easy_cleanup)                                                                       \
	X(curl_slist_append)                                                                       \
	X(curl_slist_free_all)                                                                     \
	X(curl_multi_init)                                                                         \
	X(curl_multi_add_handle)                                                                   \
	X(curl_multi_remove_handle)                                                                \
	X(curl_multi_perform)                                                                      \
	X(curl_multi_poll)                                                                         \
	X(curl_multi_info_read)                                                                    \
	X(curl_multi_cleanup)

DL_CURL_FUNCS(DLIB_DECLARE)

/* Loads libcurl once and calls curl_global_init(CURL_GLOBAL_DEFAULT). Not
 * thread-safe (nor is curl_global_init): call it before starting threads. */
int dl_curl_load(struct err *e);
