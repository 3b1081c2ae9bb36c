//! The one ingest pipeline both doors (browser uploads, the watched inbox) feed:
//! hash -> duplicate check -> probe (whitelisted demuxers) -> tags and cover -> MP3 without tags
//! -> content-hash name -> blob store -> enricher plugins -> sled -> `SongAdded` on the bus.
//!
//! Invariants:
//! - A job is recorded in sled before any work and removed only after its outcome is recorded,
//!   so queued work survives a restart.
//! - An intent naming the blob keys is written before any upload and removed after the song is
//!   committed; on start, blobs of leftover intents that no song references are deleted.
//! - The same source bytes become at most one song (source-hash index, checked in the commit
//!   transaction).

pub mod import;
pub mod inbox;
mod metadata;
pub mod upload;

use metadata::{apply_patch, build_song, enrich_input, merge_tags};

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use chillfi_media::{ConvertKind, Mp3Settings, Tags};
use chillfi_storage::BlobStore;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::bus::{Bus, Event};
use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::store::db::{Db, new_id};
use crate::store::jobs::JobStore;
pub use crate::store::jobs::{Job, Origin, TagOverrides};
use crate::store::songs::{SongView, Songs, song_blob_key};

/// A job that met a storage outage waits this long before its next try, doubling each time up
/// to [`RETRY_MAX`]; it stays queued (and recorded) meanwhile, however long the outage lasts.
const RETRY_FIRST: std::time::Duration = std::time::Duration::from_secs(1);
const RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug, Clone)]
pub enum Outcome {
    /// The new song as clients see it and the library version of its commit.
    Added(SongView, u64),
    Duplicate(SongView),
    Failed(String),
    Cancelled,
}

impl Outcome {
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Outcome::Added(song, _) => json!({ "status": "added", "song": song }),
            Outcome::Duplicate(song) => json!({ "status": "duplicate", "song": song }),
            Outcome::Failed(reason) => json!({ "status": "failed", "reason": reason }),
            Outcome::Cancelled => json!({ "status": "cancelled" }),
        }
    }
}

/// Where a job's progress and result go.
pub trait Reporter: Send + Sync {
    fn stage(&self, job: &Job, stage: &str);
    fn finished(&self, job: &Job, outcome: &Outcome);
}

pub struct Ingest {
    cfg: Config,
    songs: Songs,
    blobs: BlobStore,
    jobs: JobStore,
    bus: Bus,
    plugins: Option<chillfi_plugin_host::PluginHost>,
    permits: Semaphore,
    running: Mutex<HashSet<String>>,
    cancels: Mutex<HashMap<String, Arc<AtomicBool>>>,
    reporters: Mutex<Vec<Arc<dyn Reporter>>>,
}

impl Ingest {
    pub fn new(
        cfg: &Config,
        db: &Db,
        songs: Songs,
        blobs: BlobStore,
        bus: Bus,
        plugins: Option<chillfi_plugin_host::PluginHost>,
    ) -> AppResult<Arc<Self>> {
        chillfi_media::init();
        std::fs::create_dir_all(cfg.staging_dir()).map_err(AppError::internal)?;
        Ok(Arc::new(Self {
            cfg: cfg.clone(),
            songs,
            blobs,
            jobs: JobStore::new(db)?,
            bus,
            plugins,
            permits: Semaphore::new(cfg.worker_count()),
            running: Mutex::new(HashSet::new()),
            cancels: Mutex::new(HashMap::new()),
            reporters: Mutex::new(Vec::new()),
        }))
    }

    pub fn add_reporter(&self, reporter: Arc<dyn Reporter>) {
        self.reporters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(reporter);
    }

    pub fn remove_reporter(&self, reporter: &Arc<dyn Reporter>) {
        self.reporters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|r| !Arc::ptr_eq(r, reporter));
    }

    pub fn songs(&self) -> &Songs {
        &self.songs
    }

    /// Rolls back interrupted uploads and requeues every recorded job. Call once at start.
    pub async fn recover(self: &Arc<Self>) -> AppResult<()> {
        // Conversions interrupted by a crash are redone from their source; drop the halves.
        if let Ok(entries) = std::fs::read_dir(self.cfg.staging_dir()) {
            for entry in entries.flatten() {
                if entry.path().extension().is_some_and(|e| e == "mp3") {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        for (job_id, intent) in self.jobs.intents()? {
            for key in &intent.keys {
                if !self.songs.references_blob(key)? {
                    if let Err(e) = self.blobs.delete(key).await {
                        tracing::warn!(key, "could not remove an orphaned blob: {e:?}");
                        continue;
                    }
                    tracing::info!(key, "removed the blob of an interrupted ingest");
                }
            }
            self.jobs.forget_intent(&job_id)?;
        }
        let mut jobs = self.jobs.all()?;
        // A job recorded as queued whose file is gone finished before the crash (imported, or
        // moved to failed/) but its removal from the queue was not on disk yet: forget it quietly.
        jobs.retain(|job| {
            if job.source.symlink_metadata().is_ok() {
                return true;
            }
            tracing::info!(file = %job.original_name, "a queued file is gone (done before the restart)");
            if let Err(e) = self.jobs.remove(&job.id) {
                tracing::error!("forgetting a finished job: {e}");
            }
            false
        });
        if !jobs.is_empty() {
            tracing::info!(count = jobs.len(), "resuming queued ingest jobs");
        }
        for job in jobs {
            self.spawn(job);
        }
        Ok(())
    }

    pub fn is_queued(&self, job_id: &str) -> bool {
        self.jobs.contains(job_id)
    }

    /// Records the job and runs it when a worker is free. Idempotent per job id.
    pub fn submit(self: &Arc<Self>, job: Job) -> AppResult<()> {
        if !self.jobs.record(&job)? {
            return Ok(());
        }
        self.spawn(job);
        Ok(())
    }

    /// Asks a queued or running job to stop. Returns whether it was known.
    pub fn cancel(&self, job_id: &str) -> bool {
        let flag = self
            .cancels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(job_id)
            .cloned();
        match flag {
            Some(flag) => {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
                true
            }
            None => false,
        }
    }

    fn spawn(self: &Arc<Self>, job: Job) {
        if !self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(job.id.clone())
        {
            return;
        }
        let cancel = Arc::new(AtomicBool::new(false));
        self.cancels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(job.id.clone(), cancel.clone());
        let this = self.clone();
        tokio::spawn(async move {
            this.report_stage(&job, "queued");
            let mut wait = RETRY_FIRST;
            let outcome = loop {
                let attempt = match this.permits.acquire().await {
                    Ok(_permit) => this.process(&job, &cancel).await,
                    Err(_) => break Outcome::Failed("the server is shutting down".into()),
                };
                match attempt {
                    Ok(outcome) => break outcome,
                    Err(_) if cancel.load(std::sync::atomic::Ordering::SeqCst) => {
                        break Outcome::Cancelled;
                    }
                    // The storage is down: not the file's fault. It stays queued and is retried
                    // (without holding a worker) until the storage is back.
                    Err(detail) => {
                        tracing::warn!(
                            file = %job.original_name,
                            %detail,
                            retry_in_secs = wait.as_secs(),
                            "storage unavailable; the file stays queued"
                        );
                        this.report_stage(&job, "queued");
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(RETRY_MAX);
                    }
                }
            };
            let outcome = match outcome {
                Outcome::Failed(_) if cancel.load(std::sync::atomic::Ordering::SeqCst) => {
                    Outcome::Cancelled
                }
                other => other,
            };
            this.finish(&job, outcome);
        });
    }

    fn finish(&self, job: &Job, outcome: Outcome) {
        match &outcome {
            Outcome::Added(view, version) => {
                tracing::info!(title = %view.song.title, id = %view.song.id, "song added");
                self.bus.publish(Event::SongAdded {
                    song: view.clone(),
                    version: *version,
                });
            }
            Outcome::Duplicate(view) => {
                tracing::info!(file = %job.original_name, existing = %view.song.id, "duplicate")
            }
            Outcome::Failed(reason) => {
                tracing::warn!(file = %job.original_name, %reason, "ingest failed")
            }
            Outcome::Cancelled => tracing::info!(file = %job.original_name, "ingest cancelled"),
        }
        for reporter in self
            .reporters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            reporter.finished(job, &outcome);
        }
        if let Err(e) = self.jobs.remove(&job.id) {
            tracing::error!("forgetting a finished job: {e}");
        }
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&job.id);
        self.cancels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&job.id);
    }

    fn report_stage(&self, job: &Job, stage: &str) {
        for reporter in self
            .reporters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            reporter.stage(job, stage);
        }
    }

    /// The outcome, or `Err(detail)` when the storage was unavailable (try again later).
    async fn process(&self, job: &Job, cancel: &Arc<AtomicBool>) -> Result<Outcome, String> {
        match self.try_process(job, cancel).await {
            Ok(outcome) => Ok(outcome),
            Err(IngestError::Rejected(reason)) => Ok(Outcome::Failed(reason)),
            Err(IngestError::Unavailable(detail)) => Err(detail),
            Err(IngestError::Internal(detail)) => {
                tracing::error!(file = %job.original_name, %detail, "ingest error");
                Ok(Outcome::Failed(format!(
                    "the server could not store this file ({detail})"
                )))
            }
        }
    }

    async fn try_process(
        &self,
        job: &Job,
        cancel: &Arc<AtomicBool>,
    ) -> Result<Outcome, IngestError> {
        let mut clock = StageClock::new();
        self.report_stage(job, "hashing");
        let staged_mp3 = self.cfg.staging_dir().join(format!("{}.mp3", new_id()));
        let _cleanup = RemoveOnDrop(staged_mp3.clone());
        let settings = self.mp3_settings();
        // Three things read the file at once: the hash, the probe, and the remux fast path
        // (which answers at once for anything but a plain MP3 to be remuxed, and then makes
        // its output durable and hashes it). A duplicate MP3 costs a remux more, a new one the
        // hash and the probe less. Anything else is converted only once the hash shows it is new.
        let early_copy = {
            let (source, dst, flag) = (job.source.clone(), staged_mp3.clone(), cancel.clone());
            let settings = settings.clone();
            move || -> Result<_, IngestError> {
                let copied = chillfi_media::copy_mp3_frames(&source, &dst, &settings, &flag)
                    .map_err(|e| IngestError::Rejected(e.to_string()))?;
                match copied {
                    Some(report) => Ok(Some((report, seal(&dst).map_err(IngestError::internal)?))),
                    None => Ok(None),
                }
            }
        };
        let source = job.source.clone();
        let (hashed, probed, copied) = tokio::join!(
            sha256_file(&job.source),
            blocking(move || chillfi_media::probe(&source)),
            blocking(early_copy),
        );
        let (source_hash, source_size) = hashed
            .map_err(|e| IngestError::Rejected(format!("the file could not be read: {e}")))?;
        if source_size == 0 {
            return Err(IngestError::Rejected("the file is empty".into()));
        }
        if let Some(existing) = self.songs.by_source_hash(&source_hash)? {
            return Ok(Outcome::Duplicate(self.songs.view(&existing)));
        }
        self.report_stage(job, "probing");
        let probe = probed?.map_err(|e| IngestError::Rejected(e.to_string()))?;
        let copied = copied??;
        clock.lap(match copied {
            Some(_) => "hash_probe_remux_seal",
            None => "hash_probe",
        });

        self.report_stage(job, "converting");
        let (report, (hash, size)) = match copied {
            Some(done) => done,
            None => {
                let (source, dst, flag) = (job.source.clone(), staged_mp3.clone(), cancel.clone());
                let report = blocking(move || {
                    chillfi_media::convert_to_mp3(&source, &dst, &settings, &flag)
                })
                .await?
                .map_err(|e| IngestError::Rejected(e.to_string()))?;
                clock.lap(match report.kind {
                    ConvertKind::Remuxed => "remux",
                    ConvertKind::Encoded => "convert",
                });
                let staged = staged_mp3.clone();
                let sealed = blocking(move || seal(&staged)).await?;
                clock.lap("seal");
                (report, sealed.map_err(IngestError::internal)?)
            }
        };
        // Enrichers run before anything is stored: one may bring the cover.
        let own_cover = match &job.cover {
            Some(path) => Some(read_cover(path).await?),
            None => probe.cover.map(|c| (c.data, c.mime, c.ext)),
        };
        let tags = merge_tags(probe.tags, job.overrides.as_ref());
        // With plugin covers preferred (and none uploaded with the file), enrichers are told the
        // file has no picture, so one that fetches covers does.
        let prefer_plugin = self.cfg.plugins.prefer_plugin_cover && job.cover.is_none();
        let (tags, plugin_cover) = self
            .enrich(
                job,
                tags,
                report.duration_ms,
                own_cover.is_some() && !prefer_plugin,
            )
            .await;
        clock.lap("enrich");
        let cover = match (own_cover, plugin_cover) {
            (Some(_), Some(art)) if prefer_plugin => Some(art),
            (Some(own), _) => Some(own),
            (None, art) => art,
        };
        self.report_stage(job, "storing");
        let song_key = song_blob_key(&hash);
        let cover_key = cover
            .as_ref()
            .map(|(data, _, ext)| format!("art/{}.{ext}", hex::encode(Sha256::digest(data))));
        let mut keys = vec![song_key.clone()];
        keys.extend(cover_key.clone());
        self.jobs.write_intent(&job.id, keys).await?;
        clock.lap("intent_fsync");
        self.blobs
            .put_moved(&song_key, &staged_mp3, "audio/mpeg")
            .await
            .map_err(IngestError::storage)?;
        if let (Some(key), Some((data, mime, _))) = (&cover_key, cover) {
            self.blobs
                .put_bytes(key, data.into(), mime)
                .await
                .map_err(IngestError::storage)?;
        }

        clock.lap("blob_write_fsync");
        self.report_stage(job, "indexing");
        let lyrics = tags.lyrics.clone();
        let song = build_song(job, tags, &report, source_hash, hash, size, cover_key);
        let outcome = match self.songs.insert(&song)? {
            Ok((song, version)) => {
                if let Some(lyrics) = &lyrics {
                    self.songs.set_lyrics(&song.id, lyrics)?;
                }
                Outcome::Added(self.songs.view(&song), version)
            }
            Err(existing) => Outcome::Duplicate(self.songs.view(&existing)),
        };
        clock.lap("index_commit");
        self.jobs.clear_intent(&job.id).await?;
        clock.lap("commit_fsync");
        clock.log(&job.original_name);
        Ok(outcome)
    }

    /// Runs the enabled enricher plugins, in their order, over the tags as read (and as the
    /// uploader typed them: those still win). A failing enricher is logged and skipped; the
    /// ingest never fails because of a plugin. Also returns the cover an enricher brought
    /// (checked by the host: JPEG or PNG, size-capped; decoded and re-encoded here).
    async fn enrich(
        &self,
        job: &Job,
        tags: Tags,
        duration_ms: u64,
        has_cover: bool,
    ) -> (Tags, Option<(Vec<u8>, &'static str, &'static str)>) {
        let Some(host) = &self.plugins else {
            return (tags, None);
        };
        let input = enrich_input(job, &tags, duration_ms, has_cover);
        let outcome = host.enrich(&input).await;
        for e in &outcome.errors {
            tracing::warn!(
                file = %job.original_name,
                plugin = %e.plugin,
                fault = e.fault,
                "enricher skipped: {}",
                e.message
            );
        }
        if outcome.applied.is_empty() {
            return (tags, None);
        }
        tracing::debug!(file = %job.original_name, plugins = ?outcome.applied, "enriched");
        let cover = match outcome.patch.cover.clone() {
            // Stored only as core/media encodes it again (a fresh JPEG, at most 1200 px).
            Some(art) => match blocking(move || chillfi_media::reencode_cover(&art.data)).await {
                Ok(Ok(jpeg)) => Some((jpeg, "image/jpeg", "jpg")),
                Ok(Err(e)) => {
                    tracing::warn!(file = %job.original_name, "plugin cover refused: {e}");
                    None
                }
                Err(e) => {
                    tracing::warn!(file = %job.original_name, "plugin cover: {e:?}");
                    None
                }
            },
            None => None,
        };
        let patched = apply_patch(tags, &outcome.patch);
        (merge_tags(patched, job.overrides.as_ref()), cover)
    }

    fn mp3_settings(&self) -> Mp3Settings {
        let ingest = &self.cfg.ingest;
        Mp3Settings {
            bitrate_kbps: ingest.mp3_bitrate_kbps,
            vbr_quality: u8::try_from(ingest.mp3_vbr_quality).ok(),
            remux_min_bitrate_kbps: ingest.remux_min_bitrate_kbps,
        }
    }
}

#[derive(Debug)]
enum IngestError {
    /// Bad input: the reason is shown to the user.
    Rejected(String),
    /// Our fault (disk, blob store, database).
    Internal(String),
    /// The blob store is unreachable or overloaded right now: retry later, the file is fine.
    Unavailable(String),
}

impl IngestError {
    fn internal(e: impl std::fmt::Display) -> Self {
        Self::Internal(e.to_string())
    }

    fn storage(e: chillfi_storage::StorageError) -> Self {
        if e.is_transient() {
            Self::Unavailable(e.to_string())
        } else {
            Self::Internal(format!("blob store: {e:?}"))
        }
    }
}

impl From<AppError> for IngestError {
    fn from(e: AppError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<sled::Error> for IngestError {
    fn from(e: sled::Error) -> Self {
        Self::Internal(format!("database: {e}"))
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, IngestError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(IngestError::internal)
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Where the time of one ingest goes, stage by stage; logged at debug level under the target
/// `chillfi::ingest::timing` (bench/pipeline.sh reads it).
struct StageClock {
    last: std::time::Instant,
    laps: Vec<(&'static str, f64)>,
}

impl StageClock {
    fn new() -> Self {
        Self {
            last: std::time::Instant::now(),
            laps: Vec::with_capacity(10),
        }
    }

    fn lap(&mut self, stage: &'static str) {
        let now = std::time::Instant::now();
        self.laps
            .push((stage, (now - self.last).as_secs_f64() * 1000.0));
        self.last = now;
    }

    fn log(&self, file: &str) {
        if tracing::enabled!(target: "chillfi::ingest::timing", tracing::Level::DEBUG) {
            let stages: Vec<String> = self
                .laps
                .iter()
                .map(|(stage, ms)| format!("{stage}={ms:.3}"))
                .collect();
            tracing::debug!(target: "chillfi::ingest::timing", file, "ms {}", stages.join(" "));
        }
    }
}

/// SHA-256 and size of a file, read in one blocking task (a tokio file would cross to the
/// blocking pool for every buffer).
pub async fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || sha256_of(&path))
        .await
        .map_err(std::io::Error::other)?
}

fn sha256_of(path: &Path) -> std::io::Result<(String, u64)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut sha = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        sha.update(&buf[..n]);
    }
    Ok((hex::encode(sha.finalize()), total))
}

/// Makes a staged output durable and hashes it (for its name), both at once: the disk syncs
/// while a core hashes.
fn seal(path: &Path) -> std::io::Result<(String, u64)> {
    std::thread::scope(|scope| {
        let synced = scope.spawn(|| std::fs::File::open(path)?.sync_data());
        let hashed = sha256_of(path);
        synced
            .join()
            .map_err(|_| std::io::Error::other("the sync thread panicked"))??;
        hashed
    })
}

const MAX_COVER_BYTES: u64 = 10 * 1024 * 1024;

async fn read_cover(path: &Path) -> Result<(Vec<u8>, &'static str, &'static str), IngestError> {
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(IngestError::internal)?;
    if meta.len() > MAX_COVER_BYTES {
        return Err(IngestError::Rejected(
            "the cover image is larger than 10 MiB".into(),
        ));
    }
    let data = tokio::fs::read(path).await.map_err(IngestError::internal)?;
    match chillfi_media::image_kind(&data) {
        Some((mime, ext)) => Ok((data, mime, ext)),
        None => Err(IngestError::Rejected(
            "the cover must be a JPEG or PNG image".into(),
        )),
    }
}
