//! miwa's end-to-end tests, one binary with a module per topic. Each starts real daemons
//! (`target/release/miwa`, built from the same sources: `miwa_tests::miwa_bin` refuses an
//! older one), real clients and, where a topic needs them, real nodes and a real browser.
//!
//! They need what `make test` installs: Debian's chromium, Kamailio, Redis and
//! Prometheus, the Python clients in `tests/.venv`, playwright-core, and the OpenSIPS
//! builds of `make opensips`. `MIWA_TEST_SKIP` leaves heavy environments out
//! ([`miwa_tests::Heavy`], `docs/testing.md`).

mod access;
mod access_reload;
mod audit;
mod cli;
mod clients;
mod configuration;
mod conformance_datagram;
mod conformance_fifo;
mod conformance_html;
mod conformance_http;
mod conformance_xmlrpc;
mod core_failures;
mod cross_site;
mod daemon;
mod debian;
mod discovery;
mod event_stream;
mod events;
mod fifo;
mod front;
mod front_opensips;
mod hardening;
mod http_limits;
mod js_module;
mod limits;
mod mcp;
mod metrics;
mod module_worlds;
mod modules;
mod one_meaning;
mod openrpc;
mod playground;
mod python_module;
mod redis_module;
mod reloads;
mod sandbox;
mod shares;
mod simulate;
mod soak;
mod tls;
mod websocket;
