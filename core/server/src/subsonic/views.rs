//! ChillFi's songs, albums and artists as Subsonic elements (`Child`, `AlbumID3`, `ArtistID3`),
//! with the asking user's stars and ratings.

use std::collections::HashMap;

use crate::store::favourites::{Favourites, ItemKind};
use crate::store::songs::{Album, Artist, Song, SongView};

use super::response::Elem;

/// Seconds since the epoch as ISO 8601 UTC (`2026-12-03T07:59:31Z`).
pub fn iso8601(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The cover-art id clients pass back to `getCoverArt`: the content-addressed art name
/// (`<sha256>.<ext>`), so one picture is one id however many songs carry it.
pub fn cover_id_of_key(cover_key: Option<&str>) -> Option<String> {
    cover_key
        .and_then(|k| k.strip_prefix("art/"))
        .map(str::to_string)
}

fn cover_id_of_url(url: Option<&str>) -> Option<String> {
    url.and_then(|u| u.strip_prefix("/art/"))
        .map(str::to_string)
}

/// The per-user state of one item.
#[derive(Default)]
pub struct Marks {
    pub starred: Option<i64>,
    pub rating: Option<u8>,
}

/// One user's stars and ratings, read once per request.
pub struct MarkBook {
    stars: HashMap<(ItemKind, String), i64>,
    ratings: HashMap<(ItemKind, String), u8>,
}

impl MarkBook {
    pub fn load(favs: &Favourites, user_id: &str) -> crate::error::AppResult<Self> {
        let mut stars = HashMap::new();
        let mut ratings = HashMap::new();
        for kind in [ItemKind::Song, ItemKind::Album, ItemKind::Artist] {
            for (id, at) in favs.starred(user_id, kind)? {
                stars.insert((kind, id), at);
            }
            for (id, r) in favs.ratings(user_id, kind)? {
                ratings.insert((kind, id), r);
            }
        }
        Ok(Self { stars, ratings })
    }

    pub fn of(&self, kind: ItemKind, id: &str) -> Marks {
        let key = (kind, id.to_string());
        Marks {
            starred: self.stars.get(&key).copied(),
            rating: self.ratings.get(&key).copied(),
        }
    }
}

impl Marks {
    fn apply(&self, e: Elem) -> Elem {
        e.opt("starred", self.starred.map(iso8601))
            .opt("userRating", self.rating)
    }
}

/// A file name that is safe in a fake path (folder clients show it).
fn path_part(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if matches!(c, '/' | '\\') || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if cleaned.trim().is_empty() {
        "Unknown".into()
    } else {
        cleaned
    }
}

/// A song as a Subsonic `Child`.
pub fn song(view: &SongView, marks: &Marks) -> Elem {
    let s: &Song = &view.song;
    let artist_name = if s.artist.is_empty() {
        "Unknown Artist"
    } else {
        &s.artist
    };
    let album_name = if s.album.is_empty() {
        "Unknown Album"
    } else {
        &s.album
    };
    let e = Elem::new()
        .a("id", &s.id)
        .a("parent", &s.album_id)
        .a("isDir", false)
        .a("title", &s.title)
        .a("album", album_name)
        .a("artist", artist_name)
        .opt("track", s.track)
        .opt("year", s.year)
        .nonempty("genre", &s.genre)
        .opt("coverArt", cover_id_of_key(s.cover_key.as_deref()))
        .a("size", s.size_bytes)
        .a("contentType", "audio/mpeg")
        .a("suffix", "mp3")
        .a("duration", s.duration_ms / 1000)
        .a("bitRate", s.bitrate.div_ceil(1000))
        .a(
            "path",
            format!(
                "{}/{}/{}.mp3",
                path_part(artist_name),
                path_part(album_name),
                path_part(&s.title)
            ),
        )
        .a("playCount", view.play_count)
        .opt("discNumber", s.disc)
        .a("created", iso8601(s.created_at))
        .a("albumId", &s.album_id)
        .a("artistId", &s.artist_id)
        .a("type", "music")
        .a("isVideo", false)
        .a("mediaType", "song")
        .a("samplingRate", s.sample_rate)
        .a("channelCount", s.channels)
        .opt("musicBrainzId", s.music_brainz.recording_id.as_deref())
        .a("displayArtist", artist_name)
        .a(
            "displayAlbumArtist",
            if s.album_artist.is_empty() {
                artist_name
            } else {
                &s.album_artist
            },
        );
    let e = marks.apply(e);
    let genres = if s.genre.is_empty() {
        vec![]
    } else {
        vec![Elem::new().a("name", &s.genre)]
    };
    e.list("genres", genres).list(
        "artists",
        vec![Elem::new().a("id", &s.artist_id).a("name", artist_name)],
    )
}

/// An album as `AlbumID3` (songs added by the caller when wanted).
pub fn album(a: &Album, marks: &Marks, genre: Option<&str>) -> Elem {
    let artist_name = if a.artist.is_empty() {
        "Unknown Artist"
    } else {
        &a.artist
    };
    let artist_id = crate::store::songs::artist_id(&a.artist);
    let e = Elem::new()
        .a("id", &a.id)
        .a(
            "name",
            if a.name.is_empty() {
                "Unknown Album"
            } else {
                &a.name
            },
        )
        .a(
            "title",
            if a.name.is_empty() {
                "Unknown Album"
            } else {
                &a.name
            },
        )
        .a("artist", artist_name)
        .a("artistId", &artist_id)
        .opt("coverArt", cover_id_of_url(a.cover_url.as_deref()))
        .a("songCount", a.song_count)
        .a("duration", a.duration_ms / 1000)
        .a("created", iso8601(a.created_at))
        .opt("year", a.year)
        .opt("genre", genre.filter(|g| !g.is_empty()))
        .a("isDir", true)
        .a("parent", &artist_id)
        .a("displayArtist", artist_name);
    marks.apply(e).list(
        "artists",
        vec![Elem::new().a("id", &artist_id).a("name", artist_name)],
    )
}

/// An artist as `ArtistID3`.
pub fn artist(a: &Artist, marks: &Marks) -> Elem {
    let e = Elem::new()
        .a("id", &a.id)
        .a(
            "name",
            if a.name.is_empty() {
                "Unknown Artist"
            } else {
                &a.name
            },
        )
        .a("albumCount", a.album_count);
    marks.apply(e)
}

/// The index letter of a name (`#` for anything not a letter).
pub fn index_letter(name: &str) -> String {
    let folded = crate::store::songs::fold(name.trim());
    let folded = folded.strip_prefix("the ").unwrap_or(&folded);
    match folded.chars().next() {
        Some(c) if c.is_alphabetic() => c.to_uppercase().collect(),
        _ => "#".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_iso8601_utc() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(1_796_284_771), "2026-12-03T07:59:31Z");
    }

    #[test]
    fn index_letters_fold_accents_and_articles() {
        assert_eq!(index_letter("Édith Piaf"), "E");
        assert_eq!(index_letter("the Beatles"), "B");
        assert_eq!(index_letter("2Pac"), "#");
        assert_eq!(index_letter(""), "#");
    }

    #[test]
    fn cover_ids_are_art_names() {
        assert_eq!(
            cover_id_of_key(Some("art/ab.jpg")).as_deref(),
            Some("ab.jpg")
        );
        assert_eq!(
            cover_id_of_url(Some("/art/ab.png")).as_deref(),
            Some("ab.png")
        );
        assert_eq!(cover_id_of_key(None), None);
    }
}
