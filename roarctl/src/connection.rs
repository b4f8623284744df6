//! Reaching roard: gRPC over its Unix socket, starting the daemon first when none
//! answers (unless auto-start is off).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hyper_util::rt::TokioIo;
use roar_proto::pb;
use roar_proto::pb::roar_client::RoarClient;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

pub type Client = RoarClient<Channel>;

/// How long a freshly started daemon gets to answer.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);

/// The pid of the daemon at the other end of the latest connection, as the kernel
/// reports the socket's peer (`SO_PEERCRED`); 0 before any connection.
static DAEMON_PID: AtomicI32 = AtomicI32::new(0);

/// The daemon's pid, learnt when connecting (no request needed): `run` names it as
/// the job's tracer.
pub fn daemon_pid() -> Option<i32> {
    Some(DAEMON_PID.load(Ordering::Relaxed)).filter(|pid| *pid > 0)
}

/// Connects to the daemon on `socket`, without starting one.
pub async fn connect(socket: &Path) -> anyhow::Result<Client> {
    let socket = socket.to_path_buf();
    // The URI is required by the API but unused: the connector always dials the socket.
    let channel = Endpoint::from_static("http://roard.invalid")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move {
                let stream = UnixStream::connect(socket).await?;
                if let Some(pid) = stream.peer_cred().ok().and_then(|cred| cred.pid()) {
                    DAEMON_PID.store(pid, Ordering::Relaxed);
                }
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        }))
        .await?;
    Ok(RoarClient::new(channel).max_decoding_message_size(64 * 1024 * 1024))
}

/// Connects to the daemon, starting it first if `autostart` allows and none answers.
/// A daemon of another build is replaced first when it is idle (see [`same_build`]).
pub async fn connect_or_start(
    socket: &Path,
    autostart: bool,
    quiet: bool,
) -> anyhow::Result<Client> {
    if let Ok(client) = connect(socket).await {
        return same_build(client, socket, autostart, quiet).await;
    }
    if !autostart {
        bail!(
            "no roard answers on {}\nhint: start it with `systemctl --user start roard` or \
             `roard &`, or allow roarctl to start it (drop --no-autostart, or set \
             daemon.autostart = true)",
            socket.display()
        );
    }
    start_daemon(socket).await
}

/// Whether this process already compared the daemon's build with its own: once is
/// enough (a `Hello` costs a round trip, and `run` otherwise needs none).
static BUILD_CHECKED: AtomicBool = AtomicBool::new(false);

/// The daemon behind `client` if it is of this roarctl's build. One of another build
/// (an upgrade installed while it ran) may not speak the same protocol: when it traces
/// no job it is stopped and the new one started; with jobs running that would cost
/// their records, so the user is told what to run once they end. Without auto-start
/// the daemon is someone else's to manage (systemd, say): a warning, and on.
async fn same_build(
    mut client: Client,
    socket: &Path,
    autostart: bool,
    quiet: bool,
) -> anyhow::Result<Client> {
    if BUILD_CHECKED.swap(true, Ordering::Relaxed) || answering_build(socket) {
        return Ok(client);
    }
    // A daemon that cannot answer fails the command's own request, with its message.
    let Ok(hello) = client.hello(hello_request()).await else {
        return Ok(client);
    };
    let hello = hello.into_inner();
    if hello.build_id == roar_proto::BUILD_ID {
        return Ok(client);
    }
    let old = build_name(&hello.build_id);
    if !autostart {
        if !quiet {
            eprintln!(
                "roarctl: warning: roard is another build ({old}; this roarctl is {})\n\
                 hint: restart it once its jobs end (`roarctl daemon stop`, or `systemctl \
                 --user restart roard`)",
                roar_proto::BUILD_ID
            );
        }
        return Ok(client);
    }
    let running = match hello.running_jobs {
        0 => client
            .shutdown(pb::ShutdownRequest {})
            .await
            .map_or(0, |reply| reply.into_inner().running_jobs),
        n => n,
    };
    if running > 0 {
        bail!(
            "roard is another build ({old}) with {running} job(s) running; when they end \
             run 'roarctl daemon stop' and try again"
        );
    }
    drop(client);
    wait_until_gone(socket, hello.pid).await?;
    let client = start_daemon(socket).await?;
    if !quiet {
        eprintln!(
            "roarctl: restarted roard: it was another build (old {old}, new {})",
            roar_proto::BUILD_ID
        );
    }
    Ok(client)
}

/// Whether the daemon holding `socket`'s lock wrote this roarctl's build id into it:
/// then no `Hello` is needed. Anything else (no file, an older daemon that writes
/// none, another build) is left to `Hello`.
fn answering_build(socket: &Path) -> bool {
    std::fs::read(roar_proto::socket_path::lock_path(socket))
        .is_ok_and(|id| id == roar_proto::BUILD_ID.as_bytes())
}

/// A build id as shown to the user; daemons from before build ids sent none.
pub fn build_name(build_id: &str) -> &str {
    if build_id.is_empty() {
        "unknown"
    } else {
        build_id
    }
}

/// Waits until the daemon `pid` has removed its socket and exited (so its lock is
/// free for the next one).
async fn wait_until_gone(socket: &Path, pid: u32) -> anyhow::Result<()> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    while socket.exists() || process_alive(pid) {
        if Instant::now() > deadline {
            bail!(
                "roard (pid {pid}) did not stop within {}s\nhint: see {}, or stop it with \
                 `kill {pid}`",
                STARTUP_TIMEOUT.as_secs(),
                log_path().display()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Whether `pid` runs; a zombie does not (it has closed its files, so its lock).
fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}

/// Starts roard detached in its own session, then waits until it answers `Hello`.
pub async fn start_daemon(socket: &Path) -> anyhow::Result<Client> {
    let binary = roard_binary();
    let log = log_path();
    let mut daemon = spawn_detached(&binary, socket, &log)?;
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if let Ok(mut client) = connect(socket).await
            && client.hello(hello_request()).await.is_ok()
        {
            return Ok(client);
        }
        // A daemon that exits at once either lost the race to another one (which will
        // answer soon) or failed; only the second is an error.
        if let Ok(Some(status)) = daemon.try_wait()
            && !status.success()
        {
            bail!(
                "roard ({}) failed to start ({status})\nhint: see {}",
                binary.display(),
                log.display()
            );
        }
        if Instant::now() > deadline {
            bail!(
                "roard did not answer on {} within {}s\nhint: see {}",
                socket.display(),
                STARTUP_TIMEOUT.as_secs(),
                log.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn hello_request() -> pb::HelloRequest {
    pb::HelloRequest {
        client_version: roar_proto::VERSION.to_string(),
    }
}

/// The `roard` installed beside this roarctl, else the one on PATH.
fn roard_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("roard")))
        .filter(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from("roard"))
}

/// Where an auto-started daemon logs: `$XDG_STATE_HOME/roar/roard.log`.
pub fn log_path() -> PathBuf {
    std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir)
        .join("roar")
        .join("roard.log")
}

fn spawn_detached(binary: &Path, socket: &Path, log: &Path) -> anyhow::Result<Child> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open {}", log.display()))?;
    let mut command = Command::new(binary);
    command
        .arg("--socket")
        .arg(socket)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file);
    // SAFETY: setsid is async-signal-safe. A new session detaches the daemon from our
    // terminal and process group, so Ctrl-C in this shell never reaches it.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            nix::unistd::setsid()
                .map(drop)
                .map_err(std::io::Error::from)
        });
    }
    command
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))
}
