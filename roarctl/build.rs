//! Links roarctl as a position-dependent executable (`-no-pie`).
//!
//! roarctl runs once per recorded job, so its start-up is part of every job's fixed
//! cost. As a PIE, the dynamic loader applies ~22,000 relative relocations at each
//! start, copying every page of `.data.rel.ro` it touches: about 0.5 ms of a 2 ms
//! start on a small VM (BENCHMARKS.md, "Fixed cost"). roarctl reads only its user's
//! own configuration and its daemon's answers, so losing address randomisation of
//! its image is a deliberate trade; roard, which handles what jobs do, stays a PIE.

fn main() {
    // Only on Linux/glibc targets, where the link is driven by `cc` and the flag exists.
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bin=roarctl=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
