//! The sled database: one `Db` handle, typed JSON records in named trees.
//! Invariant: no secret (JWT key, plain password, plain reset token) is ever written here.

use std::io::Write;
use std::path::Path;

use serde::{Serialize, de::DeserializeOwned};

use crate::error::{AppError, AppResult};

#[derive(Clone)]
pub struct Db {
    inner: sled::Db,
}

impl Db {
    /// Opens the database; one that another process holds (a running server) is refused with a
    /// sentence saying so.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        Self::open_within(dir, std::time::Duration::ZERO)
    }

    /// Opens a database this process has just closed. sled lets go of its file lock from its
    /// background threads a moment after the last handle is dropped, so an immediate reopen can
    /// find it still held by ourselves: wait for that, briefly.
    pub fn reopen(dir: &Path) -> anyhow::Result<Self> {
        Self::open_within(dir, std::time::Duration::from_secs(5))
    }

    fn open_within(dir: &Path, patience: std::time::Duration) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        // Only the service account reads the database, whatever the umask.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        let started = std::time::Instant::now();
        loop {
            let opened = sled::Config::new()
                .path(dir)
                .mode(sled::Mode::HighThroughput)
                // sled caches up to 1 GiB by default; the song index lives in memory anyway.
                .cache_capacity(32 * 1024 * 1024)
                .open();
            match opened {
                Ok(inner) => return Ok(Self { inner }),
                Err(e) if is_locked(&e) && started.elapsed() < patience => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) if is_locked(&e) => {
                    anyhow::bail!(
                        "the database in {} is in use by a running chillfi server; \
                         stop it or use the admin screen",
                        dir.display()
                    )
                }
                Err(e) => anyhow::bail!("opening the database in {}: {e}", dir.display()),
            }
        }
    }

    /// Writes every tree (its name, then its entries) to `out`: the metadata part of a backup.
    /// Each tree is read in one pass; returns the number of entries per tree.
    pub fn dump(&self, out: &mut impl Write) -> AppResult<Vec<(String, u64)>> {
        let mut counts = Vec::new();
        for name in self.inner.tree_names() {
            let tree = self.inner.open_tree(&name)?;
            write_chunk(out, 1, &name)?;
            let mut n = 0;
            for entry in tree.iter() {
                let (k, v) = entry?;
                write_chunk(out, 2, &k)?;
                write_chunk(out, 3, &v)?;
                n += 1;
            }
            counts.push((String::from_utf8_lossy(&name).into_owned(), n));
        }
        Ok(counts)
    }

    /// Loads what [`Db::dump`] wrote into this (new, empty) database.
    pub fn load(&self, input: &mut impl std::io::Read) -> AppResult<()> {
        let corrupt = || AppError::invalid("the backup's metadata is damaged");
        let mut tree: Option<sled::Tree> = None;
        let mut key: Option<Vec<u8>> = None;
        while let Some((kind, bytes)) = read_chunk(input)? {
            match (kind, tree.as_ref(), key.take()) {
                (1, _, None) => tree = Some(self.inner.open_tree(bytes)?),
                (2, Some(_), None) => key = Some(bytes),
                (3, Some(t), Some(k)) => {
                    t.insert(k, bytes)?;
                }
                _ => return Err(corrupt()),
            }
        }
        if key.is_some() {
            return Err(corrupt());
        }
        self.inner.flush()?;
        Ok(())
    }

    pub fn tree(&self, name: &str) -> AppResult<sled::Tree> {
        Ok(self.inner.open_tree(name)?)
    }

    pub async fn flush(&self) -> AppResult<()> {
        self.inner.flush_async().await?;
        Ok(())
    }

    pub fn flush_blocking(&self) -> AppResult<()> {
        self.inner.flush()?;
        Ok(())
    }
}

/// Bytes of the files directly in `dir` (a sled database's log and snapshots); 0 if unreadable.
fn write_chunk(out: &mut impl Write, kind: u8, bytes: &[u8]) -> AppResult<()> {
    let len = u32::try_from(bytes.len()).map_err(AppError::internal)?;
    out.write_all(&[kind])
        .and_then(|_| out.write_all(&len.to_le_bytes()))
        .and_then(|_| out.write_all(bytes))
        .map_err(|e| AppError::internal(format!("writing the backup: {e}")))
}

fn read_chunk(input: &mut impl std::io::Read) -> AppResult<Option<(u8, Vec<u8>)>> {
    let mut head = [0u8; 5];
    match input.read_exact(&mut head) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(AppError::internal(format!("reading the backup: {e}"))),
    }
    let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
    // No record comes near this; a damaged length must not allocate gigabytes.
    if len > 256 << 20 {
        return Err(AppError::invalid("the backup's metadata is damaged"));
    }
    let mut bytes = vec![0; len];
    input
        .read_exact(&mut bytes)
        .map_err(|_| AppError::invalid("the backup's metadata is cut short"))?;
    Ok(Some((head[0], bytes)))
}

pub fn size_on_disk(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

pub fn encode<T: Serialize>(value: &T) -> AppResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| AppError::internal(format!("encoding a record: {e}")))
}

/// Hands memory that was freed but kept by the allocator back to the OS (glibc keeps freed small
/// blocks for reuse, so a large short-lived structure would otherwise stay in RSS for good).
#[allow(unsafe_code)]
pub fn release_freed_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks the allocator's own free lists under its locks; it is
    // thread-safe and has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> AppResult<T> {
    serde_json::from_slice(bytes).map_err(|e| AppError::internal(format!("decoding a record: {e}")))
}

pub fn get<T: DeserializeOwned>(tree: &sled::Tree, key: impl AsRef<[u8]>) -> AppResult<Option<T>> {
    tree.get(key)?.map(|v| decode(&v)).transpose()
}

pub fn put<T: Serialize>(tree: &sled::Tree, key: impl AsRef<[u8]>, value: &T) -> AppResult<()> {
    tree.insert(key.as_ref(), encode(value)?)?;
    Ok(())
}

/// A random identifier: 80 bits, lowercase hex. Unguessable enough for record ids, which are
/// never the only protection of anything.
pub fn new_id() -> String {
    let bytes: [u8; 10] = rand::random();
    hex::encode(bytes)
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// sled reports a lock held elsewhere as an I/O error of kind `WouldBlock`, or (its own lock
/// file check) as an `Other` error naming the lock.
fn is_locked(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock
        || io.to_string().contains("could not acquire lock"))
}

/// Loads a secret kept in a file of the data dir (the JWT signing key, the app-password key),
/// creating it (64 bytes from the OS CSPRNG, mode 0600) on first start.
pub fn load_or_create_secret(path: &Path) -> anyhow::Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) if bytes.len() >= 32 => return Ok(bytes),
        Ok(_) => anyhow::bail!("{} is too short to be a signing secret", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => anyhow::bail!("reading {}: {e}", path.display()),
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut secret = vec![0u8; 64];
    rand::fill(&mut secret[..]);
    let tmp = path.with_extension("tmp");
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(&secret)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(secret)
}
