//! Playlists: ChillFi's own, with the same access rules (`playlists.rs`) and the same pushes
//! to open web sessions as the Socket.IO events.

use super::browse::song_elems;
use super::error::SubError;
use super::response::{Elem, Response};
use super::views;
use super::{Call, MethodResult};
use crate::service::playlists::{changed, deleted};
use crate::store::playlists::{Changes, NewPlaylist, Playlist};
use crate::store::songs::SongView;

fn exists<'a>(c: &'a Call<'a>) -> impl Fn(&str) -> bool + 'a {
    move |id: &str| c.app.songs.contains(id)
}

fn playlist_elem(c: &Call<'_>, p: &Playlist, songs: &[SongView]) -> Elem {
    let owner = c
        .app
        .users
        .get(&p.owner_id)
        .ok()
        .flatten()
        .map(|u| u.username)
        .unwrap_or_else(|| "deleted user".into());
    let cover = songs
        .iter()
        .find_map(|s| views::cover_id_of_key(s.song.cover_key.as_deref()));
    Elem::new()
        .a("id", &p.id)
        .a("name", &p.name)
        .nonempty("comment", &p.description)
        .a("owner", owner)
        .a("public", p.is_public)
        .a("songCount", songs.len())
        .a(
            "duration",
            songs.iter().map(|s| s.song.duration_ms / 1000).sum::<u64>(),
        )
        .a("created", views::iso8601(p.created_at))
        .a("changed", views::iso8601(p.updated_at))
        .opt("coverArt", cover)
        .a("readonly", p.owner_id != c.user.id && !c.user.is_admin)
}

fn songs_of(c: &Call<'_>, p: &Playlist) -> Vec<SongView> {
    c.app
        .songs
        .views_of(&p.song_ids)
        .into_iter()
        .flatten()
        .collect()
}

pub fn list(c: &Call<'_>) -> MethodResult {
    // `username` (admins only, per the spec) lists what that user can see.
    let who = match c.params.get("username").filter(|u| !u.is_empty()) {
        Some(name) if !name.eq_ignore_ascii_case(&c.user.username) => {
            if !c.user.is_admin {
                return Err(SubError::not_authorized(
                    "only administrators list other users' playlists",
                ));
            }
            c.app
                .users
                .by_name(name)?
                .ok_or_else(|| SubError::not_found("user"))?
        }
        _ => c.user.clone(),
    };
    let items = c
        .app
        .playlists
        .list_for(&who.id)?
        .iter()
        .map(|p| playlist_elem(c, p, &songs_of(c, p)))
        .collect();
    Ok(Response::ok_with("playlists", Elem::new().list("playlist", items)).into())
}

fn full(c: &Call<'_>, p: &Playlist) -> Result<Response, SubError> {
    let songs = songs_of(c, p);
    let book = c.marks()?;
    Ok(Response::ok_with(
        "playlist",
        playlist_elem(c, p, &songs).list("entry", song_elems(&book, &songs)),
    ))
}

pub fn get(c: &Call<'_>) -> MethodResult {
    let p = c.app.playlists.readable(c.params.req("id")?, &c.actor())?;
    Ok(full(c, &p)?.into())
}

fn song_ids(c: &Call<'_>, name: &str) -> Result<Vec<String>, SubError> {
    let ids: Vec<String> = c.params.all(name).into_iter().map(str::to_string).collect();
    if let Some(missing) = ids.iter().find(|id| !c.app.songs.contains(id)) {
        return Err(SubError::not_found(&format!("song {missing}")));
    }
    Ok(ids)
}

/// `createPlaylist`: `name` makes a new one; `playlistId` replaces an existing one's songs.
pub fn create(c: &Call<'_>) -> MethodResult {
    let ids = song_ids(c, "songId")?;
    let actor = c.actor();
    let playlist = match c.params.get("playlistId").filter(|s| !s.is_empty()) {
        Some(id) => {
            let before = c.app.playlists.readable(id, &actor)?;
            before.check_write(&actor)?;
            let all: Vec<usize> = (0..before.live_ids(&exists(c)).len()).collect();
            let emptied = c.app.playlists.remove_songs(id, &actor, &all, &exists(c))?;
            let mut after = emptied;
            if !ids.is_empty() {
                after = c
                    .app
                    .playlists
                    .add_songs(id, &actor, &ids, None, &exists(c))?;
            }
            if let Some(name) = c.params.get("name").filter(|n| !n.is_empty()) {
                let changes = Changes {
                    name: Some(name.to_string()),
                    ..Changes::default()
                };
                after = c.app.playlists.update(id, &actor, changes, &exists(c))?.1;
            }
            changed(&c.app.bus, &c.app.songs, &c.app.users, &before, &after)?;
            after
        }
        None => {
            let name = c.params.req("name")?;
            let p = c.app.playlists.create(
                &actor,
                NewPlaylist {
                    name: name.to_string(),
                    description: None,
                    is_public: false,
                    song_ids: ids,
                },
                &exists(c),
            )?;
            changed(&c.app.bus, &c.app.songs, &c.app.users, &p, &p)?;
            p
        }
    };
    Ok(full(c, &playlist)?.into())
}

pub fn update(c: &Call<'_>) -> MethodResult {
    let id = c.params.req("playlistId")?;
    let actor = c.actor();
    let before = c.app.playlists.readable(id, &actor)?;
    before.check_write(&actor)?;
    let add = song_ids(c, "songIdToAdd")?;
    let mut remove = Vec::new();
    for index in c.params.all("songIndexToRemove") {
        remove.push(
            index
                .trim()
                .parse::<usize>()
                .map_err(|_| SubError::generic("songIndexToRemove is not a valid index"))?,
        );
    }
    let changes = Changes {
        name: c.params.get("name").map(str::to_string),
        description: c.params.get("comment").map(str::to_string),
        is_public: c.params.bool("public"),
    };
    let mut after = c.app.playlists.update(id, &actor, changes, &exists(c))?.1;
    if !remove.is_empty() {
        after = c
            .app
            .playlists
            .remove_songs(id, &actor, &remove, &exists(c))?;
    }
    if !add.is_empty() {
        after = c
            .app
            .playlists
            .add_songs(id, &actor, &add, None, &exists(c))?;
    }
    changed(&c.app.bus, &c.app.songs, &c.app.users, &before, &after)?;
    Ok(Response::ok(None).into())
}

pub fn delete(c: &Call<'_>) -> MethodResult {
    let playlist = c.app.playlists.delete(c.params.req("id")?, &c.actor())?;
    deleted(&c.app.bus, &c.app.shares, &playlist)?;
    Ok(Response::ok(None).into())
}
