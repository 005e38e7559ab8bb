#!/usr/bin/env bats
# manifest push / pull through a real S3-compatible server (s3rver, installed by
# scripts/install-deps.sh) on 127.0.0.1, started and stopped here: push, pull
# into a second MVM_HOME and boot it; content addressing (a second push uploads
# nothing, counted at the server); signatures refused and accepted; a flipped
# byte refused; a killed pull resumed; wrong credentials; channel moves; signed
# channels (forged, replayed, another channel's document refused).
#
# s3rver checks the access key id but accepts any secret, so "wrong
# credentials" here is a wrong AWS_ACCESS_KEY_ID; a wrong secret is in
# store_sigv4.bats, against a server that checks signatures (docs/store.md).
bats_require_minimum_version 1.5.0
load build_helpers
load s3_helpers

setup_file() {
	file_home_setup
	export HOME_A="$MVM_HOME"
	s3rver_start "$BATS_FILE_TMPDIR/s3" || return 1
	export S3DATA="$BATS_FILE_TMPDIR/s3/data" S3LOG="$BATS_FILE_TMPDIR/s3/s3rver.log"
	export PROJ="$BATS_FILE_TMPDIR/hello"
	cp -r "$MVM_SRC/tests/fixtures/hello" "$PROJ"
	"$MVMCTL" build "$PROJ" 2>/dev/null || return 1
	PUB=$("$MVMCTL" key generate 2>/dev/null) || return 1
	export PUB
}

teardown_file() {
	s3rver_stop "$BATS_FILE_TMPDIR/s3"
}

setup() {
	export MVM_HOME="$HOME_A"
	export MVM_STORE_URL="s3://mvmtest/t$BATS_TEST_NUMBER"
	export MVM_CEILING_DIRECTORIES="$BATS_FILE_TMPDIR"
	export HOME_B="$BATS_TEST_TMPDIR/home-b"
	mkdir -p "$HOME_B" && chmod 700 "$HOME_B"
	unset MVM_TRUSTED_KEYS MVM_STORE_RATE_LIMIT
	cd "$BATS_TEST_TMPDIR" || return 1
}

teardown() {
	local f pid
	for f in "$HOME_B"/vms/*/vm.json; do
		[ -e "$f" ] || continue
		for pid in $(jq -r '.shim_pid // empty, .vmm_pid // empty' "$f"); do
			kill -9 "$pid" 2>/dev/null || true
		done
	done
}

# stored PREFIX: how many objects the server has stored under the test's prefix
# and PREFIX (its own log, one line per PUT it kept).
stored() {
	grep -c "Stored object \"t$BATS_TEST_NUMBER/$1" "$S3LOG" || true
}

# object KEY: the server's file of an object under the test's prefix.
object() {
	printf '%s' "$S3DATA/mvmtest/t$BATS_TEST_NUMBER/$1._S3rver_object"
}

# channel NAME: the payload of the channel's signed document in the store.
channel() {
	jq -r .payload "$(object "channels/$1")" | base64 -d
}

current_of() { # current_of HOME PROJECT_DIR
	readlink "$1/templates/$(slot_of "$2/mvm.toml")/current" | sed 's|.*/||'
}

@test "key generate writes a 0600 Ed25519 key and its public line; a second one is refused" {
	export MVM_HOME="$BATS_TEST_TMPDIR/home-k"
	mkdir -p "$MVM_HOME" && chmod 700 "$MVM_HOME"
	run --separate-stderr "$MVMCTL" key generate
	[ "$status" -eq 0 ]
	[[ $output =~ ^ed25519:[A-Za-z0-9+/]{43}=$ ]]
	assert_mode "$MVM_HOME/keys/signing.key" 600
	assert_mode "$MVM_HOME/keys" 700
	grep -q 'BEGIN PRIVATE KEY' "$MVM_HOME/keys/signing.key"
	assert_eq "$output" "$(cat "$MVM_HOME/keys/signing.key.pub")"
	# the private key is never printed
	[[ $output$stderr != *"$(sed -n 2p "$MVM_HOME/keys/signing.key")"* ]]
	run "$MVMCTL" key show
	[ "$status" -eq 0 ]
	assert_eq "$(cat "$MVM_HOME/keys/signing.key.pub")" "$output"
	run --separate-stderr "$MVMCTL" key generate
	[ "$status" -eq 5 ]
	assert_eq "mvmctl: error: a signing key already exists at '$MVM_HOME/keys/signing.key'" \
		"$(head -1 <<<"$stderr")"
}

@test "push, then pull into a second MVM_HOME with the trusted key, verify it and boot it" {
	run --separate-stderr "$MVMCTL" manifest push "$PROJ"
	[ "$status" -eq 0 ]
	rev=$output
	assert_eq "$(current_of "$HOME_A" "$PROJ")" "$rev"
	assert_contains "$stderr" "pushed revision ${rev:0:12} to $MVM_STORE_URL: 5 of 5 files uploaded"
	assert_contains "$stderr" "channel hello -> ${rev:0:12}"
	# every artifact once by its sha256, the signed document, the channel
	assert_eq 5 "$(stored blobs/sha256/)"
	assert_eq 1 "$(stored "revisions/$rev.json")"
	assert_eq 1 "$(stored channels/hello)"
	channel hello | jq -e --arg r "$rev" '.revision == $r and .channel == "hello" and .sequence == 1'

	export MVM_HOME="$HOME_B" MVM_TRUSTED_KEYS="$PUB"
	run --separate-stderr "$MVMCTL" manifest pull hello ./openclaw
	[ "$status" -eq 0 ]
	assert_eq "$BATS_TEST_TMPDIR/openclaw/mvm.toml" "$output"
	assert_contains "$stderr" "pulled revision ${rev:0:12}: 5 files"
	cmp "$PROJ/mvm.toml" openclaw/mvm.toml
	assert_eq "$rev" "$(current_of "$HOME_B" openclaw)"
	slot="$HOME_B/templates/$(slot_of openclaw/mvm.toml)"
	assert_mode "$slot/artifacts/revisions/$rev/rootfs.ext4" 600
	jq -e '.provenance.pulled_from == env.MVM_STORE_URL' "$slot/manifest.json"
	# nothing left behind: no partial downloads, no staging directories
	[ -z "$(ls -A "$HOME_B/tmp/pull-partial")" ]
	[ -z "$(find "$HOME_B/tmp" -mindepth 1 -maxdepth 1 -name '*-stage-*')" ]
	run --separate-stderr "$MVMCTL" manifest verify openclaw --check-signature
	[ "$status" -eq 0 ]
	assert_contains "$stderr" "revision $rev: signed by trusted key"
	# no nix on the target's path: up boots what was pulled
	PATH=/usr/bin:/bin run --separate-stderr "$MVMCTL" up -d --name pulled openclaw
	[ "$status" -eq 0 ]
	run "$MVMCTL" exec pulled -- cat /etc/hostname
	[ "$status" -eq 0 ]
	assert_eq pulled "$output"
	"$MVMCTL" down pulled 2>/dev/null
}

@test "a second push of an unchanged revision uploads nothing; a pull of a present revision downloads nothing" {
	"$MVMCTL" manifest push "$PROJ" >/dev/null 2>&1
	assert_eq 5 "$(stored blobs/)"
	run --separate-stderr "$MVMCTL" manifest push "$PROJ" --json
	[ "$status" -eq 0 ]
	assert_eq 5 "$(stored blobs/)"
	jq -e '.files == 5 and .uploaded_files == 0 and .uploaded_bytes == 0' <<<"$output"

	export MVM_HOME="$HOME_B" MVM_TRUSTED_KEYS="$PUB"
	"$MVMCTL" manifest pull hello app >/dev/null 2>&1
	run --separate-stderr "$MVMCTL" manifest pull hello app --json
	[ "$status" -eq 0 ]
	jq -e '.already_present and .downloaded_bytes == 0 and .downloaded_files == 0' <<<"$output"
}

@test "pull refuses an unsigned or untrusted revision (exit 5) unless --insecure-skip-signature" {
	rev=$("$MVMCTL" manifest push "$PROJ" 2>/dev/null)
	export MVM_HOME="$HOME_B"
	# no trusted keys at all (by hash: a channel's own signature is checked first)
	run --separate-stderr "$MVMCTL" manifest pull "$rev" app
	[ "$status" -eq 5 ]
	assert_eq "mvmctl: error: revision $rev in $MVM_STORE_URL is signed, but no trusted keys are configured to check it against" \
		"$(head -1 <<<"$stderr")"
	[ ! -e app/mvm.toml ]
	# another key: not the publisher's
	other=$(MVM_HOME="$BATS_TEST_TMPDIR/home-o" bash -c 'mkdir -m 700 "$MVM_HOME" && "$0" key generate 2>/dev/null' "$MVMCTL")
	MVM_TRUSTED_KEYS="$other" run --separate-stderr "$MVMCTL" manifest pull "$rev" app
	[ "$status" -eq 5 ]
	assert_eq "mvmctl: error: revision $rev in $MVM_STORE_URL is not signed by any trusted key (signature check failed)" \
		"$(head -1 <<<"$stderr")"
	# the publisher's key, but a document changed after signing (vcpus 1 -> 8)
	env=$(object "revisions/$rev.json")
	payload=$(jq -r .payload "$env" | base64 -d | jq -c '.record.vcpus = 8' | base64 -w0)
	jq --arg p "$payload" '.payload = $p' "$env" >"$env.new" && mv "$env.new" "$env"
	MVM_TRUSTED_KEYS="$PUB" run --separate-stderr "$MVMCTL" manifest pull hello app
	[ "$status" -eq 5 ]
	assert_contains "$stderr" "is not signed by any trusted key (signature check failed)"
	[ ! -e "$HOME_B/templates" ] || [ -z "$(ls -A "$HOME_B/templates")" ]
	# unsigned: the signatures stripped
	jq '.signatures = []' "$env" >"$env.new" && mv "$env.new" "$env"
	MVM_TRUSTED_KEYS="$PUB" run --separate-stderr "$MVMCTL" manifest pull hello app
	[ "$status" -eq 5 ]
	assert_eq "mvmctl: error: revision $rev in $MVM_STORE_URL is not signed" "$(head -1 <<<"$stderr")"
	assert_eq "hint: trust the publisher's key with [store] trusted_keys = [\"ed25519:…\"] in config.toml (or MVM_TRUSTED_KEYS), or pass --insecure-skip-signature" \
		"$(sed -n 2p <<<"$stderr")"
	# accepted when asked to skip the check, with a warning
	run --separate-stderr "$MVMCTL" manifest pull hello app --insecure-skip-signature
	[ "$status" -eq 0 ]
	assert_contains "$stderr" "warning: channel hello was not checked against a trusted key"
	assert_contains "$stderr" "warning: revision ${rev:0:12} was not checked against a trusted key"
	jq -e '.vcpus == 8' "$HOME_B/templates/$(slot_of app/mvm.toml)/manifest.json"
	# and verify --check-signature says the same of the local copy
	MVM_TRUSTED_KEYS="$PUB" run --separate-stderr "$MVMCTL" manifest verify app --check-signature
	[ "$status" -eq 5 ]
	assert_contains "$stderr" "revision $rev is not signed"
	MVM_TRUSTED_KEYS="$PUB" run "$MVMCTL" manifest verify app --check-signature --insecure-skip-signature
	[ "$status" -eq 0 ]
}

@test "trusted keys come from [store] trusted_keys in config.toml too" {
	"$MVMCTL" manifest push "$PROJ" >/dev/null 2>&1
	export MVM_HOME="$HOME_B"
	printf '[store]\nurl = "%s"\ntrusted_keys = ["%s"]\n' "$MVM_STORE_URL" "$PUB" >"$HOME_B/config.toml"
	unset MVM_STORE_URL
	run --separate-stderr "$MVMCTL" manifest pull hello app
	[ "$status" -eq 0 ]
	assert_contains "$stderr" "signed by trusted key"
}

@test "a flipped byte in a stored object is refused at pull, naming the file, and nothing is registered" {
	rev=$("$MVMCTL" manifest push "$PROJ" 2>/dev/null)
	sha=$(jq -r '.files["rootfs.ext4"].sha256' "$HOME_A/templates/$(slot_of "$PROJ/mvm.toml")/artifacts/revisions/$rev/checksums.json")
	blob=$(object "blobs/sha256/$sha")
	byte=$(dd if="$blob" bs=1 skip=4096 count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
	printf "$(printf '\\%03o' $(((byte + 1) % 256)))" | dd of="$blob" bs=1 seek=4096 conv=notrunc 2>/dev/null
	export MVM_HOME="$HOME_B" MVM_TRUSTED_KEYS="$PUB"
	run --separate-stderr "$MVMCTL" manifest pull hello app
	[ "$status" -eq 1 ]
	assert_contains "$(head -1 <<<"$stderr")" "mvmctl: error: pulled file 'rootfs.ext4' of revision $rev does not match its sha256 (expected $sha, got "
	assert_contains "$stderr" "nothing was registered"
	[ ! -e app/mvm.toml ]
	[ -z "$(find "$HOME_B/templates" -name current 2>/dev/null)" ]
}

@test "a pull killed midway resumes where it stopped (ranged GET)" {
	rev=$("$MVMCTL" manifest push "$PROJ" 2>/dev/null)
	sums="$HOME_A/templates/$(slot_of "$PROJ/mvm.toml")/artifacts/revisions/$rev/checksums.json"
	sha=$(jq -r '.files.vmlinux.sha256' "$sums")
	size=$(jq -r '.files.vmlinux.size' "$sums")
	export MVM_HOME="$HOME_B" MVM_TRUSTED_KEYS="$PUB"
	MVM_STORE_RATE_LIMIT=4000000 "$MVMCTL" manifest pull hello app 2>/dev/null &
	pid=$!
	part="$HOME_B/tmp/pull-partial/$sha"
	for ((i = 0; i < 600; i++)); do
		[ "$(stat -c %s "$part" 2>/dev/null || echo 0)" -gt 4000000 ] && break
		sleep 0.05
	done
	kill -9 "$pid"
	wait "$pid" || true
	have=$(stat -c %s "$part")
	[ "$have" -gt 4000000 ] && [ "$have" -lt "$size" ]
	[ ! -e app/mvm.toml ]
	run --separate-stderr "$MVMCTL" manifest pull hello app --json
	[ "$status" -eq 0 ]
	assert_contains "$stderr" "resuming vmlinux at byte "
	jq -e '.resumed_files == 1' <<<"$output"
	jq -e --argjson have "$have" '.downloaded_bytes <= .total_bytes - $have' <<<"$output"
	assert_eq "$rev" "$(current_of "$HOME_B" app)"
	run "$MVMCTL" manifest verify app
	[ "$status" -eq 0 ]
	[ ! -e "$part" ]
}

@test "wrong or missing credentials and no store are clear errors with their exit status" {
	AWS_ACCESS_KEY_ID=WRONG run --separate-stderr "$MVMCTL" manifest push "$PROJ"
	[ "$status" -eq 1 ]
	# push asks with HEAD first: an answer without a body
	assert_eq "mvmctl: error: store $MVM_STORE_URL refused the credentials of AWS_ACCESS_KEY_ID 'WRONG' (HTTP 403)" \
		"$(head -1 <<<"$stderr")"
	assert_eq "hint: check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN for this store" \
		"$(sed -n 2p <<<"$stderr")"
	assert_eq 0 "$(stored blobs/)"
	# a GET's error body is shown; the secret never appears
	AWS_SECRET_ACCESS_KEY=hunter2-secret AWS_ACCESS_KEY_ID=WRONG run --separate-stderr "$MVMCTL" manifest pull hello app
	[ "$status" -eq 1 ]
	assert_eq "mvmctl: error: store $MVM_STORE_URL refused the credentials of AWS_ACCESS_KEY_ID 'WRONG' (HTTP 403 InvalidAccessKeyId: The AWS Access Key Id you provided does not exist in our records.)" \
		"$(head -1 <<<"$stderr")"
	[[ $output$stderr != *hunter2* ]]
	run --separate-stderr env -u AWS_SECRET_ACCESS_KEY "$MVMCTL" manifest push "$PROJ"
	[ "$status" -eq 3 ]
	assert_eq "mvmctl: error: no credentials for the store $MVM_STORE_URL: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must both be set" \
		"$(head -1 <<<"$stderr")"
	run --separate-stderr env -u MVM_STORE_URL "$MVMCTL" manifest pull hello app
	[ "$status" -eq 3 ]
	assert_eq "mvmctl: error: no store is configured" "$(head -1 <<<"$stderr")"
	# a push that cannot sign uploads nothing
	MVM_SIGNING_KEY="$BATS_TEST_TMPDIR/none.key" run --separate-stderr "$MVMCTL" manifest push "$PROJ"
	[ "$status" -eq 4 ]
	assert_eq "mvmctl: error: no signing key at '$BATS_TEST_TMPDIR/none.key'" "$(head -1 <<<"$stderr")"
	assert_eq "hint: make one with 'mvmctl key generate' (push signs every revision)" \
		"$(sed -n 2p <<<"$stderr")"
	assert_eq 0 "$(stored blobs/)"
	MVM_STORE_URL=https://example.com/x run --separate-stderr "$MVMCTL" manifest pull hello app
	[ "$status" -eq 3 ]
	assert_eq "mvmctl: error: store url 'https://example.com/x' does not start with s3:// (expected \"s3://bucket/prefix\")" \
		"$(head -1 <<<"$stderr")"
	run --separate-stderr "$MVMCTL" manifest pull nosuch app
	[ "$status" -eq 4 ]
	assert_eq "mvmctl: error: store $MVM_STORE_URL has no channel 'nosuch'" "$(head -1 <<<"$stderr")"
}

@test "a push moves the channel; two revisions share their kernel in the store; pull by hash" {
	rev1=$("$MVMCTL" manifest push "$PROJ" 2>/dev/null)
	proj2="$BATS_TEST_TMPDIR/hello2"
	cp -r "$PROJ" "$proj2"
	sed -i 's/hello from the mvm fixture/hello from revision two/' "$proj2/flake.nix"
	"$MVMCTL" build "$proj2" 2>/dev/null
	run --separate-stderr "$MVMCTL" manifest push "$proj2" --json
	[ "$status" -eq 0 ]
	rev2=$(jq -r .revision <<<"$output")
	[ "$rev1" != "$rev2" ]
	# vmlinux and initrd.img are the same files: not uploaded again
	jq -e '.channel == "hello" and .channel_sequence == 2 and .uploaded_files < .files' <<<"$output"
	channel hello | jq -e --arg r "$rev2" '.revision == $r and .sequence == 2'
	assert_eq 2 "$(stored channels/hello)"
	export MVM_HOME="$HOME_B" MVM_TRUSTED_KEYS="$PUB"
	run --separate-stderr "$MVMCTL" manifest pull hello app --json
	[ "$status" -eq 0 ]
	jq -e '.channel_sequence == 2' <<<"$output"
	assert_eq "$rev2" "$(current_of "$HOME_B" app)"
	# the older revision by its hash, into the same directory: the manifest is the same,
	# and the files it shares with the one already here are copied, not downloaded
	run --separate-stderr "$MVMCTL" manifest pull "$rev1" app --json
	[ "$status" -eq 0 ]
	assert_eq "$rev1" "$(current_of "$HOME_B" app)"
	jq -e '.reused_files >= 2 and .downloaded_files == .files - .reused_files' <<<"$output"
	jq -e '.downloaded_bytes < .total_bytes / 2' <<<"$output"
	run "$MVMCTL" manifest verify app
	[ "$status" -eq 0 ]
	# --channel moves another channel
	export MVM_HOME="$HOME_A"
	run --separate-stderr "$MVMCTL" manifest push "$PROJ" --channel stable
	[ "$status" -eq 0 ]
	assert_contains "$stderr" "channel stable -> ${rev1:0:12} (sequence 1)"
	channel stable | jq -e --arg r "$rev1" '.revision == $r and .channel == "stable"'
	# a DIR holding another manifest is refused
	export MVM_HOME="$HOME_B"
	printf 'vcpus = 2\n' >other.toml && mkdir -p busy && mv other.toml busy/mvm.toml
	run --separate-stderr "$MVMCTL" manifest pull stable busy
	[ "$status" -eq 5 ]
	assert_eq "mvmctl: error: $BATS_TEST_TMPDIR/busy/mvm.toml exists and is not the manifest of revision ${rev1:0:12}" \
		"$(head -1 <<<"$stderr")"
	mkdir -p mvmfile && printf 'vcpus = 1\n' >mvmfile/Mvmfile.toml
	run --separate-stderr "$MVMCTL" manifest pull stable mvmfile
	[ "$status" -eq 5 ]
	assert_eq "mvmctl: error: $BATS_TEST_TMPDIR/mvmfile holds Mvmfile.toml; pull writes mvm.toml, and a directory may hold only one of them" \
		"$(head -1 <<<"$stderr")"
	[ ! -e mvmfile/mvm.toml ]
	# --force overwrites a different mvm.toml
	run "$MVMCTL" manifest pull stable busy --force
	[ "$status" -eq 0 ]
	cmp "$PROJ/mvm.toml" busy/mvm.toml
}

@test "a channel is signed: forged, unsigned, replayed older, or another channel's document is refused" {
	rev=$("$MVMCTL" manifest push "$PROJ" 2>/dev/null)
	ch=$(object channels/hello)
	jq -e '.payloadType == "application/vnd.mvm.channel+json" and (.signatures | length) == 1' "$ch"
	channel hello | jq -e --arg r "$rev" '.kind == "mvm-channel" and .channel == "hello" and .revision == $r and .sequence == 1'
	cp "$ch" seq1.json
	# the same revision pushed again moves the channel on: sequence 2
	run --separate-stderr "$MVMCTL" manifest push "$PROJ" --json
	[ "$status" -eq 0 ]
	jq -e '.channel_sequence == 2' <<<"$output"
	cp "$ch" seq2.json
	export MVM_HOME="$HOME_B" MVM_TRUSTED_KEYS="$PUB"
	run --separate-stderr "$MVMCTL" manifest pull hello app --json
	[ "$status" -eq 0 ]
	jq -e '.channel_sequence == 2' <<<"$output"
	# what this home has seen, per store and channel
	state="$HOME_B/channels/$(printf %s "$MVM_STORE_URL" | sha256sum | cut -c1-16)/hello.json"
	assert_mode "$state" 600
	assert_mode "$(dirname "$state")" 700
	jq -e '.sequence == 2 and .channel == "hello" and .store == env.MVM_STORE_URL' "$state"

	# replayed: the older, validly signed document put back
	cp seq1.json "$ch"
	run --separate-stderr "$MVMCTL" manifest pull hello app
	[ "$status" -eq 5 ]
	assert_eq "mvmctl: error: channel 'hello' in $MVM_STORE_URL is at sequence 1, below sequence 2 seen here before: refused as a rollback" \
		"$(head -1 <<<"$stderr")"
	assert_contains "$(sed -n 2p <<<"$stderr")" "remove $state"
	# skipping signatures does not skip the rollback check
	run --separate-stderr "$MVMCTL" manifest pull hello app --insecure-skip-signature
	[ "$status" -eq 5 ]
	assert_contains "$stderr" "refused as a rollback"
	# a home that never saw sequence 2 takes the first it sees (trust on first use)
	mkdir -m 700 "$BATS_TEST_TMPDIR/home-c"
	MVM_HOME="$BATS_TEST_TMPDIR/home-c" run --separate-stderr "$MVMCTL" manifest pull hello app-c --json
	[ "$status" -eq 0 ]
	jq -e '.channel_sequence == 1' <<<"$output"

	# forged: the sequence raised after signing
	payload=$(jq -r .payload seq2.json | base64 -d | jq -c '.sequence = 99' | base64 -w0)
	jq --arg p "$payload" '.payload = $p' seq2.json >"$ch"
	run --separate-stderr "$MVMCTL" manifest pull hello app
	[ "$status" -eq 5 ]
	assert_eq "mvmctl: error: channel 'hello' in $MVM_STORE_URL is not signed by any trusted key (signature check failed)" \
		"$(head -1 <<<"$stderr")"
	# accepted with --insecure-skip-signature, with a warning, and not remembered
	run --separate-stderr "$MVMCTL" manifest pull hello app --insecure-skip-signature --json
	[ "$status" -eq 0 ]
	jq -e '.channel_sequence == 99' <<<"$output"
	assert_contains "$stderr" "warning: channel hello was not checked against a trusted key"
	jq -e '.sequence == 2' "$state"
	# unsigned: the signatures stripped, or a plain pointer as before channels were signed
	jq '.signatures = []' seq2.json >"$ch"
	run --separate-stderr "$MVMCTL" manifest pull hello app
	[ "$status" -eq 5 ]
	assert_eq "mvmctl: error: channel 'hello' in $MVM_STORE_URL is not signed" "$(head -1 <<<"$stderr")"
	printf '{"schema_version":1,"revision":"%s"}' "$rev" >"$ch"
	run --separate-stderr "$MVMCTL" manifest pull hello app
	[ "$status" -eq 5 ]
	assert_eq "mvmctl: error: channel 'hello' in $MVM_STORE_URL is not signed (a plain pointer, as written before channels were signed)" \
		"$(head -1 <<<"$stderr")"
	# a revision's envelope is not a channel's (DSSE signs the payload type)
	cp "$(object "revisions/$rev.json")" "$ch"
	run --separate-stderr "$MVMCTL" manifest pull hello app
	[ "$status" -eq 1 ]
	assert_eq "mvmctl: error: channel 'hello' in $MVM_STORE_URL is not a DSSE envelope of type application/vnd.mvm.channel+json" \
		"$(head -1 <<<"$stderr")"

	# another channel's signed document copied over this one
	MVM_HOME="$HOME_A" "$MVMCTL" manifest push "$PROJ" --channel stable >/dev/null 2>&1
	cp "$(object channels/stable)" "$ch"
	run --separate-stderr "$MVMCTL" manifest pull hello app
	[ "$status" -eq 5 ]
	assert_eq "mvmctl: error: channel 'hello' in $MVM_STORE_URL holds the signed document of channel 'stable' (sequence 1); refused" \
		"$(head -1 <<<"$stderr")"
	jq -e '.sequence == 2' "$state"

	# the publisher moves it again: past what it pushed before, whatever the store holds now
	run --separate-stderr env MVM_HOME="$HOME_A" "$MVMCTL" manifest push "$PROJ" --json
	[ "$status" -eq 0 ]
	jq -e '.channel_sequence == 3' <<<"$output"
	run --separate-stderr "$MVMCTL" manifest pull hello app --json
	[ "$status" -eq 0 ]
	jq -e --arg r "$rev" '.channel_sequence == 3 and .revision == $r' <<<"$output"
	jq -e '.sequence == 3' "$state"
}

@test "a file above the multipart threshold goes up in parts, one below it in one PUT; both come down whole" {
	sums="$HOME_A/templates/$(slot_of "$PROJ/mvm.toml")/artifacts/revisions/$(current_of "$HOME_A" "$PROJ")/checksums.json"
	sha=$(jq -r '.files.vmlinux.sha256' "$sums")
	size=$(jq -r '.files.vmlinux.size' "$sums")
	stored_parts() { grep -c "Stored part .* in bucket" "$S3LOG" || true; }
	# below the threshold (default 512 MiB) one PUT, whatever the part size
	before=$(stored_parts)
	MVM_STORE_URL="$MVM_STORE_URL-one" MVM_STORE_PART_SIZE=8388608 run --separate-stderr "$MVMCTL" manifest push "$PROJ"
	[ "$status" -eq 0 ]
	assert_eq "$before" "$(stored_parts)"
	# above it: the server stored each file above 8 MiB (vmlinux, rootfs.ext4) in
	# ceil(size / 8 MiB) parts, each part once, then the object once
	MVM_STORE_MULTIPART_THRESHOLD=8388608 MVM_STORE_PART_SIZE=8388608 run --separate-stderr "$MVMCTL" manifest push "$PROJ"
	[ "$status" -eq 0 ]
	want=$(jq '[.files[].size | select(. > 8388608) | (. + 8388607) / 8388608 | floor] | add' "$sums")
	[ "$want" -ge $(((size + 8388607) / 8388608)) ]
	assert_eq "$want" $(($(stored_parts) - before))
	assert_eq 1 "$(stored "blobs/sha256/$sha")"
	assert_eq "$size" "$(stat -c %s "$(object "blobs/sha256/$sha")")"
	cmp "$(object "blobs/sha256/$sha")" "$(dirname "$sums")/vmlinux"
	export MVM_HOME="$HOME_B" MVM_TRUSTED_KEYS="$PUB"
	run "$MVMCTL" manifest pull hello app
	[ "$status" -eq 0 ]
	run "$MVMCTL" manifest verify app --check-signature
	[ "$status" -eq 0 ]
	run --separate-stderr env MVM_HOME="$HOME_A" MVM_STORE_PART_SIZE=1000 "$MVMCTL" manifest push "$PROJ"
	[ "$status" -eq 3 ]
	assert_eq "mvmctl: error: MVM_STORE_PART_SIZE '1000' is not a number of bytes from 5242880 (5 MiB) to 5 GiB" \
		"$(head -1 <<<"$stderr")"
	run --separate-stderr env MVM_HOME="$HOME_A" MVM_STORE_MULTIPART_THRESHOLD=6G "$MVMCTL" manifest push "$PROJ"
	[ "$status" -eq 3 ]
	assert_eq "mvmctl: error: MVM_STORE_MULTIPART_THRESHOLD '6G' is not a number of bytes from 5242880 (5 MiB) to 5 GiB" \
		"$(head -1 <<<"$stderr")"
}

@test "a snapshot travels with its revision, stays sparse, and the target restores it" {
	snap="$BATS_TEST_TMPDIR/snap"
	cp -r "$PROJ" "$snap"
	sed -i 's/^name = .*/name = "snap"/' "$snap/mvm.toml"
	"$MVMCTL" build --snapshot "$snap" 2>/dev/null
	run --separate-stderr "$MVMCTL" manifest push "$snap" --json
	[ "$status" -eq 0 ]
	jq -e '.files == 8' <<<"$output"
	export MVM_HOME="$HOME_B" MVM_TRUSTED_KEYS="$PUB"
	run "$MVMCTL" manifest pull snap app
	[ "$status" -eq 0 ]
	mem="$HOME_B/templates/$(slot_of app/mvm.toml)/current/snapshot/mem"
	[ "$(stat -c %s "$mem")" -eq 268435456 ]
	[ "$(du -k "$mem" | cut -f1)" -lt 200000 ]
	run --separate-stderr "$MVMCTL" up -d --name snapped app
	[ "$status" -eq 0 ]
	assert_contains "$stderr" "(restored from the snapshot)"
	run "$MVMCTL" exec snapped -- cat /etc/hostname
	[ "$status" -eq 0 ]
	assert_eq snapped "$output"
	"$MVMCTL" down snapped 2>/dev/null
}

@test "a push killed during a multipart upload continues after the parts it finished" {
	sums="$HOME_A/templates/$(slot_of "$PROJ/mvm.toml")/artifacts/revisions/$(current_of "$HOME_A" "$PROJ")/checksums.json"
	sha=$(jq -r '.files.vmlinux.sha256' "$sums")
	state="$HOME_A/tmp/push-partial/$sha.json"
	export MVM_STORE_PART_SIZE=5242880 MVM_STORE_MULTIPART_THRESHOLD=5242880
	MVM_STORE_RATE_LIMIT=8000000 "$MVMCTL" manifest push "$PROJ" 2>/dev/null &
	pid=$!
	for ((i = 0; i < 600; i++)); do
		[ "$(jq '.etags | length' "$state" 2>/dev/null || echo 0)" -ge 3 ] && break
		sleep 0.05
	done
	kill -9 "$pid"
	wait "$pid" || true
	done=$(jq '.etags | length' "$state")
	[ "$done" -ge 3 ]
	id=$(jq -r .upload_id "$state")
	run --separate-stderr "$MVMCTL" manifest push "$PROJ" --json
	[ "$status" -eq 0 ]
	assert_contains "$stderr" "continuing the upload of blobs/sha256/$sha after $done of 11 parts"
	jq -e --argjson d "$done" '.resumed_parts == $d' <<<"$output"
	# each part of that upload went to the server once
	for ((n = 1; n <= done; n++)); do
		assert_eq 1 "$(grep -c "Stored part $n of $id in bucket" "$S3LOG")"
	done
	[ ! -e "$state" ]
	export MVM_HOME="$HOME_B" MVM_TRUSTED_KEYS="$PUB"
	run "$MVMCTL" manifest pull hello app
	[ "$status" -eq 0 ]
	run "$MVMCTL" manifest verify app
	[ "$status" -eq 0 ]
}

@test "progress is shown on a TTY only, one line rewritten in place" {
	"$MVMCTL" manifest push "$PROJ" >/dev/null 2>&1
	export MVM_HOME="$HOME_B" MVM_TRUSTED_KEYS="$PUB"
	run --separate-stderr "$MVMCTL" manifest pull hello plain
	[ "$status" -eq 0 ]
	[[ $stderr != *$'\r'* ]]
	[[ $stderr != *"/50.8 MiB"* ]]
	TERM=xterm script -qec "$MVMCTL manifest pull hello tty" /dev/null >"$BATS_TEST_TMPDIR/tty.out"
	assert_contains "$(cat "$BATS_TEST_TMPDIR/tty.out")" $'\r\033[Kvmlinux '
	assert_contains "$(cat "$BATS_TEST_TMPDIR/tty.out")" "/50.8 MiB"
	NO_COLOR=1 TERM=xterm script -qec "$MVMCTL manifest pull hello tty2" /dev/null >"$BATS_TEST_TMPDIR/tty2.out"
	! grep -q '/50.8 MiB' "$BATS_TEST_TMPDIR/tty2.out"
}
