//! The wiring: stores, services, the bus and the plugin host, shared by the transports (HTTP
//! routes, Socket.IO events) and background tasks.

use std::sync::Arc;
use std::time::Instant;

use socketioxide::SocketIo;

use chillfi_storage::BlobStore;

use crate::bus::Bus;
use crate::config::Config;
use crate::service::auth::Auth;
use crate::service::ingest::upload::Uploads;
use crate::service::library::Library;
use crate::service::sharing::Sharing;
use crate::service::stream_urls::StreamSigner;
use crate::store::db::Db;
use crate::store::player::Player;
use crate::store::playlists::Playlists;
use crate::store::shares::Shares;
use crate::store::songs::{LoadedIndex, Songs};
use crate::store::users::Users;

pub struct AppState {
    pub cfg: Arc<Config>,
    /// The database itself, for backups (everything else goes through the stores).
    pub db: crate::store::db::Db,
    pub users: Users,
    pub songs: Songs,
    pub player: Player,
    pub playlists: Playlists,
    pub shares: Shares,
    pub sharing: Sharing,
    pub library: Library,
    pub stream_signer: Arc<StreamSigner>,
    pub blobs: BlobStore,
    pub uploads: Arc<Uploads>,
    /// `None` when `[plugins] enabled = false` or the host could not start.
    pub plugins: Option<chillfi_plugin_host::PluginHost>,
    /// Plugin archives being uploaded from the admin screen.
    pub plugin_uploads: Arc<crate::service::plugin_files::PluginUploads>,
    /// Streaming variants asked for by transcode-profile plugins.
    pub variants: Arc<crate::service::variants::Variants>,
    pub auth: Arc<Auth>,
    /// Where services publish live changes; the transports subscribe.
    pub bus: Bus,
    /// Subsonic API keys and app passwords.
    pub app_keys: crate::store::app_keys::AppKeys,
    /// Stars and ratings.
    pub favourites: crate::store::favourites::Favourites,
    /// Changes stars and ratings and tells the user's clients.
    pub marks: crate::service::marks::UserMarks,
    /// Resized covers for the Subsonic API.
    pub cover_cache: Arc<crate::service::covers::CoverCache>,
    /// `scrobble submission=false`.
    pub now_playing: crate::store::now_playing::NowPlaying,
    /// Creating the first administrator with the setup code.
    pub first_run: crate::service::setup::FirstRun,
    /// `None` when `[metrics]` is off.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    pub io: SocketIo,
    pub started: Instant,
}

pub type App = Arc<AppState>;

/// Opens everything `serve` and the CLI need from the data dir.
pub struct Stores {
    pub db: Db,
    pub users: Users,
    pub songs: Songs,
    pub player: Player,
    pub playlists: Playlists,
    pub shares: Shares,
    pub app_keys: crate::store::app_keys::AppKeys,
    pub favourites: crate::store::favourites::Favourites,
}

impl Stores {
    pub fn open(cfg: &Config) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&cfg.data_dir)?;
        let started = std::time::Instant::now();
        // The first open refuses a database another process holds (a running server).
        let db = Db::open(&cfg.db_dir())?;
        let (db, index, from) = match LoadedIndex::from_saved(&db, &cfg.index_path())? {
            Some(index) => {
                // The reader's buffers and texts it copied leave holes among what stays.
                crate::store::db::release_freed_memory();
                (db, index, "the index saved at the last close")
            }
            None => {
                drop(db);
                let index = Self::index_from_records(cfg)?;
                (Db::reopen(&cfg.db_dir())?, index, "the song records")
            }
        };
        let users = Users::new(&db)?;
        let songs = Songs::with_index(&db, index)?;
        tracing::info!(
            songs = songs.count(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            from,
            "library loaded"
        );
        let player = Player::new(&db)?;
        let playlists = Playlists::new(&db)?;
        let shares = Shares::new(&db)?;
        let app_keys =
            crate::store::app_keys::AppKeys::new(&db, &cfg.data_dir.join("subsonic.key"))?;
        let favourites = crate::store::favourites::Favourites::new(&db)?;
        Ok(Self {
            db,
            users,
            songs,
            player,
            playlists,
            shares,
            app_keys,
            favourites,
        })
    }
}

impl Stores {
    /// Builds the song index from the records. Reading every record makes sled keep all it
    /// read (about the data size, whatever its cache budget) while the database stays open. So
    /// the index is built through handles that are then closed and their memory handed back: one
    /// per slice of the library, about 64 MiB of database each (at most 8), so the peak holds
    /// one slice's pages, not all of them.
    fn index_from_records(cfg: &Config) -> anyhow::Result<LoadedIndex> {
        let parts = crate::store::db::size_on_disk(&cfg.db_dir())
            .div_ceil(64 * 1024 * 1024)
            .clamp(1, 8) as usize;
        let parts = parts.next_power_of_two();
        let mut index = LoadedIndex::empty();
        for part in 0..parts {
            let db = Db::reopen(&cfg.db_dir())?;
            Songs::load_index_part(&db, &mut index, part, parts)?;
            drop(db);
            crate::store::db::release_freed_memory();
        }
        Ok(index)
    }

    /// See [`close`].
    pub fn close(&self, cfg: &Config) -> anyhow::Result<()> {
        close(&self.songs, &self.db, cfg)
    }
}

/// Saves the song index for the next open (see `store/songs/snapshot.rs`) and flushes the
/// database. Blocking; called after the last request.
pub fn close(songs: &Songs, db: &Db, cfg: &Config) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    songs.save_index(db, &cfg.index_path())?;
    tracing::info!(
        songs = songs.count(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "library index saved for the next start"
    );
    Ok(())
}

impl AppState {
    pub fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }
}

/// The plugin host `[plugins]` describes, or `None` when plugins are off. A host that cannot
/// start (unusable folder or engine) is logged and left out: the server runs without plugins.
pub fn open_plugin_host(cfg: &Config) -> Option<chillfi_plugin_host::PluginHost> {
    if !cfg.plugins.enabled {
        tracing::info!("plugins are turned off ([plugins] enabled = false)");
        return None;
    }
    match chillfi_plugin_host::PluginHost::new(cfg.plugin_host_config()) {
        Ok(host) => Some(host),
        Err(e) => {
            tracing::error!("plugins are unavailable: {e}");
            None
        }
    }
}

/// The blob store the configuration names.
pub async fn open_blob_store(cfg: &Config) -> anyhow::Result<BlobStore> {
    use crate::config::StorageBackend;
    let storage = match cfg.storage.backend {
        StorageBackend::Local => chillfi_storage::StorageConfig::Local {
            root: cfg.blob_dir(),
        },
        StorageBackend::S3 => {
            let s3 = &cfg.storage.s3;
            chillfi_storage::StorageConfig::S3 {
                endpoint: s3.endpoint.clone(),
                bucket: s3.bucket.clone(),
                region: s3.region.clone(),
                access_key: s3.access_key.clone(),
                secret_key: s3.secret_key.clone(),
            }
        }
    };
    BlobStore::open(&storage)
        .await
        .map_err(|e| anyhow::anyhow!("opening the blob store: {e}"))
}
