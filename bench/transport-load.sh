#!/usr/bin/env bash
# Datagram and FIFO benchmark: sequential `uptime` round trips from a compiled client
# against miwa and against a bare server on the same kind of socket/FIFO that answers a
# fixed reply with the same framing (no MI), interleaved; then 8 concurrent UDP clients,
# against miwa with its default workers (one per core) and with a single worker.
# Loopback and temporary paths only. Usage: bench/transport-load.sh [rounds] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
seconds=${2:-3}
cargo build --release -q -p host-native -p transports --example transport_bench
bench=target/release/examples/transport_bench
work=$(mktemp -d)
mkdir -p "$work/replies"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

wait_ready() { for _ in $(seq 100); do grep -q ready "$1" 2>/dev/null && return; sleep 0.05; done; echo "not ready: $1" >&2; exit 1; }
cat > "$work/miwa.toml" <<TOML
[http]
port = 0
[datagram]
udp = ["127.0.0.1:18180"]
unix = ["$work/miwa.sock"]
[fifo]
fifo_name = "$work/miwa_fifo"
reply_dir = "$work/replies/"
TOML
target/release/miwa serve --config "$work/miwa.toml" > "$work/miwa.out" 2>/dev/null &
wait_ready "$work/miwa.out"
cat > "$work/one.toml" <<TOML
[http]
port = 0
[datagram]
udp = ["127.0.0.1:18182"]
unix = []
workers = 1
[fifo]
enabled = false
TOML
target/release/miwa serve --config "$work/one.toml" > "$work/one.out" 2>/dev/null &
wait_ready "$work/one.out"
$bench bare-udp 127.0.0.1:18181 > "$work/bu.out" & wait_ready "$work/bu.out"
$bench bare-unix "$work/bare.sock" > "$work/bx.out" & wait_ready "$work/bx.out"
$bench bare-fifo "$work/bare_fifo" "$work/replies/" > "$work/bf.out" & wait_ready "$work/bf.out"

printf '%-6s %-10s %-6s %s\n' round transport server "req/s p50_us"
for round in $(seq "$rounds"); do
  printf '%-6s %-10s %-6s %s\n' "$round" udp bare "$($bench udp 127.0.0.1:18181 "$seconds")"
  printf '%-6s %-10s %-6s %s\n' "$round" udp miwa "$($bench udp 127.0.0.1:18180 "$seconds")"
  printf '%-6s %-10s %-6s %s\n' "$round" unix bare "$($bench unix "$work/bare.sock" "$seconds")"
  printf '%-6s %-10s %-6s %s\n' "$round" unix miwa "$($bench unix "$work/miwa.sock" "$seconds")"
  printf '%-6s %-10s %-6s %s\n' "$round" fifo bare "$($bench fifo "$work/bare_fifo" "$work/replies" "$seconds")"
  printf '%-6s %-10s %-6s %s\n' "$round" fifo miwa "$($bench fifo "$work/miwa_fifo" "$work/replies" "$seconds")"
  printf '%-6s %-10s %-6s %s\n' "$round" udp-x8 bare "$($bench udp 127.0.0.1:18181 "$seconds" 8)"
  printf '%-6s %-10s %-6s %s\n' "$round" udp-x8 miwa "$($bench udp 127.0.0.1:18180 "$seconds" 8)"
  printf '%-6s %-10s %-6s %s\n' "$round" udp-x8 miwa-1w "$($bench udp 127.0.0.1:18182 "$seconds" 8)"
done
