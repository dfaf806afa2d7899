use std::{env, path::PathBuf};

use prost::Message;
use prost_types::{FileDescriptorSet, ServiceDescriptorProto};
use tonic_prost_build::manual;

/// The codec of every method (src/api/codec.rs)...
const CODEC: &str = "crate::api::codec::LearningCodec";
/// ...except the server side of a server-streaming method, whose messages the
/// server encodes once for all subscribers and sends as they are.
const ENCODED_CODEC: &str = "crate::api::codec::EncodedCodec";
const ENCODED_MESSAGE: &str = "crate::api::codec::Encoded";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // protoc comes from a crate so that a fresh machine needs no system install.
    // SAFETY: build scripts are single-threaded; nothing else reads the environment concurrently.
    unsafe { env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?) };
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let descriptors = out_dir.join("learning_descriptor.bin");
    // Messages and clients from prost; the servers below.
    tonic_prost_build::configure()
        .build_server(false)
        // prost's codec, with decode errors as INVALID_ARGUMENT (src/api/codec.rs).
        .codec_path(CODEC)
        // Written by hand, so that a page encoded once can be sent again (src/api/history_response.rs).
        .extern_path(
            ".learning.v1.GetExplorationBudgetHistoryResponse",
            "crate::api::history_response::GetExplorationBudgetHistoryResponse",
        )
        .file_descriptor_set_path(&descriptors)
        .compile_protos(&["proto/learning/v1/learning.proto"], &["proto"])?;
    let set = FileDescriptorSet::decode(&*std::fs::read(&descriptors)?)?;
    let services: Vec<_> = set
        .file
        .iter()
        .flat_map(|file| {
            let package = file.package().to_owned();
            file.service
                .iter()
                .map(move |service| server(&package, service))
        })
        .collect();
    manual::Builder::new()
        .build_client(false)
        .out_dir(&out_dir)
        .compile(&services);
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}

/// The server of `service`, as tonic-prost-build would generate it, except
/// that a server-streaming method's stream yields [`ENCODED_MESSAGE`]s.
fn server(package: &str, service: &ServiceDescriptorProto) -> manual::Service {
    let local = |proto_type: &str| {
        let name = proto_type
            .strip_prefix(&format!(".{package}."))
            .unwrap_or_else(|| panic!("{proto_type} is not in package {package}"));
        format!("super::{name}")
    };
    let mut builder = manual::Service::builder()
        .name(service.name())
        .package(package);
    for method in &service.method {
        assert!(
            !method.client_streaming(),
            "client streaming is not generated"
        );
        let mut built = manual::Method::builder()
            .name(snake_case(method.name()))
            .route_name(method.name())
            .input_type(local(method.input_type()));
        built = if method.server_streaming() {
            built
                .output_type(ENCODED_MESSAGE)
                .codec_path(ENCODED_CODEC)
                .server_streaming()
        } else {
            built
                .output_type(local(method.output_type()))
                .codec_path(CODEC)
        };
        builder = builder.method(built.build());
    }
    builder.build()
}

/// `GetExplorationBudget` -> `get_exploration_budget`.
fn snake_case(name: &str) -> String {
    let mut snake = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            snake.push('_');
        }
        snake.push(c.to_ascii_lowercase());
    }
    snake
}
