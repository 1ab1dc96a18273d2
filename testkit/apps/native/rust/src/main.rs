//! Remembers every request in a global registry and never forgets one, or with
//! `--bounded` keeps only the last 64: the same allocations, held differently.
//!
//! Usage: leaky-rust [--bounded] [ROUNDS] (forever when ROUNDS is 0 or absent).
//! Prints "ready", then "round N" after each round of 256 requests.
//! Profiling is configured from the environment: `_RJEM_MALLOC_CONF=prof:true,…`.

use std::collections::VecDeque;
use std::sync::Mutex;

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The global structure the leak goes through.
static REGISTRY: Mutex<VecDeque<Box<[u8]>>> = Mutex::new(VecDeque::new());

const BOUND: usize = 64;

/// Keeps a copy of the request: the leaking allocation site.
#[inline(never)]
fn remember_request(body: &[u8], bounded: bool) {
    let mut copy = vec![0u8; 4096].into_boxed_slice(); // LEAK-SITE
    let n = body.len().min(copy.len());
    copy[..n].copy_from_slice(&body[..n]);
    let mut reg = REGISTRY.lock().unwrap();
    reg.push_back(copy);
    while bounded && reg.len() > BOUND {
        reg.pop_front();
    }
}

/// Per-request scratch memory, dropped before the request ends.
#[inline(never)]
fn handle_request(id: u64, bounded: bool) -> usize {
    let scratch = format!("request {id} from client {}", id % 17).into_bytes();
    let mut padded = Vec::with_capacity(8192);
    padded.extend_from_slice(&scratch);
    remember_request(&padded, bounded);
    std::hint::black_box(&padded);
    padded.len()
}

fn main() {
    let mut bounded = false;
    let mut rounds = 0u64;
    for a in std::env::args().skip(1) {
        if a == "--bounded" {
            bounded = true;
        } else {
            rounds = a.parse().expect("ROUNDS is a number");
        }
    }
    println!("ready");
    let mut total = 0;
    let mut r = 1;
    while rounds == 0 || r <= rounds {
        for i in 0..256 {
            total += handle_request(r * 256 + i, bounded);
        }
        println!("round {r}");
        if rounds == 0 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        r += 1;
    }
    println!("done {total} {}", REGISTRY.lock().unwrap().len());
}
