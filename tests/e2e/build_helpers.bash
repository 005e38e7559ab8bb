# Shared by the tests that run real nix builds: the offline stand-in for
# nixpkgs, a kernel provisioned once per file, and a fresh copy of a fixture.
load helpers

build_setup_file() {
	export STANDIN="$BATS_FILE_TMPDIR/standin"
	"$MVM_SRC/scripts/standin-nixpkgs.sh" "$STANDIN" >/dev/null
	# Provision the guest kernel once; each test links it into its own MVM_HOME.
	export KCACHE="$BATS_FILE_TMPDIR/kcache"
	mkdir -p "$KCACHE"
	MVM_HOME="$KCACHE" "$MVM_BUILD/tests/kernel-ensure" >/dev/null
}

# file_home_setup: for setup_file of a file whose tests share one MVM_HOME:
# offline, TCG, the stand-in nixpkgs, the provisioned kernel linked in.
file_home_setup() {
	build_setup_file
	export MVM_HOME="$BATS_FILE_TMPDIR/home" MVM_OFFLINE=1 MVM_ACCEL=tcg
	export MVM_OVERRIDE_INPUTS="nixpkgs=path:$STANDIN"
	mkdir -p "$MVM_HOME" && chmod 700 "$MVM_HOME"
	cp -al "$KCACHE/kernels" "$MVM_HOME/kernels"
}

build_setup() {
	common_setup
	export MVM_OFFLINE=1
	export MVM_OVERRIDE_INPUTS="nixpkgs=path:$STANDIN"
	mkdir -p "$MVM_HOME"
	chmod 700 "$MVM_HOME"
	cp -al "$KCACHE/kernels" "$MVM_HOME/kernels"
}

# fixture NAME [DEST]: copies tests/fixtures/NAME to DEST (default $WORK/NAME).
fixture() {
	local dest=${2:-$WORK/$1}
	cp -r "$MVM_SRC/tests/fixtures/$1" "$dest"
	printf '%s' "$dest"
}

slot_of() { printf %s "$(realpath "$1")" | sha256sum | cut -d' ' -f1; }
