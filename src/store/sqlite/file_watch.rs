//! Whether the database path, and the path of its write-ahead log, still
//! name the files the service has open.
//!
//! SQLite keeps working on an open file that was removed or renamed: reads
//! and writes succeed, but they go to a file nobody can find, and whatever
//! was written is gone when the service stops. The same holds for the `-wal`
//! file, where every commit lands first: a commit into a removed log is
//! acknowledged, then lost at the next crash or restart (and another
//! connection opening the database starts a new, empty log). So the identity
//! (device and inode) of both files is taken when they are opened and compared
//! with their paths at every health probe and before every commit; while
//! they differ, writes are refused.

use std::{
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU8, Ordering},
};

use crate::store::{StoreError, StoreFault, StoreResult};

const PRESENT: u8 = 0;
const MISSING: u8 = 1;
const REPLACED: u8 = 2;
const WAL_MISSING: u8 = 3;
const WAL_REPLACED: u8 = 4;

/// A file as it was opened.
struct Identity {
    path: PathBuf,
    device: u64,
    inode: u64,
}

impl Identity {
    fn of(path: PathBuf) -> std::io::Result<Self> {
        let metadata = std::fs::metadata(&path)?;
        Ok(Self {
            path,
            device: metadata.dev(),
            inode: metadata.ino(),
        })
    }

    /// PRESENT, MISSING or REPLACED, as the path stands now.
    fn state(&self) -> Result<u8, StoreFault> {
        match std::fs::metadata(&self.path) {
            Ok(m) if m.dev() == self.device && m.ino() == self.inode => Ok(PRESENT),
            Ok(_) => Ok(REPLACED),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(MISSING),
            Err(e) => Err(StoreFault::Read(format!(
                "cannot inspect {}: {e}",
                self.path.display()
            ))),
        }
    }
}

pub struct FileWatch {
    main: Identity,
    /// None until [`FileWatch::with_wal`], and when the log is not there.
    wal: Option<Identity>,
    state: AtomicU8,
}

impl FileWatch {
    /// Call right after opening `path`, so the identity is the open file's.
    pub fn new(path: &Path) -> StoreResult<Self> {
        let main = Identity::of(path.to_path_buf())
            .map_err(|e| StoreError::Refused(format!("cannot inspect {}: {e}", path.display())))?;
        Ok(Self {
            main,
            wal: None,
            state: AtomicU8::new(PRESENT),
        })
    }

    /// Also watches the write-ahead log (`<path>-wal`). Call once the
    /// database is in WAL mode and a transaction has opened the log.
    pub fn with_wal(mut self) -> Self {
        let mut wal_path = self.main.path.clone().into_os_string();
        wal_path.push("-wal");
        match Identity::of(PathBuf::from(wal_path)) {
            Ok(wal) => self.wal = Some(wal),
            Err(error) => tracing::warn!(
                %error,
                "the write-ahead log of the database is not there; it is not watched"
            ),
        }
        self
    }

    pub fn path(&self) -> &Path {
        &self.main.path
    }

    /// Looks at the paths now, and remembers the answer for [`Self::refuse_writes`].
    pub fn check(&self) -> Result<(), StoreFault> {
        let state = match self.main.state()? {
            PRESENT => match &self.wal {
                Some(wal) => match wal.state()? {
                    MISSING => WAL_MISSING,
                    REPLACED => WAL_REPLACED,
                    _ => PRESENT,
                },
                None => PRESENT,
            },
            main => main,
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
        let path = |identity: &Identity| identity.path.display().to_string();
        let wal = || self.wal.as_ref().map(path).unwrap_or_default();
        match state {
            MISSING => Some(StoreFault::FileMissing {
                path: path(&self.main),
            }),
            REPLACED => Some(StoreFault::FileReplaced {
                path: path(&self.main),
            }),
            WAL_MISSING => Some(StoreFault::WalMissing { path: wal() }),
            WAL_REPLACED => Some(StoreFault::WalReplaced { path: wal() }),
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

    #[test]
    fn notices_a_removed_renamed_or_replaced_write_ahead_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let wal = dir.path().join("a.db-wal");
        let moved = dir.path().join("moved-wal");
        std::fs::write(&path, "x").unwrap();
        std::fs::write(&wal, "log").unwrap();
        let _open = std::fs::File::open(&wal).unwrap();
        let watch = FileWatch::new(&path).unwrap().with_wal();
        assert!(watch.check().is_ok());
        std::fs::rename(&wal, &moved).unwrap();
        assert!(matches!(watch.check(), Err(StoreFault::WalMissing { .. })));
        assert!(watch.refuse_writes().is_err());
        std::fs::rename(&moved, &wal).unwrap();
        assert!(watch.check().is_ok());
        assert!(watch.refuse_writes().is_ok());
        std::fs::remove_file(&wal).unwrap();
        std::fs::write(&wal, "new log").unwrap();
        assert!(matches!(watch.check(), Err(StoreFault::WalReplaced { .. })));
        // Without a log at start, there is nothing to watch.
        let other = dir.path().join("c.db");
        std::fs::write(&other, "x").unwrap();
        let unwatched = FileWatch::new(&other).unwrap().with_wal();
        assert!(unwatched.check().is_ok());
    }
}
