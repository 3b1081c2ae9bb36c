//! The song index in sled: songs, the albums and artists they form, and the source-hash index
//! that makes ingest idempotent.
//! Invariants: a song record exists only after its blob was stored; every song is counted in
//! exactly one album and one artist record; one source hash maps to at most one song.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use crate::db::{self, Db};
use crate::error::{AppError, AppResult};

const SONGS: &str = "songs";
const BY_SOURCE: &str = "songs_by_source_hash";
const ALBUMS: &str = "albums";
const ARTISTS: &str = "artists";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Song {
    pub id: String,
    pub title: String,
    pub artist: String,
    pub album: String,
    pub album_artist: String,
    pub track: Option<u32>,
    pub track_total: Option<u32>,
    pub disc: Option<u32>,
    pub disc_total: Option<u32>,
    pub year: Option<i32>,
    pub genre: String,
    pub duration_ms: u64,
    pub bitrate: u32,
    pub sample_rate: u32,
    pub channels: u16,
    /// SHA-256 of the file as uploaded.
    pub source_hash: String,
    /// SHA-256 of the stored MP3; its blob is `songs/<hash>.mp3`.
    pub hash: String,
    pub size_bytes: u64,
    /// `art/<sha256>.<ext>` when the file had cover art.
    pub cover_key: Option<String>,
    pub album_id: String,
    pub artist_id: String,
    pub uploader_id: String,
    pub original_name: String,
    /// How the MP3 was made: "remuxed" or "encoded".
    pub conversion: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Song {
    pub fn blob_key(&self) -> String {
        song_blob_key(&self.hash)
    }
}

pub fn song_blob_key(hash: &str) -> String {
    format!("songs/{hash}.mp3")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Album {
    pub id: String,
    pub name: String,
    pub artist: String,
    pub year: Option<i32>,
    pub cover_key: Option<String>,
    pub song_count: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Artist {
    pub id: String,
    pub name: String,
    pub song_count: u64,
}

/// Stable ids from normalised names, so the same album from two uploads is one record.
fn name_id(parts: &[&str]) -> String {
    let mut sha = Sha256::new();
    for part in parts {
        sha.update(part.trim().to_lowercase().as_bytes());
        sha.update([0]);
    }
    hex::encode(&sha.finalize()[..10])
}

pub fn album_id(album_artist: &str, album: &str) -> String {
    name_id(&["album", album_artist, album])
}

pub fn artist_id(artist: &str) -> String {
    name_id(&["artist", artist])
}

#[derive(Clone)]
pub struct Songs {
    songs: sled::Tree,
    by_source: sled::Tree,
    albums: sled::Tree,
    artists: sled::Tree,
}

type TxResult<T> = Result<T, ConflictableTransactionError<AppError>>;

fn tx_get<T: serde::de::DeserializeOwned>(
    tree: &TransactionalTree,
    key: &str,
) -> TxResult<Option<T>> {
    match tree.get(key)? {
        Some(bytes) => db::decode(&bytes)
            .map(Some)
            .map_err(ConflictableTransactionError::Abort),
        None => Ok(None),
    }
}

fn tx_put<T: Serialize>(tree: &TransactionalTree, key: &str, value: &T) -> TxResult<()> {
    let bytes = db::encode(value).map_err(ConflictableTransactionError::Abort)?;
    tree.insert(key.as_bytes(), bytes)?;
    Ok(())
}

impl Songs {
    pub fn new(db: &Db) -> AppResult<Self> {
        Ok(Self {
            songs: db.tree(SONGS)?,
            by_source: db.tree(BY_SOURCE)?,
            albums: db.tree(ALBUMS)?,
            artists: db.tree(ARTISTS)?,
        })
    }

    pub fn get(&self, id: &str) -> AppResult<Option<Song>> {
        db::get(&self.songs, id)
    }

    pub fn by_source_hash(&self, source_hash: &str) -> AppResult<Option<Song>> {
        match self.by_source.get(source_hash)? {
            Some(id) => self.get(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    pub fn count(&self) -> usize {
        self.songs.len()
    }

    pub fn all(&self) -> AppResult<Vec<Song>> {
        self.songs
            .iter()
            .values()
            .map(|v| db::decode(&v?))
            .collect()
    }

    /// Is any song stored under this output hash (or cover key)? Guards blob deletion.
    pub fn references_blob(&self, key: &str) -> AppResult<bool> {
        for song in self.all()? {
            if song.blob_key() == key || song.cover_key.as_deref() == Some(key) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    #[cfg(test)]
    pub fn album(&self, id: &str) -> AppResult<Option<Album>> {
        db::get(&self.albums, id)
    }

    #[cfg(test)]
    pub fn artist(&self, id: &str) -> AppResult<Option<Artist>> {
        db::get(&self.artists, id)
    }

    /// Total source bytes credited to a user (for quotas).
    pub fn bytes_of_user(&self, user_id: &str) -> AppResult<u64> {
        Ok(self
            .all()?
            .iter()
            .filter(|s| s.uploader_id == user_id)
            .map(|s| s.size_bytes)
            .sum())
    }

    /// Commits a new song with its album and artist counts in one transaction. If another song
    /// with the same source hash won the race, that one is returned as `Err(existing)`.
    pub fn insert(&self, song: &Song) -> AppResult<Result<Song, Song>> {
        let outcome = (&self.songs, &self.by_source, &self.albums, &self.artists).transaction(
            |(songs, by_source, albums, artists)| {
                if let Some(id) = by_source.get(song.source_hash.as_bytes())? {
                    let id = String::from_utf8_lossy(&id).to_string();
                    if let Some(existing) = tx_get::<Song>(songs, &id)? {
                        return Ok(Err(existing));
                    }
                }
                tx_put(songs, &song.id, song)?;
                by_source.insert(song.source_hash.as_bytes(), song.id.as_bytes())?;
                let mut album = tx_get::<Album>(albums, &song.album_id)?.unwrap_or(Album {
                    id: song.album_id.clone(),
                    name: song.album.clone(),
                    artist: song.album_artist.clone(),
                    year: song.year,
                    cover_key: None,
                    song_count: 0,
                });
                album.song_count += 1;
                if album.cover_key.is_none() {
                    album.cover_key = song.cover_key.clone();
                }
                album.year = album.year.or(song.year);
                tx_put(albums, &album.id, &album)?;
                let mut artist = tx_get::<Artist>(artists, &song.artist_id)?.unwrap_or(Artist {
                    id: song.artist_id.clone(),
                    name: song.artist.clone(),
                    song_count: 0,
                });
                artist.song_count += 1;
                tx_put(artists, &artist.id, &artist)?;
                Ok(Ok(song.clone()))
            },
        )?;
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn song(id: &str, source: &str, album: &str) -> Song {
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
        }
    }

    #[test]
    fn one_source_hash_is_one_song_and_counts_follow() {
        let dir = tempfile::tempdir().unwrap();
        let songs = Songs::new(&Db::open(dir.path()).unwrap()).unwrap();
        assert!(songs.insert(&song("a", "s1", "Album")).unwrap().is_ok());
        assert!(songs.insert(&song("b", "s2", "album ")).unwrap().is_ok());
        let dup = songs.insert(&song("c", "s1", "Album")).unwrap();
        assert_eq!(dup.unwrap_err().id, "a");
        assert_eq!(songs.count(), 2);
        let album = songs.album(&album_id("artist", "ALBUM")).unwrap().unwrap();
        assert_eq!(
            album.song_count, 2,
            "album names are matched ignoring case and spaces"
        );
        assert_eq!(
            songs
                .artist(&artist_id("Artist"))
                .unwrap()
                .unwrap()
                .song_count,
            2
        );
        assert_eq!(songs.by_source_hash("s2").unwrap().unwrap().id, "b");
    }
}
