# carme-slurm: the two commands a newcomer runs (as root, Debian 12):
#   make demo   install deps, build, start the local 3-node cluster, run a Carme job
#   make test   install deps, build, run every test (unit + end-to-end on a real cluster)
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)

CLUSTER_DIR ?= /var/lib/carme-test/cluster
E2E_DIR ?= /var/lib/carme-test/e2e-cluster

.PHONY: all deps build packages test-packages demo demo-stop test test-unit test-e2e lint check-series bench bench-apptainer fuzz clean

all: build

deps:
	bash tests/cluster/install-deps.sh

# carme-exec is its own workspace (no std, panic = "abort"); its binary
# goes to the same target/release/ as the rest.
# It is written for x86_64 only; elsewhere Slurm >= 23.11 is needed anyway
# (no helper), so it is skipped there.
EXEC_MANIFEST := --manifest-path carme-exec/Cargo.toml
EXEC := $(EXEC_MANIFEST) --target-dir $(or $(CARGO_TARGET_DIR),target)
ifneq ($(shell uname -m),x86_64)
EXEC_SKIP := @echo "carme-exec: skipped on $(shell uname -m) (x86_64 only; use Slurm >= 23.11)"; true
endif

# Builds only: it installs nothing (an admin's build host needs a Rust
# toolchain, libslurm-dev and libclang-dev; `make deps` installs them and
# the test cluster's packages).
build:
	cargo build --release --workspace
	$(EXEC_SKIP) cargo build --release $(EXEC)

# The .debs (bookworm/22.05, trixie/24.11, forky/26.05) and EL9 .rpms
# (one per Slurm series) in target/packages (packaging/build.sh). The
# 24.11 and 26.05 plugins are built against the headers of the Debian
# roots (tests/cluster/release.sh makes them once).
packages: build
	bash packaging/build.sh

# Every package checked file by file, and the bookworm .deb installed,
# removed, reinstalled and purged in a Debian 12 root (the trixie and forky
# .debs are installed by the e2e suite in the roots of their Slurm).
test-packages: deps packages
	bash tests/packaging/check.sh
	bash tests/packaging/install.sh

demo: deps build
	bash tests/demo.sh $(CLUSTER_DIR)

demo-stop:
	bash tests/cluster/cluster.sh stop $(CLUSTER_DIR)

lint: deps
	cargo fmt --all -- --check
	$(EXEC_SKIP) cargo fmt $(EXEC_MANIFEST) -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(EXEC_SKIP) cargo clippy --release $(EXEC) -- -D warnings

test-unit: deps
	cargo test --workspace --exclude carme-e2e

# The plugin built and checked for each Slurm series (tests/cluster/check-series.sh):
# clippy, plugin_version, exports, the prepend path, the client option tables.
check-series: deps
	for s in $$(bash tests/cluster/release.sh series); do \
	    bash tests/cluster/check-series.sh $$s || exit 1; \
	done

# The e2e suite on every supported Slurm series: 22.05 on this machine,
# 24.11 (Debian trixie) and 26.05 (Debian sid) in roots that
# tests/cluster/release.sh makes once with mmdebstrap. SERIES=24.11 runs one.
SERIES ?=
test-e2e: deps build packages
	bash tests/e2e/all-series.sh $(E2E_DIR) $(SERIES)

test: lint test-unit check-series test-packages test-e2e

bench: deps build
	bash bench/run.sh

# Every libFuzzer target (fuzz/, cargo-fuzz) for FUZZ_SECONDS each, with the
# nightly toolchain; without one this says so and fails. The regression
# inputs and corpora replay on stable in test-unit (carme-fuzz-checks).
FUZZ_SECONDS ?= 600
FUZZ_TARGETS := hostlist hostlist_slurm slurmtime slurmtime_slurm gate units glob \
	template record client_args config_scoped launch_plan plugin_elf slurm_output
fuzz: deps
	@rustup toolchain list 2>/dev/null | grep -q '^nightly' || { \
	    echo "make fuzz: no nightly Rust toolchain is installed, and cargo-fuzz needs one."; \
	    echo "  Install it with: rustup toolchain install nightly"; \
	    echo "  Nothing was fuzzed. (make test-unit still replays fuzz/regressions and fuzz/corpus on stable.)"; \
	    exit 1; }
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
	cd fuzz && for t in $(FUZZ_TARGETS); do \
	    mkdir -p work/$$t && \
	    cargo +nightly fuzz run $$t work/$$t corpus/$$t -- \
	        -max_total_time=$(FUZZ_SECONDS) -dict=dicts/$$t.dict \
	        -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	        || { echo "make fuzz: target $$t failed; the input is in fuzz/artifacts/$$t/"; exit 1; }; \
	done

# Carme with the real Apptainer vs apptainer exec by hand (Slurm 26.05, sid root).
bench-apptainer: deps build
	bash bench/apptainer.sh

clean:
	cargo clean
