//! Compiles the tracer helper's private protocol (`proto/helper.proto`) with protox, as
//! `roar-proto` compiles `roar.proto` (no system `protoc` is needed), and the fast
//! path's preload library (`preload/`) with the C compiler the `cc` crate finds.

use std::path::PathBuf;
use std::process::Command;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let descriptors = protox::compile(["proto/helper.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    println!("cargo:rerun-if-changed=proto/helper.proto");
    build_preload_library()
}

/// `$OUT_DIR/libroar_preload.so`, which roard embeds (see `src/preload_library.rs`).
/// The library is x86_64 code (its syscall stub and register use are); on other
/// targets an empty file is embedded and the fast path is off.
fn build_preload_library() -> Result<(), Box<dyn std::error::Error>> {
    for file in ["preload/roar_preload.c", "preload/ring.h"] {
        println!("cargo:rerun-if-changed={file}");
    }
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("libroar_preload.so");
    if std::env::var("CARGO_CFG_TARGET_ARCH")? != "x86_64"
        || std::env::var("CARGO_CFG_TARGET_OS")? != "linux"
    {
        std::fs::write(&out, b"")?;
        return Ok(());
    }
    let compiler = cc::Build::new().cargo_metadata(false).get_compiler();
    let status = Command::new(compiler.path())
        .args([
            "-O2",
            "-fPIC",
            "-shared",
            // No library named: each would be one more open (a stop) in every exec.
            "-nostdlib",
            "-fno-stack-protector",
            // Its wrappers `call` the stub from inline assembly.
            "-mno-red-zone",
            "-fvisibility=hidden",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-Wl,-z,now",
            "-o",
        ])
        .arg(&out)
        .arg("preload/roar_preload.c")
        .status()
        .map_err(|e| {
            format!(
                "cannot run the C compiler {}: {e}",
                compiler.path().display()
            )
        })?;
    if !status.success() {
        return Err(format!("compiling preload/roar_preload.c failed ({status})").into());
    }
    Ok(())
}
