#!/usr/bin/env bash
# HTTP load benchmark: `uptime` over JSON-RPC, miwa (core component) against a bare hyper
# server answering a fixed reply (the transport's ceiling) and miwa with the native-core
# baseline, then HTTPS (rustls) for miwa and the bare server alike; interleaved so machine
# noise hits all alike. Loopback only; needs wrk (apt-get install wrk) and openssl. Each
# line also gives the server's CPU per request (user and system time from /proc/<pid>/stat
# over the run, divided by the requests wrk completed); the medians over the rounds and
# their ratios to the bare server close the output.
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
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj /CN=localhost -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
only_http='[datagram]\nudp = []\nunix = []\n[fifo]\nenabled = false\n'
printf "[http]\nport = 8891\n$only_http" > "$work/component.toml"
printf "[http]\nport = 8892\n$only_http" > "$work/native.toml"
start bare 8890 target/release/examples/bare_http 127.0.0.1:8890
start component 8891 target/release/miwa serve --config "$work/component.toml"
start native 8892 target/release/miwa serve --config "$work/native.toml" --native-core-baseline
tls="tls_certificate = \"$work/cert.pem\"\ntls_key = \"$work/key.pem\"\n"
printf "[http]\nport = 8896\n$tls$only_http" > "$work/tls.toml"
start bare-tls 8895 target/release/examples/bare_http 127.0.0.1:8895 --tls "$work/cert.pem" "$work/key.pem"
start miwa-tls 8896 target/release/miwa serve --config "$work/tls.toml"

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() { # connections port pid [scheme] -> "req/s p50 cpu_us/req"
  local threads=$(( $1 < 2 ? 1 : 2 )) before after
  before=$(cpu "$3")
  wrk -t"$threads" -c"$1" -d"${seconds}s" --latency -s bench/uptime.lua "${4:-http}://127.0.0.1:$2/mi" > "$work/wrk.out"
  after=$(cpu "$3")
  awk -v c="$((after - before))" -v t="$ticks" '/requests in/ {n=$1} /Requests\/sec/ {rps=$2}
    /^ +50%/ {p50=$2} END {printf "%s %s %.1f\n", rps, p50, c * 1e6 / t / n}' "$work/wrk.out"
}
printf '%-6s %-5s %-12s %s\n' round conns server "req/s p50 cpu_us/req" | tee "$work/all"
for round in $(seq "$rounds"); do
  for conns in 64 1; do
    for server in bare:8890 component:8891 native:8892; do
      printf "%-6s %-5s %-12s %s\n" "$round" "$conns" "${server%%:*}" "$(run "$conns" "${server##*:}" "${pids[${server%%:*}]}")"
    done
  done
  for server in bare-tls:8895 miwa-tls:8896; do
    printf "%-6s %-5s %-12s %s\n" "$round" 64 "${server%%:*}" "$(run 64 "${server##*:}" "${pids[${server%%:*}]}" https)"
  done
done | tee -a "$work/all"
echo
echo "medians over $rounds rounds (ratio: to the bare server of the same scheme and connections)"
awk 'NR > 1 {
  key = $2 " " $3; n[key]++; rps[key, n[key]] = $4; cpu[key, n[key]] = $6
  p = $5; if (p ~ /ms$/) p = p * 1000; else p = p + 0; p50[key, n[key]] = p
  if (!(key in seen)) { seen[key] = 1; order[++keys] = key }
}
function median(a, key, count,   i, j, t, v) {
  for (i = 1; i <= count; i++) v[i] = a[key, i]
  for (i = 1; i <= count; i++) for (j = i + 1; j <= count; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
  return count % 2 ? v[(count + 1) / 2] : (v[count / 2] + v[count / 2 + 1]) / 2
}
END {
  printf "%-5s %-12s %10s %7s %9s %7s %11s %7s\n", "conns", "server", "req/s", "ratio", "p50_us", "+us", "cpu_us/req", "ratio"
  for (k = 1; k <= keys; k++) {
    key = order[k]; split(key, part, " ")
    base = part[1] " " (part[2] ~ /tls$/ ? "bare-tls" : "bare")
    r = median(rps, key, n[key]); c = median(cpu, key, n[key]); l = median(p50, key, n[key])
    printf "%-5s %-12s %10.0f %7.2f %9.0f %7.0f %11.1f %7.2f\n", part[1], part[2], r, r / median(rps, base, n[base]),
      l, l - median(p50, base, n[base]), c, c / median(cpu, base, n[base])
  }
}' "$work/all"
