//! Generates the cordon.v1 message types from the .proto files in ipc/proto with prost-build
//! (protoc comes from Debian's protobuf-compiler; set PROTOC to use another). Generating at
//! build time rather than committing the output keeps the crate in step with the protocol files,
//! which other modules extend.
use std::env;
use std::path::PathBuf;

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    // CORDON_PROTO_DIR: for building the crate outside the source tree.
    let proto_dir = match env::var_os("CORDON_PROTO_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => manifest_dir.join("../../ipc/proto"),
    };
    let files: Vec<PathBuf> = ["envelope.proto", "common.proto", "broker.proto", "manifest.proto"]
        .iter()
        .map(|f| proto_dir.join("cordon/v1").join(f))
        .collect();
    for f in &files {
        if !f.is_file() {
            panic!(
                "cordon-plugin: {} not found; set CORDON_PROTO_DIR to the directory holding cordon/v1/*.proto",
                f.display()
            );
        }
        println!("cargo:rerun-if-changed={}", f.display());
    }
    println!("cargo:rerun-if-env-changed=CORDON_PROTO_DIR");
    println!("cargo:rerun-if-env-changed=PROTOC");
    let mut config = prost_build::Config::new();
    config.btree_map(["."]);
    if let Err(e) = config.compile_protos(&files, &[proto_dir]) {
        panic!("cordon-plugin: generating cordon.v1 from the .proto files failed: {e}");
    }
}
