/* The structured plan of `mvmctl init --prompt`: what the planner (heuristic
 * or LLM) decided. It only selects a preset of the fixed corpus and fills a few
 * validated parameters into it; no field ever becomes Nix or shell text.
 *
 *   {schema_version, summary, primary_preset, features[], http_port,
 *    health_path, worker_interval_secs, python_entrypoint,
 *    resources{vcpus, mem_mib, data_disk_mib}, notes[]}
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/strvec.h"
#include "preset.h"

#define PLAN_SCHEMA_VERSION	       1
#define PLAN_DEFAULT_HTTP_PORT	       8080
#define PLAN_DEFAULT_HEALTH_PATH       "/healthz"
#define PLAN_DEFAULT_WORKER_INTERVAL   60
#define PLAN_DEFAULT_PYTHON_ENTRYPOINT "app/main.py"
#define PLAN_MAX_WORKER_INTERVAL       86400
#define PLAN_MAX_TEXT		       500 /* summary and each note, in bytes */
#define PLAN_MAX_NOTES		       16
#define PLAN_MAX_READ_NOTES	       8   /* from JSON: room is left for mvm's own notes */
#define PLAN_MAX_PATH		       200 /* health_path, python_entrypoint */

struct plan {
	long long schema_version;
	char *summary;
	const struct preset *primary;
	struct strvec features; /* preset names, no duplicates */
	long long http_port;
	char *health_path;
	long long worker_interval_secs;
	char *python_entrypoint;
	long long vcpus;
	uint64_t mem_mib;
	uint64_t data_disk_mib;
	struct strvec notes;
};

/* The defaults of a preset: its sizing and the default parameters, no features
 * beyond the preset itself (none for minimal). */
void plan_init_defaults(struct plan *p, const struct preset *preset);
void plan_release(struct plan *p);

/* Checks every field; the message names the offending field and value:
 * plan field "http_port": 70000 is not a port (1-65535). EXIT_FAILED. */
int plan_validate(const struct plan *p, struct err *e);
/* Reads a plan from JSON, strictly: every field present with its type, no
 * unknown fields, then plan_validate. */
int plan_from_json(const json_t *j, struct plan *p, struct err *e);
/* Parses text (at most PLAN_MAX_JSON bytes, duplicate keys rejected). */
#define PLAN_MAX_JSON (64 * 1024)
int plan_parse(const char *text, size_t len, struct plan *p, struct err *e);
json_t *plan_to_json(const struct plan *p);
/* The JSON Schema of a plan, for structured output (strict: every field
 * required, no additional properties). */
json_t *plan_json_schema(void);

bool plan_has_feature(const struct plan *p, const char *name);
/* Adds a note for every feature the primary preset does not set up. */
void plan_note_uncovered(struct plan *p);

/* The shared validators (also used by the presets' flakes, in Nix). */
/* "/" followed by [A-Za-z0-9._~/-], no "." or ".." segment, no "//". */
bool plan_valid_health_path(const char *s);
/* A relative path to a .py file: segments of [A-Za-z0-9_.-] that start with
 * [A-Za-z0-9_] (so never "." or ".."), joined by single "/". */
bool plan_valid_entrypoint(const char *s);
