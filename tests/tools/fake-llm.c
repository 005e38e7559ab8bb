/* fake-llm: an OpenAI-compatible HTTP server on 127.0.0.1 for the planner's
 * black-box tests. It checks each request the way the real APIs would need
 * it, and answers with the plan (or failure) the test asks for.
 *
 *   fake-llm --port-file F [--log F] [--reply KIND] [--delay-ms N]
 *            [--models-delay-ms N] [--expect-key KEY] [--model NAME]
 *
 * GET  /v1/models            a model list with one model, "fake-model"
 * POST /v1/chat/completions  checked: Content-Type JSON; Authorization is
 *                            "Bearer KEY" with --expect-key and absent without;
 *                            model (== --model when given); temperature 0;
 *                            response_format json_schema, strict, with a schema
 *                            that has properties.primary_preset; a user message.
 *                            A failed check answers 400 naming it.
 * KIND: good (default), invalid-port, bad-entrypoint, unknown-field, malformed,
 *       not-completion, refusal, error (HTTP 500 quoting the Authorization
 *       header back, to prove the client redacts it), huge (2 MiB).
 * Each request is logged as one line: METHOD PATH auth=present|absent RESULT.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "core/strbuf.h"
#include "core/util.h"

static const char *reply_kind = "good";
static const char *expect_key;
static const char *expect_model;
static const char *log_path;
static long long delay_ms, models_delay_ms;

static const char good_plan[] =
    "{\"schema_version\":1,\"summary\":\"A FastAPI service backed by PostgreSQL\","
    "\"primary_preset\":\"python\",\"features\":[\"python\",\"postgres\"],\"http_port\":9000,"
    "\"health_path\":\"/health\",\"worker_interval_secs\":30,\"python_entrypoint\":"
    "\"srv/app.py\",\"resources\":{\"vcpus\":2,\"mem_mib\":2048,\"data_disk_mib\":2048},"
    "\"notes\":[\"planned by fake-llm\"]}";

static void sleep_ms(long long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void log_line(const char *method, const char *path, bool auth, const char *result)
{
	if (!log_path)
		return;
	FILE *f = fopen(log_path, "a");
	if (!f)
		return;
	fprintf(f, "%s %s auth=%s %s\n", method, path, auth ? "present" : "absent", result);
	fclose(f);
}

static void send_reply(int fd, int status, const char *body, size_t len)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_addf(&sb,
		    "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
		    "Connection: close\r\n\r\n",
		    status, status == 200 ? "OK" : "Error", len);
	strbuf_add(&sb, body, len);
	for (size_t off = 0; off < sb.len;) {
		ssize_t w = write(fd, sb.buf + off, sb.len - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	strbuf_release(&sb);
}

static void send_json(int fd, int status, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	send_reply(fd, status, s, strlen(s));
	free(s);
	json_decref(j);
}

static void send_error(int fd, int status, const char *msg)
{
	send_json(fd, status, json_pack("{s:{s:s, s:s}}", "error", "message", msg, "type", "test"));
}

/* The value of header name in the raw header block, or NULL (malloc'd). */
static char *header(const char *head, const char *name)
{
	size_t n = strlen(name);
	for (const char *line = strstr(head, "\r\n"); line; line = strstr(line, "\r\n")) {
		line += 2;
		if (!strncasecmp(line, name, n) && line[n] == ':') {
			const char *v = line + n + 1;
			while (*v == ' ')
				v++;
			return xstrndup(v, strcspn(v, "\r\n"));
		}
	}
	return NULL;
}

/* NULL when the chat request is what the planner must send, else why not. */
static const char *check_chat(const char *head, const char *body, size_t len)
{
	static char why[256];
	_cleanup_free_ char *ctype = header(head, "Content-Type");
	_cleanup_free_ char *auth = header(head, "Authorization");
	if (!ctype || strncmp(ctype, "application/json", 16))
		return "Content-Type is not application/json";
	if (expect_key) {
		_cleanup_free_ char *want = xasprintf("Bearer %s", expect_key);
		if (!auth || strcmp(auth, want))
			return "Authorization is not Bearer <the expected key>";
	} else if (auth) {
		return "Authorization header sent to an endpoint that must not get a key";
	}
	json_error_t je;
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		snprintf(why, sizeof(why), "body is not JSON: %s", je.text);
		return why;
	}
	const char *model = json_string_value(json_object_get(j, "model"));
	json_t *temp = json_object_get(j, "temperature");
	json_t *rf = json_object_get(j, "response_format");
	json_t *js = json_object_get(rf, "json_schema");
	json_t *props = json_object_get(json_object_get(js, "schema"), "properties");
	json_t *msgs = json_object_get(j, "messages");
	bool user = false;
	size_t i;
	json_t *m;
	json_array_foreach(msgs, i, m)
	{
		const char *role = json_string_value(json_object_get(m, "role"));
		user |=
		    role && !strcmp(role, "user") && json_is_string(json_object_get(m, "content"));
	}
	const char *r = NULL;
	if (!model || !*model)
		r = "model missing";
	else if (expect_model && strcmp(model, expect_model))
		r = "model is not the expected one";
	else if (!json_is_number(temp) || json_number_value(temp) != 0)
		r = "temperature is not 0";
	else if (!json_is_string(json_object_get(rf, "type")) ||
		 strcmp(json_string_value(json_object_get(rf, "type")), "json_schema"))
		r = "response_format.type is not json_schema";
	else if (!json_is_true(json_object_get(js, "strict")))
		r = "response_format.json_schema.strict is not true";
	else if (!json_object_get(props, "primary_preset") || !json_object_get(props, "resources"))
		r = "response_format.json_schema.schema lacks the plan's properties";
	else if (!user)
		r = "no user message";
	json_decref(j);
	return r;
}

/* s with its first occurrence of old replaced by new (malloc'd). */
static char *replace(const char *s, const char *old, const char *new)
{
	const char *at = strstr(s, old);
	return xasprintf("%.*s%s%s", (int)(at - s), s, new, at + strlen(old));
}

static void answer_chat(int fd)
{
	if (delay_ms)
		sleep_ms(delay_ms);
	const char *content = good_plan;
	_cleanup_free_ char *edited = NULL;
	if (!strcmp(reply_kind, "huge")) {
		size_t n = 2 * 1024 * 1024;
		char *big = xmalloc(n);
		memset(big, ' ', n);
		send_reply(fd, 200, big, n);
		free(big);
		return;
	} else if (!strcmp(reply_kind, "not-completion")) {
		send_json(fd, 200, json_pack("{s:s}", "object", "something.else"));
		return;
	} else if (!strcmp(reply_kind, "malformed")) {
		content = "{\"schema_version\": 1, \"summary\": \"cut off";
	} else if (!strcmp(reply_kind, "invalid-port")) {
		content = edited = replace(good_plan, "9000", "70000");
	} else if (!strcmp(reply_kind, "bad-entrypoint")) {
		content = edited = replace(good_plan, "srv/app.py", "../../etc/evil.py");
	} else if (!strcmp(reply_kind, "unknown-field")) {
		content = edited = replace(good_plan, "{\"schema_version\"",
					   "{\"nix\":\"pkgs.hello\",\"schema_version\"");
	}
	json_t *msg = json_pack("{s:s, s:s}", "role", "assistant", "content", content);
	if (!strcmp(reply_kind, "refusal")) {
		json_object_set_new(msg, "content", json_null());
		json_object_set_new(msg, "refusal", json_string("I cannot help with that."));
	}
	send_json(fd, 200,
		  json_pack("{s:s, s:s, s:s, s:[{s:i, s:o, s:s}]}", "id", "chatcmpl-fake", "object",
			    "chat.completion", "model", "fake-model", "choices", "index", 0,
			    "message", msg, "finish_reason", "stop"));
}

/* Reads one request: headers, then Content-Length bytes of body. */
static bool read_request(int fd, struct strbuf *req, size_t *head_len, long long *body_len)
{
	char buf[8192];
	char *end;
	while (!(end = strstr(req->buf, "\r\n\r\n"))) {
		ssize_t n = req->len < 65536 ? read(fd, buf, sizeof(buf)) : 0;
		if (n <= 0)
			return false;
		strbuf_add(req, buf, (size_t)n);
	}
	*head_len = (size_t)(end - req->buf) + 4;
	_cleanup_free_ char *head = xstrndup(req->buf, *head_len);
	_cleanup_free_ char *clen = header(head, "Content-Length");
	*body_len = 0;
	if (clen && parse_int64(clen, 0, 1 << 20, body_len) < 0)
		return false;
	while (req->len - *head_len < (size_t)*body_len) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			return false;
		strbuf_add(req, buf, (size_t)n);
	}
	return true;
}

static void handle(int fd, const char *head, const char *body, size_t len)
{
	char method[16] = "", path[256] = "";
	if (sscanf(head, "%15s %255s", method, path) != 2)
		return;
	_cleanup_free_ char *auth = header(head, "Authorization");

	if (!strcmp(method, "GET") && !strcmp(path, "/v1/models")) {
		log_line(method, path, auth, "models");
		if (models_delay_ms)
			sleep_ms(models_delay_ms);
		send_json(fd, 200,
			  json_pack("{s:s, s:[{s:s, s:s, s:s}]}", "object", "list", "data", "id",
				    "fake-model", "object", "model", "owned_by", "mvm-tests"));
	} else if (!strcmp(method, "POST") && !strcmp(path, "/v1/chat/completions")) {
		const char *why = check_chat(head, body, len);
		if (why) {
			log_line(method, path, auth, "rejected");
			_cleanup_free_ char *msg = xasprintf("fake-llm: %s", why);
			send_error(fd, 400, msg);
		} else if (!strcmp(reply_kind, "error")) {
			log_line(method, path, auth, "error");
			_cleanup_free_ char *msg =
			    xasprintf("fake-llm: overloaded (request had %s)",
				      auth ? auth : "no Authorization header");
			send_error(fd, 500, msg);
		} else {
			log_line(method, path, auth, reply_kind);
			answer_chat(fd);
		}
	} else {
		log_line(method, path, auth, "not-found");
		send_error(fd, 404, "fake-llm: no such endpoint");
	}
}

static void serve(int fd)
{
	struct strbuf req = STRBUF_INIT;
	size_t head_len;
	long long body_len;
	if (read_request(fd, &req, &head_len, &body_len)) {
		_cleanup_free_ char *head = xstrndup(req.buf, head_len);
		handle(fd, head, req.buf + head_len, (size_t)body_len);
	}
	strbuf_release(&req);
}

static int usage(void)
{
	fprintf(stderr, "usage: fake-llm --port-file F [--log F] [--reply KIND] [--delay-ms N] "
			"[--models-delay-ms N] [--expect-key KEY] [--model NAME]\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *port_file = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			return usage();
		i++;
		if (!strcmp(a, "--port-file"))
			port_file = v;
		else if (!strcmp(a, "--log"))
			log_path = v;
		else if (!strcmp(a, "--reply"))
			reply_kind = v;
		else if (!strcmp(a, "--expect-key"))
			expect_key = v;
		else if (!strcmp(a, "--model"))
			expect_model = v;
		else if (!strcmp(a, "--delay-ms") && parse_int64(v, 0, 600000, &delay_ms) == 0)
			continue;
		else if (!strcmp(a, "--models-delay-ms") &&
			 parse_int64(v, 0, 600000, &models_delay_ms) == 0)
			continue;
		else
			return usage();
	}
	if (!port_file)
		return usage();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_IGN); /* children are reaped by the kernel */

	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 16) < 0 ||
	    getsockname(s, (struct sockaddr *)&sa, &sl) < 0) {
		perror("fake-llm: listen");
		return 1;
	}
	/* the port file appears complete or not at all */
	_cleanup_free_ char *tmp = xasprintf("%s.tmp", port_file);
	FILE *f = fopen(tmp, "w");
	if (!f || fprintf(f, "%u\n", ntohs(sa.sin_port)) < 0 || fclose(f) != 0 ||
	    rename(tmp, port_file) < 0) {
		perror("fake-llm: port file");
		return 1;
	}
	for (;;) {
		int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EINTR)
				continue;
			perror("fake-llm: accept");
			return 1;
		}
		/* one process per connection: a delayed reply never holds up the next request */
		pid_t pid = fork();
		if (pid == 0) {
			serve(c);
			_exit(0);
		}
		close(c);
	}
}
