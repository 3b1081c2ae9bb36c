//! `chillfi serve`: start-up (stores, services, bus, transports), readiness, graceful shutdown.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::app::{self, AppState, Stores};
use crate::bus::Bus;
use crate::config::Config;
use crate::service::library::Library;
use crate::service::setup::FirstRun;
use crate::service::sharing::Sharing;
use crate::service::stream_urls::StreamSigner;
use crate::service::{auth, ingest, variants};
use crate::{control, http, socket};

pub async fn serve(cfg: Config) -> anyhow::Result<()> {
    let started = Instant::now();
    let stores = Stores::open(&cfg)?;
    let secret = auth::load_or_create_secret(&cfg.jwt_secret_path())?;
    let auth = Arc::new(auth::Auth::new(&secret, cfg.auth.clone())?);
    let stream_signer = Arc::new(StreamSigner::new(&secret));
    drop(secret);
    let (svc, io) = socket::build();
    let bus = Bus::new();
    socket::pushes::subscribe(&bus, io.clone());
    let blobs = app::open_blob_store(&cfg).await?;
    let plugins = app::open_plugin_host(&cfg);
    // Reloads the plugins when their folder changes; stops when dropped at the end of `serve`.
    let _plugin_watcher = match plugins.as_ref().map(|host| host.watch()) {
        Some(Err(e)) => {
            tracing::warn!("plugins are loaded at start only: {e}");
            None
        }
        Some(Ok(watcher)) => Some(watcher),
        None => None,
    };
    let ingest = ingest::Ingest::new(
        &cfg,
        &stores.db,
        stores.songs.clone(),
        blobs.clone(),
        bus.clone(),
        plugins.clone(),
    )?;
    let uploads = ingest::upload::Uploads::new(&cfg, &stores.db, ingest.clone(), bus.clone())?;
    ingest.recover().await?;
    ingest::inbox::Inbox::start(&cfg, ingest.clone(), stores.users.clone())?;
    let variants = variants::Variants::new(&cfg, blobs.clone(), plugins.clone());
    let cfg = Arc::new(cfg);
    let cover_cache = Arc::new(crate::service::covers::CoverCache::default());
    let library = Library::new(
        cfg.clone(),
        stores.songs.clone(),
        blobs.clone(),
        variants.clone(),
        stream_signer.clone(),
        bus.clone(),
        cover_cache.clone(),
    );
    let sharing = Sharing::new(
        stores.users.clone(),
        stores.songs.clone(),
        stores.playlists.clone(),
        stores.shares.clone(),
        plugins.clone(),
    );
    let metrics = crate::metrics::install(cfg.metrics.enabled);
    if metrics.is_some() {
        ingest.add_reporter(Arc::new(crate::metrics::IngestMetrics));
    }
    let first_run =
        FirstRun::start(cfg.setup_code_path(), &stores.users).context("writing the setup code")?;
    let app = Arc::new(AppState {
        cfg: cfg.clone(),
        db: stores.db.clone(),
        users: stores.users,
        songs: stores.songs,
        player: stores.player,
        playlists: stores.playlists,
        shares: stores.shares,
        sharing,
        library,
        stream_signer,
        blobs,
        uploads,
        plugins,
        plugin_uploads: Arc::new(crate::service::plugin_files::PluginUploads::new(
            cfg.staging_dir().join("plugin-uploads"),
        )),
        variants,
        auth,
        bus: bus.clone(),
        app_keys: stores.app_keys,
        marks: crate::service::marks::UserMarks::new(stores.favourites.clone(), bus.clone()),
        favourites: stores.favourites,
        cover_cache,
        now_playing: Default::default(),
        first_run,
        metrics,
        io: io.clone(),
        started,
    });
    let session_sweep = socket::register(&app);
    let control_path = control::socket_path(&cfg.data_dir);
    let control = control::server::start(app.clone(), &control_path)
        .with_context(|| format!("opening the control socket {}", control_path.display()))?;
    let listener = poem::listener::TcpListener::bind(cfg.server.listen.clone());
    let acceptor = poem::listener::Listener::into_acceptor(listener)
        .await
        .with_context(|| format!("listening on {}", cfg.server.listen))?;
    notify_systemd("READY=1");
    for addr in poem::listener::Acceptor::local_addr(&acceptor) {
        tracing::info!(address = %addr, elapsed_ms = started.elapsed().as_millis() as u64, "ChillFi is ready");
        if app.first_run.is_open(&app.users) {
            // The path, never the code: the log may be read by people the file is not for.
            tracing::warn!(
                "no accounts yet: open http://{} and paste the setup code from {}",
                browser_address(&addr),
                app.first_run.file().display()
            );
        }
    }
    let grace = Duration::from_secs(cfg.server.shutdown_grace_secs);
    let routes = http::routes(app.clone(), http::bridge::SocketIoEndpoint::new(svc));
    let shutdown_io = io.clone();
    poem::Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(
            routes,
            async move {
                shutdown_signal().await;
                notify_systemd("STOPPING=1");
                tracing::info!("shutting down");
                // Background tasks that use the Socket.IO layer stop before it closes.
                session_sweep.abort();
                let _ = session_sweep.await;
                control.abort();
                shutdown_io.close().await;
            },
            Some(grace),
        )
        .await
        .context("serving HTTP")?;
    let _ = std::fs::remove_file(&control_path);
    // After the last request: a restart reads the index back instead of every record.
    let (songs, db) = (app.songs.clone(), app.db.clone());
    let saved = tokio::task::spawn_blocking(move || app::close(&songs, &db, &cfg)).await?;
    if let Err(e) = saved {
        // The next start builds the index from the records instead.
        tracing::error!("{e:#}");
        app.db.flush().await?;
    }
    tracing::info!("stopped cleanly");
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

/// An address to type into a browser: a wildcard listen address means "this machine".
fn browser_address(addr: &poem::Addr) -> String {
    match addr {
        poem::Addr::SocketAddr(a) if a.ip().is_unspecified() => {
            format!("<this machine's address>:{}", a.port())
        }
        poem::Addr::SocketAddr(a) => a.to_string(),
        other => other.to_string(),
    }
}
