//! Shortest retainer paths from the root, with edge costs.

use crate::Graph;
use std::collections::VecDeque;

const UNREACHED: u32 = u32::MAX;
/// Edge indices are below [`crate::MAX_EDGES`], so `u32::MAX` is free.
const NO_EDGE: u32 = u32::MAX;

/// The shortest-path tree from the root: for every reachable node, the edge
/// by which the cheapest path from the root arrives.
///
/// A person reading "why is this alive?" wants the path through named things
/// (properties, fields, array elements, closure contexts), not through
/// engine internals, so edges have small integer costs and the path
/// minimises their sum; weak edges are skipped altogether. Costs fit a byte,
/// which allows Dial's algorithm (a ring of 256 FIFO buckets): linear time,
/// no heap.
#[derive(Debug, Clone)]
pub struct RetainerTree {
    root: u32,
    /// Per node: the cost of its cheapest path, or [`UNREACHED`].
    dist: Vec<u32>,
    /// Per node: the last edge of that path, or [`NO_EDGE`].
    parent: Vec<u32>,
}

impl RetainerTree {
    /// Computes the tree. `cost(e)` is `None` for an edge to skip (weak), or
    /// the edge's cost; a path's cost is the sum of its edges' costs.
    ///
    /// With costs of 0 a long chain of free edges beats one costly edge; to
    /// prefer fewer hops first and readable edges among equally short paths,
    /// give every edge a cost of at least 1 and the less readable ones more.
    ///
    /// Ties are broken deterministically: among the equally cheap edges into
    /// a node, seen from nodes settled before it, the lowest edge index wins.
    /// A path costing more than `u32::MAX - 1` in total is not followed (that
    /// takes a chain of more than 16 million maximal-cost edges). Panics if
    /// `root` is not a node of `g`.
    pub fn build(g: &Graph, root: u32, cost: impl Fn(usize) -> Option<u8>) -> RetainerTree {
        let n = g.node_count();
        assert!(
            (root as usize) < n,
            "root {root} is not a node of a graph of {n} nodes"
        );
        let mut dist = vec![UNREACHED; n];
        let mut parent = vec![NO_EDGE; n];
        let mut settled = vec![0u64; n.div_ceil(64)];
        // Bucket d % 256 holds the nodes queued at distance d; with costs of
        // at most 255, the queued distances span at most 256 values.
        let mut buckets: Vec<VecDeque<u32>> = vec![VecDeque::new(); 256];
        let mut queued = 1usize;
        dist[root as usize] = 0;
        buckets[0].push_back(root);
        let mut d: u32 = 0;
        while queued > 0 {
            while let Some(u) = buckets[(d & 255) as usize].pop_front() {
                queued -= 1;
                let (word, bit) = (u as usize / 64, 1u64 << (u % 64));
                // Stale entries: already settled through a cheaper path.
                if settled[word] & bit != 0 || dist[u as usize] != d {
                    continue;
                }
                settled[word] |= bit;
                for e in g.edge_range(u) {
                    let Some(c) = cost(e) else { continue };
                    let to = g.edge_to(e) as usize;
                    let Some(nd) = d.checked_add(u32::from(c)).filter(|&x| x != UNREACHED) else {
                        continue;
                    };
                    if nd < dist[to] {
                        dist[to] = nd;
                        parent[to] = e as u32;
                        buckets[(nd & 255) as usize].push_back(to as u32);
                        queued += 1;
                    } else if nd == dist[to]
                        && (e as u32) < parent[to]
                        && settled[to / 64] & (1u64 << (to % 64)) == 0
                    {
                        parent[to] = e as u32;
                    }
                }
            }
            if queued == 0 {
                break;
            }
            d += 1;
        }
        RetainerTree { root, dist, parent }
    }

    /// The root the paths start from.
    pub fn root(&self) -> u32 {
        self.root
    }

    /// Whether some path of followed edges leads from the root to `n`.
    pub fn is_reachable(&self, n: u32) -> bool {
        self.dist[n as usize] != UNREACHED
    }

    /// The cost of the cheapest path to `n`, `None` if unreachable.
    pub fn distance(&self, n: u32) -> Option<u32> {
        let d = self.dist[n as usize];
        (d != UNREACHED).then_some(d)
    }

    /// The last edge of the cheapest path to `n`; `None` for the root and for
    /// unreachable nodes.
    pub fn parent_edge(&self, n: u32) -> Option<usize> {
        let e = self.parent[n as usize];
        (e != NO_EDGE).then_some(e as usize)
    }

    /// The edges of the cheapest path from the root to `node`, root first:
    /// empty for the root, `None` if unreachable. Each step looks up the
    /// edge's source with [`Graph::edge_from`], so this is for the few paths
    /// a report shows.
    pub fn path(&self, g: &Graph, node: u32) -> Option<Vec<usize>> {
        if !self.is_reachable(node) {
            return None;
        }
        let mut edges = Vec::new();
        let mut n = node;
        while let Some(e) = self.parent_edge(n) {
            edges.push(e);
            n = g.edge_from(e);
        }
        edges.reverse();
        Some(edges)
    }
}
