#!/usr/bin/env zsh
# Drives zsh's real completion system in a pseudo-terminal (zpty) and prints
# what it showed: the line as completed and the listing of the matches.
#
#   zsh_complete.zsh FPATH_DIR LINE
#
# FPATH_DIR holds _mvmctl; mvmctl must be on PATH. LINE is typed, then two TABs.
emulate -L zsh
zmodload zsh/zpty || exit 1
local dir=$1 line=$2 out='' chunk i
zpty z "TERM=dumb zsh -f -i"
zpty -w z "fpath=(${(q)dir} \$fpath); autoload -U compinit; compinit -u -D; PS1='READY> '; LISTMAX=10000; echo SET''UP"
# compinit -D scans every fpath directory: seconds on a loaded machine, and a line typed
# before it is done has less time to complete below
for ((i = 0; i < 300; i++)); do
	zpty -r -t z chunk && out+=$chunk
	[[ $out == *SETUP* ]] && break
	sleep 0.1
done
[[ $out == *SETUP* ]] || { print -u2 "zsh_complete: zsh did not start in 30 s"; zpty -d z; exit 1; }
out=''
zpty -w -n z "$line"$'\t\t'
for ((i = 0; i < 30; i++)); do
	sleep 0.1
	while zpty -r -t z chunk; do out+=$chunk; done
done
zpty -d z
print -r -- "${out//$'\r'/}"
