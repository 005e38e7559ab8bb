# A real S3-compatible server for the suites (s3rver, installed by
# scripts/install-deps.sh under /opt/mvm-test/s3rver).
#
#   s3rver_start DIR   starts it on a free 127.0.0.1 port with bucket mvmtest,
#                      its data and log in DIR; exports AWS_ENDPOINT_URL and
#                      the credentials it accepts (S3RVER/S3RVER)
#   s3rver_stop DIR

S3RVER=${MVM_S3RVER:-/opt/mvm-test/s3rver/node_modules/.bin/s3rver}

s3rver_start() {
	local dir=$1 i port=
	if [ ! -x "$S3RVER" ]; then
		echo "no s3rver at $S3RVER: run scripts/install-deps.sh" >&2
		return 1
	fi
	mkdir -p "$dir/data"
	"$S3RVER" -d "$dir/data" -a 127.0.0.1 -p 0 --configure-bucket mvmtest >"$dir/s3rver.log" 2>&1 &
	echo $! >"$dir/s3rver.pid"
	for ((i = 0; i < 200; i++)); do
		port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$dir/s3rver.log")
		[ -n "$port" ] && break
		sleep 0.05
	done
	[ -n "$port" ] || { cat "$dir/s3rver.log" >&2 && return 1; }
	export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
	export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
}

s3rver_stop() {
	local pid
	pid=$(cat "$1/s3rver.pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null || true
}
