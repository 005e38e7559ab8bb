#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init.h"

/* QEMU user networking (slirp) defaults; overridable on the kernel command line
 * (cold boot) or by IDENTITY (snapshot mode). */
#define DEF_IP	"10.0.2.15/24"
#define DEF_GW	"10.0.2.2"
#define DEF_DNS "10.0.2.3"

static void set_addr(struct sockaddr *sa, in_addr_t a)
{
	struct sockaddr_in sin;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = a;
	memcpy(sa, &sin, sizeof(sin));
}

static int if_up(int fd, const char *name)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		return -errno;
	return 0;
}

static int if_addr(int fd, const char *name, in_addr_t addr, in_addr_t mask)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	set_addr(&ifr.ifr_addr, addr);
	if (ioctl(fd, SIOCSIFADDR, &ifr) < 0)
		return -errno;
	set_addr(&ifr.ifr_netmask, mask);
	if (ioctl(fd, SIOCSIFNETMASK, &ifr) < 0)
		return -errno;
	return 0;
}

static int route_default(int fd, const char *dev, in_addr_t gw)
{
	struct rtentry rt;
	memset(&rt, 0, sizeof(rt));
	set_addr(&rt.rt_dst, INADDR_ANY);
	set_addr(&rt.rt_genmask, INADDR_ANY);
	set_addr(&rt.rt_gateway, gw);
	rt.rt_flags = RTF_UP | RTF_GATEWAY;
	rt.rt_dev = (char *)dev;
	if (ioctl(fd, SIOCADDRT, &rt) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* "a.b.c.d/len" */
static int parse_cidr(const char *s, in_addr_t *addr, in_addr_t *mask)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%s", s);
	char *slash = strchr(buf, '/');
	long len = 24;
	if (slash) {
		*slash = '\0';
		char *end;
		len = strtol(slash + 1, &end, 10);
		if (*end || len < 0 || len > 32)
			return -1;
	}
	struct in_addr a;
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -1;
	*addr = a.s_addr;
	*mask = len ? htonl(0xffffffffu << (32 - len)) : 0;
	return 0;
}

/* Before any service has started nobody can read a half-written file, so a
 * file that exists is rewritten in place: no new inode, which on the overlay
 * root skips the create and the rename, the costliest part of applying an
 * identity to a restored guest (the first run of a kernel path is slow under
 * TCG). Later (a WAKE that renames the VM) the file is replaced whole. */
static void write_file(const char *path, const char *text)
{
	size_t n = strlen(text);
	if (!services_started()) {
		/* O_NOFOLLOW: resolv.conf may be a (dangling) symlink in the image,
		 * which is replaced below, never written through */
		int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0) {
			if (write(fd, text, n) != (ssize_t)n)
				log_msg("writing %s: %s", path, strerror(errno));
			close(fd);
			return;
		}
	}
	char tmp[128];
	snprintf(tmp, sizeof(tmp), "%s.mvm-tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		log_msg("writing %s: %s", path, strerror(errno));
		return;
	}
	if (write(fd, text, n) != (ssize_t)n)
		log_msg("writing %s: %s", path, strerror(errno));
	close(fd);
	if (rename(tmp, path) < 0) {
		log_msg("writing %s: %s", path, strerror(errno));
		unlink(tmp);
	}
}

static void ensure_etc(void)
{
	struct stat st;
	if (stat("/etc", &st) < 0)
		mkdir("/etc", 0755);
}

/* /etc/hosts is the image's when it has one; otherwise ours, and rewritten with
 * every name. */
static bool hosts_ours;

void hostname_setup(const char *name)
{
	const char *h = name && *name ? name : "mvm";
	if (sethostname(h, strlen(h)) < 0)
		log_msg("sethostname %s: %s", h, strerror(errno));
	ensure_etc();
	char buf[512];
	snprintf(buf, sizeof(buf), "%s\n", h);
	write_file("/etc/hostname", buf);
	if (hosts_ours || access("/etc/hosts", F_OK) < 0) {
		snprintf(buf, sizeof(buf), "127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\t%s\n",
			 h);
		write_file("/etc/hosts", buf);
		hosts_ours = true;
	}
}

static void write_resolv_conf(const char *dns)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "nameserver %s\n", dns);
	ensure_etc();
	write_file("/etc/resolv.conf", buf);
}

/* lo and eth0 (when there is one) up, no address yet: opening virtio-net
 * (filling its receive ring) is a good part of the network's setup time. */
static void network_links_up(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_msg("network: socket: %s", strerror(errno));
		return;
	}
	int r = if_up(fd, "lo");
	if (r < 0)
		log_msg("network: bringing up lo: %s", strerror(-r));
	if (if_nametoindex("eth0") != 0 && (r = if_up(fd, "eth0")) < 0)
		log_msg("network: bringing up eth0: %s", strerror(-r));
	close(fd);
}

void network_setup(const char *ip, const char *gw, const char *dns)
{
	network_links_up(); /* at once when a snapshot-mode guest did it before */
	if (if_nametoindex("eth0") == 0)
		return;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_msg("network: socket: %s", strerror(errno));
		return;
	}
	int r;
	if (!ip || !*ip)
		ip = DEF_IP;
	if (!gw || !*gw)
		gw = DEF_GW;
	if (!dns || !*dns)
		dns = DEF_DNS;
	in_addr_t addr, mask;
	struct in_addr gwa;
	if (parse_cidr(ip, &addr, &mask) < 0) {
		log_msg("network: bad address %s", ip);
		goto out;
	}
	if ((r = if_addr(fd, "eth0", addr, mask)) < 0) {
		log_msg("network: configuring eth0: %s", strerror(-r));
		goto out;
	}
	if (inet_pton(AF_INET, gw, &gwa) != 1)
		log_msg("network: bad gateway %s", gw);
	else if ((r = route_default(fd, "eth0", gwa.s_addr)) < 0)
		log_msg("network: default route via %s: %s", gw, strerror(-r));
	write_resolv_conf(dns);
out:
	close(fd);
}

void network_prepare(void)
{
	network_links_up();
	/* the files exist, empty (no name, no name server yet) and /etc/hosts
	 * names only localhost: the identity's values overwrite them in place */
	ensure_etc();
	write_file("/etc/hostname", "");
	write_file("/etc/resolv.conf", "");
	if (access("/etc/hosts", F_OK) < 0) {
		write_file("/etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost\n");
		hosts_ours = true;
	}
}
