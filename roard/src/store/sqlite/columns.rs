//! Columns that hold a protocol enum by its name (`"finished"`, `"artifact"`): the
//! database keeps the words, the messages the values (see `roar_proto::vocabulary`).

use roar_proto::pb;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

/// The value of a column holding an enum's name; a name this build does not know (a
/// newer roard wrote it) reads as unspecified rather than failing the whole read.
fn named<T: Into<i32>>(
    row: &SqliteRow,
    column: &str,
    from_name: fn(&str) -> Option<T>,
) -> sqlx::Result<i32> {
    let name: String = row.try_get(column)?;
    Ok(from_name(&name).map_or(0, Into::into))
}

pub(super) fn job_kind(row: &SqliteRow, column: &str) -> sqlx::Result<i32> {
    named(row, column, pb::JobKind::from_name)
}

pub(super) fn job_state(row: &SqliteRow, column: &str) -> sqlx::Result<i32> {
    named(row, column, pb::JobState::from_name)
}

pub(super) fn file_class(row: &SqliteRow, column: &str) -> sqlx::Result<i32> {
    named(row, column, pb::FileClass::from_name)
}

pub(super) fn role(row: &SqliteRow, column: &str) -> sqlx::Result<i32> {
    named(row, column, pb::Role::from_name)
}

pub(super) fn environment_kind(row: &SqliteRow, column: &str) -> sqlx::Result<i32> {
    named(row, column, pb::EnvironmentKind::from_name)
}

/// A digest from its `algorithm` and `digest` columns.
pub(super) fn digest(row: &SqliteRow) -> sqlx::Result<pb::Digest> {
    Ok(pb::Digest {
        algorithm: named(row, "algorithm", pb::HashAlgorithm::from_name)?,
        hex: row.try_get("digest")?,
    })
}

/// A digest from a left join of the hashes: None where the join found no hash row (a
/// file that is not hashed).
pub(super) fn joined_digest(row: &SqliteRow) -> sqlx::Result<Option<pb::Digest>> {
    let (Some(algorithm), Some(hex)) = (
        row.try_get::<Option<String>, _>("algorithm")?,
        row.try_get::<Option<String>, _>("digest")?,
    ) else {
        return Ok(None);
    };
    let algorithm = pb::HashAlgorithm::from_name(&algorithm).map_or(0, Into::into);
    Ok(Some(pb::Digest { algorithm, hex }))
}
