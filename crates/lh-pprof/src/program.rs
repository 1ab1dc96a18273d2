//! Which program a profile comes from, so that a diff of two programs'
//! profiles is said to be one instead of naming growth that is no leak.

use crate::Profile;

/// What a profile says about the program that wrote it. pprof puts the main
/// binary's mapping first; Go fills its file name and ELF build id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Program {
    /// The main binary's path, empty when the profile has no mappings.
    pub binary: String,
    /// Its build id, empty when unknown.
    pub build_id: String,
    /// `type/unit` of the sampling period (`space/bytes` for Go heaps).
    pub period_type: String,
}

impl Program {
    /// Reads the main mapping and the period type of `p`.
    pub fn of(p: &Profile) -> Program {
        let s = |i: i64| p.string(i).to_string();
        let main = p.mapping.first();
        Program {
            binary: main.map(|m| s(m.filename)).unwrap_or_default(),
            build_id: main.map(|m| s(m.build_id)).unwrap_or_default(),
            period_type: p
                .period_type
                .as_ref()
                .map(|t| format!("{}/{}", s(t.r#type), s(t.unit)))
                .unwrap_or_default(),
        }
    }

    /// True when `self` and `other` are surely different programs. Only what
    /// both profiles state counts: `go run` builds to a new temporary path
    /// each time, so paths are compared only when a build id is missing.
    pub fn differs_from(&self, other: &Program) -> bool {
        let both = |a: &str, b: &str| !a.is_empty() && !b.is_empty() && a != b;
        if both(&self.period_type, &other.period_type) {
            return true;
        }
        if !self.build_id.is_empty() && !other.build_id.is_empty() {
            return self.build_id != other.build_id;
        }
        both(&self.binary, &other.binary)
    }

    /// How a note names the program: its path, and its build id when known.
    pub fn name(&self) -> String {
        let binary = if self.binary.is_empty() {
            "an unnamed program"
        } else {
            &self.binary
        };
        match self.build_id.as_str() {
            "" => binary.to_string(),
            id => format!("{binary} (build id {id})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(binary: &str, build_id: &str, period: &str) -> Program {
        Program {
            binary: binary.into(),
            build_id: build_id.into(),
            period_type: period.into(),
        }
    }

    #[test]
    fn build_ids_decide_over_paths() {
        let a = program("/tmp/go-build1/exe/app", "abc", "space/bytes");
        let rerun = program("/tmp/go-build2/exe/app", "abc", "space/bytes");
        assert!(!a.differs_from(&rerun), "go run of one program");
        let other = program("/tmp/go-build1/exe/app", "def", "space/bytes");
        assert!(a.differs_from(&other));
        let no_ids = program("/srv/app", "", "space/bytes");
        assert!(no_ids.differs_from(&program("/srv/other", "", "space/bytes")));
        assert!(!no_ids.differs_from(&program("", "", "")), "nothing stated");
        assert!(a.differs_from(&program("/tmp/go-build1/exe/app", "abc", "goroutine/count")));
    }
}
