//! The in-memory index saved when the stores close and read back when they open, so a restart
//! does not decode every song record (a million records take seconds; the saved index about a
//! tenth of that).
//!
//! Invariant: a saved index is used only for the database it was saved from, unchanged since.
//! Saving writes the file (temp, fsync, rename) and then a random token into sled; the file
//! carries the same token and the library version it holds. Opening takes the token out of sled
//! (durably) before anything can change, so after a crash, a change made without saving again, a
//! restored backup or any other database, nothing matches and the index is built from the
//! records as before. Play counts (not library changes) are covered by the token alone: they
//! only change while the server runs, between an open and the save at its close.

use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::index::{Entry, Group, Index};
use super::load::{LoadedIndex, version_key};
use super::{CHANGES, Songs};
use crate::error::{AppError, AppResult};
use crate::store::db::{Db, new_id};

const MAGIC: &[u8; 8] = b"CHFIDX01";
const TOKEN_TREE: &str = "index_snapshot";
const TOKEN_KEY: &[u8] = b"token";
/// No string in the index comes near this; a damaged length must not allocate gigabytes.
const MAX_TEXT: usize = 1 << 20;
const NONE: u32 = u32::MAX;

impl Songs {
    /// Saves the index to `path` and marks it current in `db`. Library writes wait meanwhile;
    /// one that comes after still makes the saved index stale (its version no longer matches).
    pub fn save_index(&self, db: &Db, path: &Path) -> AppResult<()> {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let token = new_id();
        let tmp = path.with_extension("tmp");
        let written = (|| -> std::io::Result<()> {
            let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
            write_index(&mut out, &self.read(), token.as_bytes())?;
            let file = out.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            std::fs::rename(&tmp, path)?;
            if let Some(dir) = path.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(AppError::internal(format!(
                "saving the library index to {}: {e}",
                path.display()
            )));
        }
        db.tree(TOKEN_TREE)?.insert(TOKEN_KEY, token.as_bytes())?;
        db.flush_blocking()
    }
}

impl LoadedIndex {
    /// The index saved at `path` for `db` when it is current; `None` otherwise (then the caller
    /// builds it from the records). Either way the saved index is used up: it cannot match again.
    pub fn from_saved(db: &Db, path: &Path) -> AppResult<Option<LoadedIndex>> {
        let Some(token) = db.tree(TOKEN_TREE)?.remove(TOKEN_KEY)? else {
            let _ = std::fs::remove_file(path);
            return Ok(None);
        };
        db.flush_blocking()?;
        let read = std::fs::File::open(path)
            .and_then(|file| read_index(&mut BufReader::with_capacity(1 << 20, file), &token));
        let _ = std::fs::remove_file(path);
        let mut index = match read {
            Ok(Some(index)) => index,
            Ok(None) => return Ok(None),
            Err(e) => {
                tracing::warn!(path = %path.display(), "the saved library index is unreadable, building it from the records: {e}");
                return Ok(None);
            }
        };
        let changes = db.tree(CHANGES)?;
        let version = changes.last()?.map(|(k, _)| version_key(&k)).unwrap_or(0);
        if index.version != version {
            tracing::info!(
                saved = index.version,
                current = version,
                "the saved library index is out of date, building it from the records"
            );
            return Ok(None);
        }
        index.oldest_kept = changes.first()?.map(|(k, _)| version_key(&k)).unwrap_or(0);
        Ok(Some(LoadedIndex(index)))
    }
}

fn write_index(out: &mut impl Write, index: &Index, token: &[u8]) -> std::io::Result<()> {
    let text = |out: &mut dyn Write, s: &[u8]| -> std::io::Result<()> {
        out.write_all(&(s.len() as u32).to_le_bytes())?;
        out.write_all(s)
    };
    let count = |out: &mut dyn Write, n: usize| out.write_all(&(n as u64).to_le_bytes());
    out.write_all(MAGIC)?;
    text(out, token)?;
    out.write_all(&index.version.to_le_bytes())?;

    let shared: HashMap<&str, u32> = index
        .shared
        .iter()
        .enumerate()
        .map(|(i, s)| (&**s, i as u32))
        .collect();
    count(out, index.shared.len())?;
    for s in &index.shared {
        text(out, s.as_bytes())?;
    }
    let mut group_numbers = Vec::new();
    for groups in [&index.by_album, &index.by_artist] {
        count(out, groups.len())?;
        let mut numbers = HashMap::with_capacity(groups.len());
        for (i, group) in groups.values().enumerate() {
            text(out, group.key.as_bytes())?;
            text(out, group.name.as_bytes())?;
            text(out, group.artist.as_bytes())?;
            numbers.insert(&*group.key, i as u32);
        }
        group_numbers.push(numbers);
    }
    let number = |map: &HashMap<&str, u32>, key: Option<&str>| {
        key.and_then(|k| map.get(k).copied()).unwrap_or(NONE)
    };
    count(out, index.entries.len())?;
    for e in index.entries.values() {
        text(out, e.id.as_bytes())?;
        text(out, e.folded.as_bytes())?;
        for n in e.cuts {
            out.write_all(&n.to_le_bytes())?;
        }
        for n in [
            number(&group_numbers[0], Some(&e.album_id)),
            number(&group_numbers[1], Some(&e.artist_id)),
            number(&shared, Some(&e.uploader_id)),
            number(&shared, e.cover_key.as_deref()),
            e.disc.unwrap_or(NONE),
            e.track.unwrap_or(NONE),
        ] {
            out.write_all(&n.to_le_bytes())?;
        }
        out.write_all(&[u8::from(e.year.is_some())])?;
        out.write_all(&e.year.unwrap_or(0).to_le_bytes())?;
        for n in [
            e.blob_tag,
            e.created_at as u64,
            e.duration_ms,
            e.size_bytes,
            e.plays.load(Ordering::Relaxed),
        ] {
            out.write_all(&n.to_le_bytes())?;
        }
    }
    out.write_all(MAGIC)
}

struct Reader<'a, R> {
    input: &'a mut R,
}

impl<R: Read> Reader<'_, R> {
    fn bytes<const N: usize>(&mut self) -> std::io::Result<[u8; N]> {
        let mut buf = [0u8; N];
        self.input.read_exact(&mut buf)?;
        Ok(buf)
    }
    fn u32(&mut self) -> std::io::Result<u32> {
        self.bytes().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> std::io::Result<u64> {
        self.bytes().map(u64::from_le_bytes)
    }
    fn count(&mut self) -> std::io::Result<usize> {
        usize::try_from(self.u64()?).map_err(std::io::Error::other)
    }
    fn text(&mut self) -> std::io::Result<String> {
        let len = self.u32()? as usize;
        if len > MAX_TEXT {
            return Err(damaged("a text longer than any in an index"));
        }
        let mut buf = vec![0; len];
        self.input.read_exact(&mut buf)?;
        String::from_utf8(buf).map_err(|_| damaged("a text that is not UTF-8"))
    }
}

fn damaged(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("damaged: {what}"))
}

/// The saved index, or `None` when it was saved with another token.
fn read_index(input: &mut impl Read, token: &[u8]) -> std::io::Result<Option<Index>> {
    let mut r = Reader { input };
    if &r.bytes::<8>()? != MAGIC {
        return Err(damaged("not a saved library index of this version"));
    }
    if r.text()?.as_bytes() != token {
        return Ok(None);
    }
    let mut index = Index {
        version: r.u64()?,
        ..Index::default()
    };
    let shared: Vec<Arc<str>> = (0..r.count()?)
        .map(|_| r.text().map(Arc::from))
        .collect::<Result<_, _>>()?;
    index.shared = shared.iter().cloned().collect();
    let mut groups: Vec<Vec<Group>> = Vec::new();
    for _ in 0..2 {
        let n = r.count()?;
        let mut list = Vec::with_capacity(n.min(1 << 20));
        for _ in 0..n {
            list.push(Group {
                key: Arc::from(r.text()?),
                members: Vec::new(),
                name: r.text()?.into(),
                artist: r.text()?.into(),
            });
        }
        groups.push(list);
    }
    let [mut albums, mut artists]: [Vec<Group>; 2] =
        groups.try_into().map_err(|_| damaged("group lists"))?;
    let n = r.count()?;
    index.entries.reserve(n.min(1 << 24));
    let optional = |n: u32| (n != NONE).then_some(n);
    for _ in 0..n {
        let id: Arc<str> = Arc::from(r.text()?);
        let folded: Box<str> = r.text()?.into();
        let cuts = [r.u32()?, r.u32()?, r.u32()?];
        if cuts.iter().any(|c| *c as usize > folded.len()) || !cuts.is_sorted() || cuts[0] == 0 {
            return Err(damaged("an entry's text cuts"));
        }
        let [album, artist, uploader, cover, disc, track] =
            [r.u32()?, r.u32()?, r.u32()?, r.u32()?, r.u32()?, r.u32()?];
        let has_year = r.bytes::<1>()?[0] != 0;
        let year = i32::from_le_bytes(r.bytes()?);
        let [blob_tag, created_at, duration_ms, size_bytes, plays] =
            [r.u64()?, r.u64()?, r.u64()?, r.u64()?, r.u64()?];
        let shared_text = |n: u32| shared.get(n as usize).cloned();
        let (Some(album_group), Some(artist_group), Some(uploader_id)) = (
            albums.get_mut(album as usize),
            artists.get_mut(artist as usize),
            shared_text(uploader),
        ) else {
            return Err(damaged("an entry's album, artist or uploader"));
        };
        let entry = Arc::new(Entry {
            id,
            folded,
            cuts,
            album_id: album_group.key.clone(),
            artist_id: artist_group.key.clone(),
            uploader_id,
            cover_key: optional(cover).and_then(shared_text),
            blob_tag,
            disc: optional(disc),
            track: optional(track),
            year: has_year.then_some(year),
            created_at: created_at as i64,
            duration_ms,
            size_bytes,
            plays: AtomicU64::new(plays),
        });
        album_group.members.push(entry.clone());
        artist_group.members.push(entry.clone());
        index.entries.insert(entry);
    }
    if &r.bytes::<8>()? != MAGIC {
        return Err(damaged("no end marker"));
    }
    for (groups, list) in [
        (&mut index.by_album, albums),
        (&mut index.by_artist, artists),
    ] {
        groups.extend(
            list.into_iter()
                .filter(|g| !g.members.is_empty())
                .map(|g| (g.key.clone(), g)),
        );
    }
    Ok(Some(index))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::songs::tests::song;

    /// Everything an index holds, in a stable order.
    fn contents(songs: &Songs) -> Vec<String> {
        let index = songs.read();
        let mut out: Vec<String> = index.entries.values().map(|e| format!("{e:?}")).collect();
        for (kind, groups) in [("album", &index.by_album), ("artist", &index.by_artist)] {
            out.extend(groups.values().map(|g| {
                let mut members: Vec<&str> = g.members.iter().map(|e| &*e.id).collect();
                members.sort();
                format!("{kind} {} {} {} {members:?}", g.key, g.name, g.artist)
            }));
        }
        let mut shared: Vec<&str> = index.shared.iter().map(|s| &**s).collect();
        shared.sort();
        out.push(format!("shared {shared:?} version {}", index.version));
        out.sort();
        out
    }

    fn library() -> (tempfile::TempDir, Db, Songs) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("db")).unwrap();
        let songs = Songs::new(&db).unwrap();
        for i in 0..50 {
            let mut s = song(&new_id(), &format!("s{i}"), &format!("Album {}", i % 4));
            s.cover_key = (i % 3 == 0).then(|| format!("art/{}.jpg", i % 2));
            s.disc = (i % 2 == 0).then_some(2);
            s.year = (i % 5 != 0).then_some(1990 + i);
            s.title = format!("Tïtle {i} Ünïcode");
            songs.insert(&s).unwrap().unwrap();
        }
        let first = songs.read().entries.values().next().unwrap().id.to_string();
        songs.record_play(&first).unwrap();
        (dir, db, songs)
    }

    #[test]
    fn a_saved_index_reads_back_equal_once() {
        let (dir, db, songs) = library();
        let path = dir.path().join("index.bin");
        songs.save_index(&db, &path).unwrap();
        let loaded = LoadedIndex::from_saved(&db, &path)
            .unwrap()
            .expect("current");
        let loaded = Songs::with_index(&db, loaded).unwrap();
        assert_eq!(contents(&loaded), contents(&songs));
        assert!(!path.exists(), "used up");
        // A second open (after a crash, say) builds it from the records.
        songs.save_index(&db, &path).unwrap();
        let copy = std::fs::read(&path).unwrap();
        assert!(LoadedIndex::from_saved(&db, &path).unwrap().is_some());
        std::fs::write(&path, copy).unwrap();
        assert!(LoadedIndex::from_saved(&db, &path).unwrap().is_none());
    }

    #[test]
    fn a_change_after_the_save_or_damage_makes_it_unusable() {
        let (dir, db, songs) = library();
        let path = dir.path().join("index.bin");
        songs.save_index(&db, &path).unwrap();
        songs
            .insert(&song(&new_id(), "late", "Late"))
            .unwrap()
            .unwrap();
        assert!(LoadedIndex::from_saved(&db, &path).unwrap().is_none());

        songs.save_index(&db, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        for cut in [10, bytes.len() / 2, bytes.len() - 1] {
            songs.save_index(&db, &path).unwrap();
            std::fs::write(&path, &bytes[..cut]).unwrap();
            assert!(
                LoadedIndex::from_saved(&db, &path).unwrap().is_none(),
                "{cut}"
            );
        }
        // Saved by another database (same file, other token).
        songs.save_index(&db, &path).unwrap();
        let other = tempfile::tempdir().unwrap();
        let other_db = Db::open(other.path()).unwrap();
        other_db
            .tree(TOKEN_TREE)
            .unwrap()
            .insert(TOKEN_KEY, b"x".as_slice())
            .unwrap();
        assert!(LoadedIndex::from_saved(&other_db, &path).unwrap().is_none());
    }
}
