/* The read-only secrets disk (secrets_img.c): a fleet tenant's secrets.img,
 * a VM's `up --secret` files. */
#pragma once

#include <stddef.h>

#include "core/err.h"

#define SECRETS_IMG_LABEL "mvm-secrets"
/* Image size: max(1 MiB, 2 * payload + 512 KiB), in whole MiB. */
#define SECRETS_IMG_MIN_KIB 1024u
/* The payload that still fits the smallest image: a snapshot's secrets slot
 * is that size, and a restored guest keeps the size it saw. */
#define SECRETS_IMG_MIN_PAYLOAD (256u << 10)

/* Makes img (created 0600 here, must not exist) an ext4 image labelled
 * SECRETS_IMG_LABEL holding the files of content_dir (NULL: none), sized for
 * payload bytes; files names those files (NULL-terminated, may be NULL), to
 * be given to root when we are not root. work_dir receives a scratch file
 * (the debugfs requests), removed before return. */
int secrets_image_make(const char *img, const char *content_dir, const char *const *files,
		       size_t payload, const char *work_dir, struct err *e);
