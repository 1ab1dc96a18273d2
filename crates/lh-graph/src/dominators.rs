//! Dominator tree by semi-NCA, and retained sizes.
//!
//! The semidominator pass is the one of `rustc_data_structures::graph::
//! dominators` (Lengauer–Tarjan's simple variant over preorder numbers, with
//! the ancestor forest sharing the parent array and iterative path
//! compression). The immediate dominators then come from the semi-NCA step
//! of Georgiadis' thesis instead of Lengauer–Tarjan's buckets: walking up the
//! already final dominator tree from the DFS parent until reaching a vertex
//! numbered no higher than the semidominator. That needs no per-vertex
//! bucket lists, only flat `u32` arrays, which matters at 10M+ nodes.

use crate::Graph;

const NONE: u32 = u32::MAX;

/// The dominator tree of a graph from one root.
///
/// Node `d` dominates `n` when every path from the root to `n` passes through
/// `d`; the immediate dominator is the closest such `d`. In a heap, freeing
/// `d` frees everything it dominates, which is why retained sizes are sums
/// over dominator subtrees.
#[derive(Debug, Clone)]
pub struct Dominators {
    root: u32,
    /// Per node: its immediate dominator, or [`NONE`] for the root and for
    /// unreachable nodes.
    idom: Vec<u32>,
    /// The reachable nodes in DFS preorder: every node comes after its
    /// immediate dominator (an idom is a DFS-tree ancestor).
    preorder: Vec<u32>,
    /// Children in the dominator tree, CSR: the children of `n` are
    /// `children[first_child[n]..first_child[n + 1]]`, in node order.
    first_child: Vec<u32>,
    children: Vec<u32>,
}

impl Dominators {
    /// The root the tree was computed from.
    pub fn root(&self) -> u32 {
        self.root
    }

    /// The immediate dominator of `n`. `None` for the root (which has none)
    /// and for nodes the root cannot reach.
    pub fn idom(&self, n: u32) -> Option<u32> {
        let d = self.idom[n as usize];
        (d != NONE).then_some(d)
    }

    /// Whether the root reaches `n` through kept edges.
    pub fn is_reachable(&self, n: u32) -> bool {
        n == self.root || self.idom[n as usize] != NONE
    }

    /// The nodes `n` immediately dominates, in increasing node order. The
    /// children of the root are the "top dominators" of a heap.
    pub fn children(&self, n: u32) -> &[u32] {
        let r = self.first_child[n as usize] as usize..self.first_child[n as usize + 1] as usize;
        &self.children[r]
    }

    /// The reachable nodes, root first, each after its immediate dominator.
    /// Walk it backwards to fold values up the dominator tree without
    /// recursion, as [`retained_sizes`] does.
    pub fn preorder(&self) -> &[u32] {
        &self.preorder
    }

    /// Whether `d` dominates `n` (every node dominates itself). Walks up the
    /// tree from `n`: O(depth).
    pub fn dominates(&self, d: u32, n: u32) -> bool {
        if !self.is_reachable(n) {
            return false;
        }
        let mut x = n;
        loop {
            if x == d {
                return true;
            }
            match self.idom(x) {
                Some(up) => x = up,
                None => return false,
            }
        }
    }
}

/// Computes the dominator tree of `g` from `root`, ignoring every edge `e` for
/// which `keep_edge(e)` is false (weak references keep nothing alive).
///
/// Iterative DFS and semi-NCA over flat `u32` arrays: time O(E log V), extra
/// memory about 32 bytes per reachable node plus 4 per kept edge that is not
/// a DFS-tree edge while it runs. Panics if `root` is not a node of `g`.
pub fn dominators(g: &Graph, root: u32, keep_edge: impl Fn(usize) -> bool) -> Dominators {
    let node_count = g.node_count();
    assert!(
        (root as usize) < node_count,
        "root {root} is not a node of a graph of {node_count} nodes"
    );

    // 1. Iterative DFS: preorder numbers and the DFS-tree parent. It also
    // counts each node's kept in-edges from reachable nodes other than its
    // DFS parent: the parent's edges only ever offer the parent as a
    // semidominator candidate, which step 3 starts from anyway. In a heap
    // most objects have one referrer, so this leaves few predecessors to
    // store, and while they are few (up to one per 8 nodes) the DFS notes
    // them itself, as (target, source) preorder numbers.
    let mut pre_of = vec![NONE; node_count];
    let mut preorder: Vec<u32> = Vec::new();
    let mut parent: Vec<u32> = Vec::new();
    // Indexed by preorder number; becomes the predecessor CSR offsets.
    // u32 is enough: there are no more kept in-edges than edges (MAX_EDGES).
    let mut first_pred = vec![0u32; node_count + 1];
    let cap = node_count / 8;
    let mut noted: Vec<(u32, u32)> = Vec::new();
    let mut too_many = false;
    {
        pre_of[root as usize] = 0;
        preorder.push(root);
        parent.push(0);
        // Frames: (node's preorder number, next edge to look at, end of its edges).
        let mut stack: Vec<(u32, usize, usize)> = Vec::new();
        let r = g.edge_range(root);
        stack.push((0, r.start, r.end));
        while let Some(top) = stack.last_mut() {
            let (v, ref mut next, end) = *top;
            let mut descend = None;
            while *next < end {
                let e = *next;
                *next += 1;
                if !keep_edge(e) {
                    continue;
                }
                let to = g.edge_to(e);
                let p = pre_of[to as usize];
                if p == NONE {
                    descend = Some(to);
                    break;
                }
                if parent[p as usize] != v {
                    first_pred[p as usize] += 1;
                    if noted.len() < cap {
                        noted.push((p, v));
                    } else {
                        too_many = true;
                    }
                }
            }
            match descend {
                Some(to) => {
                    let p = preorder.len() as u32;
                    pre_of[to as usize] = p;
                    preorder.push(to);
                    parent.push(v);
                    let r = g.edge_range(to);
                    stack.push((p, r.start, r.end));
                }
                None => {
                    stack.pop();
                }
            }
        }
    }
    let n = preorder.len();

    // 2. Those predecessors in preorder numbers, CSR. The counts become end
    // offsets, and filling each list backwards turns them into start offsets:
    // no separate cursor array. The lists come from the DFS's notes, or when
    // it had too many to note, from a scan of the graph that visits sources
    // in node order, so the edge arrays are read sequentially.
    first_pred.truncate(n + 1);
    for i in 1..n {
        first_pred[i] += first_pred[i - 1];
    }
    let total = if n > 0 { first_pred[n - 1] } else { 0 };
    first_pred[n] = total;
    let mut preds = vec![0u32; total as usize];
    if !too_many {
        for &(w, v) in &noted {
            first_pred[w as usize] -= 1;
            preds[first_pred[w as usize] as usize] = v;
        }
    } else {
        for (u, &pu) in pre_of.iter().enumerate() {
            if pu == NONE {
                continue;
            }
            for e in g.edge_range(u as u32) {
                if keep_edge(e) {
                    let w = pre_of[g.edge_to(e) as usize] as usize;
                    if parent[w] != pu {
                        first_pred[w] -= 1;
                        preds[first_pred[w] as usize] = pu;
                    }
                }
            }
        }
    }

    drop(noted);

    // 3. Semidominators, in reverse preorder. `ancestor` is the link forest
    // of Lengauer–Tarjan; it starts as the DFS parent, and a vertex v is
    // linked (its tree edge is in the forest) once v > w. A vertex is not
    // linked before its own turn, so `ancestor[w]` is still its DFS parent
    // then: the candidate its tree edge offers.
    let mut ancestor = parent;
    let mut semi: Vec<u32> = (0..n as u32).collect();
    let mut label: Vec<u32> = semi.clone();
    // idom starts as the DFS parent, saved before path compression rewrites
    // `ancestor`, and becomes the immediate dominator in step 4.
    let mut idom = vec![0u32; n];
    let mut path: Vec<u32> = Vec::new();
    for w in (1..n).rev() {
        let p = ancestor[w];
        idom[w] = p;
        let mut s = p;
        for &v in &preds[first_pred[w] as usize..first_pred[w + 1] as usize] {
            let x = eval(&mut ancestor, &semi, &mut label, &mut path, w as u32, v);
            s = s.min(semi[x as usize]);
        }
        semi[w] = s;
    }
    drop(ancestor);
    drop(preds);

    // 4. NCA: the idom of w is the nearest ancestor of its DFS parent in the
    // (already final, since numbered lower) dominator tree whose number is at
    // most semi(w).
    for w in 1..n {
        let mut x = idom[w];
        while x > semi[w] {
            x = idom[x as usize];
        }
        idom[w] = x;
    }
    drop(semi);

    // 5. Back to node numbers, and the children lists. `pre_of` becomes the
    // per-node idom in place, `first_pred` the child offsets and `label` the
    // children, so these large arrays cost no fresh pages.
    let mut idom_of = pre_of;
    for d in idom_of.iter_mut() {
        if *d != NONE {
            *d = preorder[idom[*d as usize] as usize];
        }
    }
    idom_of[root as usize] = NONE;
    drop(idom);
    // Counts, then end offsets; filling backwards in node order leaves start
    // offsets and each list in increasing node order.
    let mut first_child = first_pred;
    first_child.clear();
    first_child.resize(node_count + 1, 0);
    for &d in &idom_of {
        if d != NONE {
            first_child[d as usize] += 1;
        }
    }
    for i in 1..=node_count {
        first_child[i] += first_child[i - 1];
    }
    let mut children = label;
    children.truncate(n - 1);
    for (v, &d) in idom_of.iter().enumerate().rev() {
        if d != NONE {
            first_child[d as usize] -= 1;
            children[first_child[d as usize] as usize] = v as u32;
        }
    }

    Dominators {
        root,
        idom: idom_of,
        preorder,
        first_child,
        children,
    }
}

/// Lengauer–Tarjan's EVAL: for a linked vertex `v`, the vertex of smallest
/// semidominator on the forest path above `v` (root of its tree excluded);
/// `v` itself if it is not linked yet.
#[inline]
fn eval(
    ancestor: &mut [u32],
    semi: &[u32],
    label: &mut [u32],
    path: &mut Vec<u32>,
    w: u32,
    v: u32,
) -> u32 {
    if v <= w {
        return v;
    }
    compress(ancestor, semi, label, path, w, v);
    label[v as usize]
}

/// Path compression, iterative: collect the linked ancestors of `v`, then
/// fold labels down from the top so each vertex sees the best label above it
/// and points straight at the top of the path.
#[inline]
fn compress(
    ancestor: &mut [u32],
    semi: &[u32],
    label: &mut [u32],
    path: &mut Vec<u32>,
    w: u32,
    v: u32,
) {
    path.clear();
    path.push(v);
    let mut u = ancestor[v as usize];
    while u > w {
        path.push(u);
        u = ancestor[u as usize];
    }
    for i in (0..path.len() - 1).rev() {
        let (v, u) = (path[i] as usize, path[i + 1] as usize);
        if semi[label[u] as usize] < semi[label[v] as usize] {
            label[v] = label[u];
        }
        ancestor[v] = ancestor[u];
    }
}

/// The retained size of every node: its self size plus the self sizes of all
/// the nodes it dominates, i.e. what freeing it would free. Unreachable nodes
/// retain 0, since nothing reachable from the root keeps them.
///
/// Self sizes in node order (sequential), then one backward sweep over the
/// preorder (children after parents), no recursion.
pub fn retained_sizes(g: &Graph, d: &Dominators) -> Vec<u64> {
    let mut retained: Vec<u64> = (0..g.node_count() as u32)
        .map(|n| if d.is_reachable(n) { g.self_size(n) } else { 0 })
        .collect();
    for &n in d.preorder().iter().rev() {
        if let Some(up) = d.idom(n) {
            retained[up as usize] += retained[n as usize];
        }
    }
    retained
}
