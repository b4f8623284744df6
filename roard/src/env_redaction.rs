//! Secrets never reach the database: environment values whose names look like secrets
//! are replaced before the job is stored.

/// Name fragments (matched case-insensitively) that always mark a variable as secret.
pub const SECRET_NAME_PARTS: &[&str] = &[
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "KEY",
    "CREDENTIAL",
    "AUTH",
];

/// What a redacted value is stored as.
pub const REDACTED: &[u8] = b"<redacted>";

/// The built-in fragments plus the ones the user added (`roard --redact-env`).
#[derive(Debug, Clone)]
pub struct Redactor {
    parts: Vec<Vec<u8>>,
}

impl Default for Redactor {
    fn default() -> Self {
        Self::with_extra(&[])
    }
}

impl Redactor {
    pub fn with_extra(extra: &[String]) -> Self {
        let parts = SECRET_NAME_PARTS
            .iter()
            .map(|p| p.as_bytes().to_vec())
            .chain(
                extra
                    .iter()
                    .filter(|p| !p.is_empty())
                    .map(|p| p.to_ascii_uppercase().into_bytes()),
            )
            .collect();
        Self { parts }
    }

    /// True when a variable with this name must not be stored in clear.
    pub fn is_secret(&self, name: &[u8]) -> bool {
        let upper = name.to_ascii_uppercase();
        self.parts
            .iter()
            .any(|part| upper.windows(part.len()).any(|w| w == part.as_slice()))
    }

    /// The value to store for `name`.
    pub fn redact<'a>(&self, name: &[u8], value: &'a [u8]) -> &'a [u8] {
        if self.is_secret(name) {
            REDACTED
        } else {
            value
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_are_caught_case_insensitively() {
        let redactor = Redactor::default();
        for name in [
            "GITHUB_TOKEN",
            "aws_secret_access_key",
            "PgPassword",
            "X_AUTH",
        ] {
            assert!(redactor.is_secret(name.as_bytes()), "{name}");
        }
        for name in ["PATH", "HOME", "LANG"] {
            assert!(!redactor.is_secret(name.as_bytes()), "{name}");
        }
        assert_eq!(redactor.redact(b"API_KEY", b"hunter2"), REDACTED);
        assert_eq!(redactor.redact(b"PATH", b"/bin"), b"/bin");
    }

    #[test]
    fn extra_fragments_extend_the_list() {
        let redactor = Redactor::with_extra(&["dsn".to_string()]);
        assert!(redactor.is_secret(b"SENTRY_DSN"));
        assert!(redactor.is_secret(b"GITHUB_TOKEN"));
    }
}
