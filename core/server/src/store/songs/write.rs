//! The one writer: every library change commits in one sled transaction with the next version,
//! then updates the in-memory index before the next writer may start.

use std::sync::atomic::Ordering;

use serde::Serialize;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::index::{Index, Prepared};
use super::load::{count_of, version_key};
use super::query::SongSort;
use super::record::Song;
use super::{CHANGES_KEPT, Songs};
use crate::error::{AppError, AppResult};
use crate::store::db;

pub(super) type TxResult<T> = Result<T, ConflictableTransactionError<AppError>>;

pub(super) fn tx_get<T: serde::de::DeserializeOwned>(
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

pub(super) fn tx_put<T: Serialize>(tree: &TransactionalTree, key: &str, value: &T) -> TxResult<()> {
    let bytes = db::encode(value).map_err(ConflictableTransactionError::Abort)?;
    tree.insert(key.as_bytes(), bytes)?;
    Ok(())
}

/// The trees one library write changes together.
pub(super) struct TxTrees<'a> {
    songs: &'a TransactionalTree,
    by_source: &'a TransactionalTree,
    changes: &'a TransactionalTree,
}

impl Songs {
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

    /// Commits a new song; returns it with the library version of its commit. If another song
    /// with the same source hash won the race, that one is returned as `Err(existing)`.
    pub fn insert(&self, song: &Song) -> AppResult<Result<(Song, u64), Song>> {
        let (outcome, version) = self.commit(
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
        Ok(outcome.map(|song| (song, version)))
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
        self.lyrics.remove(id.as_bytes())?;
        Ok((song, version))
    }

    /// Keeps the lyrics of a song just committed (an empty text keeps none).
    pub fn set_lyrics(&self, id: &str, lyrics: &str) -> AppResult<()> {
        if !lyrics.trim().is_empty() {
            self.lyrics.insert(id.as_bytes(), lyrics.as_bytes())?;
        }
        Ok(())
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
