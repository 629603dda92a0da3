# carme-slurm: the two commands a newcomer runs (as root, Debian 12):
#   make demo   install deps, build, start the local 3-node cluster, run a Carme job
#   make test   install deps, build, run every test (unit + end-to-end on a real cluster)
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)

CLUSTER_DIR ?= /var/lib/carme-test/cluster
E2E_DIR ?= /var/lib/carme-test/e2e-cluster

.PHONY: all deps build demo demo-stop test test-unit test-e2e lint check-24.11 bench bench-apptainer clean

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

build: deps
	cargo build --release --workspace
	$(EXEC_SKIP) cargo build --release $(EXEC)

demo: build
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

# The plugin must also build against Slurm >= 23.11 headers (prepend path).
check-24.11: deps
	inc=$$(bash tests/cluster/slurm-headers.sh) && \
	    CARME_SLURM_INCLUDE=$$inc cargo clippy -p carme-spank --target-dir target/slurm-24.11 -- -D warnings && \
	    CARME_SLURM_INCLUDE=$$inc cargo build --release -p carme-spank --target-dir target/slurm-24.11 && \
	    nm -D target/slurm-24.11/release/libcarme_spank.so | grep -q ' U spank_prepend_task_argv' || \
	    { echo "check-24.11: the plugin does not use spank_prepend_task_argv" >&2; exit 1; }

# The e2e suite on every supported Slurm series: 22.05 on this machine,
# 24.11 (Debian trixie) and 26.05 (Debian sid) in roots that
# tests/cluster/release.sh makes once with mmdebstrap. SERIES=24.11 runs one.
SERIES ?=
test-e2e: build
	bash tests/e2e/all-series.sh $(E2E_DIR) $(SERIES)

test: lint test-unit check-24.11 test-e2e

bench: build
	bash bench/run.sh

# Carme with the real Apptainer vs apptainer exec by hand (Slurm 26.05, sid root).
bench-apptainer: build
	bash bench/apptainer.sh

clean:
	cargo clean
