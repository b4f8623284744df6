//! The service's edge: the store's model (and the daemon's enums) as protocol
//! messages. Every conversion from `store::model` to `pb` is here, so the store never
//! speaks the protocol; each enum goes by its name, which the protocol's vocabulary
//! shares (`roar_proto::vocabulary`), and a value the store could not name is sent as
//! unspecified.

use std::os::unix::ffi::OsStringExt;

use roar_proto::pb;

use crate::git_context::GitContext;
use crate::hash_algorithms::Digest;
use crate::packages::Package;
use crate::python_env::PythonEnvironment;
use crate::record::{Exit, Image, RecordedFile, TraceGap};
use crate::store::model;

/// A protocol enum's value for a daemon enum's name; 0 (unspecified) for None.
fn named<T: Into<i32>>(name: Option<&str>, from_name: fn(&str) -> Option<T>) -> i32 {
    name.and_then(from_name).map_or(0, Into::into)
}

/// Every item as a message.
fn all<A, B: From<A>>(items: Vec<A>) -> Vec<B> {
    items.into_iter().map(B::from).collect()
}

impl From<Exit> for pb::ExitStatus {
    fn from(exit: Exit) -> Self {
        let status = match exit {
            Exit::Code(code) => pb::exit_status::Status::Code(code),
            Exit::Signal(signal) => pb::exit_status::Status::Signal(signal),
        };
        pb::ExitStatus {
            status: Some(status),
        }
    }
}

impl From<GitContext> for pb::GitContext {
    fn from(git: GitContext) -> Self {
        pb::GitContext {
            repository: git.repository,
            root: git.root.into_os_string().into_vec(),
            branch: git.branch.unwrap_or_default(),
            commit: git.commit.unwrap_or_default(),
            dirty_count: u32::try_from(git.dirty_count).unwrap_or(u32::MAX),
            dirty_paths: git.dirty_paths,
        }
    }
}

impl From<model::JobSummary> for pb::JobSummary {
    fn from(job: model::JobSummary) -> Self {
        pb::JobSummary {
            uid: job.uid,
            project: job.project,
            step: job.step,
            kind: named(job.kind.map(|k| k.name()), pb::JobKind::from_name),
            session_id: job.session_id,
            git: job.git.map(Into::into),
            argv: job.argv,
            cwd: job.cwd,
            started_at_ms: job.started_at_ms,
            ended_at_ms: job.ended_at_ms,
            exit: job.exit.map(Into::into),
            state: named(job.state.map(|s| s.name()), pb::JobState::from_name),
            lingering_processes: job.lingering_processes,
            placed: job.placed,
            reproduces: job.reproduces.unwrap_or_default(),
            reproduces_job: job.reproduces_job.unwrap_or_default(),
            commit_made: job.commit_made.unwrap_or_default(),
        }
    }
}

impl From<Image> for pb::ProcessImage {
    fn from(image: Image) -> Self {
        pb::ProcessImage {
            argv: image.argv,
            exe: image.exe,
            cwd: image.cwd,
        }
    }
}

impl From<model::Process> for pb::Process {
    fn from(process: model::Process) -> Self {
        pb::Process {
            pid: process.pid,
            ppid: process.ppid,
            argv: process.image.argv,
            exe: process.image.exe,
            cwd: process.image.cwd,
            started_at_ms: process.started_at_ms,
            ended_at_ms: process.ended_at_ms,
            exit: process.exit.map(Into::into),
            earlier: all(process.earlier),
        }
    }
}

impl From<model::EnvVar> for pb::EnvVar {
    fn from(var: model::EnvVar) -> Self {
        pb::EnvVar {
            name: var.name,
            value: var.value,
        }
    }
}

impl From<model::FileRecord> for pb::FileRecord {
    fn from(file: model::FileRecord) -> Self {
        pb::FileRecord {
            path: file.path,
            named_path: file.named_path.unwrap_or_default(),
            size: file.size,
            hashes: file.hashes.iter().map(|d| d.to_proto()).collect(),
            pre_image: file.pre_image,
            class: named(file.class.map(|c| c.name()), pb::FileClass::from_name),
            link_target: file.link_target.unwrap_or_default(),
            hard_link_of: file.hard_link_of.unwrap_or_default(),
        }
    }
}

/// A file as recorded, before it is stored: its BLAKE3 digest first, then the extra
/// algorithms' in name order, as a stored file's are read back.
impl From<&RecordedFile> for pb::FileRecord {
    fn from(file: &RecordedFile) -> Self {
        let mut extra: Vec<&Digest> = file.extra.iter().collect();
        extra.sort_by_key(|d| d.algorithm);
        let blake3 = file.content.map(|c| Digest {
            algorithm: "blake3",
            bytes: c.blake3.to_vec(),
        });
        pb::FileRecord {
            path: file.path.clone(),
            named_path: file.named.clone().unwrap_or_default(),
            size: file.content.map(|c| c.size),
            hashes: blake3.iter().chain(extra).map(Digest::to_proto).collect(),
            pre_image: file.pre_image,
            class: named(Some(file.class.name()), pb::FileClass::from_name),
            link_target: file.link_target.clone().unwrap_or_default(),
            hard_link_of: file.hard_link_of.clone().unwrap_or_default(),
        }
    }
}

impl From<&TraceGap> for pb::TraceGap {
    fn from(gap: &TraceGap) -> Self {
        pb::TraceGap {
            kind: named(Some(gap.kind.name()), pb::GapKind::from_name),
            pid: u32::try_from(gap.pid).unwrap_or(0),
            detail: gap.detail.clone(),
            count: gap.count,
        }
    }
}

/// Without the database's path, which the daemon's state knows.
impl From<model::StoreStats> for pb::StoreStats {
    fn from(stats: model::StoreStats) -> Self {
        pb::StoreStats {
            database: String::new(),
            file_bytes: stats.file_bytes,
            log_bytes: stats.log_bytes,
            page_size: stats.page_size,
            pages: stats.pages,
            free_pages: stats.free_pages,
            tables: stats
                .tables
                .into_iter()
                .map(|(name, rows)| pb::TableRows { name, rows })
                .collect(),
            hash_cache_entries: stats.hash_cache_entries,
            hash_cache_bytes: stats.hash_cache_bytes,
        }
    }
}

impl From<Package> for pb::Package {
    fn from(package: Package) -> Self {
        pb::Package {
            ecosystem: package.ecosystem.into_owned(),
            name: package.name,
            version: package.version,
        }
    }
}

impl From<PythonEnvironment> for pb::PythonEnvironment {
    fn from(env: PythonEnvironment) -> Self {
        pb::PythonEnvironment {
            kind: named(env.kind.map(|k| k.name()), pb::EnvironmentKind::from_name),
            root: env.root,
            interpreter: env.interpreter,
            version: env.version,
        }
    }
}

impl From<model::Reproduction> for pb::Reproduction {
    fn from(reproduction: model::Reproduction) -> Self {
        pb::Reproduction {
            job: Some(reproduction.job.into()),
            identical: reproduction.identical,
        }
    }
}

impl From<model::Gap> for pb::TraceGap {
    fn from(gap: model::Gap) -> Self {
        pb::TraceGap {
            kind: named(gap.kind.map(|k| k.name()), pb::GapKind::from_name),
            pid: gap.pid,
            detail: gap.detail,
            count: gap.count,
        }
    }
}

impl From<model::Job> for pb::Job {
    fn from(job: model::Job) -> Self {
        pb::Job {
            summary: Some(job.summary.into()),
            gaps: all(job.gaps),
            seen_by: job.seen_by.map(|seen| pb::SeenBy {
                fast_path_opens: seen.fast_path,
                ptrace_stops: seen.ptrace,
            }),
            environments: all(job.environments),
            reproductions: all(job.reproductions),
            processes: all(job.processes),
            env: all(job.env),
            hostname: job.hostname,
            uid: job.user_uid,
            inputs: all(job.inputs),
            outputs: all(job.outputs),
            packages: all(job.packages),
            labels: Vec::new(),
        }
    }
}

impl From<model::ArtifactUse> for pb::ArtifactUse {
    fn from(found: model::ArtifactUse) -> Self {
        pb::ArtifactUse {
            role: named(found.role.map(|r| r.name()), pb::Role::from_name),
            path: found.path,
            pre_image: found.pre_image,
            job: Some(found.job.into()),
        }
    }
}

impl From<model::Artifact> for pb::Artifact {
    fn from(artifact: model::Artifact) -> Self {
        pb::Artifact {
            size: artifact.size,
            hashes: artifact.hashes.iter().map(|d| d.to_proto()).collect(),
            uses: all(artifact.uses),
            downloaded_from: artifact.downloaded_from,
            uploaded_to: artifact.uploaded_to,
            repo_file: None,
            labels: Vec::new(),
            policy_overrides: Vec::new(),
        }
    }
}

impl From<model::Session> for pb::Session {
    fn from(session: model::Session) -> Self {
        pb::Session {
            id: session.id,
            project: session.project,
            started_at_ms: session.started_at_ms,
            active: session.active,
            steps: session.steps,
            build_steps: session.build_steps,
            jobs: session.jobs,
            number: session.number,
            reproduces: session.reproduces.unwrap_or_default(),
            labels: Vec::new(),
        }
    }
}

impl From<model::FileRef> for pb::FileRef {
    fn from(file: model::FileRef) -> Self {
        pb::FileRef {
            artifact_id: file.artifact_id,
            path: file.path,
            pre_image: file.pre_image,
        }
    }
}

impl From<model::GraphArtifact> for pb::GraphArtifact {
    fn from(artifact: model::GraphArtifact) -> Self {
        pb::GraphArtifact {
            id: artifact.id,
            size: artifact.size,
            hashes: artifact.hashes.iter().map(|d| d.to_proto()).collect(),
            source: false,
            origins: artifact.origins,
            uploaded_to: artifact.uploaded_to,
            labels: Vec::new(),
        }
    }
}

/// A job of a graph, before the DAG's staleness is known.
impl From<model::JobNode> for pb::GraphJob {
    fn from(node: model::JobNode) -> Self {
        pb::GraphJob {
            job: Some(node.summary.into()),
            inputs: all(node.inputs),
            outputs: all(node.outputs),
            depth: node.depth,
            stale: false,
            stale_reason: String::new(),
            packages: all(node.packages),
            environments: all(node.environments),
            reproductions: all(node.reproductions),
            last_failed: None,
            labels: Vec::new(),
        }
    }
}

impl From<model::Label> for pb::Label {
    fn from(label: model::Label) -> Self {
        pb::Label {
            key: label.key,
            removed: label.value.is_none(),
            value: label.value.unwrap_or_default(),
            inherit: label.inherit,
            set_by: label.set_by,
            set_at_ms: label.set_at_ms,
        }
    }
}

impl From<model::PolicyOverride> for pb::PolicyOverride {
    fn from(record: model::PolicyOverride) -> Self {
        pb::PolicyOverride {
            action: record.action,
            destination: record.destination,
            rule: record.rule,
            reason: record.reason,
            set_by: record.set_by,
            at_ms: record.at_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Class;
    use crate::python_env::EnvironmentKind;
    use crate::record::{GapKind, Role};
    use crate::store::input::JobKind;
    use crate::store::model::JobState;

    /// A job as the store returns it becomes the message `show` has always received:
    /// absent texts are empty, an unknown class is unspecified, digests keep their
    /// algorithm, the user's uid is `uid`.
    #[test]
    fn a_job_converts_to_the_message_show_receives() {
        assert_eq!(pb::Job::from(model_job()), expected_job());
    }

    fn model_job() -> model::Job {
        let git = GitContext {
            repository: "git@h:r".into(),
            root: "/w".into(),
            branch: None,
            commit: Some("c0ffee".into()),
            dirty_paths: vec![b"a".to_vec()],
            dirty_count: 1,
        };
        let summary = model::JobSummary {
            uid: "abcd".into(),
            project: b"/w".to_vec(),
            step: 2,
            kind: Some(JobKind::Build),
            git: Some(git),
            exit: Some(Exit::Signal(9)),
            state: Some(JobState::Finished),
            placed: true,
            reproduces_job: Some("ef01".into()),
            ..Default::default()
        };
        let image = |exe: &[u8]| Image {
            argv: vec![exe.to_vec()],
            exe: exe.to_vec(),
            cwd: b"/w".to_vec(),
        };
        let file = model::FileRecord {
            path: b"/w/in".to_vec(),
            named_path: None,
            size: Some(3),
            hashes: vec![crate::hash_algorithms::Digest::from_stored("blake3", "ab").unwrap()],
            pre_image: false,
            class: None,
            link_target: Some(b"t".to_vec()),
            hard_link_of: None,
        };
        model::Job {
            summary: summary.clone(),
            processes: vec![model::Process {
                pid: 7,
                ppid: 1,
                image: image(b"/bin/b"),
                started_at_ms: 1,
                ended_at_ms: Some(2),
                exit: Some(Exit::Code(0)),
                earlier: vec![image(b"/bin/a")],
            }],
            env: vec![model::EnvVar {
                name: b"A".to_vec(),
                value: b"1".to_vec(),
            }],
            hostname: "h".into(),
            user_uid: 1000,
            inputs: vec![file],
            outputs: Vec::new(),
            packages: vec![Package {
                ecosystem: "python".into(),
                name: "numpy".into(),
                version: "2.0".into(),
            }],
            environments: vec![PythonEnvironment {
                kind: Some(EnvironmentKind::Venv),
                root: b"/w/.venv".to_vec(),
                interpreter: b"/w/.venv/bin/python".to_vec(),
                version: "3.12".into(),
            }],
            reproductions: vec![model::Reproduction {
                job: summary,
                identical: true,
            }],
            gaps: vec![model::Gap {
                kind: Some(GapKind::IoUring),
                pid: 7,
                detail: Vec::new(),
                count: 2,
            }],
            seen_by: Some(crate::record::SeenBy {
                fast_path: 5,
                ptrace: 9,
            }),
        }
    }

    fn expected_summary() -> pb::JobSummary {
        pb::JobSummary {
            uid: "abcd".into(),
            project: b"/w".to_vec(),
            step: 2,
            kind: pb::JobKind::Build.into(),
            git: Some(pb::GitContext {
                repository: "git@h:r".into(),
                root: b"/w".to_vec(),
                branch: String::new(),
                commit: "c0ffee".into(),
                dirty_count: 1,
                dirty_paths: vec![b"a".to_vec()],
            }),
            exit: Some(pb::ExitStatus {
                status: Some(pb::exit_status::Status::Signal(9)),
            }),
            state: pb::JobState::Finished.into(),
            placed: true,
            reproduces_job: "ef01".into(),
            ..Default::default()
        }
    }

    fn expected_job() -> pb::Job {
        let pb_image = |exe: &[u8]| pb::ProcessImage {
            argv: vec![exe.to_vec()],
            exe: exe.to_vec(),
            cwd: b"/w".to_vec(),
        };
        pb::Job {
            summary: Some(expected_summary()),
            processes: vec![pb::Process {
                pid: 7,
                ppid: 1,
                argv: vec![b"/bin/b".to_vec()],
                exe: b"/bin/b".to_vec(),
                cwd: b"/w".to_vec(),
                started_at_ms: 1,
                ended_at_ms: Some(2),
                exit: Some(pb::ExitStatus {
                    status: Some(pb::exit_status::Status::Code(0)),
                }),
                earlier: vec![pb_image(b"/bin/a")],
            }],
            env: vec![pb::EnvVar {
                name: b"A".to_vec(),
                value: b"1".to_vec(),
            }],
            hostname: "h".into(),
            uid: 1000,
            inputs: vec![pb::FileRecord {
                path: b"/w/in".to_vec(),
                named_path: Vec::new(),
                size: Some(3),
                hashes: vec![pb::Digest::new(pb::HashAlgorithm::Blake3, "ab".into())],
                pre_image: false,
                class: 0,
                link_target: b"t".to_vec(),
                hard_link_of: Vec::new(),
            }],
            outputs: Vec::new(),
            packages: vec![pb::Package {
                ecosystem: "python".into(),
                name: "numpy".into(),
                version: "2.0".into(),
            }],
            environments: vec![pb::PythonEnvironment {
                kind: pb::EnvironmentKind::Venv.into(),
                root: b"/w/.venv".to_vec(),
                interpreter: b"/w/.venv/bin/python".to_vec(),
                version: "3.12".into(),
            }],
            reproductions: vec![pb::Reproduction {
                job: Some(expected_summary()),
                identical: true,
            }],
            gaps: vec![pb::TraceGap {
                kind: pb::GapKind::IoUring.into(),
                pid: 7,
                detail: Vec::new(),
                count: 2,
            }],
            seen_by: Some(pb::SeenBy {
                fast_path_opens: 5,
                ptrace_stops: 9,
            }),
            labels: Vec::new(),
        }
    }

    /// Each daemon enum's names are the protocol's: the conversion goes by name.
    #[test]
    fn every_daemon_enum_has_a_protocol_name() {
        for kind in GapKind::ALL {
            assert!(pb::GapKind::from_name(kind.name()).is_some(), "{kind:?}");
        }
        for class in Class::ALL {
            assert!(
                pb::FileClass::from_name(class.name()).is_some(),
                "{class:?}"
            );
        }
        for role in [Role::Input, Role::Output] {
            assert!(pb::Role::from_name(role.name()).is_some(), "{role:?}");
        }
        for kind in [JobKind::Run, JobKind::Build] {
            assert!(pb::JobKind::from_name(kind.name()).is_some(), "{kind:?}");
        }
        for state in [JobState::Running, JobState::Finished, JobState::Interrupted] {
            assert!(pb::JobState::from_name(state.name()).is_some(), "{state:?}");
        }
        for kind in [
            EnvironmentKind::Conda,
            EnvironmentKind::System,
            EnvironmentKind::Venv,
        ] {
            assert!(
                pb::EnvironmentKind::from_name(kind.name()).is_some(),
                "{kind:?}"
            );
        }
    }
}
