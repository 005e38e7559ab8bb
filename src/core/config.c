#include <string.h>
#include <strings.h>

#include "config.h"
#include "fs.h"
#include "paths.h"
#include "strbuf.h"
#include "toml_file.h"
#include "util.h"

static int bad(struct err *e, const char *path, const struct toml_kv *kv, const char *what)
{
	return err_set(e, -EINVAL, EXIT_INVALID, "%s:%d: %s: %s", path, kv->line, kv->key, what);
}

static int set_str(char **dst, const char *path, const struct toml_kv *kv, struct err *e)
{
	if (kv->value->type != TOML_STRING)
		return bad(e, path, kv, "expected a string");
	free(*dst);
	*dst = xstrdup(kv->value->u.str.ptr);
	return 0;
}

static int load_nix(struct config *c, const struct toml_value *tab, struct err *e)
{
	for (size_t i = 0; i < tab->u.table.len; i++) {
		const struct toml_kv *kv = &tab->u.table.items[i];
		if (!strcmp(kv->key, "offline")) {
			if (kv->value->type != TOML_BOOL)
				return bad(e, c->path, kv, "expected true or false");
			c->offline = kv->value->u.boolean;
		} else if (!strcmp(kv->key, "override_inputs")) {
			if (kv->value->type != TOML_TABLE)
				return bad(e, c->path, kv,
					   "expected a table of input names to flake refs");
			const struct toml_value *t = kv->value;
			for (size_t j = 0; j < t->u.table.len; j++) {
				const struct toml_kv *in = &t->u.table.items[j];
				if (in->value->type != TOML_STRING)
					return bad(e, c->path, in, "expected a flake ref string");
				strvec_push(&c->override_inputs, in->key);
				strvec_push(&c->override_inputs, in->value->u.str.ptr);
			}
		}
	}
	return 0;
}

static int load_network(struct config *c, const struct toml_value *tab, struct err *e)
{
	for (size_t i = 0; i < tab->u.table.len; i++) {
		const struct toml_kv *kv = &tab->u.table.items[i];
		if (!strcmp(kv->key, "default")) {
			int r = set_str(&c->network, c->path, kv, e);
			if (r < 0)
				return r;
			if (strcmp(c->network, "nat") && strcmp(c->network, "isolated") &&
			    strcmp(c->network, "none"))
				return bad(e, c->path, kv,
					   "expected \"nat\", \"isolated\" or \"none\"");
			c->network_from = c->path;
		}
	}
	return 0;
}

static int load_store(struct config *c, const struct toml_value *tab, struct err *e)
{
	for (size_t i = 0; i < tab->u.table.len; i++) {
		const struct toml_kv *kv = &tab->u.table.items[i];
		int r = 0;
		if (!strcmp(kv->key, "url"))
			r = set_str(&c->store_url, c->path, kv, e);
		else if (!strcmp(kv->key, "endpoint"))
			r = set_str(&c->store_endpoint, c->path, kv, e);
		else if (!strcmp(kv->key, "region"))
			r = set_str(&c->store_region, c->path, kv, e);
		else if (!strcmp(kv->key, "signing_key"))
			r = set_str(&c->signing_key, c->path, kv, e);
		else if (!strcmp(kv->key, "rate_limit")) {
			if (kv->value->type != TOML_INTEGER || kv->value->u.integer < 0)
				return bad(e, c->path, kv,
					   "expected bytes per second (0: unlimited)");
			c->store_rate_limit = kv->value->u.integer;
		} else if (!strcmp(kv->key, "part_size")) {
			if (kv->value->type != TOML_INTEGER || kv->value->u.integer < (5LL << 20) ||
			    kv->value->u.integer > (5LL << 30))
				return bad(e, c->path, kv,
					   "expected bytes from 5242880 (5 MiB) to 5 GiB");
			c->store_part_size = kv->value->u.integer;
		} else if (!strcmp(kv->key, "multipart_threshold")) {
			if (kv->value->type != TOML_INTEGER || kv->value->u.integer < (5LL << 20) ||
			    kv->value->u.integer > (5LL << 30))
				return bad(e, c->path, kv,
					   "expected bytes from 5242880 (5 MiB) to 5 GiB");
			c->store_multipart_threshold = kv->value->u.integer;
		} else if (!strcmp(kv->key, "trusted_keys")) {
			if (kv->value->type != TOML_ARRAY)
				return bad(e, c->path, kv,
					   "expected an array of \"ed25519:BASE64\" strings");
			for (size_t j = 0; j < kv->value->u.array.len; j++) {
				const struct toml_value *v = kv->value->u.array.items[j];
				if (v->type != TOML_STRING)
					return bad(
					    e, c->path, kv,
					    "expected an array of \"ed25519:BASE64\" strings");
				strvec_push(&c->trusted_keys, v->u.str.ptr);
			}
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int load_cluster(struct config *c, const struct toml_value *tab, struct err *e)
{
	for (size_t i = 0; i < tab->u.table.len; i++) {
		const struct toml_kv *kv = &tab->u.table.items[i];
		int r = 0;
		if (!strcmp(kv->key, "etcd")) {
			if (kv->value->type != TOML_ARRAY || !kv->value->u.array.len)
				return bad(e, c->path, kv,
					   "expected an array of endpoints, e.g. "
					   "[\"http://127.0.0.1:2379\"]");
			for (size_t j = 0; j < kv->value->u.array.len; j++) {
				const struct toml_value *v = kv->value->u.array.items[j];
				if (v->type != TOML_STRING || strncmp(v->u.str.ptr, "http", 4))
					return bad(e, c->path, kv,
						   "expected an array of http:// or https:// "
						   "endpoints");
				strvec_push(&c->etcd, v->u.str.ptr);
			}
		} else if (!strcmp(kv->key, "host"))
			r = set_str(&c->host_name, c->path, kv, e);
		else if (!strcmp(kv->key, "lease_ttl")) {
			if (kv->value->type != TOML_INTEGER || kv->value->u.integer < 2 ||
			    kv->value->u.integer > 3600)
				return bad(e, c->path, kv, "expected seconds, from 2 to 3600");
			c->lease_ttl_s = (int)kv->value->u.integer;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int load_builder(struct config *c, const struct toml_value *tab, struct err *e)
{
	for (size_t i = 0; i < tab->u.table.len; i++) {
		const struct toml_kv *kv = &tab->u.table.items[i];
		if (!strcmp(kv->key, "vcpus")) {
			if (kv->value->type != TOML_INTEGER || kv->value->u.integer < 1 ||
			    kv->value->u.integer > 255)
				return bad(e, c->path, kv, "expected a whole number from 1 to 255");
			c->builder_vcpus = (unsigned)kv->value->u.integer;
		} else if (!strcmp(kv->key, "mem")) {
			int r = set_str(&c->builder_mem, c->path, kv, e);
			if (r < 0)
				return r;
		} else if (!strcmp(kv->key, "timeout")) {
			if (kv->value->type != TOML_INTEGER || kv->value->u.integer < 1 ||
			    kv->value->u.integer > 7 * 24 * 3600)
				return bad(e, c->path, kv, "expected seconds, from 1 to 604800");
			c->builder_timeout_s = (int)kv->value->u.integer;
		} else if (!strcmp(kv->key, "gc_at")) {
			if (kv->value->type != TOML_INTEGER || kv->value->u.integer < 1 ||
			    kv->value->u.integer > 100)
				return bad(e, c->path, kv, "expected a percentage, from 1 to 100");
			c->builder_gc_at = (int)kv->value->u.integer;
		}
	}
	return 0;
}

static int load_file(struct config *c, struct err *e)
{
	const char *env = getenv("MVM_CONFIG");
	char *path = env && *env ? xstrdup(env) : fs_join(paths_home(), "config.toml");
	if (!fs_exists(path)) {
		if (env && *env) {
			int r = err_set(e, -ENOENT, EXIT_INVALID,
					"MVM_CONFIG names '%s', which does not exist", path);
			free(path);
			return r;
		}
		free(path);
		return 0;
	}
	c->path = path;
	struct toml_value *root = NULL;
	int r = toml_read_file(path, 1u << 20, &root, e);
	if (r < 0)
		return r;
	for (size_t i = 0; i < root->u.table.len && r >= 0; i++) {
		const struct toml_kv *kv = &root->u.table.items[i];
		if (!strcmp(kv->key, "backend"))
			r = set_str(&c->backend, path, kv, e);
		else if (!strcmp(kv->key, "accel"))
			r = set_str(&c->accel, path, kv, e);
		else if (!strcmp(kv->key, "kernel"))
			r = set_str(&c->kernel, path, kv, e);
		else if (!strcmp(kv->key, "nix") && kv->value->type == TOML_TABLE)
			r = load_nix(c, kv->value, e);
		else if (!strcmp(kv->key, "network") && kv->value->type == TOML_TABLE)
			r = load_network(c, kv->value, e);
		else if (!strcmp(kv->key, "builder") && kv->value->type == TOML_TABLE)
			r = load_builder(c, kv->value, e);
		else if (!strcmp(kv->key, "store") && kv->value->type == TOML_TABLE)
			r = load_store(c, kv->value, e);
		else if (!strcmp(kv->key, "cluster") && kv->value->type == TOML_TABLE)
			r = load_cluster(c, kv->value, e);
	}
	toml_free(root);
	return r;
}

static int parse_overrides(struct config *c, const char *env, struct err *e)
{
	strvec_clear(&c->override_inputs);
	_cleanup_free_ char *copy = xstrdup(env);
	for (char *save = NULL, *tok = strtok_r(copy, " \t\n", &save); tok;
	     tok = strtok_r(NULL, " \t\n", &save)) {
		char *eq = strchr(tok, '=');
		if (!eq || eq == tok || !eq[1])
			return err_set(e, -EINVAL, EXIT_INVALID,
				       "MVM_OVERRIDE_INPUTS: expected NAME=REF entries separated "
				       "by spaces, got '%s'",
				       tok);
		*eq = '\0';
		strvec_push(&c->override_inputs, tok);
		strvec_push(&c->override_inputs, eq + 1);
	}
	return 0;
}

static int load(struct config *c, struct err *e)
{
	int r = load_file(c, e);
	if (r < 0)
		return r;
	const char *v;
	if ((v = getenv("MVM_BACKEND")) && *v)
		free(c->backend), c->backend = xstrdup(v);
	if ((v = getenv("MVM_ACCEL")) && *v)
		free(c->accel), c->accel = xstrdup(v);
	if ((v = getenv("MVM_KERNEL")) && *v)
		free(c->kernel), c->kernel = xstrdup(v);
	if ((v = getenv("MVM_OFFLINE")) && *v)
		c->offline = strcmp(v, "0") && strcasecmp(v, "false") && strcasecmp(v, "no");
	if ((v = getenv("MVM_OVERRIDE_INPUTS")) && *v && (r = parse_overrides(c, v, e)) < 0)
		return r;
	if ((v = getenv("MVM_NETWORK")) && *v) {
		if (strcmp(v, "nat") && strcmp(v, "isolated") && strcmp(v, "none"))
			return err_set(e, -EINVAL, EXIT_INVALID,
				       "MVM_NETWORK '%s' is not one of nat, isolated, none", v);
		free(c->network);
		c->network = xstrdup(v);
		c->network_from = "MVM_NETWORK";
	}
	if ((v = getenv("MVM_STORE_URL")) && *v)
		free(c->store_url), c->store_url = xstrdup(v);
	if ((v = getenv("AWS_ENDPOINT_URL")) && *v)
		free(c->store_endpoint), c->store_endpoint = xstrdup(v);
	if (((v = getenv("AWS_REGION")) && *v) || ((v = getenv("AWS_DEFAULT_REGION")) && *v))
		free(c->store_region), c->store_region = xstrdup(v);
	if ((v = getenv("MVM_SIGNING_KEY")) && *v)
		free(c->signing_key), c->signing_key = xstrdup(v);
	if ((v = getenv("MVM_STORE_RATE_LIMIT")) && *v &&
	    parse_int64(v, 0, 1LL << 40, &c->store_rate_limit) < 0)
		return err_set(e, -EINVAL, EXIT_INVALID,
			       "MVM_STORE_RATE_LIMIT '%s' is not a number of bytes per second", v);
	if ((v = getenv("MVM_STORE_PART_SIZE")) && *v &&
	    parse_int64(v, 5LL << 20, 5LL << 30, &c->store_part_size) < 0)
		return err_set(e, -EINVAL, EXIT_INVALID,
			       "MVM_STORE_PART_SIZE '%s' is not a number of bytes from 5242880 (5 "
			       "MiB) to 5 GiB",
			       v);
	if (!c->store_part_size)
		c->store_part_size = 64LL << 20;
	if ((v = getenv("MVM_STORE_MULTIPART_THRESHOLD")) && *v &&
	    parse_int64(v, 5LL << 20, 5LL << 30, &c->store_multipart_threshold) < 0)
		return err_set(e, -EINVAL, EXIT_INVALID,
			       "MVM_STORE_MULTIPART_THRESHOLD '%s' is not a number of bytes from "
			       "5242880 (5 MiB) to 5 GiB",
			       v);
	if (!c->store_multipart_threshold)
		c->store_multipart_threshold = 512LL << 20;
	if ((v = getenv("MVM_TRUSTED_KEYS"))) {
		strvec_clear(&c->trusted_keys);
		_cleanup_free_ char *copy = xstrdup(v);
		for (char *save = NULL, *tok = strtok_r(copy, " \t\n", &save); tok;
		     tok = strtok_r(NULL, " \t\n", &save))
			strvec_push(&c->trusted_keys, tok);
	}
	if ((v = getenv("MVM_ETCD")) && *v) {
		strvec_clear(&c->etcd);
		_cleanup_free_ char *copy = xstrdup(v);
		for (char *save = NULL, *tok = strtok_r(copy, ", \t\n", &save); tok;
		     tok = strtok_r(NULL, ", \t\n", &save))
			strvec_push(&c->etcd, tok);
	}
	if ((v = getenv("MVM_HOST_NAME")) && *v)
		free(c->host_name), c->host_name = xstrdup(v);
	if (!c->lease_ttl_s)
		c->lease_ttl_s = 15;
	if (!c->store_region)
		c->store_region = xstrdup("us-east-1");
	if (!c->signing_key)
		c->signing_key = fs_join(paths_home(), "keys/signing.key");
	if (!c->network) {
		c->network = xstrdup("nat");
		c->network_from = "default";
	}
	if (!c->backend)
		c->backend = xstrdup("qemu");
	if (!c->accel)
		c->accel = xstrdup("auto");
	if (strcmp(c->accel, "auto") && strcmp(c->accel, "kvm") && strcmp(c->accel, "tcg"))
		return err_set(e, -EINVAL, EXIT_INVALID,
			       "accel '%s' is not one of auto, kvm, tcg (MVM_ACCEL or accel in "
			       "config.toml)",
			       c->accel);
	return 0;
}

int config_load(struct config *c, struct err *e)
{
	*c = (struct config){0};
	int r = load(c, e);
	if (r < 0)
		config_release(c); /* callers release only what loaded */
	return r;
}

void config_release(struct config *c)
{
	free(c->path);
	free(c->backend);
	free(c->accel);
	free(c->kernel);
	free(c->network);
	free(c->builder_mem);
	strvec_clear(&c->override_inputs);
	free(c->store_url);
	free(c->store_endpoint);
	free(c->store_region);
	free(c->signing_key);
	strvec_clear(&c->trusted_keys);
	strvec_clear(&c->etcd);
	free(c->host_name);
	*c = (struct config){0};
}
