//! Whether the database path still names the file the service has open.
//!
//! SQLite keeps working on an open file that was removed or renamed: reads
//! and writes succeed, but they go to a file nobody can find, and whatever
//! was written is gone when the service stops. So the identity (device and
//! inode) of the file is taken when it is opened and compared with the path
//! at every health probe; while they differ, writes are refused.

use std::{
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU8, Ordering},
};

use crate::store::{StoreError, StoreFault, StoreResult};

const PRESENT: u8 = 0;
const MISSING: u8 = 1;
const REPLACED: u8 = 2;

pub struct FileWatch {
    path: PathBuf,
    device: u64,
    inode: u64,
    state: AtomicU8,
}

impl FileWatch {
    /// Call right after opening `path`, so the identity is the open file's.
    pub fn new(path: &Path) -> StoreResult<Self> {
        let metadata = std::fs::metadata(path)
            .map_err(|e| StoreError::Refused(format!("cannot inspect {}: {e}", path.display())))?;
        Ok(Self {
            path: path.to_path_buf(),
            device: metadata.dev(),
            inode: metadata.ino(),
            state: AtomicU8::new(PRESENT),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Looks at the path now, and remembers the answer for [`Self::refuse_writes`].
    pub fn check(&self) -> Result<(), StoreFault> {
        let state = match std::fs::metadata(&self.path) {
            Ok(m) if m.dev() == self.device && m.ino() == self.inode => PRESENT,
            Ok(_) => REPLACED,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => MISSING,
            Err(e) => {
                return Err(StoreFault::Read(format!(
                    "cannot inspect {}: {e}",
                    self.path.display()
                )));
            }
        };
        self.state.store(state, Ordering::Relaxed);
        self.fault(state).map_or(Ok(()), Err)
    }

    /// The fault found by the last check, without touching the disk (this
    /// runs on every write).
    pub fn refuse_writes(&self) -> StoreResult<()> {
        match self.fault(self.state.load(Ordering::Relaxed)) {
            None => Ok(()),
            Some(fault) => Err(fault.into()),
        }
    }

    fn fault(&self, state: u8) -> Option<StoreFault> {
        let path = || self.path.display().to_string();
        match state {
            MISSING => Some(StoreFault::FileMissing { path: path() }),
            REPLACED => Some(StoreFault::FileReplaced { path: path() }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_a_removed_renamed_or_replaced_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let moved = dir.path().join("b.db");
        std::fs::write(&path, "x").unwrap();
        // Held open, as SQLite does, so its inode number cannot be reused below.
        let _open = std::fs::File::open(&path).unwrap();
        let watch = FileWatch::new(&path).unwrap();
        assert!(watch.check().is_ok());
        std::fs::rename(&path, &moved).unwrap();
        assert!(matches!(watch.check(), Err(StoreFault::FileMissing { .. })));
        assert!(watch.refuse_writes().is_err());
        std::fs::rename(&moved, &path).unwrap();
        assert!(watch.check().is_ok());
        assert!(watch.refuse_writes().is_ok());
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "y").unwrap();
        assert!(matches!(
            watch.check(),
            Err(StoreFault::FileReplaced { .. })
        ));
    }
}
