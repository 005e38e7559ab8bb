/* `build --snapshot` (snapshot.h). */
#include "build/snapshot.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "build/kernel.h"
#include "core/clock.h"
#include "core/fs.h"
#include "core/jsonio.h"
#include "core/rstore.h"
#include "core/util.h"
#include "proto/agent.h"

#define SNAPSHOT_BOOT_TIMEOUT_MS 60000
#define SNAPSHOT_NEW		 ".snapshot-new"

void snapshot_result_release(struct snapshot_result *r)
{
	free(r->reason);
	*r = (struct snapshot_result){0};
}

static int send_hello(int fd, const uint8_t nonce[PROTO_NONCE_SIZE])
{
	uint8_t p[PROTO_HELLO_MAX], f[PROTO_HEADER_SIZE + PROTO_HELLO_MAX];
	int n = proto_hello_ours("mvmctl-build " MVM_VERSION, nonce, p, sizeof(p));
	int m = n < 0 ? -1 : proto_encode(f, sizeof(f), PROTO_HELLO, 0, p, (size_t)n);
	if (m < 0)
		return -EINVAL;
	return write(fd, f, (size_t)m) == m ? 0 : -EIO;
}

/* The last line of the console, to explain a boot that went wrong. */
static void console_tail(const char *path, struct strbuf *out)
{
	struct strbuf sb = STRBUF_INIT;
	if (strbuf_read_file(&sb, path, 1 << 20) >= 0) {
		strbuf_rtrim(&sb);
		const char *l = strrchr(sb.buf, '\n');
		strbuf_addstr(out, l ? l + 1 : sb.buf);
	}
	strbuf_release(&sb);
}

/* Boots until the guest's agent says PARKED (after the HELLO bearing our
 * nonce: nothing before it is ours), keeping its console. */
static int wait_parked(struct vmm_vm *vm, const char *console_path, struct err *e)
{
	_cleanup_close_ int log =
	    open(console_path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	uint8_t *buf = xmalloc(2 * PROTO_MAX_FRAME);
	struct proto_decoder dec;
	proto_decoder_init(&dec, buf, 2 * PROTO_MAX_FRAME);
	uint8_t nonce[PROTO_NONCE_SIZE];
	int r = proto_nonce_new(nonce);
	if (r == 0)
		r = send_hello(vm->agent_fd, nonce);
	if (r < 0)
		r = err_sys(e, r, EXIT_BUILD, "saying HELLO to the guest's agent");
	long long deadline = mono_ms() + SNAPSHOT_BOOT_TIMEOUT_MS;
	bool hello = false, parked = false;
	while (r == 0 && !parked) {
		long long left = deadline - mono_ms();
		if (left <= 0) {
			struct strbuf why = STRBUF_INIT;
			console_tail(console_path, &why);
			r = err_set(e, -ETIMEDOUT, EXIT_BUILD,
				    "the guest did not park for its snapshot within %d s%s%s",
				    SNAPSHOT_BOOT_TIMEOUT_MS / 1000,
				    why.len ? "; its console: " : "", why.buf);
			strbuf_release(&why);
			break;
		}
		struct pollfd p[3] = {{.fd = vm->console_fd, .events = POLLIN},
				      {.fd = vm->agent_fd, .events = POLLIN},
				      {.fd = vm->pidfd, .events = POLLIN}};
		if (poll(p, 3, (int)left) <= 0)
			continue;
		if (p[0].revents) {
			char c[16384];
			ssize_t n = read(vm->console_fd, c, sizeof(c));
			if (n > 0 && log >= 0 && write(log, c, (size_t)n) < 0) {
				/* the console copy is for diagnostics only */
			}
		}
		if (p[1].revents) {
			size_t room;
			uint8_t *at = proto_decoder_space(&dec, &room);
			ssize_t n = read(vm->agent_fd, at, room);
			if (n > 0) {
				proto_decoder_commit(&dec, (size_t)n);
				struct proto_frame f;
				int d;
				struct proto_hello h;
				while ((d = proto_decoder_next(&dec, &f)) != 0) {
					if (d <= 0 || f.stream != 0)
						continue;
					if (f.type == PROTO_HELLO && !hello)
						hello = proto_hello_answers(f.payload, f.len, nonce,
									    &h) > 0;
					else if (f.type == PROTO_PARKED && hello)
						parked = true;
				}
			}
		}
		if (p[2].revents && !parked) {
			struct strbuf why = STRBUF_INIT;
			console_tail(console_path, &why);
			r = err_set(e, -EIO, EXIT_BUILD, "the guest stopped before it parked%s%s",
				    why.len ? ": " : "", why.buf);
			strbuf_release(&why);
		}
	}
	free(buf);
	return r;
}

static uint64_t allocated(const char *path, bool apparent)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return 0;
	return apparent ? (uint64_t)st.st_size : (uint64_t)st.st_blocks * 512;
}

/* Links every file of the revision but its records and its snapshot into
 * stage (the same filesystem): the new revision shares their inodes. */
static int link_files(const char *rev_dir, const char *stage, struct err *e)
{
	DIR *d = opendir(rev_dir);
	if (!d)
		return err_sys(e, -errno, EXIT_BUILD, "reading '%s'", rev_dir);
	int r = 0;
	struct dirent *de;
	while (r == 0 && (de = readdir(d))) {
		const char *n = de->d_name;
		if (n[0] == '.' || !strcmp(n, SNAPSHOT_DIR) || !strcmp(n, "revision.json") ||
		    !strcmp(n, RSTORE_CHECKSUMS))
			continue;
		_cleanup_free_ char *src = fs_join(rev_dir, n);
		_cleanup_free_ char *dst = fs_join(stage, n);
		if (!fs_is_file(src))
			r = err_set(
			    e, -EINVAL, EXIT_BUILD,
			    "'%s' is not a regular file; a revision holds regular files only", src);
		else if (link(src, dst) < 0)
			r = err_sys(e, -errno, EXIT_BUILD, "linking '%s'", src);
	}
	closedir(d);
	return r;
}

/* Puts the snapshot made in newdir into the revision, in one step: a copy
 * of the revision (its files linked, not copied) gets the snapshot, the new
 * revision.json and its checksums, and is exchanged with the revision
 * (RENAME_EXCHANGE). Killed at any point, the revision is the old one or
 * the new one, whole: never a new snapshot under old checksums. */
static int commit(const char *rev_dir, const char *newdir, json_t *meta, struct err *e)
{
	_cleanup_free_ char *tag = fs_basename(rev_dir);
	struct rstore_stage st = RSTORE_STAGE_INIT;
	int r = rstore_stage_begin(&st, tag, e);
	if (r < 0)
		return r;
	_cleanup_free_ char *parent = fs_dirname(rev_dir);
	_cleanup_free_ char *snap = fs_join(st.dir, SNAPSHOT_DIR);
	_cleanup_free_ char *rp = fs_join(rev_dir, "revision.json");
	_cleanup_free_ char *np = fs_join(st.dir, "revision.json");
	json_t *rev = NULL;
	if ((r = link_files(rev_dir, st.dir, e)) < 0 || (r = json_read_file(rp, &rev, e)) < 0)
		goto out;
	if (rename(newdir, snap) < 0) {
		r = err_sys(e, -errno, EXIT_BUILD, "moving the snapshot into '%s'", st.dir);
		goto out;
	}
	json_object_set(rev, "snapshot", meta);
	if ((r = json_write_file(np, rev, e)) < 0 || (r = rstore_write_checksums(st.dir, e)) < 0)
		goto out;
	if (renameat2(AT_FDCWD, st.dir, AT_FDCWD, rev_dir, RENAME_EXCHANGE) < 0) {
		r = err_sys(e, -errno, EXIT_BUILD, "putting the snapshot in place");
		goto out;
	}
	fs_fsync_dir(parent);
out:
	json_decref(rev);
	rstore_stage_release(&st); /* the old revision now, or what was staged */
	return r;
}

int snapshot_create(const char *rev_dir, const struct snapshot_deps *deps, bool force,
		    struct snapshot_result *out, struct err *e)
{
	*out = (struct snapshot_result){0};
	const struct vmm_backend *b = vmm_backend_find(deps->backend);
	if (!b)
		return err_set(e, -ENOENT, EXIT_NOTREADY, "unknown VMM backend '%s'",
			       deps->backend);
	if (!b->snapshot || !b->restore) {
		out->reason = xasprintf("the %s backend cannot take snapshots", b->name);
		return 0;
	}
	struct strbuf why = STRBUF_INIT;
	if (!force && snapshot_usable(rev_dir, deps, &why) == 1) {
		_cleanup_free_ char *mp = xasprintf("%s/" SNAPSHOT_DIR "/" SNAPSHOT_META, rev_dir);
		json_t *m = NULL;
		if (json_read_file(mp, &m, NULL) == 0) {
			out->size_bytes = (uint64_t)json_get_int(m, "size_bytes", 0);
			out->boot_ms = json_get_int(m, "boot_ms", 0);
			out->save_ms = json_get_int(m, "save_ms", 0);
			/* a record from before save_us: its whole milliseconds */
			out->save_us = json_get_int(m, "save_us", out->save_ms * 1000);
			json_decref(m);
		}
		strbuf_release(&why);
		out->created = out->reused = true;
		return 0;
	}
	strbuf_release(&why);

	_cleanup_free_ char *tmp = fs_join(rev_dir, SNAPSHOT_NEW);
	_cleanup_free_ char *mem = fs_join(tmp, SNAPSHOT_MEM);
	_cleanup_free_ char *placeholder = fs_join(tmp, ".data-placeholder");
	_cleanup_free_ char *secrets = fs_join(tmp, ".secrets-placeholder");
	_cleanup_free_ char *console = fs_join(tmp, ".console.log");
	_cleanup_free_ char *vmmlog = fs_join(tmp, ".vmm.log");
	_cleanup_free_ char *kernel = fs_join(rev_dir, "vmlinux");
	_cleanup_free_ char *initrd = fs_join(rev_dir, "initrd.img");
	_cleanup_free_ char *rootfs = fs_join(rev_dir, "rootfs.ext4");
	_cleanup_free_ char *state = NULL, *mp = NULL;
	struct err ig = ERR_INIT;
	fs_rm_rf(tmp, &ig);
	err_release(&ig);
	if (mkdir(tmp, 0700) < 0)
		return err_sys(e, -errno, EXIT_BUILD, "creating '%s'", tmp);

	struct vmm_vm vm = VMM_VM_INIT;
	struct strbuf cmdline = STRBUF_INIT;
	json_t *meta = NULL;
	int r = 0;
	struct vmm_drive drives[2];
	size_t n_drives = 0;
	if (deps->secrets_disk) {
		/* where each instance's secrets disk will be: read-only, mounted
		 * only after the identity arrives, so its size does not matter */
		int fd = open(secrets, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 || ftruncate(fd, 1 << 20) < 0)
			r = err_sys(e, -errno, EXIT_BUILD, "creating '%s'", secrets);
		if (fd >= 0)
			close(fd);
		if (r < 0)
			goto out;
		drives[n_drives++] = (struct vmm_drive){.path = secrets, .read_only = true};
	}
	if (deps->data_disk_mib) {
		drives[n_drives++] = (struct vmm_drive){.path = placeholder, .read_only = false};
		/* where each VM's own data disk will be: same device, same size */
		int fd = open(placeholder, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 || ftruncate(fd, (off_t)(deps->data_disk_mib << 20)) < 0)
			r = err_sys(e, -errno, EXIT_BUILD, "creating '%s'", placeholder);
		if (fd >= 0)
			close(fd);
		if (r < 0)
			goto out;
	}
	if ((r = kernel_cmdline(&cmdline, deps->accel == VMM_ACCEL_TCG, "mvm-snapshot",
				"mvm.snapshot=1")) < 0) {
		r = err_set(e, r, EXIT_BUILD, "cannot build the snapshot's kernel command line");
		goto out;
	}
	struct vmm_config cfg = {
	    .name = "snapshot",
	    .kernel = kernel,
	    .initrd = fs_is_file(initrd) ? initrd : NULL,
	    .cmdline = cmdline.buf,
	    .rootfs = rootfs,
	    .drives = n_drives ? drives : NULL,
	    .n_drives = n_drives,
	    .vcpus = deps->vcpus,
	    .mem_mib = deps->mem_mib,
	    .mem_file = mem,
	    .agent = true,
	    .accel = deps->accel,
	    .vmm_log = vmmlog,
	    .die_with_parent = true,
	};
	long long t0 = mono_ms();
	if ((r = b->start(&vm, &cfg, e)) < 0)
		goto out;
	if ((r = wait_parked(&vm, console, e)) < 0)
		goto out;
	out->boot_ms = mono_ms() - t0;
	long long t1 = mono_us();
	if ((r = b->snapshot(&vm, tmp, e)) < 0)
		goto out;
	out->save_us = mono_us() - t1;
	out->save_ms = (out->save_us + 500) / 1000;
	b->stop(&vm, 0, &ig);
	err_release(&ig);
	vmm_release(&vm);
	unlink(placeholder);
	unlink(secrets);
	unlink(console);
	unlink(vmmlog);

	state = xasprintf("%s/" VMM_SNAPSHOT_STATE, tmp);
	out->size_bytes = allocated(state, true) + allocated(mem, false);
	meta = snapshot_meta_new(deps);
	json_object_set_new(meta, "size_bytes", json_integer((json_int_t)out->size_bytes));
	json_object_set_new(meta, "boot_ms", json_integer(out->boot_ms));
	json_object_set_new(meta, "save_ms", json_integer(out->save_ms));
	json_object_set_new(meta, "save_us", json_integer(out->save_us));
	mp = fs_join(tmp, SNAPSHOT_META);
	if ((r = json_write_file(mp, meta, e)) < 0 || (r = commit(rev_dir, tmp, meta, e)) < 0)
		goto out;
	out->created = true;
out:
	vmm_release(&vm);
	strbuf_release(&cmdline);
	json_decref(meta);
	if (r < 0 && fs_exists(tmp)) {
		fs_rm_rf(tmp, &ig);
		err_release(&ig);
	}
	return r;
}
