#!/usr/bin/env bash
# lh-graph alone: build, dominators (semi-NCA), retained sizes and retainer
# tree on a synthetic heap-shaped graph, in release mode. Prints each phase's
# time, peak RSS, and the dominator time per million nodes.
# NODES (default 2000000) and EXTRA (random cross edges per node, default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
nodes=${NODES:-2000000}
extra=${EXTRA:-2}
cargo build --release -q -p lh-graph --example graph_bench
line=$(target/release/examples/graph_bench "$nodes" "$extra")
echo "$line"
dom=$(echo "$line" | sed -n 's/.*dominators \([0-9.]*\)s.*/\1/p')
awk -v d="$dom" -v n="$nodes" 'BEGIN { printf "dominators: %.3f s per million nodes\n", d / (n / 1e6) }'
