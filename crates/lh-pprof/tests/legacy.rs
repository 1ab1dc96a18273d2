//! The legacy readers on arbitrary bytes: a profile or an error, never a
//! panic. Plain random bytes rarely get past a header, so most cases start
//! with one of the formats' headers and go on with lines made of the
//! characters those formats use.

use lh_pprof::{parse, parse_legacy, summarize, Granularity};
use proptest::prelude::*;

const HEADERS: &[&[u8]] = &[
    b"heap profile: 1: 2 [ 3: 4] @ growthz\n",
    b"goroutine profile: total 3\n",
    b"--- threadz 1 ---\n\n--- Thread 1 (name: main/1) stack: ---\n",
    b"--- Thread 1 (name: main/1) stack: ---\n",
    b"--- contentionz 1 ---\ncycles/second = 1000\nsampling period = 3\n",
    b"--- mutex:\n",
    b"--- heapz 1 ---\nformat = java\nresolution = bytes\n",
    b"--- contentionz 1 ---\nformat = java\nresolution = microseconds\nsampling period = 10\n",
    // The binary CPU header, 64-bit little-endian, C++ and Java.
    b"\0\0\0\0\0\0\0\0\x03\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x10\x27\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
    b"\0\0\0\0\0\0\0\0\x03\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0\x10\x27\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
];

fn body() -> impl Strategy<Value = Vec<u8>> {
    let chars = b"0123456789abcdefx @:[]-=\n\n  ()./same as previous thread --- Memory map: ---";
    proptest::collection::vec(
        prop_oneof![
            4 => proptest::sample::select(chars.to_vec()),
            1 => any::<u8>(),
        ],
        0..600,
    )
}

fn exercise(bytes: &[u8]) {
    for p in [parse(bytes), parse_legacy(bytes)].into_iter().flatten() {
        for i in 0..p.sample_type.len() {
            let _ = summarize(&p, "x", Granularity::Line, Some(&i.to_string()));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        exercise(&bytes);
    }

    #[test]
    fn arbitrary_bodies_after_a_header_never_panic(h in 0..HEADERS.len(), body in body()) {
        let mut bytes = HEADERS[h].to_vec();
        bytes.extend(body);
        exercise(&bytes);
    }
}

#[test]
fn go_count_profiles_read_as_pprof_reads_them() {
    let text = b"goroutine profile: total 3\n2 @ 0x4a 0x4b\n# 0x4a main.f\n1 @ 0x4c\n";
    let p = parse(text).unwrap();
    assert_eq!(p.sample_types(), [("goroutine", "count")]);
    let s = summarize(&p, "g", Granularity::Function, None).unwrap();
    // Return addresses, moved back onto their calls.
    assert_eq!(s.groups["0x49"].bytes, 2);
    assert_eq!(s.groups["0x4b"].bytes, 1);
    assert_eq!(s.info.total_bytes, 3);
}

#[test]
fn what_no_format_claims_keeps_the_protobuf_error() {
    let e = parse(b"hello, world\n").unwrap_err().to_string();
    assert!(e.contains("protobuf"), "{e}");
    let e = parse_legacy(b"hello, world\n").unwrap_err().to_string();
    assert!(e.contains("no legacy pprof format"), "{e}");
    // A claimed but broken profile says what is wrong.
    let e = parse(b"heap profile: 1: 2 [ 3: 4] @ growthz\nnot a sample\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a heap sample line"), "{e}");
}

#[test]
fn invalid_utf8_in_the_string_table_is_kept_lossily() {
    use prost::Message;
    let mut p = lh_pprof::from_groups("inuse_space", "bytes", &[("main.ok".into(), 10, 1)]);
    p.string_table.push("main.café".into());
    let mut bytes = p.encode_to_vec();
    // "café" → "caf\xff" (same length): no longer UTF-8.
    let at = bytes
        .windows(5)
        .position(|w| w == "café".as_bytes())
        .unwrap();
    bytes[at + 3] = 0xff;
    bytes.remove(at + 4);
    // The string's length prefix is one less now.
    let len_at = at - "main.".len() - 1;
    bytes[len_at] -= 1;
    let back = parse(&bytes).unwrap();
    assert_eq!(back.string_table.last().unwrap(), "main.caf\u{FFFD}");
    let s = summarize(&back, "x", Granularity::Function, None).unwrap();
    assert_eq!(s.groups["main.ok"].bytes, 10);
}
