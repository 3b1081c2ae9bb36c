//! Serving stored blobs over HTTP: byte ranges (so browsers can seek), signed expiring stream
//! URLs for the local backend, and content-addressed cover art.
//! Invariant: a stream URL names a song, its stored file, the variant (none = the stored MP3;
//! else a streaming variant, see `variants.rs`) and an expiry, signed with a key derived from the
//! server secret; it stops working when any of them no longer holds.

use chillfi_storage::{ByteRange, StorageError};
use hmac::{Hmac, Mac};
use poem::web::Path;
use poem::{Body, Request, Response, handler, web::Data};
use serde::Deserialize;
use sha2::Sha256;

use crate::app::App;
use crate::db::now_secs;

type HmacSha256 = Hmac<Sha256>;

/// Signs and checks `/stream/<songId>?exp=&sig=` URLs.
pub struct StreamSigner {
    key: [u8; 32],
}

impl StreamSigner {
    /// `secret` is the server's signing secret; the stream key is derived from it so a leaked
    /// stream signature says nothing about session tokens.
    pub fn new(secret: &[u8]) -> Self {
        let mut mac = new_mac(secret);
        mac.update(b"chillfi stream url key v1");
        Self {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn mac(
        &self,
        song_id: &str,
        blob_hash: &str,
        variant: Option<&str>,
        expires_at: i64,
    ) -> HmacSha256 {
        let mut mac = new_mac(&self.key);
        for part in [song_id, blob_hash, &expires_at.to_string()] {
            mac.update(part.as_bytes());
            mac.update(&[0]);
        }
        // Parts are NUL-terminated: a URL for the stored file never verifies for a variant.
        if let Some(variant) = variant {
            mac.update(b"variant\0");
            mac.update(variant.as_bytes());
            mac.update(&[0]);
        }
        mac
    }

    #[cfg(test)]
    pub fn url(&self, song_id: &str, blob_hash: &str, expires_at: i64) -> String {
        self.variant_url(song_id, blob_hash, None, expires_at)
    }

    /// `/stream/<songId>?exp=&sig=` (the stored MP3), or with `&v=<variant name>`.
    pub fn variant_url(
        &self,
        song_id: &str,
        blob_hash: &str,
        variant: Option<&str>,
        expires_at: i64,
    ) -> String {
        let sig = hex::encode(
            self.mac(song_id, blob_hash, variant, expires_at)
                .finalize()
                .into_bytes(),
        );
        match variant {
            Some(v) => format!("/stream/{song_id}?exp={expires_at}&v={v}&sig={sig}"),
            None => format!("/stream/{song_id}?exp={expires_at}&sig={sig}"),
        }
    }

    /// Constant-time check of a signature for the song as stored now.
    #[cfg(test)]
    pub fn verify(&self, song_id: &str, blob_hash: &str, expires_at: i64, sig_hex: &str) -> bool {
        self.verify_variant(song_id, blob_hash, None, expires_at, sig_hex)
    }

    pub fn verify_variant(
        &self,
        song_id: &str,
        blob_hash: &str,
        variant: Option<&str>,
        expires_at: i64,
        sig_hex: &str,
    ) -> bool {
        let Ok(sig) = hex::decode(sig_hex) else {
            return false;
        };
        expires_at > now_secs()
            && self
                .mac(song_id, blob_hash, variant, expires_at)
                .verify_slice(&sig)
                .is_ok()
    }
}

fn new_mac(key: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(key).expect("HMAC accepts keys of every length")
}

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

/// Streams a blob with Range support. `HEAD` gets the headers only.
pub async fn blob_response(
    app: &App,
    key: &str,
    content_type: &str,
    cache_control: &str,
    req: &Request,
) -> Response {
    let total = match app.blobs.head(key).await {
        Ok(Some(size)) => size,
        Ok(None) => return status(http::StatusCode::NOT_FOUND),
        Err(e) => {
            tracing::error!(key, "blob store: {e:?}");
            return status(http::StatusCode::BAD_GATEWAY);
        }
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
        match app.blobs.get(key, range).await {
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
                app,
                &song.blob_key(),
                "audio/mpeg",
                "private, no-store",
                req,
            )
            .await
        }
        Some(name) => match crate::variants::Variant::parse(name) {
            Some(v) => {
                let key = v.key(&song.hash);
                blob_response(app, &key, v.codec.mime(), "private, no-store", req).await
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
    blob_response(app, &key, mime, "public, max-age=31536000, immutable", req).await
}

/// Only names the pipeline produces: 64 lowercase hex digits and a known image extension.
fn art_name(name: &str) -> Option<&'static str> {
    let (hash, ext) = name.split_once('.')?;
    let mime = match ext {
        "jpg" => "image/jpeg",
        "png" => "image/png",
        _ => return None,
    };
    let hex = hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    hex.then_some(mime)
}

/// `/art/...` URL for a blob key `art/<hash>.<ext>`.
pub fn art_url(cover_key: &str) -> Option<String> {
    let name = cover_key.strip_prefix("art/")?;
    art_name(name).map(|_| format!("/art/{name}"))
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

    #[test]
    fn stream_signatures_bind_song_file_and_expiry() {
        let signer = StreamSigner::new(b"server secret");
        let exp = now_secs() + 60;
        let url = signer.url("song1", "hash1", exp);
        let sig = url.rsplit("sig=").next().unwrap();
        assert!(signer.verify("song1", "hash1", exp, sig));
        assert!(!signer.verify("song2", "hash1", exp, sig), "other song");
        assert!(!signer.verify("song1", "hash2", exp, sig), "replaced file");
        assert!(
            !signer.verify("song1", "hash1", exp + 1, sig),
            "moved expiry"
        );
        let mut tampered = sig.to_string();
        tampered.replace_range(0..1, if sig.starts_with('0') { "1" } else { "0" });
        assert!(!signer.verify("song1", "hash1", exp, &tampered));
        let past = now_secs() - 1;
        let old = signer.url("song1", "hash1", past);
        assert!(!signer.verify("song1", "hash1", past, old.rsplit("sig=").next().unwrap()));
        assert!(!StreamSigner::new(b"other").verify("song1", "hash1", exp, sig));

        let v = signer.variant_url("song1", "hash1", Some("opus-96k"), exp);
        assert!(v.contains("&v=opus-96k&"), "{v}");
        let vsig = v.rsplit("sig=").next().unwrap();
        assert!(signer.verify_variant("song1", "hash1", Some("opus-96k"), exp, vsig));
        assert!(
            !signer.verify_variant("song1", "hash1", Some("opus-64k"), exp, vsig),
            "other variant"
        );
        assert!(
            !signer.verify_variant("song1", "hash1", None, exp, vsig),
            "variant sig for the file"
        );
        assert!(
            !signer.verify_variant("song1", "hash1", Some("opus-96k"), exp, sig),
            "file sig for a variant"
        );
    }

    #[test]
    fn only_pipeline_art_names_are_served() {
        let hash = "a".repeat(64);
        assert!(art_name(&format!("{hash}.jpg")).is_some());
        assert!(art_name(&format!("{hash}.gif")).is_none());
        assert!(art_name("../../secret.jpg").is_none());
        assert!(art_name(&format!("{}.png", "A".repeat(64))).is_none());
        assert_eq!(
            art_url(&format!("art/{hash}.png")),
            Some(format!("/art/{hash}.png"))
        );
    }
}
