//! Times the graph pipeline on a synthetic heap-shaped graph; run by
//! `bench/graph.sh`. Usage: `graph_bench [NODES] [EXTRA_EDGES_PER_NODE]`.
//!
//! The graph: node 0 is the root; every node points to two "children"
//! (2i+1, 2i+2), which keeps all reachable and gives a ~log-deep spine, plus
//! random cross edges anywhere (back edges included), a quarter of them weak.
//! A 64-bit xorshift keeps it reproducible without a dependency.

use lh_graph::{dominators, retained_sizes, GraphBuilder, RetainerTree};
use std::time::Instant;

const WEAK: u32 = 1;

fn main() {
    let mut args = std::env::args().skip(1);
    let nodes: u32 = args.next().map_or(2_000_000, |a| a.parse().expect("NODES"));
    let extra: u32 = args
        .next()
        .map_or(2, |a| a.parse().expect("EXTRA_EDGES_PER_NODE"));
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rand = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };

    let t = Instant::now();
    let mut b = GraphBuilder::new(nodes as usize, nodes as usize * (2 + extra as usize));
    for _ in 0..nodes {
        b.add_node(16 + rand() % 256);
    }
    for u in 0..nodes {
        for c in [2 * u as u64 + 1, 2 * u as u64 + 2] {
            if c < u64::from(nodes) {
                b.add_edge(u, c as u32, 0);
            }
        }
        for _ in 0..extra {
            let r = rand();
            b.add_edge(u, (r % u64::from(nodes)) as u32, u32::from(r >> 62 == 0));
        }
    }
    let g = b.build().expect("valid graph");
    let build = t.elapsed();

    let t = Instant::now();
    let d = dominators(&g, 0, |e| g.edge_label(e) != WEAK);
    let dom = t.elapsed();

    let t = Instant::now();
    let r = retained_sizes(&g, &d);
    let ret = t.elapsed();

    let t = Instant::now();
    let tree = RetainerTree::build(&g, 0, |e| (g.edge_label(e) != WEAK).then_some(1));
    let paths = t.elapsed();

    let top = d
        .children(0)
        .iter()
        .map(|&c| r[c as usize])
        .max()
        .unwrap_or(0);
    let reach = (0..nodes).filter(|&n| tree.is_reachable(n)).count();
    println!(
        "nodes {nodes} edges {} | build {:.3}s dominators {:.3}s retained {:.3}s retainer-tree {:.3}s | root retains {} top child {} reachable {}",
        g.edge_count(),
        build.as_secs_f64(),
        dom.as_secs_f64(),
        ret.as_secs_f64(),
        paths.as_secs_f64(),
        r[0],
        top,
        reach
    );
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        if let Some(hwm) = status.lines().find(|l| l.starts_with("VmHWM")) {
            println!("peak RSS {}", hwm.trim_start_matches("VmHWM:").trim());
        }
    }
}
