#!/usr/bin/env bash
# Times `leakhound diff` beside `go tool pprof -top -diff_base` on the same pair
# of large heap profiles (>= 20 MB gzip, 250,000 samples each, synthesized by
# crates/lh-pprof/examples/synth_profile.rs) and prints the ratio.
# Goal: leakhound <= 0.5x go tool pprof's time. Needs: cargo, go (golang-go).
set -euo pipefail
cd "$(dirname "$0")/.."
samples=${SAMPLES:-250000}
runs=${RUNS:-3}
out=${OUT:-bench/out/pprof}
mkdir -p "$out"

cargo build --release -q -p leakhound -p lh-pprof --example synth_profile
bin=target/release/leakhound
[ -f "$out/base.pb.gz" ] || target/release/examples/synth_profile "$out/base.pb.gz" "$samples" 1
[ -f "$out/last.pb.gz" ] || target/release/examples/synth_profile "$out/last.pb.gz" "$samples" 2 65536
ls -l "$out"/*.pb.gz

# Best of $runs wall-clock seconds for a command, output discarded.
best() {
  local best=999999 t0 t1 t
  for _ in $(seq "$runs"); do
    t0=$(date +%s.%N)
    "$@" >/dev/null
    t1=$(date +%s.%N)
    t=$(echo "$t1 - $t0" | bc -l)
    if (( $(echo "$t < $best" | bc -l) )); then best=$t; fi
  done
  echo "$best"
}

lh=$(best "$bin" diff --top 20 "$out/base.pb.gz" "$out/last.pb.gz")
go_t=$(best go tool pprof -top -nodecount=20 -diff_base "$out/base.pb.gz" "$out/last.pb.gz")
lh_line=$(best "$bin" diff --by line --top 20 "$out/base.pb.gz" "$out/last.pb.gz")
go_line=$(best go tool pprof -top -lines -nodecount=20 -diff_base "$out/base.pb.gz" "$out/last.pb.gz")

# The two tools must agree before their times mean anything.
"$bin" diff --format json --top 1 "$out/base.pb.gz" "$out/last.pb.gz" | grep -m1 '"key"'
go tool pprof -top -unit=B -nodecount=1 -diff_base "$out/base.pb.gz" "$out/last.pb.gz" 2>/dev/null | tail -1

printf '\n%-28s %10s %10s %8s\n' "pprof diff (best of $runs)" leakhound "go pprof" ratio
printf '%-28s %9.2fs %9.2fs %7.2fx\n' "by function" "$lh" "$go_t" "$(echo "$lh / $go_t" | bc -l)"
printf '%-28s %9.2fs %9.2fs %7.2fx\n' "by line" "$lh_line" "$go_line" "$(echo "$lh_line / $go_line" | bc -l)"
echo "(ratio = leakhound time / go tool pprof time; goal <= 0.50)"
