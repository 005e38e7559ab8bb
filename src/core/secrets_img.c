/* The read-only secrets disk, one mechanism for a fleet tenant's secrets and
 * a VM's `up --secret`: a small ext4 image labelled SECRETS_IMG_LABEL (the
 * guest mounts it read-only at /run/secrets by that label), root directory
 * 0700, every file root's, with the modes the staged files have. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/mkfs.h"
#include "core/secrets_img.h"
#include "core/spawn.h"
#include "core/strbuf.h"
#include "core/strvec.h"
#include "core/util.h"

int secrets_image_make(const char *img, const char *content_dir, const char *const *files,
		       size_t payload, const char *work_dir, struct err *e)
{
	uint64_t kib = (uint64_t)payload * 2 / 1024 + 512;
	if (kib < SECRETS_IMG_MIN_KIB)
		kib = SECRETS_IMG_MIN_KIB;
	kib = (kib + 1023) & ~(uint64_t)1023;
	_cleanup_close_ int fd =
	    open(img, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_sys(e, -errno, EXIT_FAILED, "creating '%s'", img);
	_cleanup_free_ char *size = xasprintf("%lluk", (unsigned long long)kib);
	size_t nfiles = 0;
	while (files && files[nfiles])
		nfiles++;
	_cleanup_free_ char *inodes = xasprintf("%zu", nfiles + 16);
	/* no journal and few inodes: a read-only image of a few files, made in milliseconds */
	struct strvec argv = STRVEC_INIT;
	strvec_pushv(&argv, (const char *const[]){"mkfs.ext4", "-q", "-F", "-L", SECRETS_IMG_LABEL,
						  "-m", "0", "-N", inodes, "-O", "^has_journal",
						  "-E", "root_owner=0:0", NULL});
	if (content_dir) {
		strvec_push(&argv, "-d");
		strvec_push(&argv, content_dir);
	}
	strvec_push(&argv, img);
	strvec_push(&argv, size);
	int r = mkfs_ext4_run(strvec_argv(&argv), e);
	strvec_clear(&argv);
	if (r < 0)
		return err_prefix(e, r, "making the secrets image '%s'", img);

	/* mkfs leaves the root directory 0755 and -d copies the owner of the
	 * staged files: make /run/secrets 0700 in the guest and the files
	 * root's, so no guest user but root can read them */
	{
		_cleanup_free_ char *cmds = fs_join(work_dir, "debugfs.cmds");
		bool owner = content_dir && (geteuid() != 0 || getegid() != 0);
		struct strbuf script = STRBUF_INIT;
		strbuf_addstr(&script, "sif / mode 040700\n");
		for (size_t i = 0; owner && i < nfiles; i++)
			strbuf_addf(&script, "sif /%s uid 0\nsif /%s gid 0\n", files[i], files[i]);
		r = fs_write_atomic(cmds, script.buf, script.len, 0600, e);
		strbuf_release(&script);
		if (r < 0)
			return r;
		const char *dargv[] = {"debugfs", "-w", "-f", cmds, img, NULL};
		struct child d = CHILD_INIT;
		d.argv = dargv;
		d.capture_out = d.capture_err = d.merge_err = true;
		d.max_capture = 64 << 10;
		r = child_run(&d, e);
		unlink(cmds);
		/* debugfs exits 0 when a request fails: any line but its banner
		 * and the echoed requests ("debugfs …") is an error */
		const char *bad = NULL;
		for (const char *l = d.out.buf; r >= 0 && !bad && *l;) {
			const char *nl = strchrnul(l, '\n');
			if (nl > l && strncmp(l, "debugfs", 7))
				bad = l;
			l = *nl ? nl + 1 : nl;
		}
		if (r >= 0 && (d.status != 0 || bad)) {
			strbuf_rtrim(&d.out);
			r = err_set(e, -EIO, EXIT_FAILED, "debugfs failed (status %d): %s",
				    d.status, d.out.len ? d.out.buf : "no output");
		}
		child_release(&d);
		if (r < 0)
			return err_prefix(e, r, "giving the secrets in '%s' to root", img);
	}
	if (fsync(fd) < 0)
		return err_sys(e, -errno, EXIT_FAILED, "writing '%s'", img);
	return 0;
}
