//! Lineage from content: job B depends on job A when B read an artifact whose content A
//! wrote, at whatever path (renames and copies keep the lineage). Walks go level by
//! level, one indexed query per level, so their cost follows the size of the answer,
//! not of the database.

use super::transfers::Transfer;
use std::collections::HashMap;

use roar_proto::graph::{self, JobPlace};
use sqlx::{QueryBuilder, Row, Sqlite};

use super::SqliteStore;
use super::jobs::{SUMMARY_COLUMNS, summary_from_row};
use crate::record::Role;
use crate::store::LineageStore;
use crate::store::error::StoreError;
use crate::store::input::Start;
use crate::store::model::{FileRef, GraphArtifact, JobNode};

/// Ids per `IN (…)` list.
pub(super) const IDS_PER_QUERY: usize = 500;

/// Where a job ran and when it started, owned (see `roar_proto::graph::JobPlace`).
#[derive(Debug, Clone)]
struct Place {
    project: Vec<u8>,
    session_id: u64,
    reproduction: bool,
    started_at_ms: i64,
}

impl Place {
    fn view(&self) -> JobPlace<'_> {
        JobPlace {
            project: &self.project,
            session_id: self.session_id,
            reproduction: self.reproduction,
            started_at_ms: self.started_at_ms,
        }
    }

    fn from_row(row: &sqlx::sqlite::SqliteRow) -> sqlx::Result<Self> {
        Ok(Self {
            project: row.try_get("project")?,
            session_id: row.try_get::<i64, _>("session_id")?.max(0) as u64,
            reproduction: row.try_get::<Option<String>, _>("reproduces")?.is_some(),
            started_at_ms: row.try_get("started_at_ms")?,
        })
    }
}

/// One job's use of an artifact, as stored.
#[derive(Debug, Clone)]
struct Use {
    job_id: i64,
    artifact_id: i64,
    place: Place,
}

/// The jobs one level further: upstream, the producer of each artifact for the job
/// that read it (the producer rule); downstream, the readers each writer's artifact
/// reached.
fn next_level(frontier: &[(i64, Place)], uses: &[Use], downstream: bool) -> Vec<i64> {
    let mut next = Vec::new();
    for (artifact, other) in frontier {
        let candidates = uses.iter().filter(|u| u.artifact_id == *artifact);
        if downstream {
            next.extend(
                candidates
                    .filter(|u| graph::reads_from(&u.place.view(), &other.view()))
                    .map(|u| u.job_id),
            );
        } else {
            let writers = candidates.map(|u| (u.job_id, u.place.view()));
            next.extend(graph::producer(&other.view(), writers));
        }
    }
    next
}

impl SqliteStore {
    /// Who wrote (`role` "output") or read ("input") these artifacts.
    async fn uses_of(&self, artifacts: &[i64], role: &str) -> sqlx::Result<Vec<Use>> {
        let mut uses = Vec::new();
        for chunk in artifacts.chunks(IDS_PER_QUERY) {
            let mut query = QueryBuilder::<Sqlite>::new(
                "SELECT DISTINCT f.job_id, f.artifact_id, j.started_at_ms, j.project, \
                 j.session_id, j.reproduces FROM job_files f \
                 JOIN jobs j ON j.id = f.job_id WHERE j.placed = 1 AND f.role = ",
            );
            query.push_bind(role.to_string());
            query.push(" AND f.artifact_id IN (");
            push_ids(&mut query, chunk);
            for row in query.build().fetch_all(self.reader().await).await? {
                uses.push(Use {
                    job_id: row.try_get("job_id")?,
                    artifact_id: row.try_get("artifact_id")?,
                    place: Place::from_row(&row)?,
                });
            }
        }
        Ok(uses)
    }

    /// The artifacts these jobs read (`role` "input") or wrote ("output") as data,
    /// each with where and when the job ran, which decides the next step of a walk.
    async fn frontier_of(&self, jobs: &[i64], role: &str) -> sqlx::Result<Vec<(i64, Place)>> {
        let mut frontier = Vec::new();
        for chunk in jobs.chunks(IDS_PER_QUERY) {
            let mut query = QueryBuilder::<Sqlite>::new(
                "SELECT DISTINCT f.artifact_id, j.started_at_ms, j.project, j.session_id, \
                 j.reproduces FROM job_files f \
                 JOIN jobs j ON j.id = f.job_id WHERE f.artifact_id IS NOT NULL \
                 AND f.class IN ('artifact', 'repo') AND f.role = ",
            );
            query.push_bind(role.to_string());
            query.push(" AND f.job_id IN (");
            push_ids(&mut query, chunk);
            for row in query.build().fetch_all(self.reader().await).await? {
                frontier.push((row.try_get("artifact_id")?, Place::from_row(&row)?));
            }
        }
        Ok(frontier)
    }
}

/// `id, id, …)` closing an `IN (` list.
pub(super) fn push_ids(query: &mut QueryBuilder<'_, Sqlite>, ids: &[i64]) {
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    list.push_unseparated(")");
}

#[tonic::async_trait]
impl LineageStore for SqliteStore {
    /// The jobs upstream (or downstream) of `start`, up to `depth` job levels (0: no
    /// limit), with every artifact they read or wrote and the edges between them.
    async fn lineage(
        &self,
        start: Start,
        downstream: bool,
        depth: u32,
    ) -> Result<Vec<JobNode>, StoreError> {
        let mut depths: HashMap<i64, u32> = HashMap::new();
        // (artifact, the job on the other side): upstream, the reader whose producer
        // is wanted; downstream, the writer whose readers are.
        let mut frontier: Vec<(i64, Place)> = Vec::new();
        let mut roots = Vec::new();
        match &start {
            Start::Artifact {
                id,
                project,
                session_id,
            } => {
                let asker = JobPlace::asking_now(project, *session_id);
                let started_at_ms = if downstream { i64::MIN } else { i64::MAX };
                frontier.push((
                    *id,
                    Place {
                        project: asker.project.to_vec(),
                        session_id: asker.session_id,
                        reproduction: false,
                        started_at_ms,
                    },
                ));
                roots.push(*id);
            }
            Start::Job(id) => {
                depths.insert(*id, 0);
                let role = if downstream { "output" } else { "input" };
                frontier = self.frontier_of(&[*id], role).await?;
            }
        }
        let mut level = 1;
        while !frontier.is_empty() && (depth == 0 || level <= depth) {
            let artifacts: Vec<i64> = frontier.iter().map(|(a, _)| *a).collect();
            let role = if downstream { "input" } else { "output" };
            let uses = self.uses_of(&artifacts, role).await?;
            let mut fresh = Vec::new();
            for job in next_level(&frontier, &uses, downstream) {
                if let std::collections::hash_map::Entry::Vacant(e) = depths.entry(job) {
                    e.insert(level);
                    fresh.push(job);
                }
            }
            let role = if downstream { "output" } else { "input" };
            frontier = self.frontier_of(&fresh, role).await?;
            level += 1;
        }
        let ids: Vec<i64> = depths.keys().copied().collect();
        let mut nodes = self.job_nodes(&ids).await?;
        for node in &mut nodes {
            node.depth = depths.get(&node.id).copied().unwrap_or(0);
        }
        nodes.sort_by_key(|n| (n.summary.started_at_ms, n.id));
        Ok(nodes)
    }

    /// Jobs by id with their data files (artifacts and repository files that carry
    /// content), in no particular order.
    async fn job_nodes(&self, ids: &[i64]) -> Result<Vec<JobNode>, StoreError> {
        let mut nodes: HashMap<i64, JobNode> = HashMap::new();
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let mut query = QueryBuilder::<Sqlite>::new(format!(
                "SELECT {SUMMARY_COLUMNS} FROM jobs WHERE id IN ("
            ));
            push_ids(&mut query, chunk);
            for row in query.build().fetch_all(self.reader().await).await? {
                let id: i64 = row.try_get("id")?;
                nodes.insert(id, JobNode::new(id, summary_from_row(&row)?));
            }
            let mut query = QueryBuilder::<Sqlite>::new(
                "SELECT job_id, role, path, artifact_id, pre_image FROM job_files \
                 WHERE artifact_id IS NOT NULL AND class IN ('artifact', 'repo') AND job_id IN (",
            );
            push_ids(&mut query, chunk);
            query.push(" ORDER BY id");
            for row in query.build().fetch_all(self.reader().await).await? {
                let Some(node) = nodes.get_mut(&row.try_get::<i64, _>("job_id")?) else {
                    continue;
                };
                let file = FileRef {
                    artifact_id: row.try_get::<i64, _>("artifact_id")?.max(0) as u64,
                    path: row.try_get("path")?,
                    pre_image: row.try_get("pre_image")?,
                };
                if super::columns::role(&row, "role")? == Some(Role::Input) {
                    node.inputs.push(file);
                } else {
                    node.outputs.push(file);
                }
            }
        }
        let mut packages = self.packages_of_jobs(ids).await?;
        let mut environments = self.environments_of_jobs(ids).await?;
        let uids: Vec<&str> = nodes.values().map(|n| n.summary.uid.as_str()).collect();
        let mut reproductions = self.reproductions_of(&uids).await?;
        for (id, node) in &mut nodes {
            node.packages = packages.remove(id).unwrap_or_default();
            node.environments = environments.remove(id).unwrap_or_default();
            node.reproductions = reproductions.remove(&node.summary.uid).unwrap_or_default();
        }
        Ok(nodes.into_values().collect())
    }

    /// Artifacts with their sizes and hashes.
    async fn graph_artifacts(&self, ids: &[i64]) -> Result<Vec<GraphArtifact>, StoreError> {
        let mut artifacts: HashMap<i64, GraphArtifact> = HashMap::new();
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let mut query = QueryBuilder::<Sqlite>::new(
                "SELECT a.id, a.size, h.algorithm, h.digest FROM artifacts a \
                 JOIN artifact_hashes h ON h.artifact_id = a.id WHERE a.id IN (",
            );
            push_ids(&mut query, chunk);
            query.push(" ORDER BY a.id, h.algorithm");
            for row in query.build().fetch_all(self.reader().await).await? {
                let id: i64 = row.try_get("id")?;
                let artifact = artifacts.entry(id).or_insert_with(|| GraphArtifact {
                    id: id.max(0) as u64,
                    size: row.try_get::<i64, _>("size").unwrap_or(0).max(0) as u64,
                    hashes: Vec::new(),
                    origins: Vec::new(),
                    uploaded_to: Vec::new(),
                });
                artifact.hashes.extend(super::columns::digest(&row)?);
            }
        }
        for (id, urls) in self.transfer_urls(Transfer::Download, ids).await? {
            if let Some(artifact) = artifacts.get_mut(&id) {
                artifact.origins = urls;
            }
        }
        for (id, urls) in self.transfer_urls(Transfer::Upload, ids).await? {
            if let Some(artifact) = artifacts.get_mut(&id) {
                artifact.uploaded_to = urls;
            }
        }
        let mut list: Vec<GraphArtifact> = artifacts.into_values().collect();
        list.sort_by_key(|a| a.id);
        Ok(list)
    }

    /// The repository files (class `repo`) each of these jobs read, hashed or not.
    async fn repo_inputs(&self, ids: &[i64]) -> Result<HashMap<i64, Vec<Vec<u8>>>, StoreError> {
        let mut found: HashMap<i64, Vec<Vec<u8>>> = HashMap::new();
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let mut query = QueryBuilder::<Sqlite>::new(
                "SELECT job_id, path FROM job_files WHERE class = 'repo' AND role = 'input' \
                 AND job_id IN (",
            );
            push_ids(&mut query, chunk);
            query.push(" ORDER BY id");
            for row in query.build().fetch_all(self.reader().await).await? {
                found
                    .entry(row.try_get("job_id")?)
                    .or_default()
                    .push(row.try_get("path")?);
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(project: &str, session_id: u64, started_at_ms: i64) -> Place {
        Place {
            project: project.as_bytes().to_vec(),
            session_id,
            reproduction: false,
            started_at_ms,
        }
    }

    fn writes(job_id: i64, artifact_id: i64, place: Place) -> Use {
        Use {
            job_id,
            artifact_id,
            place,
        }
    }

    #[test]
    fn a_walk_upstream_takes_the_producer_the_rule_chooses() {
        // Artifact 7 was written by job 1 in another project, by job 2 in the reader's
        // project before the reader started, and by job 3 after it: job 2 made what
        // the reader read.
        let reader = place("/p", 1, 100);
        let uses = [
            writes(1, 7, place("/other", 9, 50)),
            writes(2, 7, place("/p", 1, 60)),
            writes(3, 7, place("/p", 1, 150)),
            writes(4, 8, place("/p", 1, 10)),
        ];
        assert_eq!(next_level(&[(7, reader)], &uses, false), [2]);
    }

    #[test]
    fn a_walk_downstream_reaches_the_readers_of_what_was_written() {
        // Job 5 wrote artifact 7 at 100: readers that started later read it; one that
        // started before could not have.
        let writer = place("/p", 1, 100);
        let uses = [
            writes(10, 7, place("/p", 1, 200)),
            writes(11, 7, place("/p", 1, 50)),
            writes(12, 8, place("/p", 1, 300)),
        ];
        assert_eq!(next_level(&[(7, writer)], &uses, true), [10]);
    }
}
