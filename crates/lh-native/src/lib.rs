//! Symbolizes native heap profiles: jemalloc's and tcmalloc's dumps hold raw
//! return addresses and the process's memory map, not function names.
//!
//! Each address is turned into a file offset in the mapped binary, then into the
//! binary's own virtual address through its loadable segments (so PIE
//! executables and shared libraries need no load-base guessing), then into
//! frames: function, file and line from DWARF, inlined calls included, or the
//! ELF symbol table where there is no debug information.
//!
//! The binaries are read where the process saw them: through `/proc/PID/root`
//! for a live process (its mount namespace, e.g. a container), from a directory
//! the user copied them into (`--symbols DIR`), or at their own path on this
//! machine. [`prune_allocator`] then drops the allocator's own frames, so that
//! each stack ends in the code that asked for the memory.

mod binary;
mod names;

pub use names::{is_allocator_frame, simplify};

use lh_pprof::proto::{Function, Line};
use lh_pprof::Profile;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where the mapped files of a profile are read from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Symbols {
    /// At their own paths on this machine (the profile was taken here).
    #[default]
    Local,
    /// Through a live process's root: `/proc/PID/root/<path>`.
    Process(u32),
    /// A directory holding the files copied out of the target: `DIR/<path>`,
    /// or `DIR/<file name>` for a flat copy.
    Dir(PathBuf),
}

impl Symbols {
    /// The candidate paths for a mapped file, best first.
    fn candidates(&self, mapped: &str) -> Vec<PathBuf> {
        let rel = mapped.trim_start_matches('/');
        match self {
            Symbols::Local => vec![PathBuf::from(mapped)],
            Symbols::Process(pid) => vec![Path::new(&format!("/proc/{pid}/root")).join(rel)],
            Symbols::Dir(dir) => {
                let mut v = vec![dir.join(rel)];
                if let Some(name) = Path::new(mapped).file_name() {
                    v.push(dir.join(name));
                }
                v
            }
        }
    }
}

/// What symbolization found, for the report's notes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Locations given at least one frame.
    pub resolved: usize,
    /// Locations in all.
    pub locations: usize,
    /// Mapped files that could not be read, with the reason.
    pub missing: Vec<(String, String)>,
}

/// Adds functions and lines to every location of `profile` that has an address
/// in a readable mapped file. Locations that already have lines are kept.
pub fn symbolize(profile: &mut Profile, symbols: &Symbols) -> Outcome {
    let mut out = Outcome {
        locations: profile.location.len(),
        ..Default::default()
    };
    let mut table = Strings::new(profile);
    let mut functions: HashMap<(i64, i64, i64), u64> = profile
        .function
        .iter()
        .map(|f| ((f.name, f.system_name, f.filename), f.id))
        .collect();
    let mut next_fn = profile.function.iter().map(|f| f.id).max().unwrap_or(0) + 1;
    let mut new_functions = Vec::new();

    for mi in 0..profile.mapping.len() {
        let m = profile.mapping[mi].clone();
        let file = profile.string(m.filename).to_string();
        let wanted: Vec<usize> = profile
            .location
            .iter()
            .enumerate()
            .filter(|(_, l)| l.mapping_id == m.id && l.line.is_empty())
            .map(|(i, _)| i)
            .collect();
        if wanted.is_empty() || file.is_empty() || file.starts_with('[') {
            continue;
        }
        let bin = match open_first(&symbols.candidates(file.trim_end_matches(" (deleted)"))) {
            Ok(b) => b,
            Err(e) => {
                out.missing.push((file, e));
                continue;
            }
        };
        for li in wanted {
            let addr = profile.location[li].address;
            let Some(svma) = bin.svma(
                addr.wrapping_sub(m.memory_start)
                    .wrapping_add(m.file_offset),
            ) else {
                continue;
            };
            let frames = bin.frames(svma);
            if frames.is_empty() {
                continue;
            }
            out.resolved += 1;
            let mut lines = Vec::with_capacity(frames.len());
            for f in frames {
                let key = (
                    table.get(&simplify(&f.name)),
                    table.get(&f.name),
                    table.get(&f.file),
                );
                let id = *functions.entry(key).or_insert_with(|| {
                    let id = next_fn;
                    next_fn += 1;
                    new_functions.push(Function {
                        id,
                        name: key.0,
                        system_name: key.1,
                        filename: key.2,
                        start_line: 0,
                    });
                    id
                });
                lines.push(Line {
                    function_id: id,
                    line: i64::from(f.line),
                    ..Default::default()
                });
            }
            profile.location[li].line = lines;
        }
        let pm = &mut profile.mapping[mi];
        pm.has_functions = true;
        pm.has_filenames = bin.has_dwarf();
        pm.has_line_numbers = bin.has_dwarf();
        pm.has_inline_frames = bin.has_dwarf();
    }
    table.store(profile);
    profile.function.extend(new_functions);
    out
}

fn open_first(paths: &[PathBuf]) -> Result<binary::Binary, String> {
    let mut last = String::from("no path to try");
    for p in paths {
        match binary::Binary::open(p) {
            Ok(b) => return Ok(b),
            Err(e) => last = format!("{}: {e}", p.display()),
        }
    }
    Err(last)
}

/// The profile's string table with an index, for adding names while symbolizing.
struct Strings {
    index: HashMap<String, i64>,
    added: Vec<String>,
    len: i64,
}

impl Strings {
    fn new(p: &Profile) -> Self {
        let index = p
            .string_table
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as i64))
            .collect();
        Strings {
            index,
            added: Vec::new(),
            len: p.string_table.len() as i64,
        }
    }

    fn get(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.len;
        self.len += 1;
        self.added.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }

    fn store(self, p: &mut Profile) {
        p.string_table.extend(self.added);
    }
}

/// Removes the allocator's frames, as `go tool pprof` prunes a legacy heap
/// profile with its `DropFrames` expression: scanning each stack from the root,
/// the first allocator frame after a frame of the program is cut off, with all
/// beneath it. A location whose file is the allocator library itself (a stripped
/// `libjemalloc.so`, unnamed) counts as an allocator frame too.
pub fn prune_allocator(profile: &mut Profile) {
    let alloc_lib: Vec<u64> = profile
        .mapping
        .iter()
        .filter(|m| names::is_allocator_library(profile.string(m.filename)))
        .map(|m| m.id)
        .collect();
    let function_name: HashMap<u64, String> = profile
        .function
        .iter()
        .map(|f| (f.id, profile.string(f.name).to_string()))
        .collect();
    // Per location: whether it is dropped whole, or only its inlined frames
    // beneath the outermost allocator frame.
    let mut prune: HashMap<u64, bool> = HashMap::new();
    for loc in &mut profile.location {
        let outermost = loc.line.iter().rposition(|l| {
            function_name
                .get(&l.function_id)
                .is_some_and(|n| !n.is_empty() && is_allocator_frame(n))
        });
        match outermost {
            Some(i) if i == loc.line.len() - 1 => {
                prune.insert(loc.id, true);
            }
            Some(i) => {
                loc.line.drain(..=i);
                prune.insert(loc.id, false);
            }
            None if loc.line.is_empty() && alloc_lib.contains(&loc.mapping_id) => {
                prune.insert(loc.id, true);
            }
            None => {}
        }
    }
    for s in &mut profile.sample {
        let mut found_user = false;
        for i in (0..s.location_id.len()).rev() {
            let id = s.location_id[i];
            match prune.get(&id) {
                None => found_user = true,
                Some(_) if !found_user => {}
                Some(true) => {
                    s.location_id.drain(..=i);
                    break;
                }
                Some(false) => {
                    s.location_id.drain(..i);
                    break;
                }
            }
        }
    }
}
