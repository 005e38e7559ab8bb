#!/usr/bin/env bash
# manifest push / pull of a 256 MiB revision (issue 17) against the server's
# own bare PUT / GET of the same bytes with curl (SigV4 too), against s3rver on
# 127.0.0.1 (scripts/install-deps.sh installs it). The revision is the hello
# fixture built offline whose rootfs.ext4 is replaced by 256 MiB of random
# bytes (checksums.json rewritten to match). Medians of N runs, and the ratios.
#
#   N=3 bench/store.sh        (target: both ratios <= 1.2)
#   MULTIPART=1 N=3 bench/store.sh
#       the multipart path: MVM_STORE_MULTIPART_THRESHOLD=64 MiB, so the 256 MiB file
#       goes up in 4 parts of 64 MiB (part_size); the floor is then curl doing the same
#       upload (CreateMultipartUpload, the 4 parts, pre-split, sent at once, Complete)
#       (by default the threshold is 512 MiB: each file goes up in one PUT)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
MVM_BUILD=${MVM_BUILD:-$root/build}
MVMCTL="$MVM_BUILD/mvmctl"
S3RVER=${MVM_S3RVER:-/opt/mvm-test/s3rver/node_modules/.bin/s3rver}
N=${N:-3}
SIZE_MIB=${SIZE_MIB:-256}
export MVM_DATADIR=${MVM_DATADIR:-$root/share} MVM_LIBEXEC=${MVM_LIBEXEC:-$MVM_BUILD}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mvm-bench-store.XXXXXX")
s3pid=
cleanup() {
	[ -n "$s3pid" ] && kill "$s3pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
now() { date +%s.%N; }
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

mkdir -p "$tmp/s3"
"$S3RVER" -d "$tmp/s3" -a 127.0.0.1 -p 0 -s --configure-bucket bench >"$tmp/s3.log" 2>&1 &
s3pid=$!
port=
for _ in $(seq 200); do
	port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/s3.log")
	[ -n "$port" ] && break
	sleep 0.05
done
[ -n "$port" ] || { echo "s3rver did not start" >&2 && exit 1; }
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
export MVM_OFFLINE=1 MVM_ACCEL=tcg
"$root/scripts/standin-nixpkgs.sh" "$tmp/standin" >/dev/null
export MVM_OVERRIDE_INPUTS="nixpkgs=path:$tmp/standin"
export MVM_HOME="$tmp/a"
mkdir -m 700 "$MVM_HOME"
cp -r "$root/tests/fixtures/hello" "$tmp/proj"
"$MVMCTL" build -q "$tmp/proj" >/dev/null 2>&1
slot=$(printf %s "$(realpath "$tmp/proj/mvm.toml")" | sha256sum | cut -d' ' -f1)
rev=$(readlink "$MVM_HOME/templates/$slot/current" | sed 's|.*/||')
revdir="$MVM_HOME/templates/$slot/artifacts/revisions/$rev"
head -c $((SIZE_MIB << 20)) /dev/urandom >"$revdir/rootfs.ext4"
sha=$(sha256sum "$revdir/rootfs.ext4" | cut -d' ' -f1)
jq --arg s "$sha" --argjson n $((SIZE_MIB << 20)) \
	'.files["rootfs.ext4"] = {sha256: $s, size: $n}' "$revdir/checksums.json" >"$tmp/c.json"
cp "$tmp/c.json" "$revdir/checksums.json"
PUB=$("$MVMCTL" key generate 2>/dev/null)
files=$(jq -r '.files | keys[]' "$revdir/checksums.json")
total=$(du -cb $(for f in $files; do echo "$revdir/$f"; done) | tail -1 | cut -f1)

curl_s3() { curl -sS -f --aws-sigv4 "aws:amz:us-east-1:s3" -u S3RVER:S3RVER \
	-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"; }

PART=$((64 << 20))
MULTIPART=${MULTIPART:-0}
[ "$MULTIPART" = 1 ] && export MVM_STORE_MULTIPART_THRESHOLD=$PART MVM_STORE_PART_SIZE=$PART
# the floor of a multipart upload: parts pre-split (untimed) into $tmp/parts/<file>.<n>
mkdir -p "$tmp/parts"
for f in $files; do
	if [ "$MULTIPART" = 1 ] && [ "$(stat -c %s "$revdir/$f")" -gt $PART ]; then
		split -b $PART -d -a 3 "$revdir/$f" "$tmp/parts/${f//\//_}."
	fi
done
put_bare() { # put_bare FILE URL: one PUT, or the multipart upload curl would do
	local f=$1 url=$2 id n xml=
	local parts=("$tmp/parts/${f//\//_}."*)
	if [ ! -e "${parts[0]}" ]; then
		curl_s3 -o /dev/null -T "$revdir/$f" "$url"
		return
	fi
	id=$(curl_s3 -X POST "$url?uploads" | sed -n 's:.*<UploadId>\(.*\)</UploadId>.*:\1:p')
	local pids=()
	for n in "${!parts[@]}"; do
		curl_s3 -o /dev/null -D "$tmp/h$n" -T "${parts[$n]}" \
			"$url?partNumber=$((n + 1))&uploadId=$id" &
		pids+=($!)
	done
	wait "${pids[@]}"
	for n in "${!parts[@]}"; do
		xml+="<Part><PartNumber>$((n + 1))</PartNumber><ETag>$(sed -n 's/^[Ee][Tt]ag: *\([^\r]*\).*/\1/p' "$tmp/h$n")</ETag></Part>"
	done
	curl_s3 -o /dev/null -X POST --data-binary "<CompleteMultipartUpload>$xml</CompleteMultipartUpload>" \
		"$url?uploadId=$id"
}

push=() put=() pull=() get=()
for i in $(seq "$N"); do
	export MVM_STORE_URL="s3://bench/run$i"
	t0=$(now)
	MVM_HOME="$tmp/a" "$MVMCTL" manifest push -q "$tmp/proj" >/dev/null
	t1=$(now)
	for f in $files; do
		put_bare "$f" "$AWS_ENDPOINT_URL/bench/bare$i/$f"
	done
	t2=$(now)
	home="$tmp/b$i"
	mkdir -m 700 "$home"
	MVM_HOME="$home" MVM_TRUSTED_KEYS="$PUB" "$MVMCTL" manifest pull -q hello "$tmp/pulled$i" >/dev/null
	t3=$(now)
	mkdir -p "$tmp/got$i"
	for f in $files; do
		curl_s3 -o "$tmp/got$i/${f//\//_}" "$AWS_ENDPOINT_URL/bench/bare$i/$f"
	done
	sync
	t4=$(now)
	push+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')")
	put+=("$(awk -v a="$t1" -v b="$t2" 'BEGIN {print b - a}')")
	pull+=("$(awk -v a="$t2" -v b="$t3" 'BEGIN {print b - a}')")
	get+=("$(awk -v a="$t3" -v b="$t4" 'BEGIN {print b - a}')")
	rm -rf "$home" "$tmp/got$i" "$tmp/pulled$i"
done
p=$(printf '%s\n' "${push[@]}" | median)
u=$(printf '%s\n' "${put[@]}" | median)
l=$(printf '%s\n' "${pull[@]}" | median)
g=$(printf '%s\n' "${get[@]}" | median)
printf 'revision of %d MiB (%d files)%s\n' $((total >> 20)) "$(wc -w <<<"$files")" \
	"$([ "$MULTIPART" = 1 ] && echo ', files above 64 MiB in 64 MiB parts (MULTIPART=1)')"
printf 'push %.2f s   curl PUT %.2f s   ratio %s\n' "$p" "$u" "$(ratio "$p" "$u")"
printf 'pull %.2f s   curl GET %.2f s   ratio %s   (medians of %d)\n' "$l" "$g" "$(ratio "$l" "$g")" "$N"
