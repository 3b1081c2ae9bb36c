//! The user's own data: stars, ratings, scrobbles (listens and now playing), the play queue.

use std::collections::HashMap;

use super::browse::{album_elem, song_elems};
use super::error::SubError;
use super::response::{Elem, Response};
use super::views;
use super::{Call, MethodResult};
use crate::service::marks::Mark;
use crate::store::db::now_secs;
use crate::store::favourites::ItemKind;
use crate::store::now_playing::Entry;
use crate::store::player::MAX_QUEUE;
use crate::store::songs::SongView;

/// What an id names, checked against the library.
fn kind_of(c: &Call<'_>, id: &str) -> Option<ItemKind> {
    let songs = &c.app.songs;
    if songs.contains(id) {
        Some(ItemKind::Song)
    } else if songs.album(id).is_some() {
        Some(ItemKind::Album)
    } else if songs.artist(id).is_some() {
        Some(ItemKind::Artist)
    } else {
        None
    }
}

/// `star` / `unstar`: `id` (a song, or an album/artist for folder clients), `albumId`,
/// `artistId`, each repeatable. Unknown ids are error 70 and nothing is changed.
pub fn star(c: &Call<'_>, on: bool) -> MethodResult {
    let mut items = Vec::new();
    for id in c.params.all("id") {
        items.push((
            kind_of(c, id).ok_or_else(|| SubError::not_found("item"))?,
            id,
        ));
    }
    for id in c.params.all("albumId") {
        c.app
            .songs
            .album(id)
            .ok_or_else(|| SubError::not_found("album"))?;
        items.push((ItemKind::Album, id));
    }
    for id in c.params.all("artistId") {
        c.app
            .songs
            .artist(id)
            .ok_or_else(|| SubError::not_found("artist"))?;
        items.push((ItemKind::Artist, id));
    }
    if items.is_empty() {
        return Err(SubError::missing("id"));
    }
    for (kind, id) in items {
        let mark = if on { Mark::Star } else { Mark::Unstar };
        c.app.marks.set(&c.user.id, kind, id, mark)?;
    }
    Ok(Response::ok(None).into())
}

pub fn set_rating(c: &Call<'_>) -> MethodResult {
    let id = c.params.req("id")?;
    let rating: u8 = c
        .params
        .int("rating")?
        .ok_or_else(|| SubError::missing("rating"))?;
    if rating > 5 {
        return Err(SubError::generic("a rating is 1 to 5 (0 removes it)"));
    }
    let kind = kind_of(c, id).ok_or_else(|| SubError::not_found("item"))?;
    c.app.marks.set(&c.user.id, kind, id, Mark::Rate(rating))?;
    Ok(Response::ok(None).into())
}

pub fn starred(c: &Call<'_>, method: &str) -> MethodResult {
    let favs = &c.app.favourites;
    let book = c.marks()?;
    let songs: Vec<SongView> = favs
        .starred(&c.user.id, ItemKind::Song)?
        .iter()
        .filter_map(|(id, _)| c.app.songs.view_of(id))
        .collect();
    let albums: Vec<Elem> = favs
        .starred(&c.user.id, ItemKind::Album)?
        .iter()
        .filter_map(|(id, _)| c.app.songs.album(id))
        .map(|(a, tracks)| album_elem(&book, &a, &tracks))
        .collect();
    let artists = c.app.songs.artists();
    let by_id: HashMap<&str, _> = artists.iter().map(|a| (a.id.as_str(), a)).collect();
    let artists: Vec<Elem> = favs
        .starred(&c.user.id, ItemKind::Artist)?
        .iter()
        .filter_map(|(id, _)| by_id.get(id.as_str()))
        .map(|a| views::artist(a, &book.of(ItemKind::Artist, &a.id)))
        .collect();
    let name = if method == "getStarred2" {
        "starred2"
    } else {
        "starred"
    };
    Ok(Response::ok_with(
        name,
        Elem::new()
            .list("artist", artists)
            .list("album", albums)
            .list("song", song_elems(&book, &songs)),
    )
    .into())
}

/// `scrobble`: `submission=true` (the default) records a listen of each `id` (counted like the
/// web player's, play count included); `false` sets "now playing".
pub fn scrobble(c: &Call<'_>) -> MethodResult {
    let ids = c.params.all("id");
    if ids.is_empty() {
        return Err(SubError::missing("id"));
    }
    let songs: Vec<SongView> = ids
        .iter()
        .map(|id| {
            c.app
                .songs
                .view_of(id)
                .ok_or_else(|| SubError::not_found("song"))
        })
        .collect::<Result<_, _>>()?;
    if c.params.bool("submission").unwrap_or(true) {
        for s in &songs {
            c.app.songs.record_play(&s.song.id)?;
            c.app
                .player
                .record_listen(&c.user.id, &s.song.id, s.song.duration_ms)?;
        }
    } else if let Some(s) = songs.last() {
        let now = now_secs();
        c.app.now_playing.set(
            &c.user.id,
            Entry {
                username: c.user.username.clone(),
                song_id: s.song.id.clone(),
                player: c.params.get("c").unwrap_or("").chars().take(64).collect(),
                since: now,
                until: now + (s.song.duration_ms / 1000) as i64 + 60,
            },
        );
    }
    Ok(Response::ok(None).into())
}

pub fn now_playing(c: &Call<'_>) -> MethodResult {
    let book = c.marks()?;
    let now = now_secs();
    let items = c
        .app
        .now_playing
        .current()
        .into_iter()
        .filter_map(|e| {
            let view = c.app.songs.view_of(&e.song_id)?;
            Some(
                views::song(&view, &book.of(ItemKind::Song, &e.song_id))
                    .a("username", e.username)
                    .a("minutesAgo", (now - e.since).max(0) / 60)
                    .a("playerId", 0)
                    .nonempty("playerName", &e.player),
            )
        })
        .collect();
    Ok(Response::ok_with("nowPlaying", Elem::new().list("entry", items)).into())
}

pub fn play_queue(c: &Call<'_>) -> MethodResult {
    let queue = c.app.player.queue(&c.user.id)?;
    if queue.song_ids.is_empty() {
        // The spec: no queue saved is an empty answer.
        return Ok(Response::ok(None).into());
    }
    let book = c.marks()?;
    let songs: Vec<SongView> = c
        .app
        .songs
        .views_of(&queue.song_ids)
        .into_iter()
        .flatten()
        .collect();
    let current = queue.current.and_then(|i| queue.song_ids.get(i));
    Ok(Response::ok_with(
        "playQueue",
        Elem::new()
            .opt("current", current)
            .a("position", queue.position_ms)
            .a("username", &c.user.username)
            .a("changed", views::iso8601(queue.updated_at))
            .a("changedBy", c.params.get("c").unwrap_or("subsonic"))
            .list("entry", song_elems(&book, &songs)),
    )
    .into())
}

/// `savePlayQueue`: replaces the user's queue (the same one the web player shows; its open
/// sessions get `player:queueUpdated`). No `id` clears it.
pub fn save_play_queue(c: &Call<'_>) -> MethodResult {
    let ids: Vec<String> = c.params.all("id").into_iter().map(str::to_string).collect();
    if ids.len() > MAX_QUEUE {
        return Err(SubError::generic(format!(
            "a queue holds at most {MAX_QUEUE} songs"
        )));
    }
    if let Some(missing) = ids.iter().find(|id| !c.app.songs.contains(id)) {
        return Err(SubError::not_found(&format!("song {missing}")));
    }
    let current = c.params.get("current").filter(|s| !s.is_empty());
    let current_index = match current {
        Some(cur) => Some(
            ids.iter()
                .position(|id| id == cur)
                .ok_or_else(|| SubError::generic("current is not in the queue"))?,
        ),
        None if ids.is_empty() => None,
        None => Some(0),
    };
    let position: u64 = c.params.int("position")?.unwrap_or(0);
    let queue = c.app.player.edit_queue(&c.user.id, |q| {
        q.clear();
        q.add(ids, None)?;
        q.current = current_index;
        q.position_ms = position;
        q.playing = false;
        Ok(())
    })?;
    c.app.bus.publish(crate::bus::Event::QueueUpdated {
        user_id: c.user.id.clone(),
        queue: Box::new(queue),
        origin: None,
    });
    Ok(Response::ok(None).into())
}
