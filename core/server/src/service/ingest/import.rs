//! `chillfi import DIR`: runs a folder through the pipeline once, with progress and a summary.
//! Unlike the inbox it never touches the originals: it is meant for an existing collection.

use std::collections::HashSet;
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

/// Where the import's lines go: the terminal, or the control socket's client.
pub type Output = Arc<dyn Fn(String) + Send + Sync>;

struct Progress {
    /// The jobs of this import (a server may run other imports and uploads meanwhile).
    jobs: HashSet<String>,
    out: Output,
    total: usize,
    tally: Mutex<Tally>,
    finished: tokio::sync::Notify,
}

impl Reporter for Progress {
    fn stage(&self, _job: &Job, _stage: &str) {}

    fn finished(&self, job: &Job, outcome: &Outcome) {
        if !self.jobs.contains(&job.id) {
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
        (self.out)(format!(
            "[{:>width$}/{}] {}: {word}",
            t.done,
            self.total,
            job.original_name,
            width = self.total.to_string().len()
        ));
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
/// `stop` ends the import early (the CLI went away): files not finished yet are cancelled, the
/// ones done stay, and no file is left half imported.
pub async fn import_dir(
    ingest: &Arc<Ingest>,
    dir: &Path,
    uploader_id: &str,
    out: Output,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<usize> {
    let dir = dir
        .canonicalize()
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", dir.display()))?;
    let mut files = Vec::new();
    walk(&dir, &mut files).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", dir.display()))?;
    files.sort();
    if files.is_empty() {
        out(format!("no files under {}", dir.display()));
        return Ok(0);
    }
    let job_id = |path: &Path| {
        format!(
            "import-{}",
            &hex::encode(Sha256::digest(path.to_string_lossy().as_bytes()))[..24]
        )
    };
    let progress = Arc::new(Progress {
        jobs: files.iter().map(|p| job_id(p)).collect(),
        out: out.clone(),
        total: files.len(),
        tally: Mutex::default(),
        finished: tokio::sync::Notify::new(),
    });
    let reporter: Arc<dyn Reporter> = progress.clone();
    ingest.add_reporter(reporter.clone());
    let _unregister = Unregister(ingest, &reporter);
    for path in files {
        let name = path
            .strip_prefix(&dir)
            .unwrap_or(&path)
            .to_string_lossy()
            .to_string();
        let id = job_id(&path);
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
    let finished = progress.finished.notified();
    tokio::pin!(finished);
    let mut stopped = false;
    tokio::select! {
        _ = &mut finished => {}
        _ = stop => {
            stopped = true;
            for id in &progress.jobs {
                ingest.cancel(id);
            }
            finished.await;
        }
    }
    let t = progress.tally.lock().unwrap_or_else(|p| p.into_inner());
    if stopped {
        let cancelled = t.done - t.added - t.duplicate - t.failed.len();
        tracing::info!(
            added = t.added,
            cancelled,
            "import stopped: files not finished were cancelled"
        );
        out(format!(
            "import stopped: {cancelled} file(s) not finished were cancelled"
        ));
    }
    out(format!(
        "\n{} added, {} already in the library, {} failed",
        t.added,
        t.duplicate,
        t.failed.len()
    ));
    for (name, reason) in &t.failed {
        out(format!("  {name}: {reason}"));
    }
    Ok(t.failed.len())
}

/// Takes the import's reporter off the pipeline when the import ends, however it ends.
struct Unregister<'a>(&'a Arc<Ingest>, &'a Arc<dyn Reporter>);

impl Drop for Unregister<'_> {
    fn drop(&mut self) {
        self.0.remove_reporter(self.1);
    }
}
