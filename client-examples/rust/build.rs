//! Generates the learning.v1 client from the service's proto with tonic-prost-build.
use std::{env, path::PathBuf};

const PROTO: &str = "learning/v1/learning.proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The repository's proto/ (two levels up), or $LEARNING_PROTO_DIR for a copy of this
    // crate outside the repository.
    println!("cargo:rerun-if-env-changed=LEARNING_PROTO_DIR");
    let root = match env::var_os("LEARNING_PROTO_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("../../proto"),
    };
    let proto = root.join(PROTO);
    if !proto.is_file() {
        return Err(format!(
            "{} not found: set LEARNING_PROTO_DIR to the directory that holds {PROTO}",
            proto.display()
        )
        .into());
    }
    println!("cargo:rerun-if-changed={}", proto.display());
    // protoc comes from a crate, as in the service, so that a fresh machine needs no install.
    // SAFETY: build scripts are single-threaded; nothing else reads the environment concurrently.
    unsafe { env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?) };
    tonic_prost_build::configure()
        .build_server(false)
        .compile_protos(&[proto], &[root])?;
    Ok(())
}
