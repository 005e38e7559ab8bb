/* The builder VM's root filesystem, made by mvm from the host's own files,
 * offline: Debian's nix (the `nix` binary, its links, libnix*, libexec/nix)
 * with every shared library `ldd` names, the static busybox as userland,
 * /etc/passwd and /etc/group for root, and empty mount points (/nix, /in).
 * mvm-init is PID 1 as in every guest: it comes with the kernel's initramfs.
 *
 * Cached under $MVM_HOME/builder/images/<id>/{rootfs.ext4,meta.json}; the id
 * is the SHA-256 of every input's identity (path, size, mtime of each host
 * file, busybox's applet list, the guest kernel id, which covers mvm-init),
 * so a new nix-bin or mvm-init gives a new image and nothing else does. A
 * directory is assembled under a temporary name and renamed into place.
 * While a build uses an image it holds a shared flock on its meta.json; each
 * ensure removes the other images that nobody holds (superseded ones).
 */
#pragma once

#include "core/err.h"

struct builder_image {
	char *id;     /* 64 hex */
	char *rootfs; /* <dir>/rootfs.ext4 */
	char *kernel_id;
	char *vmlinux, *initrd;
	bool made;  /* made by this call (else it was cached) */
	int use_fd; /* a shared lock on meta.json: the image is in use */
};

#define BUILDER_IMAGE_INIT                                                                         \
	{                                                                                          \
		.use_fd = -1                                                                       \
	}

/* Finds or makes the image for the host's nix and the current guest kernel,
 * holds it until builder_image_release, and prunes superseded ones. No nix:
 * EXIT_NOTREADY with the package to install. */
int builder_image_ensure(struct builder_image *img, struct err *e);
void builder_image_release(struct builder_image *img);
