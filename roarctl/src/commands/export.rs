//! `roarctl export [TARGET] --format prov-json|openlineage`: lineage in standard
//! formats, for tools that speak them: W3C PROV-JSON (one document) and OpenLineage
//! (one RunEvent per job, one JSON object per line). Without a target, the active
//! session's DAG; with one, the upstream lineage of that artifact or job.

use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use std::collections::HashMap;

use roar_proto::pb;
use serde_json::{Map, Value, json};

use crate::context::Context;
use crate::graph::label;
use crate::render::{command_line, escape_bytes, rfc3339};
use crate::status_error;

/// Who produced the events, as OpenLineage and PROV want a URI for it.
const PRODUCER: &str = "https://github.com/roar-provenance/roar";
/// The namespace of roar's own PROV terms.
const ROAR_NS: &str = "https://github.com/roar-provenance/roar/ns#";
const OPENLINEAGE_RUN_EVENT: &str =
    "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum Format {
    /// W3C PROV-JSON: artifacts are entities, jobs activities
    ProvJson,
    /// OpenLineage RunEvents, one per line
    Openlineage,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// An artifact (path or hash prefix) or a job (`@N`, `last`, uid); default: the
    /// active session
    #[arg(value_name = "TARGET")]
    pub target: Option<String>,
    #[arg(long, value_enum)]
    pub format: Format,
}

pub async fn export(ctx: &Context, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir()?.as_os_str().as_bytes().to_vec();
    let mut client = ctx.client().await?;
    let graph = match &args.target {
        None => client.get_dag(pb::GetDagRequest { cwd }).await,
        Some(text) => {
            client
                .get_lineage(pb::GetLineageRequest {
                    target: Some(super::lineage::target(text)?),
                    cwd,
                    downstream: false,
                    depth: 0,
                })
                .await
        }
    }
    .map_err(status_error)?
    .into_inner();
    match args.format {
        Format::ProvJson => outln!("{}", serde_json::to_string_pretty(&prov_json(&graph))?),
        Format::Openlineage => {
            for event in openlineage(&graph) {
                outln!("{}", serde_json::to_string(&event)?);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn blake3_of(artifact: &pb::GraphArtifact) -> String {
    roar_proto::vocabulary::blake3(&artifact.hashes)
        .map_or_else(|| format!("id{}", artifact.id), str::to_string)
}

/// PROV identifiers of artifacts, by id: named by content.
fn entity_ids(graph: &pb::Graph) -> HashMap<u64, String> {
    graph
        .artifacts
        .iter()
        .map(|a| (a.id, format!("roar:blake3-{}", blake3_of(a))))
        .collect()
}

fn entity_id(ids: &HashMap<u64, String>, artifact: u64) -> String {
    ids.get(&artifact)
        .cloned()
        .unwrap_or_else(|| format!("roar:artifact-{artifact}"))
}

fn activity_id(uid: &str) -> String {
    format!("roar:job-{uid}")
}

/// PROV-JSON: entities (artifacts, named by content), activities (jobs), `used`,
/// `wasGeneratedBy` (with the path as a roar attribute) and `wasInformedBy` (the
/// edges between jobs).
pub fn prov_json(graph: &pb::Graph) -> Value {
    let ids = entity_ids(graph);
    let mut entities = Map::new();
    for artifact in &graph.artifacts {
        let mut attributes = Map::new();
        attributes.insert("prov:type".into(), json!("roar:Artifact"));
        attributes.insert("roar:size".into(), json!(artifact.size));
        for digest in &artifact.hashes {
            attributes.insert(
                format!("roar:{}", digest.algorithm_name()),
                json!(digest.hex),
            );
        }
        attributes.insert("roar:source".into(), json!(artifact.source));
        entities.insert(entity_id(&ids, artifact.id), Value::Object(attributes));
    }
    let (mut activities, mut used, mut generated, mut informed) =
        (Map::new(), Map::new(), Map::new(), Map::new());
    for job in &graph.jobs {
        let Some(summary) = &job.job else { continue };
        let id = activity_id(&summary.uid);
        let mut attributes = Map::new();
        attributes.insert("prov:label".into(), json!(command_line(&summary.argv)));
        attributes.insert(
            "prov:startTime".into(),
            json!(rfc3339(summary.started_at_ms)),
        );
        if let Some(end) = summary.ended_at_ms {
            attributes.insert("prov:endTime".into(), json!(rfc3339(end)));
        }
        attributes.insert("roar:step".into(), json!(label(job)));
        attributes.insert("roar:cwd".into(), json!(escape_bytes(&summary.cwd)));
        if let Some(pb::exit_status::Status::Code(code)) =
            summary.exit.as_ref().and_then(|e| e.status)
        {
            attributes.insert("roar:exitCode".into(), json!(code));
        }
        activities.insert(id.clone(), Value::Object(attributes));
        for (n, input) in job.inputs.iter().enumerate() {
            used.insert(
                format!("_:used-{}-{n}", summary.uid),
                json!({
                    "prov:activity": id,
                    "prov:entity": entity_id(&ids, input.artifact_id),
                    "roar:path": escape_bytes(&input.path),
                }),
            );
        }
        for (n, output) in job.outputs.iter().enumerate() {
            let mut relation = json!({
                "prov:entity": entity_id(&ids, output.artifact_id),
                "prov:activity": id,
                "roar:path": escape_bytes(&output.path),
            });
            if let Some(end) = summary.ended_at_ms {
                relation["prov:time"] = json!(rfc3339(end));
            }
            generated.insert(format!("_:gen-{}-{n}", summary.uid), relation);
        }
    }
    for (n, edge) in graph.edges.iter().enumerate() {
        informed.insert(
            format!("_:informed-{n}"),
            json!({
                "prov:informed": activity_id(&edge.to_job),
                "prov:informant": activity_id(&edge.from_job),
            }),
        );
    }
    json!({
        "prefix": {"roar": ROAR_NS},
        "entity": entities,
        "activity": activities,
        "used": used,
        "wasGeneratedBy": generated,
        "wasInformedBy": informed,
    })
}

/// A UUID for a job's run, derived from its uid so exports are repeatable (version 8,
/// "custom", per RFC 9562).
fn run_id(uid: &str) -> String {
    let digest = blake3::hash(uid.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_bytes()[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn dataset(artifacts: &HashMap<u64, &pb::GraphArtifact>, file: &pb::FileRef) -> Value {
    let mut content = Map::new();
    content.insert("_producer".into(), json!(PRODUCER));
    content.insert(
        "_schemaURL".into(),
        json!(format!(
            "{PRODUCER}/blob/main/README.md#openlineage-content-facet"
        )),
    );
    if let Some(artifact) = artifacts.get(&file.artifact_id) {
        content.insert("size".into(), json!(artifact.size));
        for digest in &artifact.hashes {
            content.insert(digest.algorithm_name().to_string(), json!(digest.hex));
        }
    }
    json!({
        "namespace": "file",
        "name": escape_bytes(&file.path),
        "facets": {"roar_content": content},
    })
}

/// One OpenLineage RunEvent per job: COMPLETE or FAIL at its end (START while it
/// runs), its inputs and outputs as `file` datasets with their hashes in a
/// `roar_content` facet.
pub fn openlineage(graph: &pb::Graph) -> Vec<Value> {
    let artifacts: HashMap<u64, &pb::GraphArtifact> =
        graph.artifacts.iter().map(|a| (a.id, a)).collect();
    graph
        .jobs
        .iter()
        .filter_map(|job| {
            let summary = job.job.as_ref()?;
            let succeeded = matches!(
                summary.exit.as_ref().and_then(|e| e.status),
                Some(pb::exit_status::Status::Code(0))
            );
            let (event_type, time) = match summary.ended_at_ms {
                None => ("START", summary.started_at_ms),
                Some(end) if succeeded => ("COMPLETE", end),
                Some(end) => ("FAIL", end),
            };
            Some(json!({
                "eventType": event_type,
                "eventTime": rfc3339(time),
                "producer": PRODUCER,
                "schemaURL": OPENLINEAGE_RUN_EVENT,
                "run": {"runId": run_id(&summary.uid)},
                "job": {
                    "namespace": format!("roar:{}", escape_bytes(&summary.project)),
                    "name": command_line(&summary.argv),
                },
                "inputs": job.inputs.iter().map(|f| dataset(&artifacts, f)).collect::<Vec<_>>(),
                "outputs": job.outputs.iter().map(|f| dataset(&artifacts, f)).collect::<Vec<_>>(),
            }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_uuids_and_repeatable() {
        let id = run_id("0123456789ab");
        assert_eq!(id, run_id("0123456789ab"));
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "8");
    }
}
