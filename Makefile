# zsp build. `make` builds everything into build/, `make check` runs all
# tests, `make demo` plays the main story in a private mount namespace and
# `make bench` measures latency, throughput and memory (docs/benchmarks.md).

CXX ?= g++
CXXFLAGS ?= -O2 -g
WARNINGS := -Wall -Wextra -Werror=format-security -Wno-missing-field-initializers
HARDEN := -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIC
ZSP_CXXFLAGS := -std=c++20 -I. -I/usr/include/postgresql $(WARNINGS) $(HARDEN) -MMD -MP
HIDDEN := -fvisibility=hidden -fvisibility-inlines-hidden
LDHARDEN := -Wl,-z,relro,-z,now

B := build
# The release version of the packages, which sudo -V also prints.
VERSION := 1.0.0

COMMON_SRCS := $(wildcard common/*.cc)
COMMON_OBJS := $(COMMON_SRCS:%.cc=$(B)/%.o)
BROKER_SRCS := $(filter-out broker/zspctl%.cc,$(wildcard broker/*.cc))
BROKER_OBJS := $(BROKER_SRCS:%.cc=$(B)/%.o)
# The broker without its main(), for the unit tests.
BROKER_LIB_OBJS := $(filter-out $(B)/broker/main.o,$(BROKER_OBJS))
AGENT_SRCS := $(wildcard agent/*.cc)
AGENT_OBJS := $(AGENT_SRCS:%.cc=$(B)/%.o)
# The agent without its main(), for the unit tests.
AGENT_LIB_OBJS := $(filter-out $(B)/agent/main.o,$(AGENT_OBJS))
UNIT_SRCS := $(wildcard tests/unit/*.cc)
UNIT_OBJS := $(UNIT_SRCS:%.cc=$(B)/%.o)

COMMON_LIBS := -lcurl -lssl -lcrypto -lsodium -lsystemd
# The modules open libcurl only when they call a broker (common/https_client.cc)
# and link nothing they do not use, so that every sudo and login stays cheap.
# They check signatures with libsodium (common/crypto.cc), not libcrypto.
# They write to journald themselves (common/journal_socket.cc) and do not
# link libsystemd, which would load it and six more libraries (liblzma,
# libzstd, liblz4, libcap, libgcrypt, libgpg-error) into every process.
# They carry their own copy of libstdc++ and libgcc: a dlopen of the
# shared libstdc++ binds several thousand symbols and cost each sudo and
# login about 0.5 ms (docs/benchmarks.md). The version scripts keep that
# copy's symbols local, so it never takes the place of the host
# process's own libstdc++. The other way round, only libstdc++'s weak
# reference to __cxa_pure_virtual binds to a host's libstdc++ (LD_DEBUG=
# bindings), and stays null in a host without one. The ASan build keeps
# the shared one, so that the sanitizer sees every new and delete.
MODULE_STATIC := -static-libstdc++ -static-libgcc
MODULE_LIBS := -Wl,--as-needed -lsodium $(MODULE_STATIC)

all: $(B)/libzsp.a $(B)/sudo_zsp.so $(B)/pam_zsp.so $(B)/zsp-broker \
     $(B)/zspctl $(B)/zsp-agent $(B)/unit_tests $(B)/tcp_blackhole $(B)/pam_loop \
     $(B)/systemd_standin \
     $(B)/hostile_broker $(B)/open_watch \
     $(B)/journal_send

$(B)/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(ZSP_CXXFLAGS) $(HIDDEN) $(CXXFLAGS) -c $< -o $@

$(B)/libzsp.a: $(COMMON_OBJS)
	rm -f $@
	ar rcs $@ $^

# The modules export only their ABI symbols (version scripts) and stay
# loaded once opened, because libcurl and OpenSSL keep global state.
$(B)/sudo_zsp/sudo_zsp.o: ZSP_CXXFLAGS += -DZSP_VERSION='"$(VERSION)"'
$(B)/sudo_zsp/sudo_zsp.o: Makefile
$(B)/sudo_zsp.so: $(B)/sudo_zsp/sudo_zsp.o $(B)/libzsp.a sudo_zsp/sudo_zsp.map
	$(CXX) -shared $(LDHARDEN) -Wl,-z,nodelete \
	  -Wl,--version-script=sudo_zsp/sudo_zsp.map -Wl,-Map=$@.map -o $@ \
	  $(B)/sudo_zsp/sudo_zsp.o $(B)/libzsp.a $(MODULE_LIBS)

$(B)/pam_zsp.so: $(B)/pam_zsp/pam_zsp.o $(B)/libzsp.a pam_zsp/pam_zsp.map
	$(CXX) -shared $(LDHARDEN) -Wl,-z,nodelete \
	  -Wl,--version-script=pam_zsp/pam_zsp.map -Wl,-Map=$@.map -o $@ \
	  $(B)/pam_zsp/pam_zsp.o $(B)/libzsp.a -lpam $(MODULE_LIBS)

$(B)/zsp-broker: $(BROKER_OBJS) $(B)/libzsp.a
	$(CXX) $(LDHARDEN) -pie -o $@ $^ -lcpp-httplib -lsqlite3 -lpq $(COMMON_LIBS) \
	  -pthread

$(B)/zsp-agent: $(AGENT_OBJS) $(B)/libzsp.a
	$(CXX) $(LDHARDEN) -pie -o $@ $^ $(COMMON_LIBS) -pthread

$(B)/zspctl: $(B)/broker/zspctl.o $(B)/broker/zspctl_audit.o \
    $(B)/broker/zspctl_breakglass.o $(B)/broker/zspctl_host.o \
    $(B)/broker/zspctl_login.o $(B)/broker/access_text.o $(B)/libzsp.a
	$(CXX) $(LDHARDEN) -pie -o $@ $^ $(COMMON_LIBS)

$(B)/unit_tests: $(UNIT_OBJS) $(BROKER_LIB_OBJS) $(AGENT_LIB_OBJS) \
    $(B)/broker/zspctl_audit.o $(B)/broker/zspctl_host.o $(B)/libzsp.a
	$(CXX) $(LDHARDEN) -o $@ $^ -lcppunit -lcpp-httplib -lsqlite3 -lpq \
	  $(COMMON_LIBS) -pthread

$(B)/tcp_blackhole: tests/tools/tcp_blackhole.cc
	@mkdir -p $(B)
	$(CXX) $(ZSP_CXXFLAGS) $(CXXFLAGS) -o $@ $<

# A TLS broker that misbehaves on purpose, for tests/integration/fault_test.sh.
$(B)/hostile_broker: $(B)/tests/tools/hostile_broker.o $(B)/broker/pki.o \
    $(B)/libzsp.a
	$(CXX) $(LDHARDEN) -o $@ $^ $(COMMON_LIBS) -pthread

$(B)/open_watch: tests/tools/open_watch.cc
	@mkdir -p $(B)
	$(CXX) $(ZSP_CXXFLAGS) $(CXXFLAGS) -o $@ $<

# Sends one journal entry through common/journal_socket.cc, for
# tests/integration/journal_test.sh.
$(B)/journal_send: $(B)/tests/tools/journal_send.o $(B)/libzsp.a
	$(CXX) $(LDHARDEN) -o $@ $^

$(B)/pam_loop: tests/tools/pam_loop.cc
	@mkdir -p $(B)
	$(CXX) $(ZSP_CXXFLAGS) $(CXXFLAGS) -o $@ $< -lpam

# systemd's manager methods that zsp-agent calls, for
# tests/integration/agent_systemd_test.sh.
$(B)/systemd_standin: tests/tools/systemd_standin.cc
	@mkdir -p $(B)
	$(CXX) $(ZSP_CXXFLAGS) $(CXXFLAGS) -o $@ $< -lsystemd

# Benchmark tools; `make bench` builds them and runs tests/bench/run.sh,
# then tests/bench/pg.sh (decisions on SQLite next to PostgreSQL) and
# tests/bench/load.sh (the cost of loading the modules and OpenSSL).
BENCH_TOOLS := $(B)/bench/bench_exec $(B)/bench/loadgen $(B)/bench/spool_bench \
               $(B)/bench/load_cost

$(B)/bench/bench_exec: tests/bench/bench_exec.cc
	@mkdir -p $(dir $@)
	$(CXX) $(ZSP_CXXFLAGS) $(CXXFLAGS) -o $@ $<

$(B)/bench/loadgen: tests/bench/loadgen.cc
	@mkdir -p $(dir $@)
	$(CXX) $(ZSP_CXXFLAGS) $(CXXFLAGS) -o $@ $< -lcurl -pthread

$(B)/bench/spool_bench: $(B)/tests/bench/spool_bench.o $(B)/libzsp.a
	$(CXX) $(LDHARDEN) -o $@ $^ $(COMMON_LIBS)

# Static libstdc++, so that the dlopen of libstdc++.so.6 that it times is
# a real load.
$(B)/bench/load_cost: tests/bench/load_cost.cc
	@mkdir -p $(dir $@)
	$(CXX) $(ZSP_CXXFLAGS) $(CXXFLAGS) -static-libstdc++ -static-libgcc \
	  -o $@ $< -ldl

bench: deps
	$(MAKE) all $(BENCH_TOOLS)
	tests/bench/run.sh
	tests/bench/pg.sh
	tests/bench/load.sh
	tests/bench/libstdcxx.sh

# libFuzzer targets, built with clang and sanitizers from the same sources.
FUZZ_CXX ?= clang++
FUZZ_FLAGS := -std=c++20 -I. -g -O1 -fsanitize=fuzzer-no-link,address,undefined
FUZZ_SRCS := $(wildcard tests/fuzz/*_fuzz.cc)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.cc=$(B)/fuzz/%)
FUZZ_COMMON_OBJS := $(COMMON_SRCS:%.cc=$(B)/fuzz/obj/%.o)

$(B)/fuzz/obj/%.o: %.cc
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_FLAGS) -c $< -o $@

$(B)/fuzz/%: tests/fuzz/%.cc $(FUZZ_COMMON_OBJS)
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(filter %.o,$^) \
	  $(COMMON_LIBS)

# The broker's command matcher, with the broker objects it needs.
FUZZ_BROKER_POLICY_OBJS := $(B)/fuzz/obj/broker/policy.o \
  $(B)/fuzz/obj/broker/policy_file.o $(B)/fuzz/obj/broker/toml_reader.o \
  $(B)/fuzz/obj/broker/validate.o
$(B)/fuzz/command_match_fuzz: $(FUZZ_BROKER_POLICY_OBJS)

fuzz-build: $(FUZZ_BINS)

# Keeps the sanitizer objects, which make would otherwise delete as
# intermediate files and rebuild on every fuzz-build.
.SECONDARY: $(FUZZ_COMMON_OBJS) $(FUZZ_BROKER_POLICY_OBJS)

# A longer fuzz run than the short one in `make check`.
fuzz: deps fuzz-build
	tests/fuzz/run.sh 300

# The unit tests (which cover common/ and the broker), the broker, zspctl,
# pam_zsp.so and tests/tools/pam_loop built with AddressSanitizer and
# UBSan into build-asan/, then tests/asan.sh: the unit tests, pam_loop
# with the module, integration suites against the sanitized broker and
# zspctl, and the fuzz targets, which always carry both sanitizers.
# sudo_zsp.so is not run this way: a module built with ASan needs the ASan
# runtime loaded first in its host process, and sudo is setuid, so the
# loader ignores LD_PRELOAD for it. The integration suites therefore load
# the modules of build/.
ASAN_B := build-asan
ASAN_CXX := $(CXX) -fsanitize=address,undefined -fno-sanitize-recover=all \
  -fno-omit-frame-pointer
ASAN_TARGETS := unit_tests zsp-broker zspctl pam_zsp.so pam_loop

asan-build:
	$(MAKE) -j$$(nproc) B=$(ASAN_B) CXX="$(ASAN_CXX)" CXXFLAGS="-O1 -g" \
	  MODULE_STATIC= $(addprefix $(ASAN_B)/,$(ASAN_TARGETS))

asan: deps asan-build
	$(MAKE) all fuzz-build
	tests/asan.sh $(ASAN_B)

# What .ci/run adds after `make check`: the same without the fuzz stage,
# because make check has just run every fuzz target.
asan-ci: deps asan-build
	$(MAKE) all
	tests/asan.sh $(ASAN_B) 0

# Installs the Debian packages that building and testing need.
deps:
	tests/install-deps.sh

check: deps
	$(MAKE) -j$$(nproc) all fuzz-build
	tests/run-all.sh

demo: deps
	$(MAKE) -j$$(nproc) all
	tests/demo.sh

PREFIX ?= /usr
MULTIARCH := $(shell $(CXX) -print-multiarch)
PAMDIR ?= /lib/$(MULTIARCH)/security
SUDO_PLUGIN_DIR ?= $(PREFIX)/libexec/sudo
UNITDIR ?= /lib/systemd/system

# What the packages ship, without the tests and their tools.
programs: $(B)/sudo_zsp.so $(B)/pam_zsp.so $(B)/zsp-broker $(B)/zspctl \
  $(B)/zsp-agent

# Installs binaries, modules, systemd units (not enabled), the journal
# catalog and the auditor guide. Changes no sudo.conf or pam.d file:
# enabling zsp on a host is a separate, deliberate step (pam-auth-update,
# zspctl host enable-sudo).
install: programs install-programs

install-programs:
	install -D -m 755 $(B)/zsp-broker $(DESTDIR)$(PREFIX)/sbin/zsp-broker
	install -D -m 755 $(B)/zspctl $(DESTDIR)$(PREFIX)/bin/zspctl
	install -D -m 755 $(B)/zsp-agent $(DESTDIR)$(PREFIX)/sbin/zsp-agent
	install -D -m 644 $(B)/sudo_zsp.so \
	  $(DESTDIR)$(SUDO_PLUGIN_DIR)/sudo_zsp.so
	install -D -m 644 $(B)/pam_zsp.so $(DESTDIR)$(PAMDIR)/pam_zsp.so
	install -D -m 644 packaging/pam-configs/zsp \
	  $(DESTDIR)$(PREFIX)/share/pam-configs/zsp
	install -D -m 644 packaging/zsp.catalog \
	  $(DESTDIR)$(PREFIX)/lib/systemd/catalog/zsp.catalog
	install -D -m 644 packaging/systemd/zsp.tmpfiles \
	  $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/zsp.conf
	for unit in zsp-broker.service zsp-agent.service zsp-audit-flush.service \
	    zsp-audit-flush.timer zsp-audit-flush.path; do \
	  install -D -m 644 packaging/systemd/$$unit \
	    $(DESTDIR)$(UNITDIR)/$$unit || exit 1; \
	done
	install -D -m 644 packaging/zsp.conf.example \
	  $(DESTDIR)$(PREFIX)/share/doc/zsp/examples/zsp.conf
	install -D -m 644 docs/auditing.md \
	  $(DESTDIR)$(PREFIX)/share/doc/zsp/auditing.md
	install -D -m 644 docs/live-sessions.md \
	  $(DESTDIR)$(PREFIX)/share/doc/zsp/live-sessions.md
	install -D -m 644 packaging/pam.d/sshd \
	  $(DESTDIR)$(PREFIX)/share/doc/zsp/examples/pam.d/sshd
	install -D -m 644 packaging/pam.d/su \
	  $(DESTDIR)$(PREFIX)/share/doc/zsp/examples/pam.d/su
	install -D -m 644 packaging/pam.d/login \
	  $(DESTDIR)$(PREFIX)/share/doc/zsp/examples/pam.d/login
	for page in docs/man/*.[0-9]; do \
	  section=$${page##*.}; \
	  install -D -m 644 $$page \
	    $(DESTDIR)$(PREFIX)/share/man/man$$section/$${page##*/} || exit 1; \
	done

# Builds the Debian packages into $(B)/deb/ from a copy of the tree, with
# packaging/debian as debian/, and checks them with lintian.
deb:
	rm -rf $(B)/deb && mkdir -p $(B)/deb/zsp-$(VERSION)
	git ls-files -z | xargs -0 cp --parents -t $(B)/deb/zsp-$(VERSION)
	cp -r packaging/debian $(B)/deb/zsp-$(VERSION)/debian
	# The package build starts its own make, which must not inherit this
	# one's variables (B=... on the command line would point its clean
	# target at this build directory).
	cd $(B)/deb/zsp-$(VERSION) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	  dpkg-buildpackage -us -uc -b -j2
	lintian --fail-on error --suppress-tags \
	  initial-upload-closes-no-bugs $(B)/deb/*.changes

# Builds the RPM packages into $(B)/rpm/RPMS/ with rpmbuild from a tarball
# of the tracked files. --nodeps skips the BuildRequires check, because
# rpmbuild on Debian has an empty RPM database; tests/install-deps.sh
# installs the Debian equivalents.
RPM_TOP := $(abspath $(B))/rpm

rpm:
	rm -rf $(RPM_TOP) && mkdir -p $(RPM_TOP)/SOURCES
	git ls-files -z | tar --null -T - --transform 's,^,zsp-$(VERSION)/,' \
	  -czf $(RPM_TOP)/SOURCES/zsp-$(VERSION).tar.gz
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL rpmbuild -bb --nodeps \
	  --define "_topdir $(RPM_TOP)" packaging/rpm/zsp.spec

clean:
	rm -rf $(B) $(ASAN_B)

.PHONY: all deps check demo install install-programs programs deb rpm clean \
  fuzz fuzz-build asan asan-build asan-ci bench

# Dependency files of the compiler, not the package trees under $(B)/deb
# and $(B)/rpm.
-include $(shell find $(B) \( -path '$(B)/deb' -o -path '$(B)/rpm' \) -prune -o -name '*.d' -type f -print 2>/dev/null)
