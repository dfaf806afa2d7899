//! A test whose prerequisite (a program, a capability) is missing: skipped
//! on a developer's machine, but a failure in CI (`CI=true`), where `.ci/run`
//! provides every prerequisite, so a test can never pass by not running.

/// Call when `what` is missing; returns only outside CI (the caller skips).
pub fn missing(what: &str) {
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(!in_ci, "prerequisite missing in CI: {what}");
    eprintln!("skipped: {what}");
}
