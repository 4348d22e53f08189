#!/usr/bin/env bash
# Modules in Rust, Python and JavaScript side by side: for each, the start of a daemon
# that loads it (compiling it, then from the cached artifact), its first call (a fresh
# instance), a warm call at 1 and 16 connections over HTTP, and the resident memory the
# loaded module adds to an idle daemon (module_load and one call: one warm instance). The modules answer a constant:
# `health_echo` (Rust), `pyfail_ok` (Python), `jsfail_ok` (JavaScript). Needs wrk and the
# built modules (make python-modules js-modules).
# Usage: bench/module-languages.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q -p host-native
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port=8971

ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

start() { # module-table -> sets pid, and ready_ms: ms until ready
  printf '[http]\nport = %s\n[datagram]\nudp = []\nunix = []\n[fifo]\nenabled = false\n%s\n' \
    "$port" "$1" > "$work/miwa.toml"
  local t0; t0=$(date +%s%N)
  XDG_CACHE_HOME="$work/cache" target/release/miwa serve --config "$work/miwa.toml" > "$work/out" 2>&1 &
  pid=$!
  for _ in $(seq 1200); do grep -q ready "$work/out" 2>/dev/null && break; sleep 0.01; done
  grep -q ready "$work/out" || { echo "miwa did not start: $(cat "$work/out")" >&2; exit 1; }
  ready_ms=$(ms_since "$t0")
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
body() { echo "{\"jsonrpc\":\"2.0\",\"method\":\"$1\",\"params\":$2,\"id\":1}"; }
call_us() { # method params -> microseconds of one call
  curl -s -o /dev/null -w '%{time_total}\n' -H 'Content-Type: application/json' -d "$(body "$1" "$2")" "http://127.0.0.1:$port/mi" |
    awk '{printf "%d", $1 * 1000000}'
}
run() { # connections method params -> "req/s p50"
  local threads=$(( $1 < 2 ? 1 : 2 ))
  MI_BODY=$(body "$2" "$3") wrk -t"$threads" -c"$1" -d"${seconds}s" --latency -s bench/mi-call.lua \
    "http://127.0.0.1:$port/mi" | awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} END {print rps, p50}'
}

printf '%-10s %-9s %-10s %-10s %-10s %-12s %-18s %s\n' \
  language size compile_ms cached_ms first_us rss_kib "1 conn (rps p50)" "16 conns (rps p50)"
for spec in "rust:target/modules/wasm32-wasip2/release/health.wasm:health_echo:[\"x\"]" \
            "python:target/modules/python/pyfail.wasm:pyfail_ok:[]" \
            "js:target/modules/js/jsfail.wasm:jsfail_ok:[]"; do
  IFS=: read -r language file method params <<< "$spec"
  [ -f "$file" ] || { echo "$file is missing (make python-modules js-modules)" >&2; exit 1; }
  table=$(printf '[modules.m]\npath = "%s"\n' "$PWD/$file")
  idle=$(printf '[modules.m]\npath = "%s"\nenabled = false\n' "$PWD/$file")
  rm -rf "$work/cache"
  start "$table"; compile=$ready_ms; stop
  start "$table"; cached=$ready_ms
  first=$(call_us "$method" "$params")
  stop
  start "$idle"
  call_us uptime '[]' > /dev/null; sleep 0.3
  before=$(rss_kib)
  call_us module_load '["m"]' > /dev/null
  call_us "$method" "$params" > /dev/null; sleep 0.3
  rss=$(( $(rss_kib) - before ))
  one=$(run 1 "$method" "$params")
  many=$(run 16 "$method" "$params")
  stop
  printf '%-10s %-9s %-10s %-10s %-10s %-12s %-18s %s\n' "$language" \
    "$(( $(stat -c %s "$file") / 1048576 ))MiB" "$compile" "$cached" "$first" "$rss" "$one" "$many"
done
