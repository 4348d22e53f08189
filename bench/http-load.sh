#!/usr/bin/env bash
# HTTP load benchmark: `uptime` over JSON-RPC, miwa (core component) against a bare hyper
# server answering a fixed reply (the transport's ceiling) and miwa with the native-core
# baseline, interleaved so machine noise hits all alike. Loopback only; needs wrk
# (apt-get install wrk). Each line also gives the server's CPU per request (user and system
# time from /proc/<pid>/stat over the run, divided by the requests wrk completed).
# Usage: bench/http-load.sh [rounds] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
seconds=${2:-5}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q -p host-native -p transports --example bare_http
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

declare -A pids
ticks=$(getconf CLK_TCK)
start() { # name port command...
  local name=$1 port=$2; shift 2
  "$@" > "$work/$name.out" 2>/dev/null &
  pids[$name]=$!
  for _ in $(seq 100); do grep -q ready "$work/$name.out" 2>/dev/null && return; sleep 0.05; done
  echo "$name did not start" >&2; exit 1
}
only_http='[datagram]\nudp = []\nunix = []\n[fifo]\nenabled = false\n'
printf "[http]\nport = 8891\n$only_http" > "$work/component.toml"
printf "[http]\nport = 8892\n$only_http" > "$work/native.toml"
start bare 8890 target/release/examples/bare_http 127.0.0.1:8890
start component 8891 target/release/miwa serve --config "$work/component.toml"
start native 8892 target/release/miwa serve --config "$work/native.toml" --native-core-baseline

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() { # connections port pid -> "req/s p50 cpu_us/req"
  local threads=$(( $1 < 2 ? 1 : 2 )) before after
  before=$(cpu "$3")
  wrk -t"$threads" -c"$1" -d"${seconds}s" --latency -s bench/uptime.lua "http://127.0.0.1:$2/mi" > "$work/wrk.out"
  after=$(cpu "$3")
  awk -v c="$((after - before))" -v t="$ticks" '/requests in/ {n=$1} /Requests\/sec/ {rps=$2}
    /^ +50%/ {p50=$2} END {printf "%s %s %.1f\n", rps, p50, c * 1e6 / t / n}' "$work/wrk.out"
}
printf '%-6s %-5s %-12s %s\n' round conns server "req/s p50 cpu_us/req"
for round in $(seq "$rounds"); do
  for conns in 64 1; do
    for server in bare:8890 component:8891 native:8892; do
      printf "%-6s %-5s %-12s %s\n" "$round" "$conns" "${server%%:*}" "$(run "$conns" "${server##*:}" "${pids[${server%%:*}]}")"
    done
  done
done
