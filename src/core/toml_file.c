#include <errno.h>

#include "fs.h"
#include "strbuf.h"
#include "toml_file.h"

int toml_read_file(const char *path, size_t max, struct toml_value **root, struct err *e)
{
	struct strbuf sb = STRBUF_INIT;
	int r = fs_read_file(path, max, &sb, e);
	if (r < 0) {
		strbuf_release(&sb);
		return r;
	}
	struct toml_error terr = {0};
	*root = toml_parse(sb.buf, sb.len, &terr);
	strbuf_release(&sb);
	if (!*root)
		return err_set(e, -EINVAL, EXIT_INVALID, "%s:%d:%d: invalid TOML: %s", path,
			       terr.line, terr.col, terr.msg);
	return 0;
}
