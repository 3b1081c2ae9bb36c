//! The song index: songs in sled (the truth), the source-hash index that makes ingest
//! idempotent, the library change feed, and an in-memory index for fast listing and search
//! from which albums and artists are derived.
//! Invariants: a song record exists only after its blob was stored; one source hash maps to at
//! most one song; every committed change gets the next library version, in commit order (one
//! writer at a time), and the in-memory index always equals sled after each write.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use unicode_normalization::UnicodeNormalization;

use crate::db::{self, Db};
use crate::error::{AppError, AppResult};

const SONGS: &str = "songs";
const BY_SOURCE: &str = "songs_by_source_hash";
/// Library version (u64 big-endian) -> id of the song that changed then.
const CHANGES: &str = "song_changes";
const PLAY_COUNTS: &str = "song_play_counts";
/// Change records kept for `library:changes`; older clients reload.
const CHANGES_KEPT: usize = 100_000;

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

    pub fn cover_url(&self) -> Option<String> {
        self.cover_key.as_deref().and_then(crate::stream::art_url)
    }
}

pub fn song_blob_key(hash: &str) -> String {
    format!("songs/{hash}.mp3")
}

/// A song as clients see it: the record plus its cover URL and play count.
#[derive(Debug, Clone)]
pub struct SongView {
    pub song: Arc<Song>,
    pub play_count: u64,
}

impl Serialize for SongView {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Wire<'a> {
            #[serde(flatten)]
            song: &'a Song,
            cover_url: Option<String>,
            play_count: u64,
        }
        Wire {
            song: &self.song,
            cover_url: self.song.cover_url(),
            play_count: self.play_count,
        }
        .serialize(s)
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Album {
    pub id: String,
    pub name: String,
    pub artist: String,
    pub year: Option<i32>,
    pub cover_url: Option<String>,
    pub song_count: u64,
    pub duration_ms: u64,
    #[serde(skip)]
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Artist {
    pub id: String,
    pub name: String,
    pub album_count: u64,
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

/// Lowercase without accents: "Beyoncé" and "BEYONCE" fold to the same text.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    fold_into(&mut out, text);
    out
}

fn fold_into(out: &mut String, text: &str) {
    if text.is_ascii() {
        out.extend(text.chars().map(|c| c.to_ascii_lowercase()));
        return;
    }
    out.extend(
        text.nfd()
            .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
            .flat_map(char::to_lowercase),
    );
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SongSort {
    Title,
    Artist,
    Album,
    Year,
    CreatedAt,
    DurationMs,
    PlayCount,
}

/// Which songs `list` returns; string filters compare ignoring case and accents.
#[derive(Debug, Default, Clone)]
pub struct SongFilter {
    pub artist: Option<String>,
    pub album: Option<String>,
    pub album_id: Option<String>,
    pub artist_id: Option<String>,
    pub genre: Option<String>,
    pub year: Option<i32>,
    pub uploader: Option<String>,
    /// Words that must all occur (folded) in title, artist or album.
    pub search: Vec<String>,
}

/// A filter made ready for a scan over the whole library.
struct Matcher<'a> {
    filter: &'a SongFilter,
    artist: Option<String>,
    album: Option<String>,
    genre: Option<String>,
    /// Any filter besides the search words; without one every row matches.
    fields: bool,
}

impl<'a> Matcher<'a> {
    fn new(filter: &'a SongFilter) -> Self {
        let folded = |s: &Option<String>| s.as_deref().map(|s| fold(s.trim()));
        let f = filter;
        Self {
            artist: folded(&f.artist),
            album: folded(&f.album),
            genre: folded(&f.genre),
            fields: f.artist.is_some()
                || f.album.is_some()
                || f.genre.is_some()
                || f.album_id.is_some()
                || f.artist_id.is_some()
                || f.uploader.is_some()
                || f.year.is_some(),
            filter,
        }
    }

    /// Everything but the search words (see [`Snapshot::search`]).
    fn matches(&self, e: &Entry) -> bool {
        if !self.fields {
            return true;
        }
        let f = self.filter;
        let same = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        f.album_id.as_deref().is_none_or(|id| id == &*e.album_id)
            && f.artist_id.as_deref().is_none_or(|id| id == &*e.artist_id)
            && f.uploader.as_deref().is_none_or(|id| id == &*e.uploader_id)
            && f.year.is_none_or(|y| e.year == Some(y))
            && same(&self.artist, e.artist_key())
            && same(&self.album, e.album_key())
            && same(&self.genre, e.genre_key())
    }
}

/// One page of a listing.
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: usize,
}

/// What `library:changes` answers.
pub struct Changes {
    pub version: u64,
    pub upserted: Vec<SongView>,
    pub deleted: Vec<String>,
    pub reset: bool,
}

/// What the index keeps of a song: enough to filter, sort, search, count and find blobs. The
/// record itself stays in sled and is read only for the rows a caller asks for, which keeps a
/// 100 000-song library in tens of megabytes.
#[derive(Debug)]
struct Entry {
    id: Arc<str>,
    /// Folded "title\nartist\nalbum\ngenre"; the first three parts are searched.
    folded: Box<str>,
    /// Where artist, album and genre start in `folded`.
    cuts: [u32; 3],
    album_id: Arc<str>,
    artist_id: Arc<str>,
    uploader_id: Arc<str>,
    cover_key: Option<Arc<str>>,
    /// A hash of the song blob's key, to find the few songs that may share a blob.
    blob_tag: u64,
    disc: Option<u32>,
    track: Option<u32>,
    year: Option<i32>,
    created_at: i64,
    duration_ms: u64,
    size_bytes: u64,
    plays: AtomicU64,
}

/// The fields of a song record the index keeps, borrowed from a [`Song`] or straight from the
/// stored JSON, so loading a large library does not allocate every string of every record.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Indexed<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    title: Cow<'a, str>,
    #[serde(borrow)]
    artist: Cow<'a, str>,
    #[serde(borrow)]
    album: Cow<'a, str>,
    #[serde(borrow)]
    album_artist: Cow<'a, str>,
    #[serde(borrow)]
    genre: Cow<'a, str>,
    #[serde(borrow)]
    hash: Cow<'a, str>,
    #[serde(borrow)]
    cover_key: Option<Cow<'a, str>>,
    #[serde(borrow)]
    album_id: Cow<'a, str>,
    #[serde(borrow)]
    artist_id: Cow<'a, str>,
    #[serde(borrow)]
    uploader_id: Cow<'a, str>,
    track: Option<u32>,
    disc: Option<u32>,
    year: Option<i32>,
    duration_ms: u64,
    size_bytes: u64,
    created_at: i64,
}

impl<'a> From<&'a Song> for Indexed<'a> {
    fn from(s: &'a Song) -> Self {
        let b = |t: &'a String| Cow::Borrowed(t.as_str());
        Self {
            id: b(&s.id),
            title: b(&s.title),
            artist: b(&s.artist),
            album: b(&s.album),
            album_artist: b(&s.album_artist),
            genre: b(&s.genre),
            hash: b(&s.hash),
            cover_key: s.cover_key.as_ref().map(b),
            album_id: b(&s.album_id),
            artist_id: b(&s.artist_id),
            uploader_id: b(&s.uploader_id),
            track: s.track,
            disc: s.disc,
            year: s.year,
            duration_ms: s.duration_ms,
            size_bytes: s.size_bytes,
            created_at: s.created_at,
        }
    }
}

/// An entry made ready for the index, apart from the parts shared with other entries. Made on
/// the loader threads, so the index thread only links it in. It owns one temporary buffer and
/// nothing the index keeps: the index thread allocates what stays, packed together, instead of
/// leaving it scattered among the loaders' freed scan buffers where it would pin their pages.
struct Prepared {
    /// Id, folded "title\nartist\nalbum\ngenre", album id, artist id, uploader id, cover key
    /// ("" for none), album, album artist and artist, one after the other; `ends` says where
    /// each stops.
    texts: String,
    ends: [u32; 9],
    cuts: [u32; 3],
    blob_tag: u64,
    disc: Option<u32>,
    track: Option<u32>,
    year: Option<i32>,
    created_at: i64,
    duration_ms: u64,
    size_bytes: u64,
}

impl Prepared {
    fn new(s: &Indexed) -> Self {
        let parts = [
            &*s.album_id,
            &*s.artist_id,
            &*s.uploader_id,
            s.cover_key.as_deref().unwrap_or(""),
            &*s.album,
            &*s.album_artist,
            &*s.artist,
        ];
        let folded_len = s.title.len() + s.artist.len() + s.album.len() + s.genre.len() + 8;
        let mut texts = String::with_capacity(
            s.id.len() + folded_len + parts.iter().map(|t| t.len()).sum::<usize>(),
        );
        let mut ends = [0; 9];
        texts.push_str(&s.id);
        ends[0] = texts.len() as u32;
        let folded_start = texts.len();
        let mut cuts = [0; 3];
        for (i, part) in [&s.title, &s.artist, &s.album].into_iter().enumerate() {
            fold_into(&mut texts, part);
            texts.push('\n');
            cuts[i] = (texts.len() - folded_start) as u32;
        }
        fold_into(&mut texts, &s.genre);
        ends[1] = texts.len() as u32;
        for (end, part) in ends[2..].iter_mut().zip(parts) {
            texts.push_str(part);
            *end = texts.len() as u32;
        }
        Self {
            texts,
            ends,
            cuts,
            blob_tag: blob_tag(&song_blob_key(&s.hash)),
            disc: s.disc,
            track: s.track,
            year: s.year,
            created_at: s.created_at,
            duration_ms: s.duration_ms,
            size_bytes: s.size_bytes,
        }
    }

    fn texts(&self) -> [&str; 9] {
        let mut start = 0;
        self.ends.map(|end| {
            let text = self.texts.get(start..end as usize).unwrap_or("");
            start = end as usize;
            text
        })
    }
}

fn blob_tag(key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    // Zero-keyed SipHash: the same in every process, no collisions worth worrying about, and
    // a match is confirmed against the record anyway.
    let mut hasher = std::hash::DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

impl Entry {
    fn span(&self, start: u32, end: usize) -> &str {
        self.folded.get(start as usize..end).unwrap_or("")
    }
    fn title_key(&self) -> &str {
        self.span(0, self.cuts[0] as usize - 1)
    }
    fn artist_key(&self) -> &str {
        self.span(self.cuts[0], self.cuts[1] as usize - 1)
    }
    fn album_key(&self) -> &str {
        self.span(self.cuts[1], self.cuts[2] as usize - 1)
    }
    fn genre_key(&self) -> &str {
        self.span(self.cuts[2], self.folded.len())
    }
    /// Folded title, artist and album: what search looks in.
    fn searchable(&self) -> &str {
        self.span(0, self.cuts[2] as usize - 1)
    }
}

/// The songs of one album or artist, and the name shown for it. Ids come from the lowercased,
/// trimmed names, so members differ at most in case or spacing; the latest added member names it.
struct Group {
    key: Arc<str>,
    members: Vec<Arc<Entry>>,
    name: Box<str>,
    artist: Box<str>,
}

#[derive(Default)]
struct Index {
    entries: HashMap<Arc<str>, Arc<Entry>>,
    by_album: HashMap<Arc<str>, Group>,
    by_artist: HashMap<Arc<str>, Group>,
    /// Uploader ids and cover keys, shared by the entries that hold them.
    shared: HashSet<Arc<str>>,
    version: u64,
    /// Oldest version still in the change log (0 = the log starts at the beginning).
    oldest_kept: u64,
    /// Built on the first listing after a change.
    snapshot: Option<Arc<Snapshot>>,
}

fn compare(a: &Entry, b: &Entry, sort: SongSort) -> std::cmp::Ordering {
    let primary = match sort {
        SongSort::Title => a.title_key().cmp(b.title_key()),
        SongSort::Artist => a
            .artist_key()
            .cmp(b.artist_key())
            .then_with(|| a.album_key().cmp(b.album_key()))
            .then(a.disc.cmp(&b.disc))
            .then(a.track.cmp(&b.track)),
        SongSort::Album => a
            .album_key()
            .cmp(b.album_key())
            .then(a.disc.cmp(&b.disc))
            .then(a.track.cmp(&b.track)),
        SongSort::Year => a.year.cmp(&b.year),
        SongSort::CreatedAt => a.created_at.cmp(&b.created_at),
        SongSort::DurationMs => a.duration_ms.cmp(&b.duration_ms),
        SongSort::PlayCount => a
            .plays
            .load(Ordering::Relaxed)
            .cmp(&b.plays.load(Ordering::Relaxed)),
    };
    primary
        .then_with(|| a.title_key().cmp(b.title_key()))
        .then_with(|| a.id.cmp(&b.id))
}

/// The library frozen for listing: the entries as numbered rows, their folded text in one
/// buffer (search scans memory linearly instead of visiting 100 000 heap objects), and sort
/// orders as row numbers.
struct Snapshot {
    rows: Vec<Arc<Entry>>,
    text: Vec<u8>,
    starts: Vec<u32>,
    orders: Mutex<HashMap<SongSort, Arc<Vec<u32>>>>,
}

impl Snapshot {
    fn new(entries: &HashMap<Arc<str>, Arc<Entry>>) -> Self {
        let rows: Vec<Arc<Entry>> = entries.values().cloned().collect();
        let mut text = Vec::new();
        let mut starts = Vec::with_capacity(rows.len());
        for e in &rows {
            starts.push(text.len() as u32);
            text.extend_from_slice(e.searchable().as_bytes());
            text.push(0);
        }
        Self {
            rows,
            text,
            starts,
            orders: Mutex::default(),
        }
    }

    fn order(&self, sort: SongSort) -> Arc<Vec<u32>> {
        let mut orders = self.orders.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(order) = orders.get(&sort) {
            return order.clone();
        }
        let mut order: Vec<u32> = (0..self.rows.len() as u32).collect();
        order.sort_by(|&a, &b| compare(&self.rows[a as usize], &self.rows[b as usize], sort));
        let order = Arc::new(order);
        orders.insert(sort, order.clone());
        order
    }

    /// Which rows hold every word; `None` when there are no words.
    fn search(&self, words: &[String]) -> Option<Vec<bool>> {
        if words.is_empty() {
            return None;
        }
        let mut pass = vec![true; self.rows.len()];
        for word in words {
            let mut hit = vec![false; self.rows.len()];
            let finder = memchr::memmem::Finder::new(word.as_bytes());
            // Words hold no NUL (the row separator), so a match never spans two rows. After a
            // hit the scan resumes at the next row: one hit per row is enough.
            let (mut from, mut row) = (0, 0);
            while let Some(found) = finder.find(&self.text[from..]) {
                let pos = from + found;
                while row + 1 < self.starts.len() && self.starts[row + 1] as usize <= pos {
                    row += 1;
                }
                hit[row] = true;
                match self.starts.get(row + 1) {
                    Some(&next) => from = next as usize,
                    None => break,
                }
            }
            for (p, h) in pass.iter_mut().zip(hit) {
                *p &= h;
            }
        }
        Some(pass)
    }
}

impl Index {
    fn share(&mut self, text: &str) -> Arc<str> {
        match self.shared.get(text) {
            Some(shared) => shared.clone(),
            None => {
                let shared: Arc<str> = Arc::from(text);
                self.shared.insert(shared.clone());
                shared
            }
        }
    }

    /// The group named by `key`, created when missing, renamed to the newest member's names.
    /// The group named by `key`, created when missing, renamed to the newest member's names.
    fn group<'g>(
        groups: &'g mut HashMap<Arc<str>, Group>,
        key: &str,
        name: &str,
        artist: &str,
    ) -> &'g mut Group {
        // Looked up twice rather than allocating a key per song for `entry()`.
        if !groups.contains_key(key) {
            let key: Arc<str> = Arc::from(key);
            groups.insert(
                key.clone(),
                Group {
                    key,
                    members: Vec::new(),
                    name: name.into(),
                    artist: artist.into(),
                },
            );
        }
        let group = groups.get_mut(key).expect("inserted above");
        if *group.name != *name || *group.artist != *artist {
            group.name = name.into();
            group.artist = artist.into();
        }
        group
    }

    fn add(&mut self, p: Prepared, plays: u64) {
        let [
            id,
            folded,
            album_id,
            artist_id,
            uploader_id,
            cover_key,
            album,
            album_artist,
            artist,
        ] = p.texts();
        let uploader_id = self.share(uploader_id);
        let cover_key = (!cover_key.is_empty()).then(|| self.share(cover_key));
        let album_group = Self::group(&mut self.by_album, album_id, album, album_artist);
        let artist_group = Self::group(&mut self.by_artist, artist_id, artist, "");
        let entry = Arc::new(Entry {
            id: Arc::from(id),
            folded: folded.into(),
            cuts: p.cuts,
            album_id: album_group.key.clone(),
            artist_id: artist_group.key.clone(),
            uploader_id,
            cover_key,
            blob_tag: p.blob_tag,
            disc: p.disc,
            track: p.track,
            year: p.year,
            created_at: p.created_at,
            duration_ms: p.duration_ms,
            size_bytes: p.size_bytes,
            plays: AtomicU64::new(plays),
        });
        album_group.members.push(entry.clone());
        artist_group.members.push(entry.clone());
        self.entries.insert(entry.id.clone(), entry);
        self.snapshot = None;
    }

    fn remove(&mut self, id: &str) -> Option<Arc<Entry>> {
        let entry = self.entries.remove(id)?;
        for (groups, key) in [
            (&mut self.by_album, &entry.album_id),
            (&mut self.by_artist, &entry.artist_id),
        ] {
            if let Some(group) = groups.get_mut(key) {
                group.members.retain(|e| *e.id != *id);
                if group.members.is_empty() {
                    groups.remove(key);
                }
            }
        }
        // A cover or uploader nobody else holds leaves the shared set (unless a snapshot still
        // holds the entry; then it stays, which costs a few bytes, never correctness).
        for text in [Some(&entry.uploader_id), entry.cover_key.as_ref()]
            .into_iter()
            .flatten()
        {
            if Arc::strong_count(&entry) == 1 && Arc::strong_count(text) == 2 {
                self.shared.remove(text);
            }
        }
        self.snapshot = None;
        Some(entry)
    }

    /// An album's songs in play order: disc, track, title.
    fn album_tracks(&self, id: &str) -> Option<Vec<&Arc<Entry>>> {
        let mut songs: Vec<_> = self.by_album.get(id)?.members.iter().collect();
        songs.sort_by(|a, b| {
            (a.disc, a.track, a.title_key()).cmp(&(b.disc, b.track, b.title_key()))
        });
        Some(songs)
    }

    fn album(&self, id: &str) -> Option<Album> {
        self.album_of(id, &self.album_tracks(id)?)
    }

    fn album_of(&self, id: &str, songs: &[&Arc<Entry>]) -> Option<Album> {
        let group = self.by_album.get(id)?;
        songs.first()?;
        Some(Album {
            id: id.to_string(),
            name: group.name.to_string(),
            artist: group.artist.to_string(),
            year: songs.iter().filter_map(|e| e.year).min(),
            cover_url: songs
                .iter()
                .find_map(|e| e.cover_key.as_deref().and_then(crate::stream::art_url)),
            song_count: songs.len() as u64,
            duration_ms: songs.iter().map(|e| e.duration_ms).sum(),
            created_at: songs.iter().map(|e| e.created_at).min().unwrap_or(0),
        })
    }

    fn artist(&self, id: &str) -> Option<Artist> {
        let group = self.by_artist.get(id)?;
        let songs = &group.members;
        songs.first()?;
        let albums: BTreeSet<&str> = songs.iter().map(|e| &*e.album_id).collect();
        Some(Artist {
            id: id.to_string(),
            name: group.name.to_string(),
            album_count: albums.len() as u64,
            song_count: songs.len() as u64,
        })
    }
}

#[derive(Clone)]
pub struct Songs {
    songs: sled::Tree,
    by_source: sled::Tree,
    changes: sled::Tree,
    play_counts: sled::Tree,
    index: Arc<RwLock<Index>>,
    /// One writer at a time, so versions are handed out in commit order.
    writer: Arc<Mutex<()>>,
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

/// The trees one library write changes together.
struct TxTrees<'a> {
    songs: &'a TransactionalTree,
    by_source: &'a TransactionalTree,
    changes: &'a TransactionalTree,
}

fn version_key(bytes: &[u8]) -> u64 {
    bytes.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

fn count_of(bytes: Option<sled::IVec>) -> u64 {
    bytes.map(|b| version_key(&b)).unwrap_or(0)
}

/// Decodes stored songs into prepared entries, sent in batches; stops early when the receiver
/// is gone (it failed on its own).
fn load_songs(
    records: sled::Iter,
    batches: &std::sync::mpsc::SyncSender<Vec<Prepared>>,
) -> AppResult<()> {
    const BATCH: usize = 1024;
    let mut batch = Vec::with_capacity(BATCH);
    for bytes in records.values() {
        let bytes = bytes?;
        let song: Indexed = serde_json::from_slice(&bytes)
            .map_err(|e| AppError::internal(format!("decoding a song record: {e}")))?;
        batch.push(Prepared::new(&song));
        if batch.len() == BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            if batches.send(full).is_err() {
                return Ok(());
            }
        }
    }
    let _ = batches.send(batch);
    Ok(())
}

/// The in-memory index of a library, built part by part with [`Songs::load_index_part`]; it
/// holds no database handle.
pub struct LoadedIndex(Index);

impl LoadedIndex {
    pub fn empty() -> Self {
        Self(Index::default())
    }
}

impl Songs {
    #[cfg(test)]
    pub fn new(db: &Db) -> AppResult<Self> {
        Self::with_index(db, Self::load_index(db)?)
    }

    #[cfg(test)]
    pub fn load_index(db: &Db) -> AppResult<LoadedIndex> {
        let mut index = LoadedIndex(Index::default());
        Self::load_index_part(db, &mut index, 0, 1)?;
        Ok(index)
    }

    /// Adds part `part` of `parts` (1, 2, 4 or 8: slices of the id space, ids being random hex)
    /// of the library in `db` to `index`; the last part also reads play counts and versions.
    /// sled keeps every page a scan read while its database stays open, so a caller that opens
    /// the database once per part (and drops it) holds only a part's worth at a time.
    pub fn load_index_part(
        db: &Db,
        LoadedIndex(index): &mut LoadedIndex,
        part: usize,
        parts: usize,
    ) -> AppResult<()> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let parts = parts.clamp(1, 8).next_power_of_two();
        let songs = db.tree(SONGS)?;
        // Two loader threads walk the two halves of this part and decode while this one links
        // entries into the index.
        let step = 16 / (2 * parts);
        let bound = |slice: usize| HEX.get(slice * step).map(|c| vec![*c]);
        let range = |slice: usize| match (slice, bound(slice + 1)) {
            (0, Some(hi)) => songs.range(..hi),
            (0, None) => songs.iter(),
            (_, Some(hi)) => songs.range(bound(slice).unwrap_or_default()..hi),
            (_, None) => songs.range(bound(slice).unwrap_or_default()..),
        };
        std::thread::scope(|scope| -> AppResult<()> {
            let (batches, received) = std::sync::mpsc::sync_channel::<Vec<Prepared>>(8);
            let loaders = [range(2 * part), range(2 * part + 1)].map(|records| {
                let batches = batches.clone();
                scope.spawn(move || load_songs(records, &batches))
            });
            drop(batches);
            for prepared in received.into_iter().flatten() {
                index.add(prepared, 0);
            }
            for loader in loaders {
                loader
                    .join()
                    .map_err(|_| AppError::internal("a song loader thread panicked"))??;
            }
            Ok(())
        })?;
        if part + 1 < parts {
            return Ok(());
        }
        let changes = db.tree(CHANGES)?;
        for item in db.tree(PLAY_COUNTS)?.iter() {
            let (id, count) = item?;
            if let Some(entry) = std::str::from_utf8(&id)
                .ok()
                .and_then(|id| index.entries.get(id))
            {
                entry.plays.store(count_of(Some(count)), Ordering::Relaxed);
            }
        }
        index.version = changes.last()?.map(|(k, _)| version_key(&k)).unwrap_or(0);
        index.oldest_kept = changes.first()?.map(|(k, _)| version_key(&k)).unwrap_or(0);
        Ok(())
    }

    /// The library of `db` with an index loaded from the same database.
    pub fn with_index(db: &Db, LoadedIndex(index): LoadedIndex) -> AppResult<Self> {
        Ok(Self {
            songs: db.tree(SONGS)?,
            by_source: db.tree(BY_SOURCE)?,
            changes: db.tree(CHANGES)?,
            play_counts: db.tree(PLAY_COUNTS)?,
            index: Arc::new(RwLock::new(index)),
            writer: Arc::new(Mutex::new(())),
        })
    }

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
        if pass.is_none() && !matcher.fields {
            let items = rows
                .skip(offset)
                .take(limit)
                .filter_map(|r| self.view_entry(&snapshot.rows[r]))
                .collect();
            return Page {
                items,
                total: order.len(),
            };
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

    /// Runs one write: `tx` gets the next version and commits in one sled transaction; then the
    /// index is updated by `apply` while no other writer can slip in between.
    fn commit<T>(
        &self,
        tx: impl Fn(&TxTrees, u64) -> TxResult<T>,
        apply: impl FnOnce(&mut Index, &T, u64),
    ) -> AppResult<(T, u64)> {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let version = self.read().version + 1;
        let out = (&self.songs, &self.by_source, &self.changes).transaction(
            |(songs, by_source, changes)| {
                let trees = TxTrees {
                    songs,
                    by_source,
                    changes,
                };
                tx(&trees, version)
            },
        )?;
        let mut index = self.write();
        apply(&mut index, &out, version);
        index.version = index.version.max(version);
        if index.oldest_kept == 0 {
            index.oldest_kept = version;
        }
        drop(index);
        self.trim_changes()?;
        Ok((out, version))
    }

    fn trim_changes(&self) -> AppResult<()> {
        // sled's len() walks the tree; versions tell the span without that.
        let (version, oldest) = {
            let index = self.read();
            (index.version, index.oldest_kept)
        };
        if version.saturating_sub(oldest) < (CHANGES_KEPT + 1000) as u64 {
            return Ok(());
        }
        let keep_from = version.saturating_sub(CHANGES_KEPT as u64);
        while let Some((key, _)) = self.changes.first()? {
            if version_key(&key) >= keep_from {
                break;
            }
            self.changes.remove(key)?;
        }
        let oldest = self
            .changes
            .first()?
            .map(|(k, _)| version_key(&k))
            .unwrap_or(0);
        self.write().oldest_kept = oldest;
        Ok(())
    }

    /// Commits a new song. If another song with the same source hash won the race, that one is
    /// returned as `Err(existing)`.
    pub fn insert(&self, song: &Song) -> AppResult<Result<Song, Song>> {
        let (outcome, _) = self.commit(
            |t, version| {
                let TxTrees {
                    songs,
                    by_source,
                    changes,
                } = t;
                if let Some(id) = by_source.get(song.source_hash.as_bytes())? {
                    let id = String::from_utf8_lossy(&id).to_string();
                    if let Some(existing) = tx_get::<Song>(songs, &id)? {
                        return Ok(Err(existing));
                    }
                }
                tx_put(songs, &song.id, song)?;
                by_source.insert(song.source_hash.as_bytes(), song.id.as_bytes())?;
                changes.insert(&version.to_be_bytes(), song.id.as_bytes())?;
                Ok(Ok(song.clone()))
            },
            |index, outcome, _| {
                if let Ok(song) = outcome {
                    index.add(Prepared::new(&song.into()), 0);
                }
            },
        )?;
        Ok(outcome)
    }

    /// Stores an edited song (same id, source and file). Returns the new library version.
    pub fn replace(&self, song: &Song) -> AppResult<u64> {
        let plays = self.view(song).play_count;
        let (_, version) = self.commit(
            |t, version| {
                let TxTrees { songs, changes, .. } = t;
                if tx_get::<Song>(songs, &song.id)?.is_none() {
                    return Err(ConflictableTransactionError::Abort(AppError::NotFound(
                        "song",
                    )));
                }
                tx_put(songs, &song.id, song)?;
                changes.insert(&version.to_be_bytes(), song.id.as_bytes())?;
                Ok(())
            },
            |index, _, _| {
                index.remove(&song.id);
                index.add(Prepared::new(&song.into()), plays);
            },
        )?;
        Ok(version)
    }

    /// Removes a song's record. Returns it and the new library version.
    pub fn remove(&self, id: &str) -> AppResult<(Song, u64)> {
        let (song, version) = self.commit(
            |t, version| {
                let TxTrees {
                    songs,
                    by_source,
                    changes,
                } = t;
                let Some(song) = tx_get::<Song>(songs, id)? else {
                    return Err(ConflictableTransactionError::Abort(AppError::NotFound(
                        "song",
                    )));
                };
                songs.remove(id.as_bytes())?;
                by_source.remove(song.source_hash.as_bytes())?;
                changes.insert(&version.to_be_bytes(), id.as_bytes())?;
                Ok(song)
            },
            |index, _, _| {
                index.remove(id);
            },
        )?;
        self.play_counts.remove(id.as_bytes())?;
        Ok((song, version))
    }

    /// Counts one play; play counts are not library changes (no new version).
    pub fn record_play(&self, id: &str) -> AppResult<u64> {
        let Some(entry) = self.read().entries.get(id).cloned() else {
            return Err(AppError::NotFound("song"));
        };
        let count = self.play_counts.update_and_fetch(id.as_bytes(), |old| {
            Some(
                (count_of(old.map(sled::IVec::from)) + 1)
                    .to_be_bytes()
                    .to_vec(),
            )
        })?;
        let count = count_of(count);
        entry.plays.store(count, Ordering::Relaxed);
        if let Some(snapshot) = &self.read().snapshot {
            let mut orders = snapshot.orders.lock().unwrap_or_else(|p| p.into_inner());
            orders.remove(&SongSort::PlayCount);
        }
        Ok(count)
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
        let ids: Vec<String> = (0..200).map(|_| crate::db::new_id()).collect();
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
