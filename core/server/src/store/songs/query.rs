//! What a listing asks for (filters, sorts) and the frozen snapshot listings scan.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use super::index::{Entries, Entry};
use super::record::{SongView, fold};

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
pub(super) struct Matcher<'a> {
    pub(super) filter: &'a SongFilter,
    pub(super) artist: Option<String>,
    pub(super) album: Option<String>,
    pub(super) genre: Option<String>,
    /// Any filter besides the search words; without one every row matches.
    pub(super) fields: bool,
}

impl<'a> Matcher<'a> {
    pub(super) fn new(filter: &'a SongFilter) -> Self {
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
    pub(super) fn matches(&self, e: &Entry) -> bool {
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

pub(super) fn compare(a: &Entry, b: &Entry, sort: SongSort) -> std::cmp::Ordering {
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

/// The library frozen for listing: the entries as numbered rows, the folded texts search looks
/// in, and sort orders as row numbers. Titles are one buffer (search scans memory linearly
/// instead of visiting a million heap objects); artist and album names, shared by many songs,
/// are kept once each and rows point at them, which makes the text scanned per search less than
/// half of what "title, artist, album" per song would be.
pub(super) struct Snapshot {
    pub(super) rows: Vec<Arc<Entry>>,
    titles: Texts,
    artists: Texts,
    albums: Texts,
    /// Per row: its artist's and its album's number in `artists` and `albums`.
    row_artist: Vec<u32>,
    row_album: Vec<u32>,
    pub(super) orders: Mutex<HashMap<SongSort, Arc<Vec<u32>>>>,
}

/// Texts one after the other, each ended by a NUL (no search word holds one, so a match never
/// spans two texts).
#[derive(Default)]
struct Texts {
    bytes: Vec<u8>,
    starts: Vec<u32>,
}

impl Texts {
    fn push(&mut self, text: &str) -> u32 {
        self.starts.push(self.bytes.len() as u32);
        self.bytes.extend_from_slice(text.as_bytes());
        self.bytes.push(0);
        self.starts.len() as u32 - 1
    }

    fn len(&self) -> usize {
        self.starts.len()
    }

    fn get(&self, i: usize) -> &[u8] {
        let start = self.starts[i] as usize;
        let end = self
            .starts
            .get(i + 1)
            .map_or(self.bytes.len(), |s| *s as usize);
        &self.bytes[start..end]
    }

    /// Which texts hold a match of `finder`; big ones are scanned half per thread.
    fn find_all(&self, finder: &memchr::memmem::Finder) -> Vec<bool> {
        let mut hit = vec![false; self.len()];
        let half = self.len() / 2;
        if half < 4096 {
            self.scan(finder, 0, &mut hit);
            return hit;
        }
        let (low, high) = hit.split_at_mut(half);
        std::thread::scope(|scope| {
            scope.spawn(|| self.scan(finder, half, high));
            self.scan(finder, 0, low);
        });
        hit
    }

    /// Marks in `hit` the texts from `first` on (as many as `hit` has) that hold a match.
    fn scan(&self, finder: &memchr::memmem::Finder, first: usize, hit: &mut [bool]) {
        let Some(&begin) = self.starts.get(first) else {
            return;
        };
        let end = self
            .starts
            .get(first + hit.len())
            .map_or(self.bytes.len(), |s| *s as usize);
        let starts = &self.starts[first..first + hit.len()];
        let bytes = &self.bytes[..end];
        // After a hit the scan resumes at the next text: one hit per text is enough.
        let (mut from, mut row) = (begin as usize, 0);
        while let Some(found) = finder.find(&bytes[from..]) {
            let pos = from + found;
            while row + 1 < starts.len() && starts[row + 1] as usize <= pos {
                row += 1;
            }
            hit[row] = true;
            match starts.get(row + 1) {
                Some(&next) => from = next as usize,
                None => break,
            }
        }
    }
}

impl Snapshot {
    pub(super) fn new(entries: &Entries) -> Self {
        let rows: Vec<Arc<Entry>> = entries.values().cloned().collect();
        let mut titles = Texts::default();
        let (mut artists, mut albums) = (Texts::default(), Texts::default());
        let (mut artist_numbers, mut album_numbers) = (HashMap::new(), HashMap::new());
        let mut row_artist = Vec::with_capacity(rows.len());
        let mut row_album = Vec::with_capacity(rows.len());
        for e in &rows {
            titles.push(e.title_key());
            for (key, texts, numbers, row_numbers) in [
                (
                    e.artist_key(),
                    &mut artists,
                    &mut artist_numbers,
                    &mut row_artist,
                ),
                (
                    e.album_key(),
                    &mut albums,
                    &mut album_numbers,
                    &mut row_album,
                ),
            ] {
                let number = *numbers.entry(key).or_insert_with(|| texts.push(key));
                row_numbers.push(number);
            }
        }
        Self {
            rows,
            titles,
            artists,
            albums,
            row_artist,
            row_album,
            orders: Mutex::default(),
        }
    }

    pub(super) fn order(&self, sort: SongSort) -> Arc<Vec<u32>> {
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

    /// Which rows hold every word (in title, artist or album); `None` when there are no words.
    /// The longest word (likely the rarest) goes first; later ones look only at the titles of
    /// the rows still in, or at all titles again while many are.
    pub(super) fn search(&self, words: &[String]) -> Option<Vec<bool>> {
        let mut words: Vec<&str> = words.iter().map(String::as_str).collect();
        words.sort_by_key(|w| std::cmp::Reverse(w.len()));
        let mut pass: Option<Vec<bool>> = None;
        for word in words {
            let finder = memchr::memmem::Finder::new(word.as_bytes());
            let artists = self.artists.find_all(&finder);
            let albums = self.albums.find_all(&finder);
            let in_names = |row: usize| {
                artists[self.row_artist[row] as usize] || albums[self.row_album[row] as usize]
            };
            let left = pass
                .as_ref()
                .map_or(self.titles.len(), |p| p.iter().filter(|p| **p).count());
            pass = Some(match pass {
                Some(mut pass) if left <= self.titles.len() / 16 => {
                    for (row, p) in pass.iter_mut().enumerate().filter(|(_, p)| **p) {
                        *p = in_names(row) || finder.find(self.titles.get(row)).is_some();
                    }
                    pass
                }
                earlier => {
                    let mut hit = self.titles.find_all(&finder);
                    // Name hits spread to their rows; skipped when no name matched.
                    if artists.contains(&true) || albums.contains(&true) {
                        let rows = hit.iter_mut().zip(&self.row_artist).zip(&self.row_album);
                        for ((hit, &artist), &album) in rows {
                            *hit = *hit
                                || artists.get(artist as usize) == Some(&true)
                                || albums.get(album as usize) == Some(&true);
                        }
                    }
                    if let Some(earlier) = earlier {
                        for (hit, was) in hit.iter_mut().zip(earlier) {
                            *hit &= was;
                        }
                    }
                    hit
                }
            });
        }
        pass
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A snapshot of (title, artist, album) rows only (search looks at nothing else).
    fn texts(rows: &[[String; 3]]) -> Snapshot {
        let mut snapshot = Snapshot {
            rows: Vec::new(),
            titles: Texts::default(),
            artists: Texts::default(),
            albums: Texts::default(),
            row_artist: Vec::new(),
            row_album: Vec::new(),
            orders: Mutex::default(),
        };
        let mut numbers = [HashMap::new(), HashMap::new()];
        for [title, artist, album] in rows {
            snapshot.titles.push(title);
            let n = *numbers[0]
                .entry(artist.clone())
                .or_insert_with(|| snapshot.artists.push(artist));
            snapshot.row_artist.push(n);
            let n = *numbers[1]
                .entry(album.clone())
                .or_insert_with(|| snapshot.albums.push(album));
            snapshot.row_album.push(n);
        }
        snapshot
    }

    #[test]
    fn search_finds_exactly_the_rows_holding_every_word() {
        // Enough rows for the two-thread scan, words common and rare, at row edges too.
        let rows: Vec<[String; 3]> = (0..20_000)
            .map(|i| {
                [
                    format!("song {i}"),
                    format!("artist {}", i % 7),
                    format!("album {}", i % 501),
                ]
            })
            .collect();
        let snapshot = texts(&rows);
        for words in [
            &["song"][..],
            &["1999"],
            &["artist 3", "album 42"],
            &["album 42", "song 1"],
            &["song 12", "artist"],
            &["1"],
            &["artist 6", "song 1", "album 5"],
            &["nowhere"],
            &["song", "nowhere"],
        ] {
            let owned: Vec<String> = words.iter().map(|w| w.to_string()).collect();
            let got = snapshot.search(&owned).unwrap();
            let want: Vec<bool> = rows
                .iter()
                .map(|r| {
                    words
                        .iter()
                        .all(|w| r.iter().any(|field| field.contains(w)))
                })
                .collect();
            assert!(got == want, "{words:?}");
        }
        assert!(snapshot.search(&[]).is_none());
    }
}
