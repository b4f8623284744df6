//! Compiles the tracer helper's private protocol (`proto/helper.proto`) with protox, as
//! `roar-proto` compiles `roar.proto`: no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let descriptors = protox::compile(["proto/helper.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    println!("cargo:rerun-if-changed=proto/helper.proto");
    Ok(())
}
