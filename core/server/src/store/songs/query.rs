//! What a listing asks for (filters, sorts) and the frozen snapshot listings scan.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use super::index::Entry;
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

/// The library frozen for listing: the entries as numbered rows, their folded text in one
/// buffer (search scans memory linearly instead of visiting 100 000 heap objects), and sort
/// orders as row numbers.
pub(super) struct Snapshot {
    pub(super) rows: Vec<Arc<Entry>>,
    pub(super) text: Vec<u8>,
    pub(super) starts: Vec<u32>,
    pub(super) orders: Mutex<HashMap<SongSort, Arc<Vec<u32>>>>,
}

impl Snapshot {
    pub(super) fn new(entries: &HashMap<Arc<str>, Arc<Entry>>) -> Self {
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

    /// Which rows hold every word; `None` when there are no words.
    pub(super) fn search(&self, words: &[String]) -> Option<Vec<bool>> {
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
