#!/usr/bin/env bash
# Password guessing beside a valid caller: `uptime` with good Basic credentials on one
# connection, alone and while 8 connections send wrong passwords as fast as they can (each
# one an argon2 check, on blocking threads, at most access.max_concurrent_hashes at once).
# Twice: with the default throttling (the guessing network is soon answered 429 without a
# check), and with max_failures so high that every guess reaches argon2.
# Loopback only; needs wrk (apt-get install wrk).
# Usage: bench/auth-load.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q -p host-native
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
hash=$(printf 'right' | target/release/miwa hash-password)
cat > "$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","method":"uptime","id":1}'
wrk.headers["Content-Type"] = "application/json"
LUA
good="Authorization: Basic $(printf 'ops:right' | base64 -w0)"
bad="Authorization: Basic $(printf 'ops:wrong' | base64 -w0)"
valid() { wrk -t1 -c1 -d"${seconds}s" --latency -s "$work/post.lua" -H "$good" http://127.0.0.1:8990/mi \
  | awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} END {printf "%-28s %10s req/s  p50 %8s  p99 %8s\n", label, rps, p50, p99}' label="$1"; }
for failures in 5 1000000; do
  printf '[http]\nport = 8990\n[datagram]\nudp = []\nunix = []\n[fifo]\nenabled = false\n[access]\nmax_failures = %d\n[[access.users]]\nname = "ops"\npassword = "%s"\nrole = "full"\n' \
    "$failures" "$hash" > "$work/miwa.toml"
  target/release/miwa serve --config "$work/miwa.toml" > "$work/out" 2>/dev/null &
  daemon=$!
  for _ in $(seq 200); do grep -q ready "$work/out" 2>/dev/null && break; sleep 0.05; done
  echo "access.max_failures = $failures"
  valid "valid caller alone"
  wrk -t2 -c8 -d"$((seconds + 2))s" -s "$work/post.lua" -H "$bad" http://127.0.0.1:8990/mi > "$work/guessing" &
  guessing=$!
  sleep 1
  valid "valid caller, 8 guessing"
  wait "$guessing" 2>/dev/null || true
  awk '/Requests\/sec/ {print "guessing connections: " $2 " answers/s (401 and 429)"}' "$work/guessing"
  kill "$daemon"; wait "$daemon" 2>/dev/null || true
  rm -f "$work/out"
done
