//! `roarctl`: the roar client. Parses the command line and hands off to one file per
//! subcommand in `commands/`.

/// `println!` through [`output::print_line`]: see there for why.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::print_line(format_args!($($arg)*))
    };
}

mod commands;
mod connection;
mod context;
mod json;
mod launch;
mod output;
mod progress;
mod render;

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
  roarctl log
  roarctl show last --json
  roarctl daemon status";

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a command exactly as the shell would, while roard records it
    Run(commands::run::RunArgs),
    /// List recent jobs of this project
    Log(commands::log::LogArgs),
    /// Show one job: its command, processes, exit status and environment
    Show(commands::show::ShowArgs),
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
            Command::Run(args) => commands::run::run(&ctx, args).await,
            Command::Log(args) => commands::log::log(&ctx, args).await,
            Command::Show(args) => commands::show::show(&ctx, args).await,
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
