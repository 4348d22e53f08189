//! SIMULATED nodes for the fleet-scale benchmark: one process serving N MI endpoints over
//! UDP, each answering `which`, `version`, `uptime` and `get_statistics` with fixed,
//! plainly simulated replies (`"Server": "simulated node"`). They are not OpenSIPS: they
//! stand in for a thousand nodes on one machine, to measure what a front costs per node.
//!
//! `cargo run --release -p transports --example simulated_nodes -- 1000 <dir>` binds
//! 1000 loopback UDP sockets, writes `<dir>/upstreams.toml` (one `[upstreams.sN]` table
//! each), `<dir>/srv.conf` (dnsmasq `srv-host` and `host-record` lines for
//! `_sim-mi._udp.sim.miwa`, a host name per node) and `<dir>/srv-one-host.conf` (the same
//! records, every node on the one host `sim.miwa` as they really are), then prints
//! `ready` and serves until killed.

use std::fmt::Write as _;
use tokio::net::UdpSocket;

/// The reply of simulated node `index` to `request`.
fn reply(index: usize, request: &[u8]) -> String {
    let request: serde_json::Value = serde_json::from_slice(request).unwrap_or_default();
    let id = request.get("id").cloned().unwrap_or_default();
    let result = match request.get("method").and_then(|m| m.as_str()) {
        Some("which") => serde_json::json!(["which", "version", "uptime", "get_statistics"]),
        Some("version") => serde_json::json!({"Server": "simulated node 0.0.1"}),
        Some("uptime") => serde_json::json!({
            "Now": "Mon Dec  7 12:00:00 2026",
            "Up since": "Mon Dec  7 11:00:00 2026",
            "Up time": "3600 [sec]",
            "simulated node": index
        }),
        Some("get_statistics") => serde_json::json!({
            "core:rcv_requests": index,
            "shmem:used_size": 1_000_000 + index
        }),
        _ => {
            return serde_json::json!({"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": id}).to_string();
        }
    };
    serde_json::json!({"jsonrpc": "2.0", "result": result, "id": id}).to_string()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| ".".into()));
    let (mut upstreams, mut srv) = (String::new(), String::new());
    let mut one_host = String::from("host-record=sim.miwa,127.0.0.1\n");
    let mut sockets = Vec::with_capacity(count);
    for index in 0..count {
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        let port = socket.local_addr()?.port();
        let _ = writeln!(
            upstreams,
            "[upstreams.s{index}]\nudp = \"127.0.0.1:{port}\"\nlabels = {{ simulated = \"yes\" }}"
        );
        let _ = writeln!(
            srv,
            "srv-host=_sim-mi._udp.sim.miwa,s{index}.sim.miwa,{port},0,0"
        );
        let _ = writeln!(srv, "host-record=s{index}.sim.miwa,127.0.0.1");
        let _ = writeln!(
            one_host,
            "srv-host=_sim-mi._udp.sim.miwa,sim.miwa,{port},0,0"
        );
        sockets.push(socket);
    }
    std::fs::write(dir.join("upstreams.toml"), upstreams)?;
    std::fs::write(dir.join("srv.conf"), srv)?;
    std::fs::write(dir.join("srv-one-host.conf"), one_host)?;
    for (index, socket) in sockets.into_iter().enumerate() {
        tokio::spawn(async move {
            let mut buffer = vec![0u8; 65536];
            while let Ok((length, from)) = socket.recv_from(&mut buffer).await {
                let _ = socket
                    .send_to(reply(index, &buffer[..length]).as_bytes(), from)
                    .await;
            }
        });
    }
    println!("ready: {count} simulated nodes");
    std::future::pending::<()>().await;
    Ok(())
}
