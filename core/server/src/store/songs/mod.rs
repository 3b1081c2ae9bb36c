//! The song index: songs in sled (the truth), the source-hash index that makes ingest
//! idempotent, the library change feed, and an in-memory index for fast listing and search
//! from which albums and artists are derived.
//! Invariants: a song record exists only after its blob was stored; one source hash maps to at
//! most one song; every committed change gets the next library version, in commit order (one
//! writer at a time), and the in-memory index always equals sled after each write.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};

use crate::error::AppResult;
use crate::store::db;
#[cfg(test)]
use crate::store::db::Db;
use index::{Entry, Index, blob_tag};
use load::version_key;
use query::{Matcher, Snapshot};

const SONGS: &str = "songs";
const BY_SOURCE: &str = "songs_by_source_hash";
/// Library version (u64 big-endian) -> id of the song that changed then.
const CHANGES: &str = "song_changes";
const PLAY_COUNTS: &str = "song_play_counts";
/// Song id -> the lyrics read from its file (kept apart: song views never carry them).
const LYRICS: &str = "song_lyrics";
/// Change records kept for `library:changes`; older clients reload.
const CHANGES_KEPT: usize = 100_000;

mod index;
mod load;
mod query;
mod record;
mod snapshot;
mod write;

pub use load::LoadedIndex;

pub use query::{Changes, Page, SongFilter, SongSort};
pub use record::{
    Album, Artist, Song, SongView, album_id, art_name, art_url, artist_id, fold, song_blob_key,
};

#[derive(Clone)]
pub struct Songs {
    songs: sled::Tree,
    by_source: sled::Tree,
    changes: sled::Tree,
    play_counts: sled::Tree,
    lyrics: sled::Tree,
    index: Arc<RwLock<Index>>,
    /// One writer at a time, so versions are handed out in commit order.
    writer: Arc<Mutex<()>>,
}

impl Songs {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, id: &str) -> AppResult<Option<Song>> {
        db::get(&self.songs, id)
    }

    /// A song record as a client sees it; `None` when it is gone (or unreadable, which is
    /// logged: one bad record must not break a whole listing).
    fn view_entry(&self, entry: &Entry) -> Option<SongView> {
        match self.get(&entry.id) {
            Ok(song) => Some(SongView {
                song: Arc::new(song?),
                play_count: entry.plays.load(Ordering::Relaxed),
                marks: None,
            }),
            Err(e) => {
                tracing::error!(id = %entry.id, "reading a song: {e}");
                None
            }
        }
    }

    fn views<'a>(&self, entries: impl IntoIterator<Item = &'a Arc<Entry>>) -> Vec<SongView> {
        entries
            .into_iter()
            .filter_map(|e| self.view_entry(e))
            .collect()
    }

    /// The lyrics read from the song's file, if it had any.
    pub fn lyrics(&self, id: &str) -> AppResult<Option<String>> {
        Ok(self
            .lyrics
            .get(id.as_bytes())?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    pub fn contains(&self, id: &str) -> bool {
        self.read().entries.contains_key(id)
    }

    pub fn view_of(&self, id: &str) -> Option<SongView> {
        let entry = self.read().entries.get(id).cloned()?;
        self.view_entry(&entry)
    }

    /// The wire form of a song (for one that was just deleted: with no plays).
    pub fn view(&self, song: &Song) -> SongView {
        let plays = self
            .read()
            .entries
            .get(song.id.as_str())
            .map(|e| e.plays.load(Ordering::Relaxed));
        SongView {
            song: Arc::new(song.clone()),
            play_count: plays.unwrap_or(0),
            marks: None,
        }
    }

    /// The songs that exist, in the order asked; missing ids are skipped.
    pub fn get_many(&self, ids: &[String]) -> Vec<Song> {
        ids.iter()
            .filter_map(|id| self.get(id).ok().flatten())
            .collect()
    }

    pub fn views_of(&self, ids: &[String]) -> Vec<Option<SongView>> {
        ids.iter().map(|id| self.view_of(id)).collect()
    }

    pub fn by_source_hash(&self, source_hash: &str) -> AppResult<Option<Song>> {
        match self.by_source.get(source_hash)? {
            Some(id) => self.get(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    pub fn count(&self) -> usize {
        self.read().entries.len()
    }

    pub fn version(&self) -> u64 {
        self.read().version
    }

    /// Is any song stored under this blob key (song file or cover)? Guards blob deletion.
    pub fn references_blob(&self, key: &str) -> AppResult<bool> {
        let tag = blob_tag(key);
        let candidates: Vec<Arc<Entry>> = {
            let index = self.read();
            if index
                .entries
                .values()
                .any(|e| e.cover_key.as_deref() == Some(key))
            {
                return Ok(true);
            }
            index
                .entries
                .values()
                .filter(|e| e.blob_tag == tag)
                .cloned()
                .collect()
        };
        for entry in candidates {
            if self.get(&entry.id)?.is_some_and(|s| s.blob_key() == key) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Total source bytes credited to a user (for quotas).
    pub fn bytes_of_user(&self, user_id: &str) -> AppResult<u64> {
        Ok(self
            .read()
            .entries
            .values()
            .filter(|e| &*e.uploader_id == user_id)
            .map(|e| e.size_bytes)
            .sum())
    }

    /// A page of songs; `descending` walks the sort order backwards.
    pub fn list(
        &self,
        filter: &SongFilter,
        sort: SongSort,
        descending: bool,
        offset: usize,
        limit: usize,
    ) -> Page<SongView> {
        let snapshot = self.snapshot();
        let order = snapshot.order(sort);
        let pass = snapshot.search(&filter.search);
        let matcher = Matcher::new(filter);
        let rows: Box<dyn Iterator<Item = usize>> = if descending {
            Box::new(order.iter().rev().map(|&r| r as usize))
        } else {
            Box::new(order.iter().map(|&r| r as usize))
        };
        if !matcher.fields {
            // No filter but the search words (if any): the total is a count, and the walk stops
            // at the page.
            let (rows, total): (Box<dyn Iterator<Item = usize>>, usize) = match &pass {
                None => (rows, order.len()),
                Some(pass) => (
                    Box::new(rows.filter(|&r| pass[r])),
                    pass.iter().filter(|p| **p).count(),
                ),
            };
            let items = rows
                .skip(offset)
                .take(limit)
                .filter_map(|r| self.view_entry(&snapshot.rows[r]))
                .collect();
            return Page { items, total };
        }
        let mut total = 0;
        let mut items = Vec::new();
        for row in rows {
            if pass.as_ref().is_some_and(|p| !p[row]) || !matcher.matches(&snapshot.rows[row]) {
                continue;
            }
            if total >= offset
                && items.len() < limit
                && let Some(view) = self.view_entry(&snapshot.rows[row])
            {
                items.push(view);
            }
            total += 1;
        }
        Page { items, total }
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        if let Some(snapshot) = self.read().snapshot.clone() {
            return snapshot;
        }
        let mut index = self.write();
        let snapshot = match &index.snapshot {
            Some(snapshot) => snapshot.clone(),
            None => Arc::new(Snapshot::new(&index.entries)),
        };
        index.snapshot = Some(snapshot.clone());
        snapshot
    }

    pub fn album(&self, id: &str) -> Option<(Album, Vec<SongView>)> {
        let index = self.read();
        let songs = index.album_tracks(id)?;
        let album = index.album_of(id, &songs)?;
        Some((album, self.views(songs)))
    }

    pub fn albums(&self) -> Vec<Album> {
        let index = self.read();
        index
            .by_album
            .keys()
            .filter_map(|id| index.album(id))
            .collect()
    }

    pub fn artist(&self, id: &str) -> Option<(Artist, Vec<Album>, Vec<SongView>)> {
        let index = self.read();
        let artist = index.artist(id)?;
        let mut songs: Vec<_> = index.by_artist.get(id)?.members.iter().collect();
        songs.sort_by(|a, b| {
            (a.album_key(), a.disc, a.track, a.title_key()).cmp(&(
                b.album_key(),
                b.disc,
                b.track,
                b.title_key(),
            ))
        });
        let album_ids: BTreeSet<&str> = songs.iter().map(|e| &*e.album_id).collect();
        let albums = album_ids
            .into_iter()
            .filter_map(|a| index.album(a))
            .collect();
        Some((artist, albums, self.views(songs)))
    }

    pub fn artists(&self) -> Vec<Artist> {
        let index = self.read();
        index
            .by_artist
            .keys()
            .filter_map(|id| index.artist(id))
            .collect()
    }

    /// (songs, albums, artists, total duration, total stored bytes, version)
    pub fn stats(&self) -> (usize, usize, usize, u64, u64, u64) {
        let index = self.read();
        let (duration, bytes) = index
            .entries
            .values()
            .fold((0, 0), |(d, b), e| (d + e.duration_ms, b + e.size_bytes));
        (
            index.entries.len(),
            index.by_album.len(),
            index.by_artist.len(),
            duration,
            bytes,
            index.version,
        )
    }

    /// What changed after version `since`.
    pub fn changes_since(&self, since: u64) -> AppResult<Changes> {
        let index = self.read();
        let version = index.version;
        let reset = since > version || (index.oldest_kept > 1 && since + 1 < index.oldest_kept);
        if reset {
            return Ok(Changes {
                version,
                upserted: vec![],
                deleted: vec![],
                reset,
            });
        }
        let mut seen = BTreeSet::new();
        for item in self.changes.range((since + 1).to_be_bytes()..) {
            let (key, id) = item?;
            if version_key(&key) > version {
                break; // committed after our snapshot of the index; the next call gets it
            }
            seen.insert(String::from_utf8_lossy(&id).to_string());
        }
        let mut upserted = Vec::new();
        let mut deleted = Vec::new();
        for id in seen {
            match index
                .entries
                .get(id.as_str())
                .and_then(|e| self.view_entry(e))
            {
                Some(view) => upserted.push(view),
                None => deleted.push(id),
            }
        }
        Ok(Changes {
            version,
            upserted,
            deleted,
            reset: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn song(id: &str, source: &str, album: &str) -> Song {
        Song {
            id: id.into(),
            title: format!("Title {id}"),
            artist: "Artist".into(),
            album: album.into(),
            album_artist: "Artist".into(),
            track: Some(1),
            track_total: None,
            disc: None,
            disc_total: None,
            year: Some(2001),
            genre: String::new(),
            duration_ms: 1000,
            bitrate: 320_000,
            sample_rate: 44100,
            channels: 2,
            source_hash: source.into(),
            hash: format!("out{source}"),
            size_bytes: 10,
            cover_key: None,
            album_id: album_id("Artist", album),
            artist_id: artist_id("Artist"),
            uploader_id: "u1".into(),
            original_name: "x.flac".into(),
            conversion: "encoded".into(),
            created_at: 0,
            updated_at: 0,
            music_brainz: Default::default(),
        }
    }

    fn open() -> (tempfile::TempDir, Songs) {
        let dir = tempfile::tempdir().unwrap();
        let songs = Songs::new(&Db::open(dir.path()).unwrap()).unwrap();
        (dir, songs)
    }

    #[test]
    fn an_index_loaded_in_parts_holds_every_song_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let songs = Songs::new(&db).unwrap();
        // Ids spread over the whole hex space, as db::new_id makes them.
        let ids: Vec<String> = (0..200).map(|_| crate::store::db::new_id()).collect();
        for (i, id) in ids.iter().enumerate() {
            songs
                .insert(&song(id, &format!("s{i}"), &format!("A{}", i % 7)))
                .unwrap()
                .unwrap();
        }
        songs.record_play(&ids[3]).unwrap();
        for parts in [1, 2, 4, 8] {
            let mut index = LoadedIndex::empty();
            for part in 0..parts {
                Songs::load_index_part(&db, &mut index, part, parts).unwrap();
            }
            let loaded = Songs::with_index(&db, index).unwrap();
            assert_eq!(loaded.count(), 200, "{parts} parts");
            assert_eq!(loaded.version(), songs.version(), "{parts} parts");
            assert!(ids.iter().all(|id| loaded.contains(id)), "{parts} parts");
            assert_eq!(loaded.view_of(&ids[3]).unwrap().play_count, 1);
        }
    }

    #[test]
    fn one_source_hash_is_one_song_and_albums_follow() {
        let (_dir, songs) = open();
        assert!(songs.insert(&song("a", "s1", "Album")).unwrap().is_ok());
        assert!(songs.insert(&song("b", "s2", "album ")).unwrap().is_ok());
        let dup = songs.insert(&song("c", "s1", "Album")).unwrap();
        assert_eq!(dup.unwrap_err().id, "a");
        assert_eq!(songs.count(), 2);
        let (album, tracks) = songs.album(&album_id("artist", "ALBUM")).unwrap();
        assert_eq!(
            album.song_count, 2,
            "album names match ignoring case and spaces"
        );
        assert_eq!(tracks.len(), 2);
        let (artist, albums, _) = songs.artist(&artist_id("Artist")).unwrap();
        assert_eq!(
            (artist.song_count, artist.album_count, albums.len()),
            (2, 1, 1)
        );
        assert_eq!(songs.by_source_hash("s2").unwrap().unwrap().id, "b");
    }

    #[test]
    fn search_ignores_case_and_accents_and_needs_every_word() {
        let (_dir, songs) = open();
        let mut a = song("a", "s1", "Lemonade");
        a.artist = "Beyoncé".into();
        a.title = "Formation".into();
        songs.insert(&a).unwrap().unwrap();
        songs.insert(&song("b", "s2", "Other")).unwrap().unwrap();
        let find = |words: &[&str]| {
            let filter = SongFilter {
                search: words.iter().map(|w| fold(w)).collect(),
                ..Default::default()
            };
            let page = songs.list(&filter, SongSort::Title, false, 0, 10);
            page.items
                .iter()
                .map(|v| v.song.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(find(&["BEYONCE"]), ["a"]);
        assert_eq!(find(&["beyoncé", "formation"]), ["a"]);
        assert_eq!(find(&["beyonce", "other"]), Vec::<String>::new());
        assert_eq!(find(&["LEMONADE"]), ["a"]);
    }

    #[test]
    fn listing_sorts_pages_and_counts() {
        let (_dir, songs) = open();
        for (i, title) in ["c", "a", "b", "e", "d"].iter().enumerate() {
            let mut s = song(&format!("id{i}"), &format!("s{i}"), "Album");
            s.title = title.to_string();
            s.created_at = i as i64;
            songs.insert(&s).unwrap().unwrap();
        }
        let titles = |sort, desc, offset, limit| {
            let page = songs.list(&SongFilter::default(), sort, desc, offset, limit);
            assert_eq!(page.total, 5);
            page.items
                .iter()
                .map(|v| v.song.title.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(titles(SongSort::Title, false, 0, 2), ["a", "b"]);
        assert_eq!(titles(SongSort::Title, false, 4, 2), ["e"]);
        assert_eq!(titles(SongSort::Title, true, 0, 2), ["e", "d"]);
        assert_eq!(titles(SongSort::CreatedAt, true, 0, 1), ["d"]);
        assert!(titles(SongSort::Title, false, 10, 2).is_empty());
    }

    #[test]
    fn the_change_feed_names_what_changed_since_a_version() {
        let (dir, songs) = open();
        songs.insert(&song("a", "s1", "A")).unwrap().unwrap();
        let v1 = songs.version();
        songs.insert(&song("b", "s2", "A")).unwrap().unwrap();
        let mut edited = songs.get("a").unwrap().unwrap();
        edited.album = "B".into();
        edited.album_id = album_id("Artist", "B");
        songs.replace(&edited).unwrap();
        let (_, v_del) = songs.remove("b").unwrap();
        assert_eq!(songs.version(), v_del);
        let changes = songs.changes_since(v1).unwrap();
        assert!(!changes.reset);
        assert_eq!(changes.version, v_del);
        let ids: Vec<_> = changes
            .upserted
            .iter()
            .map(|v| v.song.id.as_str())
            .collect();
        assert_eq!(ids, ["a"]);
        assert_eq!(changes.deleted, ["b"]);
        assert!(
            songs.album(&album_id("Artist", "A")).is_none(),
            "empty album is gone"
        );
        assert_eq!(
            songs.album(&album_id("Artist", "B")).unwrap().0.song_count,
            1
        );
        assert!(songs.changes_since(v_del).unwrap().upserted.is_empty());
        assert!(
            songs.changes_since(v_del + 5).unwrap().reset,
            "a future version reloads"
        );
        assert!(
            songs.by_source_hash("s2").unwrap().is_none(),
            "the source can come back"
        );
        songs.record_play("a").unwrap();
        assert_eq!(songs.record_play("a").unwrap(), 2);
        drop(songs);
        let reopened = Songs::new(&Db::open(&dir.path().join("")).unwrap()).unwrap();
        assert_eq!(reopened.version(), v_del, "the version survives a restart");
        assert_eq!(reopened.view_of("a").unwrap().play_count, 2);
        assert_eq!(reopened.get("a").unwrap().unwrap().album, "B");
    }
}
