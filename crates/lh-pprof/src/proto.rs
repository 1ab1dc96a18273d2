//! The structs of pprof's `profile.proto`, written out for prost so that a build needs no `protoc`.
//!
//! Field numbers follow github.com/google/pprof/proto/profile.proto. Keep them in step with it:
//! a wrong number decodes silently into the wrong field.

/// A whole profile. Every string is an index into `string_table`, whose entry 0 is "".
#[derive(Clone, PartialEq, prost::Message)]
pub struct Profile {
    /// What each value of a sample counts: `value[i]` of every sample is a `sample_type[i]`.
    #[prost(message, repeated, tag = "1")]
    pub sample_type: Vec<ValueType>,
    /// The stacks and their values.
    #[prost(message, repeated, tag = "2")]
    pub sample: Vec<Sample>,
    /// The memory mappings of the process: which binary each address came from. Entry 0, if any, is the main binary.
    #[prost(message, repeated, tag = "3")]
    pub mapping: Vec<Mapping>,
    /// The program counters the samples refer to, by `id`.
    #[prost(message, repeated, tag = "4")]
    pub location: Vec<Location>,
    /// The functions the locations' lines refer to, by `id`.
    #[prost(message, repeated, tag = "5")]
    pub function: Vec<Function>,
    /// Every string of the profile; entry 0 is always `""`.
    #[prost(string, repeated, tag = "6")]
    pub string_table: Vec<String>,
    /// A regular expression (string index; 0 for none): frames matching it, and those beneath them, are dropped when the profile is shown.
    #[prost(int64, tag = "7")]
    pub drop_frames: i64,
    /// A regular expression (string index; 0 for none): frames matching it are kept even if `drop_frames` matches.
    #[prost(int64, tag = "8")]
    pub keep_frames: i64,
    /// When the profile was taken, in nanoseconds since the Unix epoch.
    #[prost(int64, tag = "9")]
    pub time_nanos: i64,
    /// How long the profile covers, in nanoseconds.
    #[prost(int64, tag = "10")]
    pub duration_nanos: i64,
    /// What the sampling period counts (`space`/`bytes` for Go heap profiles).
    #[prost(message, optional, tag = "11")]
    pub period_type: Option<ValueType>,
    /// The sampling period, in `period_type` units: one sample for about this many events (bytes allocated, for a heap).
    #[prost(int64, tag = "12")]
    pub period: i64,
    /// Free-form comments (string indices), shown by `go tool pprof -comments`.
    #[prost(int64, repeated, tag = "13")]
    pub comment: Vec<i64>,
    /// The sample type to show unless told otherwise (string index of its `type`; 0 means the last).
    #[prost(int64, tag = "14")]
    pub default_sample_type: i64,
    /// Documentation of the profile's kind (string index).
    #[prost(int64, tag = "15")]
    pub doc_url: i64,
}

/// A sample type such as `inuse_space`/`bytes`.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct ValueType {
    /// What is counted (string index): `inuse_space`, `alloc_objects`, `samples`.
    #[prost(int64, tag = "1")]
    pub r#type: i64,
    /// Its unit (string index): `bytes`, `count`, `nanoseconds`.
    #[prost(int64, tag = "2")]
    pub unit: i64,
}

/// One stack with one value per sample type. `location_id[0]` is the leaf.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// The stack, leaf first, as [`Location::id`]s.
    #[prost(uint64, repeated, tag = "1")]
    pub location_id: Vec<u64>,
    /// One value per [`Profile::sample_type`], in that order.
    #[prost(int64, repeated, tag = "2")]
    pub value: Vec<i64>,
    /// Extra context of the sample (Go heap profiles record `bytes`, the allocation size).
    #[prost(message, repeated, tag = "3")]
    pub label: Vec<Label>,
}

/// A sample label: a string (`str`) or a number (`num`, `num_unit`).
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Label {
    /// The label's name (string index).
    #[prost(int64, tag = "1")]
    pub key: i64,
    /// Its string value (string index); 0 when the label is numeric.
    #[prost(int64, tag = "2")]
    pub str: i64,
    /// Its numeric value, when `str` is 0.
    #[prost(int64, tag = "3")]
    pub num: i64,
    /// The unit of `num` (string index; 0 for none).
    #[prost(int64, tag = "4")]
    pub num_unit: i64,
}

/// A binary (or other file) mapped into the process, for symbolization.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Mapping {
    /// Nonzero and unique in the profile; [`Location::mapping_id`] refers to it.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// Where the mapping starts in the process's address space.
    #[prost(uint64, tag = "2")]
    pub memory_start: u64,
    /// Where it ends (exclusive).
    #[prost(uint64, tag = "3")]
    pub memory_limit: u64,
    /// The offset in the file that `memory_start` maps, which symbolization needs to turn an address into the binary's own.
    #[prost(uint64, tag = "4")]
    pub file_offset: u64,
    /// The mapped file's path as the process saw it (string index).
    #[prost(int64, tag = "5")]
    pub filename: i64,
    /// The file's build id (string index; hex, or empty), which tells two builds of a program apart.
    #[prost(int64, tag = "6")]
    pub build_id: i64,
    /// The locations of this mapping have function names.
    #[prost(bool, tag = "7")]
    pub has_functions: bool,
    /// They have source file names.
    #[prost(bool, tag = "8")]
    pub has_filenames: bool,
    /// They have line numbers.
    #[prost(bool, tag = "9")]
    pub has_line_numbers: bool,
    /// They have inlined frames.
    #[prost(bool, tag = "10")]
    pub has_inline_frames: bool,
}

/// A program counter with its (possibly inlined) lines; `line[0]` is the innermost inlined callee.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Location {
    /// Nonzero and unique in the profile; [`Sample::location_id`] refers to it.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// The [`Mapping::id`] of the binary the address is in; 0 when unknown.
    #[prost(uint64, tag = "2")]
    pub mapping_id: u64,
    /// The instruction address in the process (a return address, for a stack), or 0 when the profile is symbolized without addresses.
    #[prost(uint64, tag = "3")]
    pub address: u64,
    /// The source lines at the address, innermost inlined callee first; empty until symbolized.
    #[prost(message, repeated, tag = "4")]
    pub line: Vec<Line>,
    /// Several functions share this address (identical code folding by the
    /// linker), and `line` names one of them.
    #[prost(bool, tag = "5")]
    pub is_folded: bool,
}

/// One source line of a location: a function and where in it.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Line {
    /// The [`Function::id`] of the function the line is in.
    #[prost(uint64, tag = "1")]
    pub function_id: u64,
    /// The line number; 0 when unknown.
    #[prost(int64, tag = "2")]
    pub line: i64,
    /// The column; 0 when unknown.
    #[prost(int64, tag = "3")]
    pub column: i64,
}

/// A function, named once and shared by every line in it.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Function {
    /// Nonzero and unique in the profile; [`Line::function_id`] refers to it.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// The name for people (string index): demangled, e.g. `main.leak`.
    #[prost(int64, tag = "2")]
    pub name: i64,
    /// The name as the binary has it (string index): mangled for C++ and Rust.
    #[prost(int64, tag = "3")]
    pub system_name: i64,
    /// The source file (string index).
    #[prost(int64, tag = "4")]
    pub filename: i64,
    /// The line the function starts at; 0 when unknown.
    #[prost(int64, tag = "5")]
    pub start_line: i64,
}
