#!/usr/bin/env bash
# Times `leakhound diff` beside `memlab find-leaks` on the same three V8 heap
# snapshots (>= 500 MB each) of one Node process that leaks 80,000
# LeakedSession objects between them (written by bench/v8-heap.js), and prints
# wall time, peak RSS and the ratios. Also checks that leakhound names the
# leaked class, and compares retained sizes with memlab's.
# Goal: leakhound >= 10x faster than memlab, with <= 1/3 of its peak RSS.
# Needs: cargo, node (20+), npm, /usr/bin/time. Files land in $OUT (mode 0600).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-bench/out/v8}
records=${RECORDS:-1100000}
umask 077
mkdir -p "$out"

cargo build --release -q -p leakhound
bin=target/release/leakhound

# memlab's browser download fails here and is not needed for snapshot files.
memlab="$out/memlab/node_modules/.bin/memlab"
if [ ! -x "$memlab" ]; then
  mkdir -p "$out/memlab"
  (cd "$out/memlab" && PUPPETEER_SKIP_DOWNLOAD=1 npm install --no-audit --no-fund memlab >/dev/null)
fi

if [ ! -f "$out/s3.heapsnapshot" ]; then
  node --expose-gc --max-old-space-size=8192 bench/v8-heap.js "$out" "$records"
fi
ls -l "$out"/s?.heapsnapshot
snaps=("$out/s1.heapsnapshot" "$out/s2.heapsnapshot" "$out/s3.heapsnapshot")

# Runs a command under /usr/bin/time -v; sets T (wall seconds) and R (peak RSS, KiB).
measure() {
  local log=$1; shift
  /usr/bin/time -v -o "$log.time" "$@" >"$log" 2>"$log.err"
  T=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$log.time")
  R=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log.time")
}

# One warm-up read first, so that neither tool pays for a cold page cache
# (leakhound runs first; the snapshots may be hours old).
cat "${snaps[@]}" >/dev/null
measure "$out/leakhound.json" "$bin" diff --format json "${snaps[@]}"
lh_t=$T lh_r=$R
measure "$out/memlab.txt" node --max-old-space-size=16384 "$memlab" find-leaks \
  --baseline "${snaps[0]}" --target "${snaps[1]}" --final "${snaps[2]}"
ml_t=$T ml_r=$R

# What each tool concluded.
node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1]));
const s = r.suspects[0] || {};
console.log(`leakhound: suspects[0] = ${s.key} [${s.pattern}], retained ${s.retained_bytes} B`);
console.log(`  held by: ${(s.retainer_path || []).join(" → ")}`);
if (s.key !== "LeakedSession") { console.error("leakhound did not name LeakedSession"); process.exit(1); }
' "$out/leakhound.json"
echo "memlab: $(grep -ao 'MemLab found [0-9]* leak(s)' "$out/memlab.txt" "$out/memlab.txt.err" | head -1 | cut -d: -f2)"
echo "memlab's alive objects allocated in the target (class, count, retained):"
grep -a "LeakedSession\|'Array'" "$out/memlab.txt" | head -2

printf '\n%-22s %12s %12s %10s\n' "V8 diff, 3 snapshots" leakhound memlab ratio
printf '%-22s %11.1fs %11.1fs %9.1fx\n' "wall time" "$lh_t" "$ml_t" "$(echo "$ml_t / $lh_t" | bc -l)"
printf '%-22s %9d MiB %9d MiB %9.2fx\n' "peak RSS" $((lh_r / 1024)) $((ml_r / 1024)) "$(echo "$lh_r / $ml_r" | bc -l)"
echo "(time ratio = memlab / leakhound, goal >= 10; RSS ratio = leakhound / memlab, goal <= 0.33)"

# Retained sizes of the same objects (by V8 id) on the last snapshot.
echo
echo "retained sizes on ${snaps[2]}, same object ids:"
"$bin" analyze --format json "${snaps[2]}" >"$out/analyze.json"
node "$memlab" analyze object-size --snapshot "${snaps[2]}" >"$out/object-size.txt" 2>&1 || true
node -e '
const fs = require("fs");
const ours = JSON.parse(fs.readFileSync(process.argv[1])).largest;
const text = fs.readFileSync(process.argv[2], "utf8");
const theirs = new Map();
for (const m of text.matchAll(/@(\d+) ([^:]*?)(?: \{[^}]*\})?: \d+ edges, ([\d.]+)(KB|MB|GB|bytes)/g)) {
  const mult = { bytes: 1, KB: 1e3, MB: 1e6, GB: 1e9 }[m[4]];
  theirs.set(Number(m[1]), [m[2], Number(m[3]) * mult]);
}
console.log("  id          class            leakhound B      memlab ~B");
for (const o of ours) {
  const t = theirs.get(o.id);
  console.log(`  @${String(o.id).padEnd(10)} ${o.key.padEnd(16).slice(0, 16)} ${String(o.retained_bytes).padStart(12)} ${t ? String(Math.round(t[1])).padStart(14) : "   (not listed)"}`);
}
' "$out/analyze.json" "$out/object-size.txt"
