//! Local directory backend. Key `a/b/c` is the file `<root>/a/b/c`.
//!
//! Writes go to a temp file in the destination directory (named `.~tmp-*`: `~` is not allowed in
//! keys, so temp files are never listed nor addressable), which is fsynced, renamed over the final
//! name, and the directory fsynced. A failed or abandoned write removes its temp file; a process
//! killed mid-write leaves it behind, so [`LocalStore::open`] sweeps leftover temp files (only one
//! process may use a store directory at a time).

use std::fs::{self, File};
use std::io::{self, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::StreamExt;
use tempfile::NamedTempFile;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use crate::{BlobBody, ByteRange, StorageError, check_key, reader_stream};

const TMP_PREFIX: &str = ".~tmp-";
const READ_CHUNK: usize = 256 * 1024;

pub(crate) struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    pub(crate) async fn open(root: &Path) -> Result<Self, StorageError> {
        let root = root.to_path_buf();
        let root = blocking(move || {
            fs::create_dir_all(&root)
                .map_err(|e| with_path(e, "creating storage directory", &root))?;
            let root = fs::canonicalize(&root).map_err(|e| with_path(e, "resolving", &root))?;
            let swept = sweep_temp_files(&root)?;
            if swept > 0 {
                tracing::info!(
                    count = swept,
                    root = %root.display(),
                    "removed temp files left by an interrupted write"
                );
            }
            probe(&root)?;
            Ok(root)
        })
        .await?;
        Ok(LocalStore { root })
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The file of a key. Only ever called with a validated key (no `..`, no leading `/`).
    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    pub(crate) async fn put_file(&self, key: &str, src: &Path) -> Result<(), StorageError> {
        let (root, dst, src) = (self.root.clone(), self.path(key), src.to_path_buf());
        blocking(move || {
            let mut input = File::open(&src).map_err(|e| with_path(e, "opening", &src))?;
            if !input.metadata()?.is_file() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} is not a regular file", src.display()),
                ));
            }
            write_atomic(&root, &dst, |out| {
                io::copy(&mut input, out)
                    .map(drop)
                    .map_err(|e| with_path(e, "copying", &src))
            })
        })
        .await?;
        Ok(())
    }

    pub(crate) async fn put_moved(&self, key: &str, src: &Path) -> Result<(), StorageError> {
        let (root, dst, src) = (self.root.clone(), self.path(key), src.to_path_buf());
        blocking(move || {
            let file = File::open(&src).map_err(|e| with_path(e, "opening", &src))?;
            if !file.metadata()?.is_file() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} is not a regular file", src.display()),
                ));
            }
            // The data is durable before the name appears, as with a copy.
            file.sync_all().map_err(|e| with_path(e, "syncing", &src))?;
            let dir = dst
                .parent()
                .ok_or_else(|| io::Error::other(format!("{} has no parent", dst.display())))?;
            ensure_dir(&root, dir)?;
            match fs::rename(&src, &dst) {
                Ok(()) => sync_dir(dir),
                // Another filesystem: copy (atomically, as put_file does).
                Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
                    let mut input = file;
                    write_atomic(&root, &dst, |out| io::copy(&mut input, out).map(drop))?;
                    let _ = fs::remove_file(&src);
                    Ok(())
                }
                Err(e) => Err(with_path(e, "renaming into", &dst)),
            }
        })
        .await?;
        Ok(())
    }

    pub(crate) async fn put_bytes(&self, key: &str, data: Bytes) -> Result<(), StorageError> {
        let (root, dst) = (self.root.clone(), self.path(key));
        blocking(move || write_atomic(&root, &dst, |out| out.write_all(&data))).await?;
        Ok(())
    }

    pub(crate) async fn head(&self, key: &str) -> Result<Option<u64>, StorageError> {
        let path = self.path(key);
        match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(with_path(e, "reading metadata of", &path).into()),
        }
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let (root, path) = (self.root.clone(), self.path(key));
        blocking(move || {
            match fs::remove_file(&path) {
                Ok(()) => {}
                // A directory under this name means "a/..." keys exist, not this one.
                Err(e) if is_not_found(&e) || e.kind() == io::ErrorKind::IsADirectory => {
                    return Ok(());
                }
                Err(e) => return Err(with_path(e, "deleting", &path)),
            }
            if let Some(dir) = path.parent() {
                sync_dir(dir)?;
                prune_empty_dirs(&root, dir);
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let (root, prefix) = (self.root.clone(), prefix.to_string());
        Ok(blocking(move || list_sync(&root, &prefix)).await?)
    }

    pub(crate) async fn get(
        &self,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<BlobBody, StorageError> {
        let path = self.path(key);
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if is_not_found(&e) => return Err(StorageError::NotFound(key.to_string())),
            Err(e) => return Err(with_path(e, "opening", &path).into()),
        };
        let meta = file.metadata().await?;
        if !meta.is_file() {
            return Err(StorageError::NotFound(key.to_string()));
        }
        let total_size = meta.len();
        let (start, end_inclusive) = match range {
            Some(r) => r.resolve(total_size)?,
            None => (0, total_size.saturating_sub(1)),
        };
        let len = if total_size == 0 {
            0
        } else {
            end_inclusive - start + 1
        };
        if start > 0 {
            file.seek(SeekFrom::Start(start)).await?;
        }
        Ok(BlobBody {
            total_size,
            start,
            end_inclusive,
            stream: reader_stream(file, len, READ_CHUNK),
        })
    }

    pub(crate) async fn health(&self) -> (bool, String) {
        let root = self.root.clone();
        match blocking(move || probe(&root)).await {
            Ok(()) => (
                true,
                format!("directory {} is writable", self.root.display()),
            ),
            Err(e) => (false, e.to_string()),
        }
    }
}

/// Writes `body` to a temp file next to `dst`, fsyncs it and renames it to `dst`.
pub(crate) async fn stream_to_file_atomic(
    mut body: BlobBody,
    dst: &Path,
) -> Result<(), StorageError> {
    let dir = match dst.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = {
        let dir = dir.clone();
        blocking(move || {
            tempfile::Builder::new()
                .prefix(TMP_PREFIX)
                .tempfile_in(&dir)
                .map_err(|e| with_path(e, "creating temp file in", &dir))
        })
        .await?
    };
    // On any early return (or if this future is dropped) `tmp_path` deletes the temp file.
    let (file, tmp_path) = tmp.into_parts();
    let mut file = tokio::fs::File::from_std(file);
    let mut written = 0u64;
    while let Some(chunk) = body.stream.next().await {
        let chunk = chunk?;
        file.write_all(&chunk).await?;
        written += chunk.len() as u64;
    }
    if written != body.content_length() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "download ended after {written} of {} bytes",
                body.content_length()
            ),
        )
        .into());
    }
    file.flush().await?;
    file.sync_all().await?;
    drop(file);
    let dst = dst.to_path_buf();
    blocking(move || {
        tmp_path
            .persist(&dst)
            .map_err(|e| with_path(e.error, "renaming into", &dst))?;
        sync_dir(&dir)
    })
    .await?;
    Ok(())
}

/// Creates `path` atomically with the content written by `fill`.
fn write_atomic(
    root: &Path,
    path: &Path,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other(format!("{} has no parent", path.display())))?;
    let mut tmp = create_temp_in(root, dir)?;
    fill(tmp.as_file_mut())?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| with_path(e, "syncing", tmp.path()))?;
    tmp.persist(path)
        .map_err(|e| with_path(e.error, "renaming into", path))?;
    sync_dir(dir)
}

fn create_temp_in(root: &Path, dir: &Path) -> io::Result<NamedTempFile> {
    let mut attempts = 0;
    loop {
        ensure_dir(root, dir)?;
        match tempfile::Builder::new().prefix(TMP_PREFIX).tempfile_in(dir) {
            Ok(tmp) => return Ok(tmp),
            // A concurrent delete pruned the (then empty) directory: create it again.
            Err(e) if e.kind() == io::ErrorKind::NotFound && attempts < 5 => attempts += 1,
            Err(e) => return Err(with_path(e, "creating temp file in", dir)),
        }
    }
}

/// Creates `dir` and its missing parents below `root`, fsyncing each parent of a new directory.
fn ensure_dir(root: &Path, dir: &Path) -> io::Result<()> {
    if dir == root || dir.is_dir() {
        return Ok(());
    }
    let parent = dir
        .parent()
        .filter(|p| p.starts_with(root))
        .ok_or_else(|| io::Error::other(format!("{} is outside the store", dir.display())))?;
    ensure_dir(root, parent)?;
    match fs::create_dir(dir) {
        Ok(()) => sync_dir(parent),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(with_path(e, "creating directory", dir)),
    }
}

/// Removes now-empty directories from `dir` up to (not including) `root`. Best effort.
fn prune_empty_dirs(root: &Path, dir: &Path) {
    let mut dir = dir;
    while dir != root && dir.starts_with(root) {
        if fs::remove_dir(dir).is_err() {
            break;
        }
        match dir.parent() {
            Some(parent) => dir = parent,
            None => break,
        }
    }
}

fn list_sync(root: &Path, prefix: &str) -> io::Result<Vec<String>> {
    // Start at the deepest directory the prefix names completely.
    let base = prefix.rfind('/').map_or("", |i| &prefix[..i]);
    let mut out = Vec::new();
    let mut pending = vec![(root.join(base), base.to_string())];
    while let Some((dir, rel)) = pending.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if is_not_found(&e) => continue,
            Err(e) => return Err(with_path(e, "listing", &dir)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| with_path(e, "listing", &dir))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let key = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let file_type = entry.file_type()?;
            if file_type.is_dir() {
                if format!("{key}/").starts_with(prefix) && check_key(&key, false).is_ok() {
                    pending.push((entry.path(), key));
                }
            } else if file_type.is_file()
                && key.starts_with(prefix)
                && check_key(&key, false).is_ok()
            {
                out.push(key);
            }
        }
    }
    Ok(out)
}

/// Removes every `.~tmp-*` file under `root` (left by a process killed mid-write) and returns how
/// many there were. Runs before anything else uses the store, so none of them is in use.
fn sweep_temp_files(root: &Path) -> io::Result<usize> {
    let mut removed = 0;
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if is_not_found(&e) => continue,
            Err(e) => return Err(with_path(e, "listing", &dir)),
        };
        let mut removed_here = false;
        for entry in entries {
            let entry = entry.map_err(|e| with_path(e, "listing", &dir))?;
            let file_type = entry.file_type()?;
            if file_type.is_dir() {
                pending.push(entry.path());
            } else if entry
                .file_name()
                .as_encoded_bytes()
                .starts_with(TMP_PREFIX.as_bytes())
            {
                let path = entry.path();
                match fs::remove_file(&path) {
                    Ok(()) => {
                        removed += 1;
                        removed_here = true;
                    }
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => return Err(with_path(e, "removing stale temp file", &path)),
                }
            }
        }
        if removed_here {
            sync_dir(&dir)?;
            prune_empty_dirs(root, &dir);
        }
    }
    Ok(removed)
}

/// Writes and removes a temp file: the directory exists and is writable.
fn probe(root: &Path) -> io::Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .tempfile_in(root)
        .map_err(|e| with_path(e, "cannot write in storage directory", root))?;
    tmp.write_all(b"probe")?;
    Ok(())
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| with_path(e, "syncing directory", dir))
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

fn is_not_found(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

fn with_path(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

async fn blocking<T, F>(f: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> io::Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| io::Error::other(format!("storage task failed: {e}")))?
}
