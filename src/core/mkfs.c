/* mkfs.ext4 runs (mkfs.h). */
#include "core/mkfs.h"

#include <errno.h>

#include "core/spawn.h"
#include "core/strbuf.h"

int mkfs_ext4_run(const char *const *argv, struct err *e)
{
	struct child c = CHILD_INIT;
	c.argv = argv;
	c.capture_out = c.capture_err = c.merge_err = true;
	c.max_capture = 64 << 10;
	int r = child_run(&c, e);
	if (r < 0) {
		if (r == -ENOENT)
			err_hint(e, "install e2fsprogs (apt-get install e2fsprogs), or run 'mvmctl "
				    "doctor'");
	} else if (c.status != 0) {
		strbuf_rtrim(&c.out);
		r = err_set(e, -EIO, EXIT_FAILED, "mkfs.ext4 failed (status %d): %s", c.status,
			    c.out.len ? c.out.buf : "no output");
	}
	child_release(&c);
	return r;
}
