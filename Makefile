# miwa: the two entry points are `make run` (the daemon on its embedded defaults) and
# `make test` (the whole test suite). Both install what they need.

CARGO ?= cargo
VENV := tests/.venv
PYTHON_CLIENTS := opensips==0.1.11 opensipscli==0.4.1

.PHONY: setup run test bench lint

## Rust targets for the core component (wasm32-wasip2) and the browser build.
setup:
	rustup target add wasm32-wasip2 wasm32-unknown-unknown

## Builds and runs the daemon with its embedded defaults (HTTP on 127.0.0.1:8888).
run: setup
	$(CARGO) run --release -p host-native --bin miwa -- serve

## The real MI clients the end-to-end tests drive.
$(VENV)/bin/opensips-cli:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet $(PYTHON_CLIENTS)

## The whole suite: unit tests, the core in wasmtime, conformance replay, real clients.
## playwright-core drives Debian's chromium in the browser tests.
tests/browser/node_modules/playwright-core: tests/browser/package.json
	cd tests/browser && npm ci --no-audit --no-fund

test: setup $(VENV)/bin/opensips-cli tests/browser/node_modules/playwright-core
	command -v curl >/dev/null || (apt-get update && apt-get install -y curl)
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)
	$(CARGO) build --release
	$(CARGO) test --release -- --show-output

## Criterion benchmarks of the core (component vs native).
bench: setup
	$(CARGO) bench -p host-native

## Formatting and lints as CI expects them.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --all-targets -- -D warnings
	cd mi-core/modules && $(CARGO) fmt --all -- --check
	cd mi-core/modules && $(CARGO) clippy --target wasm32-wasip2 --release --target-dir ../../target/modules -- -D warnings
