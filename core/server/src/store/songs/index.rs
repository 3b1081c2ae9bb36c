//! The compact in-memory index of the library: one entry per song, albums and artists as groups.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use serde::Deserialize;

use super::query::Snapshot;
use super::record::{Album, Artist, Song, art_url, fold_into, song_blob_key};

/// What the index keeps of a song: enough to filter, sort, search, count and find blobs. The
/// record itself stays in sled and is read only for the rows a caller asks for, which keeps a
/// 100 000-song library in tens of megabytes.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) id: Arc<str>,
    /// Folded "title\nartist\nalbum\ngenre"; the first three parts are searched.
    pub(super) folded: Box<str>,
    /// Where artist, album and genre start in `folded`.
    pub(super) cuts: [u32; 3],
    pub(super) album_id: Arc<str>,
    pub(super) artist_id: Arc<str>,
    pub(super) uploader_id: Arc<str>,
    pub(super) cover_key: Option<Arc<str>>,
    /// A hash of the song blob's key, to find the few songs that may share a blob.
    pub(super) blob_tag: u64,
    pub(super) disc: Option<u32>,
    pub(super) track: Option<u32>,
    pub(super) year: Option<i32>,
    pub(super) created_at: i64,
    pub(super) duration_ms: u64,
    pub(super) size_bytes: u64,
    pub(super) plays: AtomicU64,
}

/// The fields of a song record the index keeps, borrowed from a [`Song`] or straight from the
/// stored JSON, so loading a large library does not allocate every string of every record.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Indexed<'a> {
    #[serde(borrow)]
    pub(super) id: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) title: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) artist: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) album: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) album_artist: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) genre: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) hash: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) cover_key: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(super) album_id: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) artist_id: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) uploader_id: Cow<'a, str>,
    pub(super) track: Option<u32>,
    pub(super) disc: Option<u32>,
    pub(super) year: Option<i32>,
    pub(super) duration_ms: u64,
    pub(super) size_bytes: u64,
    pub(super) created_at: i64,
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
pub(super) struct Prepared {
    /// Id, folded "title\nartist\nalbum\ngenre", album id, artist id, uploader id, cover key
    /// ("" for none), album, album artist and artist, one after the other; `ends` says where
    /// each stops.
    pub(super) texts: String,
    pub(super) ends: [u32; 9],
    pub(super) cuts: [u32; 3],
    pub(super) blob_tag: u64,
    pub(super) disc: Option<u32>,
    pub(super) track: Option<u32>,
    pub(super) year: Option<i32>,
    pub(super) created_at: i64,
    pub(super) duration_ms: u64,
    pub(super) size_bytes: u64,
}

impl Prepared {
    pub(super) fn new(s: &Indexed) -> Self {
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

    pub(super) fn texts(&self) -> [&str; 9] {
        let mut start = 0;
        self.ends.map(|end| {
            let text = self.texts.get(start..end as usize).unwrap_or("");
            start = end as usize;
            text
        })
    }
}

pub(super) fn blob_tag(key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    // Zero-keyed SipHash: the same in every process, no collisions worth worrying about, and
    // a match is confirmed against the record anyway.
    let mut hasher = std::hash::DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

impl Entry {
    pub(super) fn span(&self, start: u32, end: usize) -> &str {
        self.folded.get(start as usize..end).unwrap_or("")
    }
    pub(super) fn title_key(&self) -> &str {
        self.span(0, self.cuts[0] as usize - 1)
    }
    pub(super) fn artist_key(&self) -> &str {
        self.span(self.cuts[0], self.cuts[1] as usize - 1)
    }
    pub(super) fn album_key(&self) -> &str {
        self.span(self.cuts[1], self.cuts[2] as usize - 1)
    }
    pub(super) fn genre_key(&self) -> &str {
        self.span(self.cuts[2], self.folded.len())
    }
}

/// The entries by id: a set of entries found by the id each carries, rather than a map from a
/// second copy of it (16 bytes less per song, 30 MB at a million).
#[derive(Default)]
pub(super) struct Entries(HashSet<ById>);

struct ById(Arc<Entry>);

impl std::borrow::Borrow<str> for ById {
    fn borrow(&self) -> &str {
        &self.0.id
    }
}

impl std::hash::Hash for ById {
    // As `str` hashes, which `Borrow<str>` requires.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (*self.0.id).hash(state);
    }
}

impl PartialEq for ById {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for ById {}

impl Entries {
    pub(super) fn get(&self, id: &str) -> Option<&Arc<Entry>> {
        self.0.get(id).map(|e| &e.0)
    }
    pub(super) fn contains_key(&self, id: &str) -> bool {
        self.0.contains(id)
    }
    pub(super) fn values(&self) -> impl Iterator<Item = &Arc<Entry>> {
        self.0.iter().map(|e| &e.0)
    }
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }
    pub(super) fn reserve(&mut self, more: usize) {
        self.0.reserve(more);
    }
    /// Adds or replaces the entry with this id.
    pub(super) fn insert(&mut self, entry: Arc<Entry>) {
        self.0.replace(ById(entry));
    }
    pub(super) fn remove(&mut self, id: &str) -> Option<Arc<Entry>> {
        self.0.take(id).map(|e| e.0)
    }
}

/// The songs of one album or artist, and the name shown for it. Ids come from the lowercased,
/// trimmed names, so members differ at most in case or spacing; the latest added member names it.
pub(super) struct Group {
    pub(super) key: Arc<str>,
    pub(super) members: Vec<Arc<Entry>>,
    pub(super) name: Box<str>,
    pub(super) artist: Box<str>,
}

#[derive(Default)]
pub(super) struct Index {
    pub(super) entries: Entries,
    pub(super) by_album: HashMap<Arc<str>, Group>,
    pub(super) by_artist: HashMap<Arc<str>, Group>,
    /// Uploader ids and cover keys, shared by the entries that hold them.
    pub(super) shared: HashSet<Arc<str>>,
    pub(super) version: u64,
    /// Oldest version still in the change log (0 = the log starts at the beginning).
    pub(super) oldest_kept: u64,
    /// Built on the first listing after a change.
    pub(super) snapshot: Option<Arc<Snapshot>>,
}

impl Index {
    pub(super) fn share(&mut self, text: &str) -> Arc<str> {
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
    pub(super) fn group<'g>(
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

    pub(super) fn add(&mut self, p: Prepared, plays: u64) {
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
        self.entries.insert(entry);
        self.snapshot = None;
    }

    pub(super) fn remove(&mut self, id: &str) -> Option<Arc<Entry>> {
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
    pub(super) fn album_tracks(&self, id: &str) -> Option<Vec<&Arc<Entry>>> {
        let mut songs: Vec<_> = self.by_album.get(id)?.members.iter().collect();
        songs.sort_by(|a, b| {
            (a.disc, a.track, a.title_key()).cmp(&(b.disc, b.track, b.title_key()))
        });
        Some(songs)
    }

    pub(super) fn album(&self, id: &str) -> Option<Album> {
        self.album_of(id, &self.album_tracks(id)?)
    }

    pub(super) fn album_of(&self, id: &str, songs: &[&Arc<Entry>]) -> Option<Album> {
        let group = self.by_album.get(id)?;
        songs.first()?;
        Some(Album {
            id: id.to_string(),
            name: group.name.to_string(),
            artist: group.artist.to_string(),
            year: songs.iter().filter_map(|e| e.year).min(),
            cover_url: songs
                .iter()
                .find_map(|e| e.cover_key.as_deref().and_then(art_url)),
            song_count: songs.len() as u64,
            duration_ms: songs.iter().map(|e| e.duration_ms).sum(),
            created_at: songs.iter().map(|e| e.created_at).min().unwrap_or(0),
        })
    }

    pub(super) fn artist(&self, id: &str) -> Option<Artist> {
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
