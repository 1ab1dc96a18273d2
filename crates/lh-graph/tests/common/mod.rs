//! Graph construction and naive reference algorithms shared by the tests.
//! The references follow the definitions literally (quadratic or worse),
//! so that they are obviously right on the small graphs the proptests draw.

// Each test binary uses its own part of these helpers.
#![allow(dead_code)]

use lh_graph::{Graph, GraphBuilder};
use proptest::prelude::*;

/// A graph from self sizes and `(from, to, label)` edges; edges are sorted by
/// `from` (stably, so edge indices follow the given order within a node).
pub fn graph(sizes: &[u64], edges: &[(u32, u32, u32)]) -> Graph {
    let mut sorted = edges.to_vec();
    sorted.sort_by_key(|&(f, _, _)| f);
    let mut b = GraphBuilder::new(sizes.len(), sorted.len());
    for &s in sizes {
        b.add_node(s);
    }
    for (f, t, l) in sorted {
        b.add_edge(f, t, l);
    }
    b.build().expect("valid test graph")
}

/// Random graphs of 1..=60 nodes with up to 3 edges a node on average
/// (self-loops and parallel edges included), labels in 0..4, sizes < 1000.
pub fn arb_graph() -> impl Strategy<Value = (Vec<u64>, Vec<(u32, u32, u32)>)> {
    (1usize..=60).prop_flat_map(|n| {
        let sizes = proptest::collection::vec(0u64..1000, n);
        let edges = proptest::collection::vec((0..n as u32, 0..n as u32, 0u32..4), 0..=3 * n);
        (sizes, edges)
    })
}

/// Nodes reachable from `root` over edges passing `keep`, never entering
/// `removed`.
pub fn reach(
    g: &Graph,
    root: u32,
    removed: Option<u32>,
    keep: &dyn Fn(usize) -> bool,
) -> Vec<bool> {
    let mut seen = vec![false; g.node_count()];
    if Some(root) == removed {
        return seen;
    }
    seen[root as usize] = true;
    let mut todo = vec![root];
    while let Some(u) = todo.pop() {
        for (e, to, _) in g.edges(u) {
            if keep(e) && !seen[to as usize] && Some(to) != removed {
                seen[to as usize] = true;
                todo.push(to);
            }
        }
    }
    seen
}

/// Immediate dominators by the definition: d strictly dominates n iff n is
/// reachable, and unreachable once d is removed; the idom is the strict
/// dominator that all the others dominate, i.e. the one with most dominators.
pub fn naive_idoms(g: &Graph, root: u32, keep: &dyn Fn(usize) -> bool) -> Vec<Option<u32>> {
    let n = g.node_count();
    let reachable = reach(g, root, None, keep);
    // sdom[d][x]: d strictly dominates x.
    let mut sdom = vec![vec![false; n]; n];
    for d in 0..n {
        if !reachable[d] {
            continue;
        }
        let without = reach(g, root, Some(d as u32), keep);
        for x in 0..n {
            sdom[d][x] = x != d && reachable[x] && !without[x];
        }
    }
    (0..n)
        .map(|x| {
            (0..n)
                .filter(|&d| sdom[d][x])
                .max_by_key(|&d| (0..n).filter(|&e| sdom[e][d]).count())
                .map(|d| d as u32)
        })
        .collect()
}

/// Retained sizes by the definition: x retains every reachable node that the
/// root can no longer reach once x is removed (x itself included).
pub fn naive_retained(g: &Graph, root: u32, keep: &dyn Fn(usize) -> bool) -> Vec<u64> {
    let n = g.node_count();
    let reachable = reach(g, root, None, keep);
    (0..n as u32)
        .map(|x| {
            if !reachable[x as usize] {
                return 0;
            }
            let without = reach(g, root, Some(x), keep);
            (0..n as u32)
                .filter(|&y| reachable[y as usize] && !without[y as usize])
                .map(|y| g.self_size(y))
                .sum()
        })
        .collect()
}
