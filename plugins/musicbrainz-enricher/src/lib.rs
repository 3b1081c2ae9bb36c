//! MusicBrainz enricher: one recording search per track (WS/2 JSON), the best match at or
//! above `min-score`, then the front cover from the Cover Art Archive when the file has none.
//! The server spaces requests one second apart (MusicBrainz's rate limit); a 503 with
//! `Retry-After` is retried once when the wait is short.

use chillfi_plugin_sdk::http::{self, Response};
use chillfi_plugin_sdk::{
    CoverArt, EnrichInput, Enricher, MetadataPatch, MusicbrainzIds, TrackMetadata, host,
};
use serde_json::Value;

/// Longest `Retry-After` the plugin waits for (the call's deadline is 30 s).
const MAX_RETRY_WAIT_S: u64 = 5;
/// A recording whose length is further than this from the file's is not the same one.
const MAX_LENGTH_DIFF_MS: u64 = 10_000;

struct MusicBrainz;

fn config(key: &str, default: &str) -> String {
    host::config(key)
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

fn user_agent() -> String {
    let contact = config("contact", "");
    if contact.is_empty() {
        "chillfi-musicbrainz-enricher/0.2.0".into()
    } else {
        format!("chillfi-musicbrainz-enricher/0.2.0 ( {contact} )")
    }
}

/// GET with one retry after a short `Retry-After` on 503.
fn fetch(url: &str, accept: &str) -> Result<Response, String> {
    let ua = user_agent();
    let headers = [("accept", accept), ("user-agent", ua.as_str())];
    for attempt in 0..2 {
        let r = http::get(url, &headers).map_err(|e| e.to_string())?;
        if r.status != 503 {
            return Ok(r);
        }
        let wait = r
            .header("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(u64::MAX);
        if attempt == 1 || wait > MAX_RETRY_WAIT_S {
            return Err(format!(
                "MusicBrainz is busy (503, retry after {}), try again later",
                if wait == u64::MAX {
                    "?".to_string()
                } else {
                    format!("{wait} s")
                }
            ));
        }
        host::info(&format!("503 from {url}: retrying in {wait} s"));
        chillfi_plugin_sdk::sleep(std::time::Duration::from_secs(wait));
    }
    Err("unreachable retry loop".into())
}

/// Lucene query for the recording search; quotes and backslashes escaped.
fn query(m: &TrackMetadata, artist: &str, title: &str) -> String {
    let q = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut out = format!("recording:\"{}\" AND artist:\"{}\"", q(title), q(artist));
    if let Some(album) = &m.album {
        out.push_str(&format!(" AND release:\"{}\"", q(album)));
    }
    out
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn credit_name(credits: Option<&Value>) -> Option<String> {
    let credits = credits?.as_array()?;
    let mut out = String::new();
    for c in credits {
        out.push_str(str_at(c, "name")?);
        out.push_str(str_at(c, "joinphrase").unwrap_or(""));
    }
    (!out.is_empty()).then_some(out)
}

fn credit_id(credits: Option<&Value>) -> Option<String> {
    let first = credits?.as_array()?.first()?;
    str_at(first.get("artist")?, "id").map(str::to_string)
}

fn number(v: Option<&Value>) -> Option<u32> {
    match v? {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The best recording: highest score at or above `min_score`, length close to the file's.
fn best<'a>(
    recordings: &'a [Value],
    min_score: u64,
    duration_ms: Option<u64>,
) -> Option<&'a Value> {
    recordings
        .iter()
        .filter(|r| r.get("score").and_then(Value::as_u64).unwrap_or(0) >= min_score)
        .filter(
            |r| match (duration_ms, r.get("length").and_then(Value::as_u64)) {
                (Some(d), Some(len)) => d.abs_diff(len) <= MAX_LENGTH_DIFF_MS,
                _ => true,
            },
        )
        .max_by_key(|r| r.get("score").and_then(Value::as_u64).unwrap_or(0))
}

/// The release the file most likely comes from: the one named like its album, else the first.
fn pick_release<'a>(rec: &'a Value, album: Option<&str>) -> Option<&'a Value> {
    let releases = rec.get("releases")?.as_array()?;
    album
        .and_then(|a| {
            releases
                .iter()
                .find(|r| str_at(r, "title").is_some_and(|t| t.eq_ignore_ascii_case(a)))
        })
        .or_else(|| releases.first())
}

fn fill<T>(slot: &mut Option<T>, existing: &Option<T>, value: Option<T>, keep_existing: bool) {
    if keep_existing && existing.is_some() {
        return;
    }
    if value.is_some() {
        *slot = value;
    }
}

fn cover(release_id: &str) -> Option<CoverArt> {
    let base = config("coverart-url", "https://coverartarchive.org");
    let url = format!(
        "{}/release/{release_id}/front-500",
        base.trim_end_matches('/')
    );
    match fetch(&url, "image/*") {
        Ok(r) if r.status == 200 => {
            let mime = r
                .header("content-type")
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("");
            let mime = match mime.trim() {
                "image/jpeg" | "image/jpg" => "image/jpeg",
                "image/png" => "image/png",
                other => {
                    host::warn(&format!("cover of {release_id}: unexpected type {other:?}"));
                    return None;
                }
            };
            Some(CoverArt {
                mime: mime.into(),
                data: r.body,
            })
        }
        Ok(r) => {
            host::info(&format!(
                "no cover for release {release_id} (HTTP {})",
                r.status
            ));
            None
        }
        Err(e) => {
            host::warn(&format!("cover of {release_id}: {e}"));
            None
        }
    }
}

impl Enricher for MusicBrainz {
    fn enrich(input: EnrichInput) -> Result<MetadataPatch, String> {
        let m = &input.metadata;
        let (Some(artist), Some(title)) = (m.artist.as_deref(), m.title.as_deref()) else {
            return Ok(MetadataPatch::default()); // nothing to look up by
        };
        let base = config("musicbrainz-url", "https://musicbrainz.org");
        let min_score: u64 = config("min-score", "90").parse().unwrap_or(90);
        let keep = config("prefer-existing-tags", "true") != "false";
        let url = format!(
            "{}/ws/2/recording?query={}&fmt=json&limit=5",
            base.trim_end_matches('/'),
            http::encode(&query(m, artist, title))
        );
        let r = fetch(&url, "application/json")?;
        if r.status != 200 {
            return Err(format!("MusicBrainz answered HTTP {}", r.status));
        }
        let doc: Value = serde_json::from_slice(&r.body)
            .map_err(|e| format!("MusicBrainz answered with malformed JSON: {e}"))?;
        let recordings = doc
            .get("recordings")
            .and_then(Value::as_array)
            .ok_or("MusicBrainz's answer has no recordings list")?;
        let Some(rec) = best(recordings, min_score, m.duration_ms) else {
            host::info(&format!(
                "{artist} - {title}: no match with score >= {min_score} ({} candidates)",
                recordings.len()
            ));
            return Ok(MetadataPatch::default());
        };

        let mut p = MetadataPatch::default();
        let release = pick_release(rec, m.album.as_deref());
        p.musicbrainz = MusicbrainzIds {
            recording: str_at(rec, "id").map(str::to_string),
            artist: credit_id(rec.get("artist-credit")),
            release: release.and_then(|r| str_at(r, "id")).map(str::to_string),
        };
        if let Some(rel) = release {
            fill(
                &mut p.album,
                &m.album,
                str_at(rel, "title").map(str::to_string),
                keep,
            );
            let album_artist = credit_name(rel.get("artist-credit"))
                .or_else(|| credit_name(rec.get("artist-credit")));
            fill(&mut p.album_artist, &m.album_artist, album_artist, keep);
            let year = str_at(rel, "date")
                .and_then(|d| d.get(..4))
                .and_then(|y| y.parse().ok());
            fill(&mut p.year, &m.year, year, keep);
            if let Some(medium) = rel
                .get("media")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
            {
                let track = medium
                    .get("track")
                    .and_then(Value::as_array)
                    .and_then(|t| t.first())
                    .and_then(|t| number(t.get("number")).or_else(|| number(t.get("position"))));
                fill(&mut p.track, &m.track, track, keep);
                fill(
                    &mut p.track_total,
                    &m.track_total,
                    number(medium.get("track-count")),
                    keep,
                );
                fill(&mut p.disc, &m.disc, number(medium.get("position")), keep);
            }
            fill(
                &mut p.disc_total,
                &m.disc_total,
                number(rel.get("medium-count")),
                keep,
            );
            if !m.has_cover
                && config("fetch-cover", "true") != "false"
                && let Some(id) = p.musicbrainz.release.clone()
            {
                p.cover = cover(&id);
            }
        }
        host::info(&format!(
            "{artist} - {title}: recording {}",
            p.musicbrainz.recording.as_deref().unwrap_or("?")
        ));
        Ok(p)
    }
}

chillfi_plugin_sdk::export_enricher!(MusicBrainz);
