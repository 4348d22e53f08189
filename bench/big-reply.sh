#!/usr/bin/env bash
# Big replies: `get_statistics all` from a daemon with over 10,000 statistics (2,500 event
# subscribers, 4 statistics each) and a 1 MB `cache_fetch`, over HTTP (wrk, 8 keep-alive
# connections) and the FIFO (sequential), against bare servers that send the very same
# bytes (bare hyper; the bare FIFO answerer). Prints requests per second, p50, server CPU
# per request (user+system from /proc) and the server's peak resident memory (VmHWM).
# Loopback and temporary paths only; needs wrk and curl. Usage: bench/big-reply.sh [rounds] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
seconds=${2:-4}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q -p host-native -p transports --example bare_http --example transport_bench
bench=target/release/examples/transport_bench
work=$(mktemp -d)
mkdir -p "$work/replies"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
wait_ready() { for _ in $(seq 100); do grep -q ready "$1" 2>/dev/null && return; sleep 0.05; done; echo "not ready: $1" >&2; exit 1; }
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hwm() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
ticks=$(getconf CLK_TCK)

cat > "$work/miwa.toml" <<TOML
[http]
port = 8893
[datagram]
udp = []
unix = []
[fifo]
fifo_name = "$work/miwa_fifo"
reply_dir = "$work/replies/"
[events]
max_subscribers = 2600
TOML
target/release/miwa serve --config "$work/miwa.toml" > "$work/miwa.out" 2>/dev/null &
miwa=$!
wait_ready "$work/miwa.out"
rpc() { curl -s -H 'Content-Type: application/json' --data-binary "@$1" http://127.0.0.1:8893/mi; }
for chunk in $(seq 0 24); do
  python3 -c "import json,sys; c=int(sys.argv[1]); print(json.dumps([{'jsonrpc':'2.0','method':'event_subscribe','params':['E_MODULE_UNLOADED','udp:127.0.0.1:%d' % (20000+c*100+i),3600],'id':i} for i in range(100)]))" "$chunk" > "$work/sub.json"
  rpc "$work/sub.json" > /dev/null
done
python3 -c "print('{\"jsonrpc\":\"2.0\",\"method\":\"cache_store\",\"params\":[\"local\",\"big\",\"' + 'x' * 1000000 + '\"],\"id\":1}')" > "$work/store.json"
rpc "$work/store.json" > /dev/null
echo '{"jsonrpc":"2.0","method":"get_statistics","params":[["all"]],"id":1}' > "$work/stats.json"
echo '{"jsonrpc":"2.0","method":"cache_fetch","params":["local","big"],"id":1}' > "$work/fetch.json"

servers=()
port=8894
for case in stats fetch; do
  rpc "$work/$case.json" > "$work/$case.reply"
  target/release/examples/bare_http "127.0.0.1:$port" "$work/$case.reply" > "$work/bare-$case.out" 2>/dev/null &
  wait_ready "$work/bare-$case.out"
  servers+=("$case:$port:$!")
  $bench bare-fifo "$work/bare_fifo_$case" "$work/replies/" "$work/$case.reply" > "$work/bf-$case.out" &
  wait_ready "$work/bf-$case.out"
  echo "$case: $(wc -c < "$work/$case.reply") bytes per reply" \
    "($(grep -o '"[^"]*":' "$work/$case.reply" | wc -l) members)"
  port=$((port + 1))
done

http() { # pid port request -> "req/s p50 cpu_us/req"
  local c0 c1 out n
  c0=$(cpu "$1")
  out=$(MI_BODY=$(cat "$3") wrk -t2 -c8 -d"${seconds}s" --latency -s bench/mi-call.lua "http://127.0.0.1:$2/mi")
  c1=$(cpu "$1")
  n=$(awk '/requests in/ {print $1}' <<< "$out")
  awk -v n="$n" -v c="$((c1 - c0))" -v t="$ticks" \
    '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} END {printf "%s %s %.1f", rps, p50, c * 1e6 / t / n}' <<< "$out"
}
fifo() { # pid fifo request -> "req/s p50_us cpu_us/req"
  local c0 c1 out
  c0=$(cpu "$1")
  out=$($bench fifo "$2" "$work/replies" "$seconds" "$3")
  c1=$(cpu "$1")
  read -r rps p50 <<< "$out"
  awk -v r="$rps" -v p="$p50" -v c="$((c1 - c0))" -v t="$ticks" -v s="$seconds" \
    'BEGIN {printf "%s %sus %.1f", r, p, c * 1e6 / t / (r * s)}'
}
printf '%-6s %-6s %-5s %-5s %s\n' round reply via server "req/s p50 cpu_us/req peak_rss_kb"
for round in $(seq "$rounds"); do
  for entry in "${servers[@]}"; do
    IFS=: read -r case bport bpid <<< "$entry"
    bfpid=$(pgrep -f "bare-fifo $work/bare_fifo_$case")
    printf '%-6s %-6s %-5s %-5s %s %s\n' "$round" "$case" http bare "$(http "$bpid" "$bport" "$work/$case.json")" "$(hwm "$bpid")"
    printf '%-6s %-6s %-5s %-5s %s %s\n' "$round" "$case" http miwa "$(http "$miwa" 8893 "$work/$case.json")" "$(hwm "$miwa")"
    printf '%-6s %-6s %-5s %-5s %s %s\n' "$round" "$case" fifo bare "$(fifo "$bfpid" "$work/bare_fifo_$case" "$work/$case.json")" "$(hwm "$bfpid")"
    printf '%-6s %-6s %-5s %-5s %s %s\n' "$round" "$case" fifo miwa "$(fifo "$miwa" "$work/miwa_fifo" "$work/$case.json")" "$(hwm "$miwa")"
  done
done
