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
    roard::store::Store::open(&db).await?.close().await;
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", db.display())).await?;
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&mut conn)
        .await?;
    sqlx::query("PRAGMA synchronous = OFF")
        .execute(&mut conn)
        .await?;

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let started = std::time::Instant::now();
    let mut next_artifact: u64 = 1;
    let mut next_job: u64 = 1;
    let mut deep = String::new();
    let mut source = String::new();
    let mut a_job = String::new();
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
        let mut artifacts: Vec<(u64, String)> = Vec::new();
        let mut jobs: Vec<(u64, u64, i64)> = Vec::new(); // (id, step, start)
        let mut files: Vec<FileRow> = Vec::new();
        // Outputs of each job of the current chain, to read from.
        let mut chain_outputs: Vec<Vec<u64>> = Vec::new();
        for step in 1..=jobs_per_project {
            let job = next_job;
            next_job += 1;
            let start = (job as i64) * 1000;
            jobs.push((job, step, start));
            if (step - 1) % CHAIN == 0 {
                chain_outputs.clear();
                // A chain starts from a source: data that no job wrote.
                let src = next_artifact;
                next_artifact += 1;
                artifacts.push((src, digest(src)));
                chain_outputs.push(vec![src]);
                if source.is_empty() {
                    source = digest(src);
                }
            }
            // Fan-in: the predecessor's first output, and two earlier outputs of the chain.
            let mut inputs = vec![chain_outputs[chain_outputs.len() - 1][0]];
            for _ in 0..2 {
                let from = &chain_outputs[rng.below(chain_outputs.len() as u64) as usize];
                inputs.push(from[rng.below(from.len() as u64) as usize]);
            }
            inputs.sort_unstable();
            inputs.dedup();
            for input in inputs {
                files.push((
                    job,
                    "input",
                    "artifact",
                    format!("{}/in/{input}.csv", dir.display()).into_bytes(),
                    Some(input),
                ));
            }
            let mut outputs = Vec::new();
            for n in 0..OUTPUTS_PER_JOB {
                let artifact = next_artifact;
                next_artifact += 1;
                artifacts.push((artifact, digest(artifact)));
                outputs.push(artifact);
                files.push((
                    job,
                    "output",
                    "artifact",
                    format!("{}/out/{job}-{n}.csv", dir.display()).into_bytes(),
                    Some(artifact),
                ));
            }
            for n in 0..SYSTEM_FILES_PER_JOB {
                files.push((
                    job,
                    "input",
                    "system",
                    format!("/usr/lib/python3.11/mod{n}.py").into_bytes(),
                    None,
                ));
            }
            if step % CHAIN == 0 && deep.is_empty() {
                deep = digest(outputs[0]);
                a_job = format!("{job:012x}");
            }
            chain_outputs.push(outputs);
        }
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
        for chunk in jobs.chunks(ROWS) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO jobs (id, uid, project, session_id, kind, step, argv, cwd, env, hostname, \
                 user_uid, started_at_ms, ended_at_ms, exit_code, state) ",
            );
            q.push_values(chunk, |mut row, (id, step, start)| {
                row.push_bind(*id as i64)
                    .push_bind(format!("{id:012x}"))
                    .push_bind(&dir_bytes)
                    .push_bind(project as i64 + 1)
                    .push_bind("run")
                    .push_bind(*step as i64)
                    .push_bind(format!("python3\0step{step}.py").into_bytes())
                    .push_bind(&dir_bytes)
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
                    .push_bind(&dir_bytes)
                    .push_bind(*start)
                    .push_bind(*start + 900)
                    .push_bind(0);
            });
            q.build().execute(&mut *tx).await?;
        }
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
        tx.commit().await?;
    }
    sqlx::query("ANALYZE").execute(&mut conn).await?;
    conn.close().await?;
    println!(
        "{}",
        serde_json::json!({
            "jobs": next_job - 1,
            "artifacts": next_artifact - 1,
            "deep_artifact": deep,
            "source_artifact": source,
            "job": a_job,
            "project": root.join("p0"),
            "seconds": started.elapsed().as_secs_f64(),
        })
    );
    Ok(())
}
