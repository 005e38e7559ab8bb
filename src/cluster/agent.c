/* `mvm host serve` (agent.h): the lease, its keepalive thread, fencing and
 * the loop. One pass of the loop is reconcile.c. */
#include "cluster/agent.h"

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "cluster/agent_int.h"
#include "core/clock.h"
#include "core/fs.h"
#include "core/jsonio.h"
#include "core/paths.h"
#include "core/util.h"
#include "fleet/fleet.h"
#include "fleet/instance.h"
#include "shim/fence.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

void agent_log(const struct agent *a, const char *fmt, ...)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	char ts[16];
	strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	printf("%s %s: %s\n", ts, a->name, msg ? msg : fmt);
	fflush(stdout);
}

bool agent_lease_doubtful(const struct agent *a)
{
	return mono_ms() - atomic_load(&a->last_renew_ms) > a->ttl_s * 1000LL - a->margin_ms;
}

/* --- the lease ------------------------------------------------------------------------ */

static char *lease_path(void)
{
	return fs_join(paths_home(), "cluster/lease.json");
}

static int save_lease(const struct agent *a, struct err *e)
{
	_cleanup_free_ char *dir = fs_join(paths_home(), "cluster");
	_cleanup_free_ char *path = lease_path();
	int r = fs_mkdir_p(dir, 0700, e);
	if (r < 0)
		return r;
	char id[32];
	snprintf(id, sizeof(id), "%lld", (long long)atomic_load(&a->lease));
	json_t *j = json_pack("{s:i, s:s, s:s}", "schema_version", 1, "host", a->name, "lease", id);
	r = json_write_file(path, j, e);
	json_decref(j);
	return r;
}

/* The fence file: the lease vouched for until TTL minus the margin after
 * sent_boot (boot_ms() when the grant or renewal that succeeded was sent).
 * Written before last_renew_ms moves, so that the agent never asks a
 * supervisor to resume a VM while the file still says no. */
static void write_fence(struct agent *a, int64_t lease, long long sent_boot)
{
	struct fence f = {.lease = lease, .until_ms = sent_boot + a->ttl_s * 1000LL - a->margin_ms};
	struct err e = ERR_INIT;
	pthread_mutex_lock(&a->fence_lock);
	if (fence_write(a->fence_path, &f, &e) < 0)
		agent_log(a, "cannot write the fence file: %s (this host's VMs will be paused)",
			  e.msg ? e.msg : "?");
	pthread_mutex_unlock(&a->fence_lock);
	err_release(&e);
}

/* The lease of an earlier run of this host's agent, when etcd still has it. */
static int64_t adopt_lease(struct agent *a)
{
	_cleanup_free_ char *path = lease_path();
	json_t *j = NULL;
	struct err e = ERR_INIT;
	int64_t id = 0, ttl = 0;
	if (json_read_file(path, &j, &e) == 0) {
		const char *host = json_get_str(j, "host");
		const char *s = json_get_str(j, "lease");
		long long v = 0, sent_boot = boot_ms();
		if (host && !strcmp(host, a->name) && s && parse_int64(s, 1, INT64_MAX, &v) == 0 &&
		    etcd_lease_keepalive(a->c, v, &ttl, &e) == 0 && ttl > 0) {
			id = v;
			write_fence(a, id, sent_boot);
		}
	}
	json_decref(j);
	err_release(&e);
	return id;
}

static int new_lease(struct agent *a, struct err *e)
{
	int64_t id = 0, granted = 0;
	long long sent_boot = boot_ms();
	int r = etcd_lease_grant(a->c, a->ttl_s, &id, &granted, e);
	if (r < 0)
		return r;
	write_fence(a, id, sent_boot);
	atomic_store(&a->lease, id);
	atomic_store(&a->last_renew_ms, mono_ms());
	atomic_store(&a->lease_lost, false);
	json_decref(a->published);
	a->published = NULL; /* the host record goes up again, under the new lease */
	agent_log(a, "lease %llx granted (TTL %lld s)", (unsigned long long)id, (long long)granted);
	return save_lease(a, e);
}

struct keeper {
	struct agent *a;
	struct etcd *c;
};

/* Renews the lease every TTL/3 (every 500 ms after a failure). */
static void *keepalive_main(void *arg)
{
	struct keeper *k = arg;
	struct agent *a = k->a;
	long long next = mono_ms() + a->ttl_s * 1000LL / 3;
	bool failing = false;
	while (!stop_requested) {
		if (mono_ms() < next) {
			struct timespec ts = {0, 100 * 1000 * 1000};
			nanosleep(&ts, NULL);
			continue;
		}
		int64_t id = atomic_load(&a->lease), ttl = 0;
		if (!id || atomic_load(&a->lease_lost)) {
			next = mono_ms() + 200;
			continue;
		}
		long long sent = mono_ms(), sent_boot = boot_ms();
		struct err e = ERR_INIT;
		int r = etcd_lease_keepalive(k->c, id, &ttl, &e);
		if (r == 0 && ttl > 0) {
			write_fence(a, id, sent_boot);
			atomic_store(&a->last_renew_ms, sent);
			if (failing)
				agent_log(a, "lease renewed again");
			failing = false;
			next = sent + a->ttl_s * 1000LL / 3;
		} else if (r == 0) {
			agent_log(a, "lease %llx has expired", (unsigned long long)id);
			atomic_store(&a->lease_lost, true);
			next = mono_ms() + 200;
		} else {
			if (!failing)
				agent_log(a, "cannot renew the lease: %s", (e.msg ? e.msg : "?"));
			failing = true;
			next = mono_ms() + 500;
		}
		err_release(&e);
	}
	return NULL;
}

/* --- the loop ------------------------------------------------------------------------- */

static void capacity(struct agent *a)
{
	if (!a->vcpus) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		a->vcpus = n > 0 ? (unsigned)n : 1;
	}
	if (!a->mem_mib) {
		struct sysinfo si;
		if (sysinfo(&si) == 0)
			a->mem_mib = (uint64_t)si.totalram * si.mem_unit >> 20;
	}
}

static void wait_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void serve_loop(struct agent *a)
{
	bool reported = false;
	while (!stop_requested) {
		struct err e = ERR_INIT;
		if (atomic_load(&a->lease_lost)) {
			if (new_lease(a, &e) < 0) {
				agent_log(a, "cannot get a new lease: %s", (e.msg ? e.msg : "?"));
				err_release(&e);
				wait_ms(500);
				continue;
			}
		}
		if (agent_lease_doubtful(a)) {
			if (!a->fenced) {
				agent_log(a,
					  "fencing: the lease was not renewed for %lld ms; pausing "
					  "this host's running instances",
					  mono_ms() - atomic_load(&a->last_renew_ms));
				agent_fence(a);
				a->fenced = true;
			}
			wait_ms(200);
			continue;
		}
		if (a->fenced) {
			agent_log(a, "lease renewed: converging again");
			a->fenced = false;
		}
		a->due_ms = 0;
		int r = agent_reconcile(a, &e);
		if (r < 0) {
			if (!reported)
				agent_log(a, "%s", (e.msg ? e.msg : "?"));
			reported = true;
			err_release(&e);
			wait_ms(500);
			continue;
		}
		reported = false;
		if (r == 0) {
			struct etcd_events ev = {0};
			int64_t next = 0;
			/* any change under the prefix, the end of a grace, or a second:
			 * either way, look again */
			long wait = 1000;
			if (a->due_ms) {
				long long left = a->due_ms - mono_ms();
				wait = left < 50 ? 50 : left < wait ? (long)left : wait;
			}
			etcd_watch_wait(a->c, CLUSTER_PREFIX, a->seen_rev + 1, wait, &ev, &next,
					&e);
			etcd_events_release(&ev);
		}
		err_release(&e);
	}
}

int agent_serve(const struct config *cfg, const struct agent_opts *o, struct err *e)
{
	if (!cfg->etcd.n)
		return err_set(e, -EINVAL, EXIT_USAGE,
			       "no cluster is configured: set [cluster] etcd in config.toml or "
			       "MVM_ETCD");
	if (!cluster_host_name_valid(o->name))
		return err_set(e, -EINVAL, EXIT_USAGE,
			       "'%s' is not a host name: 1-63 characters of letters, digits, '.', "
			       "'_' and '-'",
			       o->name);
	struct agent a = {
	    .name = o->name,
	    .cfg = cfg,
	    .ttl_s = o->ttl_s,
	    .vcpus = o->vcpus,
	    .mem_mib = o->mem_mib,
	    .unowned_since = json_object(),
	    .retry_at = json_object(),
	    .failover = json_object(),
	};
	a.margin_ms = o->ttl_s * 1000LL / 4 > 1000 ? o->ttl_s * 1000LL / 4 : 1000;
	a.grace_ms = a.margin_ms;
	capacity(&a);
	pthread_mutex_init(&a.fence_lock, NULL);
	_cleanup_free_ char *dir = fs_join(paths_home(), "cluster");
	a.fence_path = fs_join(dir, "fence.json");
	struct keeper k = {.a = &a};
	int r = fs_mkdir_p(dir, 0700, e);
	if (r == 0)
		r = etcd_open(&a.c, &cfg->etcd, 2000, e);
	if (r == 0)
		r = etcd_open(&k.c, &cfg->etcd, 2000, e);
	int64_t old = r == 0 ? adopt_lease(&a) : 0;
	if (old) {
		atomic_store(&a.lease, old);
		atomic_store(&a.last_renew_ms, mono_ms());
		agent_log(&a, "carrying on with lease %llx", (unsigned long long)old);
	} else if (r == 0)
		r = new_lease(&a, e);
	pthread_t thr;
	bool started = false;
	if (r == 0) {
		struct sigaction sa = {.sa_handler = on_signal};
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		if (pthread_create(&thr, NULL, keepalive_main, &k) != 0)
			r = err_set(e, -EAGAIN, EXIT_FAILED, "cannot start the keepalive thread");
		else
			started = true;
	}
	if (r == 0) {
		agent_log(&a, "serving (%u vCPUs, %llu MiB) on %s", a.vcpus,
			  (unsigned long long)a.mem_mib, etcd_endpoint(a.c));
		serve_loop(&a);
		agent_log(&a,
			  "stopping; the lease lives %d s more, the instances here stay this "
			  "host's if it serves again within that",
			  a.ttl_s);
	}
	stop_requested = 1;
	if (started)
		pthread_join(thr, NULL);
	if (k.c)
		etcd_close(k.c);
	if (a.c)
		etcd_close(a.c);
	json_decref(a.published);
	json_decref(a.unowned_since);
	json_decref(a.retry_at);
	json_decref(a.failover);
	free(a.fence_path);
	pthread_mutex_destroy(&a.fence_lock);
	return r;
}
