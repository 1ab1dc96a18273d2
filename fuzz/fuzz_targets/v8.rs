//! Any bytes given to the V8 snapshot reader end in a snapshot or an error,
//! never a panic; a snapshot that reads must also survive the graph passes
//! (dominators, retained sizes, retainer paths) and every name lookup.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lh_graph::{dominators, retained_sizes, RetainerTree};
use lh_v8::{parse, ReadOptions};

fuzz_target!(|data: &[u8]| {
    let _ = parse(data, ReadOptions { edges: false });
    let Ok(s) = parse(data, ReadOptions { edges: true }) else {
        return;
    };
    let g = s.graph();
    let d = dominators(g, lh_v8::ROOT, |e| s.keeps_alive(e));
    let _ = retained_sizes(g, &d);
    let t = RetainerTree::build(g, lh_v8::ROOT, |e| s.path_cost(e));
    for n in 0..s.node_count() as u32 {
        let _ = (s.class_name(n), s.describe(n), s.id(n), s.is_detached(n));
        if let Some(path) = t.path(g, n) {
            for e in path {
                let _ = (s.edge_name(e), s.edge_str(e));
            }
        }
    }
});
