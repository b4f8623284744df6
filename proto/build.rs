//! Compiles `roar.proto` with protox (a pure-Rust protobuf compiler) so that building
//! roar never needs a system `protoc`, and derives the build id that roarctl and roard
//! compare: the release version and the protocol's exact text.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let descriptors = protox::compile(["roar.proto"], ["."])?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    let mut hasher = blake3::Hasher::new();
    hasher.update(std::env::var("CARGO_PKG_VERSION")?.as_bytes());
    hasher.update(b"\0");
    hasher.update(&std::fs::read("roar.proto")?);
    let id = hasher.finalize().to_hex();
    println!("cargo:rustc-env=ROAR_BUILD_ID={}", &id[..16]);
    println!("cargo:rerun-if-changed=roar.proto");
    Ok(())
}
