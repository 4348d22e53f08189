//! Front mode's fleet: `nodes_run` over 1 and over 10 nodes that each take 5 ms to answer
//! (in-process UDP nodes, labelled `bench-node`): the call costs about one node's latency,
//! not ten, because the nodes are asked in parallel.

use criterion::{criterion_group, criterion_main, Criterion};
use miwa_front::fleet::{Fleet, Roster, RunArguments};
use miwa_front::names::NodeNames;
use miwa_front::node::Node;
use miwa_front::reload::ReloadPolicy;
use miwa_front::settings::UpstreamConfig;
use std::sync::Arc;
use std::time::Duration;

/// How long each bench node takes to answer.
const NODE_LATENCY: Duration = Duration::from_millis(5);

/// A UDP node that answers every request with its id after [`NODE_LATENCY`].
async fn bench_node() -> String {
    let socket = Arc::new(
        tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("udp"),
    );
    let address = socket.local_addr().expect("address").to_string();
    let label = address.clone();
    tokio::spawn(async move {
        let mut buffer = vec![0u8; 65536];
        loop {
            let Ok((length, from)) = socket.recv_from(&mut buffer).await else {
                continue;
            };
            let request: serde_json::Value =
                serde_json::from_slice(&buffer[..length]).unwrap_or_default();
            let reply = serde_json::json!({"jsonrpc": "2.0", "result": {"bench-node": label}, "id": request["id"]})
                .to_string();
            let socket = socket.clone();
            tokio::spawn(async move {
                tokio::time::sleep(NODE_LATENCY).await;
                let _ = socket.send_to(reply.as_bytes(), from).await;
            });
        }
    });
    address
}

fn fleet(runtime: &tokio::runtime::Runtime, size: usize) -> Fleet {
    let budget = transports::budget::ByteBudget::new(64 << 20);
    let nodes = (0..size)
        .map(|i| {
            let address = runtime.block_on(bench_node());
            let config = UpstreamConfig {
                udp: Some(address),
                ..UpstreamConfig::default()
            };
            Arc::new(Node::new(&format!("n{i}"), &config, "config", &budget).expect("node"))
        })
        .collect();
    Fleet::new(Roster::new(nodes, None), 64, ReloadPolicy::default())
}

fn nodes_run(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("nodes_run_5ms_nodes");
    group.sample_size(20);
    let names = NodeNames::default();
    let params = mi_core::json::object([("command", mi_core::json::Value::str("uptime"))]);
    for size in [1, 10] {
        let fleet = fleet(&runtime, size);
        group.bench_function(format!("{size}_nodes"), |b| {
            b.iter(|| {
                let arguments = RunArguments::from_params(Some(&params)).expect("arguments");
                let result = runtime
                    .block_on(fleet.run(arguments, &names, None, &|_, _| {}))
                    .expect("nodes_run");
                assert_eq!(result.as_object().map(|o| o.len()), Some(size));
            })
        });
    }
    group.finish();
}

criterion_group!(benches, nodes_run);
criterion_main!(benches);
