//! Writes a large synthetic Go-like heap profile for bench/pprof.sh.
//!
//! `synth_profile OUT SAMPLES SEED [GROWTH]`: SAMPLES samples with stacks 20 to
//! 60 frames deep over a pool of 60,000 functions, labels on every sample, and
//! random values; GROWTH (default 0) adds that many bytes to every sample of
//! the first 1,000 stacks, so two seeds' profiles diff to a known leak. A
//! seeded xorshift keeps the files the same from run to run.

use lh_pprof::proto::{Function, Label, Line, Location, Sample, ValueType};
use lh_pprof::{encode_gzip, Profile};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: synth_profile OUT SAMPLES SEED [GROWTH]");
        std::process::exit(2);
    }
    let samples: u64 = args[2].parse().expect("SAMPLES is a number");
    let seed: u64 = args[3].parse().expect("SEED is a number");
    let growth: i64 = args
        .get(4)
        .map_or(0, |g| g.parse().expect("GROWTH is a number"));
    let functions = 60_000u64;
    // Stacks come from a fixed structure (seed 1) so two files share them; values differ by seed.
    let mut shape = Rng(0x2545_F491_4F6C_DD1D);
    let mut values = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);

    let mut p = Profile {
        string_table: vec![String::new()],
        ..Default::default()
    };
    let s = |p: &mut Profile, v: String| {
        p.string_table.push(v);
        p.string_table.len() as i64 - 1
    };
    for (t, u) in [
        ("alloc_objects", "count"),
        ("alloc_space", "bytes"),
        ("inuse_objects", "count"),
        ("inuse_space", "bytes"),
    ] {
        let vt = ValueType {
            r#type: s(&mut p, t.into()),
            unit: s(&mut p, u.into()),
        };
        p.sample_type.push(vt);
    }
    let files: Vec<i64> = (0..500)
        .map(|i| s(&mut p, format!("/src/app/pkg{i}/file{i}.go")))
        .collect();
    for id in 1..=functions {
        let name = s(
            &mut p,
            format!("app/pkg{}.(*T{}).Method{}", id % 500, id % 97, id),
        );
        p.function.push(Function {
            id,
            name,
            system_name: name,
            filename: files[(id % 500) as usize],
            start_line: (id % 900) as i64,
        });
        // One location per function with an inlined caller every 7th, as Go emits.
        let mut line = vec![Line {
            function_id: id,
            line: (id % 900) as i64 + 3,
            column: 0,
        }];
        if id % 7 == 0 {
            line.push(Line {
                function_id: (id % functions) + 1,
                line: 42,
                column: 0,
            });
        }
        p.location.push(Location {
            id,
            address: 0x40_0000 + id * 16,
            line,
            ..Default::default()
        });
    }
    let key = s(&mut p, "bytes".into());
    let stacks = 1_000;
    for i in 0..samples {
        let depth = 20 + shape.below(41);
        let location_id = (0..depth).map(|_| 1 + shape.below(functions)).collect();
        let objects = 1 + values.below(64) as i64;
        let mut bytes = objects * (16 << values.below(8)) as i64;
        if growth != 0 && i < stacks {
            bytes += growth;
        }
        p.sample.push(Sample {
            location_id,
            value: vec![objects * 3, bytes * 3, objects, bytes],
            label: vec![Label {
                key,
                num: 16 << (i % 8),
                ..Default::default()
            }],
        });
    }
    p.period_type = Some(p.sample_type[1]);
    p.period = 512 * 1024;
    std::fs::write(&args[1], encode_gzip(&p)).expect("write profile");
}
