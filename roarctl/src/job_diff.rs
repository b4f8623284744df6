//! What differs between two recorded jobs, grouped by how much each kind of difference
//! can explain a changed result: the data they read first, then their parameters,
//! their code, their environment, and last the shape of the pipeline upstream. Pure
//! comparison of two `Job` records (and their lineages); `commands/diff.rs` fetches and
//! prints, and adds what git says about the code.

use std::collections::{BTreeMap, BTreeSet};

use roar_proto::pb;

use crate::render::escape_bytes;

/// An input both jobs read at the same path, or one only one of them read.
#[derive(Debug, PartialEq)]
pub enum DataChange {
    /// Same path, other content (BLAKE3 hex, A then B).
    Changed(String, String),
    /// Only B read it.
    Added(String),
    /// Only A read it.
    Removed(String),
}

/// A value only one side has, or that differs: (A, B).
pub type Pair = (Option<String>, Option<String>);

#[derive(Debug, Default)]
pub struct JobDiff {
    /// Data inputs by path (relative to each job's project), ordered.
    pub data: BTreeMap<String, DataChange>,
    /// The program that ran, when it differs (argv[0], and a script for interpreters).
    pub command: Option<(String, String)>,
    /// `--key value`, `--key=value` and `key=value` arguments that differ.
    pub parameters: BTreeMap<String, Pair>,
    /// The other arguments, in order, when they differ.
    pub positional: Option<(Vec<String>, Vec<String>)>,
    /// Commit, branch, repository and uncommitted-file count, where they differ.
    pub code: BTreeMap<&'static str, Pair>,
    /// Repository files either job read (relative to the repository root).
    pub repo_files: BTreeSet<String>,
    /// Package versions, Python versions and environment variables that differ.
    pub packages: BTreeMap<String, Pair>,
    pub python: Option<Pair>,
    pub env: BTreeMap<String, Pair>,
}

impl JobDiff {
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
            && self.command.is_none()
            && self.parameters.is_empty()
            && self.positional.is_none()
            && self.code.is_empty()
            && self.packages.is_empty()
            && self.python.is_none()
            && self.env.is_empty()
    }
}

/// Environment variables that differ between any two shells: left out.
const VOLATILE_ENV: &[&str] = &["_", "OLDPWD", "SHLVL"];

pub fn compare(a: &pb::Job, b: &pb::Job) -> JobDiff {
    let (sa, sb) = (summary(a), summary(b));
    let (args_a, args_b) = (arguments(&sa.argv), arguments(&sb.argv));
    JobDiff {
        data: data(a, b),
        command: Some((args_a.command.clone(), args_b.command.clone())).filter(|(x, y)| x != y),
        parameters: differing(&args_a.options, &args_b.options),
        positional: Some((args_a.positional.clone(), args_b.positional.clone()))
            .filter(|(x, y)| x != y),
        code: code(sa.git.as_ref(), sb.git.as_ref()),
        repo_files: repo_files(a).union(&repo_files(b)).cloned().collect(),
        packages: differing(&packages(a), &packages(b)),
        python: python(a, b),
        env: differing(&env(a), &env(b)),
    }
}

fn summary(job: &pb::Job) -> pb::JobSummary {
    job.summary.clone().unwrap_or_default()
}

/// The data a job read (artifacts), by path relative to its project.
fn data_inputs(job: &pb::Job) -> BTreeMap<String, String> {
    let project = job
        .summary
        .as_ref()
        .map_or(&[][..], |s| s.project.as_slice());
    job.inputs
        .iter()
        .filter(|f| f.class() == pb::FileClass::Artifact)
        .map(|f| {
            let hash = roar_proto::vocabulary::blake3(&f.hashes).unwrap_or("-");
            (relative(&f.path, project), hash.to_string())
        })
        .collect()
}

fn data(a: &pb::Job, b: &pb::Job) -> BTreeMap<String, DataChange> {
    let (ia, ib) = (data_inputs(a), data_inputs(b));
    let mut changes = BTreeMap::new();
    for (path, hash) in &ia {
        match ib.get(path) {
            None => {
                changes.insert(path.clone(), DataChange::Removed(hash.clone()));
            }
            Some(other) if other != hash => {
                changes.insert(
                    path.clone(),
                    DataChange::Changed(hash.clone(), other.clone()),
                );
            }
            Some(_) => {}
        }
    }
    for (path, hash) in ib.iter().filter(|(p, _)| !ia.contains_key(*p)) {
        changes.insert(path.clone(), DataChange::Added(hash.clone()));
    }
    changes
}

/// A path inside `base` relative to it; others as they are.
fn relative(path: &[u8], base: &[u8]) -> String {
    let inside = path
        .strip_prefix(base)
        .and_then(|rest| rest.strip_prefix(b"/"))
        .filter(|rest| !rest.is_empty() && !base.is_empty());
    escape_bytes(inside.unwrap_or(path))
}

/// A command line taken apart: the program (with its script, for an interpreter),
/// its options and the rest.
#[derive(Debug, Default, PartialEq)]
struct Arguments {
    command: String,
    options: BTreeMap<String, String>,
    positional: Vec<String>,
}

/// Programs whose first argument that is not an option is the program that runs.
const INTERPRETERS: &[&str] = &[
    "python", "python3", "Rscript", "julia", "node", "bash", "sh",
];

fn arguments(argv: &[Vec<u8>]) -> Arguments {
    let words: Vec<String> = argv.iter().map(|w| escape_bytes(w)).collect();
    let Some((program, mut rest)) = words.split_first() else {
        return Arguments::default();
    };
    let mut command = program.clone();
    let name = program.rsplit('/').next().unwrap_or(program);
    if INTERPRETERS.iter().any(|i| name.starts_with(i))
        && let Some((script, after)) = rest.split_first()
        && !script.starts_with('-')
    {
        command = format!("{command} {script}");
        rest = after;
    }
    let mut parsed = Arguments {
        command,
        ..Arguments::default()
    };
    let mut words = rest.iter().peekable();
    while let Some(word) = words.next() {
        if let Some(option) = word
            .strip_prefix('-')
            .filter(|o| !o.is_empty() && *o != "-")
        {
            let key = format!("-{option}");
            match key.split_once('=') {
                Some((key, value)) => parsed.options.insert(key.to_string(), value.to_string()),
                None => {
                    let value = words
                        .next_if(|next| !next.starts_with('-') && !is_assignment(next))
                        .cloned()
                        .unwrap_or_default();
                    parsed.options.insert(key, value)
                }
            };
        } else if is_assignment(word)
            && let Some((key, value)) = word.split_once('=')
        {
            parsed.options.insert(key.to_string(), value.to_string());
        } else {
            parsed.positional.push(word.clone());
        }
    }
    parsed
}

/// A `key=value` argument whose key is a name, not a path or an expression.
fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(key, _)| {
        !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    })
}

/// The keys whose values differ between `a` and `b`, or that only one has.
fn differing(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> BTreeMap<String, Pair> {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| ((*k).clone(), (a.get(k).cloned(), b.get(k).cloned())))
        .collect()
}

/// A field of the git context, as text (empty when unknown).
type GitField = fn(&pb::GitContext) -> String;

const GIT_FIELDS: [(&str, GitField); 4] = [
    ("repository", |g| g.repository.clone()),
    ("branch", |g| g.branch.clone()),
    ("commit", |g| g.commit.clone()),
    ("uncommitted files", |g| g.dirty_count.to_string()),
];

fn code(a: Option<&pb::GitContext>, b: Option<&pb::GitContext>) -> BTreeMap<&'static str, Pair> {
    let field =
        |git: Option<&pb::GitContext>, pick: GitField| git.map(pick).filter(|v| !v.is_empty());
    GIT_FIELDS
        .into_iter()
        .map(|(name, pick)| (name, (field(a, pick), field(b, pick))))
        .filter(|(_, (x, y))| x != y)
        .collect()
}

/// Repository files a job read, relative to its repository's root.
fn repo_files(job: &pb::Job) -> BTreeSet<String> {
    let root = job
        .summary
        .as_ref()
        .and_then(|s| s.git.as_ref())
        .map_or(&[][..], |g| g.root.as_slice());
    job.inputs
        .iter()
        .filter(|f| f.class() == pb::FileClass::Repo && !root.is_empty())
        .filter_map(|f| {
            f.path
                .strip_prefix(root)?
                .strip_prefix(b"/")
                .map(escape_bytes)
        })
        .collect()
}

fn packages(job: &pb::Job) -> BTreeMap<String, String> {
    job.packages
        .iter()
        .map(|p| (format!("{}:{}", p.ecosystem, p.name), p.version.clone()))
        .collect()
}

fn python(a: &pb::Job, b: &pb::Job) -> Option<Pair> {
    let version = |job: &pb::Job| job.environments.first().map(|e| e.version.clone());
    Some((version(a), version(b))).filter(|(x, y)| x != y)
}

fn env(job: &pb::Job) -> BTreeMap<String, String> {
    job.env
        .iter()
        .map(|v| (escape_bytes(&v.name), escape_bytes(&v.value)))
        .filter(|(name, _)| !VOLATILE_ENV.contains(&name.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<Vec<u8>> {
        words.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    #[test]
    fn command_lines_are_taken_apart_into_options_and_the_rest() {
        let parsed = arguments(&argv(&[
            "/usr/bin/python3",
            "train.py",
            "--lr",
            "0.1",
            "--epochs=3",
            "--verbose",
            "seed=7",
            "data/x.csv",
            "a/b=c",
        ]));
        assert_eq!(parsed.command, "/usr/bin/python3 train.py");
        assert_eq!(parsed.options["--lr"], "0.1");
        assert_eq!(parsed.options["--epochs"], "3");
        assert_eq!(parsed.options["--verbose"], "");
        assert_eq!(parsed.options["seed"], "7");
        assert_eq!(parsed.positional, ["data/x.csv", "a/b=c"]);
    }

    #[test]
    fn only_what_differs_is_kept() {
        let a = BTreeMap::from([
            ("--lr".to_string(), "0.1".to_string()),
            ("k".into(), "1".into()),
        ]);
        let b = BTreeMap::from([
            ("--lr".to_string(), "0.2".to_string()),
            ("k".into(), "1".into()),
        ]);
        let diff = differing(&a, &b);
        assert_eq!(diff.len(), 1);
        assert_eq!(diff["--lr"], (Some("0.1".into()), Some("0.2".into())));
    }

    fn job(inputs: &[(&str, &str)], args: &[&str]) -> pb::Job {
        pb::Job {
            summary: Some(pb::JobSummary {
                project: b"/p".to_vec(),
                argv: argv(args),
                ..Default::default()
            }),
            inputs: inputs
                .iter()
                .map(|(path, hex)| pb::FileRecord {
                    path: path.as_bytes().to_vec(),
                    hashes: vec![pb::Digest::new(
                        pb::HashAlgorithm::Blake3,
                        (*hex).to_string(),
                    )],
                    class: pb::FileClass::Artifact.into(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn inputs_are_matched_by_path_within_the_project() {
        let a = job(
            &[("/p/raw.csv", "aa"), ("/p/old.csv", "bb")],
            &["sh", "x.sh"],
        );
        let b = job(
            &[("/p/raw.csv", "cc"), ("/p/new.csv", "dd")],
            &["sh", "x.sh"],
        );
        let diff = compare(&a, &b);
        assert_eq!(
            diff.data["raw.csv"],
            DataChange::Changed("aa".into(), "cc".into())
        );
        assert_eq!(diff.data["old.csv"], DataChange::Removed("bb".into()));
        assert_eq!(diff.data["new.csv"], DataChange::Added("dd".into()));
        assert!(diff.command.is_none() && diff.parameters.is_empty());
        assert!(!compare(&a, &a).data.iter().any(|_| true));
        assert!(compare(&a, &a).is_empty());
    }
}
