//! `roarctl show JOB`: one job's full record.

use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use roar_proto::pb;

use crate::context::Context;
use crate::render::{
    command_line, duration, escape_for_terminal, exit_text, human_size, local_time,
};
use crate::{json, status_error};

#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// A job uid (or a unique prefix of at least 4 digits), `@N` (step N of this
    /// project) or `last`
    #[arg(default_value = "last")]
    pub job: String,
    /// Print a JSON object (see README, "JSON output")
    #[arg(long)]
    pub json: bool,
}

pub async fn show(ctx: &Context, args: ShowArgs) -> anyhow::Result<ExitCode> {
    let mut client = ctx.client().await?;
    let job = client
        .get_job(pb::GetJobRequest {
            selector: args.job,
            cwd: std::env::current_dir()?.as_os_str().as_bytes().to_vec(),
        })
        .await
        .map_err(status_error)?
        .into_inner();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&json::job(&job))?);
        return Ok(ExitCode::SUCCESS);
    }
    let Some(summary) = &job.summary else {
        anyhow::bail!("roard returned a job without a summary");
    };
    outln!("job      {} (@{})", summary.uid, summary.step);
    outln!("command  {}", command_line(&summary.argv));
    outln!("cwd      {}", escape_for_terminal(&summary.cwd));
    outln!("project  {}", escape_for_terminal(&summary.project));
    outln!("started  {}", local_time(summary.started_at_ms));
    if let Some(end) = summary.ended_at_ms {
        outln!("took     {}", duration(end - summary.started_at_ms));
    }
    outln!(
        "state    {} (exit {})",
        summary.state,
        exit_text(summary.exit.as_ref())
    );
    if summary.lingering_processes > 0 {
        outln!(
            "note     {} process(es) still ran when the record was closed at roard's linger \
             bound; what they did afterwards is not recorded",
            summary.lingering_processes
        );
    }
    for (title, files) in [("inputs", &job.inputs), ("outputs", &job.outputs)] {
        outln!("{title} ({}):", files.len());
        for file in files {
            outln!("  {}", file_line(file));
        }
    }
    outln!("processes ({}):", job.processes.len());
    for process in &job.processes {
        outln!(
            "  {:>7} <- {:<7} exit {:>7}  {}",
            process.pid,
            process.ppid,
            exit_text(process.exit.as_ref()),
            command_line(&process.argv)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `12ab34cd  1.2 KiB  /path (as named)`: short hash, size, path.
fn file_line(file: &pb::FileRecord) -> String {
    let short = file
        .hashes
        .iter()
        .find(|d| d.algorithm == "blake3")
        .map_or("-", |d| &d.hex[..d.hex.len().min(12)]);
    let size = file.size.map_or_else(|| "?".to_string(), human_size);
    let mut line = format!(
        "{short:<12}  {size:>9}  {}",
        escape_for_terminal(&file.path)
    );
    if !file.named_path.is_empty() {
        line.push_str(&format!("  (as {})", escape_for_terminal(&file.named_path)));
    }
    if file.pre_image {
        line.push_str("  [content before the job changed it]");
    }
    line
}
