#include <ctype.h>
#include <string.h>
#include <sys/utsname.h>

#include "core/jsonio.h"
#include "core/spawn.h"
#include "core/util.h"
#include "nix.h"

#define NIX_MAX_OUTPUT (8u << 20)

char *nix_flake_ref(const char *resolved)
{
	if (resolved[0] == '/')
		return xasprintf("path:%s", resolved);
	return xstrdup(resolved);
}

char *nix_path_ref_dir(const char *ref)
{
	if (strncmp(ref, "path:/", 6))
		return NULL;
	return xstrndup(ref + 5, strcspn(ref + 5, "?"));
}

const char *nix_system(void)
{
	static char *sys;
	if (!sys) {
		struct utsname u;
		const char *m = uname(&u) == 0 ? u.machine : "x86_64";
		if (!strcmp(m, "arm64"))
			m = "aarch64";
		sys = xasprintf("%s-linux", m);
	}
	return sys;
}

static void common_args(struct strvec *argv, const struct nix_opts *o, const char *sub)
{
	strvec_push(argv, "nix");
	strvec_push(argv, "--extra-experimental-features");
	strvec_push(argv, "nix-command flakes");
	strvec_push(argv, "--option");
	strvec_push(argv, "build-users-group");
	strvec_push(argv, "");
	if (o->offline) {
		strvec_push(argv, "--option");
		strvec_push(argv, "substituters");
		strvec_push(argv, "");
	}
	strvec_push(argv, sub);
}

static void flake_args(struct strvec *argv, const struct nix_opts *o)
{
	for (size_t i = 0; o->overrides && i + 1 < o->overrides->n; i += 2) {
		strvec_push(argv, "--override-input");
		strvec_push(argv, o->overrides->v[i]);
		strvec_push(argv, o->overrides->v[i + 1]);
	}
	/* A lock that points at a local override must never be written. */
	strvec_push(argv, "--no-write-lock-file");
}

void nix_tail_lines(struct strbuf *out, const char *text, int max_lines)
{
	size_t len = strlen(text);
	while (len && (text[len - 1] == '\n' || text[len - 1] == ' '))
		len--;
	const char *start = text + len;
	int lines = 0;
	while (start > text && lines < max_lines) {
		start--;
		if (*start == '\n')
			lines++;
	}
	if (*start == '\n')
		start++;
	strbuf_add(out, start, (size_t)(text + len - start));
}

static int run_nix(struct strvec *argv, const struct nix_opts *o, struct child *c, int fail_exit,
		   const char *what, struct err *e)
{
	c->argv = strvec_argv(argv);
	c->capture_out = true;
	c->capture_err = !o->verbose;
	c->max_capture = NIX_MAX_OUTPUT;
	int r = child_run(c, e);
	if (r < 0) {
		if (r == -ENOENT)
			err_hint(e, "install nix (Debian: apt-get install nix-bin) or run "
				    "'mvmctl doctor'");
		return r;
	}
	if (c->status != 0) {
		struct strbuf msg = STRBUF_INIT;
		strbuf_addf(&msg, "%s failed (nix exited with status %d)", what, c->status);
		if (c->err.len) {
			strbuf_addstr(&msg, ":\n");
			nix_tail_lines(&msg, c->err.buf, 25);
		}
		err_set(e, -EIO, fail_exit, "%s", msg.buf);
		strbuf_release(&msg);
		if (strstr(c->err.buf, "unable to download") ||
		    strstr(c->err.buf, "Couldn't resolve host"))
			err_hint(e,
				 "nix tried the network; offline, point inputs at local copies "
				 "with --override-input NAME REF (or MVM_OVERRIDE_INPUTS) and set "
				 "MVM_OFFLINE=1");
		return -EIO;
	}
	return 0;
}

void nix_build_argv(const struct nix_opts *o, const char *installable, struct strvec *argv)
{
	common_args(argv, o, "build");
	flake_args(argv, o);
	strvec_push(argv, "--no-link");
	strvec_push(argv, "--json");
	strvec_push(argv, installable);
}

void nix_closure_argv(const struct nix_opts *o, const char *path, struct strvec *argv)
{
	common_args(argv, o, "path-info");
	strvec_push(argv, "-r");
	strvec_push(argv, path);
}

int nix_parse_build_json(const char *buf, size_t len, const char *installable, char **out,
			 struct err *e)
{
	json_error_t jerr;
	json_t *j = json_loadb(buf, len, 0, &jerr);
	const char *path = NULL;
	int r = 0;
	if (j && json_unpack_ex(j, &jerr, 0, "[{s:{s:s}}]", "outputs", "out", &path) == 0 && path &&
	    nix_store_path_valid(path))
		*out = xstrdup(path);
	else
		r = err_set(e, -EINVAL, EXIT_BUILD, "nix build printed no output path for %s",
			    installable);
	json_decref(j);
	return r;
}

bool nix_store_path_valid(const char *p)
{
	static const char base32[] = "0123456789abcdfghijklmnpqrsvwxyz";
	if (strncmp(p, "/nix/store/", 11))
		return false;
	const char *b = p + 11;
	size_t i = 0;
	for (; i < 32; i++)
		if (!b[i] || !strchr(base32, b[i]))
			return false;
	if (b[32] != '-' || !b[33])
		return false;
	for (const char *c = b + 33; *c; c++)
		if (!(isalnum((unsigned char)*c) || strchr("+-._?=", *c)))
			return false;
	return strlen(b + 33) <= 211 && strcmp(b + 33, ".") && strcmp(b + 33, "..");
}

void nix_metadata_argv(const struct nix_opts *o, const char *ref, struct strvec *argv)
{
	common_args(argv, o, "flake");
	strvec_push(argv, "metadata");
	strvec_push(argv, "--json");
	flake_args(argv, o);
	strvec_push(argv, ref);
}

int nix_flake_metadata(const struct nix_opts *o, const char *ref, json_t **meta, struct err *e)
{
	struct strvec argv = STRVEC_INIT;
	struct child c = CHILD_INIT;
	nix_metadata_argv(o, ref, &argv);
	int r = run_nix(&argv, o, &c, EXIT_BUILD, "evaluating the flake", e);
	if (r >= 0)
		r = json_parse_buf(c.out.buf, c.out.len, "nix flake metadata", meta, e);
	child_release(&c);
	strvec_clear(&argv);
	return r;
}

int nix_build(const struct nix_opts *o, const char *installable, char **out, struct strbuf *log,
	      struct err *e)
{
	struct strvec argv = STRVEC_INIT;
	struct child c = CHILD_INIT;
	nix_build_argv(o, installable, &argv);
	int r = run_nix(&argv, o, &c, EXIT_BUILD, "nix build", e);
	if (log)
		strbuf_add(log, c.err.buf, c.err.len);
	if (r >= 0)
		r = nix_parse_build_json(c.out.buf, c.out.len, installable, out, e);
	child_release(&c);
	strvec_clear(&argv);
	return r;
}

int nix_closure(const struct nix_opts *o, const char *path, struct strvec *paths, struct err *e)
{
	struct strvec argv = STRVEC_INIT;
	struct child c = CHILD_INIT;
	nix_closure_argv(o, path, &argv);
	struct nix_opts quiet = *o;
	quiet.verbose = false;
	int r = run_nix(&argv, &quiet, &c, EXIT_BUILD, "listing the closure", e);
	if (r >= 0) {
		const char *p = c.out.buf;
		while (*p) {
			const char *nl = strchrnul(p, '\n');
			if (nl > p) {
				char *line = xstrndup(p, (size_t)(nl - p));
				if (strncmp(line, "/nix/store/", 11) || strstr(line, "/../"))
					r = err_set(e, -EINVAL, EXIT_BUILD,
						    "unexpected line from nix path-info: %s", line);
				else
					strvec_push(paths, line);
				free(line);
			}
			p = *nl ? nl + 1 : nl;
		}
	}
	child_release(&c);
	strvec_clear(&argv);
	return r;
}

char *nix_version(void)
{
	const char *argv[] = {"nix", "--version", NULL};
	struct child c = CHILD_INIT;
	c.argv = argv;
	c.capture_out = true;
	c.capture_err = true;
	char *v = NULL;
	if (child_run(&c, NULL) == 0 && c.status == 0) {
		strbuf_rtrim(&c.out);
		const char *sp = strrchr(c.out.buf, ' ');
		v = xstrdup(sp ? sp + 1 : c.out.buf);
	}
	child_release(&c);
	return v;
}
