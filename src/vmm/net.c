/* Egress modes and allowed destinations (vmm.h), shared by every backend. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "core/util.h"
#include "vmm/vmm.h"

static const char *const net_names[] = {
    [VMM_NET_NAT] = "nat",
    [VMM_NET_ISOLATED] = "isolated",
    [VMM_NET_NONE] = "none",
};

const char *vmm_net_name(enum vmm_net n)
{
	return (size_t)n < ARRAY_SIZE(net_names) ? net_names[n] : "?";
}

int vmm_net_parse(const char *s, enum vmm_net *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(net_names); i++)
		if (!strcmp(s, net_names[i])) {
			*out = (enum vmm_net)i;
			return 0;
		}
	return -EINVAL;
}

/* A DNS name of letters, digits, '-' and '.', labels of 1-63. */
static bool dns_name(const char *h, size_t n)
{
	size_t label = 0;
	for (size_t i = 0; i < n; i++) {
		char c = h[i];
		if (c == '.') {
			if (!label)
				return false;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || c == '-') {
			if (++label > 63 || (label == 1 && c == '-'))
				return false;
		} else {
			return false;
		}
	}
	return label > 0;
}

int vmm_allow_parse(const char *s, struct vmm_allow *a, struct err *e)
{
	*a = (struct vmm_allow){0};
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s)
		return err_set(e, -EINVAL, EXIT_USAGE, "--allow '%s': expected HOST:PORT", s);
	size_t n = (size_t)(colon - s);
	long long port;
	if (parse_int64(colon + 1, 1, 65535, &port) < 0)
		return err_set(e, -EINVAL, EXIT_USAGE,
			       "--allow '%s': the port is a number from 1 to 65535", s);
	if (n > VMM_HOST_MAX || !dns_name(s, n)) {
		int r = err_set(e, -EINVAL, EXIT_USAGE,
				"--allow '%s': '%.*s' is neither an IPv4 address nor a DNS name", s,
				(int)n, s);
		err_hint(e, "e.g. --allow 10.1.2.3:5432 or --allow db.internal:5432 (IPv6 is "
			    "not supported)");
		return r;
	}
	memcpy(a->host, s, n);
	a->host[n] = '\0';
	a->port = (uint16_t)port;
	return 0;
}

void vmm_allow_format(const struct vmm_allow *a, struct strbuf *out)
{
	strbuf_addf(out, "%s:%u", a->host, a->port);
}

void vmm_allow_guest(const struct vmm_allow *a, size_t i, struct strbuf *out)
{
	strbuf_addf(out, VMM_ALLOW_NET ".%zu:%u", VMM_ALLOW_FIRST + i, a->port);
}
