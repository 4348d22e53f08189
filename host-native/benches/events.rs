//! Event delivery: `raise_event` through the warm core component with 1 and with 100 UDP
//! subscribers (the raising call must not grow with the subscriber count), and the sustained
//! rate delivered to one UDP subscriber, printed before the criterion runs.

use criterion::{criterion_group, criterion_main, Criterion};
use host_native::config::Config;
use host_native::runtime::CoreRuntime;
use host_native::state::HostState;
use mi_core::Host;
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

fn sustained(runtime: &CoreRuntime, received: &AtomicU64) {
    let window = Duration::from_secs(3);
    let start = received.load(Ordering::Relaxed);
    let began = Instant::now();
    let mut raised = 0u64;
    while began.elapsed() < window {
        runtime.handle(RAISE, false).expect("reply");
        raised += 1;
    }
    std::thread::sleep(Duration::from_millis(300));
    let delivered = received.load(Ordering::Relaxed) - start;
    let seconds = window.as_secs_f64();
    println!(
        "sustained raise_event to 1 UDP subscriber: {:.0} raised/s, {:.0} delivered/s ({} of {raised})",
        raised as f64 / seconds,
        delivered as f64 / seconds,
        delivered
    );
}

fn events(c: &mut Criterion) {
    let mut config = Config::default();
    config.events.queue_depth = 1 << 20;
    let state = HostState::start(&config, vec!["miwa".into()]).expect("host state");
    let runtime = CoreRuntime::new(&config.core, state.clone()).expect("core component");
    let (received, stop) = subscribers(&state, 1);
    sustained(&runtime, &received);
    let mut group = c.benchmark_group("raise_event");
    group.bench_function("1_subscriber", |b| {
        b.iter(|| runtime.handle(black_box(RAISE), false).expect("reply"))
    });
    let (_, stop_more) = subscribers(&state, 99);
    group.bench_function("100_subscribers", |b| {
        b.iter(|| runtime.handle(black_box(RAISE), false).expect("reply"))
    });
    group.finish();
    stop.store(true, Ordering::Relaxed);
    stop_more.store(true, Ordering::Relaxed);
}

criterion_group!(benches, events);
criterion_main!(benches);
