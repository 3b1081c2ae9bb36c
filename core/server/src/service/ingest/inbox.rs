//! Door 2: the watched inbox folder. A file whose writer closed it (inotify close-write) or that
//! was renamed into the inbox is taken at once; a file still open for writing is left alone until
//! its writer closes it. Files that change without such events (the polling fallback, network
//! shares, files already there at start-up) are taken once their size and mtime have been stable
//! for `ingest.inbox_settle_secs`. Files are imported in place, then deleted or moved to `done/`;
//! failures go to `failed/` next to a `<name>.error.txt` with the reason. Symbolic links are
//! refused. A periodic full rescan covers missed events.

use std::collections::{HashMap, HashSet};
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
        let (poke_tx, poke_rx) = tokio::sync::mpsc::unbounded_channel::<Hint>();
        let mut watcher = notify::recommended_watcher(move |event| {
            let _ = poke_tx.send(Hint::of(event));
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

    async fn run(self: Arc<Self>, mut hints: tokio::sync::mpsc::UnboundedReceiver<Hint>) {
        let settle = Duration::from_secs(self.cfg.ingest.inbox_settle_secs);
        let rescan = Duration::from_secs(self.cfg.ingest.inbox_rescan_secs);
        let mut seen: HashMap<PathBuf, Seen> = HashMap::new();
        let mut writes = Writes::default();
        loop {
            let this = self.clone();
            let previous = std::mem::take(&mut seen);
            let known = std::mem::take(&mut writes);
            let (next, next_writes, waiting) =
                match tokio::task::spawn_blocking(move || this.scan(previous, known, settle)).await
                {
                    Ok(result) => result,
                    Err(e) => {
                        tracing::error!("inbox scan panicked: {e}");
                        (HashMap::new(), Writes::default(), false)
                    }
                };
            seen = next;
            writes = next_writes;
            // Poll quickly while files are settling; otherwise wait for an event or the rescan.
            let wait = if waiting {
                Duration::from_millis(500)
            } else {
                rescan
            };
            let deadline = tokio::time::Instant::now() + wait;
            // Wait for a hint that calls for a scan: a closed or renamed-in file at once; other
            // changes (removals, new folders, a lost event queue) after a short pause that
            // coalesces bursts. Writes in progress only update what is known.
            loop {
                let hint = tokio::select! {
                    hint = hints.recv() => hint,
                    _ = tokio::time::sleep_until(deadline) => break,
                };
                let Some(hint) = hint else { return };
                let mut wake = writes.note(&self.root, hint);
                // Whatever else is already queued comes into the same scan.
                while let Ok(hint) = hints.try_recv() {
                    wake = wake.max(writes.note(&self.root, hint));
                }
                match wake {
                    Wake::Now => break,
                    Wake::Soon => {
                        // Gather the burst, but a file closed meanwhile is not kept waiting
                        // (our own removal of an imported file must not delay the next one).
                        let pause = tokio::time::Instant::now() + Duration::from_millis(200);
                        loop {
                            let hint = tokio::select! {
                                hint = hints.recv() => hint,
                                _ = tokio::time::sleep_until(pause) => break,
                            };
                            let Some(hint) = hint else { return };
                            if writes.note(&self.root, hint) == Wake::Now {
                                break;
                            }
                        }
                        break;
                    }
                    Wake::No => {}
                }
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
        mut writes: Writes,
        settle: Duration,
    ) -> (HashMap<PathBuf, Seen>, Writes, bool) {
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
                // Still open for writing: its close will wake the loop. Closed by its writer or
                // renamed in: complete now. Otherwise (no events for it): once it settles.
                if writes.open.contains(&path) {
                    now_seen.insert(path, current);
                    continue;
                }
                if !writes.is_closed(&self.root, &path) && current.stable_since.elapsed() < settle {
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
                writes.closed.remove(&path);
                if let Err(e) = self.ingest.submit(job) {
                    tracing::error!("queueing {}: {e}", path.display());
                }
            }
        }
        // Forget files and folders that are gone (imported, renamed away, deleted).
        writes.open.retain(|p| p.exists());
        writes.closed.retain(|p| p.exists());
        (now_seen, writes, waiting)
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

/// What one watcher event tells the scan loop.
#[derive(Debug)]
enum Hint {
    /// Data written to a file, or a file created: its writer may still hold it open.
    Writing(PathBuf),
    /// A writer closed the file, or it (or a folder holding it) was renamed into the inbox.
    Closed(PathBuf),
    /// Anything else that may change what a scan finds (removals, new folders, attributes).
    Changed,
    /// Events were lost (queue overflow, watcher error): what is known about writers is not.
    Lost,
    /// Opens and reads: nothing to do.
    Nothing,
}

impl Hint {
    fn of(event: notify::Result<notify::Event>) -> Self {
        use notify::event::{
            AccessKind, AccessMode, CreateKind, EventKind, ModifyKind, RenameMode,
        };
        let Ok(event) = event else {
            return Hint::Lost;
        };
        if event.need_rescan() {
            return Hint::Lost;
        }
        let path = event.paths.last().cloned();
        match (event.kind, path) {
            (EventKind::Access(AccessKind::Close(AccessMode::Write)), Some(p)) => Hint::Closed(p),
            (EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both)), Some(p)) => {
                Hint::Closed(p)
            }
            (
                EventKind::Modify(ModifyKind::Data(_)) | EventKind::Create(CreateKind::File),
                Some(p),
            ) => Hint::Writing(p),
            (EventKind::Access(_), _) => Hint::Nothing,
            _ => Hint::Changed,
        }
    }
}

/// How soon a hint calls for a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Wake {
    No,
    /// After a short pause that gathers a burst of events into one scan.
    Soon,
    Now,
}

/// What the watcher said about files since they were last scanned.
#[derive(Debug, Default)]
struct Writes {
    /// Files written to and not closed since: their writer still holds them open.
    open: HashSet<PathBuf>,
    /// Files closed by their writer, and files or folders renamed into the inbox: complete.
    closed: HashSet<PathBuf>,
}

impl Writes {
    fn note(&mut self, root: &Path, hint: Hint) -> Wake {
        match hint {
            Hint::Writing(path) => {
                if tracked(root, &path) {
                    self.closed.remove(&path);
                    self.open.insert(path);
                }
                Wake::No
            }
            Hint::Closed(path) => {
                if !tracked(root, &path) {
                    return Wake::No;
                }
                self.open.remove(&path);
                self.closed.insert(path);
                Wake::Now
            }
            Hint::Changed => Wake::Soon,
            Hint::Lost => {
                // A close may have been among the lost events: fall back to the settle timer
                // rather than wait forever.
                self.open.clear();
                Wake::Soon
            }
            Hint::Nothing => Wake::No,
        }
    }

    /// The file, or a folder above it inside the inbox, was closed or renamed in.
    fn is_closed(&self, root: &Path, path: &Path) -> bool {
        path.ancestors()
            .take_while(|a| *a != root && a.starts_with(root))
            .any(|a| self.closed.contains(a))
    }
}

/// Inside the inbox, outside its `failed/` and `done/` folders, not hidden.
fn tracked(root: &Path, path: &Path) -> bool {
    let Ok(rel) = path.strip_prefix(root) else {
        return false;
    };
    let mut parts = rel.components();
    match parts.next() {
        Some(Component::Normal(first)) if first != FAILED && first != DONE => {}
        _ => return false,
    }
    rel.components().all(|c| match c {
        Component::Normal(p) => !p.to_string_lossy().starts_with('.'),
        _ => false,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_file_or_folder_is_complete_until_written_again() {
        let root = Path::new("/inbox");
        let mut writes = Writes::default();
        let song = root.join("Album/song.flac");
        assert_eq!(writes.note(root, Hint::Writing(song.clone())), Wake::No);
        assert!(writes.open.contains(&song));
        assert!(!writes.is_closed(root, &song));
        assert_eq!(writes.note(root, Hint::Closed(song.clone())), Wake::Now);
        assert!(!writes.open.contains(&song) && writes.is_closed(root, &song));
        writes.note(root, Hint::Writing(song.clone()));
        assert!(!writes.is_closed(root, &song), "written again: open again");

        // A folder renamed in makes everything inside it complete, but not the inbox itself.
        writes.note(root, Hint::Closed(root.join("Moved")));
        assert!(writes.is_closed(root, &root.join("Moved/Disc 1/a.mp3")));
        assert!(!writes.is_closed(root, &root.join("Other/a.mp3")));
    }

    #[test]
    fn failed_done_and_hidden_files_are_not_tracked_and_lost_events_forget_writers() {
        let root = Path::new("/inbox");
        let mut writes = Writes::default();
        for path in ["failed/x.mp3", "done/x.mp3", ".x.mp3.part", "A/.tmp/x.mp3"] {
            assert_eq!(writes.note(root, Hint::Closed(root.join(path))), Wake::No);
            writes.note(root, Hint::Writing(root.join(path)));
        }
        assert!(writes.open.is_empty() && writes.closed.is_empty());
        assert_eq!(
            writes.note(root, Hint::Closed(Path::new("/elsewhere/x.mp3").into())),
            Wake::No
        );
        writes.note(root, Hint::Writing(root.join("slow.flac")));
        assert_eq!(writes.note(root, Hint::Lost), Wake::Soon);
        assert!(writes.open.is_empty(), "the settle timer takes over");
    }
}
