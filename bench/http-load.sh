#!/usr/bin/env bash
# HTTP load benchmark: `uptime` over JSON-RPC, miwa (core component) against a bare hyper
# server answering a fixed reply (the transport's ceiling) and miwa with the native-core
# baseline, interleaved so machine noise hits all alike. Loopback only; needs wrk
# (apt-get install wrk). Usage: bench/http-load.sh [rounds] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
seconds=${2:-5}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q -p host-native -p transports --example bare_http
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

start() { # name port command...
  local name=$1 port=$2; shift 2
  "$@" > "$work/$name.out" 2>/dev/null &
  for _ in $(seq 100); do grep -q ready "$work/$name.out" 2>/dev/null && return; sleep 0.05; done
  echo "$name did not start" >&2; exit 1
}
only_http='[datagram]\nudp = []\nunix = []\n[fifo]\nenabled = false\n'
printf "[http]\nport = 8891\n$only_http" > "$work/component.toml"
printf "[http]\nport = 8892\n$only_http" > "$work/native.toml"
start bare 8890 target/release/examples/bare_http 127.0.0.1:8890
start component 8891 target/release/miwa serve --config "$work/component.toml"
start native 8892 target/release/miwa serve --config "$work/native.toml" --native-core-baseline

run() { # connections port -> "req/s p50"
  local threads=$(( $1 < 2 ? 1 : 2 ))
  wrk -t"$threads" -c"$1" -d"${seconds}s" --latency -s bench/uptime.lua "http://127.0.0.1:$2/mi" |
    awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} END {print rps, p50}'
}
printf '%-6s %-5s %-12s %-10s\n' round conns server "req/s p50"
for round in $(seq "$rounds"); do
  for conns in 64 1; do
    for server in bare:8890 component:8891 native:8892; do
      printf "%-6s %-5s %-12s %s\n" "$round" "$conns" "${server%%:*}" "$(run "$conns" "${server##*:}")"
    done
  done
done
