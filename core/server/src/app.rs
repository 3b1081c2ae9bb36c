//! Application state shared by the HTTP routes, the Socket.IO events and background tasks.

use std::sync::Arc;
use std::time::Instant;

use socketioxide::SocketIo;

use crate::auth::Auth;
use crate::config::Config;
use crate::db::Db;
use crate::users::Users;

pub struct AppState {
    pub cfg: Config,
    pub users: Users,
    pub auth: Arc<Auth>,
    pub io: SocketIo,
    pub started: Instant,
}

pub type App = Arc<AppState>;

/// Opens everything `serve` and the CLI need from the data dir.
pub struct Stores {
    pub db: Db,
    pub users: Users,
}

impl Stores {
    pub fn open(cfg: &Config) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&cfg.data_dir)?;
        let db = Db::open(&cfg.db_dir())?;
        let users = Users::new(&db)?;
        Ok(Self { db, users })
    }
}

impl AppState {
    pub fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }
}
