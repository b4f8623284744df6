//! The registry of hash algorithms beyond BLAKE3. BLAKE3 is every artifact's identity
//! and is always computed; the algorithms here are added on request
//! (`roard --hash-algorithms`), in the same pass over the file. A new algorithm is one
//! more implementation of [`HashAlgorithm`]: the schema stores (algorithm, digest)
//! pairs and needs no change.

use std::fmt;

/// An algorithm whose digests are attributes of artifacts.
pub trait HashAlgorithm: Sync {
    /// Name used in the database, the protocol and on the command line.
    fn name(&self) -> &'static str;
    fn start(&self) -> Box<dyn Digester>;
}

/// One computation in progress.
pub trait Digester {
    fn update(&mut self, bytes: &[u8]);
    fn finish(self: Box<Self>) -> Vec<u8>;
}

impl fmt::Debug for dyn HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A digest by name, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Digest {
    pub algorithm: &'static str,
    pub bytes: Vec<u8>,
}

impl Digest {
    /// As the protocol carries it.
    pub fn to_proto(&self) -> roar_proto::pb::Digest {
        let algorithm =
            roar_proto::pb::HashAlgorithm::from_name(self.algorithm).unwrap_or_default();
        roar_proto::pb::Digest::new(algorithm, self.hex())
    }

    pub fn hex(&self) -> String {
        self.bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A digest as stored: an algorithm's name and hex digits. A name this build does
    /// not know (a newer roard wrote it) reads as the empty name, which the protocol
    /// shows as unspecified; None when the digits are not hex.
    pub fn from_stored(name: &str, hex: &str) -> Option<Digest> {
        let algorithm = match name {
            "blake3" => "blake3",
            _ => by_name(name).map_or("", |a| a.name()),
        };
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        Some(Digest { algorithm, bytes })
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex())
    }
}

struct Sha256;

impl HashAlgorithm for Sha256 {
    fn name(&self) -> &'static str {
        "sha256"
    }

    fn start(&self) -> Box<dyn Digester> {
        Box::new(<sha2::Sha256 as sha2::Digest>::new())
    }
}

impl Digester for sha2::Sha256 {
    fn update(&mut self, bytes: &[u8]) {
        sha2::Digest::update(self, bytes);
    }

    fn finish(self: Box<Self>) -> Vec<u8> {
        sha2::Digest::finalize(*self).to_vec()
    }
}

/// Every algorithm roard can add to BLAKE3.
pub const REGISTRY: &[&dyn HashAlgorithm] = &[&Sha256];

/// The algorithm called `name`; `blake3` is not here, being always computed.
pub fn by_name(name: &str) -> Option<&'static dyn HashAlgorithm> {
    REGISTRY.iter().copied().find(|a| a.name() == name)
}

/// Parses a list such as `["blake3", "sha256"]` into the extra algorithms to compute.
pub fn extra_algorithms(names: &[String]) -> Result<Vec<&'static dyn HashAlgorithm>, String> {
    let mut chosen: Vec<&'static dyn HashAlgorithm> = Vec::new();
    for name in names.iter().map(|n| n.trim().to_ascii_lowercase()) {
        if name.is_empty() || name == "blake3" {
            continue;
        }
        let algorithm = by_name(&name).ok_or_else(|| {
            let known: Vec<&str> = REGISTRY.iter().map(|a| a.name()).collect();
            format!(
                "unknown hash algorithm '{name}'; known: blake3 (always on), {}",
                known.join(", ")
            )
        })?;
        if !chosen.iter().any(|a| a.name() == algorithm.name()) {
            chosen.push(algorithm);
        }
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_standard_test_vector() {
        let mut digester = by_name("sha256").unwrap().start();
        digester.update(b"ab");
        digester.update(b"c");
        let digest = Digest {
            algorithm: "sha256",
            bytes: digester.finish(),
        };
        assert_eq!(
            digest.hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn stored_digests_read_back() {
        let digest = Digest::from_stored("sha256", "00ff").unwrap();
        assert_eq!(
            (digest.algorithm, digest.hex().as_str()),
            ("sha256", "00ff")
        );
        assert_eq!(
            Digest::from_stored("blake3", "ab").unwrap().algorithm,
            "blake3"
        );
        assert_eq!(Digest::from_stored("md5", "ab").unwrap().algorithm, "");
        assert!(Digest::from_stored("sha256", "0g").is_none());
        assert!(Digest::from_stored("sha256", "abc").is_none());
    }

    #[test]
    fn lists_are_checked() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(extra_algorithms(&names(&["blake3"])).unwrap().is_empty());
        assert_eq!(
            extra_algorithms(&names(&["SHA256", "sha256"]))
                .unwrap()
                .len(),
            1
        );
        assert!(
            extra_algorithms(&names(&["md5"]))
                .unwrap_err()
                .contains("unknown")
        );
    }
}
