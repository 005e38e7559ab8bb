#!/usr/bin/env bash
# Fails when a source file includes a header of a layer above its own.
#   scripts/check-layers.sh LAYER…   the host layers, lowest first (the Makefile's LAYERS)
# A file in src/<layer>/ may include "<other>/…" only for a layer at or below
# its own; src/main.c may include any. The guest (src/guest/, static musl)
# may include only its own headers and the wire format, src/proto/.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A rank
i=0
for l in "$@"; do
	rank[$l]=$i
	i=$((i + 1))
done
[ "$i" -gt 0 ] || { echo "usage: $0 LAYER… (lowest first)" >&2; exit 2; }

bad=0
while IFS= read -r hit; do
	file=${hit%%:*}
	rest=${hit#*:}
	line=${rest%%:*}
	inc=$(sed -E 's/.*#include "([^"]*)".*/\1/' <<<"${rest#*:}")
	[[ $inc == */* ]] || continue # the file's own directory
	to=${inc%%/*}
	from=$(cut -d/ -f2 <<<"$file")
	if [ "$from" = guest ]; then
		[[ $to == proto || $to == guest ]] && continue
		echo "$file:$line: includes \"$inc\": the guest sees only src/proto/ and libc" >&2
		bad=1
		continue
	fi
	[[ $file == src/main.c ]] && continue
	for l in "$from" "$to"; do
		if [ -z "${rank[$l]+x}" ]; then
			echo "$file:$line: includes \"$inc\": src/$l/ is not in the layer order ($*)" >&2
			bad=1
			continue 2
		fi
	done
	if [ "${rank[$to]}" -gt "${rank[$from]}" ]; then
		echo "$file:$line: includes \"$inc\": $to is a layer above $from (order, lowest first: $*)" >&2
		bad=1
	fi
done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' src/*.c src/*/*.[ch])
exit $bad
