/* Test helper: provisions (or finds) the guest kernel like `mvmctl build`
 * does and prints what it found, one "key=value" a line:
 *   id= dir= vmlinux= initrd= version= source= cmdline=
 * With --probe it only reports (kernel_probe): state=ready|available|none|no-init.
 * Exit status: 0 ok, else the struct err exit class with the message on stderr. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "build/kernel.h"
#include "core/err.h"
#include "core/strbuf.h"

static void print(const struct kernel *k)
{
	printf("id=%s\ndir=%s\nvmlinux=%s\ninitrd=%s\nversion=%s\nsource=%s\n", k->id ?: "",
	       k->dir ?: "", k->vmlinux ?: "", k->initrd ?: "", k->version ?: "", k->source ?: "");
}

int main(int argc, char **argv)
{
	struct kernel k = KERNEL_INIT;
	if (argc > 1 && !strcmp(argv[1], "--probe")) {
		int r = kernel_probe(&k);
		const char *state = r == KERNEL_READY	    ? "ready"
				    : r == KERNEL_AVAILABLE ? "available"
				    : r == -ENOEXEC	    ? "no-init"
							    : "none";
		printf("state=%s\n", state);
		print(&k);
		kernel_release(&k);
		return 0;
	}
	if (argc > 1) {
		fprintf(stderr, "usage: kernel-ensure [--probe]\n");
		return 2;
	}
	struct err e = ERR_INIT;
	if (kernel_ensure(&k, &e) < 0) {
		fprintf(stderr, "kernel-ensure: error: %s\n", e.msg);
		if (e.hint)
			fprintf(stderr, "hint: %s\n", e.hint);
		int code = e.exit ? e.exit : 1;
		err_release(&e);
		return code;
	}
	print(&k);
	struct strbuf cl = STRBUF_INIT;
	kernel_cmdline(&cl, true, NULL, NULL);
	printf("cmdline=%s\n", cl.buf);
	strbuf_release(&cl);
	kernel_release(&k);
	return 0;
}
