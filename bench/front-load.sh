#!/usr/bin/env bash
# Front-mode benchmark: `uptime` over JSON-RPC to a miwa node directly, through a bare
# forwarder (hyper in, one UDP exchange out, nothing else: the least a front can cost),
# and through a miwa front reaching it over UDP and over HTTP keep-alive; then
# `nodes_run uptime` over 1 and over 10 nodes. Interleaved rounds; loopback only; needs
# wrk (apt-get install wrk).
# Usage: bench/front-load.sh [rounds] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
seconds=${2:-5}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q -p host-native
cargo build --release -q -p transports --example bare_forward
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

start() { # name config
  target/release/miwa serve --config "$2" > "$work/$1.out" 2>/dev/null &
  for _ in $(seq 200); do grep -q ready "$work/$1.out" 2>/dev/null && return; sleep 0.05; done
  echo "$1 did not start" >&2; exit 1
}
node() { # index -> a node on http 8900+i, udp 18900+i
  printf '[http]\nport = %d\n[datagram]\nudp = ["127.0.0.1:%d"]\nunix = []\n[fifo]\nenabled = false\n' \
    $((8900 + $1)) $((18900 + $1)) > "$work/node$1.toml"
  start "node$1" "$work/node$1.toml"
}
for i in $(seq 0 9); do node "$i"; done
front() { # name port upstream-table
  printf '[http]\nport = %d\n[datagram]\nudp = []\nunix = []\n[fifo]\nenabled = false\n%b[front]\nupstream = "edge0"\n' \
    "$2" "$3" > "$work/$1.toml"
  start "$1" "$work/$1.toml"
}
target/release/examples/bare_forward 127.0.0.1:8895 127.0.0.1:18900 > "$work/bare.out" &
for _ in $(seq 200); do grep -q ready "$work/bare.out" 2>/dev/null && break; sleep 0.05; done
front front_udp 8891 '[upstreams.edge0]\nudp = "127.0.0.1:18900"\n'
front front_http 8892 '[upstreams.edge0]\nurl = "http://127.0.0.1:8900/mi"\n'
ten=""
for i in $(seq 0 9); do ten="$ten[upstreams.edge$i]\nudp = \"127.0.0.1:$((18900 + i))\"\n"; done
front front_ten 8893 "$ten"

run() { # connections port script -> "req/s p50"
  local threads=$(( $1 < 2 ? 1 : 2 ))
  wrk -t"$threads" -c"$1" -d"${seconds}s" --latency -s "bench/$3" "http://127.0.0.1:$2/mi" |
    awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} END {print rps, p50}'
}
printf '%-6s %-5s %-22s %s\n' round conns target "req/s p50"
for round in $(seq "$rounds"); do
  for conns in 64 1; do
    for target in direct:8900 bare-forward:8895 front-udp:8891 front-http:8892; do
      printf "%-6s %-5s %-22s %s\n" "$round" "$conns" "${target%%:*}" "$(run "$conns" "${target##*:}" uptime.lua)"
    done
  done
  printf "%-6s %-5s %-22s %s\n" "$round" 1 "nodes_run-1-node" "$(run 1 8891 nodes_run.lua)"
  printf "%-6s %-5s %-22s %s\n" "$round" 1 "nodes_run-10-nodes" "$(run 1 8893 nodes_run.lua)"
done
