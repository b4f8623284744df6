//! `roar-hash [--sha256] FILE`: hashes FILE with exactly the code roard uses for
//! artifacts (memory-mapped, multi-threaded BLAKE3 above 4 MiB; SHA-256 in the same
//! pass when asked) and prints the digests, so `bench/hashing.py` can time it against
//! b3sum and sha256sum.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let with_sha256 = args.iter().any(|a| a == "--sha256");
    let Some(file) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("usage: roar-hash [--sha256] FILE");
        return ExitCode::from(2);
    };
    let extra: Vec<&'static dyn roard::hash_algorithms::HashAlgorithm> = if with_sha256 {
        roard::hash_algorithms::by_name("sha256")
            .into_iter()
            .collect()
    } else {
        Vec::new()
    };
    match roard::hashing::hash_regular_file(Path::new(file), &extra, None) {
        Ok(hashed) => {
            println!("blake3 {}", hashed.content.blake3_hex());
            for digest in &hashed.extra {
                println!("{} {}", digest.algorithm, digest.hex());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("roar-hash: {file}: {e}");
            ExitCode::FAILURE
        }
    }
}
