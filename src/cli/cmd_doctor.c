/* mvmctl doctor: is this host ready to build and run microVMs? */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/un.h>

#include "build/kernel.h"
#include "build/nix.h"
#include "cli.h"
#include "core/dl_archive.h"
#include "core/dl_curl.h"
#include "core/fs.h"
#include "core/paths.h"
#include "core/spawn.h"
#include "core/util.h"

enum level { OK, WARN, FAIL };
static const char *const level_names[] = {"ok", "warn", "fail"};

struct report {
	struct cli *cli;
	json_t *checks;
	bool failed;
};

static void check(struct report *r, const char *name, enum level lv, const char *detail,
		  const char *fix)
{
	if (lv == FAIL)
		r->failed = true;
	if (r->cli->json) {
		json_t *c = json_pack("{s:s, s:s, s:s}", "name", name, "status", level_names[lv],
				      "detail", detail);
		if (fix && lv != OK)
			json_object_set_new(c, "fix", json_string(fix));
		json_array_append_new(r->checks, c);
		return;
	}
	static const char *const tags[] = {"OK  ", "WARN", "FAIL"};
	printf("%s  %-14s %s\n", tags[lv], name, detail);
	if (fix && lv != OK)
		printf("      %-14s fix: %s\n", "", fix);
}

static void check_program(struct report *r, const char *name, const char *prog, bool required,
			  const char *fix)
{
	_cleanup_free_ char *p = which(prog);
	if (p) {
		_cleanup_free_ char *d = xasprintf("%s", p);
		check(r, name, OK, d, NULL);
	} else {
		_cleanup_free_ char *d = xasprintf("%s not found in PATH", prog);
		check(r, name, required ? FAIL : WARN, d, fix);
	}
}

/* A library mvmctl loads when an operation needs it (core/dlib.h): its
 * absence only disables that operation, so it is a warning. */
static void check_library(struct report *r, const char *name, int (*load)(struct err *),
			  const char *soname, const char *package, const char *used_for,
			  const char *without)
{
	struct err e = ERR_INIT;
	if (load(&e) == 0) {
		_cleanup_free_ char *d = xasprintf("%s (%s)", soname, used_for);
		check(r, name, OK, d, NULL);
	} else {
		_cleanup_free_ char *d = xasprintf("%s: %s", e.msg, without);
		_cleanup_free_ char *fix = xasprintf("apt-get install %s", package);
		check(r, name, WARN, d, fix);
	}
	err_release(&e);
}

/* Which egress modes (up --network) work here: nat and isolated need QEMU's
 * user networking (slirp), none always works; --allow also needs QEMU to be
 * able to run mvmctl as its relay. */
static void check_network(struct report *r)
{
	_cleanup_free_ char *qemu = which("qemu-system-x86_64");
	if (!qemu)
		return; /* the vmm check says so */
	const char *argv[] = {qemu, "-netdev", "help", NULL};
	struct child c = CHILD_INIT;
	c.argv = argv;
	c.capture_out = c.capture_err = c.merge_err = true;
	c.max_capture = 64 << 10;
	struct err e = ERR_INIT;
	bool user = child_run(&c, &e) == 0 && strstr(c.out.buf, "\nuser") != NULL;
	child_release(&c);
	err_release(&e);
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	bool relay = n > 0 && strcspn(exe, " ,\t\n'\"\\") == strlen(exe);
	if (!user)
		check(r, "network", WARN, "QEMU has no user networking: only --network none works",
		      "install a qemu-system-x86 built with slirp (Debian's is)");
	else if (!relay)
		check(r, "network", WARN,
		      "nat, isolated and none work; --allow does not: mvmctl's path holds a space, "
		      "comma or quote",
		      "install mvmctl under a plain path (make install PREFIX=/usr/local)");
	else
		check(r, "network", OK,
		      "nat, isolated (QEMU's restrict=on) and none work; --allow relays through "
		      "mvmctl netproxy",
		      NULL);
}

static int run_doctor(struct cli *cli, int argc, char **argv)
{
	(void)argc, (void)argv;
	struct report r = {.cli = cli, .checks = json_array()};

	check_program(&r, "vmm", "qemu-system-x86_64", true, "apt-get install qemu-system-x86");
	check_network(&r);
	bool kvm = access("/dev/kvm", R_OK | W_OK) == 0;
	check(&r, "accelerator", kvm ? OK : WARN,
	      kvm ? "/dev/kvm present (used only after a guest boot probe succeeds; else TCG)"
		  : "no usable /dev/kvm: guests run under TCG (slower, fully supported)",
	      "enable KVM (nested virtualisation) for faster guests");
	_cleanup_free_ char *nixv = nix_version();
	if (nixv) {
		_cleanup_free_ char *d = xasprintf("nix %s", nixv);
		check(&r, "nix", OK, d, NULL);
	} else {
		check(&r, "nix", FAIL, "nix not found", "apt-get install nix-bin");
	}
	check_program(&r, "mkfs.ext4", "mkfs.ext4", true, "apt-get install e2fsprogs");

	struct kernel k = KERNEL_INIT;
	int kr = kernel_probe(&k);
	if (kr == KERNEL_READY) {
		_cleanup_free_ char *d = xasprintf("%s (%s)", k.id, k.dir);
		check(&r, "kernel", OK, d, NULL);
	} else if (kr == KERNEL_AVAILABLE) {
		_cleanup_free_ char *d =
		    xasprintf("%s, provisioned on first build (from %s)", k.version, k.source);
		check(&r, "kernel", OK, d, NULL);
	} else if (kr == -ENOEXEC) {
		check(&r, "kernel", FAIL, "mvm-init (the guest init) is missing",
		      "build it with 'make', or set MVM_LIBEXEC to its directory");
	} else {
		check(&r, "kernel", FAIL, "no guest kernel: no kernel package and no MVM_KERNEL",
		      "run scripts/fetch-kernel.sh (downloads linux-image-cloud-amd64), or set "
		      "MVM_KERNEL");
	}
	kernel_release(&k);
	check_library(&r, "libarchive", dl_archive_load, DL_ARCHIVE_SONAME, DL_ARCHIVE_PACKAGE,
		      "provisioning a guest kernel from its package",
		      "a guest kernel cannot be provisioned from its package");
	check_library(&r, "libcurl", dl_curl_load, DL_CURL_SONAME, DL_CURL_PACKAGE,
		      "init --prompt with an LLM",
		      "init --prompt cannot ask an LLM (it plans heuristically)");

	/* Unix socket paths: sun_path is 108 bytes. */
	struct sockaddr_un sun;
	_cleanup_free_ char *sample = fs_join(paths_home(), "run/0123456789ab/control.sock");
	size_t len = strlen(sample);
	_cleanup_free_ char *sd = xasprintf("%zu of %zu bytes for a VM socket under $MVM_HOME", len,
					    sizeof(sun.sun_path) - 1);
	check(&r, "socket-path", len < sizeof(sun.sun_path) ? OK : WARN, sd,
	      "set a shorter MVM_HOME (sockets then move to /tmp)");

	struct statvfs vfs;
	_cleanup_free_ char *probe = xstrdup(paths_home());
	while (!fs_exists(probe) && strcmp(probe, "/")) {
		char *up = fs_dirname(probe);
		free(probe);
		probe = up;
	}
	if (statvfs(probe, &vfs) == 0) {
		unsigned long long mib =
		    (unsigned long long)vfs.f_bavail * vfs.f_frsize / (1024 * 1024);
		_cleanup_free_ char *d = xasprintf("%llu MiB free under %s", mib, probe);
		check(&r, "disk",
		      mib >= 2048  ? OK
		      : mib >= 512 ? WARN
				   : FAIL,
		      d, "free some disk space (mvmctl cache prune)");
	}

	if (cli->json)
		cli_json(cli, json_pack("{s:b, s:o}", "ready", !r.failed, "checks", r.checks));
	else
		json_decref(r.checks);
	return r.failed ? EXIT_NOTREADY : 0;
}

const struct command cmd_doctor = {
    .name = "doctor",
    .run = run_doctor,
    .summary = "Check that this host can build and run microVMs.",
    .usage = "[--json]",
    .description = "One line per check: OK, WARN or FAIL, with the fix. Exits 6 when a "
		   "required check fails.",
    .examples = "mvmctl doctor\nmvmctl doctor --json | jq '.checks[] | select(.status != \"ok\")'",
    .exit_status = "0 ready, 6 a required check failed",
    .max_args = 0,
};
