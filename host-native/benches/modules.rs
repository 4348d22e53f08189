//! What a module call adds over a core command on the same path: `health_echo` (the health
//! example module, answering its argument) against the core's `uptime` and `pwd`, both
//! through the warm core component; and the cost of loading a module.

use criterion::{criterion_group, criterion_main, Criterion};
use host_native::config::{Config, ModuleConfig};
use host_native::modules::Modules;
use host_native::runtime::CoreRuntime;
use host_native::state::HostState;
use std::hint::black_box;
use std::path::PathBuf;

const UPTIME: &[u8] = br#"{"jsonrpc":"2.0","method":"uptime","id":1}"#;
const PWD: &[u8] = br#"{"jsonrpc":"2.0","method":"pwd","id":1}"#;
const ECHO: &[u8] = br#"{"jsonrpc":"2.0","method":"health_echo","params":["x"],"id":1}"#;

fn modules(c: &mut Criterion) {
    let mut config = Config::default();
    let health = ModuleConfig {
        path: PathBuf::from(env!("MIWA_MODULES_DIR")).join("health.wasm"),
        grants: vec!["mi".into(), "stats".into(), "log".into()],
        ..ModuleConfig::default()
    };
    config.modules.insert("health".into(), health);
    let state = HostState::start(&config, vec!["miwa".into()]).expect("host state");
    let runtime = CoreRuntime::new(&config.core, state.clone()).expect("core component");
    let modules = Modules::new(&state, &runtime, &config, None).expect("modules");
    modules.start();
    let reply = runtime.handle(ECHO, false).expect("reply").reply;
    assert!(
        matches!(&reply, host_native::runtime::CoreReply::Text(t) if t.contains(r#""result":"x""#)),
        "the module answers: {reply:?}"
    );
    let mut group = c.benchmark_group("module_call");
    for (name, request) in [
        ("core_uptime", UPTIME),
        ("core_pwd", PWD),
        ("module_echo", ECHO),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| runtime.handle(black_box(request), false).expect("reply"))
        });
    }
    group.finish();
    let mut group = c.benchmark_group("module_lifecycle");
    group.sample_size(20);
    group.bench_function("reload_cached", |b| {
        b.iter(|| modules.reload(Some("health")).expect("reloaded"))
    });
    group.finish();
}

criterion_group!(benches, modules);
criterion_main!(benches);
