#!/usr/bin/env bats
# Names a user gives (VMs, tenants, pools, secrets, variables, the manifest's
# name) that could reach a path, a record or a terminal: each bad one is
# refused with the name's rule, shown escaped and cut short, before anything
# is written.
bats_require_minimum_version 1.5.0
load helpers

setup() { common_setup; }

LONG=$(printf 'a%.0s' {1..300})
BAD_NAMES=(.. ../x a/b $'a\nb' a,b "$LONG" $'a\e[2Jb')

# shown NAME: the name as an error message shows it.
shown() {
	local s=${1:0:64}
	s=${s//$'\n'/\\n}
	s=${s//$'\e'/\\x1b}
	[ ${#1} -gt 64 ] && s="$s..."
	printf '%s' "$s"
}

@test "bad VM names are refused with the rule, escaped, and nothing is written" {
	for n in "${BAD_NAMES[@]}"; do
		run --separate-stderr "$MVMCTL" up --name "$n"
		[ "$status" -eq 2 ] || { echo "up --name '$n': status $status"; return 1; }
		assert_eq "mvmctl: error: '$(shown "$n")' is not a valid VM name (1-63 letters, digits, '-' and '.', starting with a letter or digit)" "${stderr_lines[0]}"
		# one line of error: a newline in the name cannot forge another
		[[ ${stderr_lines[1]} == "usage: mvmctl up "* ]]
	done
	[ ! -e "$MVM_HOME/vms" ]
}

@test "bad tenant and pool ids are refused with the rule, escaped" {
	for n in "${BAD_NAMES[@]}"; do
		run --separate-stderr "$MVMCTL" tenant create -- "$n"
		[ "$status" -eq 2 ]
		assert_eq "mvmctl: error: Expected <tenant>, got \"$(shown "$n")\"" "${stderr_lines[0]}"
		assert_eq "hint: IDs are 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'" "${stderr_lines[1]}"
	done
	[ ! -e "$MVM_HOME/tenants" ] || [ -z "$(ls -A "$MVM_HOME/tenants")" ]
}

@test "bad secret and variable names are refused with their rules, escaped" {
	echo x >"$WORK/s"
	run --separate-stderr "$MVMCTL" up --secret $'a\nb'="$WORK/s"
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "'a\\nb' is not a valid secret name"
	run --separate-stderr "$MVMCTL" up --secret "../x=$WORK/s"
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "'../x' is not a valid secret name"
	run --separate-stderr "$MVMCTL" up -e $'A\nB=1'
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "'A\\nB' is not a valid variable name"
	run --separate-stderr "$MVMCTL" up -e "A,B=1"
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "'A,B' is not a valid variable name"
}

@test "the manifest's name: NUL, comma, '..' and 300 bytes are refused with the rule" {
	local n
	printf 'flake = "."\nname = "a\\u0000b"\n' >"$WORK/mvm.toml"
	run --separate-stderr "$MVMCTL" manifest check
	[ "$status" -eq 3 ]
	assert_contains "$stderr" "name: expected a string without NUL characters"
	for n in a,b .. "$LONG"; do
		printf 'flake = "."\nname = "%s"\n' "$n" >"$WORK/mvm.toml"
		run --separate-stderr "$MVMCTL" manifest check
		[ "$status" -eq 3 ]
		assert_contains "$stderr" "name: expected 1-63 characters of a-z, 0-9, '_' or '-', not starting with '-' or '_'"
	done
}
