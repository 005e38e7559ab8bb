/* libFuzzer harness for the small parsers of user-given values: the input,
 * as one string, goes to every one of them. Sizes (size_parse_mib,
 * src/core/size.c): what parses is within SIZE_MAX_MIB and its canonical
 * form parses back to the same value. Published ports (vmm_port_parse) and
 * allowed destinations (vmm_allow_parse, src/vmm/net.c): what parses
 * formats to text that parses back to the same entry. Network modes,
 * accelerators and fleet addresses (tenant, pool, instance). Nothing may
 * crash or leak.
 *
 *   make fuzz && build/fuzz/fuzz_parse fuzz/corpus/parse
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/size.h"
#include "fleet/fleet.h"
#include "vmm/vmm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void sizes(const char *s)
{
	uint64_t mib;
	int r = size_parse_mib(s, &mib);
	if (r < 0) {
		if (r != -EINVAL && r != -ERANGE)
			abort();
		return;
	}
	if (mib > SIZE_MAX_MIB)
		abort();
	char *text = size_format_mib(mib);
	uint64_t again;
	if (size_parse_mib(text, &again) < 0 || again != mib)
		abort();
	free(text);
}

static void ports(const char *s)
{
	struct vmm_port p;
	struct err e = ERR_INIT;
	if (vmm_port_parse(s, &p, &e) == 0) {
		struct strbuf sb = STRBUF_INIT;
		vmm_port_format(&p, &sb);
		struct vmm_port q;
		if (vmm_port_parse(sb.buf, &q, &e) < 0 || strcmp(p.host_ip, q.host_ip) ||
		    p.host_port != q.host_port || p.guest_port != q.guest_port ||
		    p.proto != q.proto)
			abort();
		strbuf_release(&sb);
	} else if (!e.msg) {
		abort();
	}
	err_release(&e);
}

static void allows(const char *s)
{
	struct vmm_allow a;
	struct err e = ERR_INIT;
	if (vmm_allow_parse(s, &a, &e) == 0) {
		struct strbuf sb = STRBUF_INIT, g = STRBUF_INIT;
		vmm_allow_format(&a, &sb);
		vmm_allow_guest(&a, VMM_ALLOW_MAX - 1, &g);
		struct vmm_allow b;
		if (vmm_allow_parse(sb.buf, &b, &e) < 0 || strcmp(a.host, b.host) ||
		    a.port != b.port)
			abort();
		strbuf_release(&sb);
		strbuf_release(&g);
	} else if (!e.msg) {
		abort();
	}
	err_release(&e);
}

static void names(const char *s)
{
	enum vmm_net n;
	if (vmm_net_parse(s, &n) == 0 && strcmp(vmm_net_name(n), s))
		abort();
	enum vmm_accel a;
	if (vmm_accel_parse(s, &a) == 0 && strcmp(vmm_accel_name(a), s))
		abort();
	int (*fleet[])(const char *, struct fleet_addr *, struct err *) = {
	    fleet_parse_tenant, fleet_parse_pool, fleet_parse_instance, fleet_parse_scope};
	for (size_t i = 0; i < sizeof(fleet) / sizeof(*fleet); i++) {
		struct fleet_addr fa;
		struct err e = ERR_INIT;
		fleet[i](s, &fa, &e);
		err_release(&e);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	sizes(s);
	ports(s);
	allows(s);
	names(s);
	free(s);
	return 0;
}
