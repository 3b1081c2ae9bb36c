//! chillfi-storage: the only crate that talks to object storage.
//!
//! A [`BlobStore`] stores immutable-ish blobs (audio files, transcodes, cover art) under
//! validated keys, either in a local directory or in an S3-compatible bucket (AWS, MinIO,
//! SeaweedFS, Garage, ...). Both backends behave the same:
//!
//! - keys are checked by [`validate_key`] before anything touches the disk or the network;
//! - writes are atomic: a reader sees the old object, the new object or no object, never a
//!   partial one (local: temp file in the same directory + fsync + rename + directory fsync;
//!   S3: single PUT or multipart upload, which only becomes visible when completed);
//! - reads stream, with HTTP-like inclusive byte ranges.
//!
//! Differences that remain: the local backend does not persist content types (S3 does, and
//! serves them on presigned URLs); on the local backend a key cannot be both an object and a
//! "directory" of other keys (`a` and `a/b`), which S3 allows, so keep keys of one kind per
//! prefix. Local cancellation: a dropped `put_*` future still completes on its blocking thread
//! (all or nothing); on S3 the upload is abandoned and nothing becomes visible.

mod local;
mod s3;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

/// Longest accepted key, in bytes.
pub const MAX_KEY_LEN: usize = 512;
/// Longest accepted path segment (between `/`), in bytes: the usual filesystem name limit,
/// which S3 servers backed by a filesystem (SeaweedFS, MinIO) share.
pub const MAX_SEGMENT_LEN: usize = 255;

/// Where blobs live.
#[derive(Clone, PartialEq, Eq)]
pub enum StorageConfig {
    /// A directory on the local filesystem (created when missing).
    Local { root: PathBuf },
    /// An S3-compatible bucket (created when missing).
    S3 {
        /// `http://host:port` or `https://host`; without a scheme, https is used.
        endpoint: String,
        bucket: String,
        /// For example `us-east-1`; an empty string means `us-east-1`.
        region: String,
        access_key: String,
        secret_key: String,
    },
}

impl fmt::Debug for StorageConfig {
    // Hand-written so that the secret key never ends up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageConfig::Local { root } => f.debug_struct("Local").field("root", root).finish(),
            StorageConfig::S3 {
                endpoint,
                bucket,
                region,
                access_key,
                secret_key: _,
            } => f
                .debug_struct("S3")
                .field("endpoint", endpoint)
                .field("bucket", bucket)
                .field("region", region)
                .field("access_key", access_key)
                .field("secret_key", &"<redacted>")
                .finish(),
        }
    }
}

/// Errors of every [`BlobStore`] operation.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The key (or list prefix) is not acceptable; see [`validate_key`].
    #[error("invalid storage key {0}")]
    InvalidKey(String),
    /// No object under this key.
    #[error("object not found: {0}")]
    NotFound(String),
    /// The requested byte range starts beyond the end of the object (or the object is empty).
    #[error("requested range not satisfiable (object size {size})")]
    RangeNotSatisfiable { size: u64 },
    /// Local filesystem error (also: reading the source of `put_file`, writing `get_to_file`).
    #[error("storage I/O error: {0}")]
    Io(#[from] io::Error),
    /// The object store refused or failed the request; the text says why.
    #[error("object storage error: {0}")]
    Backend(String),
    /// The object store could not be reached or asked to be retried later (connection refused
    /// or reset, no answer in time, HTTP 5xx, throttling): the same request may work later.
    #[error("object storage unavailable: {0}")]
    Unavailable(String),
}

impl StorageError {
    /// Whether the same operation may succeed later: an outage or overload of the storage, not
    /// a fault of the request or of the data. Callers retry these with backoff.
    pub fn is_transient(&self) -> bool {
        match self {
            StorageError::Unavailable(_) => true,
            StorageError::Io(e) => matches!(
                e.kind(),
                io::ErrorKind::TimedOut
                    | io::ErrorKind::ConnectionRefused
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::NotConnected
                    | io::ErrorKind::BrokenPipe
            ),
            _ => false,
        }
    }
}

/// An inclusive byte range, like HTTP's `Range: bytes=start-end`; `end: None` means "to the end".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: Option<u64>,
}

impl ByteRange {
    /// `bytes=start-end` (inclusive).
    pub fn new(start: u64, end: Option<u64>) -> Self {
        ByteRange { start, end }
    }

    /// `bytes=start-` (open-ended).
    pub fn starting_at(start: u64) -> Self {
        ByteRange { start, end: None }
    }

    /// `bytes=-len` (the last `len` bytes) of an object of `total_size` bytes.
    /// `None` when that is unsatisfiable (`len == 0` or an empty object), as in HTTP.
    pub fn suffix(len: u64, total_size: u64) -> Option<Self> {
        if len == 0 || total_size == 0 {
            return None;
        }
        Some(ByteRange {
            start: total_size.saturating_sub(len),
            end: None,
        })
    }

    /// The concrete `(start, end_inclusive)` within an object of `total_size` bytes.
    /// An `end` beyond the object is clamped (as HTTP does); a `start` beyond it, an empty object
    /// or `end < start` is [`StorageError::RangeNotSatisfiable`].
    pub fn resolve(&self, total_size: u64) -> Result<(u64, u64), StorageError> {
        let last = match total_size.checked_sub(1) {
            Some(last) if self.start <= last => last,
            _ => return Err(StorageError::RangeNotSatisfiable { size: total_size }),
        };
        let end = match self.end {
            Some(end) if end < self.start => {
                return Err(StorageError::RangeNotSatisfiable { size: total_size });
            }
            Some(end) => end.min(last),
            None => last,
        };
        Ok((self.start, end))
    }
}

/// A streamed object body, or a part of it.
pub struct BlobBody {
    /// Size of the whole object.
    pub total_size: u64,
    /// First byte of this body within the object.
    pub start: u64,
    /// Last byte (inclusive) of this body within the object; 0 for an empty object.
    pub end_inclusive: u64,
    pub stream: Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>,
}

impl BlobBody {
    /// Number of bytes the stream yields.
    pub fn content_length(&self) -> u64 {
        if self.total_size == 0 {
            0
        } else {
            self.end_inclusive - self.start + 1
        }
    }

    /// Whether this is a part of the object rather than all of it (HTTP 206 vs 200).
    pub fn is_partial(&self) -> bool {
        self.content_length() != self.total_size
    }

    /// Collects the whole body in memory. Only for small objects (cover art, metadata).
    pub async fn into_bytes(mut self) -> io::Result<Bytes> {
        let mut buf = BytesMut::with_capacity(usize::try_from(self.content_length()).unwrap_or(0));
        while let Some(chunk) = self.stream.next().await {
            buf.extend_from_slice(&chunk?);
        }
        Ok(buf.freeze())
    }
}

impl fmt::Debug for BlobBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobBody")
            .field("total_size", &self.total_size)
            .field("start", &self.start)
            .field("end_inclusive", &self.end_inclusive)
            .finish_non_exhaustive()
    }
}

/// Result of [`BlobStore::health`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct Health {
    pub backend: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// Checks a key: 1 to [`MAX_KEY_LEN`] bytes of `[a-z0-9._/-]`, no leading `/`, no empty,
/// `.` or `..` segment, segments of at most [`MAX_SEGMENT_LEN`] bytes. Every [`BlobStore`] method calls this before doing anything, so a key
/// can never address anything outside the store (local backend) or alias another key.
pub fn validate_key(key: &str) -> Result<(), StorageError> {
    check_key(key, false)
}

/// The one key check. A list prefix follows the same rules, except that it may be empty and
/// may end with `/`.
fn check_key(key: &str, is_prefix: bool) -> Result<(), StorageError> {
    let invalid = |why: &str| Err(StorageError::InvalidKey(format!("{key:?}: {why}")));
    if key.is_empty() {
        return if is_prefix { Ok(()) } else { invalid("empty") };
    }
    if key.len() > MAX_KEY_LEN {
        return invalid(&format!("longer than {MAX_KEY_LEN} bytes"));
    }
    if let Some(b) = key
        .bytes()
        .find(|b| !matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'/' | b'-'))
    {
        return invalid(&format!(
            "byte 0x{b:02x} not allowed (only a-z 0-9 . _ / -)"
        ));
    }
    if key.starts_with('/') {
        return invalid("leading '/'");
    }
    let body = match key.strip_suffix('/') {
        Some(body) if is_prefix => body,
        _ => key,
    };
    for segment in body.split('/') {
        match segment {
            "" => return invalid("empty path segment"),
            "." | ".." => return invalid("'.' or '..' path segment"),
            s if s.len() > MAX_SEGMENT_LEN => {
                return invalid(&format!("path segment longer than {MAX_SEGMENT_LEN} bytes"));
            }
            _ => {}
        }
    }
    Ok(())
}

enum Backend {
    Local(local::LocalStore),
    S3(s3::S3Store),
}

/// Handle to the configured blob storage. Cheap to clone.
#[derive(Clone)]
pub struct BlobStore {
    inner: Arc<Backend>,
}

impl fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.inner {
            Backend::Local(l) => f
                .debug_struct("BlobStore")
                .field("local", &l.root())
                .finish(),
            Backend::S3(s) => f
                .debug_struct("BlobStore")
                .field("s3", &s.describe())
                .finish(),
        }
    }
}

impl BlobStore {
    /// Opens the store and checks that it is usable: the local directory is created and a probe
    /// file written; the S3 bucket is created when missing and listed (so wrong credentials
    /// fail here, with a message saying so).
    pub async fn open(cfg: &StorageConfig) -> Result<Self, StorageError> {
        let backend = match cfg {
            StorageConfig::Local { root } => Backend::Local(local::LocalStore::open(root).await?),
            StorageConfig::S3 {
                endpoint,
                bucket,
                region,
                access_key,
                secret_key,
            } => Backend::S3(
                s3::S3Store::open(endpoint, bucket, region, access_key, secret_key).await?,
            ),
        };
        Ok(BlobStore {
            inner: Arc::new(backend),
        })
    }

    /// `"local"` or `"s3"`.
    pub fn backend(&self) -> &'static str {
        match &*self.inner {
            Backend::Local(_) => "local",
            Backend::S3(_) => "s3",
        }
    }

    /// Counts failed operations by backend (`chillfi_storage_errors_total`, for `/metrics`);
    /// an absent object or range is an answer, not an error.
    fn counted<T>(&self, op: &'static str, r: Result<T, StorageError>) -> Result<T, StorageError> {
        if let Err(e) = &r
            && !matches!(
                e,
                StorageError::NotFound(_) | StorageError::RangeNotSatisfiable { .. }
            )
        {
            metrics::counter!("chillfi_storage_errors_total", "backend" => self.backend(), "op" => op)
                .increment(1);
        }
        r
    }

    /// Stores the file at `path` under `key`, streaming it (S3: multipart upload for big files,
    /// one part in memory at a time). Atomic: the key shows the old object until the new one is
    /// complete.
    pub async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<(), StorageError> {
        validate_key(key)?;
        let r = match &*self.inner {
            Backend::Local(l) => l.put_file(key, path).await,
            Backend::S3(s) => s.put_file(key, path, content_type).await,
        };
        self.counted("put", r)
    }

    /// Stores the file at `path` under `key` like [`BlobStore::put_file`], and may take the file
    /// itself: the local backend renames it into place (after an fsync) when it is on the same
    /// filesystem, which saves a copy. The caller must not use `path` afterwards.
    pub async fn put_moved(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<(), StorageError> {
        validate_key(key)?;
        let r = match &*self.inner {
            Backend::Local(l) => l.put_moved(key, path).await,
            Backend::S3(s) => s.put_file(key, path, content_type).await,
        };
        self.counted("put", r)
    }

    /// Stores `data` under `key`. Atomic like [`BlobStore::put_file`].
    pub async fn put_bytes(
        &self,
        key: &str,
        data: Bytes,
        content_type: &str,
    ) -> Result<(), StorageError> {
        validate_key(key)?;
        let r = match &*self.inner {
            Backend::Local(l) => l.put_bytes(key, data).await,
            Backend::S3(s) => s.put_bytes(key, data, content_type).await,
        };
        self.counted("put", r)
    }

    /// Size of the object, or `None` when there is none.
    pub async fn head(&self, key: &str) -> Result<Option<u64>, StorageError> {
        validate_key(key)?;
        let r = match &*self.inner {
            Backend::Local(l) => l.head(key).await,
            Backend::S3(s) => s.head(key).await,
        };
        self.counted("head", r)
    }

    /// Deletes the object; deleting a missing object is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        validate_key(key)?;
        let r = match &*self.inner {
            Backend::Local(l) => l.delete(key).await,
            Backend::S3(s) => s.delete(key).await,
        };
        self.counted("delete", r)
    }

    /// All keys starting with `prefix` (a plain string prefix, not only whole segments; `""`
    /// lists everything), sorted. Objects whose names are not valid keys (put there by other
    /// tools) are left out: every listed key works with the other methods.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        check_key(prefix, true)?;
        let listed = match &*self.inner {
            Backend::Local(l) => l.list(prefix).await,
            Backend::S3(s) => s.list(prefix).await,
        };
        let mut keys = self.counted("list", listed)?;
        keys.retain(|k| validate_key(k).is_ok());
        keys.sort_unstable();
        keys.dedup();
        Ok(keys)
    }

    /// Streams the object, or the inclusive `range` of it.
    /// Missing object: [`StorageError::NotFound`]; range starting past the end:
    /// [`StorageError::RangeNotSatisfiable`].
    pub async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<BlobBody, StorageError> {
        validate_key(key)?;
        let r = match &*self.inner {
            Backend::Local(l) => l.get(key, range).await,
            Backend::S3(s) => s.get(key, range).await,
        };
        self.counted("get", r)
    }

    /// Downloads the object to `dst` (atomically: temp file next to `dst`, fsync, rename).
    pub async fn get_to_file(&self, key: &str, dst: &Path) -> Result<(), StorageError> {
        let body = self.get(key, None).await?;
        local::stream_to_file_atomic(body, dst).await
    }

    /// S3: a presigned GET URL valid for `expires` (1 s to 7 days; clamped). It honours the
    /// `Range` header, so a browser can seek. The URL is computed locally: it is not checked that
    /// the object exists. Local backend: `Ok(None)`; serve the bytes from [`BlobStore::get`].
    pub async fn presigned_get(
        &self,
        key: &str,
        expires: Duration,
    ) -> Result<Option<String>, StorageError> {
        validate_key(key)?;
        match &*self.inner {
            Backend::Local(_) => Ok(None),
            Backend::S3(s) => s.presigned_get(key, expires).await.map(Some),
        }
    }

    /// Whether the store is reachable and usable right now.
    pub async fn health(&self) -> Health {
        let (ok, detail) = match &*self.inner {
            Backend::Local(l) => l.health().await,
            Backend::S3(s) => s.health().await,
        };
        Health {
            backend: self.backend(),
            ok,
            detail,
        }
    }
}

/// Turns an async reader into a stream of chunks that yields exactly `len` bytes, or an
/// `UnexpectedEof` error if the reader ends early.
pub(crate) fn reader_stream<R>(
    reader: R,
    len: u64,
    chunk: usize,
) -> Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    use tokio::io::AsyncReadExt;
    Box::pin(futures_util::stream::try_unfold(
        (reader, len),
        move |(mut reader, remaining)| async move {
            if remaining == 0 {
                return Ok(None);
            }
            let want = usize::try_from(remaining).unwrap_or(chunk).min(chunk);
            let mut buf = BytesMut::with_capacity(want);
            while buf.len() < want {
                let n = (&mut reader)
                    .take((want - buf.len()) as u64)
                    .read_buf(&mut buf)
                    .await?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("object ended {remaining} bytes early"),
                    ));
                }
            }
            let got = buf.len() as u64;
            Ok(Some((buf.freeze(), (reader, remaining - got))))
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        for ok in [
            "a",
            "tracks/ab/cd/abcdef0123.flac",
            "covers/x_y-z.jpg",
            ".hidden",
            "a/..b/c..",
            &"k".repeat(MAX_SEGMENT_LEN),
            &format!("{}/{}/x", "k".repeat(255), "k".repeat(254)),
        ] {
            assert!(validate_key(ok).is_ok(), "{ok:?} should be valid");
        }
        for bad in [
            "",
            "../x",
            "a/../x",
            "a/..",
            "..",
            ".",
            "a/./b",
            "/abs",
            "a//b",
            "a/",
            "Upper",
            "a\0b",
            "a b",
            "a\\b",
            "é",
            "a?b",
            "a%2e",
            &"k".repeat(MAX_SEGMENT_LEN + 1),
            &format!("{}/{}/xy", "k".repeat(255), "k".repeat(254)),
        ] {
            assert!(
                matches!(validate_key(bad), Err(StorageError::InvalidKey(_))),
                "{bad:?} should be invalid"
            );
        }
    }

    #[test]
    fn prefixes() {
        for ok in ["", "a", "a/", "a/b", "a/b/", "a/b-"] {
            assert!(
                check_key(ok, true).is_ok(),
                "{ok:?} should be a valid prefix"
            );
        }
        for bad in ["/", "../", "a//", "a/../", "A/", "./"] {
            assert!(check_key(bad, true).is_err(), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn ranges() {
        let r = |s, e| ByteRange::new(s, e);
        assert_eq!(r(0, Some(9)).resolve(100).ok(), Some((0, 9)));
        assert_eq!(r(10, None).resolve(100).ok(), Some((10, 99)));
        assert_eq!(r(10, Some(1000)).resolve(100).ok(), Some((10, 99)));
        assert_eq!(r(99, Some(99)).resolve(100).ok(), Some((99, 99)));
        assert!(matches!(
            r(100, None).resolve(100),
            Err(StorageError::RangeNotSatisfiable { size: 100 })
        ));
        assert!(r(5, Some(4)).resolve(100).is_err());
        assert!(r(0, None).resolve(0).is_err());
        assert_eq!(ByteRange::suffix(10, 100), Some(ByteRange::starting_at(90)));
        assert_eq!(
            ByteRange::suffix(1000, 100),
            Some(ByteRange::starting_at(0))
        );
        assert_eq!(ByteRange::suffix(0, 100), None);
    }
}
