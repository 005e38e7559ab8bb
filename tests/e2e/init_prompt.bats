#!/usr/bin/env bats
# mvmctl init --prompt: the heuristic planner, and the openai and local
# providers against a real HTTP server on 127.0.0.1 (tests/tools/fake-llm.c)
# that checks each request and answers with good, invalid and malformed
# plans, errors and delays.
bats_require_minimum_version 1.5.0
load helpers

KEY=sk-test-0123456789abcdef

setup_file() {
	export STANDIN="$BATS_FILE_TMPDIR/standin"
	"$MVM_SRC/scripts/standin-nixpkgs.sh" "$STANDIN" >/dev/null
	SYSTEM=$(cat "$STANDIN/system")
	export SYSTEM
}

setup() {
	common_setup
	unset MVM_TEMPLATE_PROVIDER OPENAI_API_KEY OPENAI_BASE_URL MVM_TEMPLATE_TIMEOUT
	unset MVM_LOCAL_LLM_MODEL MVM_OPENAI_MODEL MVM_LOCAL_PROBE_TIMEOUT_MS
	# never probe whatever may listen on this machine's 11434/8080
	export MVM_LOCAL_LLM_ENDPOINTS=none
	FAKE_PID=
}

teardown() {
	[ -z "$FAKE_PID" ] || kill "$FAKE_PID" 2>/dev/null || true
}

json() { printf '%s' "$output" | jq -r "$1"; }

# fake ARGS...: starts fake-llm; sets FAKE (its API root) and FAKE_LOG.
fake() {
	FAKE_LOG="$BATS_TEST_TMPDIR/fake.log"
	: >"$FAKE_LOG"
	"$MVM_BUILD/tests/fake-llm" --port-file "$BATS_TEST_TMPDIR/port" --log "$FAKE_LOG" "$@" \
		3>&- &
	FAKE_PID=$!
	for _ in $(seq 100); do [ -s "$BATS_TEST_TMPDIR/port" ] && break; sleep 0.05; done
	FAKE="http://127.0.0.1:$(cat "$BATS_TEST_TMPDIR/port")/v1"
}

# openai ARGS...: mvmctl init with the openai provider pointed at the fake.
openai() {
	OPENAI_API_KEY=$KEY OPENAI_BASE_URL=$FAKE MVM_TEMPLATE_PROVIDER=openai \
		run --separate-stderr "$MVMCTL" init "$@"
}

# The key must never leave the Authorization header.
assert_no_key() {
	if printf '%s%s' "$output" "$stderr" | grep -F "$KEY"; then return 1; fi
	if grep -rlF "$KEY" "$WORK"; then return 1; fi
}

nix_build() {
	nix build --extra-experimental-features 'nix-command flakes' \
		--option build-users-group '' --option substituters '' \
		--override-input nixpkgs "path:$STANDIN" --no-write-lock-file \
		--no-link --json "path:$1#packages.$SYSTEM.default" | jq -r '.[0].outputs.out'
}

@test "heuristic: the issue's examples pick their presets" {
	export MVM_TEMPLATE_PROVIDER=heuristic
	while IFS='|' read -r prompt preset features; do
		run --separate-stderr "$MVMCTL" init "p-$preset" --prompt "$prompt" --json
		[ "$status" -eq 0 ]
		[ "$(json .preset)" = "$preset" ]
		[ "$(json .provider)" = heuristic ]
		[ "$(jq -r '.features | join("+")' "p-$preset/mvm-plan.json")" = "$features" ]
		[ "$(jq -r .primary_preset "p-$preset/mvm-plan.json")" = "$preset" ]
		run "$MVMCTL" manifest check "p-$preset"
		[ "$status" -eq 0 ]
	done <<-'EOF'
	FastAPI app with Postgres backend|python|python+postgres
	nightly cron job|worker|worker
	static web server|http|http
	a database|postgres|postgres
	hello|minimal|
	EOF
}

@test "heuristic: the plan is summarised on stderr and written to mvm-plan.json" {
	MVM_TEMPLATE_PROVIDER=heuristic run --separate-stderr "$MVMCTL" init api \
		--prompt "FastAPI app with Postgres backend"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	assert_contains "$stderr" "plan (heuristic): python preset (keywords: fastapi, postgres)"
	assert_contains "$stderr" "preset python; features: python, postgres"
	assert_contains "$stderr" "note: the python preset does not set up postgres"
	[ "$(jq -r .schema_version api/mvm-plan.json)" = 1 ]
	[ "$(jq -r '.resources.mem_mib' api/mvm-plan.json)" = 1024 ]
	[ "$(jq -r '.http_port' api/mvm-params.json)" = 8080 ]
}

@test "an explicit --preset beats the inferred one" {
	MVM_TEMPLATE_PROVIDER=heuristic run --separate-stderr "$MVMCTL" init job \
		--prompt "static web server" --preset worker
	[ "$status" -eq 0 ]
	grep -qx 'vcpus = 1' job/mvm.toml
	[ -f job/work.sh ]
	[ "$(jq -r .primary_preset job/mvm-plan.json)" = worker ]
	assert_contains "$stderr" "--preset worker was given; the prompt suggests http"
}

@test "an unknown MVM_TEMPLATE_PROVIDER lists the valid ones, exit 3" {
	MVM_TEMPLATE_PROVIDER=gpt run --separate-stderr "$MVMCTL" init p --prompt hello
	[ "$status" -eq 3 ]
	assert_contains "$stderr" "MVM_TEMPLATE_PROVIDER=gpt is not a provider; valid: auto, openai, local, heuristic"
	[ ! -e p ]
}

@test "openai without OPENAI_API_KEY is an error naming it" {
	MVM_TEMPLATE_PROVIDER=openai run --separate-stderr "$MVMCTL" init p --prompt hello
	[ "$status" -eq 1 ]
	assert_contains "$stderr" "MVM_TEMPLATE_PROVIDER=openai needs OPENAI_API_KEY, which is not set"
	[ ! -e p ]
}

@test "local without a reachable endpoint is an error naming what was tried" {
	MVM_TEMPLATE_PROVIDER=local MVM_LOCAL_LLM_ENDPOINTS=127.0.0.1:9 \
		run --separate-stderr "$MVMCTL" init p --prompt hello
	[ "$status" -eq 1 ]
	assert_contains "$stderr" "no local LLM endpoint answered GET within 200 ms (tried http://127.0.0.1:9/v1/models)"
	assert_contains "$stderr" "hint: start Ollama or llama.cpp"
	[ ! -e p ]
	MVM_TEMPLATE_PROVIDER=local run --separate-stderr "$MVMCTL" init p --prompt hello
	[ "$status" -eq 1 ]
	assert_contains "$stderr" "MVM_LOCAL_LLM_ENDPOINTS disables them"
}

@test "openai: a good plan, key only in the Authorization header; the flake builds" {
	fake --expect-key "$KEY" --model gpt-4o-mini
	openai api --prompt "FastAPI app with Postgres backend"
	[ "$status" -eq 0 ]
	assert_contains "$stderr" "plan (openai, model gpt-4o-mini at $FAKE): A FastAPI service backed by PostgreSQL"
	[ "$(cat "$FAKE_LOG")" = "POST /v1/chat/completions auth=present good" ]
	[ -f api/srv/app.py ] && [ ! -e api/app ]
	[ "$(jq -c . api/mvm-params.json)" = '{"schema_version":1,"http_port":9000,"health_path":"/health","python_entrypoint":"srv/app.py"}' ]
	grep -qx 'mem = "2048M"' api/mvm.toml
	grep -qx 'data_disk = "2048M"' api/mvm.toml
	[ "$(jq -r '.notes[0]' api/mvm-plan.json)" = "planned by fake-llm" ]
	assert_no_key
	run "$MVMCTL" manifest check api
	[ "$status" -eq 0 ]
	out=$(nix_build "$WORK/api")
	grep -qx 'Environment=PORT=9000' "$out/etc/systemd/system/mvm-python.service"
	grep -q '/srv/app.py$' "$out/etc/systemd/system/mvm-python.service"
}

@test "local: probe, then the first listed model, and no Authorization header" {
	fake --model fake-model
	hostport=${FAKE#http://}
	MVM_TEMPLATE_PROVIDER=local MVM_LOCAL_LLM_ENDPOINTS="127.0.0.1:9, ${hostport%/v1}" \
		run --separate-stderr "$MVMCTL" init api --prompt "FastAPI app" --json
	[ "$status" -eq 0 ]
	[ "$(json .provider)" = local ]
	[ "$(json .model)" = fake-model ]
	[ "$(json .plan.http_port)" = 9000 ]
	[ "$(cat "$FAKE_LOG")" = "GET /v1/models auth=absent models
POST /v1/chat/completions auth=absent good" ]
}

@test "local: the fake rejects a key sent where none belongs" {
	fake
	# openai settings present must not leak into the local provider
	OPENAI_API_KEY=$KEY MVM_TEMPLATE_PROVIDER=local MVM_LOCAL_LLM_ENDPOINTS="$FAKE" \
		run --separate-stderr "$MVMCTL" init api --prompt "FastAPI app"
	[ "$status" -eq 0 ]
	grep -q 'POST /v1/chat/completions auth=absent good' "$FAKE_LOG"
	# and openai pointed at a keyless endpoint is refused by it
	openai api2 --prompt x
	[ "$status" -eq 1 ]
	assert_contains "$stderr" "HTTP 400: fake-llm: Authorization header sent to an endpoint that must not get a key"
	assert_no_key
}

# bad_plan REPLY MESSAGE: an explicit provider with a bad reply fails, names it, writes nothing.
bad_plan() {
	fake --expect-key "$KEY" --reply "$1"
	openai p --prompt "FastAPI app"
	[ "$status" -eq 1 ]
	assert_contains "$stderr" "$2"
	[ ! -e p ]
	assert_no_key
}

@test "openai: an invalid port in the plan shows the field" {
	bad_plan invalid-port 'the model'"'"'s plan is unusable: plan field "http_port": 70000 is not a port (1-65535)'
}

@test "openai: an unsafe entrypoint in the plan shows the field" {
	bad_plan bad-entrypoint 'plan field "python_entrypoint": "../../etc/evil.py" is not a safe relative path'
}

@test "openai: a field outside the schema is refused" {
	bad_plan unknown-field 'plan has an unknown field "nix"'
}

@test "openai: a malformed plan is an error" {
	bad_plan malformed "plan is not valid JSON"
}

@test "openai: a reply that is not a chat completion is an error" {
	bad_plan not-completion "reply has no choices[0].message.content"
}

@test "openai: a refusal is an error" {
	bad_plan refusal "the model refused: I cannot help with that."
}

@test "openai: an HTTP error is shown, with the key redacted from the server's text" {
	bad_plan error "answered HTTP 500: fake-llm: overloaded (request had Bearer [redacted])"
}

@test "openai: a reply over the size cap is refused" {
	bad_plan huge "is larger than 1048576 bytes"
}

@test "openai: a slow reply hits the bounded timeout" {
	fake --expect-key "$KEY" --delay-ms 5000
	start=$SECONDS
	MVM_TEMPLATE_TIMEOUT=1 openai p --prompt "FastAPI app"
	[ "$status" -eq 1 ]
	assert_contains "$stderr" "openai: no reply from $FAKE/chat/completions within 1000 ms"
	[ $((SECONDS - start)) -lt 4 ]
	[ ! -e p ]
}

@test "auto: a local endpoint that answers is used first" {
	fake
	MVM_LOCAL_LLM_ENDPOINTS=$FAKE OPENAI_API_KEY=$KEY OPENAI_BASE_URL=http://127.0.0.1:9/v1 \
		run --separate-stderr "$MVMCTL" init api --prompt "FastAPI app" --json
	[ "$status" -eq 0 ]
	[ "$(json .provider)" = local ]
	[ "$(json .warnings | jq length)" = 0 ]
}

@test "auto: a slow local probe is skipped within its budget, then openai" {
	fake --expect-key "$KEY" --models-delay-ms 3000
	start=$(date +%s%N)
	MVM_LOCAL_LLM_ENDPOINTS=$FAKE OPENAI_API_KEY=$KEY OPENAI_BASE_URL=$FAKE \
		run --separate-stderr "$MVMCTL" init api --prompt "FastAPI app" --json
	elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
	[ "$status" -eq 0 ]
	[ "$elapsed_ms" -lt 1500 ]
	[ "$(json .provider)" = openai ]
	grep -q 'POST /v1/chat/completions auth=present good' "$FAKE_LOG"
	assert_no_key
}

@test "auto: no local endpoint and no key is the heuristic, silently" {
	run --separate-stderr "$MVMCTL" init job --prompt "nightly cron job" --json
	[ "$status" -eq 0 ]
	[ "$(json .provider)" = heuristic ]
	[ "$(json .warnings | jq length)" = 0 ]
	[ "$(json .preset)" = worker ]
}

@test "auto: a failing LLM falls back to the heuristic with a warning" {
	fake --expect-key "$KEY" --reply invalid-port
	OPENAI_API_KEY=$KEY OPENAI_BASE_URL=$FAKE \
		run --separate-stderr "$MVMCTL" init api --prompt "FastAPI app with Postgres backend"
	[ "$status" -eq 0 ]
	assert_contains "$stderr" 'mvmctl: warning: openai: the model'"'"'s plan is unusable: plan field "http_port": 70000 is not a port (1-65535); using the heuristic plan'
	[ "$(jq -r .http_port api/mvm-plan.json)" = 8080 ]
	[ "$(jq -r .primary_preset api/mvm-plan.json)" = python ]
	assert_no_key
}

@test "--preset wins over the model's choice" {
	fake --expect-key "$KEY"
	openai job --prompt "FastAPI app" --preset worker
	[ "$status" -eq 0 ]
	[ "$(jq -r .primary_preset job/mvm-plan.json)" = worker ]
	[ -f job/work.sh ]
	assert_contains "$stderr" "--preset worker was given; the openai model suggested python"
	run "$MVMCTL" manifest check job
	[ "$status" -eq 0 ]
}

@test "without libcurl: local names the missing library, exit 6; auto warns and plans heuristically" {
	fake
	MVM_TEMPLATE_PROVIDER=local MVM_LOCAL_LLM_ENDPOINTS=$FAKE \
		run --separate-stderr without_libcurl "$MVMCTL" init api --prompt "FastAPI app"
	[ "$status" -eq 6 ]
	assert_contains "$stderr" "mvmctl: error: planning from --prompt: local: libcurl.so.4 could not be loaded: "
	assert_contains "$stderr" "hint: install it with 'apt-get install libcurl4'"
	[[ $stderr != *"answered"* ]] # not "no endpoint answered": none was asked
	[ ! -e api ]
	[ ! -s "$FAKE_LOG" ]

	MVM_LOCAL_LLM_ENDPOINTS=$FAKE run --separate-stderr without_libcurl "$MVMCTL" init job \
		--prompt "nightly cron job" --json
	[ "$status" -eq 0 ]
	[ "$(json .provider)" = heuristic ]
	[ "$(json .warnings | jq length)" = 1 ]
	assert_contains "$(json '.warnings[0]')" "local: libcurl.so.4 could not be loaded: "
	assert_contains "$(json '.warnings[0]')" "(install it with 'apt-get install libcurl4'); using the heuristic plan"
	[ "$(json .preset)" = worker ]
}
