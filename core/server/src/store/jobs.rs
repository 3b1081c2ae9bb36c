//! The ingest pipeline's durable bookkeeping: queued jobs (so work survives a restart) and
//! intents (the blob keys a job is about to write, so a crash leaves no orphaned blob).
//! Invariants: a job is recorded before any work and removed only after its outcome is recorded;
//! an intent is durable before its first blob upload and removed after the song is committed.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::AppResult;
use crate::store::db::{self, Db, now_secs};

const JOBS: &str = "ingest_jobs";
const INTENTS: &str = "ingest_intents";

/// Metadata a client typed before uploading; it wins over the file's tags.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TagOverrides {
    pub title: Option<String>,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub album_artist: Option<String>,
    pub track: Option<u32>,
    pub disc: Option<u32>,
    pub year: Option<i32>,
    pub genre: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Origin {
    Upload {
        upload_id: String,
        file_id: String,
    },
    Inbox {
        relative: String,
    },
    /// `chillfi import DIR`: the original file stays where it is.
    Import,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    /// The file to ingest: an assembled upload in staging, or the file in the inbox.
    pub source: PathBuf,
    pub origin: Origin,
    pub original_name: String,
    pub uploader_id: String,
    pub overrides: Option<TagOverrides>,
    /// Cover art the client sent separately (staged file).
    pub cover: Option<PathBuf>,
    pub queued_at: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Intent {
    pub keys: Vec<String>,
    pub created_at: i64,
}

#[derive(Clone)]
pub struct JobStore {
    jobs: sled::Tree,
    intents: sled::Tree,
}

impl JobStore {
    pub fn new(db: &Db) -> AppResult<Self> {
        Ok(Self {
            jobs: db.tree(JOBS)?,
            intents: db.tree(INTENTS)?,
        })
    }

    /// Records a job; `false` when one with that id is already recorded.
    pub fn record(&self, job: &Job) -> AppResult<bool> {
        Ok(self
            .jobs
            .insert(job.id.as_bytes(), db::encode(job)?)?
            .is_none())
    }

    pub fn contains(&self, job_id: &str) -> bool {
        self.jobs.contains_key(job_id).unwrap_or(false)
    }

    pub fn remove(&self, job_id: &str) -> AppResult<()> {
        self.jobs.remove(job_id.as_bytes())?;
        Ok(())
    }

    /// Every recorded job (queued or interrupted).
    pub fn all(&self) -> AppResult<Vec<Job>> {
        self.jobs.iter().values().map(|v| db::decode(&v?)).collect()
    }

    /// Makes the keys a job is about to write durable before the first one is written.
    pub async fn write_intent(&self, job_id: &str, keys: Vec<String>) -> AppResult<()> {
        let intent = Intent {
            keys,
            created_at: now_secs(),
        };
        self.intents
            .insert(job_id.as_bytes(), db::encode(&intent)?)?;
        self.intents.flush_async().await?;
        Ok(())
    }

    pub async fn clear_intent(&self, job_id: &str) -> AppResult<()> {
        self.intents.remove(job_id.as_bytes())?;
        self.intents.flush_async().await?;
        Ok(())
    }

    /// Intents left by interrupted jobs, by job id.
    pub fn intents(&self) -> AppResult<Vec<(String, Intent)>> {
        self.intents
            .iter()
            .map(|entry| {
                let (job_id, value) = entry?;
                Ok((
                    String::from_utf8_lossy(&job_id).to_string(),
                    db::decode(&value)?,
                ))
            })
            .collect()
    }

    pub fn forget_intent(&self, job_id: &str) -> AppResult<()> {
        self.intents.remove(job_id.as_bytes())?;
        Ok(())
    }
}
