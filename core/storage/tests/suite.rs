//! One behavioural suite, run against both backends: a temp directory and a real SeaweedFS
//! (signature-verifying S3). `suite!` generates `local::<case>` and `s3::<case>` for each case.
// Test helpers are not `#[test]` functions, which clippy's allow-unwrap-in-tests covers.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chillfi_storage::{BlobStore, ByteRange, StorageConfig, StorageError};
use chillfi_testkit::s3::S3Server;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

const MIB: usize = 1024 * 1024;

enum Guard {
    Local(PathBuf),
    S3(Box<S3Server>),
}

struct Env {
    store: BlobStore,
    guard: Guard,
    /// Scratch space for source files and downloads (outside the local store's root).
    scratch: tempfile::TempDir,
}

impl Env {
    fn s3(&self) -> Option<&S3Server> {
        match &self.guard {
            Guard::S3(s) => Some(s),
            Guard::Local(_) => None,
        }
    }

    fn local_root(&self) -> Option<&Path> {
        match &self.guard {
            Guard::Local(root) => Some(root),
            Guard::S3(_) => None,
        }
    }

    fn file(&self, name: &str, data: &[u8]) -> PathBuf {
        let path = self.scratch.path().join(name);
        std::fs::write(&path, data).unwrap();
        path
    }
}

async fn local_env() -> Env {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path().join("store/blobs");
    let store = BlobStore::open(&StorageConfig::Local { root: root.clone() })
        .await
        .unwrap();
    assert_eq!(store.backend(), "local");
    Env {
        store,
        guard: Guard::Local(root),
        scratch,
    }
}

async fn start_s3() -> S3Server {
    // start() blocks for about a second; its panic (e.g. "run .ci/install-s3.sh") is re-raised.
    match tokio::task::spawn_blocking(S3Server::start).await {
        Ok(server) => server,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

fn s3_config(server: &S3Server, bucket: &str) -> StorageConfig {
    StorageConfig::S3 {
        endpoint: server.endpoint.clone(),
        bucket: bucket.to_string(),
        region: server.region.clone(),
        access_key: server.access_key.clone(),
        secret_key: server.secret_key.clone(),
    }
}

async fn s3_env() -> Env {
    let server = start_s3().await;
    let store = BlobStore::open(&s3_config(&server, "chillfi-test"))
        .await
        .unwrap();
    assert_eq!(store.backend(), "s3");
    Env {
        store,
        guard: Guard::S3(Box::new(server)),
        scratch: tempfile::tempdir().unwrap(),
    }
}

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::local_env().await).await;
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::s3_env().await).await;
                }
            )*
        }
    };
}

suite!(
    round_trip_multi_mb,
    put_bytes_and_empty_object,
    ranges,
    head_reports_size,
    get_missing_is_not_found,
    delete_is_idempotent,
    list_with_prefix,
    list_paginates,
    invalid_keys_rejected,
    put_file_missing_source,
    put_file_is_atomic,
    put_moved_stores_and_takes_the_file,
    overwrite_is_atomic,
    cancelled_put_is_never_partial,
    presigned_get,
    health_ok,
);

/// Deterministic pseudo-random bytes (xorshift), different per seed.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn read_all(store: &BlobStore, key: &str, range: Option<ByteRange>) -> Vec<u8> {
    let mut body = store.get(key, range).await.unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = body.stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(out.len() as u64, body.content_length(), "{key} {range:?}");
    out
}

// ---------------------------------------------------------------------------------------------

async fn round_trip_multi_mb(env: Env) {
    // 12 MiB + a bit: a two-part multipart upload on S3 (8 MiB parts).
    let content = data(12 * MIB + 12_345, 1);
    let src = env.file("big.flac", &content);
    let key = "tracks/ab/abcdef.flac";
    env.store.put_file(key, &src, "audio/flac").await.unwrap();

    assert_eq!(
        env.store.head(key).await.unwrap(),
        Some(content.len() as u64)
    );
    let body = env.store.get(key, None).await.unwrap();
    assert_eq!(body.total_size, content.len() as u64);
    assert_eq!(
        (body.start, body.end_inclusive),
        (0, content.len() as u64 - 1)
    );
    assert!(!body.is_partial());
    drop(body);
    let got = read_all(&env.store, key, None).await;
    assert_eq!(sha(&got), sha(&content));

    let dst = env.scratch.path().join("downloads/copy.flac");
    std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
    env.store.get_to_file(key, &dst).await.unwrap();
    assert_eq!(sha(&std::fs::read(&dst).unwrap()), sha(&content));
    // No temp file left next to the download.
    let names: Vec<_> = std::fs::read_dir(dst.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["copy.flac"]);

    // get_to_file of a missing key: NotFound, and dst is untouched.
    let missing = env.store.get_to_file("tracks/none.flac", &dst).await;
    assert!(
        matches!(missing, Err(StorageError::NotFound(_))),
        "{missing:?}"
    );
    assert_eq!(std::fs::metadata(&dst).unwrap().len(), content.len() as u64);

    assert_eq!(env.store.list("").await.unwrap(), vec![key.to_string()]);
}

async fn put_bytes_and_empty_object(env: Env) {
    let content = Bytes::from(data(300_000, 2));
    env.store
        .put_bytes("covers/1.jpg", content.clone(), "image/jpeg")
        .await
        .unwrap();
    let body = env.store.get("covers/1.jpg", None).await.unwrap();
    assert_eq!(body.into_bytes().await.unwrap(), content);

    env.store
        .put_bytes("empty", Bytes::new(), "application/octet-stream")
        .await
        .unwrap();
    assert_eq!(env.store.head("empty").await.unwrap(), Some(0));
    let body = env.store.get("empty", None).await.unwrap();
    assert_eq!((body.total_size, body.content_length()), (0, 0));
    assert!(body.into_bytes().await.unwrap().is_empty());
    let err = env
        .store
        .get("empty", Some(ByteRange::starting_at(0)))
        .await;
    assert!(
        matches!(err, Err(StorageError::RangeNotSatisfiable { size: 0 })),
        "{err:?}"
    );

    // Empty file through put_file too.
    let src = env.file("empty.bin", b"");
    env.store.put_file("empty2", &src, "").await.unwrap();
    assert_eq!(env.store.head("empty2").await.unwrap(), Some(0));

    // Overwrite with other content.
    env.store
        .put_bytes("covers/1.jpg", Bytes::from_static(b"new"), "image/jpeg")
        .await
        .unwrap();
    assert_eq!(read_all(&env.store, "covers/1.jpg", None).await, b"new");
}

async fn ranges(env: Env) {
    let content = data(MIB + 7, 3);
    let size = content.len() as u64;
    let key = "r/file.mp3";
    env.store
        .put_bytes(key, Bytes::from(content.clone()), "audio/mpeg")
        .await
        .unwrap();

    let cases: Vec<(ByteRange, u64, u64)> = vec![
        // first bytes
        (ByteRange::new(0, Some(99)), 0, 99),
        (ByteRange::new(0, Some(0)), 0, 0),
        // middle
        (ByteRange::new(500_000, Some(600_000)), 500_000, 600_000),
        // open-ended
        (ByteRange::starting_at(size - 10), size - 10, size - 1),
        (ByteRange::starting_at(0), 0, size - 1),
        // suffix: the last 1000 bytes, and a suffix longer than the object
        (
            ByteRange::suffix(1000, size).unwrap(),
            size - 1000,
            size - 1,
        ),
        (ByteRange::suffix(size * 2, size).unwrap(), 0, size - 1),
        // end beyond the object is clamped, like HTTP
        (
            ByteRange::new(size - 5, Some(size + 100)),
            size - 5,
            size - 1,
        ),
        // last byte
        (ByteRange::new(size - 1, Some(size - 1)), size - 1, size - 1),
    ];
    for (range, start, end) in cases {
        let body = env.store.get(key, Some(range)).await.unwrap();
        assert_eq!(
            (body.total_size, body.start, body.end_inclusive),
            (size, start, end),
            "{range:?}"
        );
        assert_eq!(body.content_length(), end - start + 1);
        drop(body);
        let got = read_all(&env.store, key, Some(range)).await;
        assert_eq!(
            got,
            &content[start as usize..=end as usize],
            "content of {range:?}"
        );
    }

    for bad in [
        ByteRange::starting_at(size),
        ByteRange::new(size, Some(size + 10)),
        ByteRange::starting_at(size + 1_000_000),
        ByteRange::new(10, Some(5)),
    ] {
        let err = env.store.get(key, Some(bad)).await;
        assert!(
            matches!(err, Err(StorageError::RangeNotSatisfiable { size: s }) if s == size),
            "{bad:?}: {err:?}"
        );
    }
    let err = env
        .store
        .get("r/missing", Some(ByteRange::starting_at(0)))
        .await;
    assert!(matches!(err, Err(StorageError::NotFound(_))), "{err:?}");
}

async fn head_reports_size(env: Env) {
    assert_eq!(env.store.head("h/x").await.unwrap(), None);
    env.store
        .put_bytes(
            "h/x",
            Bytes::from(vec![7u8; 4321]),
            "application/octet-stream",
        )
        .await
        .unwrap();
    assert_eq!(env.store.head("h/x").await.unwrap(), Some(4321));
    // A "directory" (a prefix of other keys) is not an object.
    assert_eq!(env.store.head("h").await.unwrap(), None);
    // Below an object: neither.
    assert_eq!(env.store.head("h/x/y").await.unwrap(), None);
}

async fn get_missing_is_not_found(env: Env) {
    let err = env.store.get("nothing/here", None).await;
    assert!(
        matches!(&err, Err(StorageError::NotFound(k)) if k == "nothing/here"),
        "{err:?}"
    );
    env.store
        .put_bytes("dir/file", Bytes::from_static(b"x"), "text/plain")
        .await
        .unwrap();
    let err = env.store.get("dir", None).await;
    assert!(matches!(err, Err(StorageError::NotFound(_))), "{err:?}");
}

async fn delete_is_idempotent(env: Env) {
    env.store.delete("d/never-existed").await.unwrap();
    env.store
        .put_bytes("d/a/b", Bytes::from_static(b"hello"), "text/plain")
        .await
        .unwrap();
    env.store
        .put_bytes("d/a2", Bytes::from_static(b"other"), "text/plain")
        .await
        .unwrap();
    // Deleting a prefix of other keys deletes nothing.
    env.store.delete("d/a").await.unwrap();
    assert_eq!(env.store.head("d/a/b").await.unwrap(), Some(5));

    env.store.delete("d/a/b").await.unwrap();
    assert_eq!(env.store.head("d/a/b").await.unwrap(), None);
    assert!(matches!(
        env.store.get("d/a/b", None).await,
        Err(StorageError::NotFound(_))
    ));
    env.store.delete("d/a/b").await.unwrap();
    assert_eq!(
        env.store.list("d/").await.unwrap(),
        vec!["d/a2".to_string()]
    );
    if let Some(root) = env.local_root() {
        // Emptied directories are pruned.
        assert!(!root.join("d/a").exists());
        assert!(root.join("d/a2").is_file());
    }
    // And the key can be written again after its directory was pruned.
    env.store
        .put_bytes("d/a/b", Bytes::from_static(b"again"), "text/plain")
        .await
        .unwrap();
    assert_eq!(read_all(&env.store, "d/a/b", None).await, b"again");
}

async fn list_with_prefix(env: Env) {
    let keys = [
        "albums/1/a.flac",
        "albums/1/b.flac",
        "albums/12/c.flac",
        "albums/2/d.flac",
        "albumsx",
        "covers/x.jpg",
    ];
    for key in keys {
        env.store
            .put_bytes(key, Bytes::from(key.as_bytes().to_vec()), "text/plain")
            .await
            .unwrap();
    }
    let list = |prefix: &'static str| {
        let store = env.store.clone();
        async move { store.list(prefix).await.unwrap() }
    };
    assert_eq!(list("").await, keys);
    assert_eq!(
        list("albums/1/").await,
        ["albums/1/a.flac", "albums/1/b.flac"]
    );
    // A plain string prefix, not only whole segments.
    assert_eq!(
        list("albums/1").await,
        ["albums/1/a.flac", "albums/1/b.flac", "albums/12/c.flac"]
    );
    assert_eq!(list("albums").await, keys[..5]);
    assert_eq!(list("albums/").await, keys[..4]);
    assert_eq!(list("covers").await, ["covers/x.jpg"]);
    assert_eq!(list("albums/1/a.flac").await, ["albums/1/a.flac"]);
    assert!(list("nothing/").await.is_empty());
    assert!(list("albums/3").await.is_empty());
    for bad in ["../", "/albums", "albums//", "Albums", "a\0"] {
        let err = env.store.list(bad).await;
        assert!(
            matches!(err, Err(StorageError::InvalidKey(_))),
            "{bad:?}: {err:?}"
        );
    }
}

async fn list_paginates(env: Env) {
    // More than one S3 page (1000 keys).
    let n = 1005;
    let started = Instant::now();
    futures_util::stream::iter(0..n)
        .map(|i| {
            let store = env.store.clone();
            async move {
                store
                    .put_bytes(
                        &format!("many/k{i:04}"),
                        Bytes::from_static(b"x"),
                        "text/plain",
                    )
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    eprintln!(
        "{n} puts on {}: {:?}",
        env.store.backend(),
        started.elapsed()
    );
    let keys = env.store.list("many/").await.unwrap();
    let expected: Vec<String> = (0..n).map(|i| format!("many/k{i:04}")).collect();
    assert_eq!(keys, expected);
}

async fn invalid_keys_rejected(env: Env) {
    let src = env.file("src.bin", b"payload");
    let dst = env.scratch.path().join("out.bin");
    let bad_keys = [
        "../x",
        "a/../../x",
        "..",
        "/abs",
        "/etc/passwd",
        "a//b",
        "a/",
        "",
        "Upper/case",
        "a\0b",
        "a\\b",
        "sp ace",
        "./x",
    ];
    for key in bad_keys {
        let is_invalid =
            |r: Result<(), StorageError>| matches!(r, Err(StorageError::InvalidKey(_)));
        assert!(
            is_invalid(env.store.put_file(key, &src, "x/y").await),
            "put_file {key:?}"
        );
        assert!(
            is_invalid(
                env.store
                    .put_bytes(key, Bytes::from_static(b"x"), "x/y")
                    .await
            ),
            "put_bytes {key:?}"
        );
        assert!(
            is_invalid(env.store.head(key).await.map(drop)),
            "head {key:?}"
        );
        assert!(is_invalid(env.store.delete(key).await), "delete {key:?}");
        assert!(
            is_invalid(env.store.get(key, None).await.map(drop)),
            "get {key:?}"
        );
        assert!(
            is_invalid(env.store.get_to_file(key, &dst).await),
            "get_to_file {key:?}"
        );
        assert!(
            is_invalid(
                env.store
                    .presigned_get(key, Duration::from_secs(60))
                    .await
                    .map(drop)
            ),
            "presigned_get {key:?}"
        );
    }
    let long = "k".repeat(513);
    assert!(matches!(
        env.store.put_bytes(&long, Bytes::new(), "").await,
        Err(StorageError::InvalidKey(_))
    ));
    assert!(matches!(
        env.store
            .put_bytes(&"k".repeat(256), Bytes::new(), "")
            .await,
        Err(StorageError::InvalidKey(_))
    ));
    // The longest key: 512 bytes, segments of at most 255.
    let max = format!("{}/{}/x", "k".repeat(255), "k".repeat(254));
    assert_eq!(max.len(), chillfi_storage::MAX_KEY_LEN);
    env.store
        .put_bytes(&max, Bytes::from_static(b"m"), "")
        .await
        .unwrap();
    assert_eq!(env.store.head(&max).await.unwrap(), Some(1));
    env.store.delete(&max).await.unwrap();
    // Nothing was written anywhere.
    assert!(env.store.list("").await.unwrap().is_empty());
    assert!(!dst.exists());
    if let Some(root) = env.local_root() {
        assert!(!root.parent().unwrap().join("x").exists());
        assert!(!root.join("..").join("x").exists());
    }
}

async fn put_file_missing_source(env: Env) {
    let missing = env.scratch.path().join("does-not-exist.flac");
    let err = env.store.put_file("t/x.flac", &missing, "audio/flac").await;
    match err {
        Err(StorageError::Io(e)) => {
            assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
            assert!(e.to_string().contains("does-not-exist.flac"), "{e}");
        }
        other => panic!("expected Io(NotFound), got {other:?}"),
    }
    let dir_src = env.scratch.path().to_path_buf();
    assert!(
        env.store
            .put_file("t/x.flac", &dir_src, "audio/flac")
            .await
            .is_err()
    );
    assert_eq!(env.store.head("t/x.flac").await.unwrap(), None);
    assert!(env.store.list("").await.unwrap().is_empty());
    assert_no_temp_files(&env);
}

/// Local backend: no `.~tmp-*` file anywhere under the root.
fn assert_no_temp_files(env: &Env) {
    let Some(root) = env.local_root() else {
        return;
    };
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(
                !name.starts_with(".~tmp"),
                "temp file left: {:?}",
                entry.path()
            );
            if entry.file_type().unwrap().is_dir() {
                pending.push(entry.path());
            }
        }
    }
}

/// While a big upload runs, the key is either absent or complete.
async fn put_moved_stores_and_takes_the_file(env: Env) {
    let content = data(3 * MIB + 7, 9);
    let src = env.file("moved.mp3", &content);
    let key = "songs/ab/moved.mp3";
    env.store.put_moved(key, &src, "audio/mpeg").await.unwrap();
    assert_eq!(sha(&read_all(&env.store, key, None).await), sha(&content));
    let Some(root) = env.local_root() else {
        return;
    };
    assert!(!src.exists(), "the local store renames the file into place");
    assert!(root.join(key).is_file());
    // From another filesystem (tmpfs, where there is one) the file is copied instead.
    if let Ok(shm) = tempfile::tempdir_in("/dev/shm") {
        let other = data(MIB + 1, 10);
        let src = shm.path().join("other.mp3");
        std::fs::write(&src, &other).unwrap();
        env.store
            .put_moved("songs/cd/other.mp3", &src, "audio/mpeg")
            .await
            .unwrap();
        let stored = read_all(&env.store, "songs/cd/other.mp3", None).await;
        assert_eq!(sha(&stored), sha(&other));
        assert!(!src.exists(), "the copied source is removed");
    }
    let names: Vec<String> = walk(root);
    assert!(
        names.iter().all(|n| !n.contains(".~tmp-")),
        "temp files left: {names:?}"
    );
}

/// Every file below `dir`, as paths.
fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

async fn put_file_is_atomic(env: Env) {
    let content = data(24 * MIB + 3, 4);
    let size = content.len() as u64;
    let src = env.file("atomic.flac", &content);
    let key = "atomic/track.flac";
    let store = env.store.clone();
    let upload = {
        let src = src.clone();
        tokio::spawn(async move { store.put_file(key, &src, "audio/flac").await })
    };
    let mut polls = 0;
    let mut seen_absent = 0;
    while !upload.is_finished() {
        polls += 1;
        match env.store.head(key).await.unwrap() {
            None => seen_absent += 1,
            Some(s) => assert_eq!(s, size, "partial object visible"),
        }
        let listed = env.store.list("").await.unwrap();
        assert!(
            listed.is_empty() || listed == [key],
            "unexpected keys during upload: {listed:?}"
        );
        if let Ok(body) = env.store.get(key, None).await {
            assert_eq!(body.total_size, size, "partial object readable");
        }
    }
    upload.await.unwrap().unwrap();
    eprintln!("{polls} polls during the upload, {seen_absent} saw no object");
    assert_eq!(env.store.head(key).await.unwrap(), Some(size));
    assert_eq!(sha(&read_all(&env.store, key, None).await), sha(&content));
    assert_no_temp_files(&env);
}

/// Replacing an object: readers see the old or the new content, never a mix.
async fn overwrite_is_atomic(env: Env) {
    let old = data(3 * MIB, 5);
    let new = data(20 * MIB + 1, 6);
    let key = "atomic/replace.flac";
    env.store
        .put_file(key, &env.file("old.flac", &old), "audio/flac")
        .await
        .unwrap();
    let (old_sha, new_sha) = (sha(&old), sha(&new));
    let store = env.store.clone();
    let src = env.file("new.flac", &new);
    let upload = tokio::spawn(async move { store.put_file(key, &src, "audio/flac").await });
    let mut reads = 0;
    while !upload.is_finished() {
        let got = sha(&read_all(&env.store, key, None).await);
        assert!(
            got == old_sha || got == new_sha,
            "read a mix of old and new"
        );
        reads += 1;
    }
    upload.await.unwrap().unwrap();
    eprintln!("{reads} full reads during the overwrite");
    assert_eq!(sha(&read_all(&env.store, key, None).await), new_sha);
    assert_no_temp_files(&env);
}

/// An upload abandoned midway (its future dropped) never leaves a partial object.
async fn cancelled_put_is_never_partial(env: Env) {
    let content = data(24 * MIB, 7);
    let size = content.len() as u64;
    let src = env.file("cancel.flac", &content);
    let key = "cancel/track.flac";
    let res = tokio::time::timeout(
        Duration::from_millis(30),
        env.store.put_file(key, &src, "audio/flac"),
    )
    .await;
    eprintln!("upload finished before the timeout: {}", res.is_ok());
    // Local writes run to completion on a blocking thread (all or nothing); give them time.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let head = env.store.head(key).await.unwrap();
        assert!(
            head.is_none() || head == Some(size),
            "partial object: {head:?}"
        );
        if env.local_root().is_none() || head.is_some() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let listed = env.store.list("").await.unwrap();
    assert!(listed.is_empty() || listed == [key], "{listed:?}");
    assert_no_temp_files(&env);
}

async fn presigned_get(env: Env) {
    let content = data(100_000, 8);
    let key = "p/song.mp3";
    env.store
        .put_bytes(key, Bytes::from(content.clone()), "audio/mpeg")
        .await
        .unwrap();
    let url = env
        .store
        .presigned_get(key, Duration::from_secs(300))
        .await
        .unwrap();
    let Some(server) = env.s3() else {
        assert_eq!(url, None, "local backend has no presigned URLs");
        return;
    };
    let url = url.expect("S3 gives a presigned URL");
    assert!(url.starts_with(&server.endpoint), "{url}");
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let http = reqwest::Client::new();

    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "audio/mpeg");
    assert_eq!(resp.bytes().await.unwrap(), content);

    // Seeking, as a browser's <audio> does.
    let resp = http
        .get(&url)
        .header("Range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 206);
    assert_eq!(resp.headers()["content-range"], "bytes 10-19/100000");
    assert_eq!(resp.bytes().await.unwrap(), &content[10..20]);

    // Tampered signature.
    let sig_at = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let mut tampered = url.clone().into_bytes();
    tampered[sig_at] = if tampered[sig_at] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).unwrap();
    let resp = http.get(&tampered).send().await.unwrap();
    assert_eq!(resp.status(), 403, "tampered signature accepted");

    // The signature covers the key.
    let other = url.replacen("/p/song.mp3?", "/p/other.mp3?", 1);
    assert_ne!(other, url);
    let resp = http.get(&other).send().await.unwrap();
    assert_eq!(resp.status(), 403, "signature reused for another key");

    // Expired.
    let short = env
        .store
        .presigned_get(key, Duration::from_secs(1))
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let resp = http.get(&short).send().await.unwrap();
    assert_eq!(resp.status(), 403, "expired URL accepted");
}

async fn health_ok(env: Env) {
    let health = env.store.health().await;
    assert!(health.ok, "{health:?}");
    assert_eq!(health.backend, env.store.backend());
    let json = serde_json_like(&health);
    assert!(json.contains("\"ok\""), "{json}");

    // Break the store: health says so instead of panicking or hanging.
    let store = env.store.clone();
    match env.guard {
        Guard::Local(root) => {
            std::fs::remove_dir_all(&root).unwrap();
        }
        Guard::S3(server) => drop(server),
    }
    let started = Instant::now();
    let health = store.health().await;
    assert!(!health.ok, "{health:?}");
    assert!(!health.detail.is_empty());
    assert!(started.elapsed() < Duration::from_secs(10));
    eprintln!("unhealthy: {}", health.detail);
}

/// Health is `serde::Serialize`; check it through a tiny serializer-free path: Debug.
fn serde_json_like(h: &chillfi_storage::Health) -> String {
    fn assert_serialize<T: serde::Serialize>(_: &T) {}
    assert_serialize(h);
    format!("{{\"ok\": {}, \"backend\": {:?}}}", h.ok, h.backend)
}

// ---------------------------------------------------------------------------------------------
// Backend-specific

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_wrong_credentials_fail_open_clearly() {
    let server = start_s3().await;
    let good = s3_config(&server, "creds-test");
    BlobStore::open(&good).await.unwrap();

    let StorageConfig::S3 {
        endpoint,
        bucket,
        region,
        access_key,
        secret_key,
    } = good
    else {
        unreachable!()
    };
    let wrong_secret = StorageConfig::S3 {
        endpoint: endpoint.clone(),
        bucket: bucket.clone(),
        region: region.clone(),
        access_key: access_key.clone(),
        secret_key: format!("{secret_key}x"),
    };
    let err = BlobStore::open(&wrong_secret).await.unwrap_err();
    let msg = err.to_string();
    eprintln!("wrong secret: {msg}");
    assert!(matches!(err, StorageError::Backend(_)), "{err:?}");
    assert!(msg.contains("credentials"), "{msg}");
    assert!(msg.contains("creds-test"), "{msg}");
    assert!(
        !msg.contains(&secret_key),
        "secret leaked into the error: {msg}"
    );

    let wrong_key = StorageConfig::S3 {
        endpoint,
        bucket,
        region,
        access_key: "NOPE".into(),
        secret_key,
    };
    let msg = BlobStore::open(&wrong_key).await.unwrap_err().to_string();
    eprintln!("wrong access key: {msg}");
    assert!(msg.contains("credentials"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_bucket_is_created() {
    use minio::s3::types::S3Api;
    let server = start_s3().await;
    let base: minio::s3::http::BaseUrl = server.endpoint.parse().unwrap();
    let client = minio::s3::MinioClientBuilder::new(base)
        .provider(Some(minio::s3::creds::StaticProvider::new(
            &server.access_key,
            &server.secret_key,
            None,
        )))
        .build()
        .unwrap();
    let exists = |bucket: &'static str| {
        let client = client.clone();
        async move {
            client
                .bucket_exists(bucket)
                .unwrap()
                .build()
                .send()
                .await
                .unwrap()
                .exists()
        }
    };
    assert!(!exists("fresh-bucket").await);
    let store = BlobStore::open(&s3_config(&server, "fresh-bucket"))
        .await
        .unwrap();
    assert!(exists("fresh-bucket").await);
    // Opening again (bucket present) works and sees the same data.
    store
        .put_bytes("k", Bytes::from_static(b"v"), "text/plain")
        .await
        .unwrap();
    let again = BlobStore::open(&s3_config(&server, "fresh-bucket"))
        .await
        .unwrap();
    assert_eq!(again.head("k").await.unwrap(), Some(1));
    eprintln!("S3 server startup: {:?}", server.startup);
}

#[tokio::test]
async fn s3_bad_config_is_reported() {
    let port = chillfi_testkit::free_port();
    let cfg = |endpoint: String, bucket: &str| StorageConfig::S3 {
        endpoint,
        bucket: bucket.into(),
        region: String::new(),
        access_key: "a".into(),
        secret_key: "b".into(),
    };
    // Nothing listens there.
    let err = BlobStore::open(&cfg(format!("http://127.0.0.1:{port}"), "bucket"))
        .await
        .unwrap_err();
    eprintln!("unreachable: {err}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    // Invalid bucket names are refused before any request.
    for bucket in ["ab", "Bucket", "a_b"] {
        let err = BlobStore::open(&cfg(format!("http://127.0.0.1:{port}"), bucket))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("bucket name"), "{bucket}: {err}");
    }
    let err = BlobStore::open(&cfg("ftp://host".into(), "bucket"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("endpoint"), "{err}");
    // The secret key never shows in Debug output.
    let dbg = format!("{:?}", cfg("http://x".into(), "bucket"));
    assert!(!dbg.contains("\"b\""), "{dbg}");
}

#[tokio::test]
async fn local_layout_and_open() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("a/b/c");
    let store = BlobStore::open(&StorageConfig::Local { root: root.clone() })
        .await
        .unwrap();
    store
        .put_bytes("x/y.txt", Bytes::from_static(b"hi"), "text/plain")
        .await
        .unwrap();
    assert_eq!(std::fs::read(root.join("x/y.txt")).unwrap(), b"hi");
    // Foreign files that are not valid keys are ignored by list.
    std::fs::write(root.join("x/.~tmp-stale"), b"junk").unwrap();
    std::fs::write(root.join("x/UPPER"), b"junk").unwrap();
    assert_eq!(store.list("").await.unwrap(), ["x/y.txt"]);
    assert_eq!(
        store
            .presigned_get("x/y.txt", Duration::from_secs(5))
            .await
            .unwrap(),
        None
    );

    // A root that cannot be created fails open().
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"").unwrap();
    let err = BlobStore::open(&StorageConfig::Local {
        root: file.join("sub"),
    })
    .await
    .unwrap_err();
    assert!(matches!(err, StorageError::Io(_)), "{err:?}");
    assert!(err.to_string().contains("plain-file"), "{err}");
}

/// A process killed in the middle of a local write leaves its `.~tmp-*` file behind (nothing can
/// remove it then); opening the store again removes every such file, nested ones and directories
/// holding nothing else included, and leaves the blobs alone.
#[tokio::test]
async fn local_open_sweeps_temp_files_left_by_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("blobs");
    let cfg = StorageConfig::Local { root: root.clone() };
    let store = BlobStore::open(&cfg).await.unwrap();
    let kept = data(300_000, 9);
    store
        .put_bytes("songs/ab/cd.flac", Bytes::from(kept.clone()), "audio/flac")
        .await
        .unwrap();
    drop(store);
    // What kills during writes leave: a temp file next to a blob, one in a directory of its own,
    // one at the root.
    std::fs::write(root.join("songs/ab/.~tmp-aBc123"), data(70_000, 10)).unwrap();
    std::fs::create_dir_all(root.join("art/ef")).unwrap();
    std::fs::write(root.join("art/ef/.~tmp-Zz9"), b"half a cover").unwrap();
    std::fs::write(root.join(".~tmp-root"), b"x").unwrap();

    let store = BlobStore::open(&cfg).await.unwrap();
    assert_eq!(store.list("").await.unwrap(), ["songs/ab/cd.flac"]);
    assert_eq!(
        sha(&read_all(&store, "songs/ab/cd.flac", None).await),
        sha(&kept)
    );
    let mut left = Vec::new();
    let mut pending = vec![root.clone()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                pending.push(entry.path());
            }
            left.push(entry.path().strip_prefix(&root).unwrap().to_path_buf());
        }
    }
    left.sort();
    let left: Vec<_> = left
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left,
        ["songs", "songs/ab", "songs/ab/cd.flac"],
        "after reopening"
    );
}

/// An S3 server that went away is an outage (retry later), not a fault of the request: callers
/// keep their work queued on `is_transient()` errors and fail it on the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_outage_is_transient_and_bad_requests_are_not() {
    let server = start_s3().await;
    let store = BlobStore::open(&s3_config(&server, "outage-test"))
        .await
        .unwrap();
    store
        .put_bytes("a/kept.mp3", Bytes::from_static(b"kept"), "audio/mpeg")
        .await
        .unwrap();
    // A request that can never work is not transient.
    let err = store.get("a/missing.mp3", None).await.unwrap_err();
    assert!(matches!(err, StorageError::NotFound(_)), "{err:?}");
    assert!(!err.is_transient());

    drop(server); // kills SeaweedFS: connections are refused from now on
    let scratch = tempfile::tempdir().unwrap();
    let src = scratch.path().join("song.mp3");
    std::fs::write(&src, data(100_000, 11)).unwrap();
    let put = store
        .put_file("a/new.mp3", &src, "audio/mpeg")
        .await
        .unwrap_err();
    assert!(put.is_transient(), "{put:?}");
    assert!(matches!(put, StorageError::Unavailable(_)), "{put:?}");
    assert!(put.to_string().contains("a/new.mp3"), "{put}");
    let head = store.head("a/kept.mp3").await.unwrap_err();
    assert!(head.is_transient(), "{head:?}");
    let bytes = store
        .put_bytes("a/x.png", Bytes::from_static(b"x"), "image/png")
        .await
        .unwrap_err();
    assert!(bytes.is_transient(), "{bytes:?}");
    let health = store.health().await;
    assert!(!health.ok);
}
