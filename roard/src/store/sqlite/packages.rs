//! The packages each job used: stored once per (ecosystem, name, version), linked to
//! every job that used them.

use std::borrow::Cow;

use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::SqliteStore;
use super::batch::Batch;
use crate::packages::Package;

/// Rows per multi-row statement (three bound values each).
const ROWS_PER_STATEMENT: usize = 1000;

/// Adds to `batch` what links `packages` to the job, creating the ones not seen before.
pub(super) fn push_job_packages<'a>(batch: &mut Batch<'a>, job_id: i64, packages: &'a [Package]) {
    for chunk in packages.chunks(ROWS_PER_STATEMENT) {
        batch
            .statement("INSERT OR IGNORE INTO packages (ecosystem, name, version) ")
            .push_values(chunk, |mut row, package| {
                row.push_bind(package.ecosystem.as_ref())
                    .push_bind(&package.name)
                    .push_bind(&package.version);
            });
        let query =
            batch.statement("INSERT OR IGNORE INTO job_packages (job_id, package_id) SELECT ");
        query.push_bind(job_id);
        query.push(", id FROM packages WHERE (ecosystem, name, version) IN (VALUES ");
        let mut first = true;
        for package in chunk {
            if !first {
                query.push(", ");
            }
            first = false;
            query
                .push("(")
                .push_bind(package.ecosystem.as_ref())
                .push(", ")
                .push_bind(&package.name)
                .push(", ")
                .push_bind(&package.version)
                .push(")");
        }
        query.push(")");
    }
}

impl SqliteStore {
    /// The packages each of these jobs used.
    pub(super) async fn packages_of_jobs(
        &self,
        ids: &[i64],
    ) -> sqlx::Result<std::collections::HashMap<i64, Vec<Package>>> {
        let mut found: std::collections::HashMap<i64, Vec<Package>> = Default::default();
        for chunk in ids.chunks(500) {
            let mut query = QueryBuilder::<Sqlite>::new(
                "SELECT j.job_id, p.ecosystem, p.name, p.version FROM job_packages j \
                 JOIN packages p ON p.id = j.package_id WHERE j.job_id IN (",
            );
            let mut list = query.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            list.push_unseparated(") ORDER BY p.ecosystem, p.name, p.version");
            for row in query.build().fetch_all(self.reader().await).await? {
                found
                    .entry(row.try_get("job_id")?)
                    .or_default()
                    .push(package_from_row(&row)?);
            }
        }
        Ok(found)
    }

    /// The packages a job used, sorted by ecosystem and name.
    pub(super) async fn job_packages(&self, job_id: i64) -> sqlx::Result<Vec<Package>> {
        sqlx::query(
            "SELECT p.ecosystem, p.name, p.version FROM job_packages j \
             JOIN packages p ON p.id = j.package_id \
             WHERE j.job_id = ? ORDER BY p.ecosystem, p.name, p.version",
        )
        .bind(job_id)
        .fetch_all(self.reader().await)
        .await?
        .iter()
        .map(package_from_row)
        .collect()
    }
}

fn package_from_row(row: &SqliteRow) -> sqlx::Result<Package> {
    Ok(Package {
        ecosystem: Cow::Owned(row.try_get("ecosystem")?),
        name: row.try_get("name")?,
        version: row.try_get("version")?,
    })
}
