//! `chillfi import DIR`: runs a folder through the pipeline once, with progress and a summary.
//! Unlike the inbox it never touches the originals: it is meant for an existing collection.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use super::{Ingest, Job, Origin, Outcome, Reporter};
use crate::store::db::now_secs;

#[derive(Default)]
struct Tally {
    added: usize,
    duplicate: usize,
    failed: Vec<(String, String)>,
    done: usize,
}

struct Progress {
    total: usize,
    tally: Mutex<Tally>,
    finished: tokio::sync::Notify,
}

impl Reporter for Progress {
    fn stage(&self, _job: &Job, _stage: &str) {}

    fn finished(&self, job: &Job, outcome: &Outcome) {
        if !matches!(job.origin, Origin::Import) {
            return;
        }
        let mut t = self.tally.lock().unwrap_or_else(|p| p.into_inner());
        t.done += 1;
        let word = match outcome {
            Outcome::Added(..) => {
                t.added += 1;
                "added"
            }
            Outcome::Duplicate(_) => {
                t.duplicate += 1;
                "already in the library"
            }
            Outcome::Failed(reason) => {
                t.failed.push((job.original_name.clone(), reason.clone()));
                "FAILED"
            }
            Outcome::Cancelled => "cancelled",
        };
        println!(
            "[{:>width$}/{}] {}: {word}",
            t.done,
            self.total,
            job.original_name,
            width = self.total.to_string().len()
        );
        if t.done == self.total {
            self.finished.notify_one();
        }
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') || kind.is_symlink() {
            continue;
        }
        if kind.is_dir() {
            walk(&entry.path(), out)?;
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
    Ok(())
}

/// Imports every file under `dir` for `uploader_id`; returns the number of failures.
pub async fn import_dir(
    ingest: &Arc<Ingest>,
    dir: &Path,
    uploader_id: &str,
) -> anyhow::Result<usize> {
    let dir = dir.canonicalize()?;
    let mut files = Vec::new();
    walk(&dir, &mut files)?;
    files.sort();
    if files.is_empty() {
        println!("no files under {}", dir.display());
        return Ok(0);
    }
    let progress = Arc::new(Progress {
        total: files.len(),
        tally: Mutex::default(),
        finished: tokio::sync::Notify::new(),
    });
    ingest.add_reporter(progress.clone());
    for path in files {
        let name = path
            .strip_prefix(&dir)
            .unwrap_or(&path)
            .to_string_lossy()
            .to_string();
        let id = format!(
            "import-{}",
            &hex::encode(Sha256::digest(path.to_string_lossy().as_bytes()))[..24]
        );
        ingest.submit(Job {
            id,
            source: path,
            origin: Origin::Import,
            original_name: name,
            uploader_id: uploader_id.to_string(),
            overrides: None,
            cover: None,
            queued_at: now_secs(),
        })?;
    }
    progress.finished.notified().await;
    let t = progress.tally.lock().unwrap_or_else(|p| p.into_inner());
    println!(
        "\n{} added, {} already in the library, {} failed",
        t.added,
        t.duplicate,
        t.failed.len()
    );
    for (name, reason) in &t.failed {
        println!("  {name}: {reason}");
    }
    Ok(t.failed.len())
}
