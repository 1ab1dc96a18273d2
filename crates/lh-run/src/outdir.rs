//! The output directory of a run (`-o DIR`).
//!
//! A run never reads state another run left and never overwrites another
//! run's files: a directory that already holds files is refused (exit 2,
//! naming it) unless the user passes `--overwrite`, and even then the
//! engine's own state files from before (the Python helper's address file,
//! the native allocator's dumps) are removed before anything could read them.

use crate::Error;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Files in it the engine writes and later reads back within the same run.
const RUN_STATE: &[&str] = &["python-helper", crate::launch::NATIVE_DUMPS];

/// A directory claimed for one run: created 0700, empty or explicitly reused.
#[derive(Debug, Clone)]
pub struct OutputDir {
    path: PathBuf,
}

impl OutputDir {
    /// Claims `path` for a run. With `overwrite`, a directory holding files is
    /// reused (files of the same names are replaced) but the engine's state
    /// of the earlier run is removed first.
    pub fn claim(path: &Path, overwrite: bool) -> Result<Self, Error> {
        let holds_files = std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_some());
        if holds_files && !overwrite {
            return Err(Error::OutputNotEmpty(path.to_path_buf()));
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(|e| Error::io(path, e))?;
        for s in RUN_STATE {
            let p = path.join(s);
            if p.exists() {
                std::fs::remove_dir_all(&p).map_err(|e| Error::io(&p, e))?;
            }
        }
        Ok(OutputDir {
            path: path.to_path_buf(),
        })
    }

    /// A new directory `PREFIX-PID-N` under the temp dir, made for this run
    /// alone (an existing one, say from a recycled pid, is skipped).
    pub fn fresh_temp(prefix: &str) -> Result<Self, Error> {
        let base = std::env::temp_dir();
        for n in 0u32.. {
            let path = base.join(format!("{prefix}-{}-{n}", std::process::id()));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(OutputDir { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io(&path, e)),
            }
        }
        unreachable!("some N is free")
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `name` inside it.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Creates (or truncates) `name` inside it, mode 0600.
    pub fn private_file(&self, name: &str) -> Result<File, Error> {
        private_file(&self.join(name))
    }

    /// Writes `bytes` to `name` inside it, mode 0600.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, Error> {
        let p = self.join(name);
        private_file(&p)?
            .write_all(bytes)
            .map_err(|e| Error::io(&p, e))?;
        Ok(p)
    }

    /// A sub-directory (0700) of it.
    pub fn subdir(&self, name: &str) -> Result<PathBuf, Error> {
        let p = self.join(name);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&p)
            .map_err(|e| Error::io(&p, e))?;
        Ok(p)
    }
}

/// Creates (or truncates) `path`, mode 0600: logs and reports of a run hold
/// what the program printed, which may be secret.
pub fn private_file(path: &Path) -> Result<File, Error> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_with_files_is_refused_unless_overwrite_and_then_state_goes() {
        let d = tempfile::tempdir().unwrap();
        let out = OutputDir::claim(&d.path().join("run"), false).unwrap();
        out.write("app.log", b"first run").unwrap();
        std::fs::create_dir(out.join("python-helper")).unwrap();
        std::fs::write(out.join("python-helper/addr"), "127.0.0.1:1").unwrap();
        let e = OutputDir::claim(out.path(), false).unwrap_err();
        assert!(matches!(e, Error::OutputNotEmpty(_)), "{e}");
        assert!(e.to_string().contains(&out.path().display().to_string()));
        assert_eq!(std::fs::read(out.join("app.log")).unwrap(), b"first run");
        let again = OutputDir::claim(out.path(), true).unwrap();
        assert!(!again.join("python-helper/addr").exists());
        // An empty directory that exists is fine.
        std::fs::create_dir(d.path().join("empty")).unwrap();
        OutputDir::claim(&d.path().join("empty"), false).unwrap();
    }
}
