//! Layered configuration: built-in defaults, then a TOML file, then `CHILLFI_*` environment
//! variables (`__` between nesting levels), then `*_FILE` variables whose file holds the value
//! (for secrets). Unknown keys are an error naming the key, so a typo never silently does nothing.

use std::collections::BTreeMap;
#[cfg(test)]
use std::path::Path;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where the packaged template and the system service put the file.
pub const SYSTEM_CONFIG_PATH: &str = "/etc/chillfi/config.toml";
const ENV_PREFIX: &str = "CHILLFI_";
/// Variables that steer the CLI rather than name a config key.
const NON_KEY_VARS: &[&str] = &["CHILLFI_CONFIG"];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Holds the sled database, the JWT secret, local blobs, the inbox and staging.
    pub data_dir: PathBuf,
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub storage: StorageConfig,
    pub ingest: IngestConfig,
    pub playback: PlaybackConfig,
    pub plugins: PluginsConfig,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
}

/// `GET /metrics` (Prometheus text format).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Off by default: the route answers 404.
    pub enabled: bool,
    /// When set, scrapes must send `Authorization: Bearer <token>`. Prefer
    /// CHILLFI_METRICS__TOKEN_FILE over putting it here.
    pub token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlaybackConfig {
    /// Lifetime of a `song:play` URL (seconds); seeking after that asks for a new one.
    pub url_ttl_secs: u64,
    /// Streaming variants (asked for by transcode-profile plugins) made at once; more wait.
    pub transcode_workers: usize,
}

impl Default for PlaybackConfig {
    fn default() -> Self {
        Self {
            url_ttl_secs: 300,
            transcode_workers: 2,
        }
    }
}

/// WASM component plugins (see docs/plugins.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginsConfig {
    /// Load and call plugins at all.
    pub enabled: bool,
    /// The plugins folder (`<dir>/<name>/{plugin.toml,<name>.wasm}`); empty means
    /// `<data_dir>/plugins`. Their state (enabled, config overrides, kv) is kept in
    /// `<data_dir>/plugin-state`.
    pub dir: String,
    /// A read-only folder of plugins that ship with ChillFi, loaded disabled until enabled (the
    /// package's unit sets `/usr/share/chillfi/plugins`); empty means none.
    pub packaged_dir: String,
    /// Wall-clock budget of one call, per plugin kind (milliseconds).
    pub enricher_deadline_ms: u64,
    pub profile_deadline_ms: u64,
    pub share_deadline_ms: u64,
    /// Cap on one plugin instance's linear memory (MiB).
    pub memory_mib: u64,
    /// Cap on the strings and lists in one value a plugin returns (KiB).
    pub max_result_kib: u64,
    /// Faults (traps, timeouts, invalid results) in a row after which a plugin is switched off.
    pub fault_threshold: u32,
    /// Size of each plugin's key-value store, keys + values (KiB).
    pub kv_quota_kib: u64,
    /// Budget of one call of an enricher that holds a network grant (milliseconds).
    pub network_deadline_ms: u64,
    /// Budget of one outgoing request, connect to last byte (milliseconds).
    pub http_timeout_ms: u64,
    /// Cap on one response body a plugin receives (KiB).
    pub http_max_body_kib: u64,
    /// Time between two requests of one plugin (milliseconds; MusicBrainz asks for 1000).
    pub http_min_interval_ms: u64,
    /// Use an enricher's cover even when the file has its own (a cover uploaded with the file
    /// always wins).
    pub prefer_plugin_cover: bool,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            dir: String::new(),
            packaged_dir: String::new(),
            enricher_deadline_ms: 2000,
            profile_deadline_ms: 1000,
            share_deadline_ms: 200,
            memory_mib: 64,
            max_result_kib: 64,
            fault_threshold: 3,
            kv_quota_kib: 1024,
            network_deadline_ms: 30_000,
            http_timeout_ms: 10_000,
            http_max_body_kib: 4096,
            http_min_interval_ms: 1000,
            prefer_plugin_cover: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port for HTTP and Socket.IO; 0.0.0.0 makes it reachable on the LAN.
    pub listen: String,
    /// Seconds in-flight requests get to finish on SIGTERM/SIGINT.
    pub shutdown_grace_secs: u64,
    /// How browsers outside reach this server (`https://music.example.org`), for share links;
    /// empty = the address the client used.
    pub public_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub token_ttl_hours: u64,
    /// A connected client whose token expires within this many hours is pushed a fresh one.
    pub refresh_window_hours: u64,
    pub reset_token_ttl_hours: u64,
    /// Failed logins allowed per username within `login_window_secs`.
    pub login_attempts_per_user: u32,
    /// Failed logins allowed per client address within `login_window_secs`.
    pub login_attempts_per_ip: u32,
    pub login_window_secs: u64,
    pub min_password_len: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// "local" (a folder) or "s3" (any S3-compatible server: MinIO, SeaweedFS, AWS...).
    pub backend: StorageBackend,
    /// Folder for the local backend; empty means `<data_dir>/blobs`.
    pub local_dir: String,
    pub s3: S3Config,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    Local,
    S3,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// http://host:port (an endpoint without a scheme means https).
    pub endpoint: String,
    /// Created when missing.
    pub bucket: String,
    pub region: String,
    pub access_key: String,
    /// Prefer CHILLFI_STORAGE__S3__SECRET_KEY_FILE over putting it here.
    pub secret_key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Files converted at once; 0 means one per CPU core.
    pub workers: usize,
    /// Constant bitrate of stored MP3s (kb/s) unless `mp3_vbr_quality` is set.
    pub mp3_bitrate_kbps: u32,
    /// LAME VBR quality 0 (best) to 9; -1 means constant bitrate.
    pub mp3_vbr_quality: i32,
    /// MP3 sources at or above this bitrate are stored as they are (remuxed, not re-encoded).
    pub remux_min_bitrate_kbps: u32,
    /// Largest accepted source file (MiB).
    pub max_file_mib: u64,
    /// Total size of one user's library sources (MiB); 0 means no quota.
    pub user_quota_mib: u64,
    /// Browser uploads are forgotten (staged chunks deleted) after this many seconds without a
    /// chunk, unless a file of theirs is queued for conversion.
    pub upload_abandon_secs: u64,
    /// The watched folder; empty means `<data_dir>/inbox`.
    pub inbox_dir: String,
    /// Username that inbox files are credited to; empty means the first administrator.
    pub inbox_owner: String,
    /// After a successful import: "delete" the file, or "move" it to `<inbox>/done/`.
    pub inbox_after_import: InboxAfterImport,
    /// A file that changes without close/rename events (network shares, files there at
    /// start-up) is taken once its size and mtime have not changed for this long (seconds).
    /// A file closed by its writer or renamed in is taken at once.
    pub inbox_settle_secs: u64,
    /// Full rescans of the inbox, for missed events and network filesystems (seconds).
    pub inbox_rescan_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InboxAfterImport {
    Delete,
    Move,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// "text" (human-readable) or "json".
    pub format: LogFormat,
    /// A tracing filter such as "info" or "chillfi=debug,info".
    pub level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./chillfi-data"),
            server: ServerConfig::default(),
            auth: AuthConfig::default(),
            storage: StorageConfig::default(),
            ingest: IngestConfig::default(),
            playback: PlaybackConfig::default(),
            plugins: PluginsConfig::default(),
            log: LogConfig::default(),
            metrics: MetricsConfig::default(),
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            backend: StorageBackend::Local,
            local_dir: String::new(),
            s3: S3Config::default(),
        }
    }
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            bucket: "chillfi".into(),
            region: "us-east-1".into(),
            access_key: String::new(),
            secret_key: String::new(),
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            workers: 0,
            mp3_bitrate_kbps: 320,
            mp3_vbr_quality: -1,
            remux_min_bitrate_kbps: 128,
            max_file_mib: 4096,
            user_quota_mib: 0,
            upload_abandon_secs: 86_400,
            inbox_dir: String::new(),
            inbox_owner: String::new(),
            inbox_after_import: InboxAfterImport::Delete,
            inbox_settle_secs: 2,
            inbox_rescan_secs: 60,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:8080".into(),
            shutdown_grace_secs: 10,
            public_url: String::new(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            token_ttl_hours: 24 * 7,
            refresh_window_hours: 24,
            reset_token_ttl_hours: 72,
            login_attempts_per_user: 5,
            login_attempts_per_ip: 20,
            login_window_secs: 15 * 60,
            min_password_len: 8,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{var}: cannot read {path}: {source}")]
    SecretFile {
        var: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// What the command line says about where configuration comes from.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    /// `--config PATH`; when absent, [`SYSTEM_CONFIG_PATH`] is read if it exists.
    pub file: Option<PathBuf>,
    /// `--data-dir DIR`, stronger than every layer.
    pub data_dir: Option<PathBuf>,
    /// `--listen ADDR:PORT`, stronger than every layer.
    pub listen: Option<String>,
}

impl Config {
    /// Builds the effective configuration from every layer, reading the real environment.
    pub fn load(sources: &Sources) -> Result<Self, ConfigError> {
        Self::load_from(sources, std::env::vars().collect())
    }

    /// Same as [`Config::load`] with an explicit environment (tests pass their own).
    pub fn load_from(
        sources: &Sources,
        env: BTreeMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder();
        let file = sources.file.clone().or_else(|| {
            let system = PathBuf::from(SYSTEM_CONFIG_PATH);
            system.exists().then_some(system)
        });
        if let Some(path) = &file {
            if !path.exists() {
                return Err(ConfigError::File {
                    path: path.clone(),
                    message: "no such file".into(),
                });
            }
            builder = builder.add_source(config::File::from(path.as_path()).required(true));
        }
        let mut plain = BTreeMap::new();
        for (var, value) in &env {
            let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if NON_KEY_VARS.contains(&var.as_str()) || rest.is_empty() {
                continue;
            }
            match rest.strip_suffix("_FILE") {
                Some(key) => {
                    let secret = std::fs::read_to_string(value).map_err(|source| {
                        ConfigError::SecretFile {
                            var: var.clone(),
                            path: PathBuf::from(value),
                            source,
                        }
                    })?;
                    // Secret files conventionally end with a newline that is not part of the value.
                    let secret = secret.trim_end_matches(['\n', '\r']).to_string();
                    builder = builder
                        .set_override(env_key(key), secret)
                        .map_err(|e| ConfigError::Invalid(e.to_string()))?;
                }
                None => {
                    plain.insert(var.clone(), value.clone());
                }
            }
        }
        builder = builder.add_source(
            config::Environment::with_prefix("CHILLFI")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .source(Some(plain.into_iter().collect())),
        );
        // The config crate applies overrides (the `*_FILE` values) after every source.
        let mut cfg: Config = builder
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| match &file {
                Some(path) if e.to_string().contains(&path.display().to_string()) => {
                    ConfigError::File {
                        path: path.clone(),
                        message: e.to_string(),
                    }
                }
                _ => ConfigError::Invalid(e.to_string()),
            })?;
        if let Some(dir) = &sources.data_dir {
            cfg.data_dir = dir.clone();
        }
        if let Some(listen) = &sources.listen {
            cfg.server.listen = listen.clone();
        }
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.server.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::Invalid(format!(
                "server.listen: '{}' is not an ADDR:PORT such as 0.0.0.0:8080",
                self.server.listen
            )));
        }
        if self.auth.token_ttl_hours == 0 || self.auth.token_ttl_hours > 24 * 365 {
            return Err(ConfigError::Invalid(
                "auth.token_ttl_hours must be 1..=8760".into(),
            ));
        }
        // A token that is always inside the refresh window is replaced on every session sweep
        // (every 2 s), for every socket, forever.
        if self.auth.token_ttl_hours <= self.auth.refresh_window_hours {
            return Err(ConfigError::Invalid(format!(
                "auth.token_ttl_hours ({}) must be greater than auth.refresh_window_hours ({}): \
                 tokens would be refreshed all the time",
                self.auth.token_ttl_hours, self.auth.refresh_window_hours
            )));
        }
        if !(1..=7 * 24 * 3600).contains(&self.playback.url_ttl_secs) {
            return Err(ConfigError::Invalid(
                "playback.url_ttl_secs must be 1..=604800 (S3 presigned URLs last at most 7 days)"
                    .into(),
            ));
        }
        if !(1..=64).contains(&self.playback.transcode_workers) {
            return Err(ConfigError::Invalid(
                "playback.transcode_workers must be 1..=64".into(),
            ));
        }
        let plugins = &self.plugins;
        for (key, ms) in [
            ("enricher_deadline_ms", plugins.enricher_deadline_ms),
            ("profile_deadline_ms", plugins.profile_deadline_ms),
            ("share_deadline_ms", plugins.share_deadline_ms),
            ("network_deadline_ms", plugins.network_deadline_ms),
            ("http_timeout_ms", plugins.http_timeout_ms),
        ] {
            if !(10..=600_000).contains(&ms) {
                return Err(ConfigError::Invalid(format!(
                    "plugins.{key} must be 10..=600000"
                )));
            }
        }
        if !(1..=4096).contains(&plugins.memory_mib) {
            return Err(ConfigError::Invalid(
                "plugins.memory_mib must be 1..=4096".into(),
            ));
        }
        if !(1..=16 * 1024).contains(&plugins.max_result_kib)
            || !(1..=1024 * 1024).contains(&plugins.kv_quota_kib)
            || plugins.fault_threshold == 0
        {
            return Err(ConfigError::Invalid(
                "plugins.max_result_kib must be 1..=16384, plugins.kv_quota_kib 1..=1048576 \
                 and plugins.fault_threshold > 0"
                    .into(),
            ));
        }
        if !(1..=64 * 1024).contains(&plugins.http_max_body_kib)
            || plugins.http_min_interval_ms > 600_000
        {
            return Err(ConfigError::Invalid(
                "plugins.http_max_body_kib must be 1..=65536 and plugins.http_min_interval_ms \
                 0..=600000"
                    .into(),
            ));
        }
        let url = &self.server.public_url;
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConfigError::Invalid(format!(
                "server.public_url: '{}' must start with http:// or https://",
                self.server.public_url
            )));
        }
        if self.auth.reset_token_ttl_hours == 0 {
            return Err(ConfigError::Invalid(
                "auth.reset_token_ttl_hours must be > 0".into(),
            ));
        }
        if self.auth.min_password_len < 4 {
            return Err(ConfigError::Invalid(
                "auth.min_password_len must be >= 4".into(),
            ));
        }
        if self.storage.backend == StorageBackend::S3 {
            let s3 = &self.storage.s3;
            for (key, value) in [
                ("endpoint", &s3.endpoint),
                ("access_key", &s3.access_key),
                ("secret_key", &s3.secret_key),
            ] {
                if value.is_empty() {
                    return Err(ConfigError::Invalid(format!(
                        "storage.s3.{key} is required when storage.backend = \"s3\""
                    )));
                }
            }
            if s3.bucket.len() < 3 {
                return Err(ConfigError::Invalid(
                    "storage.s3.bucket needs at least 3 characters".into(),
                ));
            }
        }
        let ingest = &self.ingest;
        if !(32..=320).contains(&ingest.mp3_bitrate_kbps) {
            return Err(ConfigError::Invalid(
                "ingest.mp3_bitrate_kbps must be 32..=320".into(),
            ));
        }
        if !(-1..=9).contains(&ingest.mp3_vbr_quality) {
            return Err(ConfigError::Invalid(
                "ingest.mp3_vbr_quality must be -1 (off) or 0..=9".into(),
            ));
        }
        if ingest.max_file_mib == 0
            || ingest.inbox_rescan_secs == 0
            || ingest.upload_abandon_secs == 0
        {
            return Err(ConfigError::Invalid(
                "ingest.max_file_mib, ingest.inbox_rescan_secs and ingest.upload_abandon_secs must be > 0".into(),
            ));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| ConfigError::Invalid(format!("log.level: {e}")))?;
        Ok(())
    }

    /// The effective configuration as TOML with secrets replaced by `***`.
    pub fn to_masked_toml(&self) -> String {
        let mut value = match toml_value(self) {
            Some(v) => v,
            None => return String::from("# (could not render configuration)\n"),
        };
        mask_secrets(&mut value);
        value.to_string()
    }

    pub fn db_dir(&self) -> PathBuf {
        self.data_dir.join("db")
    }

    pub fn blob_dir(&self) -> PathBuf {
        self.dir_or_default(&self.storage.local_dir, "blobs")
    }

    pub fn inbox_dir(&self) -> PathBuf {
        self.dir_or_default(&self.ingest.inbox_dir, "inbox")
    }

    /// Where uploads are assembled and conversions written before they reach the blob store.
    /// The song index saved when the stores close (`store/songs/snapshot.rs`).
    pub fn index_path(&self) -> PathBuf {
        self.data_dir.join("library-index.bin")
    }

    pub fn staging_dir(&self) -> PathBuf {
        self.data_dir.join("staging")
    }

    fn dir_or_default(&self, configured: &str, default: &str) -> PathBuf {
        if configured.is_empty() {
            self.data_dir.join(default)
        } else {
            PathBuf::from(configured)
        }
    }

    pub fn worker_count(&self) -> usize {
        match self.ingest.workers {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            n => n,
        }
    }

    pub fn plugins_dir(&self) -> PathBuf {
        self.dir_or_default(&self.plugins.dir, "plugins")
    }

    pub fn plugin_state_dir(&self) -> PathBuf {
        self.data_dir.join("plugin-state")
    }

    /// The plugin host's settings, from `[plugins]`.
    /// The read-only folder of plugins that ship with ChillFi, if one is configured.
    pub fn packaged_plugins_dir(&self) -> Option<PathBuf> {
        Some(self.plugins.packaged_dir.trim())
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
    }

    pub fn plugin_host_config(&self) -> chillfi_plugin_host::HostConfig {
        use std::time::Duration;
        let p = &self.plugins;
        let kib = |n: u64| usize::try_from(n.saturating_mul(1024)).unwrap_or(usize::MAX);
        let mut host =
            chillfi_plugin_host::HostConfig::new(self.plugins_dir(), self.plugin_state_dir());
        host.packaged_dir = self.packaged_plugins_dir();
        host.limits = chillfi_plugin_host::Limits {
            enricher_deadline: Duration::from_millis(p.enricher_deadline_ms),
            profile_deadline: Duration::from_millis(p.profile_deadline_ms),
            share_deadline: Duration::from_millis(p.share_deadline_ms),
            memory_bytes: kib(p.memory_mib.saturating_mul(1024)),
            max_result_bytes: kib(p.max_result_kib),
            fault_threshold: p.fault_threshold,
            kv_quota_bytes: kib(p.kv_quota_kib),
            http: chillfi_plugin_host::HttpLimits {
                request_timeout: Duration::from_millis(p.http_timeout_ms),
                max_body_bytes: p.http_max_body_kib.saturating_mul(1024),
                min_interval: Duration::from_millis(p.http_min_interval_ms),
                call_deadline: Duration::from_millis(p.network_deadline_ms),
            },
            ..Default::default()
        };
        host
    }

    pub fn jwt_secret_path(&self) -> PathBuf {
        self.data_dir.join("jwt.secret")
    }

    /// The one-time code that creates the first administrator (see service/setup.rs).
    pub fn setup_code_path(&self) -> PathBuf {
        self.data_dir.join("setup-code")
    }
}

/// `SERVER__LISTEN` -> `server.listen`.
fn env_key(rest: &str) -> String {
    rest.to_ascii_lowercase().replace("__", ".")
}

fn toml_value(cfg: &Config) -> Option<toml::Value> {
    toml::Value::try_from(cfg).ok()
}

/// Key names that hold secrets; their values never leave the process.
fn is_secret_key(key: &str) -> bool {
    ["secret", "password", "token"]
        .iter()
        .any(|s| key.contains(s))
        && !key.ends_with("_hours")
        && !key.ends_with("_len")
}

fn mask_secrets(value: &mut toml::Value) {
    if let toml::Value::Table(table) = value {
        for (key, v) in table.iter_mut() {
            match v {
                toml::Value::Table(_) => mask_secrets(v),
                toml::Value::String(s) if is_secret_key(key) && !s.is_empty() => {
                    *s = "***".into();
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests;
