//! Dominators and retained sizes: hand-made shapes (diamonds, loops, irreducible
//! graphs, weak edges, a million-deep chain) and a proptest against the naive
//! definitions of `common`.

mod common;

use common::{arb_graph, graph, naive_idoms, naive_retained};
use lh_graph::{dominators, retained_sizes, Dominators, Graph, GraphBuilder};
use proptest::prelude::*;

fn all(_: usize) -> bool {
    true
}

fn idoms(d: &Dominators, n: usize) -> Vec<Option<u32>> {
    (0..n as u32).map(|x| d.idom(x)).collect()
}

#[test]
fn diamond() {
    let g = graph(&[1, 2, 4, 8], &[(0, 1, 0), (0, 2, 0), (1, 3, 0), (2, 3, 0)]);
    let d = dominators(&g, 0, all);
    assert_eq!(idoms(&d, 4), vec![None, Some(0), Some(0), Some(0)]);
    assert_eq!(d.children(0), &[1, 2, 3]);
    assert_eq!(retained_sizes(&g, &d), vec![15, 2, 4, 8]);
}

#[test]
fn loop_back_to_an_ancestor() {
    // 0 → 1 → 2 → 3 → 1, and 2 → 4.
    let g = graph(
        &[1, 1, 1, 1, 1],
        &[(0, 1, 0), (1, 2, 0), (2, 3, 0), (3, 1, 0), (2, 4, 0)],
    );
    let d = dominators(&g, 0, all);
    assert_eq!(idoms(&d, 5), vec![None, Some(0), Some(1), Some(2), Some(2)]);
    assert_eq!(retained_sizes(&g, &d), vec![5, 4, 3, 1, 1]);
    assert!(d.dominates(1, 4) && d.dominates(4, 4) && !d.dominates(3, 4));
}

#[test]
fn irreducible() {
    // 1 and 2 form a loop with two entries: neither dominates the other.
    let g = graph(
        &[1, 10, 100, 1000],
        &[(0, 1, 0), (0, 2, 0), (1, 2, 0), (2, 1, 0), (1, 3, 0)],
    );
    let d = dominators(&g, 0, all);
    assert_eq!(idoms(&d, 4), vec![None, Some(0), Some(0), Some(1)]);
    assert_eq!(retained_sizes(&g, &d), vec![1111, 1010, 100, 1000]);
}

#[test]
fn unreachable_nodes_have_no_idom_and_retain_nothing() {
    // 3 → 4 → 1 point into the reachable part but nothing reaches them.
    let g = graph(&[1, 2, 4, 8, 16], &[(0, 1, 0), (3, 4, 0), (4, 1, 0)]);
    let d = dominators(&g, 0, all);
    assert_eq!(idoms(&d, 5), vec![None, Some(0), None, None, None]);
    assert!(d.is_reachable(0) && d.is_reachable(1));
    assert!(!d.is_reachable(2) && !d.is_reachable(3) && !d.is_reachable(4));
    assert_eq!(d.preorder(), &[0, 1]);
    assert_eq!(retained_sizes(&g, &d), vec![3, 2, 0, 0, 0]);
}

#[test]
fn self_loops_are_harmless() {
    let g = graph(
        &[1, 2, 4],
        &[(0, 0, 0), (0, 1, 0), (1, 1, 0), (1, 2, 0), (2, 2, 0)],
    );
    let d = dominators(&g, 0, all);
    assert_eq!(idoms(&d, 3), vec![None, Some(0), Some(1)]);
    assert_eq!(retained_sizes(&g, &d), vec![7, 6, 4]);
}

#[test]
fn weak_edges_keep_nothing_alive() {
    // 0 → 1 → 2, and a weak 0 → 2 (label 1).
    let g = graph(&[1, 2, 4], &[(0, 1, 0), (0, 2, 1), (1, 2, 0)]);
    let strong = |e: usize| g.edge_label(e) != 1;
    let d = dominators(&g, 0, strong);
    assert_eq!(idoms(&d, 3), vec![None, Some(0), Some(1)]);
    assert_eq!(retained_sizes(&g, &d), vec![7, 6, 4]);
    let d = dominators(&g, 0, all);
    assert_eq!(idoms(&d, 3), vec![None, Some(0), Some(0)]);
}

#[test]
fn another_root() {
    let g = graph(&[1, 2, 4], &[(0, 1, 0), (1, 2, 0), (2, 0, 0)]);
    let d = dominators(&g, 2, all);
    assert_eq!(d.root(), 2);
    assert_eq!(idoms(&d, 3), vec![Some(2), Some(0), None]);
    assert_eq!(retained_sizes(&g, &d), vec![3, 2, 7]);
}

/// A chain of a million nodes, with a back edge from the last to the second,
/// so that both the DFS and the path compression go a million deep. Runs on
/// a test thread's 2 MiB stack: any recursion would overflow it.
#[test]
fn a_million_node_chain_does_not_recurse() {
    const N: u32 = 1_000_000;
    let mut b = GraphBuilder::new(N as usize, N as usize);
    for _ in 0..N {
        b.add_node(3);
    }
    for i in 0..N - 1 {
        b.add_edge(i, i + 1, 0);
    }
    b.add_edge(N - 1, 1, 0);
    let g = b.build().unwrap();
    let d = dominators(&g, 0, all);
    for i in 1..N {
        assert_eq!(d.idom(i), Some(i - 1));
    }
    let r = retained_sizes(&g, &d);
    for i in 0..N {
        assert_eq!(r[i as usize], 3 * u64::from(N - i));
    }
}

/// Heap-like: a wide root with a shared subgraph, checked against the naive
/// algorithm on a size the proptest does not reach.
#[test]
fn medium_graph_matches_naive() {
    let n = 300u32;
    let mut edges = Vec::new();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for from in 0..n {
        for _ in 0..3 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let to = (x % u64::from(n)) as u32;
            // Mostly forward edges, as in object graphs, plus some back edges.
            let to = match x % 5 {
                0 => to,
                _ => from + 1 + to % 7,
            };
            if to < n {
                edges.push((from, to, (x % 3) as u32));
            }
        }
    }
    let sizes: Vec<u64> = (0..u64::from(n)).map(|i| i * 7 % 31).collect();
    let g = graph(&sizes, &edges);
    let keep = |e: usize| g.edge_label(e) != 2;
    let d = dominators(&g, 0, keep);
    assert_eq!(idoms(&d, n as usize), naive_idoms(&g, 0, &keep));
    assert_eq!(retained_sizes(&g, &d), naive_retained(&g, 0, &keep));
}

fn check(g: &Graph, root: u32, keep: &dyn Fn(usize) -> bool) -> Result<(), TestCaseError> {
    let d = dominators(g, root, keep);
    let n = g.node_count();
    let want = naive_idoms(g, root, keep);
    prop_assert_eq!(idoms(&d, n), want.clone());
    let reachable = common::reach(g, root, None, keep);
    for x in 0..n as u32 {
        prop_assert_eq!(d.is_reachable(x), reachable[x as usize]);
        let kids: Vec<u32> = (0..n as u32)
            .filter(|&c| want[c as usize] == Some(x))
            .collect();
        prop_assert_eq!(d.children(x), &kids[..]);
    }
    // Preorder: all reachable nodes, root first, each after its idom.
    let order = d.preorder();
    prop_assert_eq!(order.len(), reachable.iter().filter(|&&r| r).count());
    prop_assert_eq!(order[0], root);
    let mut pos = vec![usize::MAX; n];
    for (i, &x) in order.iter().enumerate() {
        pos[x as usize] = i;
    }
    for &x in &order[1..] {
        prop_assert!(pos[d.idom(x).unwrap() as usize] < pos[x as usize]);
    }
    prop_assert_eq!(retained_sizes(g, &d), naive_retained(g, root, keep));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn dominators_and_retained_sizes_match_the_definition((sizes, edges) in arb_graph(), root_pick in 0usize..60) {
        let g = graph(&sizes, &edges);
        let root = (root_pick % sizes.len()) as u32;
        check(&g, root, &all)?;
    }

    #[test]
    fn weak_edges_are_ignored_as_if_absent((sizes, edges) in arb_graph()) {
        let g = graph(&sizes, &edges);
        // Label 0 is weak.
        let keep = |e: usize| g.edge_label(e) != 0;
        check(&g, 0, &keep)?;
        // The same as the graph without those edges.
        let strong: Vec<_> = edges.iter().copied().filter(|&(_, _, l)| l != 0).collect();
        let h = graph(&sizes, &strong);
        prop_assert_eq!(
            idoms(&dominators(&g, 0, keep), sizes.len()),
            idoms(&dominators(&h, 0, all), sizes.len())
        );
    }
}
