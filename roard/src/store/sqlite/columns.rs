//! Columns that hold an enum by its name (`"finished"`, `"artifact"`): the database
//! keeps the words, the model the daemon's own enums (each with `name`/`from_name`).

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::classify::Class;
use crate::hash_algorithms::Digest;
use crate::python_env::EnvironmentKind;
use crate::record::{GapKind, Role};
use crate::store::input::JobKind;
use crate::store::model::JobState;

/// The value of a column holding an enum's name; a name this build does not know (a
/// newer roard wrote it) reads as None rather than failing the whole read.
fn named<T>(
    row: &SqliteRow,
    column: &str,
    from_name: fn(&str) -> Option<T>,
) -> sqlx::Result<Option<T>> {
    let name: String = row.try_get(column)?;
    Ok(from_name(&name))
}

pub(super) fn job_kind(row: &SqliteRow, column: &str) -> sqlx::Result<Option<JobKind>> {
    named(row, column, JobKind::from_name)
}

pub(super) fn job_state(row: &SqliteRow, column: &str) -> sqlx::Result<Option<JobState>> {
    named(row, column, JobState::from_name)
}

pub(super) fn file_class(row: &SqliteRow, column: &str) -> sqlx::Result<Option<Class>> {
    named(row, column, Class::from_name)
}

pub(super) fn role(row: &SqliteRow, column: &str) -> sqlx::Result<Option<Role>> {
    named(row, column, Role::from_name)
}

pub(super) fn environment_kind(
    row: &SqliteRow,
    column: &str,
) -> sqlx::Result<Option<EnvironmentKind>> {
    named(row, column, EnvironmentKind::from_name)
}

pub(super) fn gap_kind(row: &SqliteRow, column: &str) -> sqlx::Result<Option<GapKind>> {
    named(row, column, GapKind::from_name)
}

/// A digest from its `algorithm` and `digest` columns; None when the digits are not
/// hex (roard never writes such a row).
pub(super) fn digest(row: &SqliteRow) -> sqlx::Result<Option<Digest>> {
    let (algorithm, hex): (String, String) = (row.try_get("algorithm")?, row.try_get("digest")?);
    Ok(Digest::from_stored(&algorithm, &hex))
}

/// A digest from a left join of the hashes: None where the join found no hash row (a
/// file that is not hashed).
pub(super) fn joined_digest(row: &SqliteRow) -> sqlx::Result<Option<Digest>> {
    let (Some(algorithm), Some(hex)) = (
        row.try_get::<Option<String>, _>("algorithm")?,
        row.try_get::<Option<String>, _>("digest")?,
    ) else {
        return Ok(None);
    };
    Ok(Digest::from_stored(&algorithm, &hex))
}
