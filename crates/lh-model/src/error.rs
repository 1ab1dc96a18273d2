//! One classification of failures for every crate, so that the binary can
//! map each to an exit code in one place (ARCHITECTURE.md, "Errors").
//!
//! Libraries keep their own `thiserror` enums, with the context a user needs
//! (file, byte offset, record); each implements [`Classify`] to say *who* has
//! to act for the failure to go away. Format crates may depend on lh-model
//! only, so the classification lives here rather than in a crate of its own.

use std::io;

/// Who has to act: the user (fix the command or the input), the machine's
/// owner (install a tool, grant a permission, free disk), or nobody (the user
/// asked us to stop). Scripts branch on the exit codes these map to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Bad input or usage: a wrong flag, a missing or corrupt file, a target
    /// that is not what it should be. Exit 2.
    Usage,
    /// The environment failed: a tool or service missing or unreachable, no
    /// permission, no writable cgroup, a full disk. Exit 3.
    Environment,
    /// Stopped by SIGINT or SIGTERM after cleaning up. Exit 130.
    Interrupted,
}

/// Implemented by every library error, so the binary can classify any error
/// it finds in an `anyhow` chain without knowing the library's variants.
pub trait Classify {
    /// The class of this failure.
    fn class(&self) -> ErrorClass;
}

impl Classify for io::Error {
    /// A path the user named that does not exist or is not a regular file,
    /// and data that does not decode (a truncated gzip stream), are the
    /// user's input; every other I/O failure (permission, device, disk full)
    /// is the machine's.
    fn class(&self) -> ErrorClass {
        if is_dir_error(self) {
            return ErrorClass::Usage;
        }
        match self.kind() {
            io::ErrorKind::NotFound
            | io::ErrorKind::InvalidInput
            | io::ErrorKind::InvalidData
            | io::ErrorKind::UnexpectedEof => ErrorClass::Usage,
            io::ErrorKind::Interrupted => ErrorClass::Interrupted,
            _ => ErrorClass::Environment,
        }
    }
}

/// EISDIR or ENOTDIR (the same numbers on every Unix): `io::ErrorKind` names
/// them only from Rust 1.83, above our `rust-version`.
fn is_dir_error(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(20 | 21))
}

/// One sentence for an I/O error on a file the user named, without the
/// `(os error N)` suffix that means nothing to most readers.
pub fn describe_io(e: &io::Error) -> String {
    if e.raw_os_error() == Some(21) {
        return "is a directory, not a file".into();
    }
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) if s.ends_with(')') => s[..i].to_string(),
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_of_a_named_path_are_the_users() {
        let class = |k: io::ErrorKind| io::Error::from(k).class();
        assert_eq!(class(io::ErrorKind::NotFound), ErrorClass::Usage);
        assert_eq!(io::Error::from_raw_os_error(21).class(), ErrorClass::Usage);
        assert_eq!(class(io::ErrorKind::UnexpectedEof), ErrorClass::Usage);
        assert_eq!(
            class(io::ErrorKind::PermissionDenied),
            ErrorClass::Environment
        );
        assert_eq!(
            io::Error::from_raw_os_error(28).class(), // ENOSPC
            ErrorClass::Environment
        );
    }

    #[test]
    fn io_errors_read_as_one_sentence() {
        let missing = io::Error::from_raw_os_error(2);
        assert_eq!(describe_io(&missing), "No such file or directory");
        let dir = io::Error::from_raw_os_error(21);
        assert_eq!(describe_io(&dir), "is a directory, not a file");
        let custom = io::Error::other("odd (really)");
        assert_eq!(describe_io(&custom), "odd (really)");
    }
}
