//! The names of the protocol's enums as JSON, the databases and messages spell them
//! (`"run"`, `"finished"`, `"artifact"`, `"input"`, `"blake3"`), and small lookups on
//! the generated messages, so that neither binary compares strings for meaning.

use crate::pb;

/// `name()` and `from_name()` for a generated enum; `Unspecified` is named "".
macro_rules! names {
    ($ty:ty { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            /// The name used in JSON output, the databases and messages.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                    Self::Unspecified => "",
                }
            }

            /// The value a name stands for; None for a name this build does not know.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(Self::$variant),)*
                    _ => None,
                }
            }

            /// Every value but `Unspecified`.
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];
        }
    };
}

names!(pb::JobKind { Run => "run", Build => "build" });
names!(pb::JobState { Running => "running", Finished => "finished", Interrupted => "interrupted" });
names!(pb::FileClass {
    Artifact => "artifact",
    Repo => "repo",
    Package => "package",
    System => "system",
    Tmp => "tmp",
    Vcs => "vcs",
});
names!(pb::Role { Input => "input", Output => "output" });
names!(pb::HashAlgorithm { Blake3 => "blake3", Sha256 => "sha256" });
names!(pb::EnvironmentKind { Venv => "venv", Conda => "conda", System => "system" });
names!(pb::GapKind {
    UndecodedSyscalls => "undecoded_syscalls",
    ExecWithoutPath => "exec_without_path",
    OpenByHandle => "open_by_handle",
    IoUring => "io_uring",
    ForeignNamespace => "foreign_namespace",
});

impl pb::FileClass {
    /// Data: what `roarctl run` lists and `show` shows without `--all`.
    pub fn is_data(self) -> bool {
        matches!(self, Self::Artifact | Self::Repo)
    }
}

impl pb::JobKind {
    /// A job kind as sent: unspecified means a pipeline step.
    pub fn or_run(self) -> Self {
        match self {
            Self::Unspecified => Self::Run,
            kind => kind,
        }
    }
}

/// The hex digest of `algorithm` among `hashes`.
pub fn digest(hashes: &[pb::Digest], algorithm: pb::HashAlgorithm) -> Option<&str> {
    hashes
        .iter()
        .find(|d| d.algorithm() == algorithm)
        .map(|d| d.hex.as_str())
}

/// The BLAKE3 hex digest among `hashes`: the content's identity.
pub fn blake3(hashes: &[pb::Digest]) -> Option<&str> {
    digest(hashes, pb::HashAlgorithm::Blake3)
}

impl pb::Digest {
    pub fn new(algorithm: pb::HashAlgorithm, hex: String) -> Self {
        Self {
            algorithm: algorithm.into(),
            hex,
        }
    }

    /// The algorithm's name (`"blake3"`), or "" for one this build does not know.
    pub fn algorithm_name(&self) -> &'static str {
        self.algorithm().name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in pb::JobKind::ALL {
            assert_eq!(pb::JobKind::from_name(kind.name()), Some(*kind));
        }
        for class in pb::FileClass::ALL {
            assert_eq!(pb::FileClass::from_name(class.name()), Some(*class));
        }
        for algorithm in pb::HashAlgorithm::ALL {
            assert_eq!(
                pb::HashAlgorithm::from_name(algorithm.name()),
                Some(*algorithm)
            );
        }
        assert_eq!(pb::Role::from_name("pre-image"), None);
        assert_eq!(pb::JobState::Unspecified.name(), "");
    }

    #[test]
    fn digests_are_found_by_algorithm() {
        let hashes = [
            pb::Digest::new(pb::HashAlgorithm::Sha256, "9f86".into()),
            pb::Digest::new(pb::HashAlgorithm::Blake3, "af13".into()),
        ];
        assert_eq!(blake3(&hashes), Some("af13"));
        assert_eq!(digest(&hashes, pb::HashAlgorithm::Sha256), Some("9f86"));
        assert_eq!(blake3(&hashes[..1]), None);
    }
}
