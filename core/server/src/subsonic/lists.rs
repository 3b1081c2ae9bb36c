//! Lists and search: genres, album lists, random songs, songs by genre, search2/3, top and
//! similar songs. Built on the song index's filters, sorts and search (`songs.rs`).

use std::collections::{HashMap, HashSet};

use rand::seq::SliceRandom;

use super::browse::{album_elem, song_elems};
use super::error::SubError;
use super::response::{Elem, Response};
use super::views;
use super::{Call, MethodResult};
use crate::store::favourites::ItemKind;
use crate::store::songs::{Album, Artist, SongFilter, SongSort, SongView, fold};

/// Largest page of any list (the spec's own maximum for album lists and search).
pub const MAX_PAGE: usize = 500;

fn all_songs(c: &Call<'_>, filter: &SongFilter, sort: SongSort, desc: bool) -> Vec<SongView> {
    c.app.songs.list(filter, sort, desc, 0, usize::MAX).items
}

pub fn genres(c: &Call<'_>) -> MethodResult {
    // name -> (songs, albums)
    let mut counts: HashMap<String, (u64, HashSet<String>)> = HashMap::new();
    for s in all_songs(c, &SongFilter::default(), SongSort::Title, false) {
        if s.song.genre.is_empty() {
            continue;
        }
        let entry = counts.entry(s.song.genre.clone()).or_default();
        entry.0 += 1;
        entry.1.insert(s.song.album_id.clone());
    }
    let mut names: Vec<_> = counts.into_iter().collect();
    names.sort_by_cached_key(|(name, _)| fold(name));
    let items = names
        .into_iter()
        .map(|(name, (songs, albums))| {
            Elem::new()
                .a("songCount", songs)
                .a("albumCount", albums.len())
                .text(name)
        })
        .collect();
    Ok(Response::ok_with("genres", Elem::new().list("genre", items)).into())
}

fn paged<T>(items: Vec<T>, offset: usize, size: usize) -> Vec<T> {
    items.into_iter().skip(offset).take(size).collect()
}

/// Albums in the order of the songs given (first occurrence), up to `want`.
fn albums_of_songs(c: &Call<'_>, songs: &[SongView], want: usize) -> Vec<Album> {
    let by_id: HashMap<String, Album> = c
        .app
        .songs
        .albums()
        .into_iter()
        .map(|a| (a.id.clone(), a))
        .collect();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for s in songs {
        if out.len() >= want {
            break;
        }
        if seen.insert(s.song.album_id.clone())
            && let Some(a) = by_id.get(&s.song.album_id)
        {
            out.push(a.clone());
        }
    }
    out
}

pub fn album_list(c: &Call<'_>, method: &str) -> MethodResult {
    let kind = c.params.req("type")?;
    let size = c.params.count("size", 10, MAX_PAGE)?;
    let offset = c.params.count("offset", 0, usize::MAX)?;
    let want = offset.saturating_add(size);
    let mut albums = match kind {
        "random" => {
            let mut all = c.app.songs.albums();
            all.shuffle(&mut rand::rng());
            all.truncate(size);
            // Random lists are not paged: every page is a new draw.
            return album_list_reply(c, method, all);
        }
        "newest" => {
            let mut all = c.app.songs.albums();
            all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
            all
        }
        "alphabeticalByName" => {
            let mut all = c.app.songs.albums();
            all.sort_by_cached_key(|a| (fold(&a.name), a.id.clone()));
            all
        }
        "alphabeticalByArtist" => {
            let mut all = c.app.songs.albums();
            all.sort_by_cached_key(|a| (fold(&a.artist), fold(&a.name), a.id.clone()));
            all
        }
        "byYear" => {
            let from: i32 = c
                .params
                .int("fromYear")?
                .ok_or_else(|| SubError::missing("fromYear"))?;
            let to: i32 = c
                .params
                .int("toYear")?
                .ok_or_else(|| SubError::missing("toYear"))?;
            let (lo, hi) = (from.min(to), from.max(to));
            let mut all: Vec<Album> = c
                .app
                .songs
                .albums()
                .into_iter()
                .filter(|a| a.year.is_some_and(|y| (lo..=hi).contains(&y)))
                .collect();
            all.sort_by_cached_key(|a| (a.year, fold(&a.name), a.id.clone()));
            if from > to {
                all.reverse();
            }
            all
        }
        "byGenre" => {
            let genre = c.params.req("genre")?;
            let filter = SongFilter {
                genre: Some(genre.to_string()),
                ..SongFilter::default()
            };
            let songs = all_songs(c, &filter, SongSort::Album, false);
            albums_of_songs(c, &songs, want)
        }
        "frequent" => {
            let songs = c
                .app
                .songs
                .list(
                    &SongFilter::default(),
                    SongSort::PlayCount,
                    true,
                    0,
                    want.saturating_mul(20).min(50_000),
                )
                .items;
            let played: Vec<SongView> = songs.into_iter().filter(|s| s.play_count > 0).collect();
            albums_of_songs(c, &played, want)
        }
        "recent" => {
            let mut ids = Vec::new();
            let mut seen = HashSet::new();
            for listen in c.app.player.listens(&c.user.id).take(20_000) {
                let listen = listen?;
                if seen.insert(listen.song_id.clone()) {
                    ids.push(listen.song_id);
                }
            }
            let songs: Vec<SongView> = c.app.songs.views_of(&ids).into_iter().flatten().collect();
            albums_of_songs(c, &songs, want)
        }
        "starred" => {
            let starred = c.app.favourites.starred(&c.user.id, ItemKind::Album)?;
            starred
                .iter()
                .filter_map(|(id, _)| c.app.songs.album(id).map(|(a, _)| a))
                .take(want)
                .collect()
        }
        "highest" => {
            let mut rated = c.app.favourites.ratings(&c.user.id, ItemKind::Album)?;
            rated.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            rated
                .iter()
                .filter_map(|(id, _)| c.app.songs.album(id).map(|(a, _)| a))
                .take(want)
                .collect()
        }
        other => {
            return Err(SubError::generic(format!(
                "unknown album list type '{other}'"
            )));
        }
    };
    albums = paged(albums, offset, size);
    album_list_reply(c, method, albums)
}

fn album_list_reply(c: &Call<'_>, method: &str, albums: Vec<Album>) -> MethodResult {
    let book = c.marks()?;
    let items = albums.iter().map(|a| album_elem(&book, a, &[])).collect();
    let name = if method == "getAlbumList2" {
        "albumList2"
    } else {
        "albumList"
    };
    Ok(Response::ok_with(name, Elem::new().list("album", items)).into())
}

pub fn random_songs(c: &Call<'_>) -> MethodResult {
    let size = c.params.count("size", 10, MAX_PAGE)?;
    let genre = c.params.get("genre").filter(|g| !g.is_empty());
    let from: Option<i32> = c.params.int("fromYear")?;
    let to: Option<i32> = c.params.int("toYear")?;
    let mut rng = rand::rng();
    let songs: Vec<SongView> = if genre.is_none() && from.is_none() && to.is_none() {
        // Random rows without reading the whole library.
        let total = c.app.songs.count();
        let mut rows: Vec<usize> = (0..total).collect();
        rows.shuffle(&mut rng);
        rows.truncate(size);
        rows.into_iter()
            .flat_map(|r| {
                c.app
                    .songs
                    .list(&SongFilter::default(), SongSort::CreatedAt, false, r, 1)
                    .items
            })
            .collect()
    } else {
        let filter = SongFilter {
            genre: genre.map(str::to_string),
            ..SongFilter::default()
        };
        let mut all: Vec<SongView> = all_songs(c, &filter, SongSort::CreatedAt, false)
            .into_iter()
            .filter(|s| {
                let y = s.song.year;
                from.is_none_or(|f| y.is_some_and(|y| y >= f))
                    && to.is_none_or(|t| y.is_some_and(|y| y <= t))
            })
            .collect();
        all.shuffle(&mut rng);
        all.truncate(size);
        all
    };
    let book = c.marks()?;
    Ok(Response::ok_with(
        "randomSongs",
        Elem::new().list("song", song_elems(&book, &songs)),
    )
    .into())
}

pub fn songs_by_genre(c: &Call<'_>) -> MethodResult {
    let genre = c.params.req("genre")?;
    let count = c.params.count("count", 10, MAX_PAGE)?;
    let offset = c.params.count("offset", 0, usize::MAX)?;
    let filter = SongFilter {
        genre: Some(genre.to_string()),
        ..SongFilter::default()
    };
    let songs = c
        .app
        .songs
        .list(&filter, SongSort::Title, false, offset, count)
        .items;
    let book = c.marks()?;
    Ok(Response::ok_with(
        "songsByGenre",
        Elem::new().list("song", song_elems(&book, &songs)),
    )
    .into())
}

/// The words of a search query; clients send `""` or `*` for "everything".
fn query_words(query: &str) -> Result<Vec<String>, SubError> {
    let cleaned: String = query
        .chars()
        .map(|c| if matches!(c, '"' | '*') { ' ' } else { c })
        .collect();
    crate::service::library::search_words(Some(&cleaned)).map_err(SubError::from)
}

fn matches_all(text: &str, words: &[String]) -> bool {
    let folded = fold(text);
    words.iter().all(|w| folded.contains(w.as_str()))
}

pub fn search(c: &Call<'_>, method: &str) -> MethodResult {
    let p = &c.params;
    let words = query_words(p.get("query").unwrap_or(""))?;
    let artist_count = p.count("artistCount", 20, MAX_PAGE)?;
    let artist_offset = p.count("artistOffset", 0, usize::MAX)?;
    let album_count = p.count("albumCount", 20, MAX_PAGE)?;
    let album_offset = p.count("albumOffset", 0, usize::MAX)?;
    let song_count = p.count("songCount", 20, MAX_PAGE)?;
    let song_offset = p.count("songOffset", 0, usize::MAX)?;
    let book = c.marks()?;

    let artists: Vec<Elem> = if artist_count == 0 {
        vec![]
    } else {
        let mut all: Vec<Artist> = c
            .app
            .songs
            .artists()
            .into_iter()
            .filter(|a| matches_all(&a.name, &words))
            .collect();
        all.sort_by_cached_key(|a| (fold(&a.name), a.id.clone()));
        paged(all, artist_offset, artist_count)
            .iter()
            .map(|a| views::artist(a, &book.of(ItemKind::Artist, &a.id)))
            .collect()
    };
    let albums: Vec<Elem> = if album_count == 0 {
        vec![]
    } else {
        let mut all: Vec<Album> = c
            .app
            .songs
            .albums()
            .into_iter()
            .filter(|a| matches_all(&format!("{} {}", a.name, a.artist), &words))
            .collect();
        all.sort_by_cached_key(|a| (fold(&a.name), a.id.clone()));
        paged(all, album_offset, album_count)
            .iter()
            .map(|a| album_elem(&book, a, &[]))
            .collect()
    };
    let songs = if song_count == 0 {
        vec![]
    } else {
        let filter = SongFilter {
            search: words,
            ..SongFilter::default()
        };
        // Title order is a fixed order, so an empty query pages through the whole library.
        let page = c
            .app
            .songs
            .list(&filter, SongSort::Title, false, song_offset, song_count);
        song_elems(&book, &page.items)
    };
    let name = if method == "search3" {
        "searchResult3"
    } else {
        "searchResult2"
    };
    Ok(Response::ok_with(
        name,
        Elem::new()
            .list("artist", artists)
            .list("album", albums)
            .list("song", songs),
    )
    .into())
}

pub fn top_songs(c: &Call<'_>) -> MethodResult {
    let artist = c.params.req("artist")?;
    let count = c.params.count("count", 50, MAX_PAGE)?;
    let filter = SongFilter {
        artist: Some(artist.to_string()),
        ..SongFilter::default()
    };
    let songs = c
        .app
        .songs
        .list(&filter, SongSort::PlayCount, true, 0, count)
        .items;
    let book = c.marks()?;
    Ok(Response::ok_with(
        "topSongs",
        Elem::new().list("song", song_elems(&book, &songs)),
    )
    .into())
}

/// Artists sharing a genre with `artist_id`, the most played first.
pub fn similar_artists(c: &Call<'_>, artist_id: &str, count: usize) -> Vec<Artist> {
    let Some((_, _, songs)) = c.app.songs.artist(artist_id) else {
        return vec![];
    };
    let genres: HashSet<String> = songs
        .iter()
        .map(|s| s.song.genre.clone())
        .filter(|g| !g.is_empty())
        .collect();
    let mut plays: HashMap<String, u64> = HashMap::new();
    for genre in genres.iter().take(10) {
        let filter = SongFilter {
            genre: Some(genre.clone()),
            ..SongFilter::default()
        };
        for s in c
            .app
            .songs
            .list(&filter, SongSort::PlayCount, true, 0, 500)
            .items
        {
            if s.song.artist_id != artist_id {
                *plays.entry(s.song.artist_id.clone()).or_default() += s.play_count + 1;
            }
        }
    }
    let by_id: HashMap<String, Artist> = c
        .app
        .songs
        .artists()
        .into_iter()
        .map(|a| (a.id.clone(), a))
        .collect();
    let mut ranked: Vec<(String, u64)> = plays.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked
        .into_iter()
        .filter_map(|(id, _)| by_id.get(&id).cloned())
        .take(count)
        .collect()
}

/// Songs like a song, album or artist: the same artist's other songs and songs of the same
/// genres, the most played first, then shuffled within that pick.
pub fn similar_songs(c: &Call<'_>, method: &str) -> MethodResult {
    let id = c.params.req("id")?;
    let count = c.params.count("count", 50, MAX_PAGE)?;
    let songs = &c.app.songs;
    let (artist_id, genres, exclude): (String, Vec<String>, HashSet<String>) =
        if let Some(s) = songs.view_of(id) {
            (
                s.song.artist_id.clone(),
                vec![s.song.genre.clone()],
                HashSet::from([s.song.id.clone()]),
            )
        } else if let Some((_, tracks)) = songs.album(id) {
            let artist = tracks
                .first()
                .map(|s| s.song.artist_id.clone())
                .unwrap_or_default();
            let genres = tracks.iter().map(|s| s.song.genre.clone()).collect();
            let ids = tracks.iter().map(|s| s.song.id.clone()).collect();
            (artist, genres, ids)
        } else if songs.artist(id).is_some() {
            (id.to_string(), vec![], HashSet::new())
        } else {
            return Err(SubError::not_found("song, album or artist"));
        };
    let mut picked: Vec<SongView> = Vec::new();
    let mut seen = exclude;
    let mut take = |list: Vec<SongView>, picked: &mut Vec<SongView>| {
        for s in list {
            if seen.insert(s.song.id.clone()) {
                picked.push(s);
            }
        }
    };
    let by_artist = SongFilter {
        artist_id: Some(artist_id),
        ..SongFilter::default()
    };
    take(
        songs
            .list(&by_artist, SongSort::PlayCount, true, 0, count)
            .items,
        &mut picked,
    );
    let genres: HashSet<String> = genres.into_iter().filter(|g| !g.is_empty()).collect();
    for genre in genres.iter().take(5) {
        let filter = SongFilter {
            genre: Some(genre.clone()),
            ..SongFilter::default()
        };
        take(
            songs
                .list(&filter, SongSort::PlayCount, true, 0, count)
                .items,
            &mut picked,
        );
    }
    picked.shuffle(&mut rand::rng());
    picked.truncate(count);
    let book = c.marks()?;
    let name = if method == "getSimilarSongs2" {
        "similarSongs2"
    } else {
        "similarSongs"
    };
    Ok(Response::ok_with(name, Elem::new().list("song", song_elems(&book, &picked))).into())
}
