//! One `uptime` request (and `which`, an empty batch, `rpc.discover`'s OpenRPC document)
//! through the warm core component in wasmtime, and through mi-core compiled natively
//! against the same host state (the baseline).

use criterion::{criterion_group, criterion_main, Criterion};
use mi_core::rpc::HandleOptions;
use miwa_runtime::settings::CoreConfig;
use miwa_runtime::CoreRuntime;
use miwa_state::settings::StateSettings;
use miwa_state::HostState;
use std::hint::black_box;

const UPTIME: &[u8] = br#"{"jsonrpc":"2.0","method":"uptime","id":1}"#;
const WHICH: &[u8] = br#"{"jsonrpc":"2.0","method":"which","id":1}"#;
const DISCOVER: &[u8] = br#"{"jsonrpc":"2.0","method":"rpc.discover","id":1}"#;

fn core(c: &mut Criterion) {
    let state =
        HostState::start(&StateSettings::default(), vec!["miwa".into()]).expect("host state");
    let runtime = CoreRuntime::new(&CoreConfig::default(), state.clone()).expect("core component");
    let native = mi_core::Core::default();
    for (name, request) in [
        ("uptime", UPTIME),
        ("which", WHICH),
        ("empty", &b"[]"[..]),
        ("rpc.discover", DISCOVER),
    ] {
        let mut group = c.benchmark_group(name);
        group.bench_function("component", |b| {
            b.iter(|| runtime.handle(black_box(request), false).expect("reply"))
        });
        group.bench_function("native", |b| {
            b.iter(|| native.handle(state.as_ref(), black_box(request), HandleOptions::default()))
        });
        group.finish();
    }
}

criterion_group!(benches, core);
criterion_main!(benches);
