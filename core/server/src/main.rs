//! `chillfi`: the server and its administration commands.

mod app;
mod auth;
mod bridge;
mod config;
mod db;
mod error;
mod http;
mod ingest;
mod library;
mod player;
mod socket;
mod songs;
mod stream;
mod users;
mod web;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::app::{AppState, Stores};
use crate::config::{Config, LogFormat, Sources};

#[derive(Parser)]
#[command(
    name = "chillfi",
    version,
    about = "ChillFi: a self-hosted music server"
)]
struct Cli {
    /// Configuration file (default: /etc/chillfi/config.toml when it exists).
    #[arg(long, global = true, value_name = "PATH", env = "CHILLFI_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (database, secrets, blobs, inbox); overrides the configuration.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// ADDR:PORT to listen on; overrides the configuration.
        #[arg(long, value_name = "ADDR:PORT")]
        listen: Option<String>,
        /// Log as JSON lines instead of human-readable text.
        #[arg(long)]
        log_json: bool,
    },
    /// Manage users (while the server is stopped).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Import every audio file under DIR once (the files are left in place). Stop the server first.
    Import {
        dir: PathBuf,
        /// Username credited with the songs (default: the first administrator).
        #[arg(long)]
        owner: Option<String>,
    },
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user. Without --password-file, prints a one-time reset token to hand over.
    Add {
        name: String,
        #[arg(long)]
        admin: bool,
        /// File whose first line is the password (keeps it out of the shell history).
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// Clear a user's password, sign them out everywhere and print a new reset token.
    Reset { name: String },
    /// List users.
    List,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and print the effective values, secrets masked.
    Check,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chillfi: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let listen = match &cli.command {
        Command::Serve { listen, .. } => listen.clone(),
        _ => None,
    };
    let sources = Sources {
        file: cli.config.clone(),
        data_dir: cli.data_dir.clone(),
        listen,
    };
    let cfg = Config::load(&sources)?;
    match cli.command {
        Command::Serve { log_json, .. } => {
            init_logging(&cfg, log_json);
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?
                .block_on(serve(cfg))
        }
        Command::User { command } => user_command(&cfg, command),
        Command::Import { dir, owner } => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?
            .block_on(import(cfg, dir, owner)),
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            print!("{}", cfg.to_masked_toml());
            eprintln!("configuration is valid");
            Ok(())
        }
    }
}

fn init_logging(cfg: &Config, force_json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_new(&cfg.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if force_json || cfg.log.format == LogFormat::Json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn serve(cfg: Config) -> anyhow::Result<()> {
    let started = Instant::now();
    let stores = Stores::open(&cfg)?;
    let secret = auth::load_or_create_secret(&cfg.jwt_secret_path())?;
    let auth = Arc::new(auth::Auth::new(&secret, cfg.auth.clone())?);
    let stream_signer = stream::StreamSigner::new(&secret);
    drop(secret);
    let (svc, io) = socket::build(4 * 1024 * 1024);
    let blobs = app::open_blob_store(&cfg).await?;
    let ingest = ingest::Ingest::new(
        &cfg,
        &stores.db,
        stores.songs.clone(),
        blobs.clone(),
        io.clone(),
    )?;
    let uploads = ingest::upload::Uploads::new(&cfg, &stores.db, ingest.clone(), io.clone())?;
    ingest.recover().await?;
    ingest::inbox::Inbox::start(&cfg, ingest.clone(), stores.users.clone())?;
    let app = Arc::new(AppState {
        cfg: Arc::new(cfg.clone()),
        users: stores.users,
        songs: stores.songs,
        player: stores.player,
        stream_signer,
        blobs,
        uploads,
        auth,
        io: io.clone(),
        started,
    });
    socket::register(&app);
    if app.users.is_empty() {
        tracing::warn!(
            "no users yet: create the first administrator with `chillfi user add NAME --admin` \
             (stop the server first) and open the web UI"
        );
    }

    let listener = poem::listener::TcpListener::bind(cfg.server.listen.clone());
    let acceptor = poem::listener::Listener::into_acceptor(listener)
        .await
        .with_context(|| format!("listening on {}", cfg.server.listen))?;
    notify_systemd("READY=1");
    for addr in poem::listener::Acceptor::local_addr(&acceptor) {
        tracing::info!(address = %addr, elapsed_ms = started.elapsed().as_millis() as u64, "ChillFi is ready");
    }
    let grace = Duration::from_secs(cfg.server.shutdown_grace_secs);
    let routes = http::routes(app.clone(), bridge::SocketIoEndpoint::new(svc));
    let shutdown_io = io.clone();
    poem::Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(
            routes,
            async move {
                shutdown_signal().await;
                notify_systemd("STOPPING=1");
                tracing::info!("shutting down");
                shutdown_io.close().await;
            },
            Some(grace),
        )
        .await
        .context("serving HTTP")?;
    stores.db.flush().await?;
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn import(cfg: Config, dir: PathBuf, owner: Option<String>) -> anyhow::Result<()> {
    require_data_dir(&cfg)?;
    let stores = Stores::open(&cfg)?;
    let owner = match owner {
        Some(name) => stores.users.by_name(&name)?.with_context(|| format!("no user named '{name}'"))?,
        None => stores
            .users
            .list()?
            .into_iter()
            .filter(|u| u.is_admin)
            .min_by_key(|u| u.created_at)
            .context("no administrator yet: create one with `chillfi user add NAME --admin` or pass --owner")?,
    };
    let blobs = app::open_blob_store(&cfg).await?;
    // Nobody listens during an import, but the pipeline always announces what it adds.
    let (_svc, io) = socket::build(1024);
    let ingest = ingest::Ingest::new(&cfg, &stores.db, stores.songs.clone(), blobs, io)?;
    ingest.recover().await?;
    let failed = ingest::import::import_dir(&ingest, &dir, &owner.id).await?;
    stores.db.flush().await?;
    anyhow::ensure!(failed == 0, "{failed} file(s) could not be imported");
    Ok(())
}

/// Tells systemd (Type=notify) about readiness; a no-op when not started by systemd.
fn notify_systemd(state: &str) {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let path = path.to_string_lossy().to_string();
    let addr = match path.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
        None => SocketAddr::from_pathname(&path),
    };
    let sent = addr.and_then(|addr| UnixDatagram::unbound()?.send_to_addr(state.as_bytes(), &addr));
    if let Err(e) = sent {
        tracing::warn!("could not notify systemd: {e}");
    }
}

/// Administration commands work on an existing data dir; refusing the implicit default when it
/// is absent avoids silently creating `./chillfi-data` next to wherever the admin stands.
fn require_data_dir(cfg: &Config) -> anyhow::Result<()> {
    let default = Config::default().data_dir;
    anyhow::ensure!(
        cfg.data_dir != default || cfg.db_dir().exists(),
        "no ChillFi data in {}: pass --data-dir (the package uses /var/lib/chillfi) or start the server once",
        cfg.data_dir.display()
    );
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the server can only be killed; keep serving.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}

fn user_command(cfg: &Config, command: UserCommand) -> anyhow::Result<()> {
    require_data_dir(cfg)?;
    let stores = Stores::open(cfg)?;
    let users = &stores.users;
    match command {
        UserCommand::Add {
            name,
            admin,
            password_file,
        } => {
            let hash = match password_file {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    let password = text.lines().next().unwrap_or_default().to_string();
                    let min = cfg.auth.min_password_len;
                    anyhow::ensure!(
                        password.chars().count() >= min,
                        "the password in {} is shorter than {min} characters",
                        path.display()
                    );
                    Some(auth::hash_password_blocking(&password)?)
                }
                None => None,
            };
            let has_password = hash.is_some();
            let user = users.create(&name, hash, admin)?;
            println!(
                "created {} '{}' (id {})",
                if admin { "administrator" } else { "user" },
                user.username,
                user.id
            );
            if !has_password {
                let (token, expires) =
                    users.issue_reset_token(&user.id, cfg.auth.reset_token_ttl_hours)?;
                println!(
                    "reset token (give it to {}; valid {} h, once): {token}",
                    user.username,
                    (expires - db::now_secs()) / 3600
                );
            }
        }
        UserCommand::Reset { name } => {
            let user = users
                .by_name(&name)?
                .with_context(|| format!("no user named '{name}'"))?;
            users.clear_password(&user.id)?;
            let (token, _) = users.issue_reset_token(&user.id, cfg.auth.reset_token_ttl_hours)?;
            println!(
                "password cleared and every session of '{}' signed out",
                user.username
            );
            println!(
                "reset token (valid {} h, once): {token}",
                cfg.auth.reset_token_ttl_hours
            );
        }
        UserCommand::List => {
            for user in users.list()? {
                println!(
                    "{}\t{}\t{}\t{}",
                    user.id,
                    user.username,
                    if user.is_admin { "admin" } else { "user" },
                    if user.password_hash.is_some() {
                        "password set"
                    } else {
                        "awaiting reset token"
                    }
                );
            }
        }
    }
    stores.db.flush_blocking()?;
    Ok(())
}
