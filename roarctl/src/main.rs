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
mod graph;
mod json;
mod launch;
mod output;
mod progress;
mod remote;
mod render;
mod reproduce_plan;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    Run(commands::run::RunArgs),
    /// Like `run`, recorded as a build step (`@BN`: run before pipeline steps when
    /// reproducing)
    Build(commands::run::RunArgs),
    /// List recent jobs of this project
    Log(commands::log::LogArgs),
    /// Show a job (files, packages, processes) or an artifact (hashes, uses)
    Show(commands::show::ShowArgs),
    /// The session's steps, their edges and which are stale
    Dag(commands::dag::DagArgs),
    /// How an artifact was made, down to its sources (or what was made from it)
    Lineage(commands::lineage::LineageArgs),
    /// The daemon, this project's session, and the hash cache
    Status(commands::status::StatusArgs),
    /// Start a new session for this project (the old one stays queryable)
    Reset,
    /// Remove the last step of this project's session
    Pop(commands::session::PopArgs),
    /// Print lineage as W3C PROV-JSON or OpenLineage events
    Export(commands::export::ExportArgs),
    /// Tag the commits a lineage rests on with roar/<DAG hash>
    Tag(commands::tag::TagArgs),
    /// Download a file (or everything under a prefix), verified and recorded as a
    /// source of lineage
    Get(commands::get::GetArgs),
    /// Upload artifacts, record where they went, and tag the commits they came from
    Put(commands::put::PutArgs),
    /// Rebuild an artifact from its lineage in a fresh checkout and check the bytes
    Reproduce(commands::reproduce::ReproduceArgs),
    /// Start, inspect or stop the daemon
    #[command(subcommand)]
    Daemon(commands::daemon::DaemonCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cwd = std::env::current_dir().ok();
    let layers = roar_proto::config::Layers::standard(cli.config.clone(), cwd.as_deref());
    let config = match roar_proto::config::load(&layers) {
        Ok(config) => config,
        Err(e) => {
            eprintln!(
                "roarctl: error: {e}\nhint: fix or remove the file; README.md, \"Configuration\", lists every key"
            );
            return ExitCode::from(2);
        }
    };
    let ctx = Context {
        socket: cli
            .socket
            .unwrap_or_else(roar_proto::socket_path::default_socket_path),
        autostart: config.daemon.autostart && !cli.no_autostart,
        quiet: cli.quiet,
        user_config: layers.user,
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
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => commands::run::run(&ctx, args, commands::run::Kind::Run).await,
            Command::Build(args) => {
                commands::run::run(&ctx, args, commands::run::Kind::Build).await
            }
            Command::Log(args) => commands::log::log(&ctx, args).await,
            Command::Show(args) => commands::show::show(&ctx, args).await,
            Command::Dag(args) => commands::dag::dag(&ctx, args).await,
            Command::Lineage(args) => commands::lineage::lineage(&ctx, args).await,
            Command::Status(args) => commands::status::status(&ctx, args).await,
            Command::Reset => commands::session::reset(&ctx).await,
            Command::Pop(args) => commands::session::pop(&ctx, args).await,
            Command::Export(args) => commands::export::export(&ctx, args).await,
            Command::Tag(args) => commands::tag::tag(&ctx, args).await,
            Command::Get(args) => commands::get::get(&ctx, args).await,
            Command::Put(args) => commands::put::put(&ctx, args).await,
            Command::Reproduce(args) => commands::reproduce::reproduce(&ctx, args).await,
            Command::Daemon(command) => commands::daemon::daemon(&ctx, command).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("roarctl: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A gRPC error as the daemon's own message, without transport noise.
pub fn status_error(status: tonic::Status) -> anyhow::Error {
    match status.code() {
        tonic::Code::Unavailable if status.message().contains("transport") => {
            anyhow::anyhow!("lost the connection to roard: {}", status.message())
        }
        _ => anyhow::anyhow!("{}", status.message()),
    }
}
