//! Runs a script on Python's sqlite3, as the original store writes the file.
// Each test file uses what it needs of this module.
#![allow(dead_code)]

use std::{
    path::Path,
    process::{Child, Command, Stdio},
};

/// The stdout of `script` run with `db` as its argument, once it succeeded;
/// None where python3 is missing (skipped, but a failure in CI: see
/// `prerequisite`).
pub fn run(script: &str, db: &Path) -> Option<String> {
    spawn(script, &[&db.to_string_lossy()]).map(finished)
}

/// Starts `script` with `args`, its output captured; None where python3 is
/// missing (as for [`run`]).
pub fn spawn(script: &str, args: &[&str]) -> Option<Child> {
    match Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => Some(child),
        Err(error) => {
            crate::prerequisite::missing(&format!("python3 ({error})"));
            None
        }
    }
}

/// Waits for a script started by [`spawn`], asserts that it succeeded and
/// returns its stdout.
pub fn finished(child: Child) -> String {
    let output = child.wait_with_output().expect("wait for python3");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}
