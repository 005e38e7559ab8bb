#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build/nix.h"
#include "build/nixlog.h"
#include "builder/builder.h"
#include "builder/image.h"
#include "builder/import.h"
#include "core/clock.h"
#include "core/fs.h"
#include "core/jsonio.h"
#include "core/mkfs.h"
#include "core/rstore.h"
#include "core/size.h"
#include "core/spawn.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "vm/vm.h"

#define IN_LABEL     "mvm-build-in"
#define STORE_LABEL  "mvm-data" /* mvm-init mounts it at /data */
#define EXPORT_MAGIC "MVM-EXPORT-V1\n"
#define EXPORT_AT    4096 /* the tar starts here, after the header block */
#define GC_MARK	     "mvm-builder-gc: "
#define STR_(x)	     #x
#define STR(x)	     STR_(x)
#define TAIL_MAX     (64u << 10)

/* $1 a percentage, $2 the build's output, then a command (nix path-info -r
 * OUT, argv from nix_closure_argv): lists the closure onto stdout, writes
 * those store paths as a tar after the export disk's header block and
 * syncs; then, when the store's disk is at least $1 percent full, collects
 * its garbage, keeping what the output was built from (keep-outputs and
 * keep-derivations, the output as the one root) so the next build still
 * reuses it. One exec for all of it; after it nothing in the guest has
 * unwritten data, so the VM can go at once. Fixed text: the arguments are
 * argv, never shell text. */
static const char export_sh[] =
    "set -eu\n"
    "set -o pipefail\n"
    "gc_at=$1 root=$2\n"
    "shift 2\n"
    "out=\n"
    "for d in /dev/vd?; do\n"
    "  if [ \"$(head -c 13 \"$d\" 2>/dev/null)\" = MVM-EXPORT-V1 ]; then out=$d; fi\n"
    "done\n"
    "[ -n \"$out\" ] || { echo 'mvm builder: no export disk' >&2; exit 1; }\n"
    "set -f\n" /* a store path's name may hold '?': words, never patterns */
    "paths=$(\"$@\")\n"
    "printf '%s\\n' \"$paths\"\n"
    "set --\n"
    "for p in $paths; do\n"
    "  case $p in /nix/store/*) set -- \"$@\" \"${p#/}\" ;; *) exit 1 ;; esac\n"
    "done\n"
    "cd /\n"
    "tar -cf - \"$@\" | dd of=\"$out\" bs=1M iflag=fullblock oflag=seek_bytes seek=" STR(
	EXPORT_AT) " 2>/dev/null\n"
		   "sync\n"
		   /* percent used, rounded up as GNU df does (busybox's rounds) */
		   "use=$(df -Pk /nix | awk 'NR == 2 { t = $3 + $4; "
		   "print t ? int(($3 * 100 + t - 1) / t) : 0 }')\n"
		   "[ \"$use\" -ge \"$gc_at\" ] || exit 0\n"
		   /* the export is done: nothing below may fail it */
		   "set +e\n"
		   "mkdir -p /nix/var/nix/gcroots &&\n"
		   "  ln -sfn \"$root\" /nix/var/nix/gcroots/mvm-last-build &&\n"
		   "  said=$(nix --extra-experimental-features nix-command "
		   "--option build-users-group '' --option keep-outputs true "
		   "--option keep-derivations true store gc 2>&1 | tail -n 1) ||\n"
		   "  said='the collection failed; the build is exported all the same'\n"
		   "echo \"" GC_MARK "$use% $said\" >&2\n"
		   "sync\n"
		   "exit 0\n";

/* --- sizes of a tree, for mkfs ------------------------------------------- */

static uint64_t walk_bytes, walk_inodes;

static int walk_one(const char *p, const struct stat *sb, int type, struct FTW *f)
{
	(void)p, (void)type, (void)f;
	walk_inodes++;
	walk_bytes += ((uint64_t)sb->st_size + 4095) / 4096 * 4096 + 4096;
	return 0;
}

static int mkfs_tree(const char *tree, const char *image, const char *label, struct err *e)
{
	walk_bytes = walk_inodes = 0;
	if (nftw(tree, walk_one, 32, FTW_PHYS) < 0)
		return err_sys(e, -errno, EXIT_FAILED, "reading '%s'", tree);
	uint64_t kib = (walk_bytes + walk_bytes / 4 + (8u << 20)) >> 10;
	_cleanup_free_ char *size = xasprintf("%lluk", (unsigned long long)kib);
	_cleanup_free_ char *nin = xasprintf("%llu", (unsigned long long)(walk_inodes * 2 + 256));
	const char *argv[] = {
	    "mkfs.ext4",      "-q", "-F", "-L",	 label, "-N", nin, "-O", "^has_journal", "-E",
	    "root_owner=0:0", "-d", tree, image, size,	NULL};
	return mkfs_ext4_run(argv, e);
}

/* --- the input disk ------------------------------------------------------- */

static int copy_tree(const char *src, const char *dst, struct err *e)
{
	const char *argv[] = {"cp", "-a", "--", src, dst, NULL};
	struct child c = CHILD_INIT;
	c.argv = argv;
	c.capture_out = c.capture_err = c.merge_err = true;
	int r = child_run(&c, e);
	if (r == 0 && c.status != 0)
		r = err_set(e, -EIO, EXIT_FAILED, "copying '%s' for the builder: %s", src,
			    c.out.buf);
	child_release(&c);
	return r;
}

/* The flake at /in/src and each local override input at /in/inputs/<k>;
 * guest_ov receives the overrides as the guest sees them. */
static int make_input(const char *work, const struct build_request *req, struct strvec *guest_ov,
		      char **image, struct err *e)
{
	if (req->flake[0] != '/') {
		int r =
		    err_set(e, -EINVAL, EXIT_USAGE,
			    "the builder VM builds a local flake directory, not '%s'", req->flake);
		err_hint(e, "build it with --builder host, or point the pool at a directory");
		return r;
	}
	_cleanup_free_ char *tree = fs_join(work, "in");
	_cleanup_free_ char *src = fs_join(tree, "src");
	_cleanup_free_ char *inputs = fs_join(tree, "inputs");
	int r = fs_mkdir_p(inputs, 0755, e);
	if (r >= 0)
		r = copy_tree(req->flake, src, e);
	const struct strvec *ov = req->nix->overrides;
	for (size_t i = 0; r >= 0 && ov && i + 1 < ov->n; i += 2) {
		const char *ref = ov->v[i + 1];
		strvec_push(guest_ov, ov->v[i]);
		_cleanup_free_ char *path = nix_path_ref_dir(ref);
		if (!path) {
			strvec_push(guest_ov,
				    ref); /* fetched inside, when the builder has a network */
			continue;
		}
		_cleanup_free_ char *name = xasprintf("%zu", i / 2);
		_cleanup_free_ char *dst = fs_join(inputs, name);
		if ((r = copy_tree(path, dst, e)) < 0)
			break;
		strvec_pushf(guest_ov, "path:/in/inputs/%s", name);
	}
	if (r < 0)
		return r;
	*image = fs_join(work, "in.ext4");
	if ((r = mkfs_tree(tree, *image, IN_LABEL, e)) < 0)
		return r;
	return fs_rm_rf(tree, e);
}

/* --- the tenant's store disk ---------------------------------------------- */

static int store_ensure(const char *dir, struct fs_lock *lk, char **image, struct err *e)
{
	int r = fs_mkdir_p(dir, 0700, e);
	if (r < 0)
		return r;
	_cleanup_free_ char *lock = fs_join(dir, "store.lock");
	/* one build at a time uses a tenant's store: the next one waits */
	if ((r = fs_lock_take(lk, lock, true, e)) < 0)
		return r;
	fs_sweep_temps(dir);
	*image = fs_join(dir, "store.ext4");
	if (fs_is_file(*image))
		return 0;
	_cleanup_free_ char *tmp = fs_temp_beside(*image);
	_cleanup_close_ int fd =
	    open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_sys(e, -errno, EXIT_FAILED, "creating '%s'", tmp);
	if (ftruncate(fd, (off_t)BUILDER_STORE_MIB << 20) < 0) {
		r = err_sys(e, -errno, EXIT_FAILED, "sizing '%s'", tmp);
		unlink(tmp);
		return r;
	}
	const char *argv[] = {"mkfs.ext4",	"-q", "-F", "-L", STORE_LABEL, "-E",
			      "root_owner=0:0", tmp,  NULL};
	r = mkfs_ext4_run(argv, e);
	if (r >= 0 && fsync(fd) < 0)
		r = err_sys(e, -errno, EXIT_FAILED, "writing '%s'", tmp);
	if (r >= 0 && rename(tmp, *image) < 0)
		r = err_sys(e, -errno, EXIT_FAILED, "installing '%s'", *image);
	if (r < 0)
		unlink(tmp);
	fs_fsync_dir(dir);
	return r;
}

static int export_disk(const char *work, char **image, struct err *e)
{
	*image = fs_join(work, "export.img");
	_cleanup_close_ int fd =
	    open(*image, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_sys(e, -errno, EXIT_FAILED, "creating '%s'", *image);
	char head[EXPORT_AT] = EXPORT_MAGIC;
	if (write(fd, head, sizeof(head)) != (ssize_t)sizeof(head) ||
	    ftruncate(fd, (off_t)BUILDER_EXPORT_MAX_MIB << 20) < 0)
		return err_sys(e, -errno, EXIT_FAILED, "writing '%s'", *image);
	return 0;
}

/* --- commands in the builder ---------------------------------------------- */

struct tee {
	int in;
	struct nixlog *log; /* nix's internal-json rendered for the user, or NULL */
	struct strbuf tail; /* without log: the last of the raw stream */
};

static void *tee_run(void *arg)
{
	struct tee *t = arg;
	char buf[8192];
	for (;;) {
		struct pollfd pfd = {.fd = t->in, .events = POLLIN};
		int pr = poll(&pfd, 1, 250);
		if (pr == 0 && t->log)
			nixlog_tick(t->log); /* the status line's seconds move on */
		if (pr <= 0)
			continue;
		ssize_t n = read(t->in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (t->log) {
			nixlog_feed(t->log, buf, (size_t)n);
			continue;
		}
		strbuf_add(&t->tail, buf, (size_t)n);
		if (t->tail.len > TAIL_MAX) {
			size_t cut = t->tail.len - TAIL_MAX / 2;
			memmove(t->tail.buf, t->tail.buf + cut, t->tail.len - cut);
			strbuf_setlen(&t->tail, t->tail.len - cut);
		}
	}
	if (t->log)
		nixlog_finish(t->log);
	return NULL;
}

/* Runs argv in the VM: stdout into *out (when out); stderr through log (when
 * not NULL: nix's --log-format internal-json) and its tail into *tail (when
 * tail), or else into *out too. */
static int run_in(const char *vm, const char *const *argv, int timeout_s, struct nixlog *log,
		  struct strbuf *out, struct strbuf *tail, int *status, struct err *e)
{
	int mfd = memfd_create("builder-out", MFD_CLOEXEC);
	if (mfd < 0)
		return err_sys(e, -errno, EXIT_FAILED, "memfd_create");
	int p[2] = {-1, -1};
	struct tee t = {.in = -1, .log = log, .tail = STRBUF_INIT};
	pthread_t th;
	bool teeing = false;
	if (log || tail) {
		if (pipe2(p, O_CLOEXEC) < 0) {
			close(mfd);
			return err_sys(e, -errno, EXIT_FAILED, "pipe");
		}
		t.in = p[0];
		teeing = pthread_create(&th, NULL, tee_run, &t) == 0;
		if (!teeing) { /* nobody would read the pipe: stderr joins stdout */
			close(p[0]);
			close(p[1]);
			p[0] = p[1] = -1;
		}
	}
	struct vm_exec x = {.argv = argv,
			    .timeout_s = timeout_s,
			    .in_fd = -1,
			    .out_fd = mfd,
			    .err_fd = p[1] >= 0 ? p[1] : mfd};
	int r = vm_exec(vm, &x, status, e);
	if (p[1] >= 0)
		close(p[1]);
	if (teeing)
		pthread_join(th, NULL);
	if (p[0] >= 0)
		close(p[0]);
	if (tail && log)
		strbuf_addstr(tail, nixlog_tail(log));
	else if (tail)
		strbuf_add(tail, t.tail.buf, t.tail.len);
	strbuf_release(&t.tail);
	if (out && lseek(mfd, 0, SEEK_SET) == 0)
		strbuf_read_fd(out, mfd, 64u << 20);
	close(mfd);
	return r;
}

static bool ran_out_of_memory(const char *vm)
{
	const char *argv[] = {"dmesg", NULL};
	struct strbuf out = STRBUF_INIT;
	struct err ig = ERR_INIT;
	int status = -1;
	run_in(vm, argv, 30, NULL, &out, NULL, &status, &ig);
	err_release(&ig);
	bool oom = out.buf && (strstr(out.buf, "Out of memory") || strstr(out.buf, "oom-kill"));
	strbuf_release(&out);
	return oom;
}

/* EXIT_BUILD: "<what> status N):" and the last lines of the command's stderr. */
static int failed_in_vm(struct err *e, const char *what, int status, const struct strbuf *tail)
{
	struct strbuf last = STRBUF_INIT, shown = STRBUF_INIT;
	nix_tail_lines(&last, tail->buf ? tail->buf : "", 25);
	/* the guest wrote it: no escape or control byte reaches the terminal */
	for (const char *p = last.buf ? last.buf : ""; *p;) {
		size_t n = strcspn(p, "\n");
		nixlog_add_shown(&shown, p, n);
		p += n;
		if (*p == '\n')
			strbuf_addstr(&shown, "\n"), p++;
	}
	int r = err_set(e, -EIO, EXIT_BUILD, "%s status %d)%s%s", what, status,
			shown.len ? ":\n" : "", shown.len ? shown.buf : "");
	strbuf_release(&last);
	strbuf_release(&shown);
	return r;
}

/* Why nix build failed, when the VM can say: memory, or a full store. */
static void build_hints(const char *vm, const struct builder_opts *bo, const struct strbuf *tail,
			struct err *e)
{
	if (ran_out_of_memory(vm))
		err_hint(e,
			 "the builder VM ran out of memory (%llu MiB): give it more with "
			 "--builder-mem or [builder] mem in config.toml",
			 (unsigned long long)bo->mem_mib);
	else if (tail->buf && strstr(tail->buf, "No space left on device"))
		err_hint(e,
			 "the builder's store (%s/store.ext4, %d MiB) is full: remove that file "
			 "to start it afresh (the next build rebuilds what it needs)",
			 bo->store_dir, BUILDER_STORE_MIB);
}

static int parse_closure(const char *text, struct strvec *closure, struct err *e)
{
	for (const char *p = text; p && *p;) {
		const char *nl = strchrnul(p, '\n');
		if (nl > p) {
			_cleanup_free_ char *line = xstrndup(p, (size_t)(nl - p));
			if (!nix_store_path_valid(line)) {
				_cleanup_free_ char *shown = str_shown(line, 200);
				return err_set(e, -EINVAL, EXIT_BUILD,
					       "the builder listed '%s' in the closure: not a "
					       "store path",
					       shown);
			}
			strvec_push(closure, line);
		}
		p = *nl ? nl + 1 : nl;
	}
	if (!closure->n)
		return err_set(e, -EINVAL, EXIT_BUILD, "the builder listed an empty closure");
	return 0;
}

/* --- the whole build ------------------------------------------------------- */

static void phase(const struct build_progress *pg, const char *name, double start)
{
	if (pg && pg->phase_done)
		pg->phase_done(pg->ctx, name, mono_s() - start);
}

static int remaining(long long deadline_ms)
{
	long long left = deadline_ms - mono_ms();
	return left < 1000 ? 1 : (int)(left / 1000);
}

static int timed_out(const struct builder_opts *bo, struct err *e)
{
	int r = err_set(e, -ETIMEDOUT, EXIT_BUILD,
			"the build ran past its time limit of %d s and was stopped", bo->timeout_s);
	err_hint(e, "give it longer with --timeout SECONDS or [builder] timeout");
	return r;
}

/* What a run_in in the builder came to: r (< 0 an error of its own, 124 the
 * time limit), or the command's failure, what it was and its stderr's tail. */
static int outcome(const struct builder_opts *bo, int r, int status, const char *what,
		   const struct strbuf *tail, struct err *e)
{
	if (r < 0 && e->exit == 124) {
		err_release(e);
		return timed_out(bo, e);
	}
	if (r >= 0 && status != 0)
		return failed_in_vm(e, what, status, tail);
	return r;
}

struct builder {
	struct builder_opts bo; /* defaults filled in */
	char *store_dir;	/* bo.store_dir, owned */
	long long deadline_ms;
	double t0;
	struct builder_image img;
	struct rstore_stage work;
	struct fs_lock store_lk;
	struct vm_started vm;
	bool running;
	struct strvec guest_ov; /* the overrides as the guest sees them */
	char *in_img, *store_img, *export_img;
	json_t *how;
};

static void stop_vm(struct builder *b)
{
	if (!b->running)
		return;
	bool was = false;
	struct err se = ERR_INIT;
	vm_stop(b->vm.name, &was, &se); /* closing the owner below stops it in any case */
	err_release(&se);
	if (b->vm.owner_fd >= 0)
		close(b->vm.owner_fd);
	b->vm.owner_fd = -1;
	b->running = false;
	fs_lock_release(&b->store_lk);
}

void builder_stop(struct builder *b)
{
	if (!b)
		return;
	stop_vm(b);
	vm_started_release(&b->vm);
	fs_lock_release(&b->store_lk);
	rstore_stage_release(&b->work);
	builder_image_release(&b->img);
	strvec_clear(&b->guest_ov);
	free(b->in_img);
	free(b->store_img);
	free(b->export_img);
	free(b->store_dir);
	json_decref(b->how);
	free(b);
}

int builder_start(const struct build_request *req, const struct builder_opts *bo,
		  struct builder **out, struct err *e)
{
	struct builder *b = xcalloc(1, sizeof(*b));
	*b = (struct builder){.bo = *bo,
			      .store_dir = xstrdup(bo->store_dir),
			      .t0 = mono_s(),
			      .img = BUILDER_IMAGE_INIT,
			      .work = RSTORE_STAGE_INIT,
			      .store_lk = FS_LOCK_INIT,
			      .vm = VM_STARTED_INIT,
			      .guest_ov = STRVEC_INIT,
			      .how = json_object()};
	if (!b->bo.vcpus)
		b->bo.vcpus = BUILDER_DEFAULT_VCPUS;
	if (!b->bo.mem_mib)
		b->bo.mem_mib = BUILDER_DEFAULT_MEM_MIB;
	if (!b->bo.timeout_s)
		b->bo.timeout_s = BUILDER_DEFAULT_TIMEOUT_S;
	if (!b->bo.gc_at)
		b->bo.gc_at = BUILDER_DEFAULT_GC_AT;
	b->bo.store_dir = b->store_dir; /* the caller's string may go before we do */
	b->deadline_ms = mono_ms() + (long long)b->bo.timeout_s * 1000;
	int r = builder_image_ensure(&b->img, e);
	if (r >= 0)
		r = rstore_stage_begin(&b->work, "builder", e);
	if (r >= 0)
		r = make_input(b->work.dir, req, &b->guest_ov, &b->in_img, e);
	if (r >= 0)
		r = export_disk(b->work.dir, &b->export_img, e);
	if (r >= 0)
		r = store_ensure(b->bo.store_dir, &b->store_lk, &b->store_img, e);
	if (r < 0)
		goto fail;
	json_object_set_new(b->how, "copy_in_s", json_real(mono_s() - b->t0));

	double t = mono_s();
	const struct vmm_drive drives[] = {{.path = b->in_img, .read_only = true},
					   {.path = b->store_img, .read_only = false},
					   {.path = b->export_img, .read_only = false}};
	struct vm_spec spec = {.name_base = "builder",
			       .kernel = b->img.vmlinux,
			       .initrd = b->img.initrd,
			       .rootfs = b->img.rootfs,
			       .drives = drives,
			       .n_drives = ARRAY_SIZE(drives),
			       .vcpus = b->bo.vcpus,
			       .mem_mib = b->bo.mem_mib,
			       .vcpus_source = "builder",
			       .mem_source = "builder",
			       .net = req->nix->offline ? VMM_NET_NONE : VMM_NET_NAT,
			       /* mvm-init mounts /in and binds the store's nix/ on /nix */
			       .cmdline_extra = "mvm.builder=1",
			       .ephemeral = true};
	if ((r = vm_start(&spec, VM_WAIT_READY, &b->vm, e)) < 0) {
		err_prefix(e, r, "starting the builder VM");
		goto fail;
	}
	b->running = true;
	json_object_set_new(b->how, "boot_s", json_real(mono_s() - t));
	*out = b;
	return 0;
fail:
	builder_stop(b);
	*out = NULL;
	return r;
}

/* The input paths of guest_ov (/in/inputs/N) back to the host's, wherever a
 * lock node names one. */
static void host_paths(json_t *meta, const struct strvec *host_ov, const struct strvec *guest_ov)
{
	json_t *nodes = json_object_get(json_object_get(meta, "locks"), "nodes");
	for (size_t i = 0; host_ov && i + 1 < host_ov->n && i + 1 < guest_ov->n; i += 2) {
		const char *g = guest_ov->v[i + 1];
		_cleanup_free_ char *hp = nix_path_ref_dir(host_ov->v[i + 1]);
		if (!hp || strncmp(g, "path:/in/inputs/", 16))
			continue;
		const char *name;
		json_t *node;
		json_object_foreach(nodes, name, node)
		{
			json_t *locked = json_object_get(node, "locked");
			const char *p = json_string_value(json_object_get(locked, "path"));
			if (p && !strcmp(p, g + 5))
				json_object_set_new(locked, "path", json_string(hp));
		}
	}
}

int builder_resolve(struct builder *b, const struct build_request *req, struct build_resolved *rs,
		    struct err *e)
{
	*rs = (struct build_resolved){0};
	double t = mono_s();
	struct nix_opts o = *req->nix;
	o.overrides = &b->guest_ov;
	struct strvec argv = STRVEC_INIT;
	nix_metadata_argv(&o, "path:/in/src", &argv);
	struct strbuf out = STRBUF_INIT, tail = STRBUF_INIT;
	int status = -1;
	int r = run_in(b->vm.name, strvec_argv(&argv), remaining(b->deadline_ms), NULL, &out, &tail,
		       &status, e);
	strvec_clear(&argv);
	json_t *meta = NULL;
	r = outcome(&b->bo, r, status,
		    "evaluating the flake in the builder VM failed (nix exited with", &tail, e);
	if (r >= 0)
		r = json_parse_buf(out.buf ? out.buf : "", out.len,
				   "nix flake metadata in the builder VM", &meta, e);
	strbuf_release(&out);
	strbuf_release(&tail);
	if (r < 0)
		return r;
	host_paths(meta, req->nix->overrides, &b->guest_ov);
	r = build_resolve_meta(req, meta, rs, e);
	json_decref(meta);
	json_object_set_new(b->how, "resolve_s", json_real(mono_s() - t));
	return r;
}

/* Says (log_fd) and records (how.store_gc) a collection the export ran: its
 * one line, "<mark><percent>% <nix's last line>", the export's last. */
static void collected(struct builder *b, const char *text)
{
	const char *m = strstr(text, GC_MARK);
	if (!m)
		return;
	m += strlen(GC_MARK);
	char *end = NULL;
	long long use = strtoll(m, &end, 10);
	if (end == m || *end != '%')
		return;
	end += strspn(end, "% ");
	struct strbuf said = STRBUF_INIT;
	nixlog_add_shown(&said, end, strcspn(end, "\n"));
	json_object_set_new(b->how, "store_gc",
			    json_pack("{s:I, s:s}", "used_percent", (json_int_t)use, "result",
				      said.buf ? said.buf : ""));
	if (b->bo.log_fd >= 0)
		dprintf(b->bo.log_fd,
			"the builder's store was %lld%% full ([builder] gc_at = %d): collected its "
			"garbage, keeping what this build was made from: %s\n",
			use, b->bo.gc_at, said.len ? said.buf : "nix said nothing of it");
	strbuf_release(&said);
}

static int build_in_vm(struct builder *b, const struct build_request *req,
		       const struct build_resolved *rs, char **out_path, struct strvec *closure,
		       struct err *e)
{
	const char *vm = b->vm.name;
	int status = -1;
	double t = mono_s();
	struct nix_opts o = *req->nix;
	o.overrides = &b->guest_ov;
	_cleanup_free_ char *installable =
	    xasprintf("path:/in/src#packages.%s.%s", nix_system(), req->profile);
	struct strvec argv = STRVEC_INIT;
	nix_build_argv(&o, installable, &argv);
	/* not -L: in nix 2.8 a later -L turns the JSON back into a progress bar,
	 * and the JSON carries every build log line anyway (build/nixlog.h) */
	strvec_push(&argv, "--log-format");
	strvec_push(&argv, "internal-json");
	struct strbuf out = STRBUF_INIT, tail = STRBUF_INIT;
	struct nixlog *log = nixlog_new(b->bo.log_fd, b->bo.progress);
	int r =
	    run_in(vm, strvec_argv(&argv), remaining(b->deadline_ms), log, &out, &tail, &status, e);
	nixlog_free(log);
	strvec_clear(&argv);
	bool failed = r >= 0 && status != 0;
	r = outcome(&b->bo, r, status, "nix build failed in the builder VM (nix exited with", &tail,
		    e);
	if (failed)
		build_hints(vm, &b->bo, &tail, e);
	else if (r >= 0)
		r = nix_parse_build_json(out.buf ? out.buf : "", out.len, rs->installable, out_path,
					 e);
	strbuf_release(&out);
	strbuf_release(&tail);
	if (r < 0)
		return r;
	json_object_set_new(b->how, "nix_s", json_real(mono_s() - t));

	/* the closure's listing and its export, in one exec */
	t = mono_s();
	strvec_push(&argv, "/bin/sh");
	strvec_push(&argv, "-c");
	strvec_push(&argv, export_sh);
	strvec_push(&argv, "mvm-builder-export");
	strvec_pushf(&argv, "%d", b->bo.gc_at);
	strvec_push(&argv, *out_path);
	nix_closure_argv(&o, *out_path, &argv);
	struct strbuf paths = STRBUF_INIT, xtail = STRBUF_INIT;
	r = run_in(vm, strvec_argv(&argv), remaining(b->deadline_ms), NULL, &paths, &xtail, &status,
		   e);
	strvec_clear(&argv);
	r = outcome(&b->bo, r, status,
		    "exporting the closure from the builder failed (the export exited with", &xtail,
		    e);
	if (r >= 0)
		r = parse_closure(paths.buf, closure, e);
	if (r >= 0)
		collected(b, xtail.buf ? xtail.buf : "");
	strbuf_release(&paths);
	strbuf_release(&xtail);
	json_object_set_new(b->how, "export_s", json_real(mono_s() - t));
	return r;
}

int builder_opts_from_config(const struct config *cfg, struct builder_opts *o, struct err *e)
{
	*o = (struct builder_opts){.log_fd = STDERR_FILENO,
				   .vcpus = cfg->builder_vcpus,
				   .timeout_s = cfg->builder_timeout_s,
				   .gc_at = cfg->builder_gc_at};
	if (cfg->builder_mem && size_parse_mib(cfg->builder_mem, &o->mem_mib) < 0)
		return err_set(e, -EINVAL, EXIT_INVALID,
			       "%s: [builder] mem: '%s' is not a size (1024, 512M, 2G)",
			       cfg->path ? cfg->path : "config.toml", cfg->builder_mem);
	return 0;
}

int builder_realise(struct builder *b, const struct build_request *req,
		    const struct build_resolved *rs, const char *stage_dir,
		    const struct build_progress *pg, struct build_result *out, json_t **how_out,
		    struct err *e)
{
	*out = (struct build_result){0};
	*how_out = NULL;
	struct strvec closure = STRVEC_INIT;
	_cleanup_free_ char *root = NULL;
	double t = mono_s();
	int r = build_in_vm(b, req, rs, &out->out_path, &closure, e);
	double ts = mono_s();
	stop_vm(b);
	json_object_set_new(b->how, "stop_s", json_real(mono_s() - ts));
	if (r < 0)
		goto out;
	phase(pg, "build", t);

	t = mono_s();
	root = fs_join(b->work.dir, "root");
	uint64_t bytes = 0;
	struct builder_import_limits lim = {.max_bytes = (uint64_t)BUILDER_EXPORT_MAX_MIB << 20,
					    .max_entries = 4u << 20};
	if ((r = fs_mkdir_p(root, 0700, e)) >= 0)
		r = builder_import(b->export_img, EXPORT_AT, &closure, root, &lim, &bytes, e);
	if (r < 0)
		goto out;
	json_t *how = b->how;
	json_object_set_new(how, "import_s", json_real(mono_s() - t));
	json_object_set_new(how, "export_bytes", json_integer((json_int_t)bytes));
	json_object_set_new(how, "where", json_string("vm"));
	json_object_set_new(how, "image", json_string(b->img.id));
	json_object_set_new(how, "vcpus", json_integer(b->bo.vcpus));
	json_object_set_new(how, "mem_mib", json_integer((json_int_t)b->bo.mem_mib));
	json_object_set_new(how, "seconds", json_real(mono_s() - b->t0));
	t = mono_s();
	if ((r = build_pack(req, rs, root, &closure, stage_dir, how, out, e)) < 0)
		goto out;
	phase(pg, "pack", t);
	*how_out = json_incref(how);
out:
	strvec_clear(&closure);
	return r;
}
