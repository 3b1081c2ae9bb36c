//! Streaming variants: when a transcode-profile plugin asks for something other than the stored
//! MP3 (Opus 96 kb/s for a phone on a cellular network, say), the song is transcoded with
//! `chillfi_media::transcode` in a bounded pool, cached in the blob store as
//! `variants/<songHash>-<name>.<ext>`, and served like the stored file.
//!
//! Invariants:
//! - At most `playback.transcode_workers` variants are encoded at once.
//! - One variant is encoded at most once at a time: concurrent requests wait for the same job.
//! - A job whose every requester went away (socket disconnected) is cancelled between packets.
//! - Variants of a file go when the file goes ([`Variants::delete_for`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chillfi_media::{TargetCodec, TranscodeProfile};
use chillfi_plugin_host::{
    ClientInfo, Codec, DeviceClass, NetworkClass, PluginHost, Profile, SourceInfo,
};
use chillfi_storage::BlobStore;
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, watch};

use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::store::db::new_id;
use crate::store::songs::{Song, Songs};

const KEY_PREFIX: &str = "variants/";
/// How often a waiting `song:play` checks whether its socket is still there.
const DISCONNECT_POLL: Duration = Duration::from_millis(100);

/// One streaming variant of a song: codec, bitrate and optional resampling/downmixing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub codec: TargetCodec,
    pub bitrate_kbps: u32,
    pub sample_rate: Option<u32>,
    pub channels: Option<u16>,
}

fn codec_name(codec: TargetCodec) -> &'static str {
    match codec {
        TargetCodec::Mp3 => "mp3",
        TargetCodec::Opus => "opus",
        TargetCodec::Aac => "aac",
    }
}

impl Variant {
    /// The variant a plugin profile asks for, or `None` when the stored MP3 does: `original`,
    /// or an MP3 no better than the stored one in every respect.
    pub fn for_profile(song: &Song, profile: &Profile) -> Option<Self> {
        let codec = match profile.codec {
            Codec::Original => return None,
            Codec::Mp3 => TargetCodec::Mp3,
            Codec::Opus => TargetCodec::Opus,
            Codec::Aac => TargetCodec::Aac,
        };
        let channels = profile.channels.and_then(|c| u16::try_from(c).ok());
        let variant = Variant {
            codec,
            bitrate_kbps: profile.bitrate_kbps.clamp(8, 512),
            // Opus is always 48 kHz: do not make one variant per requested rate.
            sample_rate: if codec == TargetCodec::Opus {
                None
            } else {
                profile.sample_rate
            },
            channels,
        };
        let stored_kbps = song.bitrate.div_ceil(1000);
        let same_as_stored = codec == TargetCodec::Mp3
            && variant.bitrate_kbps >= stored_kbps
            && variant.sample_rate.is_none_or(|r| r == song.sample_rate)
            && variant.channels.is_none_or(|c| c == song.channels);
        (!same_as_stored).then_some(variant)
    }

    /// `opus-96k`, `mp3-128k-22050hz-1ch`: part of the blob key and of the stream URL.
    pub fn name(&self) -> String {
        let mut name = format!("{}-{}k", codec_name(self.codec), self.bitrate_kbps);
        if let Some(rate) = self.sample_rate {
            name.push_str(&format!("-{rate}hz"));
        }
        if let Some(ch) = self.channels {
            name.push_str(&format!("-{ch}ch"));
        }
        name
    }

    /// The inverse of [`Variant::name`]; only names it produces, with values a profile may have.
    pub fn parse(name: &str) -> Option<Self> {
        let mut parts = name.split('-');
        let codec = match parts.next()? {
            "mp3" => TargetCodec::Mp3,
            "opus" => TargetCodec::Opus,
            "aac" => TargetCodec::Aac,
            _ => return None,
        };
        let bitrate_kbps: u32 = parts.next()?.strip_suffix('k')?.parse().ok()?;
        let mut v = Variant {
            codec,
            bitrate_kbps,
            sample_rate: None,
            channels: None,
        };
        for part in parts {
            if let Some(rate) = part.strip_suffix("hz") {
                v.sample_rate = Some(rate.parse().ok()?);
            } else if let Some(ch) = part.strip_suffix("ch") {
                v.channels = Some(ch.parse().ok()?);
            } else {
                return None;
            }
        }
        let valid = (8..=512).contains(&v.bitrate_kbps)
            && v.sample_rate.is_none_or(|r| {
                codec != TargetCodec::Opus && chillfi_plugin_host::ALLOWED_SAMPLE_RATES.contains(&r)
            })
            && v.channels.is_none_or(|c| (1..=2).contains(&c));
        // Round trip: one spelling per variant (no leading zeros, no reordering).
        (valid && v.name() == name).then_some(v)
    }

    pub fn key(&self, song_hash: &str) -> String {
        format!(
            "{KEY_PREFIX}{song_hash}-{}.{}",
            self.name(),
            self.codec.ext()
        )
    }

    pub fn format(&self, plugin: Option<String>) -> PlayFormat {
        PlayFormat {
            codec: codec_name(self.codec),
            bitrate_kbps: self.bitrate_kbps,
            mime: self.codec.mime(),
            plugin,
        }
    }

    fn profile(&self) -> TranscodeProfile {
        TranscodeProfile {
            codec: self.codec,
            bitrate_kbps: self.bitrate_kbps,
            sample_rate: self.sample_rate,
            channels: self.channels,
        }
    }
}

/// `format` of a `song:play` answer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlayFormat {
    pub codec: &'static str,
    pub bitrate_kbps: u32,
    pub mime: &'static str,
    /// The transcode-profile plugin that chose this variant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
}

impl PlayFormat {
    /// The stored MP3.
    pub fn stored(song: &Song) -> Self {
        PlayFormat {
            codec: "mp3",
            bitrate_kbps: song.bitrate.div_ceil(1000),
            mime: "audio/mpeg",
            plugin: None,
        }
    }
}

/// `client` of `song:play`: what the player says about itself.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ClientReq {
    pub user_agent: Option<String>,
    pub network_class: Option<String>,
    pub device_class: Option<String>,
    pub max_bitrate_kbps: Option<u32>,
}

impl ClientReq {
    /// Validated client info; `user_agent` falls back to the socket's handshake header.
    pub fn to_client_info(&self, socket_user_agent: Option<&str>) -> AppResult<ClientInfo> {
        let network = match self.network_class.as_deref() {
            None | Some("unknown") => NetworkClass::Unknown,
            Some("wifi") => NetworkClass::Wifi,
            Some("cellular") => NetworkClass::Cellular,
            Some("wired") => NetworkClass::Wired,
            Some(_) => {
                return Err(AppError::invalid_field(
                    "client.networkClass",
                    "networkClass is wifi, cellular, wired or unknown",
                ));
            }
        };
        let device = match self.device_class.as_deref() {
            None | Some("unknown") => DeviceClass::Unknown,
            Some("mobile") => DeviceClass::Mobile,
            Some("desktop") => DeviceClass::Desktop,
            Some("tablet") => DeviceClass::Tablet,
            Some("tv") => DeviceClass::Tv,
            Some(_) => {
                return Err(AppError::invalid_field(
                    "client.deviceClass",
                    "deviceClass is mobile, desktop, tablet, tv or unknown",
                ));
            }
        };
        if self
            .max_bitrate_kbps
            .is_some_and(|k| !(8..=10_000).contains(&k))
        {
            return Err(AppError::invalid_field(
                "client.maxBitrateKbps",
                "maxBitrateKbps is 8 to 10000",
            ));
        }
        let ua = self
            .user_agent
            .as_deref()
            .or(socket_user_agent)
            .unwrap_or("");
        if ua.len() > 1024 {
            return Err(AppError::invalid_field(
                "client.userAgent",
                "userAgent is at most 1024 bytes",
            ));
        }
        Ok(ClientInfo {
            user_agent: ua.chars().filter(|c| !c.is_control()).collect(),
            network,
            device,
            max_bitrate_kbps: self.max_bitrate_kbps,
        })
    }
}

/// What the stored file is, for transcode-profile plugins.
pub fn source_info(song: &Song) -> SourceInfo {
    SourceInfo {
        codec: "mp3".into(),
        bitrate_kbps: song.bitrate.div_ceil(1000),
        sample_rate: song.sample_rate,
        channels: u32::from(song.channels),
        duration_ms: song.duration_ms,
    }
}

type JobResult = Option<Result<(), String>>;

struct Job {
    cancel: Arc<AtomicBool>,
    waiters: AtomicUsize,
    done: watch::Sender<JobResult>,
}

/// The transcoding pool and its in-flight jobs.
pub struct Variants {
    blobs: BlobStore,
    /// Transcode-profile plugins choose the variants.
    plugins: Option<PluginHost>,
    staging: PathBuf,
    permits: Arc<Semaphore>,
    inflight: Mutex<HashMap<String, Arc<Job>>>,
}

/// Counts a requester of a job; the last one to leave before the job is done cancels it.
/// Joining and leaving happen under the in-flight lock, so a job is never cancelled under a
/// requester that has just joined it.
struct Waiter {
    variants: Arc<Variants>,
    job: Arc<Job>,
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let _inflight = self
            .variants
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let last = self.job.waiters.fetch_sub(1, Ordering::SeqCst) == 1;
        if last && self.job.done.borrow().is_none() {
            self.job.cancel.store(true, Ordering::SeqCst);
        }
    }
}

impl Variants {
    pub fn new(cfg: &Config, blobs: BlobStore, plugins: Option<PluginHost>) -> Arc<Self> {
        let staging = cfg.staging_dir();
        // Halves of variants interrupted by a crash or a restart.
        if let Ok(entries) = std::fs::read_dir(&staging) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with("variant-") {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Arc::new(Self {
            blobs,
            plugins,
            staging,
            permits: Arc::new(Semaphore::new(cfg.playback.transcode_workers.max(1))),
            inflight: Mutex::new(HashMap::new()),
        })
    }

    /// The variant to stream to this client (`None`: the stored MP3) and the plugin that chose it.
    pub async fn choose(&self, song: &Song, client: &ClientInfo) -> Option<(Variant, String)> {
        let host = self.plugins.as_ref()?;
        let (plugin, profile) = host.choose_profile(client, &source_info(song)).await?;
        let variant = Variant::for_profile(song, &profile)?;
        Some((variant, plugin))
    }

    /// Deletes the cached variants of a song's stored file once no song uses that file any more.
    pub async fn delete_for(&self, songs: &Songs, song: &Song) {
        match songs.references_blob(&song.blob_key()) {
            Ok(false) => {}
            Ok(true) => return,
            Err(e) => {
                tracing::warn!("checking blob references: {e}");
                return;
            }
        }
        let keys = match self
            .blobs
            .list(&format!("{KEY_PREFIX}{}-", song.hash))
            .await
        {
            Ok(keys) => keys,
            Err(e) => {
                tracing::warn!(hash = %song.hash, "listing variants of a deleted song: {e:?}");
                return;
            }
        };
        for key in keys {
            if let Err(e) = self.blobs.delete(&key).await {
                tracing::warn!(key, "deleting a variant of a deleted song: {e:?}");
            }
        }
    }

    /// Makes sure the variant of `song` is in the blob store, transcoding it if needed. While
    /// waiting, gives up (and cancels the job unless someone else waits for it too) once
    /// `still_wanted` says the requester went away (a disconnected socket, a closed request).
    pub async fn ensure(
        self: &Arc<Self>,
        song: &Song,
        variant: &Variant,
        still_wanted: impl Fn() -> bool,
    ) -> AppResult<String> {
        let key = variant.key(&song.hash);
        match self.blobs.head(&key).await {
            Ok(Some(_)) => return Ok(key),
            Ok(None) => {}
            Err(e) => return Err(AppError::internal(format!("blob store: {e:?}"))),
        }
        let (waiter, mut rx) = self.join_or_start(&key, song, variant);
        let mut tick = tokio::time::interval(DISCONNECT_POLL);
        loop {
            let current = rx.borrow_and_update().clone();
            if let Some(result) = current {
                drop(waiter);
                return match result {
                    Ok(()) => Ok(key),
                    Err(e) => Err(AppError::internal(format!("transcoding {key}: {e}"))),
                };
            }
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        return Err(AppError::internal(format!("transcoding {key}: the job ended")));
                    }
                }
                _ = tick.tick() => {
                    if !still_wanted() {
                        drop(waiter);
                        tracing::info!(key, "client went away; transcode abandoned");
                        return Err(AppError::Conflict("the client disconnected".into()));
                    }
                }
            }
        }
    }

    fn join_or_start(
        self: &Arc<Self>,
        key: &str,
        song: &Song,
        variant: &Variant,
    ) -> (Waiter, watch::Receiver<JobResult>) {
        let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(job) = inflight.get(key)
            && !job.cancel.load(Ordering::SeqCst)
        {
            job.waiters.fetch_add(1, Ordering::SeqCst);
            let waiter = Waiter {
                variants: self.clone(),
                job: job.clone(),
            };
            return (waiter, job.done.subscribe());
        }
        let (tx, rx) = watch::channel(None);
        let job = Arc::new(Job {
            cancel: Arc::new(AtomicBool::new(false)),
            waiters: AtomicUsize::new(1),
            done: tx,
        });
        inflight.insert(key.to_string(), job.clone());
        drop(inflight);
        let this = self.clone();
        let (key, src_key, variant) = (key.to_string(), song.blob_key(), variant.clone());
        let spawned = job.clone();
        tokio::spawn(async move {
            let result = this.run(&key, &src_key, &variant, &spawned.cancel).await;
            match &result {
                Ok(()) => tracing::info!(key, "variant stored"),
                Err(e) if spawned.cancel.load(Ordering::SeqCst) => {
                    tracing::info!(key, "variant cancelled: {e}")
                }
                Err(e) => tracing::warn!(key, "variant failed: {e}"),
            }
            {
                let mut inflight = this.inflight.lock().unwrap_or_else(|p| p.into_inner());
                if inflight.get(&key).is_some_and(|j| Arc::ptr_eq(j, &spawned)) {
                    inflight.remove(&key);
                }
            }
            spawned.done.send_replace(Some(result));
        });
        let waiter = Waiter {
            variants: self.clone(),
            job,
        };
        (waiter, rx)
    }

    async fn run(
        &self,
        key: &str,
        src_key: &str,
        variant: &Variant,
        cancel: &Arc<AtomicBool>,
    ) -> Result<(), String> {
        metrics::gauge!("chillfi_transcode_queued").increment(1.0);
        let permit = self.permits.clone().acquire_owned().await;
        metrics::gauge!("chillfi_transcode_queued").decrement(1.0);
        let _permit = permit.map_err(|e| e.to_string())?;
        metrics::gauge!("chillfi_transcode_busy").increment(1.0);
        let _busy = BusyGauge;
        if cancel.load(Ordering::SeqCst) {
            return Err("cancelled before it started".into());
        }
        let id = new_id();
        let src = TempFile(self.staging.join(format!("variant-{id}.src")));
        let dst = TempFile(
            self.staging
                .join(format!("variant-{id}.{}", variant.codec.ext())),
        );
        self.blobs
            .get_to_file(src_key, &src.0)
            .await
            .map_err(|e| format!("reading the stored file: {e:?}"))?;
        let (s, d, profile, flag) = (
            src.0.clone(),
            dst.0.clone(),
            variant.profile(),
            cancel.clone(),
        );
        tokio::task::spawn_blocking(move || chillfi_media::transcode(&s, &d, &profile, &flag))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        self.blobs
            .put_file(key, &dst.0, variant.codec.mime())
            .await
            .map_err(|e| format!("storing: {e:?}"))?;
        // The song was deleted meanwhile: do not leave an orphan behind.
        if let Ok(None) = self.blobs.head(src_key).await {
            let _ = self.blobs.delete(key).await;
            return Err("the song was deleted meanwhile".into());
        }
        Ok(())
    }
}

struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        remove_quietly(&self.0);
    }
}

fn remove_quietly(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// Lowers `chillfi_transcode_busy` when a transcode ends, however it ends.
struct BusyGauge;

impl Drop for BusyGauge {
    fn drop(&mut self) {
        metrics::gauge!("chillfi_transcode_busy").decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn song(bitrate: u32) -> Song {
        serde_json::from_value(serde_json::json!({
            "id": "s1", "title": "T", "artist": "A", "album": "B", "albumArtist": "A",
            "track": 1, "trackTotal": null, "disc": null, "discTotal": null, "year": 2001,
            "genre": "", "durationMs": 1, "bitrate": bitrate, "sampleRate": 44100, "channels": 2,
            "sourceHash": "x", "hash": "ab12", "sizeBytes": 1, "coverKey": null, "albumId": "",
            "artistId": "", "uploaderId": "u", "originalName": "t.mp3", "conversion": "encoded",
            "createdAt": 0, "updatedAt": 0
        }))
        .unwrap()
    }

    fn profile(codec: Codec, kbps: u32, rate: Option<u32>, ch: Option<u32>) -> Profile {
        Profile {
            codec,
            bitrate_kbps: kbps,
            sample_rate: rate,
            channels: ch,
        }
    }

    #[test]
    fn profiles_pick_a_variant_only_when_it_differs_from_the_stored_mp3() {
        let s = song(320_000);
        assert_eq!(
            Variant::for_profile(&s, &profile(Codec::Original, 96, None, None)),
            None
        );
        assert_eq!(
            Variant::for_profile(&s, &profile(Codec::Mp3, 320, None, None)),
            None
        );
        assert_eq!(
            Variant::for_profile(&s, &profile(Codec::Mp3, 320, Some(44100), Some(2))),
            None
        );
        let low = Variant::for_profile(&s, &profile(Codec::Mp3, 128, None, None)).unwrap();
        assert_eq!(low.key("ab12"), "variants/ab12-mp3-128k.mp3");
        let mono = Variant::for_profile(&s, &profile(Codec::Mp3, 320, None, Some(1))).unwrap();
        assert_eq!(mono.name(), "mp3-320k-1ch");
        let opus = Variant::for_profile(&s, &profile(Codec::Opus, 96, Some(48000), None)).unwrap();
        assert_eq!(opus.key("ab12"), "variants/ab12-opus-96k.opus");
        assert_eq!(opus.format(None).mime, "audio/ogg");
        let aac = Variant::for_profile(&s, &profile(Codec::Aac, 64, Some(22050), Some(1))).unwrap();
        assert_eq!(aac.name(), "aac-64k-22050hz-1ch");
        chillfi_storage::validate_key(&aac.key(&"f".repeat(64))).unwrap();
    }

    #[test]
    fn variant_names_round_trip_and_nothing_else_parses() {
        for name in [
            "opus-96k",
            "mp3-128k-22050hz-1ch",
            "aac-64k-2ch",
            "mp3-8k-8000hz",
        ] {
            assert_eq!(Variant::parse(name).unwrap().name(), name);
        }
        for bad in [
            "",
            "flac-96k",
            "opus-96",
            "opus-096k",
            "opus-96k-48000hz",
            "mp3-1000k",
            "mp3-128k-12345hz",
            "mp3-128k-3ch",
            "mp3-128k-1ch-44100hz",
            "mp3-128k-x",
            "../../etc",
            "opus-96k-",
        ] {
            assert_eq!(Variant::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn client_classes_are_validated() {
        let ok = ClientReq {
            network_class: Some("cellular".into()),
            ..Default::default()
        }
        .to_client_info(Some("UA/1"))
        .unwrap();
        assert_eq!(
            (ok.network, ok.user_agent.as_str()),
            (NetworkClass::Cellular, "UA/1")
        );
        let bad = ClientReq {
            device_class: Some("phone".into()),
            ..Default::default()
        };
        assert!(matches!(
            bad.to_client_info(None),
            Err(AppError::Invalid { field: Some(f), .. }) if f == "client.deviceClass"
        ));
        let bad = ClientReq {
            max_bitrate_kbps: Some(0),
            ..Default::default()
        };
        assert!(bad.to_client_info(None).is_err());
    }
}
