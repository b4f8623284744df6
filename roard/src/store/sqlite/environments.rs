//! The Python environments each job ran in, and the reproductions that re-ran it.

use std::collections::HashMap;

use sqlx::{QueryBuilder, Row, Sqlite};

use super::SqliteStore;
use super::batch::Batch;
use super::jobs::{SUMMARY_COLUMNS, summary_from_row};
use crate::python_env::{EnvironmentKind, PythonEnvironment};
use crate::store::model::{JobState, Reproduction};

/// Adds the job's environments to `batch`.
pub(super) fn push_job_environments<'a>(
    batch: &mut Batch<'a>,
    job_id: i64,
    environments: &'a [PythonEnvironment],
) {
    if environments.is_empty() {
        return;
    }
    batch
        .statement("INSERT INTO job_environments (job_id, kind, root, interpreter, version) ")
        .push_values(environments, |mut row, env| {
            row.push_bind(job_id)
                .push_bind(env.kind.map_or("", EnvironmentKind::name))
                .push_bind(env.root.as_slice())
                .push_bind(env.interpreter.as_slice())
                .push_bind(&env.version);
        });
}

impl SqliteStore {
    /// The environments of each of these jobs.
    pub(super) async fn environments_of_jobs(
        &self,
        ids: &[i64],
    ) -> sqlx::Result<HashMap<i64, Vec<PythonEnvironment>>> {
        let mut found: HashMap<i64, Vec<PythonEnvironment>> = HashMap::new();
        for chunk in ids.chunks(500) {
            let mut query = QueryBuilder::<Sqlite>::new(
                "SELECT job_id, kind, root, interpreter, version FROM job_environments \
                 WHERE job_id IN (",
            );
            let mut list = query.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            list.push_unseparated(") ORDER BY job_id, rowid");
            for row in query.build().fetch_all(self.reader().await).await? {
                found
                    .entry(row.try_get("job_id")?)
                    .or_default()
                    .push(PythonEnvironment {
                        kind: super::columns::environment_kind(&row, "kind")?,
                        root: row.try_get("root")?,
                        interpreter: row.try_get("interpreter")?,
                        version: row.try_get("version")?,
                    });
            }
        }
        Ok(found)
    }

    /// Re-runs of each of these jobs (by uid) by `roarctl reproduce`, oldest first; a
    /// re-run is identical when it wrote exactly the contents the job wrote.
    pub(super) async fn reproductions_of(
        &self,
        uids: &[&str],
    ) -> sqlx::Result<HashMap<String, Vec<Reproduction>>> {
        let mut found: HashMap<String, Vec<Reproduction>> = HashMap::new();
        for chunk in uids.chunks(500) {
            let mut query = QueryBuilder::<Sqlite>::new(format!(
                "SELECT {SUMMARY_COLUMNS}, \
                   (SELECT group_concat(artifact_id) FROM (SELECT DISTINCT artifact_id \
                      FROM job_files WHERE job_id = r.id AND role = 'output' \
                      AND class = 'artifact' AND artifact_id IS NOT NULL \
                      ORDER BY artifact_id)) AS reproduced, \
                   (SELECT group_concat(artifact_id) FROM (SELECT DISTINCT f.artifact_id \
                      FROM job_files f JOIN jobs o ON o.id = f.job_id \
                      WHERE o.uid = r.reproduces_job AND f.role = 'output' \
                      AND f.class = 'artifact' AND f.artifact_id IS NOT NULL \
                      ORDER BY f.artifact_id)) AS recorded \
                 FROM jobs r WHERE r.reproduces_job IN ("
            ));
            let mut list = query.separated(", ");
            for uid in chunk {
                list.push_bind(*uid);
            }
            list.push_unseparated(") ORDER BY r.started_at_ms, r.id");
            for row in query.build().fetch_all(self.reader().await).await? {
                let summary = summary_from_row(&row)?;
                let reproduced: Option<String> = row.try_get("reproduced")?;
                let recorded: Option<String> = row.try_get("recorded")?;
                let finished = summary.state == Some(JobState::Finished) && summary.placed;
                found
                    .entry(summary.reproduces_job.clone().unwrap_or_default())
                    .or_default()
                    .push(Reproduction {
                        identical: finished && reproduced == recorded,
                        job: summary,
                    });
            }
        }
        Ok(found)
    }
}
