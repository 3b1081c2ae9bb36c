//! Tag reading. FFmpeg already maps ID3v2 frames, Vorbis comments, MP4 atoms and RIFF INFO
//! chunks to mostly common keys (`title`, `album_artist`, `track` = "7/12", `date`, ...), but the
//! spelling and case still vary by container (`TITLE`, `ALBUMARTIST`, `TRACKNUMBER`,
//! `TRACKTOTAL`, ...), so keys are compared case-insensitively against a list of aliases.
//!
//! Tag values are untrusted: they may be megabytes long or not UTF-8 at all. Values are read as
//! bytes, decoded lossily and cut to [`MAX_TAG_CHARS`] characters.

use ffmpeg_next::DictionaryRef;

/// Longest tag value kept, in characters; longer values are cut.
pub const MAX_TAG_CHARS: usize = 1024;

/// The tags ChillFi uses. Missing or unparsable values are `None`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tags {
    pub title: Option<String>,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub album_artist: Option<String>,
    pub track: Option<u32>,
    pub track_total: Option<u32>,
    pub disc: Option<u32>,
    pub disc_total: Option<u32>,
    pub year: Option<i32>,
    pub genre: Option<String>,
    /// Unsynced text, or LRC (`[mm:ss.xx]` before each line) when the file has timed lyrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lyrics: Option<String>,
    /// MusicBrainz ids, as Picard and other taggers write them.
    #[serde(default, skip_serializing_if = "MusicBrainzIds::is_empty")]
    pub musicbrainz: MusicBrainzIds,
}

/// MusicBrainz ids (lowercase UUIDs); a value that is not one is left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MusicBrainzIds {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artist_id: Option<String>,
}

impl MusicBrainzIds {
    pub fn is_empty(&self) -> bool {
        self.recording_id.is_none() && self.release_id.is_none() && self.artist_id.is_none()
    }
}

/// The first MusicBrainz id in `value` (several artists' ids may be joined by `/` or `;`),
/// lowercased; `None` when it does not start with one.
pub fn musicbrainz_id(value: &str) -> Option<String> {
    let id = value.trim().get(..36)?.to_ascii_lowercase();
    let shape_ok = id.char_indices().all(|(i, c)| match i {
        8 | 13 | 18 | 23 => c == '-',
        _ => c.is_ascii_hexdigit(),
    });
    shape_ok.then_some(id)
}

/// Longest lyrics kept, in characters.
pub const MAX_LYRICS_CHARS: usize = 32 * 1024;

/// Key/value pairs gathered from all metadata dictionaries, keys lower-cased; earlier entries
/// win (format-level tags come before stream-level ones).
#[derive(Default)]
pub(crate) struct RawTags(Vec<(String, String)>, Option<String>);

impl RawTags {
    pub(crate) fn add(&mut self, dict: &DictionaryRef<'_>) {
        for (k, v) in dict.iter() {
            // ffmpeg-next builds these &str without checking UTF-8: only touch the bytes.
            let key = String::from_utf8_lossy(k.as_bytes()).to_ascii_lowercase();
            // Vorbis LYRICS / UNSYNCEDLYRICS, ID3 USLT (FFmpeg names it `lyrics-<language>`).
            if is_lyrics_key(&key) {
                if self.1.is_none() {
                    self.1 = Some(clean_lyrics(v.as_bytes())).filter(|l| !l.is_empty());
                }
                continue;
            }
            let value = clean(v.as_bytes());
            if !value.is_empty() {
                self.0.push((key, value));
            }
        }
    }

    fn get(&self, aliases: &[&str]) -> Option<&str> {
        aliases.iter().find_map(|alias| {
            self.0
                .iter()
                .find(|(k, _)| k == alias)
                .map(|(_, v)| v.as_str())
        })
    }

    pub(crate) fn to_tags(&self) -> Tags {
        let text = |aliases: &[&str]| self.get(aliases).map(str::to_owned);
        let (track, track_total_inline) = self
            .get(&["track", "tracknumber", "trck", "trkn"])
            .map(parse_pair)
            .unwrap_or((None, None));
        let (disc, disc_total_inline) = self
            .get(&["disc", "discnumber", "disk", "tpos"])
            .map(parse_pair)
            .unwrap_or((None, None));
        Tags {
            title: text(&["title", "tit2"]),
            artist: text(&["artist", "tpe1"]),
            album: text(&["album", "talb"]),
            album_artist: text(&["album_artist", "albumartist", "album artist", "tpe2"]),
            track,
            track_total: track_total_inline.or_else(|| {
                self.get(&["tracktotal", "totaltracks", "track_total"])
                    .and_then(parse_number)
            }),
            disc,
            disc_total: disc_total_inline.or_else(|| {
                self.get(&["disctotal", "totaldiscs", "disc_total"])
                    .and_then(parse_number)
            }),
            year: self
                .get(&["date", "year", "tdrc", "tyer", "originaldate", "tdor"])
                .and_then(parse_year),
            genre: text(&["genre", "tcon"]),
            lyrics: self.1.clone(),
            // Vorbis comments spell them MUSICBRAINZ_*ID; ID3 TXXX frames and MP4 freeform atoms
            // "MusicBrainz * Id" (there the track id is the recording's, as in Vorbis).
            musicbrainz: MusicBrainzIds {
                recording_id: self
                    .get(&["musicbrainz_trackid", "musicbrainz track id"])
                    .and_then(musicbrainz_id),
                release_id: self
                    .get(&["musicbrainz_albumid", "musicbrainz album id"])
                    .and_then(musicbrainz_id),
                artist_id: self
                    .get(&["musicbrainz_artistid", "musicbrainz artist id"])
                    .and_then(musicbrainz_id),
            },
        }
    }
}

/// Lossy UTF-8, control characters dropped, trimmed, at most [`MAX_TAG_CHARS`] characters.
/// Only the first few KiB are looked at, so a 100 MB tag costs no more than a short one.
fn clean(bytes: &[u8]) -> String {
    bounded(bytes, MAX_TAG_CHARS, |text| text.into(), ' ')
}

/// The first `max` characters of `bytes` (read lossily, at most `4 * max + 4` bytes looked at)
/// after `prepare`, without control characters other than `keep`, trimmed.
fn bounded(
    bytes: &[u8],
    max: usize,
    prepare: impl Fn(std::borrow::Cow<'_, str>) -> String,
    keep: char,
) -> String {
    let head = &bytes[..bytes.len().min(max * 4 + 4)];
    prepare(String::from_utf8_lossy(head))
        .chars()
        .filter(|c| !c.is_control() || *c == keep)
        .take(max)
        .collect::<String>()
        .trim()
        .to_owned()
}

fn is_lyrics_key(key: &str) -> bool {
    key == "lyrics" || key == "unsyncedlyrics" || key == "uslt" || key.starts_with("lyrics-")
}

/// Like [`clean`], but lines stay lines (CR LF and CR become LF; other control characters go)
/// and the limit is [`MAX_LYRICS_CHARS`].
fn clean_lyrics(bytes: &[u8]) -> String {
    let lines = |text: std::borrow::Cow<'_, str>| text.replace("\r\n", "\n").replace('\r', "\n");
    bounded(bytes, MAX_LYRICS_CHARS, lines, '\n')
}

/// "7", "07", "7/12", " 7 / 12 " -> (7, 12).
fn parse_pair(s: &str) -> (Option<u32>, Option<u32>) {
    let mut parts = s.splitn(2, '/');
    let first = parts.next().and_then(parse_number);
    let second = parts.next().and_then(parse_number);
    (first, second)
}

fn parse_number(s: &str) -> Option<u32> {
    s.trim().parse::<u32>().ok().filter(|n| *n > 0)
}

/// The first run of exactly four digits: "2019", "2019-05-01", "2019-05-01T10:00", "01.05.2019".
fn parse_year(s: &str) -> Option<i32> {
    s.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == 4)
        .and_then(|run| run.parse().ok())
        .filter(|y| *y > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> RawTags {
        RawTags(
            pairs
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), clean(v.as_bytes())))
                .collect(),
            None,
        )
    }

    #[test]
    fn musicbrainz_ids_from_vorbis_and_id3_spellings() {
        let rec = "6A0AB9E8-8B2F-4C3E-9D1A-0123456789AB";
        let vorbis = raw(&[
            ("MUSICBRAINZ_TRACKID", rec),
            ("MUSICBRAINZ_ALBUMID", "not-an-id"),
            (
                "MUSICBRAINZ_ARTISTID",
                "0383dadf-2a4e-4d10-a46a-e9e041da8eb3/f27ec8db-af05-4f36-916e-3d57f91ecf5e",
            ),
        ])
        .to_tags()
        .musicbrainz;
        assert_eq!(
            vorbis.recording_id.as_deref(),
            Some(&*rec.to_ascii_lowercase())
        );
        assert_eq!(
            vorbis.release_id, None,
            "a value that is not an id is left out"
        );
        assert_eq!(
            vorbis.artist_id.as_deref(),
            Some("0383dadf-2a4e-4d10-a46a-e9e041da8eb3"),
            "the first of several artists"
        );
        let id3 = raw(&[(
            "MusicBrainz Album Id",
            "f27ec8db-af05-4f36-916e-3d57f91ecf5e",
        )])
        .to_tags()
        .musicbrainz;
        assert_eq!(
            id3.release_id.as_deref(),
            Some("f27ec8db-af05-4f36-916e-3d57f91ecf5e")
        );
        assert!(raw(&[]).to_tags().musicbrainz.is_empty());
        for bad in [
            "",
            "0383dadf-2a4e-4d10-a46a",
            "0383dadfx2a4e-4d10-a46a-e9e041da8eb3",
            "g383dadf-2a4e-4d10-a46a-e9e041da8eb3",
        ] {
            assert_eq!(musicbrainz_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn lyrics_keep_their_lines_and_lose_control_characters() {
        assert!(is_lyrics_key("lyrics-eng") && is_lyrics_key("unsyncedlyrics"));
        assert!(!is_lyrics_key("lyricist"));
        assert_eq!(
            clean_lyrics(b"  one\r\ntwo\rthree\x07\n\n"),
            "one\ntwo\nthree"
        );
        let long = "la ".repeat(MAX_LYRICS_CHARS);
        assert_eq!(
            clean_lyrics(long.as_bytes()).chars().count(),
            MAX_LYRICS_CHARS
        );
    }

    #[test]
    fn vorbis_style_keys_and_split_totals() {
        let t = raw(&[
            ("TITLE", "Song"),
            ("ALBUMARTIST", "Various"),
            ("TRACKNUMBER", "3"),
            ("TRACKTOTAL", "10"),
            ("DISCNUMBER", "2"),
            ("DISCTOTAL", "2"),
            ("DATE", "1999-12-31"),
        ])
        .to_tags();
        assert_eq!(t.title.as_deref(), Some("Song"));
        assert_eq!(t.album_artist.as_deref(), Some("Various"));
        assert_eq!((t.track, t.track_total), (Some(3), Some(10)));
        assert_eq!((t.disc, t.disc_total), (Some(2), Some(2)));
        assert_eq!(t.year, Some(1999));
    }

    #[test]
    fn id3_style_pairs_and_first_value_wins() {
        let t = raw(&[
            ("track", "7/12"),
            ("disc", "1/2"),
            ("date", "2019"),
            ("title", "Format"),
            ("TITLE", "Stream"),
        ])
        .to_tags();
        assert_eq!((t.track, t.track_total), (Some(7), Some(12)));
        assert_eq!((t.disc, t.disc_total), (Some(1), Some(2)));
        assert_eq!(t.year, Some(2019));
        assert_eq!(t.title.as_deref(), Some("Format"));
    }

    #[test]
    fn garbage_numbers_are_none_not_errors() {
        let t = raw(&[("track", "A1"), ("disc", "/"), ("date", "unknown")]).to_tags();
        assert_eq!(
            (t.track, t.track_total, t.disc, t.year),
            (None, None, None, None)
        );
    }

    #[test]
    fn invalid_utf8_and_huge_values_are_tamed() {
        assert_eq!(clean(b"Caf\xe9 \xff"), "Caf\u{fffd} \u{fffd}");
        let huge = "x".repeat(100_000);
        assert_eq!(clean(huge.as_bytes()).chars().count(), MAX_TAG_CHARS);
        assert_eq!(clean(b"  a\x00b\n "), "ab");
    }
}
