//! Secrets never reach the database: environment values whose names look like secrets
//! are replaced before the job is stored.

/// Name fragments (matched case-insensitively) that mark a variable as secret.
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

/// True when a variable with this name must not be stored in clear.
pub fn is_secret(name: &[u8]) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_NAME_PARTS
        .iter()
        .any(|part| upper.windows(part.len()).any(|w| w == part.as_bytes()))
}

/// Returns the value to store for `name`.
pub fn redact<'a>(name: &[u8], value: &'a [u8]) -> &'a [u8] {
    if is_secret(name) { REDACTED } else { value }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_are_caught_case_insensitively() {
        for name in [
            "GITHUB_TOKEN",
            "aws_secret_access_key",
            "PgPassword",
            "X_AUTH",
        ] {
            assert!(is_secret(name.as_bytes()), "{name}");
        }
        for name in ["PATH", "HOME", "LANG"] {
            assert!(!is_secret(name.as_bytes()), "{name}");
        }
        assert_eq!(redact(b"API_KEY", b"hunter2"), REDACTED);
        assert_eq!(redact(b"PATH", b"/bin"), b"/bin");
    }
}
