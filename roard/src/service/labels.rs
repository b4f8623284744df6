//! `SetLabels`, `GetLabels`, `RecordPolicyOverride`: labels on jobs, artifacts and
//! sessions. roard resolves the target and stamps each change with its user (the
//! daemon is per user) and the time; inheritance is worked out by readers from the
//! lineage, so a label set upstream reaches every artifact made from it, later ones too.

use roar_proto::pb;
use roar_proto::pb::label_target::Target;
use tonic::Status;

use super::{artifact_lookup_status, project_of, store_failed};
use crate::clock::now_ms;
use crate::state::DaemonState;
use crate::store::input::LabelChange;
use crate::store::model::{LabelOwner, PolicyOverride};

pub async fn set_labels(
    state: &DaemonState,
    request: &pb::SetLabelsRequest,
) -> Result<pb::Labels, Status> {
    let (owner, target) = resolve(state, request.target.as_ref()).await?;
    let now = state
        .store
        .labels(owner, false)
        .await
        .map_err(store_failed("read the labels"))?;
    let mut changes = Vec::new();
    for key in &request.unset {
        if !now.iter().any(|l| &l.key == key) {
            return Err(Status::not_found(format!(
                "{target} has no label '{key}'; `roarctl label show` lists its labels"
            )));
        }
        changes.push(LabelChange {
            key: key.clone(),
            value: None,
            inherit: false,
        });
    }
    for label in &request.set {
        check_key(&label.key)?;
        changes.push(LabelChange {
            key: label.key.clone(),
            value: Some(label.value.clone()),
            inherit: label.inherit,
        });
    }
    let labels = state
        .store
        .change_labels(owner, &changes, &user_name(), now_ms())
        .await
        .map_err(store_failed("record the labels"))?;
    Ok(pb::Labels {
        labels: labels.into_iter().map(pb::Label::from).collect(),
        target,
    })
}

pub async fn get_labels(
    state: &DaemonState,
    request: &pb::GetLabelsRequest,
) -> Result<pb::Labels, Status> {
    let (owner, target) = resolve(state, request.target.as_ref()).await?;
    let labels = state
        .store
        .labels(owner, request.history)
        .await
        .map_err(store_failed("read the labels"))?;
    Ok(pb::Labels {
        labels: labels.into_iter().map(pb::Label::from).collect(),
        target,
    })
}

pub async fn record_policy_override(
    state: &DaemonState,
    request: &pb::RecordPolicyOverrideRequest,
) -> Result<pb::RecordPolicyOverrideReply, Status> {
    let Some(record) = &request.record else {
        return Err(Status::invalid_argument("the override record is missing"));
    };
    if record.reason.trim().is_empty() {
        return Err(Status::invalid_argument(
            "an override of the label policy needs a reason",
        ));
    }
    for blake3 in &request.blake3 {
        let id = state
            .store
            .artifact_id_by_hash(&format!("blake3:{blake3}"))
            .await
            .map_err(artifact_lookup_status)?;
        let stored = PolicyOverride {
            action: record.action.clone(),
            destination: record.destination.clone(),
            rule: record.rule.clone(),
            reason: record.reason.clone(),
            set_by: user_name(),
            at_ms: now_ms(),
        };
        state
            .store
            .record_policy_override(id, &stored)
            .await
            .map_err(store_failed("record the policy override"))?;
    }
    Ok(pb::RecordPolicyOverrideReply {})
}

/// Keys are names people type and exports carry: letters, digits, `_`, `-`, `.`.
fn check_key(key: &str) -> Result<(), Status> {
    let fits = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if key.is_empty() || !key.chars().all(fits) {
        return Err(Status::invalid_argument(format!(
            "'{key}' is not a label key: use letters, digits, '_', '-' and '.'"
        )));
    }
    Ok(())
}

/// The daemon's user: who every change through this per-user daemon is made by.
fn user_name() -> String {
    let uid = nix::unistd::getuid();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(user)) => user.name,
        _ => uid.to_string(),
    }
}

/// The owner a target names, and how to name it in messages.
pub async fn resolve(
    state: &DaemonState,
    target: Option<&pb::LabelTarget>,
) -> Result<(LabelOwner, String), Status> {
    let Some(target) = target else {
        return Err(Status::invalid_argument(
            "give a job, an artifact or a session",
        ));
    };
    let store = &state.store;
    let project = || project_of(&target.cwd);
    match &target.target {
        Some(Target::Job(selector)) => {
            let (id, uid) = super::job_by_selector(state, selector, &target.cwd).await?;
            let short = uid.get(..8).unwrap_or(&uid);
            Ok((LabelOwner::Job(id), format!("job {short}")))
        }
        Some(Target::Hash(prefix)) => {
            let id = store
                .artifact_id_by_hash(prefix)
                .await
                .map_err(artifact_lookup_status)?;
            Ok((LabelOwner::Artifact(id), format!("artifact {prefix}")))
        }
        Some(Target::Path(path)) => {
            let id = store
                .artifact_id_by_path(path)
                .await
                .map_err(artifact_lookup_status)?;
            let name = String::from_utf8_lossy(path);
            Ok((LabelOwner::Artifact(id), format!("artifact {name}")))
        }
        Some(Target::Session(number)) => {
            let project = project()?;
            let session = match number {
                0 => store.active_session(&project).await,
                n => store.session_by_number(&project, *n).await,
            }
            .map_err(store_failed("read the session"))?
            .ok_or_else(|| {
                Status::not_found(match number {
                    0 => "this project has no session yet".to_string(),
                    n => format!("this project has no session {n}; `roarctl status` shows it"),
                })
            })?;
            let owner = LabelOwner::Session(session.id as i64);
            Ok((owner, format!("session {}", session.number)))
        }
        None => Err(Status::invalid_argument(
            "give a job, an artifact or a session",
        )),
    }
}

/// `owner`'s labels now, for a reply that shows them.
pub async fn own_labels(state: &DaemonState, owner: LabelOwner) -> Result<Vec<pb::Label>, Status> {
    Ok(state
        .store
        .labels(owner, false)
        .await
        .map_err(store_failed("read the labels"))?
        .into_iter()
        .map(pb::Label::from)
        .collect())
}

/// Artifact `id`'s labels and policy overrides, filled into its reply.
pub async fn fill_artifact(
    state: &DaemonState,
    id: i64,
    artifact: &mut pb::Artifact,
) -> Result<(), Status> {
    artifact.labels = own_labels(state, LabelOwner::Artifact(id)).await?;
    artifact.policy_overrides = state
        .store
        .policy_overrides(id)
        .await
        .map_err(store_failed("read the policy overrides"))?
        .into_iter()
        .map(pb::PolicyOverride::from)
        .collect();
    Ok(())
}
