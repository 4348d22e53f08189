#!/usr/bin/env bash
# Module I/O benchmark: a Redis round trip made by the blocklist example module (HTTP →
# module → Redis over the tcp grant → reply), against `uptime` on the same transport, and
# against the same Redis round trip from a native client (redis-benchmark, one
# connection). Needs wrk and redis-server (apt-get install wrk redis-server).
# Usage: bench/module-redis.sh [rounds] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
seconds=${2:-5}
for tool in wrk redis-server redis-benchmark; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; exit 1; }
done
cargo build --release -q -p host-native
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
redis-server --bind 127.0.0.1 --port 16379 --save "" --appendonly no --dir "$work" > /dev/null &
cat > "$work/miwa.toml" <<TOML
[http]
port = 8960
[datagram]
udp = []
unix = []
[fifo]
enabled = false
[modules.blocklist]
path = "$PWD/target/modules/wasm32-wasip2/release/blocklist.wasm"
grants = ["tcp", "cache", "stats"]
allowed_tcp = ["127.0.0.1:16379"]
TOML
target/release/miwa serve --config "$work/miwa.toml" > "$work/miwa.out" 2>&1 &
for _ in $(seq 200); do grep -q ready "$work/miwa.out" 2>/dev/null && break; sleep 0.05; done
call() { curl -s -H "Content-Type: application/json" -d "{\"jsonrpc\":\"2.0\",\"method\":\"$1\",\"params\":$2,\"id\":1}" http://127.0.0.1:8960/mi; }
call blocklist_backend '["127.0.0.1:16379"]' | grep -q '"result"' || { echo "blocklist_backend failed" >&2; exit 1; }
call blocklist_add '["sip:spam@example.com","robocall"]' | grep -q '"result"' || { echo "blocklist_add failed" >&2; exit 1; }
run() { # connections method params -> "req/s p50"
  local threads=$(( $1 < 2 ? 1 : 2 ))
  MI_BODY="{\"jsonrpc\":\"2.0\",\"method\":\"$2\",\"params\":$3,\"id\":1}" \
    wrk -t"$threads" -c"$1" -d"${seconds}s" --latency -s bench/mi-call.lua http://127.0.0.1:8960/mi |
    awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} END {print rps, p50}'
}
printf '%-6s %-5s %-28s %s\n' round conns target "req/s p50"
for round in $(seq "$rounds"); do
  for conns in 1 16; do
    printf "%-6s %-5s %-28s %s\n" "$round" "$conns" "uptime" "$(run "$conns" uptime '[]')"
    printf "%-6s %-5s %-28s %s\n" "$round" "$conns" "blocklist_check (Redis HGET)" \
      "$(run "$conns" blocklist_check '["sip:spam@example.com"]')"
    printf "%-6s %-5s %-28s %s\n" "$round" "$conns" "redis-benchmark HGET" \
      "$(redis-benchmark -p 16379 -c "$conns" -n 100000 -q --csv HGET miwa:blocklist sip:spam@example.com |
         awk -F'"' 'NR==2 {print $4, $10 "ms"}')"
  done
done
