//! The retainer tree: cheapest paths by edge cost, weak edges skipped, ties
//! broken by edge index, no parent loops; checked against Bellman–Ford.

mod common;

use common::{arb_graph, graph};
use lh_graph::{Graph, GraphBuilder, RetainerTree};
use proptest::prelude::*;

/// The label is the cost; label 9 marks a weak edge.
fn by_label(g: &Graph) -> impl Fn(usize) -> Option<u8> + '_ {
    |e| match g.edge_label(e) {
        9 => None,
        c => Some(c as u8),
    }
}

#[test]
fn prefers_the_cheaper_path_over_the_shorter() {
    // 0 → 1 directly at cost 5, or 0 → 2 → 1 at cost 1 + 1.
    let g = graph(&[0; 3], &[(0, 1, 5), (0, 2, 1), (2, 1, 1)]);
    let t = RetainerTree::build(&g, 0, by_label(&g));
    assert_eq!(t.distance(1), Some(2));
    assert_eq!(t.path(&g, 1), Some(vec![1, 2]));
    assert_eq!(t.parent_edge(1), Some(2));
    assert_eq!(t.path(&g, 0), Some(vec![]));
    assert_eq!(t.parent_edge(0), None);
    assert_eq!(t.distance(0), Some(0));
}

#[test]
fn skips_weak_edges() {
    // 0 ⇢ 1 is weak; 0 → 2 → 1 is the only strong way. 3 hangs off a weak edge only.
    let g = graph(&[0; 4], &[(0, 1, 9), (0, 2, 3), (0, 3, 9), (2, 1, 3)]);
    let t = RetainerTree::build(&g, 0, by_label(&g));
    assert_eq!(t.path(&g, 1), Some(vec![1, 3]));
    assert_eq!(t.path(&g, 3), None);
    assert_eq!(t.distance(3), None);
    assert!(!t.is_reachable(3));
    assert_eq!(t.root(), 0);
}

#[test]
fn ties_go_to_the_lowest_edge_index() {
    // Edges: e0 0→2, e1 0→1, e2 1→3, e3 2→3, all cost 1. Node 2 is settled
    // first and offers e3, then node 1 offers the lower e2.
    let g = graph(&[0; 4], &[(0, 2, 1), (0, 1, 1), (1, 3, 1), (2, 3, 1)]);
    let t = RetainerTree::build(&g, 0, by_label(&g));
    assert_eq!(t.parent_edge(3), Some(2));
    assert_eq!(t.path(&g, 3), Some(vec![1, 2]));
}

#[test]
fn free_edges_and_cycles_make_no_parent_loop() {
    // A zero-cost cycle 1 ⇄ 2 entered from both sides at the same cost.
    let g = graph(&[0; 3], &[(0, 1, 1), (0, 2, 1), (1, 2, 0), (2, 1, 0)]);
    let t = RetainerTree::build(&g, 0, by_label(&g));
    assert_eq!(t.path(&g, 1), Some(vec![0]));
    assert_eq!(t.path(&g, 2), Some(vec![1]));
}

#[test]
fn a_million_node_chain() {
    const N: u32 = 1_000_000;
    let mut b = GraphBuilder::new(N as usize, N as usize);
    for _ in 0..N {
        b.add_node(1);
    }
    for i in 0..N - 1 {
        b.add_edge(i, i + 1, 200);
    }
    let g = b.build().unwrap();
    let t = RetainerTree::build(&g, 0, by_label(&g));
    assert_eq!(t.distance(N - 1), Some(200 * (N - 1)));
    let p = t.path(&g, N - 1).unwrap();
    assert_eq!(p, (0..(N - 1) as usize).collect::<Vec<_>>());
}

/// Cheapest-path costs by Bellman–Ford.
fn naive_distances(g: &Graph, root: u32, cost: &dyn Fn(usize) -> Option<u8>) -> Vec<Option<u64>> {
    let mut dist = vec![None; g.node_count()];
    dist[root as usize] = Some(0u64);
    loop {
        let mut changed = false;
        for u in 0..g.node_count() as u32 {
            let Some(du) = dist[u as usize] else { continue };
            for (e, to, _) in g.edges(u) {
                if let Some(c) = cost(e) {
                    let nd = du + u64::from(c);
                    if dist[to as usize].is_none_or(|d| nd < d) {
                        dist[to as usize] = Some(nd);
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            return dist;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Distances are the cheapest, and every path is a real chain of followed
    /// edges from the root whose costs add up to the distance.
    #[test]
    fn paths_are_cheapest_and_valid((sizes, edges) in arb_graph(), weak in 0u32..4) {
        let g = graph(&sizes, &edges);
        // Costs 0..3 from the label, with one label weak.
        let cost = |e: usize| {
            let l = g.edge_label(e);
            (l != weak).then_some(l as u8)
        };
        let t = RetainerTree::build(&g, 0, cost);
        let want = naive_distances(&g, 0, &cost);
        for n in 0..g.node_count() as u32 {
            prop_assert_eq!(t.distance(n).map(u64::from), want[n as usize]);
            match t.path(&g, n) {
                None => prop_assert!(want[n as usize].is_none()),
                Some(p) => {
                    prop_assert!(p.len() < g.node_count());
                    let mut at = 0u32;
                    let mut total = 0u64;
                    for &e in &p {
                        prop_assert_eq!(g.edge_from(e), at);
                        total += u64::from(cost(e).expect("no weak edge on a path"));
                        at = g.edge_to(e);
                    }
                    prop_assert_eq!(at, n);
                    prop_assert_eq!(Some(total), want[n as usize]);
                }
            }
        }
        // Deterministic: the same input gives the same tree.
        let again = RetainerTree::build(&g, 0, cost);
        for n in 0..g.node_count() as u32 {
            prop_assert_eq!(t.parent_edge(n), again.parent_edge(n));
        }
    }
}
