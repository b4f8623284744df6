//! What the store returns: its own model of what was recorded, free of SQL and of the
//! protocol (the service converts it to messages at its edge, `service/convert.rs`).
//! Enum columns read as `Option`: None is a name this build does not know (a newer
//! roard wrote it), shown as unspecified rather than failing the whole read.

use roar_proto::graph::JobPlace;

use crate::classify::Class;
use crate::git_context::GitContext;
use crate::hash_algorithms::Digest;
use crate::packages::Package;
use crate::python_env::PythonEnvironment;
use crate::record::{Exit, GapKind, Image, Role, SeenBy};

use super::input::JobKind;

/// A job of a session: which step it ran as.
#[derive(Debug, Clone, Copy)]
pub struct SessionJob {
    pub id: i64,
    pub build: bool,
    pub step: u32,
    /// False for a failed job kept out of the steps.
    pub placed: bool,
}

/// What `pop` removed.
#[derive(Debug)]
pub struct PoppedStep {
    pub step: u32,
    pub jobs: u64,
    /// The current job's data outputs: path and BLAKE3 hex of what it wrote.
    pub outputs: Vec<(Vec<u8>, String)>,
    /// When the step's first run started: files created before it are not its own.
    pub started_at_ms: i64,
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Running,
    Finished,
    Interrupted,
}

impl JobState {
    /// The name stored in the database.
    pub fn name(self) -> &'static str {
        match self {
            JobState::Running => "running",
            JobState::Finished => "finished",
            JobState::Interrupted => "interrupted",
        }
    }

    /// The state a stored name stands for; None for a name this build does not know.
    pub fn from_name(name: &str) -> Option<JobState> {
        [JobState::Running, JobState::Finished, JobState::Interrupted]
            .into_iter()
            .find(|state| state.name() == name)
    }
}

/// What `log` lists of a job, and what every other view names it by.
#[derive(Debug, Clone, Default)]
pub struct JobSummary {
    pub uid: String,
    pub project: Vec<u8>,
    /// 0 for a failed new command, which takes no step.
    pub step: u32,
    pub kind: Option<JobKind>,
    pub session_id: u64,
    pub git: Option<GitContext>,
    pub argv: Vec<Vec<u8>>,
    pub cwd: Vec<u8>,
    pub started_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    pub exit: Option<Exit>,
    pub state: Option<JobState>,
    pub lingering_processes: u32,
    /// False for a failed job kept out of the steps.
    pub placed: bool,
    /// What the job's session reproduces, if anything.
    pub reproduces: Option<String>,
    /// The recorded job this one re-ran for a reproduction.
    pub reproduces_job: Option<String>,
    /// HEAD when the job ended, where it differs from HEAD at its start.
    pub commit_made: Option<String>,
}

impl JobSummary {
    /// Where the job ran and when it started, as the producer rule sees it.
    pub fn place(&self) -> JobPlace<'_> {
        JobPlace {
            project: &self.project,
            session_id: self.session_id,
            reproduction: self.reproduces.as_deref().is_some_and(|r| !r.is_empty()),
            started_at_ms: self.started_at_ms,
        }
    }
}

/// A process of a job, with what it ran last and what it executed before that.
#[derive(Debug, Clone)]
pub struct Process {
    pub pid: u32,
    pub ppid: u32,
    pub image: Image,
    pub started_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    pub exit: Option<Exit>,
    /// Oldest first.
    pub earlier: Vec<Image>,
}

/// One `NAME=value` entry of a job's environment, split at the first `=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    pub name: Vec<u8>,
    pub value: Vec<u8>,
}

/// An input or output of a job, with its content when it was hashed.
#[derive(Debug, Clone)]
pub struct FileRecord {
    pub path: Vec<u8>,
    pub named_path: Option<Vec<u8>>,
    pub size: Option<u64>,
    pub hashes: Vec<Digest>,
    pub pre_image: bool,
    pub class: Option<Class>,
    pub link_target: Option<Vec<u8>>,
    pub hard_link_of: Option<Vec<u8>>,
}

/// A gap of a job's trace, as stored.
#[derive(Debug, Clone)]
pub struct Gap {
    pub kind: Option<GapKind>,
    pub pid: u32,
    pub detail: Vec<u8>,
    pub count: u64,
}

/// A re-run of a job by `roarctl reproduce`.
#[derive(Debug, Clone)]
pub struct Reproduction {
    pub job: JobSummary,
    /// It wrote exactly the contents the job wrote.
    pub identical: bool,
}

/// Everything recorded of one job (`show`).
#[derive(Debug, Clone)]
pub struct Job {
    pub summary: JobSummary,
    pub processes: Vec<Process>,
    pub env: Vec<EnvVar>,
    pub hostname: String,
    /// The user it ran as.
    pub user_uid: u32,
    pub inputs: Vec<FileRecord>,
    pub outputs: Vec<FileRecord>,
    pub packages: Vec<Package>,
    pub environments: Vec<PythonEnvironment>,
    pub reproductions: Vec<Reproduction>,
    pub gaps: Vec<Gap>,
    /// None for a job recorded before roard counted them.
    pub seen_by: Option<SeenBy>,
}

/// One job's use of an artifact or of a repository file.
#[derive(Debug, Clone)]
pub struct ArtifactUse {
    pub role: Option<Role>,
    pub path: Vec<u8>,
    pub pre_image: bool,
    pub job: JobSummary,
}

/// A content identity, with where it was seen and where it came from and went.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The store's id (what labels and policy overrides are kept under).
    pub id: i64,
    pub size: u64,
    pub hashes: Vec<Digest>,
    pub uses: Vec<ArtifactUse>,
    pub downloaded_from: Vec<String>,
    pub uploaded_to: Vec<String>,
}

/// A project's session and its step counts.
#[derive(Debug, Clone, Default)]
pub struct Session {
    pub id: u64,
    pub project: Vec<u8>,
    pub started_at_ms: i64,
    pub active: bool,
    pub steps: u32,
    pub build_steps: u32,
    pub jobs: u32,
    /// Its place among the project's sessions, from 1.
    pub number: u32,
    pub reproduces: Option<String>,
}

/// A data file of a job in a graph: the artifact it held, at which path.
#[derive(Debug, Clone)]
pub struct FileRef {
    pub artifact_id: u64,
    pub path: Vec<u8>,
    pub pre_image: bool,
}

/// An artifact of a graph, with every hash, where it was downloaded from and where it
/// was uploaded to.
#[derive(Debug, Clone)]
pub struct GraphArtifact {
    pub id: u64,
    pub size: u64,
    pub hashes: Vec<Digest>,
    pub origins: Vec<String>,
    pub uploaded_to: Vec<String>,
}

/// A job of a graph being built, and what it read and wrote.
#[derive(Debug, Clone)]
pub struct JobNode {
    pub id: i64,
    pub summary: JobSummary,
    pub inputs: Vec<FileRef>,
    pub outputs: Vec<FileRef>,
    pub depth: u32,
    pub packages: Vec<Package>,
    pub environments: Vec<PythonEnvironment>,
    pub reproductions: Vec<Reproduction>,
}

impl JobNode {
    /// A job before its files, packages, environments and depth are known.
    pub fn new(id: i64, summary: JobSummary) -> Self {
        JobNode {
            id,
            summary,
            inputs: Vec::new(),
            outputs: Vec::new(),
            depth: 0,
            packages: Vec::new(),
            environments: Vec::new(),
            reproductions: Vec::new(),
        }
    }
}

/// How big the store is and what it holds (`roarctl db`).
#[derive(Debug, Clone, Default)]
pub struct StoreStats {
    pub file_bytes: u64,
    pub log_bytes: u64,
    pub page_size: u64,
    pub pages: u64,
    pub free_pages: u64,
    /// (table, rows), by name.
    pub tables: Vec<(String, u64)>,
    pub hash_cache_entries: u64,
    pub hash_cache_bytes: u64,
}

/// What a label is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LabelOwner {
    Job(i64),
    Artifact(i64),
    Session(i64),
}

impl LabelOwner {
    /// The owner of a kind by its name in the database; None for an unknown name.
    pub fn of(kind: &str, id: i64) -> Option<Self> {
        match kind {
            "job" => Some(LabelOwner::Job(id)),
            "artifact" => Some(LabelOwner::Artifact(id)),
            "session" => Some(LabelOwner::Session(id)),
            _ => None,
        }
    }

    /// The kind's name in the database.
    pub fn kind(self) -> &'static str {
        match self {
            LabelOwner::Job(_) => "job",
            LabelOwner::Artifact(_) => "artifact",
            LabelOwner::Session(_) => "session",
        }
    }

    pub fn id(self) -> i64 {
        match self {
            LabelOwner::Job(id) | LabelOwner::Artifact(id) | LabelOwner::Session(id) => id,
        }
    }
}

/// One label, or in a history one change of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub key: String,
    /// None: this change removed the key (only in a history).
    pub value: Option<String>,
    /// Every artifact downstream carries it.
    pub inherit: bool,
    pub set_by: String,
    pub set_at_ms: i64,
}

/// A publication that went ahead against the policy, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyOverride {
    /// "put" or "register".
    pub action: String,
    pub destination: String,
    /// The label the policy refuses, as `key=value`.
    pub rule: String,
    pub reason: String,
    pub set_by: String,
    pub at_ms: i64,
}
