#!/usr/bin/env bash
# Fleet scale, with SIMULATED nodes (transports/examples/simulated_nodes.rs: N UDP MI
# endpoints in one process answering fixed replies; not OpenSIPS) behind a miwa front:
# - the front's resident memory with 1 node and with N, and what one node costs;
# - `nodes_run uptime` over all N against `uptime` to one node through the same front:
#   median latency over the rounds, and the front's CPU per call (utime + stime);
# - a GET /metrics of the N nodes (each node's get_statistics, fetched in parallel);
# - discovery of D SRV targets served by dnsmasq (default D = N): seconds until nodes_list
#   lists them all and until all are up, or why the lookup failed.
# Loopback only; needs dnsmasq (apt-get install dnsmasq-base).
# Usage: bench/fleet-scale.sh [nodes] [rounds] [srv-targets]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-1000}
rounds=${2:-20}
targets=${3:-$count}
command -v dnsmasq >/dev/null || { echo "dnsmasq is not installed (apt-get install dnsmasq-base)" >&2; exit 1; }
cargo build --release -q -p host-native
cargo build --release -q -p transports --example simulated_nodes
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
ticks=$(getconf CLK_TCK)

target/release/examples/simulated_nodes "$count" "$work" > "$work/sim.out" &
for _ in $(seq 200); do grep -q ready "$work/sim.out" 2>/dev/null && break; sleep 0.05; done

declare -A pids
start() { # name port extra-config
  printf '[http]\nport = %d\n[datagram]\nudp = []\nunix = []\n[fifo]\nenabled = false\n[front]\nmax_parallel = 1024\n%b\n' \
    "$2" "$3" > "$work/$1.toml"
  target/release/miwa serve --config "$work/$1.toml" > "$work/$1.out" 2>"$work/$1.log" &
  pids[$1]=$!
  for _ in $(seq 400); do grep -q ready "$work/$1.out" 2>/dev/null && return; sleep 0.05; done
  echo "$1 did not start" >&2; cat "$work/$1.log" >&2; exit 1
}
call() { # port body -> reply
  curl -s -H 'Content-Type: application/json' -d "$2" "http://127.0.0.1:$1/mi${3:-}"
}
up() { # port -> nodes up
  call "$1" '{"jsonrpc":"2.0","method":"nodes_list","id":1}' |
    python3 -c 'import json,sys; print(sum(n["state"]=="up" for n in json.load(sys.stdin)["result"]["nodes"]))'
}
listed() { # port -> nodes listed
  call "$1" '{"jsonrpc":"2.0","method":"nodes_list","id":1}' |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)["result"]["nodes"]))'
}
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timed() { # port body rounds [path] -> median seconds
  for _ in $(seq "$3"); do
    curl -s -o /dev/null -w '%{time_total}\n' -H 'Content-Type: application/json' -d "$2" "http://127.0.0.1:$1/mi${4:-}"
  done | median
}

head -3 "$work/upstreams.toml" > "$work/one.toml"
start one 8932 "$(cat "$work/one.toml")"
start fleet 8931 "$(cat "$work/upstreams.toml")"
for _ in $(seq 600); do [ "$(up 8931)" = "$count" ] && [ "$(up 8932)" = 1 ] && break; sleep 0.1; done
echo "simulated nodes: $count; up behind the front: $(up 8931)"
sleep 2
rss_one=$(rss "${pids[one]}")
rss_fleet=$(rss "${pids[fleet]}")
echo "front RSS: 1 node ${rss_one} KiB, $count nodes ${rss_fleet} KiB, $(( (rss_fleet - rss_one) * 1024 / (count - 1) )) bytes per node"

uptime='{"jsonrpc":"2.0","method":"uptime","id":1}'
run='{"jsonrpc":"2.0","method":"nodes_run","params":{"command":"uptime"},"id":1}'
one=$(timed 8931 "$uptime" "$rounds" /s0)
before=$(cpu "${pids[fleet]}")
all=$(timed 8931 "$run" "$rounds")
after=$(cpu "${pids[fleet]}")
answered=$(call 8931 "$run" | python3 -c 'import json,sys; print(sum("result" in e for e in json.load(sys.stdin)["result"].values()))')
echo "uptime to one node: median ${one} s; nodes_run uptime over $count: median ${all} s ($answered answered), $(python3 -c "print(round($all / $one, 1))")x"
echo "front CPU per nodes_run over $count: $(python3 -c "print(round(($after - $before) / $ticks / $rounds * 1000, 1))") ms ($(python3 -c "print(round(($after - $before) / $ticks / $rounds / $count * 1e6, 1))") us per node)"
scrape=$(for _ in $(seq 5); do curl -s -o "$work/metrics.txt" -w '%{time_total}\n' http://127.0.0.1:8931/metrics; done | median)
echo "GET /metrics over $count nodes: median ${scrape} s, $(grep -c '^miwa_node_up{' "$work/metrics.txt") nodes up in it, $(wc -c < "$work/metrics.txt") bytes"
kill "${pids[fleet]}" "${pids[one]}"

port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
head -n $((2 * targets)) "$work/srv.conf" > "$work/srv-$targets.conf"
dnsmasq --keep-in-foreground --conf-file="$work/srv-$targets.conf" --no-resolv --no-hosts --bind-interfaces \
  --listen-address=127.0.0.1 --port="$port" --user=root --pid-file= &
sleep 0.5
started=$(date +%s.%N)
start discovered 8933 "[discovery.sim]\nsrv = \"_sim-mi._udp.sim.miwa\"\nnameserver = \"127.0.0.1:$port\"\nmax_nodes = $targets\nmin_ttl = 60\nmax_ttl = 60\n"
for _ in $(seq 300); do [ "$(listed 8933)" = "$targets" ] && break; sleep 0.1; done
listed_at=$(date +%s.%N)
for _ in $(seq 300); do [ "$(up 8933)" = "$targets" ] && break; sleep 0.1; done
up_at=$(date +%s.%N)
if [ "$(up 8933)" = "$targets" ]; then
  echo "discovery of $targets SRV targets: listed after $(python3 -c "print(round($listed_at - $started, 2))") s, all up after $(python3 -c "print(round($up_at - $started, 2))") s"
else
  echo "discovery of $targets SRV targets: $(listed 8933) listed after 30 s: $(grep -o 'lookup failed.*' "$work/discovered.log" | head -1)"
fi
