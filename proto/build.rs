//! Compiles `roar.proto` with protox (a pure-Rust protobuf compiler) so that building
//! roar never needs a system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let descriptors = protox::compile(["roar.proto"], ["."])?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    println!("cargo:rerun-if-changed=roar.proto");
    Ok(())
}
