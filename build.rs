use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // protoc comes from a crate so that a fresh machine needs no system install.
    // SAFETY: build scripts are single-threaded; nothing else reads the environment concurrently.
    unsafe { env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?) };
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        // prost's codec, with decode errors as INVALID_ARGUMENT (src/api/codec.rs).
        .codec_path("crate::api::codec::LearningCodec")
        // Written by hand, so that a page encoded once can be sent again (src/api/history_response.rs).
        .extern_path(
            ".learning.v1.GetExplorationBudgetHistoryResponse",
            "crate::api::history_response::GetExplorationBudgetHistoryResponse",
        )
        .file_descriptor_set_path(out_dir.join("learning_descriptor.bin"))
        .compile_protos(&["proto/learning/v1/learning.proto"], &["proto"])?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
