//! Inputs and outputs of jobs, and the artifacts (content identities) they point at.

use std::collections::HashMap;

use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use super::SqliteStore;
use super::batch::Batch;
use crate::hashing::Content;
use crate::record::{RecordedFile, Role};
use crate::store::model::FileRecord;

/// Rows per multi-row INSERT: well under SQLite's limit of 32766 bound variables.
pub(super) const ROWS_PER_STATEMENT: usize = 1000;

/// Artifact ids already seen, by BLAKE3 digest: a job that reads the same inputs as
/// an earlier one finds their ids without a query. Artifacts are never deleted, so an
/// id, once committed, stays right; only committed ids are remembered.
#[derive(Default)]
pub(super) struct ArtifactIds(std::sync::Mutex<HashMap<[u8; 32], i64>>);

/// Entries kept before the map starts over (48 bytes each, about 24 MiB at most).
const REMEMBERED_IDS: usize = 500_000;

impl ArtifactIds {
    /// The remembered ids among `contents`, and the contents still to look up.
    pub fn split<'a>(
        &self,
        contents: impl Iterator<Item = &'a Content>,
    ) -> (HashMap<[u8; 32], i64>, Vec<&'a Content>) {
        let ids = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (mut known, mut unknown) = (HashMap::new(), Vec::new());
        for content in contents {
            match ids.get(&content.blake3) {
                Some(&id) => {
                    known.insert(content.blake3, id);
                }
                None => unknown.push(content),
            }
        }
        (known, unknown)
    }

    /// Remembers ids whose rows are committed.
    pub fn remember(&self, committed: &HashMap<[u8; 32], i64>) {
        let mut ids = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if ids.len() + committed.len() > REMEMBERED_IDS {
            ids.clear();
        }
        ids.extend(committed.iter().map(|(digest, id)| (*digest, *id)));
    }
}

/// The artifact id for each distinct content, creating the missing artifacts. BLAKE3
/// is the identity lookup today; further algorithms attach more rows to the same
/// artifact. Must run inside a write transaction (ids are allocated from MAX(id)).
pub(super) async fn artifacts_for(
    conn: &mut SqliteConnection,
    contents: impl Iterator<Item = &Content>,
) -> sqlx::Result<HashMap<[u8; 32], i64>> {
    let mut wanted: HashMap<[u8; 32], u64> = HashMap::new();
    for content in contents {
        wanted.insert(content.blake3, content.size);
    }
    let digests: Vec<([u8; 32], String)> = wanted
        .keys()
        .map(|d| (*d, blake3::Hash::from_bytes(*d).to_hex().to_string()))
        .collect();
    let mut ids = HashMap::with_capacity(digests.len());
    for chunk in digests.chunks(ROWS_PER_STATEMENT) {
        let mut query = QueryBuilder::<Sqlite>::new(
            "SELECT digest, artifact_id FROM artifact_hashes WHERE algorithm = 'blake3' \
             AND digest IN (",
        );
        let mut list = query.separated(", ");
        for (_, hex) in chunk {
            list.push_bind(hex);
        }
        query.push(")");
        for row in query.build().fetch_all(&mut *conn).await? {
            let hex: String = row.try_get("digest")?;
            if let Ok(hash) = blake3::Hash::from_hex(&hex) {
                ids.insert(*hash.as_bytes(), row.try_get::<i64, _>("artifact_id")?);
            }
        }
    }
    let missing: Vec<&([u8; 32], String)> = digests
        .iter()
        .filter(|(d, _)| !ids.contains_key(d))
        .collect();
    if missing.is_empty() {
        return Ok(ids);
    }
    let mut next_id: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM artifacts")
        .fetch_one(&mut *conn)
        .await?;
    let mut fresh = Vec::with_capacity(missing.len());
    for (digest, hex) in missing {
        ids.insert(*digest, next_id);
        fresh.push((next_id, wanted[digest], hex));
        next_id += 1;
    }
    for chunk in fresh.chunks(ROWS_PER_STATEMENT) {
        let mut query = QueryBuilder::<Sqlite>::new("INSERT INTO artifacts (id, size) ");
        query.push_values(chunk, |mut row, (id, size, _)| {
            row.push_bind(*id)
                .push_bind(i64::try_from(*size).unwrap_or(i64::MAX));
        });
        query.build().execute(&mut *conn).await?;
        let mut query = QueryBuilder::<Sqlite>::new(
            "INSERT INTO artifact_hashes (artifact_id, algorithm, digest) ",
        );
        query.push_values(chunk, |mut row, (id, _, hex)| {
            row.push_bind(*id)
                .push_bind("blake3")
                .push_bind(hex.as_str());
        });
        query.build().execute(&mut *conn).await?;
    }
    Ok(ids)
}

/// Attaches the extra algorithms' digests to the artifacts. An artifact first seen
/// without them gains them here; a digest already known is left as it is.
pub(super) fn push_extra_hashes(
    batch: &mut Batch<'_>,
    files: &[RecordedFile],
    artifacts: &HashMap<[u8; 32], i64>,
) {
    let rows: Vec<(i64, &'static str, String)> = files
        .iter()
        .filter_map(|f| Some((artifacts.get(&f.content?.blake3).copied()?, &f.extra)))
        .flat_map(|(id, extra)| extra.iter().map(move |d| (id, d.algorithm, d.hex())))
        .collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        batch
            .statement("INSERT OR IGNORE INTO artifact_hashes (artifact_id, algorithm, digest) ")
            .push_values(chunk, |mut row, (id, algorithm, hex)| {
                row.push_bind(*id)
                    .push_bind(*algorithm)
                    .push_bind(hex.clone());
            });
    }
}

impl SqliteStore {
    /// A job's inputs and outputs, in recording order.
    pub(super) async fn job_files(
        &self,
        job_id: i64,
    ) -> sqlx::Result<(Vec<FileRecord>, Vec<FileRecord>)> {
        let rows = sqlx::query::<Sqlite>(
            "SELECT f.id, f.role, f.class, f.path, f.named_path, f.pre_image, f.link_target, f.hard_link_of, \
                    a.size, h.algorithm, h.digest \
             FROM job_files f \
             LEFT JOIN artifacts a ON a.id = f.artifact_id \
             LEFT JOIN artifact_hashes h ON h.artifact_id = a.id \
             WHERE f.job_id = ? ORDER BY f.id, h.algorithm",
        )
        .bind(job_id)
        .fetch_all(self.reader().await)
        .await?;
        let (mut inputs, mut outputs): (Vec<FileRecord>, Vec<FileRecord>) =
            (Vec::new(), Vec::new());
        let mut last_id = None;
        for row in &rows {
            let id: i64 = row.try_get("id")?;
            let hash = super::columns::joined_digest(row)?;
            let role = super::columns::role(row, "role")?;
            let list = if role == Some(Role::Input) {
                &mut inputs
            } else {
                &mut outputs
            };
            if last_id == Some(id) {
                if let (Some(record), Some(hash)) = (list.last_mut(), hash) {
                    record.hashes.push(hash);
                }
                continue;
            }
            last_id = Some(id);
            list.push(FileRecord {
                path: row.try_get("path")?,
                named_path: row.try_get("named_path")?,
                size: row
                    .try_get::<Option<i64>, _>("size")?
                    .map(|s| s.max(0) as u64),
                hashes: hash.into_iter().collect(),
                pre_image: row.try_get("pre_image")?,
                class: super::columns::file_class(row, "class")?,
                link_target: row.try_get("link_target")?,
                hard_link_of: row.try_get("hard_link_of")?,
            });
        }
        Ok((inputs, outputs))
    }
}
