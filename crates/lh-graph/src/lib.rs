//! A format-free heap graph and the three questions leakhound asks of it:
//! who dominates whom ([`dominators`]), how much each object keeps alive
//! ([`retained_sizes`]) and by which path the GC roots hold it
//! ([`RetainerTree`]).
//!
//! The V8 and HPROF readers both feed the same [`GraphBuilder`]. Heaps have
//! millions of nodes and chains millions deep, so everything here is flat
//! integer arrays (CSR) and every traversal is iterative: no recursion, no
//! per-node allocation. Edge labels are opaque `u32`s that only the format
//! crate interprets; callers pass closures over edge indices to say which
//! edges are weak and which are preferred.

mod dominators;
mod graph;
mod retainers;

pub use dominators::{dominators, retained_sizes, Dominators};
pub use graph::{Graph, GraphBuilder, GraphError, MAX_EDGES, MAX_NODES};
pub use retainers::RetainerTree;
