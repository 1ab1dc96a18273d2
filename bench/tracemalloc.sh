#!/usr/bin/env bash
# Times `leakhound diff` beside its anchor, CPython itself, on the same two
# tracemalloc snapshots of >= 1,000,000 traces at traceback_limit 25:
#   CPython: pickle.load of both files + compare_to('lineno') + compare_to('traceback')
#   leakhound: diff --by lineno and diff --by traceback (each run reads both files)
# Both sides do the same work and check each other's numbers; prints the ratios.
# Goal: leakhound >= 10x faster. Needs: cargo, python3 (CPython 3.8+).
set -euo pipefail
cd "$(dirname "$0")/.."
traces=${TRACES:-1000000}
runs=${RUNS:-3}
out=${OUT:-bench/out/tracemalloc}
mkdir -p "$out"
cargo build --release -q -p leakhound
bin=target/release/leakhound

if [ ! -f "$out/s2.pickle" ]; then
  python3 - "$out" "$traces" <<'PY'
# Many live blocks reached through varied call chains up to 25 frames deep,
# as a busy service has: snapshot 1, then 10 % more blocks, snapshot 2.
import os, sys, tracemalloc
out, n = sys.argv[1], int(sys.argv[2])
tracemalloc.start(25)
keep = []

def alloc(k, per):
    if k % 3 == 0:
        keep.extend(bytes(16 + k % 7) for _ in range(per))
    elif k % 3 == 1:
        keep.extend(str(k) * 2 for _ in range(per))
    else:
        keep.extend([k] for _ in range(per))

def a(d, k, per):
    return alloc(k, per) if d == 0 else (a if (k >> d) & 1 else b)(d - 1, k, per)

def b(d, k, per):
    return alloc(k, per) if d == 0 else (b if (k >> d) & 1 else a)(d - 1, k, per)

def grow(count, start):
    k = start
    while count > 0:
        a(10 + k % 14, k, 20)
        count -= 20
        k += 1
    return k

def dump(path):
    snap = tracemalloc.take_snapshot()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        import pickle
        pickle.dump(snap, f, pickle.HIGHEST_PROTOCOL)
    return len(snap.traces)

k = grow(n, 0)
print("s1.pickle:", dump(os.path.join(out, "s1.pickle")), "traces")
grow(n // 10, k)
print("s2.pickle:", dump(os.path.join(out, "s2.pickle")), "traces")
PY
fi
ls -l "$out"/*.pickle

# Best of N runs of a command, output discarded: "wall_seconds cpu_seconds"
# (CPU = user + system). Both are printed because CI machines are shared: on
# a busy machine wall time measures the neighbours, CPU time the program.
best() {
  local n=$1 best=999999 cpu=0 w c t
  shift
  t=$(mktemp)
  for _ in $(seq "$n"); do
    /usr/bin/time -o "$t" -f "%e %U %S" "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
    read -r w c < <(awk '{print $1, $2 + $3}' "$t")
    if (( $(echo "$w < $best" | bc -l) )); then best=$w; cpu=$c; fi
  done
  rm -f "$t"
  echo "$best $cpu"
}

# CPython times its own phases (best of N), and prints its top group per key
# type so that the two tools can be checked against each other.
read -r py_load py_lineno py_tb py_cpu py_top_line py_top_tb < <(python3 - "$out" "$runs" <<'PY'
import pickle, sys, time
out, runs = sys.argv[1], int(sys.argv[2])
best, cpu = [1e9, 1e9, 1e9], 1e9
for _ in range(runs):
    c0 = time.process_time()
    t0 = time.perf_counter()
    with open(out + "/s1.pickle", "rb") as f:
        s1 = pickle.load(f)
    with open(out + "/s2.pickle", "rb") as f:
        s2 = pickle.load(f)
    t1 = time.perf_counter()
    line = s2.compare_to(s1, "lineno")
    t2 = time.perf_counter()
    tb = s2.compare_to(s1, "traceback")
    t3 = time.perf_counter()
    cpu = min(cpu, time.process_time() - c0)
    best = [min(b, t) for b, t in zip(best, (t1 - t0, t2 - t1, t3 - t2))]
    top_line = "%s:%d=%d" % (line[0].traceback[0].filename, line[0].traceback[0].lineno, line[0].size_diff)
    top_tb = "%d=%d" % (len(tb), tb[0].size_diff)
    del s1, s2, line, tb
print(*["%.3f" % b for b in best + [cpu]], top_line, top_tb)
PY
)
read -r lh_lineno lh_lineno_cpu < <(best "$runs" "$bin" diff --by lineno --top 20 "$out/s1.pickle" "$out/s2.pickle")
read -r lh_tb lh_tb_cpu < <(best "$runs" "$bin" diff --by traceback --top 20 "$out/s1.pickle" "$out/s2.pickle")

ours_line=$("$bin" diff --format json --top 1 "$out/s1.pickle" "$out/s2.pickle" |
  python3 -c 'import json,sys; g=json.load(sys.stdin)["groups"][0]; print("%s=%d" % (g["key"], g["delta_bytes"]))')
ours_tb=$("$bin" diff --by traceback --format json --top 1000000000 "$out/s1.pickle" "$out/s2.pickle" |
  python3 -c 'import json,sys; g=json.load(sys.stdin)["groups"]; print("%d=%d" % (len(g), g[0]["delta_bytes"]))')
echo "top line (key=size_diff): leakhound $ours_line; CPython $py_top_line"
echo "traceback groups=top size_diff: leakhound $ours_tb; CPython $py_top_tb"
[ "$ours_line" = "$py_top_line" ] && [ "$ours_tb" = "$py_top_tb" ] || { echo "the tools disagree" >&2; exit 1; }

py_total=$(echo "$py_load + $py_lineno + $py_tb" | bc -l)
lh_total=$(echo "$lh_lineno + $lh_tb" | bc -l)
printf '\n%-44s %10s\n' "CPython 3 ($(python3 -c 'import sys; print(sys.version.split()[0])'))" seconds
printf '%-44s %9.2fs\n' "pickle.load of both snapshots" "$py_load" \
  "compare_to('lineno')" "$py_lineno" "compare_to('traceback')" "$py_tb" "total" "$py_total"
printf '\n%-44s %10s\n' "leakhound (each run reads both files)" seconds
printf '%-44s %9.2fs\n' "diff --by lineno" "$lh_lineno" "diff --by traceback" "$lh_tb" "total" "$lh_total"
printf '\n%-44s %9.1fx\n' "speed-up, lineno (load + compare_to)" "$(echo "($py_load + $py_lineno) / $lh_lineno" | bc -l)"
printf '%-44s %9.1fx\n' "speed-up, traceback (load + compare_to)" "$(echo "($py_load + $py_tb) / $lh_tb" | bc -l)"
printf '%-44s %9.1fx\n' "speed-up, total" "$(echo "$py_total / $lh_total" | bc -l)"
printf '%-44s %9.1fx  (CPython %.2fs, leakhound %.2fs)\n' "speed-up in CPU time, total" \
  "$(echo "$py_cpu / ($lh_lineno_cpu + $lh_tb_cpu)" | bc -l)" "$py_cpu" "$(echo "$lh_lineno_cpu + $lh_tb_cpu" | bc -l)"
echo "(speed-up = CPython time / leakhound time; goal >= 10x; load average now: $(cut -d' ' -f1 /proc/loadavg))"
