//! Compiles Meshwork's own protos with `protox` (a pure-Rust protobuf compiler), so building needs
//! no system `protoc`.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/helloworld/helloworld.proto",
        "proto/meshwork/admin/v1/admin.proto",
        "proto/grpc/testing/empty.proto",
        "proto/grpc/testing/messages.proto",
        "proto/grpc/testing/test.proto",
        "proto/grpc/channelz/v1/channelz.proto",
    ];
    let includes = ["proto"];
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(protos, includes)?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("meshwork_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    // Well-known types come from `envoy-types`, like every other protobuf type in Meshwork (no
    // `prost-types`): turning off prost's default mapping lets the extern path take its place.
    tonic_prost_build::configure()
        .compile_well_known_types(true)
        .extern_path(".google.protobuf", "::envoy_types::pb::google::protobuf")
        .compile_fds(fds)?;
    Ok(())
}
