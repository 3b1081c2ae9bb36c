//! The one place where WIT bindings are generated (`bindgen!`), the host side of the
//! imports (`host`, `kv`), and the conversions between generated and public types.
//!
//! WIT 0.1.0 lives in `wit/chillfi-plugin@0.1.0/`. A future 0.2.0 gets its own module
//! here (`v0_2`), generated from `wit/chillfi-plugin@0.2.0/`; see docs/plugins.md.

use crate::kv::KvFailure;
use crate::runtime::CallState;
use crate::types as api;

/// Bindings for `chillfi:plugin@0.1.0`, one submodule per world. The imported
/// interfaces (`host`, `kv`) are generated once, in `enricher`, and shared.
pub mod v0_1 {
    pub mod enricher {
        wasmtime::component::bindgen!({
            path: "../../wit/chillfi-plugin@0.1.0",
            world: "enricher",
        });
    }
    pub mod transcode_profile {
        wasmtime::component::bindgen!({
            path: "../../wit/chillfi-plugin@0.1.0",
            world: "transcode-profile",
            with: {
                "chillfi:plugin/host": crate::bindings::v0_1::enricher::chillfi::plugin::host,
                "chillfi:plugin/kv": crate::bindings::v0_1::enricher::chillfi::plugin::kv,
            },
        });
    }
    pub mod share_handler {
        wasmtime::component::bindgen!({
            path: "../../wit/chillfi-plugin@0.1.0",
            world: "share-handler",
            with: {
                "chillfi:plugin/host": crate::bindings::v0_1::enricher::chillfi::plugin::host,
                "chillfi:plugin/kv": crate::bindings::v0_1::enricher::chillfi::plugin::kv,
            },
        });
    }

    pub use enricher::chillfi::plugin::{host, kv};
    pub use enricher::exports::chillfi::plugin::enrich;
    pub use share_handler::exports::chillfi::plugin::share;
    pub use transcode_profile::exports::chillfi::plugin::transcode;
}

use v0_1::{enrich, host, kv, share, transcode};

/// Adds the host's imports to a linker.
pub(crate) fn add_imports(
    linker: &mut wasmtime::component::Linker<CallState>,
) -> wasmtime::Result<()> {
    use wasmtime::component::HasSelf;
    host::add_to_linker::<CallState, HasSelf<CallState>>(linker, |s| s)?;
    kv::add_to_linker::<CallState, HasSelf<CallState>>(linker, |s| s)?;
    Ok(())
}

const MAX_LOG_BYTES: usize = 2048;

fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl host::Host for CallState {
    fn log(&mut self, level: host::LogLevel, message: String) {
        if self.logs_left == 0 {
            return;
        }
        self.logs_left -= 1;
        let plugin = &*self.plugin;
        let msg = cut(&message, MAX_LOG_BYTES);
        if self.logs_left == 0 {
            tracing::warn!(target: "chillfi::plugin", plugin, "log limit per call reached; dropping further lines");
        }
        match level {
            host::LogLevel::Trace => tracing::trace!(target: "chillfi::plugin", plugin, "{msg}"),
            host::LogLevel::Debug => tracing::debug!(target: "chillfi::plugin", plugin, "{msg}"),
            host::LogLevel::Info => tracing::info!(target: "chillfi::plugin", plugin, "{msg}"),
            host::LogLevel::Warn => tracing::warn!(target: "chillfi::plugin", plugin, "{msg}"),
            host::LogLevel::Error => tracing::error!(target: "chillfi::plugin", plugin, "{msg}"),
        }
    }

    fn get_config(&mut self, key: String) -> Option<String> {
        self.config.get(&key).cloned()
    }
}

fn kv_error(f: KvFailure) -> kv::KvError {
    match f {
        KvFailure::QuotaExceeded => kv::KvError::QuotaExceeded,
        KvFailure::InvalidKey => kv::KvError::InvalidKey,
        KvFailure::Io(m) => kv::KvError::Io(m),
    }
}

impl kv::Host for CallState {
    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, kv::KvError> {
        let Some(store) = &self.kv else {
            return Err(kv::KvError::Denied);
        };
        Ok(crate::lock(store).get(&key))
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), kv::KvError> {
        let Some(store) = &self.kv else {
            return Err(kv::KvError::Denied);
        };
        crate::lock(store)
            .set(&key, &value, self.kv_quota)
            .map_err(kv_error)
    }

    fn delete(&mut self, key: String) -> Result<(), kv::KvError> {
        let Some(store) = &self.kv else {
            return Err(kv::KvError::Denied);
        };
        crate::lock(store).delete(&key).map_err(kv_error)
    }
}

// ----- public -> WIT -----

pub(crate) fn enrich_input(i: &api::EnrichInput) -> enrich::EnrichInput {
    let m = &i.metadata;
    enrich::EnrichInput {
        metadata: enrich::TrackMetadata {
            title: m.title.clone(),
            artist: m.artist.clone(),
            album: m.album.clone(),
            album_artist: m.album_artist.clone(),
            track: m.track,
            track_total: m.track_total,
            disc: m.disc,
            year: m.year,
            genre: m.genre.clone(),
            duration_ms: m.duration_ms,
        },
        file_name: i.file_name.clone(),
        relative_path: i.relative_path.clone(),
        context: enrich::IngestContext {
            uploader: i.uploader.clone(),
            source: match i.source {
                api::IngestSource::Upload => enrich::IngestSource::Upload,
                api::IngestSource::Inbox => enrich::IngestSource::Inbox,
            },
        },
    }
}

pub(crate) fn client_info(c: &api::ClientInfo) -> transcode::ClientInfo {
    transcode::ClientInfo {
        user_agent: c.user_agent.clone(),
        network: match c.network {
            api::NetworkClass::Wifi => transcode::NetworkClass::Wifi,
            api::NetworkClass::Cellular => transcode::NetworkClass::Cellular,
            api::NetworkClass::Wired => transcode::NetworkClass::Wired,
            api::NetworkClass::Unknown => transcode::NetworkClass::Unknown,
        },
        device: match c.device {
            api::DeviceClass::Mobile => transcode::DeviceClass::Mobile,
            api::DeviceClass::Desktop => transcode::DeviceClass::Desktop,
            api::DeviceClass::Tablet => transcode::DeviceClass::Tablet,
            api::DeviceClass::Tv => transcode::DeviceClass::Tv,
            api::DeviceClass::Unknown => transcode::DeviceClass::Unknown,
        },
        max_bitrate_kbps: c.max_bitrate_kbps,
    }
}

pub(crate) fn source_info(s: &api::SourceInfo) -> transcode::SourceInfo {
    transcode::SourceInfo {
        codec: s.codec.clone(),
        bitrate_kbps: s.bitrate_kbps,
        sample_rate: s.sample_rate,
        channels: s.channels,
        duration_ms: s.duration_ms,
    }
}

pub(crate) fn share_request(r: &api::ShareCreateRequest, seed: u64) -> share::ShareRequest {
    share::ShareRequest {
        kind: match r.kind {
            api::ShareKind::Song => share::ShareKind::Song,
            api::ShareKind::Album => share::ShareKind::Album,
            api::ShareKind::Playlist => share::ShareKind::Playlist,
        },
        item_id: r.item_id.clone(),
        title: r.title.clone(),
        requested_expires_at: r.requested_expires_at,
        requested_max_plays: r.requested_max_plays,
        now: r.now,
        seed,
    }
}

pub(crate) fn access_info(a: &api::ShareAccessInfo) -> share::AccessInfo {
    share::AccessInfo {
        slug: a.slug.clone(),
        plays_so_far: a.plays_so_far,
        max_plays: a.max_plays,
        created_at: a.created_at,
        expires_at: a.expires_at,
        now: a.now,
    }
}

// ----- WIT -> public (validated by crate::validate afterwards) -----

pub(crate) fn patch(p: enrich::MetadataPatch) -> api::MetadataPatch {
    api::MetadataPatch {
        title: p.title,
        artist: p.artist,
        album: p.album,
        album_artist: p.album_artist,
        track: p.track,
        track_total: p.track_total,
        disc: p.disc,
        year: p.year,
        genre: p.genre,
    }
}

pub(crate) fn profile(p: transcode::Profile) -> api::Profile {
    api::Profile {
        codec: match p.codec {
            transcode::Codec::Mp3 => api::Codec::Mp3,
            transcode::Codec::Opus => api::Codec::Opus,
            transcode::Codec::Aac => api::Codec::Aac,
            transcode::Codec::Original => api::Codec::Original,
        },
        bitrate_kbps: p.bitrate_kbps,
        sample_rate: p.sample_rate,
        channels: p.channels,
    }
}

pub(crate) fn decision(d: share::ShareDecision) -> api::ShareDecision {
    api::ShareDecision {
        slug: d.slug,
        expires_at: d.expires_at,
        max_plays: d.max_plays,
    }
}

pub(crate) fn allowed(d: share::AccessDecision) -> bool {
    matches!(d, share::AccessDecision::Allow)
}
