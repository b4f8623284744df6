//! `roarctl tag [TARGET] [--push-tags]`: tag every commit a lineage rests on with
//! `roar/<DAG hash>`, as `put` and `register` do before they publish lineage.

use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use roar_proto::pb;

use crate::context::Context;
use crate::render::escape_for_terminal;
use crate::status_error;

#[derive(clap::Args, Debug)]
pub struct TagArgs {
    /// An artifact (path or hash prefix) or a job (`@N`, `last`, uid): its upstream
    /// lineage; default: the active session
    #[arg(value_name = "TARGET")]
    pub target: Option<String>,
    /// Also push the tags to each repository's `origin`
    #[arg(long)]
    pub push_tags: bool,
    /// Print a JSON object: `dag_hash` and `tags` (`root`, `commit`, `name`, `created`,
    /// `pushed`)
    #[arg(long)]
    pub json: bool,
}

pub async fn tag(ctx: &Context, args: TagArgs) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir()?.as_os_str().as_bytes().to_vec();
    let target = args
        .target
        .as_deref()
        .map(super::lineage::target)
        .transpose()?;
    let mut client = ctx.client().await?;
    let reply = client
        .tag_lineage(pb::TagLineageRequest {
            lineage: Some(pb::GetLineageRequest {
                target,
                cwd,
                downstream: false,
                depth: 0,
            }),
            push: args.push_tags,
            artifacts: Vec::new(),
        })
        .await
        .map_err(status_error)?
        .into_inner();
    if args.json {
        let tags: Vec<serde_json::Value> = reply
            .tags
            .iter()
            .map(|t| {
                serde_json::json!({
                    "root": crate::render::escape_bytes(&t.root),
                    "commit": t.commit,
                    "name": t.name,
                    "created": t.created,
                    "pushed": t.pushed,
                })
            })
            .collect();
        let value = serde_json::json!({"dag_hash": reply.dag_hash, "tags": tags});
        outln!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    if reply.tags.is_empty() {
        eprintln!("roar: no job of this lineage ran at a git commit; nothing to tag");
    }
    for tag in &reply.tags {
        outln!(
            "{} {} on {} in {}{}",
            if tag.created {
                "created"
            } else {
                "already there:"
            },
            tag.name,
            &tag.commit[..tag.commit.len().min(12)],
            escape_for_terminal(&tag.root),
            if tag.pushed { ", pushed" } else { "" }
        );
    }
    Ok(ExitCode::SUCCESS)
}
