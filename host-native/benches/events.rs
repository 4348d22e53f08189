//! Event delivery: `raise_event` through the warm core component with 1 and with 100 UDP
//! subscribers (the raising call must not grow with the subscriber count), and the sustained
//! rate delivered to one UDP subscriber, printed before the criterion runs.

use criterion::{criterion_group, criterion_main, Criterion};
use mi_core::Host;
use miwa_runtime::settings::CoreConfig;
use miwa_runtime::CoreRuntime;
use miwa_state::settings::StateSettings;
use miwa_state::HostState;
use std::hint::black_box;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RAISE: &[u8] =
    br#"{"jsonrpc":"2.0","method":"raise_event","params":["E_CORE_THRESHOLD",["bench"]],"id":1}"#;

/// Subscribers that read and count whatever arrives.
fn subscribers(state: &HostState, count: usize) -> (Arc<AtomicU64>, Arc<AtomicBool>) {
    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    for _ in 0..count {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("udp");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let address = format!("udp:{}", socket.local_addr().expect("address"));
        state
            .subscribe("E_CORE_THRESHOLD", &address, 3600)
            .expect("subscribed");
        let (received, stop) = (received.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !stop.load(Ordering::Relaxed) {
                if socket.recv(&mut buf).is_ok() {
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    (received, stop)
}

fn sent(state: &HostState) -> u64 {
    state
        .statistics()
        .into_iter()
        .find(|s| s.group == "events" && s.name == "E_CORE_THRESHOLD_sent")
        .map_or(0, |s| s.value)
}

/// Raises as fast as one thread can for a few seconds; counts what the daemon sent and what
/// the subscriber received (loopback UDP may drop when the receiver falls behind).
fn sustained(state: &HostState, runtime: &CoreRuntime, received: &AtomicU64) {
    let window = Duration::from_secs(3);
    let (sent_before, received_before) = (sent(state), received.load(Ordering::Relaxed));
    let began = Instant::now();
    let mut raised = 0u64;
    while began.elapsed() < window {
        runtime.handle(RAISE, false).expect("reply");
        raised += 1;
    }
    let sending = began.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let per_second = |n: u64| n as f64 / sending.as_secs_f64();
    println!(
        "sustained raise_event to 1 UDP subscriber: {:.0} raised/s, {:.0} sent/s, {:.0} received/s",
        per_second(raised),
        per_second(sent(state) - sent_before),
        per_second(received.load(Ordering::Relaxed) - received_before),
    );
}

/// The raising call alone, one at a time, with a pause after each for the deliveries: what
/// a request raising an event pays.
fn raise_latency(runtime: &CoreRuntime) -> impl FnMut(u64) -> Duration + '_ {
    move |iterations| {
        let mut total = Duration::ZERO;
        for _ in 0..iterations {
            let started = Instant::now();
            black_box(runtime.handle(black_box(RAISE), false).expect("reply"));
            total += started.elapsed();
            std::thread::sleep(Duration::from_millis(1));
        }
        total
    }
}

/// Subscribers that never read: deliveries cost the daemon the same, and no reader thread
/// competes with the raising call for the CPU.
fn silent_subscribers(state: &HostState, count: usize) -> Vec<UdpSocket> {
    (0..count)
        .map(|_| {
            let socket = UdpSocket::bind("127.0.0.1:0").expect("udp");
            let address = format!("udp:{}", socket.local_addr().expect("address"));
            state
                .subscribe("E_CORE_THRESHOLD", &address, 3600)
                .expect("subscribed");
            socket
        })
        .collect()
}

fn events(c: &mut Criterion) {
    let mut config = StateSettings::default();
    config.events.queue_depth = 1 << 20;
    let core = CoreConfig::default();
    let state = HostState::start(&config, vec!["miwa".into()]).expect("host state");
    let runtime = CoreRuntime::new(&core, state.clone()).expect("core component");
    let (received, stop) = subscribers(&state, 1);
    sustained(&state, &runtime, &received);
    stop.store(true, Ordering::Relaxed);

    let quiet = HostState::start(&config, vec!["miwa".into()]).expect("host state");
    let quiet_runtime = CoreRuntime::new(&core, quiet.clone()).expect("core component");
    let mut group = c.benchmark_group("raise_event");
    let _one = silent_subscribers(&quiet, 1);
    group.bench_function("1_subscriber", |b| {
        b.iter_custom(raise_latency(&quiet_runtime))
    });
    let _more = silent_subscribers(&quiet, 99);
    group.bench_function("100_subscribers", |b| {
        b.iter_custom(raise_latency(&quiet_runtime))
    });
    group.finish();
}

criterion_group!(benches, events);
criterion_main!(benches);
