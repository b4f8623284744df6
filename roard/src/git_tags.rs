//! Tags that anchor published lineage in the code's history: each commit the jobs of a
//! sub-DAG ran at gets an annotated tag `roar/<first 12 hex of the DAG hash>`, made with
//! git2. The DAG hash is a content hash over the jobs and the artifacts' hashes, so the
//! same lineage always gets the same tag; re-tagging is a no-op, and a tag of that name
//! on another commit is a conflict reported as such.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use git2::{ErrorCode, Oid, Repository, Signature};
use roar_proto::pb;

/// Jobs and artifacts listed in a tag's message; beyond this, a count.
const LISTED: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum TagError {
    #[error(
        "tag {name} already exists in {root} on commit {existing}, not on {wanted}; \
         delete it (`git tag -d {name}`) if it is stale, or leave this lineage untagged"
    )]
    Conflict {
        name: String,
        root: String,
        existing: String,
        wanted: String,
    },
    #[error("cannot tag commit {commit} in {root}: {message}")]
    Git {
        root: String,
        commit: String,
        message: String,
    },
    #[error("cannot push tag {name} from {root}: {message}")]
    Push {
        name: String,
        root: String,
        message: String,
    },
}

/// The tag's name for a DAG hash.
pub fn tag_name(dag_hash: &str) -> String {
    format!("roar/{}", &dag_hash[..dag_hash.len().min(12)])
}

/// What the tag says: the artifacts and jobs it anchors.
fn message(graph: &pb::Graph, dag_hash: &str) -> String {
    let mut text = format!(
        "roar lineage {dag_hash}\n\nAnchors {} job(s) and {} artifact(s) recorded by roar.\n\nJobs:\n",
        graph.jobs.len(),
        graph.artifacts.len()
    );
    for job in graph.jobs.iter().take(LISTED) {
        let Some(summary) = &job.job else { continue };
        let argv: Vec<String> = summary
            .argv
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        text.push_str(&format!("  {}  {}\n", summary.uid, argv.join(" ")));
    }
    if graph.jobs.len() > LISTED {
        text.push_str(&format!("  … and {} more\n", graph.jobs.len() - LISTED));
    }
    text.push_str("\nArtifacts:\n");
    for artifact in graph.artifacts.iter().take(LISTED) {
        if let Some(hex) = roar_proto::vocabulary::blake3(&artifact.hashes) {
            text.push_str(&format!("  blake3:{hex}  {} bytes\n", artifact.size));
        }
    }
    if graph.artifacts.len() > LISTED {
        text.push_str(&format!(
            "  … and {} more\n",
            graph.artifacts.len() - LISTED
        ));
    }
    text
}

/// Tags every commit the graph's jobs ran at (and pushes the tags when asked).
pub fn tag_commits(graph: &pb::Graph, push: bool) -> Result<pb::TagLineageReply, TagError> {
    let hash = roar_proto::graph::dag_hash(graph);
    let name = tag_name(&hash);
    let text = message(graph, &hash);
    let commits: BTreeSet<(Vec<u8>, String)> = graph
        .jobs
        .iter()
        .filter_map(|j| j.job.as_ref()?.git.as_ref())
        .filter(|g| !g.commit.is_empty())
        .map(|g| (g.root.clone(), g.commit.clone()))
        .collect();
    let mut tags = Vec::new();
    for (root, commit) in commits {
        let created = tag_one(&root, &commit, &name, &text)?;
        let pushed = push && {
            push_tag(&root, &name)?;
            true
        };
        tags.push(pb::CommitTag {
            root,
            commit,
            name: name.clone(),
            created,
            pushed,
        });
    }
    Ok(pb::TagLineageReply {
        dag_hash: hash,
        tags,
    })
}

/// Creates the annotated tag; false when the same tag already points at the commit.
fn tag_one(root: &[u8], commit: &str, name: &str, text: &str) -> Result<bool, TagError> {
    let root_text = String::from_utf8_lossy(root).into_owned();
    let git_error = |e: git2::Error| TagError::Git {
        root: root_text.clone(),
        commit: commit.to_string(),
        message: e.message().to_string(),
    };
    let repository = Repository::open(Path::new(OsStr::from_bytes(root))).map_err(git_error)?;
    let oid = Oid::from_str(commit).map_err(git_error)?;
    let target = repository.find_commit(oid).map_err(git_error)?;
    match repository.find_reference(&format!("refs/tags/{name}")) {
        Ok(existing) => {
            let existing = existing.peel_to_commit().map_err(git_error)?.id();
            if existing == oid {
                return Ok(false);
            }
            return Err(TagError::Conflict {
                name: name.to_string(),
                root: root_text,
                existing: existing.to_string(),
                wanted: commit.to_string(),
            });
        }
        Err(e) if e.code() == ErrorCode::NotFound => {}
        Err(e) => return Err(git_error(e)),
    }
    let signature = repository
        .signature()
        .or_else(|_| Signature::now("roar", "roar@localhost"))
        .map_err(git_error)?;
    repository
        .tag(name, target.as_object(), &signature, text, false)
        .map_err(git_error)?;
    Ok(true)
}

/// Pushes one tag to `origin`. git2 is built without network transports (no OpenSSL),
/// so this one step runs `git`, and only when `--push-tags` asks for it.
fn push_tag(root: &[u8], name: &str) -> Result<(), TagError> {
    let root_text = String::from_utf8_lossy(root).into_owned();
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(OsStr::from_bytes(root))
        .args(["push", "--quiet", "origin"])
        .arg(format!("refs/tags/{name}"))
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| TagError::Push {
            name: name.to_string(),
            root: root_text.clone(),
            message: format!("cannot run git: {e}"),
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(TagError::Push {
            name: name.to_string(),
            root: root_text,
            message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}
