//! PEM files of the shared test certificates (`tests/common/certs.rs`).

use std::path::{Path, PathBuf};

pub use crate::common::certs::TestCa;

/// Writes `text` to `dir/name` and returns the path as a string argument.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let path: PathBuf = dir.join(name);
    std::fs::write(&path, text).expect("write PEM");
    path.to_string_lossy().into_owned()
}
