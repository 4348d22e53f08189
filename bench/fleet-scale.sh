#!/usr/bin/env bash
# Fleet scale, with SIMULATED nodes (transports/examples/simulated_nodes.rs: N UDP MI
# endpoints in one process answering fixed replies; not OpenSIPS) behind a miwa front:
# - the front's resident memory with 1 node and with N, and what one node costs;
# - `nodes_run uptime` over all N against `uptime` to one node through the same front:
#   median latency over the rounds, and the front's CPU per call (utime + stime);
#   beside it the same over transports/examples/bare_fanout.rs (one socket, no checks:
#   the least any HTTP front can cost), and what the simulated nodes' process spent, since
#   on one machine every node's work shares the cores with the front;
# - a GET /metrics of the N nodes (each node's get_statistics, fetched in parallel);
# - discovery of SRV targets served by dnsmasq: D targets with a host name each (default
#   D = N), and N targets on one host name: seconds until nodes_list lists them all and
#   until all are up, or why the lookup failed.
# Loopback only; needs dnsmasq (apt-get install dnsmasq-base).
# Usage: bench/fleet-scale.sh [nodes] [rounds] [srv-targets]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-1000}
rounds=${2:-20}
targets=${3:-$count}
command -v dnsmasq >/dev/null || { echo "dnsmasq is not installed (apt-get install dnsmasq-base)" >&2; exit 1; }
cargo build --release -q -p host-native
cargo build --release -q -p transports --example simulated_nodes --example bare_fanout
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
ticks=$(getconf CLK_TCK)

target/release/examples/simulated_nodes "$count" "$work" > "$work/sim.out" &
sim=$!
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
per_run() { # ticks-before ticks-after -> "X ms (Y us per node)"
  python3 -c "t = ($2 - $1) / $ticks / $rounds; print(f'{t * 1000:.1f} ms ({t / $count * 1e6:.1f} us per node)')"
}
one=$(timed 8931 "$uptime" "$rounds" /s0)
before=$(cpu "${pids[fleet]}"); sim_before=$(cpu "$sim")
all=$(timed 8931 "$run" "$rounds")
after=$(cpu "${pids[fleet]}"); sim_after=$(cpu "$sim")
answered=$(call 8931 "$run" | python3 -c 'import json,sys; print(sum("result" in e for e in json.load(sys.stdin)["result"].values()))')
echo "uptime to one node: median ${one} s; nodes_run uptime over $count: median ${all} s ($answered answered), $(python3 -c "print(round($all / $one, 1))")x"
echo "front CPU per nodes_run over $count: $(per_run "$before" "$after"); the simulated nodes' CPU meanwhile: $(per_run "$sim_before" "$sim_after")"
target/release/examples/bare_fanout 127.0.0.1:8934 "$work/upstreams.toml" > "$work/bare.out" &
bare=$!
for _ in $(seq 100); do grep -q ready "$work/bare.out" 2>/dev/null && break; sleep 0.05; done
bare_body='{"jsonrpc":"2.0","method":"uptime","id":"miwa-run"}'
bare_answered=$(curl -s -d "$bare_body" http://127.0.0.1:8934/ | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["result"]))')
before=$(cpu "$bare"); sim_before=$(cpu "$sim")
bare_all=$(for _ in $(seq "$rounds"); do curl -s -o /dev/null -w '%{time_total}\n' -d "$bare_body" http://127.0.0.1:8934/; done | median)
after=$(cpu "$bare"); sim_after=$(cpu "$sim")
kill "$bare"
echo "bare fan-out over $count: median ${bare_all} s ($bare_answered answered); its CPU: $(per_run "$before" "$after"); the simulated nodes' CPU meanwhile: $(per_run "$sim_before" "$sim_after")"
if tests/.venv/bin/python -c 'import websockets' 2>/dev/null; then
  tests/.venv/bin/python - "$rounds" <<'PY'
import json, statistics, sys, time
from websockets.sync.client import connect
firsts, wholes = [], []
with connect("ws://127.0.0.1:8931/ws", max_size=None) as ws:
    for round in range(int(sys.argv[1])):
        started = time.perf_counter()
        ws.send(json.dumps({"jsonrpc": "2.0", "method": "nodes_run", "id": round,
                            "params": {"command": "uptime", "stream": True}}))
        entries, first = 0, None
        while True:
            frame = json.loads(ws.recv())
            if frame.get("method") == "nodes_run.entry":
                entries += 1
                first = first or time.perf_counter() - started
            elif frame.get("id") == round:
                wholes.append(time.perf_counter() - started)
                break
        firsts.append(first)
print(f"nodes_run uptime streamed over WebSocket: first entry after {statistics.median(firsts) * 1000:.2f} ms, "
      f"the whole object after {statistics.median(wholes) * 1000:.2f} ms ({entries} entries), medians")
PY
else
  echo "streaming not measured: tests/.venv has no websockets (make tests/.venv)"
fi
scrape=$(for _ in $(seq 5); do curl -s -o "$work/metrics.txt" -w '%{time_total}\n' http://127.0.0.1:8931/metrics; done | median)
echo "GET /metrics over $count nodes: median ${scrape} s, $(grep -c '^miwa_node_up{' "$work/metrics.txt") nodes up in it, $(wc -c < "$work/metrics.txt") bytes"
kill "${pids[fleet]}" "${pids[one]}"

discover() { # label conf-file targets front-port
  local port
  port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  dnsmasq --keep-in-foreground --conf-file="$2" --no-resolv --no-hosts --bind-interfaces \
    --listen-address=127.0.0.1 --port="$port" --user=root --pid-file= &
  local dns=$!
  sleep 0.5
  local started listed_at up_at
  started=$(date +%s.%N)
  start "discovered-$4" "$4" "[discovery.sim]\nsrv = \"_sim-mi._udp.sim.miwa\"\nnameserver = \"127.0.0.1:$port\"\nmax_nodes = $3\nmin_ttl = 60\nmax_ttl = 60\n"
  for _ in $(seq 300); do [ "$(listed "$4")" = "$3" ] && break; sleep 0.1; done
  listed_at=$(date +%s.%N)
  for _ in $(seq 300); do [ "$(up "$4")" = "$3" ] && break; sleep 0.1; done
  up_at=$(date +%s.%N)
  if [ "$(up "$4")" = "$3" ]; then
    echo "discovery of $3 SRV targets, $1: listed after $(python3 -c "print(round($listed_at - $started, 2))") s, all up after $(python3 -c "print(round($up_at - $started, 2))") s"
  else
    echo "discovery of $3 SRV targets, $1: $(listed "$4") listed after 30 s: $(grep -o 'lookup failed.*' "$work/discovered-$4.log" | head -1)"
  fi
  kill "${pids[discovered-$4]}" "$dns"
}
head -n $((2 * targets)) "$work/srv.conf" > "$work/srv-$targets.conf"
discover "a host name each" "$work/srv-$targets.conf" "$targets" 8933
discover "all on one host name" "$work/srv-one-host.conf" "$count" 8936
