//! Upload sessions and their received-chunk marks: what a resumed upload needs to know.
//! Invariant: a chunk is marked only after its bytes were written to the staging file.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{AppError, AppResult};
use crate::store::db::{self, Db, now_secs};
use crate::store::jobs::TagOverrides;

const UPLOADS: &str = "uploads";
const CHUNKS: &str = "upload_chunks";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum FileState {
    Receiving,
    Queued,
    Added,
    Duplicate,
    Failed,
    Skipped,
    Cancelled,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadFile {
    pub file_id: String,
    pub name: String,
    pub size: u64,
    pub chunks: u64,
    pub sha256: Option<String>,
    pub metadata: Option<TagOverrides>,
    /// Set on a cover entry: the audio file it belongs to.
    pub cover_for: Option<String>,
    /// Set on an audio entry with a separately uploaded cover.
    pub cover_file_id: Option<String>,
    pub state: FileState,
    pub result: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadSession {
    pub upload_id: String,
    pub user_id: String,
    pub chunk_size: u64,
    pub created_at: i64,
    pub last_activity: i64,
    pub files: Vec<UploadFile>,
}

#[derive(Clone)]
pub struct UploadStore {
    sessions: sled::Tree,
    chunks: sled::Tree,
}

impl UploadStore {
    pub fn new(db: &Db) -> AppResult<Self> {
        Ok(Self {
            sessions: db.tree(UPLOADS)?,
            chunks: db.tree(CHUNKS)?,
        })
    }

    pub fn get(&self, upload_id: &str) -> AppResult<Option<UploadSession>> {
        db::get(&self.sessions, upload_id)
    }

    /// The session if it belongs to `user_id`; someone else's is `forbidden`.
    pub fn owned(&self, upload_id: &str, user_id: &str) -> AppResult<UploadSession> {
        let session = self.get(upload_id)?.ok_or(AppError::NotFound("upload"))?;
        if session.user_id != user_id {
            return Err(AppError::Forbidden(
                "this upload belongs to someone else".into(),
            ));
        }
        Ok(session)
    }

    pub fn save(&self, session: &UploadSession) -> AppResult<()> {
        db::put(&self.sessions, &session.upload_id, session)
    }

    /// Changes one file of a session (and marks the session active); the session as written.
    pub fn update_file(
        &self,
        upload_id: &str,
        file_id: &str,
        change: impl Fn(&mut UploadFile),
    ) -> AppResult<Option<UploadSession>> {
        let mut result = None;
        self.sessions.fetch_and_update(upload_id, |old| {
            let mut session: UploadSession = db::decode(old?).ok()?;
            if let Some(f) = session.files.iter_mut().find(|f| f.file_id == file_id) {
                change(f);
            }
            session.last_activity = now_secs();
            let bytes = db::encode(&session).ok();
            result = Some(session);
            bytes
        })?;
        Ok(result)
    }

    /// The indexes of the chunks of a file received so far.
    pub fn received(&self, upload_id: &str, file_id: &str) -> Vec<u64> {
        let prefix = format!("{upload_id}/{file_id}/");
        self.chunks
            .scan_prefix(prefix.as_bytes())
            .keys()
            .filter_map(|k| k.ok())
            .filter_map(|k| {
                k.get(prefix.len()..)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(u64::from_be_bytes)
            })
            .collect()
    }

    /// Records a received chunk and flushes the database before returning: once this returns,
    /// a crash keeps the record.
    pub async fn mark_chunk_durably(
        &self,
        upload_id: &str,
        file_id: &str,
        index: u64,
    ) -> AppResult<()> {
        let mut key = format!("{upload_id}/{file_id}/").into_bytes();
        key.extend_from_slice(&index.to_be_bytes());
        self.chunks.insert(key, &[])?;
        self.chunks.flush_async().await?;
        Ok(())
    }

    /// Forgets the chunk marks of one file, or of a whole upload when `file_id` is `None`.
    pub fn drop_chunk_marks(&self, upload_id: &str, file_id: Option<&str>) -> AppResult<()> {
        let prefix = match file_id {
            Some(file_id) => format!("{upload_id}/{file_id}/"),
            None => format!("{upload_id}/"),
        };
        for key in self.chunks.scan_prefix(prefix.as_bytes()).keys() {
            self.chunks.remove(key?)?;
        }
        Ok(())
    }

    /// Removes the sessions `abandoned` picks, each only if nobody touched it since it was read
    /// (a chunk updates `last_activity`), with their chunk marks; returns the removed ones.
    pub fn remove_where(
        &self,
        abandoned: impl Fn(&UploadSession) -> bool,
    ) -> AppResult<Vec<UploadSession>> {
        let mut removed = Vec::new();
        for entry in self.sessions.iter() {
            let (key, value) = entry?;
            let session: UploadSession = match db::decode(&value) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!("an unreadable upload record: {e}");
                    continue;
                }
            };
            if !abandoned(&session) {
                continue;
            }
            if self
                .sessions
                .compare_and_swap(&key, Some(&value), None::<&[u8]>)?
                .is_err()
            {
                continue;
            }
            self.drop_chunk_marks(&session.upload_id, None)?;
            removed.push(session);
        }
        Ok(removed)
    }
}
