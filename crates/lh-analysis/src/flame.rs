//! Folded stacks of the first and the last snapshot, for the differential
//! flame graph of the HTML report. Every format adds its stacks (call
//! stacks, dominator paths, tracebacks) by frame name; equal stacks of the
//! two snapshots meet in one row.

use lh_model::{Flame, FlameBy, FlameStack};
use std::collections::HashMap;

/// Which snapshot a stack's value belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The first snapshot, the base of the difference.
    First,
    /// The last snapshot.
    Last,
}

/// Interns frame names and sums the values of equal stacks.
pub struct FlameBuilder {
    by: FlameBy,
    names: Vec<String>,
    ids: HashMap<String, u32>,
    rows: HashMap<Vec<u32>, (u64, u64)>,
}

impl FlameBuilder {
    /// An empty builder whose frames are of kind `by`.
    pub fn new(by: FlameBy) -> Self {
        FlameBuilder {
            by,
            names: Vec::new(),
            ids: HashMap::new(),
            rows: HashMap::new(),
        }
    }

    /// The id of a frame name. `;` separates frames in folded stacks, so it
    /// never appears inside one.
    pub fn name(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        let clean = name.replace(';', ":");
        self.names.push(clean);
        self.ids.insert(name.to_string(), id);
        id
    }

    /// Adds `value` to the stack `frames` (root first) of one side.
    pub fn add(&mut self, frames: Vec<u32>, side: Side, value: u64) {
        if value == 0 {
            return;
        }
        let row = self.rows.entry(frames).or_default();
        match side {
            Side::First => row.0 += value,
            Side::Last => row.1 += value,
        }
    }

    /// Adds the `last` values of another flame's stacks to one side: a
    /// format that reads its snapshots one by one folds each on its own.
    pub fn add_flame(&mut self, f: &Flame, side: Side) {
        for st in &f.stacks {
            let frames = st
                .frames
                .iter()
                .map(|&i| self.name(&f.names[i as usize]))
                .collect();
            self.add(frames, side, st.last);
        }
    }

    /// The folded stacks, each distinct stack once.
    pub fn build(self) -> Flame {
        let mut stacks: Vec<FlameStack> = self
            .rows
            .into_iter()
            .map(|(frames, (first, last))| FlameStack {
                frames,
                first,
                last,
            })
            .collect();
        // A stable order, so that a report is the same for the same input.
        stacks.sort_unstable_by(|a, b| a.frames.cmp(&b.frames));
        Flame {
            by: self.by,
            names: self.names,
            stacks,
        }
    }
}

/// Appends `frame` unless it repeats the last one: a linked list of a
/// thousand nodes is one frame, not a thousand.
pub fn push_folded(frames: &mut Vec<u32>, frame: u32) {
    if frames.last() != Some(&frame) {
        frames.push(frame);
    }
}

/// Paths down a dominator tree deeper than this are cut there: the frames
/// below count in the last one kept. A flame graph deeper than a screen
/// says nothing more.
pub const MAX_DEPTH: usize = 40;

/// Walks a dominator tree from `root` and adds every node's self size to the
/// path of frames above it. `frame(n)` names the frame node `n` opens, or
/// `None` when `n` counts in its parent's frame; `descend(n)` says whether
/// the nodes below `n` may open frames of their own.
pub fn dominator_paths<'t>(
    out: &mut FlameBuilder,
    side: Side,
    root: u32,
    children: &dyn Fn(u32) -> &'t [u32],
    self_size: &dyn Fn(u32) -> u64,
    frame: &mut dyn FnMut(&mut FlameBuilder, u32) -> Option<u32>,
    descend: &dyn Fn(u32) -> bool,
) {
    // Sums per distinct path, so that the builder hashes each path once.
    let mut sums: HashMap<Vec<u32>, u64> = HashMap::new();
    let mut path: Vec<u32> = Vec::new();
    // (node, next child, path length before the node, may open frames)
    let mut stack: Vec<(u32, usize, usize, bool)> = vec![(root, 0, 0, true)];
    *sums.entry(Vec::new()).or_default() += self_size(root);
    while let Some(top) = stack.last_mut() {
        let (n, i, _, open) = *top;
        let kids = children(n);
        if i == kids.len() {
            let (_, _, len, _) = stack.pop().expect("not empty");
            path.truncate(len);
            continue;
        }
        top.1 += 1;
        let c = kids[i];
        let len = path.len();
        if open && path.len() < MAX_DEPTH {
            if let Some(f) = frame(out, c) {
                push_folded(&mut path, f);
            }
        }
        let size = self_size(c);
        if size > 0 {
            match sums.get_mut(path.as_slice()) {
                Some(v) => *v += size,
                None => {
                    sums.insert(path.clone(), size);
                }
            }
        }
        stack.push((c, 0, len, open && descend(c)));
    }
    for (p, v) in sums {
        out.add(p, side, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_stacks_meet_and_folds_repeat() {
        let mut b = FlameBuilder::new(FlameBy::Stack);
        let (m, f) = (b.name("main"), b.name("a;b"));
        let mut s = vec![m];
        push_folded(&mut s, f);
        push_folded(&mut s, f);
        b.add(s.clone(), Side::First, 10);
        b.add(s, Side::Last, 30);
        let flame = b.build();
        assert_eq!(flame.names[1], "a:b");
        assert_eq!(
            flame.stacks,
            vec![FlameStack {
                frames: vec![0, 1],
                first: 10,
                last: 30
            }]
        );
    }

    #[test]
    fn dominator_paths_fold_unnamed_nodes_into_their_parent() {
        // 0 → 1 (named A) → 2 (unnamed) → 3 (named B); 0 → 4 (unnamed).
        let kids: Vec<Vec<u32>> = vec![vec![1, 4], vec![2], vec![3], vec![], vec![]];
        let names = [None, Some("A"), None, Some("B"), None];
        let mut b = FlameBuilder::new(FlameBy::Dominators);
        dominator_paths(
            &mut b,
            Side::Last,
            0,
            &|n| &kids[n as usize],
            &|n| 10 * (n as u64 + 1),
            &mut |b, n| names[n as usize].map(|s| b.name(s)),
            &|_| true,
        );
        let f = b.build();
        let row = |p: &[&str]| {
            f.stacks
                .iter()
                .find(|s| {
                    s.frames
                        .iter()
                        .map(|&i| f.names[i as usize].as_str())
                        .eq(p.iter().copied())
                })
                .map(|s| s.last)
        };
        assert_eq!(row(&[]), Some(10 + 50));
        assert_eq!(row(&["A"]), Some(20 + 30));
        assert_eq!(row(&["A", "B"]), Some(40));
    }
}
