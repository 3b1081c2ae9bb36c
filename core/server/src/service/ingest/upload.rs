//! Door 1: chunked browser uploads over Socket.IO. Chunks are written at their offset in a
//! preallocated staging file (so order and repeats do not matter), and each received chunk is
//! recorded in sled, so after a dropped connection the client asks what is missing and resumes.
//! A chunk is acknowledged only once its bytes and its record are on disk (fsync, sled flush): a
//! crash keeps every acknowledged chunk. A file whose chunks are all there is handed to the
//! pipeline. At start, staged bytes that belong to no upload (left by a crash) are removed.

use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Ingest, Job, Origin, Outcome, Reporter, TagOverrides};
use crate::bus::{Bus, Event};
use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::store::db::{Db, new_id, now_secs};
use crate::store::uploads::{FileState, UploadFile, UploadSession, UploadStore};

pub const DEFAULT_CHUNK: u64 = 1024 * 1024;
/// The largest chunk a client may choose; it bounds every Socket.IO message (socket::MAX_MESSAGE).
pub const MAX_CHUNK: u64 = 2 * 1024 * 1024;
const MAX_FILES: usize = 1000;
const MAX_COVER_BYTES: u64 = 10 * 1024 * 1024;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitFile {
    pub name: String,
    pub size: u64,
    pub sha256: Option<String>,
    pub metadata: Option<TagOverrides>,
    /// A cover image sent as its own chunked file: `{size}`.
    pub cover: Option<InitCover>,
}

#[derive(Debug, Deserialize)]
pub struct InitCover {
    pub size: u64,
}

pub struct Uploads {
    cfg: Config,
    store: UploadStore,
    ingest: Arc<Ingest>,
    bus: Bus,
}

fn job_id(upload_id: &str, file_id: &str) -> String {
    format!("up-{upload_id}-{file_id}")
}

impl Uploads {
    /// The pipeline uploads feed (imports use it too).
    pub fn ingest(&self) -> &Arc<Ingest> {
        &self.ingest
    }

    pub fn new(cfg: &Config, db: &Db, ingest: Arc<Ingest>, bus: Bus) -> AppResult<Arc<Self>> {
        let uploads = Arc::new(Self {
            cfg: cfg.clone(),
            store: UploadStore::new(db)?,
            ingest: ingest.clone(),
            bus,
        });
        ingest.add_reporter(uploads.clone());
        uploads.remove_unowned_staging();
        let sweeper = uploads.clone();
        let period = sweep_period(cfg.ingest.upload_abandon_secs);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = sweeper.remove_abandoned() {
                    tracing::error!("cleaning abandoned uploads: {e}");
                }
            }
        });
        Ok(uploads)
    }

    /// Removes staged upload folders that no upload record owns (a crash between removing the
    /// record and its folder, or a data dir restored without its database). Best effort.
    fn remove_unowned_staging(&self) {
        let root = self.cfg.staging_dir().join("uploads");
        let Ok(entries) = std::fs::read_dir(&root) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let owned = name
                .to_str()
                .is_some_and(|id| !matches!(self.store.get(id), Ok(None)));
            if owned {
                continue;
            }
            let path = entry.path();
            let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            match removed {
                Ok(()) => {
                    tracing::info!(path = %path.display(), "removed staged bytes of no upload")
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), "removing staged bytes of no upload: {e}")
                }
            }
        }
    }

    fn dir(&self, upload_id: &str) -> PathBuf {
        self.cfg.staging_dir().join("uploads").join(upload_id)
    }

    fn part_path(&self, upload_id: &str, file_id: &str) -> PathBuf {
        self.dir(upload_id).join(format!("{file_id}.part"))
    }

    fn load(&self, upload_id: &str, user_id: &str) -> AppResult<UploadSession> {
        self.store.owned(upload_id, user_id)
    }

    pub async fn init(
        &self,
        user_id: &str,
        files: Vec<InitFile>,
        chunk_size: Option<u64>,
        used_bytes: u64,
    ) -> AppResult<Value> {
        if files.is_empty() || files.len() > MAX_FILES {
            return Err(AppError::invalid_field(
                "files",
                format!("send 1 to {MAX_FILES} files"),
            ));
        }
        let chunk_size = chunk_size.unwrap_or(DEFAULT_CHUNK);
        if !(64 * 1024..=MAX_CHUNK).contains(&chunk_size) {
            return Err(AppError::invalid_field(
                "chunkSize",
                "a chunk is 64 KiB to 2 MiB",
            ));
        }
        let max = self.cfg.ingest.max_file_mib * 1024 * 1024;
        let mut total = 0u64;
        for (i, f) in files.iter().enumerate() {
            let field = format!("files[{i}]");
            if f.name.trim().is_empty() || f.name.chars().count() > 1024 || f.name.contains('\0') {
                return Err(AppError::invalid_field(
                    format!("{field}.name"),
                    "a file name has 1 to 1024 characters and no NUL",
                ));
            }
            if f.size == 0 {
                return Err(AppError::invalid_field(
                    format!("{field}.size"),
                    format!("{} is empty", f.name),
                ));
            }
            if f.size > max {
                return Err(AppError::TooLarge(format!(
                    "{} is larger than the limit of {} MiB",
                    f.name, self.cfg.ingest.max_file_mib
                )));
            }
            if let Some(c) = &f.cover
                && (c.size == 0 || c.size > MAX_COVER_BYTES)
            {
                return Err(AppError::invalid_field(
                    format!("{field}.cover.size"),
                    "a cover is 1 byte to 10 MiB",
                ));
            }
            if let Some(sha) = &f.sha256
                && (sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()))
            {
                return Err(AppError::invalid_field(
                    format!("{field}.sha256"),
                    "sha256 is 64 hex digits",
                ));
            }
            total += f.size;
        }
        let quota = self.cfg.ingest.user_quota_mib * 1024 * 1024;
        if quota > 0 && used_bytes + total > quota {
            return Err(AppError::TooLarge(format!(
                "these files would exceed your quota of {} MiB",
                self.cfg.ingest.user_quota_mib
            )));
        }
        let upload_id = new_id();
        let mut session = UploadSession {
            upload_id: upload_id.clone(),
            user_id: user_id.to_string(),
            chunk_size,
            created_at: now_secs(),
            last_activity: now_secs(),
            files: Vec::new(),
        };
        std::fs::create_dir_all(self.dir(&upload_id)).map_err(AppError::internal)?;
        for f in files {
            let file_id = new_id();
            let sha256 = f.sha256.map(|s| s.to_ascii_lowercase());
            let existing = match &sha256 {
                Some(sha) => self.ingest.songs().by_source_hash(sha)?,
                None => None,
            };
            let cover_file_id = f.cover.as_ref().map(|_| new_id());
            let (state, result) = match existing {
                Some(song) => (
                    FileState::Duplicate,
                    Some(Outcome::Duplicate(self.ingest.songs().view(&song)).to_json()),
                ),
                None => (FileState::Receiving, None),
            };
            if let (Some(cover_id), Some(cover)) = (&cover_file_id, &f.cover) {
                session.files.push(UploadFile {
                    file_id: cover_id.clone(),
                    name: format!("{}.cover", f.name),
                    size: cover.size,
                    chunks: cover.size.div_ceil(chunk_size),
                    sha256: None,
                    metadata: None,
                    cover_for: Some(file_id.clone()),
                    cover_file_id: None,
                    state: if state == FileState::Receiving {
                        FileState::Receiving
                    } else {
                        FileState::Skipped
                    },
                    result: None,
                });
            }
            session.files.push(UploadFile {
                file_id,
                name: f.name,
                size: f.size,
                chunks: f.size.div_ceil(chunk_size),
                sha256,
                metadata: f.metadata,
                cover_for: None,
                cover_file_id,
                state,
                result,
            });
        }
        self.store.save(&session)?;
        Ok(self.status_json(&session))
    }

    fn status_json(&self, session: &UploadSession) -> Value {
        let files: Vec<Value> = session
            .files
            .iter()
            .map(|f| {
                let received = if f.state == FileState::Receiving { self.store.received(&session.upload_id, &f.file_id) } else { Vec::new() };
                let first_missing = (0..f.chunks).find(|i| !received.contains(i));
                json!({
                    "fileId": f.file_id, "name": f.name, "size": f.size, "chunks": f.chunks,
                    "state": f.state, "coverFor": f.cover_for, "coverFileId": f.cover_file_id,
                    "receivedChunks": if f.state == FileState::Receiving { received.len() as u64 } else { f.chunks },
                    "firstMissing": if f.state == FileState::Receiving { first_missing } else { None },
                    "result": f.result,
                })
            })
            .collect();
        json!({ "uploadId": session.upload_id, "chunkSize": session.chunk_size, "files": files })
    }

    pub fn status(&self, user_id: &str, upload_id: &str) -> AppResult<Value> {
        Ok(self.status_json(&self.load(upload_id, user_id)?))
    }

    pub async fn chunk(
        &self,
        user_id: &str,
        upload_id: &str,
        file_id: &str,
        index: u64,
        data: bytes::Bytes,
    ) -> AppResult<Value> {
        let session = self.load(upload_id, user_id)?;
        let file = session
            .files
            .iter()
            .find(|f| f.file_id == file_id)
            .ok_or(AppError::NotFound("file"))?
            .clone();
        if file.state != FileState::Receiving {
            // Repeats after completion are harmless: answer with the state.
            return Ok(json!({ "index": index, "state": file.state, "complete": true }));
        }
        if index >= file.chunks {
            return Err(AppError::invalid_field(
                "index",
                format!("this file has {} chunks", file.chunks),
            ));
        }
        let offset = index * session.chunk_size;
        let expected = (file.size - offset).min(session.chunk_size);
        if data.len() as u64 != expected {
            return Err(AppError::invalid_field(
                "data",
                format!("chunk {index} must be {expected} bytes, got {}", data.len()),
            ));
        }
        let path = self.part_path(upload_id, file_id);
        let size = file.size;
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(false)
                .open(&path)?;
            if f.metadata()?.len() != size {
                f.set_len(size)?;
            }
            f.write_all_at(&data, offset)?;
            // Acknowledged means durable: the bytes are on disk before the mark that says so.
            f.sync_data()
        })
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::internal)?;
        // ... and the mark is on disk before the acknowledgement (a crash keeps what was acked).
        self.store
            .mark_chunk_durably(upload_id, file_id, index)
            .await?;
        let received = self.store.received(upload_id, file_id);
        let done = received.len() as u64 >= file.chunks;
        let bytes = (received.len() as u64 * session.chunk_size).min(file.size);
        self.progress(&session, &file.file_id, "transfer", bytes, file.size);
        let _ = self.store.update_file(upload_id, file_id, |_| {});
        if done {
            self.file_complete(upload_id, file_id).await?;
        }
        let next_missing = (0..file.chunks).find(|i| !received.contains(i));
        Ok(
            json!({ "index": index, "receivedChunks": received.len(), "nextMissing": next_missing, "complete": done }),
        )
    }

    /// All chunks of a file arrived: fsync, verify, and queue the audio file once its cover
    /// (if any) is there too.
    async fn file_complete(&self, upload_id: &str, file_id: &str) -> AppResult<()> {
        let path = self.part_path(upload_id, file_id);
        let sync_path = path.clone();
        tokio::task::spawn_blocking(move || {
            std::fs::File::open(&sync_path).and_then(|f| f.sync_all())
        })
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::internal)?;
        let Some(session) = self
            .store
            .update_file(upload_id, file_id, |f| f.state = FileState::Queued)?
        else {
            return Ok(());
        };
        self.store.drop_chunk_marks(upload_id, Some(file_id))?;
        let Some(file) = session.files.iter().find(|f| f.file_id == file_id) else {
            return Ok(());
        };
        let audio_id = file
            .cover_for
            .clone()
            .unwrap_or_else(|| file_id.to_string());
        let Some(audio) = session.files.iter().find(|f| f.file_id == audio_id) else {
            return Ok(());
        };
        let cover_ready = match &audio.cover_file_id {
            Some(cid) => session
                .files
                .iter()
                .any(|f| &f.file_id == cid && f.state == FileState::Queued),
            None => true,
        };
        if audio.state != FileState::Queued || !cover_ready {
            return Ok(());
        }
        if let Some(sha) = &audio.sha256 {
            let (actual, _) = super::sha256_file(&self.part_path(upload_id, &audio.file_id))
                .await
                .map_err(AppError::internal)?;
            if &actual != sha {
                let outcome = Outcome::Failed(
                    "the file arrived damaged (its SHA-256 does not match); upload it again".into(),
                );
                self.record(upload_id, &audio.file_id, &outcome);
                return Ok(());
            }
        }
        let job = Job {
            id: job_id(upload_id, &audio.file_id),
            source: self.part_path(upload_id, &audio.file_id),
            origin: Origin::Upload {
                upload_id: upload_id.to_string(),
                file_id: audio.file_id.clone(),
            },
            original_name: audio.name.clone(),
            uploader_id: session.user_id.clone(),
            overrides: audio.metadata.clone(),
            cover: audio
                .cover_file_id
                .as_ref()
                .map(|cid| self.part_path(upload_id, cid)),
            queued_at: now_secs(),
        };
        self.ingest.submit(job)
    }

    /// Skips one file or cancels the whole upload; stops conversions already running.
    pub fn control(
        &self,
        user_id: &str,
        upload_id: &str,
        file_id: Option<&str>,
        action: &str,
    ) -> AppResult<Value> {
        let session = self.load(upload_id, user_id)?;
        let (targets, state): (Vec<&UploadFile>, FileState) = match (action, file_id) {
            ("skip", Some(fid)) => {
                let file = session
                    .files
                    .iter()
                    .find(|f| f.file_id == fid)
                    .ok_or(AppError::NotFound("file"))?;
                let mut t = vec![file];
                t.extend(
                    session
                        .files
                        .iter()
                        .filter(|f| f.cover_for.as_deref() == Some(fid)),
                );
                (t, FileState::Skipped)
            }
            ("skip", None) => return Err(AppError::invalid_field("fileId", "skip needs a fileId")),
            ("cancel", Some(fid)) => {
                let file = session
                    .files
                    .iter()
                    .find(|f| f.file_id == fid)
                    .ok_or(AppError::NotFound("file"))?;
                (vec![file], FileState::Cancelled)
            }
            ("cancel", None) => (session.files.iter().collect(), FileState::Cancelled),
            _ => {
                return Err(AppError::invalid_field(
                    "action",
                    "action is skip or cancel",
                ));
            }
        };
        for f in targets {
            if matches!(f.state, FileState::Receiving | FileState::Queued) {
                self.ingest.cancel(&job_id(upload_id, &f.file_id));
                self.store.drop_chunk_marks(upload_id, Some(&f.file_id))?;
                let _ = std::fs::remove_file(self.part_path(upload_id, &f.file_id));
                let st = state.clone();
                self.store.update_file(upload_id, &f.file_id, |file| {
                    file.state = st.clone();
                    file.result = Some(json!({ "status": match st { FileState::Skipped => "skipped", _ => "cancelled" } }));
                })?;
            }
        }
        let session = self.load(upload_id, user_id)?;
        if session
            .files
            .iter()
            .all(|f| !matches!(f.state, FileState::Receiving | FileState::Queued))
        {
            let _ = std::fs::remove_dir_all(self.dir(upload_id));
        }
        Ok(self.status_json(&session))
    }

    fn record(&self, upload_id: &str, file_id: &str, outcome: &Outcome) {
        let state = match outcome {
            Outcome::Added(..) => FileState::Added,
            Outcome::Duplicate(_) => FileState::Duplicate,
            Outcome::Failed(_) => FileState::Failed,
            Outcome::Cancelled => FileState::Cancelled,
        };
        let result = outcome.to_json();
        let session = match self.store.update_file(upload_id, file_id, |f| {
            // A skip/cancel that raced the pipeline keeps its state.
            if matches!(f.state, FileState::Queued | FileState::Receiving) {
                f.state = state.clone();
                f.result = Some(result.clone());
            }
        }) {
            Ok(Some(s)) => s,
            _ => return,
        };
        // The staged source (and cover) are no longer needed.
        let _ = std::fs::remove_file(self.part_path(upload_id, file_id));
        if let Some(f) = session.files.iter().find(|f| f.file_id == file_id) {
            if let Some(cid) = &f.cover_file_id {
                let _ = std::fs::remove_file(self.part_path(upload_id, cid));
            }
            let mut payload = f.result.clone().unwrap_or(result);
            payload["uploadId"] = json!(upload_id);
            payload["fileId"] = json!(file_id);
            payload["name"] = json!(f.name);
            self.bus.publish(Event::UploadResult {
                user_id: session.user_id.clone(),
                result: payload,
            });
        }
        if session
            .files
            .iter()
            .all(|f| !matches!(f.state, FileState::Receiving | FileState::Queued))
        {
            let _ = std::fs::remove_dir_all(self.dir(upload_id));
        }
    }

    fn progress(
        &self,
        session: &UploadSession,
        file_id: &str,
        stage: &str,
        bytes: u64,
        total: u64,
    ) {
        self.bus.publish(Event::UploadProgress {
            user_id: session.user_id.clone(),
            progress: json!({ "uploadId": session.upload_id, "fileId": file_id, "stage": stage, "bytes": bytes, "total": total }),
        });
    }

    /// Forgets uploads idle for longer than `ingest.upload_abandon_secs` (none of whose files is
    /// queued for conversion): their session, chunk marks and staged bytes.
    fn remove_abandoned(&self) -> AppResult<()> {
        let abandon = i64::try_from(self.cfg.ingest.upload_abandon_secs).unwrap_or(i64::MAX);
        let cutoff = now_secs().saturating_sub(abandon);
        // Queued files belong to the pipeline now; everything else idle that long goes.
        let removed = self.store.remove_where(|session| {
            session.last_activity < cutoff
                && !session.files.iter().any(|f| f.state == FileState::Queued)
        })?;
        for session in removed {
            if let Err(e) = std::fs::remove_dir_all(self.dir(&session.upload_id))
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(upload = %session.upload_id, "removing staged chunks: {e}");
            }
            tracing::info!(upload = %session.upload_id, "removed an abandoned upload");
        }
        Ok(())
    }
}

/// How often abandoned uploads are looked for: half the abandon time, 1 s to 10 min.
fn sweep_period(abandon_secs: u64) -> std::time::Duration {
    std::time::Duration::from_secs((abandon_secs / 2).clamp(1, 600))
}

impl Reporter for Uploads {
    fn stage(&self, job: &Job, stage: &str) {
        if let Origin::Upload { upload_id, file_id } = &job.origin
            && let Ok(Some(session)) = self.store.get(upload_id)
        {
            let size = session
                .files
                .iter()
                .find(|f| &f.file_id == file_id)
                .map(|f| f.size)
                .unwrap_or(0);
            self.progress(&session, file_id, stage, size, size);
        }
    }

    fn finished(&self, job: &Job, outcome: &Outcome) {
        if let Origin::Upload { upload_id, file_id } = &job.origin {
            self.record(upload_id, file_id, outcome);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sweep_period;
    use std::time::Duration;

    #[test]
    fn the_sweep_runs_every_half_abandon_time_within_1s_and_10min() {
        assert_eq!(sweep_period(1), Duration::from_secs(1));
        assert_eq!(sweep_period(2), Duration::from_secs(1));
        assert_eq!(sweep_period(30), Duration::from_secs(15));
        assert_eq!(sweep_period(1200), Duration::from_secs(600));
        assert_eq!(sweep_period(86_400), Duration::from_secs(600));
    }
}
