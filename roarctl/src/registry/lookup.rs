//! Reading the registry back: an artifact by any hash prefix, and lineage walks (level
//! by level, as in the local store) returned as the same `Graph` messages, so `show`,
//! `lineage` and `reproduce` render registry answers exactly like local ones.

use std::collections::{BTreeMap, HashMap};

use anyhow::bail;
use std::os::unix::ffi::OsStringExt;

use roar_proto::graph;
use roar_proto::pb;
use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};

pub struct Registry {
    pub pool: PgPool,
}

const JOB_COLUMNS: &str = "id, uid, project, kind, step, argv, cwd, started_at_ms, ended_at_ms, \
     exit_code, exit_signal, state, git_repository, git_root, git_branch, git_commit, \
     git_dirty_count";

/// A registry column holding an enum's name (`"finished"`), as the protocol's value;
/// a name this build does not know reads as unspecified.
fn named<T: Into<i32>>(
    row: &PgRow,
    column: &str,
    from_name: fn(&str) -> Option<T>,
) -> Result<i32, sqlx::Error> {
    let name: String = row.try_get(column)?;
    Ok(from_name(&name).map_or(0, Into::into))
}

fn summary(row: &PgRow) -> Result<pb::JobSummary, sqlx::Error> {
    let code: Option<i32> = row.try_get("exit_code")?;
    let signal: Option<i32> = row.try_get("exit_signal")?;
    let status = match (code, signal) {
        (Some(c), _) => Some(pb::exit_status::Status::Code(c)),
        (None, Some(s)) => Some(pb::exit_status::Status::Signal(s)),
        _ => None,
    };
    let argv: Vec<u8> = row.try_get("argv")?;
    let git = match row.try_get::<Option<String>, _>("git_repository")? {
        Some(repository) => Some(pb::GitContext {
            repository,
            root: row
                .try_get::<Option<Vec<u8>>, _>("git_root")?
                .unwrap_or_default(),
            branch: row
                .try_get::<Option<String>, _>("git_branch")?
                .unwrap_or_default(),
            commit: row
                .try_get::<Option<String>, _>("git_commit")?
                .unwrap_or_default(),
            dirty_count: row
                .try_get::<Option<i32>, _>("git_dirty_count")?
                .map_or(0, |n| n.max(0) as u32),
            dirty_paths: Vec::new(),
        }),
        None => None,
    };
    Ok(pb::JobSummary {
        uid: row.try_get("uid")?,
        project: row.try_get("project")?,
        step: row.try_get::<i32, _>("step")?.max(0) as u32,
        argv: argv.split(|b| *b == 0).map(<[u8]>::to_vec).collect(),
        cwd: row.try_get("cwd")?,
        started_at_ms: row.try_get("started_at_ms")?,
        ended_at_ms: row.try_get("ended_at_ms")?,
        exit: status.map(|s| pb::ExitStatus { status: Some(s) }),
        state: named(row, "state", pb::JobState::from_name)?,
        lingering_processes: 0,
        kind: named(row, "kind", pb::JobKind::from_name)?,
        session_id: 0,
        git,
        // The registry keeps placed jobs of ordinary sessions only.
        placed: true,
        reproduces: String::new(),
        reproduces_job: String::new(),
        commit_made: String::new(),
    })
}

/// A registry job as the producer rule sees it: no session, never a reproduction.
fn place(project: &[u8], started_at_ms: i64) -> graph::JobPlace<'_> {
    graph::JobPlace {
        project,
        session_id: 0,
        reproduction: false,
        started_at_ms,
    }
}

impl Registry {
    /// The one artifact whose hash (of any algorithm, or of `algorithm:`) starts with
    /// the prefix.
    pub async fn artifact_id(&self, text: &str) -> anyhow::Result<i64> {
        let (algorithm, hex) = match text.split_once(':') {
            Some((a, h)) => (Some(a.to_string()), h.to_ascii_lowercase()),
            None => (None, text.to_ascii_lowercase()),
        };
        if hex.len() < 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!(
                "'{text}' is not a hash prefix: give at least 8 hex digits, optionally after 'blake3:' or 'sha256:'"
            );
        }
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT artifact_id FROM artifact_hashes \
             WHERE digest LIKE $1 || '%' AND ($2::text IS NULL OR algorithm = $2) LIMIT 2",
        )
        .bind(&hex)
        .bind(algorithm)
        .fetch_all(&self.pool)
        .await?;
        match ids.as_slice() {
            [] => bail!("no artifact in the registry matches '{text}'"),
            [id] => Ok(*id),
            _ => bail!("'{text}' matches several artifacts in the registry; give more digits"),
        }
    }

    /// An artifact with its hashes, origins and every registered job that used it.
    pub async fn artifact(&self, id: i64) -> anyhow::Result<pb::Artifact> {
        let size: i64 = sqlx::query_scalar("SELECT size FROM artifacts WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        let hashes = self.hashes(&[id]).await?.remove(&id).unwrap_or_default();
        let columns: String = JOB_COLUMNS
            .split(", ")
            .map(|c| format!("j.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let uses = sqlx::query(&format!(
            "SELECT f.role, f.path AS file_path, f.pre_image, {columns} FROM job_files f \
             JOIN jobs j ON j.id = f.job_id WHERE f.artifact_id = $1 \
             ORDER BY j.started_at_ms LIMIT 1000"
        ))
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(pb::ArtifactUse {
                role: named(row, "role", pb::Role::from_name)?,
                path: row.try_get("file_path")?,
                pre_image: row.try_get("pre_image")?,
                job: Some(summary(row)?),
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let downloaded_from =
            sqlx::query_scalar("SELECT url FROM origins WHERE artifact_id = $1 ORDER BY url")
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
        Ok(pb::Artifact {
            size: size.max(0) as u64,
            hashes,
            uses,
            downloaded_from,
            uploaded_to: Vec::new(),
            repo_file: None,
            // The registry keeps no labels yet (README, "Labels").
            labels: Vec::new(),
            policy_overrides: Vec::new(),
        })
    }

    /// The jobs upstream (or downstream) of an artifact, up to `depth` levels (0: all).
    /// Producers are chosen by `roar_proto::graph::producer` for someone asking from
    /// the project of the current directory (the registry keeps no sessions).
    pub async fn lineage(
        &self,
        root: i64,
        downstream: bool,
        depth: u32,
    ) -> anyhow::Result<pb::Graph> {
        let here = std::env::current_dir().unwrap_or_default();
        let asker = roar_proto::project::project_root(&here)
            .into_os_string()
            .into_vec();
        let mut depths: HashMap<i64, u32> = HashMap::new();
        // (artifact, the other job's project and start): the reader upstream, the
        // writer downstream.
        let start = if downstream { i64::MIN } else { i64::MAX };
        let mut frontier: Vec<(i64, Vec<u8>, i64)> = vec![(root, asker, start)];
        let mut level = 1;
        while !frontier.is_empty() && (depth == 0 || level <= depth) {
            let artifacts: Vec<i64> = frontier.iter().map(|f| f.0).collect();
            let role = if downstream { "input" } else { "output" };
            let uses: Vec<(i64, i64, i64, Vec<u8>)> = sqlx::query_as(
                "SELECT DISTINCT f.job_id, f.artifact_id, j.started_at_ms, j.project \
                 FROM job_files f JOIN jobs j ON j.id = f.job_id \
                 WHERE f.role = $1 AND f.artifact_id = ANY($2)",
            )
            .bind(role)
            .bind(&artifacts)
            .fetch_all(&self.pool)
            .await?;
            let mut fresh = Vec::new();
            for (artifact, project, bound) in &frontier {
                let other = place(project, *bound);
                let candidates = uses.iter().filter(|u| u.1 == *artifact);
                let chosen: Vec<i64> = if downstream {
                    candidates.filter(|u| u.2 > *bound).map(|u| u.0).collect()
                } else {
                    let writers = candidates.map(|u| (u.0, place(&u.3, u.2)));
                    graph::producer(&other, writers).into_iter().collect()
                };
                for job in chosen {
                    if let std::collections::hash_map::Entry::Vacant(e) = depths.entry(job) {
                        e.insert(level);
                        fresh.push(job);
                    }
                }
            }
            let next_role = if downstream { "output" } else { "input" };
            frontier = sqlx::query_as::<_, (i64, i64, Vec<u8>)>(
                "SELECT DISTINCT f.artifact_id, j.started_at_ms, j.project FROM job_files f \
                 JOIN jobs j ON j.id = f.job_id WHERE f.role = $1 AND f.job_id = ANY($2)",
            )
            .bind(next_role)
            .bind(&fresh)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|(artifact, started, project)| (artifact, project, started))
            .collect();
            level += 1;
        }
        let ids: Vec<i64> = depths.keys().copied().collect();
        let mut jobs = self.jobs(&ids).await?;
        for (id, job) in &mut jobs {
            job.depth = depths.get(id).copied().unwrap_or(0);
        }
        let mut jobs: Vec<pb::GraphJob> = jobs.into_values().collect();
        jobs.sort_by_key(|j| j.job.as_ref().map_or(0, |s| s.started_at_ms));
        let mut artifact_ids: Vec<i64> = jobs
            .iter()
            .flat_map(|j| j.inputs.iter().chain(&j.outputs))
            .map(|f| f.artifact_id as i64)
            .chain(std::iter::once(root))
            .collect();
        artifact_ids.sort_unstable();
        artifact_ids.dedup();
        let artifacts = self.artifacts(&artifact_ids).await?;
        let mut graph = roar_proto::graph::assemble(jobs, artifacts);
        graph.roots = vec![root.max(0) as u64];
        Ok(graph)
    }

    async fn jobs(&self, ids: &[i64]) -> anyhow::Result<BTreeMap<i64, pb::GraphJob>> {
        let mut jobs = BTreeMap::new();
        for row in sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE id = ANY($1)"
        ))
        .bind(ids)
        .fetch_all(&self.pool)
        .await?
        {
            jobs.insert(
                row.try_get::<i64, _>("id")?,
                pb::GraphJob {
                    job: Some(summary(&row)?),
                    ..pb::GraphJob::default()
                },
            );
        }
        for row in sqlx::query(
            "SELECT job_id, role, path, artifact_id, pre_image FROM job_files \
             WHERE job_id = ANY($1) ORDER BY path",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await?
        {
            let Some(job) = jobs.get_mut(&row.try_get::<i64, _>("job_id")?) else {
                continue;
            };
            let file = pb::FileRef {
                artifact_id: row.try_get::<i64, _>("artifact_id")?.max(0) as u64,
                path: row.try_get("path")?,
                pre_image: row.try_get("pre_image")?,
            };
            if named(&row, "role", pb::Role::from_name)? == i32::from(pb::Role::Input) {
                job.inputs.push(file);
            } else {
                job.outputs.push(file);
            }
        }
        for row in sqlx::query(
            "SELECT jp.job_id, p.ecosystem, p.name, p.version FROM job_packages jp \
             JOIN packages p ON p.id = jp.package_id WHERE jp.job_id = ANY($1) \
             ORDER BY p.ecosystem, p.name",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await?
        {
            if let Some(job) = jobs.get_mut(&row.try_get::<i64, _>("job_id")?) {
                job.packages.push(pb::Package {
                    ecosystem: row.try_get("ecosystem")?,
                    name: row.try_get("name")?,
                    version: row.try_get("version")?,
                });
            }
        }
        Ok(jobs)
    }

    async fn hashes(&self, ids: &[i64]) -> anyhow::Result<HashMap<i64, Vec<pb::Digest>>> {
        let mut hashes: HashMap<i64, Vec<pb::Digest>> = HashMap::new();
        for (id, algorithm, hex) in sqlx::query_as::<_, (i64, String, String)>(
            "SELECT artifact_id, algorithm, digest FROM artifact_hashes \
             WHERE artifact_id = ANY($1) ORDER BY algorithm",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await?
        {
            hashes.entry(id).or_default().push(pb::Digest {
                algorithm: pb::HashAlgorithm::from_name(&algorithm).map_or(0, Into::into),
                hex,
            });
        }
        Ok(hashes)
    }

    async fn artifacts(&self, ids: &[i64]) -> anyhow::Result<Vec<pb::GraphArtifact>> {
        let mut hashes = self.hashes(ids).await?;
        let mut origins: HashMap<i64, Vec<String>> = HashMap::new();
        for (id, url) in sqlx::query_as::<_, (i64, String)>(
            "SELECT artifact_id, url FROM origins WHERE artifact_id = ANY($1) ORDER BY url",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await?
        {
            origins.entry(id).or_default().push(url);
        }
        Ok(sqlx::query_as::<_, (i64, i64)>(
            "SELECT id, size FROM artifacts WHERE id = ANY($1) ORDER BY id",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|(id, size)| pb::GraphArtifact {
            id: id.max(0) as u64,
            size: size.max(0) as u64,
            hashes: hashes.remove(&id).unwrap_or_default(),
            source: false,
            origins: origins.remove(&id).unwrap_or_default(),
            // The registry keeps where content came from, not where it was put.
            uploaded_to: Vec::new(),
            labels: Vec::new(),
        })
        .collect())
    }
}
