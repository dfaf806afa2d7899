//! Runs a script on Python's sqlite3, as the original store writes the file.

use std::path::Path;

/// The stdout of `script` run with `db` as its argument, once it succeeded;
/// None where python3 is missing (skipped, but a failure in CI: see
/// `prerequisite`).
pub fn run(script: &str, db: &Path) -> Option<String> {
    let output = match std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(db)
        .output()
    {
        Ok(output) => output,
        Err(error) => {
            crate::prerequisite::missing(&format!("python3 ({error})"));
            return None;
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(stdout)
}
