//! The server end of the control socket (see the module docs).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::io::Write;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;

use super::{Answer, Request};
use crate::app::App;
use crate::error::AppResult;
use crate::service::admin::{self, Admin};
use crate::service::ingest::import::import_dir;

/// Largest request line: a command with names and a password.
const MAX_REQUEST: usize = 64 * 1024;

/// Binds the socket (replacing one a crashed server left: the database lock says no other
/// server uses this data dir) and serves it until the task is aborted.
pub fn start(app: App, path: &Path) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    let owner = {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path)?;
        (meta.uid(), meta.gid())
    };
    let path: PathBuf = path.to_path_buf();
    Ok(tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let app = app.clone();
                    tokio::spawn(async move { serve(app, stream, owner).await });
                }
                Err(e) => {
                    tracing::warn!(socket = %path.display(), "control socket: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
            }
        }
    }))
}

/// root, the socket's owner (the server's user), or a process in the socket's group (its
/// primary group, or a supplementary one as listed in /proc: how admins usually belong).
fn peer_allowed(stream: &UnixStream, (uid, gid): (u32, u32)) -> bool {
    let Ok(cred) = stream.peer_cred() else {
        return false;
    };
    if cred.uid() == 0 || cred.uid() == uid || cred.gid() == gid {
        return true;
    }
    let Some(pid) = cred.pid() else { return false };
    std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Groups:"))
            .is_some_and(|groups| {
                groups
                    .split_whitespace()
                    .any(|g| g.parse::<u32>() == Ok(gid))
            })
    })
}

async fn serve(app: App, mut stream: UnixStream, owner: (u32, u32)) {
    let (tx, rx) = mpsc::unbounded_channel::<Answer>();
    if !peer_allowed(&stream, owner) {
        let _ = tx.send(Answer::Error(
            "this user may not administer the server: run as root or as a member of its group"
                .into(),
        ));
    } else {
        let mut line = String::new();
        let mut reader = BufReader::new((&mut stream).take(MAX_REQUEST as u64));
        let read = reader.read_line(&mut line).await;
        drop(reader);
        match read.map(|_| serde_json::from_str::<Request>(&line)) {
            Ok(Ok(Request::Backup { with_blobs })) => {
                // The archive goes straight onto the socket from a blocking thread: as fast as
                // the CLI takes it, never held in memory.
                if let Ok(std_stream) = stream.into_std()
                    && std_stream.set_nonblocking(false).is_ok()
                {
                    let _ =
                        tokio::task::spawn_blocking(move || backup(&app, with_blobs, std_stream))
                            .await;
                }
                return;
            }
            Ok(Ok(request)) => {
                let job_tx = tx.clone();
                let (read, write) = stream.into_split();
                // The CLI sends nothing after its request: end of input means it went away.
                let gone = async move {
                    let mut read = read;
                    let mut byte = [0u8; 1];
                    while let Ok(n) = read.read(&mut byte).await {
                        if n == 0 {
                            break;
                        }
                    }
                };
                tokio::spawn(async move {
                    let answer = match run(&app, request, job_tx.clone(), gone).await {
                        Ok(()) => Answer::Done(true),
                        Err(e) => Answer::Error(e.to_string()),
                    };
                    let _ = job_tx.send(answer);
                });
                drop(tx);
                answer(write, rx).await;
                return;
            }
            Ok(Err(e)) => {
                let _ = tx.send(Answer::Error(format!(
                    "not a request this server knows (is the CLI of another version?): {e}"
                )));
            }
            Err(e) => {
                let _ = tx.send(Answer::Error(format!("reading the request: {e}")));
            }
        }
    }
    drop(tx);
    answer(stream, rx).await;
}

/// Writes the answers as they come until the last one.
async fn answer(mut stream: impl AsyncWriteExt + Unpin, mut rx: mpsc::UnboundedReceiver<Answer>) {
    while let Some(answer) = rx.recv().await {
        let Ok(mut text) = serde_json::to_string(&answer) else {
            continue;
        };
        text.push('\n');
        if stream.write_all(text.as_bytes()).await.is_err() {
            // The CLI went away (Ctrl-C): what was started goes on in the server.
            return;
        }
        if matches!(answer, Answer::Done(_) | Answer::Error(_)) {
            return;
        }
    }
}

/// `chillfi backup`: the archive as `Chunk` answers, then `Done` or `Error`.
fn backup(app: &App, with_blobs: bool, stream: std::os::unix::net::UnixStream) {
    let mut out = std::io::BufWriter::new(stream);
    let result = crate::service::backup::write(
        &app.cfg,
        &app.db,
        with_blobs,
        super::ChunkWriter::new(&mut out),
    );
    let last = match result {
        Ok(manifest) => {
            tracing::info!(
                files = manifest.files.len(),
                with_blobs,
                "backup written to the CLI"
            );
            Answer::Done(true)
        }
        Err(e) => Answer::Error(format!("the backup failed: {e}")),
    };
    let _ = super::write_answer(&mut out, &last).and_then(|_| out.flush());
}

async fn run(
    app: &App,
    request: Request,
    tx: mpsc::UnboundedSender<Answer>,
    gone: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let print = |lines: Vec<String>| {
        for l in lines {
            let _ = tx.send(Answer::Line(l));
        }
    };
    match request {
        Request::Import { dir, owner } => {
            let owner = admin_of(app).import_owner(owner.as_deref())?;
            tracing::info!(dir = %dir.display(), owner = %owner.username, "import started from the CLI");
            let out_tx = tx.clone();
            let out: crate::service::ingest::import::Output = Arc::new(move |l: String| {
                let _ = out_tx.send(Answer::Line(l));
            });
            let failed = import_dir(app.uploads.ingest(), &dir, &owner.id, out, gone).await?;
            anyhow::ensure!(failed == 0, "{failed} file(s) could not be imported");
            Ok(())
        }
        Request::PluginList => {
            let host = app.plugins.as_ref().ok_or_else(|| {
                anyhow::anyhow!(
                    "plugins are turned off in the configuration ([plugins] enabled = false)"
                )
            })?;
            print(admin::plugin_list(host, &app.cfg.plugins_dir()));
            Ok(())
        }
        other => {
            let app = app.clone();
            // argon2 hashing and sled writes: off the async workers.
            let lines = tokio::task::spawn_blocking(move || user_command(&app, other))
                .await
                .map_err(|e| anyhow::anyhow!("the command stopped: {e}"))??;
            print(lines);
            Ok(())
        }
    }
}

fn admin_of(app: &App) -> Admin<'_> {
    Admin {
        users: &app.users,
        app_keys: &app.app_keys,
        auth: &app.cfg.auth,
    }
}

fn user_command(app: &App, request: Request) -> AppResult<Vec<String>> {
    let admin = admin_of(app);
    match request {
        Request::UserAdd {
            name,
            admin: is_admin,
            password,
        } => admin.user_add(&name, is_admin, password.as_deref()),
        Request::UserReset { name } => admin.user_reset(&name),
        Request::UserList => admin.user_list(),
        Request::KeyCreate {
            name,
            label,
            app_password,
        } => admin.key_create(&name, &label, app_password),
        Request::KeyList { name } => admin.key_list(&name),
        Request::KeyRevoke { name, id } => admin.key_revoke(&name, &id),
        Request::PluginList | Request::Import { .. } | Request::Backup { .. } => Ok(Vec::new()),
    }
}
