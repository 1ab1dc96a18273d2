//! Reads and writes pprof profiles (`profile.proto`), gzip-compressed or raw.
//!
//! The reader keeps the whole protobuf model ([`proto::Profile`]): every sample type,
//! labels, mappings and inlined frames. [`summarize`] reduces it to an
//! [`lh_model::Summary`] at the granularity the user asks for, picking the sample
//! type the way `go tool pprof` does. [`diff_profile`] builds the merged profile that
//! `go tool pprof -diff_base` shows, so a diff can be exported and read back by pprof.
//!
//! pprof's legacy formats (gperftools' text and binary profiles, Java's, old
//! Go runtimes') are read into the same model, as `go tool pprof` reads them.

pub mod legacy;
pub mod program;
pub mod proto;

use flate2::read::MultiGzDecoder;
use lh_model::{GroupStat, InputFormat, SnapshotInfo, Summary};
use prost::Message;
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

pub use program::Program;
pub use proto::Profile;

/// What can go wrong reading a profile. The caller adds the file name.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read; classified as the I/O error is.
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    /// A file of no bytes, said so plainly rather than as a decoding error.
    #[error("the file is empty")]
    Empty,
    /// The file starts as gzip but does not decompress: the file's fault,
    /// not the disk's, hence apart from `Io`.
    #[error("the gzip stream is truncated or corrupt ({0})")]
    Gzip(std::io::Error),
    /// Neither valid protobuf nor a legacy text format.
    #[error("not a pprof profile: protobuf decoding failed ({0})")]
    Decode(#[from] prost::DecodeError),
    /// Valid protobuf that breaks the rules readers rely on: a string table
    /// not starting with `""`, no sample type, an index or id naming nothing.
    #[error("not a pprof profile: {0}")]
    Invalid(String),
    /// A legacy text profile (heap, growth, contention, ...) that breaks its format.
    #[error("a legacy pprof profile that cannot be read: {0}")]
    Legacy(String),
    /// Nothing to rank: the profile holds no sample.
    #[error("the profile has no samples")]
    NoSamples,
    /// `--sample-index` named a type (or position) the profile does not have.
    #[error("the profile has no sample type {wanted:?}; it has {have}")]
    UnknownSampleType {
        /// The name or position asked for.
        wanted: String,
        /// The profile's types, listed for the message.
        have: String,
    },
}

impl lh_model::Classify for Error {
    /// Only a failed read is not the file's fault; a missing sample type is
    /// a wrong `--sample-index`, the user's too.
    fn class(&self) -> lh_model::ErrorClass {
        match self {
            Error::Io(e) => lh_model::Classify::class(e),
            _ => lh_model::ErrorClass::Usage,
        }
    }
}

/// True when the bytes start with the gzip magic.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Reads a profile file, gzip or raw, and checks that it is a well-formed pprof profile.
pub fn open(path: &Path) -> Result<Profile, Error> {
    let bytes = std::fs::read(path)?;
    parse(&bytes)
}

/// Parses profile bytes, gzip or raw (detected from the magic bytes, never the file name).
///
/// As pprof does, bytes that are not a valid `profile.proto` are tried as
/// each legacy format in turn; if none claims them, the protobuf error stands.
pub fn parse(bytes: &[u8]) -> Result<Profile, Error> {
    if bytes.is_empty() {
        return Err(Error::Empty);
    }
    let raw = gunzip(bytes)?;
    // The heap text formats (gperftools, tcmalloc, jemalloc, Go's debug=1)
    // have their own reader, which keeps what a symbolizer needs.
    if legacy::heap::sniff(&raw).is_some() {
        let profile = legacy::heap::parse(&raw[..])?.profile;
        validate(&profile)?;
        return Ok(profile);
    }
    let proto_error = match decode(&raw).and_then(|p| validate(&p).map(|()| p)) {
        Ok(p) => return Ok(p),
        Err(e) => e,
    };
    read_legacy(&raw, || proto_error)
}

/// Whether the head of a (decompressed) file starts as one of pprof's legacy
/// formats; they have no magic, only headers.
pub fn is_legacy(head: &[u8]) -> bool {
    legacy::sniff(head)
}

/// Reads bytes as one of pprof's legacy formats only (uncompressed): the
/// text and binary profiles of gperftools, Java agents and old Go runtimes.
pub fn parse_legacy(bytes: &[u8]) -> Result<Profile, Error> {
    read_legacy(bytes, || {
        Error::Legacy("no legacy pprof format (text or binary) starts like this".into())
    })
}

/// A legacy profile; `unrecognized` is the error when no legacy format claims the bytes.
fn read_legacy(raw: &[u8], unrecognized: impl FnOnce() -> Error) -> Result<Profile, Error> {
    match legacy::parse(raw) {
        Ok(p) => validate(&p).map(|()| p),
        Err(legacy::Failure::Unrecognized) => Err(unrecognized()),
        Err(legacy::Failure::Malformed(m)) => Err(Error::Legacy(m)),
    }
}

/// Decodes `profile.proto`, keeping strings that are not UTF-8 lossily
/// (U+FFFD), as pprof (Go strings hold any bytes) shows them.
fn decode(raw: &[u8]) -> Result<Profile, Error> {
    match Profile::decode(raw) {
        Ok(p) => Ok(p),
        Err(e) => match lossy_string_table(raw) {
            Some(fixed) => Ok(Profile::decode(fixed.as_slice())?),
            None => Err(e.into()),
        },
    }
}

/// The message with every string-table entry (field 6) made valid UTF-8,
/// or `None` when that changes nothing or the message is not well-formed
/// protobuf at the top level.
fn lossy_string_table(mut raw: &[u8]) -> Option<Vec<u8>> {
    use prost::encoding::{decode_key, decode_varint, encode_key, encode_varint, WireType};
    let mut out = Vec::with_capacity(raw.len());
    let mut changed = false;
    while !raw.is_empty() {
        let start = raw;
        let (tag, wire) = decode_key(&mut raw).ok()?;
        let len = match wire {
            WireType::Varint => {
                decode_varint(&mut raw).ok()?;
                0
            }
            WireType::SixtyFourBit => 8,
            WireType::ThirtyTwoBit => 4,
            WireType::LengthDelimited => usize::try_from(decode_varint(&mut raw).ok()?).ok()?,
            WireType::StartGroup | WireType::EndGroup => return None,
        };
        if raw.len() < len {
            return None;
        }
        let (body, rest) = raw.split_at(len);
        raw = rest;
        match (tag, wire) {
            (6, WireType::LengthDelimited) if std::str::from_utf8(body).is_err() => {
                let s = String::from_utf8_lossy(body);
                encode_key(6, WireType::LengthDelimited, &mut out);
                encode_varint(s.len() as u64, &mut out);
                out.extend_from_slice(s.as_bytes());
                changed = true;
            }
            _ => out.extend_from_slice(&start[..start.len() - raw.len()]),
        }
    }
    changed.then_some(out)
}

/// The bytes themselves, or their gunzipped content when they are gzip.
pub fn gunzip(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, Error> {
    if !is_gzip(bytes) {
        return Ok(bytes.into());
    }
    let mut raw = Vec::with_capacity(bytes.len() * 4);
    MultiGzDecoder::new(bytes)
        .read_to_end(&mut raw)
        .map_err(Error::Gzip)?;
    Ok(raw.into())
}

/// Checks the invariants every reader of a profile relies on, so that later
/// lookups can index without panicking on a hostile file.
fn validate(p: &Profile) -> Result<(), Error> {
    let strings = p.string_table.len() as i64;
    if p.string_table.first().map(String::as_str) != Some("") {
        return Err(Error::Invalid(
            "the string table does not start with \"\"".into(),
        ));
    }
    if p.sample_type.is_empty() {
        return Err(Error::Invalid("it declares no sample types".into()));
    }
    let str_ok = |i: i64| (0..strings).contains(&i);
    for vt in p.sample_type.iter().chain(p.period_type.iter()) {
        if !str_ok(vt.r#type) || !str_ok(vt.unit) {
            return Err(Error::Invalid(
                "a sample type names a missing string".into(),
            ));
        }
    }
    if !str_ok(p.default_sample_type) {
        return Err(Error::Invalid(
            "the default sample type names a missing string".into(),
        ));
    }
    for f in &p.function {
        if !str_ok(f.name) || !str_ok(f.system_name) || !str_ok(f.filename) {
            return Err(Error::Invalid(format!(
                "function {} names a missing string",
                f.id
            )));
        }
    }
    let functions = IdIndex::new(p.function.iter().map(|f| f.id));
    for loc in &p.location {
        for line in &loc.line {
            if functions.get(line.function_id).is_none() {
                return Err(Error::Invalid(format!(
                    "location {} names missing function {}",
                    loc.id, line.function_id
                )));
            }
        }
    }
    let locations = IdIndex::new(p.location.iter().map(|l| l.id));
    for (i, s) in p.sample.iter().enumerate() {
        if s.value.len() != p.sample_type.len() {
            return Err(Error::Invalid(format!(
                "sample {i} has {} values for {} sample types",
                s.value.len(),
                p.sample_type.len()
            )));
        }
        if let Some(id) = s
            .location_id
            .iter()
            .find(|id| locations.get(**id).is_none())
        {
            return Err(Error::Invalid(format!(
                "sample {i} names missing location {id}"
            )));
        }
        if s.label
            .iter()
            .any(|l| !str_ok(l.key) || !str_ok(l.str) || !str_ok(l.num_unit))
        {
            return Err(Error::Invalid(format!(
                "sample {i} has a label naming a missing string"
            )));
        }
    }
    Ok(())
}

/// Maps pprof ids to positions. Go numbers ids densely from 1, so a vector is
/// the common case; sparse ids fall back to a hash map.
struct IdIndex {
    dense: Vec<u32>,
    sparse: HashMap<u64, u32>,
}

impl IdIndex {
    const NONE: u32 = u32::MAX;

    fn new(ids: impl ExactSizeIterator<Item = u64>) -> Self {
        let n = ids.len();
        let mut dense = Vec::new();
        let mut sparse = HashMap::new();
        for (pos, id) in ids.enumerate() {
            if id < (4 * n as u64 + 1024) {
                if dense.len() <= id as usize {
                    dense.resize(id as usize + 1, Self::NONE);
                }
                dense[id as usize] = pos as u32;
            } else {
                sparse.insert(id, pos as u32);
            }
        }
        IdIndex { dense, sparse }
    }

    fn get(&self, id: u64) -> Option<usize> {
        match self.dense.get(id as usize) {
            Some(&p) if p != Self::NONE => Some(p as usize),
            Some(_) => None,
            None => self.sparse.get(&id).map(|&p| p as usize),
        }
    }
}

impl Profile {
    /// The string at index `i` (validated at parse time; "" for anything else).
    pub fn string(&self, i: i64) -> &str {
        usize::try_from(i)
            .ok()
            .and_then(|i| self.string_table.get(i))
            .map_or("", String::as_str)
    }

    /// The sample types as `(type, unit)` names, in order.
    pub fn sample_types(&self) -> Vec<(&str, &str)> {
        self.sample_type
            .iter()
            .map(|vt| (self.string(vt.r#type), self.string(vt.unit)))
            .collect()
    }

    /// The sample type `go tool pprof` shows when none is asked for: the
    /// profile's `default_sample_type` if set, else the last one.
    pub fn default_sample_index(&self) -> usize {
        let wanted = self.string(self.default_sample_type);
        if !wanted.is_empty() {
            if let Some(i) = self.sample_types().iter().position(|(t, _)| *t == wanted) {
                return i;
            }
        }
        self.sample_type.len() - 1
    }

    /// Resolves `--sample-index`, given as a name (`inuse_space`) or a position, as pprof accepts both.
    pub fn sample_index(&self, wanted: Option<&str>) -> Result<usize, Error> {
        let Some(wanted) = wanted else {
            return Ok(self.default_sample_index());
        };
        let types = self.sample_types();
        if let Ok(i) = wanted.parse::<usize>() {
            if i < types.len() {
                return Ok(i);
            }
        }
        types
            .iter()
            .position(|(t, _)| *t == wanted)
            .ok_or_else(|| Error::UnknownSampleType {
                wanted: wanted.to_string(),
                have: types.iter().map(|(t, _)| *t).collect::<Vec<_>>().join(", "),
            })
    }

    /// The labels of a sample as `(key, value)` strings; numeric labels carry their unit.
    pub fn labels<'a>(
        &'a self,
        sample: &'a proto::Sample,
    ) -> impl Iterator<Item = (&'a str, String)> + 'a {
        sample.label.iter().map(move |l| {
            let v = if l.str != 0 {
                self.string(l.str).to_string()
            } else {
                format!("{}{}", l.num, self.string(l.num_unit))
            };
            (self.string(l.key), v)
        })
    }
}

/// How samples are grouped, as pprof's `-functions`, `-lines` and `-files`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Granularity {
    /// By function name, all lines and inlined copies of it together: the
    /// default, as in pprof.
    #[default]
    Function,
    /// By function and line.
    Line,
    /// By source file.
    File,
}

impl std::str::FromStr for Granularity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "function" | "functions" => Ok(Granularity::Function),
            "line" | "lines" => Ok(Granularity::Line),
            "file" | "files" => Ok(Granularity::File),
            _ => Err(format!("pprof groups by function, line or file, not {s:?}")),
        }
    }
}

/// True for frames a goroutine is parked in rather than written by the user.
fn is_runtime_frame(name: &str) -> bool {
    name.starts_with("runtime.")
        || name.starts_with("internal/")
        || name.starts_with("runtime/internal")
}

/// Reduces a profile to groups keyed by the leaf frame at `by` granularity.
///
/// In goroutine profiles every leaf is `runtime.gopark`, so there the key is the
/// innermost frame outside the runtime: the user code where goroutines pile up.
pub fn summarize(
    profile: &Profile,
    path: &str,
    by: Granularity,
    sample_index: Option<&str>,
) -> Result<Summary, Error> {
    if profile.sample.is_empty() {
        return Err(Error::NoSamples);
    }
    let value_ix = profile.sample_index(sample_index)?;
    let types = profile.sample_types();
    let (type_name, unit) = types[value_ix];
    let goroutines = type_name == "goroutine" || type_name == "goroutines";
    let count_ix = count_index(&types, value_ix);

    let functions = IdIndex::new(profile.function.iter().map(|f| f.id));
    let locations = IdIndex::new(profile.location.iter().map(|l| l.id));
    let mut key_ids: HashMap<String, u32> = HashMap::new();
    let mut keys: Vec<String> = Vec::new();
    let mut intern = |k: String| -> u32 {
        if let Some(&id) = key_ids.get(&k) {
            return id;
        }
        let id = keys.len() as u32;
        keys.push(k.clone());
        key_ids.insert(k, id);
        id
    };
    // Per location: the key of its innermost line, and of its innermost non-runtime line.
    let mut leaf_key = Vec::with_capacity(profile.location.len());
    let mut user_key = Vec::with_capacity(profile.location.len());
    for loc in &profile.location {
        let key_of = |line: &proto::Line| frame_key(profile, &functions, by, line);
        let leaf = match loc.line.first() {
            Some(l) => key_of(l).0,
            None => format!("{:#x}", loc.address),
        };
        leaf_key.push(intern(leaf));
        let user = loc
            .line
            .iter()
            .map(key_of)
            .find(|(_, rt)| !rt)
            .map(|(k, _)| k);
        user_key.push(user.map_or(u32::MAX, &mut intern));
    }

    let mut stats = vec![GroupStat::default(); keys.len()];
    let mut total = GroupStat::default();
    for s in &profile.sample {
        let locs = s
            .location_id
            .iter()
            .map(|id| locations.get(*id).expect("validated"));
        let key = if goroutines {
            let mut user = locs.clone().map(|l| user_key[l]).find(|k| *k != u32::MAX);
            if user.is_none() {
                user = locs.clone().next().map(|l| leaf_key[l]);
            }
            user
        } else {
            locs.clone().next().map(|l| leaf_key[l])
        };
        let stat = GroupStat {
            bytes: s.value[value_ix],
            count: count_ix.map_or(1, |c| s.value[c]),
        };
        total += stat;
        match key {
            Some(k) => stats[k as usize] += stat,
            None => *other_group(&mut stats, &mut keys) += stat,
        }
    }
    let groups = keys
        .into_iter()
        .zip(stats)
        .filter(|(_, s)| s.bytes != 0 || s.count != 0)
        .collect();
    Ok(Summary {
        format: InputFormat::Pprof,
        unit: if goroutines {
            "goroutines".into()
        } else {
            unit.to_string()
        },
        sample_type: Some(type_name.to_string()),
        info: SnapshotInfo {
            path: path.to_string(),
            total_bytes: total.bytes,
            total_count: total.count,
        },
        groups,
    })
}

/// A frame's key at `by` granularity, and whether it is the Go runtime's.
fn frame_key(
    profile: &Profile,
    functions: &IdIndex,
    by: Granularity,
    line: &proto::Line,
) -> (String, bool) {
    let f = &profile.function[functions.get(line.function_id).expect("validated")];
    let name = profile.string(f.name);
    let file = profile.string(f.filename);
    let key = match by {
        Granularity::Function => name.to_string(),
        Granularity::Line => format!("{name} {file}:{}", line.line),
        Granularity::File => file.to_string(),
    };
    (key, is_runtime_frame(name))
}

/// Calls `f` with every sample's stack, root first, as frame keys at `by`
/// granularity (inlined frames included, the leaf being the key that
/// [`summarize`] groups by), and its value of the chosen sample type.
pub fn for_each_stack(
    profile: &Profile,
    by: Granularity,
    sample_index: Option<&str>,
    mut f: impl FnMut(&[&str], i64),
) -> Result<(), Error> {
    let value_ix = profile.sample_index(sample_index)?;
    let functions = IdIndex::new(profile.function.iter().map(|f| f.id));
    let locations = IdIndex::new(profile.location.iter().map(|l| l.id));
    // Per location, its frames root first: a location's lines run from the
    // innermost inlined function out.
    let frames: Vec<Vec<String>> = profile
        .location
        .iter()
        .map(|loc| {
            if loc.line.is_empty() {
                return vec![format!("{:#x}", loc.address)];
            }
            loc.line
                .iter()
                .rev()
                .map(|l| frame_key(profile, &functions, by, l).0)
                .collect()
        })
        .collect();
    let mut stack: Vec<&str> = Vec::new();
    for s in &profile.sample {
        stack.clear();
        for id in s.location_id.iter().rev() {
            let l = locations.get(*id).expect("validated");
            stack.extend(frames[l].iter().map(String::as_str));
        }
        f(&stack, s.value[value_ix]);
    }
    Ok(())
}

/// The group for samples with an empty stack, created on first use.
fn other_group<'a>(stats: &'a mut Vec<GroupStat>, keys: &mut Vec<String>) -> &'a mut GroupStat {
    let i = match keys.iter().position(|k| k == "(unknown)") {
        Some(i) => i,
        None => {
            keys.push("(unknown)".into());
            stats.push(GroupStat::default());
            keys.len() - 1
        }
    };
    &mut stats[i]
}

/// The sample type that counts what `value_ix` measures: `inuse_objects` for
/// `inuse_space`, `alloc_objects` for `alloc_space`, the value itself for counts.
fn count_index(types: &[(&str, &str)], value_ix: usize) -> Option<usize> {
    let (name, unit) = types[value_ix];
    if unit == "count" {
        return Some(value_ix);
    }
    // Legacy heap profiles without allocated totals pair `space` with `objects`.
    if name == "space" {
        return types
            .iter()
            .position(|(t, u)| *u == "count" && *t == "objects");
    }
    let prefix = name
        .strip_suffix("_space")
        .or_else(|| name.strip_suffix("_bytes"))?;
    types.iter().position(|(t, u)| {
        *u == "count" && (*t == format!("{prefix}_objects") || *t == format!("{prefix}_count"))
    })
}

/// Gzip-compresses an encoded profile, as pprof writes them.
pub fn encode_gzip(profile: &Profile) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&profile.encode_to_vec())
        .expect("writing to a Vec cannot fail");
    gz.finish().expect("writing to a Vec cannot fail")
}

/// The profile `go tool pprof -diff_base base last` works on: `last` with
/// `base`'s samples appended negated and labelled `pprof::base`, so that every
/// pprof view of it shows `last - base`.
pub fn diff_profile(base: &Profile, last: &Profile) -> Result<Profile, Error> {
    if base.sample_types() != last.sample_types() {
        return Err(Error::Invalid(format!(
            "cannot diff profiles of different sample types ({:?} and {:?})",
            base.sample_types(),
            last.sample_types()
        )));
    }
    let mut out = last.clone();
    let str_off = out.string_table.len() as i64;
    let shift = |i: i64| if i == 0 { 0 } else { i + str_off };
    out.string_table.extend(base.string_table.iter().cloned());
    let map_off = last.mapping.iter().map(|m| m.id).max().unwrap_or(0);
    let loc_off = last.location.iter().map(|l| l.id).max().unwrap_or(0);
    let fn_off = last.function.iter().map(|f| f.id).max().unwrap_or(0);
    out.mapping
        .extend(base.mapping.iter().map(|m| proto::Mapping {
            id: m.id + map_off,
            filename: shift(m.filename),
            build_id: shift(m.build_id),
            ..m.clone()
        }));
    out.function
        .extend(base.function.iter().map(|f| proto::Function {
            id: f.id + fn_off,
            name: shift(f.name),
            system_name: shift(f.system_name),
            filename: shift(f.filename),
            ..*f
        }));
    out.location.extend(base.location.iter().map(|l| {
        proto::Location {
            id: l.id + loc_off,
            mapping_id: if l.mapping_id == 0 {
                0
            } else {
                l.mapping_id + map_off
            },
            line: l
                .line
                .iter()
                .map(|ln| proto::Line {
                    function_id: ln.function_id + fn_off,
                    ..*ln
                })
                .collect(),
            ..l.clone()
        }
    }));
    let base_key = out.string_table.len() as i64;
    out.string_table.push("pprof::base".into());
    out.string_table.push("true".into());
    out.sample.extend(base.sample.iter().map(|s| {
        let mut label: Vec<proto::Label> = s
            .label
            .iter()
            .map(|l| proto::Label {
                key: shift(l.key),
                str: shift(l.str),
                num_unit: shift(l.num_unit),
                ..*l
            })
            .collect();
        label.push(proto::Label {
            key: base_key,
            str: base_key + 1,
            ..Default::default()
        });
        proto::Sample {
            location_id: s.location_id.iter().map(|id| id + loc_off).collect(),
            value: s.value.iter().map(|v| -v).collect(),
            label,
        }
    }));
    Ok(out)
}

/// Builds a flat profile with one sample per group, for exporting the groups of
/// any format (a V8 class, a `file:line`) as pprof. Each sample's single frame
/// is named by the group key.
pub fn from_groups(type_name: &str, unit: &str, groups: &[(String, i64, i64)]) -> Profile {
    let mut p = Profile {
        string_table: vec![String::new()],
        ..Default::default()
    };
    let mut s = |v: &str| -> i64 {
        p.string_table.push(v.to_string());
        p.string_table.len() as i64 - 1
    };
    // Paired as pprof pairs them: inuse_space with inuse_objects.
    let count_name = format!(
        "{}_objects",
        type_name.strip_suffix("_space").unwrap_or(type_name)
    );
    let vt_count = proto::ValueType {
        r#type: s(&count_name),
        unit: s("count"),
    };
    let vt_value = proto::ValueType {
        r#type: s(type_name),
        unit: s(unit),
    };
    let mut functions = Vec::with_capacity(groups.len());
    for (i, (key, _, _)) in groups.iter().enumerate() {
        let name = s(key);
        functions.push(proto::Function {
            id: i as u64 + 1,
            name,
            system_name: name,
            ..Default::default()
        });
    }
    p.sample_type = vec![vt_count, vt_value];
    p.default_sample_type = vt_value.r#type;
    p.location = (0..groups.len() as u64)
        .map(|i| proto::Location {
            id: i + 1,
            line: vec![proto::Line {
                function_id: i + 1,
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    p.function = functions;
    p.sample = groups
        .iter()
        .enumerate()
        .map(|(i, (_, value, count))| proto::Sample {
            location_id: vec![i as u64 + 1],
            value: vec![*count, *value],
            label: vec![],
        })
        .collect();
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Profile {
        from_groups(
            "inuse_space",
            "bytes",
            &[("main.leak".into(), 1000, 10), ("main.ok".into(), 50, 1)],
        )
    }

    #[test]
    fn round_trips_through_gzip() {
        let p = tiny();
        let back = parse(&encode_gzip(&p)).unwrap();
        assert_eq!(back, p);
        let s = summarize(&back, "t", Granularity::Function, None).unwrap();
        assert_eq!(
            s.groups["main.leak"],
            GroupStat {
                bytes: 1000,
                count: 10
            }
        );
        assert_eq!(s.info.total_bytes, 1050);
        assert_eq!(s.sample_type.as_deref(), Some("inuse_space"));
    }

    #[test]
    fn diff_profile_negates_the_base() {
        let base = tiny();
        let last = from_groups("inuse_space", "bytes", &[("main.leak".into(), 5000, 50)]);
        let d = diff_profile(&base, &last).unwrap();
        let s = summarize(
            &parse(&encode_gzip(&d)).unwrap(),
            "d",
            Granularity::Function,
            None,
        )
        .unwrap();
        assert_eq!(s.groups["main.leak"].bytes, 4000);
        assert_eq!(s.groups["main.ok"].bytes, -50);
    }

    #[test]
    fn default_sample_type_is_honoured() {
        let mut p = tiny();
        p.default_sample_type = p.sample_type[0].r#type;
        assert_eq!(p.default_sample_index(), 0);
        p.default_sample_type = 0;
        assert_eq!(p.default_sample_index(), 1);
        assert_eq!(p.sample_index(Some("inuse_objects")).unwrap(), 0);
        assert!(matches!(
            p.sample_index(Some("nope")),
            Err(Error::UnknownSampleType { .. })
        ));
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(matches!(parse(b""), Err(Error::Empty)));
        let gz = encode_gzip(&tiny());
        assert!(matches!(parse(&gz[..gz.len() / 2]), Err(Error::Gzip(_))));
        assert!(parse(b"{\"snapshot\": {}}").is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            if let Ok(p) = parse(&bytes) {
                let _ = summarize(&p, "x", Granularity::Line, None);
            }
        }

        #[test]
        fn corrupted_profiles_never_panic(flips in proptest::collection::vec((0usize..4096, proptest::num::u8::ANY), 1..8)) {
            let mut bytes = tiny().encode_to_vec();
            for (at, b) in flips {
                let n = bytes.len();
                bytes[at % n] = b;
            }
            if let Ok(p) = parse(&bytes) {
                let _ = summarize(&p, "x", Granularity::Function, None);
                let _ = summarize(&p, "x", Granularity::File, Some("0"));
            }
        }
    }
}
