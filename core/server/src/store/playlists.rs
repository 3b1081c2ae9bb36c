//! Playlists: named, ordered lists of song ids owned by one user, private, public or shared with
//! chosen users.
//! Invariants: every write is a compare-and-swap of the whole record, so concurrent edits never
//! lose each other's changes; only the owner (or an administrator) changes a playlist; a private
//! playlist is invisible (not found, never forbidden) to users it is not shared with. Song ids of
//! deleted songs stay in the record but every read skips them, and the next write drops them.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};
use crate::store::db::{self, Db, now_secs};
use crate::store::songs::Song;
use crate::store::users::{User, Users, clean_text};

const PLAYLISTS: &str = "playlists";

pub const MAX_NAME: usize = 100;
pub const MAX_DESCRIPTION: usize = 1000;
pub const MAX_SONGS: usize = 10_000;
/// Users one playlist can be shared with.
pub const MAX_SHARED_WITH: usize = 1000;

/// A stored playlist.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Playlist {
    pub id: String,
    pub name: String,
    pub description: String,
    pub owner_id: String,
    pub is_public: bool,
    pub song_ids: Vec<String>,
    /// User ids (not names: names can change).
    pub shared_with: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Who is asking.
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: String,
    pub is_admin: bool,
}

impl From<&User> for Actor {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.clone(),
            is_admin: u.is_admin,
        }
    }
}

/// A user as a playlist shows them.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub id: String,
    pub username: String,
    pub display_name: String,
}

impl From<&User> for Member {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.clone(),
            username: u.username.clone(),
            display_name: u.display_name.clone(),
        }
    }
}

/// The wire form of a playlist; the same for every reader.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlaylistView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub owner_id: String,
    pub owner_name: String,
    pub is_public: bool,
    pub song_ids: Vec<String>,
    pub song_count: usize,
    pub duration_ms: u64,
    pub shared_with: Vec<Member>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Playlist {
    /// Everyone who may read it without being an administrator.
    pub fn is_visible_to(&self, user_id: &str) -> bool {
        self.is_public || self.owner_id == user_id || self.shared_with.iter().any(|u| u == user_id)
    }

    fn can_read(&self, actor: &Actor) -> bool {
        actor.is_admin || self.is_visible_to(&actor.id)
    }

    /// Readable, or `not_found` (a private playlist's existence is never revealed).
    pub fn check_read(&self, actor: &Actor) -> AppResult<()> {
        if self.can_read(actor) {
            Ok(())
        } else {
            Err(AppError::NotFound("playlist"))
        }
    }

    /// Changeable by the actor: `not_found` when they cannot even read it, else `forbidden`
    /// unless they own it or are an administrator.
    pub fn check_write(&self, actor: &Actor) -> AppResult<()> {
        self.check_read(actor)?;
        if actor.is_admin || self.owner_id == actor.id {
            Ok(())
        } else {
            Err(AppError::Forbidden(
                "only the owner can change this playlist".into(),
            ))
        }
    }

    /// The song ids that still exist, in order (duplicates kept).
    pub fn live_ids(&self, exists: &dyn Fn(&str) -> bool) -> Vec<String> {
        self.song_ids
            .iter()
            .filter(|id| exists(id))
            .cloned()
            .collect()
    }

    /// The wire form. `songs` are the existing songs among `song_ids` (any order, duplicates
    /// or not); ids without a song are left out.
    pub fn view(&self, songs: &[Song], users: &Users) -> AppResult<PlaylistView> {
        let by_id: HashMap<&str, &Song> = songs.iter().map(|s| (s.id.as_str(), s)).collect();
        let song_ids: Vec<String> = self
            .song_ids
            .iter()
            .filter(|id| by_id.contains_key(id.as_str()))
            .cloned()
            .collect();
        let duration_ms = song_ids
            .iter()
            .filter_map(|id| by_id.get(id.as_str()))
            .map(|s| s.duration_ms)
            .sum();
        let owner_name = match users.get(&self.owner_id)? {
            Some(owner) if !owner.display_name.is_empty() => owner.display_name,
            Some(owner) => owner.username,
            None => "deleted user".to_string(),
        };
        let mut shared_with = Vec::new();
        for id in &self.shared_with {
            if let Some(user) = users.get(id)? {
                shared_with.push(Member::from(&user));
            }
        }
        Ok(PlaylistView {
            id: self.id.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            owner_id: self.owner_id.clone(),
            owner_name,
            is_public: self.is_public,
            song_count: song_ids.len(),
            song_ids,
            duration_ms,
            shared_with,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// A playlist name: trimmed, 1–100 characters, one line.
pub fn clean_name(name: &str) -> AppResult<String> {
    let name = clean_text("name", name, MAX_NAME)?;
    if name.is_empty() {
        return Err(AppError::invalid_field("name", "a playlist needs a name"));
    }
    if name.contains('\n') {
        return Err(AppError::invalid_field(
            "name",
            "a playlist name is one line",
        ));
    }
    Ok(name)
}

pub fn clean_description(description: &str) -> AppResult<String> {
    clean_text("description", description, MAX_DESCRIPTION)
}

/// Every id must name an existing song.
fn check_songs(ids: &[String], exists: &dyn Fn(&str) -> bool) -> AppResult<()> {
    if let Some(unknown) = ids.iter().find(|id| !exists(id)) {
        let shown: String = unknown.chars().take(40).collect();
        return Err(AppError::invalid_field(
            "songIds",
            format!("no song with id '{shown}'"),
        ));
    }
    Ok(())
}

fn check_size(len: usize) -> AppResult<()> {
    if len > MAX_SONGS {
        return Err(AppError::invalid_field(
            "songIds",
            format!("a playlist holds at most {MAX_SONGS} songs"),
        ));
    }
    Ok(())
}

/// What `create` takes (already parsed from the payload).
#[derive(Debug, Default)]
pub struct NewPlaylist {
    pub name: String,
    pub description: Option<String>,
    pub is_public: bool,
    pub song_ids: Vec<String>,
}

/// What `update` may change.
#[derive(Debug, Default)]
pub struct Changes {
    pub name: Option<String>,
    pub description: Option<String>,
    pub is_public: Option<bool>,
}

#[derive(Clone)]
pub struct Playlists {
    tree: sled::Tree,
}

impl Playlists {
    pub fn new(db: &Db) -> AppResult<Self> {
        Ok(Self {
            tree: db.tree(PLAYLISTS)?,
        })
    }

    pub fn get(&self, id: &str) -> AppResult<Option<Playlist>> {
        db::get(&self.tree, id)
    }

    /// The playlist if the actor may read it; `not_found` otherwise.
    pub fn readable(&self, id: &str, actor: &Actor) -> AppResult<Playlist> {
        let playlist = self.get(id)?.ok_or(AppError::NotFound("playlist"))?;
        playlist.check_read(actor)?;
        Ok(playlist)
    }

    /// The actor's own playlists, public ones and those shared with them, by name.
    /// Administrators get the same list (they can open any playlist by id).
    pub fn list_for(&self, user_id: &str) -> AppResult<Vec<Playlist>> {
        let mut items = Vec::new();
        for value in self.tree.iter().values() {
            let playlist: Playlist = db::decode(&value?)?;
            if playlist.is_visible_to(user_id) {
                items.push(playlist);
            }
        }
        items.sort_by_cached_key(|p| (p.name.to_lowercase(), p.id.clone()));
        Ok(items)
    }

    pub fn create(
        &self,
        owner: &Actor,
        new: NewPlaylist,
        exists: &dyn Fn(&str) -> bool,
    ) -> AppResult<Playlist> {
        let name = clean_name(&new.name)?;
        let description = new
            .description
            .as_deref()
            .map(clean_description)
            .transpose()?
            .unwrap_or_default();
        check_size(new.song_ids.len())?;
        check_songs(&new.song_ids, exists)?;
        let now = now_secs();
        let playlist = Playlist {
            id: db::new_id(),
            name,
            description,
            owner_id: owner.id.clone(),
            is_public: new.is_public,
            song_ids: new.song_ids,
            shared_with: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        let inserted = self.tree.compare_and_swap(
            &playlist.id,
            None::<&[u8]>,
            Some(db::encode(&playlist)?),
        )?;
        inserted.map_err(|_| AppError::internal("playlist id collision"))?;
        Ok(playlist)
    }

    /// Reads, checks write access, applies `change` and stores the result atomically (retrying
    /// when someone else wrote in between). Ids of songs that no longer exist are dropped first,
    /// so indexes in `change` refer to the list readers see.
    fn modify(
        &self,
        id: &str,
        actor: &Actor,
        exists: &dyn Fn(&str) -> bool,
        mut change: impl FnMut(&mut Playlist) -> AppResult<()>,
    ) -> AppResult<(Playlist, Playlist)> {
        loop {
            let old_bytes = self.tree.get(id)?.ok_or(AppError::NotFound("playlist"))?;
            let old: Playlist = db::decode(&old_bytes)?;
            old.check_write(actor)?;
            let mut new = old.clone();
            new.song_ids = old.live_ids(exists);
            change(&mut new)?;
            new.updated_at = now_secs().max(old.updated_at);
            let swapped =
                self.tree
                    .compare_and_swap(id, Some(old_bytes), Some(db::encode(&new)?))?;
            if swapped.is_ok() {
                return Ok((old, new));
            }
        }
    }

    /// Returns the playlist before and after the change.
    pub fn update(
        &self,
        id: &str,
        actor: &Actor,
        changes: Changes,
        exists: &dyn Fn(&str) -> bool,
    ) -> AppResult<(Playlist, Playlist)> {
        let name = changes.name.as_deref().map(clean_name).transpose()?;
        let description = changes
            .description
            .as_deref()
            .map(clean_description)
            .transpose()?;
        self.modify(id, actor, exists, |p| {
            if let Some(name) = &name {
                p.name = name.clone();
            }
            if let Some(description) = &description {
                p.description = description.clone();
            }
            if let Some(is_public) = changes.is_public {
                p.is_public = is_public;
            }
            Ok(())
        })
    }

    pub fn delete(&self, id: &str, actor: &Actor) -> AppResult<Playlist> {
        loop {
            let old_bytes = self.tree.get(id)?.ok_or(AppError::NotFound("playlist"))?;
            let old: Playlist = db::decode(&old_bytes)?;
            old.check_write(actor)?;
            if self
                .tree
                .compare_and_swap(id, Some(old_bytes), None::<&[u8]>)?
                .is_ok()
            {
                return Ok(old);
            }
        }
    }

    /// Inserts songs at `position` (an index into the list as read; default: the end).
    pub fn add_songs(
        &self,
        id: &str,
        actor: &Actor,
        song_ids: &[String],
        position: Option<usize>,
        exists: &dyn Fn(&str) -> bool,
    ) -> AppResult<Playlist> {
        check_songs(song_ids, exists)?;
        let (_, new) = self.modify(id, actor, exists, |p| {
            check_size(p.song_ids.len() + song_ids.len())?;
            let at = position.unwrap_or(p.song_ids.len());
            if at > p.song_ids.len() {
                return Err(AppError::invalid_field(
                    "position",
                    format!("position is 0 to {}", p.song_ids.len()),
                ));
            }
            p.song_ids.splice(at..at, song_ids.iter().cloned());
            Ok(())
        })?;
        Ok(new)
    }

    /// Removes the entries at these indexes (of the list as read); repeated indexes count once.
    pub fn remove_songs(
        &self,
        id: &str,
        actor: &Actor,
        indexes: &[usize],
        exists: &dyn Fn(&str) -> bool,
    ) -> AppResult<Playlist> {
        let drop: HashSet<usize> = indexes.iter().copied().collect();
        let (_, new) = self.modify(id, actor, exists, |p| {
            if let Some(bad) = drop.iter().find(|&&i| i >= p.song_ids.len()) {
                return Err(AppError::invalid_field(
                    "indexes",
                    format!("index {bad} is past the end of the playlist"),
                ));
            }
            p.song_ids = std::mem::take(&mut p.song_ids)
                .into_iter()
                .enumerate()
                .filter(|(i, _)| !drop.contains(i))
                .map(|(_, id)| id)
                .collect();
            Ok(())
        })?;
        Ok(new)
    }

    /// Replaces the order; `song_ids` must hold exactly the current entries.
    pub fn reorder(
        &self,
        id: &str,
        actor: &Actor,
        song_ids: &[String],
        exists: &dyn Fn(&str) -> bool,
    ) -> AppResult<Playlist> {
        let (_, new) = self.modify(id, actor, exists, |p| {
            let mut want: Vec<&String> = song_ids.iter().collect();
            let mut have: Vec<&String> = p.song_ids.iter().collect();
            want.sort();
            have.sort();
            if want != have {
                return Err(AppError::invalid_field(
                    "songIds",
                    "songIds must list the playlist's current songs, each as often as it has it",
                ));
            }
            p.song_ids = song_ids.to_vec();
            Ok(())
        })?;
        Ok(new)
    }

    /// Shares with more users (ids, already resolved); the owner and repeats are skipped.
    /// Returns the playlist before and after.
    pub fn share_with(
        &self,
        id: &str,
        actor: &Actor,
        user_ids: &[String],
        exists: &dyn Fn(&str) -> bool,
    ) -> AppResult<(Playlist, Playlist)> {
        self.modify(id, actor, exists, |p| {
            for user_id in user_ids {
                if *user_id != p.owner_id && !p.shared_with.contains(user_id) {
                    p.shared_with.push(user_id.clone());
                }
            }
            if p.shared_with.len() > MAX_SHARED_WITH {
                return Err(AppError::invalid_field(
                    "usernames",
                    format!("a playlist can be shared with at most {MAX_SHARED_WITH} users"),
                ));
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Playlists) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("db")).unwrap();
        (dir, Playlists::new(&db).unwrap())
    }

    fn actor(id: &str) -> Actor {
        Actor {
            id: id.into(),
            is_admin: false,
        }
    }

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn known(id: &str) -> bool {
        matches!(id, "s1" | "s2" | "s3" | "s4")
    }

    fn make(store: &Playlists, owner: &str, public: bool, songs: &[&str]) -> Playlist {
        store
            .create(
                &actor(owner),
                NewPlaylist {
                    name: "  Road trip  ".into(),
                    description: Some("for the car".into()),
                    is_public: public,
                    song_ids: ids(songs),
                },
                &known,
            )
            .unwrap()
    }

    fn field(err: AppError) -> String {
        match err {
            AppError::Invalid { field, .. } => field.unwrap_or_default(),
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn create_validates_name_description_and_songs() {
        let (_dir, store) = store();
        let p = make(&store, "alice", false, &["s1", "s2", "s1"]);
        assert_eq!(p.name, "Road trip", "trimmed");
        assert_eq!(p.song_ids, ids(&["s1", "s2", "s1"]), "duplicates allowed");
        assert_eq!(store.get(&p.id).unwrap().unwrap(), p);

        let new = |name: &str, description: Option<&str>, songs: &[&str]| NewPlaylist {
            name: name.into(),
            description: description.map(str::to_string),
            is_public: false,
            song_ids: ids(songs),
        };
        let a = actor("alice");
        for bad in ["", "   ", "two\nlines", "bell\u{7}", &"x".repeat(101)] {
            let err = store.create(&a, new(bad, None, &[]), &known).unwrap_err();
            assert_eq!(field(err), "name", "{bad:?}");
        }
        assert!(
            store
                .create(&a, new(&"é".repeat(100), None, &[]), &known)
                .is_ok()
        );
        let long = "d".repeat(1001);
        let err = store
            .create(&a, new("ok", Some(&long), &[]), &known)
            .unwrap_err();
        assert_eq!(field(err), "description");
        let err = store
            .create(&a, new("ok", None, &["s1", "nope"]), &known)
            .unwrap_err();
        assert_eq!(field(err), "songIds");
        let many: Vec<String> = (0..=MAX_SONGS).map(|_| "s1".to_string()).collect();
        let err = store
            .create(
                &a,
                NewPlaylist {
                    name: "big".into(),
                    song_ids: many,
                    ..Default::default()
                },
                &known,
            )
            .unwrap_err();
        assert_eq!(field(err), "songIds");
    }

    #[test]
    fn private_playlists_are_invisible_and_only_owners_and_admins_write() {
        let (_dir, store) = store();
        let private = make(&store, "alice", false, &["s1"]);
        let public = make(&store, "alice", true, &["s1"]);
        let bob = actor("bob");
        let admin = Actor {
            id: "root".into(),
            is_admin: true,
        };

        assert!(matches!(
            store.readable(&private.id, &bob),
            Err(AppError::NotFound(_))
        ));
        assert!(matches!(
            store.delete(&private.id, &bob),
            Err(AppError::NotFound(_))
        ));
        assert!(matches!(
            store.add_songs(&private.id, &bob, &ids(&["s2"]), None, &known),
            Err(AppError::NotFound(_))
        ));
        assert!(store.readable(&public.id, &bob).is_ok());
        assert!(matches!(
            store.update(&public.id, &bob, Changes::default(), &known),
            Err(AppError::Forbidden(_))
        ));
        assert!(matches!(
            store.delete(&public.id, &bob),
            Err(AppError::Forbidden(_))
        ));
        assert!(matches!(
            store.readable("missing", &bob),
            Err(AppError::NotFound(_))
        ));

        let listed: Vec<String> = store
            .list_for("bob")
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(listed, vec![public.id.clone()]);
        assert_eq!(store.list_for("alice").unwrap().len(), 2);

        // Shared with bob: readable and listed, still not writable.
        let (before, after) = store
            .share_with(
                &private.id,
                &actor("alice"),
                &ids(&["bob", "bob", "alice"]),
                &known,
            )
            .unwrap();
        assert!(before.shared_with.is_empty());
        assert_eq!(
            after.shared_with,
            ids(&["bob"]),
            "repeats and the owner skipped"
        );
        assert!(store.readable(&private.id, &bob).is_ok());
        assert_eq!(store.list_for("bob").unwrap().len(), 2);
        assert!(matches!(
            store.remove_songs(&private.id, &bob, &[0], &known),
            Err(AppError::Forbidden(_))
        ));
        assert!(matches!(
            store.share_with(&private.id, &bob, &ids(&["carol"]), &known),
            Err(AppError::Forbidden(_))
        ));

        // Administrators may read and change anything.
        let (_, renamed) = store
            .update(
                &private.id,
                &admin,
                Changes {
                    name: Some("Moderated".into()),
                    ..Default::default()
                },
                &known,
            )
            .unwrap();
        assert_eq!(renamed.name, "Moderated");
        assert_eq!(renamed.owner_id, "alice", "ownership never moves");
        assert_eq!(store.delete(&public.id, &admin).unwrap().id, public.id);
        assert!(store.get(&public.id).unwrap().is_none());
    }

    #[test]
    fn songs_are_added_removed_and_reordered() {
        let (_dir, store) = store();
        let a = actor("alice");
        let p = make(&store, "alice", false, &["s1", "s2"]);
        let p2 = store
            .add_songs(&p.id, &a, &ids(&["s3", "s4"]), Some(1), &known)
            .unwrap();
        assert_eq!(p2.song_ids, ids(&["s1", "s3", "s4", "s2"]));
        assert!(p2.updated_at >= p.updated_at);
        let p3 = store
            .add_songs(&p.id, &a, &ids(&["s1"]), None, &known)
            .unwrap();
        assert_eq!(p3.song_ids, ids(&["s1", "s3", "s4", "s2", "s1"]));
        let err = store
            .add_songs(&p.id, &a, &ids(&["s1"]), Some(6), &known)
            .unwrap_err();
        assert_eq!(field(err), "position");
        let err = store
            .add_songs(&p.id, &a, &ids(&["zz"]), None, &known)
            .unwrap_err();
        assert_eq!(field(err), "songIds");

        let p4 = store.remove_songs(&p.id, &a, &[4, 0, 0], &known).unwrap();
        assert_eq!(p4.song_ids, ids(&["s3", "s4", "s2"]), "by index, not by id");
        let err = store.remove_songs(&p.id, &a, &[3], &known).unwrap_err();
        assert_eq!(field(err), "indexes");
        assert_eq!(
            store.get(&p.id).unwrap().unwrap().song_ids.len(),
            3,
            "nothing changed"
        );

        let p5 = store
            .reorder(&p.id, &a, &ids(&["s2", "s3", "s4"]), &known)
            .unwrap();
        assert_eq!(p5.song_ids, ids(&["s2", "s3", "s4"]));
        for bad in [
            &["s2", "s3"][..],
            &["s2", "s3", "s4", "s4"],
            &["s2", "s3", "s1"],
        ] {
            let err = store.reorder(&p.id, &a, &ids(bad), &known).unwrap_err();
            assert_eq!(field(err), "songIds", "{bad:?}");
        }
    }

    #[test]
    fn deleted_songs_are_skipped_by_reads_and_dropped_by_writes() {
        let (_dir, store) = store();
        let a = actor("alice");
        let p = make(&store, "alice", false, &["s1", "s2", "s3"]);
        let without_s2 = |id: &str| known(id) && id != "s2";
        assert_eq!(p.live_ids(&without_s2), ids(&["s1", "s3"]));
        assert_eq!(
            store.get(&p.id).unwrap().unwrap().song_ids.len(),
            3,
            "kept until a write"
        );
        // Index 1 is s3 in the list as read (s2 is gone).
        let p2 = store.remove_songs(&p.id, &a, &[1], &without_s2).unwrap();
        assert_eq!(p2.song_ids, ids(&["s1"]));
        let p3 = make(&store, "alice", false, &["s1", "s2", "s3"]);
        let err = store
            .reorder(&p3.id, &a, &ids(&["s3", "s2", "s1"]), &without_s2)
            .unwrap_err();
        assert_eq!(field(err), "songIds");
        let p4 = store
            .reorder(&p3.id, &a, &ids(&["s3", "s1"]), &without_s2)
            .unwrap();
        assert_eq!(p4.song_ids, ids(&["s3", "s1"]));
    }

    #[test]
    fn concurrent_writers_do_not_lose_updates() {
        let (_dir, store) = store();
        let p = make(&store, "alice", false, &[]);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                let id = p.id.clone();
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        store
                            .add_songs(&id, &actor("alice"), &ids(&["s1"]), None, &known)
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(store.get(&p.id).unwrap().unwrap().song_ids.len(), 200);
    }
}
