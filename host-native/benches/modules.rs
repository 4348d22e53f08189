//! What a module call adds over a core command on the same path: `health_echo` (the health
//! example module, answering its argument) against the core's `uptime` and `pwd`, both
//! through the warm core component; and the cost of loading a module.

use criterion::{criterion_group, criterion_main, Criterion};
use miwa_modules::grant::Grant;
use miwa_modules::settings::ModuleConfig;
use miwa_modules::Modules;
use miwa_runtime::settings::CoreConfig;
use miwa_runtime::CoreRuntime;
use miwa_state::settings::StateSettings;
use miwa_state::HostState;
use miwa_state::ModuleControl as _;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;

const UPTIME: &[u8] = br#"{"jsonrpc":"2.0","method":"uptime","id":1}"#;
const PWD: &[u8] = br#"{"jsonrpc":"2.0","method":"pwd","id":1}"#;
const ECHO: &[u8] = br#"{"jsonrpc":"2.0","method":"health_echo","params":["x"],"id":1}"#;

fn modules(c: &mut Criterion) {
    let health = ModuleConfig {
        path: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../target/modules/wasm32-wasip2/release/health.wasm"),
        grants: vec![Grant::Mi, Grant::Stats, Grant::Log],
        ..ModuleConfig::default()
    };
    let declared = BTreeMap::from([("health".to_string(), health)]);
    let state =
        HostState::start(&StateSettings::default(), vec!["miwa".into()]).expect("host state");
    let runtime = CoreRuntime::new(&CoreConfig::default(), state.clone()).expect("core component");
    let modules =
        Modules::new(&state, &runtime, declared, None, |_| Ok(BTreeMap::new())).expect("modules");
    modules.start();
    let reply = runtime.handle(ECHO, false).expect("reply").reply;
    assert!(
        matches!(&reply, miwa_runtime::CoreReply::Text(t) if t.contains(r#""result":"x""#)),
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
