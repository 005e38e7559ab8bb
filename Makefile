# mvm — one non-recursive Makefile.
#   make                 build/mvmctl and build/mvm-init
#   make check           layering and format checks, then the whole test suite (unit,
#                        toml-test, black-box)
#   make check-asan      the same under -fsanitize=address,undefined (build/asan/)
#   make check-all       both, side by side (faster; not yet what CI runs)
#   make fuzz            libFuzzer harnesses (clang), not part of check
#   make fuzz-run        runs each of them FUZZ_TIME seconds (default 600)
#   make man             build/man/: mvmctl(1), mvm(1), mvmctl-<command path>(1), written by
#                        mvmctl itself from its command table (part of all)
#   make install PREFIX=/usr/local
#                        also the pages and completion scripts, where Debian's man and shells
#                        look (zsh: vendor-completions under /usr, site-functions elsewhere)

PREFIX ?= /usr/local
# Debian's zsh searches $(PREFIX)/share/zsh/vendor-completions for /usr (packages) and
# /usr/local/share/zsh/site-functions, not /usr/local/share/zsh/vendor-completions.
ZSH_COMPDIR ?= $(PREFIX)/share/zsh/$(if $(filter /usr,$(PREFIX)),vendor-completions,site-functions)
BUILD ?= build
CC ?= gcc
MUSL_CC ?= musl-gcc
PKG_CONFIG ?= pkg-config
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

# Linked: PKGS. Loaded with dlopen() by the commands that need them (src/core/dlib.h), so
# only their headers are used here: DL_PKGS. Linking them costs every exec ~4 ms.
PKGS := jansson libcrypto
DL_PKGS := libcurl libarchive
WARN := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wvla -Wwrite-strings -Wno-missing-field-initializers
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=gnu17 $(WARN) $(CFLAGS) -D_GNU_SOURCE -DMVM_VERSION='"$(VERSION)"' \
	-Isrc $(shell $(PKG_CONFIG) --cflags $(PKGS) $(DL_PKGS))
LDLIBS := $(shell $(PKG_CONFIG) --libs $(PKGS))
ifdef SANITIZE
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
endif

# The host's layers, lowest first: a file may include headers of its own layer and
# those below it, never above (scripts/check-layers.sh; src/main.c sits on top, the
# guest sees only src/proto/).
LAYERS := proto core store vmm build shim vm builder fleet cluster planner cli

# Host library: everything but main.c and the guest. The CLI links it; unit tests link it too.
LIB_SRC := $(sort $(foreach l,$(LAYERS),$(wildcard src/$(l)/*.c)))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
MAIN_OBJ := $(BUILD)/obj/src/main.o

# Guest PID 1: static, musl, sees only libc and the shared wire format.
GUEST_SRC := $(sort $(wildcard src/guest/*.c src/proto/*.c))
GUEST_OBJ := $(GUEST_SRC:%.c=$(BUILD)/guest/%.o)
GUEST_CFLAGS := -std=gnu17 $(WARN) -Os -static -D_GNU_SOURCE -Isrc

UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRC := $(sort $(wildcard tests/tools/*.c))
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tests/%)

FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_REPLAY_BIN := $(FUZZ_SRC:fuzz/%.c=$(BUILD)/fuzz-replay/%)
# A harness that #includes the file it fuzzes (to reach its static functions) links the
# library without it (FUZZ_OWN_x); one of guest code adds the guest files it needs
# (FUZZ_GUEST_x: the guest is not part of the host library).
FUZZ_OWN_fuzz_exec := src/vm/exec.c
FUZZ_OWN_fuzz_llm := src/planner/llm.c
FUZZ_GUEST_fuzz_units := src/guest/units.c
FUZZ_GUEST_fuzz_cmdline := src/guest/cmdline.c
FUZZ_GUEST_fuzz_guest_agent := src/guest/vmenv.c

all: $(BUILD)/mvmctl $(BUILD)/mvm-init man completion

$(BUILD)/mvmctl: $(MAIN_OBJ) $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Man pages and completion scripts, written by mvmctl from its own command table: a page
# per path `mvmctl __complete paths` lists, mvm(1) by mvmctl invoked as mvm.
MAN_STAMP := $(BUILD)/man/.written
COMPLETIONS := $(BUILD)/completion/mvmctl.bash $(BUILD)/completion/_mvmctl \
	$(BUILD)/completion/mvmctl.fish
man: $(MAN_STAMP)
$(MAN_STAMP): $(BUILD)/mvmctl
	@rm -rf $(BUILD)/man && mkdir -p $(BUILD)/man
	@$(BUILD)/mvmctl __complete paths | while IFS= read -r p; do \
		$(BUILD)/mvmctl help --man $$p >"$(BUILD)/man/mvmctl-$$(echo $$p | tr ' ' -).1" || exit 1; \
	done
	$(BUILD)/mvmctl help --man >$(BUILD)/man/mvmctl.1
	ln -sf $(abspath $(BUILD)/mvmctl) $(BUILD)/man/mvm
	$(BUILD)/man/mvm help --man >$(BUILD)/man/mvm.1
	rm -f $(BUILD)/man/mvm
	@touch $@
completion: $(COMPLETIONS)
$(BUILD)/completion/mvmctl.bash: $(BUILD)/mvmctl
	@mkdir -p $(dir $@)
	$(BUILD)/mvmctl completion bash >$@
$(BUILD)/completion/_mvmctl: $(BUILD)/mvmctl
	@mkdir -p $(dir $@)
	$(BUILD)/mvmctl completion zsh >$@
$(BUILD)/completion/mvmctl.fish: $(BUILD)/mvmctl
	@mkdir -p $(dir $@)
	$(BUILD)/mvmctl completion fish >$@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/mvm-init: $(GUEST_OBJ)
	$(MUSL_CC) $(GUEST_CFLAGS) -o $@ $^

$(BUILD)/guest/%.o: %.c
	@mkdir -p $(dir $@)
	$(MUSL_CC) $(GUEST_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/test_%: tests/unit/test_%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BUILD)/tests/%: tests/tools/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Every harness also built by $(CC) with a main() that feeds it files (fuzz/replay.c):
# tests/fuzz-replay.sh replays fuzz/regressions/ and fuzz/corpus/ with it, no clang needed.
$(BUILD)/fuzz-replay/%: fuzz/%.c fuzz/replay.c $(LIB_OBJ) $(GUEST_SRC)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< fuzz/replay.c $(FUZZ_GUEST_$*) \
		$(filter-out $(FUZZ_OWN_$*:%.c=$(BUILD)/obj/%.o),$(LIB_OBJ)) $(LDLIBS)

tests: $(UNIT_BIN) $(TOOL_BIN) $(FUZZ_REPLAY_BIN)

check: check-layers fmt-check all tests
	MVM_BUILD=$(abspath $(BUILD)) MVM_SKIP_SUITES='$(SKIP_SUITES)' tests/run.sh

# Under the sanitizers, the suites that test processes and permissions, not
# memory (the kill matrix, the unprivileged reruns), are left to `check`, and so
# are those that would run no sanitized code of their own: man.bats (the
# sanitized mvmctl already wrote every page in `make all`; the suite's time is
# groff, man and `make install`), completion.bats (its time is bash, zsh and
# fish; `__complete` only lists and reads what ls reads), and boot.bats and
# init_boot.bats (a bare QEMU booting mvm-init, which is built without the
# sanitizers, as the guest's own static binary; init_boot's `mvmctl build` is
# build.bats's under ASan).
check-asan:
	$(MAKE) BUILD=build/asan SANITIZE=address,undefined CFLAGS='-O1 -g' \
		SKIP_SUITES='e2e/kill e2e/vm-unprivileged e2e/exec-unprivileged e2e/build-unprivileged e2e/man e2e/completion e2e/boot e2e/init_boot' \
		check

# Both passes at once, in about 28 minutes instead of about 40: the servers the
# suites start take free ports, and the cluster suite's network namespaces are
# claimed (etcd_helpers.bash), so the two passes never share one. It passed
# twice on fresh clones; the third run hit a race in boundary.bats' serve()
# (reading the server's port file before the server had made it), which only
# that load showed, and which is fixed. CI goes on running the passes one after
# the other until check-all has a record of clean runs. check-asan's output goes to build/check-asan.log and
# is printed after check's; the exit status fails when either pass did. It runs
# in a session of its own, killed whole when this recipe is interrupted.
check-all:
	@mkdir -p build; \
	setsid -w $(MAKE) check-asan >build/check-asan.log 2>&1 & asan=$$!; \
	trap 'kill -TERM -- -$$asan 2>/dev/null; exit 130' INT TERM; \
	$(MAKE) check; rc=$$?; \
	wait $$asan; arc=$$?; \
	echo "=== make check-asan (ran beside make check): exit status $$arc ==="; \
	cat build/check-asan.log; \
	echo "make check: exit status $$rc; make check-asan: exit status $$arc"; \
	test $$rc -eq 0 -a $$arc -eq 0

# libFuzzer: every fuzz/fuzz_X.c is linked with the host library, built by clang
# (instrumented, in $(BUILD)/fuzz/obj/).
FUZZ_FLAGS := -std=gnu17 -g -O1 -D_GNU_SOURCE -DMVM_VERSION='"$(VERSION)"' -Isrc \
	$(shell $(PKG_CONFIG) --cflags $(PKGS) $(DL_PKGS)) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_OBJ := $(LIB_SRC:%.c=$(BUILD)/fuzz/obj/%.o)
$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -MMD -MP -c -o $@ $<
$(BUILD)/fuzz/%: fuzz/%.c $(FUZZ_OBJ) $(GUEST_SRC)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -o $@ $< $(FUZZ_GUEST_$*) \
		$(filter-out $(FUZZ_OWN_$*:%.c=$(BUILD)/fuzz/obj/%.o),$(FUZZ_OBJ)) $(LDLIBS)
fuzz: $(FUZZ_BIN)

# The seeds of the frame harnesses, encoded by the protocol's own encoders (fuzz/mkseeds.c).
fuzz-seeds: $(LIB_OBJ)
	@mkdir -p $(BUILD)/fuzz fuzz/corpus/shim fuzz/corpus/exec fuzz/corpus/guest_agent
	$(CC) $(ALL_CFLAGS) -o $(BUILD)/fuzz/mkseeds fuzz/mkseeds.c $(LIB_OBJ) $(LDLIBS)
	$(BUILD)/fuzz/mkseeds

# Every harness for FUZZ_TIME seconds (default 600) from fuzz/corpus/<name>/; new inputs
# go to $(BUILD)/fuzz-corpus/<name>/ (the kept corpus does not grow). FUZZ_TARGETS=
# picks some ("fuzz_units fuzz_envfile"). Not part of check.
FUZZ_TIME ?= 600
fuzz-run: $(if $(FUZZ_TARGETS),$(FUZZ_TARGETS:%=$(BUILD)/fuzz/%),fuzz)
	scripts/fuzz-run.sh $(BUILD) $(FUZZ_TIME) $(or $(FUZZ_TARGETS),$(FUZZ_SRC:fuzz/%.c=%))

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/mvm $(DESTDIR)$(PREFIX)/share/mvm
	install -m 0755 $(BUILD)/mvmctl $(DESTDIR)$(PREFIX)/bin/mvmctl
	ln -sf mvmctl $(DESTDIR)$(PREFIX)/bin/mvm
	install -m 0755 $(BUILD)/mvm-init $(DESTDIR)$(PREFIX)/lib/mvm/mvm-init
	cp -R share/. $(DESTDIR)$(PREFIX)/share/mvm/
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(ZSH_COMPDIR) \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 0644 $(BUILD)/man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 $(BUILD)/completion/mvmctl.bash \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/mvmctl
	ln -sf mvmctl $(DESTDIR)$(PREFIX)/share/bash-completion/completions/mvm
	install -m 0644 $(BUILD)/completion/_mvmctl $(DESTDIR)$(ZSH_COMPDIR)/_mvmctl
	install -m 0644 $(BUILD)/completion/mvmctl.fish \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/mvmctl.fish
	ln -sf mvmctl.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/mvm.fish
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	sed 's|@BINDIR@|$(PREFIX)/bin|g' dist/mvm-host.service.in \
		>$(DESTDIR)$(PREFIX)/lib/systemd/system/mvm-host.service
	chmod 0644 $(DESTDIR)$(PREFIX)/lib/systemd/system/mvm-host.service

check-layers:
	@scripts/check-layers.sh $(LAYERS)

FMT_SRC := $(sort $(wildcard src/*.c src/*/*.[ch] tests/unit/*.c tests/tools/*.c fuzz/*.c bench/*.c))
fmt-check:
	@clang-format --dry-run --Werror $(FMT_SRC)

fmt:
	clang-format -i $(FMT_SRC)

clean:
	rm -rf build

.PHONY: all man completion tests check check-asan check-all check-layers fuzz fuzz-run fuzz-seeds install fmt-check fmt clean
# only this build's own: build/asan/ lies under build/, and check-all writes it meanwhile
-include $(shell find $(BUILD)/obj $(BUILD)/guest $(BUILD)/fuzz/obj -name '*.d' 2>/dev/null)
