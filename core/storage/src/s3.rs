//! S3 backend (minio crate). Path-style addressing for non-AWS endpoints (automatic).
//!
//! The minio crate's errors print as "Validation error occurred": [`describe`] digs out the S3
//! error code / the source chain, and the full error is logged with `{:?}`.

use std::io;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use minio::s3::builders::{ObjectContent, Size};
use minio::s3::creds::StaticProvider;
use minio::s3::error::{Error as MinioError, NetworkError, S3ServerError, ValidationErr};
use minio::s3::http::BaseUrl;
use minio::s3::minio_error_response::MinioErrorCode;
use minio::s3::response_traits::HasS3Fields;
use minio::s3::types::{BucketName, Region, S3Api, ToStream};
use minio::s3::{MinioClient, MinioClientBuilder};

use crate::{BlobBody, ByteRange, StorageError, reader_stream};

/// Multipart part size: the most a single upload holds in memory.
const PART_SIZE: u64 = 8 * 1024 * 1024;
/// S3's limit on the number of parts of a multipart upload.
const MAX_PARTS: u64 = 10_000;
const READ_CHUNK: usize = 256 * 1024;
/// The longest validity S3 (SigV4) allows for a presigned URL.
const MAX_PRESIGN: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long a request without a body (stat, delete, list page, bucket check) may take before the
/// storage counts as unavailable: the client has no timeout of its own, so a hanging server
/// would otherwise hang the caller forever.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// An upload may take this long plus one second per MB.
const UPLOAD_TIMEOUT_BASE: Duration = Duration::from_secs(60);

pub(crate) struct S3Store {
    client: MinioClient,
    bucket: BucketName,
    endpoint: String,
}

impl S3Store {
    pub(crate) async fn open(
        endpoint: &str,
        bucket: &str,
        region: &str,
        access_key: &str,
        secret_key: &str,
    ) -> Result<Self, StorageError> {
        let mut base: BaseUrl = endpoint
            .parse()
            .map_err(|e| StorageError::Backend(format!("invalid S3 endpoint {endpoint:?}: {e}")))?;
        let region = if region.is_empty() {
            "us-east-1"
        } else {
            region
        };
        base.region = Region::new(region)
            .map_err(|e| StorageError::Backend(format!("invalid S3 region {region:?}: {e}")))?;
        let bucket = BucketName::new_strict(bucket).map_err(|e| {
            StorageError::Backend(format!("invalid S3 bucket name {bucket:?}: {e}"))
        })?;
        let client = MinioClientBuilder::new(base)
            .provider(Some(StaticProvider::new(access_key, secret_key, None)))
            .build()
            .map_err(|e| backend("creating S3 client", endpoint, e))?;
        let store = S3Store {
            client,
            bucket,
            endpoint: endpoint.to_string(),
        };
        store.ensure_bucket().await?;
        Ok(store)
    }

    pub(crate) fn describe(&self) -> String {
        format!("{} bucket {}", self.endpoint, self.bucket)
    }

    /// Creates the bucket when missing, then lists it: proves the credentials work.
    async fn ensure_bucket(&self) -> Result<(), StorageError> {
        let what = format!(
            "checking bucket {:?} at {}",
            self.bucket.as_str(),
            self.endpoint
        );
        let exists = self
            .client
            .bucket_exists(&self.bucket)
            .map_err(|e| backend(&what, "", e.into()))?
            .build()
            .send()
            .await
            .map_err(|e| self.access_error(&what, e))?
            .exists();
        if !exists {
            let what = format!(
                "creating bucket {:?} at {}",
                self.bucket.as_str(),
                self.endpoint
            );
            tracing::info!(bucket = self.bucket.as_str(), endpoint = %self.endpoint, "creating S3 bucket");
            match self
                .client
                .create_bucket(&self.bucket)
                .map_err(|e| backend(&what, "", e.into()))?
                .build()
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if matches!(s3_code(&e), Some(MinioErrorCode::BucketAlreadyOwnedByYou)) => {}
                Err(e) => return Err(self.access_error(&what, e)),
            }
        }
        let what = format!(
            "listing bucket {:?} at {}",
            self.bucket.as_str(),
            self.endpoint
        );
        let mut pages = self
            .client
            .list_objects(&self.bucket)
            .map_err(|e| backend(&what, "", e.into()))?
            .max_keys(Some(1))
            .build()
            .to_stream()
            .await;
        if let Some(Err(e)) = pages.next().await {
            return Err(self.access_error(&what, e));
        }
        Ok(())
    }

    /// An error of `open`, with a hint when the credentials were refused.
    fn access_error(&self, what: &str, e: MinioError) -> StorageError {
        let refused = match s3_code(&e) {
            Some(MinioErrorCode::AccessDenied) => true,
            Some(MinioErrorCode::OtherError(code)) => matches!(
                code.as_str(),
                "signaturedoesnotmatch" | "invalidaccesskeyid" | "accessdenied"
            ),
            _ => false,
        };
        match backend(what, "", e) {
            StorageError::Backend(msg) if refused => StorageError::Backend(format!(
                "{msg}; the S3 server refused the credentials: check access_key and secret_key"
            )),
            err => err,
        }
    }

    pub(crate) async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<(), StorageError> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("opening {}: {e}", path.display())))?;
        let meta = file.metadata().await?;
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a regular file", path.display()),
            )
            .into());
        }
        let size = meta.len();
        let content = ObjectContent::new_from_stream(reader_stream(file, size, READ_CHUNK), size);
        self.put(key, content, size, content_type).await
    }

    pub(crate) async fn put_bytes(
        &self,
        key: &str,
        data: Bytes,
        content_type: &str,
    ) -> Result<(), StorageError> {
        let size = data.len() as u64;
        self.put(key, ObjectContent::from(data), size, content_type)
            .await
    }

    /// One PUT up to `PART_SIZE`, multipart above (aborted on failure). Either way the object
    /// only appears once complete.
    async fn put(
        &self,
        key: &str,
        content: ObjectContent,
        size: u64,
        content_type: &str,
    ) -> Result<(), StorageError> {
        let part_size = if size == 0 {
            // minio computes 0 parts for a known part size and an empty object, and refuses.
            Size::Unknown
        } else {
            // Grow parts (in whole MiB) only when 10 000 parts of PART_SIZE are not enough.
            let min = size.div_ceil(MAX_PARTS).div_ceil(1 << 20) << 20;
            Size::Known(PART_SIZE.max(min))
        };
        let content_type = if content_type.is_empty() {
            "application/octet-stream"
        } else {
            content_type
        };
        let upload = self
            .client
            .put_object_content(&self.bucket, key, content)
            .map_err(|e| backend("uploading", key, e.into()))?
            .part_size(part_size)
            .content_type(content_type.to_string())
            .build();
        let limit = UPLOAD_TIMEOUT_BASE + Duration::from_secs(size / 1_000_000);
        timed("uploading", key, limit, upload.send())
            .await?
            .map_err(|e| backend("uploading", key, e))?;
        Ok(())
    }

    pub(crate) async fn head(&self, key: &str) -> Result<Option<u64>, StorageError> {
        let request = self
            .client
            .stat_object(&self.bucket, key)
            .map_err(|e| backend("stat", key, e.into()))?
            .build();
        match timed("stat", key, REQUEST_TIMEOUT, request.send()).await? {
            // Not minio's `HasObjectSize::object_size()`: it reads MinIO's own `x-amz-object-size`
            // header, which AWS and SeaweedFS do not send (it then says 0).
            Ok(resp) => resp
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .map(Some)
                .ok_or_else(|| {
                    StorageError::Backend(format!("stat {key}: no Content-Length in the answer"))
                }),
            Err(e) if is_no_such_key(&e) => Ok(None),
            Err(e) => Err(backend("stat", key, e)),
        }
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let request = self
            .client
            .delete_object(&self.bucket, key)
            .map_err(|e| backend("deleting", key, e.into()))?
            .build();
        match timed("deleting", key, REQUEST_TIMEOUT, request.send()).await? {
            Ok(_) => Ok(()),
            Err(e) if is_no_such_key(&e) => Ok(()),
            Err(e) => Err(backend("deleting", key, e)),
        }
    }

    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let mut pages = self
            .client
            .list_objects(&self.bucket)
            .map_err(|e| backend("listing", prefix, e.into()))?
            .prefix(Some(prefix.to_string()))
            .recursive(true)
            .build()
            .to_stream()
            .await;
        let mut keys = Vec::new();
        while let Some(page) = timed("listing", prefix, REQUEST_TIMEOUT, pages.next()).await? {
            let page = page.map_err(|e| backend("listing", prefix, e))?;
            keys.extend(
                page.contents
                    .into_iter()
                    .filter(|entry| !entry.is_prefix && !entry.is_delete_marker)
                    .map(|entry| entry.name),
            );
        }
        Ok(keys)
    }

    pub(crate) async fn get(
        &self,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<BlobBody, StorageError> {
        // With a range, learn the size first so that an unsatisfiable range is reported as
        // such (and a suffix is exact) instead of relying on each server's 416 flavour.
        let (request, expected) = match range {
            None => (None, None),
            Some(r) => {
                let total = self
                    .head(key)
                    .await?
                    .ok_or_else(|| StorageError::NotFound(key.to_string()))?;
                let (start, end) = r.resolve(total)?;
                (Some((start, end)), Some(total))
            }
        };
        let builder = self
            .client
            .get_object(&self.bucket, key)
            .map_err(|e| backend("downloading", key, e.into()))?;
        let get = match request {
            None => builder.build(),
            Some((start, end)) => builder
                .offset(Some(start))
                .length(Some(end - start + 1))
                .build(),
        };
        // Until the headers arrive; the body streams at the reader's pace.
        let response = timed("downloading", key, REQUEST_TIMEOUT, get.send()).await?;
        let response = match response {
            Ok(r) => r,
            Err(e) if is_no_such_key(&e) => return Err(StorageError::NotFound(key.to_string())),
            Err(e) => return Err(backend("downloading", key, e)),
        };
        let (stream, content_length) = response
            .into_boxed_stream()
            .map_err(|e| backend("downloading", key, e))?;
        let (total_size, start, end_inclusive) = match (request, expected) {
            (Some((start, end)), Some(total)) => {
                if content_length != end - start + 1 {
                    // The object was replaced between HEAD and GET.
                    return Err(StorageError::Backend(format!(
                        "downloading {key}: object changed during the request, retry"
                    )));
                }
                (total, start, end)
            }
            _ => (content_length, 0, content_length.saturating_sub(1)),
        };
        Ok(BlobBody {
            total_size,
            start,
            end_inclusive,
            stream,
        })
    }

    pub(crate) async fn presigned_get(
        &self,
        key: &str,
        expires: Duration,
    ) -> Result<String, StorageError> {
        let seconds = expires.clamp(Duration::from_secs(1), MAX_PRESIGN).as_secs();
        let seconds = u32::try_from(seconds).unwrap_or(u32::MAX);
        let resp = self
            .client
            .get_presigned_object_url(&self.bucket, key, http::Method::GET)
            .map_err(|e| backend("presigning", key, e.into()))?
            .expiry_seconds(Some(seconds))
            .build()
            .send()
            .await
            .map_err(|e| backend("presigning", key, e))?;
        Ok(resp.url)
    }

    pub(crate) async fn health(&self) -> (bool, String) {
        let result = match self.client.bucket_exists(&self.bucket) {
            Ok(b) => timed("checking", "", REQUEST_TIMEOUT, b.build().send()).await,
            Err(e) => Ok(Err(e.into())),
        };
        let result = match result {
            Ok(result) => result,
            Err(e) => return (false, format!("{}: {e}", self.describe())),
        };
        match result {
            Ok(r) if r.exists() => (true, format!("{} is reachable", self.describe())),
            Ok(_) => (false, format!("{}: bucket does not exist", self.describe())),
            Err(e) => (
                false,
                backend(&format!("checking {}", self.describe()), "", e).to_string(),
            ),
        }
    }
}

fn s3_code(e: &MinioError) -> Option<MinioErrorCode> {
    match e {
        MinioError::S3Server(S3ServerError::S3Error(resp)) => Some(resp.code()),
        _ => None,
    }
}

fn is_no_such_key(e: &MinioError) -> bool {
    matches!(s3_code(e), Some(MinioErrorCode::NoSuchKey))
}

/// A [`StorageError`] saying what failed and why ([`StorageError::Unavailable`] when retrying
/// may help, see [`is_transient`]); logs the full minio error.
fn backend(what: &str, key: &str, e: MinioError) -> StorageError {
    tracing::warn!(error = ?e, key, "{what} failed");
    let text = format!(
        "{what}{}{}: {}",
        if key.is_empty() { "" } else { " " },
        key,
        describe(&e)
    );
    if is_transient(&e) {
        StorageError::Unavailable(text)
    } else {
        StorageError::Backend(text)
    }
}

/// Runs `request`, or gives up after `limit` with [`StorageError::Unavailable`].
async fn timed<T>(
    what: &str,
    key: &str,
    limit: Duration,
    request: impl Future<Output = T>,
) -> Result<T, StorageError> {
    tokio::time::timeout(limit, request).await.map_err(|_| {
        tracing::warn!(
            key,
            "{what}: no answer from S3 within {} s",
            limit.as_secs()
        );
        StorageError::Unavailable(format!(
            "{what}{}{}: no answer within {} s",
            if key.is_empty() { "" } else { " " },
            key,
            limit.as_secs()
        ))
    })
}

/// Whether the error is an outage or overload rather than a fault of the request: the network
/// (refused, reset, timed out), HTTP 5xx or 429, and the S3 codes that ask for a retry.
fn is_transient(e: &MinioError) -> bool {
    let status_transient = |status: u16| status >= 500 || status == 429;
    match e {
        MinioError::Network(NetworkError::ServerError(status)) => status_transient(*status),
        MinioError::Network(NetworkError::ReqwestError(e)) => !e.is_builder(),
        MinioError::Validation(ValidationErr::HttpError(e)) => !e.is_builder(),
        MinioError::Validation(ValidationErr::IOError(_)) | MinioError::DriveIo(_) => false,
        MinioError::S3Server(S3ServerError::HttpError(status, _)) => status_transient(*status),
        MinioError::S3Server(S3ServerError::InvalidServerResponse {
            http_status_code, ..
        }) => status_transient(*http_status_code),
        MinioError::S3Server(S3ServerError::S3Error(resp)) => match resp.code() {
            MinioErrorCode::OtherError(code) => {
                matches!(
                    code.as_str(),
                    "SlowDown"
                        | "InternalError"
                        | "ServiceUnavailable"
                        | "RequestTimeout"
                        | "RequestTimeTooSkewed"
                        | "OperationAborted"
                        | "Throttling"
                        | "ThrottlingException"
                        | "TooManyRequests"
                ) || code
                    .strip_prefix("HTTP ")
                    .and_then(|s| s.parse::<u16>().ok())
                    .is_some_and(status_transient)
            }
            _ => false,
        },
        _ => false,
    }
}

/// Human-readable text of a minio error: the S3 error code and message, or the source chain
/// (minio's own Display is just "Validation error occurred").
fn describe(e: &MinioError) -> String {
    if let MinioError::S3Server(S3ServerError::S3Error(resp)) = e {
        let mut s = resp.code().to_string();
        if let Some(m) = resp.message() {
            s.push_str(": ");
            s.push_str(m);
        }
        return s;
    }
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        // minio's wrappers often repeat their source in their own text: skip repeats.
        let text = err.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = err.source();
    }
    s
}
