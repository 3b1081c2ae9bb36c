//! Bytes: `stream` (the stored MP3, or a variant made by the bounded transcoding pool),
//! `download`, `getCoverArt` (resized JPEGs cached in the blob store and in memory), lyrics.

use bytes::Bytes;
use chillfi_media::TargetCodec;
use poem::Response as HttpResponse;

use super::error::SubError;
use super::response::{Elem, Response};
use super::{Call, MethodResult, Reply};
use crate::service::variants::Variant;
use crate::service::{covers, lyrics};
use crate::store::songs::{Song, SongFilter, SongSort, fold};

/// MP3 bitrates a client's `maxBitRate` is rounded down to.
const MP3_RATES: [u32; 13] = [32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 256, 320];
/// Resized covers kept in memory (bytes); older ones fall back to the blob store.
pub const MAX_COVER_SIZE: u32 = 2048;

fn song_of(c: &Call<'_>) -> Result<Song, SubError> {
    let id = c.params.req("id")?;
    c.app
        .songs
        .get(id)?
        .ok_or_else(|| SubError::not_found("song"))
}

/// The variant `format` and `maxBitRate` ask for (`None`: the stored MP3).
pub fn wanted_variant(song: &Song, format: Option<&str>, max_kbps: Option<u32>) -> Option<Variant> {
    let max = max_kbps.filter(|k| *k > 0);
    let stored_kbps = song.bitrate.div_ceil(1000);
    let plain = |codec, kbps| Variant {
        codec,
        bitrate_kbps: kbps,
        sample_rate: None,
        channels: None,
    };
    match format {
        Some("raw") => None,
        Some("opus") => Some(plain(TargetCodec::Opus, max.unwrap_or(128).clamp(8, 512))),
        // mp3, no format, or one ChillFi does not make: the stored MP3 unless it is too big.
        _ => {
            let max = max?;
            if max >= stored_kbps {
                return None;
            }
            let kbps = MP3_RATES
                .iter()
                .rev()
                .copied()
                .find(|r| *r <= max)
                .unwrap_or(MP3_RATES[0]);
            Some(plain(TargetCodec::Mp3, kbps))
        }
    }
}

pub async fn stream(c: &Call<'_>) -> MethodResult {
    let song = song_of(c)?;
    let max: Option<u32> = c.params.int("maxBitRate")?;
    let format = c.params.get("format").filter(|f| !f.is_empty());
    let mut variant = wanted_variant(&song, format, max);
    // No explicit wish: transcode-profile plugins may choose, as for the web player.
    if variant.is_none() && format.is_none() && max.unwrap_or(0) == 0 {
        let client = crate::service::variants::ClientReq {
            user_agent: c
                .req
                .headers()
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|ua| ua.chars().take(1024).collect()),
            ..Default::default()
        }
        .to_client_info(None)?;
        variant = c.app.variants.choose(&song, &client).await.map(|(v, _)| v);
    }
    let (key, mime) = match &variant {
        None => (song.blob_key(), "audio/mpeg"),
        Some(v) => (
            c.app.variants.ensure(&song, v, || true).await?,
            v.codec.mime(),
        ),
    };
    // `timeOffset` (seconds; the transcodeOffset extension): MP3 output starts there; an Opus
    // variant starts at the beginning (an Ogg stream cannot be cut without re-muxing).
    let offset_s: u64 = c.params.int("timeOffset")?.unwrap_or(0);
    if offset_s > 0 && mime == "audio/mpeg" {
        let resp = crate::http::streams::mp3_from(
            &c.app.blobs,
            &key,
            song.duration_ms,
            offset_s.saturating_mul(1000),
            "private, no-store",
        )
        .await;
        return Ok(Reply::Raw(resp));
    }
    let resp =
        crate::http::streams::blob_response(&c.app.blobs, &key, mime, "private, no-store", c.req)
            .await;
    Ok(Reply::Raw(resp))
}

pub async fn download(c: &Call<'_>) -> MethodResult {
    let song = song_of(c)?;
    let mut resp = crate::http::streams::blob_response(
        &c.app.blobs,
        &song.blob_key(),
        "audio/mpeg",
        "private, no-store",
        c.req,
    )
    .await;
    let name: String = format!("{} - {}.mp3", song.artist, song.title)
        .chars()
        .filter(|ch| ch.is_ascii_alphanumeric() || " -_.()".contains(*ch))
        .collect();
    if let Ok(v) = http::HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        resp.headers_mut()
            .insert(http::header::CONTENT_DISPOSITION, v);
    }
    Ok(Reply::Raw(resp))
}

/// The art name (`<sha256>.<jpg|png>`) an id stands for: an art name itself, or a song, album
/// or artist id (the first cover found).
fn art_name_of(c: &Call<'_>, id: &str) -> Option<String> {
    if let Some(url) = crate::store::songs::art_url(&format!("art/{id}")) {
        return url.strip_prefix("/art/").map(str::to_string);
    }
    let from_url = |u: Option<String>| u.and_then(|u| u.strip_prefix("/art/").map(str::to_string));
    if let Some(s) = c.app.songs.view_of(id) {
        return super::views::cover_id_of_key(s.song.cover_key.as_deref());
    }
    if let Some((album, _)) = c.app.songs.album(id) {
        return from_url(album.cover_url);
    }
    if let Some((_, albums, _)) = c.app.songs.artist(id) {
        return albums.into_iter().find_map(|a| from_url(a.cover_url));
    }
    None
}

fn image_response(data: Bytes, mime: &str) -> HttpResponse {
    HttpResponse::builder()
        .content_type(mime)
        .header(
            http::header::CACHE_CONTROL,
            "public, max-age=31536000, immutable",
        )
        .header(http::header::CONTENT_LENGTH, data.len())
        .body(data)
}

/// Scales an image to fit `size`×`size` and encodes it as JPEG; `None` when it is already
/// that small (the original is served) or cannot be decoded.
pub fn resize_to_jpeg(data: &[u8], size: u32) -> Result<Option<Vec<u8>>, String> {
    let mut reader = image::ImageReader::new(std::io::Cursor::new(data))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(10_000);
    limits.max_image_height = Some(10_000);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| e.to_string())?;
    if img.width() <= size && img.height() <= size {
        return Ok(None);
    }
    let scaled = img.resize(size, size, image::imageops::FilterType::Triangle);
    let rgb = scaled.to_rgb8();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .encode_image(&rgb)
        .map_err(|e| e.to_string())?;
    Ok(Some(out))
}

async fn read_blob(c: &Call<'_>, key: &str) -> Result<Option<Bytes>, SubError> {
    match c.app.blobs.get(key, None).await {
        Ok(body) => Ok(Some(body.into_bytes().await.map_err(|e| {
            SubError::from(crate::error::AppError::internal(format!(
                "reading {key}: {e}"
            )))
        })?)),
        Err(chillfi_storage::StorageError::NotFound { .. }) => Ok(None),
        Err(e) => Err(crate::error::AppError::internal(format!("blob store: {e:?}")).into()),
    }
}

pub async fn cover_art(c: &Call<'_>) -> MethodResult {
    let id = c.params.req("id")?;
    let name = art_name_of(c, id).ok_or_else(|| SubError::not_found("cover art"))?;
    let size: Option<u32> = c.params.int("size")?;
    let original_key = format!("art/{name}");
    let mime = if name.ends_with(".png") {
        "image/png"
    } else {
        "image/jpeg"
    };
    let Some(size) = size.filter(|s| *s > 0) else {
        let resp = crate::http::streams::blob_response(
            &c.app.blobs,
            &original_key,
            mime,
            "public, max-age=31536000, immutable",
            c.req,
        )
        .await;
        return Ok(Reply::Raw(resp));
    };
    let size = size.min(MAX_COVER_SIZE);
    let hash = covers::cover_hash(&name);
    let cache_key = format!("{name}@{size}");
    if let Some(data) = c.app.cover_cache.get(&cache_key) {
        return Ok(Reply::Raw(image_response(data, "image/jpeg")));
    }
    let sized_key = covers::sized_key(hash, size);
    if let Some(data) = read_blob(c, &sized_key).await? {
        c.app.cover_cache.put(cache_key, data.clone());
        return Ok(Reply::Raw(image_response(data, "image/jpeg")));
    }
    let original = read_blob(c, &original_key)
        .await?
        .ok_or_else(|| SubError::not_found("cover art"))?;
    let input = original.clone();
    let resized = tokio::task::spawn_blocking(move || resize_to_jpeg(&input, size))
        .await
        .map_err(|e| SubError::from(crate::error::AppError::internal(e)))?;
    match resized {
        Ok(Some(jpeg)) => {
            let data = Bytes::from(jpeg);
            if let Err(e) = c
                .app
                .blobs
                .put_bytes(&sized_key, data.clone(), "image/jpeg")
                .await
            {
                tracing::warn!(key = sized_key, "caching a resized cover: {e:?}");
            }
            c.app.cover_cache.put(cache_key, data.clone());
            Ok(Reply::Raw(image_response(data, "image/jpeg")))
        }
        Ok(None) => Ok(Reply::Raw(image_response(original, mime))),
        Err(e) => {
            tracing::warn!(key = original_key, "resizing a cover: {e}");
            Ok(Reply::Raw(image_response(original, mime)))
        }
    }
}

/// `getLyricsBySongId` (the `songLyrics` extension): the lyrics read from the song's file, timed
/// when they were LRC; an empty list when it had none.
pub fn lyrics_by_song_id(c: &Call<'_>) -> MethodResult {
    let song = song_of(c)?;
    let Some(text) = c.app.songs.lyrics(&song.id)? else {
        return Ok(
            Response::ok_with("lyricsList", Elem::new().list("structuredLyrics", vec![])).into(),
        );
    };
    let lyrics = lyrics::parse(&text);
    let lines = lyrics
        .lines
        .iter()
        .map(|l| Elem::new().opt("start", l.start_ms).text(l.text.clone()))
        .collect();
    let structured = Elem::new()
        .a("displayArtist", song.artist.clone())
        .a("displayTitle", song.title.clone())
        .a("lang", "und")
        .a("offset", 0)
        .a("synced", lyrics.synced)
        .list("line", lines);
    Ok(Response::ok_with(
        "lyricsList",
        Elem::new().list("structuredLyrics", vec![structured]),
    )
    .into())
}

/// `getLyrics` (`artist`, `title`): the words of the first song with that artist and title
/// (ignoring case and accents); an empty `lyrics` element when none has any.
pub fn lyrics_by_name(c: &Call<'_>) -> MethodResult {
    let title = c.params.get("title").map(fold);
    let filter = SongFilter {
        artist: c.params.get("artist").map(str::to_owned),
        search: title
            .as_deref()
            .map(|t| t.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default(),
        ..Default::default()
    };
    let found = c
        .app
        .songs
        .list(&filter, SongSort::Title, false, 0, 500)
        .items
        .into_iter()
        .filter(|v| title.as_deref().is_none_or(|t| fold(&v.song.title) == t))
        .find_map(|v| Some((c.app.songs.lyrics(&v.song.id).ok()??, v)));
    let elem = match found {
        Some((text, v)) => Elem::new()
            .a("artist", v.song.artist.clone())
            .a("title", v.song.title.clone())
            .text(lyrics::parse(&text).plain()),
        None => Elem::new(),
    };
    Ok(Response::ok_with("lyrics", elem).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn song(kbps: u32) -> Song {
        serde_json::from_value(serde_json::json!({
            "id": "s", "title": "t", "artist": "a", "album": "b", "albumArtist": "a",
            "track": null, "trackTotal": null, "disc": null, "discTotal": null, "year": null,
            "genre": "", "durationMs": 1000, "bitrate": kbps * 1000, "sampleRate": 44100,
            "channels": 2, "sourceHash": "x", "hash": "y", "sizeBytes": 1, "coverKey": null,
            "albumId": "al", "artistId": "ar", "uploaderId": "u", "originalName": "n",
            "conversion": "remuxed", "createdAt": 0, "updatedAt": 0
        }))
        .unwrap()
    }

    #[test]
    fn formats_and_bitrates_pick_the_variant() {
        let s = song(320);
        assert_eq!(wanted_variant(&s, None, None), None);
        assert_eq!(wanted_variant(&s, Some("raw"), Some(64)), None);
        assert_eq!(wanted_variant(&s, Some("mp3"), Some(0)), None);
        assert_eq!(wanted_variant(&s, Some("mp3"), Some(320)), None);
        let v = wanted_variant(&s, Some("mp3"), Some(150)).unwrap();
        assert_eq!((v.codec, v.bitrate_kbps), (TargetCodec::Mp3, 128));
        let v = wanted_variant(&s, None, Some(20)).unwrap();
        assert_eq!(v.bitrate_kbps, 32);
        let v = wanted_variant(&s, Some("opus"), None).unwrap();
        assert_eq!((v.codec, v.bitrate_kbps), (TargetCodec::Opus, 128));
        let v = wanted_variant(&s, Some("opus"), Some(96)).unwrap();
        assert_eq!(v.name(), "opus-96k");
    }

    #[test]
    fn covers_shrink_to_a_jpeg_and_small_ones_stay() {
        let img = image::RgbImage::from_fn(600, 400, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
        });
        let mut png = Vec::new();
        image::DynamicImage::ImageRgb8(img)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let jpeg = resize_to_jpeg(&png, 300).unwrap().unwrap();
        let out = image::load_from_memory(&jpeg).unwrap();
        assert_eq!((out.width(), out.height()), (300, 200));
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
        assert!(resize_to_jpeg(&png, 1000).unwrap().is_none());
        assert!(resize_to_jpeg(b"not an image", 100).is_err());
    }
}
