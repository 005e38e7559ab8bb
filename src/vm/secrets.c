/* A VM's own secrets disk (`up --secret`): made fresh in its directory for
 * every start by the one secrets-image code a fleet tenant's secrets use too
 * (core/secrets_img.h), attached read-only, and deleted by the supervisor
 * when the VM stops. The values pass through a staging directory inside the
 * VM's own directory (0700), which is gone before the VM boots. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/secrets_img.h"
#include "core/strbuf.h"
#include "core/strvec.h"
#include "core/util.h"
#include "shim/vmdir.h"
#include "vm/internal.h"
#include "vm/vm.h"

#define SECRETS_STAGE ".secrets-stage"

bool vm_secret_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (!n || n > VM_SECRET_NAME_MAX || name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

/* The value of one secret (from its file or as given), at most max bytes. */
static int secret_value(const struct vm_secret *s, size_t max, struct strbuf *out, struct err *e)
{
	if (!s->file) {
		if (s->len > max)
			return err_set(e, -EFBIG, EXIT_USAGE,
				       "secret '%s' is larger than %zu bytes", s->name, max);
		strbuf_add(out, s->value, s->len);
		return 0;
	}
	struct stat st;
	if (stat(s->file, &st) < 0)
		return err_sys(e, -errno, EXIT_USAGE, "secret '%s': '%s'", s->name, s->file);
	if (!S_ISREG(st.st_mode))
		return err_set(e, -EINVAL, EXIT_USAGE, "secret '%s': '%s' is not a regular file",
			       s->name, s->file);
	int r = strbuf_read_file(out, s->file, max);
	if (r == -EFBIG)
		return err_set(e, r, EXIT_USAGE, "secret '%s': '%s' is larger than %zu bytes",
			       s->name, s->file, max);
	if (r < 0)
		return err_sys(e, r, EXIT_USAGE, "secret '%s': reading '%s'", s->name, s->file);
	return 0;
}

int vm_secrets_check(const struct vm_secret *secrets, size_t n, struct err *e)
{
	size_t total = 0;
	for (size_t i = 0; i < n; i++) {
		if (!vm_secret_name_valid(secrets[i].name)) {
			_cleanup_free_ char *shown = str_shown(secrets[i].name, 64);
			return err_set(e, -EINVAL, EXIT_USAGE,
				       "'%s' is not a valid secret name (1-%d of letters, digits, "
				       "'_', '-', '.', not starting with '.')",
				       shown, VM_SECRET_NAME_MAX);
		}
		for (size_t j = 0; j < i; j++)
			if (!strcmp(secrets[i].name, secrets[j].name))
				return err_set(e, -EINVAL, EXIT_USAGE, "secret '%s' is given twice",
					       secrets[i].name);
		struct strbuf v = STRBUF_INIT;
		int r = secret_value(&secrets[i], SECRETS_IMG_MIN_PAYLOAD, &v, e);
		total += v.len;
		strbuf_wipe(&v);
		if (r < 0)
			return r;
	}
	if (total > SECRETS_IMG_MIN_PAYLOAD)
		return err_set(e, -EFBIG, EXIT_USAGE,
			       "the secrets add up to %zu bytes, more than the %u a VM's secrets "
			       "disk holds",
			       total, SECRETS_IMG_MIN_PAYLOAD);
	return 0;
}

int vm_secrets_disk_make(const char *name, const struct vm_secret *secrets, size_t n, char **path,
			 struct err *e)
{
	_cleanup_free_ char *dir = vm_dir(name);
	_cleanup_free_ char *stage = fs_join(dir, SECRETS_STAGE);
	_cleanup_free_ char *img = fs_join(dir, VM_SECRETS_IMG);
	struct err ig = ERR_INIT;
	fs_rm_rf(stage, &ig); /* what a killed start left */
	err_release(&ig);
	if (unlink(img) < 0 && errno != ENOENT)
		return err_sys(e, -errno, EXIT_FAILED, "removing the old '%s'", img);
	if (mkdir(stage, 0700) < 0)
		return err_sys(e, -errno, EXIT_FAILED, "creating '%s'", stage);
	struct strvec names = STRVEC_INIT;
	size_t total = 0;
	int r = 0;
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct strbuf v = STRBUF_INIT;
		r = secret_value(&secrets[i], SECRETS_IMG_MIN_PAYLOAD, &v, e);
		if (r == 0) {
			_cleanup_free_ char *f = fs_join(stage, secrets[i].name);
			r = fs_write_atomic(f, v.buf, v.len, 0400, e);
			total += v.len;
			strvec_push(&names, secrets[i].name);
		}
		strbuf_wipe(&v);
	}
	if (r == 0)
		r = secrets_image_make(img, stage, strvec_argv(&names), total, dir, e);
	strvec_clear(&names);
	fs_rm_rf(stage, &ig);
	err_release(&ig);
	if (r < 0) {
		unlink(img);
		return err_prefix(e, r, "VM '%s': its secrets disk", name);
	}
	*path = TAKE_PTR(img);
	return 0;
}

int vm_secrets_slot_make(const char *name, char **path, struct err *e)
{
	_cleanup_free_ char *img = vm_file(name, VM_SECRETS_SLOT);
	if (unlink(img) < 0 && errno != ENOENT)
		return err_sys(e, -errno, EXIT_FAILED, "removing the old '%s'", img);
	_cleanup_close_ int fd = open(img, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)SECRETS_IMG_MIN_KIB << 10) < 0)
		return err_sys(e, -errno, EXIT_FAILED, "creating '%s'", img);
	*path = TAKE_PTR(img);
	return 0;
}
