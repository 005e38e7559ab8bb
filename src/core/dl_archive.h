/* libarchive, loaded on first use (core/dlib.h): call dl_archive_load()
 * first, then sym_archive_read_new() and the rest where archive_read_new()
 * would be. */
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include "core/dlib.h"
#include "core/err.h"

#define DL_ARCHIVE_SONAME  "libarchive.so.13"
#define DL_ARCHIVE_PACKAGE "libarchive13"

/* Every libarchive function the project calls. */
#define DL_ARCHIVE_FUNCS(X)                                                                        \
	X(archive_error_string)                                                                    \
	X(archive_read_new)                                                                        \
	X(archive_read_support_filter_all)                                                         \
	X(archive_read_support_filter_none)                                                        \
	X(archive_read_support_format_raw)                                                         \
	X(archive_read_support_format_tar)                                                         \
	X(archive_read_open_memory)                                                                \
	X(archive_read_open_fd)                                                                    \
	X(archive_read_next_header)                                                                \
	X(archive_read_data)                                                                       \
	X(archive_read_data_skip)                                                                  \
	X(archive_read_free)                                                                       \
	X(archive_write_new)                                                                       \
	X(archive_write_set_format_cpio_newc)                                                      \
	X(archive_write_add_filter_none)                                                           \
	X(archive_write_set_bytes_in_last_block)                                                   \
	X(archive_write_open_memory)                                                               \
	X(archive_write_header)                                                                    \
	X(archive_write_data)                                                                      \
	X(archive_write_close)                                                                     \
	X(archive_write_free)                                                                      \
	X(archive_entry_new)                                                                       \
	X(archive_entry_free)                                                                      \
	X(archive_entry_pathname)                                                                  \
	X(archive_entry_filetype)                                                                  \
	X(archive_entry_size)                                                                      \
	X(archive_entry_perm)                                                                      \
	X(archive_entry_symlink)                                                                   \
	X(archive_entry_hardlink)                                                                  \
	X(archive_entry_set_pathname)                                                              \
	X(archive_entry_set_filetype)                                                              \
	X(archive_entry_set_perm)                                                                  \
	X(archive_entry_set_uid)                                                                   \
	X(archive_entry_set_gid)                                                                   \
	X(archive_entry_set_mtime)                                                                 \
	X(archive_entry_set_nlink)                                                                 \
	X(archive_entry_set_size)                                                                  \
	X(archive_entry_set_rdev)

DL_ARCHIVE_FUNCS(DLIB_DECLARE)

int dl_archive_load(struct err *e);
