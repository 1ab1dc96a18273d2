//! The meta layouts V8 has written over its versions (as its heap snapshot
//! generator defines them), and what other writers do that DevTools and
//! memlab accept: one graph, written in each, must read the same.

use lh_graph::{dominators, retained_sizes};
use lh_v8::{parse, EdgeKind, NodeKind, ReadOptions};

const ALL: ReadOptions = ReadOptions { edges: true };

/// V8's node types in the order of `HeapEntry::Type`; each version lists a prefix.
const NODE_TYPES: [&str; 15] = [
    "hidden",
    "array",
    "string",
    "object",
    "code",
    "closure",
    "regexp",
    "number",
    "native",
    "synthetic",
    "concatenated string",
    "sliced string",
    "symbol",
    "bigint",
    "object shape",
];
const EDGE_TYPES: [&str; 7] = [
    "context", "element", "property", "internal", "hidden", "shortcut", "weak",
];

/// A node before it is laid out: type, name, id, self size, edge count, detachedness.
type Node = (u64, u64, u64, u64, u64, u64);

/// Root → Cache --entries--> Array --[0]--> Entry, Root ~weak~> Entry,
/// Cache --sym--> a symbol (type 12, listed only since 2014), and a
/// detached `HTMLDivElement` held by the Array.
const NODES: [Node; 6] = [
    (9, 1, 1, 0, 2, 0),
    (3, 2, 3, 100, 2, 0),
    (1, 3, 5, 40, 2, 0),
    (3, 4, 7, 30, 0, 0),
    (12, 5, 9, 16, 0, 0),
    (8, 6, 11, 200, 0, 2),
];
/// (from node, type, name or index, to node)
const EDGES: [(usize, u64, u64, usize); 6] = [
    (0, 5, 7, 1),
    (0, 6, 8, 3),
    (1, 2, 9, 2),
    (1, 3, 10, 4),
    (2, 1, 0, 3),
    (2, 1, 1, 5),
];
const STRINGS: &str = r#"["","(GC roots)","Cache","(object elements)","Entry","sym","HTMLDivElement","cache","weakref","entries","sym"]"#;

/// The graph as a snapshot with these node fields (any order) and the first
/// `types` node types in the meta; `extra` is appended to the top object.
fn write(fields: &[&str], types: usize, ids: impl Fn(u64) -> u64, extra: &str) -> String {
    let nf = fields.len();
    let mut nodes = Vec::new();
    for &(t, name, id, size, edges, det) in &NODES {
        for f in fields {
            nodes.push(match *f {
                "type" => t,
                "name" => name,
                "id" => ids(id),
                "self_size" => size,
                "edge_count" => edges,
                "trace_node_id" => 0,
                "detachedness" => det,
                _ => unreachable!(),
            });
        }
    }
    let edges: Vec<u64> = EDGES
        .iter()
        .flat_map(|&(_, t, n, to)| [t, n, (to * nf) as u64])
        .collect();
    let field_types: Vec<String> = fields
        .iter()
        .map(|f| match *f {
            "type" => format!("{:?}", &NODE_TYPES[..types]),
            "name" => "\"string\"".into(),
            _ => "\"number\"".into(),
        })
        .collect();
    let list = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    let (nodes, edges) = (list(&nodes), list(&edges));
    format!(
        r#"{{"snapshot":{{"meta":{{"node_fields":{fields:?},"node_types":[{}],"edge_fields":["type","name_or_index","to_node"],"edge_types":[{EDGE_TYPES:?},"string_or_number","node"]}},"node_count":{},"edge_count":{}}},
"nodes":[{nodes}],"edges":[{edges}]{extra},"strings":{STRINGS}}}"#,
        field_types.join(","),
        NODES.len(),
        EDGES.len()
    )
}

/// What a report can see of a snapshot: per node its class, id, size and
/// retained size; per edge its name.
type View = (Vec<(String, u64, u64, u64)>, Vec<String>);

fn view(json: &str) -> View {
    let s = parse(json.as_bytes(), ALL).unwrap_or_else(|e| panic!("{e}\n{json}"));
    let g = s.graph();
    let d = dominators(g, 0, |e| s.keeps_alive(e));
    let r = retained_sizes(g, &d);
    let nodes = (0..s.node_count() as u32)
        .map(|n| {
            (
                s.class_name(n).to_string(),
                s.id(n),
                s.self_size(n),
                r[n as usize],
            )
        })
        .collect();
    let edges = (0..g.edge_count()).map(|e| s.edge_name(e)).collect();
    (nodes, edges)
}

const BASE: [&str; 5] = ["type", "name", "id", "self_size", "edge_count"];

#[test]
fn every_layout_v8_has_written_reads_the_same() {
    let with =
        |more: &[&'static str]| -> Vec<&'static str> { BASE.iter().chain(more).copied().collect() };
    // Node 20 and Chromium today: trace_node_id, detachedness, 15 types.
    let current = write(&with(&["trace_node_id", "detachedness"]), 15, |i| i, "");
    let want = view(&current);
    assert_eq!(want.0[4].0, "(symbol)");
    assert_eq!(
        want.0[1].3,
        100 + 40 + 30 + 16 + 200,
        "the Cache keeps all but the root"
    );
    let layouts = [
        // V8 3.x (2012-2013): five fields, twelve types.
        (with(&[]), 12),
        // 2014: trace_node_id (allocation tracking) and the symbol type.
        (with(&["trace_node_id"]), 13),
        // 2018: bigint.
        (with(&["trace_node_id"]), 14),
        // 2021: detachedness.
        (with(&["trace_node_id", "detachedness"]), 14),
        // Another writer's field order.
        (
            vec![
                "detachedness",
                "edge_count",
                "self_size",
                "id",
                "name",
                "type",
            ],
            15,
        ),
    ];
    for (fields, types) in layouts {
        let got = view(&write(&fields, types, |i| i, ""));
        let known = |v: &View| {
            v.0.iter()
                .map(|(c, i, s, r)| {
                    // A type beyond the meta's list reads as (unknown).
                    let c = if c == "(symbol)" && types <= 12 {
                        "(unknown)"
                    } else {
                        c
                    };
                    (c.to_string(), *i, *s, *r)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(got.0, known(&want), "{fields:?} with {types} types");
        assert_eq!(got.1, want.1, "{fields:?}");
    }
}

#[test]
fn types_beyond_the_meta_are_unknown_with_their_number_kept() {
    // A Chrome snapshot lists 12 node types but has nodes of type 12.
    let json = write(&BASE, 12, |i| i, "")
        // and an edge type beyond the 7 listed
        .replacen("\"edges\":[5,", "\"edges\":[9,", 1);
    let s = parse(json.as_bytes(), ALL).unwrap();
    assert_eq!(s.kind(4), NodeKind::Other);
    assert_eq!(s.type_index(4), 12);
    assert_eq!(s.class_name(4), "(unknown)");
    assert_eq!(s.edge_kind(0), EdgeKind::Other);
    assert_eq!(s.edge_type_index(0), 9);
    assert!(
        s.keeps_alive(0),
        "an unknown edge is a reference, as DevTools counts it"
    );
    // Names of types V8 does not write (Julia's) are DevTools' `(name)`.
    let julia = json.replacen("\"synthetic\"", "\"jl_task_t\"", 1);
    let s = parse(julia.as_bytes(), ALL).unwrap();
    assert_eq!(s.class_name(0), "(jl_task_t)");
}

#[test]
fn ids_may_be_64_bit_addresses() {
    // Julia's writer uses addresses as ids.
    let json = write(&BASE, 15, |i| 4_775_375_728 + i * 16, "");
    let s = parse(json.as_bytes(), ALL).unwrap();
    assert_eq!(s.id(0), 4_775_375_728 + 16);
    assert_eq!(s.id(5), 4_775_375_728 + 11 * 16);
    // Narrow ids before the first wide one are kept.
    let mixed = write(&BASE, 15, |i| if i > 5 { (1 << 40) + i } else { i }, "");
    let s = parse(mixed.as_bytes(), ALL).unwrap();
    assert_eq!((s.id(1), s.id(3)), (3, (1 << 40) + 7));
}

#[test]
fn optional_sections_may_come_or_not() {
    let want = view(&write(&BASE, 15, |i| i, ""));
    let extra = r#","trace_function_infos":[0,1,2,3,4,5],"trace_tree":[1,0,2,3,[]],"samples":[10,20],"locations":[1,2,3,4],"extra_native_bytes":0,"future":{"a":[1,{"b":"]"}]}"#;
    assert_eq!(view(&write(&BASE, 15, |i| i, extra)), want);
}

#[test]
fn surplus_edges_are_left_out_as_devtools_does() {
    // Julia's writer can leave more edges than the nodes' edge_count fields add up to.
    let json = write(&BASE, 15, |i| i, "");
    let extra_edge = json.replacen("],\"strings\"", ",2,5,9999],\"strings\"", 1);
    let s = parse(extra_edge.as_bytes(), ALL).unwrap();
    assert_eq!(s.graph().edge_count(), EDGES.len());
    assert_eq!(s.surplus_edges, 1);
}

#[test]
fn what_leaves_no_graph_is_refused_with_its_offset() {
    let json = write(&BASE, 15, |i| i, "");
    // Fewer edges than the nodes announce.
    let short = json.replacen(",1,1,25]", "]", 1);
    let e = parse(short.as_bytes(), ALL).err().unwrap().to_string();
    assert!(
        e.contains("announce 6 edges") && e.contains("at byte"),
        "{e}"
    );
    // An edge to the middle of a node record.
    let inside = json.replacen("[5,7,5,", "[5,7,6,", 1);
    let at = inside.find("[5,7,6,").unwrap() + 5;
    let e = parse(inside.as_bytes(), ALL).err().unwrap().to_string();
    assert!(e.contains(&format!("at byte {at}:")), "{e}");
    // A node cut short.
    let cut = json.replacen(",11,200,0]", ",11,200]", 1);
    let e = parse(cut.as_bytes(), ALL).err().unwrap().to_string();
    assert!(e.contains("multiple of 5"), "{e}");
}
