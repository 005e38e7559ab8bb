#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "build/kernel.h"
#include "core/dl_archive.h"
#include "core/fs.h"
#include "core/paths.h"
#include "core/spawn.h"
#include "core/config.h"
#include "core/hash.h"
#include "core/util.h"

const char *const kernel_modules[] = {
    "virtio_ring",
    "virtio",
    "virtio_mmio",
    "virtio_blk",
    "virtio_console",
    "failover",
    "net_failover",
    "virtio_net",
    "overlay",
    "vsock",
    "vmw_vsock_virtio_transport_common",
    "vmw_vsock_virtio_transport",
    NULL,
};

#define KERNEL_DEFAULT_CACHE "/var/cache/mvm"
#define MAX_VMLINUZ	     (256u << 20)
#define MAX_VMLINUX	     (1024u << 20)
#define MAX_MODULE	     (64u << 20)
#define MAX_INIT	     (64u << 20)
#define KERNEL_HINT_FETCH    "run scripts/fetch-kernel.sh as root (or set MVM_KERNEL=/path/to/vmlinux)"

/* Where the kernel comes from. */
struct source {
	bool custom;
	char *path;    /* .deb or custom kernel */
	char *modules; /* custom modules directory, or NULL */
	char *version;
	char *identity; /* what the id hashes for the source */
};

static void source_release(struct source *s)
{
	free(s->path);
	free(s->modules);
	free(s->version);
	free(s->identity);
	memset(s, 0, sizeof(*s));
}

struct module_blob {
	char *name; /* "virtio_ring" */
	struct strbuf data;
};

struct modset {
	struct module_blob mods[ARRAY_SIZE(kernel_modules)];
};

static void modset_release(struct modset *m)
{
	for (size_t i = 0; i < ARRAY_SIZE(m->mods); i++) {
		free(m->mods[i].name);
		strbuf_release(&m->mods[i].data);
	}
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
	struct sha256_hex h;
	hash_sha256_buf(data, len, &h);
	memcpy(out, h.s, sizeof(h.s));
}

/* --- finding the source ---------------------------------------------- */

/* "linux-image-6.1.0-56-cloud-amd64_6.1.192-2_amd64.deb" -> "6.1.0-56-cloud-amd64" */
static char *deb_version(const char *path)
{
	_cleanup_free_ char *base = fs_basename(path);
	const char *pfx = "linux-image-";
	if (strncmp(base, pfx, strlen(pfx)))
		return xstrdup("debian");
	const char *v = base + strlen(pfx);
	size_t n = strcspn(v, "_");
	if (!n)
		return xstrdup("debian");
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+-~",
			    v[i]))
			return xstrdup("debian");
	return xstrndup(v, n);
}

static bool is_kernel_deb(const char *name)
{
	size_t n = strlen(name);
	return !strncmp(name, "linux-image-", 12) && n > 4 && !strcmp(name + n - 4, ".deb") &&
	       name[0] != '.';
}

/* The newest linux-image-*.deb in the cache directory (by version order of the name). */
static char *find_deb(void)
{
	const char *env = getenv("MVM_KERNEL_DEB");
	if (env && *env)
		return fs_is_file(env) ? xstrdup(env) : NULL;
	const char *cache = getenv("MVM_KERNEL_CACHE");
	if (!cache || !*cache)
		cache = KERNEL_DEFAULT_CACHE;
	DIR *d = opendir(cache);
	if (!d)
		return NULL;
	char *best = NULL;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!is_kernel_deb(de->d_name))
			continue;
		if (!best || strverscmp(de->d_name, best) > 0) {
			free(best);
			best = xstrdup(de->d_name);
		}
	}
	closedir(d);
	if (!best)
		return NULL;
	char *p = fs_join(cache, best);
	free(best);
	return p;
}

static int find_source(struct source *s, struct err *e)
{
	_cleanup_free_ char *custom = NULL, *mods = NULL;
	const char *env = getenv("MVM_KERNEL");
	const char *from = env && *env ? "MVM_KERNEL" : "config key 'kernel'";
	struct config cfg = {0};
	int r = config_load(&cfg, e);
	if (r < 0) {
		config_release(&cfg);
		return r;
	}
	custom = TAKE_PTR(cfg.kernel);
	config_release(&cfg);
	const char *m = getenv("MVM_KERNEL_MODULES");
	if (custom && m && *m)
		mods = xstrdup(m);
	if (custom) {
		struct stat st;
		if (stat(custom, &st) < 0)
			return err_sys(e, -errno, EXIT_NOTREADY, "kernel '%s' (from %s)", custom,
				       from);
		if (!S_ISREG(st.st_mode))
			return err_set(e, -EINVAL, EXIT_NOTREADY,
				       "kernel '%s' (from %s) is not a regular file", custom, from);
		if (mods && !fs_is_dir(mods))
			return err_set(e, -ENOTDIR, EXIT_NOTREADY,
				       "kernel modules directory '%s' does not exist", mods);
		char *real = realpath(custom, NULL);
		s->custom = true;
		s->path = real ? real : xstrdup(custom);
		s->modules = mods ? (realpath(mods, NULL) ?: xstrdup(mods)) : NULL;
		s->version = xstrdup("custom");
		s->identity = xasprintf("custom\n%s\n%lld\n%lld.%09ld\n%llu\n%s", s->path,
					(long long)st.st_size, (long long)st.st_mtim.tv_sec,
					st.st_mtim.tv_nsec, (unsigned long long)st.st_ino,
					s->modules ? s->modules : "");
		return 0;
	}
	char *deb = find_deb();
	if (!deb) {
		err_set(e, -ENOENT, EXIT_NOTREADY, "no guest kernel: no linux-image-*.deb in '%s'",
			getenv("MVM_KERNEL_CACHE") && *getenv("MVM_KERNEL_CACHE")
			    ? getenv("MVM_KERNEL_CACHE")
			    : KERNEL_DEFAULT_CACHE);
		err_hint(e, KERNEL_HINT_FETCH);
		return -ENOENT;
	}
	struct stat st;
	if (stat(deb, &st) < 0) {
		r = err_sys(e, -errno, EXIT_NOTREADY, "kernel package '%s'", deb);
		free(deb);
		return r;
	}
	_cleanup_free_ char *base = fs_basename(deb);
	s->path = deb;
	s->version = deb_version(deb);
	/* Debian never reuses a package name_version_arch for other contents. */
	s->identity = xasprintf("deb\n%s\n%lld", base, (long long)st.st_size);
	return 0;
}

/* --- the id ----------------------------------------------------------- */

struct ident {
	char init_sha[65];
	char *init_path;
	char *id;
};

static int compute_id(const struct source *s, struct ident *id, struct strbuf *init, struct err *e)
{
	id->init_path = paths_libexec("mvm-init");
	if (!id->init_path) {
		err_set(e, -ENOEXEC, EXIT_NOTREADY, "mvm-init not found next to mvmctl");
		err_hint(e, "build it with `make`, or point MVM_LIBEXEC at its directory");
		return -ENOEXEC;
	}
	int r = fs_read_file(id->init_path, MAX_INIT, init, e);
	if (r < 0)
		return r;
	sha256_hex(init->buf, init->len, id->init_sha);
	struct strbuf key = STRBUF_INIT;
	strbuf_addf(&key, "mvm-kernel-v1\n%s\n%s\n", s->identity, id->init_sha);
	for (size_t i = 0; kernel_modules[i]; i++)
		strbuf_addf(&key, "%s\n", kernel_modules[i]);
	char hex[65];
	sha256_hex(key.buf, key.len, hex);
	strbuf_release(&key);
	id->id = xasprintf("%s-%.12s", s->version, hex);
	return 0;
}

static void fill(struct kernel *k, const struct source *s, const char *id)
{
	kernel_release(k);
	_cleanup_free_ char *kdir = fs_join(paths_home(), "kernels");
	k->id = xstrdup(id);
	k->dir = fs_join(kdir, id);
	k->vmlinux = fs_join(k->dir, "vmlinux");
	k->initrd = fs_join(k->dir, "initrd.img");
	k->version = xstrdup(s->version);
	k->source = xstrdup(s->path);
}

static bool complete(const struct kernel *k)
{
	_cleanup_free_ char *meta = fs_join(k->dir, "meta.json");
	return fs_is_file(meta) && fs_is_file(k->vmlinux) && fs_is_file(k->initrd);
}

/* --- vmlinux ---------------------------------------------------------- */

/* Decompresses data (any filter libarchive knows) into out, at most max bytes. */
static int decompress(const void *data, size_t len, size_t max, struct strbuf *out,
		      const char *what, struct err *e)
{
	struct archive *a = sym_archive_read_new();
	int r = 0;
	sym_archive_read_support_filter_all(a);
	sym_archive_read_support_format_raw(a);
	struct archive_entry *ent;
	if (sym_archive_read_open_memory(a, data, len) != ARCHIVE_OK ||
	    sym_archive_read_next_header(a, &ent) != ARCHIVE_OK) {
		r = err_set(e, -EINVAL, EXIT_FAILED, "%s: cannot decompress: %s", what,
			    sym_archive_error_string(a) ?: "unknown format");
		goto out;
	}
	char buf[1 << 16];
	for (;;) {
		la_ssize_t n = sym_archive_read_data(a, buf, sizeof(buf));
		if (n == 0)
			break;
		if (n < 0) {
			r = err_set(e, -EINVAL, EXIT_FAILED, "%s: decompressing: %s", what,
				    sym_archive_error_string(a) ?: "corrupt data");
			goto out;
		}
		if (out->len + (size_t)n > max) {
			r = err_set(e, -EFBIG, EXIT_FAILED,
				    "%s: larger than %zu bytes decompressed", what, max);
			goto out;
		}
		strbuf_add(out, buf, (size_t)n);
	}
out:
	sym_archive_read_free(a);
	return r;
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The ELF must be x86-64 and carry Xen's PHYS32_ENTRY note (QEMU boots it through PVH). */
static int check_elf(const struct strbuf *elf, struct err *e)
{
	if (elf->len < sizeof(Elf64_Ehdr) || memcmp(elf->buf, ELFMAG, SELFMAG))
		return err_set(e, -ENOEXEC, EXIT_FAILED, "not an ELF kernel");
	Elf64_Ehdr eh;
	memcpy(&eh, elf->buf, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64)
		return err_set(e, -ENOEXEC, EXIT_FAILED, "not an x86-64 kernel");
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > elf->len ||
	    (size_t)eh.e_phnum * sizeof(Elf64_Phdr) > elf->len - eh.e_phoff)
		return err_set(e, -ENOEXEC, EXIT_FAILED, "kernel ELF has bad program headers");
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, elf->buf + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_NOTE || ph.p_offset > elf->len ||
		    ph.p_filesz > elf->len - ph.p_offset)
			continue;
		const unsigned char *p = (const unsigned char *)elf->buf + ph.p_offset;
		size_t left = ph.p_filesz;
		while (left >= 12) {
			uint32_t namesz = le32(p), descsz = le32(p + 4), type = le32(p + 8);
			size_t nlen = (namesz + 3u) & ~3u, dlen = (descsz + 3u) & ~3u;
			if (nlen > left - 12 || dlen > left - 12 - nlen)
				break;
			/* XEN_ELFNOTE_PHYS32_ENTRY */
			if (namesz == 4 && !memcmp(p + 12, "Xen", 4) && type == 18)
				return 0;
			p += 12 + nlen + dlen;
			left -= 12 + nlen + dlen;
		}
	}
	return err_set(e, -ENOEXEC, EXIT_FAILED,
		       "kernel has no PVH entry point (build it with CONFIG_PVH=y)");
}

int kernel_extract_vmlinux(const void *img, size_t len, struct strbuf *out, struct err *e)
{
	const unsigned char *b = img;
	strbuf_reset(out);
	if (len >= SELFMAG && !memcmp(b, ELFMAG, SELFMAG)) {
		strbuf_add(out, b, len);
		return check_elf(out, e);
	}
	const unsigned char *payload = NULL;
	size_t plen = 0;
	if (len > 0x250 && !memcmp(b + 0x202, "HdrS", 4)) {
		/* x86 boot protocol: the payload sits after the setup sectors. */
		size_t setup = b[0x1f1] ? b[0x1f1] : 4;
		size_t base = (setup + 1) * 512;
		size_t off = le32(b + 0x248), n = le32(b + 0x24c);
		if (base > len || off > len - base || n > len - base - off || n < 8)
			return err_set(e, -ENOEXEC, EXIT_FAILED, "bzImage payload out of bounds");
		payload = b + base + off;
		plen = n;
	} else {
		static const unsigned char lz4_legacy[] = {0x02, 0x21, 0x4c, 0x18};
		const unsigned char *m = memmem(b, len, lz4_legacy, sizeof(lz4_legacy));
		if (!m)
			return err_set(e, -ENOEXEC, EXIT_FAILED,
				       "not a kernel: neither ELF, bzImage nor LZ4 payload");
		payload = m;
		plen = len - (size_t)(m - b);
	}
	int r = dl_archive_load(e);
	if (r < 0)
		return r;
	r = decompress(payload, plen, MAX_VMLINUX, out, "kernel payload", e);
	if (r < 0)
		return r;
	return check_elf(out, e);
}

/* --- reading the .deb ------------------------------------------------- */

static int module_index(const char *path, size_t *idx)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	const char *ko = strstr(base, ".ko");
	if (!ko)
		return -1;
	const char *ext = ko + 3;
	if (*ext && strcmp(ext, ".xz") && strcmp(ext, ".zst") && strcmp(ext, ".gz"))
		return -1;
	size_t n = (size_t)(ko - base);
	for (size_t i = 0; kernel_modules[i]; i++) {
		/* module names treat '-' and '_' alike */
		const char *m = kernel_modules[i];
		if (strlen(m) != n)
			continue;
		size_t j = 0;
		for (; j < n; j++) {
			char c = base[j] == '-' ? '_' : base[j];
			if (c != m[j])
				break;
		}
		if (j == n) {
			*idx = i;
			return 0;
		}
	}
	return -1;
}

/* Stores a module file's contents, decompressing .ko.xz/.ko.zst/.ko.gz. */
static int take_module(struct modset *ms, size_t i, const char *path, struct strbuf *raw,
		       struct err *e)
{
	if (ms->mods[i].name)
		return 0; /* first one wins */
	struct strbuf *dst = &ms->mods[i].data;
	size_t n = strlen(path);
	if (n > 3 && !strcmp(path + n - 3, ".ko")) {
		strbuf_add(dst, raw->buf, raw->len);
	} else {
		int r = decompress(raw->buf, raw->len, MAX_MODULE, dst, path, e);
		if (r < 0)
			return r;
	}
	if (dst->len < 4 || memcmp(dst->buf, ELFMAG, SELFMAG)) {
		strbuf_reset(dst);
		return err_set(e, -ENOEXEC, EXIT_FAILED, "module '%s' is not an ELF object", path);
	}
	ms->mods[i].name = xstrdup(kernel_modules[i]);
	return 0;
}

static int read_entry(struct archive *a, size_t size, size_t max, struct strbuf *out,
		      const char *name, struct err *e)
{
	if (size > max)
		return err_set(e, -EFBIG, EXIT_FAILED, "'%s' in the kernel package is too large",
			       name);
	strbuf_reset(out);
	strbuf_grow(out, size);
	char buf[1 << 16];
	for (;;) {
		la_ssize_t n = sym_archive_read_data(a, buf, sizeof(buf));
		if (n == 0)
			return 0;
		if (n < 0)
			return err_set(e, -EIO, EXIT_FAILED,
				       "reading '%s' from the kernel package: %s", name,
				       sym_archive_error_string(a));
		if (out->len + (size_t)n > max)
			return err_set(e, -EFBIG, EXIT_FAILED,
				       "'%s' in the kernel package is too large", name);
		strbuf_add(out, buf, (size_t)n);
	}
}

/* Streams `dpkg-deb --fsys-tarfile DEB` and keeps boot/vmlinuz-* and the modules. */
static int read_deb(const char *deb, struct strbuf *vmlinuz, char **version, struct modset *ms,
		    struct err *e)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return err_sys(e, -errno, EXIT_FAILED, "pipe");
	const char *argv[] = {"dpkg-deb", "--fsys-tarfile", deb, NULL};
	struct child c = CHILD_INIT;
	c.argv = argv;
	c.out_fd = p[1];
	c.capture_err = true;
	c.max_capture = 64 << 10;
	int r = child_start(&c, e);
	close(p[1]);
	if (r < 0) {
		close(p[0]);
		child_release(&c);
		return err_prefix(e, r, "unpacking '%s'", deb);
	}
	struct archive *a = sym_archive_read_new();
	sym_archive_read_support_format_tar(a);
	sym_archive_read_support_filter_none(a);
	struct strbuf raw = STRBUF_INIT;
	if (sym_archive_read_open_fd(a, p[0], 1 << 16) != ARCHIVE_OK) {
		r = err_set(e, -EIO, EXIT_FAILED, "reading '%s': %s", deb,
			    sym_archive_error_string(a));
		goto out;
	}
	struct archive_entry *ent;
	int ar;
	while ((ar = sym_archive_read_next_header(a, &ent)) == ARCHIVE_OK) {
		const char *name = sym_archive_entry_pathname(ent);
		if (!name || sym_archive_entry_filetype(ent) != AE_IFREG) {
			sym_archive_read_data_skip(a);
			continue;
		}
		while (!strncmp(name, "./", 2))
			name += 2;
		size_t size = (size_t)sym_archive_entry_size(ent);
		size_t idx;
		const char *mods = strstr(name, "lib/modules/");
		if (!strncmp(name, "boot/vmlinuz-", 13) && !vmlinuz->len) {
			r = read_entry(a, size, MAX_VMLINUZ, vmlinuz, name, e);
			if (r < 0)
				goto out;
			if (!*version)
				*version = xstrdup(name + 13);
		} else if (mods && module_index(name, &idx) == 0) {
			r = read_entry(a, size, MAX_MODULE, &raw, name, e);
			if (r < 0)
				goto out;
			r = take_module(ms, idx, name, &raw, e);
			if (r < 0)
				goto out;
			if (!*version) {
				const char *v = mods + strlen("lib/modules/");
				*version = xstrndup(v, strcspn(v, "/"));
			}
		} else {
			sym_archive_read_data_skip(a);
		}
	}
	if (ar != ARCHIVE_EOF) {
		r = err_set(e, -EIO, EXIT_FAILED, "reading '%s': %s", deb,
			    sym_archive_error_string(a));
		goto out;
	}
out:
	sym_archive_read_free(a);
	close(p[0]);
	strbuf_release(&raw);
	struct err ce = ERR_INIT;
	int fr = child_finish(&c, &ce);
	if (r == 0 && (fr < 0 || c.status != 0)) {
		strbuf_rtrim(&c.err);
		r = err_set(e, -EIO, EXIT_FAILED,
			    "dpkg-deb --fsys-tarfile '%s' failed (status %d)%s%s", deb, c.status,
			    c.err.len ? ": " : "", c.err.buf);
	}
	err_release(&ce);
	child_release(&c);
	if (r == 0 && !vmlinuz->len)
		r = err_set(e, -ENOENT, EXIT_FAILED, "'%s' holds no boot/vmlinuz-*", deb);
	return r;
}

/* Recursively looks for the wanted modules under a custom modules directory. */
static int scan_modules(const char *dir, struct modset *ms, int depth, struct err *e)
{
	if (depth > 16)
		return 0;
	DIR *d = opendir(dir);
	if (!d)
		return err_sys(e, -errno, EXIT_FAILED, "reading modules directory '%s'", dir);
	int r = 0;
	struct dirent *de;
	struct strbuf raw = STRBUF_INIT;
	while (r == 0 && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		_cleanup_free_ char *p = fs_join(dir, de->d_name);
		size_t idx;
		if (fs_is_dir(p)) {
			r = scan_modules(p, ms, depth + 1, e);
		} else if (module_index(p, &idx) == 0 && !ms->mods[idx].name) {
			strbuf_reset(&raw);
			r = fs_read_file(p, MAX_MODULE, &raw, e);
			if (r == 0)
				r = take_module(ms, idx, p, &raw, e);
		}
	}
	strbuf_release(&raw);
	closedir(d);
	return r;
}

/* --- the initramfs ---------------------------------------------------- */

static int cpio_add(struct archive *a, const char *path, mode_t type, mode_t perm, const void *data,
		    size_t len, dev_t rdev, struct err *e)
{
	struct archive_entry *ent = sym_archive_entry_new();
	sym_archive_entry_set_pathname(ent, path);
	sym_archive_entry_set_filetype(ent, type);
	sym_archive_entry_set_perm(ent, perm);
	sym_archive_entry_set_uid(ent, 0);
	sym_archive_entry_set_gid(ent, 0);
	sym_archive_entry_set_mtime(ent, 0, 0);
	sym_archive_entry_set_nlink(ent, type == AE_IFDIR ? 2 : 1);
	sym_archive_entry_set_size(ent, type == AE_IFREG ? (la_int64_t)len : 0);
	if (rdev)
		sym_archive_entry_set_rdev(ent, rdev);
	int r = 0;
	if (sym_archive_write_header(a, ent) != ARCHIVE_OK)
		r = -EIO;
	else if (type == AE_IFREG && len && sym_archive_write_data(a, data, len) != (la_ssize_t)len)
		r = -EIO;
	if (r < 0)
		err_set(e, r, EXIT_FAILED, "building initramfs: %s: %s", path,
			sym_archive_error_string(a));
	sym_archive_entry_free(ent);
	return r;
}

static int build_initrd(const struct strbuf *init, const struct modset *ms, struct strbuf *out,
			struct err *e)
{
	size_t cap = init->len + (1 << 16);
	for (size_t i = 0; i < ARRAY_SIZE(ms->mods); i++)
		cap += ms->mods[i].data.len + 1024;
	strbuf_reset(out);
	strbuf_grow(out, cap);
	size_t used = 0;
	struct archive *a = sym_archive_write_new();
	int r = 0;
	if (sym_archive_write_set_format_cpio_newc(a) != ARCHIVE_OK ||
	    sym_archive_write_add_filter_none(a) != ARCHIVE_OK ||
	    sym_archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    sym_archive_write_open_memory(a, out->buf, cap, &used) != ARCHIVE_OK) {
		r = err_set(e, -EIO, EXIT_FAILED, "building initramfs: %s",
			    sym_archive_error_string(a));
		goto out;
	}
	struct strbuf order = STRBUF_INIT;
	for (size_t i = 0; i < ARRAY_SIZE(ms->mods); i++)
		if (ms->mods[i].name)
			strbuf_addf(&order, "%s.ko\n", ms->mods[i].name);
	/* /dev/console must exist before devtmpfs is mounted: the kernel opens it for PID 1. */
	r = cpio_add(a, "dev", AE_IFDIR, 0755, NULL, 0, 0, e);
	if (!r)
		r = cpio_add(a, "dev/console", AE_IFCHR, 0600, NULL, 0, makedev(5, 1), e);
	if (!r)
		r = cpio_add(a, "init", AE_IFREG, 0755, init->buf, init->len, 0, e);
	if (!r)
		r = cpio_add(a, "lib", AE_IFDIR, 0755, NULL, 0, 0, e);
	if (!r)
		r = cpio_add(a, "lib/modules", AE_IFDIR, 0755, NULL, 0, 0, e);
	for (size_t i = 0; !r && i < ARRAY_SIZE(ms->mods); i++) {
		if (!ms->mods[i].name)
			continue;
		_cleanup_free_ char *p = xasprintf("lib/modules/%s.ko", ms->mods[i].name);
		r = cpio_add(a, p, AE_IFREG, 0644, ms->mods[i].data.buf, ms->mods[i].data.len, 0,
			     e);
	}
	if (!r)
		r = cpio_add(a, "lib/modules/order", AE_IFREG, 0644, order.buf, order.len, 0, e);
	strbuf_release(&order);
	if (!r && sym_archive_write_close(a) != ARCHIVE_OK)
		r = err_set(e, -EIO, EXIT_FAILED, "building initramfs: %s",
			    sym_archive_error_string(a));
out:
	sym_archive_write_free(a);
	if (r == 0) {
		out->len = used;
		out->buf[used] = '\0';
	} else {
		strbuf_reset(out);
	}
	return r;
}

/* --- provisioning ----------------------------------------------------- */

static int write_meta(const char *dir, const struct source *s, const char *id, const char *version,
		      const struct ident *ident, size_t vmlinux_len, size_t initrd_len,
		      const struct modset *ms, struct err *e)
{
	json_t *mods = json_array();
	for (size_t i = 0; i < ARRAY_SIZE(ms->mods); i++)
		if (ms->mods[i].name)
			json_array_append_new(mods, json_string(ms->mods[i].name));
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_t *j = json_pack(
	    "{s:i, s:s, s:s, s:s, s:s, s:s*, s:s, s:s, s:I, s:I, s:o, s:s}", "schema_version", 1,
	    "id", id, "version", version, "source", s->custom ? "custom" : "debian", "source_path",
	    s->path, "modules_dir", s->modules, "mvm_init", ident->init_path, "mvm_init_sha256",
	    ident->init_sha, "vmlinux_bytes", (json_int_t)vmlinux_len, "initrd_bytes",
	    (json_int_t)initrd_len, "modules", mods, "created_at", when);
	if (!j)
		return err_set(e, -ENOMEM, EXIT_FAILED, "building meta.json");
	char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(j);
	if (!text)
		return err_set(e, -ENOMEM, EXIT_FAILED, "building meta.json");
	_cleanup_free_ char *path = fs_join(dir, "meta.json");
	size_t n = strlen(text);
	text[n] = '\0';
	struct strbuf sb = STRBUF_INIT;
	strbuf_addstr(&sb, text);
	strbuf_addch(&sb, '\n');
	free(text);
	int r = fs_write_atomic(path, sb.buf, sb.len, 0600, e);
	strbuf_release(&sb);
	return r;
}

static int provision(struct kernel *k, const struct source *s, const struct ident *ident,
		     const struct strbuf *init, struct err *e)
{
	_cleanup_free_ char *kdir = fs_join(paths_home(), "kernels");
	int r = dl_archive_load(e); /* reads the .deb and the modules, writes the initramfs */
	if (r < 0)
		return r;
	r = paths_ensure_home(e);
	if (r < 0)
		return r;
	r = fs_mkdir_p(kdir, 0700, e);
	if (r < 0)
		return r;
	fs_sweep_temps(kdir);

	struct strbuf vmlinuz = STRBUF_INIT, vmlinux = STRBUF_INIT, initrd = STRBUF_INIT;
	struct modset ms;
	memset(&ms, 0, sizeof(ms));
	for (size_t i = 0; i < ARRAY_SIZE(ms.mods); i++)
		strbuf_init(&ms.mods[i].data);
	_cleanup_free_ char *version = NULL;
	_cleanup_free_ char *tmp = fs_temp_beside(k->dir);
	_cleanup_free_ char *tv = fs_join(tmp, "vmlinux");
	_cleanup_free_ char *ti = fs_join(tmp, "initrd.img");

	if (s->custom) {
		r = fs_read_file(s->path, MAX_VMLINUX, &vmlinuz, e);
		if (r == 0 && s->modules)
			r = scan_modules(s->modules, &ms, 0, e);
		version = xstrdup(s->version);
	} else {
		r = read_deb(s->path, &vmlinuz, &version, &ms, e);
		if (r == 0) {
			for (size_t i = 0; kernel_modules[i]; i++) {
				if (!ms.mods[i].name) {
					r = err_set(e, -ENOENT, EXIT_FAILED,
						    "kernel package '%s' has no module '%s'",
						    s->path, kernel_modules[i]);
					break;
				}
			}
		}
	}
	if (r < 0)
		goto out;
	r = kernel_extract_vmlinux(vmlinuz.buf, vmlinuz.len, &vmlinux, e);
	if (r < 0) {
		err_prefix(e, r, "kernel '%s'", s->path);
		goto out;
	}
	strbuf_release(&vmlinuz);
	r = build_initrd(init, &ms, &initrd, e);
	if (r < 0)
		goto out;

	r = fs_mkdir_p(tmp, 0700, e);
	if (r < 0)
		goto out;
	r = fs_write_atomic(tv, vmlinux.buf, vmlinux.len, 0600, e);
	if (r == 0)
		r = fs_write_atomic(ti, initrd.buf, initrd.len, 0600, e);
	if (r == 0)
		r = write_meta(tmp, s, k->id, version, ident, vmlinux.len, initrd.len, &ms, e);
	if (r < 0)
		goto out;
	fs_fsync_dir(tmp);
	if (rename(tmp, k->dir) < 0) {
		if ((errno == EEXIST || errno == ENOTEMPTY) && complete(k)) {
			/* another run provisioned the same id first */
			r = 0;
		} else {
			r = err_sys(e, -errno, EXIT_FAILED, "renaming into '%s'", k->dir);
		}
		goto out;
	}
	fs_fsync_dir(kdir);
	free(k->version);
	k->version = TAKE_PTR(version);
out:
	if (fs_exists(tmp))
		fs_rm_rf(tmp, NULL);
	strbuf_release(&vmlinuz);
	strbuf_release(&vmlinux);
	strbuf_release(&initrd);
	modset_release(&ms);
	return r;
}

/* Reads the version recorded in meta.json (the .deb's name may not carry it). */
static void read_meta_version(struct kernel *k)
{
	_cleanup_free_ char *meta = fs_join(k->dir, "meta.json");
	json_error_t je;
	json_t *j = json_load_file(meta, JSON_REJECT_DUPLICATES, &je);
	const char *v = NULL;
	if (j && json_unpack(j, "{s:s}", "version", &v) == 0 && v && *v) {
		free(k->version);
		k->version = xstrdup(v);
	}
	json_decref(j);
}

int kernel_ensure(struct kernel *k, struct err *e)
{
	struct source s = {0};
	struct ident id = {0};
	struct strbuf init = STRBUF_INIT;
	int r = find_source(&s, e);
	if (r < 0)
		goto out;
	r = compute_id(&s, &id, &init, e);
	if (r < 0)
		goto out;
	fill(k, &s, id.id);
	if (complete(k)) {
		read_meta_version(k);
		goto out;
	}
	r = provision(k, &s, &id, &init, e);
	if (r < 0)
		err_prefix(e, r, "provisioning guest kernel %s", id.id);
	else
		read_meta_version(k);
out:
	if (r < 0)
		kernel_release(k);
	source_release(&s);
	free(id.init_path);
	free(id.id);
	strbuf_release(&init);
	return r;
}

int kernel_probe(struct kernel *k)
{
	struct source s = {0};
	struct ident id = {0};
	struct strbuf init = STRBUF_INIT;
	int r = find_source(&s, NULL);
	if (r < 0) {
		r = -ENOENT;
		goto out;
	}
	if (compute_id(&s, &id, &init, NULL) < 0) {
		kernel_release(k);
		k->source = xstrdup(s.path);
		k->version = xstrdup(s.version);
		r = -ENOEXEC;
		goto out;
	}
	fill(k, &s, id.id);
	if (complete(k)) {
		read_meta_version(k);
		r = KERNEL_READY;
	} else {
		r = KERNEL_AVAILABLE;
	}
out:
	source_release(&s);
	free(id.init_path);
	free(id.id);
	strbuf_release(&init);
	return r;
}

void kernel_release(struct kernel *k)
{
	if (!k)
		return;
	free(k->id);
	free(k->dir);
	free(k->vmlinux);
	free(k->initrd);
	free(k->version);
	free(k->source);
	memset(k, 0, sizeof(*k));
}

/* --- command line ----------------------------------------------------- */

unsigned long kernel_tsc_khz(void)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	if (!f)
		return KERNEL_TSC_KHZ_FALLBACK;
	char line[256];
	unsigned long khz = 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "cpu MHz", 7))
			continue;
		const char *colon = strchr(line, ':');
		if (!colon)
			break;
		char *end;
		double mhz = strtod(colon + 1, &end);
		if (end != colon + 1 && mhz >= 100.0 && mhz <= 100000.0)
			khz = (unsigned long)(mhz * 1000.0 + 0.5);
		break;
	}
	fclose(f);
	return khz ? khz : KERNEL_TSC_KHZ_FALLBACK;
}

static bool valid_hostname(const char *h)
{
	size_t n = strlen(h);
	if (!n || n > 63)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-",
			    h[i]))
			return false;
	return true;
}

int kernel_cmdline(struct strbuf *out, bool tcg, const char *hostname, const char *extra)
{
	if (hostname && !valid_hostname(hostname))
		return -EINVAL;
	strbuf_addstr(out, KERNEL_CMDLINE_BASE);
	if (tcg)
		strbuf_addf(out, " tsc_early_khz=%lu", kernel_tsc_khz());
	if (hostname)
		strbuf_addf(out, " mvm.hostname=%s", hostname);
	if (extra && *extra)
		strbuf_addf(out, " %s", extra);
	return 0;
}
