//! `roard`: thin entry point. Everything lives in the library so tests can reach it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use roar_proto::config;

/// The roar daemon: traces jobs started by `roarctl run` and records their lineage.
///
/// Runs in the foreground (under systemd or started by roarctl) and serves gRPC on a
/// Unix socket that only its own user may use.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Socket to listen on [default: $XDG_RUNTIME_DIR/roar/roard.sock]
    #[arg(long, env = "ROAR_SOCKET")]
    socket: Option<PathBuf>,
    /// SQLite database [default: $XDG_DATA_HOME/roar/roar.db]
    #[arg(long, env = "ROAR_DATABASE")]
    database: Option<PathBuf>,
    /// Seconds to keep recording processes that outlive a job's first process; after
    /// that the record is closed (the processes keep running, unrecorded)
    #[arg(long, env = "ROARD_LINGER_SECS", default_value_t = roard::tracer::linger::DEFAULT_LINGER.as_secs())]
    linger_secs: u64,
    /// Also store as `<redacted>` the environment variables whose names contain this
    /// fragment (any case); repeat or separate with commas. Always redacted: TOKEN,
    /// SECRET, PASSWORD, PASSWD, KEY, CREDENTIAL, AUTH
    #[arg(long, env = "ROARD_REDACT_ENV", value_delimiter = ',')]
    redact_env: Vec<String>,
    /// Hash algorithms to compute for every artifact, comma-separated: BLAKE3 always,
    /// plus any of: sha256 [default: `hash.algorithms` from the system and user
    /// configuration files, else blake3]
    #[arg(long, env = "ROARD_HASH_ALGORITHMS", value_delimiter = ',')]
    hash_algorithms: Option<Vec<String>>,
}

fn main() -> ExitCode {
    roard::logging::init();
    // A tracer helper (started by roard itself, one per job): not a daemon.
    if std::env::args().nth(1).as_deref() == Some(roard::tracer::helper::FLAG) {
        return roard::tracer::helper::main();
    }
    let args = Args::parse();
    let names = match args.hash_algorithms {
        Some(names) => names,
        // The hash cache is shared by every job, so the algorithms are the daemon's:
        // project files cannot change them.
        None => match config::load(&config::Layers::standard(None, None)) {
            Ok(config) => config.hash.algorithms,
            Err(e) => {
                tracing::error!("{e}");
                return ExitCode::from(2);
            }
        },
    };
    let hash_algorithms = match roard::hash_algorithms::extra_algorithms(&names) {
        Ok(algorithms) => algorithms,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    let options = roard::daemon::Options {
        socket: args
            .socket
            .unwrap_or_else(roar_proto::socket_path::default_socket_path),
        database: args.database.unwrap_or_else(roard::store::default_path),
        linger: std::time::Duration::from_secs(args.linger_secs),
        redact_env: args.redact_env,
        hash_algorithms,
    };
    match roard::daemon::run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
