//! Dumps written byte by byte, for what real JVMs do not produce on this
//! machine: 4-byte ids, version 1.0.1 with one HEAP_DUMP, 1.0.3 (Android)
//! sub-records, every root kind, and arbitrary bytes (never a panic).

use lh_hprof::{histogram, open, Error, NodeKind};
use proptest::prelude::*;
use std::io::Write;

/// A tiny HPROF writer.
struct W {
    id: u32,
    out: Vec<u8>,
    heap: Vec<u8>,
}

impl W {
    fn new(version: &str, id: u32) -> W {
        let mut out = format!("JAVA PROFILE {version}\0").into_bytes();
        out.extend(id.to_be_bytes());
        out.extend(0u64.to_be_bytes());
        W {
            id,
            out,
            heap: Vec::new(),
        }
    }
    fn idv(&self, v: u64, b: &mut Vec<u8>) {
        if self.id == 8 {
            b.extend(v.to_be_bytes());
        } else {
            b.extend((v as u32).to_be_bytes());
        }
    }
    fn record(&mut self, tag: u8, body: &[u8]) {
        self.out.push(tag);
        self.out.extend(0u32.to_be_bytes());
        self.out.extend((body.len() as u32).to_be_bytes());
        self.out.extend(body);
    }
    fn string(&mut self, id: u64, s: &str) {
        let mut b = Vec::new();
        self.idv(id, &mut b);
        b.extend(s.as_bytes());
        self.record(0x01, &b);
    }
    fn class(&mut self, id: u64, name_id: u64, name: &str) {
        self.string(name_id, name);
        let mut b = 1u32.to_be_bytes().to_vec();
        self.idv(id, &mut b);
        b.extend(0u32.to_be_bytes());
        self.idv(name_id, &mut b);
        self.record(0x02, &b);
    }
    /// CLASS_DUMP with object statics and fields (name ids given).
    fn class_dump(&mut self, id: u64, sup: u64, statics: &[(u64, u64)], fields: &[(u64, u8)]) {
        self.class_dump_by(id, sup, 0, statics, fields);
    }
    /// CLASS_DUMP of a class defined by the class loader object `loader`.
    fn class_dump_by(
        &mut self,
        id: u64,
        sup: u64,
        loader: u64,
        statics: &[(u64, u64)],
        fields: &[(u64, u8)],
    ) {
        let mut b = vec![0x20];
        self.idv(id, &mut b);
        b.extend(0u32.to_be_bytes());
        self.idv(sup, &mut b);
        self.idv(loader, &mut b);
        for _ in 0..4 {
            self.idv(0, &mut b);
        }
        b.extend(0u32.to_be_bytes());
        b.extend(1u16.to_be_bytes()); // one constant-pool entry
        b.extend(1u16.to_be_bytes());
        b.push(10);
        b.extend(7u32.to_be_bytes());
        b.extend((statics.len() as u16).to_be_bytes());
        for &(name, v) in statics {
            self.idv(name, &mut b);
            b.push(2);
            self.idv(v, &mut b);
        }
        b.extend((fields.len() as u16).to_be_bytes());
        for &(name, ty) in fields {
            self.idv(name, &mut b);
            b.push(ty);
        }
        self.heap.extend(b);
    }
    fn instance(&mut self, id: u64, class: u64, body: &[u8]) {
        let mut b = vec![0x21];
        self.idv(id, &mut b);
        b.extend(0u32.to_be_bytes());
        self.idv(class, &mut b);
        b.extend((body.len() as u32).to_be_bytes());
        b.extend(body);
        self.heap.extend(b);
    }
    fn obj_array(&mut self, id: u64, class: u64, elems: &[u64]) {
        let mut b = vec![0x22];
        self.idv(id, &mut b);
        b.extend(0u32.to_be_bytes());
        b.extend((elems.len() as u32).to_be_bytes());
        self.idv(class, &mut b);
        for &e in elems {
            self.idv(e, &mut b);
        }
        self.heap.extend(b);
    }
    fn bytes(&mut self, id: u64, n: u32) {
        let mut b = vec![0x23];
        self.idv(id, &mut b);
        b.extend(0u32.to_be_bytes());
        b.extend(n.to_be_bytes());
        b.push(8);
        b.extend(vec![0u8; n as usize]);
        self.heap.extend(b);
    }
    fn root(&mut self, tag: u8, id: u64, extra: usize) {
        let mut b = vec![tag];
        self.idv(id, &mut b);
        b.extend(vec![0u8; extra]);
        self.heap.extend(b);
    }
    /// Flushes the heap records as one HEAP_DUMP (`segment` false) or as
    /// segments of at most `split` sub-record bytes.
    fn flush(&mut self, tag: u8) {
        let heap = std::mem::take(&mut self.heap);
        self.record(tag, &heap);
    }
}

/// The scenario: class Holder with static `items` → Object[] → 3 Item
/// instances, each with field `data` → byte[100]. Item extends Base, whose
/// field `owner` points back at the holder array.
fn scenario(version: &str, id: u32, tag: u8) -> Vec<u8> {
    let mut w = W::new(version, id);
    w.class(0x100, 1, "Holder");
    w.class(0x200, 2, "Item");
    w.class(0x300, 3, "Base");
    w.class(0x400, 4, "[LItem;");
    w.class(0x500, 5, "java/lang/Object");
    w.string(10, "items");
    w.string(11, "data");
    w.string(12, "owner");
    w.string(13, "size");
    w.class_dump(0x500, 0, &[], &[]);
    w.class_dump(0x300, 0x500, &[], &[(12, 2)]);
    w.class_dump(0x200, 0x300, &[], &[(11, 2), (13, 10)]);
    w.class_dump(0x100, 0x500, &[(10, 0x1000)], &[]);
    w.class_dump(0x400, 0x500, &[], &[]);
    w.obj_array(0x1000, 0x400, &[0x2000, 0x2010, 0x2020, 0]);
    for (i, item) in [0x2000u64, 0x2010, 0x2020].iter().enumerate() {
        let mut body = Vec::new();
        w.idv(0x3000 + i as u64 * 0x100, &mut body); // Item.data
        body.extend(5u32.to_be_bytes()); // Item.size
        w.idv(0x1000, &mut body); // Base.owner
        w.instance(*item, 0x200, &body);
        w.bytes(0x3000 + i as u64 * 0x100, 100);
    }
    // Every root kind; Holder is a sticky class.
    w.root(0x05, 0x100, 0);
    w.root(0xFF, 0x2000, 0);
    w.root(0x01, 0x2000, id as usize);
    w.root(0x02, 0x2000, 8);
    w.root(0x03, 0x2000, 8);
    w.root(0x04, 0x2000, 4);
    w.root(0x06, 0x2000, 4);
    w.root(0x07, 0x2000, 0);
    w.root(0x08, 0x2000, 8);
    if version == "1.0.3" {
        for t in [0x89, 0x8A, 0x8B, 0x8C, 0x8D] {
            w.root(t, 0x2000, 0);
        }
        w.root(0x8E, 0x2000, 8);
        w.root(0x90, 0x2010, 0);
        let mut info = vec![0xFE];
        info.extend(1u32.to_be_bytes());
        w.idv(10, &mut info);
        w.heap.extend(info);
    }
    w.flush(tag);
    w.record(0x2C, &[]);
    w.out
}

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8], gz: bool) -> std::path::PathBuf {
    let p = dir.path().join(name);
    if gz {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        std::fs::write(&p, e.finish().unwrap()).unwrap();
    } else {
        std::fs::write(&p, bytes).unwrap();
    }
    p
}

#[test]
fn every_version_id_size_and_container() {
    let dir = tempfile::tempdir().unwrap();
    for (version, id, tag, gz) in [
        ("1.0.1", 4, 0x0C, false),
        ("1.0.2", 8, 0x1C, false),
        ("1.0.2", 4, 0x1C, true),
        ("1.0.3", 4, 0x1C, false),
        ("1.0.3", 8, 0x0C, true),
    ] {
        let p = write(&dir, "d.hprof", &scenario(version, id, tag), gz);
        let h = histogram(&p, &|_, _| {}).unwrap();
        let row = |n: &str| h.classes.iter().find(|c| c.name == n).unwrap().clone();
        assert_eq!(row("Item").count, 3);
        // Header 16 (8 with 4-byte ids) + Base.owner, then Item's data + size.
        let hdr = if id == 8 { 16 } else { 8 };
        let base = (hdr + id as u64).next_multiple_of(id as u64);
        let item = (base + id as u64 + 4)
            .next_multiple_of(id as u64)
            .next_multiple_of(8);
        assert_eq!(row("Item").shallow, 3 * item, "{version} {id}");
        assert_eq!(row("byte[]").count, 3);
        assert_eq!(row("Item[]").count, 1);

        let heap = open(&p, &|_, _| {}).unwrap();
        let g = &heap.graph;
        // Holder's class object → items → the array → three items → their bytes.
        let holder = heap
            .classes
            .iter()
            .find(|c| c.name == "Holder")
            .and_then(|c| c.node)
            .unwrap();
        let out: Vec<_> = g.edges(holder).collect();
        assert_eq!(out.len(), 1, "{version} {id}");
        let arr = out[0].1;
        assert!(matches!(heap.kind(arr), NodeKind::Array(_)));
        assert_eq!(heap.key(arr), "Item[]");
        let items: Vec<_> = g.edges(arr).map(|e| e.1).collect();
        assert_eq!(items.len(), 3);
        for it in items {
            assert_eq!(heap.key(it), "Item");
            let names: Vec<String> = g
                .edges(it)
                .map(|(_, _, l)| heap.label_name(lh_hprof::Label(l)))
                .collect();
            assert_eq!(names, ["data", "owner"]);
        }
        // The root reaches the sticky class and the rooted item (once, whatever the kinds).
        let roots: Vec<_> = g.edges(heap.root).map(|e| e.1).collect();
        assert!(roots.contains(&holder));
    }
}

/// Many segments, with references forward and back across them, a class
/// dumped late and its loader: the graph read in parallel parts (plain file)
/// equals the one read in a single part (gzip cannot be split).
#[test]
fn parts_read_side_by_side_make_the_same_graph() {
    let mut w = W::new("1.0.2", 8);
    w.class(0x100, 1, "Node");
    w.class(0x200, 2, "Loader");
    w.class(0x300, 3, "Late");
    w.string(10, "next");
    w.string(11, "back");
    w.string(12, "ITEMS");
    w.class_dump(0x100, 0, &[], &[(10, 2), (11, 2)]);
    w.class_dump(0x200, 0, &[], &[]);
    w.flush(0x1C);
    let n = 400u64;
    let id = |i: u64| 0x10_000 + 0x20 * i;
    for i in 0..n {
        let mut body = Vec::new();
        w.idv(id((i * 7 + 3) % n), &mut body); // next: anywhere
        w.idv(if i % 5 == 0 { 0 } else { id(i / 2) }, &mut body); // back
        w.instance(id(i), 0x100, &body);
        if i == 100 {
            w.instance(0x9_0000, 0x200, &[]); // the loader of Late
        }
        if i == 250 {
            // A class dumped mid-heap, with a static and a loader.
            w.class_dump_by(0x300, 0, 0x9_0000, &[(12, id(7))], &[]);
        }
        if i == 300 {
            // A repeated dump (of a class the first part dumped) adds nothing.
            w.class_dump(0x200, 0, &[(12, id(9))], &[]);
        }
        w.bytes(0x80_0000 + i, 16);
        if i % 10 == 9 {
            w.flush(0x1C);
        }
    }
    w.root(0x05, 0x100, 0);
    w.root(0x01, id(0), 8);
    w.flush(0x1C);
    w.record(0x2C, &[]);
    let dir = tempfile::tempdir().unwrap();
    let graph = |gz: bool| {
        let heap = open(&write(&dir, "d", &w.out, gz), &|_, _| {}).unwrap();
        let g = &heap.graph;
        (0..g.node_count() as u32)
            .map(|v| {
                (
                    heap.key(v).to_string(),
                    g.self_size(v),
                    g.edges(v).collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>()
    };
    let (plain, gz) = (graph(false), graph(true));
    // The root, three class objects (one dumped twice), the objects, the loader.
    assert_eq!(plain.len() as u64, 1 + 3 + 2 * n + 1);
    assert_eq!(plain, gz);
    // Late's class object holds ITEMS; the loader holds Late.
    let late = plain.iter().position(|r| r.0 == "Late").unwrap() as u32;
    assert!(plain
        .iter()
        .any(|r| r.0 == "Loader" && r.2.iter().any(|e| e.1 == late)));
}

#[test]
fn errors_name_offset_and_record() {
    let dir = tempfile::tempdir().unwrap();
    let good = scenario("1.0.2", 8, 0x1C);
    let cut = write(&dir, "cut", &good[..good.len() - 30], false);
    let e = histogram(&cut, &|_, _| {}).unwrap_err().to_string();
    assert!(
        e.contains("HEAP_DUMP_SEGMENT (tag 0x1c)") && e.contains("byte "),
        "{e}"
    );
    let mut bad_ids = good.clone();
    bad_ids[22] = 3;
    let e = open(&write(&dir, "ids", &bad_ids, false), &|_, _| {})
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("identifier size 3") && e.starts_with("byte 19"),
        "{e}"
    );
    let e = histogram(&write(&dir, "txt", b"hello", false), &|_, _| {}).unwrap_err();
    assert!(matches!(e, Error::NotHprof(_)), "{e}");
    // A segment and an instance that claim gigabytes in a 60-byte file: an
    // error, without allocating what they claim.
    let mut w = W::new("1.0.2", 8);
    w.out.push(0x1C);
    w.out.extend(0u32.to_be_bytes());
    w.out.extend(0xFFFF_FFF0u32.to_be_bytes());
    w.out.push(0x21);
    w.out.extend([0u8; 20]);
    w.out.extend(0x7FFF_FFFFu32.to_be_bytes());
    let e = open(&write(&dir, "huge", &w.out, false), &|_, _| {})
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("ends early") && e.contains("INSTANCE_DUMP"),
        "{e}"
    );
    let gz = write(&dir, "cut.gz", &good, true);
    let mut z = std::fs::read(&gz).unwrap();
    z.truncate(z.len() / 2);
    std::fs::write(&gz, &z).unwrap();
    let e = histogram(&gz, &|_, _| {}).unwrap_err().to_string();
    assert!(e.contains("byte "), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// Arbitrary bytes, and real dumps with bytes flipped or cut, never panic.
    #[test]
    fn never_panics(raw in proptest::collection::vec(any::<u8>(), 0..512),
                    flips in proptest::collection::vec((any::<u16>(), any::<u8>()), 0..6),
                    cut in any::<u16>(), gz in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let _ = histogram(&write(&dir, "raw", &raw, gz), &|_, _| {});
        let mut d = scenario("1.0.3", if cut % 2 == 0 { 4 } else { 8 }, 0x1C);
        for (at, b) in flips {
            let n = d.len();
            d[at as usize % n] = b;
        }
        d.truncate(d.len() - (cut as usize % 40));
        let p = write(&dir, "d", &d, gz);
        let _ = histogram(&p, &|_, _| {});
        let _ = open(&p, &|_, _| {});
    }
}
