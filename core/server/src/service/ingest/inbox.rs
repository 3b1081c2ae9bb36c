//! Door 2: the watched inbox folder. Files are taken once their size and mtime stop changing
//! (half-copied SMB uploads), imported in place, then deleted or moved to `done/`; failures go
//! to `failed/` next to a `<name>.error.txt` with the reason. Symbolic links are refused.
//! `notify` events trigger scans; a periodic full rescan covers missed events and network
//! filesystems that send none.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use notify::Watcher;
use sha2::{Digest, Sha256};

use super::{Ingest, Job, Origin, Outcome, Reporter};
use crate::config::{Config, InboxAfterImport};
use crate::store::db::now_secs;
use crate::store::users::Users;

const FAILED: &str = "failed";
const DONE: &str = "done";

pub struct Inbox {
    root: PathBuf,
    cfg: Config,
    ingest: Arc<Ingest>,
    users: Users,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Seen {
    size: u64,
    mtime: SystemTime,
    stable_since: Instant,
}

impl Inbox {
    pub fn start(cfg: &Config, ingest: Arc<Ingest>, users: Users) -> anyhow::Result<Arc<Self>> {
        let root = cfg.inbox_dir();
        std::fs::create_dir_all(root.join(FAILED))?;
        let root = root.canonicalize()?;
        let inbox = Arc::new(Self {
            root,
            cfg: cfg.clone(),
            ingest: ingest.clone(),
            users,
        });
        ingest.add_reporter(inbox.clone());
        let (poke_tx, poke_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let mut watcher = notify::recommended_watcher(move |_event| {
            let _ = poke_tx.send(());
        })?;
        if let Err(e) = watcher.watch(&inbox.root, notify::RecursiveMode::Recursive) {
            tracing::warn!(
                "watching {} failed ({e}); relying on periodic rescans",
                inbox.root.display()
            );
        }
        let this = inbox.clone();
        tokio::spawn(async move {
            // The watcher lives as long as the scan loop.
            let _watcher = watcher;
            this.run(poke_rx).await;
        });
        tracing::info!(inbox = %inbox.root.display(), "watching the inbox");
        Ok(inbox)
    }

    async fn run(self: Arc<Self>, mut pokes: tokio::sync::mpsc::UnboundedReceiver<()>) {
        let settle = Duration::from_secs(self.cfg.ingest.inbox_settle_secs);
        let rescan = Duration::from_secs(self.cfg.ingest.inbox_rescan_secs);
        let mut seen: HashMap<PathBuf, Seen> = HashMap::new();
        loop {
            let this = self.clone();
            let previous = std::mem::take(&mut seen);
            let (next, waiting) =
                match tokio::task::spawn_blocking(move || this.scan(previous, settle)).await {
                    Ok(result) => result,
                    Err(e) => {
                        tracing::error!("inbox scan panicked: {e}");
                        (HashMap::new(), false)
                    }
                };
            seen = next;
            // Poll quickly while files are settling; otherwise wait for an event or the rescan.
            let wait = if waiting {
                Duration::from_millis(500)
            } else {
                rescan
            };
            tokio::select! {
                poke = pokes.recv() => {
                    if poke.is_none() { return; }
                    // Coalesce bursts of events into one scan.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    while pokes.try_recv().is_ok() {}
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    fn owner(&self) -> Option<String> {
        let wanted = self.cfg.ingest.inbox_owner.trim();
        let users = self.users.list().ok()?;
        if wanted.is_empty() {
            users
                .into_iter()
                .filter(|u| u.is_admin)
                .min_by_key(|u| u.created_at)
                .map(|u| u.id)
        } else {
            users
                .into_iter()
                .find(|u| u.username.eq_ignore_ascii_case(wanted))
                .map(|u| u.id)
        }
    }

    /// One pass over the inbox. Returns what was seen and whether files are still settling.
    fn scan(
        &self,
        previous: HashMap<PathBuf, Seen>,
        settle: Duration,
    ) -> (HashMap<PathBuf, Seen>, bool) {
        let mut now_seen = HashMap::new();
        let mut waiting = false;
        let mut owner: Option<Option<String>> = None;
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().to_string();
                if name.starts_with('.') || name.ends_with(".error.txt") {
                    continue;
                }
                let Ok(meta) = std::fs::symlink_metadata(&path) else {
                    continue;
                };
                if dir == self.root && (name == FAILED || name == DONE) && meta.is_dir() {
                    continue;
                }
                if meta.file_type().is_symlink() {
                    self.fail(
                        &path,
                        "symbolic links are not imported: copy the file itself into the inbox",
                    );
                    continue;
                }
                if meta.is_dir() {
                    stack.push(path);
                    continue;
                }
                if !meta.is_file() {
                    continue;
                }
                let Some(relative) = self.relative(&path) else {
                    continue;
                };
                let job_id = job_id_for(&relative);
                if self.ingest.is_queued(&job_id) {
                    continue;
                }
                let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                let current = match previous.get(&path) {
                    Some(p) if p.size == meta.len() && p.mtime == mtime => *p,
                    _ => Seen {
                        size: meta.len(),
                        mtime,
                        stable_since: Instant::now(),
                    },
                };
                if current.stable_since.elapsed() < settle {
                    waiting = true;
                    now_seen.insert(path, current);
                    continue;
                }
                let owner = owner.get_or_insert_with(|| self.owner());
                let Some(owner) = owner.clone() else {
                    tracing::warn!(
                        "inbox files wait: no inbox owner (create an administrator or set ingest.inbox_owner)"
                    );
                    now_seen.insert(path, current);
                    continue;
                };
                let max = self.cfg.ingest.max_file_mib * 1024 * 1024;
                if meta.len() > max {
                    self.fail(
                        &path,
                        &format!(
                            "the file is larger than the limit of {} MiB",
                            self.cfg.ingest.max_file_mib
                        ),
                    );
                    continue;
                }
                let job = Job {
                    id: job_id,
                    source: path.clone(),
                    origin: Origin::Inbox {
                        relative: relative.clone(),
                    },
                    original_name: relative,
                    uploader_id: owner,
                    overrides: None,
                    cover: None,
                    queued_at: now_secs(),
                };
                if let Err(e) = self.ingest.submit(job) {
                    tracing::error!("queueing {}: {e}", path.display());
                }
            }
        }
        (now_seen, waiting)
    }

    /// The path inside the inbox, with `/` separators; `None` for anything that escapes it.
    fn relative(&self, path: &Path) -> Option<String> {
        let rel = path.strip_prefix(&self.root).ok()?;
        let mut parts = Vec::new();
        for c in rel.components() {
            match c {
                Component::Normal(p) => parts.push(p.to_string_lossy().to_string()),
                _ => return None,
            }
        }
        Some(parts.join("/"))
    }

    /// Moves a file to `failed/` (keeping its subfolder) with the reason beside it. The reason is
    /// written first: a crash in between leaves the file in the inbox (its job still queued, so it
    /// is failed again, over the same note), never a failed file without its reason.
    fn fail(&self, path: &Path, reason: &str) {
        let relative = self.relative(path).unwrap_or_else(|| "unknown".into());
        let target = unique(self.root.join(FAILED).join(&relative));
        if let Some(parent) = target.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let note = target.with_file_name(format!(
            "{}.error.txt",
            target
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default()
        ));
        let text = format!("{relative}\n\nChillFi could not import this file:\n{reason}\n");
        if let Err(e) = std::fs::write(&note, text) {
            tracing::error!("writing {}: {e}", note.display());
        }
        match std::fs::rename(path, &target) {
            Ok(()) => {
                tracing::warn!(file = %relative, %reason, "moved to the inbox's failed folder")
            }
            Err(e) => {
                let _ = std::fs::remove_file(&note);
                tracing::error!("moving {} to failed/: {e}", path.display())
            }
        }
    }

    fn succeeded(&self, path: &Path) {
        let result = match self.cfg.ingest.inbox_after_import {
            InboxAfterImport::Delete => std::fs::remove_file(path),
            InboxAfterImport::Move => {
                let relative = self.relative(path).unwrap_or_else(|| "unknown".into());
                let target = unique(self.root.join(DONE).join(relative));
                target
                    .parent()
                    .map(std::fs::create_dir_all)
                    .transpose()
                    .and_then(|_| std::fs::rename(path, &target))
            }
        };
        if let Err(e) = result {
            tracing::error!("clearing {} from the inbox: {e}", path.display());
        }
        self.remove_empty_dirs(path);
    }

    /// Drops folders the import emptied (but never the inbox itself).
    fn remove_empty_dirs(&self, file: &Path) {
        let mut dir = file.parent();
        while let Some(d) = dir {
            if d == self.root || !d.starts_with(&self.root) || std::fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
    }
}

impl Reporter for Inbox {
    fn stage(&self, _job: &Job, _stage: &str) {}

    fn finished(&self, job: &Job, outcome: &Outcome) {
        if !matches!(job.origin, Origin::Inbox { .. }) {
            return;
        }
        match outcome {
            // A duplicate is already in the library: the inbox copy has done its job.
            Outcome::Added(..) | Outcome::Duplicate(_) => self.succeeded(&job.source),
            Outcome::Failed(reason) => self.fail(&job.source, reason),
            Outcome::Cancelled => {}
        }
    }
}

fn job_id_for(relative: &str) -> String {
    format!(
        "inbox-{}",
        &hex::encode(Sha256::digest(relative.as_bytes()))[..24]
    )
}

/// `path`, or `path.1`, `path.2`... whichever does not exist yet.
fn unique(path: PathBuf) -> PathBuf {
    if !path.exists() {
        return path;
    }
    (1..)
        .map(|n| {
            let mut name = path
                .file_name()
                .map(|n| n.to_os_string())
                .unwrap_or_default();
            name.push(format!(".{n}"));
            path.with_file_name(name)
        })
        .find(|p| !p.exists())
        .unwrap_or(path)
}
