#!/usr/bin/env bash
# Front-mode benchmark: `uptime` over JSON-RPC to a miwa node directly, through a bare
# forwarder (hyper in, one UDP exchange out, nothing else: the least a front can cost),
# and through a miwa front reaching it over UDP and over HTTP keep-alive; a real
# OpenSIPS 3.6.8 (built by `make opensips`) directly over its httpd and through a miwa
# front over its mi_datagram; then `nodes_run uptime` over 1 and over 10 nodes. Each line
# gives req/s, the median latency, and the CPU the front (or forwarder) and the node used
# per request (utime + stime from /proc over the run, all of a server's processes), so each
# server's own cost shows apart from how two cores are shared. Interleaved rounds; loopback only; needs wrk (apt-get install wrk).
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
opensips=target/opensips-3.6.8
[ -x "$opensips/sbin/opensips" ] || make -s opensips
cat > "$work/opensips.cfg" <<CFG
log_level=1
stderror_enabled=yes
syslog_enabled=no
udp_workers=2
socket=udp:127.0.0.1:15099
mpath="$PWD/$opensips/lib64/opensips/modules/"
loadmodule "proto_udp.so"
loadmodule "sl.so"
loadmodule "signaling.so"
loadmodule "mi_datagram.so"
modparam("mi_datagram", "socket_name", "udp:127.0.0.1:18990")
loadmodule "httpd.so"
modparam("httpd", "ip", "127.0.0.1")
modparam("httpd", "port", 8896)
loadmodule "mi_http.so"
modparam("mi_http", "root", "mi")
route { exit; }
CFG
"$opensips/sbin/opensips" -F -f "$work/opensips.cfg" > "$work/opensips.out" 2>&1 &
sleep 1
front front_os 8897 '[upstreams.edge0]\nudp = "127.0.0.1:18990"\n'
front front_http 8892 '[upstreams.edge0]\nurl = "http://127.0.0.1:8900/mi"\n'
ten=""
for i in $(seq 0 9); do ten="$ten[upstreams.edge$i]\nudp = \"127.0.0.1:$((18900 + i))\"\n"; done
front front_ten 8893 "$ten"

pid_of() { # name of a miwa started above -> its pid
  pgrep -f -- "--config $work/$1.toml" | head -1
}
front_processes() { # target -> the pids of the front (or forwarder) serving it, if any
  case "$1" in
    bare-forward) pgrep -f examples/bare_forward ;;
    front-udp | nodes_run-1-node) pid_of front_udp ;;
    front-http) pid_of front_http ;;
    front-opensips-udp) pid_of front_os ;;
    nodes_run-10-nodes) pid_of front_ten ;;
  esac
}
node_processes() { # target -> the pids of the node(s) serving it
  case "$1" in
    opensips-direct | front-opensips-udp) pgrep -f "$work/opensips.cfg" ;;
    nodes_run-10-nodes) for i in $(seq 0 9); do pid_of "node$i"; done ;;
    *) pid_of node0 ;;
  esac
}
ticks() { # pids -> their utime + stime, clock ticks
  local total=0 pid
  for pid in "$@"; do
    [ -r "/proc/$pid/stat" ] || continue
    total=$(( total + $(awk '{print $14 + $15}' "/proc/$pid/stat") ))
  done
  echo "$total"
}
run() { # connections port script target -> "req/s p50 front-cpu node-cpu" (per request)
  local threads=$(( $1 < 2 ? 1 : 2 )) front node f0 n0 f1 n1
  front=$(front_processes "$4" | tr '\n' ' ')
  node=$(node_processes "$4" | tr '\n' ' ')
  f0=$(ticks $front); n0=$(ticks $node)
  wrk -t"$threads" -c"$1" -d"${seconds}s" --latency -s "bench/$3" "http://127.0.0.1:$2/mi" > "$work/wrk.out"
  f1=$(ticks $front); n1=$(ticks $node)
  awk -v front=$(( f1 - f0 )) -v node=$(( n1 - n0 )) -v hz="$(getconf CLK_TCK)" '
    /requests in/ {n=$1} /Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /Non-2xx/ {bad=" (non-2xx replies!)"}
    END {us = (n > 0 ? 1e6 / hz / n : 0);
         printf "%-10s %-8s %-9s %s%s", rps, p50, sprintf("%.1fus", front * us), sprintf("%.1fus", node * us), bad}' "$work/wrk.out"
}
printf '%-6s %-5s %-22s %-10s %-8s %-9s %s\n' round conns target req/s p50 "front-cpu" "node-cpu (per request)"
for round in $(seq "$rounds"); do
  for conns in 64 1; do
    for target in direct:8900 bare-forward:8895 front-udp:8891 front-http:8892 \
                  opensips-direct:8896 front-opensips-udp:8897; do
      printf "%-6s %-5s %-22s %s\n" "$round" "$conns" "${target%%:*}" \
        "$(run "$conns" "${target##*:}" uptime.lua "${target%%:*}")"
    done
  done
  printf "%-6s %-5s %-22s %s\n" "$round" 1 "nodes_run-1-node" "$(run 1 8891 nodes_run.lua nodes_run-1-node)"
  printf "%-6s %-5s %-22s %s\n" "$round" 1 "nodes_run-10-nodes" "$(run 1 8893 nodes_run.lua nodes_run-10-nodes)"
done
