//! Object id → node number, for the ~one lookup per reference of pass 2.
//!
//! Node numbers follow file order, and ids are addresses. HotSpot writes the
//! class dumps first (class mirrors, in no address order) and then the whole
//! heap in address order, so almost every id sits in one long ascending run
//! of the file-order id array. That run is searched in place: a position in
//! it is a node number, so it needs neither a sorted copy nor a permutation,
//! and nothing is sorted but the few ids outside it. A bucket table over the
//! run's id range narrows each search to a handful of neighbouring ids (one
//! or two cache lines) instead of a 24-step binary search over 100 MB.
//! A dump in any other order is still found, only in the slower sorted rest.

/// How many ids of the run share a bucket, on average.
const PER_BUCKET: usize = 4;

pub(crate) struct IdIndex {
    /// Every node's id, in node order (node 0, the synthetic root, is id 0).
    ids: Vec<u64>,
    /// Where the longest strictly ascending run of `ids` starts: run
    /// position `i` is node `start + i`.
    start: usize,
    /// `(id - base) >> shift` is the bucket of an id in the run; bucket `k`
    /// holds run positions `first[k]..first[k + 1]`.
    base: u64,
    shift: u32,
    first: Vec<u32>,
    /// The ids outside the run, sorted, and the node of each.
    rest_ids: Vec<u64>,
    rest_nodes: Vec<u32>,
}

impl IdIndex {
    /// Indexes `ids`, one per node in node order; fewer than `u32::MAX` nodes.
    pub fn new(ids: Vec<u64>) -> Self {
        let (start, len) = longest_run(&ids);
        let run = &ids[start..start + len];
        let base = run.first().copied().unwrap_or(0);
        let span = run.last().map_or(0, |&l| l - base);
        // The smallest shift that leaves about PER_BUCKET ids a bucket.
        let want = (len / PER_BUCKET).max(1) as u64;
        let mut shift = 0;
        while shift < 63 && (span >> shift) >= want {
            shift += 1;
        }
        let buckets = (span >> shift) as usize + 1;
        let mut first = Vec::with_capacity(buckets + 1);
        for (i, &id) in run.iter().enumerate() {
            let k = ((id - base) >> shift) as usize;
            while first.len() <= k {
                first.push(i as u32);
            }
        }
        first.resize(buckets + 1, len as u32);

        let mut rest: Vec<u32> = (1..ids.len())
            .filter(|&n| n < start || n >= start + len)
            .map(|n| n as u32)
            .collect();
        rest.sort_unstable_by_key(|&n| ids[n as usize]);
        let rest_ids = rest.iter().map(|&n| ids[n as usize]).collect();
        IdIndex {
            ids,
            start,
            base,
            shift,
            first,
            rest_ids,
            rest_nodes: rest,
        }
    }

    /// The node of object `id`; `None` for the null id and for ids the dump
    /// has no object for.
    #[inline]
    pub fn get(&self, id: u64) -> Option<u32> {
        if id == 0 {
            return None;
        }
        if let Some(off) = id.checked_sub(self.base) {
            let k = (off >> self.shift) as usize;
            if k < self.first.len() - 1 {
                let (a, b) = (self.first[k] as usize, self.first[k + 1] as usize);
                let at = self.start + a;
                if let Ok(i) = self.ids[at..self.start + b].binary_search(&id) {
                    return Some((at + i) as u32);
                }
            }
        }
        let i = self.rest_ids.binary_search(&id).ok()?;
        Some(self.rest_nodes[i])
    }
}

/// The longest strictly ascending run of `ids[1..]` (node 0 is the root), as
/// (start, length); (1, 0) when there is no object.
fn longest_run(ids: &[u64]) -> (usize, usize) {
    let mut best = (1, 0);
    let mut start = 1;
    for i in 1..=ids.len() {
        if i == ids.len() || (i > start && ids[i] <= ids[i - 1]) {
            if i - start > best.1 {
                best = (start, i - start);
            }
            start = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ids: &[u64]) {
        let idx = IdIndex::new(ids.to_vec());
        for (n, &id) in ids.iter().enumerate().skip(1) {
            assert_eq!(idx.get(id), Some(n as u32), "id {id:#x} of {ids:?}");
        }
        assert_eq!(idx.get(0), None);
        for missing in [1, 3, 0x7777, u64::MAX] {
            if !ids.contains(&missing) {
                assert_eq!(idx.get(missing), None, "id {missing:#x}");
            }
        }
    }

    #[test]
    fn class_objects_first_then_the_heap_in_address_order() {
        let mut ids = vec![0, 0x9000, 0x10, 0x8000];
        ids.extend((0..1000).map(|i| 0x1000 + 24 * i));
        check(&ids);
    }

    #[test]
    fn any_order_and_degenerate_shapes() {
        check(&[0]);
        check(&[0, 5]);
        check(&[0, 50, 40, 30, 20, 10]);
        check(&[0, 8, 8 << 40, 16, u64::MAX - 1, 2]);
        // Crowded buckets: dense ids, then one far away.
        let mut ids: Vec<u64> = vec![0];
        ids.extend(100..200);
        ids.push(1 << 50);
        check(&ids);
    }

    #[test]
    fn the_run_is_searched_in_place() {
        let ids: Vec<u64> = std::iter::once(0).chain((1..=64).map(|i| i * 16)).collect();
        let idx = IdIndex::new(ids);
        assert_eq!((idx.start, idx.first.last()), (1, Some(&64)));
        assert!(idx.rest_ids.is_empty());
    }
}
