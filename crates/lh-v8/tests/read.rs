//! The reader on small hand-made snapshots with known answers, and on
//! arbitrary and mutated bytes, which must end in a snapshot or an error.

use lh_graph::{dominators, retained_sizes};
use lh_v8::{parse, EdgeKind, NodeKind, ReadOptions};
use proptest::prelude::*;

const ALL: ReadOptions = ReadOptions { edges: true };

/// Root → Holder --child--> Leaf, Holder --[0]--> Leaf2, Root ~weak~> Leaf2,
/// with a lone surrogate in a name and fields in another order than Node's.
const TINY: &str = r#"{"snapshot":{"meta":{"node_fields":["name","type","id","self_size","edge_count"],"node_types":["string",["hidden","array","string","object","code","closure","regexp","number","native","synthetic"],"number","number","number"],"edge_fields":["type","to_node","name_or_index"],"edge_types":[["context","element","property","internal","hidden","shortcut","weak"],"node","string_or_number"]},"node_count":4,"edge_count":4},
"nodes":[0,9,1,0,2, 1,3,3,100,2, 2,3,5,50,0, 4,5,7,30,0],
"trace_tree":[[1,[2,{"x":"]"}]]],
"edges":[1,5,0, 6,15,4, 2,10,3, 1,15,0],
"strings":["","Holder","Leaf","child","f\ud800n"]}"#;

#[test]
fn reads_fields_by_their_meta_positions() {
    let s = parse(TINY.as_bytes(), ALL).unwrap();
    assert_eq!(s.node_count(), 4);
    assert_eq!(s.kind(0), NodeKind::Synthetic);
    assert_eq!(s.class_name(1), "Holder");
    assert_eq!(s.id(2), 5);
    assert_eq!(s.self_size(1), 100);
    assert_eq!(s.class_name(3), "(closure)");
    assert_eq!(s.describe(3), "(closure) f\u{FFFD}n");
    let g = s.graph();
    assert_eq!(g.edge_count(), 4);
    assert_eq!(s.edge_kind(1), EdgeKind::Weak);
    assert_eq!(s.edge_name(2), ".child");
    assert_eq!(s.edge_name(3), "[0]");
    assert!(!s.keeps_alive(1));
    let d = dominators(g, 0, |e| s.keeps_alive(e));
    let r = retained_sizes(g, &d);
    assert_eq!(r[1], 180, "Holder keeps Leaf and the closure");
}

#[test]
fn ids_only_skips_the_edges() {
    let s = parse(TINY.as_bytes(), ReadOptions { edges: false }).unwrap();
    assert_eq!(s.node_count(), 4);
    assert_eq!(s.graph().edge_count(), 0);
    assert_eq!(s.class_name(2), "Leaf");
}

#[test]
fn errors_carry_offsets() {
    let cut = &TINY[..TINY.len() - 30];
    let e = parse(cut.as_bytes(), ALL).err().unwrap().to_string();
    assert!(e.contains("at byte") && e.contains("truncated"), "{e}");
    let bad = TINY.replace("[1,5,0,", "[1,6,0,");
    let e = parse(bad.as_bytes(), ALL).err().unwrap().to_string();
    let at = bad.find("[1,6,0,").unwrap() + 3;
    assert!(e.contains(&format!("at byte {at}:")), "{e}");
    let e = parse(b"[1,2]", ALL).err().unwrap().to_string();
    assert!(e.contains("at byte 0"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&bytes, ALL);
    }

    #[test]
    fn mutated_snapshots_never_panic(
        edits in proptest::collection::vec((0usize..TINY.len(), any::<u8>()), 1..6),
        cut in 0usize..TINY.len() + 1,
    ) {
        let mut b = TINY.as_bytes().to_vec();
        for (i, v) in edits {
            b[i] = if v % 3 == 0 { b'0' + v % 10 } else { v };
        }
        b.truncate(cut.max(1));
        for edges in [true, false] {
            if let Ok(s) = parse(&b, ReadOptions { edges }) {
                for n in 0..s.node_count() as u32 {
                    let _ = (s.class_name(n), s.describe(n), s.is_detached(n));
                }
                for e in 0..s.graph().edge_count() {
                    let _ = (s.edge_name(e), s.path_cost(e));
                }
                if s.node_count() > 0 {
                    let d = dominators(s.graph(), 0, |e| s.keeps_alive(e));
                    let _ = retained_sizes(s.graph(), &d);
                }
            }
        }
    }
}
