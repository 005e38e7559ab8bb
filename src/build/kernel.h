/* The guest kernel and its initramfs, provisioned once per (kernel, mvm-init)
 * pair under $MVM_HOME/kernels/<id>/:
 *
 *   vmlinux      the uncompressed ELF kernel (booted through PVH)
 *   initrd.img   cpio newc: /init (mvm-init), /lib/modules/<name>.ko and
 *                /lib/modules/order (the load order, one file name a line)
 *   meta.json    what it was made from
 *
 * Where the kernel comes from, first match wins:
 *   1. $MVM_KERNEL: a vmlinux (ELF) or a bzImage/vmlinuz (its payload is
 *      extracted); modules from $MVM_KERNEL_MODULES (a directory searched
 *      recursively) when set, else none (the kernel must have them built in);
 *   2. key `kernel` of $MVM_CONFIG or $MVM_HOME/config.toml (core/config.h;
 *      the environment wins), same meaning, modules from $MVM_KERNEL_MODULES;
 *   3. Debian's cloud kernel: $MVM_KERNEL_DEB, else the newest
 *      linux-image-*.deb in $MVM_KERNEL_CACHE (default /var/cache/mvm), put
 *      there by scripts/fetch-kernel.sh.
 *
 * The id is "<version>-<12 hex>": the hex covers the source's identity
 * (file name and size of the .deb; path, size, mtime and inode of a custom
 * kernel), the SHA-256 of mvm-init and the module list, so a new kernel or a
 * rebuilt mvm-init gives a new directory. A directory is assembled under a
 * temporary name and renamed into place: a killed run leaves nothing
 * half-made under a real id.
 */
#pragma once

#include <stdbool.h>

#include "core/err.h"
#include "core/strbuf.h"

struct kernel {
	char *id;      /* "6.1.0-56-cloud-amd64-0123456789ab" */
	char *dir;     /* $MVM_HOME/kernels/<id> */
	char *vmlinux; /* <dir>/vmlinux */
	char *initrd;  /* <dir>/initrd.img */
	char *version; /* "6.1.0-56-cloud-amd64", or "custom" */
	char *source;  /* the .deb or custom kernel it comes from */
};

#define KERNEL_INIT                                                                                \
	{                                                                                          \
		0                                                                                  \
	}

/* Modules the initramfs carries, in the order mvm-init loads them. */
extern const char *const kernel_modules[];

/* Finds the provisioned kernel for the current source and mvm-init, or
 * provisions it. Fails with EXIT_NOTREADY and a hint when there is no kernel
 * source or no mvm-init. */
int kernel_ensure(struct kernel *k, struct err *e);

enum kernel_state {
	KERNEL_READY = 0,     /* provisioned: every field is set */
	KERNEL_AVAILABLE = 1, /* a source exists (id, version, source set); kernel_ensure
			       * will provision it */
};
/* For `mvmctl doctor`: no side effects. Returns enum kernel_state, or
 * -ENOENT when there is no source (no .deb, no MVM_KERNEL) and -ENOEXEC when
 * mvm-init is missing (k->source is set when a source exists). */
int kernel_probe(struct kernel *k);

void kernel_release(struct kernel *k);

/* The guest kernel command line (without the root/init part: the initramfs's
 * /init is mvm-init, which mounts /dev/vda itself):
 *
 *   console=ttyS0 reboot=t panic=-1 quiet [tsc_early_khz=<kHz>] [mvm.hostname=<name>] [extra]
 *
 *   console=ttyS0  the 8250 UART is built in (hvc0 needs virtio_console, a module)
 *   reboot=t       reboot by triple fault: with -no-reboot QEMU exits
 *   panic=-1       reboot (so QEMU exits) at once on a panic, never hang
 *   tsc_early_khz  ALWAYS under TCG (DESIGN.md: without it ~1 boot in 6 wedges
 *                  calibrating the TSC against the PIT); the value is the host's
 *                  TSC frequency, since a TCG guest reads the host's TSC.
 */
#define KERNEL_CMDLINE_BASE "console=ttyS0 reboot=t panic=-1 quiet"

/* The host's TSC frequency in kHz for tsc_early_khz: "cpu MHz" of
 * /proc/cpuinfo, else KERNEL_TSC_KHZ_FALLBACK. Never 0. */
#define KERNEL_TSC_KHZ_FALLBACK 2000000UL
unsigned long kernel_tsc_khz(void);

/* Appends the command line to out. hostname and extra may be NULL; hostname
 * must be [A-Za-z0-9.-] (else -EINVAL). */
int kernel_cmdline(struct strbuf *out, bool tcg, const char *hostname, const char *extra);

/* Exposed for tests: extracts the uncompressed ELF from a vmlinux (copied),
 * a bzImage (its payload, any compression libarchive reads) or a blob with
 * an LZ4 legacy frame (magic 02 21 4c 18). Checks it is an x86-64 ELF with a
 * PVH entry note. */
int kernel_extract_vmlinux(const void *img, size_t len, struct strbuf *out, struct err *e);
