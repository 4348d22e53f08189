//! Scrapes of `GET /metrics` against the real daemon (`miwa serve`, started by the bench
//! on free ports with its component core), one at a time over fresh connections:
//! - the default daemon;
//! - a daemon with over 10,000 statistics (2,500 event subscribers, 4 statistics each);
//! - a front in front of 10 miwa nodes (each node's statistics fetched for the scrape).
//!
//! Then the chart sampler's CPU time per sample of a daemon's statistics (its state in this
//! process, after a few commands ran), with the default charts; at the default
//! `charts.interval_ms` (1000) that is its cost per second.
//!
//! Run with `cargo bench -p host-native --bench metrics` (after `cargo build --release`,
//! whose `miwa` it starts). The client and the daemons share the machine's cores.

use mi_core::Host;
use miwa_dispatch::metrics::sampler::{ChartSettings, Sampler};
use miwa_dispatch::{Executor, MiDispatcher};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};
use transports::{Caller, Dispatcher, TransportKind};

mod support;

/// A daemon under test, with its UDP socket (a node of front mode).
struct Daemon {
    http: SocketAddr,
    udp: SocketAddr,
    _running: support::Daemon,
}

fn start(extra: &str) -> Daemon {
    let udp = UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("free udp port");
    let running = support::Daemon::start(|port| {
        format!(
            "[datagram]\nudp = [\"{udp}\"]\nunix = []\n[fifo]\nenabled = false\n[http]\nport = {port}\nmax_body = 4194304\n{extra}\n"
        )
    });
    Daemon {
        http: SocketAddr::from(([127, 0, 0, 1], running.port)),
        udp,
        _running: running,
    }
}

/// One HTTP exchange on a fresh connection; the body.
fn http(addr: SocketAddr, request: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.write_all(request.as_bytes()).expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head")
        + 4;
    assert!(
        raw.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&raw[..head_end])
    );
    raw.split_off(head_end)
}

fn post(daemon: &Daemon, body: &str) -> Vec<u8> {
    http(
        daemon.http,
        &format!(
            "POST /mi HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

/// Scrapes `rounds` times; prints the median and 95th percentile time and the bytes.
fn scrape(label: &str, daemon: &Daemon, rounds: usize) {
    let request = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let mut times = Vec::with_capacity(rounds);
    let mut bytes = 0;
    let mut samples = 0;
    for _ in 0..rounds {
        let started = Instant::now();
        let body = http(daemon.http, request);
        times.push(started.elapsed());
        bytes = body.len();
        samples = body
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty() && line[0] != b'#')
            .count();
    }
    times.sort();
    println!(
        "{label:<44} {samples:>6} samples {bytes:>9} bytes   p50 {:>8.2} ms   p95 {:>8.2} ms",
        times[rounds / 2].as_secs_f64() * 1e3,
        times[rounds * 95 / 100].as_secs_f64() * 1e3
    );
}

fn sampler_cost() {
    let settings = miwa_state::settings::StateSettings::default();
    let state = miwa_state::HostState::start(&settings, Vec::new()).expect("state");
    let dispatcher = MiDispatcher::new(
        Executor::NativeBaseline(mi_core::Core::default()),
        state.clone(),
        64,
        None,
    );
    for method in [
        "uptime",
        "ps",
        "version",
        "which",
        "get_statistics",
        "list_statistics",
    ] {
        let request = format!(
            "{{\"jsonrpc\":\"2.0\",\"method\":\"{method}\",\"params\":[[\"all\"]],\"id\":1}}"
        );
        dispatcher.dispatch(
            Caller::anonymous(TransportKind::Http),
            request.as_bytes(),
            false,
        );
    }
    let defaults = miwa_dispatch::metrics::settings::ChartsConfig::default();
    let sampler = Sampler::new(ChartSettings {
        interval: Duration::from_millis(defaults.interval_ms),
        samples: defaults.samples,
        max_series: defaults.max_series,
        show: defaults.show,
        max_picks: defaults.max_picks,
    });
    let rounds = 20_000;
    let started = Instant::now();
    for i in 0..rounds {
        let stats = state.statistics();
        sampler.sample(&stats, i as i64 * 1000);
    }
    let per_sample = started.elapsed() / rounds;
    let (series, _) = sampler.counts();
    println!(
        "{:<44} {} statistics read, {series} sampled: {:.1} µs per sample = {:.4} % of one core at interval_ms = {}",
        "chart sampler (in process)",
        state.statistics().len(),
        per_sample.as_secs_f64() * 1e6,
        per_sample.as_secs_f64() * 100.0 / (defaults.interval_ms as f64 / 1000.0),
        defaults.interval_ms
    );
}

fn main() {
    let plain = start("");
    post(&plain, r#"{"jsonrpc":"2.0","method":"uptime","id":1}"#);
    scrape("default daemon", &plain, 400);
    drop(plain);

    let many = start("[events]\nmax_subscribers = 2600\nthreshold_ms = 0\n");
    let sinks: Vec<UdpSocket> = (0..2500)
        .map(|_| UdpSocket::bind("127.0.0.1:0").expect("sink"))
        .collect();
    let batch: Vec<String> = sinks
        .iter()
        .enumerate()
        .map(|(i, s)| {
            format!(
                "{{\"jsonrpc\":\"2.0\",\"method\":\"event_subscribe\",\"params\":[\"E_MODULE_UNLOADED\",\"udp:{}\",3600],\"id\":{i}}}",
                s.local_addr().expect("sink address")
            )
        })
        .collect();
    post(&many, &format!("[{}]", batch.join(",")));
    scrape("10,000+ statistics (2,500 subscribers)", &many, 60);
    drop(many);

    let nodes: Vec<Daemon> = (0..10).map(|_| start("")).collect();
    let tables: String = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| format!("[upstreams.node{i}]\nudp = \"{}\"\n", n.udp))
        .collect();
    let front = start(&tables);
    std::thread::sleep(Duration::from_millis(500));
    scrape("front mode, 10 miwa nodes", &front, 100);
    drop(front);
    drop(nodes);

    sampler_cost();
}
