//! The `schema_version` every JSON output carries (docs/schema/).
//!
//! Added at the edge, when an output is written, rather than as a field of
//! each type: the types are built in many places that should not have to
//! know which contract they end up in, and reading an older output back
//! (without the field) keeps working.

use serde::Serialize;

/// The version of the JSON contracts. Fields are only ever added, never
/// removed or renamed; this number changes only if that promise is broken,
/// so a consumer can refuse what it cannot read.
pub const SCHEMA_VERSION: u32 = 1;

/// `value`'s JSON object with `"schema_version"` as its first field.
#[derive(Debug, Serialize)]
pub struct Versioned<'a, T: Serialize> {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The output itself, its fields flattened next to the version.
    #[serde(flatten)]
    pub value: &'a T,
}

impl<'a, T: Serialize> Versioned<'a, T> {
    /// Wraps `value` for writing.
    pub fn new(value: &'a T) -> Self {
        Versioned {
            schema_version: SCHEMA_VERSION,
            value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_comes_first_and_nothing_else_changes() {
        #[derive(Serialize)]
        struct Out {
            id: &'static str,
            limit: Option<u64>,
        }
        let o = Out {
            id: "a",
            limit: None,
        };
        assert_eq!(
            serde_json::to_string(&Versioned::new(&o)).unwrap(),
            r#"{"schema_version":1,"id":"a","limit":null}"#
        );
    }
}
