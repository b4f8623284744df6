//! `roarctl`: the roar client. Parses the command line and hands off to one file per
//! subcommand in `commands/`.

/// `println!` through [`output::print_line`]: see there for why.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::print_line(format_args!($($arg)*))
    };
}

mod aws_profile;
mod commands;
mod connection;
mod context;
mod elf_check;
mod graph;
mod job_diff;
mod json;
mod label_inheritance;
mod launch;
mod output;
mod progress;
mod registry;
mod remote;
mod render;
mod reproduce_plan;
mod usage;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::context::Context;

/// Run commands under provenance tracing and query what they read and wrote.
#[derive(Parser, Debug)]
#[command(name = "roarctl", version, about, after_help = EXAMPLES)]
struct Cli {
    /// roard's socket [default: $XDG_RUNTIME_DIR/roar/roard.sock]
    #[arg(long, global = true, env = "ROAR_SOCKET")]
    socket: Option<PathBuf>,
    /// Never start roard; fail when it is not running
    #[arg(long, global = true)]
    no_autostart: bool,
    /// Configuration file [default: $XDG_CONFIG_HOME/roar/config.toml]
    #[arg(long, global = true, env = "ROAR_CONFIG")]
    config: Option<PathBuf>,
    /// Print none of roar's own messages (errors still go to stderr)
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Colours in terminal output: auto (on a terminal, unless NO_COLOR is set),
    /// always, never
    #[arg(long, global = true, value_enum, default_value_t = render::ColorChoice::Auto)]
    color: render::ColorChoice,
    #[command(subcommand)]
    command: Command,
}

const EXAMPLES: &str = "Examples:
  roarctl run -- python train.py --lr 0.1
  roarctl run @2 -- --lr 0.2        re-run step 2 with an extra argument
  roarctl log
  roarctl show last --json
  roarctl dag --dot | dot -Tsvg > dag.svg
  roarctl lineage results/metrics.json
  roarctl export --format openlineage
  roarctl status";

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a command exactly as the shell would, while roard records it as the next
    /// step of this project's session; `run @N [-- ARGS]` re-runs step N
    #[command(after_help = "Examples:\n  roarctl run -- python train.py --lr 0.1
  roarctl run @2 -- --lr 0.2      re-run step 2 with an extra argument
  roarctl run --allow-dirty -- make")]
    Run(commands::run::RunArgs),
    /// Like `run`, recorded as a build step (`@BN`: run before pipeline steps when
    /// reproducing)
    #[command(
        after_help = "Examples:\n  roarctl build -- pip install -r requirements.txt
  roarctl build -- make tools"
    )]
    Build(commands::run::RunArgs),
    /// List recent jobs of this project
    #[command(after_help = "Examples:\n  roarctl log
  roarctl log --all -n 50
  roarctl log --json")]
    Log(commands::log::LogArgs),
    /// Show a job (files, packages, processes) or an artifact (hashes, uses)
    #[command(after_help = "Examples:\n  roarctl show                 the last job
  roarctl show @3 --all        step 3, system and package files included
  roarctl show results/metrics.json
  roarctl show sha256:9f86d081")]
    Show(commands::show::ShowArgs),
    /// The session's steps, their edges and which are stale
    #[command(after_help = "Examples:\n  roarctl dag
  roarctl dag --dot | dot -Tsvg > dag.svg
  roarctl dag --mermaid")]
    Dag(commands::dag::DagArgs),
    /// How an artifact was made, down to its sources (or what was made from it)
    #[command(after_help = "Examples:\n  roarctl lineage results/metrics.json
  roarctl lineage --downstream data/raw.csv --depth 2
  roarctl lineage blake3:1a2b3c4d --json")]
    Lineage(commands::lineage::LineageArgs),
    /// The daemon, this project's session, and the hash cache (never starts roard:
    /// exit status 3 when it is not running)
    #[command(after_help = "Examples:\n  roarctl status
  roarctl status --json")]
    Status(commands::status::StatusArgs),
    /// Bring the session up to date: re-run every stale step, in order, skipping those
    /// whose inputs come out unchanged
    #[command(after_help = "Examples:\n  roarctl rerun --dry-run
  roarctl rerun
  roarctl rerun --from @3 --keep-going")]
    Rerun(commands::rerun::RerunArgs),
    /// Why two results differ: the data, parameters, code, environment and upstream
    /// steps of two jobs (or of the jobs that made two artifacts)
    #[command(after_help = "Examples:\n  roarctl diff @2 last
  roarctl diff results/metrics.json blake3:1a2b3c4d
  roarctl diff 3f2a9c @3 --json")]
    Diff(commands::diff::DiffArgs),
    /// Where a result's data came from: the root inputs of its lineage, each with its
    /// origin (downloaded, uploaded, or only on this machine)
    #[command(after_help = "Examples:\n  roarctl inputs results/metrics.json
  roarctl inputs @3 --unsourced        what keeps step 3 from being reproduced elsewhere
  roarctl inputs last --json")]
    Inputs(commands::inputs::InputsArgs),
    /// How big roard's database is: file and log size, free pages, rows per table, the
    /// hash cache
    #[command(after_help = "Examples:\n  roarctl db\n  roarctl db --json")]
    Db(commands::db::DbArgs),
    /// Labels on jobs, artifacts and sessions: set, unset, show (with what is
    /// inherited from upstream, and the history of changes)
    #[command(
        subcommand,
        after_help = "Examples:\n  roarctl label set data/raw.csv license=CC-BY-NC-4.0\n  \
                      roarctl label set @2 reviewed=yes\n  roarctl label show results/metrics.json\n  \
                      roarctl label unset session owner"
    )]
    Label(commands::label::LabelCommand),
    /// Start a new session for this project (the old one stays queryable)
    #[command(after_help = "Examples:\n  roarctl reset")]
    Reset,
    /// Remove the last step of this project's session
    #[command(after_help = "Examples:\n  roarctl pop
  roarctl pop -y --delete-outputs")]
    Pop(commands::session::PopArgs),
    /// Print lineage as W3C PROV-JSON or OpenLineage events
    #[command(
        after_help = "Examples:\n  roarctl export --format prov-json > session.prov.json
  roarctl export results/metrics.json --format openlineage"
    )]
    Export(commands::export::ExportArgs),
    /// Tag the commits a lineage rests on with roar/<DAG hash>
    #[command(after_help = "Examples:\n  roarctl tag results/metrics.json
  roarctl tag --push-tags")]
    Tag(commands::tag::TagArgs),
    /// Download a file (or everything under a prefix), verified and recorded as a
    /// source of lineage
    #[command(
        after_help = "Examples:\n  roarctl get https://example.com/data.csv data/raw.csv --sha256 9f86d0…
  roarctl get s3://bucket/datasets/v2/ data/ --endpoint http://127.0.0.1:9000"
    )]
    Get(commands::get::GetArgs),
    /// Upload artifacts, record where they went, and tag the commits they came from
    #[command(
        after_help = "Examples:\n  roarctl put results/model.pt s3://bucket/models/ -m \"baseline\"
  roarctl put @3 s3://bucket/run-7/ -m \"step 3 outputs\" --dry-run
  roarctl put s3://bucket/session/ -m \"everything this session made\""
    )]
    Put(commands::put::PutArgs),
    /// Publish lineage to the team's PostgreSQL registry
    #[command(
        after_help = "Examples:\n  roarctl register results/metrics.json\n  roarctl register @3 --dry-run\n  roarctl register session -y"
    )]
    Register(commands::register::RegisterArgs),
    /// Rebuild an artifact from its lineage in a fresh work tree and check the bytes
    #[command(after_help = "Examples:\n  roarctl reproduce results/metrics.json
  roarctl reproduce blake3:1a2b3c4d --run -y
  roarctl reproduce @3 --run -y --setup-python
  roarctl reproduce --list
  roarctl reproduce --clean --older-than 7d")]
    Reproduce(commands::reproduce::ReproduceArgs),
    /// Start, inspect or stop the daemon
    #[command(
        subcommand,
        after_help = "Examples:\n  roarctl daemon status\n  roarctl daemon stop"
    )]
    Daemon(commands::daemon::DaemonCommand),
    /// Show or change the configuration (every key, its value and where it comes from)
    #[command(
        subcommand,
        after_help = "Examples:\n  roarctl config list\n  roarctl config set git.require_clean false --project\n  roarctl config unset filters.tmp"
    )]
    Config(commands::config::ConfigCommand),
    /// Variables set in the environment of every run and build job
    #[command(
        subcommand,
        after_help = "Examples:\n  roarctl env set PYTHONHASHSEED 0\n  roarctl env list\n  roarctl env unset PYTHONHASHSEED"
    )]
    Env(commands::config::EnvCommand),
    /// Print a shell completion script (e.g. `roarctl completions bash > /etc/bash_completion.d/roarctl`)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page in roff (`roarctl man > roarctl.1; man ./roarctl.1`)
    Man,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ctx = match context(&cli) {
        Ok(ctx) => ctx,
        Err(code) => return code,
    };
    // One thread: `run` forks, and a single-threaded parent keeps the fork simple.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("roarctl: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(dispatch(&ctx, cli.command));
    // Not a plain drop: that would wait for the runtime's idle blocking threads to be
    // woken and joined, a millisecond added to every `roarctl run`.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("roarctl: error: {e:#}");
            if usage::is_usage(&e) {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// The global options and the configuration files, merged once for every command. A
/// broken configuration file is a usage error (exit 2), reported before anything runs.
fn context(cli: &Cli) -> Result<Context, ExitCode> {
    let cwd = std::env::current_dir().ok();
    let layers = roar_proto::config::Layers::standard(cli.config.clone(), cwd.as_deref());
    let config = match roar_proto::config::load(&layers) {
        Ok(config) => config,
        Err(e) => {
            eprintln!(
                "roarctl: error: {e}\nhint: fix or remove the file; README.md, \"Configuration\", lists every key"
            );
            return Err(ExitCode::from(2));
        }
    };
    Ok(Context {
        socket: cli
            .socket
            .clone()
            .unwrap_or_else(roar_proto::socket_path::default_socket_path),
        autostart: config.daemon.autostart && !cli.no_autostart,
        quiet: cli.quiet,
        user_config: layers.user,
        color: cli.color,
        registry_url: config.registry.url.clone(),
        job_env: config.env.into_iter().collect(),
        inherited_keys: config.labels.inherit,
        refuse_put: config.policy.refuse_put,
    })
}

/// Hands the subcommand to its file in `commands/`.
async fn dispatch(ctx: &Context, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Config(command) => commands::config::config(ctx, command),
        Command::Env(command) => commands::config::env(ctx, command),
        Command::Completions { shell } => {
            let mut command = Cli::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "roarctl", &mut script);
            output::print_bytes(&script);
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut page)?;
            output::print_bytes(&page);
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => commands::run::run(ctx, args, commands::run::Kind::Run).await,
        Command::Build(args) => commands::run::run(ctx, args, commands::run::Kind::Build).await,
        Command::Log(args) => commands::log::log(ctx, args).await,
        Command::Show(args) => commands::show::show(ctx, args).await,
        Command::Dag(args) => commands::dag::dag(ctx, args).await,
        Command::Lineage(args) => commands::lineage::lineage(ctx, args).await,
        Command::Status(args) => commands::status::status(ctx, args).await,
        Command::Inputs(args) => commands::inputs::inputs(ctx, args).await,
        Command::Diff(args) => commands::diff::diff(ctx, args).await,
        Command::Rerun(args) => commands::rerun::rerun(ctx, args).await,
        Command::Db(args) => commands::db::db(ctx, args).await,
        Command::Label(command) => commands::label::label(ctx, command).await,
        Command::Reset => commands::session::reset(ctx).await,
        Command::Pop(args) => commands::session::pop(ctx, args).await,
        Command::Export(args) => commands::export::export(ctx, args).await,
        Command::Tag(args) => commands::tag::tag(ctx, args).await,
        Command::Get(args) => commands::get::get(ctx, args).await,
        Command::Put(args) => commands::put::put(ctx, args).await,
        Command::Reproduce(args) => commands::reproduce::reproduce(ctx, args).await,
        Command::Register(args) => commands::register::register(ctx, args).await,
        Command::Daemon(command) => commands::daemon::daemon(ctx, command).await,
    }
}

/// A gRPC error as the daemon's own message, without transport noise.
pub fn status_error(status: tonic::Status) -> anyhow::Error {
    if is_lost_connection(&status) {
        return anyhow::anyhow!("lost the connection to roard: {}", status.message());
    }
    match status.code() {
        // roard's word for a bad selector or prefix the user typed.
        tonic::Code::InvalidArgument => usage::usage(status.message()),
        _ => anyhow::anyhow!("{}", status.message()),
    }
}

/// Whether a status is the client's own report of a broken connection rather than an
/// answer from roard: tonic keeps the transport's error as its source, and a status
/// roard sent has none (its own `Unavailable` means "roard cannot do that now").
fn is_lost_connection(status: &tonic::Status) -> bool {
    std::error::Error::source(status).is_some()
}

#[cfg(test)]
mod status_tests {
    use super::*;

    #[test]
    fn a_broken_connection_is_told_from_roards_own_answers() {
        let cut = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "connection reset");
        let transport = tonic::Status::from_error(Box::new(cut));
        assert!(is_lost_connection(&transport));
        assert!(
            status_error(transport)
                .to_string()
                .starts_with("lost the connection")
        );
        let answer = tonic::Status::unavailable("roard is shutting down and takes no new jobs");
        assert!(!is_lost_connection(&answer));
        assert_eq!(
            status_error(answer).to_string(),
            "roard is shutting down and takes no new jobs"
        );
    }
}
