#!/usr/bin/env bats
# mvmctl init (seed 000, issue 3): every preset scaffolds a project whose
# manifest passes `manifest check` and whose flake really builds with nix
# against the offline nixpkgs stand-in; existing files are never changed
# silently.
bats_require_minimum_version 1.5.0
load helpers

setup_file() {
	export STANDIN="$BATS_FILE_TMPDIR/standin"
	"$MVM_SRC/scripts/standin-nixpkgs.sh" "$STANDIN" >/dev/null
	SYSTEM=$(cat "$STANDIN/system")
	export SYSTEM
}

setup() {
	common_setup
	unset MVM_TEMPLATE_PROVIDER OPENAI_API_KEY
}

json() { printf '%s' "$output" | jq -r "$1"; }

# nix_build DIR: builds packages.<system>.default of the flake in DIR against
# the stand-in (the command line docs/nix-offline.md gives); prints the output path.
nix_build() {
	nix build --extra-experimental-features 'nix-command flakes' \
		--option build-users-group '' --option substituters '' \
		--override-input nixpkgs "path:$STANDIN" --no-write-lock-file \
		--no-link --json "path:$1#packages.$SYSTEM.default" | jq -r '.[0].outputs.out'
}

# A listing of every file under DIR with its checksum, to prove nothing changed.
tree_sum() { (cd "$1" && find . -type f -exec sha256sum {} + | sort); }

# check_preset PRESET VCPUS MEM DISK: init, manifest check, sizes.
check_preset() {
	run --separate-stderr "$MVMCTL" init "$1" --preset "$1"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	assert_contains "$stderr" "Created $1 project in $WORK/$1"
	run --separate-stderr "$MVMCTL" manifest check --json "$1"
	[ "$status" -eq 0 ]
	[ "$(json .manifest.vcpus)" = "$2" ]
	[ "$(json .manifest.mem_mib)" = "$3" ]
	[ "$(json .manifest.data_disk_mib)" = "$4" ]
	[ "$(json .manifest.name)" = "$1" ]
	[ "$(json .manifest.flake_resolved)" = "$WORK/$1" ]
	[ "$(cat "$1/.gitignore")" = 'result*' ]
	[ -f "$1/README.md" ]
	[ ! -e "$1/mvm-plan.json" ]
}

@test "minimal: a busybox shell, no service, 1 vCPU / 256M / no disk; builds" {
	check_preset minimal 1 256 0
	grep -qx 'mem = "256M"' minimal/mvm.toml
	grep -qx 'data_disk = "0"' minimal/mvm.toml
	[ ! -e minimal/mvm-params.json ]
	out=$(nix_build "$WORK/minimal")
	[ -x "$out/bin/sh" ]
	[ "$("$out/bin/sh" -c 'echo hi')" = hi ]
	[ ! -e "$out/etc/systemd" ]
	[ ! -e minimal/flake.lock ]
}

@test "http: busybox httpd on 8080 serving public/ and /healthz; builds" {
	check_preset http 2 1024 1024
	grep -qx 'mem = "1024M"' http/mvm.toml
	[ "$(jq -c . http/mvm-params.json)" = '{"schema_version":1,"http_port":8080,"health_path":"/healthz"}' ]
	out=$(nix_build "$WORK/http")
	unit="$out/etc/systemd/system/mvm-http.service"
	[ -f "$unit" ]
	exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
	read -r httpd f v p port h docroot <<<"$exec_start"
	[ "$port" = 8080 ] && [ "$h" = -h ] && [ "$f $v $p" = "-f -v -p" ]
	# the unit's own program, on its own docroot, answers (on a free port)
	free=$(( (RANDOM % 20000) + 30000 ))
	"$httpd" -f -p "127.0.0.1:$free" -h "$docroot" 3>&- &
	pid=$!
	for _ in $(seq 50); do curl -fs "http://127.0.0.1:$free/healthz" >/dev/null && break; sleep 0.1; done
	body=$(curl -fs "http://127.0.0.1:$free/healthz")
	index=$(curl -fs "http://127.0.0.1:$free/")
	kill "$pid"
	[ "$body" = ok ]
	assert_contains "$index" "Hello from an mvm microVM"
}

@test "worker: a tick loop every worker_interval_secs; builds and ticks" {
	check_preset worker 1 512 512
	[ "$(jq -r .worker_interval_secs worker/mvm-params.json)" = 60 ]
	out=$(nix_build "$WORK/worker")
	unit="$out/etc/systemd/system/mvm-worker.service"
	grep -q '^Restart=always$' "$unit"
	prog=$(sed -n 's/^ExecStart=//p' "$unit")
	run timeout 2 "$prog"
	[ "$status" -eq 124 ]
	assert_contains "${lines[0]}" "worker: tick 1 at "
	[ "${lines[1]}" = "worker: tick 1: nothing to do yet (edit work.sh)" ]
}

@test "python: app/main.py on \$PORT; builds, python3 is an honest placeholder offline" {
	check_preset python 2 1024 1024
	[ -f python/app/main.py ]
	grep -q 'os.environ.get("PORT", "8080")' python/app/main.py
	out=$(nix_build "$WORK/python")
	unit="$out/etc/systemd/system/mvm-python.service"
	grep -qx 'Environment=PORT=8080' "$unit"
	grep -qx 'Environment=HEALTH_PATH=/healthz' "$unit"
	read -r py main <<<"$(sed -n 's/^ExecStart=//p' "$unit")"
	[ -f "$main" ] && [ "${main##*/}" = main.py ]
	run --separate-stderr "$py" "$main"
	[ "$status" -eq 1 ]
	assert_contains "$stderr" "placeholder for python3 (python3): needs real nixpkgs"
}

@test "postgres: initdb into /data then postgres as its own user; builds" {
	check_preset postgres 2 2048 4096
	[ ! -e postgres/mvm-params.json ]
	out=$(nix_build "$WORK/postgres")
	unit="$out/etc/systemd/system/mvm-postgres.service"
	start=$(sed -n 's/^ExecStart=//p' "$unit")
	grep -q 'initdb -D /data/postgres' "$(sed -n 's/^exec su -s \(.*\) postgres$/\1/p' "$start")"
	grep -q '^postgres:x:70:70:' "$out/etc/passwd"
	run --separate-stderr "$out/bin/initdb"
	[ "$status" -eq 1 ]
	assert_contains "$stderr" "placeholder for postgresql (initdb): needs real nixpkgs"
}

@test "the default preset is minimal; no DIR means the working directory" {
	mkdir my-vm && cd my-vm
	run --separate-stderr "$MVMCTL" init
	[ "$status" -eq 0 ]
	grep -qx 'name = "my-vm"' mvm.toml
	grep -qx 'vcpus = 1' mvm.toml
	[ -f flake.nix ]
	run "$MVMCTL" manifest check
	[ "$status" -eq 0 ]
}

@test "DIR is created, with parents" {
	run "$MVMCTL" init a/b/svc --preset worker
	[ "$status" -eq 0 ]
	[ -f a/b/svc/mvm.toml ] && [ -f a/b/svc/work.sh ]
}

@test "a DIR basename that is not a valid name leaves name out, with a note" {
	run --separate-stderr "$MVMCTL" init My_App
	[ "$status" -eq 0 ]
	if grep '^name' My_App/mvm.toml; then return 1; fi
	assert_contains "$stderr" 'note: name left out of mvm.toml: "My_App" is not a valid name'
	run --separate-stderr "$MVMCTL" manifest check --json My_App
	[ "$status" -eq 0 ]
	[ "$(json '.manifest | has("name")')" = false ]
}

@test "existing files: exit 5, the files named, nothing written" {
	mkdir web
	echo 'vcpus = 7' >web/mvm.toml
	echo keep >web/README.md
	before=$(tree_sum web)
	run --separate-stderr "$MVMCTL" init web --preset http
	[ "$status" -eq 5 ]
	[ "$stderr" = "mvmctl: error: refusing to overwrite existing files in $WORK/web: mvm.toml, README.md
hint: pass --force to overwrite them, or choose another directory" ]
	[ "$(tree_sum web)" = "$before" ]
	[ "$(ls -A web | sort | tr '\n' ' ')" = "README.md mvm.toml " ]
}

@test "existing files: --json reports the refusal as JSON" {
	mkdir p && : >p/flake.nix
	run --separate-stderr "$MVMCTL" init p --json
	[ "$status" -eq 5 ]
	[ -z "$output" ]
	[ "$(printf '%s' "$stderr" | jq -r .error.code)" = refused ]
	assert_contains "$(printf '%s' "$stderr" | jq -r .error.message)" ": flake.nix"
}

@test "--force overwrites the scaffold's files and leaves others alone" {
	mkdir web
	echo 'vcpus = 7' >web/mvm.toml
	echo mine >web/notes.txt
	run --separate-stderr "$MVMCTL" init web --preset http --force
	[ "$status" -eq 0 ]
	grep -qx 'vcpus = 2' web/mvm.toml
	[ "$(cat web/notes.txt)" = mine ]
	[ -f web/public/index.html ]
	# no staging leftovers
	[ -z "$(find web -name '.*.tmp-*')" ]
}

@test "a directory where a file goes is an error even with --force" {
	mkdir -p x/mvm.toml
	run --separate-stderr "$MVMCTL" init x --force
	[ "$status" -eq 1 ]
	assert_contains "$stderr" "cannot write the project in $WORK/x: mvm.toml (a directory)"
	[ ! -e x/flake.nix ]
}

@test "unknown preset: the seed's message, exit 2, nothing written" {
	run --separate-stderr "$MVMCTL" init new --preset x
	[ "$status" -eq 2 ]
	[ "$stderr" = 'mvmctl: error: Unknown preset "x". Valid presets: minimal, http, postgres, worker, python' ]
	[ ! -e new ]
}

@test "--json describes what was written" {
	run --separate-stderr "$MVMCTL" init api --preset python --json
	[ "$status" -eq 0 ]
	[ "$(json .schema_version)" = 1 ]
	[ "$(json .dir)" = "$WORK/api" ]
	[ "$(json .preset)" = python ]
	[ "$(json .name)" = api ]
	[ "$(json '.files | sort | join(" ")')" = ".gitignore README.md app/main.py flake.nix mvm-params.json mvm.toml" ]
	[ "$(json 'has("plan")')" = false ]
}

@test "a missing preset corpus is an error with a hint" {
	MVM_DATADIR="$WORK/nowhere" run --separate-stderr "$MVMCTL" init p
	[ "$status" -eq 1 ]
	assert_contains "$stderr" "reading the preset corpus '$WORK/nowhere/presets/minimal'"
	assert_contains "$stderr" "hint: the presets are looked up in"
	[ ! -e p ]
}

@test "init --help shows usage, examples and the planner's environment" {
	run "$MVMCTL" init --help
	[ "$status" -eq 0 ]
	assert_contains "$output" "[DIR] [--preset NAME] [--prompt TEXT] [--force] [--json]"
	assert_contains "$output" "MVM_LOCAL_LLM_ENDPOINTS"
	assert_contains "$output" "mvmctl init my-web --preset http"
}
