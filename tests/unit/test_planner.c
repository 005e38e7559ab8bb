/* The planner library: presets, the heuristic, plan validation and JSON,
 * provider selection from the environment, and the request body. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "planner/heuristic.h"
#include "planner/llm.h"
#include "planner/plan.h"
#include "planner/preset.h"
#include "planner/provider.h"

static char *features_of(const struct plan *p)
{
	static char buf[256];
	buf[0] = '\0';
	for (size_t i = 0; i < p->features.n; i++) {
		if (i)
			strncat(buf, "+", sizeof(buf) - strlen(buf) - 1);
		strncat(buf, p->features.v[i], sizeof(buf) - strlen(buf) - 1);
	}
	return buf;
}

static void expect_heuristic(const char *prompt, const char *forced, const char *primary,
			     const char *features)
{
	struct plan p;
	plan_heuristic(prompt, forced ? preset_find(forced) : NULL, &p);
	assert_string_equal(p.primary->name, primary);
	assert_string_equal(features_of(&p), features);
	struct err e = ERR_INIT;
	assert_int_equal(plan_validate(&p, &e), 0);
	plan_release(&p);
}

static void test_heuristic_issue_examples(void **state)
{
	(void)state;
	expect_heuristic("FastAPI app with Postgres backend", NULL, "python", "python+postgres");
	expect_heuristic("nightly cron job", NULL, "worker", "worker");
	expect_heuristic("static web server", NULL, "http", "http");
	expect_heuristic("a database", NULL, "postgres", "postgres");
	expect_heuristic("hello", NULL, "minimal", "");
}

static void test_heuristic_rules(void **state)
{
	(void)state;
	/* case-insensitive, whole words with endings */
	expect_heuristic("PYTHON thing", NULL, "python", "python");
	expect_heuristic("process JOBS from a Queue", NULL, "worker", "worker");
	expect_heuristic("polling an inbox", NULL, "worker", "worker");
	/* python first; http dropped when python is present */
	expect_heuristic("Flask web API server", NULL, "python", "python");
	/* worker beats http, both listed */
	expect_heuristic("a web worker", NULL, "worker", "worker+http");
	/* words inside other words do not count */
	expect_heuristic("rapid jobless webbing", NULL, "minimal", "");
	expect_heuristic("", NULL, "minimal", "");
	/* an explicit preset wins and is a feature */
	expect_heuristic("FastAPI app with Postgres backend", "worker", "worker",
			 "python+worker+postgres");
	expect_heuristic("static web server", "python", "python", "python");
}

static void test_heuristic_sizing_and_defaults(void **state)
{
	(void)state;
	struct plan p;
	plan_heuristic("a database", NULL, &p);
	assert_int_equal(p.vcpus, 2);
	assert_int_equal(p.mem_mib, 2048);
	assert_int_equal(p.data_disk_mib, 4096);
	assert_int_equal(p.http_port, 8080);
	assert_string_equal(p.health_path, "/healthz");
	assert_string_equal(p.python_entrypoint, "app/main.py");
	assert_int_equal(p.worker_interval_secs, 60);
	plan_release(&p);

	plan_heuristic("hello", preset_find("worker"), &p);
	assert_int_equal(p.vcpus, 1);
	assert_int_equal(p.mem_mib, 512);
	assert_int_equal(p.data_disk_mib, 512);
	assert_int_equal(p.notes.n, 1);
	assert_string_equal(p.notes.v[0], "--preset worker was given; the prompt suggests minimal");
	plan_release(&p);
}

static void test_preset_table(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		int vcpus;
		uint64_t mem, disk;
	} want[] = {{"minimal", 1, 256, 0},
		    {"http", 2, 1024, 1024},
		    {"postgres", 2, 2048, 4096},
		    {"worker", 1, 512, 512},
		    {"python", 2, 1024, 1024}};
	assert_int_equal(presets_count, 5);
	for (size_t i = 0; i < 5; i++) {
		const struct preset *p = preset_find(want[i].name);
		assert_non_null(p);
		assert_ptr_equal(p, &presets[i]);
		assert_int_equal(p->vcpus, want[i].vcpus);
		assert_int_equal(p->mem_mib, want[i].mem);
		assert_int_equal(p->data_disk_mib, want[i].disk);
	}
	const struct preset *p;
	struct err e = ERR_INIT;
	assert_true(preset_lookup("x", &p, &e) < 0);
	assert_string_equal(
	    e.msg, "Unknown preset \"x\". Valid presets: minimal, http, postgres, worker, python");
	assert_int_equal(e.exit, EXIT_USAGE);
	err_release(&e);
}

static void test_valid_paths(void **state)
{
	(void)state;
	const char *good_health[] = {"/",	 "/healthz",	   "/api/v1/health",
				     "/status/", "/.well-known/x", "/a-b_c~d.e"};
	const char *bad_health[] = {"",	     "healthz", "/a/../b", "/..",   "/./x", "//x",
				    "/a//b", "/a b",	"/x?y=1",  "/$(x)", "/a;b"};
	for (size_t i = 0; i < sizeof(good_health) / sizeof(*good_health); i++)
		assert_true(plan_valid_health_path(good_health[i]));
	for (size_t i = 0; i < sizeof(bad_health) / sizeof(*bad_health); i++)
		assert_false(plan_valid_health_path(bad_health[i]));

	const char *good_entry[] = {"app/main.py", "main.py", "src/my_app/server.py", "a.b-c.py",
				    "_x/y.py"};
	const char *bad_entry[] = {"",		"/app/main.py", "../main.py", "app/../main.py",
				   "./main.py", "app//main.py", "main.sh",    "app/main",
				   ".py",	"-x.py",	"a b.py",     "app/.hidden.py",
				   "a;b.py",	"app/"};
	for (size_t i = 0; i < sizeof(good_entry) / sizeof(*good_entry); i++)
		assert_true(plan_valid_entrypoint(good_entry[i]));
	for (size_t i = 0; i < sizeof(bad_entry) / sizeof(*bad_entry); i++)
		assert_false(plan_valid_entrypoint(bad_entry[i]));
}

/* Validation names the field and the value. */
static void expect_invalid(void (*edit)(struct plan *), const char *message)
{
	struct plan p;
	plan_init_defaults(&p, preset_find("python"));
	edit(&p);
	struct err e = ERR_INIT;
	assert_true(plan_validate(&p, &e) < 0);
	assert_string_equal(e.msg, message);
	assert_int_equal(e.exit, EXIT_FAILED);
	err_release(&e);
	plan_release(&p);
}

static void port_zero(struct plan *p)
{
	p->http_port = 0;
}
static void port_big(struct plan *p)
{
	p->http_port = 65536;
}
static void health_rel(struct plan *p)
{
	free(p->health_path);
	p->health_path = strdup("healthz");
}
static void entry_up(struct plan *p)
{
	free(p->python_entrypoint);
	p->python_entrypoint = strdup("../evil.py");
}
static void vcpus_zero(struct plan *p)
{
	p->vcpus = 0;
}
static void vcpus_big(struct plan *p)
{
	p->vcpus = 256;
}
static void mem_small(struct plan *p)
{
	p->mem_mib = 63;
}
static void interval_zero(struct plan *p)
{
	p->worker_interval_secs = 0;
}
static void note_escape(struct plan *p)
{
	strvec_push(&p->notes, "a\033[2Jb");
}
static void feature_dup(struct plan *p)
{
	strvec_push(&p->features, "python");
}
static void feature_bad(struct plan *p)
{
	strvec_push(&p->features, "redis");
}

static void test_validate_messages(void **state)
{
	(void)state;
	expect_invalid(port_zero, "plan field \"http_port\": 0 is not a port (1-65535)");
	expect_invalid(port_big, "plan field \"http_port\": 65536 is not a port (1-65535)");
	expect_invalid(health_rel,
		       "plan field \"health_path\": \"healthz\" is not an absolute URL "
		       "path of [A-Za-z0-9._~/-] without \".\", \"..\" or empty segments");
	expect_invalid(
	    entry_up,
	    "plan field \"python_entrypoint\": \"../evil.py\" is not a safe relative path "
	    "to a .py file (segments of [A-Za-z0-9_.-] starting with a letter, digit or "
	    "_)");
	expect_invalid(vcpus_zero, "plan field \"resources.vcpus\": 0 is not a vCPU count (1-255)");
	expect_invalid(vcpus_big,
		       "plan field \"resources.vcpus\": 256 is not a vCPU count (1-255)");
	expect_invalid(mem_small, "plan field \"resources.mem_mib\": 63 is not a memory size "
				  "(64-1073741824 MiB)");
	expect_invalid(interval_zero, "plan field \"worker_interval_secs\": 0 is not an interval "
				      "in seconds (1-86400)");
	expect_invalid(note_escape,
		       "plan field \"notes\": \"a\\u001B[2Jb\" contains a control character");
	expect_invalid(feature_dup, "plan field \"features\": \"python\" is listed twice");
	expect_invalid(feature_bad, "plan field \"features\": \"redis\" is not a preset");
}

static const char good_json[] =
    "{\"schema_version\":1,\"summary\":\"s\",\"primary_preset\":\"worker\","
    "\"features\":[\"worker\"],\"http_port\":8080,\"health_path\":\"/healthz\","
    "\"worker_interval_secs\":15,\"python_entrypoint\":\"app/main.py\","
    "\"resources\":{\"vcpus\":1,\"mem_mib\":512,\"data_disk_mib\":0},\"notes\":[]}";

static void expect_parse_error(const char *text, const char *message)
{
	struct plan p;
	struct err e = ERR_INIT;
	assert_true(plan_parse(text, strlen(text), &p, &e) < 0);
	assert_string_equal(e.msg, message);
	err_release(&e);
}

/* good_json with its first occurrence of old replaced by new. */
static char *edited(const char *old, const char *new)
{
	static char buf[1024];
	const char *at = strstr(good_json, old);
	assert_non_null(at);
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - good_json), good_json, new,
		 at + strlen(old));
	return buf;
}

static void test_parse(void **state)
{
	(void)state;
	struct plan p;
	struct err e = ERR_INIT;
	assert_int_equal(plan_parse(good_json, strlen(good_json), &p, &e), 0);
	assert_string_equal(p.primary->name, "worker");
	assert_int_equal(p.worker_interval_secs, 15);
	/* round trip */
	json_t *j = plan_to_json(&p);
	char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_string_equal(text, good_json);
	free(text);
	json_decref(j);
	plan_release(&p);

	expect_parse_error(
	    "{", "plan is not valid JSON: string or '}' expected near end of file (line 1)");
	expect_parse_error("[]", "plan is not a JSON object");
	expect_parse_error(edited("\"summary\":\"s\",", ""), "plan field \"summary\": missing");
	expect_parse_error(edited("{", "{\"nix\":\"x\","), "plan has an unknown field \"nix\"");
	expect_parse_error(edited("\"vcpus\":1", "\"vcpus\":1,\"gpu\":1"),
			   "plan has an unknown field \"gpu\" in resources");
	expect_parse_error(edited("8080", "\"8080\""),
			   "plan field \"http_port\": expected an integer");
	expect_parse_error(edited("\"worker\",\"features", "\"redis\",\"features"),
			   "plan field \"primary_preset\": \"redis\" is not a preset");
	expect_parse_error(edited("\"mem_mib\":512", "\"mem_mib\":-5"),
			   "plan field \"resources.mem_mib\": -5 is negative");
	expect_parse_error(
	    edited("{", "{\"summary\":\"t\","),
	    "plan is not valid JSON: duplicate object key near '\"summary\"' (line 1)");
	expect_parse_error(edited("\"notes\":[]", "\"notes\":[1]"),
			   "plan field \"notes\": entry 0 is not a string");
	expect_parse_error(
	    edited("\"schema_version\":1", "\"schema_version\":2"),
	    "plan field \"schema_version\": 2 is not supported (this mvmctl reads 1)");
}

static void test_schema_and_request(void **state)
{
	(void)state;
	json_t *schema = plan_json_schema();
	json_t *req = json_object_get(schema, "required");
	assert_int_equal(json_array_size(req), 10);
	assert_true(json_is_false(json_object_get(schema, "additionalProperties")));
	json_t *props = json_object_get(schema, "properties");
	assert_int_equal(
	    json_array_size(json_object_get(json_object_get(props, "primary_preset"), "enum")), 5);
	json_decref(schema);

	struct plan start;
	plan_heuristic("nightly cron job", NULL, &start);
	json_t *body = llm_request_body("m1", "nightly cron job", &start, preset_find("worker"));
	assert_string_equal(json_string_value(json_object_get(body, "model")), "m1");
	assert_true(json_is_integer(json_object_get(body, "temperature")));
	assert_int_equal(json_integer_value(json_object_get(body, "temperature")), 0);
	json_t *rf = json_object_get(body, "response_format");
	assert_string_equal(json_string_value(json_object_get(rf, "type")), "json_schema");
	assert_true(json_is_true(json_object_get(json_object_get(rf, "json_schema"), "strict")));
	const char *user = json_string_value(
	    json_object_get(json_array_get(json_object_get(body, "messages"), 1), "content"));
	assert_non_null(strstr(user, "Request: nightly cron job"));
	assert_non_null(strstr(user, "primary_preset must be worker"));
	json_decref(body);
	plan_release(&start);
}

static void test_provider_env(void **state)
{
	(void)state;
	enum provider_kind k;
	struct err e = ERR_INIT;
	assert_true(provider_parse("gpt", &k, &e) < 0);
	assert_string_equal(e.msg, "MVM_TEMPLATE_PROVIDER=gpt is not a provider; valid: auto, "
				   "openai, local, heuristic");
	assert_int_equal(e.exit, EXIT_INVALID);
	err_release(&e);
	assert_int_equal(provider_parse("local", &k, &e), 0);
	assert_int_equal(k, PROVIDER_LOCAL);

	struct planner_config c;
	unsetenv("MVM_TEMPLATE_PROVIDER");
	unsetenv("OPENAI_API_KEY");
	unsetenv("OPENAI_BASE_URL");
	unsetenv("MVM_LOCAL_LLM_ENDPOINTS");
	unsetenv("MVM_TEMPLATE_TIMEOUT");
	unsetenv("MVM_LOCAL_PROBE_TIMEOUT_MS");
	assert_int_equal(planner_config_from_env(&c, &e), 0);
	assert_int_equal(c.kind, PROVIDER_AUTO);
	assert_null(c.openai_key);
	assert_string_equal(c.openai_base, "https://api.openai.com/v1");
	assert_int_equal(c.local_endpoints.n, 2);
	assert_string_equal(c.local_endpoints.v[0], "http://127.0.0.1:11434/v1");
	assert_string_equal(c.local_endpoints.v[1], "http://127.0.0.1:8080/v1");
	assert_int_equal(c.probe_timeout_ms, 200);
	assert_int_equal(c.timeout_ms, 60000);
	planner_config_release(&c);

	setenv("MVM_LOCAL_LLM_ENDPOINTS", "10.0.0.1:1, http://h:2/api/ ", 1);
	setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/", 1);
	setenv("MVM_TEMPLATE_PROVIDER", "heuristic", 1);
	assert_int_equal(planner_config_from_env(&c, &e), 0);
	assert_int_equal(c.kind, PROVIDER_HEURISTIC);
	assert_string_equal(c.openai_base, "http://127.0.0.1:9/v1");
	assert_int_equal(c.local_endpoints.n, 2);
	assert_string_equal(c.local_endpoints.v[0], "http://10.0.0.1:1/v1");
	assert_string_equal(c.local_endpoints.v[1], "http://h:2/api");
	planner_config_release(&c);

	setenv("MVM_LOCAL_LLM_ENDPOINTS", "none", 1);
	assert_int_equal(planner_config_from_env(&c, &e), 0);
	assert_int_equal(c.local_endpoints.n, 0);
	planner_config_release(&c);

	setenv("MVM_TEMPLATE_TIMEOUT", "0", 1);
	assert_true(planner_config_from_env(&c, &e) < 0);
	assert_string_equal(e.msg, "MVM_TEMPLATE_TIMEOUT=0 is not a whole number from 1 to 3600");
	err_release(&e);
	unsetenv("MVM_TEMPLATE_TIMEOUT");
	unsetenv("MVM_LOCAL_LLM_ENDPOINTS");
	unsetenv("OPENAI_BASE_URL");
	unsetenv("MVM_TEMPLATE_PROVIDER");
}

/* heuristic provider: the plan is the heuristic's; openai without a key fails. */
static void test_planner_run_offline(void **state)
{
	(void)state;
	struct planner_config c = {.kind = PROVIDER_HEURISTIC, .local_endpoints = STRVEC_INIT};
	struct plan p;
	struct planner_outcome o;
	struct err e = ERR_INIT;
	assert_int_equal(planner_run(&c, "FastAPI app with Postgres backend", NULL, &p, &o, &e), 0);
	assert_string_equal(o.provider, "heuristic");
	assert_string_equal(p.primary->name, "python");
	assert_int_equal(p.notes.n, 1);
	assert_string_equal(p.notes.v[0], "the python preset does not set up postgres: add it to "
					  "flake.nix by hand (the postgres preset shows how)");
	plan_release(&p);
	planner_outcome_release(&o);

	c.kind = PROVIDER_OPENAI;
	assert_true(planner_run(&c, "hello", NULL, &p, &o, &e) < 0);
	assert_string_equal(e.msg,
			    "MVM_TEMPLATE_PROVIDER=openai needs OPENAI_API_KEY, which is not set");
	err_release(&e);
	planner_outcome_release(&o);

	/* auto with nothing to try is the heuristic, without a warning */
	c.kind = PROVIDER_AUTO;
	assert_int_equal(planner_run(&c, "nightly cron job", NULL, &p, &o, &e), 0);
	assert_string_equal(o.provider, "heuristic");
	assert_int_equal(o.warnings.n, 0);
	assert_string_equal(p.primary->name, "worker");
	plan_release(&p);
	planner_outcome_release(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_heuristic_issue_examples),
	    cmocka_unit_test(test_heuristic_rules),
	    cmocka_unit_test(test_heuristic_sizing_and_defaults),
	    cmocka_unit_test(test_preset_table),
	    cmocka_unit_test(test_valid_paths),
	    cmocka_unit_test(test_validate_messages),
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_schema_and_request),
	    cmocka_unit_test(test_provider_env),
	    cmocka_unit_test(test_planner_run_offline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
