//! pprof's legacy text formats, read into the same [`crate::Profile`] as protobuf.

pub mod heap;
