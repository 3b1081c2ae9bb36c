//! What listeners do with the library: browse and search (validated queries over the song
//! index), play (expiring stream URLs), and edit or delete songs (owner or admin, validated tags,
//! album/artist regrouping, blob clean-up).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use chillfi_storage::BlobStore;

use crate::bus::{Bus, Event};
use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::service::covers::{self, CoverCache};
use crate::service::stream_urls::StreamSigner;
use crate::service::variants::Variants;
use crate::store::db::now_secs;
use crate::store::songs::{self, Page, Song, SongFilter, SongSort, SongView, Songs, fold};
use crate::store::users::{User, clean_text};

pub const MAX_LIMIT: u64 = 500;
const DEFAULT_LIMIT: u64 = 50;

/// `page`/`limit` of a list request, validated.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub page: u64,
    pub limit: u64,
}

impl Paging {
    pub fn new(page: Option<u64>, limit: Option<u64>) -> AppResult<Self> {
        let page = page.unwrap_or(1);
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if page == 0 {
            return Err(AppError::invalid_field("page", "pages count from 1"));
        }
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(AppError::invalid_field(
                "limit",
                format!("limit is 1 to {MAX_LIMIT}"),
            ));
        }
        Ok(Self { page, limit })
    }

    pub fn offset(&self) -> usize {
        usize::try_from((self.page - 1).saturating_mul(self.limit)).unwrap_or(usize::MAX)
    }

    /// Slices an already ordered list.
    pub fn slice<T>(&self, all: Vec<T>) -> (Vec<T>, usize) {
        let total = all.len();
        let items = all
            .into_iter()
            .skip(self.offset())
            .take(self.limit as usize)
            .collect();
        (items, total)
    }
}

/// `{items, total, page, limit, version}` on the wire.
#[derive(Serialize)]
pub struct PageOut<T> {
    pub items: Vec<T>,
    pub total: usize,
    pub page: u64,
    pub limit: u64,
    pub version: u64,
}

impl<T> PageOut<T> {
    pub fn new(items: Vec<T>, total: usize, paging: Paging, version: u64) -> Self {
        Self {
            items,
            total,
            page: paging.page,
            limit: paging.limit,
            version,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SongFilters {
    artist: Option<String>,
    album: Option<String>,
    album_id: Option<String>,
    artist_id: Option<String>,
    genre: Option<String>,
    year: Option<i32>,
    uploader: Option<String>,
    search: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SongListRequest {
    filters: SongFilters,
    sort: Option<String>,
    order: Option<String>,
    page: Option<u64>,
    limit: Option<u64>,
}

/// Whether `order` asks for descending order; `default_desc` when absent.
pub fn descending(order: Option<&str>, default_desc: bool) -> AppResult<bool> {
    match order {
        None => Ok(default_desc),
        Some("asc") => Ok(false),
        Some("desc") => Ok(true),
        Some(other) => Err(AppError::invalid_field(
            "order",
            format!("order is \"asc\" or \"desc\", not '{other}'"),
        )),
    }
}

/// Search text as the folded words the index matches.
pub fn search_words(search: Option<&str>) -> AppResult<Vec<String>> {
    let search = search.unwrap_or("");
    if search.chars().count() > 200 {
        return Err(AppError::invalid_field("search", "at most 200 characters"));
    }
    // Control characters (NUL above all: it separates rows in the search buffer) split words.
    Ok(fold(search)
        .replace(|c: char| c.is_control(), " ")
        .split_whitespace()
        .map(str::to_string)
        .collect())
}

/// A validated song listing over `songs`.
pub fn list_songs(songs: &Songs, req: SongListRequest) -> AppResult<PageOut<SongView>> {
    let sort = match req.sort.as_deref().unwrap_or("createdAt") {
        "title" => SongSort::Title,
        "artist" => SongSort::Artist,
        "album" => SongSort::Album,
        "year" => SongSort::Year,
        "createdAt" => SongSort::CreatedAt,
        "durationMs" => SongSort::DurationMs,
        "playCount" => SongSort::PlayCount,
        other => {
            return Err(AppError::invalid_field(
                "sort",
                format!(
                    "sort by title, artist, album, year, createdAt, durationMs or playCount, \
                     not '{other}'"
                ),
            ));
        }
    };
    let desc = descending(
        req.order.as_deref(),
        matches!(sort, SongSort::CreatedAt | SongSort::PlayCount),
    )?;
    let paging = Paging::new(req.page, req.limit)?;
    let f = req.filters;
    let filter = SongFilter {
        artist: f.artist,
        album: f.album,
        album_id: f.album_id,
        artist_id: f.artist_id,
        genre: f.genre,
        year: f.year,
        uploader: f.uploader,
        search: search_words(f.search.as_deref())?,
    };
    // Read the version first: the page is at least that new, so a client that then asks
    // `library:changes {since: version}` misses nothing.
    let version = songs.version();
    let Page { items, total } =
        songs.list(&filter, sort, desc, paging.offset(), paging.limit as usize);
    Ok(PageOut::new(items, total, paging, version))
}

/// Owner or admin; anyone else is `forbidden`.
pub fn check_can_edit(user: &User, song: &Song) -> AppResult<()> {
    if user.is_admin || song.uploader_id == user.id {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "only the uploader or an administrator can change this song".into(),
        ))
    }
}

/// `Some(None)` for an explicit `null` (clear the value), `None` when the key is absent.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Metadata {
    title: Option<String>,
    artist: Option<String>,
    album: Option<String>,
    album_artist: Option<String>,
    genre: Option<String>,
    #[serde(deserialize_with = "nullable")]
    year: Option<Option<i64>>,
    #[serde(deserialize_with = "nullable")]
    track: Option<Option<i64>>,
    #[serde(deserialize_with = "nullable")]
    track_total: Option<Option<i64>>,
    #[serde(deserialize_with = "nullable")]
    disc: Option<Option<i64>>,
    #[serde(deserialize_with = "nullable")]
    disc_total: Option<Option<i64>>,
}

fn tag(name: &str, value: &str, max: usize, fallback: Option<&str>) -> AppResult<String> {
    let field = format!("metadata.{name}");
    let value = clean_text(&field, value, max)?;
    if value.contains('\n') {
        return Err(AppError::invalid_field(field, "a tag is one line"));
    }
    match (value.is_empty(), fallback) {
        (false, _) => Ok(value),
        (true, Some(fallback)) => Ok(fallback.to_string()),
        (true, None) => Err(AppError::invalid_field(field, "cannot be empty")),
    }
}

fn number(
    name: &str,
    value: Option<i64>,
    range: std::ops::RangeInclusive<i64>,
) -> AppResult<Option<u32>> {
    match value {
        None => Ok(None),
        Some(v) if range.contains(&v) => Ok(u32::try_from(v).ok()),
        Some(_) => Err(AppError::invalid_field(
            format!("metadata.{name}"),
            format!("{name} is {} to {} or null", range.start(), range.end()),
        )),
    }
}

impl Metadata {
    /// The song with these changes, validated; ids follow the names.
    pub fn apply(&self, song: &Song) -> AppResult<Song> {
        let mut s = song.clone();
        if let Some(v) = &self.title {
            s.title = tag("title", v, 256, None)?;
        }
        if let Some(v) = &self.artist {
            s.artist = tag("artist", v, 256, Some("Unknown Artist"))?;
        }
        if let Some(v) = &self.album {
            s.album = tag("album", v, 256, Some("Unknown Album"))?;
        }
        if let Some(v) = &self.album_artist {
            s.album_artist = tag("albumArtist", v, 256, Some(&s.artist.clone()))?;
        }
        if let Some(v) = &self.genre {
            s.genre = clean_text("metadata.genre", v, 64)?;
            if s.genre.contains('\n') {
                return Err(AppError::invalid_field(
                    "metadata.genre",
                    "a tag is one line",
                ));
            }
        }
        if let Some(v) = self.year {
            s.year = number("year", v, 1000..=9999)?.map(|y| y as i32);
        }
        for (name, value, slot) in [
            ("track", self.track, &mut s.track),
            ("trackTotal", self.track_total, &mut s.track_total),
            ("disc", self.disc, &mut s.disc),
            ("discTotal", self.disc_total, &mut s.disc_total),
        ] {
            if let Some(v) = value {
                *slot = number(name, v, 1..=9999)?;
            }
        }
        s.album_id = songs::album_id(&s.album_artist, &s.album);
        s.artist_id = songs::artist_id(&s.artist);
        s.updated_at = now_secs();
        Ok(s)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlayUrl {
    pub url: String,
    pub expires_at: i64,
    pub song: SongView,
    pub format: crate::service::variants::PlayFormat,
}

/// The library's rules over the song store: edits and deletions (owner or admin, validated tags,
/// blob clean-up, announced on the bus) and stream URLs.
#[derive(Clone)]
pub struct Library {
    cfg: Arc<Config>,
    songs: Songs,
    blobs: BlobStore,
    variants: Arc<Variants>,
    signer: Arc<StreamSigner>,
    bus: Bus,
    covers: Arc<CoverCache>,
}

impl Library {
    pub fn new(
        cfg: Arc<Config>,
        songs: Songs,
        blobs: BlobStore,
        variants: Arc<Variants>,
        signer: Arc<StreamSigner>,
        bus: Bus,
        covers: Arc<CoverCache>,
    ) -> Self {
        Self {
            cfg,
            songs,
            blobs,
            variants,
            signer,
            bus,
            covers,
        }
    }

    pub fn list_songs(&self, req: SongListRequest) -> AppResult<PageOut<SongView>> {
        list_songs(&self.songs, req)
    }

    fn editable(&self, user: &User, song_id: &str) -> AppResult<Song> {
        let song = self.songs.get(song_id)?.ok_or(AppError::NotFound("song"))?;
        check_can_edit(user, &song)?;
        Ok(song)
    }

    fn commit_edit(&self, edited: &Song) -> AppResult<SongView> {
        let version = self.songs.replace(edited)?;
        let view = self.songs.view(edited);
        self.bus.publish(Event::SongUpdated {
            song: view.clone(),
            version,
        });
        Ok(view)
    }

    /// Edits one song's tags.
    pub fn update(&self, user: &User, song_id: &str, metadata: &Metadata) -> AppResult<SongView> {
        let edited = metadata.apply(&self.editable(user, song_id)?)?;
        self.commit_edit(&edited)
    }

    /// Edits several songs the same way: every song is checked and validated before any is
    /// written, so a refusal changes nothing.
    pub fn update_many(
        &self,
        user: &User,
        song_ids: &[String],
        metadata: &Metadata,
    ) -> AppResult<Vec<SongView>> {
        if song_ids.is_empty() || song_ids.len() > MAX_LIMIT as usize {
            return Err(AppError::invalid_field(
                "songIds",
                format!("1 to {MAX_LIMIT} songs per request"),
            ));
        }
        let edited = song_ids
            .iter()
            .map(|id| metadata.apply(&self.editable(user, id)?))
            .collect::<AppResult<Vec<_>>>()?;
        edited.iter().map(|song| self.commit_edit(song)).collect()
    }

    /// Deletes a song, its blobs when no other song uses them, and its cached variants.
    pub async fn delete(&self, user: &User, song_id: &str) -> AppResult<Song> {
        let song = self.editable(user, song_id)?;
        let (song, version) = self.songs.remove(&song.id)?;
        self.delete_blobs(&song).await;
        tracing::info!(id = %song.id, title = %song.title, by = %user.username, "song deleted");
        self.bus.publish(Event::SongDeleted {
            song_id: song.id.clone(),
            version,
        });
        Ok(song)
    }

    /// Deletes the stored file and cover (with its resized copies) unless another song still
    /// uses them.
    async fn delete_blobs(&self, song: &Song) {
        let mut keys = vec![song.blob_key()];
        keys.extend(song.cover_key.clone());
        for key in keys {
            match self.songs.references_blob(&key) {
                Ok(false) => {
                    if let Err(e) = self.blobs.delete(&key).await {
                        tracing::warn!(key, "deleting a blob of a deleted song: {e:?}");
                    }
                    if song.cover_key.as_deref() == Some(key.as_str()) {
                        self.delete_sized_covers(covers::cover_hash(&key)).await;
                    }
                }
                Ok(true) => {}
                Err(e) => tracing::warn!(key, "checking blob references: {e}"),
            }
        }
        self.variants.delete_for(&self.songs, song).await;
    }

    async fn delete_sized_covers(&self, hash: &str) {
        self.covers.forget(hash);
        match self.blobs.list(&covers::sized_prefix(hash)).await {
            Ok(keys) => {
                for key in keys {
                    if let Err(e) = self.blobs.delete(&key).await {
                        tracing::warn!(key, "deleting a resized cover: {e:?}");
                    }
                }
            }
            Err(e) => tracing::warn!(hash, "listing resized covers: {e:?}"),
        }
    }

    /// A URL that streams the song (with Range) until `expires_at`: the stored MP3, or a cached
    /// streaming variant (which must already be in the blob store) chosen by `plugin`.
    pub async fn play_url(
        &self,
        song: &Song,
        variant: Option<(&crate::service::variants::Variant, String)>,
    ) -> AppResult<PlayUrl> {
        let ttl = self.cfg.playback.url_ttl_secs;
        let expires_at = now_secs() + ttl as i64;
        let (key, format) = match &variant {
            Some((v, plugin)) => (v.key(&song.hash), v.format(Some(plugin.clone()))),
            None => (
                song.blob_key(),
                crate::service::variants::PlayFormat::stored(song),
            ),
        };
        let name = variant.as_ref().map(|(v, _)| v.name());
        let url = match self
            .blobs
            .presigned_get(&key, Duration::from_secs(ttl))
            .await
        {
            Ok(Some(url)) => url,
            Ok(None) => self
                .signer
                .variant_url(&song.id, &song.hash, name.as_deref(), expires_at),
            Err(e) => {
                return Err(AppError::internal(format!(
                    "presigning a stream URL: {e:?}"
                )));
            }
        };
        Ok(PlayUrl {
            url,
            expires_at,
            song: self.songs.view(song),
            format,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn song() -> Song {
        serde_json::from_value(json!({
            "id": "s1", "title": "T", "artist": "A", "album": "B", "albumArtist": "A",
            "track": 1, "trackTotal": null, "disc": null, "discTotal": null, "year": 2001,
            "genre": "", "durationMs": 1, "bitrate": 1, "sampleRate": 1, "channels": 2,
            "sourceHash": "x", "hash": "y", "sizeBytes": 1, "coverKey": null, "albumId": "",
            "artistId": "", "uploaderId": "u", "originalName": "t.mp3", "conversion": "encoded",
            "createdAt": 0, "updatedAt": 0
        }))
        .unwrap()
    }

    fn apply(patch: serde_json::Value) -> AppResult<Song> {
        let meta: Metadata = serde_json::from_value(patch).unwrap();
        meta.apply(&song())
    }

    fn field_of(result: AppResult<Song>) -> String {
        match result {
            Err(AppError::Invalid { field: Some(f), .. }) => f,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn edits_are_trimmed_and_regroup_the_song() {
        let s =
            apply(json!({"title": "  New  ", "album": "Other", "year": null, "track": 7})).unwrap();
        assert_eq!(s.title, "New");
        assert_eq!(s.year, None, "null clears");
        assert_eq!(s.track, Some(7));
        assert_eq!(s.album_id, songs::album_id("A", "Other"));
        let s = apply(json!({"artist": " ", "album": ""})).unwrap();
        assert_eq!(
            (s.artist.as_str(), s.album.as_str()),
            ("Unknown Artist", "Unknown Album")
        );
        let html = apply(json!({"title": "<b>bold</b> & \"quoted\""})).unwrap();
        assert_eq!(
            html.title, "<b>bold</b> & \"quoted\"",
            "tags are data, kept verbatim"
        );
    }

    #[test]
    fn bad_tags_name_their_field() {
        assert_eq!(field_of(apply(json!({"title": ""}))), "metadata.title");
        assert_eq!(
            field_of(apply(json!({"title": "a\u{7}b"}))),
            "metadata.title"
        );
        assert_eq!(
            field_of(apply(json!({"artist": "x".repeat(257)}))),
            "metadata.artist"
        );
        assert_eq!(field_of(apply(json!({"year": 999}))), "metadata.year");
        assert_eq!(field_of(apply(json!({"track": 0}))), "metadata.track");
        assert_eq!(
            field_of(apply(json!({"discTotal": 10000}))),
            "metadata.discTotal"
        );
        assert_eq!(field_of(apply(json!({"genre": "a\nb"}))), "metadata.genre");
        assert!(serde_json::from_value::<Metadata>(json!({"uploaderId": "me"})).is_err());
    }

    #[test]
    fn paging_is_bounded() {
        assert!(Paging::new(Some(0), None).is_err());
        assert!(Paging::new(None, Some(501)).is_err());
        assert!(Paging::new(None, Some(0)).is_err());
        let p = Paging::new(Some(3), Some(10)).unwrap();
        assert_eq!(p.offset(), 20);
        assert_eq!(p.slice((0..25).collect()), (vec![20, 21, 22, 23, 24], 25));
        assert_eq!(
            search_words(Some("  Beyoncé  KNOWLES ")).unwrap(),
            ["beyonce", "knowles"]
        );
    }
}
