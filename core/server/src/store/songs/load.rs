//! Building the index at start-up: two loader threads decode records while this one links them.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};

use super::index::{Index, Indexed, Prepared};
use super::{BY_SOURCE, CHANGES, LYRICS, PLAY_COUNTS, SONGS, Songs};
use crate::error::{AppError, AppResult};
use crate::store::db::Db;

pub(super) fn version_key(bytes: &[u8]) -> u64 {
    bytes.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

pub(super) fn count_of(bytes: Option<sled::IVec>) -> u64 {
    bytes.map(|b| version_key(&b)).unwrap_or(0)
}

/// Decodes stored songs into prepared entries, sent in batches; stops early when the receiver
/// is gone (it failed on its own).
pub(super) fn load_songs(
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
pub struct LoadedIndex(pub(super) Index);

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
            lyrics: db.tree(LYRICS)?,
            index: Arc::new(RwLock::new(index)),
            writer: Arc::new(Mutex::new(())),
        })
    }
}
