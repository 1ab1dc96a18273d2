//! The heap graph in compressed sparse row form, and its builder.

use std::ops::Range;

/// The most nodes a graph can hold. Node indices are `u32` so that edge
/// targets cost 4 bytes each; `u32::MAX` itself is kept free as the "no node"
/// sentinel of the algorithms.
pub const MAX_NODES: usize = u32::MAX as usize;

/// The most edges a graph can hold. Edge offsets are `u32`, which saves 4
/// bytes a node (48 MB on a 12 M-object dump) over `u64`; 4 billion references
/// would need 32 GB for the edge arrays alone, more than any machine this
/// runs on is likely to give one analysis.
pub const MAX_EDGES: usize = u32::MAX as usize;

/// Self sizes are stored in 4 bytes; this value means "look in the overflow
/// table", which holds the rare objects of 4 GiB or more.
const BIG_SIZE: u32 = u32::MAX;

/// Why a graph could not be built. Each variant names the offending edge or
/// node so that a reader can report what in its input was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// More nodes than [`MAX_NODES`].
    #[error("too many nodes: more than {limit}")]
    TooManyNodes {
        /// [`MAX_NODES`], for the message.
        limit: usize,
    },
    /// More edges than [`MAX_EDGES`].
    #[error("too many edges: more than {limit}")]
    TooManyEdges {
        /// [`MAX_EDGES`], for the message.
        limit: usize,
    },
    /// An edge was added for a node that did not exist yet.
    #[error(
        "edge {edge} starts at node {from}, but only {node_count} nodes existed when it was added"
    )]
    SourceOutOfRange {
        /// The edge's index, in the order edges were added.
        edge: usize,
        /// Its source node.
        from: u32,
        /// The nodes added before it.
        node_count: usize,
    },
    /// An edge points past the last node.
    #[error(
        "edge {edge} from node {from} points to node {to}, but the graph has {node_count} nodes"
    )]
    TargetOutOfRange {
        /// The edge's index, in the order edges were added.
        edge: usize,
        /// Its source node.
        from: u32,
        /// The node it names, which does not exist.
        to: u32,
        /// The nodes of the finished graph.
        node_count: usize,
    },
    /// Edges must arrive grouped by source node, in nondecreasing order.
    #[error("edge {edge} starts at node {from} after edges of node {previous}: edges must be added in nondecreasing source order")]
    OutOfOrder {
        /// The edge's index, in the order edges were added.
        edge: usize,
        /// Its source node.
        from: u32,
        /// The source of the edge before it, greater than `from`.
        previous: u32,
    },
}

/// Builds a [`Graph`] from a stream of nodes and edges.
///
/// Both heap formats list each object's references together, object after
/// object, so the builder demands edges in nondecreasing `from` order and
/// writes the CSR arrays directly: no sort, no second copy of the edges. An
/// edge's `to` may name a node not added yet (formats refer forward); it is
/// checked in [`GraphBuilder::build`]. Misuse is never a panic: the first
/// problem is remembered and returned by `build`, so a reader can feed
/// untrusted input straight through.
#[derive(Debug)]
pub struct GraphBuilder {
    first_edge: Vec<u32>,
    edge_to: Vec<u32>,
    edge_label: Vec<u32>,
    self_size: Vec<u32>,
    big_sizes: Vec<(u32, u64)>,
    error: Option<GraphError>,
}

impl GraphBuilder {
    /// Reserves room for about this many nodes and edges. The hints only
    /// avoid reallocation; the graph grows past them if needed.
    pub fn new(node_count_hint: usize, edge_count_hint: usize) -> Self {
        GraphBuilder {
            first_edge: Vec::with_capacity(node_count_hint.saturating_add(1)),
            edge_to: Vec::with_capacity(edge_count_hint),
            edge_label: Vec::with_capacity(edge_count_hint),
            self_size: Vec::with_capacity(node_count_hint),
            big_sizes: Vec::new(),
            error: None,
        }
    }

    /// Adds a node and returns its index, which is the number of nodes added
    /// before it. Past [`MAX_NODES`] the node is dropped, `u32::MAX` is
    /// returned and `build` fails with [`GraphError::TooManyNodes`].
    pub fn add_node(&mut self, self_size: u64) -> u32 {
        let n = self.self_size.len();
        if n >= MAX_NODES {
            self.fail(GraphError::TooManyNodes { limit: MAX_NODES });
            return u32::MAX;
        }
        match u32::try_from(self_size) {
            Ok(s) if s != BIG_SIZE => self.self_size.push(s),
            _ => {
                self.self_size.push(BIG_SIZE);
                self.big_sizes.push((n as u32, self_size));
            }
        }
        n as u32
    }

    /// Adds an edge `from → to` with an opaque label.
    ///
    /// Contract: `from` is a node already added, and is not smaller than the
    /// `from` of the previous edge. A broken contract drops the edge and makes
    /// `build` fail; `to` is checked by `build`.
    pub fn add_edge(&mut self, from: u32, to: u32, label: u32) {
        let edge = self.edge_to.len();
        if edge >= MAX_EDGES {
            self.fail(GraphError::TooManyEdges { limit: MAX_EDGES });
            return;
        }
        let f = from as usize;
        if f >= self.self_size.len() {
            self.fail(GraphError::SourceOutOfRange {
                edge,
                from,
                node_count: self.self_size.len(),
            });
            return;
        }
        if f + 1 < self.first_edge.len() {
            self.fail(GraphError::OutOfOrder {
                edge,
                from,
                previous: (self.first_edge.len() - 1) as u32,
            });
            return;
        }
        // Open the edge lists of every node up to `from`; the nodes skipped
        // have no edges.
        self.first_edge.resize(f + 1, edge as u32);
        self.edge_to.push(to);
        self.edge_label.push(label);
    }

    /// Appends the nodes and edges of `other` after this builder's, so that
    /// threads can build the parts of one graph side by side. `other`
    /// numbers its edge sources from 0 (its first node becomes node
    /// `self.node_count()`); its edge targets are already numbers of the
    /// whole graph, checked by `build` like any other. An error of either
    /// builder makes `build` fail.
    pub fn append(&mut self, other: GraphBuilder) {
        if let Some(e) = other.error {
            self.fail(e);
        }
        let (nodes, edges) = (self.self_size.len(), self.edge_to.len());
        if nodes + other.self_size.len() > MAX_NODES {
            return self.fail(GraphError::TooManyNodes { limit: MAX_NODES });
        }
        if edges + other.edge_to.len() > MAX_EDGES {
            return self.fail(GraphError::TooManyEdges { limit: MAX_EDGES });
        }
        self.first_edge.resize(nodes, edges as u32);
        self.first_edge
            .extend(other.first_edge.iter().map(|&f| f + edges as u32));
        self.edge_to.extend_from_slice(&other.edge_to);
        self.edge_label.extend_from_slice(&other.edge_label);
        self.self_size.extend_from_slice(&other.self_size);
        self.big_sizes
            .extend(other.big_sizes.iter().map(|&(n, s)| (n + nodes as u32, s)));
    }

    /// The number of nodes added so far.
    pub fn node_count(&self) -> usize {
        self.self_size.len()
    }

    /// The number of edges added so far.
    pub fn edge_count(&self) -> usize {
        self.edge_to.len()
    }

    fn fail(&mut self, e: GraphError) {
        self.error.get_or_insert(e);
    }

    /// Closes the CSR arrays and checks every edge target.
    pub fn build(mut self) -> Result<Graph, GraphError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let n = self.self_size.len();
        let e = self.edge_to.len();
        self.first_edge.resize(n + 1, e as u32);
        let g = Graph {
            first_edge: shrink(self.first_edge),
            edge_to: shrink(self.edge_to),
            edge_label: shrink(self.edge_label),
            self_size: shrink(self.self_size),
            big_sizes: shrink(self.big_sizes),
        };
        if let Some(edge) = g.edge_to.iter().position(|&t| t as usize >= n) {
            return Err(GraphError::TargetOutOfRange {
                edge,
                from: g.edge_from(edge),
                to: g.edge_to[edge],
                node_count: n,
            });
        }
        Ok(g)
    }
}

/// Gives back the capacity a generous hint reserved.
fn shrink<T>(mut v: Vec<T>) -> Vec<T> {
    v.shrink_to_fit();
    v
}

/// A directed heap graph in CSR form: the edges of node `n` are the indices
/// `first_edge[n]..first_edge[n + 1]` of `edge_to` and `edge_label`.
///
/// About 4 bytes a node for the self size, 4 for the edge offset, and 8 an
/// edge. Nodes are `u32` indices, and so are edge offsets (see [`MAX_EDGES`]);
/// the API hands out edge indices as `usize` for indexing.
#[derive(Debug, Clone)]
pub struct Graph {
    first_edge: Vec<u32>,
    edge_to: Vec<u32>,
    edge_label: Vec<u32>,
    self_size: Vec<u32>,
    /// `(node, size)` for the nodes whose size is [`BIG_SIZE`] or more,
    /// sorted by node since nodes are added in order.
    big_sizes: Vec<(u32, u64)>,
}

impl Graph {
    /// The number of nodes.
    pub fn node_count(&self) -> usize {
        self.self_size.len()
    }

    /// The number of edges.
    pub fn edge_count(&self) -> usize {
        self.edge_to.len()
    }

    /// The node's own size, as the format gave it.
    pub fn self_size(&self, n: u32) -> u64 {
        let s = self.self_size[n as usize];
        if s != BIG_SIZE {
            return u64::from(s);
        }
        let i = self
            .big_sizes
            .binary_search_by_key(&n, |&(node, _)| node)
            .expect("a BIG_SIZE node is in the overflow table");
        self.big_sizes[i].1
    }

    /// The indices of the node's outgoing edges.
    pub fn edge_range(&self, n: u32) -> Range<usize> {
        self.first_edge[n as usize] as usize..self.first_edge[n as usize + 1] as usize
    }

    /// The node's outgoing edges as `(edge index, to, label)`, in the order
    /// they were added.
    pub fn edges(&self, n: u32) -> impl Iterator<Item = (usize, u32, u32)> + '_ {
        self.edge_range(n)
            .map(move |e| (e, self.edge_to[e], self.edge_label[e]))
    }

    /// The node an edge points to.
    pub fn edge_to(&self, e: usize) -> u32 {
        self.edge_to[e]
    }

    /// The edge's opaque label.
    pub fn edge_label(&self, e: usize) -> u32 {
        self.edge_label[e]
    }

    /// The node an edge starts at. A binary search over the offsets (the CSR
    /// keeps no per-edge source), meant for paths, not for whole-graph loops.
    pub fn edge_from(&self, e: usize) -> u32 {
        assert!(e < self.edge_count(), "edge {e} out of range");
        // The last node whose first edge is at or before `e`; among nodes
        // with no edges sharing that offset, the last one owns `e`.
        (self.first_edge.partition_point(|&f| f as usize <= e) - 1) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csr_with_gaps_and_forward_references() {
        let mut b = GraphBuilder::new(0, 0);
        for s in [10, 20, 30, 40] {
            b.add_node(s);
        }
        b.add_edge(0, 3, 7); // forward reference
        b.add_edge(2, 1, 8); // node 1 has no edges
        b.add_edge(2, 0, 9);
        let g = b.build().unwrap();
        assert_eq!(g.node_count(), 4);
        assert_eq!(g.edge_count(), 3);
        assert_eq!(g.edges(0).collect::<Vec<_>>(), vec![(0, 3, 7)]);
        assert_eq!(g.edges(1).count(), 0);
        assert_eq!(g.edges(2).collect::<Vec<_>>(), vec![(1, 1, 8), (2, 0, 9)]);
        assert_eq!(g.edges(3).count(), 0);
        assert_eq!(
            (0..3).map(|e| g.edge_from(e)).collect::<Vec<_>>(),
            vec![0, 2, 2]
        );
        assert_eq!(g.self_size(3), 40);
    }

    #[test]
    fn appended_parts_make_one_graph() {
        let mut a = GraphBuilder::new(0, 0);
        a.add_node(1);
        a.add_node(2);
        a.add_edge(0, 3, 7);
        let mut b = GraphBuilder::new(0, 0);
        b.add_node(3);
        b.add_node(1 << 40);
        b.add_edge(1, 0, 8); // node 3 of the whole
        b.add_edge(1, 2, 9);
        a.append(b);
        let mut c = GraphBuilder::new(0, 0);
        c.add_node(5);
        a.append(c);
        let g = a.build().unwrap();
        assert_eq!(g.node_count(), 5);
        assert_eq!(g.edges(0).collect::<Vec<_>>(), vec![(0, 3, 7)]);
        assert_eq!(
            g.edges(1).count() + g.edges(2).count() + g.edges(4).count(),
            0
        );
        assert_eq!(g.edges(3).collect::<Vec<_>>(), vec![(1, 0, 8), (2, 2, 9)]);
        assert_eq!(g.self_size(3), 1 << 40);
        assert_eq!(g.self_size(4), 5);
    }

    #[test]
    fn forward_reference_to_a_node_added_later() {
        let mut b = GraphBuilder::new(0, 0);
        b.add_node(1);
        b.add_edge(0, 1, 0);
        b.add_node(2);
        let g = b.build().unwrap();
        assert_eq!(g.edges(0).map(|(_, t, _)| t).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn sizes_of_4_gib_and_more_survive() {
        let mut b = GraphBuilder::new(0, 0);
        let sizes = [0, u64::from(u32::MAX) - 1, u64::from(u32::MAX), 1 << 40, 5];
        for s in sizes {
            b.add_node(s);
        }
        let g = b.build().unwrap();
        for (n, s) in sizes.into_iter().enumerate() {
            assert_eq!(g.self_size(n as u32), s);
        }
    }

    #[test]
    fn target_out_of_range_is_named() {
        let mut b = GraphBuilder::new(0, 0);
        b.add_node(1);
        b.add_node(1);
        b.add_edge(0, 1, 0);
        b.add_edge(1, 5, 0);
        let err = b.build().unwrap_err();
        assert_eq!(
            err,
            GraphError::TargetOutOfRange {
                edge: 1,
                from: 1,
                to: 5,
                node_count: 2
            }
        );
        assert!(err
            .to_string()
            .contains("edge 1 from node 1 points to node 5"));
    }

    #[test]
    fn out_of_order_sources_fail() {
        let mut b = GraphBuilder::new(0, 0);
        for _ in 0..3 {
            b.add_node(1);
        }
        b.add_edge(2, 0, 0);
        b.add_edge(1, 0, 0);
        assert_eq!(
            b.build().unwrap_err(),
            GraphError::OutOfOrder {
                edge: 1,
                from: 1,
                previous: 2
            }
        );
    }

    #[test]
    fn source_must_exist() {
        let mut b = GraphBuilder::new(0, 0);
        b.add_node(1);
        b.add_edge(3, 0, 0);
        assert_eq!(
            b.build().unwrap_err(),
            GraphError::SourceOutOfRange {
                edge: 0,
                from: 3,
                node_count: 1
            }
        );
    }
}
