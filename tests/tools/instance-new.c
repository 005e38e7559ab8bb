/* Test helper: creates a stopped instance of pool <tenant>/<pool> in
 * $MVM_HOME with mvm's own instance_create (what `pool scale` does before it
 * boots one), without building or booting anything, and prints its address.
 * For tests that need an instance to exist, not to run (completion).
 *
 *   instance-new <tenant>/<pool>
 *
 * Exit status: 0 ok, else the struct err exit class with the message on stderr. */
#include <stdio.h>

#include "core/err.h"
#include "fleet/instance.h"
#include "fleet/pool.h"

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: instance-new <tenant>/<pool>\n");
		return 2;
	}
	struct err e = ERR_INIT;
	struct pool p = POOL_INIT;
	struct instance in = INSTANCE_INIT;
	int r = pool_load_addr(argv[1], &p, &e);
	if (r == 0)
		r = instance_create(&p, &in, &e);
	if (r == 0)
		printf("%s\n", in.ref);
	else
		fprintf(stderr, "instance-new: %s\n", e.msg ? e.msg : "failed");
	int code = r == 0 ? 0 : e.exit ? e.exit : 1;
	instance_release(&in);
	pool_release(&p);
	err_release(&e);
	return code;
}
