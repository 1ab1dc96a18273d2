#!/usr/bin/env bash
# The leak detector's evaluation and throughput, beside the alerts people use.
#
# 1. Evaluation: a seeded corpus (docs/corpus.md; 28 patterns x PER_PATTERN
#    series of 6 hours to 4 days), `leakhound detect` on it, then every series replayed
#    hour by hour through leakhound and three faithful baselines
#    (predict_linear over 6 h, 4 h ahead > limit; increase(6h) > 500 MB with
#    counter-reset semantics; least-squares slope > 10 MB/h). Prints precision,
#    recall, F1, false alarms per 1,000 container-days, detection delay and
#    time-to-OOM error, per shape, per history length and overall, and the
#    reliability of leakhound's confidence. The recorded real series of
#    testdata/series (docs/corpus.md) are scored the same way, as the row
#    `real` (not in the overall figures).
# 2. Held-out (HELDOUT_SEED=N to run; HELDOUT_COUNT series, default 240): the
#    independent generator lh-heldout (crates/lh-heldout, written by someone
#    who had not read the detector; the detector is never tuned on it) makes
#    a corpus at that seed, scored the same way against the held-out bar.
#    Use a seed never run before: a seed looked at is no longer held out.
#    Exits 1 if either bar (printed at the end of each table) is missed.
# 3. Scale (SCALE=1 to run): 10,000 and 100,000 series x 1 day at 30 s through
#    `leakhound detect --file`, time and peak RSS (GNU time), and the ratio.
# 4. Throughput (SKIP_THROUGHPUT=1 to skip): N series x 1 day at 30 s through
#    `leakhound detect`, and the same samples in a real Prometheus (TSDB made by
#    promtool) answering predict_linear over all series, timed in the same run.
# Needs: cargo; prometheus and promtool (Debian package `prometheus`) for part 2.
set -euo pipefail
cd "$(dirname "$0")/.."
seed=${SEED:-1}
per=${PER_PATTERN:-60}
n=${SERIES:-10000}
out=${OUT:-bench/out/detector}
mkdir -p "$out"

cargo build --release -q -p leakhound -p lh-trend -p lh-heldout
lh=target/release/leakhound
ev=target/release/lh-eval

echo "== evaluation: seed $seed, $per series per pattern"
$ev corpus "$seed" "$per" "$out/corpus.jsonl" "$out/labels.jsonl"
$lh detect --file "$out/corpus.jsonl" --format json > "$out/verdicts.jsonl"
status=0
$ev score "$out/corpus.jsonl" "$out/labels.jsonl" "$out/verdicts.jsonl" \
  testdata/series/real.jsonl testdata/series/real-labels.jsonl || status=$?

if [ -n "${HELDOUT_SEED:-}" ]; then
  echo
  echo "== held-out: lh-heldout seed $HELDOUT_SEED, ${HELDOUT_COUNT:-240} series"
  target/release/lh-heldout --seed "$HELDOUT_SEED" --count "${HELDOUT_COUNT:-240}" \
    --out-series "$out/heldout.jsonl" --out-labels "$out/heldout-labels.jsonl"
  $lh detect --file "$out/heldout.jsonl" --format json > "$out/heldout-verdicts.jsonl"
  $ev score --heldout "$out/heldout.jsonl" "$out/heldout-labels.jsonl" \
    "$out/heldout-verdicts.jsonl" || status=$?
fi

if [ "${SCALE:-}" = 1 ]; then
  echo
  echo "== scale: 10,000 and 100,000 series x 1 day at 30 s through detect --file"
  for k in 10000 100000; do
    f="$out/scale-$k.jsonl"
    [ -f "$f" ] || $ev bulk "$k" 1 "$f" -
    /usr/bin/time -f "$k series: %e s, peak RSS %M KiB" $lh detect --file "$f" --format json \
      2> "$out/scale-$k.time" | wc -l
    cat "$out/scale-$k.time"
  done
  awk '{print $3}' "$out/scale-10000.time" "$out/scale-100000.time" | paste -sd' ' |
    awk '{printf "ratio 100,000 / 10,000: %.2f (linear: 10)\n", $2 / $1}'
fi

[ "${SKIP_THROUGHPUT:-}" = 1 ] && exit $status

echo
echo "== throughput: $n series x 1 day at 30 s"
if [ ! -f "$out/bulk.jsonl" ] || [ "$(wc -l < "$out/bulk.jsonl")" != "$n" ]; then
  $ev bulk "$n" 1 "$out/bulk.jsonl" "$out/bulk.om"
  rm -rf "$out/tsdb"
fi
ls -l "$out/bulk.jsonl"
now() { date +%s.%N; }
best=
for _ in 1 2 3; do
  t0=$(now); $lh detect --file "$out/bulk.jsonl" --format json > "$out/bulk-verdicts.jsonl"; t1=$(now)
  t=$(echo "$t1 - $t0" | bc -l)
  if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
done
printf 'leakhound detect:            %6.2f s (best of 3; %s verdicts, %s leaks)\n' "$best" \
  "$(wc -l < "$out/bulk-verdicts.jsonl")" "$(grep -c '"verdict":"leak"' "$out/bulk-verdicts.jsonl" || true)"

if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  echo "prometheus/promtool not installed (apt-get install prometheus): no comparison"
  exit $status
fi
if [ ! -d "$out/tsdb" ]; then
  t0=$(now)
  promtool tsdb create-blocks-from openmetrics "$out/bulk.om" "$out/tsdb" > /dev/null
  printf '(promtool built the TSDB in %.1f s)\n' "$(echo "$(now) - $t0" | bc -l)"
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
prometheus --storage.tsdb.path="$out/tsdb" --web.listen-address="127.0.0.1:$port" \
  --config.file=<(echo 'global: {scrape_interval: 1h}') --storage.tsdb.retention.time=100y \
  --query.max-samples=100000000 --query.timeout=10m --log.level=error &
prom=$!
trap 'kill $prom 2>/dev/null; wait $prom 2>/dev/null || true' EXIT
for _ in $(seq 600); do
  curl -sf "http://127.0.0.1:$port/-/ready" > /dev/null && break
  sleep 0.5
done
end=$((1764300000 + 86400 - 30))
q='predict_linear(container_memory_working_set_bytes[1d], 14400)'
best_p=
for _ in 1 2 3; do
  t0=$(now)
  curl -sf -G "http://127.0.0.1:$port/api/v1/query" --data-urlencode "query=$q" \
    --data-urlencode "time=$end" -o "$out/prom.json"
  t=$(echo "$(now) - $t0" | bc -l)
  if [ -z "$best_p" ] || [ "$(echo "$t < $best_p" | bc -l)" = 1 ]; then best_p=$t; fi
done
series=$(python3 -c "import json; print(len(json.load(open('$out/prom.json'))['data']['result']))")
printf 'prometheus predict_linear:   %6.2f s (best of 3; %s series, [1d] window over the same samples)\n' "$best_p" "$series"
printf 'ratio leakhound/prometheus:  %6.2f\n' "$(echo "$best / $best_p" | bc -l)"
exit $status
