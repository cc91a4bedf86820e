# Kindling: a minimal KVM microVM runner.
#   make          build build/kindling
#   make test     install deps, build, run every test (unit, host KVM, KVM lab)
#   make demo     boot the guest kernel in a microVM (inside the KVM lab when needed)
#   make bench    run the benchmarks, write build/bench/results.json
#   make kernel   build the guest kernel (cached under $HOME/.cache/kindling)

CC ?= cc
BUILD := build
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
HARDEN := -fstack-protector-strong -D_FORTIFY_SOURCE=2
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -D_GNU_SOURCE $(WARN) $(HARDEN) -MMD -MP -ffunction-sections
LDFLAGS += -pthread
LDLIBS += -lcjson -lm

# The layers, each with its own include path, so that a lower one cannot include a higher
# one's headers:
#   common/        shared by everything (the HTTP head parser, small helpers)
#   vmm/           the VMM core (KVM, memory, vCPUs, lifecycle); vmm/devices/ its devices
#   api/           Firecracker's API, on top of the core
#   cli/           the command-line front ends: kindling (main.c), `kindling run`, `kindling check`
#   guest-init/, jailer/   separate programs, on common/ only
COMMON_SRCS := $(wildcard common/*.c)
VMM_SRCS := $(wildcard vmm/*.c vmm/devices/*.c vmm/devices/virtio/*.c) $(wildcard api/*.c) \
	$(filter-out cli/main.c,$(wildcard cli/*.c)) $(COMMON_SRCS)
INC_common := -Icommon
INC_guest-init := -Icommon
INC_jailer := -Icommon
INC_vmm := -Icommon -Ivmm -Ivmm/devices -I$(BUILD)/gen
INC_api := $(INC_vmm) -Iapi
INC_cli := $(INC_api) -Icli
# Tests, fuzzers, examples: every layer.
INC_ALL := $(INC_cli)
incs = $(or $(INC_$(firstword $(subst /, ,$(1)))),$(INC_ALL))
VMM_OBJS := $(VMM_SRCS:%.c=$(BUILD)/obj/%.o)
# The same sources again with sanitizers, for the unit tests.
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer
VMM_SAN_OBJS := $(VMM_SRCS:%.c=$(BUILD)/san/%.o)
UNIT_SRCS := $(wildcard tests/unit/*.c)

.PHONY: all deps kernel initramfs test unit demo bench lab clean fuzz fuzz-build
all: $(BUILD)/kindling $(BUILD)/kindling-init $(BUILD)/examples/wordfreq $(BUILD)/examples/uffd-handler

deps:
	@scripts/deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(call incs,$<) -c -o $@ $<

$(BUILD)/san/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS:-D_FORTIFY_SOURCE=2=) -U_FORTIFY_SOURCE -O1 $(SAN) $(call incs,$<) -c -o $@ $<

# build/kindling is a static PIE when Debian's cJSON source is at hand (scripts/cjson-src.sh,
# run by `make deps`): no libc or libcjson text mapped, so ~700 KiB less resident memory, a
# faster start, and a binary the jailer can copy into an empty jail. Without the source it
# links libcjson.so dynamically, and says so.
CJSON_DIR ?= $(HOME)/.cache/kindling/src/cjson
ifneq ($(wildcard $(CJSON_DIR)/cJSON.c),)
VMM_LINK := -static-pie
VMM_CJSON := $(BUILD)/obj/cjson/cJSON.o
VMM_LIBS := -lseccomp -lcrypto -lm
else
VMM_LINK :=
VMM_CJSON :=
# Deferred (=): LDLIBS gains -lseccomp further down.
VMM_LIBS = $(LDLIBS)
endif
# Text order: the functions the VMM runs in its everyday work (scripts/kindling.order, written
# by scripts/textorder.sh) come first in its text, each in its own section
# (-ffunction-sections; glibc's are one object each), so that the pages of code it never runs
# are never mapped: the kernel maps a file 64 KiB around each fault, and spread among cold
# code the hot functions had the whole 1 MB text resident (README, "VMM memory"). lld orders
# input sections by such a list (ld.bfd 2.40 cannot); make deps installs it.
TEXT_ORDER := scripts/kindling.order
ifneq ($(shell command -v ld.lld 2>/dev/null),)
VMM_LINK += -fuse-ld=lld -Wl,--symbol-ordering-file=$(TEXT_ORDER) -Wl,--no-warn-symbol-ordering
endif
$(BUILD)/obj/cjson/cJSON.o: $(CJSON_DIR)/cJSON.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g $(HARDEN) -ffunction-sections -c -o $@ $<

$(BUILD)/kindling: $(VMM_OBJS) $(BUILD)/obj/cli/main.o $(VMM_CJSON) $(TEXT_ORDER)
	@[ -n "$(VMM_CJSON)" ] || echo "note: $(CJSON_DIR)/cJSON.c missing (make deps fetches it): linking libcjson.so dynamically"
	@command -v ld.lld >/dev/null || echo "note: ld.lld missing (make deps installs lld): the VMM's text is not ordered"
	$(CC) $(VMM_LINK) $(LDFLAGS) -o $@ $(filter-out $(TEXT_ORDER),$^) $(VMM_LIBS)
# The tracer scripts/textorder.sh finds the hot functions with.
$(BUILD)/hotfuncs: scripts/hotfuncs.c
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $<

$(BUILD)/tests/unit: $(UNIT_SRCS:%.c=$(BUILD)/san/%.o) $(VMM_SAN_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(SAN) -o $@ $^ $(LDLIBS) -lbpf -lelf -lz

# The guest's PID 1 (guest-init/), static so a rootfs needs no libc; its parsers are also
# linked into the unit tests.
INIT_SRCS := $(wildcard guest-init/*.c) $(COMMON_SRCS)
INIT_LIB_SRCS := $(filter-out guest-init/main.c,$(wildcard guest-init/*.c))
$(BUILD)/kindling-init: $(INIT_SRCS:%.c=$(BUILD)/obj/%.o)
	$(CC) -static -o $@ $^
$(BUILD)/tests/unit: $(INIT_LIB_SRCS:%.c=$(BUILD)/san/%.o)

# Sample functions (examples/), static so they run on a bare rootfs.
$(BUILD)/examples/wordfreq: examples/wordfreq/wordfreq.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -static -o $@ $<

# A page-fault handler for snapshots loaded with the Uffd backend (examples/uffd/README.md).
$(BUILD)/examples/uffd-handler: examples/uffd/uffd-handler.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $<

# Tiny freestanding guests for the host's /dev/kvm (tests/guests/*.S).
GUEST_ASM := $(wildcard tests/guests/*.S)
GUESTS := $(GUEST_ASM:tests/guests/%.S=$(BUILD)/guests/%.elf)
$(BUILD)/guests/%.elf: tests/guests/%.S tests/guests/guest.ld tests/guests/virtio_mmio.inc
	@mkdir -p $(dir $@)
	$(CC) -nostdlib -static -no-pie -Wl,-T,tests/guests/guest.ld -Wl,--build-id=none,--no-warn-rwx-segments -o $@ $<
$(BUILD)/guests/busy.elf: tests/guests/spin.S
$(BUILD)/guests/%.bzImage: $(BUILD)/guests/%.elf tests/guests/mkbzimage.sh
	tests/guests/mkbzimage.sh $< $@

$(BUILD)/apiclient: tests/api/apiclient.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Wextra -D_GNU_SOURCE -o $@ $<

# libFuzzer targets (fuzz/fuzz_*.c) over the same sources, built with clang.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer $(INC_ALL) -Ifuzz
FUZZ_OBJS := $(VMM_SRCS:%.c=$(BUILD)/fuzzobj/%.o)
FUZZ_BINS := $(patsubst fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard fuzz/fuzz_*.c))
$(BUILD)/fuzzobj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<
$(BUILD)/fuzz/%: fuzz/%.c fuzz/fuzz_ram.h $(FUZZ_OBJS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJS) -pthread $(LDLIBS)
fuzz-build: $(FUZZ_BINS)
# make fuzz FUZZ_SECONDS=N: runs each target for N seconds.
fuzz: fuzz-build
	@fuzz/run.sh $(FUZZ_SECONDS)

kernel: deps
	@guest/kernel/build.sh $(BUILD)/guest

initramfs: $(BUILD)/guest/test-initramfs.cpio.gz $(BUILD)/guest/bootmeter-initramfs.cpio.gz
$(BUILD)/guest/test-initramfs.cpio.gz: tests/guests/boot-init.c tests/guests/mkinitramfs.sh
	@tests/guests/mkinitramfs.sh $@
# The guest of the snapshot lab bench (benches/snaplab.py).
$(BUILD)/guest/snapguest-initramfs.cpio.gz: benches/snapguest.c tests/guests/mkinitramfs.sh
	@INIT_SRC=benches/snapguest.c tests/guests/mkinitramfs.sh $@
# The boot meter's /init (benches/bootmeter.sh): freestanding, rdtsc as its first instruction.
$(BUILD)/guest/bootmeter-initramfs.cpio.gz: benches/bootmeter-init.c tests/guests/mkinitramfs.sh
	@INIT_SRC=benches/bootmeter-init.c INIT_CFLAGS="-nostdlib -ffreestanding -fno-builtin -fno-stack-protector -fno-pie -no-pie" \
		tests/guests/mkinitramfs.sh $@

unit: $(BUILD)/tests/unit

test: deps
	@$(MAKE) --no-print-directory all unit $(GUESTS) $(BUILD)/guests/hello64.bzImage $(BUILD)/apiclient
	@$(MAKE) --no-print-directory kernel initramfs
	@tests/run.sh

demo: deps
	@$(MAKE) --no-print-directory all kernel initramfs
	@scripts/demo.sh

bench: deps
	@$(MAKE) --no-print-directory all kernel initramfs $(BUILD)/apiclient $(GUESTS) $(BUILD)/benches/snapbench \
		$(BUILD)/benches/setupbench $(BUILD)/benches/authbench $(BUILD)/benches/holemap \
		$(BUILD)/guest/snapguest-initramfs.cpio.gz
	@mkdir -p $(BUILD)/bench
	@benches/run.sh

lab:
	@tests/lab/prepare.sh

clean:
	rm -rf $(BUILD)

# Jailer and seccomp (issue 6): build/kindling-jailer joins `all`; the test-only binaries
# join `unit`. The VMM links libseccomp (vmm/vmm_seccomp.c).
# Static libseccomp: only the parts used, and one shared object fewer to map at start-up.
LDLIBS += -Wl,-Bstatic -lseccomp -Wl,-Bdynamic
# libcrypto's SHA-256 for signed snapshots (vmm/snapauth.c), static: +24 KiB (README).
LDLIBS += -Wl,-Bstatic -lcrypto -Wl,-Bdynamic
JAILER_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard jailer/*.c))
all: $(BUILD)/kindling-jailer
$(BUILD)/kindling-jailer: $(JAILER_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ -lcap-ng -lbpf -lelf -lz
# The seccomp filters precompiled at build time (vmm/gen/seccomp_gen.c): every thread kind's
# but the VMM thread's, from vmm/vmm_seccomp.c's rules built without the precompiled ones.
SECCOMP_BPF_H := $(BUILD)/gen/seccomp_bpf.h
$(BUILD)/gen/vmm_seccomp.o: vmm/vmm_seccomp.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DKINDLING_SECCOMP_GEN $(INC_vmm) -c -o $@ $<
$(BUILD)/gen/seccomp-gen: vmm/gen/seccomp_gen.c $(BUILD)/gen/vmm_seccomp.o $(BUILD)/obj/vmm/log.o
	$(CC) $(CFLAGS) $(INC_vmm) $(LDFLAGS) -o $@ $^ -lseccomp
$(SECCOMP_BPF_H): $(BUILD)/gen/seccomp-gen
	$< >$@.tmp && mv $@.tmp $@
$(BUILD)/obj/vmm/vmm_seccomp.o $(BUILD)/san/vmm/vmm_seccomp.o $(BUILD)/selftest/vmm/vmm_seccomp.o \
	$(BUILD)/fuzzobj/vmm/vmm_seccomp.o: $(SECCOMP_BPF_H)
# The VMM with KINDLING_SECCOMP_SELFTEST=api|vmm|vcpu|console|uffd|prefetch|lazy making a forbidden syscall.
$(BUILD)/selftest/vmm/vmm_seccomp.o: vmm/vmm_seccomp.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DKINDLING_SECCOMP_SELFTEST $(INC_vmm) -c -o $@ $<
# Linked as build/kindling is, so that its syscalls are the production binary's.
$(BUILD)/kindling-seccomp-test: $(filter-out $(BUILD)/obj/vmm/vmm_seccomp.o,$(VMM_OBJS)) $(BUILD)/obj/cli/main.o \
		$(BUILD)/selftest/vmm/vmm_seccomp.o $(VMM_CJSON)
	$(CC) $(VMM_LINK) $(LDFLAGS) -o $@ $^ $(VMM_LIBS)
$(BUILD)/tests/seccomp-harness: tests/seccomp/harness.c $(BUILD)/obj/vmm/vmm_seccomp.o $(BUILD)/obj/vmm/log.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INC_ALL) $(LDFLAGS) -o $@ $^ -lseccomp
# The VMM's threads under their filters with a fake vCPU (no KVM), linked as build/kindling is.
$(BUILD)/tests/vmm-threads: $(BUILD)/obj/tests/seccomp/threads.o $(VMM_OBJS) $(VMM_CJSON)
	@mkdir -p $(dir $@)
	$(CC) $(VMM_LINK) $(LDFLAGS) -o $@ $^ $(VMM_LIBS)
# The VM lifecycle (create, boot, save, restore, start) on a real /dev/kvm: tests/kvm/host.sh.
$(BUILD)/tests/kvm-state: $(BUILD)/obj/tests/kvm/state.o $(VMM_OBJS) $(VMM_CJSON)
	@mkdir -p $(dir $@)
	$(CC) $(VMM_LINK) $(LDFLAGS) -o $@ $^ $(VMM_LIBS)
# Snapshot figures on a real /dev/kvm (benches/snapshot.sh).
$(BUILD)/benches/snapbench: $(BUILD)/obj/benches/snapbench.o $(VMM_OBJS) $(VMM_CJSON)
	@mkdir -p $(dir $@)
	$(CC) $(VMM_LINK) $(LDFLAGS) -o $@ $^ $(VMM_LIBS)
# The host side of a boot's set-up, without KVM (benches/setup.sh), linked as build/kindling
# is, so that its page faults and copies are the production binary's.
$(BUILD)/benches/setupbench: $(BUILD)/obj/benches/setupbench.o $(VMM_OBJS) $(VMM_CJSON)
	@mkdir -p $(dir $@)
	$(CC) $(VMM_LINK) $(LDFLAGS) -o $@ $^ $(VMM_LIBS)
# Signed snapshots' memory checks, full against lazy, without KVM (benches/snapauth.sh).
$(BUILD)/benches/authbench: $(BUILD)/obj/benches/authbench.o $(VMM_OBJS) $(VMM_CJSON)
	@mkdir -p $(dir $@)
	$(CC) $(VMM_LINK) $(LDFLAGS) -o $@ $^ $(VMM_LIBS)
# What mapping the hole table costs a restore, without KVM (benches/snapshot.sh, on the host).
$(BUILD)/benches/holemap: $(BUILD)/obj/benches/holemap.o $(VMM_OBJS) $(VMM_CJSON)
	@mkdir -p $(dir $@)
	$(CC) $(VMM_LINK) $(LDFLAGS) -o $@ $^ $(VMM_LIBS)
# Static: it runs inside an empty jail.
$(BUILD)/tests/jail-probe: tests/jailer/probe.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -static -o $@ $<
# Every jailer module but main.c is unit-tested (tests/unit/test_jailer_*.c): their error
# helper is jailer/jail_err.c.
JAILER_LIB_SRCS := $(filter-out jailer/main.c,$(wildcard jailer/*.c))
$(BUILD)/tests/unit: $(JAILER_LIB_SRCS:%.c=$(BUILD)/san/%.o)
$(BUILD)/tests/no-close-range: tests/jailer/no_close_range.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< -lseccomp
unit: $(BUILD)/tests/no-close-range
unit: $(BUILD)/kindling-seccomp-test $(BUILD)/tests/seccomp-harness $(BUILD)/tests/jail-probe $(BUILD)/tests/vmm-threads
unit: $(BUILD)/tests/kvm-state

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
