#!/usr/bin/env bash
# The main job on the embedded default, with no cluster: build the leaky Go
# sample app, run it, drive load, capture three heap profiles over HTTP
# (net/http/pprof), and let leakhound name the leak.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go >/dev/null
  else
    echo "demo.sh needs Go: sudo apt-get install golang-go" >&2
    exit 3
  fi
fi
cargo build --release -q -p leakhound
work=$(mktemp -d)
app_pid=
cleanup() { [ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

(cd testkit/apps/go && go build -o "$work/leak" ./leak)
LISTEN=127.0.0.1:0 "$work/leak" >"$work/app.log" &
app_pid=$!
# Wait for the app to say where it listens (up to 60 s), not for a fixed time.
for _ in $(seq 600); do
  grep -q '^listening on ' "$work/app.log" && break
  kill -0 "$app_pid" || { cat "$work/app.log"; exit 3; }
  sleep 0.1
done
addr=$(awk '/^listening on /{print $3; exit}' "$work/app.log")
[ -n "$addr" ] || { echo "the sample app did not start" >&2; exit 3; }
echo "leaky Go app listening on $addr; capturing three heap profiles under load"
for i in 1 2 3; do
  curl -fsS "http://$addr/work?n=100" >/dev/null
  curl -fsS -o "$work/heap$i.pb.gz" "http://$addr/debug/pprof/heap?gc=1"
done
target/release/leakhound diff --top 10 "$work"/heap1.pb.gz "$work"/heap2.pb.gz "$work"/heap3.pb.gz
