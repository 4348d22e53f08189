# miwa: the two entry points are `make run` (the daemon on its embedded defaults) and
# `make test` (the whole test suite). Both install what they need.

CARGO ?= cargo
VENV := tests/.venv
PYTHON_CLIENTS := opensips==0.1.11 opensipscli==0.4.1 websockets==15.0.1 mcp==2.3.0
# The venv is (re)made when the list above changes: its stamp is named by the list's digest.
VENV_STAMP := $(VENV)/.clients-$(shell echo '$(PYTHON_CLIENTS)' | sha256sum | cut -c1-12)
WASM_BINDGEN_VERSION := 0.2.130
PLAYGROUND := target/playground
COMPONENTIZE_PY := componentize-py==0.25.1
PY_MODULES := target/modules/python
PY_VENV := target/modules/python-venv
JS_DIR := mi-core/modules/js
JS_MODULES := target/modules/js

.PHONY: setup wasm-bindgen-cli playground rust-modules python-modules js-modules cargo-deb deb opensips run test bench lint

## Rust targets for the core component (wasm32-wasip2) and the browser build.
setup:
	rustup target add wasm32-wasip2 wasm32-unknown-unknown

## wasm-bindgen's command-line tool, at exactly the version of the wasm-bindgen crate.
wasm-bindgen-cli:
	@wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $(WASM_BINDGEN_VERSION)" || \
		$(CARGO) install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION)

## The browser playground: the core built for wasm32-unknown-unknown, its wasm-bindgen glue
## and the page, in target/playground (served by the daemon at /playground/, or by any
## static web server).
playground: setup wasm-bindgen-cli
	$(CARGO) build -p host-wasm-web --lib --target wasm32-unknown-unknown --profile web
	rm -rf $(PLAYGROUND) && mkdir -p $(PLAYGROUND)/pkg
	wasm-bindgen --target web --no-typescript --out-dir $(PLAYGROUND)/pkg \
		target/wasm32-unknown-unknown/web/host_wasm_web.wasm
	cp host-wasm-web/www/* $(PLAYGROUND)/

## The Rust command modules (the SDK's examples and the tests' fixtures), built for
## miwa:module into target/modules/wasm32-wasip2/release/<name>.wasm.
rust-modules: setup
	cd mi-core/modules && $(CARGO) build --target wasm32-wasip2 --release --target-dir ../../target/modules

## The Python command modules (examples and fixtures), built with componentize-py for
## miwa:module@0.3.0 into target/modules/python/<name>.wasm.
$(PY_VENV)/bin/componentize-py:
	python3 -m venv $(PY_VENV)
	$(PY_VENV)/bin/pip install --quiet $(COMPONENTIZE_PY)

python-modules: $(PY_VENV)/bin/componentize-py
	mkdir -p $(PY_MODULES)
	for app in mi-core/modules/python/examples/* mi-core/modules/python/fixtures/*; do \
		$(PY_VENV)/bin/componentize-py -d mi-core/wit/module/v0.3.0 -w module componentize \
			-p mi-core/modules/python -p $$app app -o $(PY_MODULES)/$$(basename $$app).wasm || exit 1; \
	done

## The JavaScript command modules (examples and fixtures), built with componentize-js
## (pinned in mi-core/modules/js/package-lock.json) for miwa:module@0.2.0 into
## target/modules/js/<name>.wasm; each app.js is built beside a copy of miwa-module.js.
$(JS_DIR)/node_modules/.bin/componentize-js: $(JS_DIR)/package.json
	cd $(JS_DIR) && npm ci --no-audit --no-fund

js-modules: $(JS_DIR)/node_modules/.bin/componentize-js
	mkdir -p $(JS_MODULES)
	for app in $(JS_DIR)/examples/* $(JS_DIR)/fixtures/*; do \
		build=target/modules/js-build/$$(basename $$app); \
		rm -rf $$build && mkdir -p $$build && cp $$app/app.js $(JS_DIR)/miwa-module.js $$build/ && \
		(cd $$build && $(CURDIR)/$(JS_DIR)/node_modules/.bin/componentize-js \
			--wit $(CURDIR)/mi-core/wit/module/v0.2.0 --world-name module \
			-o $(CURDIR)/$(JS_MODULES)/$$(basename $$app).wasm app.js) || exit 1; \
	done

## cargo-deb, which builds the Debian package.
CARGO_DEB_VERSION := 3.8.0
cargo-deb:
	@cargo deb --version 2>/dev/null | grep -q "$(CARGO_DEB_VERSION)" || \
		$(CARGO) install cargo-deb --version $(CARGO_DEB_VERSION) --locked

## The Debian package, target/debian/miwa_<version>_amd64.deb: the binary, the
## playground, /etc/miwa/miwa.toml, the systemd unit, logrotate, manual pages and
## completion scripts (host-native/debian/ and [package.metadata.deb] in its Cargo.toml).
deb: playground cargo-deb
	$(CARGO) build --release
	rm -rf target/deb-assets && mkdir -p target/deb-assets/completions
	target/release/miwa manpages target/deb-assets/man
	target/release/miwa completions bash --program /usr/bin/miwa > target/deb-assets/completions/miwa
	target/release/miwa completions zsh --program /usr/bin/miwa > target/deb-assets/completions/_miwa
	target/release/miwa completions fish --program /usr/bin/miwa > target/deb-assets/completions/miwa.fish
	$(CARGO) deb -p host-native --no-build --output target/debian/

## Builds and runs the daemon with its embedded defaults (HTTP on 127.0.0.1:8888, the
## playground at http://127.0.0.1:8888/playground/).
run: setup playground
	$(CARGO) run --release -p host-native --bin miwa -- serve

## The real MI clients the end-to-end tests drive.
$(VENV_STAMP):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet $(PYTHON_CLIENTS)
	touch $@

## The whole suite: unit tests, the core in wasmtime, conformance replay, real clients,
## Debian's Kamailio as a node of front mode, Debian's Redis behind the blocklist module,
## Debian's Prometheus (and its promtool) scraping /metrics.
## playwright-core drives Debian's chromium in the browser tests.
tests/browser/node_modules/playwright-core: tests/browser/package.json
	cd tests/browser && npm ci --no-audit --no-fund

## Real OpenSIPS 3.6.8 and 4.0.1 nodes for the front-mode tests, built once into target/
## from the sources in ../shared/opensips (skipped, loudly, when they are not there).
OPENSIPS_SOURCES := ../shared/opensips
opensips:
	@if [ -x $(OPENSIPS_SOURCES)/build.sh ]; then \
	  for v in 3.6.8 4.0.1; do bash $(OPENSIPS_SOURCES)/build.sh $$v "$(CURDIR)/target/opensips-$$v" || exit 1; done; \
	else \
	  echo "*** no $(OPENSIPS_SOURCES)/build.sh: the real-OpenSIPS tests will be skipped ***"; \
	fi

test: setup playground rust-modules python-modules js-modules cargo-deb opensips $(VENV_STAMP) tests/browser/node_modules/playwright-core
	command -v curl >/dev/null || (apt-get update && apt-get install -y curl)
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)
	command -v tmux >/dev/null || (apt-get update && apt-get install -y tmux)
	command -v dnsmasq >/dev/null || (apt-get update && apt-get install -y dnsmasq-base)
	command -v logrotate >/dev/null || (apt-get update && apt-get install -y logrotate)
	command -v man >/dev/null || (apt-get update && apt-get install -y man-db)
	command -v systemd-analyze >/dev/null || (apt-get update && apt-get install -y systemd)
	test -x /usr/sbin/kamailio || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y kamailio)
	test -x /usr/bin/redis-server || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server)
	test -x /usr/bin/promtool || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus)
	$(CARGO) build --release
	$(CARGO) test --release -- --show-output --skip soak::
	# The soak test measures the daemon's memory under full load: alone, not beside others.
	$(CARGO) test --release -p miwa-tests --test all -- --show-output soak::

## Criterion benchmarks of the core (component vs native).
bench: setup rust-modules
	$(CARGO) bench -p host-native

## Formatting and lints as CI expects them.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --all-targets -- -D warnings
	$(CARGO) clippy -p mi-core-component --target wasm32-wasip2 --release -- -D warnings
	cd mi-core/modules && $(CARGO) fmt --all -- --check
	cd mi-core/modules && $(CARGO) clippy --target wasm32-wasip2 --release --target-dir ../../target/modules -- -D warnings
