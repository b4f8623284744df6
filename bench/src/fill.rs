//! `roar-fill DB ROOT [PROJECTS JOBS_PER_PROJECT]`: fills a roard database with a large synthetic lineage for the
//! scale benchmark (`bench/lineage.py`): 100k jobs writing 1M artifacts, with
//! realistic fan-in (each job reads its chain predecessor's output and two earlier
//! outputs of its chain), fan-out (outputs read by 0-3 later jobs), lineage chains 50
//! jobs deep, and the system files real jobs touch. The schema is roard's own: the
//! database is created by `Store::open`, so the migrations are the real ones.
//!
//! Prints one JSON object naming what to query: a deep artifact, a source artifact,
//! a job uid and a project directory.

use std::path::PathBuf;

use roard::store::Upkeep as _;
use sqlx::{Connection, QueryBuilder, Sqlite, SqliteConnection};

/// Defaults: 200 projects of 500 jobs.
const PROJECTS: u64 = 200;
const JOBS_PER_PROJECT: u64 = 500;
const CHAIN: u64 = 50;
const OUTPUTS_PER_JOB: u64 = 10;
const SYSTEM_FILES_PER_JOB: u64 = 20;
const ROWS: usize = 1000;

/// A `job_files` row: job, role, class, path, artifact.
type FileRow = (u64, &'static str, &'static str, Vec<u8>, Option<u64>);

/// A deterministic pseudo-random sequence (xorshift64*), so every run builds the same
/// database.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn digest(artifact: u64) -> String {
    blake3::hash(&artifact.to_le_bytes()).to_hex().to_string()
}

/// One project's rows, generated before they are inserted.
#[derive(Default)]
struct ProjectRows {
    artifacts: Vec<(u64, String)>,
    /// (id, step, start)
    jobs: Vec<(u64, u64, i64)>,
    files: Vec<FileRow>,
}

/// The generator's state across projects, and what it prints at the end.
struct Fill {
    rng: Rng,
    next_artifact: u64,
    next_job: u64,
    deep: String,
    source: String,
    a_job: String,
}

impl Fill {
    fn new_artifact(&mut self, rows: &mut ProjectRows) -> u64 {
        let artifact = self.next_artifact;
        self.next_artifact += 1;
        rows.artifacts.push((artifact, digest(artifact)));
        artifact
    }

    /// The jobs of one project: chains of `CHAIN` steps, each chain starting from a
    /// source, each job reading its predecessor's output and two earlier ones.
    fn project(&mut self, dir: &std::path::Path, jobs_per_project: u64) -> ProjectRows {
        let mut rows = ProjectRows::default();
        // Outputs of each job of the current chain, to read from.
        let mut chain_outputs: Vec<Vec<u64>> = Vec::new();
        for step in 1..=jobs_per_project {
            let job = self.next_job;
            self.next_job += 1;
            rows.jobs.push((job, step, (job as i64) * 1000));
            if (step - 1) % CHAIN == 0 {
                chain_outputs.clear();
                // A chain starts from a source: data that no job wrote.
                let src = self.new_artifact(&mut rows);
                chain_outputs.push(vec![src]);
                if self.source.is_empty() {
                    self.source = digest(src);
                }
            }
            for input in self.inputs(&chain_outputs) {
                let path = format!("{}/in/{input}.csv", dir.display()).into_bytes();
                rows.files
                    .push((job, "input", "artifact", path, Some(input)));
            }
            let mut outputs = Vec::new();
            for n in 0..OUTPUTS_PER_JOB {
                let artifact = self.new_artifact(&mut rows);
                outputs.push(artifact);
                let path = format!("{}/out/{job}-{n}.csv", dir.display()).into_bytes();
                rows.files
                    .push((job, "output", "artifact", path, Some(artifact)));
            }
            for n in 0..SYSTEM_FILES_PER_JOB {
                let path = format!("/usr/lib/python3.11/mod{n}.py").into_bytes();
                rows.files.push((job, "input", "system", path, None));
            }
            if step % CHAIN == 0 && self.deep.is_empty() {
                self.deep = digest(outputs[0]);
                self.a_job = format!("{job:012x}");
            }
            chain_outputs.push(outputs);
        }
        rows
    }

    /// Fan-in: the predecessor's first output, and two earlier outputs of the chain.
    fn inputs(&mut self, chain_outputs: &[Vec<u64>]) -> Vec<u64> {
        let mut inputs = vec![chain_outputs[chain_outputs.len() - 1][0]];
        for _ in 0..2 {
            let from = &chain_outputs[self.rng.below(chain_outputs.len() as u64) as usize];
            inputs.push(from[self.rng.below(from.len() as u64) as usize]);
        }
        inputs.sort_unstable();
        inputs.dedup();
        inputs
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(db), Some(root)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: roar-fill DATABASE PROJECT_ROOT [PROJECTS JOBS_PER_PROJECT]");
    };
    let projects: u64 = args.next().map_or(Ok(PROJECTS), |n| n.parse())?;
    let jobs_per_project: u64 = args.next().map_or(Ok(JOBS_PER_PROJECT), |n| n.parse())?;
    let db = PathBuf::from(db);
    let root = PathBuf::from(root);
    roard::store::sqlite::SqliteStore::open(&db)
        .await?
        .close()
        .await;
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", db.display())).await?;
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&mut conn)
        .await?;
    sqlx::query("PRAGMA synchronous = OFF")
        .execute(&mut conn)
        .await?;

    let started = std::time::Instant::now();
    let mut fill = Fill {
        rng: Rng(0x9e37_79b9_7f4a_7c15),
        next_artifact: 1,
        next_job: 1,
        deep: String::new(),
        source: String::new(),
        a_job: String::new(),
    };
    for project in 0..projects {
        let dir = root.join(format!("p{project}"));
        let dir_bytes = dir.to_string_lossy().into_owned().into_bytes();
        let mut tx = conn.begin().await?;
        sqlx::query(
            "INSERT INTO sessions (id, project, started_at_ms, active) VALUES (?, ?, 0, 1)",
        )
        .bind(project as i64 + 1)
        .bind(&dir_bytes)
        .execute(&mut *tx)
        .await?;
        let rows = fill.project(&dir, jobs_per_project);
        insert_artifacts(&mut tx, &rows.artifacts).await?;
        insert_jobs(&mut tx, &rows.jobs, project as i64 + 1, &dir_bytes).await?;
        insert_files(&mut tx, &rows.files).await?;
        tx.commit().await?;
    }
    sqlx::query("ANALYZE").execute(&mut conn).await?;
    conn.close().await?;
    println!(
        "{}",
        serde_json::json!({
            "jobs": fill.next_job - 1,
            "artifacts": fill.next_artifact - 1,
            "deep_artifact": fill.deep,
            "source_artifact": fill.source,
            "job": fill.a_job,
            "project": root.join("p0"),
            "seconds": started.elapsed().as_secs_f64(),
        })
    );
    Ok(())
}

async fn insert_artifacts(
    tx: &mut SqliteConnection,
    artifacts: &[(u64, String)],
) -> sqlx::Result<()> {
    for chunk in artifacts.chunks(ROWS) {
        let mut q = QueryBuilder::<Sqlite>::new("INSERT INTO artifacts (id, size) ");
        q.push_values(chunk, |mut row, (id, _)| {
            row.push_bind(*id as i64)
                .push_bind(1000 + (*id % 5000) as i64);
        });
        q.build().execute(&mut *tx).await?;
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO artifact_hashes (artifact_id, algorithm, digest) ",
        );
        q.push_values(chunk, |mut row, (id, hex)| {
            row.push_bind(*id as i64)
                .push_bind("blake3")
                .push_bind(hex.as_str());
        });
        q.build().execute(&mut *tx).await?;
    }
    Ok(())
}

async fn insert_jobs(
    tx: &mut SqliteConnection,
    jobs: &[(u64, u64, i64)],
    session: i64,
    dir: &[u8],
) -> sqlx::Result<()> {
    for chunk in jobs.chunks(ROWS) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO jobs (id, uid, project, session_id, kind, step, argv, cwd, env, hostname, \
             user_uid, started_at_ms, ended_at_ms, exit_code, state) ",
        );
        q.push_values(chunk, |mut row, (id, step, start)| {
            row.push_bind(*id as i64)
                .push_bind(format!("{id:012x}"))
                .push_bind(dir)
                .push_bind(session)
                .push_bind("run")
                .push_bind(*step as i64)
                .push_bind(format!("python3\0step{step}.py").into_bytes())
                .push_bind(dir)
                .push_bind(b"HOME=/home/bench".to_vec())
                .push_bind("bench")
                .push_bind(1000)
                .push_bind(*start)
                .push_bind(*start + 900)
                .push_bind(0)
                .push_bind("finished");
        });
        q.build().execute(&mut *tx).await?;
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO processes (job_id, pid, ppid, argv, exe, cwd, started_at_ms, ended_at_ms, exit_code) ",
        );
        q.push_values(chunk, |mut row, (id, step, start)| {
            row.push_bind(*id as i64)
                .push_bind(1000 + *step as i64)
                .push_bind(999)
                .push_bind(b"python3".to_vec())
                .push_bind(b"/usr/bin/python3.11".to_vec())
                .push_bind(dir)
                .push_bind(*start)
                .push_bind(*start + 900)
                .push_bind(0);
        });
        q.build().execute(&mut *tx).await?;
    }
    Ok(())
}

async fn insert_files(tx: &mut SqliteConnection, files: &[FileRow]) -> sqlx::Result<()> {
    for chunk in files.chunks(ROWS) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO job_files (job_id, role, class, path, artifact_id, pre_image) ",
        );
        q.push_values(chunk, |mut row, (job, role, class, path, artifact)| {
            row.push_bind(*job as i64)
                .push_bind(*role)
                .push_bind(*class)
                .push_bind(path.as_slice())
                .push_bind(artifact.map(|a| a as i64))
                .push_bind(false);
        });
        q.build().execute(&mut *tx).await?;
    }
    Ok(())
}
