#!/usr/bin/env bash
# The HTML report of a large V8 snapshot diff: its size, and the time a
# headless Chromium takes to reach the page's load event (over CDP, a fresh
# browser per page). The anchor, in the same run: a small report (the same
# generator with 1/100 of the records), opened the same way, and the ratio.
# Goal: under 5 MB and under 2 s for three snapshots of >= 600 MB.
# RECORDS sets the size: the default (300,000) makes snapshots of about
# 150 MB, which fits a loaded machine; RECORDS=1500000 gives >= 600 MB each.
# Needs: cargo, node (20+), chromium, /usr/bin/time. Files land in $OUT (0600).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-bench/out/html}
records=${RECORDS:-300000}
umask 077
mkdir -p "$out/big" "$out/small"

cargo build --release -q -p leakhound
cargo build --release -q -p testkit --example page_load
bin=target/release/leakhound
load=target/release/examples/page_load

for d in big small; do
  n=$records
  [ "$d" = small ] && n=$((records / 100))
  if [ ! -f "$out/$d/s3.heapsnapshot" ] || [ "$(cat "$out/$d/records" 2>/dev/null)" != "$n" ]; then
    rm -f "$out/$d"/s?.heapsnapshot
    node --expose-gc --max-old-space-size=8192 bench/v8-heap.js "$out/$d" "$n" >/dev/null
    echo "$n" >"$out/$d/records"
  fi
done

for d in big small; do
  snaps=("$out/$d/s1.heapsnapshot" "$out/$d/s2.heapsnapshot" "$out/$d/s3.heapsnapshot")
  /usr/bin/time -f "%e %M" -o "$out/$d/time" \
    "$bin" diff --format html -o "$out/$d/report.html" "${snaps[@]}"
  read -r t rss <"$out/$d/time"
  mb=$(du -cm "${snaps[@]}" | tail -1 | cut -f1)
  size=$(stat -c %s "$out/$d/report.html")
  echo "$d: 3 snapshots, $mb MB in all; diff --format html took $t s (peak RSS $((rss / 1024)) MiB); report.html $size bytes"
  grep -q 'data-key="LeakedSession"' "$out/$d/report.html" || { echo "$d: LeakedSession is not the first suspect"; exit 1; }
done

"$load" "$out/big/report.html" "$out/small/report.html" | tee "$out/load.txt"
big_t=$(awk -F'load ' 'NR==1 {split($2,a," "); print a[1]}' "$out/load.txt")
small_t=$(awk -F'load ' 'NR==2 {split($2,a," "); print a[1]}' "$out/load.txt")
big_s=$(stat -c %s "$out/big/report.html")
awk -v b="$big_t" -v s="$small_t" -v z="$big_s" 'BEGIN {
  printf "big report: %.2f MB (goal < 5 MB), load event after %.3f s (goal < 2 s); %.2fx the small report'"'"'s %.3f s\n", z / 1e6, b, b / s, s
  if (z >= 5e6 || b >= 2) { print "goal missed"; exit 1 }
}'
if grep -qv ", 0 other requests," "$out/load.txt"; then echo "a page made network requests"; exit 1; fi
