#!/usr/bin/env bash
# Makes the seed corpus of every fuzz target in fuzz/corpus/<target>/ (not
# committed: `cargo fuzz run` adds to it). Seeds come from the runtimes
# themselves, never from other projects' files:
# - pprof, pprof_legacy: the Go sample app's own profiles, protobuf and the
#   runtime's text formats (heap, goroutine, mutex, threadcreate at debug=1);
#   gperftools' and Java's legacy layouts written here from their specs
#   (pprof's legacy_profile.go), small enough to mutate quickly;
# - v8: snapshots written here in each meta layout V8 has used, with the
#   head of a real Node snapshot;
# - hprof: a minimal HPROF 1.0.2 dump with every record the reader knows;
# - tracemalloc: CPython's own `Snapshot.dump` pickles;
# - heap_text, native: dumps of the native sample app (testkit/apps/native/leaky.c)
#   under Debian's jemalloc and gperftools' tcmalloc; for native, each dump
#   with the binary it maps appended (the target splits at `\x7fELF`).
# Needs go, node, python3, cc, libjemalloc-dev, libgoogle-perftools-dev.
# Files are small (< 64 KiB) so that mutation is fast.
set -euo pipefail
cd "$(dirname "$0")"
out=$PWD/corpus
mkdir -p "$out"/{pprof,pprof_legacy,v8,hprof,tracemalloc,heap_text,native}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# --- Go: a real leaking service, its profiles in every encoding the runtime serves.
(cd ../testkit/apps/go && GOFLAGS=-mod=mod go build -o "$work/leak" ./leak)
LISTEN=127.0.0.1:0 "$work/leak" >"$work/leak.out" &
until grep -q 'listening on' "$work/leak.out" 2>/dev/null; do sleep 0.1; done
addr=$(awk '/listening on/ {print $3}' "$work/leak.out")
python3 - "$addr" "$out" <<'EOF'
import sys, urllib.request
addr, out = sys.argv[1], sys.argv[2]
get = lambda p: urllib.request.urlopen(f"http://{addr}{p}", timeout=60).read()
get("/work?n=50")
for name, path in [("heap.pb.gz", "/debug/pprof/heap"), ("allocs.pb.gz", "/debug/pprof/allocs"),
                   ("goroutine.pb.gz", "/debug/pprof/goroutine")]:
    open(f"{out}/pprof/{name}", "wb").write(get(path))
for name, path in [("heap.txt", "/debug/pprof/heap?debug=1"), ("goroutine.txt", "/debug/pprof/goroutine?debug=1"),
                   ("threadcreate.txt", "/debug/pprof/threadcreate?debug=1"), ("mutex.txt", "/debug/pprof/mutex?debug=1"),
                   ("block.txt", "/debug/pprof/block?debug=1")]:
    body = get(path)[:60000]
    for d in ("pprof", "pprof_legacy"):
        open(f"{out}/{d}/{name}", "wb").write(body)
EOF

# --- gperftools' and Java's layouts, from pprof's legacy_profile.go.
python3 - "$out/pprof_legacy" <<'EOF'
import struct, sys
out = sys.argv[1]
maps = ("--- Memory map: ---\n"
        "00400000-00fcb000 r-xp 00000000 00:00 0 /srv/app\n"
        "7f5e5413f000-7f5e54157000 r-xp 00000000 08:01 66 /lib/libpthread-2.15.so\n")
stacks = [[0x4a0000, 0x4b1234, 0x7f5e54140010], [0x4a0010, 0x4b1234], [0x4c0000]]
def write(name, text):
    open(f"{out}/{name}", "w").write(text)
at = lambda s: " ".join(hex(a) for a in s)
write("growth.txt", "heap profile: 3: 3072 [ 3: 3072] @ growthz\n"
      + "".join(f"1: 1024 [1: 1024] @ {at(s)}\n" for s in stacks) + maps)
write("contentionz.txt", "--- contentionz 1 ---\ncycles/second = 2000000000\nsampling period = 100\nms since reset = 60000\n"
      + "".join(f"{1000*(i+1)} {i+1} @ {at(s)}\n" for i, s in enumerate(stacks)) + maps)
write("go-contention.txt", "--- contention:\ncycles/second=1000000000\n"
      + "".join(f"{500*(i+1)} {i+1} @ {at(s)}\n" for i, s in enumerate(stacks)))
write("threadz.txt", "--- threadz 1 ---\n\n"
      + "".join(f"--- Thread {i:x} (name: worker/{i}) stack: ---\n  PC: {at(s)}\n" for i, s in enumerate(stacks))
      + "--- Thread 9 (name: idle/9) stack: ---\n  same as previous thread\n" + maps)
java_syms = "".join(f"{hex(a)} com.example.Fn{a & 0xff:x}.call (Fn.java:{a & 0xff})\n" for s in stacks for a in s)
write("java-heapz.txt", "--- heapz 1 ---\nformat = java\nresolution = bytes\n"
      + "".join(f"{4096*(i+1)} {i+1} @ {at(s)}\n" for i, s in enumerate(stacks)) + java_syms)
write("java-contentionz.txt", "--- contentionz 1 ---\nformat = java\nresolution = microseconds\nsampling period = 10\nms since reset = 1000\n"
      + "".join(f"{70*(i+1)} {i+1} @ {at(s)}\n" for i, s in enumerate(stacks)) + java_syms)
def cpu(word, java):
    w = [0, 3, 1 if java else 0, 10000, 0]
    for i, s in enumerate(stacks):
        w += [i + 1, len(s)] + s
    w += [0, 1, 0]
    mask = (1 << (8 * struct.calcsize(word))) - 1
    return b"".join(struct.pack(word, x & mask) for x in w)
for word, name in [("<I", "cpu32le"), (">I", "cpu32be"), ("<Q", "cpu64le"), (">Q", "cpu64be")]:
    open(f"{out}/{name}.bin", "wb").write(cpu(word, False) + maps.encode())
open(f"{out}/java-cpu.bin", "wb").write(cpu("<Q", True) + java_syms.encode())
EOF

# --- V8: Node's own meta, and snapshots in each layout V8 has written.
node -e '
const v8 = require("v8"), fs = require("fs");
const f = v8.writeHeapSnapshot(process.argv[1]);
const head = fs.readFileSync(f, "utf8").slice(0, 4000);
const meta = head.slice(head.indexOf("{\"meta\""), head.indexOf(",\"node_count\""));
fs.writeFileSync(process.argv[1] + ".meta", meta);
' "$work/node.heapsnapshot"
python3 - "$work/node.heapsnapshot.meta" "$out/v8" <<'EOF'
import json, sys
node_meta = json.loads(open(sys.argv[1]).read() + "}")["meta"]
out = sys.argv[2]
edge_types = ["context", "element", "property", "internal", "hidden", "shortcut", "weak"]
node_types = ["hidden", "array", "string", "object", "code", "closure", "regexp", "number",
              "native", "synthetic", "concatenated string", "sliced string", "symbol", "bigint", "object shape"]
def snap(fields, ntypes, ids, extra_type=False, meta=None, surplus=False):
    nf = len(fields)
    def node(t, name, id, size, edges):
        rec = {"type": t, "name": name, "id": id, "self_size": size, "edge_count": edges,
               "trace_node_id": 0, "detachedness": 2 if t == 8 else 0}
        return [rec[f] for f in fields]
    nodes = node(9, 1, ids[0], 0, 2) + node(3, 2, ids[1], 100, 2) + node(2, 3, ids[2], 50, 0) \
        + node(12 if extra_type else 8, 4, ids[3], 30, 0)
    edges = [5, 5, nf, 6, 5, 3 * nf, 2, 6, 2 * nf, 1, 0, 3 * nf] + ([2, 5, 99 * nf] if surplus else [])
    m = meta or {"node_fields": fields, "node_types": [ntypes] + ["string"] + ["number"] * (nf - 2),
                 "edge_fields": ["type", "name_or_index", "to_node"],
                 "edge_types": [edge_types, "string_or_number", "node"]}
    return json.dumps({"snapshot": {"meta": m, "node_count": 4, "edge_count": 4}, "nodes": nodes, "edges": edges,
                       "trace_function_infos": [], "trace_tree": [], "samples": [], "locations": [],
                       "strings": ["", "(GC roots)", "Holder", "leaf \ud800", "HTMLDivElement", "x", "child"]},
                      separators=(",", ":"))
base = ["type", "name", "id", "self_size", "edge_count"]
open(f"{out}/v8-2012.heapsnapshot", "w").write(snap(base, node_types[:12], [1, 3, 5, 7]))
open(f"{out}/v8-2014.heapsnapshot", "w").write(snap(base + ["trace_node_id"], node_types[:14], [1, 3, 5, 7]))
open(f"{out}/v8-2021.heapsnapshot", "w").write(snap(base + ["trace_node_id", "detachedness"], node_types, [1, 3, 5, 7]))
open(f"{out}/node.heapsnapshot", "w").write(
    snap(node_meta["node_fields"], None, [1, 3, 5, 7], meta=node_meta))
open(f"{out}/wide-ids.heapsnapshot", "w").write(
    snap(base + ["trace_node_id", "detachedness"], node_types[:12], [0, 4775375728, 4829153440, 4819266896],
         extra_type=True, surplus=True))
EOF

# --- HPROF 1.0.2: a class, an instance, arrays and roots, 4-byte ids.
python3 - "$out/hprof/tiny.hprof" <<'EOF'
import struct, sys
u1, u2, u4, u8 = (lambda v: struct.pack(">B", v)), (lambda v: struct.pack(">H", v)), \
    (lambda v: struct.pack(">I", v)), (lambda v: struct.pack(">Q", v))
def rec(tag, body):
    return u1(tag) + u4(0) + u4(len(body)) + body
strings = {1: "java/lang/Object", 2: "com/example/Cache", 3: "entries", 4: "[Ljava/lang/Object;"}
out = b"JAVA PROFILE 1.0.2\0" + u4(4) + u8(0)
for i, s in strings.items():
    out += rec(0x01, u4(i) + s.encode())
out += rec(0x02, u4(1) + u4(0x100) + u4(0) + u4(1))          # LOAD CLASS Object
out += rec(0x02, u4(2) + u4(0x200) + u4(0) + u4(2))          # LOAD CLASS Cache
out += rec(0x02, u4(3) + u4(0x300) + u4(0) + u4(4))          # LOAD CLASS Object[]
def class_dump(cid, sup, fields):
    b = u1(0x20) + u4(cid) + u4(0) + u4(sup) + u4(0) * 5 + u4(4 if fields else 0) + u2(0) + u2(0)
    b += u2(len(fields)) + b"".join(u4(n) + u1(t) for n, t in fields)
    return b
seg = class_dump(0x100, 0, []) + class_dump(0x200, 0x100, [(3, 2)]) + class_dump(0x300, 0x100, [])
seg += u1(0x21) + u4(0x1000) + u4(0) + u4(0x200) + u4(4) + u4(0x2000)      # Cache instance
seg += u1(0x22) + u4(0x2000) + u4(0) + u4(2) + u4(0x300) + u4(0x1000) + u4(0)  # Object[2]
seg += u1(0x23) + u4(0x3000) + u4(0) + u4(3) + u1(9) + b"\x01\x02\x03\x04\x05\x06"  # short[3]
seg += u1(0x05) + u4(0x200)                                   # ROOT STICKY CLASS
seg += u1(0x08) + u4(0x1000) + u4(1) + u4(0)                  # ROOT THREAD OBJECT
seg += u1(0x01) + u4(0x2000) + u4(0x2000)                     # ROOT JNI GLOBAL
out += rec(0x1C, seg) + rec(0x2C, b"")
open(sys.argv[1], "wb").write(out)
EOF

# --- tracemalloc: CPython's own pickles.
python3 - "$out/tracemalloc" <<'EOF'
import sys, tracemalloc
out = sys.argv[1]
tracemalloc.start(5)
keep = [bytearray(1000 + i) for i in range(20)]
snap = tracemalloc.take_snapshot()
snap = snap.filter_traces([tracemalloc.Filter(True, __file__ if "__file__" in dir() else "<stdin>")])
snap.dump(f"{out}/small.pickle")
tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, "*tracemalloc*")]).dump(f"{out}/lib.pickle")
EOF
# --- Native: the C sample app's own dumps, leaky and bounded, on each allocator.
src=../testkit/apps/native/leaky.c
for variant in leaky bounded; do
    flag=$([ "$variant" = bounded ] && echo -DBOUNDED || true)
    # -O1 -g as testkit builds it: small enough to append to a seed.
    cc -g -O1 $flag -o "$work/$variant-je" "$src" -ljemalloc
    cc -g -O1 $flag -o "$work/$variant-tc" "$src" -ltcmalloc
    MALLOC_CONF="prof:true,prof_accum:true,prof_prefix:$work/je-$variant,lg_prof_interval:22" \
        "$work/$variant-je" 12 >/dev/null
    HEAPPROFILE="$work/tc-$variant" HEAP_PROFILE_ALLOCATION_INTERVAL=4194304 \
        "$work/$variant-tc" 12 >/dev/null 2>&1
done
# A few of each: the first, a middle and the last dump of every run.
for run in je-leaky je-bounded tc-leaky tc-bounded; do
    mapfile -t files < <(ls "$work/$run".*.heap | sort -V)
    n=${#files[@]}
    variant=${run#*-}
    bin=$work/$variant-${run%%-*}
    for i in 0 $((n / 2)) $((n - 1)); do
        cp "${files[$i]}" "$out/heap_text/$run-$i.heap"
        cat "${files[$i]}" "$bin" >"$out/native/$run-$i"
    done
done

for d in "$out"/*/; do
  find "$d" -type f -size +64k -delete
  echo "$(basename "$d"): $(ls "$d" | wc -l) seeds"
done
