# llm-incident-manager: one way to do each thing. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DEPS_STAMP := $(VENV)/.deps-stamp
BUILD_STAMP := $(VENV)/.build-stamp
RUST_SOURCES := $(shell find rust/src -name '*.rs') Cargo.toml
export LIM_HOST ?= 127.0.0.1
export LIM_PORT ?= 8080

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-12s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(DEPS_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet "maturin>=1.9,<2"
	$(BIN)/python tools/install_deps.py $(VENV) dev load
	touch $@

.PHONY: deps
deps: $(DEPS_STAMP) ## create .venv and install Python dependencies

$(BUILD_STAMP): $(DEPS_STAMP) $(RUST_SOURCES) python/llm_incident_manager/_core.pyi
	VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/maturin develop --release --quiet
	touch $@

.PHONY: build
build: $(BUILD_STAMP) ## build the Rust extension (release) into .venv

.PHONY: run
run: build ## build everything and serve on $LIM_HOST:$LIM_PORT (embedded SQLite under ./var/)
	mkdir -p var
	$(BIN)/lim serve

.PHONY: lint
lint: build ## ruff, mypy --strict, stubtest, cargo fmt --check, cargo clippy -D warnings
	$(BIN)/ruff check python tests benchmarks loadtest tools
	$(BIN)/ruff format --check python tests benchmarks loadtest tools
	$(BIN)/mypy
	$(BIN)/python -m mypy.stubtest llm_incident_manager._core --allowlist tools/stubtest-allowlist.txt
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --features python -- -D warnings

# Debian's Alertmanager (and amtool), which the end-to-end tests drive as a real peer. Installed when missing and
# this runs as root with apt (CI and fresh machines of this kind); elsewhere those tests skip, saying why.
.PHONY: test-peers
test-peers: ## install Debian's prometheus-alertmanager for the end-to-end tests, when missing and possible
	@if ! command -v prometheus-alertmanager >/dev/null || ! command -v amtool >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing prometheus-alertmanager (Debian) for the end-to-end tests"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-alertmanager >/dev/null) \
	      || echo "could not install prometheus-alertmanager: its end-to-end tests will skip"; \
	  else echo "prometheus-alertmanager missing and not installable here: its end-to-end tests will skip"; fi; \
	fi

.PHONY: test
test: build lint test-peers ## build everything, lint, cargo test and pytest on both storage backends
	cargo test --quiet --lib
	$(BIN)/pytest -q tests benchmarks

.PHONY: bench
bench: build ## benchmarks (pytest-benchmark), side by side with the obvious alternative
	$(BIN)/pytest benchmarks -q --benchmark-enable --benchmark-columns=min,median,mean,ops,rounds --benchmark-group-by=group

.PHONY: loadtest
loadtest: build ## short Locust runs (steady, storm, soak; embedded and distributed) against services it starts
	@failed=(); for run in \
	    "--scenario steady --rate 1000 --run-time 10s" \
	    "--scenario storm --storm-alerts 10000 --run-time 60s" \
	    "--scenario soak --run-time 20s --sample-every 2" \
	    "--scenario steady --rate 1000 --run-time 10s --mode distributed"; do \
	  echo "== loadtest/run.py $$run"; \
	  $(BIN)/python loadtest/run.py $$run || failed+=("$$run"); \
	done; \
	if (( $${#failed[@]} )); then printf 'FAILED: loadtest/run.py %s\n' "$${failed[@]}"; exit 1; fi; \
	echo "loadtest: all 4 runs passed"

.PHONY: fmt
fmt: deps ## format Python and Rust
	$(BIN)/ruff format python tests benchmarks loadtest tools
	$(BIN)/ruff check --fix python tests benchmarks loadtest tools
	cargo fmt

.PHONY: clean
clean: ## remove build output and the virtualenv (keeps ./var data)
	rm -rf $(VENV) target
