//! `roarctl show JOB|PATH|HASH`: one job's full record, or one artifact with the jobs
//! that wrote and read it.

use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use roar_proto::pb;

use crate::connection::Client;
use crate::context::Context;
use crate::label_inheritance::Inherited;
use crate::render::{
    command_line, dirty_note, duration, escape_for_terminal, exit_text, git_short, human_size,
    local_time, reproduced_by, step_label,
};
use crate::{json, status_error};

#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// A job: its uid (or a unique prefix of at least 4 digits), `@N` (step N of this
    /// project) or `last`. An artifact: a file's path (the content last recorded
    /// there), or a unique prefix of at least 8 hex digits of any of its hashes,
    /// optionally as `blake3:PREFIX` or `sha256:PREFIX`
    #[arg(default_value = "last", value_name = "JOB|PATH|HASH")]
    pub target: String,
    /// Print a JSON object (see README, "JSON output")
    #[arg(long)]
    pub json: bool,
    /// List every file the job touched, system, package and scratch files included
    /// (by default only its data: artifacts and files of its git repository)
    #[arg(long, short)]
    pub all: bool,
    /// Look the artifact up in the team registry (registry.url): by hash prefix, or a
    /// local file's BLAKE3
    #[arg(long)]
    pub registry: bool,
}

/// What the argument names, decided as documented on `ShowArgs::target`.
enum Target {
    Job(String),
    ArtifactByPath(Vec<u8>),
    ArtifactByHash(String),
    /// Hex that may be a job uid prefix or a hash prefix: job first.
    JobOrArtifact(String),
}

fn classify(text: &str) -> anyhow::Result<Target> {
    let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    if text == "last" || text.starts_with('@') {
        return Ok(Target::Job(text.to_string()));
    }
    if let Some((_, digits)) = text.split_once(':')
        && hex(digits)
    {
        return Ok(Target::ArtifactByHash(text.to_string()));
    }
    if text.contains('/') || std::path::Path::new(text).exists() {
        let path = std::fs::canonicalize(text).map_err(|e| {
            anyhow::anyhow!("cannot resolve the path {text}: {e}\nhint: give an existing file")
        })?;
        return Ok(Target::ArtifactByPath(path.as_os_str().as_bytes().to_vec()));
    }
    Ok(match text.len() {
        _ if !hex(text) => return Err(super::lineage::no_match(text)),
        0..=3 => return Err(super::lineage::no_match(text)),
        4..=12 => Target::JobOrArtifact(text.to_string()),
        _ => Target::ArtifactByHash(text.to_string()),
    })
}

pub async fn show(ctx: &Context, args: ShowArgs) -> anyhow::Result<ExitCode> {
    if args.registry {
        let target = super::lineage::target(&args.target)?;
        let registry = crate::registry::open(ctx.registry_url.as_deref()).await?;
        let id = crate::registry::artifact_for(&registry, &target).await?;
        return show_artifact(&registry.artifact(id).await?, &[], args.json);
    }
    let mut client = ctx.client().await?;
    let cwd = std::env::current_dir()?.as_os_str().as_bytes().to_vec();
    let target = classify(&args.target)?;
    let ambiguous_kind = matches!(target, Target::JobOrArtifact(_));
    let by = match target {
        Target::Job(selector) => {
            let job = client
                .get_job(pb::GetJobRequest {
                    selector,
                    cwd: cwd.clone(),
                })
                .await
                .map_err(status_error)?;
            let inherited = inherited_or_none(&mut client, &args.target, &cwd).await;
            return show_job(job.into_inner(), &inherited, &args);
        }
        Target::JobOrArtifact(text) => {
            let job = client
                .get_job(pb::GetJobRequest {
                    selector: text.clone(),
                    cwd: cwd.clone(),
                })
                .await;
            match job {
                Ok(job) => {
                    let inherited = inherited_or_none(&mut client, &args.target, &cwd).await;
                    return show_job(job.into_inner(), &inherited, &args);
                }
                Err(status) if status.code() == tonic::Code::NotFound && text.len() >= 8 => {
                    pb::get_artifact_request::By::Hash(text)
                }
                Err(status) => return Err(status_error(status)),
            }
        }
        Target::ArtifactByHash(text) => pb::get_artifact_request::By::Hash(text),
        Target::ArtifactByPath(path) => pb::get_artifact_request::By::Path(path),
    };
    let artifact = client
        .get_artifact(pb::GetArtifactRequest { by: Some(by) })
        .await;
    match artifact {
        Ok(artifact) => {
            let inherited = inherited_or_none(&mut client, &args.target, &cwd).await;
            show_artifact(&artifact.into_inner(), &inherited, args.json)
        }
        Err(status) if status.code() == tonic::Code::NotFound && ambiguous_kind => {
            Err(super::lineage::no_match(&args.target))
        }
        Err(status) => Err(status_error(status)),
    }
}

/// The inherited labels that reach a target; none when its lineage cannot be read (a
/// repository file, a gone job): `show` shows what it can.
async fn inherited_or_none(client: &mut Client, target: &str, cwd: &[u8]) -> Vec<Inherited> {
    super::label::inherited_by(client, target, cwd)
        .await
        .unwrap_or_default()
}

/// A JSON object with `inherited_labels` added.
fn with_inherited(mut object: serde_json::Value, inherited: &[Inherited]) -> serde_json::Value {
    if let Some(map) = object.as_object_mut() {
        map.insert(
            "inherited_labels".into(),
            super::label::inherited_json(inherited),
        );
    }
    object
}

/// Own labels, then inherited ones with where they came from.
fn show_labels(own: &[pb::Label], inherited: &[Inherited]) {
    let lines = super::label::label_lines(own, inherited);
    if !lines.is_empty() {
        outln!("labels:");
    }
    for line in lines {
        outln!("  {line}");
    }
}

fn show_artifact(
    artifact: &pb::Artifact,
    inherited: &[Inherited],
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    if as_json {
        let object = with_inherited(json::artifact(artifact), inherited);
        outln!("{}", serde_json::to_string_pretty(&object)?);
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(file) = &artifact.repo_file {
        show_repo_file(file, &artifact.uses);
        return Ok(ExitCode::SUCCESS);
    }
    outln!("artifact  {}", human_size(artifact.size));
    for digest in &artifact.hashes {
        outln!("  {:<7} {}", digest.algorithm_name(), digest.hex);
    }
    for url in &artifact.downloaded_from {
        outln!("downloaded from {url}");
    }
    for url in &artifact.uploaded_to {
        outln!("uploaded to {url}");
    }
    show_labels(&artifact.labels, inherited);
    for o in &artifact.policy_overrides {
        outln!(
            "published against the policy ({}): {} to {} by {} at {}: {}",
            o.rule,
            o.action,
            o.destination,
            o.set_by,
            local_time(o.at_ms),
            o.reason
        );
    }
    for (role, title) in [
        (pb::Role::Output, "written by"),
        (pb::Role::Input, "read by"),
    ] {
        let uses: Vec<&pb::ArtifactUse> =
            artifact.uses.iter().filter(|u| u.role() == role).collect();
        outln!("{title} ({}):", uses.len());
        for artifact_use in uses {
            let Some(job) = &artifact_use.job else {
                continue;
            };
            outln!(
                "  {} ({})  {}  {}  {}",
                job.uid,
                step_label(job.kind(), job.step),
                local_time(job.started_at_ms),
                escape_for_terminal(&artifact_use.path),
                command_line(&job.argv)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A file of a git repository that jobs read: code, anchored by the commit, not data.
fn show_repo_file(file: &pb::RepoFile, uses: &[pb::ArtifactUse]) {
    let blob = |id: &str| {
        if id.is_empty() {
            "(none)".to_string()
        } else {
            id.to_string()
        }
    };
    outln!(
        "repository file  {}  in {}",
        escape_for_terminal(&file.relative_path),
        escape_for_terminal(&file.root)
    );
    outln!("  git blob (working tree)  {}", blob(&file.worktree_blob));
    outln!("  git blob (HEAD)          {}", blob(&file.head_blob));
    outln!("read by ({}):", uses.len());
    for artifact_use in uses {
        let Some(job) = &artifact_use.job else {
            continue;
        };
        let commit = job
            .git
            .as_ref()
            .map_or_else(String::new, |g| format!("  {}", git_short(g)));
        outln!(
            "  {} ({})  {}{commit}  {}",
            job.uid,
            step_label(job.kind(), job.step),
            local_time(job.started_at_ms),
            command_line(&job.argv)
        );
    }
}

fn show_job(
    mut job: pb::Job,
    inherited: &[Inherited],
    args: &ShowArgs,
) -> anyhow::Result<ExitCode> {
    let ignored = if args.all {
        0
    } else {
        let before = job.inputs.len() + job.outputs.len();
        job.inputs.retain(is_data);
        job.outputs.retain(is_data);
        before - job.inputs.len() - job.outputs.len()
    };
    if args.json {
        let object = with_inherited(json::job(&job), inherited);
        outln!("{}", serde_json::to_string_pretty(&object)?);
        return Ok(ExitCode::SUCCESS);
    }
    let Some(summary) = &job.summary else {
        anyhow::bail!("roard returned a job without a summary");
    };
    show_header(summary);
    show_git(summary);
    show_origin(summary, &job.reproductions);
    show_run(summary, &job.gaps);
    show_labels(&job.labels, inherited);
    if args.all {
        show_seen_by(job.seen_by.as_ref());
    }
    show_files(&job, args.all, ignored);
    show_packages(&job);
    show_processes(&job.processes);
    Ok(ExitCode::SUCCESS)
}

/// Which job this is and what it ran where.
fn show_header(summary: &pb::JobSummary) {
    outln!(
        "job      {} ({})",
        summary.uid,
        step_label(summary.kind(), summary.step)
    );
    if !summary.placed {
        outln!("note     it failed, so it was kept out of the session's steps");
    }
    outln!("command  {}", command_line(&summary.argv));
    outln!("cwd      {}", escape_for_terminal(&summary.cwd));
    outln!("project  {}", escape_for_terminal(&summary.project));
}

/// The commit the code ran at, and whether uncommitted changes make it unreliable.
fn show_git(summary: &pb::JobSummary) {
    match &summary.git {
        Some(git) => {
            outln!("git      {}  {}", git.repository, git_short(git));
            if let Some(note) = dirty_note(Some(git)) {
                outln!("         DIRTY: {note}; its code cannot be checked out");
            }
            for path in git.dirty_paths.iter().take(10) {
                outln!("           dirty: {}", escape_for_terminal(path));
            }
        }
        None => outln!("git      (not in a git repository)"),
    }
    if !summary.commit_made.is_empty() {
        outln!(
            "commit   the job committed {} (HEAD when it ended)",
            summary.commit_made
        );
    }
}

/// Links to other jobs: the one this reproduces, and those that reproduced this.
fn show_origin(summary: &pb::JobSummary, reproductions: &[pb::Reproduction]) {
    if !summary.reproduces_job.is_empty() {
        outln!(
            "reproduces job {} (for blake3:{})",
            summary.reproduces_job,
            summary.reproduces.trim_start_matches("blake3:")
        );
    }
    for reproduction in reproductions {
        if let (Some(text), Some(by)) = (reproduced_by(reproduction), &reproduction.job) {
            outln!("{text} ({})", local_time(by.started_at_ms));
        }
    }
}

/// When it ran, how it ended, and what the tracer could not see.
fn show_run(summary: &pb::JobSummary, gaps: &[pb::TraceGap]) {
    outln!("started  {}", local_time(summary.started_at_ms));
    if let Some(end) = summary.ended_at_ms {
        outln!("took     {}", duration(end - summary.started_at_ms));
    }
    outln!(
        "state    {} (exit {})",
        summary.state().name(),
        exit_text(summary.exit.as_ref())
    );
    if summary.lingering_processes > 0 {
        outln!(
            "note     {} process(es) still ran when the record was closed at roard's linger \
             bound; what they did afterwards is not recorded",
            summary.lingering_processes
        );
    }
    for gap in gaps {
        outln!("unseen   {}", crate::render::gap_text(gap));
    }
}

/// Which path of the tracer saw how much (`--all`).
fn show_seen_by(seen_by: Option<&pb::SeenBy>) {
    if let Some(seen) = seen_by {
        outln!(
            "traced   {} open(s) recorded by the fast path, {} syscall stop(s) under ptrace",
            seen.fast_path_opens,
            seen.ptrace_stops
        );
    }
}

/// Inputs and outputs; `ignored` counts the files left out without `--all`.
fn show_files(job: &pb::Job, all: bool, ignored: usize) {
    for (title, files) in [("inputs", &job.inputs), ("outputs", &job.outputs)] {
        outln!("{title} ({}):", files.len());
        for file in files {
            outln!("  {}", file_line(file, all));
        }
    }
    if ignored > 0 {
        outln!("({ignored} system, package and scratch file(s) not shown: --all lists them)");
    }
}

/// The packages and Python environments the job used.
fn show_packages(job: &pb::Job) {
    outln!("packages ({}):", job.packages.len());
    for package in &job.packages {
        outln!(
            "  {:<7} {} {}",
            package.ecosystem,
            package.name,
            package.version
        );
    }
    for env in &job.environments {
        outln!(
            "python   {} ({} {}), {}",
            if env.version.is_empty() {
                "?"
            } else {
                &env.version
            },
            env.kind,
            escape_for_terminal(&env.root),
            escape_for_terminal(&env.interpreter)
        );
    }
}

/// The process tree, with the programs each process executed before its last one.
fn show_processes(processes: &[pb::Process]) {
    outln!("processes ({}):", processes.len());
    for (depth, process) in process_tree(processes) {
        outln!(
            "  {}{} exit {}  {}",
            "  ".repeat(depth),
            process.pid,
            exit_text(process.exit.as_ref()),
            command_line(&process.argv)
        );
        for image in &process.earlier {
            outln!(
                "  {}  (executed before: {})",
                "  ".repeat(depth),
                command_line(&image.argv)
            );
        }
    }
}

/// The processes in tree order (each after its parent, indented by depth). A pid seen
/// twice (reused after exit) is matched to the latest parent that started before it.
fn process_tree(processes: &[pb::Process]) -> Vec<(usize, &pb::Process)> {
    let pids: std::collections::HashSet<u32> = processes.iter().map(|p| p.pid).collect();
    let mut children: std::collections::HashMap<u32, Vec<&pb::Process>> = Default::default();
    let mut roots = Vec::new();
    for process in processes {
        if pids.contains(&process.ppid) && process.ppid != process.pid {
            children.entry(process.ppid).or_default().push(process);
        } else {
            roots.push(process);
        }
    }
    let mut ordered = Vec::with_capacity(processes.len());
    let mut seen = std::collections::HashSet::new();
    let mut stack: Vec<(usize, &pb::Process)> = roots.into_iter().rev().map(|p| (0, p)).collect();
    while let Some((depth, process)) = stack.pop() {
        if !seen.insert(process as *const pb::Process) {
            continue;
        }
        ordered.push((depth, process));
        if let Some(kids) = children.get(&process.pid) {
            for kid in kids.iter().rev() {
                stack.push((depth + 1, kid));
            }
        }
    }
    // Anything a cycle of reused pids hid is still listed.
    for process in processes {
        if !seen.contains(&(process as *const pb::Process)) {
            ordered.push((0, process));
        }
    }
    ordered
}

/// Artifacts and repository files: what the job's record is about. (An empty class
/// comes from records made before files were classified: all were data then.)
fn is_data(file: &pb::FileRecord) -> bool {
    file.class().is_data() || file.class() == pb::FileClass::Unspecified
}

/// `12ab34cd  1.2 KiB  /path (as named)`: short hash, size, path; with `with_class`,
/// the class first.
fn file_line(file: &pb::FileRecord, with_class: bool) -> String {
    let short =
        roar_proto::vocabulary::blake3(&file.hashes).map_or("-", |hex| &hex[..hex.len().min(12)]);
    let size = file.size.map_or_else(|| "?".to_string(), human_size);
    let mut line = if with_class {
        format!("{:<8}  ", file.class().name())
    } else {
        String::new()
    };
    line.push_str(&format!(
        "{short:<12}  {size:>9}  {}",
        escape_for_terminal(&file.path)
    ));
    if !file.named_path.is_empty() {
        line.push_str(&format!("  (as {})", escape_for_terminal(&file.named_path)));
    }
    if file.pre_image {
        line.push_str("  [content before the job changed it]");
    }
    if !file.link_target.is_empty() {
        line.push_str(&format!(
            "  [symlink -> {}]",
            escape_for_terminal(&file.link_target)
        ));
    }
    if !file.hard_link_of.is_empty() {
        line.push_str(&format!(
            "  [hard link of {}]",
            escape_for_terminal(&file.hard_link_of)
        ));
    }
    line
}
