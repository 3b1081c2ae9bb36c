//! Serving stored blobs over HTTP: byte ranges (so browsers can seek), the signed `/stream/`
//! URLs `service::stream_urls` hands out, and content-addressed cover art.

use chillfi_storage::{BlobStore, ByteRange, StorageError};
use poem::web::Path;
use poem::{Body, Request, Response, handler, web::Data};
use serde::Deserialize;

use crate::app::App;
use crate::store::songs::art_name;

/// Parses a single `Range: bytes=...` header. `Ok(None)`: no (or an ignorable) range, send it
/// all; `Err(())`: unsatisfiable (416).
pub fn parse_range(header: Option<&str>, total_size: u64) -> Result<Option<ByteRange>, ()> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    // Multipart ranges are not worth it for audio: serve the whole file (allowed by RFC 9110).
    if spec.contains(',') {
        return Ok(None);
    }
    let (start, end) = spec.split_once('-').ok_or(())?;
    let (start, end) = (start.trim(), end.trim());
    let range = if start.is_empty() {
        let len: u64 = end.parse().map_err(|_| ())?;
        ByteRange::suffix(len, total_size).ok_or(())?
    } else {
        let start: u64 = start.parse().map_err(|_| ())?;
        let end = if end.is_empty() {
            None
        } else {
            Some(end.parse::<u64>().map_err(|_| ())?)
        };
        ByteRange::new(start, end)
    };
    range.resolve(total_size).map_err(|_| ())?;
    Ok(Some(range))
}

fn status(code: http::StatusCode) -> Response {
    Response::builder().status(code).finish()
}

/// A blob's size, or the response that says why there is none (404, or 502 for the store).
async fn blob_size(blobs: &BlobStore, key: &str) -> Result<u64, Response> {
    match blobs.head(key).await {
        Ok(Some(size)) => Ok(size),
        Ok(None) => Err(status(http::StatusCode::NOT_FOUND)),
        Err(e) => {
            tracing::error!(key, "blob store: {e:?}");
            Err(status(http::StatusCode::BAD_GATEWAY))
        }
    }
}

/// Streams a blob with Range support. `HEAD` gets the headers only.
pub async fn blob_response(
    blobs: &BlobStore,
    key: &str,
    content_type: &str,
    cache_control: &str,
    req: &Request,
) -> Response {
    let total = match blob_size(blobs, key).await {
        Ok(size) => size,
        Err(resp) => return resp,
    };
    let range_header = req
        .headers()
        .get(http::header::RANGE)
        .and_then(|v| v.to_str().ok());
    let range = match parse_range(range_header, total) {
        Ok(range) => range,
        Err(()) => {
            return Response::builder()
                .status(http::StatusCode::RANGE_NOT_SATISFIABLE)
                .header(http::header::CONTENT_RANGE, format!("bytes */{total}"))
                .header(http::header::ACCEPT_RANGES, "bytes")
                .finish();
        }
    };
    let head_only = req.method() == http::Method::HEAD;
    let body = if head_only || total == 0 {
        None
    } else {
        match blobs.get(key, range).await {
            Ok(body) => Some(body),
            Err(StorageError::NotFound { .. }) => return status(http::StatusCode::NOT_FOUND),
            Err(StorageError::RangeNotSatisfiable { size }) => {
                return Response::builder()
                    .status(http::StatusCode::RANGE_NOT_SATISFIABLE)
                    .header(http::header::CONTENT_RANGE, format!("bytes */{size}"))
                    .finish();
            }
            Err(e) => {
                tracing::error!(key, "blob store: {e:?}");
                return status(http::StatusCode::BAD_GATEWAY);
            }
        }
    };
    let (start, end) = match range.map(|r| r.resolve(total)) {
        Some(Ok((s, e))) => (s, e),
        _ => (0, total.saturating_sub(1)),
    };
    let length = if total == 0 { 0 } else { end - start + 1 };
    let mut builder = Response::builder()
        .header(http::header::CONTENT_TYPE, content_type)
        .header(http::header::ACCEPT_RANGES, "bytes")
        .header(http::header::CACHE_CONTROL, cache_control)
        .header(http::header::CONTENT_LENGTH, length);
    if range.is_some() {
        builder = builder.status(http::StatusCode::PARTIAL_CONTENT).header(
            http::header::CONTENT_RANGE,
            format!("bytes {start}-{end}/{total}"),
        );
    }
    match body {
        Some(body) => builder.body(Body::from_bytes_stream(body.stream)),
        None => builder.body(Body::empty()),
    }
}

/// An MP3 blob from about `offset_ms` on (the Subsonic API's `timeOffset`): the byte at the same
/// share of the file as of the duration (exact for constant bitrate, close for variable), moved
/// to the next frame header so the first bytes are a whole frame. A 200 of the rest of the file.
pub async fn mp3_from(
    blobs: &BlobStore,
    key: &str,
    duration_ms: u64,
    offset_ms: u64,
    cache_control: &str,
) -> Response {
    let total = match blob_size(blobs, key).await {
        Ok(size) => size,
        Err(resp) => return resp,
    };
    let guess = if duration_ms == 0 {
        0
    } else {
        (u128::from(total) * u128::from(offset_ms.min(duration_ms)) / u128::from(duration_ms))
            as u64
    };
    // Look for a frame header in the next few KiB (a frame is at most 1441 bytes at 320 kb/s).
    let window = blobs
        .get(
            key,
            Some(ByteRange::new(
                guess,
                Some((guess + 8191).min(total.saturating_sub(1))),
            )),
        )
        .await;
    let start = match window {
        Ok(body) => match body.into_bytes().await {
            Ok(bytes) => guess + frame_start(&bytes).unwrap_or(0) as u64,
            Err(e) => {
                tracing::error!(key, "blob store: {e}");
                return status(http::StatusCode::BAD_GATEWAY);
            }
        },
        Err(StorageError::RangeNotSatisfiable { .. }) => total,
        Err(e) => {
            tracing::error!(key, "blob store: {e:?}");
            return status(http::StatusCode::BAD_GATEWAY);
        }
    };
    let builder = Response::builder()
        .header(http::header::CONTENT_TYPE, "audio/mpeg")
        .header(http::header::CACHE_CONTROL, cache_control)
        .header(http::header::CONTENT_LENGTH, total - start);
    if start >= total {
        return builder.body(Body::empty());
    }
    match blobs.get(key, Some(ByteRange::starting_at(start))).await {
        Ok(body) => builder.body(Body::from_bytes_stream(body.stream)),
        Err(e) => {
            tracing::error!(key, "blob store: {e:?}");
            status(http::StatusCode::BAD_GATEWAY)
        }
    }
}

/// Where the first MPEG audio Layer III frame header starts in `bytes` (sync bits, layer III,
/// a real bitrate and sample rate).
fn frame_start(bytes: &[u8]) -> Option<usize> {
    bytes.windows(3).position(|w| {
        w[0] == 0xFF && w[1] & 0xE6 == 0xE2 && !matches!(w[2] >> 4, 0 | 0xF) && (w[2] >> 2) & 3 != 3
    })
}

#[derive(Deserialize)]
pub struct StreamQuery {
    exp: Option<i64>,
    sig: Option<String>,
    /// A streaming variant's name (`opus-96k`); absent for the stored MP3.
    v: Option<String>,
}

/// `GET|HEAD /stream/<songId>?exp=&sig=`: a song for whoever holds a valid `song:play` URL.
#[handler]
pub async fn stream_song(
    Data(app): Data<&App>,
    Path(song_id): Path<String>,
    poem::web::Query(q): poem::web::Query<StreamQuery>,
    req: &Request,
) -> Response {
    let (Some(exp), Some(sig)) = (q.exp, q.sig) else {
        return status(http::StatusCode::FORBIDDEN);
    };
    let song = match app.songs.get(&song_id) {
        Ok(Some(song)) => song,
        Ok(None) => return status(http::StatusCode::NOT_FOUND),
        Err(e) => {
            let _ = e.envelope(); // logs internal details once
            return status(e.http_status());
        }
    };
    if !app
        .stream_signer
        .verify_variant(&song.id, &song.hash, q.v.as_deref(), exp, &sig)
    {
        return status(http::StatusCode::FORBIDDEN);
    }
    match q.v.as_deref() {
        None => {
            blob_response(
                &app.blobs,
                &song.blob_key(),
                "audio/mpeg",
                "private, no-store",
                req,
            )
            .await
        }
        Some(name) => match crate::service::variants::Variant::parse(name) {
            Some(v) => {
                let key = v.key(&song.hash);
                blob_response(&app.blobs, &key, v.codec.mime(), "private, no-store", req).await
            }
            None => status(http::StatusCode::NOT_FOUND),
        },
    }
}

/// `GET|HEAD /art/<sha256>.<jpg|png>`: cover art is content-addressed, so it is public to whoever
/// knows the hash (every song view carries it) and cached forever.
#[handler]
pub async fn art(Data(app): Data<&App>, Path(name): Path<String>, req: &Request) -> Response {
    let Some(mime) = art_name(&name) else {
        return status(http::StatusCode::NOT_FOUND);
    };
    let key = format!("art/{name}");
    blob_response(
        &app.blobs,
        &key,
        mime,
        "public, max-age=31536000, immutable",
        req,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_http() {
        assert_eq!(parse_range(None, 100), Ok(None));
        assert_eq!(
            parse_range(Some("bytes=10-19"), 100),
            Ok(Some(ByteRange::new(10, Some(19))))
        );
        assert_eq!(
            parse_range(Some("bytes=90-"), 100),
            Ok(Some(ByteRange::starting_at(90)))
        );
        assert_eq!(
            parse_range(Some("bytes=-10"), 100),
            Ok(Some(ByteRange::starting_at(90)))
        );
        assert_eq!(parse_range(Some("bytes=100-"), 100), Err(()));
        assert_eq!(parse_range(Some("bytes=20-10"), 100), Err(()));
        assert_eq!(parse_range(Some("bytes=abc"), 100), Err(()));
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), Ok(None));
        assert_eq!(parse_range(Some("items=0-1"), 100), Ok(None));
    }
}
