#!/usr/bin/env bats
# manifest push / pull against a server that checks SigV4 signatures, which s3rver
# (store.bats) does not: Swift's proxy with s3api and tempauth on 127.0.0.1
# (tests/e2e/swift_s3.sh; scripts/install-deps.sh installs it). A wrong *secret* is refused
# with the server's own code; the right one pushes and pulls (multipart and ranged GETs
# included), every request signed by libcurl's SigV4 and checked by the server.
bats_require_minimum_version 1.5.0
load build_helpers

setup_file() {
	if ! command -v swift-proxy-server memcached >/dev/null; then
		echo "no swift-proxy-server or memcached: run scripts/install-deps.sh" >&2
		return 1
	fi
	file_home_setup
	export HOME_A="$MVM_HOME" SWIFT="$BATS_FILE_TMPDIR/swift"
	local port tok=""
	port=$("$MVM_SRC/tests/e2e/swift_s3.sh" "$SWIFT") || return 1
	export PROJ="$BATS_FILE_TMPDIR/hello"
	cp -r "$MVM_SRC/tests/fixtures/hello" "$PROJ"
	"$MVMCTL" build "$PROJ" 2>/dev/null || return 1
	PUB=$("$MVMCTL" key generate 2>/dev/null) || return 1
	export PUB
	# the servers are python processes, slow to start on a loaded machine (16-24 s seen at
	# a load average of 4-9): 180 s in all for both waits; the bucket is a container made
	# through Swift's own API
	local deadline=$((SECONDS + 180))
	while ((SECONDS < deadline)); do
		tok=$(curl -s -m 5 -D - -o /dev/null -H 'X-Auth-User: test:tester' -H 'X-Auth-Key: testing' \
			"http://127.0.0.1:$port/auth/v1.0" | sed -n 's/^x-auth-token: *\([^\r]*\).*/\1/ip')
		[ -n "$tok" ] && break
		sleep 0.1
	done
	[ -n "$tok" ] || { tail -n 20 "$SWIFT"/log/*.log >&2 && return 1; }
	# the proxy hands out tokens itself; the container needs the account and container
	# servers, which may still be starting (503 meanwhile)
	local code=
	while ((SECONDS < deadline)); do
		code=$(curl -s -m 30 -o /dev/null -w '%{http_code}' -X PUT -H "X-Auth-Token: $tok" \
			"http://127.0.0.1:$port/v1/AUTH_test/mvmtest")
		[ "$code" = 201 ] || [ "$code" = 202 ] && break
		sleep 0.1
	done
	[ "$code" = 201 ] || [ "$code" = 202 ] || { tail -n 20 "$SWIFT"/log/*.log >&2 && return 1; }
	export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_REGION=us-east-1
	export AWS_ACCESS_KEY_ID=test:tester AWS_SECRET_ACCESS_KEY=testing
}

teardown_file() {
	local f
	for f in "$SWIFT"/run/*.pid; do
		[ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null
	done
	true
}

setup() {
	export MVM_HOME="$HOME_A" MVM_STORE_URL="s3://mvmtest/t$BATS_TEST_NUMBER"
	export MVM_CEILING_DIRECTORIES="$BATS_FILE_TMPDIR"
	cd "$BATS_TEST_TMPDIR" || return 1
}

@test "a wrong secret is refused by a server that checks signatures: exit 1, its code, the secret never shown" {
	AWS_SECRET_ACCESS_KEY=hunter2-secret run --separate-stderr "$MVMCTL" manifest push "$PROJ"
	[ "$status" -eq 1 ]
	# push asks with HEAD first: an answer without a body
	assert_eq "mvmctl: error: store $MVM_STORE_URL refused the credentials of AWS_ACCESS_KEY_ID 'test:tester' (HTTP 403)" \
		"$(head -1 <<<"$stderr")"
	assert_eq "hint: check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN for this store" \
		"$(sed -n 2p <<<"$stderr")"
	[[ $output$stderr != *hunter2* ]]
	AWS_SECRET_ACCESS_KEY=hunter2-secret run --separate-stderr "$MVMCTL" manifest pull hello app
	[ "$status" -eq 1 ]
	assert_eq "mvmctl: error: store $MVM_STORE_URL refused the credentials of AWS_ACCESS_KEY_ID 'test:tester' (HTTP 403 SignatureDoesNotMatch: The request signature we calculated does not match the signature you provided. Check your key and signing method.)" \
		"$(head -1 <<<"$stderr")"
	[[ $output$stderr != *hunter2* ]]
	[ ! -e app/mvm.toml ]
}

@test "with the right secret, push (multipart too) and pull through it, every request's signature checked" {
	run --separate-stderr env MVM_STORE_MULTIPART_THRESHOLD=8388608 MVM_STORE_PART_SIZE=8388608 \
		"$MVMCTL" manifest push "$PROJ" --json
	[ "$status" -eq 0 ]
	jq -e '.uploaded_files == 5 and .channel_sequence == 1' <<<"$output"
	rev=$(jq -r .revision <<<"$output")
	export MVM_HOME="$BATS_TEST_TMPDIR/home-b" MVM_TRUSTED_KEYS="$PUB"
	mkdir -m 700 "$MVM_HOME"
	run --separate-stderr "$MVMCTL" manifest pull hello app --json
	[ "$status" -eq 0 ]
	jq -e --arg r "$rev" '.revision == $r and .downloaded_files == 5' <<<"$output"
	run "$MVMCTL" manifest verify app --check-signature
	[ "$status" -eq 0 ]
}
