#!/usr/bin/env bash
# HPROF benchmark: leakhound beside its anchor, hprof-slurp, on one large dump.
#
#   bench/hprof.sh            # OBJECTS=4000000 map entries: > 12 M objects, > 500 MB dump
#   OBJECTS=1000000 bench/hprof.sh   # a quicker run
#   KEEP=1 bench/hprof.sh     # keep the scratch directory (dump included)
#
# Needs JDK 17 (javac, java, jcmd), cargo, jq and GNU time. Prints wall times,
# peak RSS, the ratios against hprof-slurp and whether the top-20 instance
# counts agree. Exits non-zero if the counts differ.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
objects=${OBJECTS:-4000000}
work=$(mktemp -d "${TMPDIR:-/tmp}/lh-bench-hprof.XXXXXX")
chmod 700 "$work"
umask 077 # heap dumps hold secrets
app_pid=
cleanup() {
  [ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null || true
  [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

echo "== building leakhound (release) and hprof-slurp (crates.io)"
cargo build --release -q -p leakhound
lh=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)/release/leakhound
slurp=${HPROF_SLURP:-}
if [ -z "$slurp" ]; then
  CARGO_TARGET_DIR="$work/slurp-target" cargo install -q hprof-slurp --root "$work/slurp"
  rm -rf "$work/slurp-target"
  slurp="$work/slurp/bin/hprof-slurp"
fi

echo "== dumping a JVM with $objects map entries (3 objects each)"
javac -d "$work/classes" testkit/apps/java/*.java
mkdir "$work/ctl"
java -Xmx6g -XX:+UseParallelGC -Dobjects="$objects" -cp "$work/classes" LeakApp big "$work/ctl" >"$work/app.out" &
app_pid=$!
# Wait on the app's readiness line, not on a guess of how long it takes.
until grep -q '^ready 0' "$work/app.out"; do
  kill -0 "$app_pid" 2>/dev/null || { cat "$work/app.out"; exit 1; }
  sleep 0.2
done
dump="$work/big.hprof"
jcmd "$app_pid" GC.heap_dump "$dump" >/dev/null
kill "$app_pid"; wait "$app_pid" 2>/dev/null || true; app_pid=
size=$(stat -c %s "$dump")
echo "dump: $dump, $((size / 1048576)) MiB"

# Runs a command under GNU time; sets $secs and $rss_kb. The page cache is
# warm for every tool alike: the dump was just written, and each tool reads it
# in turn.
measure() {
  local name=$1; shift
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$work/$name.out" 2>"$work/$name.err" || {
    cat "$work/$name.err"; exit 1; }
  read -r secs rss_kb <"$work/time"
  printf '%-28s %8.2f s %8d MiB RSS\n' "$name" "$secs" $((rss_kb / 1024))
}

echo "== timing (one warm-up read first)"
cat "$dump" >/dev/null
measure hprof-slurp "$slurp" -t 20 --json -o "$work/slurp.json" "$dump"
t_slurp=$secs; m_slurp=$rss_kb
measure "leakhound --histogram-only" "$lh" analyze --histogram-only --format json --top 1000000 "$dump"
t_hist=$secs; m_hist=$rss_kb
cp "$work/leakhound --histogram-only.out" "$work/hist.json"
measure "leakhound analyze (full)" "$lh" analyze --format json --top 50 "$dump"
t_full=$secs; m_full=$rss_kb

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
echo
echo "histogram / hprof-slurp time:   $(ratio "$t_hist" "$t_slurp")x  (goal <= 1.0)"
echo "full analysis / hprof-slurp:    $(ratio "$t_full" "$t_slurp")x  (goal <= 4.0)"
echo "peak RSS, histogram / dump:     $(ratio $((m_hist * 1024)) "$size")x"
echo "peak RSS, full / dump:          $(ratio $((m_full * 1024)) "$size")x  (goal <= 1.0)"
echo "peak RSS, hprof-slurp / dump:   $(ratio $((m_slurp * 1024)) "$size")x"
echo "full analysis, first suspect:   $(jq -r '.suspects[0] | "\(.key) [\(.pattern)] retains \(.retained_bytes) B"' "$work/leakhound analyze (full).out")"

echo
echo "== top-20 instance counts (hprof-slurp rows summed by class name)"
jq -r '[.heap.top_allocated_classes[] | {k: .class_name, c: .instance_count}]
       | group_by(.k) | map("\(.[0].k)\t\(map(.c) | add)") | .[]' "$work/slurp.json" | sort >"$work/slurp.counts"
jq -r '.groups[] | "\(.key)\t\(.count[0])"' "$work/hist.json" | sort >"$work/lh.all"
join -t $'\t' "$work/slurp.counts" "$work/lh.all" >"$work/joined"
bad=0
while IFS=$'\t' read -r name a b; do
  mark=ok; [ "$a" = "$b" ] || { mark=DIFFERENT; bad=1; }
  printf '%-50s %12s %12s %s\n' "$name" "$a" "$b" "$mark"
done <"$work/joined"
if [ "$(wc -l <"$work/joined")" -ne "$(wc -l <"$work/slurp.counts")" ]; then
  echo "some hprof-slurp classes are missing from leakhound's histogram"; bad=1
fi
[ "$bad" = 0 ] && echo "instance counts: equal to hprof-slurp's for all $(wc -l <"$work/joined") classes"
exit "$bad"
