//! `roarctl label set|unset|show`: labels on jobs, artifacts and sessions, and the
//! inherited labels that reach a target from upstream (see `label_inheritance`).

use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use roar_proto::pb;
use roar_proto::pb::get_lineage_request::Target;
use roar_proto::pb::label_target;
use serde_json::{Value, json};

use crate::connection::Client;
use crate::context::Context;
use crate::label_inheritance::{Inherited, Start, inherited};
use crate::render::local_time;
use crate::{status_error, usage};

#[derive(clap::Subcommand, Debug)]
pub enum LabelCommand {
    /// Set labels (`key=value`…) on a target
    Set {
        #[arg(value_name = "TARGET")]
        target: String,
        #[arg(value_name = "KEY=VALUE", required = true)]
        labels: Vec<String>,
        /// Every artifact downstream carries these labels (the default for the keys
        /// in `labels.inherit`)
        #[arg(long, conflicts_with = "no_inherit")]
        inherit: bool,
        /// Keep these labels on the target only, even for keys in `labels.inherit`
        #[arg(long)]
        no_inherit: bool,
    },
    /// Remove labels from a target
    Unset {
        #[arg(value_name = "TARGET")]
        target: String,
        #[arg(value_name = "KEY", required = true)]
        keys: Vec<String>,
    },
    /// A target's labels, and those it inherits from upstream
    Show {
        #[arg(value_name = "TARGET", default_value = "last")]
        target: String,
        /// Every change, oldest first, with who made it and when
        #[arg(long)]
        history: bool,
        /// Print a JSON object (see README, "JSON output")
        #[arg(long)]
        json: bool,
    },
}

pub async fn label(ctx: &Context, command: LabelCommand) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir()?.as_os_str().as_bytes().to_vec();
    let mut client = ctx.client().await?;
    match command {
        LabelCommand::Set {
            target,
            labels,
            inherit,
            no_inherit,
        } => {
            let mut set = Vec::new();
            for text in &labels {
                let Some((key, value)) = text.split_once('=') else {
                    return Err(usage::usage(format!(
                        "'{text}' is not a label: write key=value"
                    )));
                };
                let by_default = ctx.inherited_keys.iter().any(|k| k == key);
                set.push(pb::Label {
                    key: key.to_string(),
                    value: value.to_string(),
                    inherit: inherit || (by_default && !no_inherit),
                    ..Default::default()
                });
            }
            let request = pb::SetLabelsRequest {
                target: Some(label_target(&target, &cwd)?),
                set,
                unset: Vec::new(),
            };
            let reply = client.set_labels(request).await.map_err(status_error)?;
            print_labels(&reply.into_inner(), &[]);
        }
        LabelCommand::Unset { target, keys } => {
            let request = pb::SetLabelsRequest {
                target: Some(label_target(&target, &cwd)?),
                set: Vec::new(),
                unset: keys,
            };
            let reply = client.set_labels(request).await.map_err(status_error)?;
            print_labels(&reply.into_inner(), &[]);
        }
        LabelCommand::Show {
            target,
            history,
            json,
        } => {
            let request = pb::GetLabelsRequest {
                target: Some(label_target(&target, &cwd)?),
                history,
            };
            let labels = client.get_labels(request).await.map_err(status_error)?;
            let labels = labels.into_inner();
            let from_upstream = inherited_by(&mut client, &target, &cwd).await?;
            if json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&as_json(&labels, &from_upstream))?
                );
            } else if history {
                print_history(&labels);
            } else {
                print_labels(&labels, &from_upstream);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What a command-line target names: `session` / `session:N`, else as `lineage` reads it.
pub fn label_target(text: &str, cwd: &[u8]) -> anyhow::Result<pb::LabelTarget> {
    let target = if text == "session" {
        label_target::Target::Session(0)
    } else if let Some(number) = text.strip_prefix("session:") {
        let number: u32 = number.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
            usage::usage(format!(
                "'{text}' is not a session: write session or session:N"
            ))
        })?;
        label_target::Target::Session(number)
    } else {
        match super::lineage::target(text)? {
            Target::Job(selector) => label_target::Target::Job(selector),
            Target::Hash(hash) => label_target::Target::Hash(hash),
            Target::Path(path) => label_target::Target::Path(path),
        }
    };
    Ok(pb::LabelTarget {
        target: Some(target),
        cwd: cwd.to_vec(),
    })
}

/// The inherited labels that reach an artifact or a job (none for a session).
pub async fn inherited_by(
    client: &mut Client,
    text: &str,
    cwd: &[u8],
) -> anyhow::Result<Vec<Inherited>> {
    if text == "session" || text.starts_with("session:") {
        return Ok(Vec::new());
    }
    let target = super::lineage::target(text)?;
    let of_job = matches!(target, Target::Job(_));
    let graph = client
        .get_lineage(pb::GetLineageRequest {
            target: Some(target),
            cwd: cwd.to_vec(),
            downstream: false,
            depth: 0,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let base =
        roar_proto::project::project_root(std::path::Path::new(std::ffi::OsStr::from_bytes(cwd)));
    let base = base.as_os_str().as_bytes();
    // A job's lineage holds the job itself at depth 0; an artifact's is rooted at it.
    let job_uid = graph
        .jobs
        .iter()
        .find(|j| j.depth == 0)
        .and_then(|j| j.job.as_ref())
        .map(|s| s.uid.clone());
    let start = match (of_job, &job_uid, graph.roots.first()) {
        (true, Some(uid), _) => Start::Job(uid),
        (false, _, Some(id)) => Start::Artifact(*id),
        _ => return Ok(Vec::new()),
    };
    Ok(inherited(&graph, base, start))
}

/// A target's own labels, then those it inherits with where they came from.
pub fn label_lines(own: &[pb::Label], from_upstream: &[Inherited]) -> Vec<String> {
    let own_lines = own.iter().map(|label| {
        let note = if label.inherit {
            " (inherited downstream)"
        } else {
            ""
        };
        format!("{}={}{note}", label.key, label.value)
    });
    own_lines
        .chain(from_upstream.iter().map(Inherited::describe))
        .collect()
}

fn print_labels(labels: &pb::Labels, from_upstream: &[Inherited]) {
    if labels.labels.is_empty() && from_upstream.is_empty() {
        outln!("{} has no labels", labels.target);
        return;
    }
    outln!("labels of {}:", labels.target);
    let lines = label_lines(&labels.labels, from_upstream);
    // The first lines are the own labels, in order: each gets who set it and when.
    let set: Vec<String> = labels
        .labels
        .iter()
        .map(|l| format!("   set by {} at {}", l.set_by, local_time(l.set_at_ms)))
        .collect();
    for (index, line) in lines.iter().enumerate() {
        outln!("  {line}{}", set.get(index).map_or("", String::as_str));
    }
}

fn print_history(labels: &pb::Labels) {
    outln!("label changes of {}, oldest first:", labels.target);
    for label in &labels.labels {
        let change = match label.removed {
            true => format!("unset {}", label.key),
            false => format!("set {}={}", label.key, label.value),
        };
        outln!(
            "  {}  {}  {change}",
            local_time(label.set_at_ms),
            label.set_by
        );
    }
}

/// `label_json` for each own label, and the inherited ones with their path.
fn as_json(labels: &pb::Labels, from_upstream: &[Inherited]) -> Value {
    json!({
        "target": labels.target,
        "labels": crate::json::labels(&labels.labels),
        "inherited": inherited_json(from_upstream),
    })
}

/// `[{key, value, from, via}]`.
pub fn inherited_json(from_upstream: &[Inherited]) -> Value {
    Value::Array(
        from_upstream
            .iter()
            .map(|e| json!({"key": e.key, "value": e.value, "from": e.from, "via": e.via}))
            .collect(),
    )
}

/// The label policy (`policy.refuse_put`) before `action` publishes `artifacts`
/// (display name, BLAKE3 hex): an error naming each refused label and where it came
/// from, unless `override_reason` is given; then what to record as overridden.
pub async fn check_policy(
    ctx: &Context,
    client: &mut Client,
    cwd: &[u8],
    artifacts: &[(String, String)],
    override_reason: Option<&str>,
) -> anyhow::Result<Vec<(String, String)>> {
    if ctx.refuse_put.is_empty() {
        return Ok(Vec::new());
    }
    let mut refusals = Vec::new();
    let mut overridden = Vec::new();
    for (name, blake3) in artifacts {
        let target = format!("blake3:{blake3}");
        let own = match client
            .get_labels(pb::GetLabelsRequest {
                target: Some(label_target(&target, cwd)?),
                history: false,
            })
            .await
        {
            Ok(reply) => reply.into_inner().labels,
            // Content no job recorded and nobody labelled: nothing to refuse.
            Err(status) if status.code() == tonic::Code::NotFound => continue,
            Err(status) => return Err(status_error(status)),
        };
        let from_upstream = inherited_by(client, &target, cwd).await?;
        for (rule, why) in crate::label_inheritance::refused(&ctx.refuse_put, &own, &from_upstream)
        {
            refusals.push(format!("  {name}: {why}"));
            overridden.push((blake3.clone(), rule));
        }
    }
    match (refusals.is_empty(), override_reason) {
        (true, _) => Ok(Vec::new()),
        (false, Some(_)) => Ok(overridden),
        (false, None) => anyhow::bail!(
            "refusing to publish: policy.refuse_put forbids these labels\n{}\nhint: remove \
             the label, or publish anyway with --override-policy REASON (recorded)",
            refusals.join("\n")
        ),
    }
}

/// Records each overridden (BLAKE3, rule) of a publication that went ahead.
pub async fn record_overrides(
    client: &mut Client,
    overridden: &[(String, String)],
    action: &str,
    destination: &str,
    reason: &str,
) -> anyhow::Result<()> {
    for (blake3, rule) in overridden {
        let record = pb::PolicyOverride {
            action: action.to_string(),
            destination: destination.to_string(),
            rule: rule.clone(),
            reason: reason.to_string(),
            ..Default::default()
        };
        client
            .record_policy_override(pb::RecordPolicyOverrideRequest {
                blake3: vec![blake3.clone()],
                record: Some(record),
            })
            .await
            .map_err(status_error)?;
    }
    Ok(())
}
