#!/usr/bin/env bats
# Tenants (seed 003): create, ls, info, rm, quotas and secrets, driven
# through `mvmctl tenant …` in a temporary MVM_HOME. No VM is started.
bats_require_minimum_version 1.5.0
load helpers

setup() { common_setup; }
# a directory outside the test's own (which only root may enter), for the non-root test
teardown() { [ -z "${NOBODY_HOME:-}" ] || rm -rf "$NOBODY_HOME"; }

json() { printf '%s' "$output" | jq -r "$@"; }

T() { echo "$MVM_HOME/tenants/$1"; }

SECRET=s3cr3t-value-123

# secrets_file PATH: a valid secrets file holding $SECRET.
secrets_file() {
	printf '{"db_password": "%s", "api_key": "k-%s", "n": 3}\n' "$SECRET" "$SECRET" >"$1"
}

@test "create, ls, info and rm round trip, with --json" {
	run --separate-stderr "$MVMCTL" tenant create acme
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	assert_eq "created tenant 'acme' (quotas: vcpus 16, mem 16G, running 16, warm 16, pools 8, per pool 16)" "$stderr"

	run --separate-stderr "$MVMCTL" tenant create batch --json
	[ "$status" -eq 0 ]
	[ "$(json .schema_version)" = 1 ]
	[ "$(json .id)" = batch ]
	[ "$(json .dir)" = "$(T batch)" ]
	[ "$(json .secrets)" = null ]
	[ "$(json '.pools | length')" = 0 ]
	[ -z "$stderr" ]

	run --separate-stderr "$MVMCTL" tenant ls
	[ "$status" -eq 0 ]
	assert_eq "ID     POOLS  SECRETS  QUOTAS
acme   0      no       vcpus 16, mem 16G, running 16, warm 16, pools 8, per pool 16
batch  0      no       vcpus 16, mem 16G, running 16, warm 16, pools 8, per pool 16" "$output"

	run --separate-stderr "$MVMCTL" tenant ls --json
	[ "$status" -eq 0 ]
	[ "$(json .schema_version)" = 1 ]
	[ "$(json '[.tenants[].id] | join(",")')" = acme,batch ]
	[ "$(json '.tenants[0].quotas.max_vcpus')" = 16 ]
	[ "$(json '.tenants[0].secrets')" = null ]

	run --separate-stderr "$MVMCTL" tenant info acme --json
	[ "$status" -eq 0 ]
	[ "$(json .id)" = acme ]
	[[ $(json .created_at) =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]]

	run --separate-stderr "$MVMCTL" tenant rm acme
	[ "$status" -eq 0 ]
	assert_eq "removed tenant acme" "$output"
	[ ! -e "$(T acme)" ]

	run --separate-stderr "$MVMCTL" tenant rm batch --json
	[ "$status" -eq 0 ]
	[ "$(json .id)" = batch ]
	[ "$(json .removed)" = true ]

	run --separate-stderr "$MVMCTL" tenant ls --json
	[ "$status" -eq 0 ]
	[ "$(json '.tenants | length')" = 0 ]
	run --separate-stderr "$MVMCTL" tenant ls
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	assert_eq "no tenants; create one with 'mvmctl tenant create NAME'" "$stderr"
	# nothing left behind in tmp/ either
	[ -z "$(ls -A "$MVM_HOME/tmp")" ]
}

@test "what create writes: 0700 directories, 0600 files, the record, an empty secrets image" {
	run --separate-stderr "$MVMCTL" tenant create acme
	[ "$status" -eq 0 ]
	assert_mode "$MVM_HOME/tenants" 700
	assert_mode "$(T acme)" 700
	assert_mode "$(T acme)/tenant.json" 600
	assert_mode "$(T acme)/secrets" 700
	assert_mode "$(T acme)/secrets/secrets.img" 600
	[ ! -e "$(T acme)/secrets/secrets.json" ]
	[ ! -e "$(T acme)/secrets/meta.json" ]
	[ ! -e "$(T acme)/debugfs.cmds" ] # the image's scratch file does not stay
	run jq -c . "$(T acme)/tenant.json"
	[[ $output == '{"schema_version":1,"id":"acme","created_at":"'*'","quotas":{"max_vcpus":16,"max_mem_mib":16384,"max_running":16,"max_warm":16,"max_pools":8,"max_instances_per_pool":16}}' ]]
	run --separate-stderr dumpe2fs -h "$(T acme)/secrets/secrets.img"
	[ "$status" -eq 0 ]
	assert_contains "$output" "Filesystem volume name:   mvm-secrets"
	run --separate-stderr debugfs -R 'ls /' "$(T acme)/secrets/secrets.img"
	[ "$status" -eq 0 ]
	[[ $output != *secrets.json* ]]
}

@test "creating a tenant that exists is refused and changes nothing" {
	"$MVMCTL" tenant create acme --max-pools 2 2>/dev/null
	cp "$(T acme)/tenant.json" "$WORK/before.json"
	run --separate-stderr "$MVMCTL" tenant create acme --max-pools 5
	[ "$status" -eq 5 ]
	assert_eq "mvmctl: error: Tenant 'acme' already exists
hint: 'mvmctl tenant info acme' shows it" "$stderr"
	cmp "$WORK/before.json" "$(T acme)/tenant.json"

	run --separate-stderr "$MVMCTL" tenant create acme --json
	[ "$status" -eq 5 ]
	[ -z "$output" ]
	[ "$(printf '%s' "$stderr" | jq -r .error.code)" = refused ]
	[ "$(printf '%s' "$stderr" | jq -r .error.message)" = "Tenant 'acme' already exists" ]
}

@test "malformed tenant ids are usage errors word for word" {
	for id in Acme -x a/b ab- "" "$(printf 'a%.0s' {1..64})"; do
		for cmd in create info rm "secrets set"; do
			args=(tenant $cmd)
			[ "$cmd" = "secrets set" ] && args+=(--from-file /dev/null)
			run --separate-stderr "$MVMCTL" "${args[@]}" -- "$id"
			[ "$status" -eq 2 ] || { echo "$cmd '$id': status $status"; return 1; }
			assert_eq "mvmctl: error: Expected <tenant>, got \"$id\"
hint: IDs are 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'" "$stderr"
		done
	done
	# -x without `--` is an unknown option: also a usage error
	run --separate-stderr "$MVMCTL" tenant create -x
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "mvmctl: error: unknown option '-x'"
	[ ! -e "$MVM_HOME/tenants" ] || [ -z "$(ls -A "$MVM_HOME/tenants")" ]
}

@test "quota flags are recorded; the rest take the documented defaults" {
	run --separate-stderr "$MVMCTL" tenant create acme --max-vcpus 32 --max-mem 64G \
		--max-running 10 --max-warm 0 --max-pools 4 --max-instances-per-pool 5 --json
	[ "$status" -eq 0 ]
	[ "$(json -c .quotas)" = '{"max_vcpus":32,"max_mem_mib":65536,"max_running":10,"max_warm":0,"max_pools":4,"max_instances_per_pool":5}' ]
	[ "$(jq -c .quotas "$(T acme)/tenant.json")" = "$(json -c .quotas)" ]

	# a bare size is MiB; the others keep their defaults
	"$MVMCTL" tenant create beta --max-mem 2048 --max-vcpus 3 2>/dev/null
	run --separate-stderr "$MVMCTL" tenant info beta
	[ "$status" -eq 0 ]
	assert_contains "$output" "quotas (in use / max)
  vcpus                    0 / 3
  mem_mib                  0 / 2048 (2G)
  running                  0 / 16
  warm                     0 / 16
  pools                    0 / 8
  max_instances_per_pool   16
not counted     0 sleeping, 0 stopped
secrets         none
pools           none"
	assert_contains "$output" "tenant          beta"
	run --separate-stderr "$MVMCTL" tenant info beta --json
	[ "$(json -c .usage)" = '{"vcpus":0,"mem_mib":0,"running":0,"warm":0,"sleeping":0,"stopped":0}' ]

	# the defaults are in the help, from the same constants
	run "$MVMCTL" tenant create --help
	[ "$status" -eq 0 ]
	assert_contains "$output" "  max_vcpus               16
  max_mem_mib             16384 (16G)
  max_running             16
  max_warm                16
  max_pools               8
  max_instances_per_pool  16"
	assert_contains "$output" "--max-pools N            pools (default 8)"
}

@test "a quota below its minimum is a usage error naming the flag" {
	for flag in --max-vcpus --max-running --max-pools --max-instances-per-pool; do
		run --separate-stderr "$MVMCTL" tenant create acme "$flag" 0
		[ "$status" -eq 2 ]
		assert_contains "$stderr" "mvmctl: error: $flag expects an integer from 1 to 1000000, got '0'"
	done
	run --separate-stderr "$MVMCTL" tenant create acme --max-warm -1
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "mvmctl: error: --max-warm expects an integer from 0 to 1000000, got '-1'"
	run --separate-stderr "$MVMCTL" tenant create acme --max-mem 0
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "mvmctl: error: --max-mem must be at least 1M, got 0"
	run --separate-stderr "$MVMCTL" tenant create acme --max-mem lots
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "mvmctl: error: --max-mem expects a size"
	[ ! -e "$(T acme)" ]
}

@test "rm is refused while the tenant has a pool directory, naming it" {
	"$MVMCTL" tenant create acme 2>/dev/null
	mkdir -p "$MVM_HOME/pools/acme/workers" "$MVM_HOME/pools/acme/batch"
	run --separate-stderr "$MVMCTL" tenant rm acme
	[ "$status" -eq 5 ]
	assert_eq "mvmctl: error: Tenant 'acme' still has 2 pools: acme/batch, acme/workers
hint: remove them first with 'mvmctl pool rm acme/batch' and the others" "$stderr"
	[ -f "$(T acme)/tenant.json" ]
	[ -f "$(T acme)/secrets/secrets.img" ]

	run --separate-stderr "$MVMCTL" tenant info acme --json
	[ "$(json -c .pools)" = '["batch","workers"]' ]
	run --separate-stderr "$MVMCTL" tenant ls
	assert_contains "$output" "acme  2      no "

	rmdir "$MVM_HOME/pools/acme/batch"
	run --separate-stderr "$MVMCTL" tenant rm acme
	[ "$status" -eq 5 ]
	assert_eq "mvmctl: error: Tenant 'acme' still has 1 pool: acme/workers
hint: remove it first with 'mvmctl pool rm acme/workers'" "$stderr"

	rmdir "$MVM_HOME/pools/acme/workers"
	run --separate-stderr "$MVMCTL" tenant rm acme
	[ "$status" -eq 0 ]
	[ ! -e "$(T acme)" ]
	[ ! -e "$MVM_HOME/pools/acme" ]
}

@test "a missing tenant is not found (exit 4) everywhere; rm --force makes it a success" {
	secrets_file "$WORK/s.json"
	for cmd in "tenant info nope" "tenant rm nope" "tenant secrets set nope --from-file $WORK/s.json"; do
		# shellcheck disable=SC2086
		run --separate-stderr "$MVMCTL" $cmd
		[ "$status" -eq 4 ] || { echo "$cmd: status $status"; return 1; }
		assert_eq "mvmctl: error: Tenant 'nope' does not exist
hint: create it with 'mvmctl tenant create nope'" "$stderr"
	done
	run --separate-stderr "$MVMCTL" tenant info nope --json
	[ "$status" -eq 4 ]
	[ "$(printf '%s' "$stderr" | jq -r .error.code)" = not_found ]
	run --separate-stderr "$MVMCTL" tenant rm --force nope
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run --separate-stderr "$MVMCTL" tenant rm --force nope --json
	[ "$status" -eq 0 ]
	[ "$(json .removed)" = false ]
	[ ! -e "$MVM_HOME/tenants/nope" ]
}

@test "under umask 000, tenant create, secrets set and pool create make files 0600 and directories 0700" {
	umask 000
	run "$MVMCTL" tenant create acme
	[ "$status" -eq 0 ]
	secrets_file "$WORK/s.json"
	run "$MVMCTL" tenant secrets set acme --from-file "$WORK/s.json"
	[ "$status" -eq 0 ]
	mkdir "$WORK/flake"
	run "$MVMCTL" pool create acme/web --flake "$WORK/flake" --profile baseline
	[ "$status" -eq 0 ]
	[ -f "$MVM_HOME/pools/acme/web/pool.json" ]
	assert_eq "" "$(find "$MVM_HOME" \( -type f -perm /077 \) -o \( -type d -perm /077 \))"
}

@test "secrets set: the files, the image and the record" {
	"$MVMCTL" tenant create acme 2>/dev/null
	secrets_file "$WORK/s.json"
	run --separate-stderr "$MVMCTL" tenant secrets set acme --from-file "$WORK/s.json"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[[ $stderr =~ ^"set the secrets of tenant 'acme' (3 keys) in "[0-9.]+" s"$ ]]

	cmp "$WORK/s.json" "$(T acme)/secrets/secrets.json"
	assert_mode "$(T acme)/secrets" 700
	assert_mode "$(T acme)/secrets/secrets.json" 600
	assert_mode "$(T acme)/secrets/secrets.img" 600
	assert_mode "$(T acme)/secrets/meta.json" 600
	# the three files live in secrets/ alone, which is replaced whole
	assert_eq "meta.json secrets.img secrets.json" "$(ls "$(T acme)/secrets" | xargs)"
	assert_eq "secrets tenant.json tenant.lock" "$(ls "$(T acme)" | xargs)"
	assert_mode "$(T acme)/tenant.json" 600
	run --separate-stderr debugfs -R 'cat /secrets.json' "$(T acme)/secrets/secrets.img"
	[ "$status" -eq 0 ]
	assert_eq "$(cat "$WORK/s.json")" "$output"
	run --separate-stderr debugfs -R 'stat /secrets.json' "$(T acme)/secrets/secrets.img"
	assert_contains "$output" "Mode:  0400"
	assert_contains "$output" "User:     0   Group:     0"
	run --separate-stderr dumpe2fs -h "$(T acme)/secrets/secrets.img"
	assert_contains "$output" "Filesystem volume name:   mvm-secrets"

	[ "$(jq -r .keys "$(T acme)/secrets/meta.json")" = 3 ]
	[[ $(jq -r .set_at "$(T acme)/secrets/meta.json") =~ ^[0-9-]{10}T[0-9:]{8}Z$ ]]
	run --separate-stderr "$MVMCTL" tenant info acme
	assert_contains "$output" "secrets         set 20"
	assert_contains "$output" "(3 keys)"
	run --separate-stderr "$MVMCTL" tenant ls
	assert_contains "$output" "acme  0      yes "
	# no staging directory is left behind
	[ -z "$(ls -A "$MVM_HOME/tmp")" ]

	# a JSON document that is not an object has no key count
	printf '["a", "b"]\n' >"$WORK/list.json"
	run --separate-stderr "$MVMCTL" tenant secrets set acme --from-file "$WORK/list.json" --json
	[ "$status" -eq 0 ]
	[ "$(json .secrets.keys)" = null ]
	run --separate-stderr "$MVMCTL" tenant info acme
	assert_contains "$output" "(not a JSON object)"
	run --separate-stderr debugfs -R 'cat /secrets.json' "$(T acme)/secrets/secrets.img"
	assert_eq '["a", "b"]' "$output"
}

@test "secrets set replaces a link planted as the secrets directory; its target is untouched" {
	"$MVMCTL" tenant create acme >/dev/null
	local d="$MVM_HOME/tenants/acme" out="$BATS_TEST_TMPDIR/outside"
	mkdir -p "$out"
	echo keep >"$out/keep"
	rm -rf "$d/secrets"
	ln -s "$out" "$d/secrets"
	echo '{"token":"s3cr3t"}' >"$WORK/s.json"
	run --separate-stderr "$MVMCTL" tenant secrets set acme --from-file "$WORK/s.json"
	[ "$status" -eq 0 ]
	[ -d "$d/secrets" ] && [ ! -L "$d/secrets" ]
	assert_mode "$d/secrets" 700
	assert_eq "keep" "$(ls "$out")"
	assert_eq "keep" "$(cat "$out/keep")"
}

@test "secrets set with invalid JSON exits 3 and changes nothing" {
	"$MVMCTL" tenant create acme 2>/dev/null
	secrets_file "$WORK/s.json"
	"$MVMCTL" tenant secrets set acme --from-file "$WORK/s.json" 2>/dev/null
	cp -p "$(T acme)/secrets/secrets.json" "$WORK/json.before"
	cp -p "$(T acme)/secrets/secrets.img" "$WORK/img.before"
	cp -p "$(T acme)/tenant.json" "$WORK/record.before"
	cp -p "$(T acme)/secrets/meta.json" "$WORK/meta.before"

	# the bad token is a secret: it must not be quoted back
	printf '{"db_password": %s}\n' "$SECRET" >"$WORK/bad.json"
	run --separate-stderr "$MVMCTL" tenant secrets set acme --from-file "$WORK/bad.json"
	[ "$status" -eq 3 ]
	assert_eq "mvmctl: error: secrets file '$WORK/bad.json' is not valid JSON: invalid token at line 1 column 17" "$stderr"
	[[ $stderr != *"$SECRET"* ]]

	# nor a byte of it: an invalid UTF-8 byte, a control character, a lone surrogate
	printf '{"k": "s3\xffcr3t"}' >"$WORK/utf8.json"
	printf '{"k": "s3\001cr3t"}' >"$WORK/ctl.json"
	printf '{"k": "s3\\udc00cr3t"}' >"$WORK/surrogate.json"
	local f
	for f in utf8 ctl surrogate; do
		run --separate-stderr "$MVMCTL" tenant secrets set acme --from-file "$WORK/$f.json"
		[ "$status" -eq 3 ]
		assert_contains "$stderr" "secrets file '$WORK/$f.json' is not valid JSON: "
		[[ $stderr != *0x* && $stderr != *'\u'* && $stderr != *dc00* && $stderr != *$'\001'* ]]
		assert_contains "$stderr" " at line 1 column "
	done

	printf '{"a": 1,\n "a": 2}\n' >"$WORK/dup.json"
	run --separate-stderr "$MVMCTL" tenant secrets set acme --from-file "$WORK/dup.json"
	[ "$status" -eq 3 ]
	assert_eq "mvmctl: error: secrets file '$WORK/dup.json' is not valid JSON: duplicate object key at line 2 column 4" "$stderr"

	printf '{"a": "%s"' "$SECRET" >"$WORK/cut.json"
	run --separate-stderr "$MVMCTL" tenant secrets set acme --from-file "$WORK/cut.json" --json
	[ "$status" -eq 3 ]
	[ -z "$output" ]
	[ "$(printf '%s' "$stderr" | jq -r .error.code)" = invalid ]
	[[ $stderr != *"$SECRET"* ]]

	# larger than 1 MiB
	head -c 1048577 /dev/zero | tr '\0' ' ' >"$WORK/big.json"
	run --separate-stderr "$MVMCTL" tenant secrets set acme --from-file "$WORK/big.json"
	[ "$status" -eq 3 ]
	assert_eq "mvmctl: error: secrets file '$WORK/big.json' is larger than the limit of 1 MiB (1048576 bytes)" "$stderr"

	run --separate-stderr "$MVMCTL" tenant secrets set acme --from-file "$WORK/missing.json"
	[ "$status" -eq 4 ]
	assert_eq "mvmctl: error: reading secrets file '$WORK/missing.json': No such file or directory" "$stderr"

	run --separate-stderr "$MVMCTL" tenant secrets set acme
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "mvmctl: error: --from-file FILE is required"

	cmp "$WORK/json.before" "$(T acme)/secrets/secrets.json"
	cmp "$WORK/img.before" "$(T acme)/secrets/secrets.img"
	cmp "$WORK/record.before" "$(T acme)/tenant.json"
	cmp "$WORK/meta.before" "$(T acme)/secrets/meta.json"
	[ -z "$(ls -A "$MVM_HOME/tmp")" ]
}

@test "a secret value appears in no output, record or error" {
	"$MVMCTL" tenant create acme 2>/dev/null
	secrets_file "$WORK/s.json"
	all=""
	for cmd in "tenant secrets set acme --from-file $WORK/s.json" \
		"tenant secrets set acme --from-file $WORK/s.json --json" \
		"tenant ls" "tenant ls --json" "tenant info acme" "tenant info acme --json" \
		"tenant secrets set acme --from-file $WORK/s.json -v"; do
		# shellcheck disable=SC2086
		run --separate-stderr "$MVMCTL" $cmd
		[ "$status" -eq 0 ] || { echo "$cmd: status $status"; return 1; }
		all+="$output$stderr"
	done
	assert_contains "$all" '"keys":3'
	[[ $all != *"$SECRET"* ]]
	[[ $all != *db_password* ]]
	! grep -q "$SECRET" "$(T acme)/tenant.json"
}

@test "a secrets file of exactly 1 MiB fits its image" {
	"$MVMCTL" tenant create acme 2>/dev/null
	{
		printf '{"k": "'
		head -c $((1048576 - 10)) /dev/zero | tr '\0' 'x'
		printf '"}\n'
	} >"$WORK/s.json"
	[ "$(stat -c %s "$WORK/s.json")" -eq 1048576 ]
	run --separate-stderr "$MVMCTL" tenant secrets set acme --from-file "$WORK/s.json"
	[ "$status" -eq 0 ]
	debugfs -R 'cat /secrets.json' "$(T acme)/secrets/secrets.img" 2>/dev/null | cmp - "$WORK/s.json"
}

@test "run by a user other than root, the secrets in the image still belong to root" {
	[ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null && id nobody >/dev/null 2>&1 ||
		skip "needs root (to become nobody) and setpriv"
	home=$(mktemp -d /tmp/mvm-tenant-nobody.XXXXXX)
	NOBODY_HOME=$home
	chmod 755 "$home"
	chown nobody "$home"
	secrets_file "$home/s.json"
	chown nobody "$home/s.json"
	as_nobody() {
		setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
			env MVM_HOME="$home/mvm" PATH="$PATH" "$MVMCTL" "$@"
	}
	run --separate-stderr as_nobody tenant create acme
	[ "$status" -eq 0 ]
	run --separate-stderr as_nobody tenant secrets set acme --from-file "$home/s.json"
	[ "$status" -eq 0 ]
	[ "$(stat -c %U "$home/mvm/tenants/acme/secrets/secrets.img")" = nobody ]
	run --separate-stderr debugfs -R 'stat /secrets.json' "$home/mvm/tenants/acme/secrets/secrets.img"
	assert_contains "$output" "User:     0   Group:     0"
	run --separate-stderr debugfs -R 'cat /secrets.json' "$home/mvm/tenants/acme/secrets/secrets.img"
	assert_eq "$(cat "$home/s.json")" "$output"
}

@test "a tenant from before secrets/ keeps its secrets until the next set, which moves them in" {
	"$MVMCTL" tenant create acme 2>/dev/null
	secrets_file "$WORK/s.json"
	"$MVMCTL" tenant secrets set acme --from-file "$WORK/s.json" 2>/dev/null
	# the layout of earlier versions: the files at the top, the meta in the record
	mv "$(T acme)/secrets/secrets.img" "$(T acme)/secrets/secrets.json" "$(T acme)/"
	jq -c --slurpfile m "$(T acme)/secrets/meta.json" '. + {secrets: $m[0]}' \
		"$(T acme)/tenant.json" >"$WORK/rec" && cat "$WORK/rec" >"$(T acme)/tenant.json"
	rm -r "$(T acme)/secrets"
	run --separate-stderr "$MVMCTL" tenant info acme --json
	[ "$status" -eq 0 ]
	[ "$(json .secrets.keys)" = 3 ]

	printf '{"only": "one"}\n' >"$WORK/one.json"
	run --separate-stderr "$MVMCTL" tenant secrets set acme --from-file "$WORK/one.json"
	[ "$status" -eq 0 ]
	assert_eq "secrets tenant.json tenant.lock" "$(ls "$(T acme)" | xargs)"
	[ "$(jq -r 'has("secrets")' "$(T acme)/tenant.json")" = false ]
	cmp "$WORK/one.json" "$(T acme)/secrets/secrets.json"
	run --separate-stderr "$MVMCTL" tenant info acme --json
	[ "$(json .secrets.keys)" = 1 ]
	[ -z "$(ls -A "$MVM_HOME/tmp")" ]
}
