//! `roarctl reproduce HASH|PATH [--run] [-y] [--setup-python] [--json]`: rebuild an
//! artifact from its recorded lineage and check the bytes.
//!
//! The plan comes from the artifact's upstream lineage (see `reproduce_plan`). With
//! `--run`, each repository is cloned (`git clone --shared`, at the recorded commit)
//! into a fresh directory under `$XDG_CACHE_HOME/roar/reproductions/`, so the user's
//! working tree is never touched; source inputs
//! are fetched from their URL or copied from a local file holding the recorded content;
//! then each job runs again under `roarctl run`, traced, in a new session that names
//! the target. Every recorded output is compared with what came out.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context as _, bail};
use roar_proto::pb;

use crate::context::Context;
use crate::remote::hash_file;
use crate::reproduce_plan::{Origin, Plan, Step};
use crate::status_error;
use crate::usage::usage_bail;

#[derive(clap::Args, Debug)]
pub struct ReproduceArgs {
    /// The artifact: a file's path (its last recorded content) or a hash prefix
    #[arg(value_name = "HASH|PATH")]
    pub target: String,
    /// Carry the plan out (otherwise it is only printed)
    #[arg(long)]
    pub run: bool,
    /// Do not ask for confirmation before running
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Create a virtualenv with the recorded Python packages (pip install) and run the
    /// jobs with it first on PATH
    #[arg(long)]
    pub setup_python: bool,
    /// Print the plan as JSON (see README, "JSON output")
    #[arg(long, conflicts_with = "run")]
    pub json: bool,
    /// Plan from the team registry (registry.url) instead of the local store
    #[arg(long)]
    pub registry: bool,
}

pub async fn reproduce(ctx: &Context, args: ReproduceArgs) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir()?;
    let target = match super::lineage::target(&args.target)? {
        pb::get_lineage_request::Target::Job(_) => {
            usage_bail!(
                "reproduce takes an artifact (a path or a hash), not a job\nhint: `roarctl \
                 show {}` lists the job's outputs; give one of them",
                args.target
            )
        }
        other => other,
    };
    let mut client = ctx.client().await?;
    let graph = if args.registry {
        let registry = crate::registry::open(ctx.registry_url.as_deref()).await?;
        let id = crate::registry::artifact_for(&registry, &target).await?;
        registry.lineage(id, false, 0).await?
    } else {
        client
            .get_lineage(pb::GetLineageRequest {
                target: Some(target),
                cwd: cwd.as_os_str().as_bytes().to_vec(),
                downstream: false,
                depth: 0,
            })
            .await
            .map_err(status_error)?
            .into_inner()
    };
    if graph.jobs.is_empty() {
        bail!(
            "no recorded job wrote this content: it is a source, nothing to reproduce\n\
             hint: `roarctl lineage {}` shows where it came from",
            args.target
        );
    }
    let local = local_copies(&mut client, &graph).await?;
    let plan = Plan::new(&graph, |artifact, _| {
        if let Some(url) = artifact.origins.first() {
            return Origin::Url(url.clone());
        }
        match local.get(&artifact.id) {
            Some(path) => Origin::Local(path.clone()),
            None => Origin::Missing,
        }
    });
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&plan.to_json())?);
        return Ok(ExitCode::SUCCESS);
    }
    plan.print();
    if !args.run {
        return Ok(ExitCode::SUCCESS);
    }
    let missing = plan.missing();
    if !missing.is_empty() {
        let names: Vec<String> = missing
            .iter()
            .map(|s| s.path.display().to_string())
            .collect();
        bail!(
            "cannot reproduce: no copy of these source inputs is known: {}\n\
             hint: put the recorded content back at its path (or `roarctl get` it), then \
             try again",
            names.join(", ")
        );
    }
    if let Some(step) = plan
        .steps
        .iter()
        .find(|s| s.git.as_ref().is_none_or(|g| g.commit.is_empty()))
    {
        bail!(
            "cannot reproduce: job {} ({}) ran outside a git repository or before its first \
             commit, so nothing anchors its code",
            step.summary.uid,
            crate::graph::label(&step.job)
        );
    }
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            eprintln!(
                "roarctl: error: reproducing runs {} job(s)\nhint: pass -y to confirm",
                plan.steps.len()
            );
            return Ok(ExitCode::from(2));
        }
        eprint!(
            "run these {} job(s) in a fresh checkout? [y/N] ",
            plan.steps.len()
        );
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Ok(ExitCode::SUCCESS);
        }
    }
    execute(ctx, &plan, &args).await
}

/// For each artifact the graph's jobs read, a local path holding that content now.
async fn local_copies(
    client: &mut crate::connection::Client,
    graph: &pb::Graph,
) -> anyhow::Result<BTreeMap<u64, PathBuf>> {
    let mut found = BTreeMap::new();
    for artifact in graph.artifacts.iter().filter(|a| a.source) {
        let Some(blake3) = artifact.hashes.iter().find(|d| d.algorithm == "blake3") else {
            continue;
        };
        let known = match client
            .get_artifact(pb::GetArtifactRequest {
                by: Some(pb::get_artifact_request::By::Hash(format!(
                    "blake3:{}",
                    blake3.hex
                ))),
            })
            .await
        {
            Ok(known) => known.into_inner(),
            // Known to the registry but never seen here: no local copy.
            Err(status) if status.code() == tonic::Code::NotFound => continue,
            Err(status) => return Err(status_error(status)),
        };
        for path in known
            .uses
            .iter()
            .map(|u| PathBuf::from(std::ffi::OsString::from_vec(u.path.clone())))
        {
            if path.is_file() && hash_file(&path).is_ok_and(|h| h == blake3.hex) {
                found.insert(artifact.id, path);
                break;
            }
        }
    }
    Ok(found)
}

/// Checkouts by (repository root, commit).
struct Checkouts {
    base: PathBuf,
    dirs: BTreeMap<(PathBuf, String), PathBuf>,
}

impl Checkouts {
    /// A clone of `root` at `commit`, made once.
    fn of(&mut self, root: &Path, commit: &str) -> anyhow::Result<PathBuf> {
        let key = (root.to_path_buf(), commit.to_string());
        if let Some(dir) = self.dirs.get(&key) {
            return Ok(dir.clone());
        }
        let name = root
            .file_name()
            .map_or_else(|| "repo".into(), |n| n.to_string_lossy().into_owned());
        let dir = self
            .base
            .join(format!("{name}-{}", &commit[..commit.len().min(12)]));
        git(
            None,
            &["clone", "--quiet", "--shared", "--no-checkout"],
            &[root, &dir],
        )?;
        git(
            Some(&dir),
            &["checkout", "--quiet", "--detach", commit],
            &[],
        )?;
        self.dirs.insert(key, dir.clone());
        Ok(dir)
    }

    /// Where a path of the original checkout is in this step's checkout.
    fn map(&mut self, step: &Step, path: &Path) -> anyhow::Result<PathBuf> {
        let (Some(root), Some(git)) = (step.root(), step.git.as_ref()) else {
            return Ok(path.to_path_buf());
        };
        let dir = self.of(&root, &git.commit)?;
        Ok(match path.strip_prefix(&root) {
            Ok(relative) => dir.join(relative),
            Err(_) => path.to_path_buf(),
        })
    }
}

fn git(dir: Option<&Path>, args: &[&str], paths: &[&Path]) -> anyhow::Result<()> {
    let mut command = Command::new("git");
    if let Some(dir) = dir {
        command.arg("-C").arg(dir);
    }
    let output = command
        .args(args)
        .args(paths)
        .stdin(std::process::Stdio::null())
        .output()
        .context("cannot run git")?;
    if !output.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

async fn execute(ctx: &Context, plan: &Plan, args: &ReproduceArgs) -> anyhow::Result<ExitCode> {
    // Not under /tmp: scratch space is not data to roar, and these outputs are.
    let parent = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .context("neither XDG_CACHE_HOME nor HOME is set")?
        .join("roar")
        .join("reproductions");
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let base = tempfile::Builder::new()
        .prefix(&format!(
            "{}-",
            &plan.target_blake3[..plan.target_blake3.len().min(12)]
        ))
        .tempdir_in(&parent)
        .context("cannot create a directory for the reproduction")?
        .keep();
    eprintln!("roar: reproducing in {}", base.display());
    let mut checkouts = Checkouts {
        base: base.clone(),
        dirs: BTreeMap::new(),
    };
    let steps: BTreeMap<&str, &Step> = plan
        .steps
        .iter()
        .map(|s| (s.summary.uid.as_str(), s))
        .collect();
    for source in &plan.sources {
        let Some(step) = steps.get(source.reader.as_str()) else {
            continue;
        };
        let dest = checkouts.map(step, &source.path)?;
        if dest == source.path {
            // Outside the repository: the job reads it where it is, and it holds the
            // recorded content (that is how it was found).
            continue;
        }
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir)?;
        }
        match &source.origin {
            Origin::Url(url) => {
                super::get::fetch_verified(ctx, url, &dest, &source.blake3).await?;
            }
            Origin::Local(path) => {
                std::fs::copy(path, &dest)
                    .with_context(|| format!("cannot copy {}", path.display()))?;
                if hash_file(&dest)? != source.blake3 {
                    bail!("{} changed while it was copied; try again", path.display());
                }
            }
            Origin::Missing => unreachable!("missing sources are refused before running"),
        }
    }
    let mut path_var = std::env::var_os("PATH").unwrap_or_default();
    if args.setup_python {
        let requirements: Vec<&String> = {
            let mut all: Vec<&String> = plan.steps.iter().flat_map(|s| &s.requirements).collect();
            all.sort();
            all.dedup();
            all
        };
        let venv = base.join("venv");
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()?;
        if !status.success() {
            bail!("cannot create a virtualenv in {}", venv.display());
        }
        if !requirements.is_empty() {
            let status = Command::new(venv.join("bin/pip"))
                .arg("install")
                .args(requirements.iter().map(|r| r.as_str()))
                .status()?;
            if !status.success() {
                bail!("pip could not install the recorded packages");
            }
        }
        let mut joined = venv.join("bin").into_os_string();
        joined.push(":");
        joined.push(&path_var);
        path_var = joined;
    }
    let roarctl = std::env::current_exe().context("cannot find roarctl itself")?;
    for step in &plan.steps {
        let cwd = checkouts.map(step, &step.cwd())?;
        let argv: Vec<std::ffi::OsString> = step
            .summary
            .argv
            .iter()
            .map(|a| {
                let arg = PathBuf::from(std::ffi::OsString::from_vec(a.clone()));
                if arg.is_absolute() {
                    checkouts.map(step, &arg).map(PathBuf::into_os_string)
                } else {
                    Ok(arg.into_os_string())
                }
            })
            .collect::<anyhow::Result<_>>()?;
        let mut command = Command::new(&roarctl);
        command.arg(if step.summary.kind == "build" {
            "build"
        } else {
            "run"
        });
        command
            .arg(format!("--reproduces=blake3:{}", plan.target_blake3))
            .arg("--")
            .args(&argv)
            .current_dir(&cwd)
            .env("PATH", &path_var);
        if ctx.quiet {
            command.arg("-q");
        }
        let status = command
            .status()
            .with_context(|| format!("cannot run {}", roarctl.display()))?;
        if !status.success() {
            eprintln!(
                "roar: {} {} failed ({status}) in {}; stopping",
                crate::graph::label(&step.job),
                crate::render::command_line(&step.summary.argv),
                cwd.display()
            );
            return Ok(ExitCode::FAILURE);
        }
    }
    report(plan, &mut checkouts)
}

/// Compares every recorded output with what the reproduction left.
fn report(plan: &Plan, checkouts: &mut Checkouts) -> anyhow::Result<ExitCode> {
    let mut target_ok = false;
    outln!("outputs:");
    for step in &plan.steps {
        for output in &step.job.outputs {
            let original = PathBuf::from(std::ffi::OsString::from_vec(output.path.clone()));
            let reproduced = checkouts.map(step, &original)?;
            let recorded = plan.hash_of(output.artifact_id);
            let is_target = plan.target_path.as_ref() == Some(&original);
            let verdict = match hash_file(&reproduced) {
                Ok(now) if now == recorded => {
                    if is_target {
                        target_ok = true;
                    }
                    "identical".to_string()
                }
                Ok(now) => format!(
                    "DIFFERS: recorded blake3 {}, reproduced {}",
                    &recorded[..recorded.len().min(12)],
                    &now[..12]
                ),
                Err(_) => "MISSING: not produced".to_string(),
            };
            outln!(
                "  {}{}  {verdict}",
                reproduced.display(),
                if is_target { "  [target]" } else { "" }
            );
        }
    }
    if target_ok {
        outln!("the target was reproduced bit-identical");
        Ok(ExitCode::SUCCESS)
    } else {
        outln!("the target did not come out with its recorded content");
        Ok(ExitCode::FAILURE)
    }
}
