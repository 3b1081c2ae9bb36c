//! The plain Rust types of the host's public API. None of them mentions wasmtime.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Per-call limits applied to every plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock budget of one enricher call (default 2 s).
    pub enricher_deadline: Duration,
    /// Budget of one transcode-profile call (default 1 s).
    pub profile_deadline: Duration,
    /// Budget of one share-handler call (default 200 ms).
    pub share_deadline: Duration,
    /// Cap on a plugin's linear memory (default 64 MiB).
    pub memory_bytes: usize,
    /// Cap on the bytes of strings/lists in a value a plugin returns (default 64 KiB).
    pub max_result_bytes: usize,
    /// Traps/timeouts/invalid results in a row after which a plugin is disabled (default 3).
    pub fault_threshold: u32,
    /// Cap on a plugin's key-value store, keys + values (default 1 MiB).
    pub kv_quota_bytes: usize,
    /// Outgoing HTTP of plugins holding a grant (WIT 0.2.0 enrichers).
    pub http: crate::HttpLimits,
    /// Cap on a cover picture an enricher returns (default 4 MiB).
    pub max_cover_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            enricher_deadline: Duration::from_secs(2),
            profile_deadline: Duration::from_secs(1),
            share_deadline: Duration::from_millis(200),
            memory_bytes: 64 << 20,
            max_result_bytes: 64 << 10,
            fault_threshold: 3,
            kv_quota_bytes: 1 << 20,
            http: crate::HttpLimits::default(),
            max_cover_bytes: 4 << 20,
        }
    }
}

/// Where plugins and their state live.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// `plugins_dir/<name>/plugin.toml` + `plugins_dir/<name>/<name>.wasm`.
    pub plugins_dir: PathBuf,
    /// `state_dir/<name>/{state.toml,config.toml,kv.bin}`: enabled/disabled/faulted state,
    /// configuration overrides and the key-value store.
    pub state_dir: PathBuf,
    /// A read-only folder of plugins that ship with ChillFi (`/usr/share/chillfi/plugins` in
    /// the package), laid out like `plugins_dir`. They load disabled until an administrator
    /// enables one (no copying); a plugin of the same name in `plugins_dir` wins.
    pub packaged_dir: Option<PathBuf>,
    pub limits: Limits,
}

impl HostConfig {
    pub fn new(plugins_dir: impl Into<PathBuf>, state_dir: impl Into<PathBuf>) -> Self {
        Self {
            plugins_dir: plugins_dir.into(),
            state_dir: state_dir.into(),
            packaged_dir: None,
            limits: Limits::default(),
        }
    }
}

/// The three kinds of plugin, one WIT world each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PluginKind {
    Enricher,
    TranscodeProfile,
    ShareHandler,
}

impl PluginKind {
    pub const ALL: [PluginKind; 3] = [
        PluginKind::Enricher,
        PluginKind::TranscodeProfile,
        PluginKind::ShareHandler,
    ];

    /// The name used in plugin.toml's `kind`, which is also the WIT world's name.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Enricher => "enricher",
            PluginKind::TranscodeProfile => "transcode-profile",
            PluginKind::ShareHandler => "share-handler",
        }
    }

    /// The interface the world exports (`chillfi:plugin/<interface>@<version>`).
    pub fn export_interface(self) -> &'static str {
        match self {
            PluginKind::Enricher => "enrich",
            PluginKind::TranscodeProfile => "transcode",
            PluginKind::ShareHandler => "share",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PluginState {
    /// Loaded and called.
    Enabled,
    /// Loaded, switched off by the administrator.
    Disabled,
    /// Switched off by the host after `fault_threshold` faults in a row; `enable` clears it.
    Faulted,
    /// Could not be loaded (see `last_error`); fix the files and reload.
    Failed,
}

impl PluginState {
    pub fn as_str(self) -> &'static str {
        match self {
            PluginState::Enabled => "enabled",
            PluginState::Disabled => "disabled",
            PluginState::Faulted => "faulted",
            PluginState::Failed => "failed",
        }
    }
}

impl fmt::Display for PluginState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `list()` reports about one plugin folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginInfo {
    /// plugin.toml's name (the folder's name when the manifest is unreadable).
    pub name: String,
    pub version: String,
    /// `None` when the manifest could not be read.
    pub kind: Option<PluginKind>,
    pub wit_version: String,
    pub description: String,
    pub state: PluginState,
    pub consecutive_faults: u32,
    pub last_error: Option<String>,
    /// Effective configuration: defaults from plugin.toml overlaid with overrides.
    pub config: BTreeMap<String, String>,
    pub capabilities: Vec<String>,
    /// Bytes used in the key-value store (plugins with the "kv" capability).
    pub kv_used_bytes: Option<usize>,
    pub order: i32,
    pub dir: PathBuf,
    /// It ships with ChillFi (loaded from the packaged folder): it cannot be removed, only
    /// disabled.
    pub packaged: bool,
    /// Hosts plugin.toml asks to reach (`allowed-hosts`, with the "http" capability).
    pub requested_hosts: Vec<String>,
    /// The hosts an administrator granted (when enabling); requests go only to these.
    pub granted_hosts: Vec<String>,
}

/// What `check()` found in a component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComponentReport {
    /// Fully qualified world, e.g. `chillfi:plugin/enricher@0.1.0`.
    pub world: String,
    /// The WIT package version the component was built against, e.g. `0.1.0`.
    pub package_version: String,
    pub kind: PluginKind,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    pub size_bytes: u64,
    /// Set when `check` was given a plugin folder (or a .wasm beside a plugin.toml).
    pub plugin_name: Option<String>,
    pub plugin_version: Option<String>,
}

// ----- enricher -----

/// Tags as read from the file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackMetadata {
    pub title: Option<String>,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub album_artist: Option<String>,
    pub track: Option<u32>,
    pub track_total: Option<u32>,
    pub disc: Option<u32>,
    pub year: Option<u32>,
    pub genre: Option<String>,
    pub duration_ms: Option<u64>,
    pub disc_total: Option<u32>,
    pub musicbrainz: MusicBrainzIds,
    /// The file carries its own cover picture.
    pub has_cover: bool,
}

/// MusicBrainz identifiers (UUIDs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MusicBrainzIds {
    pub recording: Option<String>,
    pub release: Option<String>,
    pub artist: Option<String>,
}

impl MusicBrainzIds {
    fn merge(&mut self, o: &MusicBrainzIds) {
        set(&mut self.recording, &o.recording);
        set(&mut self.release, &o.release);
        set(&mut self.artist, &o.artist);
    }
}

fn set<T: Clone>(a: &mut Option<T>, b: &Option<T>) {
    if let Some(v) = b {
        *a = Some(v.clone());
    }
}

/// A picture an enricher returned. Checked (`image/jpeg` or `image/png`, magic bytes, size)
/// before it leaves the host; the server decodes and re-encodes it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverArt {
    pub mime: String,
    pub data: Vec<u8>,
}

impl fmt::Debug for CoverArt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CoverArt({}, {} bytes)", self.mime, self.data.len())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IngestSource {
    Upload,
    Inbox,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrichInput {
    pub metadata: TrackMetadata,
    /// Original file name, e.g. `07 - Title.flac`.
    pub file_name: String,
    /// '/'-separated path relative to the upload/inbox root.
    pub relative_path: String,
    pub uploader: String,
    pub source: IngestSource,
}

/// Fields to change; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataPatch {
    pub title: Option<String>,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub album_artist: Option<String>,
    pub track: Option<u32>,
    pub track_total: Option<u32>,
    pub disc: Option<u32>,
    pub year: Option<u32>,
    pub genre: Option<String>,
    pub disc_total: Option<u32>,
    pub musicbrainz: MusicBrainzIds,
    pub cover: Option<CoverArt>,
}

impl MetadataPatch {
    pub fn is_empty(&self) -> bool {
        self == &MetadataPatch::default()
    }

    /// Sets every field `other` sets (later patches win).
    pub fn merge(&mut self, other: &MetadataPatch) {
        set(&mut self.title, &other.title);
        set(&mut self.artist, &other.artist);
        set(&mut self.album, &other.album);
        set(&mut self.album_artist, &other.album_artist);
        set(&mut self.track, &other.track);
        set(&mut self.track_total, &other.track_total);
        set(&mut self.disc, &other.disc);
        set(&mut self.year, &other.year);
        set(&mut self.genre, &other.genre);
        set(&mut self.disc_total, &other.disc_total);
        set(&mut self.cover, &other.cover);
        self.musicbrainz.merge(&other.musicbrainz);
    }

    /// `meta` with this patch applied.
    pub fn apply_to(&self, meta: &TrackMetadata) -> TrackMetadata {
        let mut out = meta.clone();
        let p = self.clone();
        out.title = p.title.or(out.title);
        out.artist = p.artist.or(out.artist);
        out.album = p.album.or(out.album);
        out.album_artist = p.album_artist.or(out.album_artist);
        out.track = p.track.or(out.track);
        out.track_total = p.track_total.or(out.track_total);
        out.disc = p.disc.or(out.disc);
        out.year = p.year.or(out.year);
        out.genre = p.genre.or(out.genre);
        out.disc_total = p.disc_total.or(out.disc_total);
        out.musicbrainz.merge(&p.musicbrainz);
        out.has_cover |= p.cover.is_some();
        out
    }
}

/// One plugin's failure during a call. Never fatal for the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginCallError {
    pub plugin: String,
    pub message: String,
    /// True for traps, timeouts and invalid results (they count towards the fault
    /// threshold); false for an error the plugin returned itself.
    pub fault: bool,
}

/// Result of running the enrichers over one track.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EnrichOutcome {
    /// Merged patch of all enrichers (each saw the previous ones' changes applied).
    pub patch: MetadataPatch,
    /// Enrichers whose non-empty patch was applied, in order.
    pub applied: Vec<String>,
    /// Enrichers that failed; they were skipped.
    pub errors: Vec<PluginCallError>,
}

// ----- transcode profile -----

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkClass {
    Wifi,
    Cellular,
    Wired,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceClass {
    Mobile,
    Desktop,
    Tablet,
    Tv,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientInfo {
    pub user_agent: String,
    pub network: NetworkClass,
    pub device: DeviceClass,
    pub max_bitrate_kbps: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// Lower-case codec name of the stored file, e.g. `flac`.
    pub codec: String,
    pub bitrate_kbps: u32,
    pub sample_rate: u32,
    pub channels: u32,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Codec {
    Mp3,
    Opus,
    Aac,
    /// Stream the stored file unchanged.
    Original,
}

/// A validated profile: bitrate 8..=512 kb/s, sample rate in [`ALLOWED_SAMPLE_RATES`],
/// channels 1..=2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub codec: Codec,
    pub bitrate_kbps: u32,
    pub sample_rate: Option<u32>,
    pub channels: Option<u32>,
}

/// Sample rates a profile may ask for.
pub const ALLOWED_SAMPLE_RATES: [u32; 8] = [8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000];

// ----- share handler -----

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ShareKind {
    Song,
    Album,
    Playlist,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareCreateRequest {
    pub kind: ShareKind,
    pub item_id: String,
    pub title: String,
    /// Unix seconds.
    pub requested_expires_at: Option<u64>,
    pub requested_max_plays: Option<u32>,
    /// Unix seconds (plugins have no clock).
    pub now: u64,
}

/// `None` fields: the server's defaults apply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareDecision {
    pub slug: Option<String>,
    pub expires_at: Option<u64>,
    pub max_plays: Option<u32>,
}

/// A share handler refused to create the share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("share refused by plugin {plugin}: {reason}")]
pub struct ShareRefusal {
    pub plugin: String,
    /// Meant for the user.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareAccessInfo {
    pub slug: String,
    pub plays_so_far: u32,
    pub max_plays: Option<u32>,
    pub created_at: u64,
    pub expires_at: Option<u64>,
    pub now: u64,
}
