//! What callers hand the store: a job to start, how it ended, how a job or an artifact
//! is named, where a lineage walk starts, what to record of transfers and tags.

use crate::git_context::GitContext;
use crate::hashing::Content;
use crate::python_env::PythonEnvironment;
use crate::record::{Exit, HashedFiles, ProcessRecord, SeenBy, TraceGap};

use super::error::{ArtifactLookupError, LookupError};

/// A job about to be traced.
pub struct NewJob<'a> {
    pub uid: &'a str,
    pub project: &'a [u8],
    pub argv: &'a [Vec<u8>],
    pub cwd: &'a [u8],
    /// `NAME=VALUE` entries, already redacted.
    pub env: &'a [Vec<u8>],
    pub hostname: &'a str,
    pub user_uid: u32,
    pub started_at_ms: i64,
    /// "run" (a pipeline step) or "build".
    pub kind: JobKind,
    /// Re-run of this existing step of the active session; None for a new step.
    pub rerun_step: Option<u32>,
    /// The code it runs; None outside a git work tree.
    pub git: Option<&'a GitContext>,
    /// What the job's session reproduces (`roarctl reproduce`), if anything.
    pub reproduces: Option<&'a str>,
    /// The recorded job this one re-runs for a reproduction.
    pub reproduces_job: Option<&'a str>,
}

#[cfg(test)]
impl<'a> NewJob<'a> {
    /// A new pipeline step `uid` of `project`, run there as user 7 at 1 ms, with no
    /// arguments, environment or git context.
    pub fn step(uid: &'a str, project: &'a [u8]) -> Self {
        NewJob {
            uid,
            project,
            argv: &[],
            cwd: project,
            env: &[],
            hostname: "h",
            user_uid: 7,
            started_at_ms: 1,
            kind: JobKind::Run,
            rerun_step: None,
            git: None,
            reproduces: None,
            reproduces_job: None,
        }
    }
}

/// Pipeline steps (`@N`) and build steps (`@BN`) are numbered separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    Run,
    Build,
}

impl JobKind {
    /// The name stored in the database.
    pub fn name(self) -> &'static str {
        match self {
            JobKind::Run => "run",
            JobKind::Build => "build",
        }
    }

    /// The kind a stored name stands for; None for a name this build does not know.
    pub fn from_name(name: &str) -> Option<JobKind> {
        [JobKind::Run, JobKind::Build]
            .into_iter()
            .find(|kind| kind.name() == name)
    }

    /// `@3` or `@B3`.
    pub fn step_label(self, step: u32) -> String {
        match self {
            JobKind::Run => format!("@{step}"),
            JobKind::Build => format!("@B{step}"),
        }
    }
}

/// How a traced job ended: what `finish_job` stores.
#[derive(Clone, Copy)]
pub struct JobEnd<'a> {
    pub processes: &'a [ProcessRecord],
    pub files: &'a HashedFiles,
    pub root_exit: Option<Exit>,
    pub lingering: usize,
    pub ended_at_ms: i64,
    /// Place the job as a step even if it failed (`--keep-failed`).
    pub keep_failed: bool,
    pub environments: &'a [PythonEnvironment],
    /// HEAD when the job ended, where it differs from HEAD at its start.
    pub commit_made: Option<&'a str>,
    /// What the trace could not see.
    pub gaps: &'a [TraceGap],
    /// How much of it each path of the tracer saw.
    pub seen_by: SeenBy,
}

#[cfg(test)]
impl<'a> JobEnd<'a> {
    /// A job of no processes that ended at 5 ms as `exit` says, having touched `files`.
    pub fn ended(files: &'a HashedFiles, exit: Exit) -> Self {
        JobEnd {
            processes: &[],
            files,
            root_exit: Some(exit),
            lingering: 0,
            ended_at_ms: 5,
            keep_failed: false,
            environments: &[],
            commit_made: None,
            gaps: &[],
            seen_by: SeenBy::default(),
        }
    }
}

/// Where a new job goes: its session and step.
#[derive(Debug, Clone, Copy)]
pub struct Placement {
    /// The job's row, for `finish_job`.
    pub job_id: i64,
    pub session_id: i64,
    pub step: u32,
}

/// How `GetJob` names a job.
#[derive(Debug, PartialEq, Eq)]
pub enum JobSelector<'a> {
    Last,
    /// The current job of a step of the active session.
    Step(JobKind, u32),
    UidPrefix(&'a str),
}

impl<'a> JobSelector<'a> {
    pub fn parse(text: &'a str) -> Result<Self, LookupError> {
        if text == "last" {
            return Ok(Self::Last);
        }
        if let Some(n) = text.strip_prefix('@') {
            let (kind, n) = match n.strip_prefix(['B', 'b']) {
                Some(n) => (JobKind::Build, n),
                None => (JobKind::Run, n),
            };
            return n
                .parse()
                .map(|n| Self::Step(kind, n))
                .map_err(|_| LookupError::BadSelector(text.to_string()));
        }
        if text.len() >= 4 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(Self::UidPrefix(text));
        }
        Err(LookupError::BadSelector(text.to_string()))
    }
}

/// Whether a job that ended so failed: it exited non-zero or was killed.
pub fn failed(exit: Option<Exit>) -> bool {
    matches!(exit, Some(Exit::Code(code)) if code != 0) || matches!(exit, Some(Exit::Signal(_)))
}

/// Shortest hash prefix accepted: shorter ones match too much to be useful.
pub const MIN_PREFIX: usize = 8;

/// Splits `"algorithm:hex"` or `"hex"`, checking the hex part.
pub fn parse_hash_prefix(text: &str) -> Result<(Option<&str>, String), ArtifactLookupError> {
    let (algorithm, hex) = match text.split_once(':') {
        Some((algorithm, hex)) => (Some(algorithm), hex),
        None => (None, text),
    };
    if hex.len() < MIN_PREFIX || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ArtifactLookupError::BadPrefix(text.to_string()));
    }
    Ok((algorithm, hex.to_ascii_lowercase()))
}

/// One upload to record.
pub struct UploadRecord<'a> {
    pub path: &'a [u8],
    pub url: &'a str,
    pub content: Content,
    pub transferred: bool,
}

/// Where a walk starts.
#[derive(Debug, Clone)]
pub enum Start {
    /// An artifact, asked about from a project (and its active session, 0 if none):
    /// its producer is chosen for that asker (see `roar_proto::graph::producer`).
    Artifact {
        id: i64,
        project: Vec<u8>,
        session_id: u64,
    },
    /// A job: upstream, the lineage of its inputs; downstream, the users of its
    /// outputs. The job itself is in the graph at depth 0.
    Job(i64),
}

/// A tag roar created on a commit, to remember with the sub-DAG it anchors.
pub struct CommitTag<'a> {
    pub name: &'a str,
    pub root: &'a [u8],
    pub commit: &'a str,
}

/// One change to an owner's labels: a key set to a value, or removed (`value` None).
#[derive(Debug, Clone)]
pub struct LabelChange {
    pub key: String,
    pub value: Option<String>,
    pub inherit: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_parse() {
        assert_eq!(JobSelector::parse("last").unwrap(), JobSelector::Last);
        assert_eq!(
            JobSelector::parse("@12").unwrap(),
            JobSelector::Step(JobKind::Run, 12)
        );
        assert_eq!(
            JobSelector::parse("@B2").unwrap(),
            JobSelector::Step(JobKind::Build, 2)
        );
        assert_eq!(
            JobSelector::parse("ab12").unwrap(),
            JobSelector::UidPrefix("ab12")
        );
        assert!(JobSelector::parse("@x").is_err());
        assert!(JobSelector::parse("abc").is_err());
        assert!(JobSelector::parse("nothex!").is_err());
    }

    #[test]
    fn prefixes_need_eight_hex_digits() {
        assert!(parse_hash_prefix("abcdef0").is_err());
        assert!(parse_hash_prefix("abcdefgh").is_err());
        assert_eq!(
            parse_hash_prefix("ABCDEF01").unwrap(),
            (None, "abcdef01".to_string())
        );
        assert_eq!(
            parse_hash_prefix("sha256:abcdef01").unwrap(),
            (Some("sha256"), "abcdef01".to_string())
        );
    }
}
