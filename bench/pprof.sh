#!/usr/bin/env bash
# Times `leakhound diff` beside `go tool pprof -top -diff_base` on the same pair
# of large heap profiles (>= 20 MB gzip, 250,000 samples each, synthesized by
# crates/lh-pprof/examples/synth_profile.rs) and prints the ratio.
# Goal: leakhound <= 0.5x go tool pprof's time. Needs: cargo, go (golang-go).
set -euo pipefail
cd "$(dirname "$0")/.."
samples=${SAMPLES:-250000}
runs=${RUNS:-3}       # leakhound runs; go tool pprof takes minutes here, so GO_RUNS defaults to 1
go_runs=${GO_RUNS:-1}
out=${OUT:-bench/out/pprof}
mkdir -p "$out"

cargo build --release -q -p leakhound
cargo build --release -q -p lh-pprof --example synth_profile
bin=target/release/leakhound
[ -f "$out/base.pb.gz" ] || target/release/examples/synth_profile "$out/base.pb.gz" "$samples" 1
[ -f "$out/last.pb.gz" ] || target/release/examples/synth_profile "$out/last.pb.gz" "$samples" 2 65536
ls -l "$out"/*.pb.gz

# Best of N wall-clock seconds for a command, output discarded; a failure stops the script.
best() {
  local n=$1 best=999999 t0 t1 t
  shift
  for _ in $(seq "$n"); do
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
    t1=$(date +%s.%N)
    t=$(echo "$t1 - $t0" | bc -l)
    if (( $(echo "$t < $best" | bc -l) )); then best=$t; fi
  done
  echo "$best"
}

lh=$(best "$runs" "$bin" diff --top 20 "$out/base.pb.gz" "$out/last.pb.gz") || exit 1
go_t=$(best "$go_runs" go tool pprof -top -nodecount=20 -diff_base "$out/base.pb.gz" "$out/last.pb.gz") || exit 1
lh_line=$(best "$runs" "$bin" diff --by line --top 20 "$out/base.pb.gz" "$out/last.pb.gz") || exit 1
go_line=$(best "$go_runs" go tool pprof -top -lines -nodecount=20 -diff_base "$out/base.pb.gz" "$out/last.pb.gz") || exit 1

# The two tools must agree before their times mean anything: same top function, same delta.
ours=$("$bin" diff --format json --top 1 "$out/base.pb.gz" "$out/last.pb.gz" |
  python3 -c 'import json,sys; g=json.load(sys.stdin)["groups"][0]; print(g["key"], g["delta_bytes"])')
theirs=$(go tool pprof -top -unit=B -nodecount=1 -diff_base "$out/base.pb.gz" "$out/last.pb.gz" 2>/dev/null |
  awk '/flat%/{getline; sub(/B$/, "", $1); print $6, $1}')
echo "top function, delta: leakhound: $ours; go tool pprof: $theirs"
[ "$ours" = "$theirs" ] || { echo "the tools disagree" >&2; exit 1; }

printf '\n%-28s %10s %10s %8s\n' "pprof diff" leakhound "go pprof" ratio
printf '%-28s %9.2fs %9.2fs %7.2fx\n' "by function" "$lh" "$go_t" "$(echo "$lh / $go_t" | bc -l)"
printf '%-28s %9.2fs %9.2fs %7.2fx\n' "by line" "$lh_line" "$go_line" "$(echo "$lh_line / $go_line" | bc -l)"
echo "(ratio = leakhound time / go tool pprof time; goal <= 0.50)"
