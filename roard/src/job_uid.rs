//! Short unique job ids: 12 lowercase hex digits (48 bits), unique in practice and
//! checked by the database's UNIQUE constraint.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh job uid. Mixes time, pid, a counter and kernel randomness through BLAKE3 so
/// uids do not reveal order and two daemons never collide by construction.
pub fn new_job_uid() -> String {
    let mut hasher = blake3::Hasher::new();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    hasher.update(&nanos.to_le_bytes());
    hasher.update(&std::process::id().to_le_bytes());
    hasher.update(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let mut random = [0u8; 16];
    // A failure only weakens the mix; time, pid and counter still make uids distinct.
    if let Ok(mut urandom) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut urandom, &mut random);
    }
    hasher.update(&random);
    hasher.finalize().to_hex()[..12].to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn uids_are_short_and_distinct() {
        let a = super::new_job_uid();
        let b = super::new_job_uid();
        assert_eq!(a.len(), 12);
        assert_ne!(a, b);
    }
}
