/* Test helper: drives mvm's etcd gateway client (cluster/etcd.h) against a
 * real etcd, one call per run, and prints what the client made of the
 * answer, so a test can check each of the gateway's traps (numbers as
 * strings, zero fields left out, untyped PUT events, a watch cancelled by
 * a compaction) through the code the agent uses.
 *
 *   etcd-probe ENDPOINTS get KEY            "found <value> mod=<rev>" | "absent rev=<rev>"
 *   etcd-probe ENDPOINTS put KEY VALUE      "rev=<rev>"
 *   etcd-probe ENDPOINTS create KEY VALUE   "succeeded=<0|1>": a txn that puts KEY only
 *                                           when it does not exist (the claim's compare)
 *   etcd-probe ENDPOINTS del-prefix PREFIX  "deleted=<n>"
 *   etcd-probe ENDPOINTS lease TTL          grants, renews, revokes, renews again:
 *                                           "granted ttl=<t> renewed ttl=<t> revoked ttl=<t>"
 *   etcd-probe ENDPOINTS compact REV
 *   etcd-probe ENDPOINTS watch PREFIX FROM MS   one line per event ("PUT key value" |
 *                                           "DELETE key"), then "next=<rev>"; a
 *                                           compacted FROM: "stale next=<rev>", exit 1
 *
 * ENDPOINTS: comma-separated. Exit status: 0, or the err's exit class with
 * its message on stderr. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/etcd.h"
#include "core/err.h"
#include "core/strvec.h"
#include "core/util.h"

static int usage(void)
{
	fprintf(stderr, "usage: etcd-probe ENDPOINTS get|put|create|del-prefix|lease|compact|watch "
			"ARGS...\n");
	return 2;
}

/* A decimal argument; -1 when it is not one. */
static long long num_arg(const char *s)
{
	long long v = -1;
	return parse_int64(s, 0, INT64_MAX, &v) == 0 ? v : -1;
}

static int run(struct etcd *c, int argc, char **argv, struct err *e)
{
	const char *op = argv[0];
	int r = 0;
	if (!strcmp(op, "get") && argc == 2) {
		struct etcd_kv kv;
		bool found = false;
		int64_t rev = 0;
		if ((r = etcd_get(c, argv[1], &kv, &found, &rev, e)) < 0)
			return r;
		if (found)
			printf("found %s mod=%" PRId64 "\n", kv.value, kv.mod_revision);
		else
			printf("absent rev=%" PRId64 "\n", rev);
		etcd_kv_release(&kv);
	} else if (!strcmp(op, "put") && argc == 3) {
		int64_t rev = 0;
		if ((r = etcd_put(c, argv[1], argv[2], 0, &rev, e)) == 0)
			printf("rev=%" PRId64 "\n", rev);
	} else if (!strcmp(op, "create") && argc == 3) {
		struct etcd_cmp cmp = {
		    .key = argv[1], .target = ETCD_CREATE, .result = ETCD_EQUAL, .num = 0};
		struct etcd_op put = {.type = ETCD_OP_PUT, .key = argv[1], .value = argv[2]};
		bool ok = false;
		if ((r = etcd_txn(c, &cmp, 1, &put, 1, NULL, 0, &ok, NULL, e)) == 0)
			printf("succeeded=%d\n", ok);
	} else if (!strcmp(op, "del-prefix") && argc == 2) {
		int64_t n = 0;
		if ((r = etcd_delete(c, argv[1], true, &n, e)) == 0)
			printf("deleted=%" PRId64 "\n", n);
	} else if (!strcmp(op, "lease") && argc == 2) {
		int64_t id = 0, ttl = 0, left = 0, after = 0;
		if ((r = etcd_lease_grant(c, num_arg(argv[1]), &id, &ttl, e)) < 0 ||
		    (r = etcd_lease_keepalive(c, id, &left, e)) < 0 ||
		    (r = etcd_lease_revoke(c, id, e)) < 0 ||
		    (r = etcd_lease_keepalive(c, id, &after, e)) < 0)
			return r;
		printf("granted ttl=%" PRId64 " renewed ttl=%" PRId64 " revoked ttl=%" PRId64 "\n",
		       ttl, left, after);
	} else if (!strcmp(op, "compact") && argc == 2) {
		r = etcd_compact(c, num_arg(argv[1]), e);
	} else if (!strcmp(op, "watch") && argc == 4) {
		struct etcd_events ev;
		int64_t next = 0;
		r = etcd_watch_wait(c, argv[1], num_arg(argv[2]), num_arg(argv[3]), &ev, &next, e);
		if (r == -ESTALE) {
			printf("stale next=%" PRId64 "\n", next);
			return r;
		}
		if (r < 0)
			return r;
		for (size_t i = 0; i < ev.n; i++)
			if (ev.v[i].deleted)
				printf("DELETE %s\n", ev.v[i].kv.key);
			else
				printf("PUT %s %s\n", ev.v[i].kv.key, ev.v[i].kv.value);
		printf("next=%" PRId64 "\n", next);
		etcd_events_release(&ev);
	} else
		return usage();
	return r;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return usage();
	struct strvec eps = STRVEC_INIT;
	_cleanup_free_ char *list = xstrdup(argv[1]);
	for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save))
		strvec_push(&eps, t);
	struct err e = ERR_INIT;
	struct etcd *c = NULL;
	int r = etcd_open(&c, &eps, 2000, &e);
	if (r == 0)
		r = run(c, argc - 2, argv + 2, &e);
	int code = r > 0 ? r : 0; /* usage */
	if (r < 0) {
		fprintf(stderr, "etcd-probe: %s\n", e.msg ? e.msg : "failed");
		code = e.exit ? e.exit : 1;
	}
	etcd_close(c);
	strvec_clear(&eps);
	err_release(&e);
	return code;
}
