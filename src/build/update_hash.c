#include <regex.h>
#include <string.h>
#include <sys/stat.h>

#include "core/fs.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "update_hash.h"

/* Finds the value span of the single hash attribute. */
static int find_hash_attr(const char *text, regmatch_t *value, struct err *e, const char *path)
{
	regex_t re;
	/* outputHash = "…";  or  hash = "…"; (also sha256 = "…" as fetchers spell it) */
	if (regcomp(&re, "(^|[^A-Za-z0-9_'-])(outputHash|hash|sha256)[ \t]*=[ \t]*\"([^\"]*)\"",
		    REG_EXTENDED | REG_NEWLINE) != 0)
		return err_set(e, -EINVAL, EXIT_FAILED, "internal: bad pattern");
	int count = 0;
	regmatch_t m[4];
	const char *p = text;
	while (regexec(&re, p, 4, m, p == text ? 0 : REG_NOTBOL) == 0) {
		if (count++ == 0) {
			value->rm_so = (regoff_t)(p - text) + m[3].rm_so;
			value->rm_eo = (regoff_t)(p - text) + m[3].rm_eo;
		}
		p += m[0].rm_eo;
	}
	regfree(&re);
	if (count == 0)
		return err_set(e, -ENOENT, EXIT_BUILD,
			       "--update-hash: %s has no outputHash, hash or sha256 attribute",
			       path);
	if (count > 1)
		return err_set(
		    e, -E2BIG, EXIT_BUILD,
		    "--update-hash: %s has %d hash attributes; update them one at a time "
		    "(blank the one to recompute and build)",
		    path, count);
	return 0;
}

/* The hash after "got:" in nix's hash-mismatch report. */
static char *got_hash(const char *log)
{
	const char *g = strstr(log, "got:");
	if (!g)
		return NULL;
	g += 4;
	while (*g == ' ' || *g == '\t')
		g++;
	size_t n = strspn(g, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-:");
	if (n < 8 || n > 200)
		return NULL;
	return xstrndup(g, n);
}

static char *splice(const char *text, regmatch_t span, const char *val)
{
	return xasprintf("%.*s%s%s", (int)span.rm_so, text, val, text + span.rm_eo);
}

/* Blanks the value, builds, and writes back what nix reports (or the original). */
static int blank_and_build(const struct build_request *req, const char *installable,
			   const char *path, const struct strbuf *orig, mode_t mode,
			   regmatch_t span, char **new_hash, struct err *e)
{
	_cleanup_free_ char *blank = splice(orig->buf, span, "");
	int r = fs_write_atomic(path, blank, strlen(blank), mode, e);
	if (r < 0)
		return r;
	struct strbuf log = STRBUF_INIT;
	_cleanup_free_ char *out = NULL;
	struct err berr = ERR_INIT;
	int br = nix_build(req->nix, installable, &out, &log, &berr);
	char *got = NULL;
	if (br < 0) {
		got = got_hash(berr.msg ? berr.msg : "");
		if (!got)
			got = got_hash(log.buf);
	}
	strbuf_release(&log);
	if (got) {
		_cleanup_free_ char *fixed = splice(orig->buf, span, got);
		r = fs_write_atomic(path, fixed, strlen(fixed), mode, e);
		if (r >= 0)
			*new_hash = got;
		else
			free(got);
	} else {
		/* Put the file back exactly as it was. */
		r = fs_write_atomic(path, orig->buf, orig->len, mode, e);
		if (r >= 0 && br < 0)
			r = err_set(
			    e, br, EXIT_BUILD,
			    "--update-hash: nix reported no hash to use; %s is unchanged: %s", path,
			    berr.msg ? berr.msg : "nix build failed");
	}
	err_release(&berr);
	return r;
}

int update_hash(const struct build_request *req, const char *installable, char **new_hash,
		struct err *e)
{
	*new_hash = NULL;
	if (req->flake[0] != '/')
		return err_set(e, -EINVAL, EXIT_BUILD,
			       "--update-hash needs a local flake directory, not '%s'", req->flake);
	_cleanup_free_ char *path = fs_join(req->flake, "flake.nix");
	struct strbuf orig = STRBUF_INIT;
	int r = fs_read_file(path, 4u << 20, &orig, e);
	struct stat st;
	mode_t mode = stat(path, &st) == 0 ? st.st_mode & 07777 : 0644;
	regmatch_t span = {0, 0};
	if (r >= 0)
		r = find_hash_attr(orig.buf, &span, e, path);
	if (r >= 0)
		r = blank_and_build(req, installable, path, &orig, mode, span, new_hash, e);
	strbuf_release(&orig);
	return r;
}
