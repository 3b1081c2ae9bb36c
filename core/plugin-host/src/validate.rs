//! Everything a plugin returns is checked like user input. A violation is a fault.

use crate::types::{ALLOWED_SAMPLE_RATES, MetadataPatch, Profile, ShareDecision};

pub const MAX_STRING_BYTES: usize = 512;
pub const MAX_SHARE_SECONDS: u64 = 366 * 86_400;

fn opt_len(s: &Option<String>) -> usize {
    s.as_ref().map_or(0, String::len)
}

/// Bytes of variable-size data in a patch (checked against `max_result_bytes` first).
pub fn patch_size(p: &MetadataPatch) -> usize {
    opt_len(&p.title)
        + opt_len(&p.artist)
        + opt_len(&p.album)
        + opt_len(&p.album_artist)
        + opt_len(&p.genre)
        + opt_len(&p.musicbrainz.recording)
        + opt_len(&p.musicbrainz.release)
        + opt_len(&p.musicbrainz.artist)
}

pub fn decision_size(d: &ShareDecision) -> usize {
    opt_len(&d.slug)
}

pub fn check_size(what: &str, size: usize, max: usize) -> Result<(), String> {
    if size > max {
        return Err(format!("{what} too large: {size} bytes (limit {max})"));
    }
    Ok(())
}

fn text(field: &str, v: &Option<String>) -> Result<(), String> {
    let Some(s) = v else { return Ok(()) };
    if s.len() > MAX_STRING_BYTES {
        return Err(format!(
            "{field}: {} bytes (limit {MAX_STRING_BYTES})",
            s.len()
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(format!("{field}: contains control characters"));
    }
    Ok(())
}

fn range(field: &str, v: Option<u32>, lo: u32, hi: u32) -> Result<(), String> {
    match v {
        Some(n) if !(lo..=hi).contains(&n) => Err(format!("{field}: {n} is not in {lo}..={hi}")),
        _ => Ok(()),
    }
}

pub fn patch(p: &MetadataPatch) -> Result<(), String> {
    text("title", &p.title)?;
    text("artist", &p.artist)?;
    text("album", &p.album)?;
    text("album-artist", &p.album_artist)?;
    text("genre", &p.genre)?;
    range("track", p.track, 1, 999)?;
    range("track-total", p.track_total, 1, 999)?;
    range("disc", p.disc, 1, 999)?;
    range("year", p.year, 1000, 2100)?;
    range("disc-total", p.disc_total, 1, 999)?;
    let ids = &p.musicbrainz;
    uuid("musicbrainz.recording", &ids.recording)?;
    uuid("musicbrainz.release", &ids.release)?;
    uuid("musicbrainz.artist", &ids.artist)?;
    if let Some(c) = &p.cover {
        cover(c)?;
    }
    Ok(())
}

/// A MusicBrainz id: a UUID in its 36-character lower-case form.
fn uuid(field: &str, v: &Option<String>) -> Result<(), String> {
    let Some(s) = v else { return Ok(()) };
    let ok = s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{field}: {:?} is not a MusicBrainz id (a lower-case UUID)",
            truncate(s)
        ))
    }
}

/// The declared type must be JPEG or PNG and the bytes must start like one. (The server
/// decodes and re-encodes the picture; this refuses the obviously wrong early.)
pub fn cover(c: &crate::types::CoverArt) -> Result<(), String> {
    let magic_ok = match c.mime.as_str() {
        "image/jpeg" => c.data.starts_with(&[0xff, 0xd8, 0xff]),
        "image/png" => c.data.starts_with(b"\x89PNG\r\n\x1a\n"),
        other => {
            return Err(format!(
                "cover: type {:?} is not image/jpeg or image/png",
                truncate(other)
            ));
        }
    };
    if !magic_ok {
        return Err(format!("cover: the bytes are not a {} picture", c.mime));
    }
    Ok(())
}

pub fn profile(p: &Profile) -> Result<(), String> {
    range("bitrate-kbps", Some(p.bitrate_kbps), 8, 512)?;
    if let Some(rate) = p.sample_rate
        && !ALLOWED_SAMPLE_RATES.contains(&rate)
    {
        return Err(format!(
            "sample-rate: {rate} is not one of {ALLOWED_SAMPLE_RATES:?}"
        ));
    }
    range("channels", p.channels, 1, 2)?;
    Ok(())
}

pub fn slug(s: &str) -> Result<(), String> {
    if !(3..=64).contains(&s.len()) {
        return Err(format!("slug: {} bytes (must be 3..=64)", s.len()));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!("slug {s:?}: only a-z, 0-9 and '-' are allowed"));
    }
    Ok(())
}

pub fn decision(d: &ShareDecision, now: u64) -> Result<(), String> {
    if let Some(s) = &d.slug {
        slug(s)?;
    }
    if let Some(t) = d.expires_at {
        if t <= now {
            return Err(format!("expires-at {t} is not after now ({now})"));
        }
        if t - now > MAX_SHARE_SECONDS {
            return Err(format!("expires-at {t} is more than a year ahead"));
        }
    }
    match d.max_plays {
        Some(n) if !(1..=1_000_000).contains(&n) => {
            Err(format!("max-plays: {n} is not in 1..=1000000"))
        }
        _ => Ok(()),
    }
}

/// `s` cut to [`MAX_STRING_BYTES`] (on a character boundary).
pub fn truncate(s: &str) -> String {
    let mut end = s.len().min(MAX_STRING_BYTES);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

pub fn refusal(reason: &str) -> Result<(), String> {
    text("refusal", &Some(reason.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Codec;

    #[test]
    fn checks() {
        assert!(
            patch(&MetadataPatch {
                year: Some(2001),
                track: Some(7),
                ..Default::default()
            })
            .is_ok()
        );
        assert!(
            patch(&MetadataPatch {
                year: Some(3000),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            patch(&MetadataPatch {
                disc: Some(0),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            patch(&MetadataPatch {
                title: Some("a\u{0}b".into()),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            patch(&MetadataPatch {
                title: Some("x".repeat(513)),
                ..Default::default()
            })
            .is_err()
        );
        let p = |b, r, c| Profile {
            codec: Codec::Opus,
            bitrate_kbps: b,
            sample_rate: r,
            channels: c,
        };
        assert!(profile(&p(96, Some(48000), Some(2))).is_ok());
        assert!(profile(&p(4, None, None)).is_err());
        assert!(profile(&p(96, Some(12345), None)).is_err());
        assert!(profile(&p(96, None, Some(6))).is_err());
        assert!(slug("calm-river-42").is_ok());
        assert!(slug("ab").is_err());
        assert!(slug("Calm").is_err());
        let d = |e, m| ShareDecision {
            slug: None,
            expires_at: e,
            max_plays: m,
        };
        assert!(decision(&d(Some(1_100), Some(1)), 1_000).is_ok());
        assert!(decision(&d(Some(1_000), None), 1_000).is_err());
        assert!(decision(&d(Some(1_000 + 400 * 86_400), None), 1_000).is_err());
        assert!(decision(&d(None, Some(0)), 1_000).is_err());
    }
}
