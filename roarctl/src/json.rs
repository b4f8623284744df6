//! The stable JSON shapes printed by `--json` (documented in README.md, "JSON output").
//! Byte strings use the escaping described in `render`.

use roar_proto::pb;
use serde_json::{Map, Value, json};

use crate::render::{escape_bytes, exit_parts, rfc3339, step_label};

fn strings(items: &[Vec<u8>]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|i| Value::String(escape_bytes(i)))
            .collect(),
    )
}

fn ended(ended_at_ms: Option<i64>) -> Value {
    ended_at_ms.map_or(Value::Null, |ms| Value::String(rfc3339(ms)))
}

/// `{"blake3": "<hex>", ...}`.
pub fn hashes(digests: &[pb::Digest]) -> Value {
    Value::Object(
        digests
            .iter()
            .map(|d| (d.algorithm_name().to_string(), Value::String(d.hex.clone())))
            .collect(),
    )
}

/// One line of `roarctl log --json`.
pub fn summary(job: &pb::JobSummary) -> Value {
    let (exit_code, exit_signal) = exit_parts(job.exit.as_ref());
    json!({
        "uid": job.uid,
        "step": job.step,
        "project": escape_bytes(&job.project),
        "argv": strings(&job.argv),
        "cwd": escape_bytes(&job.cwd),
        "state": job.state().name(),
        "exit_code": exit_code,
        "exit_signal": exit_signal,
        "started_at": rfc3339(job.started_at_ms),
        "ended_at": ended(job.ended_at_ms),
        "duration_ms": job.ended_at_ms.map(|end| end - job.started_at_ms),
        "lingering_processes": job.lingering_processes,
        "job_kind": job.kind().name(),
        "step_label": (job.step > 0).then(|| step_label(job.kind(), job.step)),
        "session": job.session_id,
        "git": job.git.as_ref().map(git),
        "dirty": job.git.as_ref().is_some_and(|g| g.dirty_count > 0),
        "placed": job.placed,
        "reproduces": text_or_null(&job.reproduces),
        "reproduces_job": text_or_null(&job.reproduces_job),
        "commit_made": text_or_null(&job.commit_made),
    })
}

fn text_or_null(text: &str) -> Value {
    if text.is_empty() {
        Value::Null
    } else {
        json!(text)
    }
}

/// A job's Python environments: `kind`, `root`, `interpreter`, `version`.
fn environments(list: &[pb::PythonEnvironment]) -> Value {
    list.iter()
        .map(|e| {
            json!({"kind": e.kind().name(), "root": escape_bytes(&e.root),
                   "interpreter": escape_bytes(&e.interpreter), "version": e.version})
        })
        .collect()
}

/// What a job's trace could not see: `kind`, `pid`, `detail`, `count`, `message`.
fn gaps(list: &[pb::TraceGap]) -> Value {
    list.iter()
        .map(|g| {
            json!({"kind": g.kind().name(), "pid": g.pid,
                   "detail": escape_bytes(&g.detail), "count": g.count,
                   "message": crate::render::gap_text(g)})
        })
        .collect()
}

/// Re-runs of a job by `reproduce`: `job` (a summary) and `identical`.
fn reproductions(list: &[pb::Reproduction]) -> Value {
    list.iter()
        .map(|r| json!({"job": r.job.as_ref().map(summary), "identical": r.identical}))
        .collect()
}

/// A job's code: `repository`, `root`, `branch` (null when detached), `commit` (null
/// before the first commit), `dirty`, `dirty_count`, `dirty_paths`.
fn git(context: &pb::GitContext) -> Value {
    let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
    json!({
        "repository": context.repository,
        "root": escape_bytes(&context.root),
        "branch": text(&context.branch),
        "commit": text(&context.commit),
        "dirty": context.dirty_count > 0,
        "dirty_count": context.dirty_count,
        "dirty_paths": strings(&context.dirty_paths),
    })
}

/// One input or output: `path`, `named_path` (only when it differs), `class`, `size`,
/// `hashes` (algorithm -> hex; empty for files that are not hashed) and, for inputs,
/// `pre_image`.
pub fn file(record: &pb::FileRecord, is_input: bool) -> Value {
    let mut object = Map::new();
    object.insert("path".into(), json!(escape_bytes(&record.path)));
    if !record.named_path.is_empty() {
        object.insert("named_path".into(), json!(escape_bytes(&record.named_path)));
    }
    object.insert("class".into(), json!(record.class().name()));
    object.insert("size".into(), json!(record.size));
    object.insert("hashes".into(), hashes(&record.hashes));
    if !record.link_target.is_empty() {
        object.insert(
            "link_target".into(),
            json!(escape_bytes(&record.link_target)),
        );
    }
    if !record.hard_link_of.is_empty() {
        object.insert(
            "hard_link_of".into(),
            json!(escape_bytes(&record.hard_link_of)),
        );
    }
    if is_input {
        object.insert("pre_image".into(), json!(record.pre_image));
    }
    Value::Object(object)
}

/// `roarctl show PATH|HASH --json`: `kind` "artifact", `size`, `hashes`, and `uses`
/// (oldest first: `role`, `path`, `pre_image`, `job` as in `log --json`).
pub fn artifact(artifact: &pb::Artifact) -> Value {
    if let Some(file) = &artifact.repo_file {
        return repo_file(file, &artifact.uses);
    }
    let uses: Vec<Value> = artifact
        .uses
        .iter()
        .map(|u| {
            json!({
                "role": u.role().name(),
                "path": escape_bytes(&u.path),
                "pre_image": u.pre_image,
                "job": u.job.as_ref().map(summary),
            })
        })
        .collect();
    json!({
        "kind": "artifact",
        "size": artifact.size,
        "hashes": hashes(&artifact.hashes),
        "uses": uses,
        "downloaded_from": artifact.downloaded_from,
        "uploaded_to": artifact.uploaded_to,
        "labels": labels(&artifact.labels),
        "policy_overrides": artifact.policy_overrides.iter().map(|o| json!({
            "action": o.action, "destination": o.destination, "rule": o.rule,
            "reason": o.reason, "set_by": o.set_by, "at": rfc3339(o.at_ms),
        })).collect::<Vec<_>>(),
    })
}

/// A target's own labels: `[{key, value, inherit, set_by, set_at_ms, removed}]`
/// (`removed` only true in a history).
pub fn labels(labels: &[pb::Label]) -> Value {
    labels
        .iter()
        .map(|l| {
            json!({"key": l.key, "value": l.value, "inherit": l.inherit, "set_by": l.set_by,
                   "set_at_ms": l.set_at_ms, "removed": l.removed})
        })
        .collect()
}

/// `roarctl show PATH --json` for a repository file jobs read: `kind` "repo_file",
/// `root`, `path` (relative), `worktree_blob`, `head_blob` (git blob ids, null when
/// absent) and `uses` as for an artifact.
fn repo_file(file: &pb::RepoFile, uses: &[pb::ArtifactUse]) -> Value {
    let uses: Vec<Value> = uses
        .iter()
        .map(|u| json!({"role": u.role().name(), "path": escape_bytes(&u.path), "job": u.job.as_ref().map(summary)}))
        .collect();
    json!({
        "kind": "repo_file",
        "root": escape_bytes(&file.root),
        "path": escape_bytes(&file.relative_path),
        "worktree_blob": text_or_null(&file.worktree_blob),
        "head_blob": text_or_null(&file.head_blob),
        "uses": uses,
    })
}

/// `roarctl show JOB --json`: the summary's fields plus the full record.
pub fn job(job: &pb::Job) -> Value {
    let mut object = match job.summary.as_ref().map(summary) {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    object.insert("kind".into(), json!("job"));
    object.insert("labels".into(), labels(&job.labels));
    object.insert("hostname".into(), json!(job.hostname));
    object.insert("user_uid".into(), json!(job.uid));
    let env: Map<String, Value> = job
        .env
        .iter()
        .map(|var| {
            (
                escape_bytes(&var.name),
                Value::String(escape_bytes(&var.value)),
            )
        })
        .collect();
    object.insert("env".into(), Value::Object(env));
    let processes = job
        .processes
        .iter()
        .map(|p| {
            let (exit_code, exit_signal) = exit_parts(p.exit.as_ref());
            json!({
                "pid": p.pid,
                "ppid": p.ppid,
                "argv": strings(&p.argv),
                "exe": escape_bytes(&p.exe),
                "cwd": escape_bytes(&p.cwd),
                "started_at": rfc3339(p.started_at_ms),
                "ended_at": ended(p.ended_at_ms),
                "exit_code": exit_code,
                "exit_signal": exit_signal,
                "earlier": p.earlier.iter().map(|image| json!({
                    "argv": strings(&image.argv),
                    "exe": escape_bytes(&image.exe),
                    "cwd": escape_bytes(&image.cwd),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    object.insert("processes".into(), Value::Array(processes));
    let inputs = job.inputs.iter().map(|f| file(f, true)).collect();
    object.insert("inputs".into(), Value::Array(inputs));
    let outputs = job.outputs.iter().map(|f| file(f, false)).collect();
    object.insert("outputs".into(), Value::Array(outputs));
    let packages = job
        .packages
        .iter()
        .map(|p| json!({"ecosystem": p.ecosystem, "name": p.name, "version": p.version}))
        .collect();
    object.insert("packages".into(), Value::Array(packages));
    object.insert("environments".into(), environments(&job.environments));
    object.insert("reproductions".into(), reproductions(&job.reproductions));
    object.insert("gaps".into(), gaps(&job.gaps));
    let seen_by = job.seen_by.as_ref().map_or(
        Value::Null,
        |seen| json!({"fast_path_opens": seen.fast_path_opens, "ptrace_stops": seen.ptrace_stops}),
    );
    object.insert("seen_by".into(), seen_by);
    Value::Object(object)
}

/// A session, as in `status --json` and `dag --json`.
pub fn session(session: &pb::Session) -> Value {
    json!({
        "id": session.id,
        "number": session.number,
        "project": escape_bytes(&session.project),
        "started_at": rfc3339(session.started_at_ms),
        "active": session.active,
        "steps": session.steps,
        "build_steps": session.build_steps,
        "jobs": session.jobs,
        "reproduces": (!session.reproduces.is_empty()).then(|| session.reproduces.clone()),
        "labels": labels(&session.labels),
    })
}

fn file_refs(files: &[pb::FileRef]) -> Value {
    files
        .iter()
        .map(|f| json!({"artifact": f.artifact_id, "path": escape_bytes(&f.path), "pre_image": f.pre_image}))
        .collect()
}

/// `dag --json` and `lineage --json`: `kind` ("dag" or "lineage"), `session` (dag),
/// `roots` (lineage: artifact ids), `jobs` (summaries plus `depth`, `stale`,
/// `stale_reason`, `labels`, `inputs`, `outputs` as `{artifact, path, pre_image}`), `artifacts`
/// (`id`, `size`, `hashes`, `source`, `origins`, `uploaded_to`, `labels`) and `edges` (`from`, `to` job uids, `artifact`).
pub fn graph(graph: &pb::Graph, kind: &str) -> Value {
    let jobs: Vec<Value> = graph
        .jobs
        .iter()
        .map(|j| {
            let mut object = match j.job.as_ref().map(summary) {
                Some(Value::Object(map)) => map,
                _ => Map::new(),
            };
            object.insert("depth".into(), json!(j.depth));
            object.insert("stale".into(), json!(j.stale));
            object.insert(
                "stale_reason".into(),
                if j.stale {
                    json!(j.stale_reason)
                } else {
                    Value::Null
                },
            );
            object.insert("labels".into(), labels(&j.labels));
            object.insert("inputs".into(), file_refs(&j.inputs));
            object.insert("outputs".into(), file_refs(&j.outputs));
            object.insert("environments".into(), environments(&j.environments));
            object.insert("reproductions".into(), reproductions(&j.reproductions));
            object.insert(
                "last_failed".into(),
                j.last_failed.as_ref().map_or(Value::Null, summary),
            );
            Value::Object(object)
        })
        .collect();
    let artifacts: Vec<Value> = graph
        .artifacts
        .iter()
        .map(|a| {
            json!({"id": a.id, "size": a.size, "hashes": hashes(&a.hashes), "source": a.source,
                   "origins": a.origins, "uploaded_to": a.uploaded_to,
                   "labels": labels(&a.labels)})
        })
        .collect();
    let edges: Vec<Value> = graph
        .edges
        .iter()
        .map(|e| json!({"from": e.from_job, "to": e.to_job, "artifact": e.artifact_id}))
        .collect();
    let mut object = Map::new();
    object.insert("kind".into(), json!(kind));
    if let Some(s) = &graph.session {
        object.insert("session".into(), session(s));
    }
    if kind == "lineage" {
        object.insert("roots".into(), json!(graph.roots));
    }
    object.insert("jobs".into(), Value::Array(jobs));
    object.insert("artifacts".into(), Value::Array(artifacts));
    object.insert("edges".into(), Value::Array(edges));
    Value::Object(object)
}
