//! Publishing a sub-DAG: its artifacts (all hashes, origins), jobs (summary, git
//! context, packages) and which job read and wrote which artifact, in one transaction.
//! Every row is inserted with ON CONFLICT DO NOTHING, keys in a fixed order, so
//! repeating a registration changes nothing and two overlapping ones merge; a deadlock
//! between two such transactions is retried.

use std::collections::{BTreeMap, BTreeSet};

use roar_proto::pb;
use sqlx::postgres::PgPool;
use sqlx::{Postgres, Transaction};

/// What a registration added.
#[derive(Debug, Default)]
pub struct Published {
    pub dag_hash: String,
    pub new_jobs: u64,
    pub new_artifacts: u64,
}

pub async fn publish(pool: &PgPool, graph: &pb::Graph, user: &str) -> anyhow::Result<Published> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match publish_once(pool, graph, user).await {
            Err(e) if attempt < 5 && is_retryable(&e) => {
                tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
            }
            other => return other.map_err(anyhow::Error::from),
        }
    }
}

/// Deadlock or serialization failure: safe to run the whole transaction again.
fn is_retryable(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "40P01" || code == "40001")
}

fn blake3_of(artifact: &pb::GraphArtifact) -> Option<&str> {
    roar_proto::vocabulary::blake3(&artifact.hashes)
}

async fn publish_once(
    pool: &PgPool,
    graph: &pb::Graph,
    user: &str,
) -> Result<Published, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // Artifacts, sorted by BLAKE3 so concurrent registrations lock rows in one order.
    let mut by_blake3: BTreeMap<&str, &pb::GraphArtifact> = BTreeMap::new();
    for artifact in &graph.artifacts {
        if let Some(hex) = blake3_of(artifact) {
            by_blake3.insert(hex, artifact);
        }
    }
    let digests: Vec<String> = by_blake3.keys().map(|d| d.to_string()).collect();
    let sizes: Vec<i64> = by_blake3
        .values()
        .map(|a| i64::try_from(a.size).unwrap_or(i64::MAX))
        .collect();
    let new_artifacts = sqlx::query(
        "INSERT INTO artifacts (blake3, size) SELECT * FROM UNNEST($1::text[], $2::bigint[]) \
         ON CONFLICT (blake3) DO NOTHING",
    )
    .bind(&digests)
    .bind(&sizes)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let ids: BTreeMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "SELECT blake3, id FROM artifacts WHERE blake3 = ANY($1)",
    )
    .bind(&digests)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    // Local artifact id -> registry id.
    let local: BTreeMap<u64, i64> = graph
        .artifacts
        .iter()
        .filter_map(|a| Some((a.id, *ids.get(blake3_of(a)?)?)))
        .collect();
    insert_hashes(&mut tx, graph, &local).await?;

    let mut jobs: Vec<&pb::GraphJob> = graph.jobs.iter().filter(|j| j.job.is_some()).collect();
    jobs.sort_by(|a, b| uid(a).cmp(uid(b)));
    let mut new_jobs = 0;
    for chunk in jobs.chunks(JOBS_PER_STATEMENT) {
        new_jobs += insert_jobs(&mut tx, chunk, user).await?;
    }
    let uids: Vec<String> = jobs.iter().map(|j| uid(j).to_string()).collect();
    let job_ids: BTreeMap<String, i64> =
        sqlx::query_as::<_, (String, i64)>("SELECT uid, id FROM jobs WHERE uid = ANY($1)")
            .bind(&uids)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
    insert_files(&mut tx, &jobs, &job_ids, &local).await?;
    insert_packages(&mut tx, &jobs, &job_ids).await?;
    let dag_hash = roar_proto::graph::dag_hash(graph);
    sqlx::query(
        "INSERT INTO registrations (dag_hash, registered_by) VALUES ($1, $2) \
         ON CONFLICT (dag_hash) DO NOTHING",
    )
    .bind(&dag_hash)
    .bind(user)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Published {
        dag_hash,
        new_jobs,
        new_artifacts,
    })
}

/// Jobs per multi-row INSERT (one statement per chunk, columns as arrays).
const JOBS_PER_STATEMENT: usize = 1000;

/// Inserts jobs not yet registered; returns how many were new.
async fn insert_jobs(
    tx: &mut Transaction<'_, Postgres>,
    jobs: &[&pb::GraphJob],
    user: &str,
) -> Result<u64, sqlx::Error> {
    let mut c = JobColumns::default();
    for job in jobs {
        let Some(summary) = &job.job else { continue };
        c.push(summary);
    }
    Ok(sqlx::query(
        "INSERT INTO jobs (uid, registered_by, project, kind, step, argv, cwd, started_at_ms, \
                           ended_at_ms, exit_code, exit_signal, state, git_repository, \
                           git_root, git_branch, git_commit, git_dirty_count) \
         SELECT u.uid, $2, u.project, u.kind, u.step, u.argv, u.cwd, u.started, u.ended, \
                u.code, u.signal, u.state, u.repository, u.root, u.branch, u.commit, u.dirty \
         FROM UNNEST($1::text[], $3::bytea[], $4::text[], $5::int[], $6::bytea[], \
                     $7::bytea[], $8::bigint[], $9::bigint[], $10::int[], $11::int[], \
                     $12::text[], $13::text[], $14::bytea[], $15::text[], $16::text[], \
                     $17::int[]) \
              AS u(uid, project, kind, step, argv, cwd, started, ended, code, signal, state, \
                   repository, root, branch, commit, dirty) \
         ON CONFLICT (uid) DO NOTHING",
    )
    .bind(&c.uid)
    .bind(user)
    .bind(&c.project)
    .bind(&c.kind)
    .bind(&c.step)
    .bind(&c.argv)
    .bind(&c.cwd)
    .bind(&c.started)
    .bind(&c.ended)
    .bind(&c.code)
    .bind(&c.signal)
    .bind(&c.state)
    .bind(&c.repository)
    .bind(&c.root)
    .bind(&c.branch)
    .bind(&c.commit)
    .bind(&c.dirty)
    .execute(&mut **tx)
    .await?
    .rows_affected())
}

/// Jobs as one array per column: the shape UNNEST turns into rows, so a chunk of jobs
/// is one statement.
#[derive(Default)]
struct JobColumns {
    uid: Vec<String>,
    project: Vec<Vec<u8>>,
    kind: Vec<String>,
    step: Vec<i32>,
    argv: Vec<Vec<u8>>,
    cwd: Vec<Vec<u8>>,
    started: Vec<i64>,
    ended: Vec<Option<i64>>,
    code: Vec<Option<i32>>,
    signal: Vec<Option<i32>>,
    state: Vec<String>,
    repository: Vec<Option<String>>,
    root: Vec<Option<Vec<u8>>>,
    branch: Vec<Option<String>>,
    commit: Vec<Option<String>>,
    dirty: Vec<Option<i32>>,
}

impl JobColumns {
    /// Adds one job's row. Exit status and git context become NULLs where absent, so
    /// the registry can tell "none" from an empty value.
    fn push(&mut self, summary: &pb::JobSummary) {
        let git = summary.git.as_ref();
        let (code, signal) = match summary.exit.as_ref().and_then(|e| e.status) {
            Some(pb::exit_status::Status::Code(n)) => (Some(n), None),
            Some(pb::exit_status::Status::Signal(n)) => (None, Some(n)),
            None => (None, None),
        };
        self.uid.push(summary.uid.clone());
        self.project.push(summary.project.clone());
        self.kind.push(summary.kind().name().to_string());
        self.step
            .push(i32::try_from(summary.step).unwrap_or(i32::MAX));
        self.argv.push(summary.argv.join(&0u8));
        self.cwd.push(summary.cwd.clone());
        self.started.push(summary.started_at_ms);
        self.ended.push(summary.ended_at_ms);
        self.code.push(code);
        self.signal.push(signal);
        self.state.push(summary.state().name().to_string());
        self.repository.push(git.map(|g| g.repository.clone()));
        self.root.push(git.map(|g| g.root.clone()));
        self.branch
            .push(git.map(|g| g.branch.clone()).filter(|b| !b.is_empty()));
        self.commit
            .push(git.map(|g| g.commit.clone()).filter(|b| !b.is_empty()));
        self.dirty
            .push(git.map(|g| i32::try_from(g.dirty_count).unwrap_or(i32::MAX)));
    }
}

fn uid(job: &pb::GraphJob) -> &str {
    job.job.as_ref().map_or("", |s| s.uid.as_str())
}

async fn insert_hashes(
    tx: &mut Transaction<'_, Postgres>,
    graph: &pb::Graph,
    local: &BTreeMap<u64, i64>,
) -> Result<(), sqlx::Error> {
    let mut rows: BTreeSet<(String, String, i64)> = BTreeSet::new();
    let mut origins: BTreeSet<(i64, String)> = BTreeSet::new();
    for artifact in &graph.artifacts {
        let Some(&id) = local.get(&artifact.id) else {
            continue;
        };
        for digest in &artifact.hashes {
            rows.insert((digest.algorithm_name().to_string(), digest.hex.clone(), id));
        }
        for url in &artifact.origins {
            origins.insert((id, url.clone()));
        }
    }
    let (algorithms, digests, ids): (Vec<String>, Vec<String>, Vec<i64>) = rows.into_iter().fold(
        (Vec::new(), Vec::new(), Vec::new()),
        |mut acc, (a, d, i)| {
            acc.0.push(a);
            acc.1.push(d);
            acc.2.push(i);
            acc
        },
    );
    sqlx::query(
        "INSERT INTO artifact_hashes (algorithm, digest, artifact_id) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[]) ON CONFLICT DO NOTHING",
    )
    .bind(&algorithms)
    .bind(&digests)
    .bind(&ids)
    .execute(&mut **tx)
    .await?;
    let (origin_ids, urls): (Vec<i64>, Vec<String>) = origins.into_iter().unzip();
    sqlx::query(
        "INSERT INTO origins (artifact_id, url) SELECT * FROM UNNEST($1::bigint[], $2::text[]) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&origin_ids)
    .bind(&urls)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_files(
    tx: &mut Transaction<'_, Postgres>,
    jobs: &[&pb::GraphJob],
    job_ids: &BTreeMap<String, i64>,
    local: &BTreeMap<u64, i64>,
) -> Result<(), sqlx::Error> {
    let mut rows: BTreeSet<(i64, &'static str, Vec<u8>, i64, bool)> = BTreeSet::new();
    for job in jobs {
        let Some(&job_id) = job_ids.get(uid(job)) else {
            continue;
        };
        for (role, files) in [("input", &job.inputs), ("output", &job.outputs)] {
            for file in files {
                if let Some(&artifact) = local.get(&file.artifact_id) {
                    rows.insert((job_id, role, file.path.clone(), artifact, file.pre_image));
                }
            }
        }
    }
    let mut columns = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (job, role, path, artifact, pre_image) in rows {
        columns.0.push(job);
        columns.1.push(role.to_string());
        columns.2.push(path);
        columns.3.push(artifact);
        columns.4.push(pre_image);
    }
    sqlx::query(
        "INSERT INTO job_files (job_id, role, path, artifact_id, pre_image) \
         SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bytea[], $4::bigint[], $5::bool[]) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&columns.0)
    .bind(&columns.1)
    .bind(&columns.2)
    .bind(&columns.3)
    .bind(&columns.4)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_packages(
    tx: &mut Transaction<'_, Postgres>,
    jobs: &[&pb::GraphJob],
    job_ids: &BTreeMap<String, i64>,
) -> Result<(), sqlx::Error> {
    let mut packages: BTreeSet<(String, String, String)> = BTreeSet::new();
    for job in jobs {
        for p in &job.packages {
            packages.insert((p.ecosystem.clone(), p.name.clone(), p.version.clone()));
        }
    }
    if packages.is_empty() {
        return Ok(());
    }
    let (mut ecosystems, mut names, mut versions) = (Vec::new(), Vec::new(), Vec::new());
    for (e, n, v) in &packages {
        ecosystems.push(e.clone());
        names.push(n.clone());
        versions.push(v.clone());
    }
    sqlx::query(
        "INSERT INTO packages (ecosystem, name, version) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING",
    )
    .bind(&ecosystems)
    .bind(&names)
    .bind(&versions)
    .execute(&mut **tx)
    .await?;
    let mut links: BTreeSet<(i64, String, String, String)> = BTreeSet::new();
    for job in jobs {
        let Some(&job_id) = job_ids.get(uid(job)) else {
            continue;
        };
        for p in &job.packages {
            links.insert((
                job_id,
                p.ecosystem.clone(),
                p.name.clone(),
                p.version.clone(),
            ));
        }
    }
    let (mut link_jobs, mut e2, mut n2, mut v2) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (j, e, n, v) in links {
        link_jobs.push(j);
        e2.push(e);
        n2.push(n);
        v2.push(v);
    }
    sqlx::query(
        "INSERT INTO job_packages (job_id, package_id) \
         SELECT l.job_id, p.id FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[]) \
              AS l(job_id, ecosystem, name, version) \
         JOIN packages p USING (ecosystem, name, version) ON CONFLICT DO NOTHING",
    )
    .bind(&link_jobs)
    .bind(&e2)
    .bind(&n2)
    .bind(&v2)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
