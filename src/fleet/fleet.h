/* The fleet of seed 003: tenants, their pools, and the pools' instances,
 * addressed as <tenant>, <tenant>/<pool>, <tenant>/<pool>/<instance>.
 *
 *   $MVM_HOME/tenants/<t>/            tenant.json, tenant.lock,
 *                                     secrets/ (secrets.json, secrets.img, meta.json;
 *                                     replaced whole, tenant.h)
 *   $MVM_HOME/pools/<t>/<p>/          pool.json, build.lock,
 *                                     revisions/<hash>/…, current -> revisions/<hash>
 *   $MVM_HOME/pools/<t>/<p>/instances/<id>/
 *                                     instance.json, and the instance's VM
 *                                     (shim/vmdir.h: vm.json, spec.json, console.log,
 *                                     data.ext4, mem, secrets.img, sleep/)
 *
 * IDs are 1-63 characters of [a-z0-9-], neither starting nor ending with '-'.
 * An instance id is "i-" and 8 hex digits, unique within its pool.
 */
#pragma once

#include <stdbool.h>

#include "core/err.h"

#define FLEET_ID_MAX 63

struct fleet_addr {
	char tenant[FLEET_ID_MAX + 1];
	char pool[FLEET_ID_MAX + 1];	 /* "" for a tenant address */
	char instance[FLEET_ID_MAX + 1]; /* "" for a tenant or pool address */
};

bool fleet_id_valid(const char *s);

/* "<t>": else EXIT_USAGE `Expected <tenant>, got "x"`. */
int fleet_parse_tenant(const char *s, struct fleet_addr *a, struct err *e);
/* "<t>/<p>": else EXIT_USAGE `Expected <tenant>/<pool>, got "x"`. */
int fleet_parse_pool(const char *s, struct fleet_addr *a, struct err *e);
/* "<t>/<p>/<id>": else EXIT_USAGE `Expected <tenant>/<pool>/<instance>, got "x"`. */
int fleet_parse_instance(const char *s, struct fleet_addr *a, struct err *e);
/* "<t>" or "<t>/<p>" (instance ls): else EXIT_USAGE `Expected <tenant>[/<pool>], got "x"`. */
int fleet_parse_scope(const char *s, struct fleet_addr *a, struct err *e);

/* Directories (malloc'd); nothing is created. */
char *fleet_tenants_dir(void);			    /* $MVM_HOME/tenants */
char *fleet_tenant_dir(const char *t);		    /* $MVM_HOME/tenants/<t> */
char *fleet_pools_dir(const char *t);		    /* $MVM_HOME/pools/<t> */
char *fleet_pool_dir(const char *t, const char *p); /* $MVM_HOME/pools/<t>/<p> */
char *fleet_instances_dir(const char *t, const char *p);
char *fleet_instance_dir(const char *t, const char *p, const char *id);
