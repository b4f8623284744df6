//! What the store returns: its own model of what was recorded, free of SQL and of the
//! protocol (the service converts it to messages at its edge).

use roar_proto::pb;

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

/// A job of a graph being built, and what it read and wrote.
#[derive(Debug, Clone)]
pub struct JobNode {
    pub id: i64,
    pub summary: pb::JobSummary,
    pub inputs: Vec<pb::FileRef>,
    pub outputs: Vec<pb::FileRef>,
    pub depth: u32,
    pub packages: Vec<pb::Package>,
    pub environments: Vec<pb::PythonEnvironment>,
    pub reproductions: Vec<pb::Reproduction>,
}
