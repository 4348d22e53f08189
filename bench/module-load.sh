#!/usr/bin/env bash
# Module call cost over HTTP: the health example module's `health_echo` against the core's
# `pwd` on the same daemon, interleaved, at 64 and 1 connections. Loopback only; needs wrk
# (apt-get install wrk). Usage: bench/module-load.sh [rounds] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
seconds=${2:-5}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q -p host-native
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cat > "$work/miwa.toml" <<TOML
[http]
port = 8893
[datagram]
udp = []
unix = []
[fifo]
enabled = false
[modules.health]
path = "$PWD/target/modules/wasm32-wasip2/release/health.wasm"
grants = ["mi", "stats", "log"]
TOML
MIWA_INLINE=1 target/release/miwa serve --config "$work/miwa.toml" > "$work/out" 2>/dev/null &
for _ in $(seq 100); do grep -q ready "$work/out" 2>/dev/null && break; sleep 0.05; done
grep -q ready "$work/out" || { echo "miwa did not start" >&2; exit 1; }

run() { # connections body -> "req/s p50"
  local threads=$(( $1 < 2 ? 1 : 2 ))
  MI_BODY=$2 wrk -t"$threads" -c"$1" -d"${seconds}s" --latency -s bench/mi-call.lua \
    "http://127.0.0.1:8893/mi" | awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} END {print rps, p50}'
}
core='{"jsonrpc":"2.0","method":"pwd","id":1}'
module='{"jsonrpc":"2.0","method":"health_echo","params":["x"],"id":1}'
printf '%-6s %-5s %-13s %s\n' round conns command "req/s p50"
for round in $(seq "$rounds"); do
  for conns in 64 1; do
    printf '%-6s %-5s %-13s %s\n' "$round" "$conns" pwd "$(run "$conns" "$core")"
    printf '%-6s %-5s %-13s %s\n' "$round" "$conns" health_echo "$(run "$conns" "$module")"
  done
done
